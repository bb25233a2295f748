// SqliteAlertStore on a real file: cursors, lookups, heads, evidence,
// durability settings, and all-or-nothing batches.
#include "node/sqlite_alert_store.h"

#include <sqlite3.h>
#include <sys/stat.h>

#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "certs/dsse.h"
#include "certs/ids.h"
#include "certs/keys.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"

namespace watchfloor::node {
namespace {

using watchfloor::testing::ReadFileOrDie;
using watchfloor::testing::SampleDraft;
using watchfloor::testing::TempDir;
using watchfloor::v1::Alert;
using watchfloor::v1::Envelope;

constexpr char kOrigin[] = "example.cz/prg1";
constexpr char kPeer[] = "nic.sk/bts1";

// A signed alert, ready to append. `variant` changes the content (and so the
// id) without changing the feed position.
NewAlert MakeAlert(const certs::SigningKey& key, const std::string& origin,
                   uint64_t seq, const std::string& previous, int variant = 0) {
  Alert a = SampleDraft(variant);
  a.set_origin(origin);
  a.set_sequence(seq);
  a.set_previous(previous);
  a.mutable_issued_at()->set_seconds(1798761600 + static_cast<int64_t>(seq));
  const std::string payload = a.SerializeAsString();
  NewAlert n;
  n.id = certs::AlertId(payload);
  n.origin = origin;
  n.sequence = seq;
  n.previous = previous;
  n.issued_at_ms = (1798761600 + static_cast<int64_t>(seq)) * 1000;
  n.received_at_ms = 1798761700000 + static_cast<int64_t>(seq);
  certs::SignEnvelope(payload, certs::kAlertPayloadType, key)
      .SerializeToString(&n.envelope);
  return n;
}

// A feed of `n` chained alerts of `origin`, starting at `first`.
std::vector<NewAlert> MakeFeed(const certs::SigningKey& key, const std::string& origin,
                               uint64_t first, int n, std::string previous = "") {
  std::vector<NewAlert> out;
  for (int i = 0; i < n; ++i) {
    out.push_back(MakeAlert(key, origin, first + i, previous));
    previous = out.back().id;
  }
  return out;
}

Evidence MakeEvidence(const NewAlert& stored, const NewAlert& conflict,
                      const std::string& kind = "fork") {
  Evidence e;
  e.kind = kind;
  e.origin = stored.origin;
  e.sequence = conflict.sequence;
  e.stored_id = stored.id;
  e.conflict_id = conflict.id;
  e.stored_envelope = stored.envelope;
  e.conflict_envelope = conflict.envelope;
  e.detected_at_ms = 1798761800000;
  return e;
}

class StoreTest : public ::testing::Test {
 protected:
  StoreTest()
      : key_(certs::SigningKey::Generate()), peer_key_(certs::SigningKey::Generate()) {}

  void SetUp() override { Reopen(); }

  void Reopen() {
    store_.reset();
    absl::StatusOr<std::unique_ptr<SqliteAlertStore>> s =
        SqliteAlertStore::Open(dir_.Join("data"), kOrigin);
    ASSERT_TRUE(s.ok()) << s.status();
    store_ = std::move(*s);
  }

  std::vector<uint64_t> AppendOk(const std::vector<NewAlert>& alerts,
                                 const std::vector<Evidence>& evidence = {}) {
    absl::StatusOr<std::vector<uint64_t>> c = store_->Append(alerts, evidence);
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? *c : std::vector<uint64_t>();
  }

  uint64_t LastCursor() {
    absl::StatusOr<uint64_t> c = store_->LastCursor();
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? *c : ~0ull;
  }

  std::string DbPath() const { return dir_.Join("data") + "/" + SqliteAlertStore::kFileName; }

  TempDir dir_;
  certs::SigningKey key_;
  certs::SigningKey peer_key_;
  std::unique_ptr<SqliteAlertStore> store_;
};

// The stored row carries exactly what was appended.
void ExpectStored(const StoredAlert& got, const NewAlert& want, uint64_t cursor) {
  EXPECT_EQ(got.cursor, cursor);
  EXPECT_EQ(got.id, want.id);
  EXPECT_EQ(got.origin, want.origin);
  EXPECT_EQ(got.sequence, want.sequence);
  EXPECT_EQ(got.envelope.SerializeAsString(), want.envelope);
}

TEST_F(StoreTest, EmptyStoreHasCursorZeroAndNothingToRead) {
  EXPECT_EQ(LastCursor(), 0u);
  absl::StatusOr<std::vector<StoredAlert>> r = store_->ReadAfter(0, 100);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(r->empty());
  absl::StatusOr<std::vector<FeedHead>> heads = store_->LoadHeads();
  ASSERT_TRUE(heads.ok()) << heads.status();
  EXPECT_TRUE(heads->empty());
  absl::StatusOr<std::vector<Evidence>> ev = store_->ListEvidence();
  ASSERT_TRUE(ev.ok()) << ev.status();
  EXPECT_TRUE(ev->empty());
}

TEST_F(StoreTest, AppendReturnsIncreasingCursorsAcrossBatches) {
  std::vector<NewAlert> feed = MakeFeed(key_, kOrigin, 1, 5);
  EXPECT_EQ(AppendOk({feed[0], feed[1], feed[2]}), (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(AppendOk({feed[3]}), (std::vector<uint64_t>{4}));
  EXPECT_EQ(AppendOk({feed[4]}), (std::vector<uint64_t>{5}));
  EXPECT_EQ(LastCursor(), 5u);
}

TEST_F(StoreTest, EmptyBatchAppendsNothing) {
  EXPECT_EQ(AppendOk({}), std::vector<uint64_t>());
  EXPECT_EQ(LastCursor(), 0u);
}

TEST_F(StoreTest, GetReturnsTheStoredAlertOrNothing) {
  std::vector<NewAlert> feed = MakeFeed(key_, kOrigin, 1, 2);
  AppendOk(feed);
  absl::StatusOr<std::optional<StoredAlert>> got = store_->Get(feed[1].id);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_TRUE(got->has_value());
  ExpectStored(**got, feed[1], 2);
  // The stored envelope still verifies: the bytes went through untouched.
  EXPECT_EQ(certs::VerifyEnvelope((*got)->envelope, key_.public_key()), absl::OkStatus());

  absl::StatusOr<std::optional<StoredAlert>> absent = store_->Get(std::string(64, '0'));
  ASSERT_TRUE(absent.ok()) << absent.status();
  EXPECT_FALSE(absent->has_value());
}

TEST_F(StoreTest, GetBySequenceFindsTheOriginsAlert) {
  std::vector<NewAlert> own = MakeFeed(key_, kOrigin, 1, 2);
  std::vector<NewAlert> peer = MakeFeed(peer_key_, kPeer, 1, 2);
  AppendOk({own[0], peer[0], own[1], peer[1]});
  absl::StatusOr<std::optional<StoredAlert>> got = store_->GetBySequence(kPeer, 2);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_TRUE(got->has_value());
  ExpectStored(**got, peer[1], 4);
  got = store_->GetBySequence(kOrigin, 1);
  ASSERT_TRUE(got.ok() && got->has_value());
  ExpectStored(**got, own[0], 1);
  for (auto [origin, seq] : std::vector<std::pair<std::string, uint64_t>>{
           {kPeer, 3}, {kOrigin, 0}, {"nic.at/vie1", 1}}) {
    got = store_->GetBySequence(origin, seq);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_FALSE(got->has_value()) << origin << " " << seq;
  }
}

TEST_F(StoreTest, ReadAfterPagesInCursorOrder) {
  std::vector<NewAlert> feed = MakeFeed(key_, kOrigin, 1, 6);
  AppendOk(feed);
  absl::StatusOr<std::vector<StoredAlert>> all = store_->ReadAfter(0, 100);
  ASSERT_TRUE(all.ok()) << all.status();
  ASSERT_EQ(all->size(), 6u);
  for (size_t i = 0; i < 6; ++i) ExpectStored((*all)[i], feed[i], i + 1);

  absl::StatusOr<std::vector<StoredAlert>> page = store_->ReadAfter(2, 3);
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->size(), 3u);
  EXPECT_EQ((*page)[0].cursor, 3u);
  EXPECT_EQ((*page)[2].cursor, 5u);

  page = store_->ReadAfter(5, 3);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->size(), 1u);
  EXPECT_EQ((*page)[0].cursor, 6u);

  page = store_->ReadAfter(6, 3);
  ASSERT_TRUE(page.ok());
  EXPECT_TRUE(page->empty());

  page = store_->ReadAfter(0, 0);
  ASSERT_TRUE(page.ok());
  EXPECT_TRUE(page->empty());
}

TEST_F(StoreTest, LoadHeadsGivesEachOriginsHighestAlert) {
  std::vector<NewAlert> own = MakeFeed(key_, kOrigin, 1, 3);
  std::vector<NewAlert> peer = MakeFeed(peer_key_, kPeer, 1, 2);
  AppendOk({own[0], own[1], peer[0]});
  AppendOk({peer[1], own[2]});
  absl::StatusOr<std::vector<FeedHead>> heads = store_->LoadHeads();
  ASSERT_TRUE(heads.ok()) << heads.status();
  ASSERT_EQ(heads->size(), 2u);
  std::map<std::string, FeedHead> by_origin;
  for (const FeedHead& h : *heads) by_origin[h.origin] = h;
  EXPECT_EQ(by_origin[kOrigin].sequence, 3u);
  EXPECT_EQ(by_origin[kOrigin].id, own[2].id);
  EXPECT_FALSE(by_origin[kOrigin].forked);
  EXPECT_EQ(by_origin[kPeer].sequence, 2u);
  EXPECT_EQ(by_origin[kPeer].id, peer[1].id);
  EXPECT_FALSE(by_origin[kPeer].forked);
}

TEST_F(StoreTest, EvidenceIsListedExactlyAndMarksTheFeedForked) {
  std::vector<NewAlert> peer = MakeFeed(peer_key_, kPeer, 1, 2);
  AppendOk(peer);
  NewAlert fork = MakeAlert(peer_key_, kPeer, 2, peer[0].id, /*variant=*/7);
  ASSERT_NE(fork.id, peer[1].id);
  Evidence e = MakeEvidence(peer[1], fork);
  EXPECT_EQ(AppendOk({}, {e}), std::vector<uint64_t>());
  EXPECT_EQ(LastCursor(), 2u);  // evidence is not an alert

  absl::StatusOr<std::vector<Evidence>> ev = store_->ListEvidence();
  ASSERT_TRUE(ev.ok()) << ev.status();
  ASSERT_EQ(ev->size(), 1u);
  const Evidence& got = (*ev)[0];
  EXPECT_EQ(got.kind, "fork");
  EXPECT_EQ(got.origin, kPeer);
  EXPECT_EQ(got.sequence, 2u);
  EXPECT_EQ(got.stored_id, peer[1].id);
  EXPECT_EQ(got.conflict_id, fork.id);
  EXPECT_EQ(got.stored_envelope, peer[1].envelope);
  EXPECT_EQ(got.conflict_envelope, fork.envelope);
  EXPECT_EQ(got.detected_at_ms, 1798761800000);

  absl::StatusOr<std::vector<FeedHead>> heads = store_->LoadHeads();
  ASSERT_TRUE(heads.ok()) << heads.status();
  ASSERT_EQ(heads->size(), 1u);
  EXPECT_EQ((*heads)[0].origin, kPeer);
  EXPECT_EQ((*heads)[0].sequence, 2u);
  EXPECT_TRUE((*heads)[0].forked);
}

TEST_F(StoreTest, SameEvidenceTwiceIsKeptOnce) {
  std::vector<NewAlert> peer = MakeFeed(peer_key_, kPeer, 1, 1);
  AppendOk(peer);
  NewAlert fork = MakeAlert(peer_key_, kPeer, 1, "", 7);
  Evidence e = MakeEvidence(peer[0], fork);
  AppendOk({}, {e});
  AppendOk({}, {e});
  absl::StatusOr<std::vector<Evidence>> ev = store_->ListEvidence();
  ASSERT_TRUE(ev.ok()) << ev.status();
  EXPECT_EQ(ev->size(), 1u);
}

TEST_F(StoreTest, EvidenceForAnOriginWithNoAlertsGivesAForkedEmptyHead) {
  NewAlert a = MakeAlert(peer_key_, kPeer, 3, std::string(64, 'a'));
  NewAlert b = MakeAlert(peer_key_, kPeer, 3, std::string(64, 'a'), 7);
  AppendOk({}, {MakeEvidence(a, b)});
  absl::StatusOr<std::vector<FeedHead>> heads = store_->LoadHeads();
  ASSERT_TRUE(heads.ok()) << heads.status();
  ASSERT_EQ(heads->size(), 1u);
  EXPECT_EQ((*heads)[0].origin, kPeer);
  EXPECT_EQ((*heads)[0].sequence, 0u);
  EXPECT_EQ((*heads)[0].id, "");
  EXPECT_TRUE((*heads)[0].forked);
}

TEST_F(StoreTest, EverythingSurvivesCloseAndReopen) {
  std::vector<NewAlert> feed = MakeFeed(key_, kOrigin, 1, 3);
  NewAlert fork = MakeAlert(key_, kOrigin, 3, feed[1].id, 9);
  AppendOk(feed, {MakeEvidence(feed[2], fork)});
  Reopen();
  EXPECT_EQ(LastCursor(), 3u);
  absl::StatusOr<std::optional<StoredAlert>> got = store_->Get(feed[2].id);
  ASSERT_TRUE(got.ok() && got->has_value());
  ExpectStored(**got, feed[2], 3);
  absl::StatusOr<std::vector<Evidence>> ev = store_->ListEvidence();
  ASSERT_TRUE(ev.ok());
  ASSERT_EQ(ev->size(), 1u);
  EXPECT_EQ((*ev)[0].conflict_id, fork.id);
  // Cursors continue after the reopen, never reused.
  NewAlert next = MakeAlert(key_, kOrigin, 4, feed[2].id);
  EXPECT_EQ(AppendOk({next}), (std::vector<uint64_t>{4}));
}

TEST_F(StoreTest, DuplicateIdFailsTheWholeBatch) {
  std::vector<NewAlert> feed = MakeFeed(key_, kOrigin, 1, 3);
  AppendOk({feed[0]});
  NewAlert dup = feed[0];
  dup.sequence = 99;  // only the id collides
  absl::StatusOr<std::vector<uint64_t>> c = store_->Append({feed[1], feed[2], dup}, {});
  ASSERT_EQ(c.status().code(), absl::StatusCode::kInternal) << c.status();
  // All or nothing: the two good alerts of the batch were not kept either.
  EXPECT_EQ(LastCursor(), 1u);
  absl::StatusOr<std::optional<StoredAlert>> got = store_->Get(feed[1].id);
  ASSERT_TRUE(got.ok());
  EXPECT_FALSE(got->has_value());
  // The store is still usable, and the cursor of the failed batch is reused by
  // nobody but the next alert.
  EXPECT_EQ(AppendOk({feed[1], feed[2]}), (std::vector<uint64_t>{2, 3}));
}

TEST_F(StoreTest, DuplicatePositionFailsTheWholeBatchIncludingEvidence) {
  std::vector<NewAlert> feed = MakeFeed(key_, kOrigin, 1, 2);
  AppendOk({feed[0]});
  NewAlert same_position = MakeAlert(key_, kOrigin, 1, "", 5);  // other id, seq 1
  NewAlert fork = MakeAlert(key_, kOrigin, 1, "", 6);
  absl::StatusOr<std::vector<uint64_t>> c =
      store_->Append({feed[1], same_position}, {MakeEvidence(feed[0], fork)});
  ASSERT_EQ(c.status().code(), absl::StatusCode::kInternal) << c.status();
  EXPECT_EQ(LastCursor(), 1u);
  absl::StatusOr<std::vector<Evidence>> ev = store_->ListEvidence();
  ASSERT_TRUE(ev.ok());
  EXPECT_TRUE(ev->empty());
  absl::StatusOr<std::vector<FeedHead>> heads = store_->LoadHeads();
  ASSERT_TRUE(heads.ok());
  ASSERT_EQ(heads->size(), 1u);
  EXPECT_EQ((*heads)[0].sequence, 1u);
  EXPECT_FALSE((*heads)[0].forked);
}

TEST_F(StoreTest, FirstCursorSinceFindsTheFirstAlertReceivedAtOrAfter) {
  std::vector<NewAlert> feed = MakeFeed(key_, kOrigin, 1, 3);
  // received_at_ms = 1798761700000 + seq.
  AppendOk(feed);
  absl::StatusOr<std::optional<uint64_t>> c = store_->FirstCursorSince(0);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(*c, std::optional<uint64_t>(1));
  c = store_->FirstCursorSince(1798761700002);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(*c, std::optional<uint64_t>(2));
  c = store_->FirstCursorSince(1798761700004);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(*c, std::nullopt);
}

// Captures every SQLite connection this process opens, so the test can ask
// the store's own writer connection for its settings.
std::vector<sqlite3*>* g_opened = nullptr;
int CaptureConnection(sqlite3* db, const char**, const struct sqlite3_api_routines*) {
  if (g_opened != nullptr) g_opened->push_back(db);
  return SQLITE_OK;
}

std::string PragmaText(sqlite3* db, const char* sql) {
  sqlite3_stmt* st = nullptr;
  std::string out = "<error>";
  if (sqlite3_prepare_v2(db, sql, -1, &st, nullptr) == SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW) {
    out = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
  }
  sqlite3_finalize(st);
  return out;
}

TEST_F(StoreTest, WriterUsesWalAndSynchronousFull) {
  store_.reset();
  std::vector<sqlite3*> opened;
  g_opened = &opened;
  ASSERT_EQ(sqlite3_auto_extension(reinterpret_cast<void (*)()>(&CaptureConnection)),
            SQLITE_OK);
  absl::StatusOr<std::unique_ptr<SqliteAlertStore>> s =
      SqliteAlertStore::Open(dir_.Join("data"), kOrigin);
  sqlite3_cancel_auto_extension(reinterpret_cast<void (*)()>(&CaptureConnection));
  g_opened = nullptr;
  ASSERT_TRUE(s.ok()) << s.status();
  // Open makes exactly two connections, the writer and the checkpointer
  // (which syncs what it copies as FULL too); readers come later.
  ASSERT_EQ(opened.size(), 2u);
  EXPECT_EQ(PragmaText(opened[0], "PRAGMA journal_mode"), "wal");
  EXPECT_EQ(PragmaText(opened[0], "PRAGMA synchronous"), "2");  // FULL
  EXPECT_EQ(PragmaText(opened[1], "PRAGMA synchronous"), "2");
}

// Under a steady stream of single-alert commits the WAL is checkpointed in
// the background (the appending thread never copies the bulk of it) and
// still restarts from its beginning, so it stays bounded; every alert is
// there after a reopen. The default mode, kWriter: the appending thread
// restarts the WAL itself, inside commits.
TEST_F(StoreTest, TheWalIsCheckpointedInTheBackgroundAndStaysBounded) {
  constexpr int kAlerts = 1500;  // ~5 WAL frames each: several thousand frames
  std::vector<NewAlert> feed = MakeFeed(key_, kOrigin, 1, kAlerts);
  int64_t max_wal = 0;
  const std::string wal = DbPath() + "-wal";
  for (const NewAlert& a : feed) {
    AppendOk({a});
    struct stat st;
    if (stat(wal.c_str(), &st) == 0) max_wal = std::max<int64_t>(max_wal, st.st_size);
  }
  SqliteAlertStore::CheckpointStats stats = store_->checkpoint_stats();
  EXPECT_GT(stats.background, 0u);
  EXPECT_GT(stats.on_writer + stats.busy, 0u);
  EXPECT_EQ(stats.whole_wal, 0u);
  EXPECT_EQ(stats.longest_hold, absl::ZeroDuration());
  // Bounded: about kWriterCheckpointFrames pages of 4 KiB, plus a commit.
  EXPECT_LT(max_wal, int64_t{SqliteAlertStore::kWriterCheckpointFrames + 200} * 4120)
      << "checkpoints: " << stats.background << " background, " << stats.on_writer
      << " on the writer, " << stats.busy << " busy";
  Reopen();
  EXPECT_EQ(LastCursor(), static_cast<uint64_t>(kAlerts));
  absl::StatusOr<std::optional<StoredAlert>> last = store_->Get(feed.back().id);
  ASSERT_TRUE(last.ok()) << last.status();
  EXPECT_TRUE(last->has_value());
}

// WATCHFLOOR_WAL_CHECKPOINTS=background: the WAL is restarted by the
// background thread's short pass with commits held off; the appending
// thread copies nothing, the WAL stays bounded, every alert is there after
// a reopen.
TEST_F(StoreTest, BackgroundCheckpointModeRestartsTheWalOffTheAppendingThread) {
  store_.reset();
  ASSERT_EQ(setenv("WATCHFLOOR_WAL_CHECKPOINTS", "background", 1), 0);
  absl::StatusOr<std::unique_ptr<SqliteAlertStore>> s =
      SqliteAlertStore::Open(dir_.Join("data"), kOrigin);
  unsetenv("WATCHFLOOR_WAL_CHECKPOINTS");
  ASSERT_TRUE(s.ok()) << s.status();
  store_ = std::move(*s);
  constexpr int kAlerts = 1500;
  std::vector<NewAlert> feed = MakeFeed(key_, kOrigin, 1, kAlerts);
  int64_t max_wal = 0;
  const std::string wal = DbPath() + "-wal";
  // Commits race the checkpointer, as in production, so that its first
  // pass leaves frames behind and the held-off pass is needed. But once the
  // WAL nears kWriterCheckpointFrames with a wake-up still unfinished, the
  // test waits for the checkpointer: a starved one (CI, a loaded machine)
  // would otherwise let the appending thread's safety checkpoint run, which
  // is what this mode avoids when the checkpointer keeps up. The WAL file
  // holds a 32-byte header and frames of a 24-byte header and a 4 KiB page.
  constexpr int64_t kFrame = 24 + 4096;
  constexpr int64_t kWaitFrom =
      32 + int64_t{SqliteAlertStore::kWriterCheckpointFrames - 500} * kFrame;
  int waits = 0;
  for (const NewAlert& a : feed) {
    AppendOk({a});
    struct stat st = {};
    if (stat(wal.c_str(), &st) == 0) max_wal = std::max<int64_t>(max_wal, st.st_size);
    SqliteAlertStore::CheckpointStats now = store_->checkpoint_stats();
    if (now.completed == now.requested || st.st_size < kWaitFrom) continue;
    ++waits;
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    while (now.completed < now.requested && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(1));
      now = store_->checkpoint_stats();
    }
    ASSERT_EQ(now.completed, now.requested) << "checkpointer still busy after 30 s";
  }
  SqliteAlertStore::CheckpointStats stats = store_->checkpoint_stats();
  EXPECT_GE(stats.requested, 3u);
  const std::string counts = absl::StrCat(
      "checkpoints: ", stats.background, " background, ", stats.whole_wal,
      " whole-WAL with commits held off, ", stats.on_writer, " on the writer, ", stats.busy,
      " busy; the test waited for the checkpointer ", waits, " times");
  EXPECT_GT(stats.whole_wal, 0u) << counts;
  EXPECT_GT(stats.longest_hold, absl::ZeroDuration()) << counts;
  EXPECT_EQ(stats.on_writer, 0u) << counts;
  EXPECT_LT(max_wal, int64_t{SqliteAlertStore::kWriterCheckpointFrames + 200} * 4120) << counts;
  Reopen();
  EXPECT_EQ(LastCursor(), static_cast<uint64_t>(kAlerts));
  absl::StatusOr<std::optional<StoredAlert>> last = store_->Get(feed.back().id);
  ASSERT_TRUE(last.ok()) << last.status();
  EXPECT_TRUE(last->has_value());
}

// An unknown WATCHFLOOR_WAL_CHECKPOINTS is refused before anything is
// created, naming the variable and its values.
TEST(StoreOpenTest, UnknownCheckpointModeIsInvalidArgumentAndCreatesNothing) {
  TempDir dir;
  const std::string data = dir.Join("data");
  ASSERT_EQ(setenv("WATCHFLOOR_WAL_CHECKPOINTS", "sometimes", 1), 0);
  absl::StatusOr<std::unique_ptr<SqliteAlertStore>> s = SqliteAlertStore::Open(data, kOrigin);
  unsetenv("WATCHFLOOR_WAL_CHECKPOINTS");
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.status().message(),
            "WATCHFLOOR_WAL_CHECKPOINTS is \"sometimes\"; set it to writer (the default) "
            "or background, or unset it");
  struct stat st;
  EXPECT_NE(stat(data.c_str(), &st), 0) << data << " was created";
}

TEST_F(StoreTest, FileIsMarkedWalForOtherReaders) {
  AppendOk(MakeFeed(key_, kOrigin, 1, 1));
  store_.reset();
  // Bytes 18 and 19 of the header are the read/write format versions: 2 means
  // WAL, so the sqlite3 shell (or an auditor) opens it in WAL mode too.
  std::string header = ReadFileOrDie(DbPath());
  ASSERT_GE(header.size(), 100u);
  EXPECT_EQ(header.substr(0, 16), std::string("SQLite format 3\0", 16));
  EXPECT_EQ(header[18], 2);
  EXPECT_EQ(header[19], 2);
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(DbPath().c_str(), &db, SQLITE_OPEN_READONLY, nullptr),
            SQLITE_OK);
  EXPECT_EQ(PragmaText(db, "PRAGMA journal_mode"), "wal");
  EXPECT_EQ(PragmaText(db, "SELECT value FROM meta WHERE key = 'origin'"), kOrigin);
  EXPECT_EQ(PragmaText(db, "SELECT COUNT(*) FROM alerts"), "1");
  sqlite3_close(db);
}

TEST_F(StoreTest, ReopenAsAnotherOriginIsFailedPrecondition) {
  store_.reset();
  absl::StatusOr<std::unique_ptr<SqliteAlertStore>> s =
      SqliteAlertStore::Open(dir_.Join("data"), "example.cz/brq1");
  ASSERT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition) << s.status();
}

TEST_F(StoreTest, NonDatabaseFileIsDataLoss) {
  store_.reset();
  TempDir other;
  const std::string data = other.Join("data");
  ASSERT_EQ(mkdir(data.c_str(), 0700), 0);
  const std::string junk(4096, 'x');
  watchfloor::testing::WriteFile(data + "/" + SqliteAlertStore::kFileName, junk, 0600);
  absl::StatusOr<std::unique_ptr<SqliteAlertStore>> s = SqliteAlertStore::Open(data, kOrigin);
  ASSERT_EQ(s.status().code(), absl::StatusCode::kDataLoss) << s.status();
  EXPECT_EQ(ReadFileOrDie(data + "/" + SqliteAlertStore::kFileName), junk);
}

// Marks (co-signatures stored for the first time, expiries) take cursors
// in the same sequence as alerts, in write order within a batch; Append
// reports them after the alerts' cursors, 0 for one already held.
Cosignature MakeCosignature(const std::string& alert_id, const std::string& keyid,
                            const std::string& node) {
  Cosignature c;
  c.alert_id = alert_id;
  c.node = node;
  c.signature.set_keyid(keyid);
  c.signature.set_sig(std::string(64, 's'));
  return c;
}

Mark ExpiryOf(const std::string& alert_id) {
  Mark m;
  m.kind = Mark::Kind::kExpired;
  m.alert_id = alert_id;
  return m;
}

std::vector<Mark> MarksAfter(AlertStore& store, uint64_t after) {
  absl::StatusOr<std::vector<Mark>> m = store.ReadMarksAfter(after, 100);
  EXPECT_TRUE(m.ok()) << m.status();
  return m.ok() ? *m : std::vector<Mark>();
}

TEST_F(StoreTest, MarksShareTheCursorSequenceWithAlerts) {
  std::vector<NewAlert> feed = MakeFeed(key_, kOrigin, 1, 3);
  AppendOk({feed[0]});
  WriteSet w;
  w.alerts = {feed[1]};
  w.marks = {ExpiryOf(feed[0].id)};
  w.cosignatures = {MakeCosignature(feed[0].id, "k1", "peer.test/n1"),
                    MakeCosignature(feed[1].id, "k1", "peer.test/n1")};
  absl::StatusOr<std::vector<uint64_t>> c = store_->Append(w);
  ASSERT_TRUE(c.ok()) << c.status();
  // The alert first, then the expiry, then one mark per co-signature.
  EXPECT_EQ(*c, (std::vector<uint64_t>{2, 3, 4, 5}));
  EXPECT_EQ(LastCursor(), 2u);  // alerts only
  EXPECT_EQ(*store_->LastMarkCursor(), 5u);
  std::vector<Mark> marks = MarksAfter(*store_, 0);
  ASSERT_EQ(marks.size(), 3u);
  EXPECT_EQ(marks[0].cursor, 3u);
  EXPECT_EQ(marks[0].kind, Mark::Kind::kExpired);
  EXPECT_EQ(marks[0].alert_id, feed[0].id);
  EXPECT_EQ(marks[0].cosignature_position, 0u);  // none stored before it
  EXPECT_EQ(marks[1].kind, Mark::Kind::kCosigned);
  EXPECT_EQ(marks[1].alert_id, feed[0].id);
  EXPECT_EQ(marks[1].node, "peer.test/n1");
  EXPECT_EQ(marks[1].cosignature_position, 1u);
  EXPECT_EQ(marks[2].alert_id, feed[1].id);
  EXPECT_EQ(marks[2].cosignature_position, 2u);
  EXPECT_EQ(MarksAfter(*store_, 4).size(), 1u);

  // The next alert takes the next cursor after the marks; a co-signature
  // or expiry already held writes nothing (0), and an expiry counts the
  // co-signatures stored before it.
  WriteSet again;
  again.alerts = {feed[2]};
  again.marks = {ExpiryOf(feed[0].id), ExpiryOf(feed[1].id)};
  again.cosignatures = {MakeCosignature(feed[0].id, "k1", "peer.test/n1")};
  c = store_->Append(again);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(*c, (std::vector<uint64_t>{6, 0, 7, 0}));
  marks = MarksAfter(*store_, 5);
  ASSERT_EQ(marks.size(), 1u);
  EXPECT_EQ(marks[0].alert_id, feed[1].id);
  EXPECT_EQ(marks[0].cosignature_position, 2u);

  // Across a reopen the sequence goes on from the highest of both.
  Reopen();
  EXPECT_EQ(*store_->LastMarkCursor(), 7u);
  NewAlert next = MakeAlert(key_, kOrigin, 4, feed[2].id);
  EXPECT_EQ(AppendOk({next}), (std::vector<uint64_t>{8}));
}

TEST_F(StoreTest, AFailedBatchWritesNoMarksAndGivesItsCursorsBack) {
  std::vector<NewAlert> feed = MakeFeed(key_, kOrigin, 1, 2);
  AppendOk({feed[0]});
  NewAlert dup = feed[0];
  dup.sequence = 99;  // the id collides: the batch fails
  WriteSet w;
  w.alerts = {feed[1], dup};
  w.marks = {ExpiryOf(feed[0].id)};
  w.cosignatures = {MakeCosignature(feed[0].id, "k1", "peer.test/n1")};
  absl::StatusOr<std::vector<uint64_t>> c = store_->Append(w);
  ASSERT_EQ(c.status().code(), absl::StatusCode::kInternal) << c.status();
  EXPECT_TRUE(MarksAfter(*store_, 0).empty());
  EXPECT_EQ(*store_->LastMarkCursor(), 0u);
  EXPECT_EQ(*store_->LastCosignaturePosition(), 0u);
  WriteSet marks_only;
  marks_only.marks = {ExpiryOf(feed[0].id)};
  c = store_->Append(marks_only);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(*c, (std::vector<uint64_t>{2}));
}

// A version-1 file (before marks) opens, keeps its alerts, and is marked
// version 2 so that a version-1 binary refuses it; a newer version is
// FAILED_PRECONDITION and the file is left as it was.
TEST_F(StoreTest, SchemaVersionOneIsUpgradedAndANewerVersionRefused) {
  std::vector<NewAlert> feed = MakeFeed(key_, kOrigin, 1, 2);
  AppendOk({feed[0]});
  store_.reset();
  auto set_version = [&](const char* v) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(DbPath().c_str(), &db), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(db,
                           absl::StrCat("UPDATE meta SET value = '", v,
                                        "' WHERE key = 'schema_version'")
                               .c_str(),
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
  };
  auto version = [&] {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open_v2(DbPath().c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
    std::string v = PragmaText(db, "SELECT value FROM meta WHERE key = 'schema_version'");
    sqlite3_close(db);
    return v;
  };
  set_version("1");
  Reopen();
  EXPECT_EQ(version(), "2");
  EXPECT_EQ(LastCursor(), 1u);
  EXPECT_EQ(AppendOk({feed[1]}), (std::vector<uint64_t>{2}));
  store_.reset();
  set_version("3");
  absl::StatusOr<std::unique_ptr<SqliteAlertStore>> s =
      SqliteAlertStore::Open(dir_.Join("data"), kOrigin);
  ASSERT_EQ(s.status().code(), absl::StatusCode::kFailedPrecondition) << s.status();
  EXPECT_NE(s.status().message().find("schema version 3"), absl::string_view::npos);
  EXPECT_EQ(version(), "3");
}

}  // namespace
}  // namespace watchfloor::node
