// certs/merkle.h: RFC 6962 / RFC 9162 Merkle trees over alert ids.
//
// Reference values: the 8-leaf tree of the RFC 6962 test suites, as
// published in transparency-dev/merkle proof/verify_test.go (leaves,
// "roots", "inclusionProofs", "consistencyProofs"; the same values as
// google/certificate-transparency's merkle_tree_test) and
// transparency-dev/merkle rfc6962/rfc6962_test.go (hasher values). The
// tamper cases in tests/testdata/merkle/ are written by make_cases.py there,
// an independent Python implementation that asserts the same reference
// values before writing anything.
#include "certs/merkle.h"

#include <dirent.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "certs/ids.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace watchfloor::certs {
namespace {

using ::testing::ElementsAreArray;

std::string H(absl::string_view hex) {
  absl::StatusOr<std::string> bytes = HexDecode(hex);
  EXPECT_TRUE(bytes.ok()) << hex;
  return bytes.ok() ? *bytes : std::string();
}

std::vector<std::string> Hs(std::vector<absl::string_view> hexes) {
  std::vector<std::string> out;
  for (absl::string_view h : hexes) out.push_back(H(h));
  return out;
}

// The leaf data of the reference tree.
std::vector<std::string> ReferenceLeafHashes() {
  const char* kLeaves[] = {"",         "00",
                           "10",       "2021",
                           "3031",     "40414243",
                           "5051525354555657",
                           "606162636465666768696a6b6c6d6e6f"};
  std::vector<std::string> out;
  for (const char* hex : kLeaves) out.push_back(HashLeaf(H(hex)));
  return out;
}

// transparency-dev/merkle proof/verify_test.go "roots": MTH of the first
// 1..8 reference leaves.
const char* const kReferenceRoots[] = {
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

std::string ReferenceRoot(uint64_t size) {
  return H(kReferenceRoots[size - 1]);
}

// ---------------------------------------------------------------- hashing

TEST(MerkleHashTest, MatchesRfc6962HasherReferenceValues) {
  // rfc6962_test.go TestRFC6962Hasher.
  EXPECT_EQ(HexEncode(EmptyRoot()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(HexEncode(HashLeaf("")),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");
  EXPECT_EQ(HexEncode(HashLeaf("L123456")),
            "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56");
  EXPECT_EQ(HexEncode(HashChildren("N123", "N456")),
            "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb");
}

TEST(MerkleHashTest, LeafHashIsTheRawAlertId) {
  for (absl::string_view payload : {"", "x", "an alert payload"}) {
    EXPECT_EQ(HexEncode(HashLeaf(payload)), AlertId(payload));
  }
}

TEST(MerkleHashTest, ChildOrderAndDomainSeparationMatter) {
  const std::string a = HashLeaf("Hello"), b = HashLeaf("World");
  EXPECT_NE(HashChildren(a, b), HashChildren(b, a));
  // An interior node is not the leaf hash of its children's concatenation.
  EXPECT_NE(HashChildren(a, b), HashLeaf(a + b));
}

// -------------------------------------------------------- reference values

TEST(MerkleReferenceTest, RootsOfSizes1To8MatchTheReference) {
  const std::vector<std::string> leaves = ReferenceLeafHashes();
  CompactRange range;
  MerkleTree tree;
  for (uint64_t n = 1; n <= 8; ++n) {
    range.Append(leaves[n - 1]);
    tree.Append(leaves[n - 1]);
    const std::vector<std::string> prefix(leaves.begin(), leaves.begin() + n);
    EXPECT_EQ(HexEncode(RootFromLeaves(prefix)), kReferenceRoots[n - 1]);
    EXPECT_EQ(HexEncode(range.Root()), kReferenceRoots[n - 1]);
    EXPECT_EQ(HexEncode(tree.Root()), kReferenceRoots[n - 1]);
  }
  for (uint64_t n = 1; n <= 8; ++n) {
    EXPECT_EQ(HexEncode(*tree.RootAt(n)), kReferenceRoots[n - 1]) << n;
  }
  EXPECT_EQ(*tree.RootAt(0), EmptyRoot());
  EXPECT_EQ(RootFromLeaves({}), EmptyRoot());
  EXPECT_EQ(CompactRange().Root(), EmptyRoot());
}

struct InclusionVector {
  uint64_t index;
  uint64_t size;
  std::vector<absl::string_view> proof;
};

// verify_test.go "inclusionProofs" ({leaf, size} there is 1-based).
const InclusionVector kInclusionVectors[] = {
    {0, 1, {}},
    {0,
     8,
     {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
    {5,
     8,
     {"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
    {2, 3, {"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"}},
    {1,
     5,
     {"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
};

TEST(MerkleReferenceTest, InclusionProofsMatchAndVerify) {
  const std::vector<std::string> leaves = ReferenceLeafHashes();
  const MerkleTree tree(leaves);
  for (const InclusionVector& v : kInclusionVectors) {
    SCOPED_TRACE(absl::StrCat("index ", v.index, " size ", v.size));
    const std::vector<std::string> want = Hs(v.proof);
    absl::StatusOr<std::vector<std::string>> got =
        tree.InclusionProof(v.index, v.size);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_THAT(*got, ElementsAreArray(want));
    EXPECT_TRUE(VerifyInclusion(v.index, v.size, leaves[v.index], want,
                                ReferenceRoot(v.size))
                    .ok());
    EXPECT_EQ(*RootFromInclusionProof(v.index, v.size, leaves[v.index], want),
              ReferenceRoot(v.size));
  }
}

struct ConsistencyVector {
  uint64_t size1;
  uint64_t size2;
  std::vector<absl::string_view> proof;
};

// verify_test.go "consistencyProofs".
const ConsistencyVector kConsistencyVectors[] = {
    {1, 1, {}},
    {1,
     8,
     {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
    {6,
     8,
     {"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
    {2,
     5,
     {"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
    {6,
     7,
     {"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
      "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
};

TEST(MerkleReferenceTest, ConsistencyProofsMatchAndVerify) {
  const MerkleTree tree(ReferenceLeafHashes());
  for (const ConsistencyVector& v : kConsistencyVectors) {
    SCOPED_TRACE(absl::StrCat(v.size1, " -> ", v.size2));
    const std::vector<std::string> want = Hs(v.proof);
    absl::StatusOr<std::vector<std::string>> got =
        tree.ConsistencyProof(v.size1, v.size2);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_THAT(*got, ElementsAreArray(want));
    EXPECT_TRUE(VerifyConsistency(v.size1, v.size2, want,
                                  ReferenceRoot(v.size1),
                                  ReferenceRoot(v.size2))
                    .ok());
  }
}

// ------------------------------------------------------- property checks

std::vector<std::string> TestLeaves(int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back(HashLeaf(absl::StrCat("leaf ", i)));
  return out;
}

std::vector<std::string> FlipBit(std::vector<std::string> proof, size_t i,
                                 int bit) {
  proof[i][0] ^= static_cast<char>(1 << bit);
  return proof;
}

constexpr int kMaxPropertySize = 70;

TEST(MerklePropertyTest, EveryInclusionProofUpTo70VerifiesAndMutantsFail) {
  const std::vector<std::string> leaves = TestLeaves(2 * kMaxPropertySize);
  const MerkleTree tree(leaves);
  for (uint64_t n = 1; n <= kMaxPropertySize; ++n) {
    const std::string root = *tree.RootAt(n);
    ASSERT_EQ(root, RootFromLeaves(std::vector<std::string>(
                        leaves.begin(), leaves.begin() + n)));
    for (uint64_t i = 0; i < n; ++i) {
      SCOPED_TRACE(absl::StrCat("index ", i, " size ", n));
      absl::StatusOr<std::vector<std::string>> proof =
          tree.InclusionProof(i, n);
      ASSERT_TRUE(proof.ok()) << proof.status();
      ASSERT_TRUE(VerifyInclusion(i, n, leaves[i], *proof, root).ok());
      for (size_t k = 0; k < proof->size(); ++k) {
        EXPECT_EQ(VerifyInclusion(i, n, leaves[i], FlipBit(*proof, k, 3),
                                  root)
                      .code(),
                  absl::StatusCode::kDataLoss);
      }
      EXPECT_EQ(VerifyInclusion(i, n, leaves[(i + 1) % n], *proof, root).code(),
                n == 1 ? absl::StatusCode::kOk : absl::StatusCode::kDataLoss);
      if (!proof->empty()) {
        std::vector<std::string> shorter(proof->begin(), proof->end() - 1);
        EXPECT_EQ(VerifyInclusion(i, n, leaves[i], shorter, root).code(),
                  absl::StatusCode::kInvalidArgument);
      }
      std::vector<std::string> longer = *proof;
      longer.push_back(root);
      EXPECT_EQ(VerifyInclusion(i, n, leaves[i], longer, root).code(),
                absl::StatusCode::kInvalidArgument);
      // Another index or size with the same proof never verifies: either the
      // length is wrong or the hashes do not lead to the root.
      for (uint64_t j = 0; j < n; ++j) {
        if (j == i) continue;
        EXPECT_FALSE(VerifyInclusion(j, n, leaves[i], *proof, root).ok());
      }
      if (n > 1) {
        EXPECT_FALSE(VerifyInclusion(i, n, leaves[i], *proof,
                                     *tree.RootAt(n - 1))
                         .ok());
      }
      // The root of another size never matches. (The same root with a
      // claimed size n + 1 can verify when both sizes give the leaf the same
      // path shape; the size is bound by the signed checkpoint, not here.)
      EXPECT_FALSE(VerifyInclusion(i, n + 1, leaves[i], *proof,
                                   *tree.RootAt(n + 1))
                       .ok());
      EXPECT_FALSE(VerifyInclusion(i, 2 * n, leaves[i], *proof, root).ok());
    }
  }
}

TEST(MerklePropertyTest, EveryConsistencyProofUpTo70VerifiesAndMutantsFail) {
  const MerkleTree tree(TestLeaves(kMaxPropertySize));
  std::vector<std::string> roots;
  for (uint64_t n = 0; n <= kMaxPropertySize; ++n) {
    roots.push_back(*tree.RootAt(n));
  }
  for (uint64_t n = 0; n <= kMaxPropertySize; ++n) {
    for (uint64_t m = 0; m <= n; ++m) {
      SCOPED_TRACE(absl::StrCat(m, " -> ", n));
      absl::StatusOr<std::vector<std::string>> proof =
          tree.ConsistencyProof(m, n);
      ASSERT_TRUE(proof.ok()) << proof.status();
      ASSERT_TRUE(VerifyConsistency(m, n, *proof, roots[m], roots[n]).ok());
      if (m == 0 || m == n) {
        EXPECT_TRUE(proof->empty());
        continue;
      }
      for (size_t k = 0; k < proof->size(); ++k) {
        EXPECT_EQ(VerifyConsistency(m, n, FlipBit(*proof, k, 4), roots[m],
                                    roots[n])
                      .code(),
                  absl::StatusCode::kDataLoss);
      }
      std::vector<std::string> shorter(proof->begin(), proof->end() - 1);
      EXPECT_EQ(VerifyConsistency(m, n, shorter, roots[m], roots[n]).code(),
                absl::StatusCode::kInvalidArgument);
      std::vector<std::string> longer = *proof;
      longer.push_back(roots[n]);
      EXPECT_EQ(VerifyConsistency(m, n, longer, roots[m], roots[n]).code(),
                absl::StatusCode::kInvalidArgument);
      EXPECT_EQ(VerifyConsistency(m, n, *proof, roots[m - 1], roots[n]).code(),
                absl::StatusCode::kDataLoss);
      EXPECT_EQ(VerifyConsistency(m, n, *proof, roots[m], roots[n - 1]).code(),
                absl::StatusCode::kDataLoss);
      EXPECT_FALSE(VerifyConsistency(m, n, *proof, roots[n], roots[m]).ok());
      EXPECT_FALSE(VerifyConsistency(m - 1, n, *proof, roots[m - 1], roots[n])
                       .ok());
      if (n < kMaxPropertySize) {
        EXPECT_FALSE(
            VerifyConsistency(m, n + 1, *proof, roots[m], roots[n + 1]).ok());
      }
    }
  }
}

// A tree of 2^40 + 12345 leaves that is never stored: the accessor makes up
// a hash per range and counts the calls. Generation costs one call per proof
// hash, at most 2 * 41 for this size, and the proof has the length the
// verifier expects.
TEST(MerklePropertyTest, ProofsOfAHugeTreeTakeLogarithmicAccessorCalls) {
  const uint64_t size = (uint64_t{1} << 40) + 12345;
  int calls = 0;
  bool aligned = true;
  SubtreeHashFn made_up = [&](uint64_t begin,
                              uint64_t end) -> absl::StatusOr<std::string> {
    ++calls;
    const uint64_t len = end - begin;
    uint64_t p = 1;
    while (p < len) p <<= 1;
    aligned = aligned && begin % p == 0 && end <= size;
    return Sha256(absl::StrCat(begin, ",", end));
  };
  for (uint64_t index : {uint64_t{0}, uint64_t{777}, size / 2, size - 1}) {
    calls = 0;
    absl::StatusOr<std::vector<std::string>> proof =
        InclusionProof(index, size, made_up);
    ASSERT_TRUE(proof.ok()) << proof.status();
    EXPECT_EQ(static_cast<size_t>(calls), proof->size());
    EXPECT_LE(proof->size(), 41u);
    EXPECT_TRUE(
        RootFromInclusionProof(index, size, HashLeaf("x"), *proof).ok());
  }
  for (uint64_t m : {uint64_t{1}, uint64_t{12345}, size / 3, size - 1}) {
    calls = 0;
    absl::StatusOr<std::vector<std::string>> proof =
        ConsistencyProof(m, size, made_up);
    ASSERT_TRUE(proof.ok()) << proof.status();
    EXPECT_EQ(static_cast<size_t>(calls), proof->size());
    EXPECT_LE(proof->size(), 2u * 41u);
    // Right length: the verifier gets past its length check to the hashes.
    EXPECT_EQ(VerifyConsistency(m, size, *proof, HashLeaf("a"), HashLeaf("b"))
                  .code(),
              absl::StatusCode::kDataLoss);
  }
  EXPECT_TRUE(aligned);
}

// ---------------------------------------------------------- CompactRange

TEST(CompactRangeTest, AppendMatchesTheReferenceRootAt200Sizes) {
  const std::vector<std::string> leaves = TestLeaves(200);
  CompactRange range;
  for (size_t n = 1; n <= leaves.size(); ++n) {
    range.Append(leaves[n - 1]);
    ASSERT_EQ(range.size(), n);
    ASSERT_EQ(range.hashes().size(),
              static_cast<size_t>(__builtin_popcountll(n)));
    ASSERT_EQ(range.Root(),
              RootFromLeaves(std::vector<std::string>(leaves.begin(),
                                                      leaves.begin() + n)));
  }
}

TEST(CompactRangeTest, VisitorReportsEveryPerfectNodeOnce) {
  const std::vector<std::string> leaves = TestLeaves(37);
  const MerkleTree tree(leaves);
  std::map<std::pair<int, uint64_t>, std::string> seen;
  CompactRange range;
  for (const std::string& leaf : leaves) {
    range.Append(leaf, [&](int level, uint64_t index, const std::string& h) {
      EXPECT_TRUE(seen.emplace(std::make_pair(level, index), h).second)
          << level << "/" << index;
    });
  }
  // 37 leaves have 37 + 18 + 9 + 4 + 2 + 1 perfect nodes.
  EXPECT_EQ(seen.size(), 37u + 18 + 9 + 4 + 2 + 1);
  for (const auto& [node, hash] : seen) {
    const uint64_t begin = node.second << node.first;
    EXPECT_EQ(hash, *tree.SubtreeHash(begin, begin + (uint64_t{1} << node.first)));
  }
  // A node that persisted them can serve any proof range from them alone.
  PerfectNodeFn stored = [&](int level,
                             uint64_t index) -> absl::StatusOr<std::string> {
    auto it = seen.find({level, index});
    if (it == seen.end()) return absl::NotFoundError("no such node");
    return it->second;
  };
  EXPECT_EQ(*SubtreeHashFromPerfect(0, 37, stored), tree.Root());
  EXPECT_EQ(*SubtreeHashFromPerfect(32, 37, stored), *tree.SubtreeHash(32, 37));
  SubtreeHashFn from_store = [&](uint64_t b, uint64_t e) {
    return SubtreeHashFromPerfect(b, e, stored);
  };
  EXPECT_EQ(*InclusionProof(35, 37, from_store), *tree.InclusionProof(35, 37));
  EXPECT_EQ(*ConsistencyProof(21, 37, from_store),
            *tree.ConsistencyProof(21, 37));
}

TEST(CompactRangeTest, RestoresFromItsHashes) {
  const std::vector<std::string> leaves = TestLeaves(45);
  CompactRange range;
  for (int i = 0; i < 40; ++i) range.Append(leaves[i]);
  absl::StatusOr<CompactRange> restored =
      CompactRange::FromHashes(range.size(), range.hashes());
  ASSERT_TRUE(restored.ok()) << restored.status();
  for (int i = 40; i < 45; ++i) restored->Append(leaves[i]);
  EXPECT_EQ(restored->Root(), RootFromLeaves(leaves));
}

TEST(CompactRangeTest, FromHashesRejectsTheWrongCountOrHashSize) {
  EXPECT_EQ(CompactRange::FromHashes(5, {HashLeaf("a")}).status(),
            absl::InvalidArgumentError(
                "a tree of size 5 has 2 perfect subtrees, got 1 hashes"));
  EXPECT_EQ(CompactRange::FromHashes(1, {"short"}).status(),
            absl::InvalidArgumentError("hash 0 is 5 bytes, want 32"));
}

// ------------------------------------------------------------ MerkleTree

TEST(MerkleTreeTest, RejectsRangesAndSizesOutsideTheTree) {
  const MerkleTree tree(TestLeaves(7));
  EXPECT_EQ(tree.RootAt(8).status(),
            absl::InvalidArgumentError(
                "tree size 8 is larger than the tree (7 leaves)"));
  EXPECT_EQ(tree.InclusionProof(7, 7).status(),
            absl::InvalidArgumentError("leaf index 7 is not below tree size 7"));
  EXPECT_EQ(tree.InclusionProof(0, 9).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(tree.ConsistencyProof(5, 3).status(),
            absl::InvalidArgumentError("tree size 5 is larger than tree size 3"));
  EXPECT_EQ(tree.SubtreeHash(1, 3).status(),
            absl::InvalidArgumentError("leaf range [1, 3) is neither a perfect "
                                       "subtree nor a right edge"));
  EXPECT_EQ(tree.SubtreeHash(4, 8).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(MerkleTreeTest, AccessorErrorsPassThroughUnchanged) {
  SubtreeHashFn broken = [](uint64_t, uint64_t) -> absl::StatusOr<std::string> {
    return absl::UnavailableError("store is closed");
  };
  EXPECT_EQ(InclusionProof(3, 9, broken).status(),
            absl::UnavailableError("store is closed"));
  EXPECT_EQ(ConsistencyProof(3, 9, broken).status(),
            absl::UnavailableError("store is closed"));
  EXPECT_TRUE(InclusionProof(0, 1, broken)->empty());
}

// --------------------------------------------------- verification edges

TEST(MerkleVerifyTest, DegenerateSizes) {
  const std::string leaf = HashLeaf("data");
  EXPECT_TRUE(VerifyInclusion(0, 1, leaf, {}, leaf).ok());
  EXPECT_EQ(VerifyInclusion(0, 0, leaf, {}, EmptyRoot()),
            absl::InvalidArgumentError("leaf index 0 is not below tree size 0"));
  EXPECT_EQ(VerifyInclusion(0, 1, leaf, {}, EmptyRoot()),
            absl::DataLossError("inclusion proof does not match root"));
  EXPECT_EQ(VerifyInclusion(0, 1, "", {}, leaf),
            absl::InvalidArgumentError("leaf hash is 0 bytes, want 32"));
  EXPECT_EQ(VerifyInclusion(0, 1, leaf, {}, ""),
            absl::InvalidArgumentError("root hash is 0 bytes, want 32"));

  EXPECT_TRUE(VerifyConsistency(0, 0, {}, EmptyRoot(), EmptyRoot()).ok());
  EXPECT_TRUE(VerifyConsistency(1, 1, {}, leaf, leaf).ok());
  EXPECT_EQ(VerifyConsistency(1, 1, {}, leaf, EmptyRoot()),
            absl::DataLossError("different roots for the same tree size 1"));
  EXPECT_EQ(VerifyConsistency(1, 1, {leaf}, leaf, leaf),
            absl::InvalidArgumentError(
                "consistency proof has 1 hashes, want 0 from tree size 1 to 1"));
  EXPECT_EQ(VerifyConsistency(0, 3, {leaf}, EmptyRoot(), leaf).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(VerifyConsistency(2, 1, {}, leaf, leaf),
            absl::InvalidArgumentError("tree size 2 is larger than tree size 1"));
  EXPECT_EQ(VerifyConsistency(1, 2, {}, leaf, leaf).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(VerifyConsistency(1, 2, {leaf}, "", leaf),
            absl::InvalidArgumentError("root1 hash is 0 bytes, want 32"));
}

// ------------------------------------------------------- tamper cases

struct CaseFile {
  std::map<std::string, std::string> fields;
  std::vector<std::string> proof;
};

CaseFile ReadCase(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << path;
  CaseFile c;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const size_t colon = line.find(':');
    EXPECT_NE(colon, std::string::npos) << path << ": " << line;
    if (colon == std::string::npos) continue;
    std::string key = line.substr(0, colon);
    std::string value = line.substr(colon + 1);
    if (!value.empty() && value[0] == ' ') value.erase(0, 1);
    if (key == "proof") {
      c.proof.push_back(H(value));
    } else {
      EXPECT_TRUE(c.fields.emplace(key, value).second)
          << path << ": duplicate " << key;
    }
  }
  return c;
}

uint64_t Num(const CaseFile& c, const std::string& key) {
  uint64_t v = 0;
  auto it = c.fields.find(key);
  EXPECT_TRUE(it != c.fields.end() && absl::SimpleAtoi(it->second, &v)) << key;
  return v;
}

std::string Field(const CaseFile& c, const std::string& key) {
  auto it = c.fields.find(key);
  EXPECT_TRUE(it != c.fields.end()) << "missing " << key;
  return it == c.fields.end() ? "" : it->second;
}

std::vector<std::string> ListCaseFiles(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = opendir(dir.c_str());
  EXPECT_NE(d, nullptr) << dir;
  if (d == nullptr) return names;
  while (dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    if (name.size() > 4 && name.substr(name.size() - 4) == ".txt") {
      names.push_back(name);
    }
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

TEST(MerkleTamperTest, EveryCaseFileFailsWithItsExactCodeAndMessage) {
  const std::string dir =
      std::string(WF_SOURCE_DIR) + "/tests/testdata/merkle/";
  const std::vector<std::string> names = ListCaseFiles(dir);
  // The cases the issue names must be among them.
  const std::set<std::string> have(names.begin(), names.end());
  for (const char* required :
       {"truncated-proof.txt", "wrong-leaf.txt", "proof-for-different-size.txt",
        "modified-proof-0-bit-3.txt", "wrong-root.txt",
        "consistency-split-view.txt"}) {
    EXPECT_EQ(have.count(required), 1u) << required;
  }
  ASSERT_GE(names.size(), 25u);
  for (const std::string& name : names) {
    SCOPED_TRACE(name);
    const CaseFile c = ReadCase(dir + name);
    absl::Status status;
    const std::string kind = Field(c, "kind");
    if (kind == "inclusion") {
      status = VerifyInclusion(Num(c, "index"), Num(c, "size"),
                               H(Field(c, "leaf")), c.proof,
                               H(Field(c, "root")));
    } else if (kind == "consistency") {
      status = VerifyConsistency(Num(c, "size1"), Num(c, "size2"), c.proof,
                                 H(Field(c, "root1")), H(Field(c, "root2")));
    } else {
      ADD_FAILURE() << "unknown kind " << kind;
      continue;
    }
    EXPECT_EQ(absl::StatusCodeToString(status.code()),
              Field(c, "expect-code"))
        << status;
    EXPECT_EQ(status.message(), Field(c, "expect-message"));
  }
}

// Trees past 2^63 leaves make the level count 64; verification must refuse
// the wrong-length proof without shifting a 64-bit value by 64 (undefined:
// the merkle fuzzer found it under UBSan, tests/fuzz/regressions/).
TEST(MerkleVerifyTest, HugeTreeSizesAreRefusedWithoutUndefinedShifts) {
  const std::string h(32, 'h');
  const uint64_t huge = (uint64_t{1} << 63) + 1;
  absl::StatusOr<std::string> root = RootFromInclusionProof(0, huge, h, {h});
  EXPECT_EQ(root.status().code(), absl::StatusCode::kInvalidArgument) << root.status();
  EXPECT_EQ(VerifyConsistency(1, huge, {h}, h, h).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace watchfloor::certs
