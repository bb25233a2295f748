#include "bench/bench_util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace watchfloor::bench {
namespace {

std::atomic<int64_t> g_wal_syncs{0};
std::atomic<int64_t> g_other_syncs{0};
std::atomic<int64_t> g_sync_ns{0};
std::atomic<int64_t> g_slow_syncs{0};
std::atomic<int64_t> g_slow_ns{0};
constexpr int64_t kSlowNs = 5000000;
std::atomic<int64_t> g_wal_max_ns{0};
std::atomic<int64_t> g_other_max_ns{0};

// The sync trace (StartSyncTrace): a flag read on every sync, the events
// appended under a mutex only while tracing.
std::atomic<bool> g_tracing{false};
std::mutex g_trace_mu;
std::vector<SyncEvent>* g_trace = nullptr;  // guarded by g_trace_mu

void RaiseMax(std::atomic<int64_t>& max, int64_t v) {
  int64_t prev = max.load(std::memory_order_relaxed);
  while (v > prev && !max.compare_exchange_weak(prev, v)) {
  }
}

bool IsWal(int fd) {
  char link[64];
  char target[4096];
  std::snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
  ssize_t n = readlink(link, target, sizeof(target));
  return n > 4 && std::memcmp(target + n - 4, "-wal", 4) == 0;
}

int CountedSync(int fd, long sysno) {
  auto t0 = SteadyClock::now();
  int rc = static_cast<int>(syscall(sysno, fd));
  int64_t ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                   SteadyClock::now() - t0).count();
  const bool wal = IsWal(fd);
  (wal ? g_wal_syncs : g_other_syncs).fetch_add(1, std::memory_order_relaxed);
  g_sync_ns.fetch_add(ns, std::memory_order_relaxed);
  if (ns >= kSlowNs) {
    g_slow_syncs.fetch_add(1, std::memory_order_relaxed);
    g_slow_ns.fetch_add(ns, std::memory_order_relaxed);
  }
  RaiseMax(wal ? g_wal_max_ns : g_other_max_ns, ns);
  if (g_tracing.load(std::memory_order_relaxed)) {
    std::lock_guard<std::mutex> lock(g_trace_mu);
    if (g_trace != nullptr) {
      g_trace->push_back({t0, t0 + std::chrono::nanoseconds(ns), wal,
                         static_cast<int>(syscall(SYS_gettid))});
    }
  }
  return rc;
}

}  // namespace

SyncCounts GetSyncCounts() {
  SyncCounts c;
  c.wal = g_wal_syncs.load();
  c.other = g_other_syncs.load();
  c.total_ms = g_sync_ns.load() / 1e6;
  c.slow = g_slow_syncs.load();
  c.slow_ms = g_slow_ns.load() / 1e6;
  c.max_wal_ms = g_wal_max_ns.load() / 1e6;
  c.max_other_ms = g_other_max_ns.load() / 1e6;
  return c;
}

void StartSyncTrace() {
  std::lock_guard<std::mutex> lock(g_trace_mu);
  delete g_trace;
  g_trace = new std::vector<SyncEvent>();
  g_trace->reserve(1 << 16);
  g_tracing.store(true);
}

std::vector<SyncEvent> TakeSyncTrace() {
  g_tracing.store(false);
  std::lock_guard<std::mutex> lock(g_trace_mu);
  std::vector<SyncEvent> out;
  if (g_trace != nullptr) out.swap(*g_trace);
  delete g_trace;
  g_trace = nullptr;
  return out;
}

void ResetSyncMax() {
  g_wal_max_ns.store(0);
  g_other_max_ns.store(0);
}

SyncCounts operator-(const SyncCounts& a, const SyncCounts& b) {
  SyncCounts d;
  d.wal = a.wal - b.wal;
  d.other = a.other - b.other;
  d.total_ms = a.total_ms - b.total_ms;
  d.slow = a.slow - b.slow;
  d.slow_ms = a.slow_ms - b.slow_ms;
  d.max_wal_ms = a.max_wal_ms;
  d.max_other_ms = a.max_other_ms;
  return d;
}

double SecondsSince(SteadyClock::time_point start) {
  return std::chrono::duration<double>(SteadyClock::now() - start).count();
}

TempDir::TempDir(const std::string& base) {
  std::string root = base;
  for (const char* env : {"BENCH_TMPDIR", "TMPDIR"}) {
    if (!root.empty()) break;
    const char* v = std::getenv(env);
    if (v != nullptr) root = v;
  }
  if (root.empty()) root = "/tmp";
  std::string tmpl = absl::StrCat(root, "/wf-bench-XXXXXX");
  if (mkdtemp(tmpl.data()) == nullptr) {
    std::perror(("error: cannot create a directory under " + root).c_str());
    std::exit(1);
  }
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::string cmd = absl::StrCat("rm -rf '", path_, "'");
  (void)std::system(cmd.c_str());
}

watchfloor::v1::Alert SampleDraft(int64_t n) {
  watchfloor::v1::Alert a;
  a.set_severity(watchfloor::v1::SEVERITY_HIGH);
  a.set_category("dns.hijack");
  a.set_tlp(watchfloor::v1::TLP_GREEN);
  a.set_title(absl::StrCat("NS records of example.cz changed #", n));
  a.set_description("Observed NS change to ns1.attacker.example at 10:02 UTC.");
  a.add_domains("example.cz");
  a.add_ip_prefixes("192.0.2.0/24");
  a.add_asns(64500);
  return a;
}

watchfloor::v1::NodeConfig MakeNodeConfig(const TempDir& dir,
                                          const std::string& origin) {
  certs::SigningKey key = certs::SigningKey::Generate();
  std::string key_path = dir.Join("signing.key");
  absl::Status st = key.SavePemFile(key_path);
  if (!st.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(st.message()).c_str());
    std::exit(1);
  }
  watchfloor::v1::NodeConfig config;
  config.set_origin(origin);
  config.set_listen_address("127.0.0.1:0");
  config.set_data_dir(dir.Join("data"));
  config.set_signing_key_file(key_path);
  config.set_insecure_plaintext_loopback(true);
  return config;
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * v.size()));
  if (rank > 0) --rank;
  rank = std::min(rank, v.size() - 1);
  std::nth_element(v.begin(), v.begin() + rank, v.end());
  return v[rank];
}

double Max(const std::vector<double>& v) {
  return v.empty() ? 0 : *std::max_element(v.begin(), v.end());
}

std::vector<double> FsyncLatenciesUs(const std::string& dir, int n, SyncMode mode) {
  constexpr size_t kBlock = 4096;
  constexpr int kBlocks = 256;  // 1 MiB rewritten in overwrite mode
  std::string path = dir + "/fsync-probe";
  int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    std::perror(("error: cannot create " + path).c_str());
    std::exit(1);
  }
  const std::string buf(kBlock, 'x');
  auto fail = [&] {
    std::perror(("error: write+fdatasync on " + path).c_str());
    std::exit(1);
  };
  // Direct system calls: these must not be counted by the interposers below.
  if (mode == SyncMode::kOverwrite) {
    for (int i = 0; i < kBlocks; ++i) {
      if (write(fd, buf.data(), kBlock) != static_cast<ssize_t>(kBlock)) fail();
    }
    if (syscall(SYS_fsync, fd) != 0) fail();
  }
  std::vector<double> out;
  out.reserve(n);
  for (int i = 0; i < n; ++i) {
    auto t0 = SteadyClock::now();
    ssize_t w = mode == SyncMode::kOverwrite
                    ? pwrite(fd, buf.data(), kBlock, (i % kBlocks) * kBlock)
                    : write(fd, buf.data(), kBlock);
    if (w != static_cast<ssize_t>(kBlock) || syscall(SYS_fdatasync, fd) != 0) fail();
    out.push_back(SecondsSince(t0) * 1e6);
  }
  close(fd);
  unlink(path.c_str());
  return out;
}

double Ed25519SignRate(const certs::SigningKey& key, const std::string& message,
                       double seconds) {
  auto start = SteadyClock::now();
  int64_t n = 0;
  size_t sink = 0;
  double elapsed = 0;
  do {
    for (int i = 0; i < 64; ++i) sink += key.Sign(message).size();
    n += 64;
    elapsed = SecondsSince(start);
  } while (elapsed < seconds);
  if (sink == 0) std::abort();  // keeps the loop observable
  return n / elapsed;
}

double CpuSecondsOf(int pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  size_t p = s.rfind(')');  // the command name may hold spaces and ')'
  if (p == std::string::npos) return 0;
  std::vector<std::string> f;
  std::string cur;
  for (size_t i = p + 2; i < s.size(); ++i) {
    if (s[i] == ' ') {
      f.push_back(cur);
      cur.clear();
    } else {
      cur += s[i];
    }
  }
  // Fields after the comm: state is [0], utime [11], stime [12].
  if (f.size() < 13) return 0;
  return (std::stod(f[11]) + std::stod(f[12])) / sysconf(_SC_CLK_TCK);
}

absl::Status ReadMemoryFigures(int pid, MemoryFigures* out) {
  std::string path = absl::StrCat("/proc/", pid, "/status");
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::string line;
  bool rss = false, hwm = false;
  while (std::getline(in, line)) {
    absl::string_view v = line;
    double* target = nullptr;
    if (absl::ConsumePrefix(&v, "VmRSS:")) {
      target = &out->rss_mib;
      rss = true;
    } else if (absl::ConsumePrefix(&v, "VmHWM:")) {
      target = &out->hwm_mib;
      hwm = true;
    } else {
      continue;
    }
    v = absl::StripAsciiWhitespace(v);
    absl::ConsumeSuffix(&v, " kB");
    int64_t kib = 0;
    if (!absl::SimpleAtoi(v, &kib)) {
      return absl::InternalError(absl::StrCat("unexpected line in ", path, ": ", line));
    }
    *target = kib / 1024.0;
  }
  if (!rss || !hwm) {
    return absl::InternalError(absl::StrCat(path, " has no VmRSS/VmHWM"));
  }
  return absl::OkStatus();
}

double LoadAverage1() {
  double load[1] = {0};
  if (getloadavg(load, 1) != 1) return -1;
  return load[0];
}

void PrintMachineHeader(const std::string& data_dir) {
  struct utsname u;
  uname(&u);
  std::string cpu = "unknown CPU";
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      cpu = std::string(absl::StripAsciiWhitespace(line.substr(line.find(':') + 1)));
      break;
    }
  }
  std::string fs = "unknown";
  struct statfs sfs;
  if (statfs(data_dir.c_str(), &sfs) == 0) {
    switch (sfs.f_type) {
      case 0xEF53: fs = "ext4"; break;
      case 0x01021994: fs = "tmpfs"; break;
      case 0x58465342: fs = "xfs"; break;
      case 0x9123683E: fs = "btrfs"; break;
      case 0x794c7630: fs = "overlayfs"; break;
      default: fs = absl::StrCat("0x", absl::Hex(sfs.f_type));
    }
  }
  std::printf("machine: %u CPUs (%s), kernel %s, load average %.2f\n",
              std::thread::hardware_concurrency(), cpu.c_str(), u.release,
              LoadAverage1());
  std::printf("data dir: %s (%s)\n", data_dir.c_str(), fs.c_str());
}

std::string FlagValue(int argc, char** argv, const std::string& name,
                      const std::string& def) {
  std::string prefix = "--" + name + "=";
  for (int i = 1; i < argc; ++i) {
    absl::string_view a = argv[i];
    if (absl::ConsumePrefix(&a, prefix)) return std::string(a);
  }
  return def;
}

bool HasFlag(int argc, char** argv, const std::string& name) {
  std::string flag = "--" + name;
  for (int i = 1; i < argc; ++i) {
    if (flag == argv[i]) return true;
  }
  return false;
}

void CheckFlags(int argc, char** argv, const char* usage,
                std::initializer_list<const char*> flags) {
  for (int i = 1; i < argc; ++i) {
    absl::string_view a = argv[i];
    if (a == "--help" || a == "-h") {
      if (*usage == '\n') ++usage;  // R"(<newline>...)" in the callers
      std::fputs(usage, stdout);
      std::exit(0);
    }
  }
  for (int i = 1; i < argc; ++i) {
    absl::string_view a = argv[i];
    absl::string_view name = a;
    bool known = false;
    if (absl::ConsumePrefix(&name, "--")) {
      name = name.substr(0, name.find('='));
      for (const char* f : flags) known |= name == f;
    }
    if (!known) {
      std::fprintf(stderr, "%s: error: unknown argument \"%s\"; see --help for the flags\n",
                   program_invocation_short_name, argv[i]);
      std::exit(2);
    }
  }
}

void Die(const std::string& msg) {
  std::fprintf(stderr, "%s: error: %s\n", program_invocation_short_name, msg.c_str());
  std::exit(1);
}

Rtt LoopbackRtt(int trips) {
  int listener = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  if (listener < 0 || bind(listener, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
      listen(listener, 1) != 0 ||
      getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    Die("loopback RTT: cannot listen on 127.0.0.1");
  }
  int client = socket(AF_INET, SOCK_STREAM, 0);
  if (client < 0 || connect(client, reinterpret_cast<sockaddr*>(&addr), len) != 0) {
    Die("loopback RTT: cannot connect to 127.0.0.1");
  }
  int server = accept(listener, nullptr, nullptr);
  const int one = 1;
  setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  setsockopt(server, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  auto exact = [](int fd, char* buf, size_t n, bool write_it) {
    size_t done = 0;
    while (done < n) {
      ssize_t r = write_it ? write(fd, buf + done, n - done) : read(fd, buf + done, n - done);
      if (r <= 0) return false;
      done += static_cast<size_t>(r);
    }
    return true;
  };
  std::thread echo([&] {
    char buf[64];
    while (exact(server, buf, sizeof(buf), false) && exact(server, buf, sizeof(buf), true)) {
    }
  });
  std::vector<double> us;
  char buf[64] = {};
  for (int i = 0; i < trips; ++i) {
    const SteadyClock::time_point t0 = SteadyClock::now();
    if (!exact(client, buf, sizeof(buf), true) || !exact(client, buf, sizeof(buf), false)) {
      Die("loopback RTT: the echo broke");
    }
    us.push_back(std::chrono::duration<double, std::micro>(SteadyClock::now() - t0).count());
  }
  shutdown(client, SHUT_RDWR);
  close(client);
  echo.join();
  close(server);
  close(listener);
  return Rtt{Percentile(us, 50), Percentile(us, 99)};
}


int IntFlag(int argc, char** argv, const char* name, const char* def, int lo, int hi) {
  const std::string v = FlagValue(argc, argv, name, def);
  int n = 0;
  if (!absl::SimpleAtoi(v, &n) || n < lo || n > hi) {
    Die(std::string("--") + name + "=" + v + ": expected an integer in [" + std::to_string(lo) +
        ", " + std::to_string(hi) + "]");
  }
  return n;
}

}  // namespace watchfloor::bench

// The interposers: SQLite (a shared library) calls these instead of libc's.
// They must be plain system calls underneath, as libc's are.
extern "C" int fdatasync(int fd) {
  return watchfloor::bench::CountedSync(fd, SYS_fdatasync);
}
extern "C" int fsync(int fd) { return watchfloor::bench::CountedSync(fd, SYS_fsync); }
