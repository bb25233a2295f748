// Fuzzes Merkle proof verification (certs/merkle.h), as a node checks a
// peer's consistency proof and `watchfloor audit` an inclusion proof. The
// input uses the "key: value" format of tests/testdata/merkle/*.txt (kind,
// index, size, size1, size2, leaf, root, root1, root2, proof; hashes in hex),
// so every tamper case there is a seed.
//
// Invariants: verification fails only with INVALID_ARGUMENT or DATA_LOSS;
// an inclusion proof that verifies leads (RootFromInclusionProof) to the
// root; and, differentially, for sizes up to 64 the proofs MerkleTree makes
// for the same sizes over leaves derived from the input verify, and the
// fuzzed proof verifies against that tree only if it equals the generated
// one (a second preimage would be needed otherwise).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "certs/ids.h"
#include "certs/merkle.h"
#include "tests/fuzz/fuzz_util.h"

namespace watchfloor::fuzz {
namespace {

struct Case {
  std::string kind;
  uint64_t index = 0, size = 0, size1 = 0, size2 = 0;
  std::string leaf, root, root1, root2;
  std::vector<std::string> proof;
};

std::string Bytes(absl::string_view hex) {
  absl::StatusOr<std::string> raw = certs::HexDecode(hex);
  return raw.ok() ? *raw : std::string(hex);  // not hex: the text itself
}

Case Parse(absl::string_view input) {
  Case c;
  for (absl::string_view line : absl::StrSplit(input, '\n')) {
    std::pair<absl::string_view, absl::string_view> kv =
        absl::StrSplit(line, absl::MaxSplits(':', 1));
    absl::string_view v = absl::StripAsciiWhitespace(kv.second);
    const absl::string_view k = kv.first;
    if (k == "kind") c.kind = std::string(v);
    if (k == "index") (void)absl::SimpleAtoi(v, &c.index);
    if (k == "size") (void)absl::SimpleAtoi(v, &c.size);
    if (k == "size1") (void)absl::SimpleAtoi(v, &c.size1);
    if (k == "size2") (void)absl::SimpleAtoi(v, &c.size2);
    if (k == "leaf") c.leaf = Bytes(v);
    if (k == "root") c.root = Bytes(v);
    if (k == "root1") c.root1 = Bytes(v);
    if (k == "root2") c.root2 = Bytes(v);
    if (k == "proof" && c.proof.size() < 256) c.proof.push_back(Bytes(v));
  }
  return c;
}

void CheckCode(const absl::Status& s) {
  WF_FUZZ_CHECK(s.ok() || s.code() == absl::StatusCode::kInvalidArgument ||
                    s.code() == absl::StatusCode::kDataLoss,
                s.ToString());
}

// A tree of `n` leaves: HashLeaf("<i>").
certs::MerkleTree TreeOf(uint64_t n) {
  certs::MerkleTree t;
  for (uint64_t i = 0; i < n; ++i) t.Append(certs::HashLeaf(std::to_string(i)));
  return t;
}

void Inclusion(const Case& c) {
  const absl::Status v = certs::VerifyInclusion(c.index, c.size, c.leaf, c.proof, c.root);
  CheckCode(v);
  absl::StatusOr<std::string> root =
      certs::RootFromInclusionProof(c.index, c.size, c.leaf, c.proof);
  CheckCode(root.status());
  if (v.ok()) WF_FUZZ_CHECK(root.ok() && *root == c.root, "verified, other root");
  if (root.ok() && *root == c.root) WF_FUZZ_CHECK(v.ok(), v.ToString());

  if (c.size == 0 || c.size > 64 || c.index >= c.size) return;
  const certs::MerkleTree tree = TreeOf(c.size);
  absl::StatusOr<std::vector<std::string>> made = tree.InclusionProof(c.index, c.size);
  WF_FUZZ_CHECK(made.ok(), made.status().ToString());
  WF_FUZZ_CHECK(certs::VerifyInclusion(c.index, c.size, tree.leaf(c.index), *made,
                                       tree.Root())
                    .ok(),
                "generated inclusion proof does not verify");
  if (certs::VerifyInclusion(c.index, c.size, tree.leaf(c.index), c.proof, tree.Root()).ok()) {
    WF_FUZZ_CHECK(c.proof == *made, "a second inclusion proof verifies");
  }
}

void Consistency(const Case& c) {
  CheckCode(certs::VerifyConsistency(c.size1, c.size2, c.proof, c.root1, c.root2));
  if (c.size2 == 0 || c.size2 > 64 || c.size1 > c.size2) return;
  const certs::MerkleTree tree = TreeOf(c.size2);
  const std::string r1 = *tree.RootAt(c.size1);
  const std::string r2 = tree.Root();
  absl::StatusOr<std::vector<std::string>> made = tree.ConsistencyProof(c.size1, c.size2);
  WF_FUZZ_CHECK(made.ok(), made.status().ToString());
  WF_FUZZ_CHECK(certs::VerifyConsistency(c.size1, c.size2, *made, r1, r2).ok(),
                "generated consistency proof does not verify");
  if (certs::VerifyConsistency(c.size1, c.size2, c.proof, r1, r2).ok()) {
    WF_FUZZ_CHECK(c.proof == *made, "a second consistency proof verifies");
  }
}

}  // namespace
}  // namespace watchfloor::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const watchfloor::fuzz::Case c = watchfloor::fuzz::Parse(watchfloor::fuzz::AsView(data, size));
  if (c.kind == "consistency") {
    watchfloor::fuzz::Consistency(c);
  } else {
    watchfloor::fuzz::Inclusion(c);
  }
  return 0;
}
