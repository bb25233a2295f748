// A running node switching to a newer roster without a restart (issue 9,
// points 1, 5 and 6; docs/FEDERATION.md "Node key rotation"): the Ledger
// verifies every alert with the key of its sequence, the authorizer refuses a
// removed member's certificate on its next rpc, and the gossip engine's peer
// set changes under it (a new peer gets every feed's history, a removed
// peer's calls are refused). Real SQLite stores and Ledgers, real gRPC on
// loopback, real mutual TLS for the authorizer; the rosters are signed and
// verified as nodes do (tests/roster_fixtures.h).
#include <atomic>
#include <initializer_list>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "certs/dsse.h"
#include "certs/ids.h"
#include "certs/note.h"
#include "certs/x509.h"
#include "federation/federation_service.h"
#include "federation/gossip.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "node/authz.h"
#include "node/ledger.h"
#include "node/ledger_feed_store.h"
#include "node/roster_key_resolver.h"
#include "node/sqlite_alert_store.h"
#include "node/transparency.h"
#include "tests/federation_util.h"
#include "tests/roster_fixtures.h"
#include "tests/test_util.h"

namespace watchfloor::node {
namespace {

namespace v1 = ::watchfloor::v1;
using certs::Roster;
using federation::FrontierEntry;
using federation::Gossip;
using federation::Peer;
using testing::Genesis;
using testing::MakeRoster;
using testing::P;
using testing::PickFreePort;
using testing::SampleDraft;
using testing::SeededKey;
using testing::SignedBy;
using testing::TempDir;
using testing::WaitUntil;
using v1::Envelope;

std::string OriginOf(int party) { return P(party).name + "/n1"; }

// Alert `seq` of `origin`, chained to `previous`, signed by `key`.
Envelope Signed(const certs::SigningKey& key, const std::string& origin, uint64_t seq,
                const std::string& previous, int variant = 0) {
  v1::Alert a = SampleDraft(variant);
  a.set_origin(origin);
  a.set_sequence(seq);
  a.set_previous(previous);
  a.mutable_issued_at()->set_seconds(1798761600 + static_cast<int64_t>(seq));
  return certs::SignEnvelope(a.SerializeAsString(), certs::kAlertPayloadType, key);
}

// The node's head sequence of `origin` (0 if it holds none).
uint64_t HeadOf(federation::FeedStore& feed, const std::string& origin) {
  for (const FrontierEntry& e : feed.Frontier()) {
    if (e.origin == origin) return e.sequence;
  }
  return 0;
}

// One node's storage, all real: SQLite file, Ledger verifying with the
// roster in force (RosterKeyResolver), the gossip feed store.
struct NodeStorage {
  NodeStorage(const std::string& origin, const certs::SigningKey* key, const Roster* roster)
      : clock(absl::FromUnixSeconds(1798761600)), resolver(roster) {
    auto opened = SqliteAlertStore::Open(dir.Join("data"), origin);
    EXPECT_TRUE(opened.ok()) << opened.status();
    sqlite = std::move(*opened);
    auto ledger_or = Ledger::Open(sqlite.get(), key, origin, &resolver, &clock, nullptr);
    EXPECT_TRUE(ledger_or.ok()) << ledger_or.status();
    ledger = std::move(*ledger_or);
    feed = std::make_unique<LedgerFeedStore>(ledger.get(), sqlite.get());
  }
  int64_t Stored() { return static_cast<int64_t>(*sqlite->LastCursor()); }

  TempDir dir;
  FakeClock clock;
  RosterKeyResolver resolver;
  std::unique_ptr<SqliteAlertStore> sqlite;
  std::unique_ptr<Ledger> ledger;
  std::unique_ptr<LedgerFeedStore> feed;
};

// ---------------------------------------------------------------------------
// Key rotation at a sequence.

// b.cz/n1's key rotated at sequence kSwitch: v1 lists its first key, v2 the
// new key from kSwitch on and the first key for 1..kSwitch-1.
constexpr uint64_t kSwitch = 3;

class KeyRotationTest : public ::testing::Test {
 protected:
  KeyRotationTest()
      : new_key_(SeededKey('r')),
        v1_(Genesis(MakeRoster(1, 1, {0, 1}), {0})),
        v2_(RotatedV2()) {}

  Roster RotatedV2() {
    v1::Roster r = MakeRoster(2, 1, {0, 1});
    v1::RosterNode* b = r.mutable_members(1)->mutable_nodes(0);
    b->set_signing_key_pem(new_key_.public_key().ToPem());
    b->set_key_from_sequence(kSwitch);
    v1::PreviousNodeKey* old = b->add_previous_keys();
    old->set_signing_key_pem(P(1).node_key.public_key().ToPem());
    old->set_first_sequence(1);
    old->set_last_sequence(kSwitch - 1);
    // Verified as a node adopting it does: the next version after v1.
    absl::StatusOr<Roster> next = v1_.VerifyNext(SignedBy(r, {0}));
    EXPECT_TRUE(next.ok()) << next.status();
    return next.ok() ? *std::move(next) : v1_;
  }

  // b's feed: 1..kSwitch-1 by the old key, then kSwitch.. by the new one.
  std::vector<Envelope> HonestFeed(int n) {
    std::vector<Envelope> out;
    std::string previous;
    for (int i = 1; i <= n; ++i) {
      const uint64_t seq = static_cast<uint64_t>(i);
      out.push_back(Signed(seq < kSwitch ? P(1).node_key : new_key_, OriginOf(1), seq,
                           previous, i));
      previous = certs::AlertId(out.back().payload());
    }
    return out;
  }

  const certs::SigningKey new_key_;
  const Roster v1_;
  const Roster v2_;
};

TEST_F(KeyRotationTest, RosterKeyResolverGivesEachSequenceItsKey) {
  RosterKeyResolver resolver(&v1_);
  EXPECT_EQ(resolver.FindAt(OriginOf(1), kSwitch), P(1).node_key.public_key());
  resolver.SetRoster(&v2_);
  EXPECT_EQ(resolver.roster(), &v2_);
  EXPECT_EQ(resolver.FindAt(OriginOf(1), 1), P(1).node_key.public_key());
  EXPECT_EQ(resolver.FindAt(OriginOf(1), kSwitch - 1), P(1).node_key.public_key());
  EXPECT_EQ(resolver.FindAt(OriginOf(1), kSwitch), new_key_.public_key());
  EXPECT_EQ(resolver.FindAt(OriginOf(1), 1000), new_key_.public_key());
  EXPECT_EQ(resolver.Find(OriginOf(1)), new_key_.public_key());
  EXPECT_EQ(resolver.FindAt("c.cz/n1", 1), std::nullopt);
}

// A node running on v1 stores b's first alerts, adopts v2 (SetRoster), and
// from then on takes sequence kSwitch on only with the new key: the old key
// signing it is refused as any bad signature is, and nothing is stored.
TEST_F(KeyRotationTest, AfterTheSwitchOnlyTheNewKeySigns) {
  NodeStorage node(OriginOf(0), &P(0).node_key, &v1_);
  std::vector<Envelope> feed = HonestFeed(5);
  for (uint64_t i = 0; i + 1 < kSwitch; ++i) {
    ASSERT_TRUE(node.ledger->IngestSync(feed[i]).ok()) << i;
  }
  node.resolver.SetRoster(&v2_);

  const int64_t stored = node.Stored();
  const std::string previous = certs::AlertId(feed[kSwitch - 2].payload());
  Envelope by_old_key = Signed(P(1).node_key, OriginOf(1), kSwitch, previous, 99);
  absl::StatusOr<IngestResult> refused = node.ledger->IngestSync(by_old_key);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(refused.status().message(),
            absl::StrCat("no signature by key ", new_key_.public_key().KeyId()));
  // Gossip's path (Offer) refuses it the same way, with nothing queued.
  EXPECT_EQ(node.ledger->Offer(by_old_key, [](absl::StatusOr<IngestResult>) {}).code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(node.Stored(), stored);
  EXPECT_EQ(HeadOf(*node.feed, OriginOf(1)), kSwitch - 1);

  for (size_t i = kSwitch - 1; i < feed.size(); ++i) {
    ASSERT_TRUE(node.ledger->IngestSync(feed[i]).ok()) << i;
  }
  EXPECT_EQ(HeadOf(*node.feed, OriginOf(1)), feed.size());
}

// A node that starts on v2 (a new member catching up) takes the history
// before the switch with the old key only: the new key signing an early
// sequence is refused, nothing stored.
TEST_F(KeyRotationTest, BeforeTheSwitchOnlyTheOldKeySigns) {
  NodeStorage node(OriginOf(0), &P(0).node_key, &v2_);
  Envelope early_by_new_key = Signed(new_key_, OriginOf(1), 1, "", 1);
  absl::StatusOr<IngestResult> refused = node.ledger->IngestSync(early_by_new_key);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(refused.status().message(),
            absl::StrCat("no signature by key ", P(1).node_key.public_key().KeyId()));
  EXPECT_EQ(node.Stored(), 0);
  EXPECT_EQ(HeadOf(*node.feed, OriginOf(1)), 0u);

  for (const Envelope& e : HonestFeed(5)) ASSERT_TRUE(node.ledger->IngestSync(e).ok());
  EXPECT_EQ(HeadOf(*node.feed, OriginOf(1)), 5u);
}

// ---------------------------------------------------------------------------
// Transparency: whose checkpoints count, and whose cosignatures.

// A checkpoint note of `party`'s feed as `node` holds it, signed by the
// party's node key, cosigned by the node of each of `cosigners`.
std::string CheckpointOf(NodeStorage& node, int party, std::initializer_list<int> cosigners) {
  certs::Checkpoint c;
  c.origin = certs::LogOrigin(OriginOf(party));
  const Ledger::LogState log = node.ledger->Log(OriginOf(party));
  c.size = log.size;
  c.root_hash = log.root;
  const std::string text = certs::FormatCheckpoint(c);
  std::string note = certs::SignNote(text, c.origin, P(party).node_key);
  for (int w : cosigners) {
    note += certs::CosignatureLine(text, certs::LogOrigin(OriginOf(w)), P(w).node_key,
                                   1798761600);
  }
  return note;
}

// a.cz/n1 witnesses b's and c's checkpoints under v1 (a, b, c). v2 removes
// b: b's accepted checkpoint is dropped, its next one refused
// (UNAUTHENTICATED, nothing stored), b's cosignature on c's checkpoint no
// longer counts, and the default quorum follows the smaller federation.
TEST(TransparencySwapTest, CheckpointsAndCosignaturesFollowTheRosterInForce) {
  const Roster v1r = Genesis(MakeRoster(1, 2, {0, 1, 2}), {0, 1});
  absl::StatusOr<Roster> v2r = v1r.VerifyNext(SignedBy(MakeRoster(2, 2, {0, 2}), {0, 2}));
  ASSERT_TRUE(v2r.ok()) << v2r.status();
  NodeStorage node(OriginOf(0), &P(0).node_key, &v1r);
  Transparency t(OriginOf(0), &P(0).node_key, &v1r, node.ledger.get(), node.sqlite.get(),
                 &node.clock, Transparency::Options());
  ASSERT_TRUE(t.Start().ok());
  for (int party : {1, 2}) {
    std::string previous;
    for (uint64_t seq = 1; seq <= 3; ++seq) {
      Envelope e = Signed(P(party).node_key, OriginOf(party), seq, previous,
                          static_cast<int>(seq));
      previous = certs::AlertId(e.payload());
      ASSERT_TRUE(node.ledger->IngestSync(e).ok());
    }
  }
  absl::StatusOr<bool> got = t.Receive(CheckpointOf(node, 1, {2}));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(*got);
  got = t.Receive(CheckpointOf(node, 2, {1}));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_TRUE(*got);
  absl::StatusOr<std::string> of_c = t.Latest(OriginOf(2));
  ASSERT_TRUE(of_c.ok());
  EXPECT_EQ(t.Witnesses(OriginOf(2), *of_c), 2);  // a (this node) and b
  EXPECT_EQ(t.DefaultQuorum(), 2);
  ASSERT_TRUE(t.Latest(OriginOf(1)).ok());

  t.SetRoster(&*v2r);
  EXPECT_EQ(t.Latest(OriginOf(1)).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(t.Witnesses(OriginOf(2), *of_c), 1);  // b's cosignature is void
  EXPECT_EQ(t.DefaultQuorum(), 1);
  const uint64_t refused = t.stats().refused;
  absl::StatusOr<std::vector<StoredCheckpoint>> before = node.sqlite->Checkpoints(OriginOf(1), 16);
  ASSERT_TRUE(before.ok());
  got = t.Receive(CheckpointOf(node, 1, {2}));
  EXPECT_EQ(got.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(got.status().message(),
            "checkpoint of log watchfloor/b.cz/n1: origin b.cz/n1 is not a node of this "
            "federation's roster");
  EXPECT_EQ(t.stats().refused, refused + 1);
  absl::StatusOr<std::vector<StoredCheckpoint>> after = node.sqlite->Checkpoints(OriginOf(1), 16);
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->size(), before->size());
  t.Stop();
}

// ---------------------------------------------------------------------------
// The authorizer over real mutual TLS.

std::unique_ptr<grpc::Server> Serve(grpc::Service* service, int port,
                                    std::shared_ptr<grpc::ServerCredentials> creds) {
  grpc::ServerBuilder builder;
  builder.AddListeningPort(absl::StrCat("127.0.0.1:", port), creds);
  builder.RegisterService(service);
  return builder.BuildAndStart();
}

certs::KeyAndCert NodeCert(int party) {
  const absl::Time now = absl::Now();
  absl::StatusOr<certs::KeyAndCert> kc = certs::MintNodeCert(
      P(party).ca, P(party).name, "n1", now - absl::Hours(1), now + absl::Hours(24));
  EXPECT_TRUE(kc.ok()) << kc.status();
  return kc.ok() ? *kc : certs::KeyAndCert();
}

// Pushes `e` to the node at `port` (a.cz/n1) as the node of `party`, over
// mutual TLS with that node's certificate.
grpc::Status PushAs(int party, const certs::KeyAndCert& cert, int port, const Envelope& e,
                    v1::PushResponse* resp) {
  grpc::SslCredentialsOptions opts;
  opts.pem_root_certs = P(0).ca.cert_pem;
  opts.pem_private_key = cert.key_pem;
  opts.pem_cert_chain = cert.cert_pem;
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride(certs::NodeDnsName(P(0).name, "n1"));
  auto stub = v1::Federation::NewStub(grpc::CreateCustomChannel(
      absl::StrCat("127.0.0.1:", port), grpc::SslCredentials(opts), args));
  v1::PushRequest req;
  *req.add_envelopes() = e;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  (void)party;
  return stub->Push(&ctx, req, resp);
}

// a.cz/n1 runs on v1 (a, b, c); b's node pushes and is accepted (its
// identity is now cached). v2 removes b; after SetRoster b's very next push
// is refused, though its certificate still passes the TLS handshake (the
// trust bundle is not reloaded here) and its cached identity has not
// expired; nothing of it is stored. c, still a member, is unaffected.
TEST(AuthorizerSwapTest, ARemovedMembersCertificateIsRefusedOnItsNextRpc) {
  const Roster v1r = Genesis(MakeRoster(1, 2, {0, 1, 2}), {0, 1});
  absl::StatusOr<Roster> v2r = v1r.VerifyNext(SignedBy(MakeRoster(2, 2, {0, 2}), {0, 2}));
  ASSERT_TRUE(v2r.ok()) << v2r.status();

  NodeStorage node(OriginOf(0), &P(0).node_key, &v1r);
  Authorizer authz(Authorizer::Mode::kRoster, P(0).name, &v1r, Clock::Real());
  Gossip gossip(OriginOf(0), node.feed.get(),
                {{OriginOf(1), absl::StrCat("127.0.0.1:", PickFreePort())},
                 {OriginOf(2), absl::StrCat("127.0.0.1:", PickFreePort())}},
                [](const Peer& p) {
                  return grpc::CreateChannel(p.endpoint, grpc::InsecureChannelCredentials());
                },
                Gossip::Options());
  federation::FederationService service(
      &gossip, [&authz](const grpc::ServerContext& ctx) { return authz.AuthenticatePeer(ctx); });
  const certs::KeyAndCert server_cert = NodeCert(0);
  grpc::SslServerCredentialsOptions sopts(
      GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  sopts.pem_root_certs = v1r.CaBundlePem();
  sopts.pem_key_cert_pairs.push_back({server_cert.key_pem, server_cert.cert_pem});
  const int port = PickFreePort();
  std::unique_ptr<grpc::Server> server =
      Serve(&service, port, grpc::SslServerCredentials(sopts));
  ASSERT_NE(server, nullptr);

  const certs::KeyAndCert b_cert = NodeCert(1);
  const certs::KeyAndCert c_cert = NodeCert(2);
  Envelope b1 = Signed(P(1).node_key, OriginOf(1), 1, "", 1);
  Envelope b2 = Signed(P(1).node_key, OriginOf(1), 2, certs::AlertId(b1.payload()), 2);
  v1::PushResponse resp;
  grpc::Status st = PushAs(1, b_cert, port, b1, &resp);
  ASSERT_TRUE(st.ok()) << st.error_message();
  ASSERT_EQ(resp.verdicts_size(), 1);
  EXPECT_EQ(resp.verdicts(0), v1::PUSH_VERDICT_NEW);
  ASSERT_TRUE(WaitUntil([&] { return HeadOf(*node.feed, OriginOf(1)) == 1; },
                        absl::Seconds(30)));

  authz.SetRoster(&*v2r);
  const int64_t stored = node.Stored();
  resp.Clear();
  st = PushAs(1, b_cert, port, b2, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED) << st.error_message();
  EXPECT_NE(st.error_message().find("names member b.cz, which is not in roster v2"),
            std::string::npos)
      << st.error_message();
  EXPECT_EQ(resp.verdicts_size(), 0);
  EXPECT_EQ(node.Stored(), stored);
  EXPECT_EQ(HeadOf(*node.feed, OriginOf(1)), 1u);

  resp.Clear();
  st = PushAs(2, c_cert, port, Signed(P(2).node_key, OriginOf(2), 1, "", 3), &resp);
  ASSERT_TRUE(st.ok()) << st.error_message();
  ASSERT_EQ(resp.verdicts_size(), 1);
  EXPECT_EQ(resp.verdicts(0), v1::PUSH_VERDICT_NEW);
  gossip.Stop();
  server->Shutdown();
}

// ---------------------------------------------------------------------------
// Gossip's peer set.

std::unique_ptr<grpc::Server> ServeInsecure(grpc::Service* service, int port) {
  return Serve(service, port, grpc::InsecureServerCredentials());
}

federation::ChannelFactory InsecureChannels() {
  return [](const Peer& peer) {
    return grpc::CreateChannel(peer.endpoint, grpc::InsecureChannelCredentials());
  };
}

// Authenticates every caller on this port as `who`: each node serves each
// peer on a port of its own, so the port tells who calls.
federation::PeerAuthenticator As(std::string who) {
  return [who](const grpc::ServerContext&) -> absl::StatusOr<std::string> { return who; };
}

// A node of the test federation: storage, engine, and one server per peer
// that may call it.
struct GossipNode {
  GossipNode(int party, const Roster* roster)
      : origin(OriginOf(party)), storage(origin, &P(party).node_key, roster) {}

  // The port where `caller` reaches this node (served once Serve() ran).
  int PortFor(const std::string& caller) {
    auto it = ports.find(caller);
    if (it != ports.end()) return it->second;
    return ports[caller] = PickFreePort();
  }
  std::string AddressFor(const std::string& caller) {
    return absl::StrCat("127.0.0.1:", PortFor(caller));
  }
  void Serve() {
    for (const auto& [caller, port] : ports) {
      services.push_back(
          std::make_unique<federation::FederationService>(gossip.get(), As(caller)));
      servers.push_back(ServeInsecure(services.back().get(), port));
      ASSERT_NE(servers.back(), nullptr);
    }
  }
  ~GossipNode() {
    if (gossip != nullptr) gossip->Stop();
    for (auto& s : servers) s->Shutdown();
  }

  const std::string origin;
  NodeStorage storage;
  std::unique_ptr<Gossip> gossip;
  std::map<std::string, int> ports;
  std::vector<std::unique_ptr<federation::FederationService>> services;
  std::vector<std::unique_ptr<grpc::Server>> servers;
};

Gossip::Options FastOptions() {
  Gossip::Options o;
  o.anti_entropy_interval = absl::Milliseconds(100);
  o.frontier_grace = absl::Milliseconds(100);
  o.min_backoff = absl::Milliseconds(50);
  o.max_backoff = absl::Milliseconds(500);
  return o;
}

// a and b run on v1 and gossip; d's node starts on v2 (which admits d) and
// publishes, but a and b refuse it until they adopt v2: the key resolver
// learns d's key and SetPeers adds d. Then d receives a's and b's whole
// histories by anti-entropy, and a and b get d's feed; the a-b link is kept
// as it was.
TEST(GossipSetPeersTest, AnAddedPeerReceivesEveryFeedsHistory) {
  const Roster v1r = Genesis(MakeRoster(1, 1, {0, 1}), {0});
  absl::StatusOr<Roster> v2r = v1r.VerifyNext(SignedBy(MakeRoster(2, 1, {0, 1, 3}), {0}));
  ASSERT_TRUE(v2r.ok()) << v2r.status();
  GossipNode a(0, &v1r), b(1, &v1r), d(3, &*v2r);
  a.gossip = std::make_unique<Gossip>(a.origin, a.storage.feed.get(),
                                      std::vector<Peer>{{b.origin, b.AddressFor(a.origin)}},
                                      InsecureChannels(), FastOptions());
  b.gossip = std::make_unique<Gossip>(b.origin, b.storage.feed.get(),
                                      std::vector<Peer>{{a.origin, a.AddressFor(b.origin)}},
                                      InsecureChannels(), FastOptions());
  d.gossip = std::make_unique<Gossip>(
      d.origin, d.storage.feed.get(),
      std::vector<Peer>{{a.origin, a.AddressFor(d.origin)}, {b.origin, b.AddressFor(d.origin)}},
      InsecureChannels(), FastOptions());
  // Ports for the callers a and b will add later.
  const std::string d_for_a = d.AddressFor(a.origin), d_for_b = d.AddressFor(b.origin);
  a.Serve();
  b.Serve();
  d.Serve();
  for (int i = 0; i < 30; ++i) ASSERT_TRUE(a.storage.ledger->PublishSync(SampleDraft(i)).ok());
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(b.storage.ledger->PublishSync(SampleDraft(i)).ok());
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(d.storage.ledger->PublishSync(SampleDraft(i)).ok());
  a.gossip->Start();
  b.gossip->Start();
  d.gossip->Start();
  ASSERT_TRUE(WaitUntil(
      [&] {
        return HeadOf(*a.storage.feed, b.origin) == 20 &&
               HeadOf(*b.storage.feed, a.origin) == 30;
      },
      absl::Seconds(30)));
  // Not yet a peer of a or b: its calls are refused, it has nothing of theirs.
  EXPECT_FALSE(a.gossip->IsPeer(d.origin));
  ASSERT_TRUE(WaitUntil([&] { return d.gossip->stats().anti_entropy_rounds > 0 ||
                                     !d.gossip->stats().peers[a.origin].reachable; },
                        absl::Seconds(30)));
  EXPECT_EQ(HeadOf(*d.storage.feed, a.origin), 0u);
  EXPECT_EQ(HeadOf(*a.storage.feed, d.origin), 0u);
  // A mark on the a-b link, to tell whether SetPeers kept it.
  a.gossip->CountRefused(b.origin, "test_mark");
  ASSERT_EQ(a.gossip->stats().peers[b.origin].refused, 1u);

  for (GossipNode* n : {&a, &b}) n->storage.resolver.SetRoster(&*v2r);
  a.gossip->SetPeers({{b.origin, b.AddressFor(a.origin)}, {d.origin, d_for_a}});
  b.gossip->SetPeers({{a.origin, a.AddressFor(b.origin)}, {d.origin, d_for_b}});
  EXPECT_TRUE(a.gossip->IsPeer(d.origin));
  // The existing link is the same link: its counters were not reset.
  EXPECT_EQ(a.gossip->stats().peers[b.origin].refused, 1u);

  EXPECT_TRUE(WaitUntil(
      [&] {
        return HeadOf(*d.storage.feed, a.origin) == 30 &&
               HeadOf(*d.storage.feed, b.origin) == 20 &&
               HeadOf(*a.storage.feed, d.origin) == 10 &&
               HeadOf(*b.storage.feed, d.origin) == 10;
      },
      absl::Seconds(30)));
  EXPECT_EQ(d.storage.Stored(), 60);
  EXPECT_EQ(a.storage.Stored(), 60);
  EXPECT_EQ(b.storage.Stored(), 60);
}

// A link's channel trusts what its Peer says (in the node: the peer's member
// CA from the roster), fixed when the channel is made. So a roster version
// that gives a member a new CA must remake the links to its nodes, and only
// those: the others keep their state.
TEST(GossipSetPeersTest, ANewTrustRootRemakesOnlyThatPeersLink) {
  const Roster v1r = Genesis(MakeRoster(1, 1, {0, 1, 2}), {0});
  NodeStorage a(OriginOf(0), &P(0).node_key, &v1r);
  const std::string b = OriginOf(1), c = OriginOf(2);
  const std::string b_addr = absl::StrCat("127.0.0.1:", PickFreePort());
  const std::string c_addr = absl::StrCat("127.0.0.1:", PickFreePort());
  std::vector<Peer> made;  // every channel the engine asked for
  absl::Mutex made_mu;
  federation::ChannelFactory channels = [&](const Peer& peer) {
    absl::MutexLock lock(&made_mu);
    made.push_back(peer);
    return grpc::CreateChannel(peer.endpoint, grpc::InsecureChannelCredentials());
  };
  Gossip gossip(OriginOf(0), a.feed.get(),
                {{b, b_addr, "ca-of-b-1"}, {c, c_addr, "ca-of-c"}}, channels, FastOptions());
  gossip.CountRefused(b, "test_mark");
  gossip.CountRefused(c, "test_mark");
  {
    absl::MutexLock lock(&made_mu);
    ASSERT_EQ(made.size(), 2u);
  }

  gossip.SetPeers({{b, b_addr, "ca-of-b-2"}, {c, c_addr, "ca-of-c"}});
  {
    absl::MutexLock lock(&made_mu);
    ASSERT_EQ(made.size(), 3u);
    EXPECT_EQ(made.back().origin, b);
    EXPECT_EQ(made.back().trust_roots_pem, "ca-of-b-2");
  }
  EXPECT_EQ(gossip.stats().peers[b].refused, 0u) << "b's link was not remade";
  EXPECT_EQ(gossip.stats().peers[c].refused, 1u) << "c's link was remade";

  // The same peers again: nothing is remade.
  gossip.SetPeers({{b, b_addr, "ca-of-b-2"}, {c, c_addr, "ca-of-c"}});
  absl::MutexLock lock(&made_mu);
  EXPECT_EQ(made.size(), 3u);
}

// A Federation peer that answers every call after 30 s (or when released):
// a call to it is in flight when the peer is removed.
class SlowPeer final : public v1::Federation::Service {
 public:
  ~SlowPeer() override { Release(); }
  void Release() {
    if (!released_.HasBeenNotified()) released_.Notify();
  }
  int active() const { return active_.load(); }
  grpc::Status ExchangeFrontier(grpc::ServerContext*, const v1::FrontierMessage*,
                                v1::FrontierMessage*) override {
    return Stall();
  }
  grpc::Status Push(grpc::ServerContext*, const v1::PushRequest*, v1::PushResponse*) override {
    return Stall();
  }
  grpc::Status IHave(grpc::ServerContext*, const v1::IHaveRequest*,
                     v1::IHaveResponse*) override {
    return Stall();
  }

 private:
  grpc::Status Stall() {
    ++active_;
    released_.WaitForNotificationWithTimeout(absl::Seconds(30));
    --active_;
    return grpc::Status::OK;
  }
  absl::Notification released_;
  std::atomic<int> active_{0};
};

// a's peer b is removed while a's call to b hangs: SetPeers returns without
// waiting for b's answer (the call is cancelled), b is no peer any more, and
// b's pushes and frontier exchanges are refused with PERMISSION_DENIED,
// nothing stored.
TEST(GossipSetPeersTest, ARemovedPeersCallsAreRefusedAndNothingIsStored) {
  const Roster v1r = Genesis(MakeRoster(1, 1, {0, 1, 2}), {0});
  NodeStorage a(OriginOf(0), &P(0).node_key, &v1r);
  SlowPeer slow_b;
  const int slow_port = PickFreePort();
  std::unique_ptr<grpc::Server> slow_server = ServeInsecure(&slow_b, slow_port);
  ASSERT_NE(slow_server, nullptr);
  Gossip::Options options = FastOptions();
  options.rpc_timeout = absl::Seconds(60);
  Gossip gossip(OriginOf(0), a.feed.get(),
                {{OriginOf(1), absl::StrCat("127.0.0.1:", slow_port)},
                 {OriginOf(2), absl::StrCat("127.0.0.1:", PickFreePort())}},
                InsecureChannels(), options);
  federation::FederationService serves_b(&gossip, As(OriginOf(1)));
  const int a_for_b = PickFreePort();
  std::unique_ptr<grpc::Server> server = ServeInsecure(&serves_b, a_for_b);
  ASSERT_NE(server, nullptr);
  auto b_stub = v1::Federation::NewStub(grpc::CreateChannel(
      absl::StrCat("127.0.0.1:", a_for_b), grpc::InsecureChannelCredentials()));
  auto push = [&](const Envelope& e, v1::PushResponse* resp) {
    v1::PushRequest req;
    *req.add_envelopes() = e;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return b_stub->Push(&ctx, req, resp);
  };
  gossip.Start();

  Envelope b1 = Signed(P(1).node_key, OriginOf(1), 1, "", 1);
  Envelope b2 = Signed(P(1).node_key, OriginOf(1), 2, certs::AlertId(b1.payload()), 2);
  v1::PushResponse resp;
  grpc::Status st = push(b1, &resp);
  ASSERT_TRUE(st.ok()) << st.error_message();
  ASSERT_EQ(resp.verdicts_size(), 1);
  EXPECT_EQ(resp.verdicts(0), v1::PUSH_VERDICT_NEW);
  ASSERT_TRUE(WaitUntil([&] { return HeadOf(*a.feed, OriginOf(1)) == 1; }, absl::Seconds(30)));
  // a's own alert goes to b (and so do its anti-entropy rounds): b hangs.
  absl::StatusOr<PublishResult> own = a.ledger->PublishSync(SampleDraft(7));
  ASSERT_TRUE(own.ok()) << own.status();
  gossip.Broadcast(own->envelope);
  ASSERT_TRUE(WaitUntil([&] { return slow_b.active() > 0; }, absl::Seconds(30)));

  gossip.SetPeers({{OriginOf(2), absl::StrCat("127.0.0.1:", PickFreePort())},
                   {OriginOf(0), "ignored:1"}});
  // Returned while b still holds the call: it was cancelled, not awaited.
  EXPECT_GT(slow_b.active(), 0);
  EXPECT_FALSE(gossip.IsPeer(OriginOf(1)));
  EXPECT_FALSE(gossip.IsPeer(OriginOf(0)));
  EXPECT_TRUE(gossip.IsPeer(OriginOf(2)));
  EXPECT_EQ(gossip.stats().peers.count(OriginOf(1)), 0u);
  EXPECT_EQ(gossip.AntiEntropyWith(OriginOf(1)).status().code(), absl::StatusCode::kNotFound);

  const int64_t stored = static_cast<int64_t>(*a.sqlite->LastCursor());
  resp.Clear();
  st = push(b2, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED) << st.error_message();
  EXPECT_EQ(st.error_message(),
            absl::StrCat(OriginOf(1), " is not a peer of ", OriginOf(0),
                         " (not in the roster, or this node itself)"));
  EXPECT_EQ(resp.verdicts_size(), 0);
  v1::FrontierMessage theirs, mine;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  st = b_stub->ExchangeFrontier(&ctx, mine, &theirs);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  EXPECT_EQ(theirs.entries_size(), 0);
  EXPECT_EQ(static_cast<int64_t>(*a.sqlite->LastCursor()), stored);
  EXPECT_EQ(HeadOf(*a.feed, OriginOf(1)), 1u);

  gossip.Stop();
  slow_b.Release();
  server->Shutdown();
  slow_server->Shutdown();
}

}  // namespace
}  // namespace watchfloor::node
