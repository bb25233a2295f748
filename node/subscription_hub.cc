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
      Queue(ref, &matched, &wake);
    }
  }
  Wake(std::move(wake));
}

void SubscriptionHub::Queue(const AlertRef& ref, std::vector<Id>* matched,
                            std::vector<LiveSubscriber*>* wake) {
  matched->clear();
  index_.Match(ref->facts, matched);
  entitled_index_.Match(ref->FactsFor(true), matched);
  for (Id id : *matched) {
    auto it = live_.find(id);
    if (it == live_.end()) continue;
    Live& l = it->second;
    if (l.overflowed || (ref->mark.has_value() && !l.marks)) continue;
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
      wake->push_back(l.subscriber);
    }
  }
}

absl::StatusOr<AlertRef> SubscriptionHub::MarkRef(const Mark& mark) {
  absl::StatusOr<std::optional<StoredAlert>> stored = store_->Get(mark.alert_id);
  if (!stored.ok()) return stored.status();
  if (!stored->has_value()) return AlertRef();
  StoredAlert& s = **stored;
  // The co-signers that count at the mark, so that a replay matches it
  // exactly as the live tail did.
  s.cosigners.clear();
  if (s.envelope.signatures_size() > 1) {  // the origin's, then co-signatures
    absl::StatusOr<std::vector<Cosignature>> cosignatures =
        store_->Cosignatures(mark.alert_id);
    if (!cosignatures.ok()) return cosignatures.status();
    for (const Cosignature& c : *cosignatures) {
      if (c.position <= mark.cosignature_position) s.cosigners.push_back(c.node);
    }
  }
  s.cursor = mark.cursor;
  AlertRef made = MakeAlertRef(std::move(s), reader_);
  auto ref = std::make_shared<CommittedAlert>(*made);
  ref->mark = mark;
  return ref;
}

void SubscriptionHub::OnMarked(const std::vector<Mark>& marks) {
  {
    absl::MutexLock lock(&mu_);
    for (const Mark& m : marks) last_mark_cursor_ = std::max(last_mark_cursor_, m.cursor);
    bool any = false;
    for (const auto& [id, l] : live_) any = any || l.marks;
    if (!any) return;
  }
  // Facts outside the lock: a store read per mark, only while a subscriber
  // takes marks.
  std::vector<AlertRef> refs;
  bool unreadable = false;
  for (const Mark& m : marks) {
    absl::StatusOr<AlertRef> ref = MarkRef(m);
    if (!ref.ok() || *ref == nullptr) {
      unreadable = true;
      break;
    }
    refs.push_back(*std::move(ref));
  }
  std::vector<LiveSubscriber*> wake;
  std::vector<Id> matched;
  {
    absl::MutexLock lock(&mu_);
    if (unreadable) {
      // Never skip a mark: every subscriber that takes them ends with its
      // resume cursor and reads it from the store.
      for (auto& [id, l] : live_) {
        if (!l.marks || l.overflowed) continue;
        l.overflowed = true;
        l.queue.clear();
        if (l.armed) {
          l.armed = false;
          l.subscriber->Ref();
          wake.push_back(l.subscriber);
        }
      }
    } else {
      for (const AlertRef& ref : refs) Queue(ref, &matched, &wake);
    }
  }
  Wake(std::move(wake));
}

void SubscriptionHub::SetLastMarkCursor(uint64_t cursor) {
  absl::MutexLock lock(&mu_);
  last_mark_cursor_ = std::max(last_mark_cursor_, cursor);
}

absl::StatusOr<std::vector<AlertRef>> SubscriptionHub::ReadHistory(
    uint64_t after, size_t limit, bool marks) {
  absl::StatusOr<std::vector<StoredAlert>> rows = store_->ReadAfter(after, limit);
  if (!rows.ok()) return rows.status();
  if (!marks) {
    std::vector<AlertRef> out;
    out.reserve(rows->size());
    for (StoredAlert& s : *rows) out.push_back(MakeAlertRef(std::move(s), reader_));
    return out;
  }
  // With marks, only what the hub has heard of was committed whole, so
  // nothing beyond it is read: an alert committed between the two reads
  // could otherwise be skipped past by a mark read after it.
  uint64_t ceiling;
  {
    absl::MutexLock lock(&mu_);
    ceiling = std::max(last_cursor_, last_mark_cursor_);
  }
  absl::StatusOr<std::vector<Mark>> read = store_->ReadMarksAfter(after, limit);
  if (!read.ok()) return read.status();
  // Merged by cursor first; only the first `limit` of both together are
  // complete (each source gave its first `limit` rows), and only those are
  // made into refs.
  std::vector<AlertRef> out;
  size_t a = 0, m = 0;
  while (out.size() < limit) {
    const bool alert_left = a < rows->size() && (*rows)[a].cursor <= ceiling;
    const bool mark_left = m < read->size() && (*read)[m].cursor <= ceiling;
    if (!alert_left && !mark_left) break;
    if (alert_left && (!mark_left || (*rows)[a].cursor < (*read)[m].cursor)) {
      StoredAlert& s = (*rows)[a++];
      // As the live tail sees it, at commit: no co-signature yet (they
      // come later, as marks of their own).
      if (!s.cosigners.empty()) {
        const int keep = s.envelope.signatures_size() - static_cast<int>(s.cosigners.size());
        s.envelope.mutable_signatures()->DeleteSubrange(keep, static_cast<int>(s.cosigners.size()));
        s.cosigners.clear();
      }
      out.push_back(MakeAlertRef(std::move(s), reader_));
      continue;
    }
    const Mark& mark = (*read)[m++];
    absl::StatusOr<AlertRef> ref = MarkRef(mark);
    if (!ref.ok()) return ref.status();
    if (*ref == nullptr) {
      return absl::DataLossError(absl::StrCat("mark at cursor ", mark.cursor, " names alert ",
                                              mark.alert_id, ", which is not stored"));
    }
    out.push_back(*std::move(ref));
  }
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
                             uint64_t cursor, bool entitled, bool marks) {
  absl::MutexLock lock(&mu_);
  if (last_cursor_ > cursor || (marks && last_mark_cursor_ > cursor) || closed_) {
    return false;
  }
  Live& l = live_[id];
  l.subscriber = s;
  l.marks = marks;
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
