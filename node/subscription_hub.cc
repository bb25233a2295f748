#include "node/subscription_hub.h"

#include <algorithm>
#include <utility>

namespace watchfloor::node {

SubscriptionHub::SubscriptionHub(AlertStore* store, uint64_t last_cursor,
                                 size_t ring_capacity)
    : store_(store), ring_capacity_(ring_capacity), last_cursor_(last_cursor) {}

void SubscriptionHub::OnCommitted(const std::vector<AlertRef>& alerts) {
  std::vector<Waiter*> wake;
  {
    absl::MutexLock lock(&mu_);
    for (const AlertRef& a : alerts) {
      ring_.push_back(a);
      last_cursor_ = std::max(last_cursor_, a->cursor);
    }
    while (ring_.size() > ring_capacity_) ring_.pop_front();
    wake.assign(parked_.begin(), parked_.end());
    parked_.clear();
  }
  // Park() took a reference for us; the waiter stays alive until Unref().
  for (Waiter* w : wake) {
    w->OnNewData();
    w->Unref();
  }
}

absl::StatusOr<std::vector<AlertRef>> SubscriptionHub::ReadAfter(
    uint64_t after, size_t limit) {
  {
    absl::MutexLock lock(&mu_);
    if (after >= last_cursor_) return std::vector<AlertRef>();
    if (!ring_.empty() && ring_.front()->cursor <= after + 1) {
      auto it = std::upper_bound(
          ring_.begin(), ring_.end(), after,
          [](uint64_t c, const AlertRef& a) { return c < a->cursor; });
      std::vector<AlertRef> out;
      for (; it != ring_.end() && out.size() < limit; ++it) out.push_back(*it);
      return out;
    }
  }
  // Behind the ring: read history from the store without holding the lock.
  absl::StatusOr<std::vector<StoredAlert>> rows = store_->ReadAfter(after, limit);
  if (!rows.ok()) return rows.status();
  std::vector<AlertRef> out;
  out.reserve(rows->size());
  for (StoredAlert& s : *rows) {
    out.push_back(std::make_shared<const StoredAlert>(std::move(s)));
  }
  return out;
}

bool SubscriptionHub::Park(Waiter* w, uint64_t after) {
  absl::MutexLock lock(&mu_);
  if (last_cursor_ > after) return false;
  if (parked_.insert(w).second) w->Ref();
  return true;
}

bool SubscriptionHub::Unpark(Waiter* w) {
  bool was_parked;
  {
    absl::MutexLock lock(&mu_);
    was_parked = parked_.erase(w) == 1;
  }
  if (was_parked) w->Unref();
  return was_parked;
}

uint64_t SubscriptionHub::last_cursor() const {
  absl::MutexLock lock(&mu_);
  return last_cursor_;
}

}  // namespace watchfloor::node
