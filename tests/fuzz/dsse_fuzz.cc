// Fuzzes DSSE JSON lines (certs/dsse.h): EnvelopeFromJson on every line of
// the input, as `watchfloor verify` and `ingest` read them.
//
// Invariants: a parsed envelope prints (EnvelopeToJson) to JSON that parses
// back to the same envelope; verification against the protocol vector key
// never crashes, and an envelope that verifies has the alert payload type.
#include <cstddef>
#include <cstdint>

#include "absl/strings/str_split.h"
#include "certs/dsse.h"
#include "certs/keys.h"
#include "tests/fuzz/fuzz_util.h"
#include "watchfloor/v1/alert.pb.h"

namespace watchfloor::fuzz {
namespace {

const certs::PublicKey& VectorKey() {
  static const certs::PublicKey* key = [] {
    auto k = certs::PublicKey::FromPem(SourceFile("tests/testdata/protocol_vector/public.pem"));
    WF_FUZZ_CHECK(k.ok(), k.status().ToString());
    return new certs::PublicKey(*k);
  }();
  return *key;
}

void OneLine(absl::string_view line) {
  absl::StatusOr<v1::Envelope> env = certs::EnvelopeFromJson(line);
  if (!env.ok()) {
    WF_FUZZ_CHECK(env.status().code() == absl::StatusCode::kInvalidArgument,
                  env.status().ToString());
    return;
  }
  const std::string json = certs::EnvelopeToJson(*env);
  absl::StatusOr<v1::Envelope> again = certs::EnvelopeFromJson(json);
  WF_FUZZ_CHECK(again.ok(), again.status().ToString() + " for " + json);
  WF_FUZZ_CHECK(again->SerializeAsString() == env->SerializeAsString(), json);

  absl::Status verified = certs::VerifyEnvelope(*env, VectorKey());
  if (verified.ok()) {
    WF_FUZZ_CHECK(env->payload_type() == certs::kAlertPayloadType, json);
    v1::Alert alert;
    (void)alert.ParseFromString(env->payload());
  }
}

}  // namespace
}  // namespace watchfloor::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  for (absl::string_view line :
       absl::StrSplit(watchfloor::fuzz::AsView(data, size), '\n')) {
    watchfloor::fuzz::OneLine(line);
  }
  return 0;
}
