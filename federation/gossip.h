// Gossip between member nodes: Plumtree-style eager push along a tree that
// forms itself, lazy IHave announcements with pull on demand (graft), and
// periodic frontier anti-entropy that repairs partitions and restarts.
//
// The engine owns no storage: every envelope goes through the node's one
// ingest path via FeedStore::Offer (verify, continuity, dedupe, forks), and
// an envelope from a peer is forwarded only once it is stored here, in the
// order the store committed it (so per origin in sequence order). No lock is
// held while an envelope is verified or looked up.
//
// The wire: every call to a peer goes through a Transport (transport.h),
// one PeerChannel per link; in the node that is gRPC (grpc_transport.h).
//
// Threading: one thread per peer (pushes, announcements, fetches, in order,
// and the anti-entropy rounds with that peer) and one timer thread that
// decides (graft timeouts, parked retries, which peer to sync with) but
// never calls a peer itself, so a slow peer delays only its own link.
// Each link's calls are one flow at a time (evidence, notes, pushes,
// fetches, announcements, then an anti-entropy round): a sequence of calls
// started through PeerChannel::Start, each continued by its completion.
// Over gRPC every call completes on the link's thread; with
// Options::external_timer and external_pump the engine has no threads at
// all, and its owner drives it with Tick and Pump (the deterministic
// simulator, tests/sim/event_network.h).
// Handle* methods are called by the gRPC service on its threads. All public
// methods are thread-safe.
//
// Peers: the set given at construction, replaced at run time by SetPeers
// (a roster change). Links are copy-on-write: every reader takes the current
// list and iterates it with no engine lock held; a removed link is stopped
// and emptied but its object lives as long as the engine, so that the raw
// Link pointers in store callbacks and parked envelopes stay valid.
//
// Memory: everything queued for a peer, and every envelope held on its
// behalf (parked, or copied into a store callback), counts against that
// peer's byte budget (Options::max_link_bytes); past it, items are dropped
// and anti-entropy repairs (docs/FEDERATION.md "Bounds").
#ifndef WATCHFLOOR_FEDERATION_GOSSIP_H_
#define WATCHFLOOR_FEDERATION_GOSSIP_H_

#include <atomic>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "federation/clock.h"
#include "federation/feed_store.h"
#include "federation/grpc_transport.h"
#include "federation/transport.h"
#include "watchfloor/v1/federation.pb.h"

namespace watchfloor::federation {

class Gossip {
 public:
  struct Options {
    // Peers pushed to eagerly at start; the rest get IHave. Plumtree then
    // prunes links that deliver duplicates and grafts links that deliver
    // announced-but-missing alerts.
    size_t eager_fanout = 3;
    // How many of its lazy links each alert is announced to (IHave), chosen
    // at random per alert; 0: every lazy link (the default, and what the
    // node runs). With every roster node linked, announcing to all makes
    // the bytes per node per alert grow with N; a bound keeps them flat
    // (Plumtree's lazy push over a partial view), and a node that no
    // announcement reaches gets the alert by anti-entropy.
    size_t lazy_fanout = 0;
    // How long an announced alert may stay missing before it is fetched:
    // graft_rtts times the median round trip of this node's calls to its
    // peers (each peer's smoothed like TCP's SRTT), never less than
    // graft_timeout nor more than max_graft_timeout. The announcement
    // usually came by a path shorter than the tree's; fetching after a
    // fixed wait that is short next to the links' latency fetches what push
    // was about to deliver (the simulator at N = 1,000 over 20-200 ms links:
    // 0.24 duplicates per node per alert at a fixed 300 ms, 0.02 adapted;
    // docs/PERFORMANCE.md). graft_rtts 0: always graft_timeout. A
    // graft_timeout above max_graft_timeout is the wait, whatever the links.
    absl::Duration graft_timeout = absl::Milliseconds(150);
    double graft_rtts = 3.0;
    absl::Duration max_graft_timeout = absl::Seconds(2);
    // How often queued IHave announcements are flushed to lazy peers. Each
    // flush is one RPC per lazy link: N nodes have about N^2 lazy links, so
    // at any busy rate this sets the IHave RPC rate (N = 10 at 25 ms: ~2,900
    // RPCs/s, most of the federation's CPU on 2 cores; see
    // docs/PERFORMANCE.md "Federation"). A missing alert is fetched at most
    // ihave_interval + graft_timeout after the announcing peer had it.
    absl::Duration ihave_interval = absl::Milliseconds(100);
    // How often a random peer is asked for its frontier.
    absl::Duration anti_entropy_interval = absl::Seconds(2);
    // How long a range that a peer's frontier shows ahead of ours may stay
    // missing before it is pulled, and how long a pushed alert that came
    // before its predecessor waits for it before the node syncs with the
    // sender. A frontier is an announcement, like IHave: what it shows
    // beyond ours is usually still on its way by push, and pulling it at
    // once races the push (the pulled copy turns the pushed one into a
    // duplicate that prunes a tree link, and the two paths reorder the
    // feed). AntiEntropyWith, a link added while running and a starting
    // node's first rounds (pull_at_start) pull at once. At least twice the
    // graft timeout in use: a range still on its way by announcement and
    // graft is not pulled as well.
    absl::Duration frontier_grace = absl::Milliseconds(500);
    // At Start, up to 8 random peers' links begin with a round that pulls
    // everything each is ahead by at once (a node that starts has been
    // away). False: the timer's rounds only.
    bool pull_at_start = true;
    absl::Duration rpc_timeout = absl::Seconds(5);
    absl::Duration min_backoff = absl::Milliseconds(100);
    absl::Duration max_backoff = absl::Seconds(10);
    size_t max_push_batch = 256;
    // Bytes queued for one peer (pushes, announcements, fetches, evidence,
    // checkpoint notes) plus envelopes held on its behalf (parked until
    // their predecessor is stored, copies in store callbacks). Past it, new
    // items for that peer are dropped and counted (PeerStats::dropped).
    size_t max_link_bytes = size_t{32} << 20;
    // Parked envelopes and remembered first senders, each, at most.
    size_t max_link_queue = 65536;
    size_t pull_page = 512;
    // How many forwarded ids are remembered so none is forwarded twice.
    size_t max_forwarded_ids = 1 << 16;
    uint64_t seed = 0;  // 0: random
    // Peer scoring (peer_score.h). A peer whose score is below
    // eager_threshold is kept lazy (announcements only; it fetches what it
    // wants); below graylist_threshold its pushes are refused unverified
    // ("graylisted") until the score decays back. The defaults: about one
    // invalid envelope keeps a peer that delivered nothing first out of the
    // eager set, about ten graylist it, and half of every part is forgotten
    // each score_half_life.
    double eager_threshold = -10.0;
    double graylist_threshold = -100.0;
    absl::Duration score_half_life = absl::Seconds(60);
    // Where the engine reads the time: every deadline, interval, backoff,
    // score decay and PeerStats time. Null: Clock::Real(). Must outlive
    // the engine. The worker and timer threads look at it at least every
    // 10 ms of real time, so a FakeClock moved by a test takes effect
    // within that (calls to peers keep real-time deadlines: rpc_timeout
    // is the transport's).
    Clock* clock = nullptr;
    // When true, Start() starts no timer thread: whoever owns the engine
    // calls Tick(now) (a simulator on simulated time, a test). Default
    // false: a thread calls Tick every 10 ms of real time.
    bool external_timer = false;
    // When true, Start() starts no link threads either: whoever owns the
    // engine calls Pump(now), which starts each ready link's calls through
    // PeerChannel::Start and returns; the calls go on as the transport
    // completes them (the simulator's event loop). Default false: one
    // thread per link, whose calls complete on it.
    bool external_pump = false;
    // When true, each link runs three flows of calls at once instead of
    // one: its pushes (in order, one call at a time); everything else it
    // sends (announcements, fetches, evidence, checkpoint notes,
    // co-signatures); and its anti-entropy rounds. Over a link with tens of
    // milliseconds of latency a push then waits for no announcement's or
    // round's round trip (docs/PERFORMANCE.md "The deterministic
    // simulator"). With link threads, each lane has a thread of its own.
    // Default false: one flow at a time, in that order.
    bool parallel_lanes = false;
  };

  struct PeerStats {
    // Whether this node pushes alerts of at least one origin to the peer in
    // full. The trees are per origin (docs/FEDERATION.md "One tree per
    // origin"): eager_by_origin holds the origins with a choice of their
    // own (true: eager, false: pruned); the others follow the link's
    // default, eager for the peers picked at start.
    bool eager = false;
    std::map<std::string, bool> eager_by_origin;
    bool reachable = true;
    uint64_t pushed = 0;          // envelopes sent eagerly
    uint64_t received_new = 0;    // full copies that were new
    uint64_t received_dup = 0;    // full copies that were duplicates
    // Invalid envelopes, unparsable requests and refused roster chains.
    uint64_t refused = 0;
    // The same, by reason (the values sum to `refused`): an envelope's
    // refusal code in snake case ("unauthenticated", "invalid_argument",
    // "data_loss", ...), "bad_range" (a pull answer outside the range asked
    // for), "unparsable_request", "bad_checkpoint", "bad_evidence",
    // "roster_chain", "bad_cosignature" (forged, non-member or own-member
    // co-signature), "graylisted" (a push not verified: the peer's score is
    // below Options::graylist_threshold).
    std::map<std::string, uint64_t> refused_by_reason;
    // New envelopes this node got from the peer by asking: grafts (Fetch)
    // and anti-entropy pulls (PullRange). Pushed ones are received_new.
    uint64_t pulled = 0;
    // Serialized Federation messages: what this node sent the peer (its
    // requests, its answers to the peer's calls) and received from it.
    uint64_t bytes_sent = 0;
    uint64_t bytes_received = 0;
    // The last call between the two, either way, that succeeded;
    // InfinitePast if none yet.
    absl::Time last_contact = absl::InfinitePast();
    // The peer's score now (peer_score.h), and whether it is below
    // Options::graylist_threshold.
    double score = 0;
    bool graylisted = false;
    uint64_t dropped = 0;         // items dropped (byte budget full)
    uint64_t queued_bytes = 0;    // queued and held now (<= max_link_bytes)
    // The roster version the peer reported in its last frontier exchange
    // with this node (either direction), and when; 0 / InfinitePast if none.
    uint64_t roster_version = 0;
    absl::Time roster_reported = absl::InfinitePast();
    // The smoothed round trip of this node's calls to the peer that
    // succeeded (from start to answer, the peer's work included); zero
    // before the first.
    absl::Duration rtt = absl::ZeroDuration();
  };

  struct Stats {
    uint64_t received_new = 0;
    uint64_t received_dup = 0;
    uint64_t refused = 0;
    uint64_t ihave_sent = 0;
    uint64_t fetched = 0;
    uint64_t anti_entropy_rounds = 0;
    uint64_t anti_entropy_bytes = 0;  // frontier exchange + pulled ranges
    uint64_t anti_entropy_pulled = 0;  // pulled by anti-entropy and committed
    // Envelopes that arrived before their predecessor and were offered
    // again (see OnStored), counted once each.
    uint64_t reordered = 0;
    uint64_t evidence_sent = 0;
    uint64_t checkpoints_sent = 0;
    // Co-signatures queued to peers, and those pulled from peers by
    // anti-entropy that were new here.
    uint64_t cosignatures_sent = 0;
    uint64_t cosignatures_pulled = 0;
    std::map<std::string, PeerStats> peers;
    // The highest sequence of each origin that any peer's frontier showed
    // (either direction of an exchange): how far the federation knows a
    // feed to go, to compare with this node's own head (frontier lag).
    std::map<std::string, uint64_t> peer_frontier;
    // The graft timeout in use (Options::graft_rtts) and the frontier
    // grace that follows from it.
    absl::Duration graft_timeout = absl::ZeroDuration();
    absl::Duration frontier_grace = absl::ZeroDuration();
  };

  // The node's roster, as gossip needs it: its version for every
  // FrontierMessage, the versions after a peer's (GetRosterChain), and
  // adoption of newer versions a peer reports. Federation code does not
  // depend on node/, so the node passes its RosterManager in as these.
  // Each may be empty: version 0, no chain served, nothing adopted.
  struct RosterHooks {
    // Thread-safe, fast (called per frontier exchange).
    std::function<uint64_t()> version;
    // Versions after `after_version`, ascending, at most `max`.
    std::function<std::vector<watchfloor::v1::Envelope>(uint64_t after_version, size_t max)>
        chain_after;
    // Verifies and adopts versions (RosterManager::Adopt): the new current
    // version, ALREADY_EXISTS if the newest is current, or why they were
    // refused. Called on the engine's roster fetch thread only.
    std::function<absl::StatusOr<uint64_t>(const std::vector<watchfloor::v1::Envelope>&)>
        adopt;
  };

  // `store` must outlive the engine. `self` is this node's origin; `peers`
  // excludes it. Every call to a peer goes through `transport`, which the
  // engine owns.
  Gossip(std::string self, FeedStore* store, std::vector<Peer> peers,
         std::unique_ptr<Transport> transport, Options options);
  // Over gRPC: MakeGrpcTransport(channels).
  Gossip(std::string self, FeedStore* store, std::vector<Peer> peers,
         ChannelFactory channels, Options options);
  ~Gossip();  // Stop()

  // Before Start(); not thread-safe. With `adopt` set, Start() also starts
  // the roster fetch thread: when a peer's frontier shows a newer roster
  // version than `version()`, that thread (one fetch at a time, never a
  // round's thread) asks the peer for GetRosterChain(after = ours) and
  // hands the versions to `adopt`. A refused chain counts against the peer
  // (PeerStats::refused), is logged once, and is not fetched from that peer
  // again until it reports another version; a failed call is retried after
  // max(anti_entropy_interval, 1 s).
  void SetRosterHooks(RosterHooks hooks);

  // Asks every peer for a frontier exchange now (frontiers only), so that
  // a roster version this node just adopted reaches them in one round trip
  // rather than one anti-entropy interval per hop. Thread-safe.
  void AnnounceRoster();

  // Starts the sender and timer threads (no timer thread with
  // Options::external_timer).
  void Start();

  // The engine's timed decisions at `now`: fetches of announced ids whose
  // graft_timeout has passed, parked envelopes whose predecessor arrived
  // or whose frontier_grace ran out, syncs with peers found ahead, and the
  // anti-entropy schedule (a random peer every anti_entropy_interval,
  // counted from the first Tick). The calls these decide on are made by
  // the links' sender threads. Called by the timer thread, or by the owner
  // with Options::external_timer. Thread-safe; calls are serialized.
  void Tick(absl::Time now);

  // With Options::external_pump: for each link with no calls in progress
  // whose queue is due at `now` (pushes, fetches, evidence, checkpoint
  // notes, co-signatures, announcements past ihave_interval, a round the
  // timer asked for) and not backing off, takes what is queued and starts
  // its calls, one after another, then the round; returns without waiting
  // for any. Thread-safe. A no-op once the engine is stopping.
  void Pump(absl::Time now);

  // Makes `peers` the peer set (an entry naming this node is ignored; the
  // first of two entries for one origin counts), as the roster in force
  // lists them. A peer in both the old and the new set with the same
  // endpoint keeps its link untouched (queue, eager/lazy, backoff, stats).
  // A new peer (or one whose endpoint changed) gets a fresh link: eager if
  // fewer than eager_fanout links are, its worker started if the engine
  // runs, and a first anti-entropy round with it at once, which pulls its
  // feed and shows it this node's frontier (so it pulls every feed's history
  // from here). A removed peer is no peer from when SetPeers returns:
  // IsPeer is false (the Federation service refuses its calls with
  // PERMISSION_DENIED), its calls in progress are cancelled, its worker has
  // stopped, and what was queued, parked or announced for or by it is
  // dropped. Handler calls that passed IsPeer before may still finish.
  // Thread-safe, serialized with Start and Stop; after Stop it only updates
  // the set. Blocks until the removed workers have stopped: not to be
  // called from a gossip worker, a Handle* method or a store callback of
  // this engine (a RosterManager listener on its own thread is fine).
  void SetPeers(std::vector<Peer> peers);
  // Stops all threads, cancelling calls in progress (a slow peer does not
  // hold it up); pending sends are dropped (anti-entropy repairs). With
  // Options::external_pump, calls started by Pump may still be completing:
  // the owner must let the transport run or fail every one of them before
  // the engine is destroyed (tests/sim/event_network.h does). Returns
  // once no store callback (FeedStore::Offer's `stored`) that uses this
  // engine can run any more, so the engine may then be destroyed even while
  // the store lives on. Must not be called from such a callback. Idempotent.
  void Stop();

  // A new alert accepted by this node from a client (published or ingested):
  // push it eagerly, announce it lazily.
  void Broadcast(const watchfloor::v1::Envelope& envelope);
  // Evidence this node just stored: send it to every peer.
  void BroadcastEvidence(const EvidencePair& evidence);
  // A checkpoint note this node signed, cosigned or merged: send it to every
  // peer. Only the newest note per log is kept queued for a peer.
  void BroadcastCheckpoint(const std::string& note);
  // Co-signatures this node just stored (its own, or new from a peer): send
  // them to every peer (PushCosignatures).
  void BroadcastCosignatures(const std::vector<CosignatureOffer>& cosignatures);

  // Handlers for the Federation service; `peer` is the caller's
  // authenticated origin, which must be one of `peers`.
  watchfloor::v1::PushResponse HandlePush(const std::string& peer,
                                          const watchfloor::v1::PushRequest& req);
  watchfloor::v1::IHaveResponse HandleIHave(const std::string& peer,
                                            const watchfloor::v1::IHaveRequest& req);
  watchfloor::v1::FetchResponse HandleFetch(const std::string& peer,
                                            const watchfloor::v1::FetchRequest& req);
  watchfloor::v1::FrontierMessage HandleFrontier(
      const std::string& peer, const watchfloor::v1::FrontierMessage& req);
  absl::StatusOr<watchfloor::v1::PullRangeResponse> HandlePullRange(
      const std::string& peer, const watchfloor::v1::PullRangeRequest& req);
  watchfloor::v1::PushEvidenceResponse HandleEvidence(
      const std::string& peer, const watchfloor::v1::EvidenceMessage& req);
  watchfloor::v1::PushCheckpointsResponse HandleCheckpoints(
      const std::string& peer, const watchfloor::v1::PushCheckpointsRequest& req);
  // Verifies and merges co-signatures (FeedStore::OfferCosignatures); a bad
  // one counts against `peer` as "bad_cosignature".
  watchfloor::v1::PushCosignaturesResponse HandleCosignatures(
      const std::string& peer, const watchfloor::v1::PushCosignaturesRequest& req);
  // This node's co-signatures after req.after, at most req.limit (0: 256,
  // capped at 256).
  watchfloor::v1::PullCosignaturesResponse HandlePullCosignatures(
      const std::string& peer, const watchfloor::v1::PullCosignaturesRequest& req);
  // The versions after req.after_version from RosterHooks::chain_after, at
  // most req.limit (0: 64, capped at 64) and at most 960 KiB (at least
  // one), so the answer fits every node's 1 MiB message limit. Empty
  // without hooks.
  watchfloor::v1::GetRosterChainResponse HandleGetRosterChain(
      const std::string& peer, const watchfloor::v1::GetRosterChainRequest& req);

  // One anti-entropy round with `peer` now: swap frontiers, pull what is
  // missing. Returns the number of envelopes the store accepted for storing
  // (Stats count them as they are committed). Blocks until the round's
  // calls have ended: with Options::external_pump, not to be called from
  // the thread that completes them.
  absl::StatusOr<uint64_t> AntiEntropyWith(const std::string& peer);

  // Counts invalid input from `peer` (an envelope, or a request that does
  // not parse: HandleFederationRequest) in the totals and against its link,
  // under `reason` (PeerStats::refused_by_reason).
  void CountRefused(const std::string& peer, absl::string_view reason);

  // Records a call `peer` made to this node that was answered: its request
  // and response sizes, and the contact (PeerStats). Thread-safe.
  void CountIncoming(const std::string& peer, size_t request_bytes, size_t response_bytes);

  bool IsPeer(const std::string& origin) const;
  Stats stats() const;
  const std::string& self() const { return self_; }

 private:
  struct Link;
  class Call;
  struct Callbacks;
  class CallbackGuard;
  struct Step;
  struct Flow;
  struct RoundState;

  using LinkList = std::vector<std::shared_ptr<Link>>;

  // The current links; the list never changes once published (SetPeers
  // publishes a new one and drops the old). Hold the returned pointer for
  // as long as the list is used: `for (... : *Links())` destroys the
  // returned pointer before the loop starts, so nothing keeps the list
  // alive and SetPeers can free it under the loop (seen under ASan:
  // AnnounceRoster during an admission).
  std::shared_ptr<const LinkList> Links() const;
  // The current link to `origin`, or null. The pointer stays valid for the
  // engine's lifetime (removed links are retired, not destroyed).
  Link* FindLink(const std::string& origin) const;
  std::shared_ptr<Link> MakeLink(const Peer& peer);
  // Queues `envelope` to every eager peer and announces it to every lazy
  // one (or to Options::lazy_fanout random lazy ones), but `exclude` and the
  // origin's own node.
  void Forward(const watchfloor::v1::Envelope& envelope, const std::string& id,
               const std::string& origin, uint64_t sequence,
               const std::string& exclude);
  // Makes `flow`'s calls one after another, each through
  // PeerChannel::Start, then runs its `finish`. Returns when a call is left
  // to complete later (its completion goes on from there), or when the
  // flow has finished. Calls are cancelled by Stop() as before.
  void Run(std::shared_ptr<Flow> flow);
  // The front call of `flow` has ended with flow->status: runs its handler
  // and drops what a failure leaves to a later turn.
  void Settle(Flow* flow);
  // What a flow takes from a link's queue (Options::parallel_lanes): one
  // lane's share, or all of it (kAllLanes, one flow at a time).
  enum Lane : int { kPushLane = 0, kControlLane = 1, kRoundLane = 2, kAllLanes = 3 };
  // Whether `link` has something due for `lane` at `now` and is not backing
  // off. Called with link->mu held (Link is incomplete here, so the
  // annotation cannot say it).
  bool Due(Link* link, absl::Time now, Lane lane);
  // Takes what is due for `lane` on `link` at `now` into a flow of calls
  // (evidence, checkpoint notes, co-signatures, pushes, fetches,
  // announcements, in that order), and the round the timer asked for, run
  // once they end. Called with link->mu held.
  std::shared_ptr<Flow> TakeBatch(Link* link, absl::Time now, Lane lane);
  void RunBatch(std::shared_ptr<Flow> flow, std::function<void()> done);
  // Offers co-signatures pulled from `link`'s peer; returns how many were
  // new. Bad ones count against the peer; those whose alert is not stored
  // here yet are deferred (bounded) to the next round.
  uint64_t OfferPulledCosignatures(Link* link, std::vector<CosignatureOffer> offers);
  // The next calls of an anti-entropy round: a pull of the next range the
  // peer is ahead by, or, past the last, the co-signature pull (up to the
  // peer's frontier position, from what this node pulled from it last).
  void NextPull(Flow* flow, const std::shared_ptr<RoundState>& round);
  void NextCosignaturePull(Flow* flow, const std::shared_ptr<RoundState>& round);
  // Claims `origin` in pulling_ for `round` of `link`; false if another
  // link's round claimed it, or renewed its claim, less than a frontier
  // grace ago.
  bool Claim(const Link* link, RoundState* round, const std::string& origin)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Gives up what `round` claimed, if it is still its own.
  void Unclaim(const Link* link, RoundState* round) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // What an anti-entropy round pulls once frontiers are swapped; a larger
  // one includes a smaller (a link owes its peer the largest asked for).
  enum RoundKind : int {
    kNoRound = 0,
    // Only notes what the peer is ahead by (NoteAhead).
    kFrontiersOnly = 1,
    // Pulls what was noted and was still missing after frontier_grace, up
    // to the sequence noted (Link::pull_to); notes the rest. What the peer
    // stored since is most likely still on its way here by push.
    kPullNoted = 2,
    // Pulls every range the peer is ahead by (a new link, a push that could
    // not be placed, AntiEntropyWith).
    kPullAll = 3,
  };
  // An anti-entropy round with `link`'s peer: swaps frontiers, pulls (or
  // notes) what the peer is ahead by as `kind` says, then pulls its
  // co-signatures. `done` gets the number of envelopes pulled, or
  // UNAVAILABLE if the frontier exchange failed. With `share`, an origin
  // another link's round is pulling is left to it (see pulling_).
  void StartRound(Link* link, RoundKind kind,
                  std::function<void(absl::StatusOr<uint64_t>)> done, bool share = true);
  // Remembers that `link`'s peer holds `origin` up to `sequence`; the timer
  // syncs with it if this node still lacks that after frontier_grace.
  void NoteAhead(Link* link, const std::string& origin, uint64_t sequence);
  // The entries of `ahead` (origin -> sequence) this node's frontier is
  // still behind, ignoring feeds it holds as forked.
  std::map<std::string, uint64_t> StillBehind(std::map<std::string, uint64_t> ahead);
  // The graft timeout in use, and the frontier grace (at least twice it).
  absl::Duration GraftWait() const;
  absl::Duration FrontierGrace() const;
  // Sets the graft timeout from the links' round trips (Options::graft_rtts).
  void AdaptGraftTimeout();
  // The store callback for an envelope an anti-entropy round pulled from
  // `link`: counts it as pulled only once the store has committed it (an
  // offer it accepted may still be refused at commit, e.g. a gap when two
  // links pull the same origin at once, and be pulled again later). Live
  // for Stop like OnStored's.
  std::function<void(absl::Status)> OnPulled(Link* link);
  // The callback for the store's final verdict on an envelope `link`'s peer
  // sent. A gap (FAILED_PRECONDITION: its predecessor is not stored yet) is
  // mostly a reordering between paths (a fetch, a link turning eager while
  // announcements for the one before are still queued), so the envelope is
  // parked until its predecessor is stored, then offered again; if that
  // takes past `give_up`, the node syncs with that peer instead. `first`:
  // the first verdict on this copy (for Stats::reordered). The callback
  // counts as live (Stop waits for it) until the store destroys it; after
  // Stop a no-op is returned.
  std::function<void(absl::Status)> OnStored(Link* link,
                                             const watchfloor::v1::Envelope& envelope,
                                             absl::Time give_up, bool first);
  // Offers again the parked envelopes that follow what is stored now.
  void RetryParked(absl::Time now);
  // Offers one received envelope (its callback forwards it once stored).
  // Returns the verdict.
  // `prunes`, if given, is set for a duplicate that makes the link from
  // `peer` redundant (see first_from_).
  // `origin`, if given, is set to the envelope's origin (unchecked).
  watchfloor::v1::PushVerdict Receive(const std::string& peer,
                                      const watchfloor::v1::Envelope& envelope,
                                      bool* prunes = nullptr, std::string* origin = nullptr);
  // A link's thread: takes and runs its flows for `lane`.
  void SenderLoop(Link* link, Lane lane);
  // The lanes a link runs: kAllLanes, or the three of parallel_lanes.
  std::vector<Lane> Lanes() const;
  void TimerLoop();
  // RosterHooks::version(), or 0 without hooks.
  uint64_t RosterVersion() const;
  // Records the roster version `peer` reported (0: none) and, if it is
  // newer than ours, queues a fetch from that peer (see SetRosterHooks).
  void NoteRosterVersion(const std::string& peer, uint64_t version);
  // The roster fetch thread, and one fetch from `peer`.
  void RosterFetchLoop();
  void FetchRoster(const std::string& peer);
  void CheckMissing(absl::Time now);
  // Raises stats_.peer_frontier to what `frontier` shows.
  void NoteFrontier(const watchfloor::v1::FrontierMessage& frontier);

  const std::string self_;
  FeedStore* const store_;
  const Options options_;
  Clock* const clock_;  // options_.clock, or Clock::Real()
  const std::unique_ptr<Transport> transport_;

  // Serializes Start, Stop and SetPeers: the starting and joining of link
  // threads. Taken before mu_.
  absl::Mutex lifecycle_mu_;
  // A leaf lock: nothing else is taken under it.
  mutable absl::Mutex links_mu_;
  std::shared_ptr<const LinkList> links_ ABSL_GUARDED_BY(links_mu_);
  // Links SetPeers removed: stopped and emptied, kept until the engine goes.
  LinkList retired_ ABSL_GUARDED_BY(links_mu_);

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  std::mt19937_64 rng_ ABSL_GUARDED_BY(mu_);
  // Announced but missing: id -> (announcers, first announce + timeout).
  struct Missing {
    std::vector<std::string> announcers;
    absl::Time deadline;
    int attempts = 0;  // fetches so far; given up after a few per announcer
  };
  std::map<std::string, Missing> missing_ ABSL_GUARDED_BY(mu_);
  // Ids this node has accepted as new from a peer, newest last, so that a
  // further copy is a duplicate (Plumtree's "received" set, which prunes).
  // The store alone cannot tell: an envelope it does not keep (a gap nobody
  // can fill, a frozen feed) is "new" every time it comes back, and would
  // keep its link eager. Bounded; the oldest ids are forgotten first.
  std::set<std::string> forwarded_ ABSL_GUARDED_BY(mu_);
  std::deque<std::string> forwarded_order_ ABSL_GUARDED_BY(mu_);
  // Envelopes that arrived before their predecessor (OnStored).
  struct Parked {
    Link* link;
    watchfloor::v1::Envelope envelope;
    std::string id;
    std::string origin;
    uint64_t sequence;
    absl::Time give_up;
    size_t held;  // bytes held against link's budget
  };
  std::vector<Parked> parked_ ABSL_GUARDED_BY(mu_);
  // Their ids: a further copy of a parked envelope is a duplicate (it is
  // neither stored nor in flight, so the store alone would call it new and
  // gossip would forward it again).
  std::set<std::string> parked_ids_ ABSL_GUARDED_BY(mu_);
  // The peer whose push brought each recent id first, oldest first out
  // (bounded by max_link_queue). A duplicate prunes its link only while that
  // first link is still eager: at high rates two links into a node each
  // deliver some alerts first and some second, and pruning on every
  // duplicate cuts both, leaving the node to grafts (a graft timeout of
  // latency per alert). Also lets HandleIHave skip the store for them.
  std::map<std::string, std::string> first_from_ ABSL_GUARDED_BY(mu_);
  std::deque<std::string> first_from_order_ ABSL_GUARDED_BY(mu_);
  // Origins some link's round is pulling now, and since when. A
  // node that starts or returns swaps frontiers with every peer at once,
  // and each peer shows it behind by the same origins in the same order:
  // without this, every link's round would pull every origin, one after
  // another, all in step (N links' worth of copies, and the time of all
  // origins' round trips one by one). A round meeting an origin another
  // link pulls leaves it (noted, checked after the grace), so that the
  // links divide the origins between them. A claim holds off the others
  // for one frontier grace, whatever the sequences, from when it was taken
  // or last renewed; only a full page answered within half a grace renews
  // it (NextPull). So a stalling, trickling or padding peer delays an
  // origin by one grace after its claim (then the noted origin is checked
  // again), as a frontier's news is delayed anyway, and a slow one serves
  // at least a full page per half grace, or loses it. A page this node's
  // own overload cut short counts by what the peer sent; a round whose
  // store took nothing of a page ends its pulls (the rest noted).
  struct Pulling {
    const Link* link = nullptr;
    absl::Time since;
  };
  std::map<std::string, Pulling> pulling_ ABSL_GUARDED_BY(mu_);
  Stats stats_ ABSL_GUARDED_BY(mu_);
  RosterHooks roster_hooks_;  // set before Start, then read-only
  // Roster state has a mutex of its own: the fetch thread waits on it, and
  // a waiter with a condition on mu_ would cost every unlock of that hot
  // mutex. No other lock is taken while it is held.
  mutable absl::Mutex roster_mu_;
  bool roster_stopping_ ABSL_GUARDED_BY(roster_mu_) = false;
  // What each peer reported of its roster, and what fetching from it gave.
  struct PeerRoster {
    uint64_t version = 0;
    absl::Time reported = absl::InfinitePast();
    uint64_t refused_version = 0;  // its chain up to this one was refused
    uint64_t logged_version = 0;   // a fetch failure logged for this one
    absl::Time retry_at = absl::InfinitePast();
  };
  std::map<std::string, PeerRoster> peer_rosters_ ABSL_GUARDED_BY(roster_mu_);
  // The peer to fetch from next ("" none), and whether a fetch is running:
  // one at a time, whatever the number of peers ahead.
  std::string roster_fetch_peer_ ABSL_GUARDED_BY(roster_mu_);
  bool roster_fetching_ ABSL_GUARDED_BY(roster_mu_) = false;
  std::thread roster_fetcher_;
  // Store callbacks that exist (OnStored); shared with them.
  const std::shared_ptr<Callbacks> callbacks_;
  std::thread timer_;
  // Serializes Tick; when the next anti-entropy round is due
  // (InfinitePast until the first Tick).
  absl::Mutex tick_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  absl::Time next_round_ ABSL_GUARDED_BY(tick_mu_) = absl::InfinitePast();
  // The graft timeout in use (AdaptGraftTimeout, once a second from Tick),
  // read without a lock by whoever needs it.
  absl::Time next_graft_check_ ABSL_GUARDED_BY(tick_mu_) = absl::InfinitePast();
  std::atomic<int64_t> graft_wait_ns_{0};
};

}  // namespace watchfloor::federation

#endif  // WATCHFLOOR_FEDERATION_GOSSIP_H_
