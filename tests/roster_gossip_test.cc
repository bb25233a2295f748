// Roster versions in gossip (issue 9): Federation.GetRosterChain through the
// service's own parse-and-handle path (HandleFederationRequest), the
// roster_version both ways of a frontier exchange, and a node fetching and
// adopting the chain of a peer that reports a newer version, or refusing
// it. In-process engines with everything real: SQLite stores, Ledgers,
// RosterStores and RosterManagers in temp dirs, the FederationService on
// loopback gRPC.
#include <atomic>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "certs/roster.h"
#include "certs/roster_chain.h"
#include "federation/federation_handler.h"
#include "federation/federation_service.h"
#include "federation/gossip.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "node/clock.h"
#include "node/key_resolver.h"
#include "node/ledger.h"
#include "node/ledger_feed_store.h"
#include "node/roster_manager.h"
#include "node/roster_store.h"
#include "node/sqlite_alert_store.h"
#include "tests/federation_util.h"
#include "tests/roster_fixtures.h"
#include "tests/test_util.h"

namespace watchfloor::federation {
namespace {

using certs::Roster;
using testing::MakeRoster;
using testing::P;
using testing::PickFreePort;
using testing::SignedBy;
using testing::TempDir;
using testing::WaitUntil;
using watchfloor::v1::Envelope;

constexpr char kA[] = "a.cz/n1";
constexpr char kB[] = "b.cz/n1";

// v1 {a,b,c} 2-of-3, v2 admits d, v3 removes c, v4 admits e.
std::vector<Envelope> Versions() {
  return {SignedBy(MakeRoster(1, 2, {0, 1, 2}), {0, 1}),
          SignedBy(MakeRoster(2, 2, {0, 1, 2, 3}), {0, 1}),
          SignedBy(MakeRoster(3, 2, {0, 1, 3}), {0, 3}),
          SignedBy(MakeRoster(4, 2, {0, 1, 3, 4}), {1, 3})};
}

// The verified chain v1..v`n`.
std::vector<Roster> ChainUpTo(int n) {
  const std::vector<Envelope> v = Versions();
  absl::StatusOr<Roster> anchor = Roster::VerifyGenesis(v[0]);
  EXPECT_TRUE(anchor.ok()) << anchor.status();
  std::vector<Roster> chain = {*anchor};
  absl::StatusOr<std::vector<Roster>> rest =
      certs::VerifyChain(*anchor, std::vector<Envelope>(v.begin() + 1, v.begin() + n));
  EXPECT_TRUE(rest.ok()) << rest.status();
  for (Roster& r : *rest) chain.push_back(std::move(r));
  return chain;
}

std::vector<uint64_t> VersionsIn(const std::vector<Envelope>& envelopes) {
  std::vector<uint64_t> out;
  for (const Envelope& e : envelopes) {
    absl::StatusOr<watchfloor::v1::Roster> r = certs::ParseRosterPayload(e);
    out.push_back(r.ok() ? r->version() : 0);
  }
  return out;
}

// One node: its storage (SQLite, Ledger, feed store), its persisted roster
// chain and RosterManager (on a fake clock at 2029-01-01, when no test
// roster has expired), and a Gossip engine whose one peer is `peer` at
// `peer_port`, with the manager as its roster hooks. Serve() runs the real
// FederationService on `own_port`; only `peer` dials it, so the service
// names every caller `peer`.
struct RosterNode {
  RosterNode(const std::string& origin, int key_index, std::vector<Roster> chain,
             const std::string& peer, int peer_port)
      : clock(absl::FromUnixSeconds(1861920000)),
        resolver({{origin, P(key_index).node_key.public_key()}}),
        roster_store(dir.path()),
        manager(std::move(chain), &roster_store, &clock) {
    auto opened = node::SqliteAlertStore::Open(dir.Join("data"), origin);
    EXPECT_TRUE(opened.ok()) << opened.status();
    sqlite = std::move(*opened);
    auto ledger_or =
        node::Ledger::Open(sqlite.get(), &P(key_index).node_key, origin, &resolver, &clock, nullptr);
    EXPECT_TRUE(ledger_or.ok()) << ledger_or.status();
    ledger = std::move(*ledger_or);
    feed = std::make_unique<node::LedgerFeedStore>(ledger.get(), sqlite.get());
    Gossip::Options options;
    options.anti_entropy_interval = absl::Seconds(600);  // rounds only when a test asks
    options.seed = 1;
    gossip = std::make_unique<Gossip>(
        origin, feed.get(), std::vector<Peer>{{peer, absl::StrCat("127.0.0.1:", peer_port)}},
        [](const Peer& p) {
          return grpc::CreateChannel(p.endpoint, grpc::InsecureChannelCredentials());
        },
        options);
    Gossip::RosterHooks hooks;
    hooks.version = [this] { return manager.version(); };
    hooks.chain_after = [this](uint64_t after, size_t max) {
      ++chain_calls;
      return manager.EnvelopesAfter(after, max);
    };
    hooks.adopt = [this](const std::vector<Envelope>& v) { return manager.Adopt(v); };
    gossip->SetRosterHooks(std::move(hooks));
    service = std::make_unique<FederationService>(
        gossip.get(), [peer](const grpc::ServerContext&) -> absl::StatusOr<std::string> {
          return peer;
        });
  }
  ~RosterNode() {
    if (server != nullptr) server->Shutdown();
    gossip->Stop();
  }

  void Serve(int own_port) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort(absl::StrCat("127.0.0.1:", own_port),
                             grpc::InsecureServerCredentials());
    builder.RegisterService(service.get());
    server = builder.BuildAndStart();
    ASSERT_NE(server, nullptr);
  }

  // The versions a restart would load from the data directory.
  std::vector<uint64_t> OnDisk() {
    absl::StatusOr<std::vector<Roster>> chain = roster_store.Load(ChainUpTo(1).front());
    std::vector<uint64_t> out;
    if (chain.ok()) {
      for (const Roster& r : *chain) out.push_back(r.version());
    }
    return out;
  }

  TempDir dir;
  node::FakeClock clock;
  node::StaticKeyResolver resolver;
  node::RosterStore roster_store;
  node::RosterManager manager;
  std::atomic<int> chain_calls{0};
  std::unique_ptr<node::SqliteAlertStore> sqlite;
  std::unique_ptr<node::Ledger> ledger;
  std::unique_ptr<node::LedgerFeedStore> feed;
  std::unique_ptr<Gossip> gossip;
  std::unique_ptr<FederationService> service;
  std::unique_ptr<grpc::Server> server;
};

absl::StatusOr<watchfloor::v1::GetRosterChainResponse> GetRosterChain(
    Gossip& gossip, const std::string& caller, uint64_t after, uint32_t limit = 0) {
  watchfloor::v1::GetRosterChainRequest req;
  req.set_after_version(after);
  req.set_limit(limit);
  absl::StatusOr<std::string> bytes =
      HandleFederationRequest(gossip, caller, "GetRosterChain", req.SerializeAsString());
  if (!bytes.ok()) return bytes.status();
  watchfloor::v1::GetRosterChainResponse resp;
  EXPECT_TRUE(resp.ParseFromString(*bytes));
  return resp;
}

TEST(RosterGossipTest, GetRosterChainAnswersTheVersionsAfterTheCallers) {
  RosterNode b(kB, 1, ChainUpTo(4), kA, PickFreePort());
  const std::vector<Envelope> v = Versions();

  absl::StatusOr<watchfloor::v1::GetRosterChainResponse> after1 = GetRosterChain(*b.gossip, kA, 1);
  ASSERT_TRUE(after1.ok()) << after1.status();
  ASSERT_EQ(after1->versions_size(), 3);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(after1->versions(i).SerializeAsString(), v[i + 1].SerializeAsString()) << i;
  }
  auto limited = GetRosterChain(*b.gossip, kA, 1, /*limit=*/1);
  ASSERT_TRUE(limited.ok());
  EXPECT_EQ(VersionsIn({limited->versions().begin(), limited->versions().end()}),
            (std::vector<uint64_t>{2}));
  auto all = GetRosterChain(*b.gossip, kA, 0);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(VersionsIn({all->versions().begin(), all->versions().end()}),
            (std::vector<uint64_t>{1, 2, 3, 4}));
  auto none = GetRosterChain(*b.gossip, kA, 4);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->versions_size(), 0);

  // A caller that is not a peer learns nothing; bytes that do not parse are
  // counted against the peer that sent them.
  auto stranger = GetRosterChain(*b.gossip, "z.cz/n1", 1);
  EXPECT_EQ(stranger.status().code(), absl::StatusCode::kPermissionDenied);
  absl::StatusOr<std::string> garbage =
      HandleFederationRequest(*b.gossip, kA, "GetRosterChain", std::string("\x08\xff", 2));
  EXPECT_EQ(garbage.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(std::string(garbage.status().message()),
            "request could not be parsed as watchfloor.v1.GetRosterChainRequest: "
            "byte 0: field 1 (after_version): the varint is truncated or longer than 10 bytes");
  EXPECT_EQ(b.gossip->stats().peers[kA].refused, 1u);
  EXPECT_EQ(b.chain_calls.load(), 4);
}

// The answer stays within every node's 1 MiB message limit: versions stop
// at 960 KiB, but one version always goes.
TEST(RosterGossipTest, GetRosterChainIsCappedInBytesButAlwaysCarriesOneVersion) {
  RosterNode b(kB, 1, ChainUpTo(1), kA, PickFreePort());
  size_t payload = 0;
  Gossip::RosterHooks hooks;
  hooks.chain_after = [&payload](uint64_t, size_t max) {
    std::vector<Envelope> out(std::min<size_t>(max, 3));
    for (Envelope& e : out) e.set_payload(std::string(payload, 'x'));
    return out;
  };
  b.gossip->SetRosterHooks(hooks);
  payload = 400 << 10;
  auto capped = GetRosterChain(*b.gossip, kA, 1);
  ASSERT_TRUE(capped.ok());
  EXPECT_EQ(capped->versions_size(), 2);
  EXPECT_LT(capped->ByteSizeLong(), size_t{1} << 20);
  payload = 2 << 20;
  auto one = GetRosterChain(*b.gossip, kA, 1);
  ASSERT_TRUE(one.ok());
  EXPECT_EQ(one->versions_size(), 1);
  auto limit = GetRosterChain(*b.gossip, kA, 1, /*limit=*/1000);  // capped at 64
  ASSERT_TRUE(limit.ok());
}

TEST(RosterGossipTest, EveryFrontierCarriesTheRosterVersionBothWays) {
  RosterNode b(kB, 1, ChainUpTo(4), kA, PickFreePort());
  watchfloor::v1::FrontierMessage theirs;
  theirs.set_roster_version(4);
  watchfloor::v1::FrontierMessage answer = b.gossip->HandleFrontier(kA, theirs);
  EXPECT_EQ(answer.roster_version(), 4u);
  const Gossip::PeerStats a = b.gossip->stats().peers[kA];
  EXPECT_EQ(a.roster_version, 4u);
  EXPECT_NE(a.roster_reported, absl::InfinitePast());
  EXPECT_EQ(b.chain_calls.load(), 0);  // not newer: nothing fetched
}

// A on v1 swaps frontiers with B on v3: A fetches GetRosterChain(after 1)
// from B on its fetch thread, verifies, persists and runs on v3; B learned
// that A was on v1. Once level, further rounds fetch nothing.
TEST(RosterGossipTest, ANewerVersionInAPeersFrontierIsFetchedAndAdopted) {
  const int a_port = PickFreePort(), b_port = PickFreePort();
  RosterNode a(kA, 0, ChainUpTo(1), kB, b_port);
  RosterNode b(kB, 1, ChainUpTo(3), kA, a_port);
  a.Serve(a_port);
  b.Serve(b_port);
  a.gossip->Start();
  b.gossip->Start();

  ASSERT_TRUE(a.gossip->AntiEntropyWith(kB).ok());
  ASSERT_TRUE(WaitUntil([&] { return a.manager.version() == 3; }, absl::Seconds(30)));
  EXPECT_EQ(a.OnDisk(), (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(a.gossip->stats().peers[kB].roster_version, 3u);
  EXPECT_EQ(b.gossip->stats().peers[kA].roster_version, 1u);
  EXPECT_EQ(b.chain_calls.load(), 1);

  ASSERT_TRUE(a.gossip->AntiEntropyWith(kB).ok());
  ASSERT_TRUE(b.gossip->AntiEntropyWith(kA).ok());
  EXPECT_EQ(b.gossip->stats().peers[kA].roster_version, 3u);
  EXPECT_EQ(b.chain_calls.load(), 1);
  EXPECT_EQ(a.gossip->stats().peers[kB].refused, 0u);
  EXPECT_EQ(a.manager.stats().adopted, 2u);
}

// B reports v2 but its chain is v2 signed by one member of v1's 2: A
// refuses it, counts it against B once, logs it once, persists nothing and
// stays on v1, and does not ask B again however often B reports v2. When B
// later reports v3 with a valid chain, A adopts it.
TEST(RosterGossipTest, ARefusedChainCountsAgainstThePeerOnceAndChangesNothing) {
  const int a_port = PickFreePort(), b_port = PickFreePort();
  RosterNode a(kA, 0, ChainUpTo(1), kB, b_port);
  RosterNode b(kB, 1, ChainUpTo(3), kA, a_port);
  const Envelope short_v2 = SignedBy(MakeRoster(2, 2, {0, 1, 2, 3}), {0});
  std::atomic<bool> honest{false};
  std::atomic<int> calls{0};
  Gossip::RosterHooks hostile;
  hostile.version = [&] { return honest ? b.manager.version() : uint64_t{2}; };
  hostile.chain_after = [&](uint64_t after, size_t max) {
    ++calls;
    return honest ? b.manager.EnvelopesAfter(after, max) : std::vector<Envelope>{short_v2};
  };
  b.gossip->SetRosterHooks(hostile);
  a.Serve(a_port);
  b.Serve(b_port);
  a.gossip->Start();
  b.gossip->Start();

  ::testing::internal::CaptureStderr();
  ASSERT_TRUE(a.gossip->AntiEntropyWith(kB).ok());
  const bool counted =
      WaitUntil([&] { return a.gossip->stats().peers[kB].refused == 1; }, absl::Seconds(30));
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(a.gossip->AntiEntropyWith(kB).ok());
  const std::string log = ::testing::internal::GetCapturedStderr();
  ASSERT_TRUE(counted);
  EXPECT_EQ(calls.load(), 1);
  EXPECT_EQ(a.manager.version(), 1u);
  EXPECT_EQ(a.OnDisk(), (std::vector<uint64_t>{1}));
  EXPECT_FALSE(std::filesystem::exists(a.roster_store.path()));
  EXPECT_EQ(a.manager.stats().refused, 1u);
  // The structured line (log/log.h, JSON by default) after its time.
  const std::string line =
      "\"level\":\"warn\",\"component\":\"gossip\",\"event\":\"roster_chain_refused\","
      "\"peer\":\"b.cz/n1\",\"roster_version\":2,\"code\":\"UNAUTHENTICATED\","
      "\"reason\":\"roster chain link v2: roster v2 has 1 valid member signature; 2 required "
      "(threshold of v1)";
  size_t count = 0;
  for (size_t at = log.find(line); at != std::string::npos; at = log.find(line, at + 1)) ++count;
  EXPECT_EQ(count, 1u) << log;

  honest = true;
  ASSERT_TRUE(WaitUntil(
      [&] {
        (void)a.gossip->AntiEntropyWith(kB);
        return a.manager.version() == 3;
      },
      absl::Seconds(30)));
  EXPECT_EQ(calls.load(), 2);
  EXPECT_EQ(a.OnDisk(), (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(a.gossip->stats().peers[kB].refused, 1u);
}

}  // namespace
}  // namespace watchfloor::federation
