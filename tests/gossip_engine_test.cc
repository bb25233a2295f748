// The gossip engine against misbehaving peers and its own store, in-process:
// real SQLite stores and Ledgers, real gRPC on loopback, the real
// FederationService in front of each engine. A hostile peer is a test that
// calls the engine's handlers as that peer would; a slow peer is a
// Federation server that answers after 10 s.
#include "federation/gossip.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "certs/dsse.h"
#include "certs/ids.h"
#include "federation/federation_service.h"
#include "federation/grpc_transport.h"
#include "federation/link_queue.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "node/key_resolver.h"
#include "node/ledger.h"
#include "node/ledger_feed_store.h"
#include "node/sqlite_alert_store.h"
#include "tests/federation_util.h"
#include "tests/test_util.h"

namespace watchfloor::federation {
namespace {

using node::AlertStore;
using testing::PickFreePort;
using testing::SampleDraft;
using testing::TempDir;
using testing::WaitUntil;
using watchfloor::v1::Alert;
using watchfloor::v1::Envelope;

constexpr char kSelf[] = "a.test/n1";
constexpr char kHostile[] = "h.test/n1";
constexpr char kQuiet[] = "q.test/n1";
// Origins whose alerts peers relay (not peers themselves).
constexpr char kRelayed[] = "c.test/n1";
constexpr char kOther[] = "d.test/n1";

Envelope Signed(const certs::SigningKey& key, const std::string& origin, uint64_t seq,
                const std::string& previous, int variant = 0) {
  Alert a = SampleDraft(variant);
  a.set_origin(origin);
  a.set_sequence(seq);
  a.set_previous(previous);
  a.mutable_issued_at()->set_seconds(1798761600 + static_cast<int64_t>(seq));
  return certs::SignEnvelope(a.SerializeAsString(), certs::kAlertPayloadType, key);
}

// A chain of `n` alerts of `origin`, sequences 1..n.
std::vector<Envelope> Chain(const certs::SigningKey& key, const std::string& origin, int n) {
  std::vector<Envelope> out;
  std::string previous;
  for (int i = 1; i <= n; ++i) {
    out.push_back(Signed(key, origin, static_cast<uint64_t>(i), previous, i));
    previous = certs::AlertId(out.back().payload());
  }
  return out;
}

// The real store, each Append made slower by `delay`: a busy disk, so that
// the Ledger's queue (and the callbacks in it) builds up.
class SlowDiskStore final : public AlertStore {
 public:
  SlowDiskStore(AlertStore* real, absl::Duration delay) : real_(real), delay_(delay) {}
  using AlertStore::Append;
  absl::StatusOr<std::vector<uint64_t>> Append(const node::WriteSet& w,
                                               std::vector<node::Mark>* marks) override {
    absl::SleepFor(delay_);
    return real_->Append(w, marks);
  }
  absl::StatusOr<std::optional<std::string>> GetLogNode(const std::string& o, int level,
                                                        uint64_t index) override {
    return real_->GetLogNode(o, level, index);
  }
  absl::StatusOr<std::vector<std::string>> ReadIds(const std::string& o, uint64_t from,
                                                   uint64_t to) override {
    return real_->ReadIds(o, from, to);
  }
  absl::StatusOr<std::vector<node::StoredCheckpoint>> Checkpoints(const std::string& o,
                                                                  size_t limit) override {
    return real_->Checkpoints(o, limit);
  }
  absl::StatusOr<std::vector<std::string>> CheckpointOrigins() override {
    return real_->CheckpointOrigins();
  }
  absl::StatusOr<std::optional<node::StoredAlert>> Get(const std::string& id) override {
    return real_->Get(id);
  }
  absl::StatusOr<std::optional<node::StoredAlert>> GetBySequence(const std::string& o,
                                                                 uint64_t seq) override {
    return real_->GetBySequence(o, seq);
  }
  absl::StatusOr<std::vector<node::StoredAlert>> ReadAfter(uint64_t after,
                                                           size_t limit) override {
    return real_->ReadAfter(after, limit);
  }
  absl::StatusOr<std::vector<node::StoredAlert>> ReadRange(const std::string& o,
                                                           uint64_t from, uint64_t to,
                                                           size_t limit) override {
    return real_->ReadRange(o, from, to, limit);
  }
  absl::StatusOr<std::vector<node::FeedHead>> LoadHeads() override {
    return real_->LoadHeads();
  }
  absl::StatusOr<std::vector<node::Evidence>> ListEvidence() override {
    return real_->ListEvidence();
  }
  absl::StatusOr<std::vector<node::Cosignature>> Cosignatures(const std::string& id) override {
    return real_->Cosignatures(id);
  }
  absl::StatusOr<std::vector<node::Cosignature>> ReadCosignaturesAfter(uint64_t after,
                                                                      size_t limit) override {
    return real_->ReadCosignaturesAfter(after, limit);
  }
  absl::StatusOr<uint64_t> LastCosignaturePosition() override {
    return real_->LastCosignaturePosition();
  }
  absl::StatusOr<uint64_t> LastCursor() override { return real_->LastCursor(); }
  absl::StatusOr<std::vector<node::Mark>> ReadMarksAfter(uint64_t after, size_t limit) override {
    return real_->ReadMarksAfter(after, limit);
  }
  absl::StatusOr<uint64_t> LastMarkCursor() override { return real_->LastMarkCursor(); }
  absl::StatusOr<std::optional<uint64_t>> FirstCursorSince(int64_t ms) override {
    return real_->FirstCursorSince(ms);
  }

 private:
  AlertStore* const real_;
  const absl::Duration delay_;
};

// The real feed store; counts the `stored` callbacks the engine handed to
// Offer that still exist, among those handed over before `mark` was set.
class CallbackCountingFeedStore final : public FeedStore {
 public:
  explicit CallbackCountingFeedStore(FeedStore* real) : real_(real) {}

  std::vector<FrontierEntry> Frontier() override { return real_->Frontier(); }
  absl::StatusOr<std::vector<Envelope>> ReadRange(const std::string& origin, uint64_t from,
                                                  uint64_t to, size_t limit) override {
    return real_->ReadRange(origin, from, to, limit);
  }
  absl::StatusOr<std::optional<Envelope>> Get(const std::string& id) override {
    return real_->Get(id);
  }
  bool Has(const std::string& id) override { return real_->Has(id); }
  absl::Status Offer(Envelope envelope, std::function<void(absl::Status)> stored) override {
    // The engine's guard inside `stored` lets Stop() return, so the token
    // must be gone before `stored` is: members are destroyed in reverse
    // order of declaration (a lambda's captures have no defined order).
    struct Call {
      std::function<void(absl::Status)> stored;
      std::shared_ptr<Token> token;
    };
    auto call = std::make_shared<Call>();
    call->stored = std::move(stored);
    if (!mark.load()) call->token = std::make_shared<Token>(&live);
    return real_->Offer(std::move(envelope), [call](absl::Status st) { call->stored(st); });
  }
  absl::StatusOr<std::vector<EvidencePair>> EvidenceFor(const std::string& origin) override {
    return real_->EvidenceFor(origin);
  }
  std::vector<absl::StatusOr<bool>> OfferCheckpoints(
      const std::vector<std::string>& notes) override {
    return real_->OfferCheckpoints(notes);
  }
  absl::Status OfferSplitView(const std::string& a, const std::string& b) override {
    return real_->OfferSplitView(a, b);
  }
  std::vector<absl::StatusOr<bool>> OfferCosignatures(
      const std::vector<CosignatureOffer>& offers) override {
    return real_->OfferCosignatures(offers);
  }
  absl::StatusOr<std::vector<CosignatureOffer>> ReadCosignaturesAfter(uint64_t after,
                                                                      size_t limit) override {
    return real_->ReadCosignaturesAfter(after, limit);
  }
  uint64_t CosignaturePosition() override { return real_->CosignaturePosition(); }

  std::atomic<bool> mark{false};
  std::atomic<int> live{0};

 private:
  struct Token {
    explicit Token(std::atomic<int>* n) : n(n) { ++*n; }
    ~Token() { --*n; }
    std::atomic<int>* n;
  };
  FeedStore* const real_;
};

// One node's storage side, all real: SQLite file, Ledger, LedgerFeedStore.
// `delay` slows every commit (SlowDiskStore).
struct NodeStorage {
  NodeStorage(const std::string& origin, std::map<std::string, certs::PublicKey> keys,
              const certs::SigningKey* key, absl::Duration delay = absl::ZeroDuration())
      : clock(absl::FromUnixSeconds(1798761600)), resolver(std::move(keys)) {
    auto opened = node::SqliteAlertStore::Open(dir.Join("data"), origin);
    EXPECT_TRUE(opened.ok()) << opened.status();
    sqlite = std::move(*opened);
    slow = std::make_unique<SlowDiskStore>(sqlite.get(), delay);
    auto ledger_or = node::Ledger::Open(slow.get(), key, origin, &resolver, &clock, nullptr);
    EXPECT_TRUE(ledger_or.ok()) << ledger_or.status();
    ledger = std::move(*ledger_or);
    feed = std::make_unique<node::LedgerFeedStore>(ledger.get(), sqlite.get());
  }

  TempDir dir;
  node::FakeClock clock;
  node::StaticKeyResolver resolver;
  std::unique_ptr<node::SqliteAlertStore> sqlite;
  std::unique_ptr<SlowDiskStore> slow;
  std::unique_ptr<node::Ledger> ledger;
  std::unique_ptr<node::LedgerFeedStore> feed;
};

ChannelFactory InsecureChannels() {
  return [](const Peer& peer) {
    return grpc::CreateChannel(peer.endpoint, grpc::InsecureChannelCredentials());
  };
}

// An address where nothing listens: every call fails at once.
std::string DeadAddress() { return absl::StrCat("127.0.0.1:", PickFreePort()); }

class GossipEngineTest : public ::testing::Test {
 protected:
  GossipEngineTest()
      : self_key_(certs::SigningKey::Generate()),
        hostile_key_(certs::SigningKey::Generate()),
        quiet_key_(certs::SigningKey::Generate()),
        relayed_key_(certs::SigningKey::Generate()),
        other_key_(certs::SigningKey::Generate()) {}

  std::map<std::string, certs::PublicKey> Keys() {
    std::map<std::string, certs::PublicKey> keys;
    keys.emplace(kSelf, self_key_.public_key());
    keys.emplace(kHostile, hostile_key_.public_key());
    keys.emplace(kQuiet, quiet_key_.public_key());
    keys.emplace(kRelayed, relayed_key_.public_key());
    keys.emplace(kOther, other_key_.public_key());
    return keys;
  }

  certs::SigningKey self_key_, hostile_key_, quiet_key_, relayed_key_, other_key_;
};

// A peer keeps its own link in backoff (nothing this node queues for it
// drains) and calls ExchangeFrontier again and again, each time telling this
// node it has not seen a fork this node holds evidence of; and it pushes a
// flood of valid alerts that this node relays to another unreachable peer.
// What the node queues for either peer stays within the byte budget, and
// the evidence is queued once.
TEST_F(GossipEngineTest, AHostilePeerCannotGrowQueuedBytesPastTheLinkBudget) {
  NodeStorage storage(kSelf, Keys(), &self_key_);
  // A fork of kRelayed: evidence stored, the feed frozen.
  ASSERT_TRUE(storage.ledger->IngestSync(Signed(relayed_key_, kRelayed, 1, "", 1)).ok());
  ASSERT_EQ(storage.ledger->IngestSync(Signed(relayed_key_, kRelayed, 1, "", 2)).status().code(),
            absl::StatusCode::kDataLoss);
  absl::StatusOr<std::vector<EvidencePair>> evidence = storage.feed->EvidenceFor(kRelayed);
  ASSERT_TRUE(evidence.ok());
  ASSERT_EQ(evidence->size(), 1u);

  Gossip::Options options;
  options.eager_fanout = 2;
  options.max_link_bytes = 64 << 10;
  options.min_backoff = absl::Seconds(60);
  options.max_backoff = absl::Seconds(60);
  options.seed = 1;
  Gossip gossip(kSelf, storage.feed.get(),
                {{kHostile, DeadAddress()}, {kQuiet, DeadAddress()}}, InsecureChannels(),
                options);
  gossip.Start();

  // The first evidence send fails: the hostile peer's link is in backoff.
  watchfloor::v1::FrontierMessage unaware;
  gossip.HandleFrontier(kHostile, unaware);
  ASSERT_TRUE(WaitUntil([&] { return !gossip.stats().peers[kHostile].reachable; },
                        absl::Seconds(10)));
  for (int i = 0; i < 1000; ++i) gossip.HandleFrontier(kHostile, unaware);
  EXPECT_EQ(gossip.stats().peers[kHostile].queued_bytes,
            LinkQueue::CostOf(evidence->front()));

  // 400 valid alerts of a feed this node did not know, pushed by the
  // hostile peer, are each relayed to the quiet peer (in backoff after its
  // first failed push).
  std::vector<Envelope> flood = Chain(other_key_, kOther, 400);
  size_t flood_bytes = 0;
  for (const Envelope& e : flood) flood_bytes += e.ByteSizeLong();
  ASSERT_GT(flood_bytes, size_t{2} * options.max_link_bytes);
  for (size_t i = 0; i < flood.size(); i += 50) {
    watchfloor::v1::PushRequest req;
    for (size_t j = i; j < i + 50; ++j) *req.add_envelopes() = flood[j];
    watchfloor::v1::PushResponse resp = gossip.HandlePush(kHostile, req);
    ASSERT_EQ(resp.verdicts_size(), 50);
    for (int v : resp.verdicts()) EXPECT_EQ(v, watchfloor::v1::PUSH_VERDICT_NEW);
    Gossip::PeerStats h = gossip.stats().peers[kHostile];
    Gossip::PeerStats q = gossip.stats().peers[kQuiet];
    EXPECT_LE(h.queued_bytes, options.max_link_bytes);
    EXPECT_LE(q.queued_bytes, options.max_link_bytes);
  }
  // Everything was stored here all the same: the budget bounds what is
  // relayed, not what is accepted.
  ASSERT_TRUE(WaitUntil(
      [&] {
        for (const FrontierEntry& e : storage.feed->Frontier()) {
          if (e.origin == kOther) return e.sequence == 400;
        }
        return false;
      },
      absl::Seconds(20)));
  Gossip::PeerStats q = gossip.stats().peers[kQuiet];
  EXPECT_LE(q.queued_bytes, options.max_link_bytes);
  EXPECT_GT(q.queued_bytes, options.max_link_bytes / 2);
  EXPECT_GT(q.dropped, 0u);
  EXPECT_EQ(gossip.stats().received_new, 400u);
  gossip.Stop();
}

// Pushes arrive out of order from several threads (each a gap until its
// predecessor is stored, so each callback parks its envelope), the disk is
// slow so callbacks pile up in the Ledger's queue, and the engine is
// stopped in the middle of it. Stop() returns only once no callback that
// uses the engine remains, so the engine can go while the Ledger drains.
// (Run under ASan, a callback outliving the engine is a use after free.)
TEST_F(GossipEngineTest, StopDuringAPushStormWaitsForEveryStoreCallback) {
  NodeStorage storage(kSelf, Keys(), &self_key_, absl::Milliseconds(20));
  CallbackCountingFeedStore counting(storage.feed.get());
  Gossip::Options options;
  options.min_backoff = absl::Seconds(60);
  options.max_backoff = absl::Seconds(60);
  auto gossip = std::make_unique<Gossip>(kSelf, &counting,
                                         std::vector<Peer>{{kHostile, DeadAddress()},
                                                           {kQuiet, DeadAddress()}},
                                         InsecureChannels(), options);
  gossip->Start();
  std::vector<Envelope> chain = Chain(relayed_key_, kRelayed, 600);
  std::atomic<bool> storming{true};
  std::vector<std::thread> pushers;
  for (int t = 0; t < 4; ++t) {
    pushers.emplace_back([&, t] {
      // Newest first, each thread its own quarter: mostly gaps.
      for (int i = 599 - t; i >= 0 && storming.load(); i -= 4) {
        watchfloor::v1::PushRequest req;
        *req.add_envelopes() = chain[i];
        gossip->HandlePush(t % 2 == 0 ? kHostile : kQuiet, req);
      }
    });
  }
  ASSERT_TRUE(WaitUntil([&] { return counting.live.load() >= 50; }, absl::Seconds(10)));
  counting.mark = true;
  const absl::Time begin = absl::Now();
  gossip->Stop();
  const absl::Duration took = absl::Now() - begin;
  EXPECT_EQ(counting.live.load(), 0);
  storming = false;
  for (std::thread& t : pushers) t.join();
  gossip.reset();
  storage.ledger.reset();  // drains the rest: callbacks made after Stop
  EXPECT_LT(took, absl::Seconds(30));
}

// A Federation peer that answers every call after 10 s (or when the test
// ends): a node across a congested link.
class SlowPeer final : public watchfloor::v1::Federation::Service {
 public:
  ~SlowPeer() override { Release(); }
  void Release() {
    if (!released_.HasBeenNotified()) released_.Notify();
  }
  int calls() const { return calls_.load(); }
  int active() const { return active_.load(); }

  grpc::Status ExchangeFrontier(grpc::ServerContext*, const watchfloor::v1::FrontierMessage*,
                                watchfloor::v1::FrontierMessage*) override {
    return Stall();
  }
  grpc::Status Push(grpc::ServerContext*, const watchfloor::v1::PushRequest*,
                    watchfloor::v1::PushResponse*) override {
    return Stall();
  }
  grpc::Status IHave(grpc::ServerContext*, const watchfloor::v1::IHaveRequest*,
                     watchfloor::v1::IHaveResponse*) override {
    return Stall();
  }
  grpc::Status PullRange(grpc::ServerContext*, const watchfloor::v1::PullRangeRequest*,
                         watchfloor::v1::PullRangeResponse*) override {
    return Stall();
  }

 private:
  grpc::Status Stall() {
    ++calls_;
    ++active_;
    released_.WaitForNotificationWithTimeout(absl::Seconds(10));
    --active_;
    return grpc::Status::OK;
  }
  absl::Notification released_;
  std::atomic<int> calls_{0};
  std::atomic<int> active_{0};
};

std::unique_ptr<grpc::Server> Serve(grpc::Service* service, int port) {
  grpc::ServerBuilder builder;
  builder.AddListeningPort(absl::StrCat("127.0.0.1:", port),
                           grpc::InsecureServerCredentials());
  builder.RegisterService(service);
  return builder.BuildAndStart();
}

// A serves B, B serves A (each on a port of its own, so the port tells who
// calls: the FederationService authenticates by it), and both have a third
// peer S that answers after 10 s. A holds alerts B lacks, which only
// anti-entropy brings (nothing is pushed). B still gets them on time, and
// both engines stop within a second though calls to S are in flight.
TEST_F(GossipEngineTest, ASlowPeerDelaysNeitherTheOtherPeersNorStop) {
  constexpr char kB[] = "b.test/n1";
  constexpr char kSlow[] = "s.test/n1";
  const certs::SigningKey b_key = certs::SigningKey::Generate();
  auto keys = Keys();
  keys.emplace(kB, b_key.public_key());
  NodeStorage a(kSelf, keys, &self_key_);
  NodeStorage b(kB, keys, &b_key);
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(a.ledger->PublishSync(SampleDraft(i)).ok());

  const int a_for_b = PickFreePort(), b_for_a = PickFreePort(), slow_port = PickFreePort();
  const std::string slow_address = absl::StrCat("127.0.0.1:", slow_port);
  Gossip::Options options;
  options.anti_entropy_interval = absl::Milliseconds(100);
  options.frontier_grace = absl::Milliseconds(100);
  options.seed = 7;
  Gossip ga(kSelf, a.feed.get(),
            {{kB, absl::StrCat("127.0.0.1:", b_for_a)}, {kSlow, slow_address}},
            InsecureChannels(), options);
  Gossip gb(kB, b.feed.get(),
            {{kSelf, absl::StrCat("127.0.0.1:", a_for_b)}, {kSlow, slow_address}},
            InsecureChannels(), options);
  auto as = [](std::string who) {
    return [who](const grpc::ServerContext&) -> absl::StatusOr<std::string> { return who; };
  };
  FederationService a_serves_b(&ga, as(kB));
  FederationService b_serves_a(&gb, as(kSelf));
  SlowPeer slow;
  std::unique_ptr<grpc::Server> sa = Serve(&a_serves_b, a_for_b);
  std::unique_ptr<grpc::Server> sb = Serve(&b_serves_a, b_for_a);
  std::unique_ptr<grpc::Server> ss = Serve(&slow, slow_port);
  ASSERT_NE(sa, nullptr);
  ASSERT_NE(sb, nullptr);
  ASSERT_NE(ss, nullptr);

  const absl::Time begin = absl::Now();
  ga.Start();
  gb.Start();
  auto b_has_all = [&] {
    for (const FrontierEntry& e : b.feed->Frontier()) {
      if (e.origin == kSelf) return e.sequence == 20;
    }
    return false;
  };
  // Each 100 ms round picks S half the time, and a round with S takes the
  // rpc timeout (5 s): run in turn, a few of them would take far longer.
  EXPECT_TRUE(WaitUntil(b_has_all, absl::Seconds(4)));
  const absl::Duration converged = absl::Now() - begin;
  ASSERT_TRUE(WaitUntil([&] { return slow.active() > 0; }, absl::Seconds(5)));

  const absl::Time stop = absl::Now();
  ga.Stop();
  gb.Stop();
  const absl::Duration stopping = absl::Now() - stop;
  EXPECT_LT(stopping, absl::Seconds(1));
  EXPECT_GT(slow.calls(), 0);
  slow.Release();
  ss->Shutdown();
  sa->Shutdown();
  sb->Shutdown();
  std::printf("converged in %s, stopped in %s, %d calls to the slow peer\n",
              absl::FormatDuration(converged).c_str(), absl::FormatDuration(stopping).c_str(),
              slow.calls());
}

// A Federation peer that takes every push and records the order in which
// alerts reached it.
class RecordingPeer final : public watchfloor::v1::Federation::Service {
 public:
  grpc::Status Push(grpc::ServerContext*, const watchfloor::v1::PushRequest* req,
                    watchfloor::v1::PushResponse* resp) override {
    absl::MutexLock lock(&mu_);
    for (const Envelope& e : req->envelopes()) {
      Alert a;
      a.ParseFromString(e.payload());
      sequences_.push_back(a.sequence());
      resp->add_verdicts(watchfloor::v1::PUSH_VERDICT_NEW);
    }
    return grpc::Status::OK;
  }
  grpc::Status IHave(grpc::ServerContext*, const watchfloor::v1::IHaveRequest*,
                     watchfloor::v1::IHaveResponse*) override {
    return grpc::Status::OK;
  }
  grpc::Status ExchangeFrontier(grpc::ServerContext*, const watchfloor::v1::FrontierMessage*,
                                watchfloor::v1::FrontierMessage*) override {
    return grpc::Status::OK;
  }
  std::vector<uint64_t> sequences() {
    absl::MutexLock lock(&mu_);
    return sequences_;
  }

 private:
  absl::Mutex mu_;
  std::vector<uint64_t> sequences_ ABSL_GUARDED_BY(mu_);
};

// Two peers push one feed at once from four threads, so its alerts reach
// this node interleaved and partly before their predecessors. Verified
// without a lock held, they are still forwarded to a third peer exactly in
// sequence order, each once: forwarding follows the store's commit order.
TEST_F(GossipEngineTest, ForwardingFollowsTheStoresCommitOrder) {
  NodeStorage storage(kSelf, Keys(), &self_key_);
  RecordingPeer recorder;
  const int port = PickFreePort();
  std::unique_ptr<grpc::Server> server = Serve(&recorder, port);
  ASSERT_NE(server, nullptr);
  Gossip::Options options;
  options.eager_fanout = 3;
  options.min_backoff = absl::Seconds(60);
  options.max_backoff = absl::Seconds(60);
  options.frontier_grace = absl::Seconds(5);  // park, do not sync
  Gossip gossip(kSelf, storage.feed.get(),
                {{kHostile, DeadAddress()},
                 {kQuiet, DeadAddress()},
                 {"r.test/n1", absl::StrCat("127.0.0.1:", port)}},
                InsecureChannels(), options);
  gossip.Start();
  constexpr int kN = 300;
  std::vector<Envelope> chain = Chain(other_key_, kOther, kN);
  std::vector<std::thread> pushers;
  for (int t = 0; t < 4; ++t) {
    pushers.emplace_back([&, t] {
      // Threads 0 and 1 push from the start, 2 and 3 from the middle: the
      // second half arrives before the first is stored.
      const int from = t < 2 ? 0 : kN / 2;
      for (int i = from; i < kN; i += 10) {
        watchfloor::v1::PushRequest req;
        for (int j = i; j < i + 10 && j < kN; ++j) *req.add_envelopes() = chain[j];
        gossip.HandlePush(t % 2 == 0 ? kHostile : kQuiet, req);
      }
    });
  }
  for (std::thread& t : pushers) t.join();
  ASSERT_TRUE(WaitUntil([&] { return recorder.sequences().size() >= kN; },
                        absl::Seconds(20)));
  absl::SleepFor(absl::Milliseconds(200));  // nothing more comes
  std::vector<uint64_t> expected(kN);
  for (int i = 0; i < kN; ++i) expected[i] = static_cast<uint64_t>(i + 1);
  EXPECT_EQ(recorder.sequences(), expected);
  gossip.Stop();
  server->Shutdown();
}


// The production transport's statuses, which the engine's backoff and
// Stop() rely on: an unreachable peer fails UNAVAILABLE; a call cancelled
// before it starts fails at once; a peer that accepts the connection and
// never answers ends at the deadline, or at once when cancelled mid-call.
class GrpcTransportTest : public ::testing::Test {
 protected:
  // A socket that listens and never accepts: the kernel completes the TCP
  // handshake, and nothing ever speaks HTTP/2 on it.
  GrpcTransportTest() : silent_fd_(socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    EXPECT_EQ(bind(silent_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    EXPECT_EQ(listen(silent_fd_, 16), 0);
    socklen_t len = sizeof(addr);
    EXPECT_EQ(getsockname(silent_fd_, reinterpret_cast<sockaddr*>(&addr), &len), 0);
    silent_ = absl::StrCat("127.0.0.1:", ntohs(addr.sin_port));
  }
  ~GrpcTransportTest() override { close(silent_fd_); }

  std::unique_ptr<PeerChannel> Connect(const std::string& endpoint) {
    return transport_->Connect(Peer{"peer.test/n1", endpoint, ""});
  }

  const int silent_fd_;
  std::string silent_;
  const std::unique_ptr<Transport> transport_ = MakeGrpcTransport(InsecureChannels());
};

TEST_F(GrpcTransportTest, UnreachablePeerIsUnavailable) {
  std::unique_ptr<PeerChannel> channel = Connect(DeadAddress());
  std::unique_ptr<PeerChannel::Call> call = channel->NewCall(absl::Seconds(5));
  watchfloor::v1::PushResponse resp;
  EXPECT_EQ(channel->Push(call.get(), watchfloor::v1::PushRequest(), &resp).code(),
            absl::StatusCode::kUnavailable);
}

TEST_F(GrpcTransportTest, CallCancelledBeforeItStartsFailsAtOnce) {
  std::unique_ptr<PeerChannel> channel = Connect(silent_);
  std::unique_ptr<PeerChannel::Call> call = channel->NewCall(absl::Seconds(30));
  call->Cancel();
  const absl::Time start = absl::Now();
  watchfloor::v1::FrontierMessage resp;
  EXPECT_EQ(channel->ExchangeFrontier(call.get(), watchfloor::v1::FrontierMessage(), &resp).code(),
            absl::StatusCode::kCancelled);
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
}

TEST_F(GrpcTransportTest, SilentPeerEndsAtTheDeadline) {
  std::unique_ptr<PeerChannel> channel = Connect(silent_);
  std::unique_ptr<PeerChannel::Call> call = channel->NewCall(absl::Milliseconds(300));
  watchfloor::v1::IHaveResponse resp;
  EXPECT_EQ(channel->IHave(call.get(), watchfloor::v1::IHaveRequest(), &resp).code(),
            absl::StatusCode::kDeadlineExceeded);
}

TEST_F(GrpcTransportTest, CancelEndsACallInProgressFromAnotherThread) {
  std::unique_ptr<PeerChannel> channel = Connect(silent_);
  std::unique_ptr<PeerChannel::Call> call = channel->NewCall(absl::Seconds(60));
  absl::Status st;
  absl::Notification done;
  std::thread caller([&] {
    watchfloor::v1::PullRangeResponse resp;
    st = channel->PullRange(call.get(), watchfloor::v1::PullRangeRequest(), &resp);
    done.Notify();
  });
  // The call is waiting on a peer that never answers.
  EXPECT_FALSE(done.WaitForNotificationWithTimeout(absl::Milliseconds(300)));
  call->Cancel();
  EXPECT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  caller.join();
  EXPECT_EQ(st.code(), absl::StatusCode::kCancelled);
}

}  // namespace
}  // namespace watchfloor::federation
