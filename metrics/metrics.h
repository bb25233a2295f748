// Hot-path metric primitives: a counter and a histogram, each a few relaxed
// atomics, no lock and no allocation per update. They hold numbers only; the
// registry (metrics/registry.h) names them and renders them at scrape time.
//
// Most of the node's figures are not counted here at all: they already
// exist (Gossip::stats(), Transparency::stats(), ...) and are read when a
// scraper asks. These primitives are for what nothing counted before.
#ifndef WATCHFLOOR_METRICS_METRICS_H_
#define WATCHFLOOR_METRICS_METRICS_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

namespace watchfloor::metrics {

// A monotonically increasing count. Thread-safe, lock-free.
class Counter {
 public:
  void Inc(uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  uint64_t value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

// Observations sorted into fixed buckets, with their sum. Thread-safe,
// lock-free: Observe is one bucket increment and one compare-and-swap loop on
// the sum. A snapshot taken while others observe may see an observation in
// its bucket but not yet in the sum; each bucket and the count are always
// consistent with each other (the count is the buckets' total).
class Histogram {
 public:
  // `upper_bounds`: finite, strictly ascending inclusive upper bounds (the
  // `le` labels); the +Inf bucket is implicit. Dies on bad bounds: they are
  // constants chosen by the programmer.
  explicit Histogram(std::vector<double> upper_bounds);

  void Observe(double value);

  struct Snapshot {
    std::vector<double> upper_bounds;  // as given, without +Inf
    // Per bucket, not cumulative: counts[i] observations fell in
    // (upper_bounds[i-1], upper_bounds[i]]; counts.back() is the +Inf bucket.
    std::vector<uint64_t> counts;
    double sum = 0;
    uint64_t count = 0;  // sum of counts
  };
  Snapshot snapshot() const;

 private:
  const std::vector<double> upper_bounds_;
  const std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // bounds + 1
  std::atomic<double> sum_{0};
};

// Bucket bounds in seconds from 50 us to 10 s, about 2.5x apart: publish,
// ingest and commit latencies on anything from tmpfs to a slow disk.
std::vector<double> LatencyBuckets();
// 1, 2, 4, ... 1024: group-commit batch sizes (Ledger::Options::max_batch).
std::vector<double> BatchSizeBuckets();

}  // namespace watchfloor::metrics

#endif  // WATCHFLOOR_METRICS_METRICS_H_
