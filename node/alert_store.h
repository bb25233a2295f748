// The node's durable store of envelopes, and of fork evidence.
//
// One implementation per backend: SqliteAlertStore (node/sqlite_alert_store.h)
// is the default. The store knows nothing about signatures or feed rules; the
// Ledger (node/ledger.h) decides what may be appended and the store makes it
// durable.
#ifndef WATCHFLOOR_NODE_ALERT_STORE_H_
#define WATCHFLOOR_NODE_ALERT_STORE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "watchfloor/v1/alert.pb.h"

namespace watchfloor::node {

// One stored alert. `cursor` is the node-local store position: strictly
// increasing in the order alerts were stored, never reused.
struct StoredAlert {
  uint64_t cursor = 0;
  std::string id;  // lowercase hex alert id
  std::string origin;
  uint64_t sequence = 0;
  // The envelope as the origin signed it, followed by every co-signature
  // stored for it (docs/PROTOCOL.md section 23), ordered by keyid.
  watchfloor::v1::Envelope envelope;
  // The co-signers of those co-signatures ("member/node"), in the same
  // order. Empty for an alert nobody corroborated.
  std::vector<std::string> cosigners;
};

// A co-signature of a stored alert, verified against the roster in force
// before it is stored (certs/cosign.h). Never removed.
struct Cosignature {
  std::string alert_id;  // lowercase hex id of the alert co-signed
  std::string node;      // the co-signer, "member/node"
  watchfloor::v1::Signature signature;
  // Store position of the co-signature: strictly increasing in the order
  // co-signatures were stored (its own sequence, not an alert cursor).
  // Assigned by the store; ignored in a WriteSet.
  uint64_t position = 0;
};

// A node-local mark in the store's cursor sequence: something that changed
// the incident view without an alert of its own (docs/PROTOCOL.md "Incident
// events"). It takes the next cursor, so subscribers to incident events
// replay it in the same order as they saw it live. Never removed.
struct Mark {
  enum class Kind : uint8_t {
    // Written by the store, in the same transaction, for each co-signature
    // it stores for the first time by a node (`node`) that had none of
    // that alert yet (a node's second key adds no mark).
    kCosigned = 1,
    // Written on request (WriteSet::marks): the node's clock passed the
    // expires_at of alert `alert_id`. At most one per alert: a second is
    // ignored. Its `node` is always empty.
    kExpired = 2,
  };
  Kind kind = Kind::kExpired;
  std::string alert_id;  // lowercase hex id of the alert it concerns
  std::string node;      // kCosigned: the co-signer, "member/node"
  // The co-signatures of `alert_id` that count at this mark: those with
  // position at or below this (kCosigned: the co-signature's own; kExpired:
  // the highest stored when the mark was written). Assigned by the store.
  uint64_t cosignature_position = 0;
  // Assigned by the store; ignored in a WriteSet.
  uint64_t cursor = 0;
};

// An alert about to be appended. The Ledger has verified it already.
struct NewAlert {
  std::string id;
  std::string origin;
  uint64_t sequence = 0;
  std::string previous;
  int64_t issued_at_ms = 0;
  int64_t received_at_ms = 0;
  std::string envelope;  // serialized watchfloor.v1.Envelope
};

// Proof that an origin signed two histories: two envelopes with the same
// origin and sequence but different ids ("fork"), or one whose `previous`
// contradicts the stored alert at sequence-1 ("broken-chain").
struct Evidence {
  // "fork" or "broken-chain"; or "split-view": two checkpoint notes of one
  // origin that cannot both be true, in stored_envelope/conflict_envelope,
  // with hashes of their checkpoint bodies (hex) as the ids and `sequence`
  // the first one's size.
  // Only fork and broken-chain freeze the feed.
  std::string kind;
  std::string origin;
  uint64_t sequence = 0;
  std::string stored_id;     // the id this node holds
  std::string conflict_id;   // the contradicting id
  std::string stored_envelope;    // serialized Envelope
  std::string conflict_envelope;  // serialized Envelope
  int64_t detected_at_ms = 0;
};

// A perfect subtree of an origin's Merkle log (docs/PROTOCOL.md
// "Transparency log"): the hash of leaves [index << level, (index + 1) <<
// level). Level 0 (the leaves, i.e. the alert ids) is not stored here: it is
// the id of the alert with sequence index + 1.
struct LogNode {
  std::string origin;
  int level = 0;
  uint64_t index = 0;
  std::string hash;  // 32 raw bytes
};

// A signed checkpoint note (with any cosignature lines) of an origin's log.
struct StoredCheckpoint {
  std::string origin;  // feed origin "member/node"
  uint64_t size = 0;
  std::string note;
};

// Everything one transaction writes.
struct WriteSet {
  std::vector<NewAlert> alerts;
  std::vector<Evidence> evidence;
  std::vector<LogNode> log_nodes;
  // Inserted, or replacing the stored note of the same (origin, size).
  std::vector<StoredCheckpoint> checkpoints;
  // Co-signatures of stored alerts (or of alerts in this same WriteSet).
  // A co-signature already stored (same alert id and keyid) is skipped:
  // merging is idempotent. Each one stored gets a kCosigned mark.
  std::vector<Cosignature> cosignatures;
  // kExpired marks; one already stored for the same alert is skipped.
  std::vector<Mark> marks;
};

// The head of one origin's feed as stored: the highest contiguous sequence.
struct FeedHead {
  std::string origin;
  uint64_t sequence = 0;
  std::string id;
  bool forked = false;  // evidence exists: the feed must not be extended
};

class AlertStore {
 public:
  virtual ~AlertStore() = default;

  // Appends `alerts` and `evidence` in one transaction and makes them durable
  // before returning (one fsync for the whole batch: group commit). Returns the
  // cursors assigned to `alerts`, in order; then, when the WriteSet has marks
  // or co-signatures, one entry per `writes.marks` and then one per
  // `writes.cosignatures`: the cursor of the mark written for it, or 0 if it
  // was already stored (nothing written). Alerts and marks share one cursor
  // sequence, in that order within a batch. `marks_written` (may be null)
  // gets the marks written, in cursor order, as stored. On error nothing
  // was appended.
  // UNAVAILABLE means the failure may pass (busy, I/O error): the same
  // writes may be tried again; any other code is not expected to pass.
  // Only one thread may call this at a time (the Ledger's writer thread).
  virtual absl::StatusOr<std::vector<uint64_t>> Append(const WriteSet& writes,
                                                       std::vector<Mark>* marks_written) = 0;
  absl::StatusOr<std::vector<uint64_t>> Append(const WriteSet& writes) {
    return Append(writes, nullptr);
  }
  absl::StatusOr<std::vector<uint64_t>> Append(
      const std::vector<NewAlert>& alerts, const std::vector<Evidence>& evidence) {
    WriteSet w;
    w.alerts = alerts;
    w.evidence = evidence;
    return Append(w);
  }

  // The hash of a perfect subtree of `origin`'s log (see LogNode; level 0
  // reads the alert id), or nullopt if it is not stored. Thread-safe.
  virtual absl::StatusOr<std::optional<std::string>> GetLogNode(
      const std::string& origin, int level, uint64_t index) = 0;

  // Lowercase hex ids of `origin`'s alerts with sequence in [from, to],
  // ascending. Thread-safe.
  virtual absl::StatusOr<std::vector<std::string>> ReadIds(
      const std::string& origin, uint64_t from, uint64_t to) = 0;

  // The stored checkpoints of `origin`, largest size first, at most `limit`
  // (the store keeps the newest few per origin). Thread-safe.
  virtual absl::StatusOr<std::vector<StoredCheckpoint>> Checkpoints(
      const std::string& origin, size_t limit) = 0;

  // Every origin that has a stored checkpoint. Thread-safe.
  virtual absl::StatusOr<std::vector<std::string>> CheckpointOrigins() = 0;

  // The stored alert with this id, or nullopt. Thread-safe.
  virtual absl::StatusOr<std::optional<StoredAlert>> Get(
      const std::string& id) = 0;

  // The stored alert of `origin` at `sequence`, or nullopt. Thread-safe.
  virtual absl::StatusOr<std::optional<StoredAlert>> GetBySequence(
      const std::string& origin, uint64_t sequence) = 0;

  // Up to `limit` alerts with cursor > `after`, in cursor order. Thread-safe.
  virtual absl::StatusOr<std::vector<StoredAlert>> ReadAfter(uint64_t after,
                                                             size_t limit) = 0;

  // Alerts of `origin` with sequence in [from, to], ascending, at most
  // `limit`. Thread-safe.
  virtual absl::StatusOr<std::vector<StoredAlert>> ReadRange(
      const std::string& origin, uint64_t from, uint64_t to, size_t limit) = 0;

  // Every origin's head, read at open time by the Ledger. Thread-safe.
  virtual absl::StatusOr<std::vector<FeedHead>> LoadHeads() = 0;

  // All evidence, oldest first. Thread-safe.
  virtual absl::StatusOr<std::vector<Evidence>> ListEvidence() = 0;

  // The co-signatures stored for `alert_id`, ordered by keyid. Thread-safe.
  virtual absl::StatusOr<std::vector<Cosignature>> Cosignatures(
      const std::string& alert_id) = 0;

  // Up to `limit` co-signatures with position > `after`, in position order
  // (what a peer pulls to catch up). Thread-safe.
  virtual absl::StatusOr<std::vector<Cosignature>> ReadCosignaturesAfter(
      uint64_t after, size_t limit) = 0;

  // Highest co-signature position stored (0 when none). Thread-safe.
  virtual absl::StatusOr<uint64_t> LastCosignaturePosition() = 0;

  // Highest cursor of a stored alert (0 when none). Thread-safe.
  virtual absl::StatusOr<uint64_t> LastCursor() = 0;

  // Up to `limit` marks with cursor > `after`, in cursor order. Thread-safe.
  virtual absl::StatusOr<std::vector<Mark>> ReadMarksAfter(uint64_t after,
                                                           size_t limit) = 0;

  // Highest cursor of a stored mark (0 when none). Thread-safe.
  virtual absl::StatusOr<uint64_t> LastMarkCursor() = 0;

  // The first cursor stored at or after `received_at_ms` (milliseconds since
  // the Unix epoch), or nullopt if none. Thread-safe.
  virtual absl::StatusOr<std::optional<uint64_t>> FirstCursorSince(
      int64_t received_at_ms) = 0;
};

}  // namespace watchfloor::node

#endif  // WATCHFLOOR_NODE_ALERT_STORE_H_
