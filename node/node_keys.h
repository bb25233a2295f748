// The node's own Ed25519 signing keys and which of them signs what under the
// roster in force.
//
// A node starts with `signing_key_file` and may be given
// `next_signing_key_file`: where the operator puts the key a roster version
// will rotate it to (docs/FEDERATION.md "Node key rotation"). The file is
// read at start if it exists, and again when the node adopts a version that
// names a key it does not hold, so the key can be put there while the node
// runs. Once the node adopts a version that rotates its own key from feed
// sequence S, it signs sequences before S with the key it started with and
// S onward with the next key, with no restart; checkpoints, cosignatures
// and export claims are signed with the key the roster names now. A key the
// roster no longer names for a sequence never signs it.
//
// Thread-safe: SetRoster swaps an immutable snapshot; readers hold the lock
// only to copy a pointer to it.
#ifndef WATCHFLOOR_NODE_NODE_KEYS_H_
#define WATCHFLOOR_NODE_NODE_KEYS_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "certs/keys.h"
#include "certs/roster.h"

namespace watchfloor::node {

class NodeKeys {
 public:
  // `key` (which must outlive this) is the key the node started with;
  // `next_path` the next_signing_key_file ("" if none). Outside a
  // federation (no SetRoster) `key` signs everything.
  NodeKeys(std::string origin, const certs::SigningKey* key, std::string next_path);

  // Reads next_path if the file exists (OK if it does not); the key file's
  // error (mode, format) otherwise.
  absl::Status LoadNext();

  NodeKeys(const NodeKeys&) = delete;
  NodeKeys& operator=(const NodeKeys&) = delete;

  // Follows `roster` (which must outlive its use here; a RosterManager's
  // versions do). Returns what changed for this node in words, or "" if
  // nothing did, and logs it: event signing_key_rotated (info), or
  // signing_key_missing (error) when the node does not hold the key the
  // roster names.
  std::string SetRoster(const certs::Roster* roster);

  // The key that signs `sequence` of the node's own feed. FAILED_PRECONDITION
  // naming the keyid the roster wants if the node does not hold that key
  // (after looking at next_signing_key_file once more).
  absl::StatusOr<const certs::SigningKey*> ForSequence(uint64_t sequence);

  // The key the roster in force names for this node (checkpoints,
  // cosignatures, claims), or nullptr if the node does not hold it (after
  // looking at next_signing_key_file once more).
  const certs::SigningKey* Current();

  // Whether `key` is one of the node's keys (the roster may name either).
  bool Holds(const certs::PublicKey& key) const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  // What each sequence range is signed with, from one roster version.
  struct Span {
    uint64_t first;
    uint64_t last;
    const certs::SigningKey* key;  // nullptr: not held
    std::string keyid;             // the roster's keyid for the range
  };
  struct Plan {
    uint64_t version = 0;
    std::vector<Span> spans;  // unordered; they do not overlap
    const certs::SigningKey* current = nullptr;
    std::string current_keyid;
  };

  const certs::SigningKey* Find(const certs::PublicKey& key) const
      ABSL_LOCKS_EXCLUDED(mu_);
  std::shared_ptr<const Plan> plan() const ABSL_LOCKS_EXCLUDED(mu_);
  // When a key the roster names is missing: reads next_signing_key_file if
  // it appeared since, and if so plans again. True if the plan changed.
  bool Refresh() ABSL_LOCKS_EXCLUDED(mu_);

  const std::string origin_;
  const certs::SigningKey* const key_;
  const std::string next_path_;
  mutable absl::Mutex mu_;
  // Set once, never replaced: pointers to it stay valid.
  std::unique_ptr<const certs::SigningKey> next_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<const Plan> plan_ ABSL_GUARDED_BY(mu_);
  const certs::Roster* roster_ ABSL_GUARDED_BY(mu_) = nullptr;  // last SetRoster
};

}  // namespace watchfloor::node

#endif  // WATCHFLOOR_NODE_NODE_KEYS_H_
