// RFC 6962 / RFC 9162 section 2.1 Merkle trees over alert ids: hashing,
// incremental roots, proof generation and pure proof verification.
//
// Leaves are alert ids. An alert id already IS the RFC 6962 leaf hash
// SHA-256(0x00 || payload) (DESIGN.md "Alert id"), so every function here
// takes leaf hashes: the raw 32 bytes of an id (HexDecode(AlertId(payload))),
// never the payload and never the hex. Interior nodes are
// SHA-256(0x01 || left || right); the empty tree's root is SHA-256("").
//
// Verification (VerifyInclusion, VerifyConsistency, RootFromInclusionProof)
// is a pure function of its arguments: no I/O, no clock, thread-safe. It
// follows RFC 9162 sections 2.1.3.2 and 2.1.4.2, after checking up front that
// every hash is 32 bytes and that the proof has exactly the length the sizes
// call for. Errors (docs/PROTOCOL.md "Transparency log"):
//   INVALID_ARGUMENT  malformed input: a hash that is not 32 bytes, an index
//                     not below the size, size1 > size2, a proof of the wrong
//                     length. Messages:
//                       "leaf hash is <n> bytes, want 32"
//                       "root hash is <n> bytes, want 32"  (also "root1 hash",
//                       "root2 hash")
//                       "proof hash <i> is <n> bytes, want 32"
//                       "leaf index <i> is not below tree size <s>"
//                       "tree size <s1> is larger than tree size <s2>"
//                       "inclusion proof has <n> hashes, want <m> for leaf
//                        <i> in a tree of size <s>"
//                       "consistency proof has <n> hashes, want <m> from tree
//                        size <s1> to <s2>"
//   DATA_LOSS         well-formed, but the proof does not lead to the given
//                     root(s): the log (or whoever sent the proof) is
//                     inconsistent. Messages, exactly:
//                       "inclusion proof does not match root"
//                       "consistency proof does not match root1"
//                       "consistency proof does not match root2"
//                       "different roots for the same tree size <s>"
//                       "root1 is not the empty tree root for tree size 0"
#ifndef WATCHFLOOR_CERTS_MERKLE_H_
#define WATCHFLOOR_CERTS_MERKLE_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace watchfloor::certs {

inline constexpr size_t kMerkleHashSize = 32;

// SHA-256(0x01 || left || right). Any lengths (the tests hash RFC strings);
// tree code always passes 32-byte hashes.
std::string HashChildren(absl::string_view left, absl::string_view right);

// SHA-256 of the empty string: the root of the tree of size 0.
std::string EmptyRoot();

// SHA-256(0x00 || data): the RFC 6962 leaf hash, raw. Equal to
// HexDecode(AlertId(data)).
std::string HashLeaf(absl::string_view data);

// Reference MTH(D[n]) over `leaf_hashes` (RFC 6962 section 2.1), O(n) time.
// Used by tests and by auditors that hold every id anyway.
std::string RootFromLeaves(const std::vector<std::string>& leaf_hashes);

// The hash of leaves [begin, end) of a tree, as RFC 6962 MTH(D[begin:end]).
// Proof generation asks only for ranges whose `begin` is a multiple of the
// smallest power of two >= end - begin: perfect aligned subtrees
// (end - begin a power of two) and right-edge subtrees that end at the tree
// size. A non-OK status is passed through unchanged to the caller.
using SubtreeHashFn =
    std::function<absl::StatusOr<std::string>(uint64_t begin, uint64_t end)>;

// The hash of the perfect subtree at `level` (2^level leaves) with position
// `index` on that level, i.e. leaves [index << level, (index + 1) << level).
// Level 0 is the leaf hashes themselves.
using PerfectNodeFn =
    std::function<absl::StatusOr<std::string>(int level, uint64_t index)>;

// MTH(D[begin:end]) from stored perfect subtree hashes: splits the range into
// at most 64 perfect aligned subtrees and folds them right to left, so a node
// that persists the nodes reported by CompactRange::Append can serve
// SubtreeHashFn in O(log n) lookups. INVALID_ARGUMENT unless begin < end and
// begin is aligned as SubtreeHashFn describes.
absl::StatusOr<std::string> SubtreeHashFromPerfect(
    uint64_t begin, uint64_t end, const PerfectNodeFn& perfect_node);

// Incremental root of the tree [0, size): keeps one hash per set bit of the
// size (at most 64), so Append is O(1) amortized and Root is O(log n). This
// is what a node keeps per origin. Not thread-safe; copyable.
class CompactRange {
 public:
  // Called by Append for each perfect subtree completed by the new leaf,
  // bottom-up, starting with the leaf itself at level 0.
  using Visitor = std::function<void(int level, uint64_t index,
                                     const std::string& hash)>;

  // The empty tree.
  CompactRange() = default;

  // Restores the range of a tree of `size` leaves from the hashes of its
  // perfect subtrees, largest (leftmost) first, one per set bit of `size`,
  // e.g. as returned by hashes() or read back from stored perfect nodes.
  // INVALID_ARGUMENT if the count is not popcount(size) or a hash is not 32
  // bytes.
  static absl::StatusOr<CompactRange> FromHashes(
      uint64_t size, std::vector<std::string> hashes);

  // Appends one 32-byte leaf hash (precondition; checked with assert). The
  // visitor, if set, sees every new perfect node so it can be persisted.
  void Append(absl::string_view leaf_hash, const Visitor& visitor = nullptr);

  uint64_t size() const { return size_; }
  // Perfect subtree hashes, largest (leftmost) first.
  const std::vector<std::string>& hashes() const { return hashes_; }
  // MTH of the whole range; EmptyRoot() for size 0.
  std::string Root() const;

 private:
  uint64_t size_ = 0;
  std::vector<std::string> hashes_;
};

// Inclusion proof (RFC 9162 section 2.1.3.1, "PATH") for leaf `index` of the
// tree of `size` leaves, leaf's sibling first. Asks `subtree_hash` for
// exactly one hash per proof element (O(log n)). INVALID_ARGUMENT if
// index >= size; accessor errors pass through.
absl::StatusOr<std::vector<std::string>> InclusionProof(
    uint64_t index, uint64_t size, const SubtreeHashFn& subtree_hash);

// Consistency proof (RFC 9162 section 2.1.4.1, "PROOF"/"SUBPROOF") from tree
// size m to n. Empty if m == 0 or m == n. INVALID_ARGUMENT if m > n;
// accessor errors pass through.
absl::StatusOr<std::vector<std::string>> ConsistencyProof(
    uint64_t m, uint64_t n, const SubtreeHashFn& subtree_hash);

// The root that `proof` leads to from `leaf_hash` at `index` in a tree of
// `size` leaves. INVALID_ARGUMENT as listed at the top of this file.
absl::StatusOr<std::string> RootFromInclusionProof(
    uint64_t index, uint64_t size, absl::string_view leaf_hash,
    const std::vector<std::string>& proof);

// OK iff `proof` proves `leaf_hash` is leaf `index` of the tree of `size`
// leaves with root `root`. INVALID_ARGUMENT for malformed input; DATA_LOSS
// "inclusion proof does not match root" otherwise.
absl::Status VerifyInclusion(uint64_t index, uint64_t size,
                             absl::string_view leaf_hash,
                             const std::vector<std::string>& proof,
                             absl::string_view root);

// OK iff `proof` proves the tree of size2 with root2 extends the tree of
// size1 with root1. Size 0 is consistent with everything (proof empty, root1
// must be EmptyRoot()); equal sizes need an empty proof and equal roots.
// INVALID_ARGUMENT for malformed input, DATA_LOSS for an inconsistency.
absl::Status VerifyConsistency(uint64_t size1, uint64_t size2,
                               const std::vector<std::string>& proof,
                               absl::string_view root1,
                               absl::string_view root2);

// An in-memory tree that stores every level, for tests, the auditor and
// small logs: O(1) amortized Append, O(1) per perfect subtree hash, so
// proofs cost O(log n). Not thread-safe; copyable.
class MerkleTree {
 public:
  MerkleTree() = default;
  explicit MerkleTree(const std::vector<std::string>& leaf_hashes);

  // Appends one 32-byte leaf hash (precondition; checked with assert).
  void Append(absl::string_view leaf_hash);

  uint64_t size() const { return levels_.empty() ? 0 : levels_[0].size(); }
  // The leaf hash at `index` < size().
  const std::string& leaf(uint64_t index) const { return levels_[0][index]; }

  // MTH(D[begin:end]) for the ranges SubtreeHashFn describes, with
  // end <= size(); INVALID_ARGUMENT otherwise.
  absl::StatusOr<std::string> SubtreeHash(uint64_t begin, uint64_t end) const;
  // The root of the tree's first `size` leaves (size <= this->size()).
  absl::StatusOr<std::string> RootAt(uint64_t size) const;
  // The root of the whole tree.
  std::string Root() const;

  // Proofs within the tree's first `size` leaves (size <= this->size()).
  absl::StatusOr<std::vector<std::string>> InclusionProof(uint64_t index,
                                                          uint64_t size) const;
  absl::StatusOr<std::vector<std::string>> ConsistencyProof(uint64_t m,
                                                            uint64_t n) const;

  // SubtreeHash as a SubtreeHashFn. The tree must outlive it.
  SubtreeHashFn Accessor() const;

 private:
  // levels_[l][i] = hash of leaves [i << l, (i + 1) << l).
  std::vector<std::vector<std::string>> levels_;
};

}  // namespace watchfloor::certs

#endif  // WATCHFLOOR_CERTS_MERKLE_H_
