// The Ledger's verify pool (Ledger::Options::verify_threads): Ingest calls
// from one thread verified in parallel, with the same verdicts, the same
// order at the writer, and every call answered once, also at shutdown. On a
// real SQLite store.
#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "certs/dsse.h"
#include "certs/ids.h"
#include "gtest/gtest.h"
#include "node/ledger.h"
#include "node/sqlite_alert_store.h"
#include "tests/test_util.h"

namespace watchfloor::node {
namespace {

using testing::SampleDraft;
using testing::TempDir;
using watchfloor::v1::Alert;
using watchfloor::v1::Envelope;

constexpr char kOrigin[] = "example.cz/prg1";

// The real resolver, plus a rendezvous: each FindAt (the Ledger calls it
// once per envelope it verifies) waits until `want` calls are inside at
// once, or `patience` has passed, and the most seen inside at once is kept.
class RendezvousResolver final : public KeyResolver {
 public:
  RendezvousResolver(const KeyResolver* real, int want, absl::Duration patience)
      : real_(real), want_(want), patience_(patience) {}
  std::optional<certs::PublicKey> Find(absl::string_view origin) const override {
    return real_->Find(origin);
  }
  std::optional<certs::PublicKey> FindAt(absl::string_view origin,
                                         uint64_t sequence) const override {
    absl::MutexLock lock(&mu_);
    ++inside_;
    max_inside_ = std::max(max_inside_, inside_);
    auto enough = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return max_inside_ >= want_; };
    mu_.AwaitWithTimeout(absl::Condition(&enough), patience_);
    --inside_;
    return real_->FindAt(origin, sequence);
  }
  int max_inside() const {
    absl::MutexLock lock(&mu_);
    return max_inside_;
  }

 private:
  const KeyResolver* const real_;
  const int want_;
  const absl::Duration patience_;
  mutable absl::Mutex mu_;
  mutable int inside_ ABSL_GUARDED_BY(mu_) = 0;
  mutable int max_inside_ ABSL_GUARDED_BY(mu_) = 0;
};

// Signed alerts of `origin`, sequences 1..n, each naming the previous id.
std::vector<Envelope> SignFeed(const certs::SigningKey& key, const std::string& origin,
                               int n) {
  std::vector<Envelope> out;
  std::string previous;
  for (int seq = 1; seq <= n; ++seq) {
    Alert a = SampleDraft(seq);
    a.set_origin(origin);
    a.set_sequence(seq);
    a.set_previous(previous);
    a.mutable_issued_at()->set_seconds(1798761600 + seq);
    std::string payload = a.SerializeAsString();
    previous = certs::AlertId(payload);
    out.push_back(certs::SignEnvelope(payload, certs::kAlertPayloadType, key));
  }
  return out;
}

// Every Ingest's verdict, by call index, and the order the callbacks ran in.
class Verdicts {
 public:
  explicit Verdicts(size_t n) : results_(n) {}
  std::function<void(absl::StatusOr<IngestResult>)> For(size_t i) {
    return [this, i](absl::StatusOr<IngestResult> r) {
      absl::MutexLock lock(&mu_);
      ++calls_[i];
      results_[i] = std::move(r);
      order_.push_back(i);
    };
  }
  // Waits until every call has its verdict (at most 60 s).
  bool WaitAll() {
    absl::MutexLock lock(&mu_);
    auto all = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return order_.size() >= results_.size();
    };
    return mu_.AwaitWithTimeout(absl::Condition(&all), absl::Seconds(60));
  }
  const absl::StatusOr<IngestResult>& operator[](size_t i) const { return results_[i]; }
  std::vector<size_t> order() const {
    absl::MutexLock lock(&mu_);
    return order_;
  }
  // Calls answered more than once.
  int repeats() const {
    absl::MutexLock lock(&mu_);
    int n = 0;
    for (const auto& [i, c] : calls_) n += c > 1;
    return n;
  }

 private:
  mutable absl::Mutex mu_;
  std::vector<absl::StatusOr<IngestResult>> results_;
  std::map<size_t, int> calls_ ABSL_GUARDED_BY(mu_);
  std::vector<size_t> order_ ABSL_GUARDED_BY(mu_);
};

class LedgerVerifyPoolTest : public ::testing::Test {
 protected:
  LedgerVerifyPoolTest()
      : key_(certs::SigningKey::Generate()), clock_(absl::FromUnixSeconds(1798761600)) {
    std::map<std::string, certs::PublicKey> keys;
    keys.emplace(kOrigin, key_.public_key());
    for (int i = 0; i < 3; ++i) {
      peers_.push_back(absl::StrCat("peer", i, ".example/n", i));
      peer_keys_.push_back(certs::SigningKey::Generate());
      keys.emplace(peers_.back(), peer_keys_.back().public_key());
    }
    resolver_ = std::make_unique<StaticKeyResolver>(std::move(keys));
    auto store = SqliteAlertStore::Open(dir_.Join("data"), kOrigin);
    EXPECT_TRUE(store.ok()) << store.status();
    store_ = std::move(*store);
  }

  std::unique_ptr<Ledger> OpenLedger(int verify_threads, const KeyResolver* resolver = nullptr,
                                     size_t max_queue = Ledger::Options().max_queue) {
    Ledger::Options options;
    options.verify_threads = verify_threads;
    options.max_queue = max_queue;
    auto ledger = Ledger::Open(store_.get(), &key_, kOrigin,
                               resolver != nullptr ? resolver : resolver_.get(), &clock_,
                               nullptr, options);
    EXPECT_TRUE(ledger.ok()) << ledger.status();
    return ledger.ok() ? std::move(*ledger) : nullptr;
  }

  int64_t AlertCount() { return *store_->LastCursor(); }

  TempDir dir_;
  certs::SigningKey key_;
  std::vector<std::string> peers_;
  std::vector<certs::SigningKey> peer_keys_;
  FakeClock clock_;
  std::unique_ptr<StaticKeyResolver> resolver_;
  std::unique_ptr<SqliteAlertStore> store_;
};

TEST_F(LedgerVerifyPoolTest, IngestsFromOneThreadAreVerifiedConcurrently) {
  const std::vector<Envelope> feed = SignFeed(peer_keys_[0], peers_[0], 2);
  // Two envelopes from this one thread: with two verify threads both are
  // inside the key lookup at once.
  RendezvousResolver rendezvous(resolver_.get(), 2, absl::Seconds(20));
  std::unique_ptr<Ledger> ledger = OpenLedger(2, &rendezvous);
  Verdicts verdicts(feed.size());
  for (size_t i = 0; i < feed.size(); ++i) ledger->Ingest(feed[i], verdicts.For(i));
  ASSERT_TRUE(verdicts.WaitAll());
  EXPECT_EQ(rendezvous.max_inside(), 2);
  for (size_t i = 0; i < feed.size(); ++i) EXPECT_TRUE(verdicts[i].ok()) << verdicts[i].status();
  EXPECT_EQ(AlertCount(), 2);
}

// The control for the test above: one verify thread never has two inside.
TEST_F(LedgerVerifyPoolTest, OneVerifyThreadVerifiesOneAtATime) {
  const std::vector<Envelope> feed = SignFeed(peer_keys_[0], peers_[0], 2);
  RendezvousResolver rendezvous(resolver_.get(), 2, absl::Milliseconds(200));
  std::unique_ptr<Ledger> ledger = OpenLedger(1, &rendezvous);
  Verdicts verdicts(feed.size());
  for (size_t i = 0; i < feed.size(); ++i) ledger->Ingest(feed[i], verdicts.For(i));
  ASSERT_TRUE(verdicts.WaitAll());
  EXPECT_EQ(rendezvous.max_inside(), 1);
  EXPECT_EQ(AlertCount(), 2);
}

TEST_F(LedgerVerifyPoolTest, ForgedEnvelopesAreUnauthenticatedAndStoreNothing) {
  std::unique_ptr<Ledger> ledger = OpenLedger(2);
  constexpr int kValid = 60;
  const std::vector<Envelope> feed = SignFeed(peer_keys_[0], peers_[0], kValid);
  const certs::SigningKey stranger = certs::SigningKey::Generate();
  // After every valid envelope, one forgery of the next position, in turn:
  // signed by a key not the origin's, a signature with one bit flipped, a
  // payload changed after signing, and an origin nobody knows.
  std::vector<Envelope> calls;
  std::vector<bool> forged;
  std::vector<std::string> forged_ids;
  for (int i = 0; i < kValid; ++i) {
    calls.push_back(feed[i]);
    forged.push_back(false);
    if (i + 1 == kValid) break;
    Envelope f;
    switch (i % 4) {
      case 0:
        f = certs::SignEnvelope(feed[i + 1].payload(), certs::kAlertPayloadType, stranger);
        break;
      case 1: {
        f = feed[i + 1];
        std::string sig = f.signatures(0).sig();
        sig[7] ^= 0x10;
        f.mutable_signatures(0)->set_sig(sig);
        break;
      }
      case 2: {
        Alert a;
        ASSERT_TRUE(a.ParseFromString(feed[i + 1].payload()));
        a.set_title(a.title() + " (changed after signing)");
        f = feed[i + 1];
        f.set_payload(a.SerializeAsString());
        break;
      }
      case 3: {
        Alert a;
        ASSERT_TRUE(a.ParseFromString(feed[i + 1].payload()));
        a.set_origin("stranger.example/x1");
        f = certs::SignEnvelope(a.SerializeAsString(), certs::kAlertPayloadType, stranger);
        break;
      }
    }
    // The first two kinds have the valid envelope's payload, so its id: what
    // is stored under it is checked below to carry the origin's signature.
    if (i % 4 >= 2) forged_ids.push_back(certs::AlertId(f.payload()));
    calls.push_back(std::move(f));
    forged.push_back(true);
  }
  Verdicts verdicts(calls.size());
  for (size_t i = 0; i < calls.size(); ++i) ledger->Ingest(calls[i], verdicts.For(i));
  ASSERT_TRUE(verdicts.WaitAll());
  int unauthenticated = 0;
  for (size_t i = 0; i < calls.size(); ++i) {
    if (forged[i]) {
      EXPECT_EQ(verdicts[i].status().code(), absl::StatusCode::kUnauthenticated)
          << "call " << i << ": " << verdicts[i].status();
      ++unauthenticated;
    } else {
      EXPECT_TRUE(verdicts[i].ok()) << "call " << i << ": " << verdicts[i].status();
    }
  }
  EXPECT_EQ(verdicts.repeats(), 0);
  EXPECT_EQ(ledger->metrics()
                .refused_ingest[static_cast<int>(absl::StatusCode::kUnauthenticated)]
                .value(),
            static_cast<uint64_t>(unauthenticated));
  // Exactly the valid feed is stored, and no forgery under any id.
  EXPECT_EQ(AlertCount(), kValid);
  for (const std::string& id : forged_ids) {
    auto got = store_->Get(id);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_FALSE(got->has_value()) << id;
  }
  auto stored = store_->ReadRange(peers_[0], 1, kValid, kValid);
  ASSERT_TRUE(stored.ok()) << stored.status();
  ASSERT_EQ(stored->size(), static_cast<size_t>(kValid));
  for (int i = 0; i < kValid; ++i) {
    EXPECT_EQ((*stored)[i].id, certs::AlertId(feed[i].payload()));
    EXPECT_EQ((*stored)[i].envelope.signatures(0).sig(), feed[i].signatures(0).sig());
  }
  EXPECT_EQ(ledger->Log("stranger.example/x1").size, 0u);
}

TEST_F(LedgerVerifyPoolTest, FeedsKeepTheirOrderAndCallsReachTheWriterInCallOrder) {
  // More verify threads than CPUs, so that verifications finish out of
  // order; any envelope reaching the writer before its predecessor would be
  // refused as a gap.
  std::unique_ptr<Ledger> ledger = OpenLedger(4);
  constexpr int kPerFeed = 300;
  std::vector<std::vector<Envelope>> feeds;
  for (int p = 0; p < 3; ++p) feeds.push_back(SignFeed(peer_keys_[p], peers_[p], kPerFeed));
  std::vector<Envelope> calls;
  std::vector<std::pair<int, int>> position;  // (feed, sequence) of each call
  for (int seq = 1; seq <= kPerFeed; ++seq) {
    for (int p = 0; p < 3; ++p) {
      calls.push_back(feeds[p][seq - 1]);
      position.emplace_back(p, seq);
    }
  }
  Verdicts verdicts(calls.size());
  for (size_t i = 0; i < calls.size(); ++i) ledger->Ingest(calls[i], verdicts.For(i));
  ASSERT_TRUE(verdicts.WaitAll());
  uint64_t last_cursor = 0;
  for (size_t i = 0; i < calls.size(); ++i) {
    ASSERT_TRUE(verdicts[i].ok()) << "call " << i << " (feed " << position[i].first
                                  << ", sequence " << position[i].second
                                  << "): " << verdicts[i].status();
    // Committed in call order.
    EXPECT_GT(verdicts[i]->cursor, last_cursor) << "call " << i;
    last_cursor = verdicts[i]->cursor;
  }
  // The callbacks ran in call order too (the writer answers in queue order).
  const std::vector<size_t> order = verdicts.order();
  ASSERT_EQ(order.size(), calls.size());
  for (size_t i = 0; i < order.size(); ++i) EXPECT_EQ(order[i], i);
  EXPECT_EQ(verdicts.repeats(), 0);
  for (int p = 0; p < 3; ++p) EXPECT_EQ(ledger->Log(peers_[p]).size, uint64_t{kPerFeed});
}

TEST_F(LedgerVerifyPoolTest, ShutdownWithIngestsInFlightCommitsAndAnswersEachOnce) {
  constexpr int kN = 2000;
  const std::vector<Envelope> feed = SignFeed(peer_keys_[0], peers_[0], kN);
  // Each callback owns heap state, so a callback run after the Ledger is
  // gone, twice, or never shows up under ASan/LSan as well as here.
  std::atomic<int> answered{0}, ok{0};
  std::unique_ptr<Ledger> ledger = OpenLedger(2);
  for (int i = 0; i < kN; ++i) {
    ledger->Ingest(feed[i], [&, owned = std::make_shared<int>(i)](
                                absl::StatusOr<IngestResult> r) {
      ok += r.ok() && *owned >= 0;
      ++answered;
    });
  }
  // Most are still being verified: the destructor lets the pool finish,
  // the writer commit them, and only then returns.
  ledger.reset();
  EXPECT_EQ(answered.load(), kN);
  EXPECT_EQ(ok.load(), kN);
  EXPECT_EQ(AlertCount(), kN);
  // The feed is whole: a reopened Ledger continues it.
  ledger = OpenLedger(2);
  std::vector<FeedHead> heads = ledger->Heads();
  ASSERT_EQ(heads.size(), 1u);
  EXPECT_EQ(heads[0].origin, peers_[0]);
  EXPECT_EQ(heads[0].sequence, uint64_t{kN});
  EXPECT_EQ(heads[0].id, certs::AlertId(feed.back().payload()));
}

TEST_F(LedgerVerifyPoolTest, FullVerifyQueueIsResourceExhaustedAndStoresNothingOfIt) {
  // One verify thread and room for 4: one thread submitting 300 overruns it.
  std::unique_ptr<Ledger> ledger = OpenLedger(1, nullptr, 4);
  constexpr int kN = 300;
  const std::vector<Envelope> feed = SignFeed(peer_keys_[0], peers_[0], kN);
  Verdicts verdicts(kN);
  for (int i = 0; i < kN; ++i) ledger->Ingest(feed[i], verdicts.For(i));
  ASSERT_TRUE(verdicts.WaitAll());
  int stored = 0, exhausted = 0;
  for (int i = 0; i < kN; ++i) {
    const absl::StatusCode code = verdicts[i].status().code();
    if (code == absl::StatusCode::kOk) {
      // Only a contiguous prefix: after the first refusal every later
      // sequence is a gap.
      EXPECT_EQ(stored, i);
      ++stored;
    } else {
      EXPECT_TRUE(code == absl::StatusCode::kResourceExhausted ||
                  code == absl::StatusCode::kFailedPrecondition)
          << "call " << i << ": " << verdicts[i].status();
      exhausted += code == absl::StatusCode::kResourceExhausted;
    }
  }
  EXPECT_GT(exhausted, 0);
  EXPECT_EQ(AlertCount(), stored);
  EXPECT_EQ(verdicts.repeats(), 0);
}

TEST_F(LedgerVerifyPoolTest, WithoutThePoolTheCallerVerifiesAndAnswersRefusalsAtOnce) {
  std::unique_ptr<Ledger> ledger = OpenLedger(0);
  const certs::SigningKey stranger = certs::SigningKey::Generate();
  const std::vector<Envelope> forged = SignFeed(stranger, peers_[0], 1);
  bool answered = false;
  ledger->Ingest(forged[0], [&](absl::StatusOr<IngestResult> r) {
    EXPECT_EQ(r.status().code(), absl::StatusCode::kUnauthenticated);
    answered = true;
  });
  EXPECT_TRUE(answered);  // on this thread, before Ingest returned
  EXPECT_EQ(AlertCount(), 0);
  const std::vector<Envelope> feed = SignFeed(peer_keys_[0], peers_[0], 3);
  for (const Envelope& e : feed) EXPECT_TRUE(ledger->IngestSync(e).ok());
  EXPECT_EQ(AlertCount(), 3);
}

}  // namespace
}  // namespace watchfloor::node
