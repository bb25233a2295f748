// Fuzzes roster handling (certs/roster.h) as `watchfloor roster verify` and
// a node reading its roster file do. An input starting with '{' is a roster
// envelope in DSSE JSON: parsed, validated, its signatures checked, verified
// as a genesis and as the successor of tests/testdata/roster/genesis.json.
// Any other input is a serialized watchfloor.v1.Roster for ValidateRoster
// (signatures are a wall a mutator rarely gets through; this reaches the
// PEM, X.509 and endpoint checks directly).
//
// Invariants: a verified genesis passes ValidateRoster and meets its own
// threshold; a verified successor is the anchor's version + 1 of the same
// federation; errors use the documented codes.
#include <cstddef>
#include <cstdint>

#include "certs/dsse.h"
#include "certs/roster.h"
#include "tests/fuzz/fuzz_util.h"
#include "watchfloor/v1/roster.pb.h"

namespace watchfloor::fuzz {
namespace {

const certs::Roster& Anchor() {
  static const certs::Roster* anchor = [] {
    auto env = certs::EnvelopeFromJson(SourceFile("tests/testdata/roster/genesis.json"));
    WF_FUZZ_CHECK(env.ok(), env.status().ToString());
    auto r = certs::Roster::VerifyGenesis(*env);
    WF_FUZZ_CHECK(r.ok(), r.status().ToString());
    return new certs::Roster(*std::move(r));
  }();
  return *anchor;
}

bool Is(const absl::Status& s, std::initializer_list<absl::StatusCode> codes) {
  for (absl::StatusCode c : codes) {
    if (s.code() == c) return true;
  }
  return false;
}

void FromJson(absl::string_view json) {
  absl::StatusOr<v1::Envelope> env = certs::EnvelopeFromJson(json);
  if (!env.ok()) return;
  absl::StatusOr<v1::Roster> proto = certs::ParseRosterPayload(*env);
  if (proto.ok()) {
    const absl::Status valid = certs::ValidateRoster(*proto);
    WF_FUZZ_CHECK(valid.ok() || valid.code() == absl::StatusCode::kInvalidArgument,
                  valid.ToString());
    const certs::SignatureReport self = certs::CheckRosterSignatures(*env, *proto);
    (void)self.Summary();
  }
  const certs::SignatureReport by_anchor =
      certs::CheckRosterSignatures(*env, Anchor().proto());
  (void)by_anchor.Summary();

  absl::StatusOr<certs::Roster> genesis = certs::Roster::VerifyGenesis(*env);
  if (genesis.ok()) {
    WF_FUZZ_CHECK(proto.ok() && certs::ValidateRoster(*proto).ok(), "genesis");
    WF_FUZZ_CHECK(certs::CheckRosterSignatures(*env, genesis->proto()).met(), "genesis");
    (void)genesis->CaBundlePem();
    for (const std::string& origin : genesis->Origins()) {
      WF_FUZZ_CHECK(genesis->NodeKey(origin).has_value(), origin);
    }
  } else {
    WF_FUZZ_CHECK(Is(genesis.status(), {absl::StatusCode::kInvalidArgument,
                                        absl::StatusCode::kUnauthenticated}),
                  genesis.status().ToString());
  }
  absl::StatusOr<certs::Roster> next = Anchor().VerifyNext(*env);
  if (next.ok()) {
    WF_FUZZ_CHECK(next->version() == Anchor().version() + 1, "next version");
    WF_FUZZ_CHECK(next->federation() == Anchor().federation(), "next federation");
  } else {
    WF_FUZZ_CHECK(Is(next.status(), {absl::StatusCode::kInvalidArgument,
                                     absl::StatusCode::kFailedPrecondition,
                                     absl::StatusCode::kUnauthenticated}),
                  next.status().ToString());
  }
}

void FromProto(const uint8_t* data, size_t size) {
  v1::Roster roster;
  if (!roster.ParseFromArray(data, static_cast<int>(size))) return;
  const absl::Status valid = certs::ValidateRoster(roster);
  WF_FUZZ_CHECK(valid.ok() || valid.code() == absl::StatusCode::kInvalidArgument,
                valid.ToString());
  absl::StatusOr<v1::Envelope> draft = certs::MakeRosterDraft(roster);
  WF_FUZZ_CHECK(draft.ok() == valid.ok(), draft.status().ToString());
}

}  // namespace
}  // namespace watchfloor::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  (void)watchfloor::fuzz::Anchor();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 0 && data[0] == '{') {
    watchfloor::fuzz::FromJson(watchfloor::fuzz::AsView(data, size));
  } else {
    watchfloor::fuzz::FromProto(data, size);
  }
  return 0;
}
