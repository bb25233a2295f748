// A federation of N gossip engines on simulated time, deterministic from a
// seed (issue 11, point 2): one thread, one event queue ordered by (time,
// sequence), one FakeClock moved to each event's time. Every engine runs
// the production protocol code (federation/gossip.h) with
// Options::external_timer and external_pump: the simulator calls its Tick
// every 10 ms of simulated time, as the timer thread does, and Pump after
// every event that touches the node. Its calls to peers go through
// PeerChannel::Start on a simulated network: a request travels the directed
// link's latency (+ jitter, + its bytes over the link's bandwidth, queued
// behind earlier messages), may be lost, is handled by the peer's engine
// through HandleFederationRequest (parse, limits, handler: what gRPC would
// run), and the answer travels back the same way. Storage is a
// MemoryFeedStore per node, verifying each envelope's real Ed25519
// signature unless Options::verify is off.
//
// Same seed, same options, same calls: the same trace (TraceHash), bit for
// bit. Not thread-safe: one thread drives it.
#ifndef WATCHFLOOR_TESTS_SIM_EVENT_SIM_H_
#define WATCHFLOOR_TESTS_SIM_EVENT_SIM_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <queue>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "certs/keys.h"
#include "federation/clock.h"
#include "federation/gossip.h"
#include "tests/sim/memory_feed_store.h"

namespace watchfloor::testing {

class EventSim {
 public:
  struct Options {
    int nodes = 10;
    // Peers per node: a ring plus random chords until every node has at
    // least this many (a connected graph; links both ways). 0: every other
    // node (the roster's full mesh).
    int degree = 0;
    uint64_t seed = 1;
    // Each directed link's one-way latency, drawn once per link from
    // U[min_latency, max_latency]; each message adds U[0, jitter].
    absl::Duration min_latency = absl::Milliseconds(20);
    absl::Duration max_latency = absl::Milliseconds(200);
    absl::Duration jitter = absl::Milliseconds(5);
    // Probability that one message (a request or an answer) is lost: the
    // call then fails UNAVAILABLE when it would have arrived.
    double loss = 0;
    // Bytes per second of each directed link; 0: unlimited.
    double bandwidth = 0;
    // From an envelope's offer to its commit in the receiving store.
    absl::Duration commit_delay = absl::Microseconds(200);
    // False: signatures are neither made nor checked (for large N).
    bool verify = true;
    // Each store's limit of commits pending (MemoryFeedStore::Options);
    // 0: none.
    size_t max_pending = 0;
    // Bytes of description text per alert (its payload is ~60 bytes more).
    size_t alert_text = 300;
    // The engines' options; the simulator sets clock, seed, external_timer
    // and external_pump.
    federation::Gossip::Options gossip;
  };

  // One published alert, as the simulation saw it.
  struct AlertTrace {
    std::string id;
    int origin = 0;
    absl::Time published;
    // Per node: when its store committed the alert (InfiniteFuture: not
    // yet), and in how many hops from the origin (the path of the copy it
    // stored: 0 at the origin).
    std::vector<absl::Time> stored_at;
    std::vector<int> hops;
  };

  // What crossed the network.
  struct Traffic {
    uint64_t calls = 0;
    uint64_t messages = 0;   // requests and answers sent
    uint64_t bytes = 0;      // their serialized bytes
    uint64_t lost = 0;       // messages lost (Options::loss)
    uint64_t unreachable = 0;  // calls failed: peer down or cut off
    // Full envelopes received (in pushes, fetch and pull answers), and
    // per rpc those whose alert the receiver already held when they
    // arrived (stored or being stored): the duplicate payloads.
    uint64_t envelopes = 0;
    std::map<std::string, uint64_t> envelopes_by_rpc;  // "Push", "Fetch", "PullRange"
    std::map<std::string, uint64_t> duplicates_by_rpc;
    std::map<std::string, uint64_t> calls_by_rpc;
  };

  explicit EventSim(Options options);
  ~EventSim();
  EventSim(const EventSim&) = delete;
  EventSim& operator=(const EventSim&) = delete;

  int nodes() const { return static_cast<int>(nodes_.size()); }
  absl::Time now() const { return now_; }
  const std::string& origin(int node) const;
  // The mean one-way latency of the links drawn (without jitter).
  absl::Duration MeanLatency() const;
  // The node's peers (indices).
  const std::vector<int>& peers(int node) const { return graph_[node]; }

  // Publishes the next alert of `node` now: stored there, then broadcast.
  // Returns its index in alerts().
  int Publish(int node);
  // Runs the events up to now + d; the clock ends at now + d.
  void RunFor(absl::Duration d);
  // Runs until every node up holds every alert published so far, or `limit`
  // of simulated time passes. True if delivered. Misbehaving nodes do not
  // count.
  bool RunUntilDelivered(absl::Duration limit);
  // Every node up and not misbehaving holds every published alert.
  bool Delivered() const;

  // Cuts every link between a node in `side` and one outside it, both ways,
  // until Heal. Messages in flight across the cut are lost.
  void Partition(const std::set<int>& side);
  void Heal();
  // Node `node` stops (its calls in progress fail, its store's pending
  // commits are dropped) and starts again at once with an empty store.
  void Restart(int node);

  // What a misbehaving node does (issue 11, point 3). Whatever the kind,
  // its engine is never ticked or pumped: it answers calls from its store
  // and stores what it is pushed, but forwards nothing (a withholder). The
  // other kinds also send, `rate` times a second to each of its peers, one
  // call through the network:
  enum class Misbehaviour {
    kWithhold,
    // A push of one envelope of its own origin whose signature is broken.
    kInvalidFlood,
    // A push of one alert it stores (another origin's), byte for byte.
    kReplay,
    // An announcement of one id it never serves.
    kPhantomIHave,
    // Sends nothing (`rate` is ignored); its frontier answers show every
    // origin kStalledLead alerts ahead of what it holds, and it never
    // answers a PullRange: the caller waits out its rpc_timeout. A peer
    // that makes a node behind pull from it, and stalls.
    kStallPulls,
    // Sends nothing (`rate` is ignored) and answers every PullRange at
    // once with the first alert asked for only, padded with ~900 KiB of an
    // unknown field: a peer that keeps a pull going, one alert per round
    // trip, in answers as large as full ones.
    kTricklePulls,
    // Sends nothing (`rate` is ignored) and answers every PullRange in
    // full, but kSlowPull late (well within the caller's rpc_timeout).
    kSlowPulls,
  };
  static constexpr absl::Duration kSlowPull = absl::Milliseconds(1200);
  static constexpr uint64_t kStalledLead = 1000000;
  void Misbehave(int node, Misbehaviour kind, double rate);
  // Bytes of the calls misbehaving nodes sent and of the answers to them.
  uint64_t misbehaving_bytes() const { return misbehaving_bytes_; }
  // PullRange calls a kStallPulls node left unanswered, a kTricklePulls
  // node answered with one alert of several asked for, or a kSlowPulls
  // node answered late.
  uint64_t bad_pull_answers() const { return bad_pull_answers_; }

  const std::vector<AlertTrace>& alerts() const { return alerts_; }
  const Traffic& traffic() const { return traffic_; }
  federation::Gossip::Stats stats(int node) const;
  // The node's store's frontier.
  std::vector<federation::FrontierEntry> Frontier(int node) const;
  // A digest of every commit, in order: (time, node, alert id).
  uint64_t TraceHash() const { return trace_hash_; }
  uint64_t events() const { return events_run_; }

 private:
  class Channel;
  class Transport;
  struct Node;
  struct PendingCall;

  struct Event {
    absl::Time at;
    uint64_t seq;
    std::function<void()> run;
    bool operator>(const Event& o) const {
      return at != o.at ? at > o.at : seq > o.seq;
    }
  };

  void Schedule(absl::Time at, std::function<void()> run);
  // Runs one event; false when the queue is empty or the next is past `until`.
  bool Step(absl::Time until);
  void BuildGraph();
  void StartNode(int node);
  void StopNode(int node);
  void TickNode(int node, uint64_t incarnation);
  // A message of `bytes` from `from` to `to` sent now: when it arrives, or
  // InfiniteFuture if it is lost.
  absl::Time Transmit(int from, int to, size_t bytes);
  bool Cut(int a, int b) const;
  // Starts one call (Channel::Start).
  void StartCall(int from, int to, federation::PeerChannel::Call* call,
                 federation::PeerChannel::Rpc rpc, const google::protobuf::Message& request,
                 google::protobuf::Message* response, std::function<void(absl::Status)> done);
  void Finish(uint64_t call_id, absl::Status status, const std::string& answer);
  // One misbehaving call from `from` to each of its peers, and the next
  // one a period later.
  void SendBad(int from, Misbehaviour kind, absl::Duration period, uint64_t incarnation);
  // A call whose answer nobody reads: `method` with `request` from `from`
  // to `to`, over the network (latency, loss, cuts).
  void SendRaw(int from, int to, absl::string_view method, std::string request);

  const Options options_;
  federation::FakeClock clock_;
  absl::Time now_;  // clock_'s time, readable from const methods
  std::mt19937_64 rng_;
  std::priority_queue<Event, std::vector<Event>, std::greater<Event>> queue_;
  uint64_t next_seq_ = 0;
  uint64_t events_run_ = 0;
  std::vector<std::vector<int>> graph_;
  std::map<std::pair<int, int>, absl::Duration> latency_;
  std::map<std::pair<int, int>, absl::Time> busy_until_;
  std::set<int> cut_side_;
  bool cut_ = false;
  std::map<std::string, int> index_;
  std::map<std::string, certs::PublicKey> keys_;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::map<uint64_t, std::unique_ptr<PendingCall>> calls_;
  uint64_t next_call_ = 0;
  std::vector<AlertTrace> alerts_;
  std::map<std::string, int> alert_index_;
  // Which peer delivered the copy being handled: set while a handler or a
  // completion of a call between two nodes runs (-1 otherwise).
  int delivering_from_ = -1;
  Traffic traffic_;
  uint64_t misbehaving_bytes_ = 0;
  uint64_t bad_pull_answers_ = 0;
  uint64_t bad_counter_ = 0;
  uint64_t trace_hash_ = 1469598103934665603ull;
};

}  // namespace watchfloor::testing

#endif  // WATCHFLOOR_TESTS_SIM_EVENT_SIM_H_
