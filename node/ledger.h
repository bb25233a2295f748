// The Ledger is the only writer of a node's store. It owns the feed heads,
// assigns sequences, signs the node's own alerts, applies the feed rules to
// envelopes from elsewhere, and commits in batches so that concurrent callers
// share one fsync (group commit).
//
// Threading: Publish/Ingest may be called from any thread. Work is queued to
// one writer thread; `done` callbacks run on that thread after the batch is
// durable (or failed) and must not block. Ingested signatures are verified
// before queueing, on a small pool of verify threads owned by the Ledger
// (Options::verify_threads), so that even one calling thread keeps several
// cores verifying; the pool hands verified envelopes to the writer in call
// order. Offer, which answers at once, verifies on the caller's thread.
#ifndef WATCHFLOOR_NODE_LEDGER_H_
#define WATCHFLOOR_NODE_LEDGER_H_

#include <deque>
#include <functional>
#include <map>
#include <set>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "certs/keys.h"
#include "certs/merkle.h"
#include "metrics/metrics.h"
#include "node/alert_store.h"
#include "node/clock.h"
#include "node/key_resolver.h"
#include "node/node_keys.h"
#include "node/ordered_pool.h"
#include "node/sealing.h"
#include "watchfloor/v1/alert.pb.h"

namespace watchfloor::node {

struct PublishResult {
  uint64_t cursor = 0;
  std::string id;
  uint64_t sequence = 0;
  watchfloor::v1::Envelope envelope;
};

struct IngestResult {
  uint64_t cursor = 0;
  std::string id;
};

// Receives every committed batch, in commit order, on the writer thread.
using CommitListener =
    std::function<void(const std::vector<std::shared_ptr<const StoredAlert>>&)>;

class Ledger {
 public:
  struct Options {
    size_t max_batch = 1024;   // ops per transaction
    size_t max_queue = 16384;  // queued ops before RESOURCE_EXHAUSTED
    // A batch whose Append fails with UNAVAILABLE (the store's code for a
    // transient failure: SQLITE_BUSY, SQLITE_LOCKED, SQLITE_IOERR, a full
    // disk) is tried again up to this many more times, waiting
    // store_retry_backoff, then twice that, and so on (real time: the writer
    // thread sleeps). Nothing else is written meanwhile. Only when the
    // retries are used up, or for any other code, does the failure become
    // sticky (health()).
    int store_retries = 4;
    absl::Duration store_retry_backoff = absl::Milliseconds(20);
    // Threads that verify Ingest's envelopes. 0: none, each is verified on
    // the thread that calls Ingest (as before the pool existed). Negative:
    // one per hardware thread (std::thread::hardware_concurrency()), or none
    // on a single hardware thread, where a pool of one would only add a
    // hand-off (measured: docs/PERFORMANCE.md "Ingest"). At most max_queue
    // envelopes wait for or are in verification (RESOURCE_EXHAUSTED beyond),
    // apart from the writer's queue.
    int verify_threads = -1;
  };

  // Loads the feed heads and logs from `store` and then, last, starts the
  // writer thread. `store`, `key`, `keys` and `clock` must outlive the
  // Ledger. `key` signs as `origin`. Errors: those of ValidateOrigin, of the
  // store's reads, and DATA_LOSS when a feed has fewer stored alerts than
  // its head (the data file is damaged); nothing is written then.
  static absl::StatusOr<std::unique_ptr<Ledger>> Open(
      AlertStore* store, const certs::SigningKey* key, std::string origin,
      const KeyResolver* keys, Clock* clock, CommitListener listener,
      Options options);
  static absl::StatusOr<std::unique_ptr<Ledger>> Open(
      AlertStore* store, const certs::SigningKey* key, std::string origin,
      const KeyResolver* keys, Clock* clock, CommitListener listener) {
    return Open(store, key, std::move(origin), keys, clock,
                std::move(listener), Options());
  }

  // Stops accepting work, finishes what is queued, joins the writer (if
  // Open got as far as starting it).
  ~Ledger();

  // Validates and publishes a draft as this node's origin. `done` gets the
  // result once it is durable. A TLP AMBER+STRICT or RED draft is sealed
  // (SetSealer) before it is signed. Errors: INVALID_ARGUMENT from
  // validation (alert_validator.h), those of Sealer::Seal (FAILED_PRECONDITION
  // also without a sealer), INVALID_ARGUMENT if updates/cancels names
  // no alert of this origin, DATA_LOSS if this origin's own feed is forked,
  // RESOURCE_EXHAUSTED when the queue is full, UNAVAILABLE after a store
  // failure or during shutdown.
  void Publish(watchfloor::v1::Alert draft,
               std::function<void(absl::StatusOr<PublishResult>)> done);

  // Publish for the node's own drafts (node/key_epochs.h): the same, except
  // that the draft may carry a key_record (ValidateNodeDraft). Never for a
  // client's draft.
  void PublishNodeDraft(watchfloor::v1::Alert draft,
                        std::function<void(absl::StatusOr<PublishResult>)> done);

  // Ingest and Offer store the envelope with the origin's signature only:
  // any other signature it carries (a co-signature, or junk) is dropped
  // here; co-signatures are merged separately, verified
  // (StoreCosignatures).
  //
  // Verifies an already-signed envelope on the verify pool (or, with
  // Options::verify_threads 0, on the calling thread), then applies the
  // feed rules on the writer thread. The writer sees Ingest calls in the
  // order they were made (from one thread: call order; a feed sent in
  // order by one caller stays in order); an Offer, verified on its caller's
  // thread, may overtake Ingests still being verified. `done` runs exactly
  // once and must not block: on the writer thread once the feed rules and
  // the commit decided; for a failed verification on a pool thread (on the
  // calling thread without a pool); for a full verify queue or a shutdown
  // on the calling thread. Errors: INVALID_ARGUMENT (malformed envelope or
  // alert), UNAUTHENTICATED (unknown origin, or no valid signature by the
  // key that signs the alert's sequence of its origin: KeyResolver::FindAt,
  // read when the envelope is verified), ALREADY_EXISTS (id already stored),
  // FAILED_PRECONDITION (sequence beyond head+1: a gap), DATA_LOSS (fork or
  // broken chain: evidence is stored and the feed frozen; or the feed was
  // already forked), RESOURCE_EXHAUSTED, UNAVAILABLE.
  void Ingest(watchfloor::v1::Envelope envelope,
              std::function<void(absl::StatusOr<IngestResult>)> done);

  // Ingest with an early verdict, for gossip: verifies on the calling thread
  // and checks the id against the store and the queue. Returns OK if the
  // envelope verified and is new (it is queued; `done` will get the final
  // result after the commit, which may still be a feed-rule error), or the
  // error (ALREADY_EXISTS for a duplicate) without calling `done`.
  absl::Status Offer(watchfloor::v1::Envelope envelope,
                     std::function<void(absl::StatusOr<IngestResult>)> done);

  // The node's keys under the roster in force: each published alert is
  // signed with the key of its own sequence (FAILED_PRECONDITION, nothing
  // stored, if the node does not hold it). Without it the constructor's key
  // signs everything. Set before the first Publish; must outlive the Ledger.
  void SetSigningKeys(NodeKeys* keys) { signing_keys_ = keys; }

  // Seals this node's TLP AMBER+STRICT and RED alerts (on the writer thread,
  // after the header is filled, before signing). Without one such a draft
  // is refused FAILED_PRECONDITION. Set before the first Publish; must
  // outlive the Ledger.
  void SetSealer(const Sealer* sealer) { sealer_ = sealer; }
  // An alert staged in the transaction being built (not yet committed), for
  // a LinkCheck: its id and the parsed alert (a published one as signed).
  struct StagedAlert {
    std::string id;
    const watchfloor::v1::Alert* alert = nullptr;
  };
  // Judges the links of a draft (updates, cancels, reaction.target) on the
  // writer thread, after the Ledger's own check that updates/cancels name
  // an alert of this origin, against what is committed plus `staged` (the
  // alerts staged before it in the same transaction, in order). A non-OK
  // result refuses the draft with that status; nothing is stored.
  using LinkCheck = std::function<absl::Status(
      const watchfloor::v1::Alert& draft, const std::vector<StagedAlert>& staged)>;
  // Set before the first Publish; may be empty (no further check).
  void SetLinkCheck(LinkCheck check) { link_check_ = std::move(check); }

  // Judges a complete alert, on the writer thread, against what is
  // committed plus `staged`: a published one once signed-for fields are
  // filled and it is sealed (just before signing), an ingested one after
  // the feed rules (chain, gaps, forks) passed. A non-OK result refuses it
  // with that status; nothing is stored. Set before the first Publish or
  // Ingest; may be empty. (Key records' epoch order, node/key_epochs.h.)
  void SetStagedCheck(LinkCheck check) { staged_check_ = std::move(check); }
  // Stores co-signatures of stored alerts (docs/PROTOCOL.md section 23),
  // verified by the caller against the roster in force (certs/cosign.h):
  // the Ledger checks only that the alert is stored and whether each is
  // new. `done` gets, per co-signature in order, whether it was new (false:
  // already stored, or a duplicate earlier in the same call), once durable;
  // NOT_FOUND (nothing stored) if an alert is not stored;
  // RESOURCE_EXHAUSTED / UNAVAILABLE as Publish.
  void StoreCosignatures(std::vector<Cosignature> cosignatures,
                         std::function<void(absl::StatusOr<std::vector<bool>>)> done);
  absl::StatusOr<std::vector<bool>> StoreCosignaturesSync(
      std::vector<Cosignature> cosignatures);

  // Called on the writer thread with the co-signatures each commit made
  // new (never empty), after they are durable. Must not call back into the
  // Ledger's write path. Thread-safe to set.
  using CosignatureListener = std::function<void(const std::vector<Cosignature>&)>;
  void SetCosignatureListener(CosignatureListener listener);

  // Stores kExpired marks (node/alert_store.h Mark) in the cursor sequence;
  // one already stored for the same alert is skipped. `done` gets OK once
  // durable (after the mark listener saw the new ones); INVALID_ARGUMENT
  // (nothing stored) for a mark of another kind (the store writes
  // kCosigned marks itself); RESOURCE_EXHAUSTED / UNAVAILABLE as Publish.
  void StoreMarks(std::vector<Mark> marks, std::function<void(absl::Status)> done);
  absl::Status StoreMarksSync(std::vector<Mark> marks);

  // Called on the writer thread with the marks each commit wrote (never
  // empty; kCosigned for each new co-signature, kExpired as stored by
  // StoreMarks), in cursor order, as the store holds them, after the
  // commit listener saw the same commit's alerts and the co-signature
  // listener its co-signatures. Must not call back into the Ledger's write
  // path. Thread-safe to set.
  using MarkListener = std::function<void(const std::vector<Mark>&)>;
  void SetMarkListener(MarkListener listener);

  // Called on the writer thread with every piece of evidence once committed.
  void SetEvidenceListener(std::function<void(const Evidence&)> listener);

  // Called once, on the writer thread, when health() turns from OK to the
  // sticky store failure (the node reports NOT_SERVING from it). Must not
  // call back into the Ledger's write path; may be empty. Thread-safe to set.
  void SetFailureListener(std::function<void(const absl::Status&)> listener);

  // Blocking forms of the above.
  absl::StatusOr<PublishResult> PublishSync(watchfloor::v1::Alert draft);
  absl::StatusOr<IngestResult> IngestSync(watchfloor::v1::Envelope envelope);

  // True if an ingest of this id is queued or being committed. Thread-safe.
  bool InFlight(const std::string& id) const;

  // Stores a checkpoint note (none if checkpoint.origin is empty) and, for a
  // split view, its evidence, in the writer's next transaction; `done` gets the commit's status on the
  // writer thread. RESOURCE_EXHAUSTED / UNAVAILABLE as Publish.
  void StoreCheckpoint(StoredCheckpoint checkpoint,
                       std::optional<Evidence> evidence,
                       std::function<void(absl::Status)> done);

  // The committed size and root hash of an origin's Merkle log (the feed:
  // leaf i is the id of sequence i + 1). Size 0 and the empty root for an
  // unknown origin. Thread-safe.
  struct LogState {
    uint64_t size = 0;
    std::string root;  // 32 raw bytes
  };
  LogState Log(const std::string& origin) const;

  // The committed head of every known feed. Thread-safe.
  std::vector<FeedHead> Heads() const;
  // The committed head of this node's own feed. Thread-safe.
  FeedHead OwnHead() const;
  // The sequence of `origin`'s committed head, 0 for an unknown origin.
  // Thread-safe; one map lookup.
  uint64_t HeadSequence(const std::string& origin) const;
  // OK while the Ledger writes. After a store failure that retries did not
  // clear (see Options::store_retries) or that was not transient, the
  // failure: sticky until the node restarts, every write is refused with
  // UNAVAILABLE meanwhile, and the node must report itself NOT_SERVING
  // (health service) so that clients and peers go elsewhere. Thread-safe;
  // cheap (one mutex), so a health check may call it on every probe.
  absl::Status health() const;
  // health().ok(). Thread-safe.
  bool healthy() const { return health().ok(); }

  const std::string& origin() const { return origin_; }

  // absl::StatusCode values are 0..16.
  static constexpr int kStatusCodes = 17;
  // What the Ledger counts for the node's metrics (docs/OPERATIONS.md), each
  // a few relaxed atomics per operation or per batch; read at scrape time.
  struct Metrics {
    metrics::Counter published;  // this node's alerts, committed
    metrics::Counter ingested;   // other origins' alerts, committed
    // Publish and Ingest/Offer calls that failed, by absl::StatusCode (the
    // index), wherever they failed: validation, verification, the queue,
    // the feed rules, the store. Offer's ALREADY_EXISTS (a gossip
    // duplicate) included.
    metrics::Counter refused_publish[kStatusCodes];
    metrics::Counter refused_ingest[kStatusCodes];
    // From the call to the commit (durable, fsync done), of committed alerts.
    metrics::Histogram publish_seconds{metrics::LatencyBuckets()};
    metrics::Histogram ingest_seconds{metrics::LatencyBuckets()};
    // Operations (alerts, checkpoints) per group-commit transaction, and how
    // long each transaction's store write took, fsync and retries included.
    metrics::Histogram batch_ops{metrics::BatchSizeBuckets()};
    metrics::Histogram commit_seconds{metrics::LatencyBuckets()};
  };
  // Thread-safe (every member is).
  const Metrics& metrics() const { return metrics_; }

 private:
  struct Op;
  struct Batch;

  Ledger(AlertStore* store, const certs::SigningKey* key, std::string origin,
         const KeyResolver* keys, Clock* clock, CommitListener listener,
         Options options);
  // Queues `op`; false (with `*reject` set) if it cannot be queued.
  bool Enqueue(std::unique_ptr<Op>& op, absl::Status* reject);
  bool EnqueueLocked(std::unique_ptr<Op>& op, absl::Status* reject)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Counts `st` as a refusal of `op` (Metrics), then fails it.
  void Fail(Op& op, absl::Status st);
  static void CountRefused(metrics::Counter* by_code, const absl::Status& st);
  // Offer without the counting.
  absl::Status OfferOrRefuse(watchfloor::v1::Envelope envelope,
                             std::function<void(absl::StatusOr<IngestResult>)> done);
  void Enqueue(std::unique_ptr<Op> op);
  absl::Status Verify(watchfloor::v1::Envelope& envelope,
                      watchfloor::v1::Alert* alert) const;
  // Verify plus the alert id, for an ingest op holding its envelope.
  absl::Status VerifyIngest(Op& op) const;
  struct VerifyTask;
  // The verify pool's release: queues verified ops, fails the others, in
  // Ingest's call order.
  void ReleaseVerified(std::vector<std::unique_ptr<OrderedPool::Task>>& tasks);
  void WriterLoop();
  void ProcessBatch(std::vector<std::unique_ptr<Op>> ops);
  // store_->Append, tried again after transient failures (Options).
  absl::StatusOr<std::vector<uint64_t>> AppendWithRetry(const WriteSet& writes,
                                                        std::vector<Mark>* marks_written);
  void PublishValidated(watchfloor::v1::Alert draft,
                        absl::Status (*validate)(const watchfloor::v1::Alert&),
                        std::function<void(absl::StatusOr<PublishResult>)> done);
  absl::Status StagePublish(Op& op, Batch& batch);
  absl::Status StageIngest(Op& op, Batch& batch);
  absl::Status StageCosign(Op& op, Batch& batch);
  // Appends the batch's alerts to copies of their origins' logs and adds
  // the new perfect nodes to the batch.
  void StageLog(Batch& batch);
  // Rebuilds every origin's compact range from the store at open, writing
  // the perfect nodes of feeds stored before logs existed.
  absl::Status LoadLogs();

  AlertStore* const store_;
  const certs::SigningKey* const key_;
  NodeKeys* signing_keys_ = nullptr;
  const Sealer* sealer_ = nullptr;
  LinkCheck link_check_;
  LinkCheck staged_check_;
  const std::string origin_;
  const KeyResolver* const keys_;
  Clock* const clock_;
  const CommitListener listener_;
  const Options options_;

  mutable absl::Mutex mu_;
  std::deque<std::unique_ptr<Op>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status failure_ ABSL_GUARDED_BY(mu_);
  std::function<void(const absl::Status&)> failure_listener_ ABSL_GUARDED_BY(mu_);
  // Committed heads, by origin. Written by the writer thread under mu_.
  std::map<std::string, FeedHead> heads_ ABSL_GUARDED_BY(mu_);
  // Ids of ingest ops queued or being committed, for Offer's dedupe.
  std::set<std::string> in_flight_ ABSL_GUARDED_BY(mu_);
  std::function<void(const Evidence&)> evidence_listener_ ABSL_GUARDED_BY(mu_);
  CosignatureListener cosignature_listener_ ABSL_GUARDED_BY(mu_);
  MarkListener mark_listener_ ABSL_GUARDED_BY(mu_);
  // Each origin's Merkle log as committed (the compact range of its feed).
  std::map<std::string, certs::CompactRange> logs_ ABSL_GUARDED_BY(mu_);

  Metrics metrics_;
  // Null with Options::verify_threads 0. Destroyed (drained) before the
  // writer stops, so that what it verified is still committed.
  std::unique_ptr<OrderedPool> verify_pool_;
  std::thread writer_;
};

}  // namespace watchfloor::node

#endif  // WATCHFLOOR_NODE_LEDGER_H_
