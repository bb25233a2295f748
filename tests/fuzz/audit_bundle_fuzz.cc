// Fuzzes the audit bundle reader (certs/audit.h), as `watchfloor audit
// BUNDLE_FILE` runs it: the input is a serialized watchfloor.v1.AuditBundle,
// audited once without an anchor and once anchored at the roster every
// bundle in tests/testdata/audit carries; both reports are printed (Summary,
// Json).
//
// Invariants: Audit fails only with the documented codes (INVALID_ARGUMENT,
// UNAUTHENTICATED, FAILED_PRECONDITION); a report is ok() iff it lists no
// finding; the last line of Summary starts "audit OK" or "audit FAILED"
// accordingly;
// every finding carries a known token.
#include <cstddef>
#include <cstdint>
#include <set>

#include "absl/strings/match.h"
#include "certs/audit.h"
#include "certs/dsse.h"
#include "tests/fuzz/fuzz_util.h"
#include "watchfloor/v1/audit.pb.h"

namespace watchfloor::fuzz {
namespace {

const certs::Roster& Anchor() {
  static const certs::Roster* anchor = [] {
    auto env = certs::EnvelopeFromJson(SourceFile("tests/testdata/audit/roster.json"));
    WF_FUZZ_CHECK(env.ok(), env.status().ToString());
    auto r = certs::Roster::VerifyGenesis(*env);
    WF_FUZZ_CHECK(r.ok(), r.status().ToString());
    return new certs::Roster(*std::move(r));
  }();
  return *anchor;
}

void Check(const absl::StatusOr<certs::AuditReport>& report) {
  if (!report.ok()) {
    const absl::StatusCode c = report.status().code();
    WF_FUZZ_CHECK(c == absl::StatusCode::kInvalidArgument ||
                      c == absl::StatusCode::kUnauthenticated ||
                      c == absl::StatusCode::kFailedPrecondition,
                  report.status().ToString());
    return;
  }
  static const std::set<absl::string_view> kTokens = {
      certs::kSignatureFailure, certs::kChainBreak,      certs::kInclusionFailure,
      certs::kOutOfOrder,       certs::kMissing,         certs::kCheckpointInvalid,
      certs::kSplitView,        certs::kInconsistent,    certs::kForgedCosignature,
      certs::kQuorumNotMet,     certs::kMalformedAlert,  certs::kNoCheckpoint,
      certs::kClaimsUnsigned,   certs::kClaimsInvalid,   certs::kClaimsMismatch};
  const std::vector<certs::AuditFinding> findings = report->Findings();
  for (const certs::AuditFinding& f : findings) {
    WF_FUZZ_CHECK(kTokens.count(f.token) == 1, f.token);
  }
  WF_FUZZ_CHECK(report->ok() == findings.empty(), report->Summary());
  const std::string summary = report->Summary();
  WF_FUZZ_CHECK(absl::EndsWith(summary, "\n"), summary);
  const size_t last = summary.rfind('\n', summary.size() - 2);
  const absl::string_view last_line =
      absl::string_view(summary).substr(last == std::string::npos ? 0 : last + 1);
  WF_FUZZ_CHECK(absl::StartsWith(last_line, report->ok() ? "audit OK" : "audit FAILED"),
                summary);
  const std::string json = report->Json();
  WF_FUZZ_CHECK(absl::EndsWith(json, "}\n"), json);
}

}  // namespace
}  // namespace watchfloor::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  (void)watchfloor::fuzz::Anchor();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace watchfloor;  // NOLINT
  v1::AuditBundle bundle;
  if (!bundle.ParseFromArray(data, static_cast<int>(size))) return 0;
  certs::AuditOptions options;
  options.threads = 1;
  fuzz::Check(certs::Audit(bundle, options));
  options.anchor = &fuzz::Anchor();
  options.quorum = 1;
  fuzz::Check(certs::Audit(bundle, options));
  return 0;
}
