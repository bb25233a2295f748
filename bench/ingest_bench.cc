// ingest_bench: ingest throughput of the Ledger on its real path (verify on
// the submitting thread, feed rules and SQLite group commit on the writer
// thread, synchronous=FULL), driven by ONE submitting thread that keeps a
// bounded window of Ingest calls in flight.
//
// Pre-signs --n envelopes forming one valid feed of a known peer origin, then,
// --reps times, ingests them into a fresh store in chunks of --chunk, and
// after each chunk verifies the very same PAE bytes and signatures with raw
// libsodium on one thread (certs::PublicKey::Verify, what the node uses), so
// that both figures are taken under the same background load. Then, once per
// repetition, OpenSSL's EVP verify over the same messages for comparison.
// Prints the median of each and of the per-repetition ratio ingest/s :
// libsodium verify/s [target >= 0.9].
//
// OpenSSL is called directly here, outside certs/ (STYLE.md habit 5), only
// because it is the thing being compared against; nothing else uses it.
//
// Usage: ingest_bench [--n=50000] [--reps=5] [--window=2048] [--chunk=2500]
//                     [--dir=/tmp]
//                     [--no_reference]   (ingest only: for profiling)
//                     [--breakdown]      (also time each caller-side step)
//        ingest_bench --smoke   (a < 5 s check that everything works)
#include <openssl/evp.h>
#include <time.h>

#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
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
constexpr double kTargetRatio = 0.9;

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
                    const Signed* sigs, size_t window, size_t chunk) {
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
  auto ledger = node::Ledger::Open(
      store->get(), &own, kOwnOrigin, &resolver, node::Clock::Real(),
      [&hub](const auto& a) { hub.OnCommitted(a); });
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
  double wall = 0, verify_wall = 0, submitter_cpu = 0;
  for (size_t begin = 0; begin < total; begin += chunk) {
    const size_t end = std::min(total, begin + chunk);
    const auto start = SteadyClock::now();
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

int Main(int argc, char** argv) {
  const bool smoke = HasFlag(argc, argv, "smoke");
  const int n = smoke ? 1000 : static_cast<int>(IntFlag(argc, argv, "n", "50000"));
  const int reps = smoke ? 1 : static_cast<int>(IntFlag(argc, argv, "reps", "5"));
  const size_t window = static_cast<size_t>(IntFlag(argc, argv, "window", "2048"));
  const size_t chunk = static_cast<size_t>(IntFlag(argc, argv, "chunk", "2500"));
  const size_t openssl_n = smoke ? 200 : 10000;
  const bool reference = !HasFlag(argc, argv, "no_reference");
  TempDir scratch(FlagValue(argc, argv, "dir", ""));

  std::printf("ingest_bench%s: Ledger::Ingest from 1 submitting thread, window %zu, "
              "SQLite WAL synchronous=FULL\n",
              smoke ? " --smoke" : "", window);
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
  std::vector<double> ingest_v, sodium_v, openssl_v, ratio_v, sub_v, wr_v, wall_v, apw_v,
      caller_v;
  bool failed = false;
  std::printf("\n  %-4s %9s %12s %12s %13s %9s %9s %9s %9s\n", "rep", "ingest/s",
              "sodium vrf/s", "OpenSSL vr/s", "ingest:sodium", "wall us", "submit us",
              "writer us", "alerts/WS");
  for (int r = 0; r < reps; ++r) {
    IngestRun run = RunIngest(scratch.path(), own, peer, feed, reference ? &sigs : nullptr,
                              window, chunk);
    if (run.errors > 0) {
      std::fprintf(stderr, "error: %lld ingests failed, first: %s\n",
                   static_cast<long long>(run.errors), run.first_error.c_str());
      failed = true;
    }
    const double sodium = run.sodium_per_s;
    const double openssl =
        reference ? OpenSslVerifyRate(peer.public_key(), sigs, openssl_n) : 0;
    const double caller = reference ? CallerPathRate(resolver, feed) : 0;
    caller_v.push_back(caller);
    ingest_v.push_back(run.per_s);
    sodium_v.push_back(sodium);
    openssl_v.push_back(openssl);
    ratio_v.push_back(run.per_s / sodium);
    sub_v.push_back(run.submitter_us);
    wr_v.push_back(run.writer_us);
    wall_v.push_back(run.wall_us);
    apw_v.push_back(run.alerts_per_wal_sync);
    std::printf("  %-4d %9.0f %12.0f %12.0f %13.3f %9.1f %9.1f %9.1f %9.0f\n", r + 1,
                run.per_s, sodium, openssl, run.per_s / sodium, run.wall_us,
                run.submitter_us, run.writer_us, run.alerts_per_wal_sync);
  }
  const double ratio = Median(ratio_v);
  std::printf("  %-4s %9.0f %12.0f %12.0f %13.3f %9.1f %9.1f %9.1f %9.0f\n", "med",
              Median(ingest_v), Median(sodium_v), Median(openssl_v), ratio, Median(wall_v),
              Median(sub_v), Median(wr_v), Median(apw_v));
  std::printf("  (wall/submit/writer us: wall time and CPU time of the submitting and "
              "writer threads per envelope; alerts/WS: alerts per WAL fsync)\n");
  if (reference) {
    std::printf("  libsodium verify alone: %.1f us per envelope; Ingest's caller-side work "
                "alone (parse+verify+validate+id, no queue/store): %.0f/s = %.1f us, "
                "%.3f x libsodium verify\n",
                1e6 / Median(sodium_v), Median(caller_v), 1e6 / Median(caller_v),
                Median(caller_v) / Median(sodium_v));
  }
  std::printf("\nreferences (same run, same messages, 1 thread): libsodium verify %.0f/s, "
              "OpenSSL EVP verify %.0f/s (libsodium/OpenSSL = %.2f)\n",
              Median(sodium_v), Median(openssl_v), Median(sodium_v) / Median(openssl_v));
  std::printf("target: ingest >= %.1f x libsodium single-core verify rate: %s "
              "(median ratio %.3f)\n",
              kTargetRatio, ratio >= kTargetRatio ? "MET" : "MISSED", ratio);
  if (HasFlag(argc, argv, "breakdown")) PrintCallerBreakdown(resolver, feed);
  std::printf("load average at end: %.2f\n", LoadAverage1());
  return failed ? 1 : 0;
}

}  // namespace
}  // namespace watchfloor::bench

namespace {
constexpr char kUsage[] = R"(
ingest_bench: ingest throughput of the Ledger on its real path (verify on
the submitting thread, feed rules and SQLite group commit on the writer
thread, synchronous=FULL), driven by ONE submitting thread that keeps a
bounded window of Ingest calls in flight.

Usage: ingest_bench [--n=50000] [--reps=5] [--window=2048] [--chunk=2500]
                    [--dir=/tmp]
                    [--no_reference]   (ingest only: for profiling)
                    [--breakdown]      (also time each caller-side step)
       ingest_bench --smoke   (a < 5 s check that everything works)
)";
}  // namespace

int main(int argc, char** argv) {
  watchfloor::bench::CheckFlags(argc, argv, kUsage,
                                {"breakdown", "chunk", "dir", "n", "no_reference", "reps", "smoke",
                                 "window"});
  return watchfloor::bench::Main(argc, argv);
}
