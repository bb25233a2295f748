// Fuzzes every Federation request handler through the service's own
// parse-and-handle function (federation/federation_handler.h) without a
// network: the first input byte selects the rpc (byte % 8, in the
// order of FederationMethod) and the calling peer ((byte / 8) % 2: a.cz/n1
// or b.cz/n1), the rest is the serialized request. The node (c.cz/n1) keeps
// its Ledger, SQLite file and Transparency logs across inputs, like a node
// serving a stream of requests; federation_fixture.h describes it.
//
// Invariants: no handler crashes, leaks or trips a sanitizer; PullRange
// fails only with the documented codes; the node stays healthy (the ledger
// never reports a store failure because of a peer's request).
#include <cstddef>
#include <cstdint>
#include <memory>

#include "tests/fuzz/federation_fixture.h"
#include "tests/fuzz/fuzz_util.h"

namespace watchfloor::fuzz {
namespace {

// Destroyed at exit, which removes its temp dir (not after a crash: the
// directory stays in $TMPDIR, which scripts/fuzz.sh removes).
FederationNode& Node() {
  static std::unique_ptr<FederationNode> node = std::make_unique<FederationNode>();
  return *node;
}

}  // namespace
}  // namespace watchfloor::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  (void)watchfloor::fuzz::Node();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace watchfloor::fuzz;  // NOLINT
  if (size == 0) return 0;
  const auto method = static_cast<FederationMethod>(data[0] % kFederationMethods);
  const std::string caller(kCallers[(data[0] / kFederationMethods) % 2]);
  const absl::Status s = Node().Handle(method, caller, AsView(data + 1, size - 1));
  WF_FUZZ_CHECK(s.ok() || s.code() == absl::StatusCode::kInvalidArgument ||
                    s.code() == absl::StatusCode::kOutOfRange ||
                    s.code() == absl::StatusCode::kFailedPrecondition ||
                    s.code() == absl::StatusCode::kNotFound,
                s.ToString());
  return 0;
}
