#include "tests/sim/sim_node.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/roster_fixtures.h"

namespace watchfloor::testing {

namespace v1 = ::watchfloor::v1;

SimLayout::SimLayout(int nodes_per_member, const std::string& key_seed, int nodes)
    : nodes_per_member_(nodes_per_member),
      nodes_(nodes > 0 ? std::min(nodes, kMembers * nodes_per_member)
                       : kMembers * nodes_per_member) {
  for (int k = 0; k < nodes_; ++k) {
    std::string seed = absl::StrCat(key_seed, "-", k);
    seed.resize(certs::kEd25519SeedSize, '.');
    keys_.push_back(*certs::SigningKey::FromSeed(seed));
  }
  v1::Roster proto = MakeRoster(1, 1, {0, 1, 2, 3});
  for (int m = 0; m < kMembers; ++m) {
    v1::RosterMember* member = proto.mutable_members(m);
    member->clear_nodes();
    for (int k = 0; k < nodes_per_member_ && m * nodes_per_member_ + k < nodes_; ++k) {
      const int i = m * nodes_per_member_ + k;
      v1::RosterNode* n = member->add_nodes();
      n->set_origin(OriginOf(i));
      n->set_signing_key_pem(NodeKey(i).public_key().ToPem());
      n->add_endpoints(absl::StrCat("s", k + 1, ".", P(m).name, ":7443"));
    }
  }
  roster_ = std::make_unique<certs::Roster>(Genesis(proto, {0}));
}

std::string SimLayout::OriginOf(int i) const {
  return absl::StrCat(P(i / nodes_per_member_).name, "/s", i % nodes_per_member_ + 1);
}

std::string SimDataRoot() {
  if (const char* t = std::getenv("TEST_TMPDIR"); t != nullptr && *t != '\0') return t;
  if (access("/dev/shm", W_OK | X_OK) == 0) return "/dev/shm";
  return "/tmp";
}

SimNode::SimNode(const SimLayout& layout, int index, InProcessNetwork* net,
                 const federation::Gossip::Options& options, bool start,
                 node::CommitListener on_commit)
    : origin(layout.OriginOf(index)),
      dir(SimDataRoot()),
      clock(absl::FromUnixSeconds(1798761600)),
      resolver(&layout.roster()),
      net(net) {
  auto opened = node::SqliteAlertStore::Open(dir.Join("data"), origin);
  EXPECT_TRUE(opened.ok()) << opened.status();
  sqlite = std::move(*opened);
  node::Ledger::Options lopts;
  lopts.verify_threads = 0;  // gossip's Offer verifies on its own threads
  auto ledger_or = node::Ledger::Open(sqlite.get(), &layout.NodeKey(index), origin, &resolver,
                                      &clock, std::move(on_commit), lopts);
  EXPECT_TRUE(ledger_or.ok()) << ledger_or.status();
  ledger = std::move(*ledger_or);
  feed = std::make_unique<node::LedgerFeedStore>(ledger.get(), sqlite.get());
  std::vector<federation::Peer> peers;
  for (int k = 0; k < layout.nodes(); ++k) {
    if (k != index) peers.push_back({layout.OriginOf(k), layout.OriginOf(k), ""});
  }
  federation::Gossip::Options o = options;
  o.seed = static_cast<uint64_t>(index) + 1;
  gossip = std::make_unique<federation::Gossip>(origin, feed.get(), std::move(peers),
                                                net->TransportFor(origin), o);
  EXPECT_TRUE(net->Attach(origin, gossip.get()).ok());
  if (start) gossip->Start();
}

void SimNode::Stop() {
  if (gossip == nullptr) return;
  gossip->Stop();
  net->Detach(origin);
  gossip.reset();
}

std::map<std::string, uint64_t> SimNode::Heads() {
  std::map<std::string, uint64_t> out;
  for (const federation::FrontierEntry& e : feed->Frontier()) {
    out[e.origin] = e.forked ? 0 : e.sequence;
  }
  return out;
}

int64_t SimNode::Stored() { return static_cast<int64_t>(*sqlite->LastCursor()); }

bool WaitFor(const std::function<bool()>& done, absl::Duration timeout) {
  const absl::Time end = absl::Now() + timeout;
  while (!done()) {
    if (absl::Now() > end) return false;
    absl::SleepFor(absl::Milliseconds(50));
  }
  return true;
}

void WaitQuiet(const std::function<uint64_t()>& activity) {
  uint64_t last = activity();
  int quiet = 0;
  WaitFor(
      [&] {
        absl::SleepFor(absl::Milliseconds(100));
        const uint64_t now = activity();
        quiet = now == last ? quiet + 1 : 0;
        last = now;
        return quiet >= 6;
      },
      absl::Seconds(10));
}

}  // namespace watchfloor::testing
