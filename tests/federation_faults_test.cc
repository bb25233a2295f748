// Federations under faults: a node SIGKILLed mid-stream (real `watchfloor
// node` processes), a partition of two nodes from three (a TCP proxy on
// every link), and a peer that sends invalid signatures, unknown origins and
// forks. Every rejection path checks that nothing was stored or forwarded.
#include <atomic>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "certs/dsse.h"
#include "certs/ids.h"
#include "certs/note.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "httplib.h"
#include "node/ledger.h"
#include "tests/federation_util.h"
#include "tests/test_util.h"

namespace watchfloor::testing {
namespace {

namespace v1 = ::watchfloor::v1;

constexpr absl::Duration kConverge = absl::Seconds(45);

grpc::ClientContext* WithDeadline(grpc::ClientContext* ctx) {
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  return ctx;
}

std::set<std::string> Union(const std::set<std::string>& a, const std::set<std::string>& b) {
  std::set<std::string> out = a;
  out.insert(b.begin(), b.end());
  return out;
}

size_t CountIn(const std::set<std::string>& ids, const std::set<std::string>& have) {
  size_t n = 0;
  for (const auto& id : ids) n += have.count(id);
  return n;
}

// Waits until `value` reads the same twice 500 ms apart (at most 20 s):
// a counter that in-flight work may still move has settled.
template <typename F>
bool SettledValue(F value) {
  auto last = value();
  for (int i = 0; i < 40; ++i) {
    absl::SleepFor(absl::Milliseconds(500));
    auto now = value();
    if (now == last) return true;
    last = now;
  }
  return false;
}

// Publishes `n` alerts at `node` one after the other; returns their ids.
std::set<std::string> PublishSeries(TestFederation& fed, int node, int n, int tag) {
  std::set<std::string> ids;
  for (int k = 0; k < n; ++k) {
    v1::PublishResponse r;
    grpc::Status st = fed.Publish(node, SampleDraft(tag + k), &r);
    EXPECT_TRUE(st.ok()) << fed.origin(node) << ": " << st.error_message();
    if (st.ok()) ids.insert(r.id());
  }
  return ids;
}

// ------------------------------------------------------------------ SIGKILL

// Publishers bound to nodes, publishing until told to stop, recording every
// acknowledgement (an unacknowledged alert may or may not exist).
class PublishStream {
 public:
  PublishStream(TestFederation* fed, std::vector<int> nodes, int per_node)
      : fed_(fed) {
    int tag = 0;
    for (int node : nodes) {
      for (int t = 0; t < per_node; ++t, ++tag) {
        threads_.emplace_back([this, node, tag] { Run(node, tag); });
      }
    }
  }
  ~PublishStream() { Stop(); }

  void Stop() {
    stop_.store(true);
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

  std::set<std::string> acked() const {
    std::lock_guard<std::mutex> lock(mu_);
    std::set<std::string> ids;
    for (const auto& [id, node] : acks_) ids.insert(id);
    return ids;
  }
  int acked_at(int node) const {
    std::lock_guard<std::mutex> lock(mu_);
    int n = 0;
    for (const auto& [id, at] : acks_) n += at == node;
    return n;
  }
  int failures() const { return failures_.load(); }

 private:
  void Run(int node, int tag) {
    for (int k = 0; !stop_.load(); ++k) {
      v1::PublishRequest req;
      *req.mutable_alert() = SampleDraft(tag * 1000000 + k);
      v1::PublishResponse resp;
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
      grpc::Status st = fed_->Client(node)->Publish(&ctx, req, &resp);
      if (st.ok()) {
        std::lock_guard<std::mutex> lock(mu_);
        acks_.emplace(resp.id(), node);
      } else {
        ++failures_;
        absl::SleepFor(absl::Milliseconds(20));
      }
    }
  }

  TestFederation* const fed_;
  std::atomic<bool> stop_{false};
  std::atomic<int> failures_{0};
  mutable std::mutex mu_;
  std::map<std::string, int> acks_;
  std::vector<std::thread> threads_;
};

TEST(FederationFaultsTest, SigkilledNodeOfFiveRestartsAndEveryAcknowledgedAlertReachesEveryNode) {
  FederationOptions o;
  o.members = 5;
  o.anti_entropy_interval_ms = 300;
  o.multi_process = true;
  TestFederation fed(o);
  ASSERT_TRUE(fed.ok());
  ASSERT_TRUE(fed.StartAll().ok());
  constexpr int kVictim = 4;

  PublishStream stream(&fed, {0, 2, kVictim}, 2);
  ASSERT_TRUE(WaitUntil([&] { return stream.acked_at(kVictim) >= 50; }, kConverge));
  fed.KillNode(kVictim);
  const int victim_acks_before = stream.acked_at(kVictim);
  const int others_before = stream.acked_at(0) + stream.acked_at(2);
  // The others keep publishing while it is dead.
  ASSERT_TRUE(WaitUntil(
      [&] { return stream.acked_at(0) + stream.acked_at(2) >= others_before + 100; },
      kConverge));
  absl::Status st = fed.StartNode(kVictim);
  ASSERT_TRUE(st.ok()) << st;
  ASSERT_TRUE(WaitUntil([&] { return stream.acked_at(kVictim) >= victim_acks_before + 50; },
                        kConverge));
  stream.Stop();

  const std::set<std::string> acked = stream.acked();
  std::printf("%zu acknowledged alerts (%d at the victim before the kill, %d in "
              "all), %d failed publishes\n",
              acked.size(), victim_acks_before, stream.acked_at(kVictim),
              stream.failures());
  ASSERT_TRUE(fed.WaitForIds(acked, kConverge));
  // Alerts the victim stored but did not acknowledge before it died travel
  // too: in the end every node holds the same set.
  ASSERT_TRUE(WaitUntil(
      [&] {
        std::set<std::string> first = fed.StoredIds(0);
        for (int i = 1; i < fed.size(); ++i) {
          if (fed.StoredIds(i) != first) return false;
        }
        return true;
      },
      kConverge))
      << "stores differ: " << fed.StoredAlertCount(0) << " " << fed.StoredAlertCount(1)
      << " " << fed.StoredAlertCount(2) << " " << fed.StoredAlertCount(3) << " "
      << fed.StoredAlertCount(4);
  for (int i = 0; i < fed.size(); ++i) {
    EXPECT_TRUE(fed.CheckFeedsContiguous(i).ok()) << fed.CheckFeedsContiguous(i);
    EXPECT_EQ(fed.StoredEvidenceCount(i), 0) << fed.origin(i);
  }
}

// ---------------------------------------------------------------- partition

TEST(FederationFaultsTest, PartitionOfTwoNodesFromThreeHealsWithoutOperatorAction) {
  FederationOptions o;
  o.members = 5;
  o.anti_entropy_interval_ms = 300;
  o.proxies = true;
  TestFederation fed(o);
  ASSERT_TRUE(fed.ok());
  for (int i = 0; i < fed.size(); ++i) {
    fed.config(i).mutable_transparency()->set_checkpoint_interval_ms(200);
    fed.config(i).mutable_transparency()->set_resend_interval_ms(500);
  }
  ASSERT_TRUE(fed.StartAll().ok());
  const std::vector<int> minority = {0, 1};
  const std::vector<int> majority = {2, 3, 4};

  // Every link works before the cut.
  std::set<std::string> warm = PublishSeries(fed, 2, 3, 0);
  ASSERT_TRUE(fed.WaitForIds(warm, kConverge));

  fed.Partition(minority, majority);
  std::set<std::string> in_minority, in_majority;
  std::thread a([&] {
    in_minority = Union(PublishSeries(fed, 0, 15, 100), PublishSeries(fed, 1, 5, 200));
  });
  std::thread b([&] {
    in_majority = Union(PublishSeries(fed, 3, 15, 300), PublishSeries(fed, 4, 5, 400));
  });
  a.join();
  b.join();
  ASSERT_EQ(in_minority.size(), 20u);
  ASSERT_EQ(in_majority.size(), 20u);
  // Each side converges on its own.
  ASSERT_TRUE(fed.WaitForIds(in_minority, kConverge, minority));
  ASSERT_TRUE(fed.WaitForIds(in_majority, kConverge, majority));
  // Let a few anti-entropy rounds try to cross; the cut must hold.
  absl::SleepFor(absl::Seconds(1));
  for (int i : minority) {
    EXPECT_EQ(CountIn(in_majority, fed.StoredIds(i)), 0u) << fed.origin(i);
  }
  for (int i : majority) {
    EXPECT_EQ(CountIn(in_minority, fed.StoredIds(i)), 0u) << fed.origin(i);
  }
  uint64_t dropped = 0;
  for (int x : minority) {
    for (int y : majority) dropped += fed.proxy(x, y)->dropped() + fed.proxy(y, x)->dropped();
  }
  EXPECT_GT(dropped, 0u) << "nobody tried to cross the partition";

  const absl::Time healed_at = absl::Now();
  fed.Heal();
  std::set<std::string> all = Union(warm, Union(in_minority, in_majority));
  ASSERT_TRUE(fed.WaitForIds(all, kConverge));
  std::printf("partition healed: %zu alerts on every node %s after unblocking\n",
              all.size(), absl::FormatDuration(absl::Now() - healed_at).c_str());
  for (int i = 0; i < fed.size(); ++i) {
    EXPECT_EQ(fed.StoredIds(i), all) << fed.origin(i);
    EXPECT_TRUE(fed.CheckFeedsContiguous(i).ok()) << fed.CheckFeedsContiguous(i);
  }
  // The checkpoints signed on each side of the cut could only be witnessed
  // by that side; once healed, every node holds every origin's checkpoint
  // of its whole feed with all four other members' cosignatures.
  for (int origin : {0, 3}) {
    const uint64_t size = 15;  // each published 15 alerts during the cut
    for (int i = 0; i < fed.size(); ++i) {
      std::string last;
      EXPECT_TRUE(WaitUntil(
          [&] {
            grpc::ClientContext ctx;
            ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
            v1::GetCheckpointRequest req;
            req.set_origin(fed.origin(origin));
            v1::GetCheckpointResponse resp;
            if (!fed.Client(i)->GetCheckpoint(&ctx, req, &resp).ok()) return false;
            last = resp.note();
            absl::StatusOr<certs::ParsedNote> note = certs::ParseNote(resp.note());
            if (!note.ok()) return false;
            absl::StatusOr<certs::Checkpoint> c = certs::ParseCheckpoint(note->text);
            if (!c.ok() || c->size != size) return false;
            int cosigners = 0;
            for (int w = 0; w < fed.size(); ++w) {
              if (w != origin &&
                  certs::VerifyCosignature(*note, certs::LogOrigin(fed.origin(w)),
                                           fed.member(w).signing_key->public_key())
                      .ok()) {
                ++cosigners;
              }
            }
            return cosigners == fed.size() - 1;
          },
          kConverge))
          << fed.origin(i) << " holds for " << fed.origin(origin) << ":\n" << last;
    }
  }
}

// ---------------------------------------------------------------- bad peers

// Four in-process nodes; m0 has published three alerts that every node holds.
// m1 plays the bad (or relaying) peer towards m2.
class BadPeerTest : public ::testing::Test {
 protected:
  static constexpr int kOrigin = 0;  // whose feed is attacked
  static constexpr int kPeer = 1;    // the peer sending bad input
  static constexpr int kTarget = 2;  // the node receiving it

  BadPeerTest() : fed_(MakeOptions()) {}
  static FederationOptions MakeOptions() {
    FederationOptions o;
    o.members = 4;
    o.anti_entropy_interval_ms = 300;
    return o;
  }

  void SetUp() override {
    ASSERT_TRUE(fed_.ok());
    ASSERT_TRUE(fed_.StartAll().ok());
    for (int k = 0; k < 3; ++k) {
      v1::PublishResponse r;
      ASSERT_TRUE(fed_.Publish(kOrigin, SampleDraft(k), &r).ok());
      published_.push_back(r);
      ids_.insert(r.id());
    }
    ASSERT_TRUE(fed_.WaitForIds(ids_, kConverge));
    // The origin's real node key, as an attacker who stole it would have it.
    absl::StatusOr<certs::SigningKey> key =
        certs::SigningKey::LoadPemFile(fed_.member(kOrigin).signing_key_file);
    ASSERT_TRUE(key.ok()) << key.status();
    origin_key_ = std::make_unique<certs::SigningKey>(std::move(*key));
  }

  // The next alert of m0's feed (sequence 4), validly signed.
  v1::Alert NextAlert(int n = 4) {
    v1::Alert a = SampleDraft(100 + n);
    a.set_origin(fed_.origin(kOrigin));
    a.set_sequence(4);
    a.set_previous(published_[2].id());
    *a.mutable_issued_at() = AlertOf(published_[2].envelope()).issued_at();
    return a;
  }

  std::vector<v1::PushVerdict> Push(int as, int target,
                                    const std::vector<v1::Envelope>& envs,
                                    bool* prune = nullptr) {
    v1::PushRequest req;
    for (const auto& e : envs) *req.add_envelopes() = e;
    v1::PushResponse resp;
    grpc::ClientContext ctx;
    grpc::Status st = fed_.PeerStub(as, target)->Push(WithDeadline(&ctx), req, &resp);
    EXPECT_TRUE(st.ok()) << st.error_code() << " " << st.error_message();
    std::vector<v1::PushVerdict> out;
    for (int v : resp.verdicts()) out.push_back(static_cast<v1::PushVerdict>(v));
    if (prune != nullptr) *prune = resp.prune();
    return out;
  }

  // Publishes one alert at m3 and waits for it everywhere: whatever the
  // attack made any node store or forward has been processed by then.
  void Barrier() {
    v1::PublishResponse r;
    ASSERT_TRUE(fed_.Publish(3, SampleDraft(999 + barriers_), &r).ok());
    ++barriers_;
    ids_.insert(r.id());
    ASSERT_TRUE(fed_.WaitForIds({r.id()}, kConverge));
  }

  // Every node holds exactly ids_ and no evidence; only m2 counted refusals.
  void ExpectNothingStoredOrForwarded(uint64_t refused_at_target) {
    for (int i = 0; i < fed_.size(); ++i) {
      SCOPED_TRACE(fed_.origin(i));
      EXPECT_EQ(fed_.StoredIds(i), ids_);
      EXPECT_EQ(fed_.StoredEvidenceCount(i), 0);
      federation::Gossip::Stats s = fed_.gossip(i)->stats();
      EXPECT_EQ(s.refused, i == kTarget ? refused_at_target : 0u);
    }
    federation::Gossip::Stats s = fed_.gossip(kTarget)->stats();
    EXPECT_EQ(s.peers.at(fed_.origin(kPeer)).refused, refused_at_target);
    EXPECT_EQ(s.peers.at(fed_.origin(kOrigin)).refused, 0u);
    EXPECT_EQ(s.peers.at(fed_.origin(3)).refused, 0u);
  }

  TestFederation fed_;
  std::vector<v1::PublishResponse> published_;
  std::set<std::string> ids_;
  std::unique_ptr<certs::SigningKey> origin_key_;
  int barriers_ = 0;
};

TEST_F(BadPeerTest, InvalidSignaturesAreRefusedCountedAgainstThePeerAndGoNowhere) {
  v1::Envelope good = SignAlert(NextAlert(), *origin_key_);
  v1::Envelope bad_sig = good;
  std::string sig = bad_sig.signatures(0).sig();
  sig[10] ^= 0x01;
  bad_sig.mutable_signatures(0)->set_sig(sig);
  v1::Envelope bad_payload = good;  // the signature no longer covers it
  std::string payload = bad_payload.payload();
  payload[payload.size() / 2] ^= 0x20;
  bad_payload.set_payload(payload);
  v1::Envelope no_sig = good;
  no_sig.clear_signatures();

  bool prune = true;
  EXPECT_EQ(Push(kPeer, kTarget, {bad_sig, bad_payload, no_sig}, &prune),
            (std::vector<v1::PushVerdict>{v1::PUSH_VERDICT_REFUSED,
                                          v1::PUSH_VERDICT_REFUSED,
                                          v1::PUSH_VERDICT_REFUSED}));
  EXPECT_FALSE(prune);
  Barrier();
  ExpectNothingStoredOrForwarded(3);
  for (int i = 0; i < fed_.size(); ++i) {
    EXPECT_EQ(fed_.StoredIds(i).count(certs::AlertId(good.payload())), 0u);
  }
}

// A flood of invalid signatures costs the target a bounded number of
// signature checks: once the peer's score is below the graylist threshold
// (eleven refusals from a score near zero: docs/FEDERATION.md "Peer
// scoring"), its pushes are refused unverified, and the peer is kept out of
// the target's eager set. A valid alert it pushes meanwhile is refused too
// at the target, and reaches it from another node that took it.
TEST_F(BadPeerTest, InvalidSignatureFloodIsGraylistedAfterElevenChecksAndNothingIsLost) {
  constexpr int kFlood = 200;
  std::vector<v1::PushVerdict> verdicts;
  for (int batch = 0; batch < kFlood / 20; ++batch) {
    std::vector<v1::Envelope> envs;
    for (int i = 0; i < 20; ++i) {
      v1::Envelope e = SignAlert(NextAlert(1000 + batch * 20 + i), *origin_key_);
      std::string sig = e.signatures(0).sig();
      sig[5] ^= 0x01;
      e.mutable_signatures(0)->set_sig(sig);
      envs.push_back(std::move(e));
    }
    for (v1::PushVerdict v : Push(kPeer, kTarget, envs)) verdicts.push_back(v);
  }
  EXPECT_EQ(verdicts, std::vector<v1::PushVerdict>(kFlood, v1::PUSH_VERDICT_REFUSED));
  {
    federation::Gossip::PeerStats p = fed_.gossip(kTarget)->stats().peers.at(fed_.origin(kPeer));
    // Eleven checks take a score near zero below -100 (one or two more if
    // the flood outlasts the ~8 s in which -110 decays back to -100).
    const uint64_t checked = p.refused_by_reason["unauthenticated"];
    EXPECT_GE(checked, 11u);
    EXPECT_LE(checked, 13u);
    EXPECT_EQ(p.refused_by_reason["graylisted"], kFlood - checked);
    EXPECT_TRUE(p.graylisted);
    EXPECT_LT(p.score, -100);
    EXPECT_FALSE(p.eager);
    std::printf("flood: %d invalid envelopes, %llu verified, %llu refused unverified, score %.1f\n",
                kFlood, static_cast<unsigned long long>(p.refused_by_reason["unauthenticated"]),
                static_cast<unsigned long long>(p.refused_by_reason["graylisted"]), p.score);
  }

  // A valid alert from the graylisted peer: refused unverified at the
  // target, taken by m3, and at the target from m3.
  v1::Envelope valid = SignAlert(NextAlert(), *origin_key_);
  EXPECT_EQ(Push(kPeer, kTarget, {valid}),
            std::vector<v1::PushVerdict>{v1::PUSH_VERDICT_REFUSED});
  EXPECT_EQ(Push(kPeer, 3, {valid}), std::vector<v1::PushVerdict>{v1::PUSH_VERDICT_NEW});
  ids_.insert(certs::AlertId(valid.payload()));
  ASSERT_TRUE(fed_.WaitForIds(ids_, kConverge));
  Barrier();
  // m1 is an honest node as well: what its engine forwards to m2 while it
  // is graylisted there (the valid alert, the barrier) is refused the same
  // way, so only the unverified count may exceed the flood's.
  for (int i = 0; i < fed_.size(); ++i) {
    SCOPED_TRACE(fed_.origin(i));
    EXPECT_EQ(fed_.StoredIds(i), ids_);
    EXPECT_EQ(fed_.StoredEvidenceCount(i), 0);
    if (i != kTarget) {
      EXPECT_EQ(fed_.gossip(i)->stats().refused, 0u);
    }
  }
  federation::Gossip::Stats s = fed_.gossip(kTarget)->stats();
  federation::Gossip::PeerStats p = s.peers.at(fed_.origin(kPeer));
  EXPECT_EQ(p.refused_by_reason.size(), 2u);
  EXPECT_GE(p.refused_by_reason["unauthenticated"], 11u);
  EXPECT_LE(p.refused_by_reason["unauthenticated"], 13u);
  EXPECT_GE(p.refused_by_reason["graylisted"] + p.refused_by_reason["unauthenticated"],
            static_cast<uint64_t>(kFlood + 1));
  EXPECT_EQ(s.refused, p.refused);
  EXPECT_EQ(s.peers.at(fed_.origin(kOrigin)).refused, 0u);
  EXPECT_EQ(s.peers.at(fed_.origin(3)).refused, 0u);
}

// A replayer: m1 pushes m0's three stored alerts back to m2, twenty times,
// over mutual TLS. Every copy is DUPLICATE from a store lookup (m2's Ledger
// is never offered one, so no signature is checked and its already_exists
// refusals do not move), nothing is stored or forwarded, and nothing counts
// against m1.
TEST_F(BadPeerTest, ReplayedCopiesAreDuplicatesWithoutASignatureCheckAndGoNowhere) {
  constexpr int kReplays = 20;
  Barrier();
  std::vector<v1::Envelope> copies;
  for (const v1::PublishResponse& r : published_) copies.push_back(r.envelope());
  node::Ledger* target = fed_.server(kTarget)->ledger();
  const auto already = [&] {
    return target->metrics()
        .refused_ingest[static_cast<int>(absl::StatusCode::kAlreadyExists)]
        .value();
  };
  // The barrier's own copies settle first (one still being verified when
  // the barrier returned may yet count as already_exists).
  ASSERT_TRUE(SettledValue(already));
  const uint64_t offered = already();
  const uint64_t dups = fed_.gossip(kTarget)->stats().peers.at(fed_.origin(kPeer)).received_dup;
  for (int r = 0; r < kReplays; ++r) {
    EXPECT_EQ(Push(kPeer, kTarget, copies),
              std::vector<v1::PushVerdict>(copies.size(), v1::PUSH_VERDICT_DUPLICATE));
  }
  EXPECT_EQ(already(), offered);
  EXPECT_GE(fed_.gossip(kTarget)->stats().peers.at(fed_.origin(kPeer)).received_dup,
            dups + kReplays * copies.size());
  Barrier();
  ExpectNothingStoredOrForwarded(0);
}

TEST_F(BadPeerTest, UnknownOriginsAreRefusedCountedAgainstThePeerAndGoNowhere) {
  certs::SigningKey stranger = certs::SigningKey::Generate();
  v1::Alert not_a_member = SampleDraft(1);
  not_a_member.set_origin("rogue.test/n1");
  not_a_member.set_sequence(1);
  *not_a_member.mutable_issued_at() = AlertOf(published_[0].envelope()).issued_at();
  v1::Alert not_a_node = not_a_member;
  not_a_node.set_origin(absl::StrCat(fed_.member(kOrigin).name, "/n9"));
  // A roster origin, but signed by a key that is not its roster key.
  v1::Alert wrong_key = NextAlert();

  EXPECT_EQ(Push(kPeer, kTarget,
                 {SignAlert(not_a_member, stranger), SignAlert(not_a_node, stranger),
                  SignAlert(wrong_key, stranger)}),
            (std::vector<v1::PushVerdict>{v1::PUSH_VERDICT_REFUSED,
                                          v1::PUSH_VERDICT_REFUSED,
                                          v1::PUSH_VERDICT_REFUSED}));
  Barrier();
  ExpectNothingStoredOrForwarded(3);
}

TEST_F(BadPeerTest, ForkIsKeptAsEvidenceEverywhereAndNoNodeExtendsTheFeed) {
  // Sequence 3 again, validly signed by m0's real key, with other content.
  v1::Alert twin = SampleDraft(333);
  twin.set_origin(fed_.origin(kOrigin));
  twin.set_sequence(3);
  twin.set_previous(published_[1].id());
  *twin.mutable_issued_at() = AlertOf(published_[2].envelope()).issued_at();
  v1::Envelope fork = SignAlert(twin, *origin_key_);
  const std::string fork_id = certs::AlertId(fork.payload());
  ASSERT_NE(fork_id, published_[2].id());

  std::vector<v1::PushVerdict> verdicts = Push(kPeer, kTarget, {fork});
  ASSERT_EQ(verdicts.size(), 1u);
  // A fork is validly signed: not the relaying peer's fault.
  EXPECT_NE(verdicts[0], v1::PUSH_VERDICT_REFUSED);
  EXPECT_NE(verdicts[0], v1::PUSH_VERDICT_DUPLICATE);

  // The evidence reaches every node, the forked origin's own node included.
  ASSERT_TRUE(WaitUntil(
      [&] {
        for (int i = 0; i < fed_.size(); ++i) {
          if (fed_.EvidenceCountFor(i, fed_.origin(kOrigin)) < 1) return false;
        }
        return true;
      },
      kConverge))
      << "evidence at m0..m3: " << fed_.EvidenceCountFor(0, fed_.origin(kOrigin)) << " "
      << fed_.EvidenceCountFor(1, fed_.origin(kOrigin)) << " "
      << fed_.EvidenceCountFor(2, fed_.origin(kOrigin)) << " "
      << fed_.EvidenceCountFor(3, fed_.origin(kOrigin));

  // Every node advertises the feed as forked.
  for (int i = 0; i < fed_.size(); ++i) {
    SCOPED_TRACE(fed_.origin(i));
    v1::FrontierMessage theirs;
    grpc::ClientContext ctx;
    const int as = i == kPeer ? kTarget : kPeer;
    ASSERT_TRUE(fed_.PeerStub(as, i)
                    ->ExchangeFrontier(WithDeadline(&ctx), v1::FrontierMessage(), &theirs)
                    .ok());
    bool found = false;
    for (const auto& e : theirs.entries()) {
      if (e.origin() != fed_.origin(kOrigin)) continue;
      found = true;
      EXPECT_TRUE(e.forked());
      EXPECT_EQ(e.sequence(), 3u);
      EXPECT_EQ(e.id(), published_[2].id());  // the first history stays
    }
    EXPECT_TRUE(found);
  }

  // The origin's own node refuses to publish further.
  grpc::Status st = fed_.Publish(kOrigin, SampleDraft(4));
  EXPECT_EQ(st.error_code(), grpc::StatusCode::DATA_LOSS) << st.error_message();

  // Sequence 4 on top of the first history, validly signed: refused by every
  // node through Ingest, and never stored when pushed by a peer.
  v1::Envelope next = SignAlert(NextAlert(), *origin_key_);
  for (int i = 0; i < fed_.size(); ++i) {
    v1::IngestRequest req;
    *req.mutable_envelope() = next;
    v1::IngestResponse resp;
    grpc::ClientContext ctx;
    grpc::Status ist = fed_.Client(i)->Ingest(WithDeadline(&ctx), req, &resp);
    EXPECT_EQ(ist.error_code(), grpc::StatusCode::DATA_LOSS)
        << fed_.origin(i) << ": " << ist.error_message();
  }
  Push(kPeer, 3, {next});
  Barrier();
  for (int i = 0; i < fed_.size(); ++i) {
    SCOPED_TRACE(fed_.origin(i));
    std::set<std::string> have = fed_.StoredIds(i);
    EXPECT_EQ(have, ids_);  // neither the twin nor sequence 4
    EXPECT_EQ(have.count(fork_id), 0u);
    EXPECT_TRUE(fed_.CheckFeedsContiguous(i).ok()) << fed_.CheckFeedsContiguous(i);
  }
}

// An envelope no node can store (here a gap: sequence 5 of a feed nobody
// holds) must not circulate: each node forwards an id at most once, however
// often it comes back. On a fresh federation every link is still eager, so
// the tree has cycles and nothing but that rule stops it.
TEST(FederationFaultsTest, EnvelopeNoNodeCanStoreIsForwardedAtMostOncePerNode) {
  FederationOptions o;
  o.members = 5;
  o.anti_entropy_interval_ms = 300;
  TestFederation fed(o);
  ASSERT_TRUE(fed.ok());
  ASSERT_TRUE(fed.StartAll().ok());
  absl::StatusOr<certs::SigningKey> key =
      certs::SigningKey::LoadPemFile(fed.member(0).signing_key_file);
  ASSERT_TRUE(key.ok()) << key.status();
  v1::Alert a = SampleDraft(5);
  a.set_origin(fed.origin(0));
  a.set_sequence(5);
  a.set_previous(std::string(64, 'a'));
  a.mutable_issued_at()->set_seconds(absl::ToUnixSeconds(absl::Now()));
  v1::PushRequest req;
  *req.add_envelopes() = SignAlert(a, *key);
  v1::PushResponse resp;
  grpc::ClientContext ctx;
  ASSERT_TRUE(fed.PeerStub(1, 2)->Push(WithDeadline(&ctx), req, &resp).ok());
  ASSERT_EQ(resp.verdicts_size(), 1);
  EXPECT_EQ(resp.verdicts(0), v1::PUSH_VERDICT_NEW);  // verified; may fit later

  // Wait for the gossip counters to stop moving, then count.
  uint64_t last = ~0ull;
  int quiet = 0;
  WaitUntil(
      [&] {
        GossipTotals t = SumGossipStats(fed);
        uint64_t now = t.received_new + t.received_dup;
        quiet = now == last ? quiet + 1 : 0;
        last = now;
        return quiet >= 10;
      },
      absl::Seconds(20), absl::Milliseconds(50));
  GossipTotals t = SumGossipStats(fed);
  uint64_t pushed = 0;
  for (int i = 0; i < fed.size(); ++i) {
    for (const auto& [peer, ps] : fed.gossip(i)->stats().peers) pushed += ps.pushed;
  }
  std::printf("one unstorable envelope: %llu first copies, %llu duplicates, %llu "
              "pushes\n",
              static_cast<unsigned long long>(t.received_new),
              static_cast<unsigned long long>(t.received_dup),
              static_cast<unsigned long long>(pushed));
  // m1..m4 each take it as new once (m0, its origin, is never sent it).
  EXPECT_LE(t.received_new, 4u);
  // Each of them forwards it once, to at most its 3 other peers.
  EXPECT_LE(pushed, 4u * 3u);
  EXPECT_EQ(t.refused, 0u);
  for (int i = 0; i < fed.size(); ++i) {
    EXPECT_EQ(fed.StoredAlertCount(i), 0) << fed.origin(i);
    EXPECT_EQ(fed.StoredEvidenceCount(i), 0) << fed.origin(i);
  }
}

// ------------------------------------------- misbehaving peer, processes

// The value of the sample `key` ("name{label=\"v\",...}", labels in the
// order the node writes them) in node `port`'s /metrics; 0 if the node has
// not written it (a counter appears once it first moves); -1 and a failure
// if the scrape fails.
double MetricAt(int port, const std::string& key) {
  httplib::Client c("127.0.0.1", port);
  auto r = c.Get("/metrics");
  if (!r || r->status != 200) {
    ADD_FAILURE() << "GET /metrics on port " << port << " failed";
    return -1;
  }
  for (absl::string_view line : absl::StrSplit(r->body, '\n', absl::SkipEmpty())) {
    if (!absl::ConsumePrefix(&line, key) || !absl::ConsumePrefix(&line, " ")) continue;
    double v = 0;
    EXPECT_TRUE(absl::SimpleAtod(line, &v)) << key << " " << line;
    return v;
  }
  return 0;
}

// Four members, three of them `watchfloor node` children over mutual TLS
// (m0, m2, m3); m1's node is the test's. m2 serves /metrics on loopback.
class ProcessPeerTest : public ::testing::Test {
 protected:
  static constexpr int kBad = 1;     // the node the test plays
  static constexpr int kTarget = 2;  // the node it misbehaves towards

  ProcessPeerTest() : fed_(MakeOptions()) {}
  static FederationOptions MakeOptions() {
    FederationOptions o;
    o.members = 4;
    o.anti_entropy_interval_ms = 300;
    o.graft_timeout_ms = 200;
    o.multi_process = true;
    return o;
  }
  void SetUp() override {
    ASSERT_TRUE(fed_.ok());
    http_port_ = PickFreePort();
    fed_.config(kTarget).mutable_http()->set_listen_address(
        absl::StrCat("127.0.0.1:", http_port_));
  }
  void StartHonest() {
    for (int i : honest_) ASSERT_EQ(fed_.StartNode(i), absl::OkStatus()) << fed_.LogTail(i);
  }
  // m2's per-peer sample `name` about m1, with `more_labels` (",k=\"v\"") after peer.
  double PeerMetric(const std::string& name, const std::string& more_labels = "") {
    return MetricAt(http_port_,
                    absl::StrCat(name, "{peer=\"", fed_.origin(kBad), "\"", more_labels, "}"));
  }
  // Every honest node holds exactly `ids` and no evidence.
  void ExpectHonestHoldExactly(const std::set<std::string>& ids) {
    ASSERT_TRUE(fed_.WaitForIds(ids, kConverge, honest_));
    for (int i : honest_) {
      SCOPED_TRACE(fed_.origin(i));
      EXPECT_EQ(fed_.StoredIds(i), ids);
      EXPECT_EQ(fed_.StoredEvidenceCount(i), 0);
    }
  }

  TestFederation fed_;
  const std::vector<int> honest_ = {0, kTarget, 3};
  int http_port_ = 0;
};

// Issue 11 point 3 with real node processes: three `watchfloor node`
// children (m0, m2, m3) over mutual TLS; the test plays m1's node, with
// m1's node certificate, against m2 while m0 and m3 publish. First it
// replays m0's stored alerts (every copy DUPLICATE from a store lookup: m2's
// Ledger refuses nothing as already_exists, so no signature was checked),
// then floods invalid signatures (eleven to thirteen checked, the rest
// refused unverified; m1's score below -100 in m2's metrics). Every alert
// the honest nodes published meanwhile reaches every honest node, and
// nothing of the attacker's is stored anywhere.
TEST_F(ProcessPeerTest, ReplayAndFloodFromAPeerCostBoundedWork) {
  constexpr int kReplays = 20, kFlood = 200;
  StartHonest();
  std::set<std::string> ids;
  v1::PushRequest replay;
  for (int k = 0; k < 3; ++k) {
    v1::PublishResponse r;
    ASSERT_TRUE(fed_.Publish(0, SampleDraft(k), &r).ok());
    ids.insert(r.id());
    *replay.add_envelopes() = r.envelope();
  }
  ASSERT_TRUE(fed_.WaitForIds(ids, kConverge, honest_));
  const std::string already =
      "watchfloor_alerts_refused_total{op=\"ingest\",reason=\"already_exists\"}";
  ASSERT_TRUE(SettledValue([&] { return MetricAt(http_port_, already); }));
  const double already_before = MetricAt(http_port_, already);
  const double dups_before = PeerMetric("watchfloor_gossip_duplicates_total");
  auto push = [&](const v1::PushRequest& req) {
    v1::PushResponse resp;
    grpc::ClientContext ctx;
    grpc::Status st = fed_.PeerStub(kBad, kTarget)->Push(WithDeadline(&ctx), req, &resp);
    EXPECT_TRUE(st.ok()) << st.error_code() << " " << st.error_message();
    std::map<int, int> verdicts;
    for (int v : resp.verdicts()) ++verdicts[v];
    return verdicts;
  };
  for (int r = 0; r < kReplays; ++r) {
    EXPECT_EQ(push(replay), (std::map<int, int>{{v1::PUSH_VERDICT_DUPLICATE, 3}}));
  }
  EXPECT_EQ(MetricAt(http_port_, already), already_before);
  EXPECT_EQ(PeerMetric("watchfloor_gossip_duplicates_total"), dups_before + 3 * kReplays);

  // The flood, while the honest nodes publish.
  absl::StatusOr<certs::SigningKey> key =
      certs::SigningKey::LoadPemFile(fed_.member(0).signing_key_file);
  ASSERT_TRUE(key.ok()) << key.status();
  std::set<std::string> more;
  std::thread publisher([&] {
    for (int k = 0; k < 10; ++k) {
      more.merge(PublishSeries(fed_, k % 2 == 0 ? 0 : 3, 2, 100 + 2 * k));
    }
  });
  std::map<int, int> flood;
  for (int batch = 0; batch < kFlood / 20; ++batch) {
    v1::PushRequest req;
    for (int i = 0; i < 20; ++i) {
      v1::Alert a = SampleDraft(1000 + batch * 20 + i);
      a.set_origin(fed_.origin(0));
      a.set_sequence(1000 + batch * 20 + i);
      v1::Envelope e = SignAlert(a, *key);
      (*e.mutable_signatures(0)->mutable_sig())[5] ^= 0x01;
      *req.add_envelopes() = std::move(e);
    }
    for (const auto& [v, n] : push(req)) flood[v] += n;
  }
  publisher.join();
  EXPECT_EQ(flood, (std::map<int, int>{{v1::PUSH_VERDICT_REFUSED, kFlood}}));
  const double checked =
      PeerMetric("watchfloor_gossip_refused_total", ",reason=\"unauthenticated\"");
  const double unverified =
      PeerMetric("watchfloor_gossip_refused_total", ",reason=\"graylisted\"");
  EXPECT_GE(checked, 11);
  EXPECT_LE(checked, 13);
  EXPECT_EQ(checked + unverified, kFlood);
  const double score = PeerMetric("watchfloor_gossip_peer_score");
  EXPECT_LT(score, -100);

  ASSERT_EQ(more.size(), 20u);
  ids.merge(more);
  ExpectHonestHoldExactly(ids);
  std::printf(
      "processes: %d replayed copies all DUPLICATE, 0 signature checks at %s; flood of %d "
      "invalid envelopes: %.0f checked, %.0f refused unverified, score %.1f; %zu honest alerts "
      "at all %zu honest nodes\n",
      3 * kReplays, fed_.origin(kTarget).c_str(), kFlood, checked, unverified, score, ids.size(),
      honest_.size());
}

// m1's node, played by the test: a Federation server at m1's endpoint with
// m1's node certificate that takes every push (answering NEW, so links to
// it stay eager) and forwards, announces and serves nothing. It counts what
// it is sent.
class WithholdingPeer final : public v1::Federation::Service {
 public:
  grpc::Status Push(grpc::ServerContext*, const v1::PushRequest* req,
                    v1::PushResponse* resp) override {
    pushed += static_cast<uint64_t>(req->envelopes_size());
    for (int i = 0; i < req->envelopes_size(); ++i) resp->add_verdicts(v1::PUSH_VERDICT_NEW);
    return grpc::Status::OK;
  }
  grpc::Status IHave(grpc::ServerContext*, const v1::IHaveRequest*,
                     v1::IHaveResponse*) override {
    return grpc::Status::OK;  // wants nothing
  }
  grpc::Status Fetch(grpc::ServerContext*, const v1::FetchRequest* req,
                     v1::FetchResponse*) override {
    ++fetch_calls;
    fetched_ids += static_cast<uint64_t>(req->ids_size());
    return grpc::Status::OK;  // serves nothing
  }
  grpc::Status ExchangeFrontier(grpc::ServerContext*, const v1::FrontierMessage*,
                                v1::FrontierMessage*) override {
    return grpc::Status::OK;  // holds nothing
  }

  std::atomic<uint64_t> pushed{0}, fetch_calls{0}, fetched_ids{0};
};

// Issue 11 point 3, the other two misbehaviours with real node processes:
// three `watchfloor node` children over mutual TLS and, at the fourth
// member's endpoint, a withholder (above) that also announces 200 random
// ids to one node and serves none of them. The honest nodes lose nothing
// to either: every alert published meanwhile reaches every honest node;
// the node it announced to asks for each id at most three times, and its
// metrics show the peer's score below the eager threshold and the link
// lazy.
TEST_F(ProcessPeerTest, AWithholderThatAnnouncesIdsItNeverServesLosesNothing) {
  constexpr int kRandomIds = 200;
  WithholdingPeer withholder;
  grpc::SslServerCredentialsOptions tls(GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_BUT_DONT_VERIFY);
  tls.pem_key_cert_pairs.push_back(
      {fed_.member(kBad).node_tls.key_pem, fed_.member(kBad).node_tls.cert_pem});
  grpc::ServerBuilder builder;
  builder.AddListeningPort(fed_.member(kBad).endpoint(), grpc::SslServerCredentials(tls));
  builder.RegisterService(&withholder);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr) << fed_.member(kBad).endpoint();
  StartHonest();

  std::set<std::string> ids;
  for (int k = 0; k < 10; ++k) ids.merge(PublishSeries(fed_, k % 2 == 0 ? 0 : 3, 2, 2 * k));
  ASSERT_TRUE(fed_.WaitForIds(ids, kConverge, honest_));
  const uint64_t swallowed = withholder.pushed;

  std::mt19937_64 rng(20261204);
  v1::IHaveRequest announce;
  for (int k = 0; k < kRandomIds; ++k) {
    std::string id;
    for (int b = 0; b < 4; ++b) id += absl::StrFormat("%016x", rng());
    v1::AlertRef* ref = announce.add_refs();
    ref->set_id(id);
    ref->set_origin(fed_.origin(0));
    ref->set_sequence(1000 + static_cast<uint64_t>(k));
  }
  {
    v1::IHaveResponse resp;
    grpc::ClientContext ctx;
    grpc::Status st = fed_.PeerStub(kBad, kTarget)->IHave(WithDeadline(&ctx), announce, &resp);
    ASSERT_TRUE(st.ok()) << st.error_code() << " " << st.error_message();
    EXPECT_EQ(resp.missing_ids_size(), kRandomIds);
  }
  std::set<std::string> more;
  std::thread publisher([&] {
    for (int k = 0; k < 10; ++k) {
      more.merge(PublishSeries(fed_, k % 2 == 0 ? 3 : 0, 2, 100 + 2 * k));
    }
  });
  // Until the target has fetched nothing more for 2 s (ten graft timeouts).
  uint64_t last = 0;
  int quiet = 0;
  EXPECT_TRUE(WaitUntil(
      [&] {
        const uint64_t calls = withholder.fetch_calls;
        quiet = calls == last && calls > 0 ? quiet + 1 : 0;
        last = calls;
        return quiet >= 8;
      },
      absl::Seconds(60), absl::Milliseconds(250)));
  publisher.join();
  EXPECT_GE(withholder.fetched_ids, static_cast<uint64_t>(kRandomIds));
  EXPECT_LE(withholder.fetched_ids, static_cast<uint64_t>(3 * kRandomIds));
  const double score = PeerMetric("watchfloor_gossip_peer_score");
  EXPECT_LT(score, -10);
  EXPECT_EQ(PeerMetric("watchfloor_gossip_peer_eager"), 0);

  ASSERT_EQ(more.size(), 20u);
  ids.merge(more);
  ExpectHonestHoldExactly(ids);
  EXPECT_GT(swallowed, 0u);
  std::printf(
      "processes: the withholder swallowed %llu pushed copies of the first 20 alerts; %d random "
      "ids announced to %s: %llu fetch calls asking %llu ids, score %.1f, link lazy; %zu honest "
      "alerts at all %zu honest nodes\n",
      static_cast<unsigned long long>(swallowed), kRandomIds, fed_.origin(kTarget).c_str(),
      static_cast<unsigned long long>(withholder.fetch_calls.load()),
      static_cast<unsigned long long>(withholder.fetched_ids.load()), score, ids.size(),
      honest_.size());
  server->Shutdown();
}

}  // namespace
}  // namespace watchfloor::testing
