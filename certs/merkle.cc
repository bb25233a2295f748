#include "certs/merkle.h"

#include <sodium.h>

#include <algorithm>
#include <cassert>
#include <cstdlib>
#include <utility>

#include "absl/strings/str_cat.h"
#include "certs/ids.h"
#include "certs/status_macros.h"

namespace watchfloor::certs {
namespace {

void EnsureSodium() {
  static const bool ok = sodium_init() >= 0;
  if (!ok) std::abort();  // No usable crypto: nothing sane to continue with.
}

// SHA-256(prefix || a || b) without concatenating into a temporary.
std::string PrefixedHash(unsigned char prefix, absl::string_view a,
                         absl::string_view b) {
  EnsureSodium();
  crypto_hash_sha256_state state;
  crypto_hash_sha256_init(&state);
  crypto_hash_sha256_update(&state, &prefix, 1);
  crypto_hash_sha256_update(
      &state, reinterpret_cast<const unsigned char*>(a.data()), a.size());
  crypto_hash_sha256_update(
      &state, reinterpret_cast<const unsigned char*>(b.data()), b.size());
  std::string out(crypto_hash_sha256_BYTES, '\0');
  crypto_hash_sha256_final(&state,
                           reinterpret_cast<unsigned char*>(out.data()));
  return out;
}

// Number of bits needed to write x (0 for 0).
int BitWidth(uint64_t x) { return x == 0 ? 0 : 64 - __builtin_clzll(x); }
int PopCount(uint64_t x) { return __builtin_popcountll(x); }
int TrailingZeros(uint64_t x) { return x == 0 ? 64 : __builtin_ctzll(x); }
// x >> n for any n >= 0 (C++ leaves a shift by 64 undefined; a tree of more
// than 2^63 leaves makes BitWidth 64).
uint64_t ShiftRight(uint64_t x, int n) { return n >= 64 ? 0 : x >> n; }

// The largest power of two strictly below n, for n >= 2: RFC 6962's k.
uint64_t SplitPoint(uint64_t n) { return uint64_t{1} << (BitWidth(n - 1) - 1); }

// True iff [begin, end) is non-empty and begin is a multiple of the smallest
// power of two >= end - begin: the ranges proof generation asks for.
bool IsProofRange(uint64_t begin, uint64_t end) {
  if (begin >= end) return false;
  const uint64_t len = end - begin;
  const int width = BitWidth(len - 1);  // smallest p = 2^width >= len
  if (width >= 64) return begin == 0;
  return (begin & ((uint64_t{1} << width) - 1)) == 0;
}

absl::Status CheckHashSize(absl::string_view what, absl::string_view hash) {
  if (hash.size() != kMerkleHashSize) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " is ", hash.size(), " bytes, want 32"));
  }
  return absl::OkStatus();
}

absl::Status CheckProofHashes(const std::vector<std::string>& proof) {
  for (size_t i = 0; i < proof.size(); ++i) {
    if (proof[i].size() != kMerkleHashSize) {
      return absl::InvalidArgumentError(absl::StrCat(
          "proof hash ", i, " is ", proof[i].size(), " bytes, want 32"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> CheckedSubtree(const SubtreeHashFn& fn,
                                           uint64_t begin, uint64_t end) {
  WF_ASSIGN_OR_RETURN(std::string hash, fn(begin, end));
  if (hash.size() != kMerkleHashSize) {
    return absl::InternalError(absl::StrCat("subtree hash of [", begin, ", ",
                                            end, ") is ", hash.size(),
                                            " bytes, want 32"));
  }
  return hash;
}

// The RFC 9162 2.1.3.2 / 2.1.4.2 step shared by both verifiers: after
// hashing with a left sibling, drop the levels where this node is a left
// child whose right sibling is missing (fn even and not yet at the root).
void SkipLoneLeftLevels(uint64_t& fn, uint64_t& sn) {
  while ((fn & 1) == 0 && fn != 0) {
    fn >>= 1;
    sn >>= 1;
  }
}

}  // namespace

std::string HashChildren(absl::string_view left, absl::string_view right) {
  return PrefixedHash(0x01, left, right);
}

std::string EmptyRoot() { return Sha256(""); }

std::string HashLeaf(absl::string_view data) {
  return PrefixedHash(0x00, data, "");
}

std::string RootFromLeaves(const std::vector<std::string>& leaf_hashes) {
  CompactRange range;
  for (const std::string& leaf : leaf_hashes) range.Append(leaf);
  return range.Root();
}

absl::StatusOr<std::string> SubtreeHashFromPerfect(
    uint64_t begin, uint64_t end, const PerfectNodeFn& perfect_node) {
  if (!IsProofRange(begin, end)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "leaf range [", begin, ", ", end,
        ") is neither a perfect subtree nor a right edge"));
  }
  // Because begin is aligned to the smallest power of two >= the length,
  // the set bits of the length, high to low, are the perfect subtrees that
  // MTH splits the range into, left to right.
  const uint64_t len = end - begin;
  std::vector<std::string> pieces;
  uint64_t pos = begin;
  for (int level = 63; level >= 0; --level) {
    if ((len >> level) & 1) {
      WF_ASSIGN_OR_RETURN(std::string hash, perfect_node(level, pos >> level));
      if (hash.size() != kMerkleHashSize) {
        return absl::InternalError(absl::StrCat(
            "perfect node (", level, ", ", pos >> level, ") is ", hash.size(),
            " bytes, want 32"));
      }
      pieces.push_back(std::move(hash));
      pos += uint64_t{1} << level;
    }
  }
  std::string root = std::move(pieces.back());
  for (size_t i = pieces.size() - 1; i-- > 0;) {
    root = HashChildren(pieces[i], root);
  }
  return root;
}

// ------------------------------------------------------------ CompactRange

absl::StatusOr<CompactRange> CompactRange::FromHashes(
    uint64_t size, std::vector<std::string> hashes) {
  if (hashes.size() != static_cast<size_t>(PopCount(size))) {
    return absl::InvalidArgumentError(
        absl::StrCat("a tree of size ", size, " has ", PopCount(size),
                     " perfect subtrees, got ", hashes.size(), " hashes"));
  }
  for (size_t i = 0; i < hashes.size(); ++i) {
    WF_RETURN_IF_ERROR(CheckHashSize(absl::StrCat("hash ", i), hashes[i]));
  }
  CompactRange range;
  range.size_ = size;
  range.hashes_ = std::move(hashes);
  return range;
}

void CompactRange::Append(absl::string_view leaf_hash, const Visitor& visitor) {
  assert(leaf_hash.size() == kMerkleHashSize);
  hashes_.emplace_back(leaf_hash);
  if (visitor) visitor(0, size_, hashes_.back());
  // Each trailing one bit of the old size is a perfect subtree of the same
  // height as the one just completed: merge them pairwise.
  int level = 0;
  while ((size_ >> level) & 1) {
    std::string merged =
        HashChildren(hashes_[hashes_.size() - 2], hashes_.back());
    hashes_.pop_back();
    hashes_.back() = std::move(merged);
    ++level;
    if (visitor) visitor(level, size_ >> level, hashes_.back());
  }
  ++size_;
}

std::string CompactRange::Root() const {
  if (hashes_.empty()) return EmptyRoot();
  std::string root = hashes_.back();
  for (size_t i = hashes_.size() - 1; i-- > 0;) {
    root = HashChildren(hashes_[i], root);
  }
  return root;
}

// ------------------------------------------------------- proof generation

absl::StatusOr<std::vector<std::string>> InclusionProof(
    uint64_t index, uint64_t size, const SubtreeHashFn& subtree_hash) {
  if (index >= size) {
    return absl::InvalidArgumentError(absl::StrCat(
        "leaf index ", index, " is not below tree size ", size));
  }
  // PATH(m, D[b:e]) walked top-down; the proof lists siblings bottom-up.
  std::vector<std::string> proof;
  uint64_t b = 0, e = size;
  while (e - b > 1) {
    const uint64_t k = SplitPoint(e - b);
    if (index < b + k) {
      WF_ASSIGN_OR_RETURN(std::string h, CheckedSubtree(subtree_hash, b + k, e));
      proof.push_back(std::move(h));
      e = b + k;
    } else {
      WF_ASSIGN_OR_RETURN(std::string h, CheckedSubtree(subtree_hash, b, b + k));
      proof.push_back(std::move(h));
      b = b + k;
    }
  }
  std::reverse(proof.begin(), proof.end());
  return proof;
}

absl::StatusOr<std::vector<std::string>> ConsistencyProof(
    uint64_t m, uint64_t n, const SubtreeHashFn& subtree_hash) {
  if (m > n) {
    return absl::InvalidArgumentError(
        absl::StrCat("tree size ", m, " is larger than tree size ", n));
  }
  std::vector<std::string> proof;
  if (m == 0 || m == n) return proof;
  // SUBPROOF(m, D[a:b], flag) walked top-down. `tail` collects the hashes
  // appended after each recursive call, so it is reversed at the end; the
  // base case's MTH(D[a:b]) (when flag is false) comes first.
  std::vector<std::string> tail;
  uint64_t a = 0, b = n, mm = m;
  bool flag = true;
  while (true) {
    const uint64_t len = b - a;
    if (mm == len) {
      if (!flag) {
        WF_ASSIGN_OR_RETURN(std::string h, CheckedSubtree(subtree_hash, a, b));
        proof.push_back(std::move(h));
      }
      break;
    }
    const uint64_t k = SplitPoint(len);
    if (mm <= k) {
      WF_ASSIGN_OR_RETURN(std::string h, CheckedSubtree(subtree_hash, a + k, b));
      tail.push_back(std::move(h));
      b = a + k;
    } else {
      WF_ASSIGN_OR_RETURN(std::string h, CheckedSubtree(subtree_hash, a, a + k));
      tail.push_back(std::move(h));
      a = a + k;
      mm -= k;
      flag = false;
    }
  }
  proof.insert(proof.end(), std::make_move_iterator(tail.rbegin()),
               std::make_move_iterator(tail.rend()));
  return proof;
}

// ----------------------------------------------------------- verification

absl::StatusOr<std::string> RootFromInclusionProof(
    uint64_t index, uint64_t size, absl::string_view leaf_hash,
    const std::vector<std::string>& proof) {
  WF_RETURN_IF_ERROR(CheckHashSize("leaf hash", leaf_hash));
  WF_RETURN_IF_ERROR(CheckProofHashes(proof));
  if (index >= size) {
    return absl::InvalidArgumentError(absl::StrCat(
        "leaf index ", index, " is not below tree size ", size));
  }
  // Levels where the path from the leaf and the path from the last leaf
  // differ ("inner"), then right-edge levels where the node is a right child.
  const int inner = BitWidth(index ^ (size - 1));
  const int border = PopCount(ShiftRight(index, inner));
  const size_t want = static_cast<size_t>(inner + border);
  if (proof.size() != want) {
    return absl::InvalidArgumentError(absl::StrCat(
        "inclusion proof has ", proof.size(), " hashes, want ", want,
        " for leaf ", index, " in a tree of size ", size));
  }
  // RFC 9162 section 2.1.3.2.
  uint64_t fn = index, sn = size - 1;
  std::string r(leaf_hash);
  for (const std::string& p : proof) {
    if (sn == 0) {
      return absl::DataLossError("inclusion proof does not match root");
    }
    if ((fn & 1) == 1 || fn == sn) {
      r = HashChildren(p, r);
      SkipLoneLeftLevels(fn, sn);
    } else {
      r = HashChildren(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) {
    return absl::DataLossError("inclusion proof does not match root");
  }
  return r;
}

absl::Status VerifyInclusion(uint64_t index, uint64_t size,
                             absl::string_view leaf_hash,
                             const std::vector<std::string>& proof,
                             absl::string_view root) {
  WF_RETURN_IF_ERROR(CheckHashSize("root hash", root));
  WF_ASSIGN_OR_RETURN(std::string got,
                      RootFromInclusionProof(index, size, leaf_hash, proof));
  if (got != root) {
    return absl::DataLossError("inclusion proof does not match root");
  }
  return absl::OkStatus();
}

absl::Status VerifyConsistency(uint64_t size1, uint64_t size2,
                               const std::vector<std::string>& proof,
                               absl::string_view root1,
                               absl::string_view root2) {
  WF_RETURN_IF_ERROR(CheckHashSize("root1 hash", root1));
  WF_RETURN_IF_ERROR(CheckHashSize("root2 hash", root2));
  WF_RETURN_IF_ERROR(CheckProofHashes(proof));
  if (size1 > size2) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tree size ", size1, " is larger than tree size ", size2));
  }
  size_t want = 0;
  if (size1 != 0 && size1 != size2) {
    // The proof starts at the largest perfect subtree that ends at size1
    // (2^shift leaves); it is root1 itself when size1 is a power of two, so
    // then it is left out of the proof.
    const int shift = TrailingZeros(size1);
    const int inner = BitWidth((size1 - 1) ^ (size2 - 1));
    const int border = PopCount(ShiftRight(size1 - 1, inner));
    const bool seed_in_proof = size1 != (uint64_t{1} << shift);
    want = (seed_in_proof ? 1 : 0) + static_cast<size_t>(inner - shift) +
           static_cast<size_t>(border);
  }
  if (proof.size() != want) {
    return absl::InvalidArgumentError(absl::StrCat(
        "consistency proof has ", proof.size(), " hashes, want ", want,
        " from tree size ", size1, " to ", size2));
  }
  if (size1 == 0) {
    if (root1 != EmptyRoot()) {
      return absl::DataLossError(
          "root1 is not the empty tree root for tree size 0");
    }
    if (size2 == 0 && root2 != root1) {
      return absl::DataLossError("different roots for the same tree size 0");
    }
    return absl::OkStatus();
  }
  if (size1 == size2) {
    if (root1 != root2) {
      return absl::DataLossError(
          absl::StrCat("different roots for the same tree size ", size1));
    }
    return absl::OkStatus();
  }
  // RFC 9162 section 2.1.4.2.
  std::vector<absl::string_view> path;
  path.reserve(proof.size() + 1);
  if ((size1 & (size1 - 1)) == 0) path.push_back(root1);
  for (const std::string& p : proof) path.push_back(p);
  uint64_t fn = size1 - 1, sn = size2 - 1;
  while ((fn & 1) == 1) {
    fn >>= 1;
    sn >>= 1;
  }
  std::string fr(path[0]), sr(path[0]);
  for (size_t i = 1; i < path.size(); ++i) {
    if (sn == 0) {
      return absl::DataLossError("consistency proof does not match root2");
    }
    if ((fn & 1) == 1 || fn == sn) {
      fr = HashChildren(path[i], fr);
      sr = HashChildren(path[i], sr);
      SkipLoneLeftLevels(fn, sn);
    } else {
      sr = HashChildren(sr, path[i]);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (fr != root1) {
    return absl::DataLossError("consistency proof does not match root1");
  }
  if (sr != root2 || sn != 0) {
    return absl::DataLossError("consistency proof does not match root2");
  }
  return absl::OkStatus();
}

// ------------------------------------------------------------- MerkleTree

MerkleTree::MerkleTree(const std::vector<std::string>& leaf_hashes) {
  for (const std::string& leaf : leaf_hashes) Append(leaf);
}

void MerkleTree::Append(absl::string_view leaf_hash) {
  assert(leaf_hash.size() == kMerkleHashSize);
  if (levels_.empty()) levels_.emplace_back();
  levels_[0].emplace_back(leaf_hash);
  // Complete every perfect subtree the new leaf closes, bottom-up.
  for (size_t level = 0; levels_[level].size() % 2 == 0; ++level) {
    const std::vector<std::string>& row = levels_[level];
    std::string parent = HashChildren(row[row.size() - 2], row.back());
    if (levels_.size() == level + 1) levels_.emplace_back();
    levels_[level + 1].push_back(std::move(parent));
  }
}

absl::StatusOr<std::string> MerkleTree::SubtreeHash(uint64_t begin,
                                                    uint64_t end) const {
  if (end > size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "leaf range [", begin, ", ", end, ") is beyond the tree of size ",
        size()));
  }
  return SubtreeHashFromPerfect(
      begin, end,
      [this](int level, uint64_t index) -> absl::StatusOr<std::string> {
        return levels_[level][index];
      });
}

absl::StatusOr<std::string> MerkleTree::RootAt(uint64_t tree_size) const {
  if (tree_size > size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tree size ", tree_size, " is larger than the tree (", size(),
        " leaves)"));
  }
  if (tree_size == 0) return EmptyRoot();
  return SubtreeHash(0, tree_size);
}

std::string MerkleTree::Root() const {
  if (size() == 0) return EmptyRoot();
  return *SubtreeHash(0, size());
}

absl::StatusOr<std::vector<std::string>> MerkleTree::InclusionProof(
    uint64_t index, uint64_t tree_size) const {
  if (tree_size > size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tree size ", tree_size, " is larger than the tree (", size(),
        " leaves)"));
  }
  return certs::InclusionProof(index, tree_size, Accessor());
}

absl::StatusOr<std::vector<std::string>> MerkleTree::ConsistencyProof(
    uint64_t m, uint64_t n) const {
  if (n > size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tree size ", n, " is larger than the tree (", size(), " leaves)"));
  }
  return certs::ConsistencyProof(m, n, Accessor());
}

SubtreeHashFn MerkleTree::Accessor() const {
  return [this](uint64_t begin, uint64_t end) {
    return SubtreeHash(begin, end);
  };
}

}  // namespace watchfloor::certs
