// The node's side of the transparency logs (docs/PROTOCOL.md "Transparency
// log"): it signs checkpoints of its own feed's Merkle log at a limited
// rate, witnesses other origins' checkpoints against its own copy of their
// feeds (consistency with the last one it accepted, then a cosignature),
// merges the cosignatures peers send, keeps split views as evidence, and
// answers proof requests from the stored log.
//
// Threading: one thread signs (every checkpoint_interval, if the feed grew),
// re-examines checkpoints that were ahead of the local copy of their feed,
// and periodically re-sends the latest notes. Every public method is
// thread-safe.
//
// Error codes: INVALID_ARGUMENT for a malformed note or request;
// UNAUTHENTICATED for a checkpoint or cosignature that is not by the roster
// key it names; FAILED_PRECONDITION for a checkpoint whose root contradicts
// the local copy of the feed with no earlier checkpoint to hold as
// evidence; NOT_FOUND / OUT_OF_RANGE for proofs of what is not stored.
#ifndef WATCHFLOOR_NODE_TRANSPARENCY_H_
#define WATCHFLOOR_NODE_TRANSPARENCY_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "certs/keys.h"
#include "certs/note.h"
#include "certs/roster.h"
#include "node/alert_store.h"
#include "node/clock.h"
#include "node/ledger.h"
#include "node/node_keys.h"
#include "watchfloor/v1/audit.pb.h"

namespace watchfloor::node {

class Transparency {
 public:
  struct Options {
    // At most one checkpoint of the own feed per interval (and one soon
    // after the feed grows when idle).
    absl::Duration checkpoint_interval = absl::Seconds(1);
    // How often the latest notes are re-sent to the peers, so a node that
    // was down or partitioned collects the cosignatures it missed.
    absl::Duration resend_interval = absl::Seconds(5);
    // How often checkpoints ahead of the local feed are looked at again.
    absl::Duration pending_interval = absl::Milliseconds(100);
  };

  struct Stats {
    uint64_t signed_checkpoints = 0;
    uint64_t cosigned = 0;          // checkpoints this node cosigned
    uint64_t cosignatures_merged = 0;
    uint64_t refused = 0;           // notes that failed verification
    uint64_t split_views = 0;
  };

  // `roster` may be null: a node outside a federation signs its own
  // checkpoints and witnesses nothing. All pointers must outlive this.
  // Checkpoints (own and peers') are signed and verified with each node's
  // current key (Roster::NodeKey), never a retired one.
  Transparency(std::string origin, const certs::SigningKey* key,
               const certs::Roster* roster, Ledger* ledger, AlertStore* store,
               Clock* clock, Options options);
  ~Transparency();  // Stop()

  // The node's keys under the roster in force (node/node_keys.h): its
  // checkpoints, cosignatures and export claims are signed with the key the
  // roster names now, and no checkpoint or cosignature is signed while the
  // node does not hold it. Without it the constructor's key signs. Set
  // before Start; must outlive this.
  void SetSigningKeys(NodeKeys* keys) { signing_keys_ = keys; }

  // Makes `roster` (not null; the Transparency must have been constructed
  // with a roster; it must outlive this, as RosterManager's versions do) the
  // one in force: whose checkpoints are verified (and with which key: the
  // node's current one), who witnesses, whose cosignatures count
  // (Witnesses, DefaultQuorum, merging). Accepted checkpoints that no longer
  // verify under it (a removed origin, a rotated key) are dropped, as at
  // Start. A note being received while the roster changes is judged by the
  // new one. Thread-safe; callable from a RosterManager listener; waits for
  // a Receive or SignNow in progress.
  void SetRoster(const certs::Roster* roster);

  // Loads the latest stored checkpoint of every origin and starts the
  // thread.
  absl::Status Start();
  void Stop();

  // Where new notes (own checkpoints, newly cosigned or merged ones) go:
  // every peer. Set before Start.
  void SetBroadcast(std::function<void(const std::string& note)> broadcast);
  // Where stored split views are re-sent every resend_interval (every
  // peer), so that nodes that missed them get them. Set before Start.
  void SetEvidenceBroadcast(
      std::function<void(const std::string& first_note, const std::string& second_note)>
          broadcast) {
    evidence_broadcast_ = std::move(broadcast);
  }

  // A checkpoint note from a peer: verified against the roster, witnessed,
  // merged. Returns whether it told this node something new.
  absl::StatusOr<bool> Receive(const std::string& note);
  // Split-view evidence from a peer: two notes of one origin, each validly
  // signed by it, that cannot both be true. OK if new and stored,
  // ALREADY_EXISTS if known, INVALID_ARGUMENT/UNAUTHENTICATED if it is not
  // evidence.
  absl::Status ReceiveSplitView(const std::string& first_note,
                                const std::string& second_note);

  // Signs a checkpoint of the own feed now if it grew since the last one.
  // Returns once it is stored.
  absl::Status SignNow();

  // The latest accepted checkpoint note of `origin`, with cosignatures.
  // NOT_FOUND if none.
  absl::StatusOr<std::string> Latest(const std::string& origin) const;
  // For an export: the largest stored checkpoint of `origin` whose
  // cosigners meet `quorum` members (see Witnesses), else the largest.
  absl::StatusOr<StoredCheckpoint> ForExport(const std::string& origin,
                                             int quorum) const;
  // Distinct members other than the origin's own with a valid cosignature
  // on `note` (a checkpoint of `origin`). 0 without a roster.
  int Witnesses(const std::string& origin, const std::string& note) const;
  // A majority of the members other than the origin's: (members - 1) / 2 + 1.
  int DefaultQuorum() const;

  // Proofs and roots over the stored log of `origin`. OUT_OF_RANGE if a size
  // exceeds what is stored.
  absl::StatusOr<std::string> RootAt(const std::string& origin, uint64_t size) const;
  absl::StatusOr<std::vector<std::string>> InclusionProof(
      const std::string& origin, uint64_t index, uint64_t size) const;
  absl::StatusOr<std::vector<std::string>> ConsistencyProof(
      const std::string& origin, uint64_t first, uint64_t second) const;

  // The export claims (audit.proto ExportClaims) as a DSSE envelope of
  // payloadType certs::kExportClaimsPayloadType signed by this node's key:
  // what `Export` vouches for. Thread-safe.
  watchfloor::v1::Envelope SignExportClaims(const watchfloor::v1::ExportClaims& claims) const;

  Stats stats() const;

 private:
  struct Accepted {
    certs::Checkpoint checkpoint;
    std::string note;
  };
  // A checkpoint note verified against its origin's roster key.
  struct Opened {
    std::string origin;  // feed origin
    certs::Checkpoint checkpoint;
    std::string note;  // the text and the origin's signature line only
    const certs::Roster* roster;  // the roster it was verified against
  };

  // Notes larger than this are refused (an honest one of a 100-node
  // federation is about 12 KiB).
  static constexpr size_t kMaxNoteBytes = 32 * 1024;
  // Stored checkpoints looked at when merging late cosignatures.
  static constexpr size_t kCheckpointsScanned = 16;

  void Loop();
  // Verifies `note` as a checkpoint by its origin's roster key: size and
  // line limits, the origin's signature. INVALID_ARGUMENT / UNAUTHENTICATED.
  absl::StatusOr<Opened> Open(const std::string& note) const;
  // Every origin of the roster (just this node's without one).
  std::vector<std::string> Origins() const;
  // Adds the valid cosignatures of `note` to the stored checkpoint of
  // `origin` at `size`, if one is stored. Nothing is relayed.
  absl::Status MergeIntoStored(const std::string& origin, uint64_t size,
                               const std::string& note);
  // `note` with the valid roster cosignatures of `from` added (one per
  // witness name). Sets *added to how many were added.
  std::string MergeCosignatures(const std::string& note, const std::string& from,
                                int* added) const;
  absl::Status Store(const std::string& origin, const certs::Checkpoint& c,
                     const std::string& note);
  // Stores and relays (through the ledger's evidence listener) the split
  // view of `known` and `note`. ALREADY_EXISTS if `note`'s checkpoint is part
  // of a stored split view (for `peer_evidence`: both are).
  absl::Status StoreSplitView(const std::string& origin, const Accepted& known,
                              const certs::Checkpoint& c, const std::string& note,
                              bool peer_evidence = false);
  void Emit(const std::string& note);

  const std::string origin_;
  const std::string log_origin_;
  const certs::SigningKey* const key_;
  NodeKeys* signing_keys_ = nullptr;
  const certs::SigningKey* KeyNow() const {
    return signing_keys_ != nullptr ? signing_keys_->Current() : key_;
  }
  // The roster in force (null outside a federation), swapped by SetRoster.
  std::atomic<const certs::Roster*> roster_;
  Ledger* const ledger_;
  AlertStore* const store_;
  Clock* const clock_;
  const Options options_;
  std::function<void(const std::string&)> broadcast_;
  std::function<void(const std::string&, const std::string&)> evidence_broadcast_;

  // Serializes Receive/SignNow so each origin's state changes one note at a
  // time; taken before mu_.
  mutable absl::Mutex receive_mu_;
  mutable absl::Mutex mu_;
  std::map<std::string, Accepted> accepted_ ABSL_GUARDED_BY(mu_);
  // Checkpoints ahead of the local copy of their feed, largest per origin.
  std::map<std::string, std::string> pending_ ABSL_GUARDED_BY(mu_);
  // Checkpoint bodies that are part of a stored split view, so none is
  // stored or relayed twice.
  std::set<std::string> split_views_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  Stats stats_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace watchfloor::node

#endif  // WATCHFLOOR_NODE_TRANSPARENCY_H_
