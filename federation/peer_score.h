// How a peer has behaved towards this node lately: a score in the spirit of
// GossipSub v1.1's, adapted to a permissioned federation. Every peer is a
// roster node, so the score never removes a peer; it only decides how much
// this node trusts the peer's traffic for the moment:
//
//   * first deliveries (an envelope new here, from this peer) raise it, up
//     to a cap, so a long-useful peer absorbs a few mistakes;
//   * refused input (an invalid envelope, an unparsable request, a bad
//     checkpoint or co-signature) lowers it sharply;
//   * an id the peer announced and then did not serve when fetched lowers
//     it a little.
//
// Each part decays by half every `half_life`, so a peer that stops
// misbehaving climbs back on its own. Gossip uses the value to order whom
// it fetches a missing id from (best first), to keep a peer below
// `Gossip::Options::eager_threshold` out of its eager set (it gets
// announcements, and fetches what it wants), and to skip verifying the
// pushes of a peer below `graylist_threshold` (refused as "graylisted"
// until the score recovers; anti-entropy brings any valid alert among them
// from elsewhere, or from the same peer later).
//
// Not thread-safe: Gossip guards each link's score with the link's mutex.
#ifndef WATCHFLOOR_FEDERATION_PEER_SCORE_H_
#define WATCHFLOOR_FEDERATION_PEER_SCORE_H_

#include <algorithm>
#include <cmath>

#include "absl/time/time.h"

namespace watchfloor::federation {

class PeerScore {
 public:
  // Weights of each event, and the cap on what first deliveries add.
  static constexpr double kFirstDeliveryWeight = 1.0;
  static constexpr double kFirstDeliveryCap = 100.0;
  static constexpr double kInvalidWeight = -10.0;
  static constexpr double kUnservedWeight = -2.0;

  // `half_life` is clamped to [1 ms, 1 day]: a score that never decays
  // would graylist a peer for good.
  explicit PeerScore(absl::Duration half_life)
      : half_life_(std::clamp(half_life, absl::Milliseconds(1), absl::Hours(24))) {}

  void FirstDelivery(absl::Time now) {
    Decay(now);
    first_ = std::min(first_ + 1.0, kFirstDeliveryCap / kFirstDeliveryWeight);
  }
  void Invalid(absl::Time now, double n = 1.0) {
    Decay(now);
    invalid_ += n;
  }
  void Unserved(absl::Time now, double n) {
    Decay(now);
    unserved_ += n;
  }

  // The score at `now` (decayed; does not change the state).
  double Value(absl::Time now) const {
    const double f = Factor(now);
    return f * (first_ * kFirstDeliveryWeight + invalid_ * kInvalidWeight +
                unserved_ * kUnservedWeight);
  }

 private:
  // What a part keeps between the last update and `now`.
  double Factor(absl::Time now) const {
    if (last_ == absl::InfinitePast() || now <= last_) return 1.0;
    return std::exp2(-absl::FDivDuration(now - last_, half_life_));
  }
  void Decay(absl::Time now) {
    const double f = Factor(now);
    first_ *= f;
    invalid_ *= f;
    unserved_ *= f;
    if (last_ == absl::InfinitePast() || now > last_) last_ = now;
  }

  absl::Duration half_life_;  // not const: a score is copied to a link's successor
  absl::Time last_ = absl::InfinitePast();
  double first_ = 0;
  double invalid_ = 0;
  double unserved_ = 0;
};

}  // namespace watchfloor::federation

#endif  // WATCHFLOOR_FEDERATION_PEER_SCORE_H_
