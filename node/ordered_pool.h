// OrderedPool runs tasks on a few threads and hands them back in the order
// they were submitted. The Ledger verifies ingested envelopes on one, so that
// Ingest calls from a single thread verify in parallel while the writer still
// sees them in call order (and so applies the feed rules exactly as if each
// had been verified on the caller's thread).
#ifndef WATCHFLOOR_NODE_ORDERED_POOL_H_
#define WATCHFLOOR_NODE_ORDERED_POOL_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "absl/synchronization/mutex.h"

namespace watchfloor::node {

class OrderedPool {
 public:
  // One unit of work. Run is called once, on a pool thread, with no lock
  // held; tasks run concurrently with each other.
  struct Task {
    virtual ~Task() = default;
    virtual void Run() = 0;
  };
  // Receives finished tasks, every task exactly once, in submission order,
  // a run of consecutive finished tasks per call. Calls never overlap (one
  // pool thread at a time makes them, with no lock of the pool held), so a
  // release may call Submit, but must not wait for a later task.
  using Release = std::function<void(std::vector<std::unique_ptr<Task>>&)>;

  // Starts `threads` (>= 1) threads.
  OrderedPool(int threads, Release release);
  OrderedPool(const OrderedPool&) = delete;
  OrderedPool& operator=(const OrderedPool&) = delete;
  // Stops taking tasks, runs and releases every task already submitted,
  // then joins the threads: when it returns, every accepted task has been
  // released and no pool thread touches `release` any more.
  ~OrderedPool();

  // Queues `task`, unless `max_pending` tasks are pending (kFull) or the
  // destructor has begun (kStopping); then `task` stays with the caller.
  // Thread-safe.
  enum class Submitted { kQueued, kFull, kStopping };
  Submitted Submit(std::unique_ptr<Task>& task, size_t max_pending);

  // Tasks submitted and not yet released (queued, running, or finished and
  // waiting for an earlier one). Thread-safe.
  size_t pending() const;

  int threads() const { return static_cast<int>(threads_.size()); }

 private:
  void Loop();

  const Release release_;
  mutable absl::Mutex mu_;
  absl::CondVar work_;
  // Submitted, not yet taken by a thread, with their tickets.
  std::deque<std::pair<uint64_t, std::unique_ptr<Task>>> queue_ ABSL_GUARDED_BY(mu_);
  // Finished, by ticket, waiting to be released.
  std::map<uint64_t, std::unique_ptr<Task>> finished_ ABSL_GUARDED_BY(mu_);
  uint64_t next_ticket_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t next_release_ ABSL_GUARDED_BY(mu_) = 0;
  // A thread is calling release_ (it keeps going while the next ticket is
  // finished, so a task finished meanwhile is never stranded).
  bool releasing_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace watchfloor::node

#endif  // WATCHFLOOR_NODE_ORDERED_POOL_H_
