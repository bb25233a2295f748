// The rotation and erasure of this node's epoch encryption keys
// (config.proto EncryptionKeyEpochs; docs/FEDERATION.md "Forward secrecy by
// key epochs"). Key records of every node are node/key_epochs.h.
//
// On disk: one file per epoch held, <dir>/epoch-<n>.key, PEM PKCS#8 mode
// 0600, in a directory of mode 0700. A key is written to epoch-<n>.key.tmp,
// fsynced, renamed and the directory fsynced BEFORE its key record is
// published, so a record never names a key the node could lose in a crash.
// Erasing an epoch wipes it from the EncryptionKeyRing, then overwrites the
// file with zeros, fsyncs, unlinks it and fsyncs the directory. (Overwriting
// in place defeats a later read of the file system, not the recovery of the
// blocks on copy-on-write or wear-levelled storage: docs/FEDERATION.md.)
#ifndef WATCHFLOOR_NODE_KEY_EPOCH_ROTATOR_H_
#define WATCHFLOOR_NODE_KEY_EPOCH_ROTATOR_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "node/clock.h"
#include "node/key_epochs.h"
#include "node/ledger.h"
#include "node/sealing.h"

namespace watchfloor::node {

// The category and title prefix of the alerts that carry key records.
inline constexpr char kKeyRecordCategory[] = "watchfloor.key-epoch";

class EpochKeyRotator {
 public:
  struct Options {
    absl::Duration rotation;   // a new epoch this often; its record is valid 2x this
    absl::Duration retention;  // an epoch's key is kept this long past not_after
    std::string dir;           // the epoch key files
    // How long the thread sleeps at most between rounds (real time).
    absl::Duration max_sleep = absl::Seconds(1);
    // Called with each key record's envelope once committed (gossip's
    // Broadcast, so peers get it at once rather than at anti-entropy); may
    // be empty. Called on the rotator's thread, or Start's.
    std::function<void(const watchfloor::v1::Envelope&)> published;
  };

  // Creates `options.dir` (mode 0700) if missing, loads the epoch keys in it
  // into `ring`, and erases (as above) every key file whose epoch has no key
  // record of this node in `epochs` (made but never announced: a crash
  // between write and publish), whose record's not_after + retention has
  // passed, and every leftover .tmp file. Then runs one round (RunOnce:
  // the first epoch is announced before Start returns) and starts the
  // thread that runs the next rounds. `epochs` must be rebuilt from the
  // store already; `epochs`, `ring`, `ledger` and `clock` must outlive the
  // rotator. Errors: INVALID_ARGUMENT/PERMISSION_DENIED/NOT_FOUND for an
  // unreadable key file or directory (naming it), those of the first
  // round's write and publish.
  static absl::StatusOr<std::unique_ptr<EpochKeyRotator>> Start(
      Options options, std::string origin, const KeyEpochs* epochs, EncryptionKeyRing* ring,
      Ledger* ledger, Clock* clock);

  // Stops and joins the thread.
  ~EpochKeyRotator();

  // One round at clock->Now(): erases every held epoch whose record's
  // not_after + retention has passed, then, if there is no record of this
  // node whose key is held, or the newest was issued a rotation ago or
  // more, makes, persists and announces the next epoch (PublishNodeDraft;
  // waits for the commit). Returns when the next round is due. On a failed
  // write or publish the new epoch is erased again and the error returned;
  // the next round tries anew. Thread-safe (rounds run one at a time).
  absl::StatusOr<absl::Time> RunOnce();

  // The epochs whose private keys are held (on disk and in the ring).
  std::set<uint64_t> held() const;

  // <dir>/epoch-<n>.key.
  static std::string KeyPath(const std::string& dir, uint64_t epoch);

 private:
  EpochKeyRotator(Options options, std::string origin, const KeyEpochs* epochs,
                  EncryptionKeyRing* ring, Ledger* ledger, Clock* clock);
  absl::Status Load();
  absl::Status Erase(uint64_t epoch) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Rotate(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Loop();

  const Options options_;
  const std::string origin_;
  const KeyEpochs* const epochs_;
  EncryptionKeyRing* const ring_;
  Ledger* const ledger_;
  Clock* const clock_;

  mutable absl::Mutex mu_;  // held for a whole round
  std::set<uint64_t> held_ ABSL_GUARDED_BY(mu_);
  uint64_t highest_ ABSL_GUARDED_BY(mu_) = 0;  // the highest epoch ever seen on disk
  absl::Mutex stop_mu_;
  bool stopping_ ABSL_GUARDED_BY(stop_mu_) = false;
  std::thread thread_;
};

}  // namespace watchfloor::node

#endif  // WATCHFLOOR_NODE_KEY_EPOCH_ROTATOR_H_
