// idle_rss_bench: resident memory of the real `watchfloor node` process,
// idle, on a store of --alerts alerts [target VmRSS <= 64 MiB at 100,000],
// next to the same binary idle on an empty store (the reference).
//
// The store is filled through the Ledger in this process (publish with group
// commit, the node's own write path), then the binary is started on it, left
// idle for --idle_seconds after it reports that it is listening, and its
// VmRSS and VmHWM are read from /proc/<pid>/status before it is sent SIGTERM.
// Empty and full stores alternate for --runs rounds; medians are printed.
//
// Usage: idle_rss_bench [--binary=build/node/cli/watchfloor] [--alerts=100000]
//                       [--runs=3] [--idle_seconds=3] [--dir=/tmp]
//        idle_rss_bench --smoke   (a < 5 s check that everything works)
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "bench/bench_util.h"
#include "google/protobuf/text_format.h"
#include "node/clock.h"
#include "node/key_resolver.h"
#include "node/ledger.h"
#include "node/sqlite_alert_store.h"

extern char** environ;

namespace watchfloor::bench {
namespace {

constexpr char kOrigin[] = "bench.example/rss1";
constexpr double kTargetMiB = 64.0;

#ifndef WF_WATCHFLOOR_BINARY
#define WF_WATCHFLOOR_BINARY "node/cli/watchfloor"
#endif

// Publishes `n` alerts into config.data_dir() through a Ledger signing with
// the config's key, keeping a window of calls in flight so that they share
// commits.
void FillStore(const watchfloor::v1::NodeConfig& config, int64_t n) {
  auto key = certs::SigningKey::LoadPemFile(config.signing_key_file());
  if (!key.ok()) Die(std::string(key.status().message()));
  auto store = node::SqliteAlertStore::Open(config.data_dir(), config.origin());
  if (!store.ok()) Die(std::string(store.status().message()));
  node::StaticKeyResolver resolver({{config.origin(), key->public_key()}});
  auto ledger = node::Ledger::Open(store->get(), &*key, config.origin(), &resolver,
                                   node::Clock::Real(), nullptr);
  if (!ledger.ok()) Die(std::string(ledger.status().message()));
  std::mutex mu;
  std::condition_variable cv;
  int64_t in_flight = 0, done = 0, errors = 0;
  for (int64_t i = 0; i < n; ++i) {
    {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return in_flight < 4096; });
      ++in_flight;
    }
    (*ledger)->Publish(SampleDraft(i), [&](absl::StatusOr<node::PublishResult> r) {
      std::lock_guard<std::mutex> lock(mu);
      --in_flight;
      ++done;
      if (!r.ok() && errors++ == 0) {
        std::fprintf(stderr, "publish failed: %s\n", r.status().ToString().c_str());
      }
      cv.notify_all();
    });
  }
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return done == n; });
  if (errors > 0) Die(absl::StrCat(errors, " publishes failed while filling the store"));
}

struct Sample {
  MemoryFigures mem;
  double startup_s = 0;
};

// Runs `binary node --config <config_path>` until it prints its "listening"
// line, lets it idle, samples its memory, and stops it with SIGTERM.
Sample RunIdle(const std::string& binary, const std::string& config_path,
               double idle_seconds) {
  Sample s;
  const auto start = SteadyClock::now();
  NodeProcess node(binary, config_path);
  s.startup_s = SecondsSince(start);
  std::this_thread::sleep_for(std::chrono::duration<double>(idle_seconds));
  s.mem = node.Memory();
  node.Stop();
  return s;
}

std::string WriteConfig(const TempDir& dir, const watchfloor::v1::NodeConfig& config) {
  std::string text;
  google::protobuf::TextFormat::PrintToString(config, &text);
  std::string path = dir.Join("node.conf");
  std::ofstream(path) << text;
  return path;
}

double FileMiB(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 ? st.st_size / (1024.0 * 1024.0) : 0;
}

int64_t IntFlag(int argc, char** argv, const char* name, const char* def) {
  std::string v = FlagValue(argc, argv, name, def);
  int64_t n = 0;
  if (!absl::SimpleAtoi(v, &n) || n <= 0) {
    std::fprintf(stderr, "error: --%s=%s: want a positive integer\n", name, v.c_str());
    std::exit(2);
  }
  return n;
}

int Main(int argc, char** argv) {
  const bool smoke = HasFlag(argc, argv, "smoke");
  const std::string binary = FlagValue(argc, argv, "binary", WF_WATCHFLOOR_BINARY);
  const int64_t alerts = smoke ? 500 : IntFlag(argc, argv, "alerts", "100000");
  const int runs = smoke ? 1 : static_cast<int>(IntFlag(argc, argv, "runs", "3"));
  double idle_seconds = 3;
  if (smoke) {
    idle_seconds = 0.5;
  } else if (!absl::SimpleAtod(FlagValue(argc, argv, "idle_seconds", "3"), &idle_seconds)) {
    Die("--idle_seconds wants a number");
  }
  TempDir scratch(FlagValue(argc, argv, "dir", ""));
  std::printf("idle_rss_bench%s: %s node, idle %.1f s, %lld alerts vs empty store\n",
              smoke ? " --smoke" : "", binary.c_str(), idle_seconds,
              static_cast<long long>(alerts));
  PrintMachineHeader(scratch.path());

  TempDir empty_dir(scratch.path());
  const std::string empty_conf = WriteConfig(empty_dir, MakeNodeConfig(empty_dir, kOrigin));
  TempDir full_dir(scratch.path());
  const watchfloor::v1::NodeConfig full = MakeNodeConfig(full_dir, kOrigin);
  const std::string full_conf = WriteConfig(full_dir, full);
  auto t0 = SteadyClock::now();
  FillStore(full, alerts);
  const std::string db = full.data_dir() + "/" + node::SqliteAlertStore::kFileName;
  std::printf("filled the store in %.1f s: %s is %.1f MiB (+ %.1f MiB WAL)\n",
              SecondsSince(t0), db.c_str(), FileMiB(db), FileMiB(db + "-wal"));

  std::vector<double> e_rss, e_hwm, f_rss, f_hwm, f_start;
  std::printf("\n  %-4s %-6s %10s %10s %10s\n", "run", "store", "VmRSS MiB", "VmHWM MiB",
              "startup s");
  for (int r = 0; r < runs; ++r) {
    Sample e = RunIdle(binary, empty_conf, idle_seconds);
    Sample f = RunIdle(binary, full_conf, idle_seconds);
    e_rss.push_back(e.mem.rss_mib);
    e_hwm.push_back(e.mem.hwm_mib);
    f_rss.push_back(f.mem.rss_mib);
    f_hwm.push_back(f.mem.hwm_mib);
    f_start.push_back(f.startup_s);
    std::printf("  %-4d %-6s %10.1f %10.1f %10.2f\n", r + 1, "empty", e.mem.rss_mib,
                e.mem.hwm_mib, e.startup_s);
    std::printf("  %-4d %-6s %10.1f %10.1f %10.2f\n", r + 1, "full", f.mem.rss_mib,
                f.mem.hwm_mib, f.startup_s);
  }
  const double rss = Median(f_rss);
  std::printf("\nmedian idle VmRSS: %.1f MiB with %lld alerts (VmHWM %.1f MiB, startup %.2f s)\n",
              rss, static_cast<long long>(alerts), Median(f_hwm), Median(f_start));
  std::printf("reference, same binary on an empty store: VmRSS %.1f MiB (VmHWM %.1f MiB)\n",
              Median(e_rss), Median(e_hwm));
  std::printf("ratio full/empty: VmRSS %.2f, VmHWM %.2f; growth %.1f MiB\n",
              rss / Median(e_rss), Median(f_hwm) / Median(e_hwm), rss - Median(e_rss));
  std::printf("target: idle VmRSS <= %.0f MiB with %lld alerts: %s\n", kTargetMiB,
              static_cast<long long>(alerts), rss <= kTargetMiB ? "MET" : "MISSED");
  std::printf("load average at end: %.2f\n", LoadAverage1());
  return 0;
}

}  // namespace
}  // namespace watchfloor::bench

namespace {
constexpr char kUsage[] = R"(
idle_rss_bench: resident memory of the real `watchfloor node` process,
idle, on a store of --alerts alerts [target VmRSS <= 64 MiB at 100,000],
next to the same binary idle on an empty store (the reference).

Usage: idle_rss_bench [--binary=build/node/cli/watchfloor] [--alerts=100000]
                      [--runs=3] [--idle_seconds=3] [--dir=/tmp]
       idle_rss_bench --smoke   (a < 5 s check that everything works)
)";
}  // namespace

int main(int argc, char** argv) {
  watchfloor::bench::CheckFlags(argc, argv, kUsage,
                                {"alerts", "binary", "dir", "idle_seconds", "runs", "smoke"});
  return watchfloor::bench::Main(argc, argv);
}
