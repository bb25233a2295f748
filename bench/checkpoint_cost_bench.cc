// checkpoint_cost_bench: what signing checkpoints of its own feed adds to a
// node's publish cost, A/B in one run.
//
// Two real `watchfloor node` processes (the binary, plaintext loopback,
// SQLite in WAL mode with synchronous=FULL, each on its own temporary data
// dir) differ only in NodeConfig.transparency.checkpoint_interval_ms:
//   A  1000     the default: a checkpoint signed and stored every second
//               while the feed grows;
//   B  3600000  none signed during the run (the first would be due after
//               an hour).
// Both are warmed up first (--warmup alerts each, closed loop, so both WALs
// are past their first SQLite checkpoint). Then --runs rounds, each running
// A then B (B then A every second round):
//   open loop    one sender issues Publish at --rate (1,000/s) on a fixed
//                schedule for --seconds; ack latency from each call's
//                scheduled send time (p50, p99);
//   closed loop  one publisher back to back for --closed_seconds;
// and for each the node process's CPU time (utime + stime from
// /proc/<pid>/stat, the client is in this process) per alert published.
// After every open-loop run the node's latest checkpoint (GetCheckpoint) is
// read: A's must cover the feed up to the last second, B must have none.
// The figure is median CPU per alert of A over B (target: <= 1.05).
//
// The Merkle log itself is NOT part of the A/B difference: both nodes write
// the log nodes of every alert in the alert's own transaction (node/ledger.cc
// StageLog), whatever the checkpoint interval. Its in-process compute cost
// (certs::CompactRange::Append per leaf) and the log nodes per alert are
// printed as a reference next to the node's CPU per alert.
//
// Usage: checkpoint_cost_bench [--binary=PATH] [--runs=3] [--rate=1000]
//          [--seconds=10] [--closed_seconds=3] [--warmup=3000] [--dir=/tmp]
//        checkpoint_cost_bench --smoke   (a < 5 s check that everything works)
#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "bench/bench_util.h"
#include "certs/dsse.h"
#include "certs/ids.h"
#include "certs/merkle.h"
#include "certs/note.h"
#include "google/protobuf/text_format.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "node/clock.h"
#include "node/key_resolver.h"
#include "node/ledger.h"
#include "node/sqlite_alert_store.h"
#include "node/transparency.h"
#include "watchfloor/v1/node.grpc.pb.h"

#ifndef WF_WATCHFLOOR_BINARY
#define WF_WATCHFLOOR_BINARY "node/cli/watchfloor"
#endif

namespace watchfloor::bench {
namespace {

constexpr char kOrigin[] = "bench.example/ckpt1";
constexpr double kTargetRatio = 1.05;

double DoubleFlag(int argc, char** argv, const std::string& name, const std::string& def) {
  double v = 0;
  const std::string s = FlagValue(argc, argv, name, def);
  if (!absl::SimpleAtod(s, &v) || v <= 0) Die(absl::StrCat("--", name, "=", s, " is not positive"));
  return v;
}

// The node, as a child process (as in subscription_bench).

std::unique_ptr<v1::Node::Stub> NewStub(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return v1::Node::NewStub(
      grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args));
}

bool PublishOnce(v1::Node::Stub* stub, int64_t n) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  v1::PublishRequest req;
  *req.mutable_alert() = SampleDraft(n);
  v1::PublishResponse resp;
  const grpc::Status st = stub->Publish(&ctx, req, &resp);
  if (!st.ok()) std::fprintf(stderr, "publish failed: %s\n", st.error_message().c_str());
  return st.ok();
}

// The tree size of the node's latest checkpoint, 0 if it has none.
uint64_t LatestCheckpointSize(v1::Node::Stub* stub) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  v1::GetCheckpointRequest req;
  v1::GetCheckpointResponse resp;
  const grpc::Status st = stub->GetCheckpoint(&ctx, req, &resp);
  if (st.error_code() == grpc::StatusCode::NOT_FOUND) return 0;
  if (!st.ok()) Die("GetCheckpoint: " + st.error_message());
  absl::StatusOr<certs::ParsedNote> note = certs::ParseNote(resp.note());
  if (!note.ok()) Die("GetCheckpoint returned an unparsable note");
  absl::StatusOr<certs::Checkpoint> c = certs::ParseCheckpoint(note->text);
  if (!c.ok()) Die("GetCheckpoint returned an unparsable checkpoint");
  return c->size;
}

struct Variant {
  std::string name;
  uint32_t interval_ms = 0;
  std::unique_ptr<TempDir> dir;
  std::unique_ptr<NodeProcess> node;
  std::unique_ptr<v1::Node::Stub> stub;
  int64_t next_n = 0;  // distinct titles across runs
  int64_t published = 0;
  // Per run:
  std::vector<double> open_cpu_us, open_p50, open_p99, closed_cpu_us, closed_rate,
      closed_p50, closed_p99;
};

struct LoopResult {
  double cpu_us_per_alert = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  double alerts_per_s = 0;
  double sender_lag_p99_ms = 0;
};

LoopResult OpenLoop(Variant& v, double rate, double seconds) {
  struct Call {
    grpc::ClientContext ctx;
    v1::PublishRequest req;
    v1::PublishResponse resp;
    SteadyClock::time_point intended;
    size_t index = 0;
  };
  const size_t total = static_cast<size_t>(rate * seconds);
  std::vector<double> latency_ms(total, 0), lag_ms(total, 0);
  std::mutex mu;
  std::condition_variable cv;
  size_t done = 0;
  std::atomic<int64_t> errors{0};
  const auto period = std::chrono::duration_cast<SteadyClock::duration>(
      std::chrono::duration<double>(1.0 / rate));
  const double cpu0 = v.node->CpuSeconds();
  const auto start = SteadyClock::now() + std::chrono::milliseconds(10);
  for (size_t i = 0; i < total; ++i) {
    auto* call = new Call;
    call->intended = start + period * static_cast<int64_t>(i);
    call->index = i;
    *call->req.mutable_alert() = SampleDraft(v.next_n++);
    call->ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    std::this_thread::sleep_until(call->intended);
    lag_ms[i] =
        std::chrono::duration<double, std::milli>(SteadyClock::now() - call->intended).count();
    v.stub->async()->Publish(&call->ctx, &call->req, &call->resp, [&, call](grpc::Status st) {
      latency_ms[call->index] =
          std::chrono::duration<double, std::milli>(SteadyClock::now() - call->intended).count();
      if (!st.ok()) errors.fetch_add(1);
      delete call;
      std::lock_guard<std::mutex> lock(mu);
      if (++done == total) cv.notify_all();
    });
  }
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return done == total; });
  }
  const double cpu = v.node->CpuSeconds() - cpu0;
  if (errors.load() != 0) Die(absl::StrCat(errors.load(), " publishes failed"));
  v.published += total;
  LoopResult r;
  r.cpu_us_per_alert = cpu * 1e6 / total;
  r.p50_ms = Percentile(latency_ms, 50);
  r.p99_ms = Percentile(latency_ms, 99);
  r.alerts_per_s = rate;
  r.sender_lag_p99_ms = Percentile(lag_ms, 99);
  return r;
}

LoopResult ClosedLoop(Variant& v, double seconds) {
  std::vector<double> latency_ms;
  const double cpu0 = v.node->CpuSeconds();
  const auto start = SteadyClock::now();
  while (SecondsSince(start) < seconds) {
    const auto t0 = SteadyClock::now();
    if (!PublishOnce(v.stub.get(), v.next_n++)) Die("publish failed");
    latency_ms.push_back(
        std::chrono::duration<double, std::milli>(SteadyClock::now() - t0).count());
  }
  const double elapsed = SecondsSince(start);
  const double cpu = v.node->CpuSeconds() - cpu0;
  v.published += latency_ms.size();
  LoopResult r;
  r.cpu_us_per_alert = cpu * 1e6 / latency_ms.size();
  r.p50_ms = Percentile(latency_ms, 50);
  r.p99_ms = Percentile(latency_ms, 99);
  r.alerts_per_s = latency_ms.size() / elapsed;
  return r;
}

std::string WriteConfig(const TempDir& dir, const v1::NodeConfig& config) {
  std::string text;
  google::protobuf::TextFormat::PrintToString(config, &text);
  const std::string path = dir.Join("node.conf");
  std::ofstream(path) << text;
  return path;
}

// Reference: microseconds per certs::CompactRange::Append (the log's compute
// per alert) and log nodes of level >= 1 written per alert, over `n` leaves.
void LogReference(int n, double* us_per_append, double* nodes_per_alert) {
  std::vector<std::string> leaves;
  leaves.reserve(n);
  for (int i = 0; i < n; ++i) leaves.push_back(certs::HashLeaf(absl::StrCat("leaf ", i)));
  certs::CompactRange range;
  int64_t nodes = 0;
  const auto start = SteadyClock::now();
  for (const std::string& leaf : leaves) {
    range.Append(leaf, [&](int level, uint64_t, const std::string&) {
      if (level > 0) ++nodes;
    });
  }
  *us_per_append = SecondsSince(start) * 1e6 / n;
  *nodes_per_alert = static_cast<double>(nodes) / n;
}

// CPU seconds (user + system) of this whole process.
double ProcessCpuSeconds() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
         ru.ru_stime.tv_usec / 1e6;
}

// Reference measured directly, in this process: a Ledger and a Transparency
// (not started) on a fresh SQLite store; `rounds` times, publish `per_round`
// alerts (queued at once, so group-committed), then time one
// Transparency::SignNow() — root from the stored log, sign, store in the
// writer's next transaction — by this process's CPU (getrusage: the signing
// thread and the ledger's writer) and wall clock. Medians in microseconds.
void SignNowReference(const std::string& base, int rounds, int per_round, double* cpu_us,
                      double* wall_us) {
  TempDir dir(base);
  auto store = node::SqliteAlertStore::Open(dir.path(), kOrigin);
  if (!store.ok()) Die("open store: " + store.status().ToString());
  const certs::SigningKey key = certs::SigningKey::Generate();
  node::StaticKeyResolver keys({});
  auto ledger =
      node::Ledger::Open(store->get(), &key, kOrigin, &keys, node::Clock::Real(), nullptr);
  if (!ledger.ok()) Die("open ledger: " + ledger.status().ToString());
  node::Transparency transparency(kOrigin, &key, /*roster=*/nullptr, ledger->get(),
                                  store->get(), node::Clock::Real(), {});
  std::vector<double> cpu, wall;
  int64_t n = 0;
  for (int r = 0; r < rounds; ++r) {
    std::mutex mu;
    std::condition_variable cv;
    int done = 0;
    for (int i = 0; i < per_round; ++i) {
      (*ledger)->Publish(SampleDraft(n++), [&](absl::StatusOr<node::PublishResult> res) {
        if (!res.ok()) Die("publish: " + res.status().ToString());
        std::lock_guard<std::mutex> lock(mu);
        if (++done == per_round) cv.notify_all();
      });
    }
    {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return done == per_round; });
    }
    const double c0 = ProcessCpuSeconds();
    const auto t0 = SteadyClock::now();
    const absl::Status st = transparency.SignNow();
    wall.push_back(SecondsSince(t0) * 1e6);
    cpu.push_back((ProcessCpuSeconds() - c0) * 1e6);
    if (!st.ok()) Die("SignNow: " + st.ToString());
  }
  if (transparency.stats().signed_checkpoints != static_cast<uint64_t>(rounds)) {
    Die("SignNow did not sign a checkpoint every round");
  }
  *cpu_us = Median(cpu);
  *wall_us = Median(wall);
}

int Main(int argc, char** argv) {
  const bool smoke = HasFlag(argc, argv, "smoke");
  const std::string binary = FlagValue(argc, argv, "binary", WF_WATCHFLOOR_BINARY);
  const int runs = smoke ? 1 : static_cast<int>(DoubleFlag(argc, argv, "runs", "3"));
  const double rate = DoubleFlag(argc, argv, "rate", "1000");
  const double seconds = smoke ? 0.8 : DoubleFlag(argc, argv, "seconds", "10");
  const double closed_seconds = smoke ? 0.3 : DoubleFlag(argc, argv, "closed_seconds", "3");
  const int64_t warmup = smoke ? 100 : static_cast<int64_t>(DoubleFlag(argc, argv, "warmup", "3000"));
  const std::string base = FlagValue(argc, argv, "dir", "");

  std::vector<Variant> variants;
  variants.resize(2);
  variants[0].name = "A (checkpoint every 1 s)";
  variants[0].interval_ms = 1000;
  variants[1].name = "B (no checkpoint: 1 h)";
  variants[1].interval_ms = 3600000;
  for (Variant& v : variants) {
    v.dir = std::make_unique<TempDir>(base);
    v1::NodeConfig config = MakeNodeConfig(*v.dir, kOrigin);
    config.mutable_transparency()->set_checkpoint_interval_ms(v.interval_ms);
    v.node = std::make_unique<NodeProcess>(binary, WriteConfig(*v.dir, config));
    v.stub = NewStub(v.node->address());
  }
  PrintMachineHeader(variants[0].dir->path());
  std::printf("binary %s; open loop %.0f alerts/s x %.1f s, closed loop 1 publisher x %.1f s,"
              " %d rounds\n", binary.c_str(), rate, seconds, closed_seconds, runs);

  for (Variant& v : variants) {
    const auto start = SteadyClock::now();
    for (int64_t i = 0; i < warmup; ++i) {
      if (!PublishOnce(v.stub.get(), v.next_n++)) Die("warm-up publish failed");
    }
    v.published += warmup;
    std::printf("warmed up %s: %lld alerts in %.1f s\n", v.name.c_str(),
                static_cast<long long>(warmup), SecondsSince(start));
  }
  std::fflush(stdout);

  std::printf("\n%-26s %-5s %12s %9s %9s %12s %10s %9s %9s %14s\n", "variant", "round",
              "open CPU/al", "open p50", "open p99", "closed CPU/al", "closed /s", "cl p50",
              "cl p99", "ckpt size/feed");
  for (int r = 0; r < runs; ++r) {
    for (int k = 0; k < 2; ++k) {
      Variant& v = variants[(r % 2 == 0) ? k : 1 - k];
      const LoopResult open = OpenLoop(v, rate, seconds);
      const int64_t feed = v.published;
      // Let a due checkpoint be signed before asking for it.
      std::this_thread::sleep_for(std::chrono::milliseconds(v.interval_ms <= 2000 ? 1200 : 0));
      const uint64_t ckpt = LatestCheckpointSize(v.stub.get());
      if (v.interval_ms <= 2000 && static_cast<int64_t>(ckpt + rate * 2) < v.published) {
        Die(absl::StrCat(v.name, ": latest checkpoint covers ", ckpt, " of ", v.published,
                         " alerts; checkpoints are not being signed"));
      }
      if (v.interval_ms > 2000 && ckpt != 0) Die(v.name + " signed a checkpoint");
      const LoopResult closed = ClosedLoop(v, closed_seconds);
      v.open_cpu_us.push_back(open.cpu_us_per_alert);
      v.open_p50.push_back(open.p50_ms);
      v.open_p99.push_back(open.p99_ms);
      v.closed_cpu_us.push_back(closed.cpu_us_per_alert);
      v.closed_rate.push_back(closed.alerts_per_s);
      v.closed_p50.push_back(closed.p50_ms);
      v.closed_p99.push_back(closed.p99_ms);
      std::printf("%-26s %-5d %9.1f us %6.2f ms %6.2f ms %9.1f us %10.0f %6.2f ms %6.2f ms %7llu/%-7lld"
                  "  (sender lag p99 %.2f ms)\n",
                  v.name.c_str(), r + 1, open.cpu_us_per_alert, open.p50_ms, open.p99_ms,
                  closed.cpu_us_per_alert, closed.alerts_per_s, closed.p50_ms, closed.p99_ms,
                  static_cast<unsigned long long>(ckpt),
                  static_cast<long long>(feed),
                  open.sender_lag_p99_ms);
      std::fflush(stdout);
    }
  }

  const Variant& a = variants[0];
  const Variant& b = variants[1];
  std::printf("\nmedians of %d runs          %14s %14s %10s\n", runs, "A (1 s)", "B (none)", "A / B");
  auto row = [](const char* what, const std::vector<double>& x, const std::vector<double>& y,
                const char* unit) {
    std::printf("  %-28s %10.2f %-3s %10.2f %-3s %10.3f\n", what, Median(x), unit, Median(y),
                unit, Median(x) / Median(y));
  };
  row("open loop node CPU / alert", a.open_cpu_us, b.open_cpu_us, "us");
  row("open loop ack p50", a.open_p50, b.open_p50, "ms");
  row("open loop ack p99", a.open_p99, b.open_p99, "ms");
  row("closed loop node CPU / alert", a.closed_cpu_us, b.closed_cpu_us, "us");
  row("closed loop alerts/s", a.closed_rate, b.closed_rate, "/s");
  row("closed loop ack p50", a.closed_p50, b.closed_p50, "ms");
  row("closed loop ack p99", a.closed_p99, b.closed_p99, "ms");
  std::vector<double> per_round;
  for (size_t i = 0; i < a.open_cpu_us.size(); ++i) {
    per_round.push_back(a.open_cpu_us[i] / b.open_cpu_us[i]);
  }
  const double ratio = Median(per_round);
  std::printf("  open-loop CPU per alert A/B per round:");
  for (double x : per_round) std::printf(" %.3f", x);
  std::printf("\n  checkpoint signing adds %+.1f %% to node CPU per alert at %.0f/s (median of "
              "per-round ratios %.3f); target <= +5 %%: %s\n",
              (ratio - 1) * 100, rate, ratio, ratio <= kTargetRatio ? "MET" : "MISSED");

  double append_us = 0, nodes_per_alert = 0;
  LogReference(smoke ? 10000 : 1000000, &append_us, &nodes_per_alert);
  const std::string pae = certs::Pae(certs::kAlertPayloadType, SampleDraft(1).SerializeAsString());
  const certs::SigningKey key = certs::SigningKey::Generate();
  const double sign_rate = Ed25519SignRate(key, pae, smoke ? 0.1 : 0.5);
  std::printf("\nreferences, same run (in this process):\n");
  std::printf("  Ed25519 sign, 1 thread: %.1f us; one checkpoint a second at %.0f alerts/s is "
              "%.3f us of signing per alert (%.3f %% of B's open-loop CPU per alert)\n",
              1e6 / sign_rate, rate, 1e6 / sign_rate / rate,
              1e6 / sign_rate / rate / Median(b.open_cpu_us) * 100);
  std::printf("  Merkle log, written for every alert in A and B alike: CompactRange::Append "
              "%.2f us per alert, %.2f log nodes (level >= 1) per alert = %.2f %% of B's "
              "open-loop node CPU per alert (compute only; the log_nodes rows' SQLite cost is "
              "not separable without changing the node)\n",
              append_us, nodes_per_alert, append_us / Median(b.open_cpu_us) * 100);
  double sign_cpu_us = 0, sign_wall_us = 0;
  SignNowReference(base, smoke ? 3 : 30, smoke ? 100 : 1000, &sign_cpu_us, &sign_wall_us);
  std::printf("  one Transparency::SignNow() after 1,000 new alerts, in process (median of "
              "%d): CPU %.0f us, wall %.0f us; at one a second and %.0f alerts/s that is "
              "%.3f us CPU per alert = %.2f %% of B's open-loop node CPU per alert\n",
              smoke ? 3 : 30, sign_cpu_us, sign_wall_us, rate, sign_cpu_us / rate,
              sign_cpu_us / rate / Median(b.open_cpu_us) * 100);
  std::printf("load average at end %.2f\n", LoadAverage1());
  return 0;
}

}  // namespace
}  // namespace watchfloor::bench

namespace {
constexpr char kUsage[] = R"(
checkpoint_cost_bench: what signing checkpoints of its own feed adds to a
node's publish cost, A/B in one run.

Usage: checkpoint_cost_bench [--binary=PATH] [--runs=3] [--rate=1000]
         [--seconds=10] [--closed_seconds=3] [--warmup=3000] [--dir=/tmp]
       checkpoint_cost_bench --smoke   (a < 5 s check that everything works)
)";
}  // namespace

int main(int argc, char** argv) {
  watchfloor::bench::CheckFlags(argc, argv, kUsage,
                                {"binary", "closed_seconds", "dir", "rate", "runs", "seconds",
                                 "smoke", "warmup"});
  return watchfloor::bench::Main(argc, argv);
}
