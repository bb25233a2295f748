#include "federation/gossip.h"

#include <algorithm>
#include <deque>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "certs/ids.h"
#include "grpcpp/client_context.h"

namespace watchfloor::federation {

using watchfloor::v1::Envelope;

namespace {

constexpr absl::Duration kTick = absl::Milliseconds(10);
constexpr size_t kMaxIHaveRefs = 1024;
// Announced-but-missing ids remembered at once; more are left to
// anti-entropy, so that a peer cannot grow this without bound.
constexpr size_t kMaxMissing = 65536;
constexpr size_t kMaxFetchIds = 256;
constexpr uint32_t kMaxPullLimit = 1024;
// Envelope bytes per Federation message (a Push request, a Fetch or
// PullRange response): a federation node's gRPC limit is max_message_bytes,
// at least 1 MiB (docs/CONFIG.md), and the rest of the message needs room.
// At least one envelope always goes (an alert is <= 64 KiB).
constexpr size_t kMaxBatchBytes = (1 << 20) - (64 << 10);

struct AlertKey {
  std::string origin;
  uint64_t sequence = 0;
};

// The origin and sequence of an envelope's alert, without validating it (the
// ingest path does that).
AlertKey KeyOf(const Envelope& e) {
  watchfloor::v1::Alert a;
  AlertKey k;
  if (a.ParseFromString(e.payload())) {
    k.origin = a.origin();
    k.sequence = a.sequence();
  }
  return k;
}

// Evidence pairs queued per peer at most.
constexpr size_t kMaxQueuedEvidence = 256;

// Notes per PushCheckpoints call (FederationService::kMaxCheckpointsPerPush).
constexpr int kMaxCheckpointsPerPush = 64;

void SetDeadline(grpc::ClientContext* ctx, absl::Duration d) {
  ctx->set_deadline(absl::ToChronoTime(absl::Now() + d));
}

}  // namespace

struct Gossip::Link {
  Peer peer;
  std::unique_ptr<watchfloor::v1::Federation::Stub> stub;
  std::thread thread;

  absl::Mutex mu;
  bool stopping ABSL_GUARDED_BY(mu) = false;
  bool eager ABSL_GUARDED_BY(mu) = false;
  std::deque<Envelope> pushes ABSL_GUARDED_BY(mu);
  std::vector<watchfloor::v1::AlertRef> ihaves ABSL_GUARDED_BY(mu);
  std::vector<std::string> fetches ABSL_GUARDED_BY(mu);
  std::vector<EvidencePair> evidence ABSL_GUARDED_BY(mu);
  // Checkpoint notes to send, the newest per log (keyed by its first line).
  std::map<std::string, std::string> checkpoints ABSL_GUARDED_BY(mu);
  bool sync_requested ABSL_GUARDED_BY(mu) = false;
  // Where its frontier was ahead of ours (origin -> its sequence), and when
  // to check whether push delivered that meanwhile (NoteAhead).
  std::map<std::string, uint64_t> ahead ABSL_GUARDED_BY(mu);
  absl::Time ahead_check ABSL_GUARDED_BY(mu) = absl::InfiniteFuture();
  absl::Time next_try ABSL_GUARDED_BY(mu) = absl::InfinitePast();
  absl::Duration backoff ABSL_GUARDED_BY(mu) = absl::ZeroDuration();
  absl::Time last_ihave ABSL_GUARDED_BY(mu) = absl::InfinitePast();
  PeerStats stats ABSL_GUARDED_BY(mu);

  // Called with mu held after a failed RPC.
  void Failed(const Options& o) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    backoff = backoff == absl::ZeroDuration()
                  ? o.min_backoff
                  : std::min(backoff * 2, o.max_backoff);
    next_try = absl::Now() + backoff;
    stats.reachable = false;
  }
  // Makes the link lazy. Pushes still queued for it become announcements:
  // sent whole, a first copy among them would make the peer eager again at
  // once (HandlePush), so the link would flip back and forth.
  void Prune() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    eager = false;
    for (const Envelope& e : pushes) {
      AlertKey key = KeyOf(e);
      watchfloor::v1::AlertRef ref;
      ref.set_id(certs::AlertId(e.payload()));
      ref.set_origin(std::move(key.origin));
      ref.set_sequence(key.sequence);
      ihaves.push_back(std::move(ref));
    }
    pushes.clear();
  }
  void Succeeded() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    backoff = absl::ZeroDuration();
    next_try = absl::InfinitePast();
    stats.reachable = true;
  }
};

Gossip::Gossip(std::string self, FeedStore* store, std::vector<Peer> peers,
               ChannelFactory channels, Options options)
    : self_(std::move(self)), store_(store), options_(options) {
  std::random_device rd;
  rng_.seed(options_.seed != 0 ? options_.seed : (uint64_t{rd()} << 32 | rd()));
  std::vector<size_t> order(peers.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  {
    absl::MutexLock lock(&mu_);
    std::shuffle(order.begin(), order.end(), rng_);
  }
  std::vector<bool> eager(peers.size(), false);
  for (size_t i = 0; i < order.size() && i < options_.eager_fanout; ++i) {
    eager[order[i]] = true;
  }
  for (size_t i = 0; i < peers.size(); ++i) {
    auto link = std::make_unique<Link>();
    link->peer = peers[i];
    link->stub = watchfloor::v1::Federation::NewStub(channels(peers[i]));
    absl::MutexLock lock(&link->mu);
    link->eager = eager[i];
    links_.push_back(std::move(link));
  }
}

Gossip::~Gossip() { Stop(); }

void Gossip::Start() {
  absl::MutexLock lock(&mu_);
  if (started_) return;
  started_ = true;
  for (auto& link : links_) {
    link->thread = std::thread([this, l = link.get()] { SenderLoop(l); });
  }
  timer_ = std::thread([this] { TimerLoop(); });
}

void Gossip::Stop() {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  for (auto& link : links_) {
    absl::MutexLock lock(&link->mu);
    link->stopping = true;
  }
  for (auto& link : links_) {
    if (link->thread.joinable()) link->thread.join();
  }
  if (timer_.joinable()) timer_.join();
}

Gossip::Link* Gossip::FindLink(const std::string& origin) const {
  for (const auto& link : links_) {
    if (link->peer.origin == origin) return link.get();
  }
  return nullptr;
}

bool Gossip::IsPeer(const std::string& origin) const {
  return FindLink(origin) != nullptr;
}

void Gossip::Broadcast(const Envelope& envelope) {
  AlertKey key = KeyOf(envelope);
  Forward(envelope, certs::AlertId(envelope.payload()), key.origin,
          key.sequence, "");
}

void Gossip::BroadcastCheckpoint(const std::string& note) {
  const std::string log = note.substr(0, note.find('\n'));
  for (auto& link : links_) {
    absl::MutexLock lock(&link->mu);
    link->checkpoints[log] = note;
  }
  absl::MutexLock lock(&mu_);
  stats_.checkpoints_sent += links_.size();
}

watchfloor::v1::PushCheckpointsResponse Gossip::HandleCheckpoints(
    const std::string& peer, const watchfloor::v1::PushCheckpointsRequest& req) {
  std::vector<std::string> notes(req.notes().begin(), req.notes().end());
  std::vector<absl::StatusOr<bool>> verdicts = store_->OfferCheckpoints(notes);
  watchfloor::v1::PushCheckpointsResponse resp;
  for (const absl::StatusOr<bool>& v : verdicts) {
    resp.add_new_info(v.ok() && *v);
    // A note that does not verify is the sender's fault; one the node could
    // not store now (overload) or contradicts the feed is not counted here.
    if (!v.ok() && (v.status().code() == absl::StatusCode::kInvalidArgument ||
                    v.status().code() == absl::StatusCode::kUnauthenticated)) {
      CountRefused(peer);
    }
  }
  return resp;
}

void Gossip::BroadcastEvidence(const EvidencePair& evidence) {
  // Split views are re-sent periodically and a link in backoff sends
  // nothing, so the queue keeps one copy of each pair and a bounded number
  // of pairs (evidence is rare; more than this means a misbehaving origin
  // whose evidence other pairs already prove).
  auto same = [&evidence](const EvidencePair& q) {
    return q.first_note == evidence.first_note && q.second_note == evidence.second_note &&
           q.first.payload() == evidence.first.payload() &&
           q.second.payload() == evidence.second.payload();
  };
  uint64_t queued = 0;
  for (auto& link : links_) {
    absl::MutexLock lock(&link->mu);
    if (link->evidence.size() >= kMaxQueuedEvidence ||
        std::any_of(link->evidence.begin(), link->evidence.end(), same)) {
      continue;
    }
    link->evidence.push_back(evidence);
    ++queued;
  }
  absl::MutexLock lock(&mu_);
  stats_.evidence_sent += queued;
}

void Gossip::Forward(const Envelope& envelope, const std::string& id,
                     const std::string& origin, uint64_t sequence,
                     const std::string& exclude) {
  for (auto& link : links_) {
    if (link->peer.origin == exclude || link->peer.origin == origin) continue;
    absl::MutexLock lock(&link->mu);
    if (link->eager) {
      if (link->pushes.size() >= options_.max_link_queue) {
        link->pushes.pop_front();
        ++link->stats.dropped;
      }
      link->pushes.push_back(envelope);
    } else {
      watchfloor::v1::AlertRef ref;
      ref.set_id(id);
      ref.set_origin(origin);
      ref.set_sequence(sequence);
      if (link->ihaves.size() < options_.max_link_queue) {
        link->ihaves.push_back(std::move(ref));
      }
    }
  }
}

std::function<void(absl::Status)> Gossip::OnStored(Link* link, const Envelope& envelope,
                                                   absl::Time give_up, bool first) {
  if (link == nullptr) return [](absl::Status) {};
  return [this, link, envelope, give_up, first](absl::Status stored) {
    if (stored.code() != absl::StatusCode::kFailedPrecondition) return;
    if (absl::Now() < give_up) {
      absl::MutexLock lock(&mu_);
      if (first) ++stats_.reordered;
      if (!stopping_ && parked_.size() < options_.max_link_queue) {
        std::string id = certs::AlertId(envelope.payload());
        if (!parked_ids_.insert(id).second) return;  // parked already
        AlertKey key = KeyOf(envelope);
        parked_.push_back(
            {link, envelope, std::move(id), std::move(key.origin), key.sequence, give_up});
        return;
      }
    }
    // Still a gap: the sender holds what we miss. Sync with it now.
    absl::MutexLock lock(&link->mu);
    link->sync_requested = true;
  };
}

void Gossip::RetryParked(absl::Time now) {
  std::vector<Parked> parked;
  {
    absl::MutexLock lock(&mu_);
    if (parked_.empty()) return;
    parked.swap(parked_);
  }
  // Per origin, the sequence the store takes next. Envelopes are offered
  // back in sequence order, a whole run at once: a run parked behind one
  // missing alert would otherwise drain one envelope per tick.
  std::map<std::string, uint64_t> next;
  for (FrontierEntry& e : store_->Frontier()) next[e.origin] = e.sequence + 1;
  std::sort(parked.begin(), parked.end(), [](const Parked& a, const Parked& b) {
    return std::tie(a.origin, a.sequence) < std::tie(b.origin, b.sequence);
  });
  std::vector<Parked> keep;
  for (Parked& p : parked) {
    uint64_t& want = next.try_emplace(p.origin, 1).first->second;
    const bool ready = p.sequence <= want;
    if (ready) want = std::max(want, p.sequence + 1);
    if (ready || now >= p.give_up) {
      absl::MutexLock lock(&mu_);
      parked_ids_.erase(p.id);
    }
    if (ready) {
      // OK: queued again (OnStored decides again); ALREADY_EXISTS: it came
      // another way meanwhile; anything else was counted when it first came.
      (void)store_->Offer(p.envelope, OnStored(p.link, p.envelope, p.give_up, false));
    } else if (now >= p.give_up) {
      absl::MutexLock lock(&p.link->mu);
      p.link->sync_requested = true;
    } else {
      keep.push_back(std::move(p));
    }
  }
  absl::MutexLock lock(&mu_);
  for (Parked& p : keep) parked_.push_back(std::move(p));
}

watchfloor::v1::PushVerdict Gossip::Receive(const std::string& peer,
                                            const Envelope& envelope, bool* prunes) {
  Link* link = FindLink(peer);
  AlertKey key = KeyOf(envelope);
  std::string id = certs::AlertId(envelope.payload());
  absl::MutexLock order(&order_mu_[std::hash<std::string>()(key.origin) % kOrderShards]);
  bool parked;
  {
    absl::MutexLock lock(&mu_);
    parked = parked_ids_.count(id) != 0;
  }
  absl::Status st =
      parked ? absl::AlreadyExistsError("parked until its predecessor is stored")
             : store_->Offer(envelope, OnStored(link, envelope,
                                                absl::Now() + options_.frontier_grace,
                                                /*first=*/true));
  bool first_copy = false;
  if (st.ok()) {
    absl::MutexLock lock(&mu_);
    missing_.erase(id);
    first_copy = forwarded_.insert(id).second;
    if (first_copy) {
      forwarded_order_.push_back(id);
      while (forwarded_order_.size() > options_.max_forwarded_ids) {
        forwarded_.erase(forwarded_order_.front());
        forwarded_order_.pop_front();
      }
    }
  }
  if (first_copy) {
    Forward(envelope, id, key.origin, key.sequence, peer);
    absl::MutexLock lock(&mu_);
    if (link != nullptr && first_from_.emplace(id, peer).second) {
      first_from_order_.push_back(id);
      if (first_from_order_.size() > options_.max_link_queue) {
        first_from_.erase(first_from_order_.front());
        first_from_order_.pop_front();
      }
    }
    ++stats_.received_new;
    if (link != nullptr) {
      absl::MutexLock l(&link->mu);
      ++link->stats.received_new;
    }
    return watchfloor::v1::PUSH_VERDICT_NEW;
  }
  // A copy of something already stored, or already forwarded once (and then
  // not stored: the store may take it now, but it is not forwarded again).
  if (st.ok() || st.code() == absl::StatusCode::kAlreadyExists) {
    Link* first = nullptr;
    {
      absl::MutexLock lock(&mu_);
      auto it = first_from_.find(id);
      if (it != first_from_.end() && it->second != peer) first = FindLink(it->second);
    }
    if (prunes != nullptr) {
      bool first_eager = true;
      if (first != nullptr) {
        absl::MutexLock l(&first->mu);
        first_eager = first->eager;
      }
      *prunes = first_eager;
    }
    absl::MutexLock lock(&mu_);
    ++stats_.received_dup;
    if (link != nullptr) {
      absl::MutexLock l(&link->mu);
      ++link->stats.received_dup;
    }
    return watchfloor::v1::PUSH_VERDICT_DUPLICATE;
  }
  absl::MutexLock lock(&mu_);
  ++stats_.refused;
  if (link != nullptr) {
    absl::MutexLock l(&link->mu);
    ++link->stats.refused;
  }
  return watchfloor::v1::PUSH_VERDICT_REFUSED;
}

watchfloor::v1::PushResponse Gossip::HandlePush(
    const std::string& peer, const watchfloor::v1::PushRequest& req) {
  watchfloor::v1::PushResponse resp;
  bool any_new = false;
  for (const Envelope& e : req.envelopes()) {
    bool prunes = false;
    watchfloor::v1::PushVerdict v = Receive(peer, e, &prunes);
    resp.add_verdicts(v);
    if (v == watchfloor::v1::PUSH_VERDICT_DUPLICATE && prunes) resp.set_prune(true);
    if (v == watchfloor::v1::PUSH_VERDICT_NEW) any_new = true;
  }
  if (Link* link = FindLink(peer)) {
    absl::MutexLock lock(&link->mu);
    // Plumtree: a first copy makes the sender an eager peer; a duplicate
    // prunes the link (both ends, via resp.prune) unless the link that
    // brought the first copy is lazy by now (first_from_).
    if (resp.prune()) {
      link->Prune();
    } else if (any_new) {
      link->eager = true;
    }
  }
  return resp;
}

watchfloor::v1::IHaveResponse Gossip::HandleIHave(
    const std::string& peer, const watchfloor::v1::IHaveRequest& req) {
  watchfloor::v1::IHaveResponse resp;
  absl::Time deadline = absl::Now() + options_.graft_timeout;
  int n = 0;
  for (const auto& ref : req.refs()) {
    if (++n > static_cast<int>(kMaxIHaveRefs)) break;
    if (!certs::IsHexId(ref.id())) continue;
    {
      // Most announcements are of alerts that came by push moments ago:
      // answered from memory, not with a store lookup each (at N nodes a
      // node hears about N IHave refs per alert).
      absl::MutexLock lock(&mu_);
      if (first_from_.count(ref.id()) != 0 || parked_ids_.count(ref.id()) != 0) continue;
    }
    if (store_->Has(ref.id())) continue;
    absl::MutexLock lock(&mu_);
    resp.add_missing_ids(ref.id());
    if (missing_.size() >= kMaxMissing && missing_.count(ref.id()) == 0) continue;
    Missing& m = missing_[ref.id()];
    if (m.announcers.empty()) m.deadline = deadline;
    if (std::find(m.announcers.begin(), m.announcers.end(), peer) ==
        m.announcers.end()) {
      m.announcers.push_back(peer);
    }
  }
  return resp;
}

watchfloor::v1::FetchResponse Gossip::HandleFetch(
    const std::string& peer, const watchfloor::v1::FetchRequest& req) {
  watchfloor::v1::FetchResponse resp;
  int n = 0;
  size_t bytes = 0;
  for (const std::string& id : req.ids()) {
    if (++n > static_cast<int>(kMaxFetchIds)) break;
    if (!certs::IsHexId(id)) continue;
    absl::StatusOr<std::optional<Envelope>> got = store_->Get(id);
    if (!got.ok() || !got->has_value()) continue;
    // Ids left out stay missing at the fetcher, which asks again.
    bytes += (*got)->ByteSizeLong();
    if (bytes > kMaxBatchBytes && resp.envelopes_size() > 0) break;
    *resp.add_envelopes() = std::move(**got);
  }
  if (req.graft()) {
    if (Link* link = FindLink(peer)) {
      absl::MutexLock lock(&link->mu);
      link->eager = true;
    }
  }
  return resp;
}

watchfloor::v1::FrontierMessage Gossip::HandleFrontier(
    const std::string& peer, const watchfloor::v1::FrontierMessage& req) {
  watchfloor::v1::FrontierMessage resp;
  std::map<std::string, const watchfloor::v1::FrontierEntry*> theirs;
  for (const auto& e : req.entries()) theirs[e.origin()] = &e;
  Link* link = FindLink(peer);
  for (FrontierEntry& e : store_->Frontier()) {
    auto* out = resp.add_entries();
    out->set_origin(e.origin);
    out->set_sequence(e.sequence);
    out->set_id(e.id);
    out->set_forked(e.forked);
    auto it = theirs.find(e.origin);
    bool they_forked = it != theirs.end() && it->second->forked();
    if (e.forked && !they_forked && link != nullptr) {
      // Tell them why this feed is frozen here.
      absl::StatusOr<std::vector<EvidencePair>> ev = store_->EvidenceFor(e.origin);
      if (ev.ok() && !ev->empty()) {
        absl::MutexLock lock(&link->mu);
        link->evidence.push_back(std::move(ev->front()));
      }
    }
    if (it != theirs.end() && it->second->sequence() > e.sequence && !e.forked &&
        link != nullptr) {
      NoteAhead(link, e.origin, it->second->sequence());
    }
    if (it != theirs.end()) theirs.erase(it);
  }
  // Origins they know and we do not at all.
  if (link != nullptr) {
    for (const auto& [origin, entry] : theirs) NoteAhead(link, origin, entry->sequence());
  }
  return resp;
}

absl::StatusOr<watchfloor::v1::PullRangeResponse> Gossip::HandlePullRange(
    const std::string& peer, const watchfloor::v1::PullRangeRequest& req) {
  if (req.from() == 0 || req.to() < req.from()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "pull range [", req.from(), ", ", req.to(), "] is empty or starts at 0"));
  }
  uint32_t limit = std::min(req.limit() == 0 ? kMaxPullLimit : req.limit(), kMaxPullLimit);
  absl::StatusOr<std::vector<Envelope>> rows =
      store_->ReadRange(req.origin(), req.from(), req.to(), limit);
  if (!rows.ok()) return rows.status();
  watchfloor::v1::PullRangeResponse resp;
  size_t bytes = 0;
  for (Envelope& e : *rows) {
    bytes += e.ByteSizeLong();
    if (bytes > kMaxBatchBytes && resp.envelopes_size() > 0) break;
    *resp.add_envelopes() = std::move(e);
  }
  return resp;
}

watchfloor::v1::PushEvidenceResponse Gossip::HandleEvidence(
    const std::string& peer, const watchfloor::v1::EvidenceMessage& req) {
  // Offering both envelopes lets the ingest path find the contradiction
  // itself: whichever one is not stored conflicts with the one that is.
  watchfloor::v1::PushEvidenceResponse resp;
  if (!req.first_note().empty() || !req.second_note().empty()) {
    absl::Status st = store_->OfferSplitView(req.first_note(), req.second_note());
    if (st.ok()) resp.set_new_evidence(true);
    if (!st.ok() && st.code() != absl::StatusCode::kAlreadyExists &&
        st.code() != absl::StatusCode::kFailedPrecondition) {
      CountRefused(peer);
    }
    return resp;
  }
  for (const Envelope* e : {&req.first(), &req.second()}) {
    absl::Status st = store_->Offer(*e, [](absl::Status) {});
    if (st.ok()) resp.set_new_evidence(true);
    if (!st.ok() && st.code() != absl::StatusCode::kAlreadyExists) CountRefused(peer);
  }
  return resp;
}

void Gossip::CountRefused(const std::string& peer) {
  absl::MutexLock lock(&mu_);
  ++stats_.refused;
  if (Link* link = FindLink(peer)) {
    absl::MutexLock l(&link->mu);
    ++link->stats.refused;
  }
}

absl::StatusOr<uint64_t> Gossip::AntiEntropyWith(const std::string& peer) {
  Link* link = FindLink(peer);
  if (link == nullptr) {
    return absl::NotFoundError(absl::StrCat(peer, " is not a peer"));
  }
  return Round(link, /*pull=*/true);
}

void Gossip::NoteAhead(Link* link, const std::string& origin, uint64_t sequence) {
  absl::MutexLock lock(&link->mu);
  uint64_t& seen = link->ahead[origin];
  seen = std::max(seen, sequence);
  if (link->ahead_check == absl::InfiniteFuture()) {
    link->ahead_check = absl::Now() + options_.frontier_grace;
  }
}

bool Gossip::StillBehind(const std::map<std::string, uint64_t>& ahead) {
  std::map<std::string, FrontierEntry> mine;
  for (FrontierEntry& e : store_->Frontier()) mine[e.origin] = std::move(e);
  for (const auto& [origin, sequence] : ahead) {
    auto it = mine.find(origin);
    if (it == mine.end()) return true;
    if (!it->second.forked && it->second.sequence < sequence) return true;
  }
  return false;
}

absl::StatusOr<uint64_t> Gossip::Round(Link* link, bool pull) {
  const std::string& peer = link->peer.origin;
  watchfloor::v1::FrontierMessage mine;
  std::map<std::string, FrontierEntry> by_origin;
  for (FrontierEntry& e : store_->Frontier()) {
    auto* out = mine.add_entries();
    out->set_origin(e.origin);
    out->set_sequence(e.sequence);
    out->set_id(e.id);
    out->set_forked(e.forked);
    by_origin[e.origin] = std::move(e);
  }
  watchfloor::v1::FrontierMessage theirs;
  {
    grpc::ClientContext ctx;
    SetDeadline(&ctx, options_.rpc_timeout);
    grpc::Status st = link->stub->ExchangeFrontier(&ctx, mine, &theirs);
    if (!st.ok()) {
      absl::MutexLock lock(&link->mu);
      link->Failed(options_);
      return absl::UnavailableError(absl::StrCat("frontier exchange with ", peer,
                                                 " failed: ", st.error_message()));
    }
  }
  uint64_t bytes = mine.ByteSizeLong() + theirs.ByteSizeLong();
  uint64_t pulled = 0;
  for (const auto& e : theirs.entries()) {
    const FrontierEntry* m = nullptr;
    auto it = by_origin.find(e.origin());
    if (it != by_origin.end()) m = &it->second;
    if (m != nullptr && m->forked) continue;
    uint64_t have = m == nullptr ? 0 : m->sequence;
    if (!pull) {
      if (have < e.sequence()) NoteAhead(link, e.origin(), e.sequence());
      continue;
    }
    uint64_t from = have + 1;
    while (from <= e.sequence()) {
      watchfloor::v1::PullRangeRequest req;
      req.set_origin(e.origin());
      req.set_from(from);
      req.set_to(e.sequence());
      req.set_limit(static_cast<uint32_t>(options_.pull_page));
      watchfloor::v1::PullRangeResponse resp;
      grpc::ClientContext ctx;
      SetDeadline(&ctx, options_.rpc_timeout);
      grpc::Status st = link->stub->PullRange(&ctx, req, &resp);
      if (!st.ok()) break;
      bytes += req.ByteSizeLong() + resp.ByteSizeLong();
      if (resp.envelopes_size() == 0) break;
      bool refused = false;
      uint64_t expect = from;
      for (const Envelope& env : resp.envelopes()) {
        // A peer must answer exactly the range asked for, in order; anything
        // else is invalid input, and must not keep this loop going.
        AlertKey key = KeyOf(env);
        if (key.origin != e.origin() || key.sequence != expect) {
          refused = true;
          break;
        }
        ++expect;
        absl::Status offered = store_->Offer(env, [](absl::Status) {});
        if (offered.ok()) {
          ++pulled;
        } else if (offered.code() == absl::StatusCode::kResourceExhausted ||
                   offered.code() == absl::StatusCode::kUnavailable) {
          break;  // our own overload or shutdown, not the peer's fault
        } else if (offered.code() != absl::StatusCode::kAlreadyExists) {
          refused = true;
          break;
        }
      }
      {
        absl::MutexLock lock(&mu_);
        if (stopping_) break;
      }
      if (refused) {
        absl::MutexLock lock(&mu_);
        ++stats_.refused;
        absl::MutexLock l(&link->mu);
        ++link->stats.refused;
        break;
      }
      if (expect == from) break;  // nothing usable: stop rather than spin
      from = expect;
    }
  }
  absl::MutexLock lock(&mu_);
  ++stats_.anti_entropy_rounds;
  stats_.anti_entropy_bytes += bytes;
  stats_.anti_entropy_pulled += pulled;
  return pulled;
}

void Gossip::SenderLoop(Link* link) {
  for (;;) {
    std::vector<Envelope> pushes;
    std::vector<watchfloor::v1::AlertRef> ihaves;
    std::vector<std::string> fetches;
    std::vector<EvidencePair> evidence;
    std::map<std::string, std::string> checkpoints;
    {
      absl::MutexLock lock(&link->mu);
      auto ready = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(link->mu) {
        if (link->stopping) return true;
        absl::Time now = absl::Now();
        if (now < link->next_try) return false;
        return !link->pushes.empty() || !link->fetches.empty() ||
               !link->evidence.empty() || !link->checkpoints.empty() ||
               (!link->ihaves.empty() &&
                now - link->last_ihave >= options_.ihave_interval);
      };
      link->mu.AwaitWithTimeout(absl::Condition(&ready), kTick);
      if (link->stopping) return;
      if (!ready()) continue;
      size_t push_bytes = 0;
      while (!link->pushes.empty() && pushes.size() < options_.max_push_batch) {
        push_bytes += link->pushes.front().ByteSizeLong();
        if (push_bytes > kMaxBatchBytes && !pushes.empty()) break;
        pushes.push_back(std::move(link->pushes.front()));
        link->pushes.pop_front();
      }
      fetches.swap(link->fetches);
      evidence.swap(link->evidence);
      checkpoints.swap(link->checkpoints);
      if (absl::Now() - link->last_ihave >= options_.ihave_interval) {
        ihaves.swap(link->ihaves);
        link->last_ihave = absl::Now();
      }
    }
    bool failed = false;
    for (const EvidencePair& ev : evidence) {
      watchfloor::v1::EvidenceMessage msg;
      *msg.mutable_first() = ev.first;
      *msg.mutable_second() = ev.second;
      msg.set_first_note(ev.first_note);
      msg.set_second_note(ev.second_note);
      watchfloor::v1::PushEvidenceResponse resp;
      grpc::ClientContext ctx;
      SetDeadline(&ctx, options_.rpc_timeout);
      if (!link->stub->PushEvidence(&ctx, msg, &resp).ok()) failed = true;
    }
    for (auto it = checkpoints.begin(); it != checkpoints.end();) {
      watchfloor::v1::PushCheckpointsRequest req;
      auto end = it;
      for (int n = 0; end != checkpoints.end() && n < kMaxCheckpointsPerPush; ++end, ++n) {
        req.add_notes(end->second);
      }
      watchfloor::v1::PushCheckpointsResponse resp;
      grpc::ClientContext ctx;
      SetDeadline(&ctx, options_.rpc_timeout);
      if (!link->stub->PushCheckpoints(&ctx, req, &resp).ok()) {
        failed = true;
        // Keep the newest note per log for after the backoff, unless a newer
        // one was queued meanwhile.
        absl::MutexLock lock(&link->mu);
        for (; it != checkpoints.end(); ++it) link->checkpoints.emplace(it->first, it->second);
        break;
      }
      it = end;
    }
    if (!pushes.empty()) {
      watchfloor::v1::PushRequest req;
      for (Envelope& e : pushes) *req.add_envelopes() = std::move(e);
      watchfloor::v1::PushResponse resp;
      grpc::ClientContext ctx;
      SetDeadline(&ctx, options_.rpc_timeout);
      grpc::Status st = link->stub->Push(&ctx, req, &resp);
      absl::MutexLock lock(&link->mu);
      if (st.ok()) {
        link->stats.pushed += static_cast<uint64_t>(req.envelopes_size());
        if (resp.prune()) link->Prune();
      } else {
        failed = true;
        // Back to the front of the queue, in order, for after the backoff: a
        // push lost to one failed call (the first calls while the channel
        // connects, a reset) would leave the peer a gap that holds up that
        // origin's later alerts there until a graft or anti-entropy fills it.
        const int n = req.envelopes_size();
        const size_t room = options_.max_link_queue > link->pushes.size()
                                ? options_.max_link_queue - link->pushes.size()
                                : 0;
        const int keep = static_cast<int>(std::min<size_t>(static_cast<size_t>(n), room));
        for (int i = n - 1; i >= n - keep; --i) {
          link->pushes.push_front(std::move(*req.mutable_envelopes(i)));
        }
        link->stats.dropped += static_cast<uint64_t>(n - keep);
      }
    }
    if (!fetches.empty()) {
      for (size_t i = 0; i < fetches.size(); i += kMaxFetchIds) {
        watchfloor::v1::FetchRequest req;
        for (size_t j = i; j < fetches.size() && j < i + kMaxFetchIds; ++j) {
          req.add_ids(fetches[j]);
        }
        req.set_graft(true);
        watchfloor::v1::FetchResponse resp;
        grpc::ClientContext ctx;
        SetDeadline(&ctx, options_.rpc_timeout);
        if (!link->stub->Fetch(&ctx, req, &resp).ok()) {
          failed = true;
          break;
        }
        {
          absl::MutexLock lock(&link->mu);
          link->eager = true;  // graft
        }
        {
          absl::MutexLock lock(&mu_);
          stats_.fetched += static_cast<uint64_t>(resp.envelopes_size());
        }
        for (const Envelope& e : resp.envelopes()) Receive(link->peer.origin, e);
      }
    }
    if (!ihaves.empty()) {
      for (size_t i = 0; i < ihaves.size(); i += kMaxIHaveRefs) {
        watchfloor::v1::IHaveRequest req;
        for (size_t j = i; j < ihaves.size() && j < i + kMaxIHaveRefs; ++j) {
          *req.add_refs() = ihaves[j];
        }
        watchfloor::v1::IHaveResponse resp;
        grpc::ClientContext ctx;
        SetDeadline(&ctx, options_.rpc_timeout);
        if (!link->stub->IHave(&ctx, req, &resp).ok()) {
          failed = true;
          break;
        }
        absl::MutexLock lock(&mu_);
        stats_.ihave_sent += static_cast<uint64_t>(req.refs_size());
      }
    }
    absl::MutexLock lock(&link->mu);
    if (failed) {
      link->Failed(options_);
    } else {
      link->Succeeded();
    }
  }
}

void Gossip::CheckMissing(absl::Time now) {
  std::vector<std::pair<std::string, std::string>> fetch;  // (peer, id)
  {
    absl::MutexLock lock(&mu_);
    for (auto it = missing_.begin(); it != missing_.end();) {
      if (it->second.deadline > now) {
        ++it;
        continue;
      }
      Missing& m = it->second;
      // An id nobody delivers (a lie, or an envelope no node stores) is
      // forgotten after a few fetches per announcer; anti-entropy remains.
      if (++m.attempts > 3 * static_cast<int>(m.announcers.size())) {
        it = missing_.erase(it);
        continue;
      }
      fetch.emplace_back(m.announcers.front(), it->first);
      std::rotate(m.announcers.begin(), m.announcers.begin() + 1, m.announcers.end());
      m.deadline = now + options_.graft_timeout;
      ++it;
    }
  }
  for (auto& [peer, id] : fetch) {
    if (store_->Has(id)) {
      absl::MutexLock lock(&mu_);
      missing_.erase(id);
      continue;
    }
    if (Link* link = FindLink(peer)) {
      absl::MutexLock lock(&link->mu);
      link->fetches.push_back(id);
    }
  }
}

void Gossip::TimerLoop() {
  absl::Time next_round = absl::Now() + options_.anti_entropy_interval;
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      auto stop = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
      mu_.AwaitWithTimeout(absl::Condition(&stop), kTick);
      if (stopping_) return;
    }
    absl::Time now = absl::Now();
    CheckMissing(now);
    RetryParked(now);
    // Peers that sent a push we could not place even after waiting for its
    // predecessor, or whose frontier still shows more than we hold after
    // frontier_grace: sync with them now.
    for (auto& link : links_) {
      bool sync;
      std::map<std::string, uint64_t> ahead;
      {
        absl::MutexLock lock(&link->mu);
        sync = link->sync_requested && now >= link->next_try;
        link->sync_requested = false;
        if (link->ahead_check <= now && now >= link->next_try) {
          ahead.swap(link->ahead);
          link->ahead_check = absl::InfiniteFuture();
        }
      }
      if (!sync && !ahead.empty()) sync = StillBehind(ahead);
      if (sync) (void)Round(link.get(), /*pull=*/true);
    }
    if (now >= next_round && !links_.empty()) {
      size_t pick;
      {
        absl::MutexLock lock(&mu_);
        pick = std::uniform_int_distribution<size_t>(0, links_.size() - 1)(rng_);
      }
      // Frontiers only; what the peer is ahead by is pulled after
      // frontier_grace unless push brought it by then.
      (void)Round(links_[pick].get(), /*pull=*/false);
      next_round = absl::Now() + options_.anti_entropy_interval;
    }
  }
}

Gossip::Stats Gossip::stats() const {
  Stats out;
  {
    absl::MutexLock lock(&mu_);
    out = stats_;
  }
  for (const auto& link : links_) {
    absl::MutexLock lock(&link->mu);
    PeerStats s = link->stats;
    s.eager = link->eager;
    out.peers[link->peer.origin] = s;
  }
  return out;
}

}  // namespace watchfloor::federation
