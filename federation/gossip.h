// Gossip between member nodes: Plumtree-style eager push along a tree that
// forms itself, lazy IHave announcements with pull on demand (graft), and
// periodic frontier anti-entropy that repairs partitions and restarts.
//
// The engine owns no storage: every envelope goes through the node's one
// ingest path via FeedStore::Offer (verify, continuity, dedupe, forks), and
// an envelope is forwarded only after it verified and was new here.
//
// Threading: one sender thread per peer (pushes, announcements, fetches, in
// order) and one timer thread (graft timeouts, anti-entropy). Handle* methods
// are called by the gRPC service on its threads. All public methods are
// thread-safe.
#ifndef WATCHFLOOR_FEDERATION_GOSSIP_H_
#define WATCHFLOOR_FEDERATION_GOSSIP_H_

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "federation/feed_store.h"
#include "grpcpp/channel.h"
#include "watchfloor/v1/federation.grpc.pb.h"

namespace watchfloor::federation {

struct Peer {
  std::string origin;    // "member/node"
  std::string endpoint;  // "host:port" to dial
};

// Makes the channel to a peer (mutual TLS in the node).
using ChannelFactory =
    std::function<std::shared_ptr<grpc::Channel>(const Peer& peer)>;

class Gossip {
 public:
  struct Options {
    // Peers pushed to eagerly at start; the rest get IHave. Plumtree then
    // prunes links that deliver duplicates and grafts links that deliver
    // announced-but-missing alerts.
    size_t eager_fanout = 3;
    // How long an announced alert may stay missing before it is fetched.
    absl::Duration graft_timeout = absl::Milliseconds(150);
    // How often queued IHave announcements are flushed to lazy peers.
    absl::Duration ihave_interval = absl::Milliseconds(25);
    // How often a random peer is asked for its frontier.
    absl::Duration anti_entropy_interval = absl::Seconds(2);
    absl::Duration rpc_timeout = absl::Seconds(5);
    absl::Duration min_backoff = absl::Milliseconds(100);
    absl::Duration max_backoff = absl::Seconds(10);
    size_t max_push_batch = 256;
    size_t max_link_queue = 65536;  // queued pushes per peer before dropping
    size_t pull_page = 512;
    uint64_t seed = 0;  // 0: random
  };

  struct PeerStats {
    bool eager = false;
    bool reachable = true;
    uint64_t pushed = 0;          // envelopes sent eagerly
    uint64_t received_new = 0;    // full copies that were new
    uint64_t received_dup = 0;    // full copies that were duplicates
    uint64_t refused = 0;         // invalid envelopes (counted against it)
    uint64_t dropped = 0;         // pushes dropped (queue full / unreachable)
  };

  struct Stats {
    uint64_t received_new = 0;
    uint64_t received_dup = 0;
    uint64_t refused = 0;
    uint64_t ihave_sent = 0;
    uint64_t fetched = 0;
    uint64_t anti_entropy_rounds = 0;
    uint64_t anti_entropy_bytes = 0;  // frontier exchange + pulled ranges
    uint64_t anti_entropy_pulled = 0;  // envelopes pulled by anti-entropy
    uint64_t evidence_sent = 0;
    std::map<std::string, PeerStats> peers;
  };

  // `store` must outlive the engine. `self` is this node's origin; `peers`
  // excludes it.
  Gossip(std::string self, FeedStore* store, std::vector<Peer> peers,
         ChannelFactory channels, Options options);
  ~Gossip();  // Stop()

  // Starts the sender and timer threads.
  void Start();
  // Stops all threads; pending sends are dropped (anti-entropy repairs).
  void Stop();

  // A new alert accepted by this node from a client (published or ingested):
  // push it eagerly, announce it lazily.
  void Broadcast(const watchfloor::v1::Envelope& envelope);
  // Evidence this node just stored: send it to every peer.
  void BroadcastEvidence(const EvidencePair& evidence);

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

  // One anti-entropy round with `peer` now: swap frontiers, pull what is
  // missing. Returns the number of envelopes pulled.
  absl::StatusOr<uint64_t> AntiEntropyWith(const std::string& peer);

  bool IsPeer(const std::string& origin) const;
  Stats stats() const;
  const std::string& self() const { return self_; }

 private:
  struct Link;

  Link* FindLink(const std::string& origin) const;
  // Queues `envelope` eagerly or lazily to every peer but `exclude` (and but
  // the origin's own node).
  void Forward(const watchfloor::v1::Envelope& envelope, const std::string& id,
               const std::string& origin, uint64_t sequence,
               const std::string& exclude);
  // Offers one received envelope; forwards it if new. Returns the verdict.
  watchfloor::v1::PushVerdict Receive(const std::string& peer,
                                      const watchfloor::v1::Envelope& envelope);
  void SenderLoop(Link* link);
  void TimerLoop();
  void CheckMissing(absl::Time now);

  const std::string self_;
  FeedStore* const store_;
  const Options options_;
  std::vector<std::unique_ptr<Link>> links_;

  mutable absl::Mutex mu_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool started_ ABSL_GUARDED_BY(mu_) = false;
  std::mt19937_64 rng_ ABSL_GUARDED_BY(mu_);
  // Announced but missing: id -> (announcers, first announce + timeout).
  struct Missing {
    std::vector<std::string> announcers;
    absl::Time deadline;
  };
  std::map<std::string, Missing> missing_ ABSL_GUARDED_BY(mu_);
  Stats stats_ ABSL_GUARDED_BY(mu_);
  std::thread timer_;
};

}  // namespace watchfloor::federation

#endif  // WATCHFLOOR_FEDERATION_GOSSIP_H_
