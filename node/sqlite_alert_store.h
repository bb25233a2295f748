// AlertStore on one SQLite file in WAL mode with synchronous=FULL.
#ifndef WATCHFLOOR_NODE_SQLITE_ALERT_STORE_H_
#define WATCHFLOOR_NODE_SQLITE_ALERT_STORE_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "node/alert_store.h"

struct sqlite3;

namespace watchfloor::node {

class SqliteAlertStore final : public AlertStore {
 public:
  // The database file inside a data directory.
  static constexpr char kFileName[] = "watchfloor.db";

  // Opens (creating if needed) `data_dir`/watchfloor.db for `origin`.
  // Errors, each naming the path and what to do:
  //   FAILED_PRECONDITION  the directory is not writable, belongs to
  //                        another origin, or is in use by another process
  //                        (an exclusive flock on <data_dir>/LOCK);
  //   DATA_LOSS            the file is not a watchfloor database or fails
  //                        SQLite's quick_check (corrupt);
  //   INTERNAL             any other SQLite failure.
  static absl::StatusOr<std::unique_ptr<SqliteAlertStore>> Open(
      const std::string& data_dir, const std::string& origin);

  // How WAL checkpoints are run (docs/PERFORMANCE.md, "Publish"). Neither
  // changes what a commit waits for before it returns: the WAL's fsync
  // (synchronous=FULL).
  enum class CheckpointMode {
    // Every kBackgroundCheckpointFrames the background thread copies the
    // WAL into the database file while commits go on; once the WAL holds
    // kRestartFrames it follows with a short pass, commits held off, that
    // copies what they added meanwhile, so that the next commit restarts
    // the WAL. Commits wait for that short pass only (a few dozen pages and
    // two syncs), never for the bulk of a copy. Opt-in: in same-run A/B
    // runs its open-loop p99 was no better than kWriter's on this project's
    // shared disk, whose own WAL fsync stalls dominate the tail
    // (docs/PERFORMANCE.md).
    kBackground,
    // The same background passes, but the WAL is restarted by a PASSIVE
    // checkpoint on the appending thread, inside a commit, at every
    // kWriterCheckpointFrames: the copy of the ~1,000 frames since the last
    // background pass and a database fsync. The default.
    kWriter,
  };
  // Open with the mode named by the environment variable
  // WATCHFLOOR_WAL_CHECKPOINTS: "writer" (the default, also when unset or
  // empty) or "background"; any other value is INVALID_ARGUMENT.
  static absl::StatusOr<CheckpointMode> CheckpointModeFromEnvironment();
  static absl::StatusOr<std::unique_ptr<SqliteAlertStore>> Open(
      const std::string& data_dir, const std::string& origin, CheckpointMode mode);

  ~SqliteAlertStore() override;

  // Errors of every method after Open: DATA_LOSS (corrupt file),
  // FAILED_PRECONDITION (not writable), UNAVAILABLE for what may pass
  // (SQLITE_BUSY / SQLITE_LOCKED past the 5 s busy timeout, SQLITE_IOERR,
  // SQLITE_FULL; Append rolled back, so it may be retried), INTERNAL for any
  // other SQLite failure.
  using AlertStore::Append;
  absl::StatusOr<std::vector<uint64_t>> Append(const WriteSet& writes,
                                               std::vector<Mark>* marks_written) override;
  absl::StatusOr<std::optional<std::string>> GetLogNode(
      const std::string& origin, int level, uint64_t index) override;
  absl::StatusOr<std::vector<std::string>> ReadIds(const std::string& origin,
                                                   uint64_t from,
                                                   uint64_t to) override;
  absl::StatusOr<std::vector<StoredCheckpoint>> Checkpoints(
      const std::string& origin, size_t limit) override;
  absl::StatusOr<std::vector<std::string>> CheckpointOrigins() override;
  absl::StatusOr<std::optional<StoredAlert>> Get(const std::string& id) override;
  absl::StatusOr<std::optional<StoredAlert>> GetBySequence(
      const std::string& origin, uint64_t sequence) override;
  absl::StatusOr<std::vector<StoredAlert>> ReadAfter(uint64_t after,
                                                     size_t limit) override;
  absl::StatusOr<std::vector<StoredAlert>> ReadRange(
      const std::string& origin, uint64_t from, uint64_t to,
      size_t limit) override;
  absl::StatusOr<std::vector<FeedHead>> LoadHeads() override;
  absl::StatusOr<std::vector<Evidence>> ListEvidence() override;
  absl::StatusOr<std::vector<Cosignature>> Cosignatures(
      const std::string& alert_id) override;
  absl::StatusOr<std::vector<Cosignature>> ReadCosignaturesAfter(
      uint64_t after, size_t limit) override;
  absl::StatusOr<uint64_t> LastCosignaturePosition() override;
  absl::StatusOr<uint64_t> LastCursor() override;
  absl::StatusOr<std::vector<Mark>> ReadMarksAfter(uint64_t after, size_t limit) override;
  absl::StatusOr<uint64_t> LastMarkCursor() override;
  absl::StatusOr<std::optional<uint64_t>> FirstCursorSince(
      int64_t received_at_ms) override;

  const std::string& path() const { return path_; }

  // WAL checkpoints so far. The copy of WAL frames into the database file
  // and its fsync run on a background thread (own connection) every
  // kBackgroundCheckpointFrames, off the thread that appends; a background
  // pass alone rarely copies the whole WAL under a steady stream of
  // commits, which the WAL needs to restart from its beginning, hence
  // CheckpointMode. At kWriterCheckpointFrames, in either mode, the
  // appending thread checkpoints (PASSIVE, right after a commit): in
  // kWriter every ~kWriterCheckpointFrames, in kBackground only if the
  // background restarts fell behind. `busy`: a checkpoint found another one
  // running; `on_writer`: checkpoints on the appending thread;
  // `background` counts passes; `whole_wal`: kBackground's passes with
  // commits held off that copied the whole WAL (so that the next commit
  // restarts it); `longest_hold`: the longest such pass, i.e. the longest
  // that commits waited for a checkpoint. `requested`: times the appending
  // thread woke the background thread; `completed`: how many of those
  // wake-ups it has finished (all passes run), equal to `requested` when it
  // is idle (a wake-up still pending when the store closes stays unfinished).
  struct CheckpointStats {
    uint64_t requested = 0;
    uint64_t completed = 0;
    uint64_t background = 0;
    uint64_t whole_wal = 0;
    absl::Duration longest_hold;
    uint64_t on_writer = 0;
    uint64_t busy = 0;
  };
  CheckpointStats checkpoint_stats() const;
  static constexpr int kBackgroundCheckpointFrames = 1000;
  static constexpr int kRestartFrames = 3 * kBackgroundCheckpointFrames;
  static constexpr int kWriterCheckpointFrames = 4000;

 private:
  // A read-only connection borrowed from the pool; returned on destruction.
  class Reader;

  SqliteAlertStore(std::string path, CheckpointMode mode);
  absl::Status Init(const std::string& origin);
  absl::StatusOr<sqlite3*> BorrowReader();
  // Appends the stored co-signatures of `a` to its envelope (StoredAlert).
  absl::Status AttachCosignatures(sqlite3* db, StoredAlert& a);
  void ReturnReader(sqlite3* db);
  // sqlite3_wal_hook on the writer connection: after each commit.
  static int OnWalCommit(void* self, sqlite3* db, const char* schema, int frames);
  void CheckpointLoop();

  const std::string path_;
  const CheckpointMode checkpoint_mode_;
  int lock_fd_ = -1;  // holds the exclusive flock on <data_dir>/LOCK
  sqlite3* writer_ = nullptr;  // used only by the Append caller thread
  sqlite3* checkpointer_ = nullptr;  // used only by checkpoint_thread_
  int wal_bucket_ = 0;  // WAL frames / kBackgroundCheckpointFrames; writer thread only
  // The cursor the next alert or mark takes (alerts and marks share the
  // sequence); writer thread only.
  uint64_t next_cursor_ = 1;
  std::thread checkpoint_thread_;
  // Whether any co-signature may be stored: reads skip the per-alert
  // co-signature lookup while none is (the usual case). Set at open and
  // before a commit that stores one; never cleared.
  std::atomic<bool> any_cosignatures_{false};
  // Held by Append around its transaction, and by kBackground's last pass
  // of each checkpoint to keep commits off while it copies the rest.
  absl::Mutex append_mu_;
  mutable absl::Mutex checkpoint_mu_;
  bool checkpoint_wanted_ ABSL_GUARDED_BY(checkpoint_mu_) = false;
  bool checkpoint_stop_ ABSL_GUARDED_BY(checkpoint_mu_) = false;
  CheckpointStats checkpoint_stats_ ABSL_GUARDED_BY(checkpoint_mu_);

  absl::Mutex pool_mu_;
  std::vector<sqlite3*> idle_readers_ ABSL_GUARDED_BY(pool_mu_);
  std::vector<sqlite3*> all_readers_ ABSL_GUARDED_BY(pool_mu_);
};

}  // namespace watchfloor::node

#endif  // WATCHFLOOR_NODE_SQLITE_ALERT_STORE_H_
