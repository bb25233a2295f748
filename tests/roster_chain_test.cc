// Tests for certs/roster_chain.h (link-by-link verification, adoption with
// expiry) and node/roster_store.h (the persisted chain: load from the
// anchor, atomic replacement that survives kill -9 mid-write).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "certs/dsse.h"
#include "certs/roster.h"
#include "certs/roster_chain.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "node/clock.h"
#include "node/roster_manager.h"
#include "node/roster_store.h"
#include "tests/roster_fixtures.h"
#include "tests/test_util.h"

namespace watchfloor::node {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using certs::Roster;
using testing::Genesis;
using testing::MakeRoster;
using testing::SignedBy;
using watchfloor::v1::Envelope;

// v1 {a,b,c} 2-of-3, v2 admits d, v3 removes c, v4 admits e: each signed
// by enough of its predecessor's and its own members.
std::vector<Envelope> Versions() {
  return {SignedBy(MakeRoster(1, 2, {0, 1, 2}), {0, 1}),
          SignedBy(MakeRoster(2, 2, {0, 1, 2, 3}), {0, 1}),
          SignedBy(MakeRoster(3, 2, {0, 1, 3}), {0, 3}),
          SignedBy(MakeRoster(4, 2, {0, 1, 3, 4}), {1, 3})};
}

Roster Anchor(const Envelope& env) {
  absl::StatusOr<Roster> r = Roster::VerifyGenesis(env);
  if (!r.ok()) std::abort();
  return *std::move(r);
}

std::vector<uint64_t> VersionsOf(const std::vector<Roster>& chain) {
  std::vector<uint64_t> out;
  for (const Roster& r : chain) out.push_back(r.version());
  return out;
}

// ------------------------------------------------------------------ chains

TEST(RosterChainTest, VerifiesEachLinkFromTheAnchor) {
  const std::vector<Envelope> v = Versions();
  absl::StatusOr<std::vector<Roster>> chain =
      certs::VerifyChain(Anchor(v[0]), {v[1], v[2], v[3]});
  ASSERT_TRUE(chain.ok()) << chain.status();
  EXPECT_EQ(VersionsOf(*chain), (std::vector<uint64_t>{2, 3, 4}));
  EXPECT_EQ(chain->back().Member("c.cz"), nullptr);
}

TEST(RosterChainTest, TheFirstBadLinkIsNamed) {
  const std::vector<Envelope> v = Versions();
  // v4 signed by c.cz (removed in v3) and b.cz: c.cz counts for nothing.
  const Envelope bad_v4 = SignedBy(MakeRoster(4, 2, {0, 1, 3, 4}), {1, 2});
  absl::StatusOr<std::vector<Roster>> chain =
      certs::VerifyChain(Anchor(v[0]), {v[1], v[2], bad_v4});
  ASSERT_EQ(chain.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(chain.status().message()),
              StartsWith("roster chain link v4: roster v4 has 1 valid member signature; "
                         "2 required (threshold of v3)"));
  // A gap.
  chain = certs::VerifyChain(Anchor(v[0]), {v[1], v[3]});
  ASSERT_EQ(chain.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(chain.status().message()),
              StartsWith("roster chain link v3: roster v4 skips versions"));
  // A rollback.
  chain = certs::VerifyChain(Anchor(v[1]), {v[0]});
  ASSERT_EQ(chain.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(chain.status().message()),
              HasSubstr("roster v1 is not newer than the current v2"));
}

TEST(RosterChainTest, AdoptionRefusesAnExpiredNewestVersion) {
  const std::vector<Envelope> v = Versions();
  v1::Roster r2 = MakeRoster(2, 2, {0, 1, 2, 3});
  r2.mutable_expires()->set_seconds(1893456000);  // 2030-01-01
  const Envelope v2 = SignedBy(r2, {0, 1});
  absl::StatusOr<Roster> adopted =
      certs::VerifyAdoption(Anchor(v[0]), {v2}, absl::FromUnixSeconds(1893456001));
  ASSERT_EQ(adopted.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(adopted.status().message()),
              StartsWith("refusing to adopt: roster v2 expired at 2030-01-01T00:00:00Z"));
  adopted = certs::VerifyAdoption(Anchor(v[0]), {v2}, absl::FromUnixSeconds(1893455999));
  ASSERT_TRUE(adopted.ok()) << adopted.status();
  EXPECT_EQ(adopted->version(), 2u);
  // An expired intermediate version is only a link.
  v1::Roster r3 = MakeRoster(3, 2, {0, 1, 3});
  adopted = certs::VerifyAdoption(Anchor(v[0]), {v2, SignedBy(r3, {0, 1})},
                                  absl::FromUnixSeconds(1893456001));
  ASSERT_TRUE(adopted.ok()) << adopted.status();
  EXPECT_EQ(adopted->version(), 3u);
  EXPECT_EQ(certs::VerifyAdoption(Anchor(v[0]), {}, absl::Now()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// ------------------------------------------------------------------- store

std::vector<Roster> ChainUpTo(size_t n) {
  const std::vector<Envelope> v = Versions();
  std::vector<Roster> chain{Anchor(v[0])};
  for (size_t i = 1; i < n; ++i) chain.push_back(*chain.back().VerifyNext(v[i]));
  return chain;
}

TEST(RosterStoreTest, WithoutAFileTheChainIsTheAnchor) {
  testing::TempDir dir;
  absl::StatusOr<std::vector<Roster>> chain =
      RosterStore(dir.path()).Load(Anchor(Versions()[0]));
  ASSERT_TRUE(chain.ok()) << chain.status();
  EXPECT_EQ(VersionsOf(*chain), (std::vector<uint64_t>{1}));
}

TEST(RosterStoreTest, SavedChainLoadsFromTheAnchorAndFromANewerPinnedOne) {
  testing::TempDir dir;
  RosterStore store(dir.path());
  ASSERT_EQ(store.Save(ChainUpTo(4)), absl::OkStatus());
  absl::StatusOr<std::vector<Roster>> chain = store.Load(Anchor(Versions()[0]));
  ASSERT_TRUE(chain.ok()) << chain.status();
  EXPECT_EQ(VersionsOf(*chain), (std::vector<uint64_t>{1, 2, 3, 4}));
  EXPECT_EQ(chain->back().envelope().SerializeAsString(),
            Versions()[3].SerializeAsString());
  // The operator pinned v2 in roster_file: v3 and v4 still chain from it.
  chain = store.Load(Anchor(Versions()[1]));
  ASSERT_TRUE(chain.ok()) << chain.status();
  EXPECT_EQ(VersionsOf(*chain), (std::vector<uint64_t>{2, 3, 4}));
  // Pinned past the file: the file adds nothing.
  ASSERT_EQ(store.Save(ChainUpTo(2)), absl::OkStatus());
  chain = store.Load(Anchor(Versions()[2]));
  ASSERT_TRUE(chain.ok()) << chain.status();
  EXPECT_EQ(VersionsOf(*chain), (std::vector<uint64_t>{3}));
}

TEST(RosterStoreTest, AFileThatDoesNotChainIsDataLossAndNamesTheFile) {
  testing::TempDir dir;
  RosterStore store(dir.path());
  const std::vector<Envelope> v = Versions();
  std::ofstream(store.path()) << certs::EnvelopeToJson(v[0]) << "\n"
                              << certs::EnvelopeToJson(v[2]) << "\n";
  absl::StatusOr<std::vector<Roster>> chain = store.Load(Anchor(v[0]));
  ASSERT_EQ(chain.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(chain.status().message(),
            absl::StrCat("roster chain ", store.path(),
                         ": it does not chain from roster_file v1: roster chain link v2: "
                         "roster v3 skips versions: the current roster is v1, so the next "
                         "must be v2; verify the versions in between first; move the file "
                         "away to start from the configured roster_file"));
  std::ofstream(store.path()) << "{\"payload\": \"trunc";
  chain = store.Load(Anchor(v[0]));
  ASSERT_EQ(chain.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(chain.status().message()),
              HasSubstr(": line 1 is not a DSSE JSON envelope"));
  std::ofstream(store.path()) << certs::EnvelopeToJson(
                                     SignedBy(MakeRoster(1, 2, {0, 1, 3}), {0, 1}))
                              << "\n";
  chain = store.Load(Anchor(v[0]));
  ASSERT_EQ(chain.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(chain.status().message()),
              HasSubstr(": line 1 holds another roster v1 than roster_file"));
}

TEST(RosterStoreTest, ALeftoverTemporaryFileIsIgnoredAndRemoved) {
  testing::TempDir dir;
  RosterStore store(dir.path());
  ASSERT_EQ(store.Save(ChainUpTo(2)), absl::OkStatus());
  // A Save of v3 interrupted before its rename: half a line.
  const std::string v3 = certs::EnvelopeToJson(Versions()[2]);
  std::ofstream(store.path() + ".tmp") << v3.substr(0, v3.size() / 2);
  absl::StatusOr<std::vector<Roster>> chain = store.Load(Anchor(Versions()[0]));
  ASSERT_TRUE(chain.ok()) << chain.status();
  EXPECT_EQ(VersionsOf(*chain), (std::vector<uint64_t>{1, 2}));
  EXPECT_NE(access((store.path() + ".tmp").c_str(), F_OK), 0);
}

// A child process saves the 3- and 4-version chains in turn as fast as it
// can; the parent kills it with SIGKILL at varying moments. Whatever moment
// the kill hits, the file holds one chain or the other, complete.
TEST(RosterStoreTest, KillNineDuringSaveLeavesTheOldOrTheNewChain) {
  testing::TempDir dir;
  RosterStore store(dir.path());
  const std::vector<Roster> three = ChainUpTo(3);
  const std::vector<Roster> four = ChainUpTo(4);
  ASSERT_EQ(store.Save(three), absl::OkStatus());
  int seen3 = 0, seen4 = 0;
  for (int round = 0; round < 12; ++round) {
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      for (uint64_t i = 0;; ++i) {
        if (!store.Save(i % 2 == 0 ? four : three).ok()) _exit(3);
      }
    }
    usleep(2000 + round * 1500);
    ASSERT_EQ(kill(child, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFSIGNALED(status)) << "the child failed to save: " << status;
    absl::StatusOr<std::vector<Roster>> chain = store.Load(three.front());
    ASSERT_TRUE(chain.ok()) << "round " << round << ": " << chain.status();
    ASSERT_TRUE(chain->size() == 3 || chain->size() == 4) << chain->size();
    (chain->size() == 3 ? seen3 : seen4)++;
  }
  EXPECT_EQ(seen3 + seen4, 12);
}

// ----------------------------------------------------------------- manager

// A manager on v1 persisted in `dir`, on a fake clock at 2029-01-01.
struct Managed {
  explicit Managed(const std::string& dir)
      : store(dir), clock(absl::FromUnixSeconds(1861920000)),
        manager(ChainUpTo(1), &store, &clock) {
    manager.AddListener([this](const Roster& r) { heard.push_back(r.version()); });
  }
  // What a restart would load from disk.
  std::vector<uint64_t> OnDisk() {
    absl::StatusOr<std::vector<Roster>> chain = store.Load(ChainUpTo(1).front());
    return chain.ok() ? VersionsOf(*chain) : std::vector<uint64_t>{};
  }
  RosterStore store;
  FakeClock clock;
  RosterManager manager;
  std::vector<uint64_t> heard;
};

// What judges by the roster switches before the version is in force; what
// tells the peers runs once it is, so no peer hears of a version this node
// does not judge by yet.
TEST(RosterManagerTest, ListenersRunBeforeTheVersionIsInForceAnnouncersAfter) {
  testing::TempDir dir;
  Managed m(dir.path());
  std::vector<std::string> seen;
  m.manager.AddListener([&](const Roster& r) {
    seen.push_back(absl::StrCat("listener v", r.version(), " in force v", m.manager.version(),
                                " chain to v", m.manager.Chain().back().version()));
  });
  m.manager.AddAnnouncer([&](const Roster& r) {
    seen.push_back(absl::StrCat("announcer v", r.version(), " in force v", m.manager.version()));
  });
  const std::vector<Envelope> v = Versions();
  ASSERT_TRUE(m.manager.Adopt({v[1]}).ok());
  EXPECT_EQ(seen, (std::vector<std::string>{"listener v2 in force v1 chain to v2",
                                            "announcer v2 in force v2"}));
}

TEST(RosterManagerTest, AdoptsPersistsThenTellsTheListeners) {
  testing::TempDir dir;
  Managed m(dir.path());
  const std::vector<Envelope> v = Versions();
  const Roster* before = m.manager.current();
  absl::StatusOr<uint64_t> adopted = m.manager.Adopt({v[0], v[1], v[2]});
  ASSERT_TRUE(adopted.ok()) << adopted.status();
  EXPECT_EQ(*adopted, 3u);
  EXPECT_EQ(m.manager.version(), 3u);
  EXPECT_EQ(m.heard, (std::vector<uint64_t>{3}));
  EXPECT_EQ(m.OnDisk(), (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_EQ(before->version(), 1u);  // earlier pointers stay valid
  EXPECT_EQ(m.manager.EnvelopesAfter(1, 10).size(), 2u);
  EXPECT_EQ(m.manager.EnvelopesAfter(1, 1).front().SerializeAsString(),
            v[1].SerializeAsString());
  EXPECT_TRUE(m.manager.EnvelopesAfter(3, 10).empty());
  EXPECT_EQ(m.manager.stats().adopted, 2u);
}

TEST(RosterManagerTest, EveryRefusalChangesNothing) {
  testing::TempDir dir;
  Managed m(dir.path());
  const std::vector<Envelope> v = Versions();
  ASSERT_TRUE(m.manager.Adopt({v[1]}).ok());
  ASSERT_EQ(m.OnDisk(), (std::vector<uint64_t>{1, 2}));
  m.heard.clear();
  v1::Roster expiring = MakeRoster(3, 2, {0, 1, 3});
  expiring.mutable_expires()->set_seconds(1861919999);  // a second ago
  struct Case {
    const char* name;
    std::vector<Envelope> offered;
    absl::StatusCode code;
    const char* message;
  };
  const Case cases[] = {
      {"rollback", {v[0]}, absl::StatusCode::kFailedPrecondition,
       "roster v1 is not newer than the current v2"},
      {"skip", {v[3]}, absl::StatusCode::kFailedPrecondition,
       "roster chain link v3: roster v4 skips versions"},
      {"too few signatures", {SignedBy(MakeRoster(3, 2, {0, 1, 3}), {3})},
       absl::StatusCode::kUnauthenticated,
       "roster chain link v3: roster v3 has 1 valid member signature; 2 required"},
      {"padded", {[&] {
         Envelope e = SignedBy(MakeRoster(3, 2, {0, 1, 3}), {3});
         *e.add_signatures() = e.signatures(0);
         return e;
       }()},
       absl::StatusCode::kUnauthenticated, "has 1 valid member signature; 2 required"},
      {"expired", {SignedBy(expiring, {0, 1})}, absl::StatusCode::kFailedPrecondition,
       "refusing to adopt: roster v3 expired at 2028-12-31T23:59:59Z"},
      {"same version", {v[1]}, absl::StatusCode::kAlreadyExists,
       "roster v2 is already in force here"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<uint64_t> r = m.manager.Adopt(c.offered);
    EXPECT_EQ(r.status().code(), c.code) << r.status();
    EXPECT_THAT(std::string(r.status().message()), HasSubstr(c.message));
    EXPECT_EQ(m.manager.version(), 2u);
    EXPECT_EQ(m.OnDisk(), (std::vector<uint64_t>{1, 2}));
    EXPECT_TRUE(m.heard.empty());
  }
  EXPECT_EQ(m.manager.stats().refused, 5u);
  EXPECT_EQ(m.manager.ExpiryWarning(), "");
}

TEST(RosterManagerTest, AnExpiredCurrentRosterKeepsRunningWithAWarning) {
  testing::TempDir dir;
  Managed m(dir.path());
  v1::Roster r2 = MakeRoster(2, 2, {0, 1, 2, 3});
  r2.mutable_expires()->set_seconds(1861920060);  // in a minute
  ASSERT_TRUE(m.manager.Adopt({SignedBy(r2, {0, 1})}).ok());
  EXPECT_EQ(m.manager.ExpiryWarning(), "");
  m.clock.Advance(absl::Minutes(2));
  EXPECT_EQ(m.manager.version(), 2u);
  EXPECT_EQ(m.manager.ExpiryWarning(),
            "WARNING: roster v2 expired at 2029-01-01T00:01:00Z (now "
            "2029-01-01T00:02:00Z); the members must sign a newer version with a later "
            "expires ('watchfloor roster draft --expires'); this node keeps running on "
            "it until a newer version arrives");
  // A newer version ends the warning.
  ASSERT_TRUE(m.manager.Adopt({SignedBy(MakeRoster(3, 2, {0, 1, 2, 3}), {0, 1})}).ok());
  EXPECT_EQ(m.manager.ExpiryWarning(), "");
}

}  // namespace
}  // namespace watchfloor::node
