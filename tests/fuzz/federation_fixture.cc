#include "tests/fuzz/federation_fixture.h"

#include <stdlib.h>

#include <cstdio>
#include <filesystem>
#include <limits>
#include <optional>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "certs/dsse.h"
#include "certs/ids.h"
#include "certs/keys.h"
#include "certs/roster.h"
#include "federation/federation_handler.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "node/clock.h"
#include "node/key_resolver.h"
#include "node/ledger.h"
#include "node/ledger_feed_store.h"
#include "node/roster_manager.h"
#include "node/roster_store.h"
#include "node/sqlite_alert_store.h"
#include "node/transparency.h"
#include "tests/fuzz/fuzz_util.h"

namespace watchfloor::fuzz {
namespace {

template <typename T>
T Must(absl::StatusOr<T> v, const char* what) {
  WF_FUZZ_CHECK(v.ok(), std::string(what) + ": " + v.status().ToString());
  return *std::move(v);
}

class RosterKeys final : public node::KeyResolver {
 public:
  explicit RosterKeys(const certs::Roster* r) : r_(r) {}
  std::optional<certs::PublicKey> Find(absl::string_view origin) const override {
    return r_->NodeKey(origin);
  }

 private:
  const certs::Roster* r_;
};

std::string MakeTempDir() {
  const char* base = getenv("TMPDIR");
  std::string tmpl = std::string(base != nullptr && *base ? base : "/tmp") +
                     "/wf-federation-fuzz.XXXXXX";
  WF_FUZZ_CHECK(mkdtemp(tmpl.data()) != nullptr, "mkdtemp " + tmpl);
  return tmpl;
}

}  // namespace

// Declared in destruction order reversed: gossip first, the store last.
struct FederationNode::Parts {
  std::string dir = MakeTempDir();
  certs::Roster roster = Must(
      certs::Roster::VerifyGenesis(
          Must(certs::EnvelopeFromJson(SourceFile("tests/testdata/audit/roster.json")),
               "roster.json")),
      "roster.json");
  certs::SigningKey key = Must(
      certs::SigningKey::FromSeed(
          certs::Sha256("watchfloor audit testdata node " + std::string(kSelf))),
      "node key");
  RosterKeys keys{&roster};
  // 2027-01-02: inside the roster's validity, after its issued_at.
  node::FakeClock clock{absl::FromUnixSeconds(1798848000)};
  std::unique_ptr<node::SqliteAlertStore> store;
  std::unique_ptr<node::Ledger> ledger;
  std::unique_ptr<node::Transparency> transparency;
  std::unique_ptr<node::LedgerFeedStore> feed_store;
  std::unique_ptr<node::RosterStore> roster_store;
  std::unique_ptr<node::RosterManager> roster_manager;
  std::unique_ptr<federation::Gossip> gossip;
};

FederationNode::FederationNode() : parts_(std::make_unique<Parts>()) {
  Parts& p = *parts_;
  std::optional<certs::PublicKey> own = p.roster.NodeKey(kSelf);
  WF_FUZZ_CHECK(own.has_value() && own->raw() == p.key.public_key().raw(),
                "the seeded key is not c.cz/n1's roster key");
  p.store = Must(node::SqliteAlertStore::Open(p.dir, std::string(kSelf)), "store");
  p.ledger = Must(node::Ledger::Open(p.store.get(), &p.key, std::string(kSelf), &p.keys,
                                     &p.clock, [](const auto&) {}),
                  "ledger");
  p.transparency = std::make_unique<node::Transparency>(
      std::string(kSelf), &p.key, &p.roster, p.ledger.get(), p.store.get(), &p.clock,
      node::Transparency::Options());
  p.feed_store = std::make_unique<node::LedgerFeedStore>(p.ledger.get(), p.store.get());
  p.feed_store->set_transparency(p.transparency.get());
  std::vector<federation::Peer> peers;
  for (absl::string_view c : kCallers) peers.push_back({std::string(c), "127.0.0.1:9"});
  federation::Gossip::Options opts;
  opts.seed = 1;
  // A fuzzer is a peer that sends invalid input without end: graylisted
  // after a few inputs, its pushes would no longer reach the ingest path
  // being fuzzed. Scoring still runs (and is fuzzed); it just never
  // graylists.
  opts.graylist_threshold = -std::numeric_limits<double>::infinity();
  p.gossip = std::make_unique<federation::Gossip>(
      std::string(kSelf), p.feed_store.get(), peers,
      [](const federation::Peer& peer) {
        return grpc::CreateChannel(peer.endpoint, grpc::InsecureChannelCredentials());
      },
      opts);
  p.roster_store = std::make_unique<node::RosterStore>(p.dir);
  p.roster_manager = std::make_unique<node::RosterManager>(
      std::vector<certs::Roster>{p.roster}, p.roster_store.get(), &p.clock);
  node::RosterManager* manager = p.roster_manager.get();
  federation::Gossip::RosterHooks hooks;
  hooks.version = [manager] { return manager->version(); };
  hooks.chain_after = [manager](uint64_t after, size_t max) {
    return manager->EnvelopesAfter(after, max);
  };
  hooks.adopt = [manager](const std::vector<v1::Envelope>& versions) {
    return manager->Adopt(versions);
  };
  p.gossip->SetRosterHooks(std::move(hooks));
  federation::Gossip* gossip = p.gossip.get();
  p.ledger->SetEvidenceListener([gossip](const node::Evidence& e) {
    federation::EvidencePair pair;
    if (e.kind == "split-view") {
      pair.first_note = e.stored_envelope;
      pair.second_note = e.conflict_envelope;
      gossip->BroadcastEvidence(pair);
    } else if (pair.first.ParseFromString(e.stored_envelope) &&
               pair.second.ParseFromString(e.conflict_envelope)) {
      gossip->BroadcastEvidence(pair);
    }
  });
  p.transparency->SetBroadcast(
      [gossip](const std::string& note) { gossip->BroadcastCheckpoint(note); });
  const absl::Status started = p.transparency->Start();
  WF_FUZZ_CHECK(started.ok(), started.ToString());
}

FederationNode::~FederationNode() {
  Parts& p = *parts_;
  // As NodeServer does: the transparency thread broadcasts through the
  // gossip engine, so it stops first (the other order let a checkpoint
  // broadcast run on a destroyed engine: UBSan "invalid vptr", once).
  p.transparency.reset();
  p.gossip.reset();
  p.roster_manager.reset();
  p.ledger.reset();
  p.feed_store.reset();
  p.store.reset();
  std::error_code ignored;
  std::filesystem::remove_all(p.dir, ignored);
}

federation::Gossip& FederationNode::gossip() { return *parts_->gossip; }

absl::Status FederationNode::Handle(FederationMethod method, const std::string& caller,
                                    absl::string_view bytes) {
  static constexpr absl::string_view kNames[kFederationMethods] = {
      "Push",         "IHave",           "Fetch",          "ExchangeFrontier", "PullRange",
      "PushEvidence", "PushCheckpoints", "GetRosterChain"};
  // The service's own path: permission, parse, per-call limits, handler.
  const absl::StatusOr<std::string> answer = federation::HandleFederationRequest(
      *parts_->gossip, caller, kNames[static_cast<int>(method)], bytes);
  // No answer may exceed the 1 MiB message every node accepts.
  WF_FUZZ_CHECK(!answer.ok() || answer->size() < (size_t{1} << 20),
                std::string(kNames[static_cast<int>(method)]) + " answered over 1 MiB");
  const absl::Status status = answer.status();
  // A checkpoint op with no origin stores nothing; its callback runs after
  // the writer's next commit, so after every op the request queued.
  absl::Notification committed;
  parts_->ledger->StoreCheckpoint(node::StoredCheckpoint{}, std::nullopt,
                                  [&committed](absl::Status) { committed.Notify(); });
  committed.WaitForNotification();
  const absl::Status health = parts_->ledger->health();
  WF_FUZZ_CHECK(health.ok(), "a peer's request broke the store: " + health.ToString());
  return status;
}

}  // namespace watchfloor::fuzz
