// The real gossip engine, 24 of them in one process, over the in-process
// network (tests/sim/in_process_network.h): delivery and its cost,
// partitions, a node restarted with an empty store, lossy links. Each node
// is all real but the network: a SQLite file, a Ledger verifying every
// envelope's Ed25519 signature against a signed roster, the LedgerFeedStore
// gossip ingests through, and a Gossip engine with its threads. Loopback
// processes stop at about 5 nodes on 2 CPUs (tests/federation_test.cc);
// without TLS and sockets 24 fit.
//
// InProcessNetworkTest checks the network itself against real engines:
// reachability, partitions, the callee's peer check, deadlines and
// cancellation, lost requests and answers, and Detach.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "certs/keys.h"
#include "certs/roster.h"
#include "federation/gossip.h"
#include "gtest/gtest.h"
#include "node/clock.h"
#include "node/ledger.h"
#include "node/ledger_feed_store.h"
#include "node/roster_key_resolver.h"
#include "node/sqlite_alert_store.h"
#include "tests/roster_fixtures.h"
#include "tests/sim/in_process_network.h"
#include "tests/sim/sim_node.h"
#include "tests/test_util.h"

namespace watchfloor::testing {
namespace {

namespace v1 = ::watchfloor::v1;
using federation::FrontierEntry;
using federation::Gossip;
using federation::Peer;
using node::FakeClock;
using node::Ledger;
using node::LedgerFeedStore;
using node::RosterKeyResolver;
using node::SqliteAlertStore;

// Four members (a.cz .. d.cz of the roster fixtures), six nodes each.
constexpr int kNodesPerMember = 6;
constexpr int kNodes = SimLayout::kMembers * kNodesPerMember;
// The nodes that publish: one per member.
const std::vector<int> kPublishers = {0, 6, 12, 18};
// Generous: on a quiet machine every wait below ends within a few seconds.
constexpr absl::Duration kConverge = absl::Seconds(60);

const SimLayout& Layout() {
  static const SimLayout* layout = new SimLayout(kNodesPerMember, "gossip-sim-node");
  return *layout;
}
std::string OriginOf(int i) { return Layout().OriginOf(i); }

class GossipSimTest : public ::testing::Test {
 protected:
  GossipSimTest() : net_(20261203) {
    // Anti-entropy every 200 ms (default 2 s) so repairs show within a test;
    // backoff capped at 1 s so a peer that comes back is called again soon.
    options_.anti_entropy_interval = absl::Milliseconds(200);
    options_.max_backoff = absl::Seconds(1);
  }
  ~GossipSimTest() override {
    // Every engine stops before any is detached or destroyed: none calls a
    // peer that is going away.
    for (auto& n : nodes_) {
      if (n != nullptr && n->gossip != nullptr) n->gossip->Stop();
    }
    nodes_.clear();
  }

  void StartAll() {
    std::vector<int> all = All();
    Start(all);
  }
  void Start(const std::vector<int>& which) {
    nodes_.resize(kNodes);
    for (int i : which) nodes_[i] = std::make_unique<SimNode>(Layout(), i, &net_, options_);
  }

  // Publishes one alert at node i as a client would (stored by its Ledger),
  // and hands it to gossip as the node's service does.
  void Publish(int i, int variant) {
    absl::StatusOr<node::PublishResult> r = nodes_[i]->ledger->PublishSync(SampleDraft(variant));
    ASSERT_TRUE(r.ok()) << OriginOf(i) << ": " << r.status();
    nodes_[i]->gossip->Broadcast(r->envelope);
    ++expected_[OriginOf(i)];
    ++published_;
  }

  // `count` alerts from `publishers` in turn, one every `gap`.
  void PublishFrom(const std::vector<int>& publishers, int count,
                   absl::Duration gap = absl::Milliseconds(20)) {
    for (int k = 0; k < count; ++k) {
      Publish(publishers[k % publishers.size()], variant_++);
      if (HasFatalFailure()) return;
      absl::SleepFor(gap);
    }
  }

  // True once every node of `nodes` holds exactly the feeds in `expected`.
  bool Converged(const std::vector<int>& nodes, const std::map<std::string, uint64_t>& expected) {
    for (int i : nodes) {
      if (nodes_[i]->Heads() != expected) return false;
    }
    return true;
  }
  std::vector<int> All() const {
    std::vector<int> out(kNodes);
    for (int i = 0; i < kNodes; ++i) out[i] = i;
    return out;
  }
  // Waits for `nodes` to hold exactly `expected`; on timeout, says who
  // lacks what.
  ::testing::AssertionResult WaitConverged(const std::vector<int>& nodes,
                                           const std::map<std::string, uint64_t>& expected) {
    if (WaitFor([&] { return Converged(nodes, expected); }, kConverge)) {
      return ::testing::AssertionSuccess();
    }
    ::testing::AssertionResult out = ::testing::AssertionFailure();
    for (int i : nodes) {
      const std::map<std::string, uint64_t> heads = nodes_[i]->Heads();
      if (heads == expected) continue;
      out << OriginOf(i) << " holds";
      for (const auto& [o, s] : heads) out << " " << o << "@" << s;
      out << "; ";
    }
    out << "expected";
    for (const auto& [o, s] : expected) out << " " << o << "@" << s;
    return out;
  }

  struct Totals {
    uint64_t received_new = 0, received_dup = 0, pulled = 0, refused = 0;
  };
  Totals Sum() {
    Totals t;
    for (auto& n : nodes_) {
      if (n == nullptr || n->gossip == nullptr) continue;
      const Gossip::Stats s = n->gossip->stats();
      t.received_new += s.received_new;
      t.received_dup += s.received_dup;
      t.refused += s.refused;
      for (const auto& [peer, p] : s.peers) t.pulled += p.pulled;
    }
    return t;
  }
  // Until no copy has arrived anywhere for 600 ms (at most 10 s).
  void WaitQuiet() {
    testing::WaitQuiet([&] {
      Totals t = Sum();
      return t.received_new + t.received_dup + t.pulled + t.refused;
    });
  }

  // Every node holds exactly every published alert.
  void ExpectAllDelivered() {
    for (int i = 0; i < kNodes; ++i) {
      EXPECT_EQ(nodes_[i]->Heads(), expected_) << OriginOf(i);
      EXPECT_EQ(nodes_[i]->Stored(), published_) << OriginOf(i);
    }
    EXPECT_EQ(Sum().refused, 0u);
  }

  InProcessNetwork net_;
  Gossip::Options options_;
  std::vector<std::unique_ptr<SimNode>> nodes_;
  std::map<std::string, uint64_t> expected_;  // origin -> alerts published
  int64_t published_ = 0;
  int variant_ = 0;
};

// Bytes on the network per node per alert, in all and by rpc method.
void PrintTraffic(const InProcessNetwork::Stats& before, const InProcessNetwork::Stats& after,
                  int alerts) {
  const double per = 1.0 / (static_cast<double>(alerts) * kNodes);
  uint64_t total = 0;
  std::string by_method;
  for (const auto& [method, t] : after.methods) {
    auto it = before.methods.find(method);
    const uint64_t bytes = t.bytes - (it == before.methods.end() ? 0 : it->second.bytes);
    const uint64_t calls = t.calls - (it == before.methods.end() ? 0 : it->second.calls);
    total += bytes;
    absl::StrAppend(&by_method, " ", method, " ", static_cast<uint64_t>(bytes * per), " B (", calls,
                    " calls)");
  }
  std::printf("%.0f bytes per node per alert:%s\n", total * per, by_method.c_str());
}

// Every alert reaches every node over links of 1-5 ms, and the tree Plumtree
// builds carries each alert to each node once. Four origins publish in
// turn; duplicates are counted after a warm-up in which the first copies
// prune the redundant eager links.
//
// The bound is the issue's 0.5 (as tests/federation_test.cc holds for 5
// loopback processes). As in federation_test, the timers that decide that a
// push is late are set where the machine's latency does not reach them (a
// 5 s graft timeout, a frontier grace of twice that, anti-entropy every
// 2 s), so what is
// held is the overlay's own duplication. Measured: 0.000 in 5 runs of 8 at
// load average 11-32 from other jobs (every one of the 120 x 23 copies
// pushed once, none pulled), 0.001, 0.026 and 0.083 in the other three; 0.15 and
// 0.41 with two copies of this test at once (load average 46, pushes
// lagging 5-8 s). With the default 150 ms graft timeout and 500 ms grace,
// pushes lag past the timers even at load average 10-18: grafts and pulls
// overtake them, and each overtaken push is a duplicate that prunes a tree
// link (0.03-1.3 per node per alert; docs/FEDERATION.md "The in-process
// network").
TEST_F(GossipSimTest, EveryAlertReachesEveryNodeOnceAfterWarmUp) {
  net_.SetDefaultLink({absl::Milliseconds(1), absl::Milliseconds(4), 0});
  options_.graft_timeout = absl::Seconds(5);
  options_.frontier_grace = absl::Seconds(5);
  options_.anti_entropy_interval = absl::Seconds(2);
  StartAll();
  // An alert every 50 ms in all: a steady stream that leaves the engines
  // CPU to spare (at 20 ms and load average 30, pushes lagged past 5 s).
  constexpr absl::Duration kGap = absl::Milliseconds(50);
  PublishFrom(kPublishers, 40, kGap);
  ASSERT_TRUE(WaitConverged(All(), expected_));
  WaitQuiet();
  const Totals before = Sum();
  std::vector<Gossip::Stats> node_before;
  for (auto& n : nodes_) node_before.push_back(n->gossip->stats());
  const InProcessNetwork::Stats net_before = net_.stats();

  constexpr int kMeasured = 120;
  PublishFrom(kPublishers, kMeasured, kGap);
  const absl::Time last = absl::Now();
  ASSERT_TRUE(WaitConverged(All(), expected_));
  const absl::Duration took = absl::Now() - last;
  WaitQuiet();
  const Totals after = Sum();
  ExpectAllDelivered();

  double worst = 0;
  std::string worst_node;
  for (int i = 0; i < kNodes; ++i) {
    const double d =
        static_cast<double>(nodes_[i]->gossip->stats().received_dup - node_before[i].received_dup) /
        kMeasured;
    if (d > worst || worst_node.empty()) {
      worst = d;
      worst_node = OriginOf(i);
    }
  }
  const double dup =
      static_cast<double>(after.received_dup - before.received_dup) / (kMeasured * kNodes);
  std::printf(
      "%d nodes, %d alerts measured (warm-up: %llu duplicates): %.3f duplicate copies per "
      "node per alert (%llu duplicates, %llu pushed copies new, %llu pulled; worst node %s "
      "%.3f); every node held every alert %.2f s after the last publish\n",
      kNodes, kMeasured, static_cast<unsigned long long>(before.received_dup), dup,
      static_cast<unsigned long long>(after.received_dup - before.received_dup),
      static_cast<unsigned long long>(after.received_new - before.received_new),
      static_cast<unsigned long long>(after.pulled - before.pulled), worst_node.c_str(), worst,
      absl::ToDoubleSeconds(took));
  PrintTraffic(net_before, net_.stats(), kMeasured);
  RecordProperty("dup_per_node_per_alert", absl::StrCat(dup));
  EXPECT_LT(dup, 0.5);
}

// 7 of 24 nodes (30 %) cut off from the rest: each side delivers its own
// alerts and none of the other's; once healed, anti-entropy brings every
// node every alert.
TEST_F(GossipSimTest, APartitionHealsAndEveryNodeConverges) {
  net_.SetDefaultLink({absl::Milliseconds(1), absl::Milliseconds(4), 0});
  StartAll();
  std::vector<int> minority, majority;
  std::set<std::string> a, b;
  for (int i = 0; i < kNodes; ++i) {
    (i < 7 ? minority : majority).push_back(i);
    (i < 7 ? a : b).insert(OriginOf(i));
  }
  net_.Partition(a, b);
  PublishFrom({0, 6}, 30);  // a.cz/s1, b.cz/s1: the minority side
  std::map<std::string, uint64_t> minority_expected = expected_;
  PublishFrom({12, 18}, 40);
  std::map<std::string, uint64_t> majority_expected = expected_;
  for (int i : {0, 6}) majority_expected.erase(OriginOf(i));
  ASSERT_TRUE(WaitConverged(minority, minority_expected));
  ASSERT_TRUE(WaitConverged(majority, majority_expected));
  // Still cut after some anti-entropy rounds: nothing crossed.
  absl::SleepFor(absl::Seconds(1));
  EXPECT_TRUE(Converged(minority, minority_expected));
  EXPECT_TRUE(Converged(majority, majority_expected));
  EXPECT_GT(net_.stats().unreachable, 0u);

  net_.Heal();
  const absl::Time healed = absl::Now();
  ASSERT_TRUE(WaitConverged(All(), expected_));
  std::printf("partition of 7/24 nodes healed: every node holds all %lld alerts %.1f s later\n",
              static_cast<long long>(published_), absl::ToDoubleSeconds(absl::Now() - healed));
  ExpectAllDelivered();
}

// Announcements bounded per alert (Gossip::Options::lazy_fanout = 2): each
// node announces each alert it forwards to at most 2 of its ~20 lazy links,
// so IHave refs per node per alert drop from ~N to 2, and every alert still
// reaches every node (by push along the trees, an announcement, or
// anti-entropy). The default's figure for comparison is the first test's
// printed IHave bytes.
TEST_F(GossipSimTest, AnnouncementsBoundedPerAlertStillDeliverEverything) {
  constexpr size_t kLazyFanout = 2;
  net_.SetDefaultLink({absl::Milliseconds(1), absl::Milliseconds(4), 0});
  options_.lazy_fanout = kLazyFanout;
  StartAll();
  const InProcessNetwork::Stats before = net_.stats();
  PublishFrom(kPublishers, 60);
  ASSERT_TRUE(WaitConverged(All(), expected_));
  WaitQuiet();
  ExpectAllDelivered();
  uint64_t refs = 0;
  for (int i = 0; i < kNodes; ++i) {
    // Each stored alert is forwarded once (its own by Broadcast, the rest
    // from the store's callback, none if pulled by anti-entropy) and
    // announced to kLazyFanout links; a push still queued to a link when a
    // prune makes it lazy goes as an announcement too (at most
    // eager_fanout of them per alert; measured under ASan: 122 refs for
    // 120 alerts at one node). Without the bound each node announces each
    // alert to its ~20 lazy links.
    const uint64_t sent = nodes_[i]->gossip->stats().ihave_sent;
    EXPECT_LE(sent, (kLazyFanout + options_.eager_fanout) * static_cast<uint64_t>(published_))
        << OriginOf(i);
    refs += sent;
  }
  EXPECT_GT(refs, 0u);
  EXPECT_LE(static_cast<double>(refs) / (kNodes * published_), kLazyFanout + 1.0);
  std::printf("lazy_fanout %zu: %.2f IHave refs per node per alert (bound %zu); ",
              kLazyFanout, static_cast<double>(refs) / (kNodes * published_), kLazyFanout);
  PrintTraffic(before, net_.stats(), static_cast<int>(published_));
}

// Options::parallel_lanes on the engines' own threads (three per link, each
// making its lane's blocking calls): 8 of the nodes, 2 publishing, every
// alert at every one of them, over links of 1-5 ms; the other 16 peers are
// absent (their calls fail, backing off), as nodes of a roster that are
// down.
TEST_F(GossipSimTest, ParallelLanesOnLinkThreadsDeliverEverything) {
  net_.SetDefaultLink({absl::Milliseconds(1), absl::Milliseconds(4), 0});
  options_.parallel_lanes = true;
  const std::vector<int> up = {0, 1, 2, 3, 6, 7, 8, 9};
  Start(up);
  PublishFrom({0, 6}, 60);
  ASSERT_TRUE(WaitConverged(up, expected_));
  for (int i : up) {
    EXPECT_EQ(nodes_[i]->Stored(), static_cast<int64_t>(published_)) << OriginOf(i);
    EXPECT_EQ(nodes_[i]->gossip->stats().refused, 0u) << OriginOf(i);
  }
}

// Three nodes (12 %) lose their store: stopped, their data deleted, started
// again empty under the same origin. They catch up on every feed, what was
// published while they were away included, and take new alerts as the
// others do.
TEST_F(GossipSimTest, NodesRestartedWithAnEmptyStoreCatchUpWithEveryFeed) {
  net_.SetDefaultLink({absl::Milliseconds(1), absl::Milliseconds(4), 0});
  StartAll();
  PublishFrom(kPublishers, 60);
  ASSERT_TRUE(WaitConverged(All(), expected_));

  const std::vector<int> restarted = {2, 9, 23};  // none publishes
  for (int i : restarted) nodes_[i].reset();
  PublishFrom(kPublishers, 30);
  std::vector<int> up;
  for (int i = 0; i < kNodes; ++i) {
    if (std::find(restarted.begin(), restarted.end(), i) == restarted.end()) up.push_back(i);
  }
  ASSERT_TRUE(WaitConverged(up, expected_));

  const absl::Time back = absl::Now();
  for (int i : restarted) {
    nodes_[i] = std::make_unique<SimNode>(Layout(), i, &net_, options_);
    EXPECT_EQ(nodes_[i]->Stored(), 0) << OriginOf(i);
  }
  PublishFrom(kPublishers, 20);
  ASSERT_TRUE(WaitConverged(All(), expected_));
  std::printf("3 nodes restarted empty hold all %lld alerts %.1f s after they came back\n",
              static_cast<long long>(published_), absl::ToDoubleSeconds(absl::Now() - back));
  ExpectAllDelivered();
}

// Every link loses 10 % of its messages (requests and answers): pushes,
// announcements, fetches and frontier exchanges fail at random, and still
// every alert reaches every node.
TEST_F(GossipSimTest, TenPercentLossOnEveryLinkStillDeliversEverything) {
  net_.SetDefaultLink({absl::Milliseconds(1), absl::Milliseconds(4), 0.1});
  StartAll();
  PublishFrom(kPublishers, 100);
  const absl::Time last = absl::Now();
  ASSERT_TRUE(WaitConverged(All(), expected_));
  const absl::Duration took = absl::Now() - last;
  WaitQuiet();
  ExpectAllDelivered();
  const InProcessNetwork::Stats stats = net_.stats();
  uint64_t lost = 0, messages = 0;
  for (const auto& [method, t] : stats.methods) {
    lost += t.lost;
    messages += t.messages;
  }
  std::printf(
      "10 %% loss: %llu of %llu messages lost, every node held all %lld alerts %.2f s "
      "after the last publish\n",
      static_cast<unsigned long long>(lost), static_cast<unsigned long long>(lost + messages),
      static_cast<long long>(published_), absl::ToDoubleSeconds(took));
  // The loss happened, at about the rate asked for.
  EXPECT_GT(lost, (lost + messages) / 20);
  EXPECT_LT(lost, (lost + messages) / 5);
}

// ---------------------------------------------------------------------------
// The network itself, against real engines: a caller's channel is made by
// hand from the transport of a node that is not attached (b.cz/s1, a peer
// of every node), so only the test's calls travel b.cz/s1 -> a.cz/s1.

class InProcessNetworkTest : public GossipSimTest {
 protected:
  InProcessNetworkTest()
      : caller_(net_.TransportFor(OriginOf(6))->Connect(Peer{OriginOf(0), "", ""})) {
    // The engines make no call of their own at start: what reaches a node
    // is the test's.
    options_.pull_at_start = false;
  }

  // One frontier exchange b.cz/s1 -> a.cz/s1 with `timeout`.
  absl::Status Exchange(absl::Duration timeout = absl::Seconds(5),
                        v1::FrontierMessage* out = nullptr) {
    v1::FrontierMessage theirs;
    auto call = caller_->NewCall(timeout);
    absl::Status st = caller_->ExchangeFrontier(call.get(), v1::FrontierMessage(), &theirs);
    if (out != nullptr) *out = theirs;
    return st;
  }
  InProcessNetwork::Traffic Link(int from, int to) {
    const auto stats = net_.stats();
    auto it = stats.links.find({OriginOf(from), OriginOf(to)});
    return it == stats.links.end() ? InProcessNetwork::Traffic() : it->second;
  }
  // What a.cz/s1's engine counted of b.cz/s1's calls (CountIncoming).
  uint64_t BytesAtTarget() {
    return nodes_[0]->gossip->stats().peers.at(OriginOf(6)).bytes_received;
  }

  std::unique_ptr<federation::PeerChannel> caller_;
};

TEST_F(InProcessNetworkTest, ACallRunsTheCalleesFederationHandlerAndCountsItsBytes) {
  Start({0});
  Publish(0, 1);
  v1::FrontierMessage theirs;
  ASSERT_TRUE(Exchange(absl::Seconds(5), &theirs).ok());
  ASSERT_EQ(theirs.entries_size(), 1);
  EXPECT_EQ(theirs.entries(0).origin(), OriginOf(0));
  EXPECT_EQ(theirs.entries(0).sequence(), 1u);
  const InProcessNetwork::Traffic there = Link(6, 0), back = Link(0, 6);
  EXPECT_EQ(there.calls, 1u);
  EXPECT_EQ(there.messages, 1u);
  EXPECT_EQ(there.bytes, 0u);  // an empty FrontierMessage
  EXPECT_EQ(back.messages, 1u);
  EXPECT_EQ(back.bytes, theirs.ByteSizeLong());
  // The callee saw the caller as its authenticated peer.
  EXPECT_NE(nodes_[0]->gossip->stats().peers.at(OriginOf(6)).last_contact, absl::InfinitePast());
}

TEST_F(InProcessNetworkTest, AnAbsentOrCutPeerIsUnavailableAndNothingReachesIt) {
  Start({0});
  net_.Detach(OriginOf(0));
  absl::Status st = Exchange();
  EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(st.message(), "a.cz/s1 is unreachable from b.cz/s1");
  ASSERT_TRUE(net_.Attach(OriginOf(0), nodes_[0]->gossip.get()).ok());
  EXPECT_EQ(net_.Attach(OriginOf(0), nodes_[0]->gossip.get()).code(),
            absl::StatusCode::kFailedPrecondition);

  net_.Partition({OriginOf(0)}, {OriginOf(6)});
  st = Exchange();
  EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(st.message(), "a.cz/s1 is unreachable from b.cz/s1");
  EXPECT_EQ(Link(6, 0).calls, 0u);
  EXPECT_EQ(nodes_[0]->gossip->stats().peers.at(OriginOf(6)).last_contact, absl::InfinitePast());

  net_.Heal();
  EXPECT_TRUE(Exchange().ok());
  EXPECT_EQ(Link(6, 0).calls, 1u);
}

TEST_F(InProcessNetworkTest, ACallerOutsideTheCalleesPeersIsRefusedByItsHandler) {
  Start({0});
  auto stranger = net_.TransportFor("e.cz/n1")->Connect(Peer{OriginOf(0), "", ""});
  v1::FrontierMessage theirs;
  auto call = stranger->NewCall(absl::Seconds(5));
  absl::Status st = stranger->ExchangeFrontier(call.get(), v1::FrontierMessage(), &theirs);
  EXPECT_EQ(st.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(st.message(),
            "e.cz/n1 is not a peer of a.cz/s1 (not in the roster, or this node itself)");
}

TEST_F(InProcessNetworkTest, TheDeadlineOrACancelEndsACallInItsLatencyWait) {
  Start({0});
  net_.SetLink(OriginOf(6), OriginOf(0), {absl::Seconds(30), absl::ZeroDuration(), 0});
  absl::Time start = absl::Now();
  absl::Status st = Exchange(absl::Milliseconds(100));
  EXPECT_EQ(st.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));

  auto call = caller_->NewCall(absl::Seconds(60));
  std::thread canceller([&] {
    absl::SleepFor(absl::Milliseconds(100));
    call->Cancel();
  });
  start = absl::Now();
  v1::FrontierMessage theirs;
  st = caller_->ExchangeFrontier(call.get(), v1::FrontierMessage(), &theirs);
  canceller.join();
  EXPECT_EQ(st.code(), absl::StatusCode::kCancelled);
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  // Neither reached the callee.
  EXPECT_EQ(Link(6, 0).calls, 0u);
  EXPECT_EQ(nodes_[0]->gossip->stats().peers.at(OriginOf(6)).last_contact, absl::InfinitePast());
}

TEST_F(InProcessNetworkTest, ALostRequestIsNeverHandledALostAnswerWas) {
  Start({0});
  net_.SetLink(OriginOf(6), OriginOf(0), {absl::ZeroDuration(), absl::ZeroDuration(), 1});
  absl::Status st = Exchange();
  EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(st.message(), "request from b.cz/s1 to a.cz/s1 lost");
  EXPECT_EQ(Link(6, 0).calls, 0u);
  EXPECT_EQ(Link(6, 0).lost, 1u);
  EXPECT_EQ(nodes_[0]->gossip->stats().peers.at(OriginOf(6)).last_contact, absl::InfinitePast());

  net_.SetLink(OriginOf(6), OriginOf(0), {});
  net_.SetLink(OriginOf(0), OriginOf(6), {absl::ZeroDuration(), absl::ZeroDuration(), 1});
  st = Exchange();
  EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(st.message(), "response from a.cz/s1 to b.cz/s1 lost");
  EXPECT_EQ(Link(6, 0).calls, 1u);
  EXPECT_EQ(Link(0, 6).lost, 1u);
  EXPECT_NE(nodes_[0]->gossip->stats().peers.at(OriginOf(6)).last_contact, absl::InfinitePast());
}

// The real feed store, except that Frontier() waits while the gate is
// closed: a way to hold a call inside the callee's handler (HandleFrontier
// reads the store's frontier).
class GatedFeedStore final : public federation::FeedStore {
 public:
  explicit GatedFeedStore(federation::FeedStore* inner) : inner_(inner) {}

  void Close() {
    absl::MutexLock lock(&mu_);
    open_ = false;
  }
  void Open() {
    absl::MutexLock lock(&mu_);
    open_ = true;
  }
  // Until a call waits at the gate.
  bool AwaitWaiter(absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout(absl::Condition(
                                    +[](int* w) { return *w > 0; }, &waiting_),
                                timeout);
  }

  std::vector<FrontierEntry> Frontier() override {
    {
      absl::MutexLock lock(&mu_);
      ++waiting_;
      mu_.Await(absl::Condition(&open_));
      --waiting_;
    }
    return inner_->Frontier();
  }
  absl::StatusOr<std::vector<v1::Envelope>> ReadRange(const std::string& origin, uint64_t from,
                                                      uint64_t to, size_t limit) override {
    return inner_->ReadRange(origin, from, to, limit);
  }
  absl::StatusOr<std::optional<v1::Envelope>> Get(const std::string& id) override {
    return inner_->Get(id);
  }
  bool Has(const std::string& id) override { return inner_->Has(id); }
  bool HoldsCopy(const v1::Envelope& envelope, const std::string& id, const std::string& origin,
                 uint64_t sequence) override {
    return inner_->HoldsCopy(envelope, id, origin, sequence);
  }
  absl::Status Offer(v1::Envelope envelope, std::function<void(absl::Status)> stored) override {
    return inner_->Offer(std::move(envelope), std::move(stored));
  }
  absl::StatusOr<std::vector<federation::EvidencePair>> EvidenceFor(
      const std::string& origin) override {
    return inner_->EvidenceFor(origin);
  }
  std::vector<absl::StatusOr<bool>> OfferCheckpoints(
      const std::vector<std::string>& notes) override {
    return inner_->OfferCheckpoints(notes);
  }
  absl::Status OfferSplitView(const std::string& first_note,
                              const std::string& second_note) override {
    return inner_->OfferSplitView(first_note, second_note);
  }
  std::vector<absl::StatusOr<bool>> OfferCosignatures(
      const std::vector<federation::CosignatureOffer>& offers) override {
    return inner_->OfferCosignatures(offers);
  }
  absl::StatusOr<std::vector<federation::CosignatureOffer>> ReadCosignaturesAfter(
      uint64_t after, size_t limit) override {
    return inner_->ReadCosignaturesAfter(after, limit);
  }
  uint64_t CosignaturePosition() override { return inner_->CosignaturePosition(); }

 private:
  federation::FeedStore* const inner_;
  absl::Mutex mu_;
  bool open_ ABSL_GUARDED_BY(mu_) = true;
  int waiting_ ABSL_GUARDED_BY(mu_) = 0;
};

// A call held inside a.cz/s1's handler: Detach does not return until it has
// left, and calls after it fail UNAVAILABLE. (The engine under test is not
// started, so only the test's call reads its store.)
TEST_F(InProcessNetworkTest, DetachWaitsUntilNoCallIsInsideTheEngine) {
  Start({0});
  net_.Detach(OriginOf(0));
  GatedFeedStore gated(nodes_[0]->feed.get());
  Gossip held(OriginOf(0), &gated, {Peer{OriginOf(6), OriginOf(6), ""}},
              net_.TransportFor(OriginOf(0)), options_);
  ASSERT_TRUE(net_.Attach(OriginOf(0), &held).ok());

  gated.Close();
  absl::Status in_handler;
  std::thread caller([&] { in_handler = Exchange(); });
  ASSERT_TRUE(gated.AwaitWaiter(absl::Seconds(30)));
  std::atomic<bool> detached{false};
  std::thread detacher([&] {
    net_.Detach(OriginOf(0));
    detached.store(true);
  });
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_FALSE(detached.load());
  gated.Open();
  detacher.join();
  caller.join();
  EXPECT_TRUE(detached.load());
  EXPECT_TRUE(in_handler.ok()) << in_handler;
  absl::Status after = Exchange();
  EXPECT_EQ(after.code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(after.message(), "a.cz/s1 is unreachable from b.cz/s1");
}

}  // namespace
}  // namespace watchfloor::testing
