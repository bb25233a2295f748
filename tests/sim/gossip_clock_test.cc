// The gossip engine on simulated time (issue 11 point 1: the core behind a
// Transport and a Clock). Four real nodes (SQLite, Ledger verifying every
// signature, LedgerFeedStore, Gossip) over the in-process network, every
// engine reading one FakeClock (Gossip::Options::clock) that only the test
// moves. Each timed test shows that a decision waits for the clock and for
// nothing else: however long the machine takes in real time, the graft,
// the anti-entropy round, the frontier grace and the score's decay happen
// only once the simulated time has passed.
#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "certs/dsse.h"
#include "certs/ids.h"
#include "federation/clock.h"
#include "federation/gossip.h"
#include "gtest/gtest.h"
#include "tests/sim/in_process_network.h"
#include "tests/sim/sim_node.h"
#include "tests/test_util.h"

namespace watchfloor::testing {
namespace {

namespace v1 = ::watchfloor::v1;
using federation::FakeClock;
using federation::Gossip;

constexpr int kNodes = SimLayout::kMembers;  // one node per member
// Real time that the engines get to act on a clock that has not moved:
// fifty of their 10 ms ticks.
constexpr absl::Duration kIdle = absl::Milliseconds(500);
constexpr absl::Duration kConverge = absl::Seconds(20);

const SimLayout& Layout() {
  static const SimLayout* layout = new SimLayout(1, "gossip-clock-node");
  return *layout;
}

class GossipClockTest : public ::testing::Test {
 protected:
  GossipClockTest() : net_(20261204), clock_(absl::FromUnixSeconds(1798761600)) {
    options_.clock = &clock_;
    // Each timed step waits exactly graft_timeout: a call in flight while
    // the test moves the clock would count the step as its round trip.
    options_.graft_rtts = 0;
    // A start's rounds would meet peers not started yet, whose backoff
    // would hold the links until the test moves the clock.
    options_.pull_at_start = false;
  }
  ~GossipClockTest() override {
    for (auto& n : nodes_) n->gossip->Stop();
    nodes_.clear();
  }

  // With `start` false the engines answer calls and make none: nothing
  // moves but what the test hands them.
  void StartNodes(bool start = true) {
    for (int i = 0; i < kNodes; ++i) {
      nodes_.push_back(std::make_unique<SimNode>(Layout(), i, &net_, options_, start));
    }
  }

  // Publishes at node i; hands the alert to gossip only if `broadcast`.
  v1::Envelope Publish(int i, bool broadcast) {
    absl::StatusOr<node::PublishResult> r = nodes_[i]->ledger->PublishSync(SampleDraft(i));
    EXPECT_TRUE(r.ok()) << r.status();
    if (!r.ok()) return v1::Envelope();
    if (broadcast) nodes_[i]->gossip->Broadcast(r->envelope);
    return r->envelope;
  }

  // `n` alerts of `origin_index` (sequences 1..n), each signature broken.
  static v1::PushRequest Forged(int origin_index, int n) {
    v1::Alert alert = SampleDraft(7);
    alert.set_origin(Layout().OriginOf(origin_index));
    v1::PushRequest flood;
    for (int k = 0; k < n; ++k) {
      alert.set_sequence(1 + k);
      v1::Envelope e = certs::SignEnvelope(alert.SerializeAsString(), certs::kAlertPayloadType,
                                           Layout().NodeKey(origin_index));
      (*e.mutable_signatures(0)->mutable_sig())[7] ^= 0x10;
      *flood.add_envelopes() = std::move(e);
    }
    return flood;
  }

  // Ingest calls node i's Ledger refused with `code` so far.
  uint64_t RefusedIngest(int i, absl::StatusCode code) {
    return nodes_[i]->ledger->metrics().refused_ingest[static_cast<int>(code)].value();
  }

  // Waits until node `from` has made a call to every other node (its
  // first announcements have arrived).
  bool CalledEveryOtherNode(int from) {
    return WaitFor(
        [&] {
          for (int i = 0; i < kNodes; ++i) {
            if (i == from) continue;
            if (net_.stats().links[{Layout().OriginOf(from), Layout().OriginOf(i)}].calls == 0) {
              return false;
            }
          }
          return true;
        },
        kConverge);
  }

  // The nodes other than `origin_index` that hold its first alert.
  int Holding(int origin_index) {
    int n = 0;
    for (int i = 0; i < kNodes; ++i) {
      if (i == origin_index) continue;
      n += nodes_[i]->Heads()[Layout().OriginOf(origin_index)] >= 1;
    }
    return n;
  }

  InProcessNetwork net_;
  FakeClock clock_;
  Gossip::Options options_;
  std::vector<std::unique_ptr<SimNode>> nodes_;
};

// Every link lazy: an alert reaches the others by IHave, and each fetches
// it graft_timeout (simulated) after the announcement. With the clock held,
// no node fetches, however long it waits; one step of graft_timeout and
// every node does.
TEST_F(GossipClockTest, AnAnnouncedAlertIsFetchedOnlyOnceTheGraftTimeoutHasPassed) {
  options_.eager_fanout = 0;
  StartNodes();
  Publish(0, /*broadcast=*/true);
  // The announcements arrive (the first IHave flush of a link is due at
  // once) ...
  ASSERT_TRUE(CalledEveryOtherNode(0));
  // ... and nothing is fetched while the clock stands still.
  absl::SleepFor(kIdle);
  EXPECT_EQ(Holding(0), 0);
  for (int i = 1; i < kNodes; ++i) EXPECT_EQ(nodes_[i]->gossip->stats().fetched, 0u) << i;
  EXPECT_EQ(net_.stats().methods["Fetch"].calls, 0u);

  clock_.Advance(options_.graft_timeout - absl::Milliseconds(1));
  absl::SleepFor(kIdle);
  EXPECT_EQ(Holding(0), 0);

  clock_.Advance(absl::Milliseconds(1));
  ASSERT_TRUE(WaitFor([&] { return Holding(0) == kNodes - 1; }, kConverge));
  uint64_t fetched = 0;
  for (int i = 1; i < kNodes; ++i) fetched += nodes_[i]->gossip->stats().fetched;
  EXPECT_GE(fetched, static_cast<uint64_t>(kNodes - 1));
}

// With Options::external_timer the engines start no timer thread: the
// graft decision is made in Tick and nowhere else. The announcements
// arrive and the clock passes graft_timeout, and still no node fetches
// until its owner calls Tick.
TEST_F(GossipClockTest, WithAnExternalTimerAnAnnouncedAlertIsFetchedOnlyInTick) {
  options_.eager_fanout = 0;
  options_.external_timer = true;
  StartNodes();
  Publish(0, /*broadcast=*/true);
  ASSERT_TRUE(CalledEveryOtherNode(0));
  clock_.Advance(options_.graft_timeout);
  absl::SleepFor(kIdle);
  EXPECT_EQ(Holding(0), 0);
  EXPECT_EQ(net_.stats().methods["Fetch"].calls, 0u);

  for (int i = 1; i < kNodes; ++i) nodes_[i]->gossip->Tick(clock_.Now());
  ASSERT_TRUE(WaitFor([&] { return Holding(0) == kNodes - 1; }, kConverge));
  uint64_t fetched = 0;
  for (int i = 1; i < kNodes; ++i) fetched += nodes_[i]->gossip->stats().fetched;
  EXPECT_GE(fetched, static_cast<uint64_t>(kNodes - 1));
}

// An alert published but never broadcast spreads only by anti-entropy. No
// round starts before anti_entropy_interval of simulated time; a round
// shows a peer that node 0 is ahead, and that peer pulls only after
// frontier_grace more; then rounds every interval bring it to every node.
TEST_F(GossipClockTest, AntiEntropyAndTheFrontierGraceRunOnTheClock) {
  StartNodes();
  Publish(0, /*broadcast=*/false);
  absl::SleepFor(kIdle);
  EXPECT_EQ(net_.stats().methods["ExchangeFrontier"].calls, 0u);
  EXPECT_EQ(Holding(0), 0);

  clock_.Advance(options_.anti_entropy_interval);
  // Node 0's timer starts a round with one of its peers; that peer notes
  // that node 0 is ahead, and waits frontier_grace before it pulls.
  ASSERT_TRUE(WaitFor([&] { return nodes_[0]->gossip->stats().anti_entropy_rounds >= 1; },
                      kConverge));
  absl::SleepFor(kIdle);
  EXPECT_EQ(Holding(0), 0);
  EXPECT_EQ(net_.stats().methods["PullRange"].calls, 0u);

  clock_.Advance(options_.frontier_grace);
  ASSERT_TRUE(WaitFor([&] { return Holding(0) >= 1; }, kConverge));

  // Pulled copies are not forwarded: the rest comes by further rounds, one
  // step of the clock at a time.
  int steps = 0;
  while (Holding(0) < kNodes - 1 && steps < 40) {
    clock_.Advance(options_.anti_entropy_interval + options_.frontier_grace);
    WaitFor([&] { return Holding(0) == kNodes - 1; }, absl::Milliseconds(300));
    ++steps;
  }
  EXPECT_EQ(Holding(0), kNodes - 1) << "after " << steps << " more steps";
}

// What a frontier showed is pulled after the grace only up to what it
// showed: what the origin stored since is, as far as the puller knows, on
// its way by push, and gets a grace of its own before it is pulled.
TEST_F(GossipClockTest, APullAfterTheGraceTakesOnlyWhatTheFrontierShowed) {
  const std::string origin = Layout().OriginOf(0);
  auto most_held = [&] {
    uint64_t most = 0;
    for (int i = 1; i < kNodes; ++i) most = std::max(most, nodes_[i]->Heads()[origin]);
    return most;
  };
  StartNodes();
  for (int k = 0; k < 3; ++k) Publish(0, /*broadcast=*/false);
  absl::SleepFor(kIdle);  // every timer has ticked once: the first round is due an interval on
  clock_.Advance(options_.anti_entropy_interval);
  ASSERT_TRUE(WaitFor([&] { return nodes_[0]->gossip->stats().anti_entropy_rounds >= 1; },
                      kConverge));
  absl::SleepFor(kIdle);  // every round the step started has swapped frontiers
  for (int k = 0; k < 2; ++k) Publish(0, /*broadcast=*/false);

  clock_.Advance(options_.frontier_grace);
  ASSERT_TRUE(WaitFor([&] { return most_held() >= 3; }, kConverge));
  absl::SleepFor(kIdle);
  EXPECT_EQ(most_held(), 3u);  // not 4 or 5: no frontier had shown them

  // The pulling round saw 5 and noted it: one more grace, and it pulls 4-5.
  clock_.Advance(options_.frontier_grace);
  ASSERT_TRUE(WaitFor([&] { return most_held() == 5; }, kConverge));
}

// A peer that pushed eleven invalid signatures is graylisted (score -110,
// below -100). Its score halves every score_half_life of simulated time:
// it stays graylisted until h * log2(1.1) (8.25 s for h = 60 s) has
// passed and not a moment longer, whatever the real time. While
// graylisted its valid alert is refused unverified and not stored; after,
// it is taken.
TEST_F(GossipClockTest, AGraylistedPeerIsHeardAgainExactlyWhenItsScoreHasDecayed) {
  constexpr int kBad = 1, kVictim = 0;
  constexpr int kForged = 11;
  StartNodes();
  const std::string bad = Layout().OriginOf(kBad);
  Gossip& victim = *nodes_[kVictim]->gossip;

  v1::PushResponse refused = victim.HandlePush(bad, Forged(kBad, kForged));
  ASSERT_EQ(refused.verdicts_size(), kForged);
  for (int v : refused.verdicts()) EXPECT_EQ(v, v1::PUSH_VERDICT_REFUSED);
  Gossip::PeerStats p = victim.stats().peers[bad];
  EXPECT_TRUE(p.graylisted);
  EXPECT_DOUBLE_EQ(p.score, -110.0);  // the clock has not moved: no decay
  EXPECT_EQ(p.refused_by_reason,
            (std::map<std::string, uint64_t>{{"unauthenticated", kForged}}));

  // Its own first alert, validly signed.
  absl::StatusOr<node::PublishResult> own = nodes_[kBad]->ledger->PublishSync(SampleDraft(8));
  ASSERT_TRUE(own.ok()) << own.status();
  v1::PushRequest valid;
  *valid.add_envelopes() = own->envelope;

  const absl::Duration lifted =
      absl::Seconds(absl::ToDoubleSeconds(options_.score_half_life) * std::log2(1.1));
  clock_.Advance(lifted - absl::Milliseconds(100));
  absl::SleepFor(kIdle);
  p = victim.stats().peers[bad];
  EXPECT_TRUE(p.graylisted) << p.score;
  EXPECT_LT(p.score, options_.graylist_threshold);
  v1::PushResponse still = victim.HandlePush(bad, valid);
  ASSERT_EQ(still.verdicts_size(), 1);
  EXPECT_EQ(still.verdicts(0), v1::PUSH_VERDICT_REFUSED);
  EXPECT_TRUE(still.prune());  // announce instead; this node fetches what it wants
  EXPECT_EQ(victim.stats().peers[bad].refused_by_reason.at("graylisted"), 1u);
  EXPECT_EQ(nodes_[kVictim]->Heads().count(bad), 0u);

  clock_.Advance(absl::Milliseconds(200));
  p = victim.stats().peers[bad];
  EXPECT_FALSE(p.graylisted) << p.score;
  EXPECT_GE(p.score, options_.graylist_threshold);
  v1::PushResponse heard = victim.HandlePush(bad, valid);
  ASSERT_EQ(heard.verdicts_size(), 1);
  EXPECT_EQ(heard.verdicts(0), v1::PUSH_VERDICT_NEW);
  ASSERT_TRUE(WaitFor([&] { return nodes_[kVictim]->Heads()[bad] == 1; }, kConverge));
}

// One tree per origin (docs/FEDERATION.md "One tree per origin"): a
// duplicate prunes the link only for its own origin. The peer delivers a
// first copy of origin 2's alert (the link joins origin 2's tree), then the
// same copy again (prune, for origin 2 only), then a first copy of origin
// 3's alert (the link joins origin 3's tree; origin 2's stays pruned). No
// engine is started, so nothing but these pushes moves an alert (a started
// victim would forward each, and a copy could come back from the peer).
TEST_F(GossipClockTest, ADuplicatePrunesTheLinkForItsOwnOriginOnly) {
  constexpr int kVictim = 0, kPeer = 1;
  StartNodes(/*start=*/false);
  const std::string peer = Layout().OriginOf(kPeer);
  const std::string o2 = Layout().OriginOf(2), o3 = Layout().OriginOf(3);
  Gossip& victim = *nodes_[kVictim]->gossip;
  v1::PushRequest a, b;
  *a.add_envelopes() = Publish(2, /*broadcast=*/false);
  *b.add_envelopes() = Publish(3, /*broadcast=*/false);

  v1::PushResponse first = victim.HandlePush(peer, a);
  ASSERT_EQ(first.verdicts_size(), 1);
  EXPECT_EQ(first.verdicts(0), v1::PUSH_VERDICT_NEW);
  EXPECT_FALSE(first.prune());
  Gossip::PeerStats p = victim.stats().peers[peer];
  EXPECT_TRUE(p.eager);
  EXPECT_EQ(p.eager_by_origin, (std::map<std::string, bool>{{o2, true}}));

  v1::PushResponse again = victim.HandlePush(peer, a);
  ASSERT_EQ(again.verdicts_size(), 1);
  EXPECT_EQ(again.verdicts(0), v1::PUSH_VERDICT_DUPLICATE);
  EXPECT_TRUE(again.prune());
  p = victim.stats().peers[peer];
  EXPECT_EQ(p.eager_by_origin, (std::map<std::string, bool>{{o2, false}}));

  v1::PushResponse other = victim.HandlePush(peer, b);
  ASSERT_EQ(other.verdicts_size(), 1);
  EXPECT_EQ(other.verdicts(0), v1::PUSH_VERDICT_NEW);
  EXPECT_FALSE(other.prune());
  p = victim.stats().peers[peer];
  EXPECT_TRUE(p.eager);
  EXPECT_EQ(p.eager_by_origin, (std::map<std::string, bool>{{o2, false}, {o3, true}}));
  EXPECT_EQ(p.received_new, 2u);
  EXPECT_EQ(p.received_dup, 1u);
}

// The score is the member's, not the connection's: a graylisted peer whose
// endpoint and CA change in the roster (its link is remade) keeps its score
// and stays graylisted; it cannot clear it by re-registering its node.
TEST_F(GossipClockTest, APeerKeepsItsScoreWhenItsEndpointAndCaChange) {
  constexpr int kBad = 1, kVictim = 0, kForged = 11;
  StartNodes(/*start=*/false);  // no link thread pulls from the peer meanwhile
  const std::string bad = Layout().OriginOf(kBad);
  Gossip& victim = *nodes_[kVictim]->gossip;
  victim.HandlePush(bad, Forged(kBad, kForged));
  ASSERT_DOUBLE_EQ(victim.stats().peers[bad].score, -110.0);

  std::vector<federation::Peer> moved;
  for (int k = 0; k < kNodes; ++k) {
    if (k == kVictim) continue;
    moved.push_back({Layout().OriginOf(k), Layout().OriginOf(k), ""});
    if (k == kBad) {
      moved.back().endpoint = "moved.b.example:7443";
      moved.back().trust_roots_pem = "(the member's new CA)";
    }
  }
  victim.SetPeers(moved);
  Gossip::PeerStats p = victim.stats().peers[bad];
  EXPECT_EQ(p.received_new + p.received_dup + p.refused, 0u);  // a new link
  EXPECT_DOUBLE_EQ(p.score, -110.0);
  EXPECT_TRUE(p.graylisted);
  EXPECT_FALSE(p.eager);

  absl::StatusOr<node::PublishResult> own = nodes_[kBad]->ledger->PublishSync(SampleDraft(8));
  ASSERT_TRUE(own.ok()) << own.status();
  v1::PushRequest valid;
  *valid.add_envelopes() = own->envelope;
  v1::PushResponse resp = victim.HandlePush(bad, valid);
  ASSERT_EQ(resp.verdicts_size(), 1);
  EXPECT_EQ(resp.verdicts(0), v1::PUSH_VERDICT_REFUSED);
  EXPECT_EQ(victim.stats().peers[bad].refused_by_reason,
            (std::map<std::string, uint64_t>{{"graylisted", 1}}));
  EXPECT_EQ(nodes_[kVictim]->Heads().count(bad), 0u);
}

// A byte-for-byte copy of a stored alert (a replay) is answered DUPLICATE
// from a store lookup: the Ledger is not offered it, so no signature is
// checked. A copy that differs in any byte (a broken signature, an unknown
// field) takes the full ingest path and is refused with its exact code;
// nothing is stored twice and the peer's score moves only for the refusals.
TEST_F(GossipClockTest, AStoredCopyIsADuplicateWithoutASignatureCheck) {
  constexpr int kVictim = 0, kPeer = 1, kOrigin = 2, kReplays = 5;
  StartNodes(/*start=*/false);
  const std::string peer = Layout().OriginOf(kPeer), origin = Layout().OriginOf(kOrigin);
  Gossip& victim = *nodes_[kVictim]->gossip;
  v1::PushRequest copy;
  *copy.add_envelopes() = Publish(kOrigin, /*broadcast=*/false);
  ASSERT_EQ(victim.HandlePush(peer, copy).verdicts(0), v1::PUSH_VERDICT_NEW);
  ASSERT_TRUE(WaitFor([&] { return nodes_[kVictim]->Heads()[origin] == 1; }, kConverge));

  const uint64_t offered_dups = RefusedIngest(kVictim, absl::StatusCode::kAlreadyExists);
  for (int r = 0; r < kReplays; ++r) {
    v1::PushResponse resp = victim.HandlePush(peer, copy);
    ASSERT_EQ(resp.verdicts_size(), 1);
    EXPECT_EQ(resp.verdicts(0), v1::PUSH_VERDICT_DUPLICATE);
  }
  EXPECT_EQ(RefusedIngest(kVictim, absl::StatusCode::kAlreadyExists), offered_dups);
  Gossip::PeerStats p = victim.stats().peers[peer];
  EXPECT_EQ(p.received_dup, static_cast<uint64_t>(kReplays));
  EXPECT_DOUBLE_EQ(p.score, 1.0);  // its one first delivery

  v1::PushRequest broken = copy;
  (*broken.mutable_envelopes(0)->mutable_signatures(0)->mutable_sig())[7] ^= 0x10;
  v1::PushResponse resp = victim.HandlePush(peer, broken);
  ASSERT_EQ(resp.verdicts_size(), 1);
  EXPECT_EQ(resp.verdicts(0), v1::PUSH_VERDICT_REFUSED);
  EXPECT_EQ(RefusedIngest(kVictim, absl::StatusCode::kUnauthenticated), 1u);

  // Field 15 (unknown to Envelope), varint 1, after the known fields.
  v1::PushRequest padded;
  ASSERT_TRUE(padded.add_envelopes()->ParseFromString(copy.envelopes(0).SerializeAsString() +
                                                      std::string("\x78\x01", 2)));
  resp = victim.HandlePush(peer, padded);
  ASSERT_EQ(resp.verdicts_size(), 1);
  EXPECT_EQ(resp.verdicts(0), v1::PUSH_VERDICT_REFUSED);
  EXPECT_EQ(RefusedIngest(kVictim, absl::StatusCode::kInvalidArgument), 1u);

  p = victim.stats().peers[peer];
  EXPECT_EQ(p.refused_by_reason, (std::map<std::string, uint64_t>{{"unauthenticated", 1},
                                                                   {"invalid_argument", 1}}));
  EXPECT_EQ(p.received_dup, static_cast<uint64_t>(kReplays));
  EXPECT_EQ(RefusedIngest(kVictim, absl::StatusCode::kAlreadyExists), offered_dups);
  auto stored = nodes_[kVictim]->feed->ReadRange(origin, 1, 10, 10);
  ASSERT_TRUE(stored.ok()) << stored.status();
  ASSERT_EQ(stored->size(), 1u);
  EXPECT_EQ(stored->at(0).SerializeAsString(), copy.envelopes(0).SerializeAsString());
}

// An envelope that carries a broken signature with the origin's keyid
// ahead of the valid one verifies (one of the origin's signatures does),
// and is stored with the valid one alone: what every reader is served is
// the origin's envelope byte for byte, and the broken signature alone is
// no copy of it (refused, unauthenticated, with a signature check).
TEST_F(GossipClockTest, AnEnvelopeIsStoredWithOnlyTheSignatureThatVerified) {
  constexpr int kVictim = 0, kPeer = 1, kOrigin = 2;
  StartNodes(/*start=*/false);
  const std::string peer = Layout().OriginOf(kPeer), origin = Layout().OriginOf(kOrigin);
  Gossip& victim = *nodes_[kVictim]->gossip;
  const v1::Envelope honest = Publish(kOrigin, /*broadcast=*/false);
  v1::Signature broken = honest.signatures(0);
  (*broken.mutable_sig())[3] ^= 0x40;
  v1::PushRequest padded;
  v1::Envelope* e = padded.add_envelopes();
  *e = honest;
  e->clear_signatures();
  *e->add_signatures() = broken;
  *e->add_signatures() = honest.signatures(0);
  ASSERT_EQ(victim.HandlePush(peer, padded).verdicts(0), v1::PUSH_VERDICT_NEW);
  ASSERT_TRUE(WaitFor([&] { return nodes_[kVictim]->Heads()[origin] == 1; }, kConverge));
  auto stored = nodes_[kVictim]->feed->ReadRange(origin, 1, 1, 1);
  ASSERT_TRUE(stored.ok()) << stored.status();
  ASSERT_EQ(stored->size(), 1u);
  EXPECT_EQ(stored->at(0).SerializeAsString(), honest.SerializeAsString());

  v1::PushRequest only_broken;
  *only_broken.add_envelopes() = honest;
  *only_broken.mutable_envelopes(0)->mutable_signatures(0) = broken;
  v1::PushResponse resp = victim.HandlePush(peer, only_broken);
  ASSERT_EQ(resp.verdicts_size(), 1);
  EXPECT_EQ(resp.verdicts(0), v1::PUSH_VERDICT_REFUSED);
  EXPECT_EQ(RefusedIngest(kVictim, absl::StatusCode::kUnauthenticated), 1u);
  EXPECT_EQ(victim.stats().peers[peer].refused_by_reason,
            (std::map<std::string, uint64_t>{{"unauthenticated", 1}}));
}

}  // namespace
}  // namespace watchfloor::testing
