#include "node/sqlite_alert_store.h"

#include <sqlite3.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "certs/status_macros.h"

namespace watchfloor::node {
namespace {

// Connections kept for concurrent readers (subscribers replaying history,
// GetAlert). WAL lets them read while the writer commits.
constexpr int kMaxReaders = 4;

constexpr char kSchema[] = R"sql(
CREATE TABLE IF NOT EXISTS meta(
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS alerts(
  cursor INTEGER PRIMARY KEY,
  id TEXT NOT NULL UNIQUE,
  origin TEXT NOT NULL,
  sequence INTEGER NOT NULL,
  previous TEXT NOT NULL,
  issued_at_ms INTEGER NOT NULL,
  received_at_ms INTEGER NOT NULL,
  envelope BLOB NOT NULL,
  UNIQUE(origin, sequence));
CREATE INDEX IF NOT EXISTS alerts_by_received ON alerts(received_at_ms);
CREATE TABLE IF NOT EXISTS evidence(
  rowid INTEGER PRIMARY KEY,
  kind TEXT NOT NULL,
  origin TEXT NOT NULL,
  sequence INTEGER NOT NULL,
  stored_id TEXT NOT NULL,
  conflict_id TEXT NOT NULL,
  stored_envelope BLOB NOT NULL,
  conflict_envelope BLOB NOT NULL,
  detected_at_ms INTEGER NOT NULL,
  UNIQUE(stored_id, conflict_id));
CREATE TABLE IF NOT EXISTS log_nodes(
  origin TEXT NOT NULL,
  level INTEGER NOT NULL,
  idx INTEGER NOT NULL,
  hash BLOB NOT NULL,
  PRIMARY KEY(origin, level, idx)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS checkpoints(
  origin TEXT NOT NULL,
  size INTEGER NOT NULL,
  note TEXT NOT NULL,
  PRIMARY KEY(origin, size)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS cosignatures(
  position INTEGER PRIMARY KEY,
  alert_id TEXT NOT NULL,
  keyid TEXT NOT NULL,
  node TEXT NOT NULL,
  sig BLOB NOT NULL,
  UNIQUE(alert_id, keyid));
CREATE TABLE IF NOT EXISTS marks(
  cursor INTEGER PRIMARY KEY,
  kind INTEGER NOT NULL,
  alert_id TEXT NOT NULL,
  node TEXT NOT NULL,
  cosignature_position INTEGER NOT NULL,
  UNIQUE(kind, alert_id, node));
)sql";

// Checkpoints kept per origin (the newest); older ones are deleted as new
// ones are stored.
constexpr int kCheckpointsKept = 16;

// 2: the marks table; alerts and marks share the cursor sequence. A
// version-1 file is upgraded in place when opened.
constexpr char kSchemaVersion[] = "2";

absl::Status SqliteError(sqlite3* db, int rc, absl::string_view what,
                         const std::string& path) {
  const char* msg = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
  int primary = rc & 0xff;
  if (primary == SQLITE_NOTADB || primary == SQLITE_CORRUPT) {
    return absl::DataLossError(absl::StrCat(
        "data file ", path, " is corrupt or not a watchfloor database (",
        msg, ") while ", what,
        "; restore it from a backup or move it away to start empty"));
  }
  if (primary == SQLITE_READONLY || primary == SQLITE_CANTOPEN ||
      primary == SQLITE_PERM) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot write data file ", path, " (", msg, ") while ", what,
        "; check that the data directory is writable by this user"));
  }
  // Transient: worth trying again (the Ledger does, with backoff). BUSY and
  // LOCKED outlast busy_timeout only under contention this process does not
  // create itself (another process reading the file, a backup).
  if (primary == SQLITE_FULL || primary == SQLITE_IOERR) {
    return absl::UnavailableError(absl::StrCat(
        "disk error on data file ", path, " (", msg, ") while ", what));
  }
  if (primary == SQLITE_BUSY || primary == SQLITE_LOCKED) {
    return absl::UnavailableError(absl::StrCat(
        "data file ", path, " is locked by another connection (", msg, ") while ",
        what, "; if another program has it open, close that program"));
  }
  return absl::InternalError(
      absl::StrCat("sqlite error on ", path, " (", msg, ") while ", what));
}

// RAII prepared statement.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) {
    rc_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr);
  }
  ~Stmt() { sqlite3_finalize(stmt_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  int prepare_rc() const { return rc_; }
  sqlite3_stmt* get() { return stmt_; }
  void BindText(int i, absl::string_view s) {
    sqlite3_bind_text(stmt_, i, s.data(), static_cast<int>(s.size()),
                      SQLITE_TRANSIENT);
  }
  void BindBlob(int i, absl::string_view s) {
    sqlite3_bind_blob(stmt_, i, s.data(), static_cast<int>(s.size()),
                      SQLITE_TRANSIENT);
  }
  void BindInt(int i, int64_t v) { sqlite3_bind_int64(stmt_, i, v); }
  int Step() { return sqlite3_step(stmt_); }
  void Reset() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  std::string Text(int col) {
    auto* p = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, col));
    return p == nullptr ? std::string()
                        : std::string(p, sqlite3_column_bytes(stmt_, col));
  }
  std::string Blob(int col) {
    auto* p = static_cast<const char*>(sqlite3_column_blob(stmt_, col));
    return p == nullptr ? std::string()
                        : std::string(p, sqlite3_column_bytes(stmt_, col));
  }
  int64_t Int(int col) { return sqlite3_column_int64(stmt_, col); }

 private:
  sqlite3_stmt* stmt_ = nullptr;
  int rc_;
};

absl::Status Exec(sqlite3* db, const char* sql, absl::string_view what,
                  const std::string& path) {
  int rc = sqlite3_exec(db, sql, nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) return SqliteError(db, rc, what, path);
  return absl::OkStatus();
}

absl::StatusOr<StoredAlert> RowToAlert(Stmt& s, const std::string& path) {
  // Columns: cursor, id, origin, sequence, envelope.
  StoredAlert a;
  a.cursor = static_cast<uint64_t>(s.Int(0));
  a.id = s.Text(1);
  a.origin = s.Text(2);
  a.sequence = static_cast<uint64_t>(s.Int(3));
  std::string blob = s.Blob(4);
  if (!a.envelope.ParseFromString(blob)) {
    return absl::DataLossError(absl::StrCat("data file ", path, ": alert ",
                                            a.id, " has an unreadable envelope"));
  }
  return a;
}

constexpr char kSelectAlert[] =
    "SELECT cursor, id, origin, sequence, envelope FROM alerts ";

}  // namespace

class SqliteAlertStore::Reader {
 public:
  Reader(SqliteAlertStore* store, sqlite3* db) : store_(store), db_(db) {}
  ~Reader() { store_->ReturnReader(db_); }
  sqlite3* db() const { return db_; }

 private:
  SqliteAlertStore* store_;
  sqlite3* db_;
};

SqliteAlertStore::SqliteAlertStore(std::string path, CheckpointMode mode)
    : path_(std::move(path)), checkpoint_mode_(mode) {}

SqliteAlertStore::~SqliteAlertStore() {
  {
    absl::MutexLock lock(&checkpoint_mu_);
    checkpoint_stop_ = true;
  }
  if (checkpoint_thread_.joinable()) checkpoint_thread_.join();
  if (checkpointer_ != nullptr) sqlite3_close_v2(checkpointer_);
  {
    absl::MutexLock lock(&pool_mu_);
    for (sqlite3* db : all_readers_) sqlite3_close_v2(db);
    if (writer_ != nullptr) sqlite3_close_v2(writer_);
  }
  if (lock_fd_ >= 0) close(lock_fd_);  // releases the flock
}

absl::StatusOr<SqliteAlertStore::CheckpointMode>
SqliteAlertStore::CheckpointModeFromEnvironment() {
  const char* v = std::getenv("WATCHFLOOR_WAL_CHECKPOINTS");
  if (v == nullptr || *v == '\0' || std::strcmp(v, "writer") == 0) {
    return CheckpointMode::kWriter;
  }
  if (std::strcmp(v, "background") == 0) return CheckpointMode::kBackground;
  return absl::InvalidArgumentError(absl::StrCat(
      "WATCHFLOOR_WAL_CHECKPOINTS is \"", v,
      "\"; set it to writer (the default) or background, or unset it"));
}

absl::StatusOr<std::unique_ptr<SqliteAlertStore>> SqliteAlertStore::Open(
    const std::string& data_dir, const std::string& origin) {
  WF_ASSIGN_OR_RETURN(CheckpointMode mode, CheckpointModeFromEnvironment());
  return Open(data_dir, origin, mode);
}

absl::StatusOr<std::unique_ptr<SqliteAlertStore>> SqliteAlertStore::Open(
    const std::string& data_dir, const std::string& origin, CheckpointMode mode) {
  if (mkdir(data_dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot create data directory ", data_dir, ": ",
                     std::strerror(errno),
                     "; create it or point data_dir elsewhere"));
  }
  struct stat st;
  if (stat(data_dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "data directory ", data_dir, " is not a directory; fix data_dir"));
  }
  if (access(data_dir.c_str(), W_OK | X_OK) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "data directory ", data_dir, " is not writable (",
        std::strerror(errno),
        "); the node must write there: fix its owner or mode"));
  }
  std::string path = absl::StrCat(data_dir, "/", kFileName);
  if (access(path.c_str(), F_OK) == 0 && access(path.c_str(), W_OK) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "data file ", path, " is not writable (", std::strerror(errno),
        "); fix its owner or mode"));
  }
  std::unique_ptr<SqliteAlertStore> store(new SqliteAlertStore(path, mode));
  // One process per data directory: a second node on the same store would
  // race the first for sequences. The lock dies with the process, kill -9
  // included.
  std::string lock_path = absl::StrCat(data_dir, "/LOCK");
  store->lock_fd_ = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (store->lock_fd_ < 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot open ", lock_path, ": ", std::strerror(errno)));
  }
  if (flock(store->lock_fd_, LOCK_EX | LOCK_NB) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "data directory ", data_dir,
        " is in use by another watchfloor process (", lock_path,
        " is locked); stop that node first, or give this one its own data_dir"));
  }
  WF_RETURN_IF_ERROR(store->Init(origin));
  return store;
}

absl::Status SqliteAlertStore::Init(const std::string& origin) {
  int rc = sqlite3_open_v2(
      path_.c_str(), &writer_,
      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
      nullptr);
  if (rc != SQLITE_OK) return SqliteError(writer_, rc, "opening", path_);
  sqlite3_busy_timeout(writer_, 5000);
  // The first statement that reads the file detects a non-database.
  {
    Stmt s(writer_, "PRAGMA journal_mode=WAL");
    if (s.prepare_rc() != SQLITE_OK) {
      return SqliteError(writer_, s.prepare_rc(), "setting WAL mode", path_);
    }
    rc = s.Step();
    if (rc != SQLITE_ROW) return SqliteError(writer_, rc, "setting WAL mode", path_);
    if (s.Text(0) != "wal") {
      return absl::FailedPreconditionError(absl::StrCat(
          "data file ", path_, " cannot use WAL mode (got ", s.Text(0),
          "); use a local file system"));
    }
  }
  // synchronous=FULL: a commit returns only after the WAL is fsynced, so an
  // acknowledged alert survives kill -9 and power loss.
  WF_RETURN_IF_ERROR(Exec(writer_,
                          "PRAGMA synchronous=FULL;"
                          "PRAGMA cache_size=-2048;",
                          "configuring", path_));
  {
    Stmt s(writer_, "PRAGMA quick_check");
    if (s.prepare_rc() != SQLITE_OK) {
      return SqliteError(writer_, s.prepare_rc(), "checking integrity", path_);
    }
    rc = s.Step();
    if (rc != SQLITE_ROW) return SqliteError(writer_, rc, "checking integrity", path_);
    if (s.Text(0) != "ok") {
      return absl::DataLossError(absl::StrCat(
          "data file ", path_, " fails its integrity check (", s.Text(0),
          "); restore it from a backup or move it away to start empty"));
    }
  }
  WF_RETURN_IF_ERROR(Exec(writer_, kSchema, "creating the schema", path_));

  // A data directory belongs to one origin and one schema version.
  {
    Stmt s(writer_, "SELECT key, value FROM meta");
    std::string stored_origin, stored_version;
    while ((rc = s.Step()) == SQLITE_ROW) {
      if (s.Text(0) == "origin") stored_origin = s.Text(1);
      if (s.Text(0) == "schema_version") stored_version = s.Text(1);
    }
    if (rc != SQLITE_DONE) return SqliteError(writer_, rc, "reading meta", path_);
    if (!stored_origin.empty() && stored_origin != origin) {
      return absl::FailedPreconditionError(absl::StrCat(
          "data file ", path_, " belongs to origin ", stored_origin,
          ", not ", origin, "; use a separate data_dir for each origin"));
    }
    if (!stored_version.empty() && stored_version != kSchemaVersion &&
        stored_version != "1") {
      return absl::FailedPreconditionError(absl::StrCat(
          "data file ", path_, " has schema version ", stored_version,
          "; this binary reads versions 1 and ", kSchemaVersion,
          "; run the watchfloor release that wrote it"));
    }
    if (stored_version == "1") {
      // Version 2 added the marks table (created above), whose rows share
      // the alerts' cursor sequence: a version-1 binary, which lets SQLite
      // pick an alert's cursor, must not open the file again.
      Stmt up(writer_, "UPDATE meta SET value = ?1 WHERE key = 'schema_version'");
      up.BindText(1, kSchemaVersion);
      rc = up.Step();
      if (rc != SQLITE_DONE) return SqliteError(writer_, rc, "upgrading the schema", path_);
    }
    if (stored_origin.empty()) {
      Stmt ins(writer_,
               "INSERT OR REPLACE INTO meta(key, value) VALUES "
               "('origin', ?1), ('schema_version', ?2)");
      ins.BindText(1, origin);
      ins.BindText(2, kSchemaVersion);
      rc = ins.Step();
      if (rc != SQLITE_DONE) return SqliteError(writer_, rc, "writing meta", path_);
    }
  }
  {
    Stmt s(writer_, "SELECT EXISTS(SELECT 1 FROM cosignatures)");
    rc = s.Step();
    if (rc != SQLITE_ROW) return SqliteError(writer_, rc, "reading co-signatures", path_);
    any_cosignatures_.store(s.Int(0) != 0);
  }
  {
    Stmt s(writer_,
           "SELECT MAX(COALESCE((SELECT MAX(cursor) FROM alerts), 0), "
           "COALESCE((SELECT MAX(cursor) FROM marks), 0))");
    rc = s.Step();
    if (rc != SQLITE_ROW) return SqliteError(writer_, rc, "reading the last cursor", path_);
    next_cursor_ = static_cast<uint64_t>(s.Int(0)) + 1;
  }
  // Checkpoints: replaces SQLite's autocheckpoint (also a WAL hook), which
  // ran them inside a commit on the appending thread (docs/PERFORMANCE.md).
  rc = sqlite3_open_v2(path_.c_str(), &checkpointer_,
                       SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) return SqliteError(checkpointer_, rc, "opening the checkpointer", path_);
  WF_RETURN_IF_ERROR(Exec(checkpointer_, "PRAGMA synchronous=FULL;", "configuring", path_));
  sqlite3_wal_hook(writer_, &SqliteAlertStore::OnWalCommit, this);
  checkpoint_thread_ = std::thread([this] { CheckpointLoop(); });
  return absl::OkStatus();
}

int SqliteAlertStore::OnWalCommit(void* arg, sqlite3* db, const char* schema, int frames) {
  auto* self = static_cast<SqliteAlertStore*>(arg);
  if (frames >= kWriterCheckpointFrames) {
    // PASSIVE: copies what the background checkpoint has not, never waits
    // for readers, and is busy (skipped until the next commit) while the
    // background one runs.
    const int rc = sqlite3_wal_checkpoint_v2(db, schema, SQLITE_CHECKPOINT_PASSIVE, nullptr,
                                             nullptr);
    absl::MutexLock lock(&self->checkpoint_mu_);
    ++(rc == SQLITE_OK ? self->checkpoint_stats_.on_writer : self->checkpoint_stats_.busy);
  } else if (frames / kBackgroundCheckpointFrames > self->wal_bucket_) {
    // Once per kBackgroundCheckpointFrames more frames, not per commit:
    // each checkpoint syncs the WAL and the database file, and the disk is
    // shared with the commits' own fsyncs.
    absl::MutexLock lock(&self->checkpoint_mu_);
    if (!self->checkpoint_wanted_) ++self->checkpoint_stats_.requested;
    self->checkpoint_wanted_ = true;
  }
  self->wal_bucket_ = frames / kBackgroundCheckpointFrames;  // 0 after a WAL restart
  // Whatever happened, the commit stands: an error here would be reported
  // as the statement's although its transaction committed.
  return SQLITE_OK;
}

void SqliteAlertStore::CheckpointLoop() {
  const bool background = checkpoint_mode_ == CheckpointMode::kBackground;
  absl::MutexLock lock(&checkpoint_mu_);
  while (true) {
    auto woken = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(checkpoint_mu_) {
      return checkpoint_wanted_ || checkpoint_stop_;
    };
    checkpoint_mu_.Await(absl::Condition(&woken));
    if (checkpoint_stop_) return;
    checkpoint_wanted_ = false;
    checkpoint_mu_.Unlock();
    // One pass while commits go on. kBackground, once the WAL holds
    // kRestartFrames: then a second pass with commits held off at
    // append_mu_, which therefore copies the rest of the WAL, so that the
    // next commit restarts it (what kWriter leaves to the appending thread
    // at kWriterCheckpointFrames). Commits wait only for that second pass:
    // what they added during the first, and two syncs.
    bool restart = false;
    for (int pass = 0; pass < (restart ? 2 : 1); ++pass) {
      const bool gated = pass == 1;
      absl::Time held_since;
      if (gated) {
        append_mu_.Lock();
        held_since = absl::Now();
      }
      // wal_frames: the WAL's frames when the pass began; copied: how many
      // of them are in the database file now.
      int wal_frames = 0, copied = 0;
      const int rc = sqlite3_wal_checkpoint_v2(checkpointer_, nullptr, SQLITE_CHECKPOINT_PASSIVE,
                                               &wal_frames, &copied);
      absl::Duration held;
      if (gated) {
        held = absl::Now() - held_since;
        append_mu_.Unlock();
      }
      absl::MutexLock stats_lock(&checkpoint_mu_);
      checkpoint_stats_.longest_hold = std::max(checkpoint_stats_.longest_hold, held);
      if (rc != SQLITE_OK) {
        ++checkpoint_stats_.busy;
        break;
      }
      ++checkpoint_stats_.background;
      if (gated && copied >= wal_frames) ++checkpoint_stats_.whole_wal;
      restart = background && wal_frames >= kRestartFrames;
    }
    checkpoint_mu_.Lock();
    ++checkpoint_stats_.completed;
  }
}

SqliteAlertStore::CheckpointStats SqliteAlertStore::checkpoint_stats() const {
  absl::MutexLock lock(&checkpoint_mu_);
  return checkpoint_stats_;
}

absl::StatusOr<sqlite3*> SqliteAlertStore::BorrowReader() {
  {
    absl::MutexLock lock(&pool_mu_);
    auto have_idle_or_room = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(pool_mu_) {
      return !idle_readers_.empty() || all_readers_.size() < kMaxReaders;
    };
    pool_mu_.Await(absl::Condition(&have_idle_or_room));
    if (!idle_readers_.empty()) {
      sqlite3* db = idle_readers_.back();
      idle_readers_.pop_back();
      return db;
    }
    all_readers_.push_back(nullptr);  // reserve a slot
  }
  sqlite3* db = nullptr;
  int rc = sqlite3_open_v2(path_.c_str(), &db,
                           SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, nullptr);
  absl::MutexLock lock(&pool_mu_);
  all_readers_.erase(
      std::find(all_readers_.begin(), all_readers_.end(), nullptr));
  if (rc != SQLITE_OK) {
    absl::Status st = SqliteError(db, rc, "opening a reader", path_);
    sqlite3_close_v2(db);
    return st;
  }
  sqlite3_busy_timeout(db, 5000);
  sqlite3_exec(db, "PRAGMA cache_size=-1024", nullptr, nullptr, nullptr);
  all_readers_.push_back(db);
  return db;
}

void SqliteAlertStore::ReturnReader(sqlite3* db) {
  absl::MutexLock lock(&pool_mu_);
  idle_readers_.push_back(db);
}

absl::StatusOr<std::vector<uint64_t>> SqliteAlertStore::Append(
    const WriteSet& writes, std::vector<Mark>* marks_written) {
  const std::vector<NewAlert>& alerts = writes.alerts;
  const std::vector<Evidence>& evidence = writes.evidence;
  absl::MutexLock gate(&append_mu_);  // see CheckpointLoop
  WF_RETURN_IF_ERROR(Exec(writer_, "BEGIN IMMEDIATE", "beginning a batch", path_));
  // Alerts and marks share one cursor sequence (next_cursor_); a batch that
  // does not commit gives its cursors back.
  const uint64_t first_cursor = next_cursor_;
  auto rollback = [this, first_cursor](absl::Status st) {
    sqlite3_exec(writer_, "ROLLBACK", nullptr, nullptr, nullptr);
    next_cursor_ = first_cursor;
    return st;
  };
  std::vector<uint64_t> cursors;
  cursors.reserve(alerts.size() + writes.marks.size() + writes.cosignatures.size());
  std::vector<Mark> written;
  {
    Stmt ins(writer_,
             "INSERT INTO alerts(cursor, id, origin, sequence, previous, issued_at_ms, "
             "received_at_ms, envelope) VALUES (?8, ?1, ?2, ?3, ?4, ?5, ?6, ?7)");
    if (ins.prepare_rc() != SQLITE_OK) {
      return rollback(SqliteError(writer_, ins.prepare_rc(), "appending", path_));
    }
    for (const NewAlert& a : alerts) {
      ins.BindText(1, a.id);
      ins.BindText(2, a.origin);
      ins.BindInt(3, static_cast<int64_t>(a.sequence));
      ins.BindText(4, a.previous);
      ins.BindInt(5, a.issued_at_ms);
      ins.BindInt(6, a.received_at_ms);
      ins.BindBlob(7, a.envelope);
      ins.BindInt(8, static_cast<int64_t>(next_cursor_));
      int rc = ins.Step();
      if (rc != SQLITE_DONE) {
        return rollback(SqliteError(writer_, rc, "appending an alert", path_));
      }
      cursors.push_back(next_cursor_++);
      ins.Reset();
    }
  }
  if (!evidence.empty()) {
    Stmt ins(writer_,
             "INSERT OR IGNORE INTO evidence(kind, origin, sequence, stored_id, "
             "conflict_id, stored_envelope, conflict_envelope, detected_at_ms) "
             "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)");
    for (const Evidence& e : evidence) {
      ins.BindText(1, e.kind);
      ins.BindText(2, e.origin);
      ins.BindInt(3, static_cast<int64_t>(e.sequence));
      ins.BindText(4, e.stored_id);
      ins.BindText(5, e.conflict_id);
      ins.BindBlob(6, e.stored_envelope);
      ins.BindBlob(7, e.conflict_envelope);
      ins.BindInt(8, e.detected_at_ms);
      int rc = ins.Step();
      if (rc != SQLITE_DONE) {
        return rollback(SqliteError(writer_, rc, "storing evidence", path_));
      }
      ins.Reset();
    }
  }
  if (!writes.log_nodes.empty()) {
    Stmt ins(writer_,
             "INSERT OR REPLACE INTO log_nodes(origin, level, idx, hash) "
             "VALUES (?1, ?2, ?3, ?4)");
    if (ins.prepare_rc() != SQLITE_OK) {
      return rollback(SqliteError(writer_, ins.prepare_rc(), "appending log nodes", path_));
    }
    for (const LogNode& n : writes.log_nodes) {
      ins.BindText(1, n.origin);
      ins.BindInt(2, n.level);
      ins.BindInt(3, static_cast<int64_t>(n.index));
      ins.BindBlob(4, n.hash);
      int rc = ins.Step();
      if (rc != SQLITE_DONE) {
        return rollback(SqliteError(writer_, rc, "appending a log node", path_));
      }
      ins.Reset();
    }
  }
  if (!writes.marks.empty() || !writes.cosignatures.empty()) {
    // A mark already held (an alert expires once) writes nothing; any
    // other conflict (a cursor taken) is an error, never a silent skip.
    Stmt mark(writer_,
              "INSERT INTO marks(cursor, kind, alert_id, node, cosignature_position) "
              "VALUES (?1, ?2, ?3, ?4, ?5) "
              "ON CONFLICT(kind, alert_id, node) DO NOTHING");
    if (mark.prepare_rc() != SQLITE_OK) {
      return rollback(SqliteError(writer_, mark.prepare_rc(), "storing marks", path_));
    }
    // Writes one mark; appends its cursor to `cursors`, or 0 if it was held.
    auto write_mark = [&](Mark::Kind kind, const std::string& alert_id,
                          const std::string& node, int64_t position) {
      mark.BindInt(1, static_cast<int64_t>(next_cursor_));
      mark.BindInt(2, static_cast<int>(kind));
      mark.BindText(3, alert_id);
      mark.BindText(4, node);
      mark.BindInt(5, position);
      const int rc = mark.Step();
      mark.Reset();
      if (rc != SQLITE_DONE) return SqliteError(writer_, rc, "storing a mark", path_);
      if (sqlite3_changes(writer_) == 0) {
        cursors.push_back(0);
        return absl::OkStatus();
      }
      Mark& m = written.emplace_back();
      m.kind = kind;
      m.alert_id = alert_id;
      m.node = node;
      m.cosignature_position = static_cast<uint64_t>(position);
      m.cursor = next_cursor_++;
      cursors.push_back(m.cursor);
      return absl::OkStatus();
    };
    if (!writes.marks.empty()) {
      // The co-signatures stored before this mark are the ones that count.
      Stmt last(writer_, "SELECT COALESCE(MAX(position), 0) FROM cosignatures");
      const int rc = last.Step();
      if (rc != SQLITE_ROW) return rollback(SqliteError(writer_, rc, "storing marks", path_));
      const int64_t position = last.Int(0);
      for (const Mark& m : writes.marks) {
        absl::Status st = write_mark(m.kind, m.alert_id, "", position);
        if (!st.ok()) return rollback(std::move(st));
      }
    }
    if (!writes.cosignatures.empty()) {
      // Before the commit: a reader that sees the rows must also see the flag.
      any_cosignatures_.store(true, std::memory_order_release);
      // OR IGNORE: a co-signature already held is merged again as a no-op.
      Stmt ins(writer_,
               "INSERT OR IGNORE INTO cosignatures(alert_id, keyid, node, sig) "
               "VALUES (?1, ?2, ?3, ?4)");
      if (ins.prepare_rc() != SQLITE_OK) {
        return rollback(SqliteError(writer_, ins.prepare_rc(), "storing co-signatures", path_));
      }
      for (const Cosignature& c : writes.cosignatures) {
        ins.BindText(1, c.alert_id);
        ins.BindText(2, c.signature.keyid());
        ins.BindText(3, c.node);
        ins.BindBlob(4, c.signature.sig());
        int rc = ins.Step();
        if (rc != SQLITE_DONE) {
          return rollback(SqliteError(writer_, rc, "storing a co-signature", path_));
        }
        ins.Reset();
        if (sqlite3_changes(writer_) == 0) {
          cursors.push_back(0);
          continue;
        }
        absl::Status st = write_mark(Mark::Kind::kCosigned, c.alert_id, c.node,
                                     sqlite3_last_insert_rowid(writer_));
        if (!st.ok()) return rollback(std::move(st));
      }
    }
  }
  if (!writes.checkpoints.empty()) {
    Stmt ins(writer_,
             "INSERT OR REPLACE INTO checkpoints(origin, size, note) "
             "VALUES (?1, ?2, ?3)");
    Stmt prune(writer_,
               "DELETE FROM checkpoints WHERE origin = ?1 AND size < "
               "(SELECT size FROM checkpoints WHERE origin = ?1 "
               "ORDER BY size DESC LIMIT 1 OFFSET ?2)");
    if (ins.prepare_rc() != SQLITE_OK || prune.prepare_rc() != SQLITE_OK) {
      return rollback(SqliteError(writer_, ins.prepare_rc(), "storing a checkpoint", path_));
    }
    for (const StoredCheckpoint& c : writes.checkpoints) {
      ins.BindText(1, c.origin);
      ins.BindInt(2, static_cast<int64_t>(c.size));
      ins.BindText(3, c.note);
      int rc = ins.Step();
      if (rc != SQLITE_DONE) {
        return rollback(SqliteError(writer_, rc, "storing a checkpoint", path_));
      }
      ins.Reset();
      prune.BindText(1, c.origin);
      prune.BindInt(2, kCheckpointsKept - 1);
      rc = prune.Step();
      if (rc != SQLITE_DONE) {
        return rollback(SqliteError(writer_, rc, "pruning checkpoints", path_));
      }
      prune.Reset();
    }
  }
  int rc = sqlite3_exec(writer_, "COMMIT", nullptr, nullptr, nullptr);
  if (rc != SQLITE_OK) {
    return rollback(SqliteError(writer_, rc, "committing a batch", path_));
  }
  if (marks_written != nullptr) *marks_written = std::move(written);
  return cursors;
}

absl::StatusOr<std::optional<std::string>> SqliteAlertStore::GetLogNode(
    const std::string& origin, int level, uint64_t index) {
  if (index > static_cast<uint64_t>(INT64_MAX) - 1) return std::optional<std::string>();
  WF_ASSIGN_OR_RETURN(sqlite3 * db, BorrowReader());
  Reader reader(this, db);
  if (level == 0) {
    Stmt s(db, "SELECT id FROM alerts WHERE origin = ?1 AND sequence = ?2");
    s.BindText(1, origin);
    s.BindInt(2, static_cast<int64_t>(index + 1));
    int rc = s.Step();
    if (rc == SQLITE_DONE) return std::optional<std::string>();
    if (rc != SQLITE_ROW) return SqliteError(db, rc, "reading a log leaf", path_);
    const std::string id = s.Text(0);
    const bool hex = id.size() == 64 &&
                     std::all_of(id.begin(), id.end(), [](char c) {
                       return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
                     });
    std::string raw = absl::HexStringToBytes(id);
    if (!hex) {
      return absl::DataLossError(absl::StrCat("data file ", path_, ": alert id ",
                                              s.Text(0), " is not 64 hex digits"));
    }
    return std::optional<std::string>(std::move(raw));
  }
  Stmt s(db, "SELECT hash FROM log_nodes WHERE origin = ?1 AND level = ?2 AND idx = ?3");
  s.BindText(1, origin);
  s.BindInt(2, level);
  s.BindInt(3, static_cast<int64_t>(index));
  int rc = s.Step();
  if (rc == SQLITE_DONE) return std::optional<std::string>();
  if (rc != SQLITE_ROW) return SqliteError(db, rc, "reading a log node", path_);
  return std::optional<std::string>(s.Blob(0));
}

absl::StatusOr<std::vector<std::string>> SqliteAlertStore::ReadIds(
    const std::string& origin, uint64_t from, uint64_t to) {
  WF_ASSIGN_OR_RETURN(sqlite3 * db, BorrowReader());
  Reader reader(this, db);
  Stmt s(db, "SELECT id FROM alerts WHERE origin = ?1 AND sequence >= ?2 AND "
             "sequence <= ?3 ORDER BY sequence");
  s.BindText(1, origin);
  s.BindInt(2, static_cast<int64_t>(std::min<uint64_t>(from, INT64_MAX)));
  s.BindInt(3, static_cast<int64_t>(std::min<uint64_t>(to, INT64_MAX)));
  std::vector<std::string> out;
  int rc;
  while ((rc = s.Step()) == SQLITE_ROW) out.push_back(s.Text(0));
  if (rc != SQLITE_DONE) return SqliteError(db, rc, "reading ids", path_);
  return out;
}

absl::StatusOr<std::vector<StoredCheckpoint>> SqliteAlertStore::Checkpoints(
    const std::string& origin, size_t limit) {
  WF_ASSIGN_OR_RETURN(sqlite3 * db, BorrowReader());
  Reader reader(this, db);
  Stmt s(db, "SELECT size, note FROM checkpoints WHERE origin = ?1 "
             "ORDER BY size DESC LIMIT ?2");
  s.BindText(1, origin);
  s.BindInt(2, static_cast<int64_t>(std::min<size_t>(limit, INT64_MAX)));
  std::vector<StoredCheckpoint> out;
  int rc;
  while ((rc = s.Step()) == SQLITE_ROW) {
    StoredCheckpoint c;
    c.origin = origin;
    c.size = static_cast<uint64_t>(s.Int(0));
    c.note = s.Text(1);
    out.push_back(std::move(c));
  }
  if (rc != SQLITE_DONE) return SqliteError(db, rc, "reading checkpoints", path_);
  return out;
}

absl::StatusOr<std::vector<std::string>> SqliteAlertStore::CheckpointOrigins() {
  WF_ASSIGN_OR_RETURN(sqlite3 * db, BorrowReader());
  Reader reader(this, db);
  Stmt s(db, "SELECT DISTINCT origin FROM checkpoints ORDER BY origin");
  std::vector<std::string> out;
  int rc;
  while ((rc = s.Step()) == SQLITE_ROW) out.push_back(s.Text(0));
  if (rc != SQLITE_DONE) return SqliteError(db, rc, "reading checkpoints", path_);
  return out;
}

absl::StatusOr<std::optional<StoredAlert>> SqliteAlertStore::Get(
    const std::string& id) {
  WF_ASSIGN_OR_RETURN(sqlite3 * db, BorrowReader());
  Reader reader(this, db);
  Stmt s(db, (std::string(kSelectAlert) + "WHERE id = ?1").c_str());
  if (s.prepare_rc() != SQLITE_OK) return SqliteError(db, s.prepare_rc(), "reading", path_);
  s.BindText(1, id);
  int rc = s.Step();
  if (rc == SQLITE_DONE) return std::optional<StoredAlert>();
  if (rc != SQLITE_ROW) return SqliteError(db, rc, "reading an alert", path_);
  WF_ASSIGN_OR_RETURN(StoredAlert a, RowToAlert(s, path_));
  WF_RETURN_IF_ERROR(AttachCosignatures(db, a));
  return std::optional<StoredAlert>(std::move(a));
}

absl::StatusOr<std::optional<StoredAlert>> SqliteAlertStore::GetBySequence(
    const std::string& origin, uint64_t sequence) {
  WF_ASSIGN_OR_RETURN(sqlite3 * db, BorrowReader());
  Reader reader(this, db);
  Stmt s(db, (std::string(kSelectAlert) + "WHERE origin = ?1 AND sequence = ?2")
                 .c_str());
  if (s.prepare_rc() != SQLITE_OK) return SqliteError(db, s.prepare_rc(), "reading", path_);
  s.BindText(1, origin);
  s.BindInt(2, static_cast<int64_t>(sequence));
  int rc = s.Step();
  if (rc == SQLITE_DONE) return std::optional<StoredAlert>();
  if (rc != SQLITE_ROW) return SqliteError(db, rc, "reading an alert", path_);
  WF_ASSIGN_OR_RETURN(StoredAlert a, RowToAlert(s, path_));
  WF_RETURN_IF_ERROR(AttachCosignatures(db, a));
  return std::optional<StoredAlert>(std::move(a));
}

absl::StatusOr<std::vector<StoredAlert>> SqliteAlertStore::ReadAfter(
    uint64_t after, size_t limit) {
  WF_ASSIGN_OR_RETURN(sqlite3 * db, BorrowReader());
  Reader reader(this, db);
  Stmt s(db, (std::string(kSelectAlert) +
              "WHERE cursor > ?1 ORDER BY cursor LIMIT ?2")
                 .c_str());
  if (s.prepare_rc() != SQLITE_OK) return SqliteError(db, s.prepare_rc(), "reading", path_);
  s.BindInt(1, static_cast<int64_t>(after));
  s.BindInt(2, static_cast<int64_t>(limit));
  std::vector<StoredAlert> out;
  int rc;
  while ((rc = s.Step()) == SQLITE_ROW) {
    WF_ASSIGN_OR_RETURN(StoredAlert a, RowToAlert(s, path_));
    WF_RETURN_IF_ERROR(AttachCosignatures(db, a));
    out.push_back(std::move(a));
  }
  if (rc != SQLITE_DONE) return SqliteError(db, rc, "reading alerts", path_);
  return out;
}

absl::StatusOr<std::vector<StoredAlert>> SqliteAlertStore::ReadRange(
    const std::string& origin, uint64_t from, uint64_t to, size_t limit) {
  WF_ASSIGN_OR_RETURN(sqlite3 * db, BorrowReader());
  Reader reader(this, db);
  Stmt s(db, (std::string(kSelectAlert) +
              "WHERE origin = ?1 AND sequence >= ?2 AND sequence <= ?3 "
              "ORDER BY sequence LIMIT ?4")
                 .c_str());
  if (s.prepare_rc() != SQLITE_OK) return SqliteError(db, s.prepare_rc(), "reading", path_);
  s.BindText(1, origin);
  s.BindInt(2, static_cast<int64_t>(from));
  s.BindInt(3, static_cast<int64_t>(std::min<uint64_t>(to, INT64_MAX)));
  s.BindInt(4, static_cast<int64_t>(limit));
  std::vector<StoredAlert> out;
  int rc;
  while ((rc = s.Step()) == SQLITE_ROW) {
    WF_ASSIGN_OR_RETURN(StoredAlert a, RowToAlert(s, path_));
    WF_RETURN_IF_ERROR(AttachCosignatures(db, a));
    out.push_back(std::move(a));
  }
  if (rc != SQLITE_DONE) return SqliteError(db, rc, "reading a range", path_);
  return out;
}

absl::StatusOr<std::vector<FeedHead>> SqliteAlertStore::LoadHeads() {
  WF_ASSIGN_OR_RETURN(sqlite3 * db, BorrowReader());
  Reader reader(this, db);
  // The (origin, sequence) unique index makes this one index walk per origin.
  Stmt s(db,
         "SELECT a.origin, a.sequence, a.id FROM alerts a JOIN "
         "(SELECT origin, MAX(sequence) AS seq FROM alerts GROUP BY origin) m "
         "ON a.origin = m.origin AND a.sequence = m.seq");
  if (s.prepare_rc() != SQLITE_OK) return SqliteError(db, s.prepare_rc(), "reading heads", path_);
  std::vector<FeedHead> heads;
  int rc;
  while ((rc = s.Step()) == SQLITE_ROW) {
    FeedHead h;
    h.origin = s.Text(0);
    h.sequence = static_cast<uint64_t>(s.Int(1));
    h.id = s.Text(2);
    heads.push_back(std::move(h));
  }
  if (rc != SQLITE_DONE) return SqliteError(db, rc, "reading heads", path_);
  // Split views are evidence against the origin's checkpoints, not its
  // feed: the feed this node holds is still one history.
  Stmt f(db, "SELECT DISTINCT origin FROM evidence WHERE kind != 'split-view'");
  while ((rc = f.Step()) == SQLITE_ROW) {
    std::string origin = f.Text(0);
    bool found = false;
    for (FeedHead& h : heads) {
      if (h.origin == origin) {
        h.forked = true;
        found = true;
      }
    }
    if (!found) {
      FeedHead h;
      h.origin = origin;
      h.forked = true;
      heads.push_back(std::move(h));
    }
  }
  if (rc != SQLITE_DONE) return SqliteError(db, rc, "reading evidence", path_);
  return heads;
}

absl::StatusOr<std::vector<Evidence>> SqliteAlertStore::ListEvidence() {
  WF_ASSIGN_OR_RETURN(sqlite3 * db, BorrowReader());
  Reader reader(this, db);
  Stmt s(db,
         "SELECT kind, origin, sequence, stored_id, conflict_id, "
         "stored_envelope, conflict_envelope, detected_at_ms FROM evidence "
         "ORDER BY rowid");
  if (s.prepare_rc() != SQLITE_OK) return SqliteError(db, s.prepare_rc(), "reading evidence", path_);
  std::vector<Evidence> out;
  int rc;
  while ((rc = s.Step()) == SQLITE_ROW) {
    Evidence e;
    e.kind = s.Text(0);
    e.origin = s.Text(1);
    e.sequence = static_cast<uint64_t>(s.Int(2));
    e.stored_id = s.Text(3);
    e.conflict_id = s.Text(4);
    e.stored_envelope = s.Blob(5);
    e.conflict_envelope = s.Blob(6);
    e.detected_at_ms = s.Int(7);
    out.push_back(std::move(e));
  }
  if (rc != SQLITE_DONE) return SqliteError(db, rc, "reading evidence", path_);
  return out;
}

namespace {

constexpr char kSelectCosignature[] =
    "SELECT position, alert_id, keyid, node, sig FROM cosignatures ";

absl::StatusOr<std::vector<Cosignature>> ReadCosignatureRows(Stmt& s, sqlite3* db,
                                                             const std::string& path) {
  std::vector<Cosignature> out;
  int rc;
  while ((rc = s.Step()) == SQLITE_ROW) {
    Cosignature c;
    c.position = static_cast<uint64_t>(s.Int(0));
    c.alert_id = s.Text(1);
    c.signature.set_keyid(s.Text(2));
    c.node = s.Text(3);
    c.signature.set_sig(s.Blob(4));
    out.push_back(std::move(c));
  }
  if (rc != SQLITE_DONE) return SqliteError(db, rc, "reading co-signatures", path);
  return out;
}

}  // namespace

absl::Status SqliteAlertStore::AttachCosignatures(sqlite3* db, StoredAlert& a) {
  if (!any_cosignatures_.load(std::memory_order_acquire)) return absl::OkStatus();
  Stmt s(db, (std::string(kSelectCosignature) + "WHERE alert_id = ?1 ORDER BY keyid").c_str());
  if (s.prepare_rc() != SQLITE_OK) {
    return SqliteError(db, s.prepare_rc(), "reading co-signatures", path_);
  }
  s.BindText(1, a.id);
  WF_ASSIGN_OR_RETURN(std::vector<Cosignature> rows, ReadCosignatureRows(s, db, path_));
  for (Cosignature& c : rows) {
    *a.envelope.add_signatures() = std::move(c.signature);
    a.cosigners.push_back(std::move(c.node));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Cosignature>> SqliteAlertStore::Cosignatures(
    const std::string& alert_id) {
  WF_ASSIGN_OR_RETURN(sqlite3 * db, BorrowReader());
  Reader reader(this, db);
  Stmt s(db, (std::string(kSelectCosignature) + "WHERE alert_id = ?1 ORDER BY keyid").c_str());
  if (s.prepare_rc() != SQLITE_OK) {
    return SqliteError(db, s.prepare_rc(), "reading co-signatures", path_);
  }
  s.BindText(1, alert_id);
  return ReadCosignatureRows(s, db, path_);
}

absl::StatusOr<std::vector<Cosignature>> SqliteAlertStore::ReadCosignaturesAfter(
    uint64_t after, size_t limit) {
  WF_ASSIGN_OR_RETURN(sqlite3 * db, BorrowReader());
  Reader reader(this, db);
  Stmt s(db, (std::string(kSelectCosignature) +
              "WHERE position > ?1 ORDER BY position LIMIT ?2").c_str());
  if (s.prepare_rc() != SQLITE_OK) {
    return SqliteError(db, s.prepare_rc(), "reading co-signatures", path_);
  }
  s.BindInt(1, static_cast<int64_t>(std::min<uint64_t>(after, INT64_MAX)));
  s.BindInt(2, static_cast<int64_t>(std::min<size_t>(limit, INT64_MAX)));
  return ReadCosignatureRows(s, db, path_);
}

absl::StatusOr<uint64_t> SqliteAlertStore::LastCosignaturePosition() {
  WF_ASSIGN_OR_RETURN(sqlite3 * db, BorrowReader());
  Reader reader(this, db);
  Stmt s(db, "SELECT COALESCE(MAX(position), 0) FROM cosignatures");
  int rc = s.Step();
  if (rc != SQLITE_ROW) return SqliteError(db, rc, "reading the last co-signature", path_);
  return static_cast<uint64_t>(s.Int(0));
}

absl::StatusOr<uint64_t> SqliteAlertStore::LastCursor() {
  WF_ASSIGN_OR_RETURN(sqlite3 * db, BorrowReader());
  Reader reader(this, db);
  Stmt s(db, "SELECT COALESCE(MAX(cursor), 0) FROM alerts");
  int rc = s.Step();
  if (rc != SQLITE_ROW) return SqliteError(db, rc, "reading the last cursor", path_);
  return static_cast<uint64_t>(s.Int(0));
}

absl::StatusOr<std::vector<Mark>> SqliteAlertStore::ReadMarksAfter(uint64_t after,
                                                                   size_t limit) {
  WF_ASSIGN_OR_RETURN(sqlite3 * db, BorrowReader());
  Reader reader(this, db);
  Stmt s(db,
         "SELECT cursor, kind, alert_id, node, cosignature_position FROM marks "
         "WHERE cursor > ?1 ORDER BY cursor LIMIT ?2");
  if (s.prepare_rc() != SQLITE_OK) return SqliteError(db, s.prepare_rc(), "reading marks", path_);
  s.BindInt(1, static_cast<int64_t>(std::min<uint64_t>(after, INT64_MAX)));
  s.BindInt(2, static_cast<int64_t>(std::min<size_t>(limit, INT64_MAX)));
  std::vector<Mark> out;
  int rc;
  while ((rc = s.Step()) == SQLITE_ROW) {
    Mark m;
    m.cursor = static_cast<uint64_t>(s.Int(0));
    const int64_t kind = s.Int(1);
    if (kind != static_cast<int>(Mark::Kind::kCosigned) &&
        kind != static_cast<int>(Mark::Kind::kExpired)) {
      return absl::DataLossError(absl::StrCat("data file ", path_, ": mark at cursor ",
                                              m.cursor, " has unknown kind ", kind));
    }
    m.kind = static_cast<Mark::Kind>(kind);
    m.alert_id = s.Text(2);
    m.node = s.Text(3);
    m.cosignature_position = static_cast<uint64_t>(s.Int(4));
    out.push_back(std::move(m));
  }
  if (rc != SQLITE_DONE) return SqliteError(db, rc, "reading marks", path_);
  return out;
}

absl::StatusOr<uint64_t> SqliteAlertStore::LastMarkCursor() {
  WF_ASSIGN_OR_RETURN(sqlite3 * db, BorrowReader());
  Reader reader(this, db);
  Stmt s(db, "SELECT COALESCE(MAX(cursor), 0) FROM marks");
  int rc = s.Step();
  if (rc != SQLITE_ROW) return SqliteError(db, rc, "reading the last mark", path_);
  return static_cast<uint64_t>(s.Int(0));
}

absl::StatusOr<std::optional<uint64_t>> SqliteAlertStore::FirstCursorSince(
    int64_t received_at_ms) {
  WF_ASSIGN_OR_RETURN(sqlite3 * db, BorrowReader());
  Reader reader(this, db);
  Stmt s(db, "SELECT MIN(cursor) FROM alerts WHERE received_at_ms >= ?1");
  if (s.prepare_rc() != SQLITE_OK) return SqliteError(db, s.prepare_rc(), "reading", path_);
  s.BindInt(1, received_at_ms);
  int rc = s.Step();
  if (rc != SQLITE_ROW) return SqliteError(db, rc, "finding a start time", path_);
  if (sqlite3_column_type(s.get(), 0) == SQLITE_NULL) {
    return std::optional<uint64_t>();
  }
  return std::optional<uint64_t>(static_cast<uint64_t>(s.Int(0)));
}

}  // namespace watchfloor::node
