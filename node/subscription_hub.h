// Fan-out of committed alerts to subscribers.
//
// A subscriber first replays history from the store at its own pace (costing
// the node nothing but a cursor), filtering as it reads. Once it has caught up
// with the last committed cursor it goes live: the hub registers its filters
// in a FilterIndex, and on each commit matches every alert once against the
// index and appends it to the queues of the matching subscribers. A live
// queue is bounded; a subscriber that lets it overflow is told it fell behind
// (and where to resume), so a slow subscriber never makes the node use
// unbounded memory and never slows the writer or the other subscribers.
#ifndef WATCHFLOOR_NODE_SUBSCRIPTION_HUB_H_
#define WATCHFLOOR_NODE_SUBSCRIPTION_HUB_H_

#include <atomic>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "node/alert_store.h"
#include "node/filter.h"
#include "node/filter_index.h"
#include "node/sealing.h"

namespace watchfloor::node {

// A sealed alert as this node opened it (or failed to), for the clients
// entitled to read it (node.proto SubscribeResponse.opened).
struct OpenedAlert {
  // OK, or why the node could not open it (SealedReader::Open's codes).
  absl::Status status;
  watchfloor::v1::Alert alert;  // when status is OK: header + content
  AlertFacts facts;             // of `alert`, when status is OK
};

// A stored alert with its filter facts, shared by every subscriber it goes to.
struct CommittedAlert {
  StoredAlert stored;
  // Of the alert as signed: a sealed alert's header only
  // (AlertFacts::content_sealed).
  AlertFacts facts;
  // Set iff the alert is sealed to this node's member (SealedReader::
  // ShouldOpen): opened once, here, for every entitled subscriber.
  std::shared_ptr<const OpenedAlert> opened;

  // The facts a subscriber matches: the opened alert's for one entitled to
  // read it (when it opened), the header's for everyone else.
  const AlertFacts& FactsFor(bool entitled) const {
    return entitled && opened != nullptr && opened->status.ok() ? opened->facts : facts;
  }

  // Set for a mark (node/alert_store.h): `stored` is then the alert the mark
  // names, with the mark's cursor and the co-signers that count at the
  // mark, so filters match it as they would that alert. Only subscribers
  // that asked for marks (incident events) get these.
  std::optional<Mark> mark;
};
using AlertRef = std::shared_ptr<const CommittedAlert>;
// What the Ledger hands over on commit.
using StoredRef = std::shared_ptr<const StoredAlert>;

// A live subscriber. Reference-counted so that the hub can call OnLive()
// outside its lock while the subscriber may be finishing on another thread.
class LiveSubscriber {
 public:
  virtual ~LiveSubscriber() = default;
  // Called on the hub's wake-up thread, once after each TakeLive() that armed
  // a wake-up, when the subscriber's queue has alerts or overflowed, or the
  // hub closed. Never on the Ledger's writer thread: what a subscriber does
  // when woken (copy, serialise and send an alert) must not delay commits.
  // Must not block: it delays the other subscribers' wake-ups.
  virtual void OnLive() = 0;

  void Ref() { refs_.fetch_add(1, std::memory_order_relaxed); }
  void Unref() {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

 private:
  std::atomic<int> refs_{1};
};

class SubscriptionHub {
 public:
  struct Options {
    size_t max_queue = 4096;  // queued live alerts per subscriber
  };
  using Id = FilterIndex::SubscriptionId;

  // `store` must outlive the hub. `last_cursor` is the store's highest cursor
  // at start. Starts the wake-up thread.
  SubscriptionHub(AlertStore* store, uint64_t last_cursor, Options options);
  SubscriptionHub(AlertStore* store, uint64_t last_cursor)
      : SubscriptionHub(store, last_cursor, Options()) {}
  // Delivers the wake-ups already handed over, then joins the wake-up thread.
  ~SubscriptionHub();

  // Opens sealed alerts addressed to this node's member as they are
  // committed or read from history (CommittedAlert::opened). Without one
  // (null) nothing is opened. Set before the first commit or read; must
  // outlive the hub.
  void SetSealedReader(const SealedReader* reader) { reader_ = reader; }

  // The Ledger's CommitListener: matches each alert against the live
  // subscribers' filters, queues it for the matching ones, and hands the
  // waiting ones to the wake-up thread (one handover per batch).
  void OnCommitted(const std::vector<StoredRef>& alerts);

  // The Ledger's MarkListener: queues each mark for the live subscribers
  // that take marks and whose filters match the alert it names.
  void OnMarked(const std::vector<Mark>& marks);

  // Where the store's marks end at start (AlertStore::LastMarkCursor); call
  // before the first subscriber that takes marks.
  void SetLastMarkCursor(uint64_t cursor);

  // Up to `limit` stored alerts with cursor > `after`, in cursor order, read
  // from the store (history); with `marks`, the stored marks merged in, in
  // the same order, up to what the hub has heard of, and each alert as the
  // live tail saw it at commit (without the co-signatures that came later
  // as marks). Thread-safe.
  absl::StatusOr<std::vector<AlertRef>> ReadHistory(uint64_t after, size_t limit,
                                                    bool marks = false);

  // The last cursor stored before `received_at_ms` (where a replay "since"
  // starts). Thread-safe.
  absl::StatusOr<uint64_t> CursorBefore(int64_t received_at_ms);

  // Registers `s` as live after `cursor` iff no alert beyond `cursor` has been
  // committed yet; otherwise returns false and the caller reads more history.
  // From then on every committed alert that `matcher` matches is queued for
  // it. Takes a reference on `s` until Leave().
  // `entitled`: the subscriber may read this node's opened sealed alerts
  // (a client of this node's own member), so its filters match them on
  // their content (CommittedAlert::FactsFor).
  // `marks`: it takes marks too (read its history with marks as well);
  // then "committed beyond `cursor`" counts marks.
  bool GoLive(Id id, LiveSubscriber* s, std::shared_ptr<const Matcher> matcher,
              uint64_t cursor, bool entitled = false, bool marks = false);

  struct Take {
    std::vector<AlertRef> alerts;
    bool overflowed = false;  // the queue overflowed; alerts were dropped
    bool gone = false;        // `id` is not live (it left)
    bool closed = false;      // the hub is shutting down
  };
  // Takes up to `max` queued alerts of live subscriber `id`. If there are none
  // (and no overflow), arms a wake-up: OnLive() will be called once more
  // alerts are queued, and `*armed` is set.
  Take TakeLive(Id id, size_t max, bool* armed);

  // Unregisters `id` (live or not) and drops the hub's reference. Idempotent.
  // Returns true if the subscriber was waiting for OnLive(), which will now
  // never come: the caller must finish the subscriber itself.
  bool Leave(Id id);

  // A fresh subscription id, counted against the subscriber limit until
  // Quit(id); 0 if `max` subscribers are already counted.
  Id TryJoin(size_t max);
  // Leave(id), and stop counting it. Call exactly once per Join().
  void Quit(Id id);
  uint64_t last_cursor() const;

  // Shutting down: every live subscriber is woken and told (Take::closed),
  // and no one may go live any more. Idempotent.
  void Close();
  bool closed() const;
  size_t subscriber_count() const { return subscribers_.load(); }

  // The live subscribers' queues right now (for metrics). Thread-safe; takes
  // the hub's lock for one pass over the live subscribers.
  struct QueueStats {
    size_t live = 0;     // subscribers past their replay
    size_t queued = 0;   // alerts queued for them, all together
    size_t deepest = 0;  // the longest queue
  };
  QueueStats queue_stats() const;
  size_t max_queue() const { return options_.max_queue; }

 private:
  struct Live {
    LiveSubscriber* subscriber = nullptr;
    std::deque<AlertRef> queue;
    bool marks = false;  // takes marks
    bool overflowed = false;
    bool armed = false;
  };

  // Queues OnLive() calls for the wake-up thread; each subscriber Ref'd.
  void Wake(std::vector<LiveSubscriber*> subscribers);
  // Queues `ref` for the matching live subscribers (marks: only those that
  // take them); appends those to wake to `wake`.
  void Queue(const AlertRef& ref, std::vector<Id>* matched,
             std::vector<LiveSubscriber*>* wake) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The mark as a subscriber sees it (CommittedAlert::mark); nullptr if the
  // alert it names is not stored.
  absl::StatusOr<AlertRef> MarkRef(const Mark& mark);
  void WakeLoop();
  bool WakeReady() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(wake_mu_);

  AlertStore* const store_;
  const Options options_;
  mutable absl::Mutex mu_;
  uint64_t last_cursor_ ABSL_GUARDED_BY(mu_);
  uint64_t last_mark_cursor_ ABSL_GUARDED_BY(mu_) = 0;
  // Live subscribers' filters: those not entitled to opened alerts, matched
  // against header facts; and the entitled ones, matched against FactsFor.
  FilterIndex index_ ABSL_GUARDED_BY(mu_);
  FilterIndex entitled_index_ ABSL_GUARDED_BY(mu_);
  const SealedReader* reader_ = nullptr;
  std::map<Id, Live> live_ ABSL_GUARDED_BY(mu_);
  Id next_id_ ABSL_GUARDED_BY(mu_) = 1;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  std::atomic<size_t> subscribers_{0};

  mutable absl::Mutex wake_mu_;
  std::vector<LiveSubscriber*> wake_ ABSL_GUARDED_BY(wake_mu_);
  bool stop_waking_ ABSL_GUARDED_BY(wake_mu_) = false;
  std::thread waker_;  // last: starts after everything it uses
};

// Parses a stored envelope's payload into facts. Alerts in the store were
// validated on the way in, so an unparsable payload yields empty facts. With
// a `reader`, a sealed alert addressed to its member is opened too.
AlertRef MakeAlertRef(StoredAlert stored, const SealedReader* reader = nullptr);

}  // namespace watchfloor::node

#endif  // WATCHFLOOR_NODE_SUBSCRIPTION_HUB_H_
