// proof_bench: inclusion and consistency proofs served from a node's stored
// Merkle log (node::Transparency over a real SqliteAlertStore) are O(log n)
// in size and time.
//
// For each tree size n in --sizes (up to --max_n), a fresh store is filled
// for one origin by appending WriteSet batches directly: alerts with
// contiguous sequences 1..n and 64-hex ids (leaf hashes of distinct
// strings), chained by `previous`, all carrying one small real signed
// envelope, plus the perfect log nodes of level >= 1 that a
// certs::CompactRange reports for each appended leaf (exactly what
// node/ledger.cc StageLog writes with every alert). Then a node::Ledger is
// opened on it (it restores the logs) and a node::Transparency without a
// roster, not started, and over --proofs random indices:
//   InclusionProof(origin, index, n)   and
//   ConsistencyProof(origin, m, n)     for random m in [1, n)
// are timed one by one (median and p99 microseconds), with their length in
// hashes and the store reads each makes (the store is wrapped to count
// GetLogNode calls). Every timed proof is verified afterwards:
// certs::VerifyInclusion against Ledger::Log(origin).root, and
// certs::VerifyConsistency from Transparency::RootAt(m) to it.
//
// References, same run: one SHA-256 of 64 bytes (certs::Sha256), and one
// SQLite point read (GetLogNode of a random stored node, level 0..log2 n) on
// the same store; a proof should cost about log2(n) of the latter.
//
// Usage: proof_bench [--sizes=1024,16384,131072,1048576] [--max_n=1048576]
//                    [--proofs=2000] [--dir=/tmp]
//        proof_bench --smoke   (a < 5 s check that everything works)
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "bench/bench_util.h"
#include "certs/dsse.h"
#include "certs/ids.h"
#include "certs/keys.h"
#include "certs/merkle.h"
#include "node/clock.h"
#include "node/key_resolver.h"
#include "node/ledger.h"
#include "node/sqlite_alert_store.h"
#include "node/transparency.h"

namespace watchfloor::bench {
namespace {

constexpr char kOrigin[] = "bench.example/proof1";

template <typename T>
T Must(absl::StatusOr<T> v, const std::string& what) {
  if (!v.ok()) Die(absl::StrCat(what, ": ", v.status().ToString()));
  return *std::move(v);
}

// Forwards everything to `inner`, counting the log-node reads proofs make.
class CountingStore final : public node::AlertStore {
 public:
  explicit CountingStore(node::AlertStore* inner) : inner_(inner) {}
  int64_t log_node_reads() const { return reads_.load(); }

  using AlertStore::Append;
  absl::StatusOr<std::vector<uint64_t>> Append(const node::WriteSet& w,
                                               std::vector<node::Mark>* marks) override {
    return inner_->Append(w, marks);
  }
  absl::StatusOr<std::optional<std::string>> GetLogNode(const std::string& origin, int level,
                                                        uint64_t index) override {
    reads_.fetch_add(1, std::memory_order_relaxed);
    return inner_->GetLogNode(origin, level, index);
  }
  absl::StatusOr<std::vector<std::string>> ReadIds(const std::string& origin, uint64_t from,
                                                   uint64_t to) override {
    return inner_->ReadIds(origin, from, to);
  }
  absl::StatusOr<std::vector<node::StoredCheckpoint>> Checkpoints(const std::string& origin,
                                                                  size_t limit) override {
    return inner_->Checkpoints(origin, limit);
  }
  absl::StatusOr<std::vector<std::string>> CheckpointOrigins() override {
    return inner_->CheckpointOrigins();
  }
  absl::StatusOr<std::optional<node::StoredAlert>> Get(const std::string& id) override {
    return inner_->Get(id);
  }
  absl::StatusOr<std::optional<node::StoredAlert>> GetBySequence(const std::string& origin,
                                                                 uint64_t sequence) override {
    return inner_->GetBySequence(origin, sequence);
  }
  absl::StatusOr<std::vector<node::StoredAlert>> ReadAfter(uint64_t after,
                                                           size_t limit) override {
    return inner_->ReadAfter(after, limit);
  }
  absl::StatusOr<std::vector<node::StoredAlert>> ReadRange(const std::string& origin,
                                                           uint64_t from, uint64_t to,
                                                           size_t limit) override {
    return inner_->ReadRange(origin, from, to, limit);
  }
  absl::StatusOr<std::vector<node::FeedHead>> LoadHeads() override {
    return inner_->LoadHeads();
  }
  absl::StatusOr<std::vector<node::Evidence>> ListEvidence() override {
    return inner_->ListEvidence();
  }
  absl::StatusOr<std::vector<node::Cosignature>> Cosignatures(const std::string& id) override {
    return inner_->Cosignatures(id);
  }
  absl::StatusOr<std::vector<node::Cosignature>> ReadCosignaturesAfter(uint64_t after,
                                                                      size_t limit) override {
    return inner_->ReadCosignaturesAfter(after, limit);
  }
  absl::StatusOr<uint64_t> LastCosignaturePosition() override {
    return inner_->LastCosignaturePosition();
  }
  absl::StatusOr<uint64_t> LastCursor() override { return inner_->LastCursor(); }
  absl::StatusOr<std::vector<node::Mark>> ReadMarksAfter(uint64_t after, size_t limit) override {
    return inner_->ReadMarksAfter(after, limit);
  }
  absl::StatusOr<uint64_t> LastMarkCursor() override { return inner_->LastMarkCursor(); }
  absl::StatusOr<std::optional<uint64_t>> FirstCursorSince(int64_t ms) override {
    return inner_->FirstCursorSince(ms);
  }

 private:
  node::AlertStore* const inner_;
  std::atomic<int64_t> reads_{0};
};

// Leaf hash (raw) of the alert with sequence `seq`.
std::string Leaf(uint64_t seq) { return certs::HashLeaf(absl::StrCat("proof bench leaf ", seq)); }

// Fills `store` with alerts 1..n of kOrigin and their log nodes, in batches.
void Fill(node::AlertStore* store, uint64_t n, const std::string& envelope) {
  certs::CompactRange range;
  std::string previous;
  constexpr uint64_t kBatch = 16384;
  const int64_t now_ms = 1798761600000;
  for (uint64_t from = 1; from <= n; from += kBatch) {
    node::WriteSet w;
    const uint64_t to = std::min(n, from + kBatch - 1);
    w.alerts.reserve(to - from + 1);
    for (uint64_t seq = from; seq <= to; ++seq) {
      const std::string leaf = Leaf(seq);
      node::NewAlert a;
      a.id = certs::HexEncode(leaf);
      a.origin = kOrigin;
      a.sequence = seq;
      a.previous = previous;
      a.issued_at_ms = now_ms + static_cast<int64_t>(seq);
      a.received_at_ms = a.issued_at_ms;
      a.envelope = envelope;
      previous = a.id;
      range.Append(leaf, [&](int level, uint64_t index, const std::string& hash) {
        if (level == 0) return;  // the leaf is the alert id, stored with it
        w.log_nodes.push_back(node::LogNode{kOrigin, level, index, hash});
      });
      w.alerts.push_back(std::move(a));
    }
    Must(store->Append(w), "append");
  }
}

struct SizeResult {
  uint64_t n = 0;
  double fill_s = 0;
  double incl_hashes_med = 0, incl_hashes_max = 0, incl_reads = 0, incl_med_us = 0,
         incl_p99_us = 0;
  double cons_hashes_med = 0, cons_hashes_max = 0, cons_reads = 0, cons_med_us = 0,
         cons_p99_us = 0;
  double point_read_us = 0;  // reference: median GetLogNode
};

SizeResult MeasureSize(uint64_t n, int proofs, const std::string& base,
                       const certs::SigningKey& key, const std::string& envelope,
                       std::mt19937_64& rng) {
  SizeResult r;
  r.n = n;
  TempDir dir(base);
  std::unique_ptr<node::SqliteAlertStore> sqlite =
      Must(node::SqliteAlertStore::Open(dir.path(), kOrigin), "open store");
  const auto fill_start = SteadyClock::now();
  Fill(sqlite.get(), n, envelope);
  r.fill_s = SecondsSince(fill_start);
  CountingStore store(sqlite.get());
  node::StaticKeyResolver keys({});
  std::unique_ptr<node::Ledger> ledger = Must(
      node::Ledger::Open(&store, &key, kOrigin, &keys, node::Clock::Real(), nullptr), "ledger");
  const node::Ledger::LogState log = ledger->Log(kOrigin);
  if (log.size != n) Die(absl::StrCat("ledger restored a log of ", log.size, ", want ", n));
  node::Transparency transparency(kOrigin, &key, /*roster=*/nullptr, ledger.get(), &store,
                                  node::Clock::Real(), {});
  if (Must(transparency.RootAt(kOrigin, n), "root") != log.root) {
    Die("the stored log's root differs from the ledger's");
  }

  // Reference: point reads of random stored nodes.
  {
    const int levels = static_cast<int>(std::floor(std::log2(static_cast<double>(n))));
    std::vector<double> us;
    for (int i = 0; i < proofs; ++i) {
      const int level = static_cast<int>(rng() % (levels + 1));
      const uint64_t index = rng() % (n >> level);
      const auto t = SteadyClock::now();
      auto h = store.GetLogNode(kOrigin, level, index);
      us.push_back(SecondsSince(t) * 1e6);
      if (!h.ok() || !h->has_value()) Die(absl::StrCat("node ", level, "/", index, " missing"));
    }
    r.point_read_us = Median(us);
  }

  // Inclusion proofs.
  {
    std::vector<double> us, hashes;
    std::vector<std::pair<uint64_t, std::vector<std::string>>> timed;
    const int64_t reads_before = store.log_node_reads();
    for (int i = 0; i < proofs; ++i) {
      const uint64_t index = rng() % n;
      const auto t = SteadyClock::now();
      std::vector<std::string> proof =
          Must(transparency.InclusionProof(kOrigin, index, n), "inclusion proof");
      us.push_back(SecondsSince(t) * 1e6);
      hashes.push_back(proof.size());
      timed.emplace_back(index, std::move(proof));
    }
    r.incl_reads = static_cast<double>(store.log_node_reads() - reads_before) / proofs;
    for (const auto& [index, proof] : timed) {
      absl::Status st = certs::VerifyInclusion(index, n, Leaf(index + 1), proof, log.root);
      if (!st.ok()) Die(absl::StrCat("inclusion proof of ", index, " in ", n, ": ", st.ToString()));
    }
    r.incl_hashes_med = Median(hashes);
    r.incl_hashes_max = Max(hashes);
    r.incl_med_us = Median(us);
    r.incl_p99_us = Percentile(us, 99);
  }

  // Consistency proofs from a random smaller size.
  if (n > 1) {
    std::vector<double> us, hashes;
    std::vector<std::pair<uint64_t, std::vector<std::string>>> timed;
    const int64_t reads_before = store.log_node_reads();
    for (int i = 0; i < proofs; ++i) {
      const uint64_t m = 1 + rng() % (n - 1);
      const auto t = SteadyClock::now();
      std::vector<std::string> proof =
          Must(transparency.ConsistencyProof(kOrigin, m, n), "consistency proof");
      us.push_back(SecondsSince(t) * 1e6);
      hashes.push_back(proof.size());
      timed.emplace_back(m, std::move(proof));
    }
    r.cons_reads = static_cast<double>(store.log_node_reads() - reads_before) / proofs;
    for (const auto& [m, proof] : timed) {
      const std::string root_m = Must(transparency.RootAt(kOrigin, m), "root at m");
      absl::Status st = certs::VerifyConsistency(m, n, proof, root_m, log.root);
      if (!st.ok()) Die(absl::StrCat("consistency proof ", m, " -> ", n, ": ", st.ToString()));
    }
    r.cons_hashes_med = Median(hashes);
    r.cons_hashes_max = Max(hashes);
    r.cons_med_us = Median(us);
    r.cons_p99_us = Percentile(us, 99);
  }
  return r;
}

// Median nanoseconds of one SHA-256 of 64 bytes (batches of 1,000).
double Sha256Ns() {
  std::string data(64, 'x');
  std::vector<double> ns;
  for (int b = 0; b < 200; ++b) {
    const auto t = SteadyClock::now();
    for (int i = 0; i < 1000; ++i) {
      data.replace(0, 32, certs::Sha256(data));  // keep it dependent
    }
    ns.push_back(SecondsSince(t) * 1e9 / 1000);
  }
  return Median(ns);
}

int Main(int argc, char** argv) {
  const bool smoke = HasFlag(argc, argv, "smoke");
  std::string max_flag = FlagValue(argc, argv, "max_n", FlagValue(argc, argv, "max-n", ""));
  uint64_t max_n = smoke ? 1024 : 1048576;
  if (!max_flag.empty() && !absl::SimpleAtoi(max_flag, &max_n)) {
    Die("--max_n=" + max_flag + " is not a number");
  }
  int proofs = smoke ? 200 : 2000;
  const std::string proofs_flag = FlagValue(argc, argv, "proofs", "");
  if (!proofs_flag.empty() && (!absl::SimpleAtoi(proofs_flag, &proofs) || proofs < 1)) {
    Die("--proofs=" + proofs_flag + " is not a positive number");
  }
  std::vector<uint64_t> sizes;
  for (absl::string_view s :
       absl::StrSplit(FlagValue(argc, argv, "sizes", "1024,16384,131072,1048576"), ',',
                      absl::SkipEmpty())) {
    uint64_t v = 0;
    if (!absl::SimpleAtoi(s, &v) || v < 1) Die(absl::StrCat("--sizes: ", s, " is not a size"));
    if (v <= max_n) sizes.push_back(v);
  }
  const std::string base = FlagValue(argc, argv, "dir", "");
  {
    TempDir probe(base);
    PrintMachineHeader(probe.path());
  }

  certs::SigningKey key = certs::SigningKey::Generate();
  v1::Alert a = SampleDraft(1);
  a.set_origin(kOrigin);
  a.set_sequence(1);
  a.mutable_issued_at()->set_seconds(1798761600);
  const std::string envelope =
      certs::SignEnvelope(a.SerializeAsString(), certs::kAlertPayloadType, key)
          .SerializeAsString();
  std::printf("every stored alert carries one real signed envelope of %zu bytes\n",
              envelope.size());

  const double sha_ns = Sha256Ns();
  std::printf("reference: one SHA-256 of 64 bytes = %.0f ns (median)\n\n", sha_ns);

  std::mt19937_64 rng(20250105);
  std::vector<SizeResult> results;
  for (uint64_t n : sizes) {
    results.push_back(MeasureSize(n, proofs, base, key, envelope, rng));
    const SizeResult& r = results.back();
    std::printf("n = %llu: store filled in %.1f s; %d proofs of each kind, all verified\n",
                static_cast<unsigned long long>(n), r.fill_s, proofs);
    std::fflush(stdout);
  }

  std::printf("\ninclusion proofs, Transparency::InclusionProof(origin, random index, n):\n");
  std::printf("%10s %7s %14s %12s %10s %10s %12s %14s %12s\n", "n", "log2 n", "hashes med/max",
              "reads/proof", "median us", "p99 us", "1 read us", "med / 1 read", "med / SHA");
  for (const SizeResult& r : results) {
    std::printf("%10llu %7.1f %8.0f/%-5.0f %12.1f %10.1f %10.1f %12.2f %14.1f %12.0f\n",
                static_cast<unsigned long long>(r.n), std::log2(static_cast<double>(r.n)),
                r.incl_hashes_med, r.incl_hashes_max, r.incl_reads, r.incl_med_us, r.incl_p99_us,
                r.point_read_us, r.incl_med_us / r.point_read_us,
                r.incl_med_us * 1000 / sha_ns);
  }
  std::printf("\nconsistency proofs, Transparency::ConsistencyProof(origin, random m < n, n):\n");
  std::printf("%10s %7s %14s %12s %10s %10s %12s %14s\n", "n", "log2 n", "hashes med/max",
              "reads/proof", "median us", "p99 us", "1 read us", "med / 1 read");
  for (const SizeResult& r : results) {
    std::printf("%10llu %7.1f %8.0f/%-5.0f %12.1f %10.1f %10.1f %12.2f %14.1f\n",
                static_cast<unsigned long long>(r.n), std::log2(static_cast<double>(r.n)),
                r.cons_hashes_med, r.cons_hashes_max, r.cons_reads, r.cons_med_us, r.cons_p99_us,
                r.point_read_us, r.cons_med_us / r.point_read_us);
  }
  if (results.size() >= 2) {
    const SizeResult& s = results.front();
    const SizeResult& l = results.back();
    std::printf("\nfrom n = %llu to n = %llu (x%.0f): log2 n x%.2f; inclusion median time x%.2f,"
                " reads x%.2f; consistency median time x%.2f, reads x%.2f\n",
                static_cast<unsigned long long>(s.n), static_cast<unsigned long long>(l.n),
                static_cast<double>(l.n) / s.n,
                std::log2(static_cast<double>(l.n)) / std::log2(static_cast<double>(s.n)),
                l.incl_med_us / s.incl_med_us, l.incl_reads / s.incl_reads,
                l.cons_med_us / s.cons_med_us, l.cons_reads / s.cons_reads);
  }
  std::printf("load average at end %.2f\n", LoadAverage1());
  return 0;
}

}  // namespace
}  // namespace watchfloor::bench

namespace {
constexpr char kUsage[] = R"(
proof_bench: inclusion and consistency proofs served from a node's stored
Merkle log (node::Transparency over a real SqliteAlertStore) are O(log n)
in size and time.

Usage: proof_bench [--sizes=1024,16384,131072,1048576] [--max_n=1048576]
                   [--proofs=2000] [--dir=/tmp]
       proof_bench --smoke   (a < 5 s check that everything works)
)";
}  // namespace

int main(int argc, char** argv) {
  watchfloor::bench::CheckFlags(argc, argv, kUsage, {"dir", "max_n", "proofs", "sizes", "smoke"});
  return watchfloor::bench::Main(argc, argv);
}
