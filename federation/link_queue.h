// What a node has queued for one peer, bounded in bytes and free of
// duplicates. Every enqueue for a link goes through here, so that no peer
// (by what it sends, or by keeping its own link in backoff so that nothing
// drains) can grow this node's memory past the link's budget.
//
// Not thread-safe: the owner (Gossip::Link) guards it with its mutex.
#ifndef WATCHFLOOR_FEDERATION_LINK_QUEUE_H_
#define WATCHFLOOR_FEDERATION_LINK_QUEUE_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "federation/feed_store.h"
#include "watchfloor/v1/federation.pb.h"

namespace watchfloor::federation {

class LinkQueue {
 public:
  // An envelope to push whole, with what gossip knows of it already.
  struct Push {
    std::string id;
    std::string origin;
    uint64_t sequence = 0;
    watchfloor::v1::Envelope envelope;
  };

  // Evidence pairs queued at most (evidence is rare; more than this means a
  // misbehaving origin whose evidence other pairs already prove).
  static constexpr size_t kMaxEvidence = 256;
  // What each queued item costs beyond its payload (containers, strings).
  static constexpr size_t kItemOverhead = 64;

  // `max_bytes`: the budget for everything queued or held for this link.
  explicit LinkQueue(size_t max_bytes) : max_bytes_(max_bytes) {}

  // Each Add returns true if the item was queued; false if it was a
  // duplicate of one queued (nothing changes) or did not fit the budget
  // (nothing changes, dropped() counts it: anti-entropy repairs what a
  // dropped push or announcement would have brought).
  //
  // A push or announcement of an id that is queued either way already is a
  // duplicate. `front`: put it first (a push sent back after a failed call).
  bool AddPush(Push push, bool front = false);
  bool AddIHave(watchfloor::v1::AlertRef ref);
  bool AddFetch(const std::string& id);
  // Duplicate: the same envelopes and notes. Also refused past kMaxEvidence.
  bool AddEvidence(const EvidencePair& evidence);
  // The newest note per log (`log`: the note's first line). With `replace`,
  // a note already queued for `log` is replaced (a newer one); without, the
  // queued one is kept (it is newer: a note sent back after a failed call).
  bool AddCheckpoint(const std::string& log, const std::string& note, bool replace);
  // A co-signature; a duplicate is one of the same alert and keyid.
  bool AddCosignature(const CosignatureOffer& cosignature);

  // Bytes this link holds outside the queue (an envelope parked, or copied
  // into a store callback, on its behalf): charged against the same budget.
  // Hold returns false (and counts a drop) if they do not fit; every
  // successful Hold is paired with one Release of the same bytes.
  bool Hold(size_t bytes);
  void Release(size_t bytes);

  // Turns every queued push of `origin` (of every origin if it is empty)
  // into an announcement (Plumtree prune).
  void PushesToIHaves(const std::string& origin);

  // Take removes what it returns and gives its bytes back. TakePushes stops
  // at `max` pushes or before the envelopes' wire size passes `max_bytes`
  // (always at least one push, so one large envelope still goes out).
  std::vector<Push> TakePushes(size_t max, size_t max_bytes);
  std::vector<watchfloor::v1::AlertRef> TakeIHaves();
  std::vector<std::string> TakeFetches();
  std::vector<EvidencePair> TakeEvidence();
  std::map<std::string, std::string> TakeCheckpoints();
  std::vector<CosignatureOffer> TakeCosignatures();

  bool has_pushes() const { return !pushes_.empty(); }
  bool has_ihaves() const { return !ihaves_.empty(); }
  // Pushes, fetches, evidence, checkpoints or co-signatures: work to send
  // at once.
  bool has_urgent() const {
    return !pushes_.empty() || !fetches_.empty() || !evidence_.empty() ||
           !checkpoints_.empty() || !cosignatures_.empty();
  }
  // The same but pushes: fetches, evidence, checkpoints or co-signatures.
  bool has_urgent_control() const {
    return !fetches_.empty() || !evidence_.empty() || !checkpoints_.empty() ||
           !cosignatures_.empty();
  }
  // Everything queued and held, in bytes; never above the budget.
  size_t bytes() const { return bytes_; }
  size_t max_bytes() const { return max_bytes_; }
  // Items refused for the budget (or the evidence cap) so far.
  uint64_t dropped() const { return dropped_; }

  static size_t CostOf(const Push& push);
  static size_t CostOf(const watchfloor::v1::AlertRef& ref);
  static size_t CostOf(const EvidencePair& evidence);
  static size_t CostOf(const CosignatureOffer& cosignature);

 private:
  bool Charge(size_t bytes);

  const size_t max_bytes_;
  size_t bytes_ = 0;
  uint64_t dropped_ = 0;
  std::deque<Push> pushes_;
  std::vector<watchfloor::v1::AlertRef> ihaves_;
  // Ids queued as a push or an announcement.
  std::set<std::string> alert_ids_;
  std::set<std::string> fetches_;
  std::vector<EvidencePair> evidence_;
  std::map<std::string, std::string> checkpoints_;
  // Keyed by (alert id, keyid), in that order.
  std::map<std::pair<std::string, std::string>, CosignatureOffer> cosignatures_;
};

}  // namespace watchfloor::federation

#endif  // WATCHFLOOR_FEDERATION_LINK_QUEUE_H_
