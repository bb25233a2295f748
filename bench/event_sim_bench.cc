// The federation at scale on simulated time (issue 11 point 2;
// docs/PERFORMANCE.md "The deterministic simulator"). For each N, one
// seeded run of tests/sim/event_sim.h: N production gossip engines, each
// linked to --degree random peers (a connected graph), over links of 20-200
// ms one way (+ up to 5 ms jitter), each node's store verifying every
// envelope's Ed25519 signature (--stub_crypto skips it).
//
// Phases, all on simulated time, alerts from --publishers nodes:
//   warm-up   --warmup alerts at --rate from random publishers (the per-origin
//             trees form: their first duplicates prune them);
//   steady    --alerts more at the same rate: delivery, hops and latency
//             from publish to each node's commit (p50 / p99 / max), full
//             payload duplicates per node per alert, bytes sent per node
//             per alert;
//   partition 30 % of the nodes cut off for 5 s while both sides publish;
//             then healed: simulated time until every node holds every
//             alert;
//   restart   10 % of the nodes restart with empty stores: simulated time
//             until they hold everything again.
// References from the same run: log2(N) next to the hops, the mean one-way
// link latency next to the milliseconds, and the raw single-core Ed25519
// verify rate next to the simulator's own verify-bound speed (alerts x
// nodes verified per wall-clock second).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "bench/bench_util.h"
#include "certs/dsse.h"
#include "federation/gossip.h"
#include "tests/sim/event_sim.h"

namespace watchfloor::bench {
namespace {

using testing::EventSim;

constexpr char kUsage[] =
    "usage: event_sim_bench [--nodes=10,100,1000] [--degree=D] [--alerts=K] [--warmup=W]\n"
    "                       [--publishers=P]\n"
    "                       [--rate=R] [--seed=S] [--stub_crypto] [--eager_fanout=E]\n"
    "                       [--lazy_fanout=L]\n"
    "                       [--graft_timeout_ms=T] [--graft_rtts=K] [--frontier_grace_ms=G]\n"
    "                       [--parallel_lanes]\n"
    "                       [--misbehave=KIND] [--bad_rate=R] [--loopback] [--smoke]\n"
    "\n"
    "N gossip engines on simulated time, deterministic from the seed: delivery,\n"
    "hops and latency, duplicates and bytes per node per alert, recovery after a\n"
    "30% partition and after 10% of nodes restart empty. Each N is one run.\n"
    "  --nodes=LIST        comma-separated N (default 10,100,1000; each 4..5000)\n"
    "  --degree=D          peers per node (default 8; 2..64; 0: everyone)\n"
    "  --alerts=K          measured alerts (default 200; 10..100000)\n"
    "  --warmup=W          alerts before measuring (default 200; 0..100000)\n"
    "  --publishers=P      nodes that publish, spread over the graph (default 10;\n"
    "                      0: every node). Each origin has its own tree, pruned by\n"
    "                      its own first duplicates: steady state needs a few dozen\n"
    "                      alerts per publishing origin\n"
    "  --rate=R            alerts per simulated second (default 50; 1..10000)\n"
    "  --seed=S            the run's seed (default 1)\n"
    "  --stub_crypto       do not verify signatures (for large N)\n"
    "  --eager_fanout=E    Gossip::Options::eager_fanout (default 3): links pushed\n"
    "                      to eagerly before the trees are pruned\n"
    "  --lazy_fanout=L     Gossip::Options::lazy_fanout (default 0: every lazy link)\n"
    "  --graft_timeout_ms=T  Gossip::Options::graft_timeout (default the engine's, 150):\n"
    "                      the least wait before an announced alert is fetched\n"
    "  --graft_rtts=K      Gossip::Options::graft_rtts (default 3): the wait is K x\n"
    "                      the median round trip to the peers (0: always T)\n"
    "  --frontier_grace_ms=G  Gossip::Options::frontier_grace (default the engine's,\n"
    "                      500): how long what a peer's frontier shows beyond ours\n"
    "                      may stay missing before it is pulled\n"
    "  --parallel_lanes    Gossip::Options::parallel_lanes (pushes, other sends and\n"
    "                      rounds on a link at once)\n"
    "  --misbehave=KIND    10% of the nodes (no publisher) misbehave: withhold,\n"
    "                      flood (invalid signatures), replay, phantom (announce\n"
    "                      ids never served), stall (shows every origin far ahead,\n"
    "                      never answers a pull), trickle (answers a pull with one\n"
    "                      alert, padded) or slow (answers pulls 1 s late); prints\n"
    "                      honest delivery and the waste\n"
    "  --bad_rate=R        calls per second from each bad node to each peer (10)\n"
    "  --loopback          links at half the loopback TCP RTT measured in the run;\n"
    "                      prints publish -> last node per alert (issue 11 point 6)\n"
    "  --smoke             N = 10, 20 + 20 alerts: checks the program works\n";

double VerifyRate() {
  certs::SigningKey key = certs::SigningKey::Generate();
  watchfloor::v1::Envelope env = certs::SignEnvelope(
      SampleDraft(1).SerializeAsString(), certs::kAlertPayloadType, key);
  int n = 0;
  const auto start = SteadyClock::now();
  while (SecondsSince(start) < 1.0) {
    for (int i = 0; i < 100; ++i) n += certs::VerifyEnvelope(env, key.public_key()).ok();
  }
  return n / SecondsSince(start);
}

// Publishes `count` alerts from random nodes of `from` at `rate` per second.
void PublishAt(EventSim& sim, std::mt19937_64& rng, int count, double rate,
               const std::set<int>& from) {
  std::vector<int> pool(from.begin(), from.end());
  const absl::Duration gap = absl::Seconds(1.0 / rate);
  for (int k = 0; k < count; ++k) {
    sim.Publish(pool[std::uniform_int_distribution<size_t>(0, pool.size() - 1)(rng)]);
    sim.RunFor(gap);
  }
}

struct Figures {
  double delivered = 0;  // fraction of (alert, node) pairs stored
  std::vector<double> hops, ms;
};

Figures Measure(const EventSim& sim, int first, int last, const std::set<int>& bad) {
  Figures f;
  uint64_t pairs = 0, stored = 0;
  for (int a = first; a < last; ++a) {
    const EventSim::AlertTrace& t = sim.alerts()[a];
    for (int i = 0; i < sim.nodes(); ++i) {
      if (i == t.origin || bad.count(i) != 0) continue;
      ++pairs;
      if (t.stored_at[i] == absl::InfiniteFuture()) continue;
      ++stored;
      f.ms.push_back(absl::ToDoubleMilliseconds(t.stored_at[i] - t.published));
      if (t.hops[i] >= 0) f.hops.push_back(t.hops[i]);
    }
  }
  f.delivered = pairs == 0 ? 1.0 : static_cast<double>(stored) / static_cast<double>(pairs);
  return f;
}

void RunOne(int n, int argc, char** argv, bool smoke, double verify_rate) {
  EventSim::Options o;
  o.nodes = n;
  o.degree = IntFlag(argc, argv, "degree", "8", 0, 64);
  o.seed = static_cast<uint64_t>(IntFlag(argc, argv, "seed", "1", 0, 1 << 30));
  o.verify = !HasFlag(argc, argv, "stub_crypto");
  o.gossip.lazy_fanout =
      static_cast<size_t>(IntFlag(argc, argv, "lazy_fanout", "0", 0, 64));
  o.gossip.parallel_lanes = HasFlag(argc, argv, "parallel_lanes");
  o.gossip.graft_timeout =
      absl::Milliseconds(IntFlag(argc, argv, "graft_timeout_ms", "150", 1, 10000));
  o.gossip.graft_rtts = IntFlag(argc, argv, "graft_rtts", "3", 0, 100);
  o.gossip.eager_fanout =
      static_cast<size_t>(IntFlag(argc, argv, "eager_fanout", "3", 1, 64));
  o.gossip.frontier_grace =
      absl::Milliseconds(IntFlag(argc, argv, "frontier_grace_ms", "500", 1, 60000));
  const int alerts = smoke ? 20 : IntFlag(argc, argv, "alerts", "200", 10, 100000);
  const int warmup = smoke ? 20 : IntFlag(argc, argv, "warmup", "200", 0, 100000);
  const double rate = IntFlag(argc, argv, "rate", "50", 1, 10000);

  // --loopback: every link at half the loopback TCP round trip measured now
  // (jitter half its p50-p99 spread), for point 6 at 1,000 alerts/s.
  Rtt rtt;
  if (HasFlag(argc, argv, "loopback")) {
    rtt = LoopbackRtt(2000);
    o.min_latency = o.max_latency = absl::Microseconds(rtt.p50_us / 2);
    o.jitter = absl::Microseconds(std::max(0.0, rtt.p99_us - rtt.p50_us) / 2);
  }
  const auto wall = SteadyClock::now();
  EventSim sim(o);
  // --misbehave: 10 % of the nodes (none of the publishers) misbehave from
  // the start, each sending --bad_rate calls a second to each of its peers.
  const std::string misbehave = FlagValue(argc, argv, "misbehave", "");
  std::set<int> bad;
  if (!misbehave.empty()) {
    EventSim::Misbehaviour kind;
    if (misbehave == "withhold") {
      kind = EventSim::Misbehaviour::kWithhold;
    } else if (misbehave == "flood") {
      kind = EventSim::Misbehaviour::kInvalidFlood;
    } else if (misbehave == "replay") {
      kind = EventSim::Misbehaviour::kReplay;
    } else if (misbehave == "phantom") {
      kind = EventSim::Misbehaviour::kPhantomIHave;
    } else if (misbehave == "stall") {
      kind = EventSim::Misbehaviour::kStallPulls;
    } else if (misbehave == "trickle") {
      kind = EventSim::Misbehaviour::kTricklePulls;
    } else if (misbehave == "slow") {
      kind = EventSim::Misbehaviour::kSlowPulls;
    } else {
      Die("--misbehave=" + misbehave +
          ": expected withhold, flood, replay, phantom, stall, trickle or slow");
    }
    const int bad_rate = IntFlag(argc, argv, "bad_rate", "10", 1, 1000);
    for (int i = 5; i < n; i += 10) {
      bad.insert(i);
      sim.Misbehave(i, kind, bad_rate);
    }
  }
  std::mt19937_64 rng(o.seed);
  // The publishing nodes: --publishers of them, spread over the graph.
  const int publishers = std::min(n, IntFlag(argc, argv, "publishers", "10", 0, 5000));
  std::set<int> from;
  for (int k = 0; k < (publishers == 0 ? n : publishers); ++k) {
    const int p = publishers == 0 ? k : static_cast<int>(static_cast<int64_t>(k) * n / publishers);
    if (bad.count(p) == 0) from.insert(p);
  }
  PublishAt(sim, rng, warmup, rate, from);
  sim.RunUntilDelivered(absl::Seconds(60));
  const EventSim::Traffic before = sim.traffic();
  const int first = static_cast<int>(sim.alerts().size());
  PublishAt(sim, rng, alerts, rate, from);
  const bool delivered = sim.RunUntilDelivered(absl::Seconds(120));
  const int last = static_cast<int>(sim.alerts().size());
  const Figures f = Measure(sim, first, last, bad);
  const EventSim::Traffic& after = sim.traffic();
  const double needed = static_cast<double>(alerts) * (n - 1 - static_cast<double>(bad.size()));
  const double copies = static_cast<double>(after.envelopes - before.envelopes);
  const double dups = std::max(0.0, copies - needed) / needed;
  const double bytes = static_cast<double>(after.bytes - before.bytes) / n / alerts;
  // Per node per alert over the measured alerts, for each rpc that carries
  // envelopes: copies received, or those of them that were duplicates.
  using Counts = std::map<std::string, uint64_t> EventSim::Traffic::*;
  auto per_rpc = [&](Counts counts) {
    std::string out;
    for (const char* rpc : {"Push", "Fetch", "PullRange"}) {
      auto at = [&](const EventSim::Traffic& t) {
        auto it = (t.*counts).find(rpc);
        return it == (t.*counts).end() ? 0.0 : static_cast<double>(it->second);
      };
      out += absl::StrFormat(" %s %.3f", rpc, (at(after) - at(before)) / needed);
    }
    return out;
  };
  const std::string by_rpc = per_rpc(&EventSim::Traffic::envelopes_by_rpc);
  const std::string dup_by_rpc = per_rpc(&EventSim::Traffic::duplicates_by_rpc);
  const double mean_latency = absl::ToDoubleMilliseconds(sim.MeanLatency());
  std::printf(
      "N=%d degree=%d crypto=%s: delivered %.2f%%%s; hops p50 %.0f p99 %.0f max %.0f "
      "(log2 N = %.1f); ms p50 %.0f p99 %.0f max %.0f (mean link %.0f ms; p50/link %.1f); "
      "duplicates/node/alert %.3f (copies/node/alert by rpc:%s; duplicates by rpc:%s); "
      "bytes/node/alert %.0f\n",
      n, o.degree, o.verify ? "real" : "stub", 100 * f.delivered, delivered ? "" : " (NOT ALL)",
      Percentile(f.hops, 50), Percentile(f.hops, 99), Max(f.hops), std::log2(n),
      Percentile(f.ms, 50), Percentile(f.ms, 99), Max(f.ms), mean_latency,
      Percentile(f.ms, 50) / mean_latency, dups, by_rpc.c_str(), dup_by_rpc.c_str(), bytes);

  {
    // The graft timeout each node adapted to its links (Options::graft_rtts).
    std::vector<double> graft_ms, grace_ms;
    for (int i = 0; i < n; ++i) {
      if (bad.count(i) != 0) continue;
      const federation::Gossip::Stats st = sim.stats(i);
      graft_ms.push_back(absl::ToDoubleMilliseconds(st.graft_timeout));
      grace_ms.push_back(absl::ToDoubleMilliseconds(st.frontier_grace));
    }
    const std::string how =
        o.gossip.graft_rtts > 0
            ? absl::StrFormat("%g x the median peer round trip, at least %.0f ms",
                              o.gossip.graft_rtts,
                              absl::ToDoubleMilliseconds(o.gossip.graft_timeout))
            : std::string("fixed: --graft_rtts=0");
    std::printf("N=%d: graft timeout in use p50 %.0f ms, max %.0f ms (%s); frontier grace p50 "
                "%.0f ms\n",
                n, Percentile(graft_ms, 50), Max(graft_ms), how.c_str(), Percentile(grace_ms, 50));
  }
  if (HasFlag(argc, argv, "loopback")) {
    // Point 6's figure: publish to the last node, per alert.
    std::vector<double> last_ms;
    for (int a = first; a < last; ++a) {
      absl::Duration most = absl::ZeroDuration();
      for (absl::Time t : sim.alerts()[a].stored_at) {
        if (t != absl::InfiniteFuture()) most = std::max(most, t - sim.alerts()[a].published);
      }
      last_ms.push_back(absl::ToDoubleMilliseconds(most));
    }
    std::printf(
        "N=%d at %.0f alerts/s over loopback links (RTT p50 %.0f us, p99 %.0f us, measured "
        "now): publish -> last node p50 %.2f ms, p99 %.2f ms, max %.2f ms (target p99 <= 20 "
        "ms); the simulation charges no CPU time: verification and commits cost 0 + %.1f ms "
        "commit delay\n",
        n, rate, rtt.p50_us, rtt.p99_us, Percentile(last_ms, 50), Percentile(last_ms, 99),
        Max(last_ms), absl::ToDoubleMilliseconds(o.commit_delay));
  }
  if (!bad.empty()) {
    // What the honest neighbours of the bad nodes made of them.
    uint64_t checked = 0, unverified = 0, dup = 0, links = 0, eager = 0, graylisted = 0;
    double score = 0;
    for (int b : bad) {
      for (int v : sim.peers(b)) {
        if (bad.count(v) != 0) continue;
        const auto stats = sim.stats(v);
        const auto it = stats.peers.find(sim.origin(b));
        if (it == stats.peers.end()) continue;
        const federation::Gossip::PeerStats& ps = it->second;
        ++links;
        auto reason = [&](const char* r) {
          auto x = ps.refused_by_reason.find(r);
          return x == ps.refused_by_reason.end() ? uint64_t{0} : x->second;
        };
        checked += reason("unauthenticated");
        unverified += reason("graylisted");
        dup += ps.received_dup;
        eager += ps.eager ? 1 : 0;
        graylisted += ps.graylisted ? 1 : 0;
        score += ps.score;
      }
    }
    std::printf("N=%d: %zu nodes misbehave (%s): their calls and the answers %.0f bytes per "
                "honest node per alert; at their %llu honest neighbours' links: %llu invalid "
                "envelopes checked, %llu refused unchecked (graylisted), %llu duplicate "
                "copies, mean score %.1f, %llu links eager, %llu graylisted; %llu pulls left "
                "unanswered, answered with one alert or late\n",
                n, bad.size(), misbehave.c_str(),
                static_cast<double>(sim.misbehaving_bytes()) / (n - bad.size()) /
                    static_cast<double>(sim.alerts().size()),
                static_cast<unsigned long long>(links), static_cast<unsigned long long>(checked),
                static_cast<unsigned long long>(unverified), static_cast<unsigned long long>(dup),
                links == 0 ? 0.0 : score / static_cast<double>(links),
                static_cast<unsigned long long>(eager),
                static_cast<unsigned long long>(graylisted),
                static_cast<unsigned long long>(sim.bad_pull_answers()));
    std::fflush(stdout);
    return;  // the partition and restart phases are for honest runs
  }
  // 30 % partition for 5 s, both sides publishing; then heal.
  std::set<int> minority, majority;
  for (int i = 0; i < n; ++i) (i % 10 < 3 ? minority : majority).insert(i);
  std::set<int> from_minority, from_majority;
  for (int i : from) (minority.count(i) != 0 ? from_minority : from_majority).insert(i);
  if (from_minority.empty()) from_minority.insert(*minority.begin());
  if (from_majority.empty()) from_majority.insert(*majority.begin());
  sim.Partition(minority);
  PublishAt(sim, rng, std::max(3, alerts / 10), rate, from_minority);
  PublishAt(sim, rng, std::max(7, alerts / 4), rate, from_majority);
  sim.RunFor(absl::Seconds(5));
  sim.Heal();
  absl::Time t0 = sim.now();
  const bool healed = sim.RunUntilDelivered(absl::Seconds(300));
  const double heal_s = absl::ToDoubleSeconds(sim.now() - t0);
  // 10 % restart with empty stores.
  for (int i = 0; i < n; i += 10) sim.Restart(i);
  t0 = sim.now();
  const bool restored = sim.RunUntilDelivered(absl::Seconds(300));
  const double restart_s = absl::ToDoubleSeconds(sim.now() - t0);
  const double wall_s = SecondsSince(wall);
  const double verified = o.verify ? static_cast<double>(sim.alerts().size()) * (n - 1) : 0;
  std::printf(
      "N=%d: after a 30%% partition heals, all delivered in %.2f s%s; after 10%% restart "
      "empty, in %.2f s%s (anti_entropy_interval %.0f s)\n",
      n, heal_s, healed ? "" : " (NOT ALL)", restart_s, restored ? "" : " (NOT ALL)",
      absl::ToDoubleSeconds(o.gossip.anti_entropy_interval));
  std::printf(
      "N=%d: wall %.1f s for %.0f simulated s, %lu events; %.0f verifies/s "
      "(raw verify %.0f/s, %.2fx)\n",
      n, wall_s, absl::ToDoubleSeconds(sim.now() - absl::FromUnixSeconds(1798761600)),
      static_cast<unsigned long>(sim.events()), verified / wall_s, verify_rate,
      verified / wall_s / verify_rate);
  std::fflush(stdout);
}

}  // namespace
}  // namespace watchfloor::bench

int main(int argc, char** argv) {
  using namespace watchfloor::bench;
  CheckFlags(argc, argv, kUsage,
             {"nodes", "degree", "alerts", "warmup", "publishers", "rate", "seed", "stub_crypto",
              "eager_fanout", "lazy_fanout", "graft_timeout_ms", "graft_rtts", "frontier_grace_ms",
              "parallel_lanes",
              "misbehave", "bad_rate", "loopback", "smoke"});
  const bool smoke = HasFlag(argc, argv, "smoke");
  std::vector<int> sizes;
  for (absl::string_view s :
       absl::StrSplit(smoke ? "10" : FlagValue(argc, argv, "nodes", "10,100,1000"), ',')) {
    int n = 0;
    if (!absl::SimpleAtoi(s, &n) || n < 4 || n > 5000) {
      Die(absl::StrCat("--nodes: ", s, ": expected integers in [4, 5000], comma-separated"));
    }
    sizes.push_back(n);
  }
  PrintMachineHeader("/tmp");
  const double verify_rate = VerifyRate();
  for (int n : sizes) RunOne(n, argc, argv, smoke, verify_rate);
  return 0;
}
