// Issue 11 point 6: propagation from publish to the last node at N = 10 and
// 1,000 alerts/s, where 2 CPUs cannot host 10 node processes with mutual TLS
// at that rate: N real gossip engines in one process over the in-process
// network (tests/sim/in_process_network.h), each with its own SQLite file
// (tmpfs when there is one), a Ledger verifying every envelope's Ed25519
// signature and the production gossip defaults, every directed link's
// one-way latency set to half the loopback TCP round trip measured in the
// same run (and its jitter to half the spread from p50 to p99).
//
// Each node publishes its share of the rate on an open-loop schedule (one
// thread per node) and hands each alert to gossip as the node's service
// does. An alert's propagation time runs from the start of its PublishSync
// at the origin to the commit of the last other node's Ledger (its commit
// listener). Printed per round: delivery, propagation p50/p99/max, the
// origin's own publish (ack) p99 next to it, full-copy duplicates and bytes
// per node per alert; and the median of each over the rounds, next to the
// loopback RTT reference, with the ratio p99 / RTT.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/bench_util.h"
#include "federation/gossip.h"
#include "tests/sim/in_process_network.h"
#include "tests/sim/sim_node.h"

namespace watchfloor::bench {
namespace {

using Steady = std::chrono::steady_clock;

constexpr char kUsage[] =
    "usage: sim_propagation_bench [--nodes=N] [--rate=R] [--seconds=S] [--rounds=K]\n"
    "                             [--lazy_fanout=K] [--links] [--smoke]\n"
    "\n"
    "Propagation publish -> last node over N in-process gossip engines (real\n"
    "SQLite, Ledger, Ed25519 verification, production gossip options) whose\n"
    "links carry the loopback TCP RTT measured in the same run.\n"
    "  --nodes=N     nodes (default 10; 4..16)\n"
    "  --rate=R      alerts per second in all, open loop (default 1000)\n"
    "  --seconds=S   measured seconds per round, after 1 s of warm-up (default 10)\n"
    "  --rounds=K    rounds, each on a fresh federation; medians are printed (default 3)\n"
    "  --lazy_fanout=K  announce each alert to K random lazy links (default 0: all)\n"
    "  --links       print each node's eager peers and copies at the end of each round\n"
    "  --smoke       N = 4, 100 alerts/s, 1 s, one round: checks the program works\n";

double Ms(Steady::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

struct Round {
  uint64_t published = 0, delivered = 0;
  double p50 = 0, p99 = 0, max = 0;    // publish -> last node, ms
  double ack_p99 = 0;                  // PublishSync at the origin, ms
  double duplicates = 0;               // full copies per node per alert
  double bytes = 0;                    // bytes sent per node per alert
  uint64_t late_starts = 0;            // publishes more than 5 ms behind schedule
};

Round RunRound(int n, double rate, double seconds, const Rtt& rtt, int round, bool show_links,
               size_t lazy_fanout) {
  const int per_member = (n + testing::SimLayout::kMembers - 1) / testing::SimLayout::kMembers;
  testing::SimLayout layout(per_member, absl::StrCat("sim-propagation-", round), n);
  testing::InProcessNetwork net(20261203 + round);
  const absl::Duration one_way = absl::Microseconds(rtt.p50_us / 2);
  const absl::Duration jitter = absl::Microseconds(std::max(0.0, rtt.p99_us - rtt.p50_us) / 2);
  net.SetDefaultLink({one_way, jitter, 0});

  absl::Mutex mu;
  std::map<std::string, Steady::time_point> started;  // id -> PublishSync start
  std::map<std::string, std::pair<int, Steady::time_point>> arrived;  // id -> (copies, last)
  std::vector<double> acks;
  std::vector<std::unique_ptr<testing::SimNode>> nodes;
  federation::Gossip::Options options;  // the production defaults
  options.lazy_fanout = lazy_fanout;     // 0 (all) unless --lazy_fanout
  for (int i = 0; i < n; ++i) {
    const std::string self = layout.OriginOf(i);
    nodes.push_back(std::make_unique<testing::SimNode>(
        layout, i, &net, options, /*start=*/true,
        [&mu, &arrived, self](const std::vector<std::shared_ptr<const node::StoredAlert>>& batch) {
          const Steady::time_point now = Steady::now();
          absl::MutexLock lock(&mu);
          for (const auto& a : batch) {
            if (a->origin == self) continue;
            auto& [copies, last] = arrived[a->id];
            ++copies;
            last = now;
          }
        }));
  }

  const double warmup = 1.0;
  const Steady::time_point begin = Steady::now();
  const Steady::time_point measure_from = begin + std::chrono::milliseconds(1000);
  std::atomic<uint64_t> late{0};
  std::vector<std::thread> publishers;
  for (int i = 0; i < n; ++i) {
    publishers.emplace_back([&, i] {
      const double interval_s = n / rate;
      const int count = static_cast<int>((warmup + seconds) * rate / n);
      for (int k = 0; k < count; ++k) {
        // Staggered so the nodes do not publish in lockstep.
        const Steady::time_point due =
            begin + std::chrono::duration_cast<Steady::duration>(
                        std::chrono::duration<double>((k + static_cast<double>(i) / n) *
                                                      interval_s));
        std::this_thread::sleep_until(due);
        const Steady::time_point t0 = Steady::now();
        if (t0 - due > std::chrono::milliseconds(5)) ++late;
        absl::StatusOr<node::PublishResult> r =
            nodes[i]->ledger->PublishSync(SampleDraft(i * 1000000 + k));
        const Steady::time_point t1 = Steady::now();
        if (!r.ok()) Die(absl::StrCat("publish at ", layout.OriginOf(i), ": ", r.status().ToString()));
        nodes[i]->gossip->Broadcast(r->envelope);
        if (t0 < measure_from) continue;
        absl::MutexLock lock(&mu);
        started[r->id] = t0;
        acks.push_back(Ms(t1 - t0));
      }
    });
  }
  // With --links: duplicates and fetched copies, all nodes, each second.
  std::atomic<bool> sampling{show_links};
  std::thread sampler([&] {
    uint64_t last_dup = 0, last_fetched = 0;
    int second = 0;
    while (sampling.load()) {
      std::this_thread::sleep_for(std::chrono::seconds(1));
      uint64_t dup = 0, fetched = 0;
      for (auto& node : nodes) {
        const federation::Gossip::Stats st = node->gossip->stats();
        dup += st.received_dup;
        fetched += st.fetched;
      }
      std::printf("    second %d: duplicates %llu, fetched %llu\n", ++second,
                  static_cast<unsigned long long>(dup - last_dup),
                  static_cast<unsigned long long>(fetched - last_fetched));
      last_dup = dup;
      last_fetched = fetched;
    }
  });
  for (std::thread& t : publishers) t.join();
  sampling = false;
  sampler.join();
  // Every measured alert at every other node, or 30 s.
  auto all_in = [&] {
    absl::MutexLock lock(&mu);
    for (const auto& [id, t0] : started) {
      auto it = arrived.find(id);
      if (it == arrived.end() || it->second.first < n - 1) return false;
    }
    return true;
  };
  const Steady::time_point give_up = Steady::now() + std::chrono::seconds(30);
  while (!all_in() && Steady::now() < give_up) std::this_thread::sleep_for(std::chrono::milliseconds(20));

  Round r;
  std::vector<double> prop;
  {
    absl::MutexLock lock(&mu);
    r.published = started.size();
    for (const auto& [id, t0] : started) {
      auto it = arrived.find(id);
      if (it == arrived.end() || it->second.first < n - 1) continue;
      ++r.delivered;
      prop.push_back(Ms(it->second.second - t0));
    }
    r.ack_p99 = Percentile(acks, 99);
  }
  r.p50 = Percentile(prop, 50);
  r.p99 = Percentile(prop, 99);
  r.max = Max(prop);
  r.late_starts = late.load();
  uint64_t dup = 0, total_alerts = 0;
  for (auto& node : nodes) dup += node->gossip->stats().received_dup;
  if (show_links) {
    // Who pushes to whom at the end of the round, and how each node got
    // its copies: the shape of the eager tree.
    for (auto& node : nodes) {
      const federation::Gossip::Stats st = node->gossip->stats();
      std::string eager;
      for (const auto& [peer, ps] : st.peers) {
        if (ps.eager) absl::StrAppend(&eager, eager.empty() ? "" : " ", peer);
      }
      std::printf("    %s: eager to [%s]; new %llu, duplicates %llu, fetched %llu\n",
                  node->origin.c_str(), eager.c_str(),
                  static_cast<unsigned long long>(st.received_new),
                  static_cast<unsigned long long>(st.received_dup),
                  static_cast<unsigned long long>(st.fetched));
    }
  }
  for (auto& node : nodes) node->gossip->Stop();
  total_alerts = static_cast<uint64_t>((warmup + seconds) * rate / n) * n;
  uint64_t bytes = 0;
  for (const auto& [link, traffic] : net.stats().links) bytes += traffic.bytes;
  r.duplicates = static_cast<double>(dup) / (static_cast<double>(total_alerts) * (n - 1));
  r.bytes = static_cast<double>(bytes) / (static_cast<double>(total_alerts) * n);
  nodes.clear();
  return r;
}

int Main(int argc, char** argv) {
  const bool smoke = HasFlag(argc, argv, "smoke");
  int n = 0, rounds = 0;
  double rate = 0, seconds = 0;
  if (!absl::SimpleAtoi(FlagValue(argc, argv, "nodes", smoke ? "4" : "10"), &n) || n < 4 ||
      n > 16) {
    Die("--nodes must be a whole number from 4 to 16");
  }
  if (!absl::SimpleAtod(FlagValue(argc, argv, "rate", smoke ? "100" : "1000"), &rate) ||
      rate <= 0 || rate > 100000) {
    Die("--rate must be alerts per second, above 0 and at most 100000");
  }
  if (!absl::SimpleAtod(FlagValue(argc, argv, "seconds", smoke ? "1" : "10"), &seconds) ||
      seconds <= 0 || seconds > 3600) {
    Die("--seconds must be above 0 and at most 3600");
  }
  if (!absl::SimpleAtoi(FlagValue(argc, argv, "rounds", smoke ? "1" : "3"), &rounds) ||
      rounds < 1 || rounds > 100) {
    Die("--rounds must be a whole number from 1 to 100");
  }
  int lazy = 0;
  if (!absl::SimpleAtoi(FlagValue(argc, argv, "lazy_fanout", "0"), &lazy) || lazy < 0 ||
      lazy > 16) {
    Die("--lazy_fanout must be a whole number from 0 (every lazy link) to 16");
  }
  const size_t lazy_fanout = static_cast<size_t>(lazy);
  PrintMachineHeader(testing::SimDataRoot());
  std::printf(
      "sim_propagation_bench: N = %d, %.0f alerts/s, %.0f s measured per round, %d rounds, "
      "lazy_fanout %zu\n",
      n, rate, seconds, rounds, lazy_fanout);

  std::vector<Round> rs;
  std::vector<double> rtt50, rtt99;
  for (int k = 0; k < rounds; ++k) {
    const Rtt rtt = LoopbackRtt(2000);  // the reference, again each round
    rtt50.push_back(rtt.p50_us);
    rtt99.push_back(rtt.p99_us);
    Round r = RunRound(n, rate, seconds, rtt, k, HasFlag(argc, argv, "links"), lazy_fanout);
    std::printf(
        "  round %d: loopback RTT p50 %.0f us p99 %.0f us; delivered %llu/%llu; "
        "publish -> last node p50 %.2f p99 %.2f max %.2f ms; ack p99 %.2f ms; "
        "duplicates %.3f, bytes %.0f per node per alert; %llu publishes started >5 ms late\n",
        k + 1, rtt.p50_us, rtt.p99_us, static_cast<unsigned long long>(r.delivered),
        static_cast<unsigned long long>(r.published), r.p50, r.p99, r.max, r.ack_p99,
        r.duplicates, r.bytes, static_cast<unsigned long long>(r.late_starts));
    std::fflush(stdout);
    rs.push_back(r);
  }
  auto med = [&](double Round::*f) {
    std::vector<double> v;
    for (const Round& r : rs) v.push_back(r.*f);
    return Median(v);
  };
  uint64_t delivered = 0, published = 0;
  for (const Round& r : rs) {
    delivered += r.delivered;
    published += r.published;
  }
  const double rtt = Median(rtt50);
  std::printf(
      "median of %d rounds: publish -> last node p50 %.2f ms, p99 %.2f ms (target <= 20 ms), "
      "max %.2f ms; ack p99 %.2f ms; duplicates %.3f per node per alert; %.0f bytes per node "
      "per alert; delivered %llu/%llu\n"
      "  ref: loopback TCP RTT p50 %.0f us, p99 %.0f us; p99 / RTT p50 = %.0f x\n",
      rounds, med(&Round::p50), med(&Round::p99), med(&Round::max), med(&Round::ack_p99),
      med(&Round::duplicates), med(&Round::bytes), static_cast<unsigned long long>(delivered),
      static_cast<unsigned long long>(published), rtt, Median(rtt99),
      med(&Round::p99) * 1000 / rtt);
  if (delivered != published) {
    std::fprintf(stderr, "sim_propagation_bench: error: %llu of %llu alerts not delivered\n",
                 static_cast<unsigned long long>(published - delivered),
                 static_cast<unsigned long long>(published));
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace watchfloor::bench

int main(int argc, char** argv) {
  watchfloor::bench::CheckFlags(argc, argv, watchfloor::bench::kUsage,
                                {"lazy_fanout", "links", "nodes", "rate", "seconds", "rounds",
                                 "smoke"});
  return watchfloor::bench::Main(argc, argv);
}
