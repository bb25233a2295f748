#include "node/ledger.h"

#include <algorithm>
#include <cassert>
#include <optional>
#include <set>
#include <thread>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "certs/dsse.h"
#include "certs/proto_check.h"
#include "certs/ids.h"
#include "certs/status_macros.h"
#include "node/alert_validator.h"

namespace watchfloor::node {

using watchfloor::v1::Alert;
using watchfloor::v1::Envelope;

struct Ledger::Op {
  enum class Kind { kPublish, kIngest, kCheckpoint, kCosign, kMark } kind;
  // kPublish: the draft. kIngest: the verified, parsed alert.
  Alert alert;
  // kIngest: the envelope as received and its id.
  Envelope envelope;
  std::string id;
  // kIngest: `id` is already in in_flight_ (Offer reserves it before it
  // looks in the store).
  bool reserved = false;
  std::function<void(absl::StatusOr<PublishResult>)> publish_done;
  std::function<void(absl::StatusOr<IngestResult>)> ingest_done;
  // kCheckpoint.
  StoredCheckpoint checkpoint;
  std::optional<Evidence> split_view;
  std::function<void(absl::Status)> checkpoint_done;
  // kCosign.
  std::vector<Cosignature> cosignatures;
  std::vector<bool> cosign_new;
  std::function<void(absl::StatusOr<std::vector<bool>>)> cosign_done;
  // kMark.
  std::vector<Mark> marks;
  std::function<void(absl::Status)> marks_done;

  // When Publish / Ingest / Offer was called (publish and ingest latency).
  absl::Time start;

  // Filled while staging.
  absl::Status status;
  int new_index = -1;  // index into Batch::alerts when staged for append
  uint64_t sequence = 0;

  void Fail(absl::Status st) {
    if (kind == Kind::kPublish) {
      publish_done(std::move(st));
    } else if (kind == Kind::kIngest) {
      ingest_done(std::move(st));
    } else if (kind == Kind::kCosign) {
      cosign_done(std::move(st));
    } else if (kind == Kind::kMark) {
      marks_done(std::move(st));
    } else {
      checkpoint_done(std::move(st));
    }
  }
};

// What one transaction will write, plus the heads as they will be after it.
struct Ledger::Batch {
  Batch() = default;
  // `alerts` and `evidence` alias members of `writes`: a copy or move would
  // leave them naming the source's fields.
  Batch(const Batch&) = delete;
  Batch& operator=(const Batch&) = delete;

  WriteSet writes;
  std::vector<NewAlert>& alerts = writes.alerts;
  std::vector<Envelope> envelopes;  // parallel to alerts
  std::vector<Evidence>& evidence = writes.evidence;
  // Logs of the origins this batch appends to, as they will be after it.
  std::map<std::string, certs::CompactRange> logs;
  std::map<std::string, FeedHead> heads;  // tentative, copied from heads_
  std::set<std::string> ids;              // ids staged in this batch
  // (origin, sequence) -> index into alerts, for forks within one batch.
  std::map<std::pair<std::string, uint64_t>, int> by_position;
  // Every alert staged so far, in order, for the LinkCheck.
  std::vector<StagedAlert> staged;
  // (alert id, keyid) of the co-signatures staged in this batch.
  std::set<std::pair<std::string, std::string>> cosigned;
};

Ledger::Ledger(AlertStore* store, const certs::SigningKey* key,
               std::string origin, const KeyResolver* keys, Clock* clock,
               CommitListener listener, Options options)
    : store_(store),
      key_(key),
      origin_(std::move(origin)),
      keys_(keys),
      clock_(clock),
      listener_(std::move(listener)),
      options_(options) {}

absl::StatusOr<std::unique_ptr<Ledger>> Ledger::Open(
    AlertStore* store, const certs::SigningKey* key, std::string origin,
    const KeyResolver* keys, Clock* clock, CommitListener listener,
    Options options) {
  WF_RETURN_IF_ERROR(ValidateOrigin(origin));
  WF_ASSIGN_OR_RETURN(std::vector<FeedHead> heads, store->LoadHeads());
  std::unique_ptr<Ledger> ledger(new Ledger(store, key, std::move(origin), keys,
                                            clock, std::move(listener),
                                            options));
  {
    absl::MutexLock lock(&ledger->mu_);
    for (FeedHead& h : heads) {
      std::string o = h.origin;
      ledger->heads_[o] = std::move(h);
    }
  }
  WF_RETURN_IF_ERROR(ledger->LoadLogs());
  int verify_threads = options.verify_threads;
  if (verify_threads < 0) {
    // On one hardware thread a pool of one would only add a hand-off.
    verify_threads = static_cast<int>(std::thread::hardware_concurrency());
    if (verify_threads <= 1) verify_threads = 0;
  }
  if (verify_threads > 0) {
    ledger->verify_pool_ = std::make_unique<OrderedPool>(
        verify_threads, [l = ledger.get()](std::vector<std::unique_ptr<OrderedPool::Task>>& t) {
          l->ReleaseVerified(t);
        });
  }
  ledger->writer_ = std::thread([l = ledger.get()] { l->WriterLoop(); });
  return ledger;
}

Ledger::~Ledger() {
  // First the envelopes being verified: they are queued (or failed) before
  // the writer is told to stop, so it commits them with the rest.
  verify_pool_.reset();
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  // Open fails before starting the writer when the store cannot be loaded.
  if (writer_.joinable()) writer_.join();
}

bool Ledger::Enqueue(std::unique_ptr<Op>& op, absl::Status* reject) {
  absl::MutexLock lock(&mu_);
  return EnqueueLocked(op, reject);
}

bool Ledger::EnqueueLocked(std::unique_ptr<Op>& op, absl::Status* reject) {
  // A reservation made by Offer is given back whenever the op is refused.
  auto release = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (op->reserved) in_flight_.erase(op->id);
  };
  if (stopping_) {
    release();
    *reject = absl::UnavailableError("node is shutting down; retry on restart");
  } else if (!failure_.ok()) {
    release();
    *reject = absl::UnavailableError(absl::StrCat(
        "node stopped writing after a store failure: ", failure_.message(),
        "; fix the cause and restart the node"));
  } else if (queue_.size() >= options_.max_queue) {
    release();
    *reject = absl::ResourceExhaustedError(absl::StrCat(
        "node write queue is full (", options_.max_queue,
        " pending); retry with backoff"));
  } else if (op->kind == Op::Kind::kIngest && !op->reserved &&
             !in_flight_.insert(op->id).second) {
    *reject = absl::AlreadyExistsError(
        absl::StrCat("alert ", op->id, " is already being stored"));
  } else {
    queue_.push_back(std::move(op));
    return true;
  }
  return false;
}

void Ledger::Enqueue(std::unique_ptr<Op> op) {
  absl::Status reject;
  if (!Enqueue(op, &reject)) Fail(*op, std::move(reject));
}

void Ledger::CountRefused(metrics::Counter* by_code, const absl::Status& st) {
  by_code[static_cast<int>(st.code()) % kStatusCodes].Inc();
}

void Ledger::Fail(Op& op, absl::Status st) {
  if (op.kind == Op::Kind::kPublish) CountRefused(metrics_.refused_publish, st);
  if (op.kind == Op::Kind::kIngest) CountRefused(metrics_.refused_ingest, st);
  op.Fail(std::move(st));
}

void Ledger::SetFailureListener(std::function<void(const absl::Status&)> listener) {
  absl::MutexLock lock(&mu_);
  failure_listener_ = std::move(listener);
}

void Ledger::SetEvidenceListener(std::function<void(const Evidence&)> listener) {
  absl::MutexLock lock(&mu_);
  evidence_listener_ = std::move(listener);
}

void Ledger::Publish(Alert draft,
                     std::function<void(absl::StatusOr<PublishResult>)> done) {
  PublishValidated(std::move(draft), ValidateDraft, std::move(done));
}

void Ledger::PublishNodeDraft(Alert draft,
                              std::function<void(absl::StatusOr<PublishResult>)> done) {
  PublishValidated(std::move(draft), ValidateNodeDraft, std::move(done));
}

void Ledger::PublishValidated(Alert draft, absl::Status (*validate)(const Alert&),
                              std::function<void(absl::StatusOr<PublishResult>)> done) {
  const absl::Time start = absl::Now();
  absl::Status st = validate(draft);
  if (!st.ok()) {
    CountRefused(metrics_.refused_publish, st);
    done(std::move(st));
    return;
  }
  auto op = std::make_unique<Op>();
  op->kind = Op::Kind::kPublish;
  op->start = start;
  op->alert = std::move(draft);
  op->publish_done = std::move(done);
  Enqueue(std::move(op));
}

absl::Status Ledger::Verify(Envelope& envelope, Alert* alert) const {
  if (envelope.payload_type() != certs::kAlertPayloadType) {
    return absl::InvalidArgumentError(absl::StrCat(
        "envelope payloadType is \"", envelope.payload_type().substr(0, 80),
        "\"; expected ", certs::kAlertPayloadType));
  }
  if (envelope.payload().size() > kMaxAlertBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("envelope payload is ", envelope.payload().size(),
                     " bytes; the limit is ", kMaxAlertBytes));
  }
  WF_RETURN_IF_ERROR(certs::CheckNoUnknownFields(envelope, "envelope"));
  WF_RETURN_IF_ERROR(certs::ParseStrictly(envelope.payload(), "envelope payload", alert));
  WF_RETURN_IF_ERROR(ValidateOrigin(alert->origin()));
  // The key of this very sequence: after a key rotation the retired key
  // signs only the sequences before the switch (so a leaked old key cannot
  // extend the feed), the new key only those from it on.
  std::optional<certs::PublicKey> key = keys_->FindAt(alert->origin(), alert->sequence());
  if (!key.has_value()) {
    if (keys_->Find(alert->origin()).has_value()) {
      return absl::UnauthenticatedError(absl::StrCat(
          "no key of origin ", alert->origin(), " signs sequence ", alert->sequence(),
          " in the roster's key history"));
    }
    return absl::UnauthenticatedError(absl::StrCat(
        "origin ", alert->origin(),
        " is unknown to this node; add its public key to known_origins (or "
        "its node to the roster)"));
  }
  WF_ASSIGN_OR_RETURN(int verified, certs::VerifiedSignatureIndex(envelope, *key));
  WF_RETURN_IF_ERROR(ValidateSigned(*alert));
  // Only the origin's signature that verified is stored with the alert:
  // other signatures were checked by nobody yet (co-signatures are merged,
  // verified, apart), and another with the origin's keyid verified nothing
  // (kept, it would be served first to every reader of the alert).
  auto* sigs = envelope.mutable_signatures();
  if (verified != 0) sigs->SwapElements(0, verified);
  sigs->DeleteSubrange(1, sigs->size() - 1);
  return absl::OkStatus();
}

absl::Status Ledger::VerifyIngest(Op& op) const {
  WF_RETURN_IF_ERROR(Verify(op.envelope, &op.alert));
  op.id = certs::AlertId(op.envelope.payload());
  return absl::OkStatus();
}

// An ingest op on the verify pool. Everything that needs no feed state
// happens here.
struct Ledger::VerifyTask final : OrderedPool::Task {
  VerifyTask(const Ledger* ledger, std::unique_ptr<Op> op)
      : ledger(ledger), op(std::move(op)) {}
  void Run() override { status = ledger->VerifyIngest(*op); }

  const Ledger* const ledger;
  std::unique_ptr<Op> op;
  absl::Status status;
};

void Ledger::Ingest(Envelope envelope,
                    std::function<void(absl::StatusOr<IngestResult>)> done) {
  auto op = std::make_unique<Op>();
  op->kind = Op::Kind::kIngest;
  op->start = absl::Now();
  op->envelope = std::move(envelope);
  op->ingest_done = std::move(done);
  if (verify_pool_ == nullptr) {
    // Everything that needs no feed state happens on the caller's thread.
    absl::Status st = VerifyIngest(*op);
    if (!st.ok()) {
      Fail(*op, std::move(st));
      return;
    }
    Enqueue(std::move(op));
    return;
  }
  std::unique_ptr<OrderedPool::Task> task = std::make_unique<VerifyTask>(this, std::move(op));
  switch (verify_pool_->Submit(task, options_.max_queue)) {
    case OrderedPool::Submitted::kQueued:
      return;
    case OrderedPool::Submitted::kFull:
      Fail(*static_cast<VerifyTask&>(*task).op,
           absl::ResourceExhaustedError(absl::StrCat(
               "node verify queue is full (", options_.max_queue,
               " pending); retry with backoff")));
      return;
    case OrderedPool::Submitted::kStopping:
      Fail(*static_cast<VerifyTask&>(*task).op,
           absl::UnavailableError("node is shutting down; retry on restart"));
      return;
  }
}

void Ledger::ReleaseVerified(std::vector<std::unique_ptr<OrderedPool::Task>>& tasks) {
  // The whole run is queued under one lock (one wake-up of the writer); the
  // refusals are answered after it is released.
  {
    absl::MutexLock lock(&mu_);
    for (std::unique_ptr<OrderedPool::Task>& t : tasks) {
      VerifyTask& task = static_cast<VerifyTask&>(*t);
      if (task.status.ok() && EnqueueLocked(task.op, &task.status)) task.op.reset();
    }
  }
  for (std::unique_ptr<OrderedPool::Task>& t : tasks) {
    VerifyTask& task = static_cast<VerifyTask&>(*t);
    if (task.op != nullptr) Fail(*task.op, std::move(task.status));
  }
}

absl::Status Ledger::Offer(Envelope envelope,
                           std::function<void(absl::StatusOr<IngestResult>)> done) {
  absl::Status st = OfferOrRefuse(std::move(envelope), std::move(done));
  if (!st.ok()) CountRefused(metrics_.refused_ingest, st);
  return st;
}

absl::Status Ledger::OfferOrRefuse(Envelope envelope,
                                   std::function<void(absl::StatusOr<IngestResult>)> done) {
  auto op = std::make_unique<Op>();
  op->kind = Op::Kind::kIngest;
  op->start = absl::Now();
  WF_RETURN_IF_ERROR(Verify(envelope, &op->alert));
  op->id = certs::AlertId(envelope.payload());
  // Reserve the id before looking in the store. The writer commits before it
  // clears an id from in_flight_, so once the reservation holds, a copy that
  // was in flight is visible in the store; checking the store first would
  // let a copy committed in between be queued a second time.
  {
    absl::MutexLock lock(&mu_);
    if (!in_flight_.insert(op->id).second) {
      return absl::AlreadyExistsError(
          absl::StrCat("alert ", op->id, " is already being stored"));
    }
  }
  op->reserved = true;
  absl::StatusOr<std::optional<StoredAlert>> stored = store_->Get(op->id);
  if (!stored.ok() || stored->has_value()) {
    absl::MutexLock lock(&mu_);
    in_flight_.erase(op->id);
    if (!stored.ok()) return stored.status();
    return absl::AlreadyExistsError(absl::StrCat("alert ", op->id, " is already stored"));
  }
  op->envelope = std::move(envelope);
  op->ingest_done = std::move(done);
  absl::Status reject;
  if (!Enqueue(op, &reject)) return reject;
  return absl::OkStatus();
}

absl::StatusOr<PublishResult> Ledger::PublishSync(Alert draft) {
  absl::Notification n;
  absl::StatusOr<PublishResult> out;
  Publish(std::move(draft), [&](absl::StatusOr<PublishResult> r) {
    out = std::move(r);
    n.Notify();
  });
  n.WaitForNotification();
  return out;
}

absl::StatusOr<IngestResult> Ledger::IngestSync(Envelope envelope) {
  absl::Notification n;
  absl::StatusOr<IngestResult> out;
  Ingest(std::move(envelope), [&](absl::StatusOr<IngestResult> r) {
    out = std::move(r);
    n.Notify();
  });
  n.WaitForNotification();
  return out;
}

void Ledger::SetCosignatureListener(CosignatureListener listener) {
  absl::MutexLock lock(&mu_);
  cosignature_listener_ = std::move(listener);
}

void Ledger::StoreCosignatures(
    std::vector<Cosignature> cosignatures,
    std::function<void(absl::StatusOr<std::vector<bool>>)> done) {
  auto op = std::make_unique<Op>();
  op->kind = Op::Kind::kCosign;
  op->start = absl::Now();
  op->cosignatures = std::move(cosignatures);
  op->cosign_done = std::move(done);
  Enqueue(std::move(op));
}

absl::StatusOr<std::vector<bool>> Ledger::StoreCosignaturesSync(
    std::vector<Cosignature> cosignatures) {
  absl::Notification n;
  absl::StatusOr<std::vector<bool>> out;
  StoreCosignatures(std::move(cosignatures), [&](absl::StatusOr<std::vector<bool>> r) {
    out = std::move(r);
    n.Notify();
  });
  n.WaitForNotification();
  return out;
}

absl::Status Ledger::StageCosign(Op& op, Batch& batch) {
  // Judged whole: either every co-signature of the op is staged or none.
  std::vector<bool> is_new;
  std::set<std::pair<std::string, std::string>> seen;
  for (const Cosignature& c : op.cosignatures) {
    if (batch.ids.count(c.alert_id) == 0) {
      WF_ASSIGN_OR_RETURN(std::optional<StoredAlert> stored, store_->Get(c.alert_id));
      if (!stored.has_value()) {
        return absl::NotFoundError(absl::StrCat("alert ", c.alert_id,
                                                " is not stored at this node"));
      }
    }
    std::pair<std::string, std::string> key{c.alert_id, c.signature.keyid()};
    bool fresh = seen.insert(key).second && batch.cosigned.count(key) == 0;
    if (fresh) {
      WF_ASSIGN_OR_RETURN(std::vector<Cosignature> held, store_->Cosignatures(c.alert_id));
      for (const Cosignature& h : held) {
        if (h.signature.keyid() == c.signature.keyid()) fresh = false;
      }
    }
    is_new.push_back(fresh);
  }
  for (size_t i = 0; i < op.cosignatures.size(); ++i) {
    if (!is_new[i]) continue;
    const Cosignature& c = op.cosignatures[i];
    batch.cosigned.insert({c.alert_id, c.signature.keyid()});
    batch.writes.cosignatures.push_back(c);
  }
  op.cosign_new = std::move(is_new);
  return absl::OkStatus();
}

void Ledger::SetMarkListener(MarkListener listener) {
  absl::MutexLock lock(&mu_);
  mark_listener_ = std::move(listener);
}

void Ledger::StoreMarks(std::vector<Mark> marks, std::function<void(absl::Status)> done) {
  for (const Mark& m : marks) {
    if (m.kind != Mark::Kind::kExpired) {
      done(absl::InvalidArgumentError(absl::StrCat(
          "mark of alert ", m.alert_id,
          " is not an expiry; the store writes co-signature marks itself")));
      return;
    }
  }
  auto op = std::make_unique<Op>();
  op->kind = Op::Kind::kMark;
  op->start = absl::Now();
  op->marks = std::move(marks);
  op->marks_done = std::move(done);
  Enqueue(std::move(op));
}

absl::Status Ledger::StoreMarksSync(std::vector<Mark> marks) {
  absl::Notification n;
  absl::Status out;
  StoreMarks(std::move(marks), [&](absl::Status st) {
    out = std::move(st);
    n.Notify();
  });
  n.WaitForNotification();
  return out;
}

void Ledger::StoreCheckpoint(StoredCheckpoint checkpoint,
                             std::optional<Evidence> evidence,
                             std::function<void(absl::Status)> done) {
  auto op = std::make_unique<Op>();
  op->kind = Op::Kind::kCheckpoint;
  op->checkpoint = std::move(checkpoint);
  op->split_view = std::move(evidence);
  op->checkpoint_done = std::move(done);
  Enqueue(std::move(op));
}

Ledger::LogState Ledger::Log(const std::string& origin) const {
  absl::MutexLock lock(&mu_);
  LogState state;
  auto it = logs_.find(origin);
  if (it == logs_.end()) {
    state.root = certs::EmptyRoot();
  } else {
    state.size = it->second.size();
    state.root = it->second.Root();
  }
  return state;
}

void Ledger::StageLog(Batch& batch) {
  for (const NewAlert& a : batch.alerts) {
    auto it = batch.logs.find(a.origin);
    if (it == batch.logs.end()) {
      absl::MutexLock lock(&mu_);
      auto committed = logs_.find(a.origin);
      it = batch.logs
               .emplace(a.origin, committed == logs_.end() ? certs::CompactRange()
                                                           : committed->second)
               .first;
    }
    certs::CompactRange& log = it->second;
    // Feeds are stored without gaps, so the log is exactly the feed.
    assert(log.size() + 1 == a.sequence);
    const std::string leaf = absl::HexStringToBytes(a.id);
    log.Append(leaf, [&](int level, uint64_t index, const std::string& hash) {
      if (level == 0) return;  // the leaf is the alert id, stored with it
      batch.writes.log_nodes.push_back(LogNode{a.origin, level, index, hash});
    });
  }
}

absl::Status Ledger::LoadLogs() {
  std::map<std::string, FeedHead> heads;
  {
    absl::MutexLock lock(&mu_);
    heads = heads_;
  }
  for (const auto& entry : heads) {
    // Not a structured binding: a lambda below captures origin, which C++17
    // (and clang) does not allow for a binding.
    const std::string& origin = entry.first;
    const FeedHead& head = entry.second;
    if (head.sequence == 0) continue;
    // The perfect subtrees of a tree of `size` leaves, largest first: one
    // per set bit of size.
    std::vector<std::string> hashes;
    uint64_t begin = 0;
    bool complete = true;
    for (int level = 63; level >= 0; --level) {
      const uint64_t width = uint64_t{1} << level;
      if ((head.sequence & width) == 0) continue;
      WF_ASSIGN_OR_RETURN(std::optional<std::string> h,
                          store_->GetLogNode(origin, level, begin >> level));
      if (!h.has_value()) {
        complete = false;
        break;
      }
      hashes.push_back(std::move(*h));
      begin += width;
    }
    certs::CompactRange log;
    if (complete) {
      WF_ASSIGN_OR_RETURN(log, certs::CompactRange::FromHashes(head.sequence,
                                                               std::move(hashes)));
    } else {
      // A feed stored before this node kept logs: build its log once.
      WriteSet writes;
      constexpr uint64_t kPage = 4096;
      for (uint64_t from = 1; from <= head.sequence; from += kPage) {
        WF_ASSIGN_OR_RETURN(std::vector<std::string> ids,
                            store_->ReadIds(origin, from, from + kPage - 1));
        for (const std::string& id : ids) {
          const std::string leaf = absl::HexStringToBytes(id);
          log.Append(leaf, [&](int level, uint64_t index, const std::string& hash) {
            if (level > 0) writes.log_nodes.push_back(LogNode{origin, level, index, hash});
          });
        }
        // In pages: a large feed's nodes are written as they are built.
        // INSERT OR REPLACE makes a rebuild interrupted midway harmless.
        if (writes.log_nodes.size() >= kPage) {
          WF_RETURN_IF_ERROR(store_->Append(writes).status());
          writes.log_nodes.clear();
        }
      }
      if (log.size() != head.sequence) {
        return absl::DataLossError(absl::StrCat(
            "feed ", origin, " has ", log.size(), " stored alerts below its head ",
            head.sequence, "; the data file is damaged: restore it from a backup, or "
            "move it away to start empty and let peers send the feeds again"));
      }
      WF_RETURN_IF_ERROR(store_->Append(writes).status());
    }
    absl::MutexLock lock(&mu_);
    logs_[origin] = std::move(log);
  }
  return absl::OkStatus();
}

bool Ledger::InFlight(const std::string& id) const {
  absl::MutexLock lock(&mu_);
  return in_flight_.count(id) != 0;
}

std::vector<FeedHead> Ledger::Heads() const {
  absl::MutexLock lock(&mu_);
  std::vector<FeedHead> out;
  out.reserve(heads_.size());
  for (const auto& [origin, head] : heads_) out.push_back(head);
  return out;
}

uint64_t Ledger::HeadSequence(const std::string& origin) const {
  absl::MutexLock lock(&mu_);
  auto it = heads_.find(origin);
  return it == heads_.end() ? 0 : it->second.sequence;
}

FeedHead Ledger::OwnHead() const {
  absl::MutexLock lock(&mu_);
  auto it = heads_.find(origin_);
  if (it == heads_.end()) {
    FeedHead h;
    h.origin = origin_;
    return h;
  }
  return it->second;
}

absl::Status Ledger::health() const {
  absl::MutexLock lock(&mu_);
  return failure_;
}

void Ledger::WriterLoop() {
  for (;;) {
    std::vector<std::unique_ptr<Op>> ops;
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return !queue_.empty() || stopping_;
      };
      mu_.Await(absl::Condition(&ready));
      if (queue_.empty()) return;  // stopping and drained
      while (!queue_.empty() && ops.size() < options_.max_batch) {
        ops.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    ProcessBatch(std::move(ops));
  }
}

void Ledger::ProcessBatch(std::vector<std::unique_ptr<Op>> ops) {
  // Once the batch's outcome is decided its ids are no longer in flight, and
  // that must hold before any `done` runs: a caller that resends an envelope
  // as soon as it has its verdict would otherwise be told ALREADY_EXISTS
  // ("already being stored") for an alert that was not stored.
  auto clear_in_flight = [this, &ops]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (const auto& op : ops) {
      if (op->kind == Op::Kind::kIngest) in_flight_.erase(op->id);
    }
  };
  Batch batch;
  absl::Status failure;
  {
    absl::MutexLock lock(&mu_);
    batch.heads = heads_;
    failure = failure_;
    if (!failure.ok()) clear_in_flight();
  }
  if (!failure.ok()) {
    for (auto& op : ops) {
      Fail(*op, absl::UnavailableError(absl::StrCat(
          "node stopped writing after a store failure: ", failure.message())));
    }
    return;
  }
  const int64_t now_ms = absl::ToUnixMillis(clock_->Now());
  for (auto& op : ops) {
    switch (op->kind) {
      case Op::Kind::kPublish:
        op->status = StagePublish(*op, batch);
        break;
      case Op::Kind::kIngest:
        op->status = StageIngest(*op, batch);
        break;
      case Op::Kind::kCosign:
        op->status = StageCosign(*op, batch);
        break;
      case Op::Kind::kMark:
        for (const Mark& m : op->marks) batch.writes.marks.push_back(m);
        break;
      case Op::Kind::kCheckpoint:
        if (!op->checkpoint.origin.empty()) batch.writes.checkpoints.push_back(op->checkpoint);
        if (op->split_view.has_value()) batch.evidence.push_back(*op->split_view);
        break;
    }
  }
  StageLog(batch);
  for (NewAlert& a : batch.alerts) a.received_at_ms = now_ms;
  for (Evidence& e : batch.evidence) e.detected_at_ms = now_ms;

  std::vector<Mark> marks_written;  // in cursor order, as stored
  absl::StatusOr<std::vector<uint64_t>> cursors = std::vector<uint64_t>();
  if (!batch.alerts.empty() || !batch.evidence.empty() ||
      !batch.writes.checkpoints.empty() || !batch.writes.cosignatures.empty() ||
      !batch.writes.marks.empty()) {
    const absl::Time begin = absl::Now();
    cursors = AppendWithRetry(batch.writes, &marks_written);
    metrics_.commit_seconds.Observe(absl::ToDoubleSeconds(absl::Now() - begin));
    metrics_.batch_ops.Observe(static_cast<double>(ops.size()));
  }
  if (!cursors.ok()) {
    // Nothing of this batch is durable. Stop writing: later alerts would
    // chain onto state we could not persist.
    absl::Status st = cursors.status();
    std::function<void(const absl::Status&)> failure_listener;
    {
      absl::MutexLock lock(&mu_);
      failure_ = st;
      clear_in_flight();
      failure_listener = failure_listener_;
    }
    if (failure_listener) failure_listener(st);
    for (auto& op : ops) {
      Fail(*op, op->status.ok() ? absl::UnavailableError(absl::StrCat(
                                     "alert not stored: ", st.message()))
                               : op->status);
    }
    return;
  }
  std::function<void(const Evidence&)> evidence_listener;
  CosignatureListener cosignature_listener;
  MarkListener mark_listener;
  {
    absl::MutexLock lock(&mu_);
    heads_ = std::move(batch.heads);
    for (auto& [origin, log] : batch.logs) logs_[origin] = std::move(log);
    clear_in_flight();
    evidence_listener = evidence_listener_;
    if (!batch.writes.cosignatures.empty()) cosignature_listener = cosignature_listener_;
    mark_listener = mark_listener_;
  }
  if (evidence_listener) {
    for (const Evidence& e : batch.evidence) evidence_listener(e);
  }
  std::vector<std::shared_ptr<const StoredAlert>> committed;
  committed.reserve(batch.alerts.size());
  for (size_t i = 0; i < batch.alerts.size(); ++i) {
    auto s = std::make_shared<StoredAlert>();
    s->cursor = (*cursors)[i];
    s->id = batch.alerts[i].id;
    s->origin = batch.alerts[i].origin;
    s->sequence = batch.alerts[i].sequence;
    s->envelope = std::move(batch.envelopes[i]);
    committed.push_back(std::move(s));
  }
  if (listener_ && !committed.empty()) listener_(committed);
  if (cosignature_listener) cosignature_listener(batch.writes.cosignatures);
  if (mark_listener && !marks_written.empty()) mark_listener(marks_written);
  const absl::Time done_at = absl::Now();
  for (auto& op : ops) {
    if (!op->status.ok()) {
      Fail(*op, std::move(op->status));
      continue;
    }
    if (op->kind == Op::Kind::kCheckpoint) {
      op->checkpoint_done(absl::OkStatus());
      continue;
    }
    if (op->kind == Op::Kind::kCosign) {
      op->cosign_done(std::move(op->cosign_new));
      continue;
    }
    if (op->kind == Op::Kind::kMark) {
      op->marks_done(absl::OkStatus());
      continue;
    }
    const StoredAlert& s = *committed[op->new_index];
    const double seconds = absl::ToDoubleSeconds(done_at - op->start);
    if (op->kind == Op::Kind::kPublish) {
      metrics_.published.Inc();
      metrics_.publish_seconds.Observe(seconds);
      PublishResult r;
      r.cursor = s.cursor;
      r.id = s.id;
      r.sequence = s.sequence;
      r.envelope = s.envelope;
      op->publish_done(std::move(r));
    } else {
      metrics_.ingested.Inc();
      metrics_.ingest_seconds.Observe(seconds);
      IngestResult r;
      r.cursor = s.cursor;
      r.id = s.id;
      op->ingest_done(std::move(r));
    }
  }
}

absl::StatusOr<std::vector<uint64_t>> Ledger::AppendWithRetry(
    const WriteSet& writes, std::vector<Mark>* marks_written) {
  absl::Duration backoff = options_.store_retry_backoff;
  for (int attempt = 0;; ++attempt) {
    absl::StatusOr<std::vector<uint64_t>> cursors = store_->Append(writes, marks_written);
    // On error nothing was appended (AlertStore::Append), so the same
    // writes can be tried again.
    if (cursors.ok() || cursors.status().code() != absl::StatusCode::kUnavailable ||
        attempt >= options_.store_retries) {
      if (!cursors.ok() && attempt > 0) {
        return absl::Status(cursors.status().code(),
                            absl::StrCat(cursors.status().message(), " (", attempt + 1,
                                         " attempts)"));
      }
      return cursors;
    }
    absl::SleepFor(backoff);
    backoff *= 2;
  }
}

absl::Status Ledger::StagePublish(Op& op, Batch& batch) {
  FeedHead& head = batch.heads[origin_];
  head.origin = origin_;
  if (head.forked) {
    return absl::DataLossError(absl::StrCat(
        "this node's own feed ", origin_,
        " is forked (evidence stored): its key signed two histories; rotate "
        "the key and start a new origin"));
  }
  Alert& alert = op.alert;
  // A lifecycle link must name an earlier alert of this origin.
  for (const std::string* target : {&alert.updates(), &alert.cancels()}) {
    if (target->empty()) continue;
    bool found = false;
    for (const NewAlert& a : batch.alerts) {
      if (a.id == *target) found = a.origin == origin_;
    }
    if (!found) {
      WF_ASSIGN_OR_RETURN(std::optional<StoredAlert> stored, store_->Get(*target));
      found = stored.has_value() && stored->origin == origin_;
    }
    if (!found) {
      return absl::InvalidArgumentError(absl::StrCat(
          alert.updates().empty() ? "cancels" : "updates", " names alert ",
          *target, ", which is not in this node's feed ", origin_,
          "; an alert can only update or cancel its own origin's alerts"));
    }
  }
  if (link_check_) WF_RETURN_IF_ERROR(link_check_(alert, batch.staged));
  const certs::SigningKey* key = key_;
  if (signing_keys_ != nullptr) {
    WF_ASSIGN_OR_RETURN(key, signing_keys_->ForSequence(head.sequence + 1));
  }
  const absl::Time now = clock_->Now();
  alert.set_origin(origin_);
  alert.set_sequence(head.sequence + 1);
  alert.set_previous(head.id);
  const int64_t micros = absl::ToUnixMicros(now);
  alert.mutable_issued_at()->set_seconds(micros / 1000000);
  alert.mutable_issued_at()->set_nanos(static_cast<int32_t>(micros % 1000000) * 1000);
  if (IsSealedTlp(alert.tlp())) {
    // The content in clear is checked once more with its header, then
    // sealed; what is signed and stored is the sealed alert.
    WF_RETURN_IF_ERROR(ValidateOpened(alert));
    if (sealer_ == nullptr) {
      return absl::FailedPreconditionError(
          "TLP AMBER+STRICT and RED alerts are sealed to their recipients, and "
          "this node cannot seal (not in a federation); publish at AMBER or lower");
    }
    WF_ASSIGN_OR_RETURN(alert, sealer_->Seal(std::move(alert)));
  }
  // Re-check the fields only the node could fill (expiry vs issued_at), and
  // the sealed alert's shape and size.
  WF_RETURN_IF_ERROR(ValidateSigned(alert));
  if (staged_check_) WF_RETURN_IF_ERROR(staged_check_(alert, batch.staged));

  std::string payload;
  alert.SerializeToString(&payload);
  Envelope envelope = certs::SignEnvelope(payload, certs::kAlertPayloadType, *key);
  NewAlert na;
  na.id = certs::AlertId(payload);
  na.origin = origin_;
  na.sequence = alert.sequence();
  na.previous = alert.previous();
  na.issued_at_ms = micros / 1000;
  envelope.SerializeToString(&na.envelope);

  head.sequence = na.sequence;
  head.id = na.id;
  op.new_index = static_cast<int>(batch.alerts.size());
  batch.ids.insert(na.id);
  batch.by_position[{na.origin, na.sequence}] = op.new_index;
  batch.staged.push_back({na.id, &op.alert});
  batch.alerts.push_back(std::move(na));
  batch.envelopes.push_back(std::move(envelope));
  return absl::OkStatus();
}

absl::Status Ledger::StageIngest(Op& op, Batch& batch) {
  const Alert& alert = op.alert;
  if (batch.ids.count(op.id) != 0) {
    return absl::AlreadyExistsError(absl::StrCat("alert ", op.id, " is already stored"));
  }
  // A stored id is that of a stored (origin, sequence), and feeds are stored
  // without gaps up to their head, so only an alert at or below its feed's
  // head can be a duplicate: the usual next-in-feed alert needs no store read
  // (which cost about a third of the writer thread's time per ingest).
  auto known = batch.heads.find(alert.origin());
  if (known != batch.heads.end() && alert.sequence() <= known->second.sequence) {
    WF_ASSIGN_OR_RETURN(std::optional<StoredAlert> existing, store_->Get(op.id));
    if (existing.has_value()) {
      return absl::AlreadyExistsError(absl::StrCat("alert ", op.id, " is already stored"));
    }
  }
  FeedHead& head = batch.heads[alert.origin()];
  head.origin = alert.origin();
  // A frozen feed is refused before looking for a contradiction: evidence
  // already proves the fork, and deriving it again from every further copy
  // would report it again (the store ignores the duplicate row, the evidence
  // listener would not), so two nodes would gossip the same evidence back
  // and forth forever, each re-deriving it from the copy the other sent.
  if (head.forked) {
    return absl::DataLossError(absl::StrCat(
        "feed ", alert.origin(),
        " is forked (evidence stored); this node refuses to extend it"));
  }

  // The alert this one contradicts, if any: same position, or a broken link.
  auto stored_at = [&](uint64_t seq) -> absl::StatusOr<std::optional<std::pair<std::string, std::string>>> {
    auto it = batch.by_position.find({alert.origin(), seq});
    if (it != batch.by_position.end()) {
      const NewAlert& a = batch.alerts[it->second];
      return std::optional<std::pair<std::string, std::string>>({a.id, a.envelope});
    }
    WF_ASSIGN_OR_RETURN(std::optional<StoredAlert> s,
                        store_->GetBySequence(alert.origin(), seq));
    if (!s.has_value()) return std::optional<std::pair<std::string, std::string>>();
    return std::optional<std::pair<std::string, std::string>>(
        {s->id, s->envelope.SerializeAsString()});
  };
  auto keep_evidence = [&](const char* kind, uint64_t seq,
                           const std::pair<std::string, std::string>& stored) {
    Evidence e;
    e.kind = kind;
    e.origin = alert.origin();
    e.sequence = seq;
    e.stored_id = stored.first;
    e.conflict_id = op.id;
    e.stored_envelope = stored.second;
    e.conflict_envelope = op.envelope.SerializeAsString();
    batch.evidence.push_back(std::move(e));
    head.forked = true;
  };

  if (alert.sequence() <= head.sequence) {
    WF_ASSIGN_OR_RETURN(auto stored, stored_at(alert.sequence()));
    if (stored.has_value()) {
      keep_evidence("fork", alert.sequence(), *stored);
      return absl::DataLossError(absl::StrCat(
          "fork: origin ", alert.origin(), " signed two alerts at sequence ",
          alert.sequence(), " (", stored->first, " and ", op.id,
          "); evidence stored, feed frozen"));
    }
  }
  if (alert.sequence() > head.sequence + 1) {
    return absl::FailedPreconditionError(absl::StrCat(
        "gap in feed ", alert.origin(), ": this node holds up to sequence ",
        head.sequence, " and got ", alert.sequence(), "; send sequences ",
        head.sequence + 1, "..", alert.sequence() - 1, " first"));
  }
  if (alert.previous() != head.id) {
    WF_ASSIGN_OR_RETURN(auto stored, stored_at(head.sequence));
    keep_evidence("broken-chain", alert.sequence(),
                  stored.value_or(std::make_pair(head.id, std::string())));
    return absl::DataLossError(absl::StrCat(
        "broken chain: alert ", op.id, " at sequence ", alert.sequence(),
        " of ", alert.origin(), " names previous ", alert.previous(),
        " but this node holds ", head.id, "; evidence stored, feed frozen"));
  }
  if (staged_check_) WF_RETURN_IF_ERROR(staged_check_(alert, batch.staged));

  NewAlert na;
  na.id = op.id;
  na.origin = alert.origin();
  na.sequence = alert.sequence();
  na.previous = alert.previous();
  na.issued_at_ms = alert.issued_at().seconds() * 1000 + alert.issued_at().nanos() / 1000000;
  op.envelope.SerializeToString(&na.envelope);

  head.sequence = na.sequence;
  head.id = na.id;
  op.new_index = static_cast<int>(batch.alerts.size());
  batch.ids.insert(na.id);
  batch.by_position[{na.origin, na.sequence}] = op.new_index;
  batch.staged.push_back({na.id, &op.alert});
  batch.alerts.push_back(std::move(na));
  batch.envelopes.push_back(std::move(op.envelope));
  return absl::OkStatus();
}

}  // namespace watchfloor::node
