// What a peer that replays old alerts costs the node it pushes them to
// (issue 11 point 3; docs/FEDERATION.md "Peer scoring"). A real node (SQLite
// file, Ledger, LedgerFeedStore, Gossip with the production options) holds
// --alerts alerts of another origin, taken by push from a peer. The peer
// then pushes every one of them back, byte for byte, in pushes of 64
// envelopes: each must be answered DUPLICATE, and nothing stored.
//
// Three rates per round, on this thread, for the same envelopes:
//   replay  Gossip::HandlePush of the copies: what a replay costs now (a
//           store lookup, FeedStore::HoldsCopy; no signature check);
//   offer   FeedStore::Offer of each copy, the path every copy took before
//           HoldsCopy (Ed25519 verify, then the store lookup, then
//           ALREADY_EXISTS): the A/B reference;
//   verify  certs::VerifyEnvelope alone: the raw verify rate.
// Printed: each round, then the medians and the ratios replay / verify and
// replay / offer.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/time/time.h"
#include "bench/bench_util.h"
#include "certs/dsse.h"
#include "federation/gossip.h"
#include "tests/sim/in_process_network.h"
#include "tests/sim/sim_node.h"

namespace watchfloor::bench {
namespace {

namespace v1 = ::watchfloor::v1;
using Steady = std::chrono::steady_clock;
using testing::InProcessNetwork;
using testing::SimLayout;
using testing::SimNode;

constexpr char kUsage[] =
    "usage: replay_cost_bench [--alerts=K] [--rounds=R] [--smoke]\n"
    "\n"
    "What a peer pushing back K stored alerts byte for byte costs the node it\n"
    "pushes them to: gossip's answer (a store lookup) next to the ingest path\n"
    "(verify + lookup) and the raw Ed25519 verify rate, same envelopes, same run.\n"
    "  --alerts=K   stored alerts replayed per round (default 2000; 64..100000)\n"
    "  --rounds=R   rounds; medians are printed (default 5; 1..50)\n"
    "  --smoke      K = 128, one round: checks the program works\n";

constexpr int kBatch = 64;  // envelopes per Push

template <typename F>
double RatePerSecond(size_t n, F&& body) {
  const Steady::time_point t0 = Steady::now();
  body();
  return static_cast<double>(n) / SecondsSince(t0);
}

int Main(int argc, char** argv) {
  const bool smoke = HasFlag(argc, argv, "smoke");
  const int alerts = smoke ? 128 : IntFlag(argc, argv, "alerts", "2000", 64, 100000);
  const int rounds = smoke ? 1 : IntFlag(argc, argv, "rounds", "5", 1, 50);
  PrintMachineHeader(testing::SimDataRoot());

  constexpr int kVictim = 0, kPeer = 1, kOrigin = 2;
  const SimLayout layout(1, "replay-cost-bench");
  InProcessNetwork net(1);
  federation::Gossip::Options options;
  // Neither engine is started: the victim answers calls and starts none.
  SimNode victim(layout, kVictim, &net, options, /*start=*/false);
  SimNode origin(layout, kOrigin, &net, options, /*start=*/false);
  const std::string peer = layout.OriginOf(kPeer);

  std::vector<v1::PushRequest> pushes;
  std::vector<v1::Envelope> envelopes;
  for (int i = 0; i < alerts; ++i) {
    absl::StatusOr<node::PublishResult> r = origin.ledger->PublishSync(SampleDraft(i));
    if (!r.ok()) Die("publish at the origin: " + r.status().ToString());
    if (i % kBatch == 0) pushes.emplace_back();
    *pushes.back().add_envelopes() = r->envelope;
    envelopes.push_back(r->envelope);
  }
  for (const v1::PushRequest& p : pushes) {
    v1::PushResponse resp = victim.gossip->HandlePush(peer, p);
    for (int v : resp.verdicts()) {
      if (v != v1::PUSH_VERDICT_NEW) Die("first push: a verdict other than NEW");
    }
  }
  const std::string from = layout.OriginOf(kOrigin);
  if (!testing::WaitFor([&] { return victim.Heads()[from] == static_cast<uint64_t>(alerts); },
                        absl::Seconds(120))) {
    Die("the victim did not commit the first copies within 120 s");
  }
  const int64_t stored = victim.Stored();
  const certs::PublicKey& key = layout.NodeKey(kOrigin).public_key();

  std::vector<double> replay, offer, verify;
  std::printf("%d stored alerts of %s pushed back to %s in pushes of %d\n", alerts,
              from.c_str(), victim.origin.c_str(), kBatch);
  std::printf("%-6s %14s %14s %14s %10s %10s\n", "round", "replay/s", "offer/s", "verify/s",
              "rep/ver", "rep/off");
  for (int r = 0; r < rounds; ++r) {
    int duplicates = 0;
    replay.push_back(RatePerSecond(envelopes.size(), [&] {
      for (const v1::PushRequest& p : pushes) {
        const v1::PushResponse resp = victim.gossip->HandlePush(peer, p);
        for (int v : resp.verdicts()) duplicates += v == v1::PUSH_VERDICT_DUPLICATE;
      }
    }));
    if (duplicates != alerts) {
      Die("replay: " + std::to_string(duplicates) + " of " + std::to_string(alerts) +
          " copies answered DUPLICATE");
    }
    int exists = 0;
    offer.push_back(RatePerSecond(envelopes.size(), [&] {
      for (const v1::Envelope& e : envelopes) {
        exists += absl::IsAlreadyExists(victim.feed->Offer(e, [](absl::Status) {}));
      }
    }));
    if (exists != alerts) Die("offer: a copy was not ALREADY_EXISTS");
    int valid = 0;
    verify.push_back(RatePerSecond(envelopes.size(), [&] {
      for (const v1::Envelope& e : envelopes) valid += certs::VerifyEnvelope(e, key).ok();
    }));
    if (valid != alerts) Die("verify: a signature did not verify");
    std::printf("%-6d %14.0f %14.0f %14.0f %9.1fx %9.1fx\n", r + 1, replay.back(), offer.back(),
                verify.back(), replay.back() / verify.back(), replay.back() / offer.back());
  }
  if (victim.Stored() != stored) Die("a replayed copy was stored");
  const double rep = Median(replay), off = Median(offer), ver = Median(verify);
  std::printf(
      "median of %d: replay %.0f copies/s answered DUPLICATE (a store lookup each), "
      "offer path %.0f/s, raw verify %.0f/s; replay = %.1fx the verify rate, %.1fx the offer "
      "path; 0 stored\n",
      rounds, rep, off, ver, rep / ver, rep / off);
  return 0;
}

}  // namespace
}  // namespace watchfloor::bench

int main(int argc, char** argv) {
  watchfloor::bench::CheckFlags(argc, argv, watchfloor::bench::kUsage,
                                {"alerts", "rounds", "smoke"});
  return watchfloor::bench::Main(argc, argv);
}
