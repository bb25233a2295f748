// Shared pieces of the benchmarks under bench/: temporary directories,
// sample alerts, order statistics, and the reference measurements every
// benchmark prints next to its own figure (raw fsync latency, raw Ed25519
// sign and verify rates), so that a result is read as a ratio to what this
// machine can do in the same run rather than as an absolute number.
//
// Nothing here is thread-safe unless stated; benchmarks call it from main().
#ifndef WATCHFLOOR_BENCH_BENCH_UTIL_H_
#define WATCHFLOOR_BENCH_BENCH_UTIL_H_

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "certs/keys.h"
#include "watchfloor/v1/alert.pb.h"
#include "watchfloor/v1/config.pb.h"

namespace watchfloor::bench {

using SteadyClock = std::chrono::steady_clock;

// Seconds elapsed since `start`.
double SecondsSince(SteadyClock::time_point start);

// A fresh directory under `base` (default: $BENCH_TMPDIR, else $TMPDIR, else
// /tmp), removed recursively on destruction. Put it on the file system whose
// fsync cost you want to measure: the fsync reference uses the same one.
class TempDir {
 public:
  explicit TempDir(const std::string& base = "");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string Join(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A valid draft (severity, category, TLP, title, description, one domain,
// prefix and ASN; about 180 bytes serialized, like a typical alert). `n`
// varies the title so that every alert has its own id.
watchfloor::v1::Alert SampleDraft(int64_t n);

// A node config for `dir`: origin, plaintext on 127.0.0.1:0, data dir
// dir/data, and a fresh signing key saved (0600) as dir/signing.key.
// Aborts (with a message) if the key cannot be written.
watchfloor::v1::NodeConfig MakeNodeConfig(const TempDir& dir,
                                          const std::string& origin);

// Order statistics of an unsorted sample; the sample is copied. 0 if empty.
// Percentile(v, 50) is the median; `p` in [0, 100], nearest-rank.
double Percentile(std::vector<double> v, double p);
inline double Median(std::vector<double> v) { return Percentile(std::move(v), 50); }
double Max(const std::vector<double>& v);

// Raw write+fdatasync latency of the file system holding `dir`, `n` times,
// on a scratch file (deleted afterwards); one latency per iteration, in
// microseconds. Not counted in GetSyncCounts().
//   kOverwrite: rewrites 4 KiB blocks of a 1 MiB file written and synced
//     beforehand: a data-only flush, which is what SQLite's WAL costs in steady
//     state (after a checkpoint the WAL is rewritten from its start).
//   kAppend: appends, so every fdatasync also persists the new file size
//     (a journal commit, or an inode write without a journal): what the WAL
//     costs while it grows.
enum class SyncMode { kOverwrite, kAppend };
std::vector<double> FsyncLatenciesUs(const std::string& dir, int n, SyncMode mode);

// Counts of the fsync(2)/fdatasync(2) calls made by this process (by SQLite,
// mostly), cumulative since start. Every bench binary links bench_util, which
// interposes both functions (the executable's definition wins over libc's for
// libsqlite3.so) to count and time them; a call on a file whose name ends in
// "-wal" is a WAL sync, which under synchronous=FULL is one per commit, and
// any other is a checkpoint's database sync or a directory sync.
// Thread-safe.
struct SyncCounts {
  int64_t wal = 0;          // syncs of a *-wal file
  int64_t other = 0;        // all other syncs
  double total_ms = 0;      // time spent in all of them
  int64_t slow = 0;         // syncs (of any file) that took >= 5 ms
  double slow_ms = 0;       // time spent in those
  double max_wal_ms = 0;    // longest WAL sync since ResetSyncMax()
  double max_other_ms = 0;  // longest other sync since ResetSyncMax()
};
SyncCounts GetSyncCounts();
void ResetSyncMax();

// One sync seen by the interposer while a trace runs: when it started and
// ended, and whether it was a WAL sync.
struct SyncEvent {
  SteadyClock::time_point start;
  SteadyClock::time_point end;
  bool wal = false;
  int tid = 0;  // the thread that synced
};
// Records every sync from StartSyncTrace() until TakeSyncTrace(), which
// returns them in completion order and stops recording. Thread-safe.
void StartSyncTrace();
std::vector<SyncEvent> TakeSyncTrace();
// Differences a - b of the cumulative fields (the maxima are a's).
SyncCounts operator-(const SyncCounts& a, const SyncCounts& b);

// Single-thread libsodium Ed25519 rates (operations per second) over
// `message`, each measured for about `seconds`.
double Ed25519SignRate(const certs::SigningKey& key, const std::string& message,
                       double seconds);

// Round trips of a 64-byte message between two TCP sockets on 127.0.0.1
// (TCP_NODELAY), the echo on its own thread: what a hop costs the kernel.
// `trips` round trips; their p50 and p99 in microseconds. Dies if the
// sockets cannot be set up.
struct Rtt {
  double p50_us = 0, p99_us = 0;
};
Rtt LoopbackRtt(int trips);

// Resident-set figures of a process, from /proc/<pid>/status, in MiB.
struct MemoryFigures {
  double rss_mib = 0;  // VmRSS
  double hwm_mib = 0;  // VmHWM (peak RSS)
};
absl::Status ReadMemoryFigures(int pid, MemoryFigures* out);

// utime + stime of process `pid` so far, from /proc/<pid>/stat, in seconds
// (clock-tick resolution); 0 if it cannot be read.
double CpuSecondsOf(int pid);

// The 1-minute load average, for the header of every report.
double LoadAverage1();

// Prints "machine: <cpus> CPUs, load <x>, <kernel>" and the data directory's
// file system, so that a pasted result says where it was measured.
void PrintMachineHeader(const std::string& data_dir);

// Parses "--name=value" from argv; returns `def` when absent.
std::string FlagValue(int argc, char** argv, const std::string& name,
                      const std::string& def);
bool HasFlag(int argc, char** argv, const std::string& name);
// --name as an integer in [lo, hi], `def` when absent; dies naming the flag
// and the range otherwise.
int IntFlag(int argc, char** argv, const char* name, const char* def, int lo, int hi);

// The command line of a benchmark, checked before it runs: with --help (or
// -h) prints `usage` to stdout and exits 0; an argument that is not --NAME
// or --NAME=VALUE for a NAME in `flags` is refused (exit 2, naming it), since
// a misspelt flag would otherwise be ignored and the run measure defaults.
void CheckFlags(int argc, char** argv, const char* usage,
                std::initializer_list<const char*> flags);

// Prints "<program>: error: <msg>" to stderr and exits 1.
[[noreturn]] void Die(const std::string& msg);

// A `watchfloor node` child process, for benchmarks that measure a node from
// outside (its CPU time, threads, memory), started from a config file.
class NodeProcess {
 public:
  // Runs `binary node --config config_path` and waits for its "listening on"
  // line.
  NodeProcess(const std::string& binary, const std::string& config_path) {
    int out[2];
    if (pipe2(out, O_CLOEXEC) != 0) Die("pipe2 failed");
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], STDOUT_FILENO);
    std::vector<std::string> args = {binary, "node", "--config", config_path};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    int rc = posix_spawn(&pid_, binary.c_str(), &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    close(out[1]);
    if (rc != 0) {
      Die(absl::StrCat("cannot run ", binary, ": ", std::strerror(rc),
                       "; build it (cmake --build build --target watchfloor) or pass "
                       "--binary=PATH"));
    }
    out_ = out[0];
    const auto start = SteadyClock::now();
    std::string text;
    for (;;) {
      size_t at = text.find(" listening on ");
      if (at != std::string::npos && text.find(' ', at + 14) != std::string::npos) {
        at += 14;
        address_ = text.substr(at, text.find(' ', at) - at);
        return;
      }
      if (SecondsSince(start) > 120) {  // a large store takes a while to open
        kill(pid_, SIGKILL);
        Die("node did not report listening within 120 s; its output: " + text);
      }
      pollfd p{out_, POLLIN, 0};
      if (poll(&p, 1, 200) <= 0) continue;
      char buf[512];
      ssize_t got = read(out_, buf, sizeof(buf));
      if (got <= 0) {
        int status = 0;
        waitpid(pid_, &status, 0);
        Die(absl::StrCat("node exited before listening (status ", status, "); output: ", text));
      }
      text.append(buf, got);
    }
  }

  NodeProcess(const NodeProcess&) = delete;
  NodeProcess& operator=(const NodeProcess&) = delete;
  // SIGTERM and wait, if Stop() was not called.
  ~NodeProcess() {
    if (pid_ == 0) return;
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
    close(out_);
  }

  // SIGTERM, then waits; dies unless it exits 0.
  void Stop() {
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
    close(out_);
    pid_ = 0;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      Die(absl::StrCat("node did not exit cleanly on SIGTERM (status ", status, ")"));
    }
  }

  int pid() const { return pid_; }
  const std::string& address() const { return address_; }

  MemoryFigures Memory() const {
    MemoryFigures m;
    absl::Status st = ReadMemoryFigures(pid_, &m);
    if (!st.ok()) Die(std::string(st.message()));
    return m;
  }

  // utime + stime of the whole process, in seconds.
  double CpuSeconds() const { return CpuSecondsOf(pid_); }

  // Time thread `tid` has run on a CPU, in seconds (schedstat: ns precision).
  double ThreadCpuSeconds(int tid) const {
    std::ifstream in(absl::StrCat("/proc/", pid_, "/task/", tid, "/schedstat"));
    double ns = 0;
    in >> ns;
    return ns / 1e9;
  }

  std::vector<int> Threads() const {
    std::vector<int> out;
    DIR* d = opendir(absl::StrCat("/proc/", pid_, "/task").c_str());
    if (d == nullptr) return out;
    while (dirent* e = readdir(d)) {
      int tid = 0;
      if (absl::SimpleAtoi(e->d_name, &tid)) out.push_back(tid);
    }
    closedir(d);
    return out;
  }

  // The first thread named `name` (pthread_setname_np), or 0.
  int ThreadNamed(const std::string& name) const {
    for (int tid : Threads()) {
      std::ifstream in(absl::StrCat("/proc/", pid_, "/task/", tid, "/comm"));
      std::string comm;
      if (std::getline(in, comm) && comm == name) return tid;
    }
    return 0;
  }

  // The system call thread `tid` is in, or -1 (running, or unreadable).
  int SyscallOf(int tid) const {
    std::ifstream in(absl::StrCat("/proc/", pid_, "/task/", tid, "/syscall"));
    int nr = -1;
    if (!(in >> nr)) return -1;
    return nr;
  }

 private:
  pid_t pid_ = 0;
  int out_ = -1;
  std::string address_;
};

}  // namespace watchfloor::bench

#endif  // WATCHFLOOR_BENCH_BENCH_UTIL_H_
