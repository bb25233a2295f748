// Issue 14: the NATS bridge against the node's own subscription, in one run.
//
//  1. Throughput. An in-process node holds N alerts. First a plain gRPC
//     subscription replays them all (the node's own subscription
//     throughput); then the bridge (interop::NatsBridge, in process) carries
//     all N from cursor 0 into a JetStream stream on a fresh `nats-server
//     -js` (file storage), until its persisted cursor reaches N. Ratio =
//     bridge / subscription; target >= 0.8. Repeated --runs times, medians.
//  2. Latency. The bridge follows the node live while publishers pace 1,000
//     alerts/s for --seconds; a core NATS subscriber on watchfloor.> (in
//     this process, the text-protocol client) stamps each arrival. Latency =
//     arrival - start of the Publish call; p50/p99/max.
//
//   build/bench/nats_bridge_bench [--alerts=20000] [--runs=3] [--seconds=10]
//   build/bench/nats_bridge_bench --smoke      (small, for ctest)
//   build/bench/nats_bridge_bench --profile_bridge   (only the bridge runs, for perf)
// Each run also prints the CPU time per alert of this process and of
// nats-server in each phase.
// Needs nats-server in PATH (Debian: nats-server).
#include <unistd.h>
#include <signal.h>
#include <spawn.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <atomic>
#include <cstdio>
#include <map>
#include <mutex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "bench/bench_util.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "interop/nats_bridge.h"
#include "interop/cursor_file.h"
#include "interop/nats_client.h"
#include "node/node_server.h"
#include "watchfloor/v1/node.grpc.pb.h"

extern char** environ;

namespace watchfloor::bench {
namespace {

constexpr char kOrigin[] = "bench.example/nats1";

// A `nats-server -js` child on a free loopback port, store in `dir`.
class NatsServer {
 public:
  NatsServer(const std::string& dir, int port) : port_(port) {
    // Debian installs it in /usr/sbin, which Bazel's test PATH leaves out.
    const std::string binary =
        access("/usr/sbin/nats-server", X_OK) == 0 ? "/usr/sbin/nats-server" : "nats-server";
    std::vector<std::string> args = {binary, "-js", "-a", "127.0.0.1", "-p",
                                     std::to_string(port), "-sd", dir};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
    int rc = posix_spawnp(&pid_, binary.c_str(), &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) Die("cannot run nats-server; install it (apt-get install nats-server)");
    for (int i = 0; i < 200; ++i) {
      if (interop::NatsConnection::Connect(url(), absl::Seconds(1)).ok()) return;
      usleep(50000);
    }
    Die("nats-server did not start");
  }
  ~NatsServer() {
    kill(pid_, SIGTERM);
    int status;
    waitpid(pid_, &status, 0);
  }
  interop::NatsUrl url() const { return {"127.0.0.1", port_}; }
  int pid() const { return pid_; }

 private:
  pid_t pid_ = 0;
  int port_;
};

int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

std::unique_ptr<watchfloor::v1::Node::Stub> NewStub(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return watchfloor::v1::Node::NewStub(
      grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args));
}

// A throughput phase: alerts/s, and CPU time per alert (microseconds) spent
// by this process (node and client or bridge) and by nats-server.
struct Phase {
  double rate = 0;
  double self_us = 0;
  double nats_us = 0;
};

// Alerts/s of a replay-only subscription of the whole store.
Phase SubscriptionRate(const std::string& address, int64_t n) {
  auto stub = NewStub(address);
  grpc::ClientContext ctx;
  watchfloor::v1::SubscribeRequest req;
  req.set_replay_only(true);
  const double cpu0 = CpuSecondsOf(getpid());
  const auto start = SteadyClock::now();
  auto reader = stub->Subscribe(&ctx, req);
  watchfloor::v1::SubscribeResponse msg;
  int64_t got = 0;
  while (reader->Read(&msg)) ++got;
  const double secs = SecondsSince(start);
  const double cpu = CpuSecondsOf(getpid()) - cpu0;
  if (!reader->Finish().ok() || got != n) Die(absl::StrCat("subscription got ", got, " of ", n));
  return {n / secs, cpu * 1e6 / n, 0};
}

// Alerts/s of the bridge carrying the whole store into a fresh stream.
Phase BridgeRate(const std::string& address, int64_t n, const TempDir& dir, int run) {
  NatsServer nats(dir.Join(absl::StrCat("js", run)), FreePort());
  auto stub = NewStub(address);
  interop::NatsBridgeOptions opt;
  opt.url = nats.url();
  opt.state_path = dir.Join(absl::StrCat("cursor", run));
  {  // Create the stream first: its creation is not part of the throughput.
    auto c = interop::NatsConnection::Connect(nats.url(), absl::Seconds(5));
    if (!c.ok()) Die(std::string(c.status().message()));
    auto created = (*c)->Request(
        "$JS.API.STREAM.CREATE.WATCHFLOOR",
        "{\"name\":\"WATCHFLOOR\",\"subjects\":[\"watchfloor.>\"],\"storage\":\"file\","
        "\"duplicate_window\":3600000000000}",
        absl::Seconds(10));
    if (!created.ok() || created->payload.find("\"error\"") != std::string::npos) {
      Die("cannot create the stream");
    }
  }
  interop::NatsBridge bridge(stub.get(), opt);
  absl::Status result;
  const double cpu0 = CpuSecondsOf(getpid()), nats0 = CpuSecondsOf(nats.pid());
  const auto start = SteadyClock::now();
  std::thread t([&] { result = bridge.Run(); });
  while (bridge.stats().cursor < static_cast<uint64_t>(n) && SecondsSince(start) < 600) {
    usleep(1000);
  }
  const double secs = SecondsSince(start);
  const double cpu = CpuSecondsOf(getpid()) - cpu0, nats_cpu = CpuSecondsOf(nats.pid()) - nats0;
  bridge.Stop();
  t.join();
  if (!result.ok()) Die(absl::StrCat("bridge: ", result.message()));
  if (bridge.stats().published != static_cast<uint64_t>(n)) {
    Die(absl::StrCat("bridge published ", bridge.stats().published, " of ", n));
  }
  return {n / secs, cpu * 1e6 / n, nats_cpu * 1e6 / n};
}

// The same stream fed directly (no node, no bridge): n messages of the
// envelope's size, each with its own Nats-Msg-Id, 512 unacknowledged at most.
// The ceiling this machine's nats-server puts on any bridge.
Phase RawJetStreamRate(int64_t n, size_t bytes, const TempDir& dir, int run) {
  NatsServer nats(dir.Join(absl::StrCat("raw", run)), FreePort());
  auto c = interop::NatsConnection::Connect(nats.url(), absl::Seconds(5));
  if (!c.ok()) Die(std::string(c.status().message()));
  auto created = (*c)->Request(
      "$JS.API.STREAM.CREATE.RAW",
      "{\"name\":\"RAW\",\"subjects\":[\"raw.>\"],\"storage\":\"file\","
      "\"duplicate_window\":3600000000000}",
      absl::Seconds(10));
  if (!created.ok()) Die("cannot create the raw stream");
  const std::string payload(bytes, 'x');
  const std::string inbox = (*c)->inbox_prefix() + ".ack.*";
  (*c)->Subscribe(inbox, "acks");
  int64_t sent = 0, acked = 0;
  const double cpu0 = CpuSecondsOf(getpid()), nats0 = CpuSecondsOf(nats.pid());
  const auto start = SteadyClock::now();
  while (acked < n) {
    while (sent < n && sent - acked < 512) {
      (*c)->Publish("raw.x", absl::StrCat((*c)->inbox_prefix(), ".ack.", sent),
                    absl::StrCat("raw-", run, "-", sent), payload);
      ++sent;
    }
    if (!(*c)->Flush().ok()) Die("raw publish failed");
    absl::StatusOr<interop::NatsMessage> m = (*c)->Next(absl::Seconds(10));
    if (!m.ok()) Die(std::string(m.status().message()));
    ++acked;
    interop::NatsMessage more;
    while (true) {
      absl::StatusOr<bool> got = (*c)->Pop(&more);
      if (!got.ok() || !*got) break;
      ++acked;
    }
  }
  const double secs = SecondsSince(start);
  const double cpu = CpuSecondsOf(getpid()) - cpu0, nats_cpu = CpuSecondsOf(nats.pid()) - nats0;
  return {n / secs, cpu * 1e6 / n, nats_cpu * 1e6 / n};
}

struct Latency {
  std::vector<double> ms;
  int64_t sent = 0;
};

// Publish -> core NATS subscriber latency with the bridge following live.
Latency LiveLatency(node::NodeServer* server, uint64_t head, const TempDir& dir, double seconds,
                    int rate) {
  NatsServer nats(dir.Join("js-live"), FreePort());
  auto sub = interop::NatsConnection::Connect(nats.url(), absl::Seconds(5));
  if (!sub.ok()) Die(std::string(sub.status().message()));
  (*sub)->Subscribe("watchfloor.>", "1");
  if (!(*sub)->Flush().ok()) Die("subscribe failed");
  auto bridge_stub = NewStub(server->address());
  interop::NatsBridgeOptions opt;
  opt.url = nats.url();
  opt.state_path = dir.Join("cursor-live");
  // Start after what is already stored: only live alerts are measured.
  if (!interop::StoreCursor(opt.state_path, head).ok()) {
    Die("cannot write the cursor file");
  }
  interop::NatsBridge bridge(bridge_stub.get(), opt);
  absl::Status bridge_result;
  std::thread bt([&] { bridge_result = bridge.Run(); });
  usleep(300000);

  std::mutex mu;
  std::map<std::string, SteadyClock::time_point> sent_at;  // alert id -> publish start
  std::vector<std::thread> publishers;
  const int kPublishers = 4;
  std::atomic<int64_t> sent{0};
  const auto start = SteadyClock::now();
  const int64_t total = static_cast<int64_t>(seconds * rate);
  for (int p = 0; p < kPublishers; ++p) {
    publishers.emplace_back([&, p] {
      auto stub = NewStub(server->address());
      for (int64_t i = p; i < total; i += kPublishers) {
        const auto due = start + std::chrono::microseconds(i * 1000000 / rate);
        std::this_thread::sleep_until(due);
        const auto t0 = SteadyClock::now();
        grpc::ClientContext ctx;
        watchfloor::v1::PublishRequest req;
        *req.mutable_alert() = SampleDraft(5000000 + i);
        watchfloor::v1::PublishResponse resp;
        if (!stub->Publish(&ctx, req, &resp).ok()) Die("publish failed");
        std::lock_guard<std::mutex> l(mu);
        sent_at.emplace(resp.id(), t0);
        ++sent;
      }
    });
  }
  Latency out;
  std::map<std::string, SteadyClock::time_point> arrived;
  while (static_cast<int64_t>(arrived.size()) < total && SecondsSince(start) < seconds + 30) {
    absl::StatusOr<interop::NatsMessage> m = (*sub)->Next(absl::Milliseconds(200));
    if (!m.ok()) continue;
    size_t at = m->headers.find("Nats-Msg-Id: ");
    if (at == std::string::npos) continue;
    arrived.emplace(m->headers.substr(at + 13, 64), SteadyClock::now());
  }
  for (auto& t : publishers) t.join();
  bridge.Stop();
  bt.join();
  if (!bridge_result.ok()) Die(absl::StrCat("bridge: ", bridge_result.message()));
  for (const auto& [id, t1] : arrived) {
    auto it = sent_at.find(id);
    if (it == sent_at.end()) continue;
    out.ms.push_back(std::chrono::duration<double, std::milli>(t1 - it->second).count());
  }
  out.sent = sent.load();
  return out;
}

}  // namespace
}  // namespace watchfloor::bench

namespace {
constexpr char kUsage[] = R"(
Issue 14: the NATS bridge against the node's own subscription, in one run.

  build/bench/nats_bridge_bench [--alerts=20000] [--runs=3] [--seconds=10]
  build/bench/nats_bridge_bench --smoke      (small, for ctest)
  build/bench/nats_bridge_bench --profile_bridge   (only the bridge runs, for perf)
Needs nats-server in PATH (Debian: nats-server).
)";
}  // namespace

int main(int argc, char** argv) {
  watchfloor::bench::CheckFlags(argc, argv, kUsage, {"alerts", "runs", "seconds", "smoke", "profile_bridge"});
  using namespace watchfloor::bench;
  const bool smoke = HasFlag(argc, argv, "smoke");
  const bool profile = HasFlag(argc, argv, "profile_bridge");
  const int64_t n = std::stoll(FlagValue(argc, argv, "alerts", smoke ? "300" : "20000"));
  const int runs = std::stoi(FlagValue(argc, argv, "runs", smoke ? "1" : "3"));
  const double seconds = std::stod(FlagValue(argc, argv, "seconds", smoke ? "1" : "10"));
  TempDir dir;
  PrintMachineHeader(dir.path());
  auto server = watchfloor::node::NodeServer::Start(MakeNodeConfig(dir, kOrigin));
  if (!server.ok()) Die(std::string(server.status().message()));
  // Preload N alerts, 8 concurrent publishers (group commit).
  std::atomic<uint64_t> head{0};
  {
    std::vector<std::thread> ts;
    std::atomic<int64_t> next{0};
    for (int t = 0; t < 8; ++t) {
      ts.emplace_back([&] {
        for (int64_t i; (i = next.fetch_add(1)) < n;) {
          auto r = (*server)->ledger()->PublishSync(SampleDraft(i));
          if (!r.ok()) Die("preload failed");
          uint64_t h = head.load();
          while (r->cursor > h && !head.compare_exchange_weak(h, r->cursor)) {
          }
        }
      });
    }
    for (auto& t : ts) t.join();
  }
  std::printf("store: %lld alerts of ~180 bytes; %d runs\n", static_cast<long long>(n), runs);
  std::vector<double> sub_rates, bridge_rates, raw_rates, ratios;
  for (int r = 0; r < runs; ++r) {
    if (profile) {  // the bridge alone, for perf
      const Phase b = BridgeRate((*server)->address(), n, dir, r);
      std::printf("run %d: bridge %.0f alerts/s\n", r + 1, b.rate);
      continue;
    }
    const Phase s = SubscriptionRate((*server)->address(), n);
    const Phase b = BridgeRate((*server)->address(), n, dir, r);
    const Phase raw = RawJetStreamRate(n, 560, dir, r);
    sub_rates.push_back(s.rate);
    bridge_rates.push_back(b.rate);
    raw_rates.push_back(raw.rate);
    ratios.push_back(b.rate / s.rate);
    std::printf("run %d: subscription %.0f alerts/s, bridge into JetStream %.0f alerts/s, ratio "
                "%.2f; reference: raw JetStream publish %.0f msgs/s (bridge = %.2f of it)\n",
                r + 1, s.rate, b.rate, b.rate / s.rate, raw.rate, b.rate / raw.rate);
    std::printf("  CPU per alert: subscription %.1f us (node + client); bridge %.1f us in "
                "process (node + bridge) + %.1f us nats-server; raw publish %.1f us client + "
                "%.1f us nats-server\n",
                s.self_us, b.self_us, b.nats_us, raw.self_us, raw.nats_us);
    std::fflush(stdout);
  }
  if (profile) return 0;
  std::printf("median: subscription %.0f alerts/s, bridge %.0f alerts/s, ratio %.2f (target >= "
              "0.8); raw JetStream %.0f msgs/s\n",
              Median(sub_rates), Median(bridge_rates), Median(ratios), Median(raw_rates));
  std::fflush(stdout);
  const int rate = 1000;
  Latency lat = LiveLatency(server->get(), head.load(), dir, seconds, rate);
  std::printf("live at %d alerts/s for %.0f s: %zu of %lld arrived; publish -> NATS subscriber "
              "p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
              rate, seconds, lat.ms.size(), static_cast<long long>(lat.sent),
              Percentile(lat.ms, 50), Percentile(lat.ms, 99), Max(lat.ms));
  if (static_cast<int64_t>(lat.ms.size()) != lat.sent) Die("not every live alert arrived");
  return 0;
}
