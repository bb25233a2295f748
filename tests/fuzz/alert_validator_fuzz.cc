// Fuzzes alert validation (node/alert_validator.h): the input is parsed as a
// serialized watchfloor.v1.Alert (an ingested payload or a Publish draft)
// and run through ValidateDraft and ValidateSigned; each of its lines also
// goes through the single-value validators.
//
// Invariants: every failure is INVALID_ARGUMENT or UNIMPLEMENTED (sealed
// TLP); an accepted alert is at most kMaxAlertBytes; a parsed prefix overlaps
// itself; nothing valid as a draft is also valid as signed (a draft must
// leave origin and sequence unset, a signed alert must set them).
#include <cstddef>
#include <cstdint>

#include "absl/strings/str_split.h"
#include "node/alert_validator.h"
#include "tests/fuzz/fuzz_util.h"
#include "watchfloor/v1/alert.pb.h"

namespace watchfloor::fuzz {
namespace {

void CheckCode(const absl::Status& s) {
  WF_FUZZ_CHECK(s.ok() || s.code() == absl::StatusCode::kInvalidArgument ||
                    s.code() == absl::StatusCode::kUnimplemented,
                s.ToString());
}

}  // namespace
}  // namespace watchfloor::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace watchfloor;  // NOLINT
  const absl::string_view input = fuzz::AsView(data, size);
  v1::Alert alert;
  if (alert.ParseFromArray(data, static_cast<int>(size))) {
    const absl::Status draft = node::ValidateDraft(alert);
    const absl::Status signed_ok = node::ValidateSigned(alert);
    fuzz::CheckCode(draft);
    fuzz::CheckCode(signed_ok);
    if (draft.ok() || signed_ok.ok()) {
      WF_FUZZ_CHECK(alert.ByteSizeLong() <= node::kMaxAlertBytes,
                    alert.ShortDebugString());
    }
    WF_FUZZ_CHECK(!(draft.ok() && signed_ok.ok()), alert.ShortDebugString());
  }
  for (absl::string_view line : absl::StrSplit(input, '\n')) {
    fuzz::CheckCode(node::ValidateOrigin(line));
    fuzz::CheckCode(node::ValidateDomainName(line));
    fuzz::CheckCode(node::ValidateCategory(line));
    absl::StatusOr<node::IpPrefix> p = node::ParseIpPrefix(line);
    if (p.ok()) {
      WF_FUZZ_CHECK(node::PrefixesOverlap(*p, *p), std::string(line));
      WF_FUZZ_CHECK(p->length >= 0 && p->length <= (p->v6 ? 128 : 32),
                    std::string(line));
    } else {
      fuzz::CheckCode(p.status());
    }
  }
  return 0;
}
