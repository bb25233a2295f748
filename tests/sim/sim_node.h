// Real nodes for the in-process network (in_process_network.h), shared by
// the tests in tests/sim: a federation layout (members of the roster
// fixtures, several nodes each, a fixed key per node, the signed genesis
// roster listing them) and one node built on it: its own SQLite file,
// Ledger verifying every envelope's Ed25519 signature against that roster,
// the LedgerFeedStore gossip ingests through, and a Gossip engine attached
// to the network.
#ifndef WATCHFLOOR_TESTS_SIM_SIM_NODE_H_
#define WATCHFLOOR_TESTS_SIM_SIM_NODE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "certs/keys.h"
#include "certs/roster.h"
#include "federation/gossip.h"
#include "node/clock.h"
#include "node/ledger.h"
#include "node/ledger_feed_store.h"
#include "node/roster_key_resolver.h"
#include "node/sqlite_alert_store.h"
#include "tests/sim/in_process_network.h"
#include "tests/test_util.h"

namespace watchfloor::testing {

// Four members (a.cz .. d.cz of the roster fixtures) of `nodes_per_member`
// nodes each; node i is "<member of i / nodes_per_member>/s<i % n + 1>".
class SimLayout {
 public:
  static constexpr int kMembers = 4;

  // `key_seed` makes each node's key (distinct from every fixture key, and
  // between layouts with different seeds). With `nodes` > 0, only the first
  // `nodes` of them (at most kMembers * nodes_per_member) exist: N = 10 is
  // 3 + 3 + 3 + 1.
  SimLayout(int nodes_per_member, const std::string& key_seed, int nodes = 0);

  int nodes() const { return nodes_; }
  std::string OriginOf(int i) const;
  const certs::SigningKey& NodeKey(int i) const { return keys_[i]; }
  // The genesis roster listing every node with its key, signed as nodes
  // verify.
  const certs::Roster& roster() const { return *roster_; }

 private:
  const int nodes_per_member_;
  const int nodes_;
  std::vector<certs::SigningKey> keys_;
  std::unique_ptr<certs::Roster> roster_;
};

// Where the nodes' SQLite files go: $TEST_TMPDIR (Bazel), else tmpfs when
// there is one. The files, their WAL and their fsyncs are all real; on
// tmpfs an fsync costs microseconds instead of the 5-100+ ms of a shared
// disk, which would otherwise be what the tests measure: every hop forwards
// only after the store committed (docs/FEDERATION.md "Push for speed").
std::string SimDataRoot();

// One node. Storage outlives the engine (members are destroyed in reverse
// order, after Stop() has detached the engine). With `start` false the
// engine is attached but never started: it answers calls and starts none.
// `on_commit`, if set, sees every batch the node's Ledger commits, on its
// writer thread (node::CommitListener).
struct SimNode {
  SimNode(const SimLayout& layout, int index, InProcessNetwork* net,
          const federation::Gossip::Options& options, bool start = true,
          node::CommitListener on_commit = nullptr);
  ~SimNode() { Stop(); }
  // Stops the engine and takes it off the network; then it may go.
  void Stop();

  // origin -> head sequence, forked feeds marked by a 0 head.
  std::map<std::string, uint64_t> Heads();
  // Cursors written to the store so far.
  int64_t Stored();

  const std::string origin;
  TempDir dir;
  node::FakeClock clock;
  node::RosterKeyResolver resolver;
  InProcessNetwork* const net;
  std::unique_ptr<node::SqliteAlertStore> sqlite;
  std::unique_ptr<node::Ledger> ledger;
  std::unique_ptr<node::LedgerFeedStore> feed;
  std::unique_ptr<federation::Gossip> gossip;
};

// Polls `done` every 50 ms until it is true (true) or `timeout` passes
// (false).
bool WaitFor(const std::function<bool()>& done, absl::Duration timeout);

// Waits until `activity` (a count that grows while gossip still moves
// copies) has not changed for 600 ms, or 10 s have passed.
void WaitQuiet(const std::function<uint64_t()>& activity);

}  // namespace watchfloor::testing

#endif  // WATCHFLOOR_TESTS_SIM_SIM_NODE_H_
