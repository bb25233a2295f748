// ingest_bench: ingest throughput of the Ledger on its real path (verify on
// the Ledger's verify pool, or on the submitting thread with pool size 0;
// feed rules and SQLite group commit on the writer thread, synchronous=FULL),
// driven by ONE submitting thread that keeps a bounded window of Ingest calls
// in flight.
//
// Pre-signs --n envelopes forming one valid feed of a known peer origin, then,
// --reps times and for each verify pool size of --pools (Options::
// verify_threads; default 0,1,2, taken in turn within a repetition), ingests
// them into a fresh store in chunks of --chunk, and after each chunk verifies
// the very same PAE bytes and signatures with raw libsodium on one thread
// (certs::PublicKey::Verify, what the node uses), so that both figures are
// taken under the same background load. Then, once per repetition,
// OpenSSL's EVP verify over the same messages, and raw libsodium on 2
// threads, for comparison. Prints, per pool size, the medians of ingest/s,
// of the single-core libsodium rate, and of the per-repetition ratios
// "vs single core" (ingest/s : libsodium verify/s) and "per core used"
// (that divided by the cores verifying: the pool size, 1 for pool size 0)
// [targets: >= 0.95 per core used; >= 1.8 vs single core with 2 cores].
//
// OpenSSL is called directly here, outside certs/ (STYLE.md habit 5), only
// because it is the thing being compared against; nothing else uses it.
//
// Usage: ingest_bench [--n=50000] [--reps=5] [--window=2048] [--chunk=2500]
//                     [--pools=0,1,2] [--dir=/tmp]
//                     [--no_reference]   (ingest only: for profiling)
//                     [--breakdown]      (also time each caller-side step)
//        ingest_bench --smoke   (a < 5 s check that everything works)
#include <openssl/evp.h>
#include <time.h>

#include <sys/resource.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "bench/bench_util.h"
#include "certs/dsse.h"
#include "certs/ids.h"
#include "node/alert_validator.h"
#include "node/clock.h"
#include "node/key_resolver.h"
#include "node/ledger.h"
#include "node/sqlite_alert_store.h"
#include "node/subscription_hub.h"

namespace watchfloor::bench {
namespace {

constexpr char kOwnOrigin[] = "bench.example/ing0";
constexpr char kPeerOrigin[] = "peer.example/ing1";
constexpr double kTargetPerCore = 0.95;
constexpr double kTargetTwoCores = 1.8;

using watchfloor::v1::Envelope;

// Sequences 1..n of kPeerOrigin, each naming the previous one's id.
std::vector<Envelope> SignFeed(const certs::SigningKey& key, int n) {
  std::vector<Envelope> out;
  out.reserve(n);
  std::string previous;
  for (int i = 1; i <= n; ++i) {
    watchfloor::v1::Alert a = SampleDraft(i);
    a.set_origin(kPeerOrigin);
    a.set_sequence(i);
    a.set_previous(previous);
    a.mutable_issued_at()->set_seconds(1798761600 + i / 1000);
    a.mutable_issued_at()->set_nanos((i % 1000) * 1000000);
    std::string payload = a.SerializeAsString();
    out.push_back(certs::SignEnvelope(payload, certs::kAlertPayloadType, key));
    previous = certs::AlertId(payload);
  }
  return out;
}

struct Signed {
  std::vector<std::string> pae;
  std::vector<std::string> sig;
};

Signed Extract(const std::vector<Envelope>& feed) {
  Signed s;
  for (const Envelope& e : feed) {
    s.pae.push_back(certs::Pae(e.payload_type(), e.payload()));
    s.sig.push_back(e.signatures(0).sig());
  }
  return s;
}

// CPU time of the calling thread, in seconds.
double ThreadCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

// CPU time of the whole process (every thread), in seconds.
double ProcessCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

struct IngestRun {
  double per_s = 0;
  // libsodium verify rate over the same envelopes, measured chunk by chunk
  // between the ingest chunks (0 without the reference).
  double sodium_per_s = 0;
  // Where the time went, in microseconds of CPU per envelope: the submitting
  // thread (verification happens there) and the ledger's writer thread
  // (feed rules, SQLite, callbacks; measured from its first to its last
  // callback, so the first batch's staging is missed).
  double submitter_us = 0;
  double writer_us = 0;
  // CPU of the whole process during the ingest chunks (submitter, verify
  // pool, writer, SQLite), per envelope.
  double process_us = 0;
  double wall_us = 0;
  double alerts_per_wal_sync = 0;
  int64_t errors = 0;
  std::string first_error;
};

// Ingests `feed` in chunks of `chunk` envelopes: submits a chunk, waits for
// all of it to be committed, then (with `sigs`) verifies the same chunk with
// raw libsodium, and so on. Interleaving this finely makes both figures see
// the same background load, so their ratio holds on a shared machine.
IngestRun RunIngest(const std::string& base, const certs::SigningKey& own,
                    const certs::SigningKey& peer, const std::vector<Envelope>& feed,
                    const Signed* sigs, size_t window, size_t chunk, int pool) {
  TempDir dir(base);
  auto store = node::SqliteAlertStore::Open(dir.Join("data"), kOwnOrigin);
  if (!store.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(store.status().message()).c_str());
    std::exit(1);
  }
  node::StaticKeyResolver resolver({{kOwnOrigin, own.public_key()},
                                    {kPeerOrigin, peer.public_key()}});
  // The hub is the node's commit listener; keep it in the path.
  node::SubscriptionHub hub(store->get(), 0);
  node::Ledger::Options options;
  options.verify_threads = pool;
  auto ledger = node::Ledger::Open(
      store->get(), &own, kOwnOrigin, &resolver, node::Clock::Real(),
      [&hub](const auto& a) { hub.OnCommitted(a); }, options);
  if (!ledger.ok()) {
    std::fprintf(stderr, "error: %s\n", std::string(ledger.status().message()).c_str());
    std::exit(1);
  }
  std::vector<Envelope> work = feed;  // copied outside the timed part

  // The window is kept with atomics, so that the submitter and the writer's
  // callbacks do not contend on a lock per envelope; the mutex only guards
  // the rare sleeps and the error record.
  std::mutex mu;
  std::condition_variable cv;
  std::atomic<size_t> in_flight{0};
  std::atomic<size_t> done{0};
  std::atomic<bool> submitter_waiting{false};
  std::atomic<double> writer_cpu_first{-1}, writer_cpu_last{0};
  IngestRun run;
  const size_t total = work.size();
  const SyncCounts syncs_before = GetSyncCounts();
  double wall = 0, verify_wall = 0, submitter_cpu = 0, process_cpu = 0;
  for (size_t begin = 0; begin < total; begin += chunk) {
    const size_t end = std::min(total, begin + chunk);
    const auto start = SteadyClock::now();
    const double process0 = ProcessCpuSeconds();
    const double cpu0 = ThreadCpuSeconds();
    for (size_t i = begin; i < end; ++i) {
      if (in_flight.load() >= window) {
        // Refill in bulk once half the window has completed, so that the
        // submitter is woken once per batch, not once per callback.
        std::unique_lock<std::mutex> lock(mu);
        submitter_waiting = true;
        cv.wait(lock, [&] { return in_flight.load() <= window / 2; });
        submitter_waiting = false;
      }
      in_flight.fetch_add(1);
      (*ledger)->Ingest(std::move(work[i]), [&, end](absl::StatusOr<node::IngestResult> r) {
        const double cpu = ThreadCpuSeconds();  // the writer thread's
        if (writer_cpu_first.load(std::memory_order_relaxed) < 0) writer_cpu_first = cpu;
        writer_cpu_last.store(cpu, std::memory_order_relaxed);
        const size_t left = in_flight.fetch_sub(1) - 1;
        const size_t finished = done.fetch_add(1) + 1;
        if (!r.ok()) {
          std::lock_guard<std::mutex> lock(mu);
          if (run.errors++ == 0) run.first_error = r.status().ToString();
        }
        if ((submitter_waiting.load() && left <= window / 2) || finished == end) {
          std::lock_guard<std::mutex> lock(mu);
          cv.notify_all();
        }
      });
    }
    submitter_cpu += ThreadCpuSeconds() - cpu0;
    {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return done.load() == end; });
    }
    wall += SecondsSince(start);
    process_cpu += ProcessCpuSeconds() - process0;
    if (sigs != nullptr) {
      const auto v0 = SteadyClock::now();
      for (size_t i = begin; i < end; ++i) {
        if (!peer.public_key().Verify(sigs->pae[i], sigs->sig[i])) {
          std::fprintf(stderr, "error: libsodium rejected signature %zu\n", i);
          std::exit(1);
        }
      }
      verify_wall += SecondsSince(v0);
    }
  }
  const double n = static_cast<double>(total);
  run.per_s = n / wall;
  run.sodium_per_s = sigs != nullptr ? n / verify_wall : 0;
  run.wall_us = wall / n * 1e6;
  run.submitter_us = submitter_cpu / n * 1e6;
  run.writer_us = (writer_cpu_last - writer_cpu_first) / n * 1e6;
  run.process_us = process_cpu / n * 1e6;
  const SyncCounts syncs = GetSyncCounts() - syncs_before;
  run.alerts_per_wal_sync = syncs.wal > 0 ? n / syncs.wal : 0;
  return run;
}

// What Ledger::Ingest does on the submitting thread before it queues an
// envelope (parse, origin and key lookup, DSSE verify, content validation,
// alert id), without the queue or the store: the ceiling for one submitter.
double CallerPathRate(const node::KeyResolver& keys, const std::vector<Envelope>& feed) {
  const auto start = SteadyClock::now();
  size_t sink = 0;
  for (const Envelope& e : feed) {
    watchfloor::v1::Alert alert;
    absl::Status st;
    if (!alert.ParseFromString(e.payload())) st = absl::InvalidArgumentError("parse");
    if (st.ok()) st = node::ValidateOrigin(alert.origin());
    std::optional<certs::PublicKey> key = keys.Find(alert.origin());
    if (st.ok() && !key.has_value()) st = absl::UnauthenticatedError("unknown origin");
    if (st.ok()) st = certs::VerifyEnvelope(e, *key);
    if (st.ok()) st = node::ValidateSigned(alert);
    if (!st.ok()) {
      std::fprintf(stderr, "error: caller path rejected an envelope: %s\n",
                   st.ToString().c_str());
      std::exit(1);
    }
    sink += certs::AlertId(e.payload()).size();
  }
  if (sink == 0) std::abort();
  return feed.size() / SecondsSince(start);
}

// Microseconds per envelope of each step of the caller path, one step at a
// time over the whole feed (so each loop stays hot in cache, as it would
// not be in the interleaved real path: the sum is a lower bound).
void PrintCallerBreakdown(const node::KeyResolver& keys, const std::vector<Envelope>& feed) {
  const double n = static_cast<double>(feed.size());
  std::vector<watchfloor::v1::Alert> alerts(feed.size());
  auto time_us = [&](auto&& step) {
    const auto start = SteadyClock::now();
    for (size_t i = 0; i < feed.size(); ++i) step(i);
    return SecondsSince(start) / n * 1e6;
  };
  size_t sink = 0;
  const double parse = time_us([&](size_t i) { sink += alerts[i].ParseFromString(feed[i].payload()); });
  const double origin = time_us([&](size_t i) { sink += node::ValidateOrigin(alerts[i].origin()).ok(); });
  const double find = time_us([&](size_t i) { sink += keys.Find(alerts[i].origin()).has_value(); });
  const certs::PublicKey key = *keys.Find(kPeerOrigin);
  const double verify = time_us([&](size_t i) { sink += certs::VerifyEnvelope(feed[i], key).ok(); });
  const double validate = time_us([&](size_t i) { sink += node::ValidateSigned(alerts[i]).ok(); });
  const double id = time_us([&](size_t i) { sink += certs::AlertId(feed[i].payload()).size(); });
  if (sink == 0) std::abort();
  std::printf("caller-path steps, us per envelope: parse %.2f, ValidateOrigin %.2f, key lookup "
              "%.2f, VerifyEnvelope %.2f, ValidateSigned %.2f, AlertId %.2f; all but verify "
              "%.2f\n",
              parse, origin, find, verify, validate, id, parse + origin + find + validate + id);
}

double OpenSslVerifyRate(const certs::PublicKey& key, const Signed& s, size_t n) {
  n = std::min(n, s.pae.size());
  EVP_PKEY* pkey = EVP_PKEY_new_raw_public_key(
      EVP_PKEY_ED25519, nullptr,
      reinterpret_cast<const unsigned char*>(key.raw().data()), key.raw().size());
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (pkey == nullptr || ctx == nullptr) {
    std::fprintf(stderr, "error: OpenSSL could not load the Ed25519 key\n");
    std::exit(1);
  }
  const auto start = SteadyClock::now();
  for (size_t i = 0; i < n; ++i) {
    EVP_MD_CTX_reset(ctx);
    if (EVP_DigestVerifyInit(ctx, nullptr, nullptr, nullptr, pkey) != 1 ||
        EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(s.sig[i].data()),
                         s.sig[i].size(),
                         reinterpret_cast<const unsigned char*>(s.pae[i].data()),
                         s.pae[i].size()) != 1) {
      std::fprintf(stderr, "error: OpenSSL rejected signature %zu\n", i);
      std::exit(1);
    }
  }
  const double rate = n / SecondsSince(start);
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(pkey);
  return rate;
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

// Raw libsodium verify over the first `n` messages on `threads` threads, each
// verifying its share: what that many cores can verify, same messages.
double SodiumVerifyRate(const certs::PublicKey& key, const Signed& s, size_t n, int threads) {
  n = std::min(n, s.pae.size());
  std::atomic<bool> bad{false};
  const auto start = SteadyClock::now();
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([&, t] {
      for (size_t i = t; i < n; i += threads) {
        if (!key.Verify(s.pae[i], s.sig[i])) bad = true;
      }
    });
  }
  for (std::thread& t : pool) t.join();
  const double rate = n / SecondsSince(start);
  if (bad) {
    std::fprintf(stderr, "error: libsodium rejected a signature\n");
    std::exit(1);
  }
  return rate;
}

std::vector<int> PoolSizes(int argc, char** argv) {
  std::vector<int> out;
  const std::string v = FlagValue(argc, argv, "pools", "0,1,2");
  for (absl::string_view part : absl::StrSplit(v, ',')) {
    int n = 0;
    if (!absl::SimpleAtoi(part, &n) || n < 0 || n > 64) {
      std::fprintf(stderr, "error: --pools=%s: want a comma-separated list of verify pool "
                   "sizes from 0 to 64, e.g. --pools=0,1,2\n", v.c_str());
      std::exit(2);
    }
    out.push_back(n);
  }
  return out;
}

// Figures of one pool size, one entry per repetition.
struct Series {
  std::vector<double> ingest, sodium, vs_single, per_core, wall, submit, writer, process, apw;
};

// Cores verifying with a pool of `pool` threads: the pool size, or the one
// submitting thread without a pool.
int CoresUsed(int pool) { return pool == 0 ? 1 : pool; }

int Main(int argc, char** argv) {
  const bool smoke = HasFlag(argc, argv, "smoke");
  const int n = smoke ? 1000 : static_cast<int>(IntFlag(argc, argv, "n", "50000"));
  const int reps = smoke ? 1 : static_cast<int>(IntFlag(argc, argv, "reps", "5"));
  const size_t window = static_cast<size_t>(IntFlag(argc, argv, "window", "2048"));
  const size_t chunk = static_cast<size_t>(IntFlag(argc, argv, "chunk", "2500"));
  const std::vector<int> pools = PoolSizes(argc, argv);
  const size_t openssl_n = smoke ? 200 : 10000;
  const bool reference = !HasFlag(argc, argv, "no_reference");
  TempDir scratch(FlagValue(argc, argv, "dir", ""));

  std::printf("ingest_bench%s: Ledger::Ingest from 1 submitting thread, window %zu, "
              "SQLite WAL synchronous=FULL, verify pool sizes %s (0: verify on the "
              "submitting thread)\n",
              smoke ? " --smoke" : "", window, FlagValue(argc, argv, "pools", "0,1,2").c_str());
  PrintMachineHeader(scratch.path());

  const certs::SigningKey own = certs::SigningKey::Generate();
  const certs::SigningKey peer = certs::SigningKey::Generate();
  auto t0 = SteadyClock::now();
  const std::vector<Envelope> feed = SignFeed(peer, n);
  const Signed sigs = Extract(feed);
  std::printf("pre-signed %d envelopes (%zu-byte payload, %zu-byte PAE) in %.1f s\n", n,
              feed[0].payload().size(), sigs.pae[0].size(), SecondsSince(t0));

  const node::StaticKeyResolver resolver({{kOwnOrigin, own.public_key()},
                                          {kPeerOrigin, peer.public_key()}});
  std::map<int, Series> series;
  std::vector<double> openssl_v, sodium2_v, caller_v;
  bool failed = false;
  std::printf("\n  %-4s %4s %9s %12s %9s %9s %8s %9s %9s %9s %9s\n", "rep", "pool",
              "ingest/s", "sodium vrf/s", "vs 1 core", "per core", "wall us", "submit us",
              "writer us", "process us", "alerts/WS");
  for (int r = 0; r < reps; ++r) {
    for (int pool : pools) {
      IngestRun run = RunIngest(scratch.path(), own, peer, feed, reference ? &sigs : nullptr,
                                window, chunk, pool);
      if (run.errors > 0) {
        std::fprintf(stderr, "error: %lld ingests failed, first: %s\n",
                     static_cast<long long>(run.errors), run.first_error.c_str());
        failed = true;
      }
      Series& s = series[pool];
      const double vs_single = reference ? run.per_s / run.sodium_per_s : 0;
      s.ingest.push_back(run.per_s);
      s.sodium.push_back(run.sodium_per_s);
      s.vs_single.push_back(vs_single);
      s.per_core.push_back(vs_single / CoresUsed(pool));
      s.wall.push_back(run.wall_us);
      s.submit.push_back(run.submitter_us);
      s.writer.push_back(run.writer_us);
      s.process.push_back(run.process_us);
      s.apw.push_back(run.alerts_per_wal_sync);
      std::printf("  %-4d %4d %9.0f %12.0f %9.3f %9.3f %8.1f %9.1f %9.1f %10.1f %9.0f\n",
                  r + 1, pool, run.per_s, run.sodium_per_s, vs_single,
                  vs_single / CoresUsed(pool), run.wall_us, run.submitter_us, run.writer_us,
                  run.process_us, run.alerts_per_wal_sync);
    }
    if (reference) {
      openssl_v.push_back(OpenSslVerifyRate(peer.public_key(), sigs, openssl_n));
      sodium2_v.push_back(SodiumVerifyRate(peer.public_key(), sigs, openssl_n * 2, 2));
      caller_v.push_back(CallerPathRate(resolver, feed));
    }
  }
  std::printf("\n  medians over %d repetitions:\n", reps);
  std::printf("  %4s %5s %9s %12s %9s %9s %8s %9s %9s %10s %9s\n", "pool", "cores",
              "ingest/s", "sodium vrf/s", "vs 1 core", "per core", "wall us", "submit us",
              "writer us", "process us", "alerts/WS");
  for (int pool : pools) {
    const Series& s = series[pool];
    std::printf("  %4d %5d %9.0f %12.0f %9.3f %9.3f %8.1f %9.1f %9.1f %10.1f %9.0f\n", pool,
                CoresUsed(pool), Median(s.ingest), Median(s.sodium), Median(s.vs_single),
                Median(s.per_core), Median(s.wall), Median(s.submit), Median(s.writer),
                Median(s.process), Median(s.apw));
  }
  std::printf("  (sodium vrf/s: raw libsodium verify on 1 thread, measured between the same "
              "run's ingest chunks; vs 1 core = ingest/s : sodium vrf/s, per repetition; per "
              "core = that / cores verifying; wall/submit/writer us: wall time and CPU time of "
              "the submitting and writer threads per envelope; process us: CPU of all threads "
              "per envelope; alerts/WS: alerts per WAL fsync)\n");
  if (reference) {
    std::vector<double> sodium_all;
    for (const auto& [pool, s] : series) {
      sodium_all.insert(sodium_all.end(), s.sodium.begin(), s.sodium.end());
    }
    const double sodium = Median(sodium_all);
    std::printf("\nreferences (same run, same messages): libsodium verify 1 thread %.0f/s "
                "(%.1f us), 2 threads %.0f/s (%.2f x 1 thread); OpenSSL EVP verify 1 thread "
                "%.0f/s (libsodium/OpenSSL = %.2f); Ingest's caller-side work alone "
                "(parse+verify+validate+id, no queue/store) %.0f/s = %.3f x libsodium\n",
                sodium, 1e6 / sodium, Median(sodium2_v), Median(sodium2_v) / sodium,
                Median(openssl_v), sodium / Median(openssl_v), Median(caller_v),
                Median(caller_v) / sodium);
    for (int pool : pools) {
      const Series& s = series[pool];
      const double per_core = Median(s.per_core);
      std::printf("target, pool %d (%d core%s verifying): ingest >= %.2f x libsodium "
                  "single-core verify rate per core used: %s (median %.3f)",
                  pool, CoresUsed(pool), CoresUsed(pool) == 1 ? "" : "s", kTargetPerCore,
                  per_core >= kTargetPerCore ? "MET" : "MISSED", per_core);
      if (CoresUsed(pool) == 2) {
        const double vs = Median(s.vs_single);
        std::printf("; >= %.1f x single core with 2 cores: %s (median %.3f)", kTargetTwoCores,
                    vs >= kTargetTwoCores ? "MET" : "MISSED", vs);
      }
      std::printf("\n");
    }
  }
  if (HasFlag(argc, argv, "breakdown")) PrintCallerBreakdown(resolver, feed);
  std::printf("load average at end: %.2f\n", LoadAverage1());
  return failed ? 1 : 0;
}
}  // namespace
}  // namespace watchfloor::bench

namespace {
constexpr char kUsage[] = R"(
ingest_bench: ingest throughput of the Ledger on its real path (verify on
the Ledger's verify pool of each size in --pools, 0 meaning on the
submitting thread; feed rules and SQLite group commit on the writer thread,
synchronous=FULL), driven by ONE submitting thread that keeps a bounded
window of Ingest calls in flight, each rate next to raw single-core
libsodium verify measured in the same run.

Usage: ingest_bench [--n=50000] [--reps=5] [--window=2048] [--chunk=2500]
                    [--pools=0,1,2] [--dir=/tmp]
                    [--no_reference]   (ingest only: for profiling)
                    [--breakdown]      (also time each caller-side step)
       ingest_bench --smoke   (a < 5 s check that everything works)
)";
}  // namespace

int main(int argc, char** argv) {
  watchfloor::bench::CheckFlags(argc, argv, kUsage,
                                {"breakdown", "chunk", "dir", "n", "no_reference", "pools", "reps",
                                 "smoke", "window"});
  return watchfloor::bench::Main(argc, argv);
}
