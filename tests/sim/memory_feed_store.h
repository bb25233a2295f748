// A node's storage for the deterministic simulator (event_sim.h): every
// envelope held in memory, verified with the real Ed25519 check
// (certs::VerifyEnvelope against the origin's key) unless the simulation
// stubs crypto for a large N, and committed in per-origin sequence order
// when the simulator says so. The node's Ledger commits on a writer thread
// of its own, which no event queue can order; this store has no thread:
// its commits run as the simulator's events.
//
// What it checks, as the Ledger's one ingest path does for these: the
// payload is an Alert of a known origin, signed by that origin's key; a
// sequence is committed only right after the one before (a gap is refused
// FAILED_PRECONDITION at commit, and gossip parks the envelope); an id
// stored or being stored is ALREADY_EXISTS. What it does not model: alert
// validation beyond that, forks and their evidence (a second envelope at a
// held sequence is ALREADY_EXISTS), checkpoints, co-signatures. Not
// thread-safe: the simulator's one thread calls everything.
#ifndef WATCHFLOOR_TESTS_SIM_MEMORY_FEED_STORE_H_
#define WATCHFLOOR_TESTS_SIM_MEMORY_FEED_STORE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "certs/keys.h"
#include "federation/feed_store.h"

namespace watchfloor::testing {

class MemoryFeedStore : public federation::FeedStore {
 public:
  struct Options {
    // The origins' keys; an envelope of another origin is refused
    // PERMISSION_DENIED. Must outlive the store.
    const std::map<std::string, certs::PublicKey>* keys = nullptr;
    // False: signatures are not checked (the simulator's stub for large N).
    bool verify = true;
    // Runs `commit` later (the simulator: an event a commit delay ahead).
    // Required.
    std::function<void(std::function<void()> commit)> defer;
    // Sees each envelope offered here and accepted for storing, at the
    // offer (the simulator records which peer delivered it).
    std::function<void(const std::string& id)> on_offer;
    // Offers beyond this many pending commits are refused
    // RESOURCE_EXHAUSTED, as the Ledger refuses them past its queue's
    // limit. 0: no limit.
    size_t max_pending = 0;
    // Sees each commit: the alert's id, origin and sequence.
    std::function<void(const std::string& id, const std::string& origin, uint64_t sequence)>
        on_commit;
  };

  explicit MemoryFeedStore(Options options);
  // Drops every pending commit and its callback unrun (FeedStore::Offer's
  // contract), as a node that stops does.
  ~MemoryFeedStore() override;

  // Stores an envelope this node's member published: committed at once,
  // unverified (the node signed it), as the next of its origin. INVALID_
  // ARGUMENT if it does not follow the origin's head.
  absl::Status Publish(const watchfloor::v1::Envelope& envelope);

  // Destroys every pending commit's callback unrun; the commits are
  // forgotten. For a node that goes away (Gossip::Stop waits for them).
  void DropPending();

  // Envelopes stored, all origins.
  size_t size() const { return by_id_.size(); }

  std::vector<federation::FrontierEntry> Frontier() override;
  absl::StatusOr<std::vector<watchfloor::v1::Envelope>> ReadRange(const std::string& origin,
                                                                  uint64_t from, uint64_t to,
                                                                  size_t limit) override;
  absl::StatusOr<std::optional<watchfloor::v1::Envelope>> Get(const std::string& id) override;
  bool Has(const std::string& id) override;
  absl::Status Offer(watchfloor::v1::Envelope envelope,
                     std::function<void(absl::Status)> stored) override;
  absl::StatusOr<std::vector<federation::EvidencePair>> EvidenceFor(
      const std::string& origin) override;
  std::vector<absl::StatusOr<bool>> OfferCheckpoints(
      const std::vector<std::string>& notes) override;
  absl::Status OfferSplitView(const std::string& first_note,
                              const std::string& second_note) override;
  std::vector<absl::StatusOr<bool>> OfferCosignatures(
      const std::vector<federation::CosignatureOffer>& offers) override;
  absl::StatusOr<std::vector<federation::CosignatureOffer>> ReadCosignaturesAfter(
      uint64_t after, size_t limit) override;
  uint64_t CosignaturePosition() override { return 0; }

 private:
  struct Pending {
    watchfloor::v1::Envelope envelope;
    std::string origin;
    uint64_t sequence = 0;
    std::function<void(absl::Status)> stored;
  };

  void Commit(const std::string& id);
  // Appends to the origin's feed.
  void Append(const std::string& id, const std::string& origin, uint64_t sequence,
              watchfloor::v1::Envelope envelope);

  const Options options_;
  // origin -> its envelopes, sequence 1 first.
  std::map<std::string, std::vector<watchfloor::v1::Envelope>> feeds_;
  // id -> (origin, sequence).
  std::map<std::string, std::pair<std::string, uint64_t>> by_id_;
  std::map<std::string, Pending> pending_;
  // Lets a deferred commit know that DropPending (or the destructor) ran.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace watchfloor::testing

#endif  // WATCHFLOOR_TESTS_SIM_MEMORY_FEED_STORE_H_
