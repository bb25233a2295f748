// publish_bench: publish throughput and acknowledgement latency of a real
// node (NodeServer in this process on 127.0.0.1:0, SQLite in WAL mode with
// synchronous=FULL on a temporary data dir) driven by gRPC clients.
//
//   closed loop  P publishers (threads, one channel and TCP connection each)
//                send Publish back to back, for P in --publishers;
//   open loop    one sender issues Publish at a fixed --rate for
//                --open_seconds, latency measured from each call's scheduled
//                send time (so a stall is charged to every call it delays).
//
// Reference figures from the same run and file system: the latency of a raw
// 4 KiB write+fdatasync (overwriting, as the WAL does in steady state, and
// appending, as it does while it grows), and the single-core libsodium Ed25519 sign
// rate (the writer thread signs every published alert). SQLite's fsyncs are
// counted by bench_util's interposer: under synchronous=FULL each commit
// syncs the WAL once, so alerts per WAL sync is the group-commit factor; the
// other syncs are checkpoints.
//
// By default one node serves every run, and its WAL is first brought to its
// steady state (past the first checkpoint, see RunningNode::WarmUpWal);
// --fresh measures a just-started node instead (new data dir per run).
//
// Usage: publish_bench [--runs=3] [--seconds=3] [--publishers=1,4,16]
//                      [--rate=1000] [--open_seconds=10] [--dir=/tmp] [--fresh]
//        publish_bench --ab [--runs=3] [--rate=1000] [--open_seconds=10] [--dir=/tmp]
//                      (open loop only: the node's two WAL checkpoint modes,
//                      WATCHFLOOR_WAL_CHECKPOINTS=writer and =background, run
//                      in turn on two nodes for --runs rounds)
//        publish_bench --smoke   (a < 5 s check that everything works)
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "bench/bench_util.h"
#include "certs/dsse.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "node/node_server.h"
#include "node/sqlite_alert_store.h"
#include "watchfloor/v1/node.grpc.pb.h"

namespace watchfloor::bench {
namespace {

constexpr char kOrigin[] = "bench.example/pub1";
constexpr double kTargetOpenLoopP99Ms = 10.0;

// A node on a fresh data dir.
struct RunningNode {
  TempDir dir;
  std::unique_ptr<node::NodeServer> server;

  // `checkpoints`: the WATCHFLOOR_WAL_CHECKPOINTS value the node starts
  // with (empty: as the environment has it).
  explicit RunningNode(const std::string& base, const std::string& checkpoints = "")
      : dir(base) {
    if (!checkpoints.empty()) setenv("WATCHFLOOR_WAL_CHECKPOINTS", checkpoints.c_str(), 1);
    auto s = node::NodeServer::Start(MakeNodeConfig(dir, kOrigin));
    if (!s.ok()) {
      std::fprintf(stderr, "error: node did not start: %s\n",
                   std::string(s.status().message()).c_str());
      std::exit(1);
    }
    server = std::move(*s);
  }

  // Brings the WAL to its steady state. A new WAL grows by appending until
  // the first checkpoint (wal_autocheckpoint pages), and every append's
  // fdatasync must also persist the file's new size (a journal commit, or an
  // inode write on ext4 without a journal); after a checkpoint SQLite
  // rewrites the WAL from its start, a data-only flush. Publishes one alert
  // per commit until a checkpoint has synced the database file. Returns the
  // number of alerts it took.
  int64_t WarmUpWal() {
    node::Ledger* ledger = server->ledger();
    auto publish = [&](int64_t n) {
      auto r = ledger->PublishSync(SampleDraft(1000000000 + n));
      if (!r.ok()) {
        std::fprintf(stderr, "error: warm-up publish failed: %s\n",
                     r.status().ToString().c_str());
        std::exit(1);
      }
    };
    publish(0);  // creates the WAL (and syncs its directory)
    const int64_t other0 = GetSyncCounts().other;
    const auto start = SteadyClock::now();
    int64_t n = 1;
    while (GetSyncCounts().other == other0 && SecondsSince(start) < 60) publish(n++);
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
  if (!st.ok()) {
    std::fprintf(stderr, "publish failed: %s\n", st.error_message().c_str());
  }
  return st.ok();
}

struct ClosedLoopResult {
  double alerts_per_s = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  double alerts_per_commit = 0;
  double commits_per_s = 0;
  double other_syncs_per_s = 0;
  double sync_busy = 0;  // fraction of the window spent in fsync
  int64_t errors = 0;
};

ClosedLoopResult RunClosedLoop(RunningNode& node, int publishers, double warmup_s,
                               double seconds) {
  const std::string address = node.server->address();
  std::vector<std::unique_ptr<watchfloor::v1::Node::Stub>> stubs;
  for (int i = 0; i < publishers; ++i) {
    stubs.push_back(NewStub(address));
    PublishOnce(stubs.back().get(), -1 - i);  // connect before timing
  }
  std::atomic<int64_t> next{0};
  std::atomic<int64_t> errors{0};
  std::vector<std::vector<double>> latencies(publishers);
  const auto start = SteadyClock::now();
  const auto measure_from = start + std::chrono::duration_cast<SteadyClock::duration>(
                                        std::chrono::duration<double>(warmup_s));
  const auto measure_to = measure_from + std::chrono::duration_cast<SteadyClock::duration>(
                                             std::chrono::duration<double>(seconds));
  std::vector<std::thread> threads;
  for (int p = 0; p < publishers; ++p) {
    threads.emplace_back([&, p] {
      auto* stub = stubs[p].get();
      for (;;) {
        auto t0 = SteadyClock::now();
        if (t0 >= measure_to) return;
        bool ok = PublishOnce(stub, next.fetch_add(1));
        auto t1 = SteadyClock::now();
        if (!ok) errors.fetch_add(1);
        if (t0 >= measure_from && t1 <= measure_to) {
          latencies[p].push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
        }
      }
    });
  }
  std::this_thread::sleep_until(measure_from);
  const SyncCounts before = GetSyncCounts();
  std::this_thread::sleep_until(measure_to);
  const SyncCounts syncs = GetSyncCounts() - before;
  const int64_t commits = syncs.wal;
  for (auto& t : threads) t.join();

  std::vector<double> all;
  for (auto& v : latencies) all.insert(all.end(), v.begin(), v.end());
  ClosedLoopResult r;
  r.alerts_per_s = all.size() / seconds;
  r.p50_ms = Percentile(all, 50);
  r.p99_ms = Percentile(all, 99);
  r.commits_per_s = commits / seconds;
  r.alerts_per_commit = commits > 0 ? static_cast<double>(all.size()) / commits : 0;
  r.other_syncs_per_s = syncs.other / seconds;
  r.sync_busy = syncs.total_ms / 1000 / seconds;
  r.errors = errors.load();
  return r;
}

struct OpenLoopResult {
  double offered_per_s = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  double max_ms = 0;
  double alerts_per_commit = 0;
  double checkpoints = 0;     // database (non-WAL) syncs during the run
  double max_wal_sync_ms = 0;   // longest WAL fsync during the run
  double max_other_sync_ms = 0; // longest checkpoint (database) fsync
  double send_lag_p99_ms = 0;  // how late the sender itself issued calls
  int64_t slow_syncs = 0;      // fsyncs that took >= 5 ms
  double slow_sync_ms = 0;     // their total duration
  int64_t errors = 0;
  // Where the tail comes from: of the acks later than the target, how many
  // waited on a WAL fsync >= 5 ms (the commit path's own disk stall), how
  // many on none but on a database (checkpoint) fsync >= 5 ms, and how many
  // on neither (CPU, scheduling, gRPC).
  int64_t late = 0, late_writer_ckpt = 0, late_wal = 0, late_ckpt = 0, late_other = 0;
  // The committing thread's WAL fsyncs that overlapped a checkpoint's
  // database fsync, against its others: does the checkpoint slow the
  // commits' own syncs down?
  int64_t wal_overlapped = 0;
  // Database (checkpoint) fsyncs made by the thread that makes most WAL
  // fsyncs (the committing thread), i.e. checkpoints that stall commits.
  int64_t ckpt_on_committer = 0;
  double ckpt_on_committer_max_ms = 0;
  double wal_overlapped_p50_ms = 0, wal_overlapped_max_ms = 0;
  double wal_alone_p50_ms = 0, wal_alone_p99_ms = 0, wal_alone_max_ms = 0;
};

// Fills the tail attribution of `r` from the acks' windows
// [intended, intended + latency] and the syncs seen meanwhile.
void AttributeTail(const std::vector<SteadyClock::time_point>& intended,
                   const std::vector<double>& latency_ms, const std::vector<SyncEvent>& syncs,
                   OpenLoopResult& r) {
  auto ms = [](SteadyClock::duration d) {
    return std::chrono::duration<double, std::milli>(d).count();
  };
  constexpr double kSlowMs = 5;
  std::vector<SyncEvent> slow_wal, slow_db, db;
  std::vector<double> overlapped, alone;
  for (const SyncEvent& e : syncs) {
    if (!e.wal) db.push_back(e);
    if (!e.wal && ms(e.end - e.start) >= kSlowMs) slow_db.push_back(e);
  }
  std::map<int, int> wal_by_tid;
  for (const SyncEvent& e : syncs) wal_by_tid[e.tid] += e.wal ? 1 : 0;
  int committer = 0, most = -1;
  for (const auto& [tid, n] : wal_by_tid) {
    if (n > most) std::tie(committer, most) = std::make_pair(tid, n);
  }
  for (const SyncEvent& e : syncs) {
    if (e.wal && e.tid == committer && ms(e.end - e.start) >= kSlowMs) slow_wal.push_back(e);
  }
  std::vector<SyncEvent> writer_ckpt;
  for (const SyncEvent& e : db) {
    if (e.tid != committer) continue;
    writer_ckpt.push_back(e);
    ++r.ckpt_on_committer;
    r.ckpt_on_committer_max_ms = std::max(r.ckpt_on_committer_max_ms, ms(e.end - e.start));
  }
  for (const SyncEvent& e : syncs) {
    if (!e.wal || e.tid != committer) continue;
    bool during_db = false;
    for (const SyncEvent& d : db) during_db |= d.start < e.end && e.start < d.end;
    (during_db ? overlapped : alone).push_back(ms(e.end - e.start));
  }
  r.wal_overlapped = static_cast<int64_t>(overlapped.size());
  r.wal_overlapped_p50_ms = Percentile(overlapped, 50);
  r.wal_overlapped_max_ms = Max(overlapped);
  r.wal_alone_p50_ms = Percentile(alone, 50);
  r.wal_alone_p99_ms = Percentile(alone, 99);
  r.wal_alone_max_ms = Max(alone);
  auto overlaps = [](const std::vector<SyncEvent>& v, SteadyClock::time_point from,
                     SteadyClock::time_point to) {
    for (const SyncEvent& e : v) {
      if (e.start < to && from < e.end) return true;
    }
    return false;
  };
  for (size_t i = 0; i < latency_ms.size(); ++i) {
    if (latency_ms[i] <= kTargetOpenLoopP99Ms) continue;
    ++r.late;
    const SteadyClock::time_point to =
        intended[i] + std::chrono::duration_cast<SteadyClock::duration>(
                          std::chrono::duration<double, std::milli>(latency_ms[i]));
    if (overlaps(writer_ckpt, intended[i], to)) {
      ++r.late_writer_ckpt;
    } else if (overlaps(slow_wal, intended[i], to)) {
      ++r.late_wal;
    } else if (overlaps(slow_db, intended[i], to)) {
      ++r.late_ckpt;
    } else {
      ++r.late_other;
    }
  }
}

OpenLoopResult RunOpenLoop(RunningNode& node, double rate, double seconds) {
  auto stub = NewStub(node.server->address());
  for (int i = 0; i < 20; ++i) PublishOnce(stub.get(), -1 - i);  // warm up

  struct Call {
    grpc::ClientContext ctx;
    watchfloor::v1::PublishRequest req;
    watchfloor::v1::PublishResponse resp;
    SteadyClock::time_point intended;
    size_t index = 0;
  };
  const size_t total = static_cast<size_t>(rate * seconds);
  std::vector<double> latency_ms(total, 0);
  std::vector<double> lag_ms(total, 0);
  std::vector<SteadyClock::time_point> intended(total);
  std::mutex mu;
  std::condition_variable cv;
  size_t done = 0;
  std::atomic<int64_t> errors{0};
  const SyncCounts before = GetSyncCounts();
  ResetSyncMax();
  StartSyncTrace();
  const auto period = std::chrono::duration_cast<SteadyClock::duration>(
      std::chrono::duration<double>(1.0 / rate));
  const auto start = SteadyClock::now() + std::chrono::milliseconds(10);
  for (size_t i = 0; i < total; ++i) {
    auto* call = new Call;
    call->intended = start + period * static_cast<int64_t>(i);
    call->index = i;
    intended[i] = call->intended;
    *call->req.mutable_alert() = SampleDraft(static_cast<int64_t>(i));
    call->ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    std::this_thread::sleep_until(call->intended);
    lag_ms[i] = std::chrono::duration<double, std::milli>(SteadyClock::now() - call->intended)
                    .count();
    stub->async()->Publish(&call->ctx, &call->req, &call->resp, [&, call](grpc::Status st) {
      latency_ms[call->index] = std::chrono::duration<double, std::milli>(
                                    SteadyClock::now() - call->intended).count();
      if (!st.ok()) errors.fetch_add(1);
      delete call;
      std::lock_guard<std::mutex> lock(mu);
      if (++done == total) cv.notify_all();
    });
  }
  const double send_s = SecondsSince(start);
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return done == total; });
  }
  const SyncCounts syncs = GetSyncCounts() - before;
  const std::vector<SyncEvent> trace = TakeSyncTrace();
  const int64_t commits = syncs.wal;
  OpenLoopResult r;
  AttributeTail(intended, latency_ms, trace, r);
  r.offered_per_s = total / send_s;
  r.p50_ms = Percentile(latency_ms, 50);
  r.p99_ms = Percentile(latency_ms, 99);
  r.max_ms = Max(latency_ms);
  r.alerts_per_commit = commits > 0 ? static_cast<double>(total) / commits : 0;
  r.checkpoints = syncs.other;
  r.max_wal_sync_ms = syncs.max_wal_ms;
  r.max_other_sync_ms = syncs.max_other_ms;
  r.send_lag_p99_ms = Percentile(lag_ms, 99);
  r.slow_syncs = syncs.slow;
  r.slow_sync_ms = syncs.slow_ms;
  r.errors = errors.load();
  return r;
}

void PrintOpenLoop(const std::string& label, const OpenLoopResult& res) {
  std::printf("  %s: sent %.0f/s (p99 send lag %.2f ms), p50 %.2f ms, p99 %.2f ms, "
              "max %.2f ms; %.2f alerts/WAL sync, longest WAL fsync %.2f ms; "
              "%.0f checkpoint syncs, longest %.2f ms; %lld fsyncs >= 5 ms (%.0f ms)\n",
              label.c_str(), res.offered_per_s, res.send_lag_p99_ms, res.p50_ms, res.p99_ms,
              res.max_ms, res.alerts_per_commit, res.max_wal_sync_ms, res.checkpoints,
              res.max_other_sync_ms, static_cast<long long>(res.slow_syncs), res.slow_sync_ms);
  std::printf("      acks > %.0f ms: %lld, of which during a checkpoint fsync on the committing "
              "thread %lld, else during a WAL fsync >= 5 ms %lld, else during a background "
              "checkpoint fsync >= 5 ms %lld, none of these %lld\n",
              kTargetOpenLoopP99Ms, static_cast<long long>(res.late),
              static_cast<long long>(res.late_writer_ckpt), static_cast<long long>(res.late_wal),
              static_cast<long long>(res.late_ckpt), static_cast<long long>(res.late_other));
  std::printf("      WAL fsyncs during a checkpoint fsync: %lld (p50 %.2f ms, max %.2f ms), the "
              "others p50 %.2f ms, p99 %.2f ms, max %.2f ms; checkpoint fsyncs on the "
              "committing thread: %lld (longest %.2f ms)\n",
              static_cast<long long>(res.wal_overlapped), res.wal_overlapped_p50_ms,
              res.wal_overlapped_max_ms, res.wal_alone_p50_ms, res.wal_alone_p99_ms,
              res.wal_alone_max_ms, static_cast<long long>(res.ckpt_on_committer),
              res.ckpt_on_committer_max_ms);
}

// The bytes the node signs for a typical alert: PAE over a filled-in draft.
std::string TypicalPae() {
  watchfloor::v1::Alert a = SampleDraft(123456);
  a.set_origin(kOrigin);
  a.set_sequence(123456);
  a.set_previous(std::string(64, 'a'));
  a.mutable_issued_at()->set_seconds(1798761600);
  return certs::Pae(certs::kAlertPayloadType, a.SerializeAsString());
}

std::vector<int> ParseInts(const std::string& csv) {
  std::vector<int> out;
  for (absl::string_view s : absl::StrSplit(csv, ',', absl::SkipEmpty())) {
    int v = 0;
    if (!absl::SimpleAtoi(s, &v) || v <= 0) {
      std::fprintf(stderr, "error: --publishers=%s: want positive integers, e.g. 1,4,16\n",
                   csv.c_str());
      std::exit(2);
    }
    out.push_back(v);
  }
  return out;
}

double ParseDouble(int argc, char** argv, const char* name, const char* def) {
  std::string v = FlagValue(argc, argv, name, def);
  double d = 0;
  if (!absl::SimpleAtod(v, &d) || d <= 0) {
    std::fprintf(stderr, "error: --%s=%s: want a positive number\n", name, v.c_str());
    std::exit(2);
  }
  return d;
}

// --ab: the same-run A/B of the node's WAL checkpoint modes
// (WATCHFLOOR_WAL_CHECKPOINTS): two nodes in this process, each on its own
// data dir with its WAL at steady state, take open-loop runs in turn (the
// order alternating per round), so both see the same disk and load.
int RunCheckpointAb(const std::string& base, int rounds, double rate, double seconds,
                    std::vector<double> fsync_us, int probes) {
  struct Arm {
    const char* name;
    std::unique_ptr<RunningNode> node;
    std::vector<double> p50, p99, max, late, writer_ckpts;
  };
  Arm arms[2] = {{"writer", nullptr, {}, {}, {}, {}, {}},
                 {"background", nullptr, {}, {}, {}, {}, {}}};
  for (Arm& arm : arms) {
    auto t0 = SteadyClock::now();
    arm.node = std::make_unique<RunningNode>(base, arm.name);
    const int64_t n = arm.node->WarmUpWal();
    std::printf("node A/B arm %s: WAL warm-up %lld commits (%.1f s)\n", arm.name,
                static_cast<long long>(n), SecondsSince(t0));
  }
  std::printf("\nA/B, open loop at %.0f alerts/s for %.1f s, %d round(s), arms alternating:\n"
              "  A = WATCHFLOOR_WAL_CHECKPOINTS=writer (checkpoint on the committing thread "
              "every 4,000 WAL frames; the default)\n"
              "  B = WATCHFLOOR_WAL_CHECKPOINTS=background (WAL restarts prepared in the background, "
              "commits held off only for the last pass)\n",
              rate, seconds, rounds);
  bool failed = false;
  for (int r = 0; r < rounds; ++r) {
    for (int k = 0; k < 2; ++k) {
      Arm& arm = arms[(r + k) % 2];
      OpenLoopResult res = RunOpenLoop(*arm.node, rate, seconds);
      if (res.errors > 0) failed = true;
      arm.p50.push_back(res.p50_ms);
      arm.p99.push_back(res.p99_ms);
      arm.max.push_back(res.max_ms);
      arm.late.push_back(static_cast<double>(res.late));
      arm.writer_ckpts.push_back(static_cast<double>(res.ckpt_on_committer));
      PrintOpenLoop(absl::StrCat("round ", r + 1, " ", (r + k) % 2 == 0 ? "A " : "B ", arm.name),
                    res);
      if (auto* store = dynamic_cast<node::SqliteAlertStore*>(arm.node->server->store())) {
        const node::SqliteAlertStore::CheckpointStats c = store->checkpoint_stats();
        std::printf("      store so far: %llu background passes, %llu on the committing thread, "
                    "%llu busy, %llu whole-WAL passes with commits held off (longest hold "
                    "%.2f ms)\n",
                    static_cast<unsigned long long>(c.background),
                    static_cast<unsigned long long>(c.on_writer),
                    static_cast<unsigned long long>(c.busy),
                    static_cast<unsigned long long>(c.whole_wal),
                    absl::ToDoubleMilliseconds(c.longest_hold));
      }
    }
  }
  std::vector<double> after = FsyncLatenciesUs(base, probes, SyncMode::kOverwrite);
  fsync_us.insert(fsync_us.end(), after.begin(), after.end());
  std::printf("\nmedians over %d rounds:\n", rounds);
  for (Arm& arm : arms) {
    std::printf("  %-10s p50 %.2f ms, p99 %.2f ms, max %.2f ms, acks > %.0f ms %.0f, "
                "checkpoint fsyncs on the committing thread %.0f per run\n",
                arm.name, Median(arm.p50), Median(arm.p99), Median(arm.max),
                kTargetOpenLoopP99Ms, Median(arm.late), Median(arm.writer_ckpts));
  }
  std::vector<double> ratios;
  for (int r = 0; r < rounds; ++r) ratios.push_back(arms[1].p99[r] / arms[0].p99[r]);
  const double fsync_ms = Median(fsync_us) / 1000;
  std::printf("  p99 B / A: median of the rounds' ratios %.2f (medians' ratio %.2f)\n",
              Median(ratios), Median(arms[1].p99) / Median(arms[0].p99));
  std::printf("reference (same run): raw 4 KiB overwrite+fdatasync median %.3f ms, p99 %.3f ms "
              "(%zu samples, before and after); p99 / fsync median: A %.1f, B %.1f\n",
              fsync_ms, Percentile(fsync_us, 99) / 1000, fsync_us.size(),
              Median(arms[0].p99) / fsync_ms, Median(arms[1].p99) / fsync_ms);
  for (Arm& arm : arms) {
    std::printf("target: open-loop p99 <= %.0f ms at %.0f alerts/s, %s: %s (p99 %.2f ms)\n",
                kTargetOpenLoopP99Ms, rate, arm.name,
                Median(arm.p99) <= kTargetOpenLoopP99Ms ? "MET" : "MISSED", Median(arm.p99));
  }
  std::printf("load average at end: %.2f\n", LoadAverage1());
  if (failed) {
    std::printf("FAILED: some publishes returned errors\n");
    return 1;
  }
  return 0;
}

int Main(int argc, char** argv) {
  const bool smoke = HasFlag(argc, argv, "smoke");
  const int runs = smoke ? 1 : static_cast<int>(ParseDouble(argc, argv, "runs", "3"));
  const double seconds = smoke ? 0.3 : ParseDouble(argc, argv, "seconds", "3");
  const double warmup = smoke ? 0.1 : 0.5;
  const double rate = smoke ? 200 : ParseDouble(argc, argv, "rate", "1000");
  const double open_seconds = smoke ? 0.5 : ParseDouble(argc, argv, "open_seconds", "10");
  const std::vector<int> publishers =
      ParseInts(smoke ? "1,4" : FlagValue(argc, argv, "publishers", "1,4,16"));
  TempDir scratch(FlagValue(argc, argv, "dir", ""));
  const std::string base = scratch.path();

  std::printf("publish_bench%s: real node in-process, SQLite WAL synchronous=FULL\n",
              smoke ? " --smoke" : "");
  PrintMachineHeader(base);

  // References, same run, same file system.
  const int probes = smoke ? 20 : 300;
  std::vector<double> fsync_us = FsyncLatenciesUs(base, probes, SyncMode::kOverwrite);
  std::vector<double> append_us = FsyncLatenciesUs(base, probes, SyncMode::kAppend);
  certs::SigningKey key = certs::SigningKey::Generate();
  const std::string pae = TypicalPae();
  const double sign_rate = Ed25519SignRate(key, pae, smoke ? 0.1 : 1.0);
  if (HasFlag(argc, argv, "ab")) {
    return RunCheckpointAb(base, runs, rate, open_seconds, fsync_us, probes);
  }

  // One node for every run, its WAL brought to steady state first; --fresh
  // starts a new node (fresh data dir, growing WAL) for each run instead.
  const bool fresh = smoke || HasFlag(argc, argv, "fresh");
  std::unique_ptr<RunningNode> shared;
  auto node_for_run = [&]() -> RunningNode& {
    if (fresh || shared == nullptr) {
      shared = nullptr;
      shared = std::make_unique<RunningNode>(base);
      if (!fresh) {
        auto t0 = SteadyClock::now();
        const int64_t n = shared->WarmUpWal();
        std::printf("WAL warm-up: %lld single-alert commits until the first checkpoint "
                    "(%.1f s)\n",
                    static_cast<long long>(n), SecondsSince(t0));
      }
    }
    return *shared;
  };
  std::printf("node: %s\n", fresh ? "a fresh one per run (WAL growing: --fresh)"
                                   : "one for all runs, WAL at steady state");
  if (!fresh) node_for_run();

  bool failed = false;
  std::printf("\nclosed loop, %d run(s) of %.1f s each (after %.1f s warm-up), medians "
              "over runs:\n", runs, seconds, warmup);
  std::printf("  %-10s %9s %8s %8s %11s %12s %11s %10s %9s\n", "publishers", "alerts/s",
              "p50 ms", "p99 ms", "WAL syncs/s", "alerts/WAL s", "ckpt syncs/s", "fsync busy",
              "x sign/s");
  struct Row {
    int publishers;
    double rate, p50, p99;
  };
  std::vector<Row> rows;
  for (int p : publishers) {
    std::vector<double> rate_v, p50_v, p99_v, apc_v, cps_v, oth_v, busy_v;
    for (int r = 0; r < runs; ++r) {
      ClosedLoopResult res = RunClosedLoop(node_for_run(), p, warmup, seconds);
      if (res.errors > 0 || res.alerts_per_s <= 0) failed = true;
      rate_v.push_back(res.alerts_per_s);
      p50_v.push_back(res.p50_ms);
      p99_v.push_back(res.p99_ms);
      apc_v.push_back(res.alerts_per_commit);
      cps_v.push_back(res.commits_per_s);
      oth_v.push_back(res.other_syncs_per_s);
      busy_v.push_back(res.sync_busy);
      if (runs > 1) {
        std::printf("  %-10s %9.0f %8.2f %8.2f %11.0f %12.1f %11.1f %9.0f%%   (run %d)\n", "",
                    res.alerts_per_s, res.p50_ms, res.p99_ms, res.commits_per_s,
                    res.alerts_per_commit, res.other_syncs_per_s, 100 * res.sync_busy, r + 1);
      }
    }
    rows.push_back({p, Median(rate_v), Median(p50_v), Median(p99_v)});
    std::printf("  %-10d %9.0f %8.2f %8.2f %11.0f %12.1f %11.1f %9.0f%% %9.3f\n", p,
                Median(rate_v), Median(p50_v), Median(p99_v), Median(cps_v), Median(apc_v),
                Median(oth_v), 100 * Median(busy_v), Median(rate_v) / sign_rate);
  }

  std::printf("\nopen loop at %.0f alerts/s for %.1f s, %d run(s), latency from the "
              "scheduled send time:\n", rate, open_seconds, runs);
  std::vector<double> off_v, p50_v, p99_v, max_v, apc_v, ckpt_v, maxwal_v, maxdb_v;
  for (int r = 0; r < runs; ++r) {
    OpenLoopResult res = RunOpenLoop(node_for_run(), rate, open_seconds);
    if (res.errors > 0) failed = true;
    off_v.push_back(res.offered_per_s);
    p50_v.push_back(res.p50_ms);
    p99_v.push_back(res.p99_ms);
    max_v.push_back(res.max_ms);
    apc_v.push_back(res.alerts_per_commit);
    ckpt_v.push_back(res.checkpoints);
    maxwal_v.push_back(res.max_wal_sync_ms);
    maxdb_v.push_back(res.max_other_sync_ms);
    PrintOpenLoop(absl::StrCat("run ", r + 1), res);
  }
  // The fsync reference is taken again after the runs: its median over both
  // samples is less sensitive to a burst of load at either end.
  std::vector<double> fsync_after = FsyncLatenciesUs(base, probes, SyncMode::kOverwrite);
  fsync_us.insert(fsync_us.end(), fsync_after.begin(), fsync_after.end());
  fsync_after = FsyncLatenciesUs(base, probes, SyncMode::kAppend);
  append_us.insert(append_us.end(), fsync_after.begin(), fsync_after.end());
  const double fsync_ms = Median(fsync_us) / 1000;
  const double open_p99 = Median(p99_v);
  std::printf("  median: p50 %.2f ms, p99 %.2f ms, max %.2f ms; %.2f alerts/WAL sync, "
              "longest WAL fsync %.2f ms, longest checkpoint fsync %.2f ms\n",
              Median(p50_v), open_p99, Median(max_v), Median(apc_v), Median(maxwal_v),
              Median(maxdb_v));

  std::printf("\nreferences (same run, same file system):\n");
  double fsync_mean_ms = 0;
  for (double us : fsync_us) fsync_mean_ms += us / 1000 / fsync_us.size();
  const double fsync_p99_ms = Percentile(fsync_us, 99) / 1000;
  std::printf("  raw 4 KiB overwrite+fdatasync (\"fsync\" below): median %.3f ms, mean %.3f ms, "
              "p99 %.3f ms, max %.3f ms (%d samples, before and after the runs)\n",
              fsync_ms, fsync_mean_ms, fsync_p99_ms, Max(fsync_us) / 1000,
              static_cast<int>(fsync_us.size()));
  std::printf("  raw 4 KiB append+fdatasync (size change): median %.3f ms, p99 %.3f ms, "
              "max %.3f ms\n",
              Median(append_us) / 1000, Percentile(append_us, 99) / 1000, Max(append_us) / 1000);
  std::printf("  libsodium Ed25519 sign, 1 thread: %.0f/s over a %zu-byte PAE\n", sign_rate,
              pae.size());
  std::printf("ratios:\n");
  for (const Row& row : rows) {
    std::printf("  closed loop %2d: alerts/s / sign/s = %.3f, p50 / fsync median = %.2f, "
                "p99 / fsync p99 = %.2f\n",
                row.publishers, row.rate / sign_rate, row.p50 / fsync_ms, row.p99 / fsync_p99_ms);
  }
  std::printf("  open loop: p50 / fsync median = %.2f, p99 / fsync median = %.2f, "
              "p99 / fsync p99 = %.2f\n",
              Median(p50_v) / fsync_ms, open_p99 / fsync_ms, open_p99 / fsync_p99_ms);
  std::printf("target: open-loop p99 <= %.0f ms at %.0f alerts/s: %s (p99 %.2f ms)\n",
              kTargetOpenLoopP99Ms, rate, open_p99 <= kTargetOpenLoopP99Ms ? "MET" : "MISSED",
              open_p99);
  if (GetSyncCounts().wal == 0) {
    std::printf("FAILED: no WAL fsync was counted; the fsync interposer is not working\n");
    failed = true;
  }
  std::printf("load average at end: %.2f\n", LoadAverage1());
  if (failed) {
    std::printf("FAILED: some publishes returned errors\n");
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace watchfloor::bench

namespace {
constexpr char kUsage[] = R"(
publish_bench: publish throughput and acknowledgement latency of a real
node (NodeServer in this process on 127.0.0.1:0, SQLite in WAL mode with
synchronous=FULL on a temporary data dir) driven by gRPC clients.

Usage: publish_bench [--runs=3] [--seconds=3] [--publishers=1,4,16]
                     [--rate=1000] [--open_seconds=10] [--dir=/tmp] [--fresh]
       publish_bench --ab [--runs=3] [--rate=1000] [--open_seconds=10] [--dir=/tmp]
                     A/B of the node's WAL checkpoint modes in one run: two
                     nodes, WATCHFLOOR_WAL_CHECKPOINTS=writer (A) and
                     =background (B), take open-loop runs in turn for --runs
                     rounds; prints p50/p99 per arm, medians, the B/A ratio
                     and the raw fsync reference
       publish_bench --smoke   (a < 5 s check that everything works)
)";
}  // namespace

int main(int argc, char** argv) {
  watchfloor::bench::CheckFlags(argc, argv, kUsage,
                                {"ab", "dir", "fresh", "open_seconds", "publishers", "rate", "runs",
                                 "seconds", "smoke"});
  return watchfloor::bench::Main(argc, argv);
}
