#include "node/transparency.h"

#include <set>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "certs/merkle.h"
#include "certs/status_macros.h"

namespace watchfloor::node {
namespace {

std::string MemberOf(absl::string_view origin) {
  return std::string(origin.substr(0, origin.find('/')));
}

// The perfect subtree hashes of `origin`'s log, as stored.
certs::PerfectNodeFn StoredNodes(AlertStore* store, std::string origin) {
  return [store, origin = std::move(origin)](int level,
                                             uint64_t index) -> absl::StatusOr<std::string> {
    WF_ASSIGN_OR_RETURN(std::optional<std::string> h, store->GetLogNode(origin, level, index));
    if (!h.has_value()) {
      return absl::DataLossError(absl::StrCat("log node ", level, "/", index, " of ", origin,
                                              " is missing from the store"));
    }
    return *std::move(h);
  };
}

// The signed text of a note (its checkpoint body), without the signature
// lines, which differ between copies as cosignatures are added.
std::string BodyOf(const std::string& note) {
  return note.substr(0, note.find("\n\n") + 1);
}

}  // namespace

Transparency::Transparency(std::string origin, const certs::SigningKey* key,
                           const certs::Roster* roster, Ledger* ledger,
                           AlertStore* store, Clock* clock, Options options)
    : origin_(std::move(origin)),
      log_origin_(certs::LogOrigin(origin_)),
      key_(key),
      roster_(roster),
      ledger_(ledger),
      store_(store),
      clock_(clock),
      options_(options) {}

Transparency::~Transparency() { Stop(); }

void Transparency::SetBroadcast(std::function<void(const std::string&)> broadcast) {
  broadcast_ = std::move(broadcast);
}

absl::Status Transparency::Start() {
  WF_ASSIGN_OR_RETURN(std::vector<std::string> origins, store_->CheckpointOrigins());
  for (const std::string& o : origins) {
    WF_ASSIGN_OR_RETURN(std::vector<StoredCheckpoint> stored, store_->Checkpoints(o, 1));
    if (stored.empty()) continue;
    // A checkpoint whose key the roster no longer lists is not trusted now.
    absl::StatusOr<std::pair<std::string, certs::Checkpoint>> opened = Open(stored[0].note);
    if (!opened.ok() || opened->first != o) continue;
    absl::MutexLock lock(&mu_);
    accepted_[o] = Accepted{opened->second, stored[0].note};
  }
  WF_ASSIGN_OR_RETURN(std::vector<Evidence> evidence, store_->ListEvidence());
  {
    absl::MutexLock lock(&mu_);
    for (const Evidence& e : evidence) {
      if (e.kind == "split-view") {
        split_views_.insert(BodyOf(e.stored_envelope));
        split_views_.insert(BodyOf(e.conflict_envelope));
      }
    }
  }
  thread_ = std::thread([this] { Loop(); });
  return absl::OkStatus();
}

void Transparency::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void Transparency::Loop() {
  absl::Time next_sign = absl::Now() + options_.checkpoint_interval;
  absl::Time next_resend = absl::Now() + options_.resend_interval;
  for (;;) {
    std::map<std::string, std::string> pending;
    {
      absl::MutexLock lock(&mu_);
      auto stop = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
      mu_.AwaitWithTimeout(absl::Condition(&stop), options_.pending_interval);
      if (stopping_) return;
      for (auto it = pending_.begin(); it != pending_.end();) {
        absl::StatusOr<certs::Checkpoint> c = certs::ParseCheckpoint(
            it->second.substr(0, it->second.find("\n\n") + 1));
        if (c.ok() && ledger_->Log(it->first).size < c->size) {
          ++it;
          continue;
        }
        pending.insert(*it);
        it = pending_.erase(it);
      }
    }
    // The local feed caught up: witness what was waiting for it.
    for (const auto& [origin, note] : pending) (void)Receive(note);
    const absl::Time now = absl::Now();
    if (now >= next_sign) {
      next_sign = now + options_.checkpoint_interval;
      absl::Status st = SignNow();
      if (!st.ok()) next_sign = now + options_.pending_interval;
    }
    if (now >= next_resend) {
      next_resend = now + options_.resend_interval;
      std::vector<std::string> notes;
      {
        absl::MutexLock lock(&mu_);
        for (const auto& [origin, a] : accepted_) notes.push_back(a.note);
      }
      for (const std::string& note : notes) Emit(note);
    }
  }
}

absl::StatusOr<std::pair<std::string, certs::Checkpoint>> Transparency::Open(
    const std::string& note) const {
  WF_ASSIGN_OR_RETURN(certs::ParsedNote parsed, certs::ParseNote(note));
  WF_ASSIGN_OR_RETURN(certs::Checkpoint body, certs::ParseCheckpoint(parsed.text));
  WF_ASSIGN_OR_RETURN(std::string origin, certs::FeedOriginFromLogOrigin(body.origin));
  std::optional<certs::PublicKey> key;
  if (roster_ != nullptr) {
    key = roster_->NodeKey(origin);
  } else if (origin == origin_) {
    key = key_->public_key();
  }
  if (!key.has_value()) {
    return absl::UnauthenticatedError(absl::StrCat(
        "checkpoint of log ", body.origin, ": origin ", origin,
        " is not a node of this federation's roster"));
  }
  WF_ASSIGN_OR_RETURN(certs::Checkpoint c, certs::OpenCheckpoint(note, body.origin, *key));
  return std::make_pair(std::move(origin), std::move(c));
}

std::string Transparency::MergeCosignatures(const std::string& note,
                                            const std::string& from,
                                            int* added) const {
  *added = 0;
  absl::StatusOr<certs::ParsedNote> into = certs::ParseNote(note);
  absl::StatusOr<certs::ParsedNote> source = certs::ParseNote(from);
  if (!into.ok() || !source.ok() || into->text != source->text || roster_ == nullptr) {
    return note;
  }
  absl::StatusOr<certs::Checkpoint> body = certs::ParseCheckpoint(into->text);
  if (!body.ok()) return note;
  std::set<std::string> have;
  for (const certs::NoteSignature& s : into->signatures) have.insert(s.name);
  for (const certs::NoteSignature& s : source->signatures) {
    if (s.name == body->origin || have.count(s.name) != 0) continue;
    absl::StatusOr<std::string> witness = certs::FeedOriginFromLogOrigin(s.name);
    if (!witness.ok()) continue;
    std::optional<certs::PublicKey> key = roster_->NodeKey(*witness);
    if (!key.has_value()) continue;  // not a roster witness: ignored
    certs::ParsedNote one{source->text, {s}};
    if (!certs::VerifyCosignature(one, s.name, *key).ok()) continue;
    into->signatures.push_back(s);
    have.insert(s.name);
    ++*added;
  }
  return *added == 0 ? note : certs::FormatNote(*into);
}

absl::Status Transparency::Store(const std::string& origin, const certs::Checkpoint& c,
                                 const std::string& note) {
  absl::Notification done;
  absl::Status status;
  ledger_->StoreCheckpoint(StoredCheckpoint{origin, c.size, note}, std::nullopt,
                           [&](absl::Status st) {
                             status = std::move(st);
                             done.Notify();
                           });
  done.WaitForNotification();
  if (!status.ok()) return status;
  absl::MutexLock lock(&mu_);
  accepted_[origin] = Accepted{c, note};
  return absl::OkStatus();
}

absl::Status Transparency::StoreSplitView(const std::string& origin,
                                          const Accepted& known,
                                          const certs::Checkpoint& c,
                                          const std::string& note,
                                          bool peer_evidence) {
  {
    // A checkpoint already part of a stored split view proves nothing new
    // against a later accepted one, and two nodes would otherwise relay it
    // to each other paired with ever newer checkpoints.
    absl::MutexLock lock(&mu_);
    const std::string a = BodyOf(known.note), b = BodyOf(note);
    if (split_views_.count(b) != 0 && (!peer_evidence || split_views_.count(a) != 0)) {
      return absl::AlreadyExistsError(absl::StrCat(
          "split view of ", origin, " with the checkpoint of size ", c.size,
          " is already stored"));
    }
    split_views_.insert(a);
    split_views_.insert(b);
    ++stats_.split_views;
  }
  Evidence e;
  e.kind = "split-view";
  e.origin = origin;
  e.sequence = known.checkpoint.size;
  e.stored_id = absl::BytesToHexString(known.checkpoint.root_hash);
  e.conflict_id = absl::BytesToHexString(c.root_hash);
  e.stored_envelope = known.note;
  e.conflict_envelope = note;
  absl::Notification done;
  absl::Status status;
  ledger_->StoreCheckpoint(StoredCheckpoint{}, std::move(e), [&](absl::Status st) {
    status = std::move(st);
    done.Notify();
  });
  done.WaitForNotification();
  return status;
}

void Transparency::Emit(const std::string& note) {
  if (broadcast_) broadcast_(note);
}

absl::StatusOr<bool> Transparency::Receive(const std::string& note) {
  absl::MutexLock serial(&receive_mu_);
  absl::StatusOr<std::pair<std::string, certs::Checkpoint>> opened = Open(note);
  if (!opened.ok()) {
    absl::MutexLock lock(&mu_);
    ++stats_.refused;
    return opened.status();
  }
  const std::string& origin = opened->first;
  const certs::Checkpoint& c = opened->second;
  std::optional<Accepted> known;
  {
    absl::MutexLock lock(&mu_);
    auto it = accepted_.find(origin);
    if (it != accepted_.end()) known = it->second;
  }
  if (known.has_value() && c.size == known->checkpoint.size) {
    if (c.root_hash != known->checkpoint.root_hash) {
      absl::Status st = StoreSplitView(origin, *known, c, note);
      if (st.code() == absl::StatusCode::kAlreadyExists) return false;
      WF_RETURN_IF_ERROR(st);
      return true;
    }
    int added = 0;
    std::string merged = MergeCosignatures(known->note, note, &added);
    if (added == 0) return false;
    WF_RETURN_IF_ERROR(Store(origin, c, merged));
    {
      absl::MutexLock lock(&mu_);
      stats_.cosignatures_merged += static_cast<uint64_t>(added);
    }
    Emit(merged);
    return true;
  }
  // This node's own log: only the checkpoint it signed last gathers
  // cosignatures (above); an older or other one of its own tells it nothing.
  if (origin == origin_) return false;

  const uint64_t local = ledger_->Log(origin).size;
  if (known.has_value() && c.size < known->checkpoint.size) {
    // An older checkpoint must still describe a prefix of the local feed.
    WF_ASSIGN_OR_RETURN(std::string root, RootAt(origin, c.size));
    if (root != c.root_hash) {
      absl::Status st = StoreSplitView(origin, *known, c, note);
      if (st.code() == absl::StatusCode::kAlreadyExists) return false;
      WF_RETURN_IF_ERROR(st);
      return true;
    }
    return false;
  }
  if (c.size > local) {
    // Ahead of the local copy of the feed: check it once the feed arrives.
    absl::MutexLock lock(&mu_);
    std::string& slot = pending_[origin];
    absl::StatusOr<certs::Checkpoint> held =
        slot.empty() ? absl::StatusOr<certs::Checkpoint>(absl::NotFoundError(""))
                     : certs::ParseCheckpoint(slot.substr(0, slot.find("\n\n") + 1));
    if (!held.ok() || held->size < c.size) slot = note;
    return false;
  }
  WF_ASSIGN_OR_RETURN(std::string root, RootAt(origin, c.size));
  if (known.has_value()) {
    // The consistency proof from the last accepted checkpoint, computed from
    // the local copy of the feed, must lead to this checkpoint's root.
    WF_ASSIGN_OR_RETURN(std::vector<std::string> proof,
                        ConsistencyProof(origin, known->checkpoint.size, c.size));
    absl::Status consistent =
        certs::VerifyConsistency(known->checkpoint.size, c.size, proof,
                                 known->checkpoint.root_hash, c.root_hash);
    if (!consistent.ok() || root != c.root_hash) {
      absl::Status st = StoreSplitView(origin, *known, c, note);
      if (st.code() == absl::StatusCode::kAlreadyExists) return false;
      WF_RETURN_IF_ERROR(st);
      return true;
    }
  } else if (root != c.root_hash) {
    absl::MutexLock lock(&mu_);
    ++stats_.refused;
    return absl::FailedPreconditionError(absl::StrCat(
        "checkpoint of ", origin, " at size ", c.size, " has root ",
        absl::BytesToHexString(c.root_hash), " but this node's copy of the feed has root ",
        absl::BytesToHexString(root), "; the origin signed a log that is not its feed"));
  }
  // Witnessed: keep the origin's signature and the valid cosignatures sent,
  // and add this node's own.
  WF_ASSIGN_OR_RETURN(certs::ParsedNote parsed, certs::ParseNote(note));
  certs::ParsedNote base{parsed.text, {}};
  for (const certs::NoteSignature& s : parsed.signatures) {
    if (s.name == c.origin) base.signatures.push_back(s);
  }
  int added = 0;
  std::string merged = MergeCosignatures(certs::FormatNote(base), note, &added);
  const uint64_t now = static_cast<uint64_t>(absl::ToUnixSeconds(clock_->Now()));
  if (merged.find(absl::StrCat("\xE2\x80\x94 ", log_origin_, " ")) == std::string::npos) {
    merged += certs::CosignatureLine(parsed.text, log_origin_, *key_, now);
  }
  WF_RETURN_IF_ERROR(Store(origin, c, merged));
  {
    absl::MutexLock lock(&mu_);
    ++stats_.cosigned;
    stats_.cosignatures_merged += static_cast<uint64_t>(added);
  }
  Emit(merged);
  return true;
}

absl::Status Transparency::ReceiveSplitView(const std::string& first_note,
                                            const std::string& second_note) {
  WF_ASSIGN_OR_RETURN(auto first, Open(first_note));
  WF_ASSIGN_OR_RETURN(auto second, Open(second_note));
  if (first.first != second.first) {
    return absl::InvalidArgumentError(absl::StrCat(
        "split view names two origins (", first.first, ", ", second.first,
        "); evidence must be two checkpoints of one origin"));
  }
  const std::string& origin = first.first;
  const certs::Checkpoint& a = first.second;
  const certs::Checkpoint& b = second.second;
  bool contradicts = false;
  if (a.size == b.size) {
    contradicts = a.root_hash != b.root_hash;
  } else {
    // Different sizes contradict iff one of them is not the local feed's
    // log at its size (the feed is signed by the origin too).
    const uint64_t larger = std::max(a.size, b.size);
    if (larger > ledger_->Log(origin).size) {
      return absl::FailedPreconditionError(absl::StrCat(
          "split view of ", origin, " at size ", larger,
          " is beyond this node's copy of the feed; send it again later"));
    }
    for (const certs::Checkpoint* c : {&a, &b}) {
      WF_ASSIGN_OR_RETURN(std::string root, RootAt(origin, c->size));
      if (root != c->root_hash) contradicts = true;
    }
  }
  if (!contradicts) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the two checkpoints of ", origin, " (sizes ", a.size, " and ", b.size,
        ") are consistent; that is not a split view"));
  }
  absl::MutexLock serial(&receive_mu_);
  return StoreSplitView(origin, Accepted{a, first_note}, b, second_note,
                        /*peer_evidence=*/true);
}

absl::Status Transparency::SignNow() {
  absl::MutexLock serial(&receive_mu_);
  const Ledger::LogState log = ledger_->Log(origin_);
  {
    absl::MutexLock lock(&mu_);
    auto it = accepted_.find(origin_);
    if (log.size == 0 || (it != accepted_.end() && it->second.checkpoint.size >= log.size)) {
      return absl::OkStatus();
    }
  }
  certs::Checkpoint c;
  c.origin = log_origin_;
  c.size = log.size;
  c.root_hash = log.root;
  std::string note = certs::SignNote(certs::FormatCheckpoint(c), log_origin_, *key_);
  WF_RETURN_IF_ERROR(Store(origin_, c, note));
  {
    absl::MutexLock lock(&mu_);
    ++stats_.signed_checkpoints;
  }
  Emit(note);
  return absl::OkStatus();
}

absl::StatusOr<std::string> Transparency::Latest(const std::string& origin) const {
  absl::MutexLock lock(&mu_);
  auto it = accepted_.find(origin);
  if (it == accepted_.end()) {
    return absl::NotFoundError(absl::StrCat(
        "this node has no checkpoint of ", origin,
        " yet; checkpoints follow the feed within seconds"));
  }
  return it->second.note;
}

absl::StatusOr<StoredCheckpoint> Transparency::ForExport(const std::string& origin,
                                                         int quorum) const {
  WF_ASSIGN_OR_RETURN(std::vector<StoredCheckpoint> stored, store_->Checkpoints(origin, 64));
  if (stored.empty()) {
    return absl::NotFoundError(absl::StrCat("this node has no checkpoint of ", origin, " yet"));
  }
  for (const StoredCheckpoint& c : stored) {
    if (Witnesses(origin, c.note) >= quorum) return c;
  }
  return stored.front();
}

int Transparency::Witnesses(const std::string& origin, const std::string& note) const {
  if (roster_ == nullptr) return 0;
  absl::StatusOr<certs::ParsedNote> parsed = certs::ParseNote(note);
  if (!parsed.ok()) return 0;
  const std::string own_member = MemberOf(origin);
  const std::string log_origin = certs::LogOrigin(origin);
  std::set<std::string> members;
  for (const certs::NoteSignature& s : parsed->signatures) {
    if (s.name == log_origin) continue;
    absl::StatusOr<std::string> witness = certs::FeedOriginFromLogOrigin(s.name);
    if (!witness.ok() || MemberOf(*witness) == own_member) continue;
    std::optional<certs::PublicKey> key = roster_->NodeKey(*witness);
    if (!key.has_value()) continue;
    certs::ParsedNote one{parsed->text, {s}};
    if (certs::VerifyCosignature(one, s.name, *key).ok()) members.insert(MemberOf(*witness));
  }
  return static_cast<int>(members.size());
}

int Transparency::DefaultQuorum() const {
  if (roster_ == nullptr) return 0;
  return (roster_->proto().members_size() - 1) / 2 + 1;
}

absl::StatusOr<std::string> Transparency::RootAt(const std::string& origin,
                                                 uint64_t size) const {
  if (size == 0) return certs::EmptyRoot();
  const uint64_t local = ledger_->Log(origin).size;
  if (size > local) {
    return absl::OutOfRangeError(absl::StrCat("tree size ", size, " of ", origin,
                                              " exceeds the ", local,
                                              " alerts this node holds"));
  }
  return certs::SubtreeHashFromPerfect(0, size, StoredNodes(store_, origin));
}

absl::StatusOr<std::vector<std::string>> Transparency::InclusionProof(
    const std::string& origin, uint64_t index, uint64_t size) const {
  const uint64_t local = ledger_->Log(origin).size;
  if (size > local || index >= size) {
    return absl::OutOfRangeError(absl::StrCat(
        "no inclusion proof of leaf ", index, " in a tree of size ", size, " of ",
        origin, ": this node holds ", local, " alerts of it"));
  }
  const certs::PerfectNodeFn perfect = StoredNodes(store_, origin);
  return certs::InclusionProof(index, size, [&](uint64_t b, uint64_t e) {
    return certs::SubtreeHashFromPerfect(b, e, perfect);
  });
}

absl::StatusOr<std::vector<std::string>> Transparency::ConsistencyProof(
    const std::string& origin, uint64_t first, uint64_t second) const {
  if (first > second) {
    return absl::InvalidArgumentError(absl::StrCat(
        "consistency proof from size ", first, " to ", second,
        ": the first size must not exceed the second"));
  }
  const uint64_t local = ledger_->Log(origin).size;
  if (second > local) {
    return absl::OutOfRangeError(absl::StrCat("tree size ", second, " of ", origin,
                                              " exceeds the ", local,
                                              " alerts this node holds"));
  }
  const certs::PerfectNodeFn perfect = StoredNodes(store_, origin);
  return certs::ConsistencyProof(first, second, [&](uint64_t b, uint64_t e) {
    return certs::SubtreeHashFromPerfect(b, e, perfect);
  });
}

Transparency::Stats Transparency::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

}  // namespace watchfloor::node
