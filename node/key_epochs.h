// Key epochs: forward secrecy for sealed alerts (docs/FEDERATION.md
// "Forward secrecy by key epochs", docs/PROTOCOL.md "Key records").
//
// Every node with encryption_key_epochs makes a fresh X25519 key per epoch
// and announces it in a signed key record (alert.proto KeyRecord) in its own
// feed. Two parts:
//  - KeyEpochs (here), at every node: the key records it holds, learned from
//    the store like the incident view; answers the Sealer's "which key of
//    node X now" and enforces that an origin's epochs only grow;
//  - EpochKeyRotator (node/key_epoch_rotator.h), at a node with
//    encryption_key_epochs: makes, persists, announces and erases its own
//    epoch keys.
#ifndef WATCHFLOOR_NODE_KEY_EPOCHS_H_
#define WATCHFLOOR_NODE_KEY_EPOCHS_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "certs/encryption_key.h"
#include "node/alert_store.h"
#include "node/clock.h"
#include "node/ledger.h"
#include "node/sealing.h"
#include "watchfloor/v1/alert.pb.h"

namespace watchfloor::node {

// One stored key record.
struct KeyRecordInfo {
  uint64_t epoch = 0;
  certs::EncryptionPublicKey key;
  absl::Time not_before;  // the record alert's issued_at
  absl::Time not_after;   // KeyRecord.not_after
  std::string id;         // the record alert's id
};

class KeyEpochs {
 public:
  // `clock` tells Current() what "now" is; it must outlive this.
  explicit KeyEpochs(Clock* clock) : clock_(clock) {}

  // Reads every stored alert (in cursor order) and learns the key records
  // among them. Call once, before the Ledger commits anything (OnCommitted
  // skips what Rebuild saw, by cursor). DATA_LOSS if a stored alert does
  // not parse; errors of the store's reads.
  absl::Status Rebuild(AlertStore* store);

  // Learns the key records of a committed batch (Ledger CommitListener, on
  // the writer thread).
  void OnCommitted(const std::vector<std::shared_ptr<const StoredAlert>>& alerts);

  // The Ledger's staged check (Ledger::SetStagedCheck): a key record's
  // epoch must be above every epoch its origin announced before, committed
  // or staged earlier in the same transaction. INVALID_ARGUMENT naming both
  // epochs otherwise; OK for any alert without a key record. Thread-safe.
  absl::Status CheckStaged(const watchfloor::v1::Alert& alert,
                           const std::vector<Ledger::StagedAlert>& staged) const;

  // The key to seal to for `node` now: of its records whose not_after is
  // after now, the one with the newest epoch; nullopt if none (the Sealer
  // then uses the roster key, epoch 0). not_before is not waited for: a
  // record this node holds was issued already, and a clock a little behind
  // the origin's must not make a fresh key look unusable. Thread-safe.
  std::optional<Sealer::EpochKey> Current(const std::string& node) const;

  // Every record of `node`, by ascending epoch. Thread-safe.
  std::vector<KeyRecordInfo> Records(const std::string& node) const;
  // The record of `node` for `epoch`, if held. Thread-safe.
  std::optional<KeyRecordInfo> Record(const std::string& node, uint64_t epoch) const;

 private:
  void ApplyLocked(uint64_t cursor, const std::string& id,
                   const watchfloor::v1::Alert& alert) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  Clock* const clock_;
  mutable absl::Mutex mu_;
  // node -> epoch -> record.
  std::map<std::string, std::map<uint64_t, KeyRecordInfo>> records_ ABSL_GUARDED_BY(mu_);
  uint64_t applied_ ABSL_GUARDED_BY(mu_) = 0;  // the last cursor learned
};

}  // namespace watchfloor::node

#endif  // WATCHFLOOR_NODE_KEY_EPOCHS_H_
