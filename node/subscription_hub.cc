#include "node/subscription_hub.h"

#include <pthread.h>

#include <algorithm>
#include <utility>

#include "watchfloor/v1/alert.pb.h"

namespace watchfloor::node {

AlertRef MakeAlertRef(StoredAlert stored, const SealedReader* reader) {
  auto ref = std::make_shared<CommittedAlert>();
  watchfloor::v1::Alert alert;
  if (alert.ParseFromString(stored.envelope.payload())) {
    ref->facts = AlertFacts::From(alert);
    ref->facts.SetCosigners(stored.cosigners);
    if (reader != nullptr && reader->ShouldOpen(alert)) {
      auto opened = std::make_shared<OpenedAlert>();
      absl::StatusOr<watchfloor::v1::Alert> a = reader->Open(alert);
      if (a.ok()) {
        opened->alert = *std::move(a);
        opened->facts = AlertFacts::From(opened->alert);
        opened->facts.SetCosigners(stored.cosigners);
      } else {
        opened->status = a.status();
      }
      ref->opened = std::move(opened);
    }
  }
  ref->stored = std::move(stored);
  return ref;
}

SubscriptionHub::SubscriptionHub(AlertStore* store, uint64_t last_cursor,
                                 Options options)
    : store_(store),
      options_(options),
      last_cursor_(last_cursor),
      waker_([this] { WakeLoop(); }) {
  // Named for top -H, perf and the benchmarks (bench/subscription_bench.cc).
  pthread_setname_np(waker_.native_handle(), "wf-hub-wake");
}

SubscriptionHub::~SubscriptionHub() {
  {
    absl::MutexLock lock(&wake_mu_);
    stop_waking_ = true;
  }
  waker_.join();
}

void SubscriptionHub::Wake(std::vector<LiveSubscriber*> subscribers) {
  if (subscribers.empty()) return;
  absl::MutexLock lock(&wake_mu_);
  wake_.insert(wake_.end(), subscribers.begin(), subscribers.end());
}

bool SubscriptionHub::WakeReady() const {
  return !wake_.empty() || stop_waking_;
}

// The writer thread only queues alerts; waking a subscriber means, for a
// stream, copying, serialising and sending the next alert (a sendmsg(2)),
// which at ten matches per alert cost the writer more than signing and
// committing the alert (docs/PERFORMANCE.md, "Filtered subscriptions").
void SubscriptionHub::WakeLoop() {
  std::vector<LiveSubscriber*> batch;
  for (;;) {
    {
      absl::MutexLock lock(&wake_mu_);
      wake_mu_.Await(absl::Condition(this, &SubscriptionHub::WakeReady));
      if (wake_.empty()) return;  // stopping, and nothing left to deliver
      batch.swap(wake_);
    }
    for (LiveSubscriber* s : batch) {
      s->OnLive();
      s->Unref();
    }
    batch.clear();
  }
}

void SubscriptionHub::OnCommitted(const std::vector<StoredRef>& alerts) {
  // Facts are computed once per alert, outside the lock.
  std::vector<AlertRef> refs;
  refs.reserve(alerts.size());
  for (const StoredRef& a : alerts) refs.push_back(MakeAlertRef(*a, reader_));

  std::vector<LiveSubscriber*> wake;
  std::vector<Id> matched;
  {
    absl::MutexLock lock(&mu_);
    for (const AlertRef& ref : refs) {
      last_cursor_ = std::max(last_cursor_, ref->stored.cursor);
      if (live_.empty()) continue;
      matched.clear();
      index_.Match(ref->facts, &matched);
      entitled_index_.Match(ref->FactsFor(true), &matched);
      for (Id id : matched) {
        auto it = live_.find(id);
        if (it == live_.end()) continue;
        Live& l = it->second;
        if (l.overflowed) continue;
        if (l.queue.size() >= options_.max_queue) {
          // Free the memory now; the subscriber resumes from the store.
          l.overflowed = true;
          l.queue.clear();
        } else {
          l.queue.push_back(ref);
        }
        if (l.armed) {
          l.armed = false;
          l.subscriber->Ref();
          wake.push_back(l.subscriber);
        }
      }
    }
  }
  Wake(std::move(wake));
}

absl::StatusOr<std::vector<AlertRef>> SubscriptionHub::ReadHistory(
    uint64_t after, size_t limit) {
  absl::StatusOr<std::vector<StoredAlert>> rows = store_->ReadAfter(after, limit);
  if (!rows.ok()) return rows.status();
  std::vector<AlertRef> out;
  out.reserve(rows->size());
  for (StoredAlert& s : *rows) out.push_back(MakeAlertRef(std::move(s), reader_));
  return out;
}

absl::StatusOr<uint64_t> SubscriptionHub::CursorBefore(int64_t received_at_ms) {
  absl::StatusOr<std::optional<uint64_t>> first =
      store_->FirstCursorSince(received_at_ms);
  if (!first.ok()) return first.status();
  if (!first->has_value()) return last_cursor();
  return **first - 1;
}

bool SubscriptionHub::GoLive(Id id, LiveSubscriber* s,
                             std::shared_ptr<const Matcher> matcher,
                             uint64_t cursor, bool entitled) {
  absl::MutexLock lock(&mu_);
  if (last_cursor_ > cursor || closed_) return false;
  Live& l = live_[id];
  l.subscriber = s;
  s->Ref();
  (entitled ? entitled_index_ : index_).Add(id, std::move(matcher));
  return true;
}

SubscriptionHub::Take SubscriptionHub::TakeLive(Id id, size_t max, bool* armed) {
  Take out;
  *armed = false;
  absl::MutexLock lock(&mu_);
  if (closed_) {
    out.closed = true;
    return out;
  }
  auto it = live_.find(id);
  if (it == live_.end()) {
    out.gone = true;
    return out;
  }
  Live& l = it->second;
  if (l.overflowed) {
    out.overflowed = true;
    return out;
  }
  while (!l.queue.empty() && out.alerts.size() < max) {
    out.alerts.push_back(std::move(l.queue.front()));
    l.queue.pop_front();
  }
  if (out.alerts.empty()) {
    l.armed = true;
    *armed = true;
  }
  return out;
}

bool SubscriptionHub::Leave(Id id) {
  LiveSubscriber* drop = nullptr;
  bool was_armed = false;
  {
    absl::MutexLock lock(&mu_);
    auto it = live_.find(id);
    if (it != live_.end()) {
      drop = it->second.subscriber;
      was_armed = it->second.armed;
      index_.Remove(id);
      entitled_index_.Remove(id);
      live_.erase(it);
    }
  }
  if (drop != nullptr) drop->Unref();
  return was_armed;
}

void SubscriptionHub::Quit(Id id) {
  Leave(id);
  subscribers_.fetch_sub(1);
}

SubscriptionHub::Id SubscriptionHub::TryJoin(size_t max) {
  size_t n = subscribers_.load();
  do {
    if (n >= max) return 0;
  } while (!subscribers_.compare_exchange_weak(n, n + 1));
  absl::MutexLock lock(&mu_);
  return next_id_++;
}

void SubscriptionHub::Close() {
  std::vector<LiveSubscriber*> wake;
  {
    absl::MutexLock lock(&mu_);
    if (closed_) return;
    closed_ = true;
    for (auto& [id, l] : live_) {
      if (l.armed) {
        l.armed = false;
        l.subscriber->Ref();
        wake.push_back(l.subscriber);
      }
    }
  }
  Wake(std::move(wake));
}

bool SubscriptionHub::closed() const {
  absl::MutexLock lock(&mu_);
  return closed_;
}

SubscriptionHub::QueueStats SubscriptionHub::queue_stats() const {
  absl::MutexLock lock(&mu_);
  QueueStats out;
  for (const auto& [id, live] : live_) {
    ++out.live;
    out.queued += live.queue.size();
    out.deepest = std::max(out.deepest, live.queue.size());
  }
  return out;
}

uint64_t SubscriptionHub::last_cursor() const {
  absl::MutexLock lock(&mu_);
  return last_cursor_;
}

}  // namespace watchfloor::node
