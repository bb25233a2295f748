#include "federation/gossip.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <iterator>
#include <deque>
#include <tuple>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "certs/ids.h"
#include "federation/link_queue.h"
#include "federation/peer_score.h"
#include "log/log.h"

namespace watchfloor::federation {

using watchfloor::v1::Envelope;

namespace {

constexpr absl::Duration kTick = absl::Milliseconds(10);
constexpr size_t kMaxIHaveRefs = 1024;
// Announced-but-missing ids remembered at once; more are left to
// anti-entropy, so that a peer cannot grow this without bound.
constexpr size_t kMaxMissing = 65536;
constexpr size_t kMaxFetchIds = 256;
// Origins one link keeps an eager/lazy choice for (Link::eager_for).
constexpr size_t kMaxTreeOrigins = 4096;
constexpr uint32_t kMaxPullLimit = 1024;
// Peers a starting node pulls from at once (Gossip::Start).
constexpr size_t kStartRounds = 8;
// Envelope bytes per Federation message (a Push request, a Fetch or
// PullRange response): a federation node's gRPC limit is max_message_bytes,
// at least 1 MiB (docs/CONFIG.md), and the rest of the message needs room.
// At least one envelope always goes (an alert is <= 64 KiB).
constexpr size_t kMaxBatchBytes = (1 << 20) - (64 << 10);
// What one signature of a pulled envelope counts for when NextPull tells
// a full page by its bytes: an honest Signature's wire size (a 64-hex
// keyid and 64 bytes of Ed25519: 134 bytes), rounded up.
constexpr size_t kSignatureBytes = 160;

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

// Roster versions per GetRosterChain answer, and answers one fetch reads:
// a chain longer than that is adopted in part and fetched again.
constexpr uint32_t kMaxRosterVersions = 64;
constexpr int kMaxRosterPages = 16;

// Notes per PushCheckpoints call (FederationService::kMaxCheckpointsPerPush).
constexpr int kMaxCheckpointsPerPush = 64;
// Co-signatures per PushCosignatures / PullCosignatures call
// (federation_handler.h kMaxCosignaturesPerPush).
constexpr size_t kMaxCosignaturesPerCall = 256;
constexpr size_t kMaxDeferredCosignatures = 4096;
// PeerStats::refused_by_reason of a push refused unverified (peer_score.h).
constexpr absl::string_view kGraylisted = "graylisted";

}  // namespace

struct Gossip::Link {
  Link(size_t max_bytes, absl::Duration score_half_life)
      : queue(max_bytes), score(score_half_life) {}

  Peer peer;
  std::unique_ptr<PeerChannel> channel;
  std::vector<std::thread> threads;  // one per lane

  absl::Mutex mu;
  bool stopping ABSL_GUARDED_BY(mu) = false;
  // A flow of its calls is in progress, per lane (Pump; a link thread's
  // own flow needs no mark).
  bool busy[4] ABSL_GUARDED_BY(mu) = {false, false, false, false};
  // Plumtree's eager/lazy choice, kept per origin: one tree per origin, as
  // riak_core's plumtree keeps one per root. With every member publishing,
  // one tree shared by all origins is pruned at different edges by
  // different origins' duplicates at once, and can settle into a cycle of
  // prunes and grafts (docs/FEDERATION.md "One tree per origin").
  // `eager` is the choice for origins without their own entry (the random
  // eager set at start; false after a whole-link prune).
  bool eager ABSL_GUARDED_BY(mu) = false;
  std::map<std::string, bool> eager_for ABSL_GUARDED_BY(mu);
  // Everything queued for the peer (and held on its behalf), bounded in
  // bytes by Options::max_link_bytes.
  LinkQueue queue ABSL_GUARDED_BY(mu);
  bool sync_requested ABSL_GUARDED_BY(mu) = false;
  // An anti-entropy round the timer asked for (a RoundKind), run by this
  // link's thread so that a slow peer delays only itself.
  int round ABSL_GUARDED_BY(mu) = kNoRound;
  // For a kPullNoted round: per origin, the sequence up to which to pull
  // (what NoteAhead saw and push had not brought after frontier_grace).
  std::map<std::string, uint64_t> pull_to ABSL_GUARDED_BY(mu);
  // Calls in progress to the peer, cancelled by Stop().
  std::set<PeerChannel::Call*> calls ABSL_GUARDED_BY(mu);
  // Where its frontier was ahead of ours (origin -> its sequence), and when
  // to check whether push delivered that meanwhile (NoteAhead).
  std::map<std::string, uint64_t> ahead ABSL_GUARDED_BY(mu);
  absl::Time ahead_check ABSL_GUARDED_BY(mu) = absl::InfiniteFuture();
  absl::Time next_try ABSL_GUARDED_BY(mu) = absl::InfinitePast();
  absl::Duration backoff ABSL_GUARDED_BY(mu) = absl::ZeroDuration();
  absl::Time last_ihave ABSL_GUARDED_BY(mu) = absl::InfinitePast();
  // The peer's co-signature position up to which this node has pulled
  // (PullCosignatures); only the link's own thread moves it.
  uint64_t cosignatures_pulled ABSL_GUARDED_BY(mu) = 0;
  // Pulled co-signatures of alerts not stored here yet (their feed is
  // still on its way): offered again each round, at most
  // kMaxDeferredCosignatures, the oldest dropped first.
  std::deque<CosignatureOffer> deferred_cosignatures ABSL_GUARDED_BY(mu);
  PeerStats stats ABSL_GUARDED_BY(mu);
  // How the peer behaved lately (peer_score.h).
  PeerScore score ABSL_GUARDED_BY(mu);

  // Below the eager threshold the peer gets announcements only.
  bool MayBeEager(const Options& o, absl::Time now) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    return score.Value(now) >= o.eager_threshold;
  }
  // Whether `origin`'s alerts go to the peer in full.
  bool EagerFor(const std::string& origin) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    auto it = eager_for.find(origin);
    return it == eager_for.end() ? eager : it->second;
  }
  // Eager for at least one origin.
  bool AnyEager() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (eager) return true;
    for (const auto& [origin, e] : eager_for) {
      if (e) return true;
    }
    return false;
  }
  // Makes `origin`'s tree use (graft) or skip the link. Entries are bounded
  // (kMaxTreeOrigins, far above any roster); past it, new origins follow
  // `eager`.
  void SetEager(const std::string& origin, bool e) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    auto it = eager_for.find(origin);
    if (it != eager_for.end()) {
      it->second = e;
    } else if (eager_for.size() < kMaxTreeOrigins) {
      eager_for.emplace(origin, e);
    }
  }

  // Called with mu held after a failed RPC.
  void Failed(const Options& o, absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    backoff = backoff == absl::ZeroDuration()
                  ? o.min_backoff
                  : std::min(backoff * 2, o.max_backoff);
    next_try = now + backoff;
    stats.reachable = false;
  }
  // Makes the link lazy for every origin (a score below the eager
  // threshold, a graylisted push). Pushes still queued for it become
  // announcements: sent whole, a first copy among them would make the peer
  // eager again at once (HandlePush), so the link would flip back and forth.
  void Prune() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    eager = false;
    eager_for.clear();
    queue.PushesToIHaves("");
  }
  // Makes the link lazy for `origin` only (a duplicate of its alert).
  void PruneOrigin(const std::string& origin) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    SetEager(origin, false);
    queue.PushesToIHaves(origin);
  }
  // The peer holds `origin` up to `sequence`; checked at `check_at` (the
  // first noted since the last check sets it) whether push brought that.
  void NoteAhead(const std::string& origin, uint64_t sequence, absl::Time check_at)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    uint64_t& seen = ahead[origin];
    seen = std::max(seen, sequence);
    if (ahead_check == absl::InfiniteFuture()) ahead_check = check_at;
  }
  // A call to the peer answered after `took`: the smoothed round trip moves
  // an eighth of the way there (TCP's SRTT, RFC 6298).
  void NoteRtt(absl::Duration took) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    stats.rtt = stats.rtt == absl::ZeroDuration() ? took : stats.rtt + (took - stats.rtt) / 8;
  }
  void Succeeded(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    backoff = absl::ZeroDuration();
    next_try = absl::InfinitePast();
    stats.reachable = true;
    stats.last_contact = now;
  }
  // A call this node made to the peer: what went each way.
  void CountCall(const google::protobuf::Message& request,
                 const google::protobuf::Message& response) {
    const size_t sent = request.ByteSizeLong();
    const size_t received = response.ByteSizeLong();
    absl::MutexLock lock(&mu);
    stats.bytes_sent += sent;
    stats.bytes_received += received;
  }
};

// One RPC to a link's peer: a context with the rpc deadline, registered with
// the link for as long as the call lasts so that Stop() can cancel it.
class Gossip::Call {
 public:
  Call(Link* link, absl::Duration timeout)
      : link_(link), call_(link->channel->NewCall(timeout)) {
    absl::MutexLock lock(&link_->mu);
    // Cancelled before it starts: the call fails at once.
    if (link_->stopping) call_->Cancel();
    link_->calls.insert(call_.get());
  }
  ~Call() {
    absl::MutexLock lock(&link_->mu);
    link_->calls.erase(call_.get());
  }
  Call(const Call&) = delete;
  Call& operator=(const Call&) = delete;

  PeerChannel::Call* get() { return call_.get(); }

 private:
  Link* const link_;
  const std::unique_ptr<PeerChannel::Call> call_;
};

// Counts the store callbacks (OnStored) that exist, so that Stop() can wait
// until none can run any more. Shared with every callback: the last one may
// be destroyed after the engine is.
struct Gossip::Callbacks {
  absl::Mutex mu;
  int64_t live ABSL_GUARDED_BY(mu) = 0;
};

// Owned (shared) by one OnStored callback and its copies; destroyed with the
// last copy, when the store has run it or never will.
class Gossip::CallbackGuard {
 public:
  CallbackGuard(std::shared_ptr<Callbacks> callbacks, Link* link, size_t held)
      : callbacks_(std::move(callbacks)), link_(link), held_(held) {}
  ~CallbackGuard() {
    if (held_ > 0) {
      absl::MutexLock lock(&link_->mu);
      link_->queue.Release(held_);
    }
    // Last: once live drops to 0 Stop() may return and the engine go.
    absl::MutexLock lock(&callbacks_->mu);
    --callbacks_->live;
  }
  CallbackGuard(const CallbackGuard&) = delete;
  CallbackGuard& operator=(const CallbackGuard&) = delete;

 private:
  const std::shared_ptr<Callbacks> callbacks_;
  Link* const link_;
  const size_t held_;
};

Gossip::Gossip(std::string self, FeedStore* store, std::vector<Peer> peers,
               ChannelFactory channels, Options options)
    : Gossip(std::move(self), store, std::move(peers), MakeGrpcTransport(std::move(channels)),
             options) {}

Gossip::Gossip(std::string self, FeedStore* store, std::vector<Peer> peers,
               std::unique_ptr<Transport> transport, Options options)
    : self_(std::move(self)),
      store_(store),
      options_(options),
      clock_(options.clock != nullptr ? options.clock : Clock::Real()),
      transport_(std::move(transport)),
      callbacks_(std::make_shared<Callbacks>()) {
  std::random_device rd;
  rng_.seed(options_.seed != 0 ? options_.seed : (uint64_t{rd()} << 32 | rd()));
  graft_wait_ns_.store(absl::ToInt64Nanoseconds(options_.graft_timeout));
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
  auto links = std::make_shared<LinkList>();
  for (size_t i = 0; i < peers.size(); ++i) {
    std::shared_ptr<Link> link = MakeLink(peers[i]);
    absl::MutexLock lock(&link->mu);
    link->eager = eager[i];
    links->push_back(std::move(link));
  }
  absl::MutexLock lock(&links_mu_);
  links_ = std::move(links);
}

Gossip::~Gossip() { Stop(); }

std::shared_ptr<Gossip::Link> Gossip::MakeLink(const Peer& peer) {
  auto link = std::make_shared<Link>(options_.max_link_bytes, options_.score_half_life);
  link->peer = peer;
  link->channel = transport_->Connect(peer);
  return link;
}

std::shared_ptr<const Gossip::LinkList> Gossip::Links() const {
  absl::MutexLock lock(&links_mu_);
  return links_;
}

void Gossip::Start() {
  absl::MutexLock life(&lifecycle_mu_);
  absl::MutexLock lock(&mu_);
  if (started_ || stopping_) return;
  started_ = true;
  const std::shared_ptr<const LinkList> held_links = Links();
  // A node that starts has been away, or is new: what its peers hold
  // beyond it is not on its way by push. Its first rounds pull it at once
  // from a few random peers, whose links divide the origins (pulling_);
  // the timer's rounds reach the rest.
  std::vector<Link*> first;
  if (options_.pull_at_start) {
    for (const auto& link : *held_links) first.push_back(link.get());
    std::shuffle(first.begin(), first.end(), rng_);
    first.resize(std::min(first.size(), kStartRounds));
  }
  for (Link* link : first) {
    absl::MutexLock l(&link->mu);
    link->round = kPullAll;
  }
  if (!options_.external_pump) {
    for (const auto& link : *held_links) {
      for (Lane lane : Lanes()) {
        link->threads.emplace_back([this, l = link.get(), lane] { SenderLoop(l, lane); });
      }
    }
  }
  if (!options_.external_timer) timer_ = std::thread([this] { TimerLoop(); });
  if (roster_hooks_.adopt) roster_fetcher_ = std::thread([this] { RosterFetchLoop(); });
}

void Gossip::SetPeers(std::vector<Peer> peers) {
  absl::MutexLock life(&lifecycle_mu_);
  std::shared_ptr<const LinkList> old = Links();
  // Wanted: origin -> peer, the first entry per origin.
  std::map<std::string, Peer> wanted;
  for (const Peer& p : peers) {
    if (p.origin != self_) wanted.emplace(p.origin, p);
  }
  auto next = std::make_shared<LinkList>();
  LinkList removed;
  // The score is the member's, not the connection's: a peer that moves to
  // a new endpoint or CA keeps what it earned or lost (a graylisted peer
  // cannot clear its score by re-registering its node).
  std::map<std::string, PeerScore> carried;
  size_t eager = 0;
  for (const auto& link : *old) {
    auto it = wanted.find(link->peer.origin);
    if (it == wanted.end() || it->second.endpoint != link->peer.endpoint ||
        it->second.trust_roots_pem != link->peer.trust_roots_pem) {
      if (it != wanted.end()) {
        absl::MutexLock lock(&link->mu);
        carried.emplace(link->peer.origin, link->score);
      }
      removed.push_back(link);
      continue;
    }
    wanted.erase(it);
    next->push_back(link);
    absl::MutexLock lock(&link->mu);
    if (link->eager) ++eager;
  }
  LinkList added;
  for (const Peer& p : peers) {
    auto it = wanted.find(p.origin);
    if (it == wanted.end()) continue;
    std::shared_ptr<Link> link = MakeLink(it->second);
    wanted.erase(it);
    {
      absl::MutexLock lock(&link->mu);
      if (auto c = carried.find(p.origin); c != carried.end()) link->score = c->second;
      link->eager = eager < options_.eager_fanout && link->MayBeEager(options_, clock_->Now());
      if (link->eager) ++eager;
    }
    next->push_back(link);
    added.push_back(std::move(link));
  }
  if (removed.empty() && added.empty()) return;

  std::set<Link*> gone;
  for (const auto& link : removed) gone.insert(link.get());
  std::vector<Parked> unparked;
  {
    absl::MutexLock lock(&mu_);
    {
      absl::MutexLock l(&links_mu_);
      links_ = next;
      retired_.insert(retired_.end(), removed.begin(), removed.end());
    }
    const bool running = started_ && !stopping_;
    for (const auto& link : added) {
      if (running) {
        {
          // The first round: its feed here, our frontier there.
          absl::MutexLock l(&link->mu);
          link->round = kPullAll;
        }
        if (!options_.external_pump) {
          for (Lane lane : Lanes()) {
            link->threads.emplace_back([this, l = link.get(), lane] { SenderLoop(l, lane); });
          }
        }
      } else if (stopping_) {
        absl::MutexLock l(&link->mu);
        link->stopping = true;
      }
    }
    // Whatever waits on a removed peer is dropped: its parked envelopes
    // (anti-entropy with the remaining peers brings what they were), and
    // its announcements (never fetched from it now).
    for (auto it = parked_.begin(); it != parked_.end();) {
      if (gone.count(it->link) == 0) {
        ++it;
        continue;
      }
      parked_ids_.erase(it->id);
      unparked.push_back(std::move(*it));
      it = parked_.erase(it);
    }
    for (auto it = missing_.begin(); it != missing_.end();) {
      std::vector<std::string>& a = it->second.announcers;
      a.erase(std::remove_if(a.begin(), a.end(),
                             [&](const std::string& o) {
                               for (const auto& link : removed) {
                                 if (link->peer.origin == o) return true;
                               }
                               return false;
                             }),
              a.end());
      it = a.empty() ? missing_.erase(it) : std::next(it);
    }
  }
  for (const Parked& p : unparked) {
    absl::MutexLock lock(&p.link->mu);
    p.link->queue.Release(p.held);
  }
  for (const auto& link : removed) {
    absl::MutexLock lock(&link->mu);
    link->stopping = true;
    for (PeerChannel::Call* call : link->calls) call->Cancel();
  }
  for (const auto& link : removed) {
    // A worker cannot join itself (SetPeers called from it, against the
    // contract): Stop joins it then.
    for (std::thread& t : link->threads) {
      if (t.joinable() && t.get_id() != std::this_thread::get_id()) t.join();
    }
    // Emptied after the worker stopped: a failed push puts its batch back.
    absl::MutexLock lock(&link->mu);
    link->queue.TakePushes(SIZE_MAX, SIZE_MAX);
    link->queue.TakeIHaves();
    link->queue.TakeFetches();
    link->queue.TakeEvidence();
    link->queue.TakeCheckpoints();
    link->ahead.clear();
    link->pull_to.clear();
    link->round = kNoRound;
    link->sync_requested = false;
  }
}

void Gossip::SetRosterHooks(RosterHooks hooks) { roster_hooks_ = std::move(hooks); }

void Gossip::Stop() {
  absl::MutexLock life(&lifecycle_mu_);
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  {
    absl::MutexLock lock(&roster_mu_);
    roster_stopping_ = true;
  }
  LinkList all = *Links();
  {
    absl::MutexLock lock(&links_mu_);
    all.insert(all.end(), retired_.begin(), retired_.end());
  }
  for (auto& link : all) {
    absl::MutexLock lock(&link->mu);
    link->stopping = true;
    // A peer that is slow to answer must not hold up the stop.
    for (PeerChannel::Call* call : link->calls) call->Cancel();
  }
  for (auto& link : all) {
    for (std::thread& t : link->threads) {
      if (t.joinable()) t.join();
    }
  }
  if (timer_.joinable()) timer_.join();
  if (roster_fetcher_.joinable()) roster_fetcher_.join();
  // The store may still hold callbacks (OnStored) that use this engine;
  // FeedStore::Offer promises to run or drop each one.
  Callbacks* cb = callbacks_.get();
  absl::MutexLock lock(&cb->mu);
  // Await evaluates the condition with cb->mu held. (No lock annotation on
  // the lambda: clang cannot name a capture in one.)
  auto none = [cb]() {
    cb->mu.AssertHeld();
    return cb->live == 0;
  };
  cb->mu.Await(absl::Condition(&none));
}

Gossip::Link* Gossip::FindLink(const std::string& origin) const {
  const std::shared_ptr<const LinkList> held_links = Links();
  for (const auto& link : *held_links) {
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
  uint64_t queued = 0;
  const std::shared_ptr<const LinkList> held_links = Links();
  for (const auto& link : *held_links) {
    absl::MutexLock lock(&link->mu);
    if (link->queue.AddCheckpoint(log, note, /*replace=*/true)) ++queued;
  }
  absl::MutexLock lock(&mu_);
  stats_.checkpoints_sent += queued;
}

void Gossip::BroadcastCosignatures(const std::vector<CosignatureOffer>& cosignatures) {
  uint64_t queued = 0;
  const std::shared_ptr<const LinkList> held_links = Links();
  for (const auto& link : *held_links) {
    absl::MutexLock lock(&link->mu);
    for (const CosignatureOffer& c : cosignatures) {
      if (link->queue.AddCosignature(c)) ++queued;
    }
  }
  absl::MutexLock lock(&mu_);
  stats_.cosignatures_sent += queued;
}

namespace {

// A co-signature refused for being bad, not for this node's own state.
bool BadCosignature(const absl::Status& st) {
  return st.code() == absl::StatusCode::kInvalidArgument ||
         st.code() == absl::StatusCode::kUnauthenticated ||
         st.code() == absl::StatusCode::kFailedPrecondition;
}

CosignatureOffer FromProto(const watchfloor::v1::AlertCosignature& c) {
  CosignatureOffer o;
  o.alert_id = c.alert_id();
  o.signature = c.signature();
  o.position = c.position();
  return o;
}

}  // namespace

watchfloor::v1::PushCosignaturesResponse Gossip::HandleCosignatures(
    const std::string& peer, const watchfloor::v1::PushCosignaturesRequest& req) {
  std::vector<CosignatureOffer> offers;
  offers.reserve(req.cosignatures_size());
  for (const auto& c : req.cosignatures()) offers.push_back(FromProto(c));
  std::vector<absl::StatusOr<bool>> verdicts = store_->OfferCosignatures(offers);
  watchfloor::v1::PushCosignaturesResponse resp;
  for (const absl::StatusOr<bool>& v : verdicts) {
    resp.add_new_info(v.ok() && *v);
    if (!v.ok() && BadCosignature(v.status())) CountRefused(peer, "bad_cosignature");
  }
  return resp;
}

watchfloor::v1::PullCosignaturesResponse Gossip::HandlePullCosignatures(
    const std::string& /*peer*/, const watchfloor::v1::PullCosignaturesRequest& req) {
  const size_t limit = req.limit() == 0 || req.limit() > kMaxCosignaturesPerCall
                           ? kMaxCosignaturesPerCall
                           : req.limit();
  watchfloor::v1::PullCosignaturesResponse resp;
  absl::StatusOr<std::vector<CosignatureOffer>> rows = store_->ReadCosignaturesAfter(req.after(), limit);
  if (!rows.ok()) return resp;
  for (const CosignatureOffer& c : *rows) {
    auto* out = resp.add_cosignatures();
    out->set_alert_id(c.alert_id);
    *out->mutable_signature() = c.signature;
    out->set_position(c.position);
  }
  return resp;
}

uint64_t Gossip::OfferPulledCosignatures(Link* link, std::vector<CosignatureOffer> offers) {
  if (offers.empty()) return 0;
  std::vector<absl::StatusOr<bool>> verdicts = store_->OfferCosignatures(offers);
  uint64_t fresh = 0;
  std::vector<CosignatureOffer> later;
  for (size_t i = 0; i < verdicts.size(); ++i) {
    const absl::StatusOr<bool>& v = verdicts[i];
    if (v.ok()) {
      fresh += *v ? 1 : 0;
    } else if (BadCosignature(v.status())) {
      CountRefused(link->peer.origin, "bad_cosignature");
    } else {
      later.push_back(std::move(offers[i]));
    }
  }
  absl::MutexLock lock(&link->mu);
  for (CosignatureOffer& c : later) {
    link->deferred_cosignatures.push_back(std::move(c));
    if (link->deferred_cosignatures.size() > kMaxDeferredCosignatures) {
      link->deferred_cosignatures.pop_front();
    }
  }
  return fresh;
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
      CountRefused(peer, "bad_checkpoint");
    }
  }
  return resp;
}

void Gossip::BroadcastEvidence(const EvidencePair& evidence) {
  // Split views are re-sent periodically and a link in backoff sends
  // nothing, so the queue keeps one copy of each pair (LinkQueue).
  uint64_t queued = 0;
  const std::shared_ptr<const LinkList> held_links = Links();
  for (const auto& link : *held_links) {
    absl::MutexLock lock(&link->mu);
    if (link->queue.AddEvidence(evidence)) ++queued;
  }
  absl::MutexLock lock(&mu_);
  stats_.evidence_sent += queued;
}

void Gossip::Forward(const Envelope& envelope, const std::string& id,
                     const std::string& origin, uint64_t sequence,
                     const std::string& exclude) {
  const std::shared_ptr<const LinkList> held_links = Links();
  std::vector<Link*> lazy;
  for (const auto& link : *held_links) {
    if (link->peer.origin == exclude || link->peer.origin == origin) continue;
    absl::MutexLock lock(&link->mu);
    // Past the link's byte budget the item is dropped (and counted):
    // anti-entropy brings the peer what it missed.
    if (link->EagerFor(origin)) {
      link->queue.AddPush({id, origin, sequence, envelope});
    } else {
      lazy.push_back(link.get());
    }
  }
  const size_t fanout = options_.lazy_fanout;
  if (fanout != 0 && lazy.size() > fanout) {
    // The first `fanout` of a random permutation (partial Fisher-Yates).
    absl::MutexLock lock(&mu_);
    for (size_t i = 0; i < fanout; ++i) {
      std::swap(lazy[i], lazy[std::uniform_int_distribution<size_t>(i, lazy.size() - 1)(rng_)]);
    }
    lazy.resize(fanout);
  }
  for (Link* link : lazy) {
    watchfloor::v1::AlertRef ref;
    ref.set_id(id);
    ref.set_origin(origin);
    ref.set_sequence(sequence);
    absl::MutexLock lock(&link->mu);
    link->queue.AddIHave(std::move(ref));
  }
}

std::function<void(absl::Status)> Gossip::OnPulled(Link* link) {
  {
    absl::MutexLock lock(&mu_);
    // After Stop() nothing may be left that calls back into the engine.
    if (stopping_) return [](absl::Status) {};
    absl::MutexLock l(&callbacks_->mu);
    ++callbacks_->live;
  }
  auto guard = std::make_shared<const CallbackGuard>(callbacks_, link, 0);
  return [this, link, guard](absl::Status stored) {
    if (!stored.ok()) return;
    {
      absl::MutexLock lock(&link->mu);
      ++link->stats.pulled;
    }
    absl::MutexLock lock(&mu_);
    ++stats_.anti_entropy_pulled;
  };
}

std::function<void(absl::Status)> Gossip::OnStored(Link* link, const Envelope& envelope,
                                                   absl::Time give_up, bool first) {
  if (link == nullptr) return [](absl::Status) {};
  {
    absl::MutexLock lock(&mu_);
    // After Stop() nothing may be left that calls back into the engine.
    if (stopping_) return [](absl::Status) {};
    absl::MutexLock l(&callbacks_->mu);
    ++callbacks_->live;
  }
  // The copy kept for forwarding or parking counts against the sender's
  // byte budget; past it, the envelope is stored but not forwarded
  // (anti-entropy brings it to the peers), and a gap makes the node sync
  // with the sender instead of parking.
  const size_t cost = envelope.ByteSizeLong() + LinkQueue::kItemOverhead;
  bool keep;
  {
    absl::MutexLock lock(&link->mu);
    keep = link->queue.Hold(cost);
  }
  auto guard = std::make_shared<const CallbackGuard>(callbacks_, link, keep ? cost : 0);
  std::shared_ptr<const LinkQueue::Push> copy;
  if (keep) {
    AlertKey key = KeyOf(envelope);
    copy = std::make_shared<const LinkQueue::Push>(LinkQueue::Push{
        certs::AlertId(envelope.payload()), std::move(key.origin), key.sequence, envelope});
  }
  return [this, link, guard, copy, give_up, first](absl::Status stored) {
    if (stored.ok()) {
      // Forwarded once stored, from the store's thread: in the order the
      // store committed, which for each origin is sequence order, so no
      // peer sees a gap this node made. A stored id is stored once, so it
      // is forwarded once.
      if (copy != nullptr) {
        Forward(copy->envelope, copy->id, copy->origin, copy->sequence, link->peer.origin);
      }
      return;
    }
    if (stored.code() != absl::StatusCode::kFailedPrecondition) return;
    if (copy != nullptr && clock_->Now() < give_up) {
      absl::MutexLock lock(&mu_);
      if (first) ++stats_.reordered;
      if (!stopping_ && parked_.size() < options_.max_link_queue) {
        if (parked_ids_.count(copy->id) != 0) return;  // parked already
        const size_t cost = copy->envelope.ByteSizeLong() + LinkQueue::kItemOverhead;
        bool held;
        {
          absl::MutexLock l(&link->mu);
          held = link->queue.Hold(cost);
        }
        if (held) {
          parked_ids_.insert(copy->id);
          parked_.push_back(
              {link, copy->envelope, copy->id, copy->origin, copy->sequence, give_up, cost});
          return;
        }
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
      {
        absl::MutexLock lock(&mu_);
        parked_ids_.erase(p.id);
      }
      absl::MutexLock lock(&p.link->mu);
      p.link->queue.Release(p.held);
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
                                            const Envelope& envelope, bool* prunes,
                                            std::string* origin) {
  Link* link = FindLink(peer);
  AlertKey key = KeyOf(envelope);
  if (origin != nullptr) *origin = key.origin;
  std::string id = certs::AlertId(envelope.payload());
  // No lock is held across the offer (signature check, store lookup): the
  // order in which this node forwards an origin's alerts is the order its
  // store commits them (OnStored).
  bool parked;
  {
    absl::MutexLock lock(&mu_);
    parked = parked_ids_.count(id) != 0;
  }
  absl::Status st;
  if (parked) {
    st = absl::AlreadyExistsError("parked until its predecessor is stored");
  } else if (store_->HoldsCopy(envelope, id, key.origin, key.sequence)) {
    // A byte-for-byte copy of a stored alert (a replay, a late duplicate):
    // answered from one store lookup, without a signature check.
    st = absl::AlreadyExistsError("a copy of a stored alert");
  } else {
    st = store_->Offer(envelope, OnStored(link, envelope, clock_->Now() + FrontierGrace(),
                                          /*first=*/true));
  }
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
      link->score.FirstDelivery(clock_->Now());
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
        first_eager = first->EagerFor(key.origin);
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
  CountRefused(peer, absl::AsciiStrToLower(absl::StatusCodeToString(st.code())));
  return watchfloor::v1::PUSH_VERDICT_REFUSED;
}

watchfloor::v1::PushResponse Gossip::HandlePush(
    const std::string& peer, const watchfloor::v1::PushRequest& req) {
  watchfloor::v1::PushResponse resp;
  Link* from = FindLink(peer);
  std::set<std::string> duplicate_origins, new_origins;
  bool graylisted_push = false;
  for (const Envelope& e : req.envelopes()) {
    if (from != nullptr) {
      bool graylisted;
      {
        absl::MutexLock lock(&from->mu);
        graylisted = from->score.Value(clock_->Now()) < options_.graylist_threshold;
      }
      if (graylisted) {
        // Not verified, not stored, not forwarded: a peer that flooded this
        // node with invalid input costs it no more signature checks until
        // its score recovers. Anti-entropy brings a valid alert among these
        // later, from this peer or another.
        resp.add_verdicts(watchfloor::v1::PUSH_VERDICT_REFUSED);
        CountRefused(peer, kGraylisted);
        // The peer should announce rather than push: what this node wants
        // of it, it fetches (fetch answers are verified, never graylisted).
        resp.set_prune(true);
        graylisted_push = true;
        continue;
      }
    }
    bool prunes = false;
    std::string origin;
    watchfloor::v1::PushVerdict v = Receive(peer, e, &prunes, &origin);
    resp.add_verdicts(v);
    if (v == watchfloor::v1::PUSH_VERDICT_DUPLICATE) {
      duplicate_origins.insert(origin);
      if (prunes) resp.set_prune(true);
    }
    if (v == watchfloor::v1::PUSH_VERDICT_NEW) new_origins.insert(std::move(origin));
  }
  if (Link* link = from) {
    absl::MutexLock lock(&link->mu);
    // Plumtree, one tree per origin: a first copy makes the sender an eager
    // peer for its origin (unless its score keeps it lazy); a duplicate
    // prunes the link for its origin, at both ends (the sender prunes the
    // origins its push got DUPLICATE for when resp.prune is set), unless
    // the link that brought the first copy is lazy by now (first_from_). A
    // graylisted push prunes the link for every origin.
    if (graylisted_push) {
      link->Prune();
    } else {
      if (resp.prune()) {
        for (const std::string& o : duplicate_origins) link->PruneOrigin(o);
      }
      if (!new_origins.empty() && link->MayBeEager(options_, clock_->Now())) {
        for (const std::string& o : new_origins) {
          if (!resp.prune() || duplicate_origins.count(o) == 0) link->SetEager(o, true);
        }
      }
    }
  }
  return resp;
}

watchfloor::v1::IHaveResponse Gossip::HandleIHave(
    const std::string& peer, const watchfloor::v1::IHaveRequest& req) {
  watchfloor::v1::IHaveResponse resp;
  absl::Time deadline = clock_->Now() + GraftWait();
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
  if (req.graft() && resp.envelopes_size() > 0) {
    if (Link* link = FindLink(peer)) {
      // The peer joins the trees of the origins it fetched (a peer whose
      // score keeps it lazy keeps fetching what it misses).
      std::set<std::string> origins;
      for (const Envelope& e : resp.envelopes()) origins.insert(KeyOf(e).origin);
      absl::MutexLock lock(&link->mu);
      if (link->MayBeEager(options_, clock_->Now())) {
        for (const std::string& o : origins) link->SetEager(o, true);
      }
    }
  }
  return resp;
}

watchfloor::v1::FrontierMessage Gossip::HandleFrontier(
    const std::string& peer, const watchfloor::v1::FrontierMessage& req) {
  watchfloor::v1::FrontierMessage resp;
  resp.set_roster_version(RosterVersion());
  resp.set_cosignature_position(store_->CosignaturePosition());
  NoteRosterVersion(peer, req.roster_version());
  NoteFrontier(req);
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
        // Deduplicated and bounded: a peer that calls again and again (its
        // own link in backoff, so nothing drains) queues one pair.
        absl::MutexLock lock(&link->mu);
        link->queue.AddEvidence(ev->front());
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
      CountRefused(peer, "bad_evidence");
    }
    return resp;
  }
  for (const Envelope* e : {&req.first(), &req.second()}) {
    absl::Status st = store_->Offer(*e, [](absl::Status) {});
    if (st.ok()) resp.set_new_evidence(true);
    if (!st.ok() && st.code() != absl::StatusCode::kAlreadyExists) {
      CountRefused(peer, "bad_evidence");
    }
  }
  return resp;
}

void Gossip::CountRefused(const std::string& peer, absl::string_view reason) {
  // What lowers the peer's score: refusals that are the peer's doing. Not a
  // graylisted push (not looked at: counting it would hold down a peer that
  // stopped, for the valid alerts it pushes meanwhile); not this node's own
  // trouble (a full write queue, a store error, shutting down); and nothing
  // while the peer reports a newer roster than this node holds, since an
  // honest peer then relays alerts and co-signatures of members or keys
  // this node cannot check yet.
  bool scored = reason != kGraylisted && reason != "resource_exhausted" &&
                reason != "unavailable" && reason != "internal" && reason != "aborted" &&
                reason != "cancelled" && reason != "deadline_exceeded" && reason != "unknown";
  if (scored && reason != "roster_chain") {  // a refused chain is the peer's own
    const uint64_t mine = RosterVersion();
    absl::MutexLock lock(&roster_mu_);
    auto it = peer_rosters_.find(peer);
    if (it != peer_rosters_.end() && it->second.version > mine) scored = false;
  }
  absl::MutexLock lock(&mu_);
  ++stats_.refused;
  if (Link* link = FindLink(peer)) {
    absl::MutexLock l(&link->mu);
    ++link->stats.refused;
    ++link->stats.refused_by_reason[std::string(reason)];
    if (scored) {
      const absl::Time now = clock_->Now();
      link->score.Invalid(now);
      if (link->AnyEager() && !link->MayBeEager(options_, now)) link->Prune();
    }
  }
}

void Gossip::CountIncoming(const std::string& peer, size_t request_bytes,
                           size_t response_bytes) {
  if (Link* link = FindLink(peer)) {
    absl::MutexLock l(&link->mu);
    link->stats.bytes_received += request_bytes;
    link->stats.bytes_sent += response_bytes;
    link->stats.last_contact = clock_->Now();
  }
}

void Gossip::NoteFrontier(const watchfloor::v1::FrontierMessage& frontier) {
  absl::MutexLock lock(&mu_);
  for (const auto& e : frontier.entries()) {
    uint64_t& seen = stats_.peer_frontier[e.origin()];
    seen = std::max(seen, e.sequence());
  }
}

absl::StatusOr<uint64_t> Gossip::AntiEntropyWith(const std::string& peer) {
  Link* link = FindLink(peer);
  if (link == nullptr) {
    return absl::NotFoundError(absl::StrCat(peer, " is not a peer"));
  }
  absl::Notification ended;
  absl::StatusOr<uint64_t> pulled;
  // Pulls everything the peer is ahead by itself, whatever other links'
  // rounds are pulling: its caller counts on what it returns.
  StartRound(
      link, kPullAll,
      [&](absl::StatusOr<uint64_t> result) {
        pulled = std::move(result);
        ended.Notify();
      },
      /*share=*/false);
  ended.WaitForNotification();
  return pulled;
}

void Gossip::NoteAhead(Link* link, const std::string& origin, uint64_t sequence) {
  const absl::Time check_at = clock_->Now() + FrontierGrace();
  absl::MutexLock lock(&link->mu);
  link->NoteAhead(origin, sequence, check_at);
}

std::map<std::string, uint64_t> Gossip::StillBehind(std::map<std::string, uint64_t> ahead) {
  std::map<std::string, FrontierEntry> mine;
  for (FrontierEntry& e : store_->Frontier()) mine[e.origin] = std::move(e);
  for (auto it = ahead.begin(); it != ahead.end();) {
    auto m = mine.find(it->first);
    const bool behind =
        m == mine.end() || (!m->second.forked && m->second.sequence < it->second);
    it = behind ? std::next(it) : ahead.erase(it);
  }
  return ahead;
}

// One call of a flow: the rpc, its request and response (on the heap, so
// that they stay put while the flow's deque moves), and what to do with the
// answer.
struct Gossip::Step {
  PeerChannel::Rpc rpc = PeerChannel::Rpc::kPush;
  std::unique_ptr<google::protobuf::Message> request;
  std::unique_ptr<google::protobuf::Message> response;
  // Runs once the call has ended, with its status. False drops the
  // following steps of the same group, running their `abandon` (if any)
  // instead: what a failed call leaves for after the backoff.
  std::function<bool(const absl::Status&)> handle;
  std::function<void()> abandon;
  int group = 0;
};

// Calls to one link's peer made one after another (a batch of what was
// queued, an anti-entropy round): each starts when the one before it has
// ended, and its handler may add the next (a round's pages).
struct Gossip::Flow {
  explicit Flow(Link* l) : link(l) {}

  // Adds a call of `rpc` sending `request`; `handle(status, request,
  // response)` decides what follows (Step::handle).
  template <typename Response, typename Request, typename Handle>
  Step& Add(int group, PeerChannel::Rpc rpc, Request request, Handle handle) {
    auto req = std::make_unique<Request>(std::move(request));
    auto resp = std::make_unique<Response>();
    Request* q = req.get();
    Response* r = resp.get();
    Step& step = steps.emplace_back();
    step.rpc = rpc;
    step.group = group;
    step.request = std::move(req);
    step.response = std::move(resp);
    step.handle = [q, r, handle = std::move(handle)](const absl::Status& st) mutable {
      return handle(st, *q, *r);
    };
    return step;
  }

  Link* const link;
  std::deque<Step> steps;
  // Runs once no step is left.
  std::function<void()> finish;
  // The call in progress; its status once it ended; and whether Start's
  // return or the call's completion came first (the second goes on).
  std::unique_ptr<Call> call;
  absl::Time call_started;
  absl::Status status;
  std::atomic<bool> met{false};
  // A batch's: its lane, whether a call failed, and the round to run
  // after it.
  Lane lane = kAllLanes;
  bool failed = false;
  int round = 0;
};

// Where an anti-entropy round is (StartRound).
struct Gossip::RoundState {
  RoundKind kind = kFrontiersOnly;
  // kPullNoted: per origin, the sequence to pull up to.
  std::map<std::string, uint64_t> pull_to;
  std::map<std::string, FrontierEntry> mine;
  watchfloor::v1::FrontierMessage theirs;
  int entry = 0;      // the entry of `theirs` being pulled
  uint64_t from = 0;  // its next sequence to pull; 0: not started
  uint64_t after = 0;  // the peer's co-signature position pulled up to
  uint64_t bytes = 0;
  uint64_t pulled = 0;
  uint64_t cosignatures_fresh = 0;
  absl::Status result;  // not OK: the frontier exchange failed
  // Leaves an origin another link is pulling to that link (pulling_).
  bool share = true;
  // The origin this round has claimed in pulling_ ("" none).
  std::string claimed;
};

namespace {
// Step groups: a failed call drops the rest of its group only.
enum StepGroup : int {
  kEvidenceGroup = 1,
  kCheckpointGroup,
  kCosignatureGroup,
  kPushGroup,
  kFetchGroup,
  kIHaveGroup,
  kRoundGroup,
};
using Rpc = PeerChannel::Rpc;

// The handler of a call whose answer says nothing but success (checkpoint
// notes, co-signatures): counts its bytes, or marks the batch failed, keeps
// what it carried for after the backoff (`keep`) and drops the rest of its
// group (whose `abandon` keeps theirs).
template <typename LinkT, typename FlowT, typename Keep>
auto CountOrKeep(LinkT* link, FlowT* flow, Keep keep) {
  return [link, flow, keep](const absl::Status& st, const auto& req, auto& resp) {
    if (st.ok()) {
      link->CountCall(req, resp);
      return true;
    }
    flow->failed = true;
    keep();
    return false;
  };
}
}  // namespace

void Gossip::Run(std::shared_ptr<Flow> flow) {
  for (;;) {
    if (flow->steps.empty()) {
      std::function<void()> finish = std::move(flow->finish);
      if (finish) finish();
      return;
    }
    Step& step = flow->steps.front();
    Flow* f = flow.get();
    f->call = std::make_unique<Call>(f->link, options_.rpc_timeout);
    f->call_started = clock_->Now();
    f->met.store(false);
    f->link->channel->Start(f->call->get(), step.rpc, *step.request, step.response.get(),
                            [this, flow](absl::Status st) {
                              flow->status = std::move(st);
                              if (!flow->met.exchange(true)) return;  // Start's caller goes on
                              Settle(flow.get());
                              Run(flow);
                            });
    if (!f->met.exchange(true)) return;  // ends later; its completion goes on
    Settle(f);
  }
}

void Gossip::Settle(Flow* flow) {
  flow->call.reset();
  // Not across a clock step back, and no more than a call may take (a step
  // forward, a fake clock moved while the call ran).
  const absl::Duration took =
      std::min(clock_->Now() - flow->call_started, options_.rpc_timeout);
  if (flow->status.ok() && took >= absl::ZeroDuration()) {
    absl::MutexLock lock(&flow->link->mu);
    flow->link->NoteRtt(took);
  }
  Step step = std::move(flow->steps.front());
  flow->steps.pop_front();
  if (step.handle(flow->status)) return;
  while (!flow->steps.empty() && flow->steps.front().group == step.group) {
    if (flow->steps.front().abandon) flow->steps.front().abandon();
    flow->steps.pop_front();
  }
}

void Gossip::StartRound(Link* link, RoundKind kind,
                        std::function<void(absl::StatusOr<uint64_t>)> done, bool share) {
  auto round = std::make_shared<RoundState>();
  round->kind = kind;
  round->share = share;
  if (kind >= kPullNoted) {
    // kPullNoted pulls up to these; kPullAll pulls further, and keeps them
    // only to note them again if the frontier exchange fails.
    absl::MutexLock lock(&link->mu);
    round->pull_to.swap(link->pull_to);
    link->pull_to.clear();
  }
  watchfloor::v1::FrontierMessage mine;
  mine.set_roster_version(RosterVersion());
  mine.set_cosignature_position(store_->CosignaturePosition());
  for (FrontierEntry& e : store_->Frontier()) {
    auto* out = mine.add_entries();
    out->set_origin(e.origin);
    out->set_sequence(e.sequence);
    out->set_id(e.id);
    out->set_forked(e.forked);
    round->mine[e.origin] = std::move(e);
  }
  auto flow = std::make_shared<Flow>(link);
  Flow* f = flow.get();
  f->Add<watchfloor::v1::FrontierMessage>(
      kRoundGroup, Rpc::kExchangeFrontier, std::move(mine),
      [this, link, f, round](const absl::Status& st, const watchfloor::v1::FrontierMessage& mine,
                             watchfloor::v1::FrontierMessage& theirs) {
        const std::string& peer = link->peer.origin;
        if (!st.ok()) {
          absl::MutexLock lock(&link->mu);
          link->Failed(options_, clock_->Now());
          round->result = absl::UnavailableError(
              absl::StrCat("frontier exchange with ", peer, " failed: ", st.message()));
          // Still owed: checked again after the grace and the backoff.
          const absl::Time check_at = clock_->Now() + FrontierGrace();
          for (const auto& [origin, sequence] : round->pull_to) {
            link->NoteAhead(origin, sequence, check_at);
          }
          return true;
        }
        link->CountCall(mine, theirs);
        {
          absl::MutexLock lock(&link->mu);
          link->stats.last_contact = clock_->Now();
        }
        NoteFrontier(theirs);
        NoteRosterVersion(peer, theirs.roster_version());
        round->bytes = mine.ByteSizeLong() + theirs.ByteSizeLong();
        round->theirs = std::move(theirs);
        NextPull(f, round);
        return true;
      });
  flow->finish = [this, round, done = std::move(done)] {
    if (!round->result.ok()) {
      done(round->result);
      return;
    }
    {
      // The pulled counters move in OnPulled, as the store commits.
      absl::MutexLock lock(&mu_);
      stats_.cosignatures_pulled += round->cosignatures_fresh;
      ++stats_.anti_entropy_rounds;
      stats_.anti_entropy_bytes += round->bytes;
    }
    done(round->pulled);
  };
  Run(std::move(flow));
}

void Gossip::NextPull(Flow* flow, const std::shared_ptr<RoundState>& round) {
  Link* link = flow->link;
  const auto& entries = round->theirs.entries();
  for (; round->entry < entries.size(); ++round->entry, round->from = 0) {
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) break;
      if (round->from == 0) Unclaim(link, round.get());
    }
    const auto& e = entries[round->entry];
    const FrontierEntry* m = nullptr;
    auto it = round->mine.find(e.origin());
    if (it != round->mine.end()) m = &it->second;
    if (m != nullptr && m->forked) continue;
    const uint64_t have = m == nullptr ? 0 : m->sequence;
    // How far to pull this origin now; what the peer holds beyond that is
    // noted, and pulled only if push has not brought it after the grace.
    uint64_t to = e.sequence();
    if (round->kind == kFrontiersOnly) {
      to = 0;
    } else if (round->kind == kPullNoted) {
      auto cap = round->pull_to.find(e.origin());
      to = cap == round->pull_to.end() ? 0 : std::min(to, cap->second);
    }
    // Left for after the grace (noted) when the round's snapshot of this
    // node's frontier is old by now: another link's round, or push, may
    // have brought the peer's last alert of the origin since (then
    // everything before it too: the store takes a feed in order; queued is
    // not yet stored, and may still be refused as a gap); or another link
    // is pulling it.
    if (round->from == 0 && have < to &&
        (store_->Has(e.id()) || (round->share && !Claim(link, round.get(), e.origin())))) {
      NoteAhead(link, e.origin(), e.sequence());
      continue;
    }
    if (round->from == 0 && to < e.sequence() && have < e.sequence()) {
      NoteAhead(link, e.origin(), e.sequence());
    }
    if (round->from == 0) round->from = have + 1;
    if (round->from > to) continue;
    watchfloor::v1::PullRangeRequest req;
    req.set_origin(e.origin());
    req.set_from(round->from);
    req.set_to(to);
    req.set_limit(static_cast<uint32_t>(options_.pull_page));
    flow->Add<watchfloor::v1::PullRangeResponse>(
        kRoundGroup, Rpc::kPullRange, std::move(req),
        [this, link, flow, round, asked_at = clock_->Now()](
            const absl::Status& st, const watchfloor::v1::PullRangeRequest& req,
            watchfloor::v1::PullRangeResponse& resp) {
          // Done with this origin: the next one's pulls, or the
          // co-signatures.
          auto next_origin = [&] {
            ++round->entry;
            round->from = 0;
            NextPull(flow, round);
            return true;
          };
          if (!st.ok()) {
            // Still owed: checked again after the grace and the backoff.
            NoteAhead(link, req.origin(), req.to());
            return next_origin();
          }
          // Before this node's own work on the page (checks, lookups),
          // which is not the peer's time.
          const absl::Time answered_at = clock_->Now();
          link->CountCall(req, resp);
          round->bytes += req.ByteSizeLong() + resp.ByteSizeLong();
          if (resp.envelopes_size() == 0) return next_origin();
          bool refused = false;
          bool overloaded = false;
          std::string refused_reason = "bad_range";
          // The next sequence expected, and the bytes of the alerts taken
          // so far (stored, being stored, or offered now): each one's
          // payload and at most one signature per node of the federation.
          const size_t max_signatures = Links()->size() + 1;
          uint64_t expect = req.from();
          size_t taken_bytes = 0;
          for (const Envelope& env : resp.envelopes()) {
            // A peer must answer exactly the range asked for, in order;
            // anything else is invalid input, and must not keep this round
            // going.
            AlertKey key = KeyOf(env);
            if (key.origin != req.origin() || key.sequence != expect) {
              refused = true;
              break;
            }
            // Another link's round may have pulled the same range a moment
            // ago (a node that starts, or returns, exchanges frontiers with
            // every peer at once): skip what is stored or being stored
            // before paying for its signature check.
            if (!store_->Has(certs::AlertId(env.payload()))) {
              absl::Status offered = store_->Offer(env, OnPulled(link));
              if (offered.ok()) {
                ++round->pulled;
              } else if (offered.code() == absl::StatusCode::kResourceExhausted ||
                         offered.code() == absl::StatusCode::kUnavailable) {
                // Our own overload or shutdown, not the peer's fault: this
                // alert is asked for again.
                overloaded = true;
                break;
              } else if (offered.code() != absl::StatusCode::kAlreadyExists) {
                refused = true;
                refused_reason = absl::AsciiStrToLower(absl::StatusCodeToString(offered.code()));
                break;
              }
            }
            ++expect;
            taken_bytes += env.payload().size() +
                           std::min<size_t>(env.signatures_size(), max_signatures) *
                               kSignatureBytes;
          }
          if (refused) {
            CountRefused(link->peer.origin, refused_reason);
            return next_origin();
          }
          if (overloaded) {
            // What this page did not bring is owed: checked again after the
            // grace. If the store took none of it, the other origins would
            // meet the same refusal: the round's pulls end here.
            NoteAhead(link, req.origin(), req.to());
            if (expect == req.from()) {
              round->entry = round->theirs.entries_size();
              round->from = 0;
              NextPull(flow, round);  // the co-signatures
              return true;
            }
          }
          if (expect == req.from()) return next_origin();  // nothing usable: no spinning
          round->from = expect;
          // Renewing the claim holds the other links off for another grace
          // from now, so that a long backlog stays with one link while it
          // makes progress. Only a full page, answered within half a grace,
          // renews it: as many alerts as asked for (what the range holds,
          // at most the limit the peer applies; the peer's count when this
          // node's own overload cut the page short), or half a message's
          // worth of alerts taken (payloads, and signatures up to one per
          // node: what else the peer sent, such as unknown fields or more
          // signatures, does not count). A peer that stalls, trickles an
          // alert or two per page, or pads its answers keeps an origin one
          // grace at most; one that answers full pages slowly, half a grace
          // per page at most.
          const uint64_t asked = std::min<uint64_t>(
              {req.limit() == 0 ? kMaxPullLimit : req.limit(), kMaxPullLimit,
               req.to() - req.from() + 1});
          const uint64_t sent =
              overloaded ? static_cast<uint64_t>(resp.envelopes_size()) : expect - req.from();
          const bool full = sent >= asked || 2 * taken_bytes >= kMaxBatchBytes;
          if (full && round->claimed == req.origin() &&
              answered_at - asked_at <= FrontierGrace() / 2) {
            absl::MutexLock lock(&mu_);
            auto claim = pulling_.find(round->claimed);
            if (claim != pulling_.end() && claim->second.link == link) {
              claim->second.since = answered_at;
            }
          }
          NextPull(flow, round);  // checks stopping_ first
          return true;
        });
    return;
  }
  {
    absl::MutexLock lock(&mu_);
    Unclaim(link, round.get());
  }
  // After the alerts: a co-signature of an alert pulled just now may still
  // find it not yet stored (the commit is asynchronous), and is pulled
  // again next round.
  std::vector<CosignatureOffer> retry;
  {
    absl::MutexLock lock(&link->mu);
    retry.assign(std::make_move_iterator(link->deferred_cosignatures.begin()),
                 std::make_move_iterator(link->deferred_cosignatures.end()));
    link->deferred_cosignatures.clear();
    round->after = link->cosignatures_pulled;
  }
  round->cosignatures_fresh += OfferPulledCosignatures(link, std::move(retry));
  NextCosignaturePull(flow, round);
}

bool Gossip::Claim(const Link* link, RoundState* round, const std::string& origin) {
  const absl::Time now = clock_->Now();
  const absl::Duration grace = FrontierGrace();
  absl::MutexLock lock(&mu_);
  auto [it, fresh] = pulling_.try_emplace(origin);
  // A fresh claim is not taken over even by a round that would pull
  // further: a frontier's sequence is the peer's word, and a peer showing
  // a huge one must not hold an origin by outbidding every other link.
  if (!fresh && it->second.link != link && now - it->second.since < grace) return false;
  it->second = Pulling{link, now};
  round->claimed = origin;
  return true;
}

void Gossip::Unclaim(const Link* link, RoundState* round) {
  if (round->claimed.empty()) return;
  auto it = pulling_.find(round->claimed);
  if (it != pulling_.end() && it->second.link == link) pulling_.erase(it);
  round->claimed.clear();
}

void Gossip::NextCosignaturePull(Flow* flow, const std::shared_ptr<RoundState>& round) {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
  }
  if (round->after >= round->theirs.cosignature_position()) return;
  Link* link = flow->link;
  watchfloor::v1::PullCosignaturesRequest req;
  req.set_after(round->after);
  req.set_limit(kMaxCosignaturesPerCall);
  flow->Add<watchfloor::v1::PullCosignaturesResponse>(
      kRoundGroup, Rpc::kPullCosignatures, std::move(req),
      [this, link, flow, round](const absl::Status& st,
                                const watchfloor::v1::PullCosignaturesRequest& req,
                                watchfloor::v1::PullCosignaturesResponse& resp) {
        if (!st.ok()) return true;
        link->CountCall(req, resp);
        if (resp.cosignatures_size() == 0) return true;
        std::vector<CosignatureOffer> offers;
        uint64_t last = req.after();
        for (const auto& c : resp.cosignatures()) {
          // Positions must grow: anything else is a bad answer.
          if (c.position() <= last) {
            CountRefused(link->peer.origin, "bad_range");
            return true;
          }
          last = c.position();
          offers.push_back(FromProto(c));
        }
        round->cosignatures_fresh += OfferPulledCosignatures(link, std::move(offers));
        {
          absl::MutexLock lock(&link->mu);
          link->cosignatures_pulled = std::max(link->cosignatures_pulled, last);
        }
        round->after = last;
        NextCosignaturePull(flow, round);
        return true;
      });
}

std::vector<Gossip::Lane> Gossip::Lanes() const {
  if (options_.parallel_lanes) return {kPushLane, kControlLane, kRoundLane};
  return {kAllLanes};
}

bool Gossip::Due(Link* link, absl::Time now, Lane lane) {
  if (now < link->next_try) return false;
  const bool ihaves =
      link->queue.has_ihaves() && now - link->last_ihave >= options_.ihave_interval;
  switch (lane) {
    case kPushLane:
      return link->queue.has_pushes();
    case kControlLane:
      return link->queue.has_urgent_control() || ihaves;
    case kRoundLane:
      return link->round != kNoRound;
    case kAllLanes:
      break;
  }
  return link->queue.has_urgent() || link->round != kNoRound || ihaves;
}

std::shared_ptr<Gossip::Flow> Gossip::TakeBatch(Link* link, absl::Time now, Lane lane) {
  auto flow = std::make_shared<Flow>(link);
  Flow* f = flow.get();
  f->lane = lane;
  const bool all = lane == kAllLanes;
  std::vector<LinkQueue::Push> pushes;
  std::vector<std::string> fetches;
  std::vector<EvidencePair> evidence;
  std::map<std::string, std::string> checkpoints;
  std::vector<CosignatureOffer> cosignatures;
  std::vector<watchfloor::v1::AlertRef> ihaves;
  if (all || lane == kPushLane) {
    pushes = link->queue.TakePushes(options_.max_push_batch, kMaxBatchBytes);
  }
  if (all || lane == kControlLane) {
    fetches = link->queue.TakeFetches();
    evidence = link->queue.TakeEvidence();
    checkpoints = link->queue.TakeCheckpoints();
    cosignatures = link->queue.TakeCosignatures();
    if (now - link->last_ihave >= options_.ihave_interval) {
      ihaves = link->queue.TakeIHaves();
      link->last_ihave = now;
    }
  }
  if (all || lane == kRoundLane) std::swap(f->round, link->round);

  for (const EvidencePair& ev : evidence) {
    watchfloor::v1::EvidenceMessage msg;
    *msg.mutable_first() = ev.first;
    *msg.mutable_second() = ev.second;
    msg.set_first_note(ev.first_note);
    msg.set_second_note(ev.second_note);
    f->Add<watchfloor::v1::PushEvidenceResponse>(
        kEvidenceGroup, Rpc::kPushEvidence, std::move(msg),
        [link, f](const absl::Status& st, const watchfloor::v1::EvidenceMessage& req,
                  watchfloor::v1::PushEvidenceResponse& resp) {
          if (st.ok()) {
            link->CountCall(req, resp);
          } else {
            f->failed = true;
          }
          return true;
        });
  }
  for (auto it = checkpoints.begin(); it != checkpoints.end();) {
    watchfloor::v1::PushCheckpointsRequest req;
    std::vector<std::pair<std::string, std::string>> notes;  // (log, note)
    for (int n = 0; it != checkpoints.end() && n < kMaxCheckpointsPerPush; ++it, ++n) {
      req.add_notes(it->second);
      notes.emplace_back(it->first, it->second);
    }
    // Kept for after the backoff, the newest note per log, unless a newer
    // one was queued meanwhile.
    auto keep = [link, notes = std::move(notes)] {
      absl::MutexLock lock(&link->mu);
      for (const auto& [log, note] : notes) link->queue.AddCheckpoint(log, note, /*replace=*/false);
    };
    Step& step = f->Add<watchfloor::v1::PushCheckpointsResponse>(
        kCheckpointGroup, Rpc::kPushCheckpoints, std::move(req), CountOrKeep(link, f, keep));
    step.abandon = keep;
  }
  for (size_t i = 0; i < cosignatures.size(); i += kMaxCosignaturesPerCall) {
    watchfloor::v1::PushCosignaturesRequest req;
    std::vector<CosignatureOffer> chunk;
    for (size_t j = i; j < cosignatures.size() && j < i + kMaxCosignaturesPerCall; ++j) {
      auto* out = req.add_cosignatures();
      out->set_alert_id(cosignatures[j].alert_id);
      *out->mutable_signature() = cosignatures[j].signature;
      chunk.push_back(std::move(cosignatures[j]));
    }
    // Kept for after the backoff; what no longer fits is dropped (the
    // peer's anti-entropy pulls it).
    auto keep = [link, chunk = std::move(chunk)] {
      absl::MutexLock lock(&link->mu);
      for (const CosignatureOffer& c : chunk) link->queue.AddCosignature(c);
    };
    Step& step = f->Add<watchfloor::v1::PushCosignaturesResponse>(
        kCosignatureGroup, Rpc::kPushCosignatures, std::move(req), CountOrKeep(link, f, keep));
    step.abandon = keep;
  }
  if (!pushes.empty()) {
    watchfloor::v1::PushRequest req;
    std::vector<std::string> origins;
    for (LinkQueue::Push& p : pushes) {
      *req.add_envelopes() = std::move(p.envelope);
      origins.push_back(p.origin);
    }
    f->Add<watchfloor::v1::PushResponse>(
        kPushGroup, Rpc::kPush, std::move(req),
        [link, f, pushes = std::move(pushes)](const absl::Status& st,
                                              watchfloor::v1::PushRequest& req,
                                              watchfloor::v1::PushResponse& resp) mutable {
          if (st.ok()) link->CountCall(req, resp);
          absl::MutexLock lock(&link->mu);
          if (st.ok()) {
            link->stats.pushed += static_cast<uint64_t>(req.envelopes_size());
            if (resp.prune()) {
              // The peer had some of these already: this link leaves the
              // trees of their origins (both ends do the same, HandlePush).
              // A prune with no duplicate (a graylisted push) leaves every
              // tree.
              bool any_duplicate = false;
              for (int i = 0; i < resp.verdicts_size() && i < static_cast<int>(pushes.size());
                   ++i) {
                if (resp.verdicts(i) == watchfloor::v1::PUSH_VERDICT_DUPLICATE) {
                  link->PruneOrigin(pushes[i].origin);
                  any_duplicate = true;
                }
              }
              if (!any_duplicate) link->Prune();
            }
            return true;
          }
          f->failed = true;
          // Back to the front of the queue, in order, for after the
          // backoff: a push lost to one failed call (the first calls while
          // the channel connects, a reset) would leave the peer a gap that
          // holds up that origin's later alerts there until a graft or
          // anti-entropy fills it. What no longer fits the byte budget is
          // dropped (and counted).
          for (int i = req.envelopes_size() - 1; i >= 0; --i) {
            pushes[i].envelope = std::move(*req.mutable_envelopes(i));
            link->queue.AddPush(std::move(pushes[i]), /*front=*/true);
          }
          return true;
        });
  }
  for (size_t i = 0; i < fetches.size(); i += kMaxFetchIds) {
    watchfloor::v1::FetchRequest req;
    for (size_t j = i; j < fetches.size() && j < i + kMaxFetchIds; ++j) req.add_ids(fetches[j]);
    req.set_graft(true);
    f->Add<watchfloor::v1::FetchResponse>(
        kFetchGroup, Rpc::kFetch, std::move(req),
        [this, link, f](const absl::Status& st, const watchfloor::v1::FetchRequest& req,
                        watchfloor::v1::FetchResponse& resp) {
          if (!st.ok()) {
            f->failed = true;
            return false;
          }
          link->CountCall(req, resp);
          std::set<std::string> grafted;  // origins of what it served
          for (const Envelope& e : resp.envelopes()) grafted.insert(KeyOf(e).origin);
          {
            absl::MutexLock lock(&link->mu);
            const absl::Time now = clock_->Now();
            // Ids it announced and did not send. An answer cut short by its
            // size leaves the rest to a later fetch, and says nothing.
            if (resp.ByteSizeLong() < kMaxBatchBytes / 2) {
              std::set<std::string> served;
              for (const Envelope& e : resp.envelopes()) {
                served.insert(certs::AlertId(e.payload()));
              }
              int unserved = 0;
              for (const std::string& id : req.ids()) unserved += served.count(id) == 0;
              if (unserved > 0) link->score.Unserved(now, unserved);
            }
            if (link->MayBeEager(options_, now)) {
              for (const std::string& o : grafted) link->SetEager(o, true);  // graft
            } else if (link->AnyEager()) {
              link->Prune();  // unserved announcements took it below the threshold
            }
          }
          {
            absl::MutexLock lock(&mu_);
            stats_.fetched += static_cast<uint64_t>(resp.envelopes_size());
          }
          uint64_t new_ones = 0;
          for (const Envelope& e : resp.envelopes()) {
            if (Receive(link->peer.origin, e) == watchfloor::v1::PUSH_VERDICT_NEW) ++new_ones;
          }
          absl::MutexLock lock(&link->mu);
          link->stats.pulled += new_ones;
          return true;
        });
  }
  for (size_t i = 0; i < ihaves.size(); i += kMaxIHaveRefs) {
    watchfloor::v1::IHaveRequest req;
    for (size_t j = i; j < ihaves.size() && j < i + kMaxIHaveRefs; ++j) {
      *req.add_refs() = ihaves[j];
    }
    f->Add<watchfloor::v1::IHaveResponse>(
        kIHaveGroup, Rpc::kIHave, std::move(req),
        [this, link, f](const absl::Status& st, const watchfloor::v1::IHaveRequest& req,
                        watchfloor::v1::IHaveResponse& resp) {
          if (!st.ok()) {
            f->failed = true;
            return false;
          }
          link->CountCall(req, resp);
          absl::MutexLock lock(&mu_);
          stats_.ihave_sent += static_cast<uint64_t>(req.refs_size());
          return true;
        });
  }
  return flow;
}

void Gossip::RunBatch(std::shared_ptr<Flow> flow, std::function<void()> done) {
  Link* link = flow->link;
  Flow* f = flow.get();
  // The round lane's batch makes no call of its own: it says nothing about
  // the peer (the round's calls do).
  const bool says_nothing = flow->lane == kRoundLane;
  flow->finish = [this, link, f, says_nothing, done = std::move(done)] {
    int round = f->round;
    {
      absl::MutexLock lock(&link->mu);
      if (f->failed) {
        link->Failed(options_, clock_->Now());
        // The round waits for the backoff too.
        link->round = std::max(link->round, round);
        round = 0;
      } else if (!says_nothing) {
        link->Succeeded(clock_->Now());
      }
    }
    if (round == 0) {
      done();
      return;
    }
    // The anti-entropy round the timer asked for, on this link: a slow
    // peer delays only its own link. The round sets the backoff itself.
    StartRound(link, static_cast<RoundKind>(round), [done](absl::StatusOr<uint64_t>) { done(); });
  };
  Run(std::move(flow));
}

void Gossip::SenderLoop(Link* link, Lane lane) {
  for (;;) {
    std::shared_ptr<Flow> flow;
    {
      absl::MutexLock lock(&link->mu);
      auto ready = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(link->mu) {
        return link->stopping || Due(link, clock_->Now(), lane);
      };
      link->mu.AwaitWithTimeout(absl::Condition(&ready), kTick);
      if (link->stopping) return;
      const absl::Time now = clock_->Now();
      if (!Due(link, now, lane)) continue;
      flow = TakeBatch(link, now, lane);
    }
    // Over gRPC each call completes on this thread before Start returns;
    // with a transport that completes later, this thread waits for it.
    absl::Notification ended;
    RunBatch(std::move(flow), [&ended] { ended.Notify(); });
    ended.WaitForNotification();
  }
}

void Gossip::Pump(absl::Time now) {
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;
  }
  const std::shared_ptr<const LinkList> links = Links();
  for (const auto& held : *links) {
    Link* link = held.get();
    for (Lane lane : Lanes()) {
      std::shared_ptr<Flow> flow;
      {
        absl::MutexLock lock(&link->mu);
        if (link->stopping || link->busy[lane] || !Due(link, now, lane)) continue;
        link->busy[lane] = true;
        flow = TakeBatch(link, now, lane);
      }
      RunBatch(std::move(flow), [link, lane] {
        absl::MutexLock lock(&link->mu);
        link->busy[lane] = false;
      });
    }
  }
}

void Gossip::CheckMissing(absl::Time now) {
  std::vector<std::pair<std::string, std::string>> fetch;  // (peer, id)
  const absl::Duration wait = GraftWait();
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
      if (m.attempts == 1 && m.announcers.size() > 1) {
        // The first fetch goes to the best-scored announcer: a peer that
        // announces ids it does not serve is asked last.
        std::vector<std::pair<double, std::string>> ranked;
        for (std::string& a : m.announcers) {
          double score = 0;
          if (Link* link = FindLink(a)) {
            absl::MutexLock l(&link->mu);
            score = link->score.Value(now);
          }
          ranked.emplace_back(-score, std::move(a));
        }
        std::stable_sort(ranked.begin(), ranked.end(),
                         [](const auto& x, const auto& y) { return x.first < y.first; });
        for (size_t i = 0; i < ranked.size(); ++i) m.announcers[i] = std::move(ranked[i].second);
      }
      fetch.emplace_back(m.announcers.front(), it->first);
      std::rotate(m.announcers.begin(), m.announcers.begin() + 1, m.announcers.end());
      m.deadline = now + wait;
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
      link->queue.AddFetch(id);
    }
  }
}

void Gossip::TimerLoop() {
  for (;;) {
    {
      absl::MutexLock lock(&mu_);
      auto stop = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
      mu_.AwaitWithTimeout(absl::Condition(&stop), kTick);
      if (stopping_) return;
    }
    Tick(clock_->Now());
  }
}

void Gossip::Tick(absl::Time now) {
  absl::MutexLock tick(&tick_mu_);
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return;  // nothing may call back into a stopped engine
  }
  if (next_round_ == absl::InfinitePast()) next_round_ = now + options_.anti_entropy_interval;
  if (now >= next_graft_check_) {
    next_graft_check_ = now + absl::Seconds(1);
    AdaptGraftTimeout();
  }
  CheckMissing(now);
  RetryParked(now);
  // Peers that sent a push we could not place even after waiting for its
  // predecessor, or whose frontier still shows more than we hold after
  // frontier_grace: sync with them now.
  std::shared_ptr<const LinkList> links = Links();
  for (const auto& link : *links) {
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
    if (sync) {
      absl::MutexLock lock(&link->mu);
      link->round = kPullAll;
      // Kept with the round: noted again if its frontier exchange fails.
      for (const auto& [origin, sequence] : ahead) {
        uint64_t& to = link->pull_to[origin];
        to = std::max(to, sequence);
      }
      continue;
    }
    if (ahead.empty()) continue;
    // Only what the peer held when it was noted: what it stored since is
    // noted by that round in turn, and given its own grace.
    std::map<std::string, uint64_t> behind = StillBehind(std::move(ahead));
    if (behind.empty()) continue;
    absl::MutexLock lock(&link->mu);
    for (const auto& [origin, sequence] : behind) {
      uint64_t& to = link->pull_to[origin];
      to = std::max(to, sequence);
    }
    link->round = std::max(link->round, static_cast<int>(kPullNoted));
  }
  if (now >= next_round_ && !links->empty()) {
    size_t pick;
    {
      absl::MutexLock lock(&mu_);
      pick = std::uniform_int_distribution<size_t>(0, links->size() - 1)(rng_);
    }
    // Frontiers only; what the peer is ahead by is pulled after
    // frontier_grace unless push brought it by then. The link's own
    // thread runs it (SenderLoop), so the timer never waits on a peer.
    {
      Link* link = (*links)[pick].get();
      absl::MutexLock lock(&link->mu);
      link->round = std::max(link->round, static_cast<int>(kFrontiersOnly));
    }
    next_round_ = now + options_.anti_entropy_interval;
  }
}

absl::Duration Gossip::GraftWait() const {
  return absl::Nanoseconds(graft_wait_ns_.load(std::memory_order_relaxed));
}

absl::Duration Gossip::FrontierGrace() const {
  return std::max(options_.frontier_grace, 2 * GraftWait());
}

void Gossip::AdaptGraftTimeout() {
  absl::Duration wait = options_.graft_timeout;
  if (options_.graft_rtts > 0) {
    std::vector<absl::Duration> rtts;
    for (const auto& link : *Links()) {
      absl::MutexLock lock(&link->mu);
      if (link->stats.rtt > absl::ZeroDuration()) rtts.push_back(link->stats.rtt);
    }
    if (!rtts.empty()) {
      auto mid = rtts.begin() + static_cast<std::ptrdiff_t>(rtts.size() / 2);
      std::nth_element(rtts.begin(), mid, rtts.end());
      wait = std::clamp(*mid * options_.graft_rtts, options_.graft_timeout,
                        std::max(options_.graft_timeout, options_.max_graft_timeout));
    }
  }
  graft_wait_ns_.store(absl::ToInt64Nanoseconds(wait), std::memory_order_relaxed);
}

Gossip::Stats Gossip::stats() const {
  Stats out;
  std::map<std::string, PeerRoster> rosters;
  {
    absl::MutexLock lock(&mu_);
    out = stats_;
  }
  out.graft_timeout = GraftWait();
  out.frontier_grace = FrontierGrace();
  {
    absl::MutexLock lock(&roster_mu_);
    rosters = peer_rosters_;
  }
  const std::shared_ptr<const LinkList> held_links = Links();
  for (const auto& link : *held_links) {
    absl::MutexLock lock(&link->mu);
    PeerStats s = link->stats;
    s.eager = link->AnyEager();
    s.eager_by_origin = link->eager_for;
    s.score = link->score.Value(clock_->Now());
    s.graylisted = s.score < options_.graylist_threshold;
    s.dropped += link->queue.dropped();
    s.queued_bytes = link->queue.bytes();
    auto it = rosters.find(link->peer.origin);
    if (it != rosters.end()) {
      s.roster_version = it->second.version;
      s.roster_reported = it->second.reported;
    }
    out.peers[link->peer.origin] = s;
  }
  return out;
}

// ------------------------------------------------------------------ roster

uint64_t Gossip::RosterVersion() const {
  return roster_hooks_.version ? roster_hooks_.version() : 0;
}

void Gossip::AnnounceRoster() {
  const std::shared_ptr<const LinkList> held_links = Links();
  for (const auto& link : *held_links) {
    absl::MutexLock lock(&link->mu);
    link->round = std::max(link->round, static_cast<int>(kFrontiersOnly));
  }
}

watchfloor::v1::GetRosterChainResponse Gossip::HandleGetRosterChain(
    const std::string& /*peer*/, const watchfloor::v1::GetRosterChainRequest& req) {
  watchfloor::v1::GetRosterChainResponse resp;
  if (!roster_hooks_.chain_after) return resp;
  const uint32_t limit =
      req.limit() == 0 ? kMaxRosterVersions : std::min(req.limit(), kMaxRosterVersions);
  size_t bytes = 0;
  for (Envelope& e : roster_hooks_.chain_after(req.after_version(), limit)) {
    bytes += e.ByteSizeLong();
    if (bytes > kMaxBatchBytes && resp.versions_size() > 0) break;
    *resp.add_versions() = std::move(e);
  }
  return resp;
}

void Gossip::NoteRosterVersion(const std::string& peer, uint64_t version) {
  if (version == 0 || FindLink(peer) == nullptr) return;
  const uint64_t mine = RosterVersion();
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&roster_mu_);
  PeerRoster& r = peer_rosters_[peer];
  r.version = version;
  r.reported = now;
  if (!roster_hooks_.adopt || roster_stopping_ || version <= mine) return;
  // A peer whose chain to this version was refused is not asked again
  // (it would be refused again); a failed call waits for retry_at.
  if (r.refused_version == version || now < r.retry_at) return;
  if (roster_fetching_ || !roster_fetch_peer_.empty()) return;  // one at a time
  roster_fetch_peer_ = peer;
}

void Gossip::RosterFetchLoop() {
  for (;;) {
    std::string peer;
    {
      absl::MutexLock lock(&roster_mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(roster_mu_) {
        return roster_stopping_ || !roster_fetch_peer_.empty();
      };
      roster_mu_.Await(absl::Condition(&ready));
      if (roster_stopping_) return;
      peer.swap(roster_fetch_peer_);
      roster_fetching_ = true;
    }
    FetchRoster(peer);
    absl::MutexLock lock(&roster_mu_);
    roster_fetching_ = false;
  }
}

void Gossip::FetchRoster(const std::string& peer) {
  Link* link = FindLink(peer);
  if (link == nullptr) return;
  uint64_t target;
  {
    absl::MutexLock lock(&roster_mu_);
    target = peer_rosters_[peer].version;
  }
  uint64_t mine = RosterVersion();
  absl::Status failed;
  for (int page = 0; page < kMaxRosterPages && mine < target && failed.ok(); ++page) {
    watchfloor::v1::GetRosterChainRequest req;
    req.set_after_version(mine);
    watchfloor::v1::GetRosterChainResponse resp;
    absl::Status st;
    {
      Call call(link, options_.rpc_timeout);
      st = link->channel->GetRosterChain(call.get(), req, &resp);
    }
    if (!st.ok()) {
      failed = absl::UnavailableError(absl::StrCat("GetRosterChain failed: ", st.message()));
      break;
    }
    if (resp.versions_size() == 0) {
      // It reported a newer version but holds none: refused like a bad chain.
      failed = absl::FailedPreconditionError(
          absl::StrCat("reported roster v", target, " but sent no version after v", mine));
      break;
    }
    std::vector<Envelope> versions(resp.versions().begin(), resp.versions().end());
    absl::StatusOr<uint64_t> adopted = roster_hooks_.adopt(versions);
    // ALREADY_EXISTS: adopted meanwhile by another path (a submission).
    if (!adopted.ok() && adopted.status().code() != absl::StatusCode::kAlreadyExists) {
      failed = adopted.status();
      break;
    }
    const uint64_t now_mine = RosterVersion();
    if (now_mine <= mine) {
      failed = absl::FailedPreconditionError(absl::StrCat(
          "its roster chain after v", mine, " brought no newer version"));
      break;
    }
    mine = now_mine;
  }
  {
    absl::MutexLock lock(&roster_mu_);
    if (roster_stopping_) return;  // cancelled calls are no peer's fault
  }
  if (failed.ok()) return;
  const absl::StatusCode code = failed.code();
  // What verification refuses is the peer's fault; a failed call or a
  // store that could not persist is not.
  const bool refused = code == absl::StatusCode::kInvalidArgument ||
                       code == absl::StatusCode::kUnauthenticated ||
                       code == absl::StatusCode::kFailedPrecondition ||
                       code == absl::StatusCode::kDataLoss;
  bool first_for_version;
  {
    absl::MutexLock lock(&roster_mu_);
    PeerRoster& r = peer_rosters_[peer];
    if (refused) {
      r.refused_version = target;
    } else {
      r.retry_at = clock_->Now() + std::max(options_.anti_entropy_interval, absl::Seconds(1));
    }
    // One line per peer and version, however often it is retried.
    first_for_version = r.logged_version != target;
    r.logged_version = target;
  }
  if (first_for_version) {
    log::Warn("gossip", refused ? "roster_chain_refused" : "roster_chain_fetch_failed",
              {{"peer", peer},
               {"roster_version", target},
               {"code", absl::StatusCodeToString(code)},
               {"reason", failed.message()}});
  }
  // Last: a test that sees the count sees the log line too.
  if (refused) CountRefused(peer, "roster_chain");
}

}  // namespace watchfloor::federation
