// Misbehaving peers, in the simulator (issue 11 point 3): 12 real nodes over
// the in-process network (tests/sim/in_process_network.h), as in
// gossip_sim_test.cc (a SQLite file, a Ledger verifying every envelope's
// Ed25519 signature against a signed roster, the LedgerFeedStore, a Gossip
// engine), of which one or two misbehave. Each scenario checks that every
// honest node still holds exactly every honest alert, and what the bad
// node's traffic cost, against peer scoring (federation/peer_score.h).
//
// A bad node is a roster node whose engine is attached to the network but
// never started: it answers every call truthfully from its own store (and
// stores what it is pushed) but never calls anyone by itself. What it does
// beyond that is the test's: calls made as that node, through
// `net_.TransportFor(bad)->Connect(victim)`, so the victim's real
// Federation handler and engine see them as from that peer.
//
// Lines prefixed "misbehaving_peers:" are the figures docs/FEDERATION.md
// ("Misbehaving peers") quotes.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "certs/dsse.h"
#include "certs/ids.h"
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
using federation::PeerChannel;
using node::FakeClock;
using node::Ledger;
using node::LedgerFeedStore;
using node::RosterKeyResolver;
using node::SqliteAlertStore;

// Four members (a.cz .. d.cz of the roster fixtures), three nodes each.
constexpr int kNodesPerMember = 3;
constexpr int kNodes = SimLayout::kMembers * kNodesPerMember;
// The honest nodes that publish: the first of each member.
const std::vector<int> kPublishers = {0, 3, 6, 9};
constexpr absl::Duration kConverge = absl::Seconds(60);
// Refusals that take a score of 0 below Options::graylist_threshold (-100)
// at PeerScore::kInvalidWeight (-10) each.
constexpr uint64_t kChecksToGraylist = 11;

const SimLayout& Layout() {
  static const SimLayout* layout = new SimLayout(kNodesPerMember, "misbehaving-peers-node");
  return *layout;
}
std::string OriginOf(int i) { return Layout().OriginOf(i); }
const certs::SigningKey& NodeKey(int i) { return Layout().NodeKey(i); }

// 64 lowercase hex characters that name no alert anywhere.
std::string RandomId(std::mt19937_64& rng) {
  std::string bytes(32, '\0');
  for (char& c : bytes) c = static_cast<char>(rng() & 0xff);
  return absl::BytesToHexString(bytes);
}

class MisbehavingPeersTest : public ::testing::Test {
 protected:
  MisbehavingPeersTest() : net_(20261203) {
    net_.SetDefaultLink({absl::Milliseconds(1), absl::Milliseconds(4), 0});
    options_.anti_entropy_interval = absl::Milliseconds(200);
    options_.max_backoff = absl::Seconds(1);
  }
  ~MisbehavingPeersTest() override {
    for (auto& n : nodes_) {
      if (n != nullptr) n->gossip->Stop();
    }
    nodes_.clear();
  }

  // Every node: the `bad` ones attached but not started, node i with
  // own.at(i) instead of options_ where given.
  void StartNodes(const std::set<int>& bad, const std::map<int, Gossip::Options>& own = {}) {
    bad_ = bad;
    nodes_.resize(kNodes);
    for (int i = 0; i < kNodes; ++i) {
      auto it = own.find(i);
      nodes_[i] = std::make_unique<SimNode>(Layout(), i, &net_,
                                            it == own.end() ? options_ : it->second,
                                            bad.count(i) == 0);
    }
  }
  std::vector<int> Honest() const {
    std::vector<int> out;
    for (int i = 0; i < kNodes; ++i) {
      if (bad_.count(i) == 0) out.push_back(i);
    }
    return out;
  }

  // The wire as `from` sees it towards `to`.
  std::unique_ptr<PeerChannel> ChannelAs(int from, int to) {
    return net_.TransportFor(OriginOf(from))->Connect(Peer{OriginOf(to), "", ""});
  }

  // Publishes at node i and hands the alert to gossip (as the node's
  // service does) unless `broadcast` is false: then only anti-entropy
  // (which does not forward what it pulls) or a fetch spreads it.
  v1::Envelope Publish(int i, int variant, bool broadcast = true) {
    absl::StatusOr<node::PublishResult> r = nodes_[i]->ledger->PublishSync(SampleDraft(variant));
    EXPECT_TRUE(r.ok()) << OriginOf(i) << ": " << r.status();
    if (!r.ok()) return v1::Envelope();
    if (broadcast) nodes_[i]->gossip->Broadcast(r->envelope);
    ++expected_[OriginOf(i)];
    ++published_;
    return r->envelope;
  }
  void PublishFrom(const std::vector<int>& publishers, int count,
                   absl::Duration gap = absl::Milliseconds(20)) {
    for (int k = 0; k < count; ++k) {
      Publish(publishers[k % publishers.size()], variant_++);
      absl::SleepFor(gap);
    }
  }

  bool Converged(const std::vector<int>& nodes) {
    for (int i : nodes) {
      if (nodes_[i]->Heads() != expected_) return false;
    }
    return true;
  }
  // Waits for every honest node to hold exactly expected_; on timeout,
  // says who lacks what.
  ::testing::AssertionResult WaitHonestConverged() {
    const std::vector<int> honest = Honest();
    if (WaitFor([&] { return Converged(honest); }, kConverge)) {
      return ::testing::AssertionSuccess();
    }
    ::testing::AssertionResult out = ::testing::AssertionFailure();
    for (int i : honest) {
      const std::map<std::string, uint64_t> heads = nodes_[i]->Heads();
      if (heads == expected_) continue;
      out << OriginOf(i) << " holds";
      for (const auto& [o, s] : heads) out << " " << o << "@" << s;
      out << "; ";
    }
    out << "expected";
    for (const auto& [o, s] : expected_) out << " " << o << "@" << s;
    return out;
  }

  // Copies received, pulled and refused anywhere.
  uint64_t Activity() {
    uint64_t sum = 0;
    for (auto& n : nodes_) {
      const Gossip::Stats s = n->gossip->stats();
      sum += s.received_new + s.received_dup + s.refused;
      for (const auto& [peer, p] : s.peers) sum += p.pulled;
    }
    return sum;
  }
  // Until no copy has arrived anywhere for 600 ms (at most 10 s).
  void WaitQuiet() { testing::WaitQuiet([&] { return Activity(); }); }

  // Every honest node holds exactly every published alert, once, and no
  // honest node refused anything from an honest peer (so none forwarded
  // what a bad node sent it).
  void ExpectHonestDelivered() {
    for (int i : Honest()) {
      EXPECT_EQ(nodes_[i]->Heads(), expected_) << OriginOf(i);
      EXPECT_EQ(nodes_[i]->Stored(), published_) << OriginOf(i);
      for (const auto& [peer, p] : nodes_[i]->gossip->stats().peers) {
        bool from_bad = false;
        for (int b : bad_) from_bad = from_bad || peer == OriginOf(b);
        if (!from_bad) {
          EXPECT_EQ(p.refused, 0u) << OriginOf(i) << " from " << peer;
        }
      }
    }
  }

  Gossip::PeerStats PeerStatsAt(int node, int peer) {
    return nodes_[node]->gossip->stats().peers.at(OriginOf(peer));
  }
  InProcessNetwork::Traffic Link(const InProcessNetwork::Stats& s, int from, int to) {
    auto it = s.links.find({OriginOf(from), OriginOf(to)});
    return it == s.links.end() ? InProcessNetwork::Traffic() : it->second;
  }

  // `envelopes` pushed as one call from `channel`; the verdicts. Adds the
  // request's and the answer's serialized bytes to *bytes if given.
  v1::PushResponse PushAll(PeerChannel* channel, const std::vector<v1::Envelope>& envelopes,
                           uint64_t* bytes = nullptr) {
    v1::PushRequest req;
    for (const v1::Envelope& e : envelopes) *req.add_envelopes() = e;
    v1::PushResponse resp;
    auto call = channel->NewCall(absl::Seconds(30));
    absl::Status st = channel->Push(call.get(), req, &resp);
    EXPECT_TRUE(st.ok()) << st;
    if (bytes != nullptr) *bytes += req.ByteSizeLong() + resp.ByteSizeLong();
    return resp;
  }
  // One IHave of `ids` from `channel`; the ids the callee said it lacks.
  int Announce(PeerChannel* channel, const std::vector<std::string>& ids) {
    v1::IHaveRequest req;
    for (const std::string& id : ids) req.add_refs()->set_id(id);
    v1::IHaveResponse resp;
    auto call = channel->NewCall(absl::Seconds(30));
    absl::Status st = channel->IHave(call.get(), req, &resp);
    EXPECT_TRUE(st.ok()) << st;
    return resp.missing_ids_size();
  }

  InProcessNetwork net_;
  Gossip::Options options_;
  std::vector<std::unique_ptr<SimNode>> nodes_;
  std::set<int> bad_;
  std::map<std::string, uint64_t> expected_;  // origin -> alerts published
  int64_t published_ = 0;
  int variant_ = 0;
};

// Two withholders (b.cz/s2, c.cz/s3): they take every push (and answer it
// NEW, so the pusher's link to them stays eager) but forward nothing,
// announce nothing and never graft. Honest nodes whose tree runs through
// them get each alert from a lazy peer's IHave, after the graft timeout.
TEST_F(MisbehavingPeersTest, WithholdersKeepNoAlertFromAnyHonestNode) {
  const std::set<int> withholders = {4, 8};
  StartNodes(withholders);
  constexpr int kAlerts = 80;
  PublishFrom(kPublishers, kAlerts);
  const absl::Time last = absl::Now();
  ASSERT_TRUE(WaitHonestConverged());
  const absl::Duration took = absl::Now() - last;
  WaitQuiet();
  ExpectHonestDelivered();

  uint64_t swallowed = 0;
  for (int w : withholders) swallowed += nodes_[w]->gossip->stats().received_new;
  const InProcessNetwork::Stats net = net_.stats();
  for (int w : withholders) {
    for (int i = 0; i < kNodes; ++i) {
      if (i != w) {
        EXPECT_EQ(Link(net, w, i).calls, 0u) << OriginOf(w) << " -> " << OriginOf(i);
      }
    }
  }
  // The scenario happened: honest nodes pushed to the withholders.
  EXPECT_GT(swallowed, 0u);
  uint64_t grafted = 0;
  for (int i : Honest()) {
    for (const auto& [peer, p] : nodes_[i]->gossip->stats().peers) grafted += p.pulled;
  }
  std::printf(
      "misbehaving_peers: withholders 2 of %d nodes: every one of %zu honest nodes held all "
      "%d alerts %.2f s after the last publish; the withholders swallowed %llu pushed copies "
      "and made 0 calls; honest nodes fetched or pulled %llu copies\n",
      kNodes, Honest().size(), kAlerts, absl::ToDoubleSeconds(took),
      static_cast<unsigned long long>(swallowed), static_cast<unsigned long long>(grafted));
}

// 2,048 envelopes of a.cz/s1's next sequences with a corrupted signature,
// pushed by b.cz/s2 to a.cz/s2 in pushes of 16, and to c.cz/s2 in pushes of
// 256 (kMaxPushEnvelopes), while the honest nodes publish. A push is
// checked against the graylist as a whole, so the first push is verified
// in full: 16 (or 256) signature checks, taking the peer's score to -160
// (or -2,560), below -100; every later push is refused unverified. None is
// stored or forwarded, and honest delivery is untouched.
TEST_F(MisbehavingPeersTest, AnInvalidSignatureFloodIsGraylistedAfterElevenChecks) {
  constexpr int kBad = 4, kForged = 2048;
  struct Flood {
    int victim;
    int batch;
    std::atomic<int> refused{0};
    uint64_t bytes = 0;
    uint64_t calls = 0;
  };
  Flood floods[] = {{1, 16}, {7, 256}};
  StartNodes({kBad});
  PublishFrom(kPublishers, 8);
  ASSERT_TRUE(WaitHonestConverged());

  // Forged from a real alert of a.cz/s1: the next sequences, signed by its
  // key, one bit of each signature flipped.
  auto first = nodes_[1]->feed->ReadRange(OriginOf(0), 1, 1, 1);
  ASSERT_TRUE(first.ok() && first->size() == 1);
  v1::Alert alert;
  ASSERT_TRUE(alert.ParseFromString((*first)[0].payload()));
  std::vector<v1::Envelope> forged;
  for (int k = 0; k < kForged; ++k) {
    alert.set_sequence(expected_[OriginOf(0)] + 1 + k);
    alert.set_title(absl::StrCat("forged #", k));
    v1::Envelope e =
        certs::SignEnvelope(alert.SerializeAsString(), certs::kAlertPayloadType, NodeKey(0));
    (*e.mutable_signatures(0)->mutable_sig())[7] ^= 0x10;
    forged.push_back(std::move(e));
  }

  const InProcessNetwork::Stats before = net_.stats();
  std::vector<std::thread> flooders;
  for (Flood& f : floods) {
    flooders.emplace_back([&, bad = std::shared_ptr<PeerChannel>(ChannelAs(kBad, f.victim))] {
      for (int k = 0; k < kForged; k += f.batch) {
        std::vector<v1::Envelope> batch(forged.begin() + k, forged.begin() + k + f.batch);
        v1::PushResponse resp = PushAll(bad.get(), batch, &f.bytes);
        for (int v : resp.verdicts()) f.refused += v == v1::PUSH_VERDICT_REFUSED;
      }
    });
  }
  PublishFrom(kPublishers, 40);
  for (std::thread& t : flooders) t.join();
  // The bad node's engine calls nobody: every call on its links is a flood's.
  const InProcessNetwork::Stats after = net_.stats();
  for (Flood& f : floods) {
    f.calls = Link(after, kBad, f.victim).calls - Link(before, kBad, f.victim).calls;
    EXPECT_EQ(f.calls, static_cast<uint64_t>(kForged / f.batch));
  }
  ASSERT_TRUE(WaitHonestConverged());
  WaitQuiet();
  ExpectHonestDelivered();

  for (Flood& f : floods) {
    EXPECT_EQ(f.refused.load(), kForged);
    const Gossip::PeerStats p = PeerStatsAt(f.victim, kBad);
    // Graylisting is checked per envelope: from a score of 0, the eleventh
    // refusal takes it to -110, whatever the size of the pushes.
    // (One or two more if the flood outlasts the ~8 s in which -110 decays
    // back to -100 on a very loaded machine.)
    const uint64_t checked = p.refused_by_reason.count("unauthenticated") != 0
                                 ? p.refused_by_reason.at("unauthenticated")
                                 : 0;
    EXPECT_GE(checked, kChecksToGraylist) << OriginOf(f.victim);
    EXPECT_LE(checked, kChecksToGraylist + 2) << OriginOf(f.victim);
    const std::map<std::string, uint64_t> want = {{"unauthenticated", checked},
                                                  {"graylisted", kForged - checked}};
    EXPECT_EQ(p.refused_by_reason, want) << OriginOf(f.victim);
    EXPECT_EQ(p.refused, static_cast<uint64_t>(kForged));
    EXPECT_TRUE(p.graylisted);
    EXPECT_LT(p.score, options_.graylist_threshold);
    EXPECT_FALSE(p.eager);
    EXPECT_EQ(p.received_new, 0u);
    auto count = [&](const std::string& reason) -> unsigned long long {
      auto it = p.refused_by_reason.find(reason);
      return it == p.refused_by_reason.end() ? 0 : it->second;
    };
    std::printf(
        "misbehaving_peers: invalid-signature flood: %d forged envelopes in %llu pushes of %d "
        "(%llu bytes) from %s to %s: %llu verified and refused unauthenticated, %llu refused "
        "unverified (graylisted); score %.1f; 0 stored, 0 forwarded; every honest node holds "
        "all %lld alerts\n",
        kForged, static_cast<unsigned long long>(f.calls), f.batch,
        static_cast<unsigned long long>(f.bytes), OriginOf(kBad).c_str(),
        OriginOf(f.victim).c_str(), count("unauthenticated"), count("graylisted"), p.score,
        static_cast<long long>(published_));
  }
}

// With a 1 s half-life at the victim, a graylisted peer that stops is heard
// again within seconds: its score climbs back above -100, and a valid alert
// of its own feed that it pushes then is taken NEW and reaches every node.
TEST_F(MisbehavingPeersTest, AGraylistedPeerIsHeardAgainOnceItsScoreDecays) {
  constexpr int kBad = 4, kVictim = 1, kBatch = 64;
  Gossip::Options victim = options_;
  victim.score_half_life = absl::Seconds(2);
  StartNodes({kBad}, {{kVictim, victim}});
  PublishFrom(kPublishers, 8);
  ASSERT_TRUE(WaitHonestConverged());

  // Its own next alerts, signatures corrupted: eleven are checked (-110),
  // the rest refused unverified; log2(1.1) = 0.14 half-lives to climb back
  // to -100.
  v1::Alert alert = SampleDraft(0);
  alert.set_origin(OriginOf(kBad));
  std::vector<v1::Envelope> forged;
  for (int k = 0; k < kBatch; ++k) {
    alert.set_sequence(1 + k);
    v1::Envelope e =
        certs::SignEnvelope(alert.SerializeAsString(), certs::kAlertPayloadType, NodeKey(kBad));
    (*e.mutable_signatures(0)->mutable_sig())[7] ^= 0x10;
    forged.push_back(std::move(e));
  }
  auto bad = ChannelAs(kBad, kVictim);
  // One push: the eleventh check graylists the peer, the rest of the push
  // is refused unverified within the same call (counted, so the counts
  // prove it; its score is back above -100 after 0.14 half-lives, too soon
  // to read reliably on a loaded machine).
  v1::PushResponse flood = PushAll(bad.get(), forged);
  EXPECT_TRUE(flood.prune());
  Gossip::PeerStats p = PeerStatsAt(kVictim, kBad);
  const double graylisted_at = p.score;
  const std::map<std::string, uint64_t> want = {{"unauthenticated", kChecksToGraylist},
                                                {"graylisted", kBatch - kChecksToGraylist}};
  EXPECT_EQ(p.refused_by_reason, want);

  const absl::Time stopped = absl::Now();
  ASSERT_TRUE(WaitFor([&] { return !PeerStatsAt(kVictim, kBad).graylisted; }, absl::Seconds(20)));
  const absl::Duration recovered = absl::Now() - stopped;
  p = PeerStatsAt(kVictim, kBad);
  EXPECT_GE(p.score, victim.graylist_threshold);

  v1::Envelope own = Publish(kBad, 1000, /*broadcast=*/false);
  v1::PushResponse resp = PushAll(bad.get(), {own});
  ASSERT_EQ(resp.verdicts_size(), 1);
  EXPECT_EQ(resp.verdicts(0), v1::PUSH_VERDICT_NEW);
  ASSERT_TRUE(WaitHonestConverged());
  ExpectHonestDelivered();
  EXPECT_EQ(PeerStatsAt(kVictim, kBad).refused_by_reason, want);
  std::printf(
      "misbehaving_peers: recovery (half-life 2 s at the victim): score %.1f "
      "after %d invalid envelopes (%llu checked); heard again %.2f s after it stopped (score "
      "%.1f); its valid alert was taken NEW and reached all %zu honest nodes\n",
      graylisted_at, kBatch, static_cast<unsigned long long>(kChecksToGraylist),
      absl::ToDoubleSeconds(recovered), p.score,
      Honest().size());
}

// b.cz/s2 pushes back, five times over, a.cz/s1's alerts that a.cz/s1
// published itself and every node holds, while the honest nodes publish.
// Every copy is DUPLICATE, nothing is stored twice, and each push answers
// prune (the victim never had these from a peer first), so the link is
// lazy. Duplicates do not lower a score: the replayer stays at 0.
TEST_F(MisbehavingPeersTest, AReplayerGetsDuplicateAndPruneAndStoresNothing) {
  constexpr int kBad = 4, kVictim = 0, kRounds = 5;
  StartNodes({kBad});
  PublishFrom(kPublishers, 40);
  ASSERT_TRUE(WaitHonestConverged());
  WaitQuiet();
  auto own = nodes_[kVictim]->feed->ReadRange(OriginOf(kVictim), 1, 1000, 1000);
  ASSERT_TRUE(own.ok());
  ASSERT_EQ(own->size(), expected_[OriginOf(kVictim)]);
  // Others' alerts too: what prune says for them depends on whether the
  // link that brought each first is still eager; printed, not asserted.
  auto others = nodes_[kVictim]->feed->ReadRange(OriginOf(3), 1, 1000, 1000);
  ASSERT_TRUE(others.ok());

  auto bad = ChannelAs(kBad, kVictim);
  int duplicates = 0, replayed = 0, own_prunes = 0, other_prunes = 0;
  uint64_t wasted = 0;
  std::thread replayer([&] {
    for (int r = 0; r < kRounds; ++r) {
      for (const auto* batch : {&*own, &*others}) {
        v1::PushResponse resp = PushAll(bad.get(), *batch, &wasted);
        replayed += static_cast<int>(batch->size());
        for (int v : resp.verdicts()) duplicates += v == v1::PUSH_VERDICT_DUPLICATE;
        (batch == &*own ? own_prunes : other_prunes) += resp.prune();
      }
    }
  });
  PublishFrom(kPublishers, 20);
  replayer.join();
  ASSERT_TRUE(WaitHonestConverged());
  WaitQuiet();
  ExpectHonestDelivered();

  EXPECT_EQ(duplicates, replayed);
  EXPECT_EQ(own_prunes, kRounds);
  const Gossip::PeerStats p = PeerStatsAt(kVictim, kBad);
  EXPECT_EQ(p.received_dup, static_cast<uint64_t>(replayed));
  EXPECT_EQ(p.received_new, 0u);
  EXPECT_EQ(p.refused, 0u);
  EXPECT_FALSE(p.eager);
  // Pruned for the origin whose every replay got prune (one tree per origin).
  EXPECT_FALSE(p.eager_by_origin.at(OriginOf(kVictim)));
  EXPECT_EQ(p.score, 0.0);
  std::printf(
      "misbehaving_peers: replayer: %d old envelopes pushed back to %s in %d pushes, all "
      "DUPLICATE, 0 stored; prune on %d of %d pushes of its own alerts and %d of %d of "
      "others'; %llu bytes wasted (%.0f per copy), each copy one store lookup and no "
      "signature check at the victim; replayer's score %.1f\n",
      replayed, OriginOf(kVictim).c_str(), 2 * kRounds, own_prunes, kRounds, other_prunes,
      kRounds, static_cast<unsigned long long>(wasted),
      static_cast<double>(wasted) / replayed, p.score);
}

// b.cz/s2 announces ids it never serves. Phase 1: 200 random ids to a.cz/s2,
// which fetches each from it at most 3 times, and lowers its score by 2 per
// id not served. Phase 2: ids of real alerts a.cz/s3 stored without
// broadcasting, announced first by b.cz/s2 (which lacks them) and then by
// a.cz/s3: the first fetch goes to a.cz/s3, the better-scored, so b.cz/s2
// is asked for none. Phase 3: honest nodes publish while b.cz/s2 keeps
// announcing random ids to two victims; every honest node gets everything.
//
// The victim runs anti-entropy rarely (60 s) and gives announced frontiers
// 10 s grace, so in phases 1-2 it learns of the ids only through the
// IHaves and calls b.cz/s2 for nothing but fetches; a 2 s graft timeout
// leaves time for both announcements before the first fetch, even when the
// loaded machine stalls the test thread.
TEST_F(MisbehavingPeersTest, AnAnnouncerOfIdsItNeverServesIsFetchedFromBoundedAndLast) {
  constexpr int kBad = 4, kVictim = 1, kHolder = 2, kOtherVictim = 7;
  constexpr int kRandomIds = 200, kRealIds = 30;
  Gossip::Options victim = options_;
  victim.anti_entropy_interval = absl::Seconds(60);
  victim.frontier_grace = absl::Seconds(10);
  victim.graft_timeout = absl::Seconds(2);
  StartNodes({kBad}, {{kVictim, victim}});
  PublishFrom(kPublishers, 20);
  ASSERT_TRUE(WaitHonestConverged());
  WaitQuiet();

  // Phase 1.
  std::mt19937_64 rng(11);
  std::vector<std::string> random_ids;
  for (int k = 0; k < kRandomIds; ++k) random_ids.push_back(RandomId(rng));
  auto bad = ChannelAs(kBad, kVictim);
  EXPECT_EQ(Announce(bad.get(), random_ids), kRandomIds);
  // After the IHave, whose answer travels the victim's link back to it; no
  // fetch starts before the graft timeout.
  const InProcessNetwork::Stats before = net_.stats();
  // Until the victim has called b.cz/s2 for nothing more for 5 s (2.5
  // graft timeouts): it has given up on every id.
  uint64_t last_calls = 0;
  int quiet = 0;
  ASSERT_TRUE(WaitFor(
      [&] {
        absl::SleepFor(absl::Milliseconds(250));
        const uint64_t calls = Link(net_.stats(), kVictim, kBad).calls;
        quiet = calls == last_calls && calls > 0 ? quiet + 1 : 0;
        last_calls = calls;
        return quiet >= 20;
      },
      absl::Seconds(60)));
  const InProcessNetwork::Stats phase1 = net_.stats();
  const uint64_t calls = Link(phase1, kVictim, kBad).calls - Link(before, kVictim, kBad).calls;
  const uint64_t bytes = Link(phase1, kVictim, kBad).bytes - Link(before, kVictim, kBad).bytes;
  auto method_calls = [](const InProcessNetwork::Stats& s, const std::string& m) {
    auto it = s.methods.find(m);
    return it == s.methods.end() ? uint64_t{0} : it->second.calls;
  };
  // Only the victim's fetches crossed: every call on the link is a Fetch,
  // each FetchRequest 66 bytes per id (tag, length, 64 hex) + 2 (graft).
  EXPECT_EQ(method_calls(phase1, "Fetch") - method_calls(before, "Fetch"), calls);
  EXPECT_EQ((bytes - 2 * calls) % 66, 0u);
  const uint64_t fetched_ids = (bytes - 2 * calls) / 66;
  EXPECT_GE(fetched_ids, static_cast<uint64_t>(kRandomIds));
  EXPECT_LE(fetched_ids, static_cast<uint64_t>(3 * kRandomIds));
  Gossip::PeerStats p = PeerStatsAt(kVictim, kBad);
  EXPECT_LT(p.score, victim.eager_threshold);
  // A first fetch that carried only a few of the ids may have grafted the
  // link (score still above -10); the fetch that took it below pruned it.
  EXPECT_FALSE(p.eager);
  std::printf(
      "misbehaving_peers: announcer: %d random ids announced to %s: %llu fetch calls asking "
      "%llu ids (%llu bytes), at most 3 per id; score %.1f; link %s\n",
      kRandomIds, OriginOf(kVictim).c_str(), static_cast<unsigned long long>(calls),
      static_cast<unsigned long long>(fetched_ids), static_cast<unsigned long long>(bytes),
      p.score, p.eager ? "still eager" : "lazy");

  // Phase 2.
  std::vector<std::string> real_ids;
  for (int k = 0; k < kRealIds; ++k) {
    real_ids.push_back(certs::AlertId(Publish(kHolder, variant_++, /*broadcast=*/false).payload()));
  }
  const Gossip::Stats victim_before = nodes_[kVictim]->gossip->stats();
  const absl::Time a1 = absl::Now();
  const double s1 = victim_before.peers.at(OriginOf(kBad)).score;
  const absl::Time b1 = absl::Now();
  EXPECT_EQ(Announce(bad.get(), real_ids), kRealIds);
  auto holder = ChannelAs(kHolder, kVictim);
  EXPECT_EQ(Announce(holder.get(), real_ids), kRealIds);
  ASSERT_TRUE(WaitFor(
      [&] { return nodes_[kVictim]->Heads()[OriginOf(kHolder)] == expected_[OriginOf(kHolder)]; },
      absl::Seconds(30)));
  const absl::Time a2 = absl::Now();
  const Gossip::Stats victim_after = nodes_[kVictim]->gossip->stats();
  const absl::Time b2 = absl::Now();
  const double s2 = victim_after.peers.at(OriginOf(kBad)).score;
  // Fetched, not pulled by anti-entropy; from the holder.
  EXPECT_EQ(victim_after.fetched - victim_before.fetched, static_cast<uint64_t>(kRealIds));
  EXPECT_EQ(victim_after.anti_entropy_pulled, victim_before.anti_entropy_pulled);
  EXPECT_EQ(victim_after.peers.at(OriginOf(kHolder)).pulled -
                victim_before.peers.at(OriginOf(kHolder)).pulled,
            static_cast<uint64_t>(kRealIds));
  // b.cz/s2's score only decayed meanwhile (one unserved id would take 2
  // more off it): it was asked for none of them.
  const double half_life = absl::ToDoubleSeconds(victim.score_half_life);
  const double most_decayed = s1 * std::exp2(-absl::ToDoubleSeconds(b2 - a1) / half_life);
  const double least_decayed = s1 * std::exp2(-absl::ToDoubleSeconds(a2 - b1) / half_life);
  EXPECT_GE(s2, least_decayed - 0.5) << "s1 " << s1;
  EXPECT_LE(s2, most_decayed + 0.5) << "s1 " << s1;
  std::printf(
      "misbehaving_peers: announcer: %d real ids announced by %s (lacking them, score %.1f) "
      "then by %s: all %llu fetched from %s, 0 asked of %s (its score %.1f, decay only)\n",
      kRealIds, OriginOf(kBad).c_str(), s1, OriginOf(kHolder).c_str(),
      static_cast<unsigned long long>(victim_after.fetched - victim_before.fetched),
      OriginOf(kHolder).c_str(), OriginOf(kBad).c_str(), s2);

  // Phase 3.
  auto bad2 = ChannelAs(kBad, kOtherVictim);
  std::atomic<bool> done{false};
  std::thread liar([&] {
    while (!done.load()) {
      std::vector<std::string> ids;
      for (int k = 0; k < 50; ++k) ids.push_back(RandomId(rng));
      Announce(bad.get(), ids);
      Announce(bad2.get(), ids);
      absl::SleepFor(absl::Milliseconds(200));
    }
  });
  PublishFrom(kPublishers, 40);
  const absl::Time last = absl::Now();
  const bool converged = WaitHonestConverged();
  const absl::Duration took = absl::Now() - last;
  done.store(true);
  liar.join();
  ASSERT_TRUE(converged);
  WaitQuiet();
  ExpectHonestDelivered();
  p = PeerStatsAt(kOtherVictim, kBad);
  EXPECT_LT(p.score, options_.eager_threshold);
  const Gossip::PeerStats at_victim = PeerStatsAt(kVictim, kBad);
  std::printf(
      "misbehaving_peers: announcer: while it announced 50 random ids every 200 ms to %s and "
      "%s, every honest node held all %lld alerts %.2f s after the last publish (its score "
      "at %s %.1f; %s pushed it %llu envelopes in all, link %s)\n",
      OriginOf(kVictim).c_str(), OriginOf(kOtherVictim).c_str(),
      static_cast<long long>(published_), absl::ToDoubleSeconds(took),
      OriginOf(kOtherVictim).c_str(), p.score, OriginOf(kVictim).c_str(),
      static_cast<unsigned long long>(at_victim.pushed),
      at_victim.eager ? "still eager" : "lazy");
}

// A peer that delivered a first copy is eager for its origin; after one
// announced id it did not serve it still is (score +1 - 2, above
// eager_threshold); when its later unserved announcements take it below
// eager_threshold, the fetch that finds this prunes the link for every
// origin, so the node stops pushing every alert in full to a peer that only
// lies. (Found by this test: the fetch path used to graft only, never
// prune.)
TEST_F(MisbehavingPeersTest, AnEagerLinkIsPrunedOnceUnservedIdsTakeItBelowTheThreshold) {
  constexpr int kBad = 4, kVictim = 1;
  StartNodes({kBad});
  std::mt19937_64 rng(12);
  auto bad = ChannelAs(kBad, kVictim);
  // A first copy of its own first alert: the victim pushes that origin's
  // alerts to it from now on.
  v1::Envelope own = Publish(kBad, 500, /*broadcast=*/false);
  v1::PushResponse first = PushAll(bad.get(), {own});
  ASSERT_EQ(first.verdicts_size(), 1);
  ASSERT_EQ(first.verdicts(0), v1::PUSH_VERDICT_NEW);
  ASSERT_TRUE(PeerStatsAt(kVictim, kBad).eager);
  EXPECT_TRUE(PeerStatsAt(kVictim, kBad).eager_by_origin.at(OriginOf(kBad)));
  // One unserved id: score 1 - 2 = -1, still eager.
  EXPECT_EQ(Announce(bad.get(), {RandomId(rng)}), 1);
  ASSERT_TRUE(
      WaitFor([&] { return PeerStatsAt(kVictim, kBad).score < 0; }, absl::Seconds(30)));
  ASSERT_TRUE(PeerStatsAt(kVictim, kBad).eager);
  std::vector<std::string> ids;
  for (int k = 0; k < 20; ++k) ids.push_back(RandomId(rng));
  EXPECT_EQ(Announce(bad.get(), ids), 20);
  ASSERT_TRUE(WaitFor([&] { return PeerStatsAt(kVictim, kBad).score < options_.eager_threshold; },
                      absl::Seconds(30)));
  EXPECT_FALSE(PeerStatsAt(kVictim, kBad).eager);
  EXPECT_TRUE(PeerStatsAt(kVictim, kBad).eager_by_origin.empty());
  const uint64_t pushed = PeerStatsAt(kVictim, kBad).pushed;
  PublishFrom({kVictim}, 10);
  WaitQuiet();
  EXPECT_EQ(PeerStatsAt(kVictim, kBad).pushed, pushed);
}

}  // namespace
}  // namespace watchfloor::testing
