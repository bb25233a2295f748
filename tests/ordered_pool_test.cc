// OrderedPool: tasks run concurrently, come back in submission order, each
// once; the pending bound; the destructor drains.
#include "node/ordered_pool.h"

#include <atomic>
#include <memory>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace watchfloor::node {
namespace {

// Sleeps `sleep`, after waiting for `gate` if given; records the most
// tasks running at once.
struct SleepTask final : OrderedPool::Task {
  SleepTask(int index, absl::Duration sleep, std::atomic<int>* running,
            std::atomic<int>* max_running, absl::Notification* gate = nullptr)
      : index(index), sleep(sleep), running(running), max_running(max_running), gate(gate) {}
  void Run() override {
    const int now = ++*running;
    int seen = max_running->load();
    while (now > seen && !max_running->compare_exchange_weak(seen, now)) {
    }
    if (gate != nullptr) gate->WaitForNotification();
    absl::SleepFor(sleep);
    --*running;
    ran = true;
  }
  const int index;
  const absl::Duration sleep;
  std::atomic<int>* const running;
  std::atomic<int>* const max_running;
  absl::Notification* const gate;
  bool ran = false;
};

// What the release saw, in order, and whether calls ever overlapped.
struct Released {
  void Add(std::vector<std::unique_ptr<OrderedPool::Task>>& tasks) {
    const int inside = ++calls_inside;
    overlapped = overlapped || inside > 1;
    {
      absl::MutexLock lock(&mu);
      for (auto& t : tasks) {
        auto& task = static_cast<SleepTask&>(*t);
        EXPECT_TRUE(task.ran) << task.index;
        order.push_back(task.index);
      }
    }
    --calls_inside;
  }
  absl::Mutex mu;
  std::vector<int> order;
  std::atomic<int> calls_inside{0};
  std::atomic<bool> overlapped{false};
};

TEST(OrderedPoolTest, ReleasesInSubmissionOrderWhateverOrderTasksFinishIn) {
  Released released;
  std::atomic<int> running{0}, max_running{0};
  constexpr int kN = 200;
  {
    OrderedPool pool(4, [&](auto& tasks) { released.Add(tasks); });
    for (int i = 0; i < kN; ++i) {
      // Every fourth task is slow, so later ones finish before it.
      std::unique_ptr<OrderedPool::Task> task = std::make_unique<SleepTask>(
          i, absl::Microseconds(i % 4 == 0 ? 2000 : 50), &running, &max_running);
      ASSERT_EQ(pool.Submit(task, kN), OrderedPool::Submitted::kQueued);
      EXPECT_EQ(task, nullptr);
    }
  }  // drains
  std::vector<int> want(kN);
  for (int i = 0; i < kN; ++i) want[i] = i;
  EXPECT_EQ(released.order, want);
  EXPECT_GT(max_running.load(), 1);
  EXPECT_FALSE(released.overlapped.load());
}

TEST(OrderedPoolTest, FullPoolRefusesAndKeepsTheTask) {
  Released released;
  std::atomic<int> running{0}, max_running{0};
  absl::Notification gate;
  {
    OrderedPool pool(1, [&](auto& tasks) { released.Add(tasks); });
    for (int i = 0; i < 3; ++i) {
      std::unique_ptr<OrderedPool::Task> task = std::make_unique<SleepTask>(
          i, absl::ZeroDuration(), &running, &max_running, &gate);
      ASSERT_EQ(pool.Submit(task, 3), OrderedPool::Submitted::kQueued);
    }
    EXPECT_EQ(pool.pending(), 3u);
    std::unique_ptr<OrderedPool::Task> extra = std::make_unique<SleepTask>(
        3, absl::ZeroDuration(), &running, &max_running, &gate);
    EXPECT_EQ(pool.Submit(extra, 3), OrderedPool::Submitted::kFull);
    ASSERT_NE(extra, nullptr);  // still the caller's
    EXPECT_EQ(static_cast<SleepTask&>(*extra).index, 3);
    gate.Notify();
  }
  EXPECT_EQ(released.order, (std::vector<int>{0, 1, 2}));
  EXPECT_EQ(max_running.load(), 1);
}

TEST(OrderedPoolTest, DestructorRunsAndReleasesEverySubmittedTask) {
  Released released;
  std::atomic<int> running{0}, max_running{0};
  constexpr int kN = 500;
  {
    OrderedPool pool(2, [&](auto& tasks) { released.Add(tasks); });
    for (int i = 0; i < kN; ++i) {
      std::unique_ptr<OrderedPool::Task> task =
          std::make_unique<SleepTask>(i, absl::Microseconds(20), &running, &max_running);
      ASSERT_EQ(pool.Submit(task, kN), OrderedPool::Submitted::kQueued);
    }
    // Most are still queued when the destructor starts.
  }
  ASSERT_EQ(released.order.size(), static_cast<size_t>(kN));
  for (int i = 0; i < kN; ++i) EXPECT_EQ(released.order[i], i);
  EXPECT_EQ(running.load(), 0);
}

}  // namespace
}  // namespace watchfloor::node
