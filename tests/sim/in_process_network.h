// Many gossip engines in one process, wired through an in-process network
// instead of gRPC (issue 11, the simulator's first step). Each engine gets a
// federation::Transport from TransportFor(); a call on it travels a directed
// link with its own latency, jitter and loss, and is delivered to the target
// engine through HandleFederationRequest, so the peer parses, limits and
// handles the request exactly as its Federation service would. Requests and
// responses are serialized and parsed on the way, as on the wire.
//
// This is not the deterministic simulator of issue 11: engines run their
// own threads on real time (absl::Now, sleeps), and calls run on the
// calling engine's threads. Only the network's own choices (loss, jitter)
// come from the seeded generator, so a run is not reproducible bit for bit.
//
// Lifetime: the network must outlive every Transport it made (and so every
// engine using one). An engine must be detached before it is destroyed.
// All public methods are thread-safe.
#ifndef WATCHFLOOR_TESTS_SIM_IN_PROCESS_NETWORK_H_
#define WATCHFLOOR_TESTS_SIM_IN_PROCESS_NETWORK_H_

#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "federation/gossip.h"
#include "federation/transport.h"
#include "google/protobuf/message.h"

namespace watchfloor::testing {

class InProcessNetwork {
 public:
  // How one directed link (caller -> callee) behaves.
  struct LinkOptions {
    // One-way delay; each call waits latency + U[0, jitter] of this link
    // and of the link back, once, before the callee handles it (the return
    // trip is folded into that one wait, so the handler runs a full round
    // trip after the call starts and the answer is back at once).
    absl::Duration latency = absl::ZeroDuration();
    absl::Duration jitter = absl::ZeroDuration();
    // Probability in [0, 1] that a message on this link is lost. A lost
    // request is never handled; a lost response (the link back's loss) is
    // lost after the callee handled the request. Either way the call fails
    // UNAVAILABLE, as over a connection that broke.
    double loss = 0;
  };

  // What crossed one directed link, or was sent with one rpc method.
  struct Traffic {
    uint64_t calls = 0;     // requests handed to a callee
    uint64_t messages = 0;  // requests and responses delivered
    uint64_t bytes = 0;     // their serialized bytes
    uint64_t lost = 0;      // messages lost (LinkOptions::loss)
  };

  struct Stats {
    // Keyed by (from, to): requests on the caller's link, responses on the
    // link back.
    std::map<std::pair<std::string, std::string>, Traffic> links;
    // Keyed by rpc method ("Push", "IHave", ...): requests and responses.
    std::map<std::string, Traffic> methods;
    uint64_t unreachable = 0;  // calls failed UNAVAILABLE: detached or cut
  };

  // `seed` seeds the generator of loss and jitter.
  explicit InProcessNetwork(uint64_t seed);
  ~InProcessNetwork();
  InProcessNetwork(const InProcessNetwork&) = delete;
  InProcessNetwork& operator=(const InProcessNetwork&) = delete;

  // The transport for the engine of `self_origin`: its calls come from that
  // origin (the caller identity HandleFederationRequest checks against the
  // callee's peers, as mutual TLS would). A peer is addressed by
  // Peer::origin; its endpoint and trust roots are not used.
  std::unique_ptr<federation::Transport> TransportFor(const std::string& self_origin);

  // Makes `gossip` reachable as `origin` (replacing nothing: FAILED_
  // PRECONDITION if that origin is attached). `gossip` must stay alive
  // until Detach(origin) returns.
  absl::Status Attach(const std::string& origin, federation::Gossip* gossip);
  // Makes `origin` unreachable (calls to it fail UNAVAILABLE from now on)
  // and returns once no call into its engine is running, so that the
  // engine may then be destroyed. No-op if it is not attached. Must not be
  // called from a gossip thread or handler.
  void Detach(const std::string& origin);

  // Options of every link without its own (default: none of latency,
  // jitter or loss). Affects calls that start afterwards.
  void SetDefaultLink(const LinkOptions& options);
  // Options of the directed link from -> to.
  void SetLink(const std::string& from, const std::string& to, const LinkOptions& options);

  // Cuts every link between a node of `a` and a node of `b`, both ways:
  // calls across fail UNAVAILABLE, and a call in its latency wait when the
  // cut happens fails when it would be delivered. Partitions add up until
  // Heal().
  void Partition(const std::set<std::string>& a, const std::set<std::string>& b);
  // Removes every partition: calls that start afterwards cross again.
  void Heal();

  // A copy of the counters since construction.
  Stats stats() const;

 private:
  class Channel;
  class TransportImpl;
  class CallImpl;

  struct Target {
    federation::Gossip* gossip = nullptr;
    int in_flight = 0;  // calls inside its handlers
  };

  // One call from `from` to `to`: see LinkOptions and Channel's methods.
  absl::Status Deliver(const std::string& from, const std::string& to, CallImpl* call,
                       const std::string& method, const google::protobuf::Message& request,
                       google::protobuf::Message* response);
  bool CutLocked(const std::string& from, const std::string& to) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  const LinkOptions& LinkLocked(const std::string& from, const std::string& to) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A draw in [0, 1).
  double UniformLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The link's latency plus a draw in [0, jitter].
  absl::Duration DelayLocked(const LinkOptions& link) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  std::mt19937_64 rng_ ABSL_GUARDED_BY(mu_);
  // Shared so that Detach can wait on an entry it has already unlinked.
  std::map<std::string, std::shared_ptr<Target>> targets_ ABSL_GUARDED_BY(mu_);
  LinkOptions default_link_ ABSL_GUARDED_BY(mu_);
  std::map<std::pair<std::string, std::string>, LinkOptions> links_ ABSL_GUARDED_BY(mu_);
  std::vector<std::pair<std::set<std::string>, std::set<std::string>>> partitions_
      ABSL_GUARDED_BY(mu_);
  Stats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace watchfloor::testing

#endif  // WATCHFLOOR_TESTS_SIM_IN_PROCESS_NETWORK_H_
