// PeerScore: the weights, the cap on first deliveries, and the decay that
// lets a peer that stopped misbehaving climb back on its own.
#include "federation/peer_score.h"

#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace watchfloor::federation {
namespace {

const absl::Time kStart = absl::FromUnixSeconds(1'800'000'000);
constexpr absl::Duration kHalfLife = absl::Seconds(60);

TEST(PeerScoreTest, StartsAtZeroAndFirstDeliveriesRaiseItUpToTheCap) {
  PeerScore s(kHalfLife);
  EXPECT_EQ(s.Value(kStart), 0.0);
  for (int i = 0; i < 30; ++i) s.FirstDelivery(kStart);
  EXPECT_DOUBLE_EQ(s.Value(kStart), 30.0);
  for (int i = 0; i < 500; ++i) s.FirstDelivery(kStart);
  EXPECT_DOUBLE_EQ(s.Value(kStart), PeerScore::kFirstDeliveryCap);
}

TEST(PeerScoreTest, InvalidInputWeighsTenFirstDeliveriesAndUnservedIdsTwo) {
  PeerScore s(kHalfLife);
  for (int i = 0; i < 25; ++i) s.FirstDelivery(kStart);
  s.Invalid(kStart);
  EXPECT_DOUBLE_EQ(s.Value(kStart), 15.0);
  s.Unserved(kStart, 4);
  EXPECT_DOUBLE_EQ(s.Value(kStart), 7.0);
  s.Invalid(kStart, 3);
  EXPECT_DOUBLE_EQ(s.Value(kStart), -23.0);
}

TEST(PeerScoreTest, EveryPartHalvesEachHalfLifeAndReadingChangesNothing) {
  PeerScore s(kHalfLife);
  s.Invalid(kStart, 20);  // -200
  EXPECT_DOUBLE_EQ(s.Value(kStart + kHalfLife), -100.0);
  EXPECT_DOUBLE_EQ(s.Value(kStart + 2 * kHalfLife), -50.0);
  // Reading did not decay the state twice.
  EXPECT_DOUBLE_EQ(s.Value(kStart + kHalfLife), -100.0);
  // An update decays what was there first, then adds.
  s.FirstDelivery(kStart + kHalfLife);
  EXPECT_DOUBLE_EQ(s.Value(kStart + kHalfLife), -99.0);
  EXPECT_NEAR(s.Value(kStart + 11 * kHalfLife), -99.0 / 1024, 1e-9);
}

TEST(PeerScoreTest, TimeThatGoesBackDoesNotDecayOrGrowTheScore) {
  PeerScore s(kHalfLife);
  s.Invalid(kStart + kHalfLife);
  EXPECT_DOUBLE_EQ(s.Value(kStart), -10.0);
  s.Invalid(kStart);
  EXPECT_DOUBLE_EQ(s.Value(kStart + kHalfLife), -20.0);
}

TEST(PeerScoreTest, AHalfLifeOfZeroOrInfinityIsClampedSoTheScoreStillDecays) {
  PeerScore zero(absl::ZeroDuration());
  zero.Invalid(kStart, 20);
  EXPECT_NEAR(zero.Value(kStart + absl::Milliseconds(10)), -200.0 / 1024, 1e-9);
  PeerScore forever(absl::InfiniteDuration());
  forever.Invalid(kStart, 20);
  EXPECT_DOUBLE_EQ(forever.Value(kStart + absl::Hours(24)), -100.0);
}

}  // namespace
}  // namespace watchfloor::federation
