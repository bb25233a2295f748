// What the federation needs from a node's storage, and nothing more. The
// node implements this (node/ledger_feed_store.h); federation code never
// includes node/.
#ifndef WATCHFLOOR_FEDERATION_FEED_STORE_H_
#define WATCHFLOOR_FEDERATION_FEED_STORE_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "watchfloor/v1/alert.pb.h"

namespace watchfloor::federation {

// The highest contiguous sequence held for one origin: one entry of a
// frontier. Anti-entropy swaps lists of these, O(origins), not O(alerts).
struct FrontierEntry {
  std::string origin;
  uint64_t sequence = 0;
  std::string id;  // lowercase hex id of that sequence
  bool forked = false;
};

// Two envelopes proving that an origin signed two histories; or, for a
// split view, two checkpoint notes of one origin that cannot both be true
// (then the envelopes are empty).
struct EvidencePair {
  watchfloor::v1::Envelope first;
  watchfloor::v1::Envelope second;
  std::string first_note;
  std::string second_note;
};

// One co-signature of one alert (docs/PROTOCOL.md section 23), as gossip
// carries it (federation.proto AlertCosignature).
struct CosignatureOffer {
  std::string alert_id;
  watchfloor::v1::Signature signature;
  uint64_t position = 0;  // in the store that read it; 0 when offered
};

class FeedStore {
 public:
  virtual ~FeedStore() = default;

  // This node's frontier, one entry per known origin. Thread-safe.
  virtual std::vector<FrontierEntry> Frontier() = 0;

  // Envelopes of `origin` with sequence in [from, to], ascending, at most
  // `limit`. Fewer if the node holds fewer. Thread-safe.
  virtual absl::StatusOr<std::vector<watchfloor::v1::Envelope>> ReadRange(
      const std::string& origin, uint64_t from, uint64_t to, size_t limit) = 0;

  // The stored envelope with this id, or nullopt. Thread-safe.
  virtual absl::StatusOr<std::optional<watchfloor::v1::Envelope>> Get(
      const std::string& id) = 0;

  // True if the id is stored or being stored. Thread-safe.
  virtual bool Has(const std::string& id) = 0;

  // True if `envelope` (alert `id`, sequence `sequence` of `origin`) is
  // stored here byte for byte as the origin signed it (its signatures a
  // prefix of the stored ones): a copy that needs no signature check to be
  // answered as a duplicate, so a peer replaying old alerts costs a store
  // lookup, not a verification. Must be cheap when false for a sequence
  // past the origin's committed head (every new alert). Thread-safe. The
  // default recognises nothing: every copy takes the full path of Offer.
  virtual bool HoldsCopy(const watchfloor::v1::Envelope& envelope, const std::string& id,
                         const std::string& origin, uint64_t sequence) {
    (void)envelope, (void)id, (void)origin, (void)sequence;
    return false;
  }

  // The node's one ingest path (verify, continuity, dedupe, forks), with an
  // early verdict: OK if the envelope verified and is new to this node (it is
  // queued for storing; `stored` gets the final status after the commit),
  // ALREADY_EXISTS for a duplicate, or the canonical error of that path
  // (node.proto, rpc Ingest) — then `stored` is not called. Thread-safe.
  //
  // Lifetime of `stored`: the store calls it at most once, later, on a
  // thread of its own (the node's Ledger writer thread), where it must not
  // block. The store then destroys it, and every copy it made; it destroys
  // it without calling it when Offer returns an error. Whatever `stored`
  // captures must stay valid until that destruction, not merely until
  // Offer returns: the caller learns that no call is pending by owning
  // something that `stored` (and so its last copy) releases when destroyed
  // (Gossip::Stop waits for this). The store runs or destroys every
  // callback before it is itself destroyed.
  virtual absl::Status Offer(watchfloor::v1::Envelope envelope,
                             std::function<void(absl::Status)> stored) = 0;

  // Evidence this node holds for `origin` (forks, broken chains). Thread-safe.
  virtual absl::StatusOr<std::vector<EvidencePair>> EvidenceFor(
      const std::string& origin) = 0;

  // Checkpoint notes from a peer (Federation.PushCheckpoints): verified,
  // witnessed and merged by the node. Per note, whether it told this node
  // something new (then the node relays it itself), or why it was refused
  // (INVALID_ARGUMENT / UNAUTHENTICATED: bad input, counted against the
  // peer). Thread-safe.
  virtual std::vector<absl::StatusOr<bool>> OfferCheckpoints(
      const std::vector<std::string>& notes) = 0;

  // Split-view evidence from a peer. OK if it is evidence and new here,
  // ALREADY_EXISTS if known, else the error. Thread-safe.
  virtual absl::Status OfferSplitView(const std::string& first_note,
                                      const std::string& second_note) = 0;

  // Co-signatures from a peer: each verified against the co-signer's node
  // key in the roster in force and stored if valid. Per offer, in order:
  // true if it was new here (the node then sends it on itself), false if
  // known, or why it was refused: INVALID_ARGUMENT, UNAUTHENTICATED or
  // FAILED_PRECONDITION (a bad co-signature: the sender's fault), NOT_FOUND
  // (the alert is not stored here yet: not the sender's fault), or the
  // store's errors. Blocks until the new ones are durable. Thread-safe.
  virtual std::vector<absl::StatusOr<bool>> OfferCosignatures(
      const std::vector<CosignatureOffer>& offers) = 0;

  // Stored co-signatures with position > `after`, ascending, at most
  // `limit`. Thread-safe.
  virtual absl::StatusOr<std::vector<CosignatureOffer>> ReadCosignaturesAfter(
      uint64_t after, size_t limit) = 0;

  // The highest position of a stored co-signature (0: none). Thread-safe,
  // fast (read per frontier exchange).
  virtual uint64_t CosignaturePosition() = 0;
};

}  // namespace watchfloor::federation

#endif  // WATCHFLOOR_FEDERATION_FEED_STORE_H_
