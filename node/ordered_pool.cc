#include "node/ordered_pool.h"

#include <cassert>

namespace watchfloor::node {

OrderedPool::OrderedPool(int threads, Release release) : release_(std::move(release)) {
  assert(threads >= 1);
  threads_.reserve(threads);
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Loop(); });
}

OrderedPool::~OrderedPool() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  work_.SignalAll();
  for (std::thread& t : threads_) t.join();
  // Every thread left Loop with the queue empty and nothing to release: the
  // last task to finish was released by its own thread or by the releasing
  // one, which re-checks before it stops.
  assert(finished_.empty());
}

OrderedPool::Submitted OrderedPool::Submit(std::unique_ptr<Task>& task,
                                           size_t max_pending) {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return Submitted::kStopping;
    if (next_ticket_ - next_release_ >= max_pending) return Submitted::kFull;
    queue_.emplace_back(next_ticket_++, std::move(task));
  }
  work_.Signal();
  return Submitted::kQueued;
}

size_t OrderedPool::pending() const {
  absl::MutexLock lock(&mu_);
  return static_cast<size_t>(next_ticket_ - next_release_);
}

void OrderedPool::Loop() {
  absl::MutexLock lock(&mu_);
  for (;;) {
    while (queue_.empty() && !stopping_) work_.Wait(&mu_);
    if (queue_.empty()) return;  // stopping and drained
    auto [ticket, task] = std::move(queue_.front());
    queue_.pop_front();
    mu_.Unlock();
    task->Run();
    mu_.Lock();
    finished_.emplace(ticket, std::move(task));
    if (releasing_) continue;  // that thread will release it in turn
    releasing_ = true;
    for (;;) {
      std::vector<std::unique_ptr<Task>> run;
      for (auto it = finished_.begin();
           it != finished_.end() && it->first == next_release_;
           it = finished_.erase(it)) {
        run.push_back(std::move(it->second));
        ++next_release_;
      }
      if (run.empty()) break;
      mu_.Unlock();
      release_(run);
      run.clear();  // destroy the tasks outside the lock as well
      mu_.Lock();
    }
    releasing_ = false;
  }
}

}  // namespace watchfloor::node
