// metrics_cost_bench: what the node's Prometheus metrics cost in publish
// throughput (issue 12: target <= 2 %), as an A/B in one run.
//
// "Metrics off" is the node without `http` in its config: the Ledger's
// counters and histograms (a few relaxed atomics per alert and per commit)
// are incremented whatever the config says, so what can be switched off is
// the listener and, with it, the scrapes (docs/OPERATIONS.md "Cost").
//
//   A  a node without `http`: no listener, nobody scraping;
//   B  a node with `http { listen_address: "127.0.0.1:0" }`, and a scraper
//      thread in this process sending GET /metrics every --scrape_interval
//      seconds (keep-alive, like Prometheus) for the whole round.
//
// Both are real nodes (NodeServer in this process, gRPC on 127.0.0.1:0,
// SQLite in WAL mode with synchronous=FULL, each on its own data dir on the
// same file system), both WALs brought to their steady state first (as
// publish_bench does), both alive for the whole run. The workload is
// publish_bench's closed loop: --publishers threads, one channel each,
// sending Publish back to back. Rounds alternate between the two in the
// order AB, BA, AB, ... so that a change of load on this shared machine
// falls on both sides alike; the figure is the ratio of the medians of B's
// and A's throughput (A is the reference), next to the median of the
// per-pair ratios.
//
// On this shared machine single rounds scatter by +-10 % or more, far more
// than the 2 % target, so the run also measures the cost directly, in this
// process, with the publishers idle: the CPU time of one GET /metrics round
// trip (server and client side together, less what the process burns idle
// over as long: an upper bound on what a scrape costs the node), of one
// Registry::Render alone, and of the always-on
// hot-path updates (a Counter::Inc and a Histogram::Observe). Each is then
// put next to A's CPU time per alert at A's throughput: the fraction of the
// node's work that the metrics add.
//
// Usage: metrics_cost_bench [--rounds=7] [--seconds=3] [--publishers=4]
//                           [--scrape_interval=1] [--dir=/tmp]
//        metrics_cost_bench --smoke   (a < 5 s check that everything works)
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "bench/bench_util.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "httplib.h"
#include "metrics/metrics.h"
#include "node/node_server.h"
#include "watchfloor/v1/node.grpc.pb.h"

namespace watchfloor::bench {
namespace {

constexpr char kOrigin[] = "bench.example/metrics1";
constexpr double kTargetCostPercent = 2.0;
// A family every scrape must carry; the smoke run also checks its value.
constexpr char kPublishedFamily[] = "watchfloor_alerts_published_total";

// A node on a fresh data dir, with or without the HTTP listener.
struct RunningNode {
  TempDir dir;
  std::unique_ptr<node::NodeServer> server;

  RunningNode(const std::string& base, bool with_http) : dir(base) {
    watchfloor::v1::NodeConfig config = MakeNodeConfig(dir, kOrigin);
    if (with_http) config.mutable_http()->set_listen_address("127.0.0.1:0");
    auto s = node::NodeServer::Start(config);
    if (!s.ok()) Die(absl::StrCat("node did not start: ", s.status().message()));
    server = std::move(*s);
    if ((server->http_port() != 0) != with_http) {
      Die(absl::StrCat("node has http_port ", server->http_port(), " with http ",
                       with_http ? "on" : "off"));
    }
  }

  // As publish_bench's RunningNode::WarmUpWal: single-alert commits until
  // a checkpoint has synced the database file, so that the WAL is rewritten
  // from its start (data-only fsyncs) rather than growing. Returns the count.
  int64_t WarmUpWal() {
    node::Ledger* ledger = server->ledger();
    int64_t n = 0;
    auto publish = [&] {
      auto r = ledger->PublishSync(SampleDraft(1000000000 + n++));
      if (!r.ok()) Die(absl::StrCat("warm-up publish failed: ", r.status().ToString()));
    };
    publish();  // creates the WAL (and syncs its directory)
    const int64_t other0 = GetSyncCounts().other;
    const auto start = SteadyClock::now();
    while (GetSyncCounts().other == other0 && SecondsSince(start) < 60) publish();
    return n;
  }
};

std::unique_ptr<watchfloor::v1::Node::Stub> NewStub(const std::string& address) {
  grpc::ChannelArguments args;
  // Each publisher gets its own TCP connection, like separate clients.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return watchfloor::v1::Node::NewStub(grpc::CreateCustomChannel(
      address, grpc::InsecureChannelCredentials(), args));
}

bool PublishOnce(watchfloor::v1::Node::Stub* stub, int64_t n) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  watchfloor::v1::PublishRequest req;
  *req.mutable_alert() = SampleDraft(n);
  watchfloor::v1::PublishResponse resp;
  grpc::Status st = stub->Publish(&ctx, req, &resp);
  if (!st.ok()) std::fprintf(stderr, "publish failed: %s\n", st.error_message().c_str());
  return st.ok();
}

// user + system CPU time of this whole process (node, publishers and
// scraper alike), in seconds.
double ProcessCpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
         (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// The value of the unlabelled sample `family` in exposition `text`, or -1.
double SampleValue(const std::string& text, const std::string& family) {
  const std::string key = "\n" + family + " ";
  size_t at = text.find(key);
  if (at == std::string::npos) return -1;
  at += key.size();
  double v = -1;
  if (!absl::SimpleAtod(text.substr(at, text.find('\n', at) - at), &v)) return -1;
  return v;
}

// GET /metrics on 127.0.0.1:`port` every `interval_s` seconds on a thread of
// its own, from construction to Stop(); one keep-alive connection.
class Scraper {
 public:
  Scraper(int port, double interval_s)
      : client_("127.0.0.1", port), interval_(std::chrono::duration_cast<SteadyClock::duration>(
                                        std::chrono::duration<double>(interval_s))) {
    client_.set_keep_alive(true);
    thread_ = std::thread([this] { Loop(); });
  }
  ~Scraper() { Stop(); }

  void Stop() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
  }

  // After Stop().
  const std::vector<double>& latencies_ms() const { return latencies_ms_; }
  int failures() const { return failures_; }
  size_t last_bytes() const { return last_body_.size(); }
  const std::string& last_body() const { return last_body_; }
  const std::string& first_error() const { return first_error_; }

 private:
  void Loop() {
    auto next = SteadyClock::now();
    while (!stop_.load()) {
      const auto t0 = SteadyClock::now();
      auto res = client_.Get("/metrics");
      const double ms = std::chrono::duration<double, std::milli>(SteadyClock::now() - t0).count();
      if (!res) {
        Fail(absl::StrCat("GET /metrics: ", httplib::to_string(res.error())));
      } else if (res->status != 200) {
        Fail(absl::StrCat("GET /metrics: status ", res->status));
      } else if (SampleValue(res->body, kPublishedFamily) < 0) {
        Fail(absl::StrCat("GET /metrics: no ", kPublishedFamily, " sample in ",
                          res->body.size(), " bytes"));
      } else {
        latencies_ms_.push_back(ms);
        last_body_ = std::move(res->body);
      }
      next += interval_;
      while (!stop_.load() && SteadyClock::now() < next) {
        std::this_thread::sleep_for(std::min<SteadyClock::duration>(
            next - SteadyClock::now(), std::chrono::milliseconds(10)));
      }
    }
  }

  void Fail(std::string why) {
    if (failures_++ == 0) first_error_ = std::move(why);
  }

  httplib::Client client_;
  const SteadyClock::duration interval_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::vector<double> latencies_ms_;
  int failures_ = 0;
  std::string last_body_;
  std::string first_error_;
};

struct RoundResult {
  double alerts_per_s = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  double cpu_us_per_alert = 0;  // this process, all threads
  int64_t errors = 0;
  // B only.
  int scrapes = 0;
  int scrape_failures = 0;
  double scrape_p50_ms = 0;
  size_t scrape_bytes = 0;
  double published_in_last_scrape = -1;
  std::string scrape_error;
};

// One closed-loop round on `node`: `publishers` threads publish back to back
// for warmup_s + seconds, counted over the last `seconds`. With
// scrape_interval_s > 0 a Scraper runs for the whole round.
RoundResult RunRound(RunningNode& node, int publishers, double warmup_s, double seconds,
                     double scrape_interval_s) {
  std::vector<std::unique_ptr<watchfloor::v1::Node::Stub>> stubs;
  std::atomic<int64_t> errors{0};
  static std::atomic<int64_t> next{0};  // alert ids stay unique across rounds
  for (int i = 0; i < publishers; ++i) {
    stubs.push_back(NewStub(node.server->address()));
    if (!PublishOnce(stubs.back().get(), next.fetch_add(1))) errors.fetch_add(1);  // connect
  }
  std::unique_ptr<Scraper> scraper;
  if (scrape_interval_s > 0) {
    scraper = std::make_unique<Scraper>(node.server->http_port(), scrape_interval_s);
  }
  std::vector<std::vector<double>> latencies(publishers);
  const auto start = SteadyClock::now();
  const auto measure_from = start + std::chrono::duration_cast<SteadyClock::duration>(
                                        std::chrono::duration<double>(warmup_s));
  const auto measure_to = measure_from + std::chrono::duration_cast<SteadyClock::duration>(
                                             std::chrono::duration<double>(seconds));
  std::vector<std::thread> threads;
  for (int p = 0; p < publishers; ++p) {
    threads.emplace_back([&, p] {
      for (;;) {
        const auto t0 = SteadyClock::now();
        if (t0 >= measure_to) return;
        if (!PublishOnce(stubs[p].get(), next.fetch_add(1))) errors.fetch_add(1);
        const auto t1 = SteadyClock::now();
        if (t0 >= measure_from && t1 <= measure_to) {
          latencies[p].push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
        }
      }
    });
  }
  std::this_thread::sleep_until(measure_from);
  const double cpu0 = ProcessCpuSeconds();
  std::this_thread::sleep_until(measure_to);
  const double cpu = ProcessCpuSeconds() - cpu0;
  for (auto& t : threads) t.join();

  std::vector<double> all;
  for (auto& v : latencies) all.insert(all.end(), v.begin(), v.end());
  RoundResult r;
  r.alerts_per_s = all.size() / seconds;
  r.p50_ms = Percentile(all, 50);
  r.p99_ms = Percentile(all, 99);
  r.cpu_us_per_alert = all.empty() ? 0 : cpu * 1e6 / all.size();
  r.errors = errors.load();
  if (scraper != nullptr) {
    scraper->Stop();
    r.scrapes = static_cast<int>(scraper->latencies_ms().size());
    r.scrape_failures = scraper->failures();
    r.scrape_p50_ms = Median(scraper->latencies_ms());
    r.scrape_bytes = scraper->last_bytes();
    r.published_in_last_scrape = SampleValue(scraper->last_body(), kPublishedFamily);
    r.scrape_error = scraper->first_error();
  }
  return r;
}

// CPU time of the calling thread, in seconds (ns resolution).
double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

struct DirectCosts {
  double get_cpu_us = 0;     // one GET /metrics, this process's CPU (both ends), net of idle
  double idle_cpu_us = 0;    // the process's CPU while idle for as long as one GET took
  double get_wall_us = 0;    // its wall time
  double render_cpu_us = 0;  // one Registry::Render, thread CPU
  double inc_ns = 0;         // one Counter::Inc, thread CPU
  double observe_ns = 0;     // one Histogram::Observe (LatencyBuckets), thread CPU
  bool ok = true;
};

// The direct measurements (see the top of the file), `n` GETs and renders,
// medians of `batches` batches each, on `node`'s listener while nothing
// publishes.
DirectCosts MeasureDirect(RunningNode& node, int batches, int n) {
  DirectCosts d;
  httplib::Client client("127.0.0.1", node.server->http_port());
  client.set_keep_alive(true);
  std::vector<double> get_cpu, get_wall, idle, render, inc, observe;
  metrics::Counter counter;
  metrics::Histogram histogram(metrics::LatencyBuckets());
  for (int batch = 0; batch < batches; ++batch) {
    double cpu0 = ProcessCpuSeconds();
    const auto t0 = SteadyClock::now();
    for (int i = 0; i < n; ++i) {
      auto res = client.Get("/metrics");
      if (!res || res->status != 200 || SampleValue(res->body, kPublishedFamily) <= 0) {
        d.ok = false;
      }
    }
    const double wall_s = SecondsSince(t0);
    const double cpu_s = ProcessCpuSeconds() - cpu0;
    // What the process burns anyway over as long (both nodes' background
    // threads, gRPC's pollers), subtracted.
    cpu0 = ProcessCpuSeconds();
    std::this_thread::sleep_for(std::chrono::duration<double>(wall_s));
    const double idle_s = ProcessCpuSeconds() - cpu0;
    get_wall.push_back(wall_s * 1e6 / n);
    get_cpu.push_back(std::max(0.0, cpu_s - idle_s) * 1e6 / n);
    idle.push_back(idle_s * 1e6 / n);

    cpu0 = ThreadCpuSeconds();
    size_t bytes = 0;
    for (int i = 0; i < n; ++i) bytes += node.server->metrics()->Render().size();
    render.push_back((ThreadCpuSeconds() - cpu0) * 1e6 / n);
    if (bytes == 0) d.ok = false;

    constexpr int kUpdates = 1000000;
    cpu0 = ThreadCpuSeconds();
    for (int i = 0; i < kUpdates; ++i) counter.Inc();
    inc.push_back((ThreadCpuSeconds() - cpu0) * 1e9 / kUpdates);
    cpu0 = ThreadCpuSeconds();
    // Latencies of 0.1..3 ms, as the node's publishes: several buckets hit.
    for (int i = 0; i < kUpdates; ++i) histogram.Observe(1e-4 + (i % 30) * 1e-4);
    observe.push_back((ThreadCpuSeconds() - cpu0) * 1e9 / kUpdates);
  }
  const uint64_t updates = static_cast<uint64_t>(batches) * 1000000;
  if (counter.value() != updates || histogram.snapshot().count != updates) {
    d.ok = false;
  }
  d.get_cpu_us = Median(get_cpu);
  d.get_wall_us = Median(get_wall);
  d.idle_cpu_us = Median(idle);
  d.render_cpu_us = Median(render);
  d.inc_ns = Median(inc);
  d.observe_ns = Median(observe);
  return d;
}

double ParsePositive(int argc, char** argv, const char* name, const char* def) {
  std::string v = FlagValue(argc, argv, name, def);
  double d = 0;
  if (!absl::SimpleAtod(v, &d) || d <= 0) {
    Die(absl::StrCat("--", name, "=", v, ": want a positive number, e.g. --", name, "=", def));
  }
  return d;
}

int Main(int argc, char** argv) {
  const bool smoke = HasFlag(argc, argv, "smoke");
  const int rounds = smoke ? 1 : static_cast<int>(ParsePositive(argc, argv, "rounds", "7"));
  const double seconds = smoke ? 0.3 : ParsePositive(argc, argv, "seconds", "3");
  const double warmup = smoke ? 0.1 : 0.5;
  const int publishers =
      smoke ? 2 : static_cast<int>(ParsePositive(argc, argv, "publishers", "4"));
  const double interval = smoke ? 0.05 : ParsePositive(argc, argv, "scrape_interval", "1");
  TempDir scratch(FlagValue(argc, argv, "dir", ""));

  std::printf("metrics_cost_bench%s: two real nodes in-process (A: no http listener; "
              "B: http listener + GET /metrics every %.2f s), SQLite WAL synchronous=FULL\n",
              smoke ? " --smoke" : "", interval);
  PrintMachineHeader(scratch.path());

  RunningNode a(scratch.path(), /*with_http=*/false);
  RunningNode b(scratch.path(), /*with_http=*/true);
  if (!smoke) {  // the smoke run keeps growing WALs: it checks, it does not measure
    const auto t0 = SteadyClock::now();
    const int64_t na = a.WarmUpWal();
    const int64_t nb = b.WarmUpWal();
    std::printf("WAL warm-up: %lld (A) and %lld (B) single-alert commits until the first "
                "checkpoint (%.1f s)\n",
                static_cast<long long>(na), static_cast<long long>(nb), SecondsSince(t0));
  }

  std::printf("\nclosed loop, %d publishers, %d round(s) per side of %.1f s each (after "
              "%.1f s warm-up), order AB, BA, ...:\n",
              publishers, rounds, seconds, warmup);
  std::printf("  %-5s %-4s %9s %8s %8s %12s %8s %10s %9s\n", "round", "side", "alerts/s",
              "p50 ms", "p99 ms", "CPU us/alert", "scrapes", "scrape p50", "bytes");
  bool failed = false;
  std::vector<double> rate_a, rate_b, cpu_a, cpu_b, pair_ratio, scrape_ms;
  auto run = [&](int round, bool side_b) {
    RoundResult r = RunRound(side_b ? b : a, publishers, warmup, seconds,
                             side_b ? interval : 0);
    (side_b ? rate_b : rate_a).push_back(r.alerts_per_s);
    (side_b ? cpu_b : cpu_a).push_back(r.cpu_us_per_alert);
    if (side_b) {
      std::printf("  %-5d %-4s %9.0f %8.2f %8.2f %12.0f %8d %7.2f ms %9zu\n", round + 1, "B",
                  r.alerts_per_s, r.p50_ms, r.p99_ms, r.cpu_us_per_alert, r.scrapes,
                  r.scrape_p50_ms, r.scrape_bytes);
      scrape_ms.push_back(r.scrape_p50_ms);
    } else {
      std::printf("  %-5d %-4s %9.0f %8.2f %8.2f %12.0f\n", round + 1, "A", r.alerts_per_s,
                  r.p50_ms, r.p99_ms, r.cpu_us_per_alert);
    }
    if (r.errors > 0 || r.alerts_per_s <= 0) {
      std::printf("FAILED: round %d %s: %lld publish errors, %.0f alerts/s\n", round + 1,
                  side_b ? "B" : "A", static_cast<long long>(r.errors), r.alerts_per_s);
      failed = true;
    }
    if (side_b && (r.scrape_failures > 0 || r.scrapes == 0 || r.published_in_last_scrape <= 0)) {
      std::printf("FAILED: round %d B: %d scrapes, %d failed (%s), last %s %.0f\n", round + 1,
                  r.scrapes, r.scrape_failures, r.scrape_error.c_str(), kPublishedFamily,
                  r.published_in_last_scrape);
      failed = true;
    }
  };
  for (int round = 0; round < rounds; ++round) {
    const bool b_first = round % 2 == 1;
    run(round, b_first);
    run(round, !b_first);
    pair_ratio.push_back(rate_a.back() > 0 ? rate_b.back() / rate_a.back() : 0);
  }

  const double med_a = Median(rate_a);
  const double med_b = Median(rate_b);
  const double ratio = med_a > 0 ? med_b / med_a : 0;
  const double cost = 100 * (1 - ratio);
  std::printf("\nmedians: A (metrics off) %.0f alerts/s, B (listener + scrapes) %.0f alerts/s; "
              "CPU per alert A %.0f us, B %.0f us (B/A %.3f); scrape p50 %.2f ms\n",
              med_a, med_b, Median(cpu_a), Median(cpu_b),
              Median(cpu_a) > 0 ? Median(cpu_b) / Median(cpu_a) : 0, Median(scrape_ms));
  std::printf("ratio B/A (reference A, same run): %.3f, median of per-round B/A %.3f, "
              "spread of per-round B/A %.3f..%.3f\n",
              ratio, Median(pair_ratio), Percentile(pair_ratio, 0), Max(pair_ratio));
  std::printf("A/B cost (1 - B/A): %.1f %%\n", cost);

  // Direct: CPU per scrape and per hot-path update, vs A's CPU per alert.
  const DirectCosts d = MeasureDirect(b, smoke ? 1 : 5, smoke ? 5 : 100);
  if (!d.ok) {
    std::printf("FAILED: a direct-measurement GET /metrics or update went wrong\n");
    failed = true;
  }
  // Per alert: published.Inc and publish_seconds.Observe; per commit
  // batch_ops and commit_seconds (counted per alert: an upper bound).
  const double hot_ns = d.inc_ns + 3 * d.observe_ns;
  const double cpu_per_s_a = Median(cpu_a) * med_a;  // us of CPU per second, A
  const double scrape_share = cpu_per_s_a > 0 ? 100 * d.get_cpu_us / interval / cpu_per_s_a : 0;
  const double hot_share = Median(cpu_a) > 0 ? 100 * hot_ns / 1000 / Median(cpu_a) : 0;
  std::printf("\ndirect (same run, same process, publishers idle; medians of %d batches):\n",
              smoke ? 1 : 5);
  std::printf("  one GET /metrics: %.0f us CPU (client and node together, less %.0f us the "
              "process burns idle in as long), %.0f us wall back to back; one "
              "Registry::Render: %.0f us CPU\n",
              d.get_cpu_us, d.idle_cpu_us, d.get_wall_us, d.render_cpu_us);
  std::printf("  Counter::Inc %.1f ns, Histogram::Observe %.1f ns: at most %.0f ns per alert "
              "(1 Inc + 3 Observe)\n", d.inc_ns, d.observe_ns, hot_ns);
  std::printf("  vs A's CPU, %.0f us per alert at %.0f alerts/s: scrapes every %.2f s %.3f %%, "
              "hot-path updates %.3f %% (always on, in A too): %.3f %% in all\n",
              Median(cpu_a), med_a, interval, scrape_share, hot_share, scrape_share + hot_share);
  const double direct = scrape_share + hot_share;
  // The A/B settles the target only when at least 3 pairs of rounds agree
  // to within it.
  const double spread = 100 * (Max(pair_ratio) - Percentile(pair_ratio, 0));
  char ab[160];
  if (rounds < 3 || spread > kTargetCostPercent) {
    std::snprintf(ab, sizeof(ab), "cannot resolve %.0f %% here (cost %.1f %%, %d round(s), "
                  "per-round B/A spread %.0f points)", kTargetCostPercent, cost, rounds, spread);
  } else {
    std::snprintf(ab, sizeof(ab), "%s (cost %.1f %%)",
                  cost <= kTargetCostPercent ? "MET" : "MISSED", cost);
  }
  std::printf("target: metrics cost <= %.0f %% of publish work: direct %s (%.3f %%); A/B %s\n",
              kTargetCostPercent, direct <= kTargetCostPercent ? "MET" : "MISSED", direct,
              ab);
  std::printf("load average at end: %.2f\n", LoadAverage1());
  if (failed) {
    std::printf("FAILED: see above\n");
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace watchfloor::bench

namespace {
constexpr char kUsage[] = R"(
metrics_cost_bench: what the node's Prometheus metrics cost in publish
throughput (issue 12: target <= 2 %), as an A/B in one run.

Usage: metrics_cost_bench [--rounds=7] [--seconds=3] [--publishers=4]
                          [--scrape_interval=1] [--dir=/tmp]
       metrics_cost_bench --smoke   (a < 5 s check that everything works)
)";
}  // namespace

int main(int argc, char** argv) {
  watchfloor::bench::CheckFlags(argc, argv, kUsage,
                                {"dir", "publishers", "rounds", "scrape_interval", "seconds",
                                 "smoke"});
  return watchfloor::bench::Main(argc, argv);
}
