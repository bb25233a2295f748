#include "node/transparency.h"

#include <set>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "certs/audit.h"
#include "certs/dsse.h"
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

void Transparency::SetRoster(const certs::Roster* roster) {
  // Serialized with Receive and SignNow, so none of them is between reading
  // accepted_ and storing into it while the roster changes under it.
  absl::MutexLock serial(&receive_mu_);
  roster_.store(roster);
  std::map<std::string, Accepted> accepted;
  {
    absl::MutexLock lock(&mu_);
    accepted = accepted_;
  }
  // As at Start: a checkpoint whose origin the roster no longer lists, or
  // that its origin signed with a key since retired, is not trusted now; it
  // would also be refused by every peer it is re-sent to. The origin's next
  // checkpoint is judged against the local copy of its feed instead.
  std::vector<std::string> drop;
  for (const auto& [origin, a] : accepted) {
    absl::StatusOr<Opened> opened = Open(a.note);
    if (!opened.ok() || opened->origin != origin) drop.push_back(origin);
  }
  absl::MutexLock lock(&mu_);
  for (const std::string& origin : drop) {
    accepted_.erase(origin);
    pending_.erase(origin);
  }
}

void Transparency::SetBroadcast(std::function<void(const std::string&)> broadcast) {
  broadcast_ = std::move(broadcast);
}

absl::Status Transparency::Start() {
  WF_ASSIGN_OR_RETURN(std::vector<std::string> origins, store_->CheckpointOrigins());
  for (const std::string& o : origins) {
    WF_ASSIGN_OR_RETURN(std::vector<StoredCheckpoint> stored, store_->Checkpoints(o, 1));
    if (stored.empty()) continue;
    // A checkpoint whose key the roster no longer lists is not trusted now.
    absl::StatusOr<Opened> opened = Open(stored[0].note);
    if (!opened.ok() || opened->origin != o) continue;
    absl::MutexLock lock(&mu_);
    accepted_[o] = Accepted{opened->checkpoint, stored[0].note};
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
        absl::StatusOr<certs::Checkpoint> c = certs::ParseCheckpoint(BodyOf(it->second));
        if (c.ok() && ledger_->Log(it->first).size < c->size) {
          ++it;
          continue;
        }
        pending.insert(*it);
        it = pending_.erase(it);
      }
    }
    // The local feed caught up: witness what was waiting for it. A note the
    // store could not take now (queue full, shutting down) waits again.
    for (const auto& [origin, note] : pending) {
      absl::StatusOr<bool> r = Receive(note);
      if (!r.ok() && (r.status().code() == absl::StatusCode::kResourceExhausted ||
                      r.status().code() == absl::StatusCode::kUnavailable)) {
        absl::MutexLock lock(&mu_);
        pending_.emplace(origin, note);
      }
    }
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
      // Split views too: a node that was down, cut off or behind on the feed
      // when one was first relayed gets it now (it refuses what it cannot
      // check yet, and ignores what it has).
      if (evidence_broadcast_) {
        absl::StatusOr<std::vector<Evidence>> all = store_->ListEvidence();
        if (all.ok()) {
          for (const Evidence& e : *all) {
            if (e.kind == "split-view") evidence_broadcast_(e.stored_envelope, e.conflict_envelope);
          }
        }
      }
    }
  }
}

absl::StatusOr<Transparency::Opened> Transparency::Open(const std::string& note) const {
  if (note.size() > kMaxNoteBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "checkpoint note is ", note.size(), " bytes; the limit is ", kMaxNoteBytes));
  }
  WF_ASSIGN_OR_RETURN(certs::ParsedNote parsed, certs::ParseNote(note));
  WF_ASSIGN_OR_RETURN(certs::Checkpoint body, certs::ParseCheckpoint(parsed.text));
  WF_ASSIGN_OR_RETURN(std::string origin, certs::FeedOriginFromLogOrigin(body.origin));
  // The node's current key: a checkpoint is a statement the node makes now,
  // and a key the roster has retired (replaced, possibly because it leaked)
  // signs nothing new, checkpoints included. Checkpoints signed before a
  // rotation therefore stop verifying with it (SetRoster drops them).
  const certs::Roster* roster = roster_.load();
  std::optional<certs::PublicKey> key;
  if (roster != nullptr) {
    key = roster->NodeKey(origin);
  } else if (origin == origin_) {
    key = key_->public_key();
  }
  if (!key.has_value()) {
    return absl::UnauthenticatedError(absl::StrCat(
        "checkpoint of log ", body.origin, ": origin ", origin,
        " is not a node of this federation's roster"));
  }
  // One signature by the origin and one cosignature per other roster node
  // is all an honest note carries.
  const size_t max_lines = roster == nullptr ? 1 : roster->Origins().size();
  if (parsed.signatures.size() > max_lines) {
    return absl::InvalidArgumentError(absl::StrCat(
        "checkpoint note of ", body.origin, " has ", parsed.signatures.size(),
        " signature lines; a federation of ", max_lines, " nodes makes at most ",
        max_lines));
  }
  WF_ASSIGN_OR_RETURN(certs::Checkpoint c, certs::OpenCheckpoint(note, body.origin, *key));
  // Only the origin's verified signature line: whatever else a relay put
  // under the origin's name (other key ids, junk) is not kept or passed on.
  const uint32_t key_id = certs::NoteKeyId(body.origin, certs::kNoteTypeEd25519, *key);
  certs::ParsedNote base{parsed.text, {}};
  for (const certs::NoteSignature& sig : parsed.signatures) {
    if (sig.name == body.origin && sig.key_id == key_id) {
      base.signatures.push_back(sig);
      break;
    }
  }
  return Opened{std::move(origin), std::move(c), certs::FormatNote(base), roster};
}

std::vector<std::string> Transparency::Origins() const {
  const certs::Roster* roster = roster_.load();
  return roster == nullptr ? std::vector<std::string>{origin_} : roster->Origins();
}

std::string Transparency::MergeCosignatures(const std::string& note,
                                            const std::string& from,
                                            int* added) const {
  *added = 0;
  absl::StatusOr<certs::ParsedNote> into = certs::ParseNote(note);
  absl::StatusOr<certs::ParsedNote> source = certs::ParseNote(from);
  const certs::Roster* roster = roster_.load();
  if (!into.ok() || !source.ok() || into->text != source->text || roster == nullptr) {
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
    std::optional<certs::PublicKey> key = roster->NodeKey(*witness);
    if (!key.has_value()) continue;  // not a roster witness: ignored
    if (s.key_id != certs::NoteKeyId(s.name, certs::kNoteTypeCosignatureV1, *key)) continue;
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
  }
  Evidence e;
  e.kind = "split-view";
  e.origin = origin;
  e.sequence = known.checkpoint.size;
  // Ids: SHA-256 of each checkpoint body, so the store keeps every distinct
  // pair (two roots can recur at other sizes).
  e.stored_id = absl::BytesToHexString(certs::HashLeaf(BodyOf(known.note)));
  e.conflict_id = absl::BytesToHexString(certs::HashLeaf(BodyOf(note)));
  e.stored_envelope = known.note;
  e.conflict_envelope = note;
  absl::Notification done;
  absl::Status status;
  ledger_->StoreCheckpoint(StoredCheckpoint{}, std::move(e), [&](absl::Status st) {
    status = std::move(st);
    done.Notify();
  });
  done.WaitForNotification();
  if (!status.ok()) return status;  // not known yet: the next sighting tries again
  absl::MutexLock lock(&mu_);
  split_views_.insert(BodyOf(known.note));
  split_views_.insert(BodyOf(note));
  ++stats_.split_views;
  return absl::OkStatus();
}

void Transparency::Emit(const std::string& note) {
  if (broadcast_) broadcast_(note);
}

absl::StatusOr<bool> Transparency::Receive(const std::string& note) {
  // Verification first, outside the lock: it is the costly part, and a peer
  // sending junk must not hold up signing or other notes.
  absl::StatusOr<Opened> opened = Open(note);
  if (!opened.ok()) {
    absl::MutexLock lock(&mu_);
    ++stats_.refused;
    return opened.status();
  }
  absl::MutexLock serial(&receive_mu_);
  if (opened->roster != roster_.load()) {
    // SetRoster ran since the note was verified: judge it by the roster in
    // force now (which may have removed its origin or rotated its key).
    opened = Open(note);
    if (!opened.ok()) {
      absl::MutexLock lock(&mu_);
      ++stats_.refused;
      return opened.status();
    }
  }
  const std::string& origin = opened->origin;
  const certs::Checkpoint& c = opened->checkpoint;
  auto split_view = [&](const Accepted& known) -> absl::StatusOr<bool> {
    absl::Status st = StoreSplitView(origin, known, c, opened->note);
    if (st.code() == absl::StatusCode::kAlreadyExists) return false;
    WF_RETURN_IF_ERROR(st);
    return true;
  };
  std::optional<Accepted> known;
  {
    absl::MutexLock lock(&mu_);
    auto it = accepted_.find(origin);
    if (it != accepted_.end()) known = it->second;
  }
  if (known.has_value() && c.size == known->checkpoint.size) {
    if (c.root_hash != known->checkpoint.root_hash) return split_view(*known);
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
  if (known.has_value() && c.size < known->checkpoint.size) {
    // An older checkpoint must still describe a prefix of the local feed.
    // Its cosignatures still count for the stored copy of that size (under
    // a steady stream of alerts, witnesses that lag cosign checkpoints the
    // others have moved past; exports pick the largest witnessed one).
    WF_ASSIGN_OR_RETURN(std::string root, RootAt(origin, c.size));
    if (root != c.root_hash) return split_view(*known);
    WF_RETURN_IF_ERROR(MergeIntoStored(origin, c.size, note));
    return false;
  }
  // This node's own log: only what it signed gathers cosignatures (above).
  if (origin == origin_) return false;

  const uint64_t local = ledger_->Log(origin).size;
  if (c.size > local) {
    // Ahead of the local copy of the feed: check it once the feed arrives.
    // Two such checkpoints of one size with different roots need no feed to
    // be a split view.
    std::optional<std::string> contradicted;
    {
      absl::MutexLock lock(&mu_);
      std::string& slot = pending_[origin];
      absl::StatusOr<certs::Checkpoint> held =
          slot.empty() ? absl::StatusOr<certs::Checkpoint>(absl::NotFoundError(""))
                       : certs::ParseCheckpoint(BodyOf(slot));
      if (held.ok() && held->size == c.size && held->root_hash != c.root_hash) {
        contradicted = slot;
      } else if (!held.ok() || held->size < c.size) {
        slot = note;
      }
    }
    if (contradicted.has_value()) {
      absl::StatusOr<Opened> other = Open(*contradicted);
      if (other.ok()) return split_view(Accepted{other->checkpoint, other->note});
    }
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
    if (!consistent.ok() || root != c.root_hash) return split_view(*known);
  } else if (root != c.root_hash) {
    absl::MutexLock lock(&mu_);
    ++stats_.refused;
    return absl::FailedPreconditionError(absl::StrCat(
        "checkpoint of ", origin, " at size ", c.size, " has root ",
        absl::BytesToHexString(c.root_hash), " but this node's copy of the feed has root ",
        absl::BytesToHexString(root), "; the origin signed a log that is not its feed"));
  }
  // Witnessed: the origin's signature, the valid roster cosignatures sent,
  // and this node's own.
  int added = 0;
  std::string merged = MergeCosignatures(opened->note, note, &added);
  WF_ASSIGN_OR_RETURN(certs::ParsedNote parsed, certs::ParseNote(merged));
  bool cosigned = false;
  for (const certs::NoteSignature& sig : parsed.signatures) cosigned |= sig.name == log_origin_;
  const certs::SigningKey* own = KeyNow();
  if (!cosigned && own != nullptr) {
    const uint64_t now = static_cast<uint64_t>(absl::ToUnixSeconds(clock_->Now()));
    merged += certs::CosignatureLine(parsed.text, log_origin_, *own, now);
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

absl::Status Transparency::MergeIntoStored(const std::string& origin, uint64_t size,
                                           const std::string& note) {
  WF_ASSIGN_OR_RETURN(std::vector<StoredCheckpoint> stored,
                      store_->Checkpoints(origin, kCheckpointsScanned));
  for (const StoredCheckpoint& sc : stored) {
    if (sc.size != size) continue;
    int added = 0;
    std::string merged = MergeCosignatures(sc.note, note, &added);
    if (added == 0) return absl::OkStatus();
    absl::Notification done;
    absl::Status status;
    ledger_->StoreCheckpoint(StoredCheckpoint{origin, size, merged}, std::nullopt,
                             [&](absl::Status st) {
                               status = std::move(st);
                               done.Notify();
                             });
    done.WaitForNotification();
    if (status.ok()) {
      absl::MutexLock lock(&mu_);
      stats_.cosignatures_merged += static_cast<uint64_t>(added);
    }
    return status;
  }
  return absl::OkStatus();  // not kept (pruned, or never seen here)
}

absl::Status Transparency::ReceiveSplitView(const std::string& first_note,
                                            const std::string& second_note) {
  WF_ASSIGN_OR_RETURN(Opened first, Open(first_note));
  WF_ASSIGN_OR_RETURN(Opened second, Open(second_note));
  if (first.origin != second.origin) {
    return absl::InvalidArgumentError(absl::StrCat(
        "split view names two origins (", first.origin, ", ", second.origin,
        "); evidence must be two checkpoints of one origin"));
  }
  const std::string& origin = first.origin;
  const certs::Checkpoint& a = first.checkpoint;
  const certs::Checkpoint& b = second.checkpoint;
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
  return StoreSplitView(origin, Accepted{a, first.note}, b, second.note,
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
  const certs::SigningKey* own = KeyNow();
  if (own == nullptr) return absl::OkStatus();  // NodeKeys::SetRoster logged why
  certs::Checkpoint c;
  c.origin = log_origin_;
  c.size = log.size;
  c.root_hash = log.root;
  std::string note = certs::SignNote(certs::FormatCheckpoint(c), log_origin_, *own);
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
  // Cosigners count only while the roster in force lists them, with the
  // key they cosigned with: a removed member's or a retired key's
  // cosignature no longer vouches for anything.
  const certs::Roster* roster = roster_.load();
  if (roster == nullptr) return 0;
  absl::StatusOr<certs::ParsedNote> parsed = certs::ParseNote(note);
  if (!parsed.ok()) return 0;
  const std::string own_member = MemberOf(origin);
  const std::string log_origin = certs::LogOrigin(origin);
  std::set<std::string> members;
  for (const certs::NoteSignature& s : parsed->signatures) {
    if (s.name == log_origin) continue;
    absl::StatusOr<std::string> witness = certs::FeedOriginFromLogOrigin(s.name);
    if (!witness.ok() || MemberOf(*witness) == own_member) continue;
    std::optional<certs::PublicKey> key = roster->NodeKey(*witness);
    if (!key.has_value()) continue;
    certs::ParsedNote one{parsed->text, {s}};
    if (certs::VerifyCosignature(one, s.name, *key).ok()) members.insert(MemberOf(*witness));
  }
  return static_cast<int>(members.size());
}

int Transparency::DefaultQuorum() const {
  const certs::Roster* roster = roster_.load();
  if (roster == nullptr) return 0;
  return (roster->proto().members_size() - 1) / 2 + 1;
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

watchfloor::v1::Envelope Transparency::SignExportClaims(
    const watchfloor::v1::ExportClaims& claims) const {
  const certs::SigningKey* own = KeyNow();
  return certs::SignEnvelope(claims.SerializeAsString(), certs::kExportClaimsPayloadType,
                             own != nullptr ? *own : *key_);
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
