// Tests for certs/roster_rules.h through Roster::VerifyNext and
// ValidateRoster: node key history and rotation, the pre-committed key
// rotation a member may sign alone, the threshold-lowering rule, padded and
// stale signatures, and expiry. Each refusal checks the exact code and the
// message.
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "certs/roster.h"
#include "certs/roster_rules.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/roster_fixtures.h"

namespace watchfloor::certs {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using testing::Genesis;
using testing::MakeRoster;
using testing::Outsider;
using testing::P;
using testing::SeededKey;
using testing::Short;
using testing::SignedBy;
using testing::SignWith;
using watchfloor::v1::Envelope;

std::string Prefix(const SigningKey& key) {
  return absl::StrCat(key.public_key().KeyId().substr(0, 16), "...");
}

// `roster` with a.cz/n1's key rotated to `next` from sequence `from`,
// appending the old key's range as the rules require.
v1::Roster Rotated(v1::Roster roster, const SigningKey& next, uint64_t from) {
  v1::RosterNode* n = roster.mutable_members(0)->mutable_nodes(0);
  const uint64_t old_from = KeyFromSequence(*n);
  v1::PreviousNodeKey* p = n->add_previous_keys();
  p->set_signing_key_pem(n->signing_key_pem());
  p->set_first_sequence(old_from);
  p->set_last_sequence(from - 1);
  n->set_signing_key_pem(next.public_key().ToPem());
  n->set_key_from_sequence(from);
  n->clear_next_key_sha256();
  return roster;
}

// ------------------------------------------------------------- key history

TEST(KeyHistoryTest, EachBrokenRuleIsInvalidArgumentNamingTheNode) {
  const SigningKey k2 = SeededKey('2');
  struct Case {
    const char* name;
    std::function<void(v1::RosterNode*)> mutate;
    std::string message;
  };
  const Case cases[] = {
      {"from without previous keys",
       [](v1::RosterNode* n) { n->set_key_from_sequence(5); },
       "node a.cz/n1: key_from_sequence is 5; expected 1 (without previous_keys"},
      {"range not from 1",
       [&](v1::RosterNode* n) {
         auto* p = n->add_previous_keys();
         p->set_signing_key_pem(k2.public_key().ToPem());
         p->set_first_sequence(2);
         p->set_last_sequence(9);
         n->set_key_from_sequence(10);
       },
       "node a.cz/n1: previous_keys[0]: first_sequence is 2; expected 1"},
      {"empty range",
       [&](v1::RosterNode* n) {
         auto* p = n->add_previous_keys();
         p->set_signing_key_pem(k2.public_key().ToPem());
         p->set_first_sequence(1);
         p->set_last_sequence(0);
         n->set_key_from_sequence(1);
       },
       "node a.cz/n1: previous_keys[0]: last_sequence 0 is below first_sequence 1"},
      {"from not after the last range",
       [&](v1::RosterNode* n) {
         auto* p = n->add_previous_keys();
         p->set_signing_key_pem(k2.public_key().ToPem());
         p->set_first_sequence(1);
         p->set_last_sequence(9);
         n->set_key_from_sequence(12);
       },
       "node a.cz/n1: key_from_sequence is 12; expected 10 (the sequence after"},
      {"previous key is the current key",
       [](v1::RosterNode* n) {
         auto* p = n->add_previous_keys();
         p->set_signing_key_pem(n->signing_key_pem());
         p->set_first_sequence(1);
         p->set_last_sequence(9);
         n->set_key_from_sequence(10);
       },
       "node a.cz/n1: previous_keys[0]: signing_key_pem: keyid"},
      {"previous key is another node's key",
       [](v1::RosterNode* n) {
         auto* p = n->add_previous_keys();
         p->set_signing_key_pem(P(1).node_key.public_key().ToPem());
         p->set_first_sequence(1);
         p->set_last_sequence(9);
         n->set_key_from_sequence(10);
       },
       "node b.cz/n1: signing_key_pem: keyid"},  // b.cz/n1's own, listed later
      {"previous key is private",
       [](v1::RosterNode* n) {
         auto* p = n->add_previous_keys();
         p->set_signing_key_pem(P(0).node_key.ToPem());
         p->set_first_sequence(1);
         p->set_last_sequence(9);
         n->set_key_from_sequence(10);
       },
       "previous_keys[0]: signing_key_pem: contains a PRIVATE KEY"},
      {"commitment not hex",
       [](v1::RosterNode* n) { n->set_next_key_sha256("XYZ"); },
       "node a.cz/n1: next_key_sha256 \"XYZ\" is not 64 lowercase hex digits"},
      {"commitment to the current key",
       [](v1::RosterNode* n) {
         n->set_next_key_sha256(P(0).node_key.public_key().KeyId());
       },
       "node a.cz/n1: next_key_sha256 names a key this node has already used"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    v1::Roster r = MakeRoster(1, 2, {0, 1, 2});
    c.mutate(r.mutable_members(0)->mutable_nodes(0));
    absl::Status st = ValidateRoster(r);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
    EXPECT_THAT(std::string(st.message()), HasSubstr(c.message));
  }
}

TEST(KeyHistoryTest, PreviousKeysSignTheirRangesAndTheCurrentKeyTheRest) {
  const SigningKey k2 = SeededKey('2');
  const SigningKey k3 = SeededKey('3');
  v1::Roster r = Rotated(Rotated(MakeRoster(1, 1, {0}), k2, 101), k3, 201);
  ASSERT_EQ(ValidateRoster(r), absl::OkStatus());
  const Roster roster = Genesis(r, {0});
  EXPECT_EQ(roster.NodeKeyAt("a.cz/n1", 1)->KeyId(), P(0).node_key.public_key().KeyId());
  EXPECT_EQ(roster.NodeKeyAt("a.cz/n1", 100)->KeyId(), P(0).node_key.public_key().KeyId());
  EXPECT_EQ(roster.NodeKeyAt("a.cz/n1", 101)->KeyId(), k2.public_key().KeyId());
  EXPECT_EQ(roster.NodeKeyAt("a.cz/n1", 200)->KeyId(), k2.public_key().KeyId());
  EXPECT_EQ(roster.NodeKeyAt("a.cz/n1", 201)->KeyId(), k3.public_key().KeyId());
  EXPECT_EQ(roster.NodeKeyAt("a.cz/n1", 1000000)->KeyId(), k3.public_key().KeyId());
  EXPECT_EQ(roster.NodeKey("a.cz/n1")->KeyId(), k3.public_key().KeyId());
  EXPECT_FALSE(roster.NodeKeyAt("b.cz/n1", 1).has_value());
}

// ---------------------------------------------------------------- rotation

TEST(RotationTest, ThresholdRotatesANodeKeyFromAStatedSequence) {
  const Roster v1 = Genesis(MakeRoster(1, 2, {0, 1, 2}), {0, 1});
  const SigningKey k2 = SeededKey('2');
  absl::StatusOr<Roster> v2 =
      v1.VerifyNext(SignedBy(Rotated(MakeRoster(2, 2, {0, 1, 2}), k2, 101), {1, 2}));
  ASSERT_TRUE(v2.ok()) << v2.status();
  EXPECT_EQ(v2->NodeKeyAt("a.cz/n1", 100)->KeyId(), P(0).node_key.public_key().KeyId());
  EXPECT_EQ(v2->NodeKeyAt("a.cz/n1", 101)->KeyId(), k2.public_key().KeyId());
}

TEST(RotationTest, RotationRecordingAnotherOldKeyIsInvalidArgument) {
  const Roster v1 = Genesis(MakeRoster(1, 2, {0, 1, 2}), {0, 1});
  v1::Roster v2 = Rotated(MakeRoster(2, 2, {0, 1, 2}), SeededKey('2'), 101);
  // Claims another key signed 1..100: a.cz/n1's real alerts would stop
  // verifying, and whoever holds that key could rewrite them.
  v2.mutable_members(0)->mutable_nodes(0)->mutable_previous_keys(0)->set_signing_key_pem(
      Outsider().public_key().ToPem());
  absl::StatusOr<Roster> next = v1.VerifyNext(SignedBy(v2, {0, 1, 2}));
  ASSERT_EQ(next.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(next.status().message(),
            absl::StrCat("roster v2: node a.cz/n1: the signing key is rotated from "
                         "sequence 101, so previous_keys must be v1's plus the replaced "
                         "key for 1..100 (", Prefix(P(0).node_key), " 1..100), not ",
                         Prefix(Outsider()), " 1..100"));
}

TEST(RotationTest, AKeyReplacedBeforeItSignedLeavesNoRange) {
  // key_from_sequence unchanged: the old key is void (it leaked before use).
  const Roster v1 = Genesis(MakeRoster(1, 2, {0, 1, 2}), {0, 1});
  v1::Roster v2 = MakeRoster(2, 2, {0, 1, 2});
  v2.mutable_members(0)->mutable_nodes(0)->set_signing_key_pem(
      SeededKey('2').public_key().ToPem());
  absl::StatusOr<Roster> next = v1.VerifyNext(SignedBy(v2, {0, 1}));
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->NodeKeyAt("a.cz/n1", 1)->KeyId(), SeededKey('2').public_key().KeyId());
}

TEST(RotationTest, RewritingAKeysHistoryIsInvalidArgument) {
  const SigningKey k2 = SeededKey('2');
  const Roster v2 = Genesis(Rotated(MakeRoster(2, 2, {0, 1, 2}), k2, 101), {0, 1});
  // Same current key, but the old key's range moved: alerts 101..150 would
  // change hands.
  v1::Roster v3 = Rotated(MakeRoster(3, 2, {0, 1, 2}), k2, 151);
  absl::StatusOr<Roster> next = v2.VerifyNext(SignedBy(v3, {0, 1, 2}));
  ASSERT_EQ(next.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(next.status().message()),
              HasSubstr("roster v3: node a.cz/n1: key_from_sequence or previous_keys "
                        "differ from v2 although signing_key_pem is unchanged"));
}

TEST(RotationTest, AReplacedKeyNeverComesBack) {
  const SigningKey k2 = SeededKey('2');
  const Roster v2 = Genesis(Rotated(MakeRoster(2, 2, {0, 1, 2}), k2, 101), {0, 1});
  // a.cz/n1 leaves, and b.cz's node takes its retired key.
  v1::Roster v3 = MakeRoster(3, 2, {0, 1, 2});
  v3.mutable_members(0)->clear_nodes();
  v3.mutable_members(1)->mutable_nodes(0)->set_signing_key_pem(
      P(0).node_key.public_key().ToPem());
  absl::StatusOr<Roster> next = v2.VerifyNext(SignedBy(v3, {0, 1, 2}));
  ASSERT_EQ(next.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(next.status().message(),
            absl::StrCat("roster v3: node b.cz/n1: signing_key_pem: keyid ",
                         Prefix(P(0).node_key),
                         " was replaced in v2 or earlier; a replaced key never signs again"));
}

// ------------------------------------------------------- pre-committed key

// v1 with a.cz/n1 committed to `next`.
Roster CommittedGenesis(const SigningKey& next) {
  v1::Roster r = MakeRoster(1, 2, {0, 1, 2});
  r.mutable_members(0)->mutable_nodes(0)->set_next_key_sha256(next.public_key().KeyId());
  return Genesis(r, {0, 1});
}

TEST(PreCommitTest, TheMemberAloneRotatesToThePreCommittedKey) {
  const SigningKey k2 = SeededKey('2');
  const Roster v1 = CommittedGenesis(k2);
  v1::Roster v2 = Rotated(MakeRoster(2, 2, {0, 1, 2}), k2, 57);
  v2.mutable_issued_at()->set_seconds(v2.issued_at().seconds() + 99);  // may change
  // It may pre-commit its following key in the same step.
  v2.mutable_members(0)->mutable_nodes(0)->set_next_key_sha256(
      SeededKey('3').public_key().KeyId());
  EXPECT_EQ(PreCommittedRotationMember(v1.proto(), v2), "a.cz");
  absl::StatusOr<Roster> next = v1.VerifyNext(SignedBy(v2, {0}));
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_EQ(next->NodeKeyAt("a.cz/n1", 57)->KeyId(), k2.public_key().KeyId());
  EXPECT_EQ(next->NodeKeyAt("a.cz/n1", 56)->KeyId(), P(0).node_key.public_key().KeyId());
}

TEST(PreCommitTest, AnotherMemberAloneCannotUseTheCommitment) {
  const SigningKey k2 = SeededKey('2');
  const Roster v1 = CommittedGenesis(k2);
  absl::StatusOr<Roster> next =
      v1.VerifyNext(SignedBy(Rotated(MakeRoster(2, 2, {0, 1, 2}), k2, 57), {1}));
  ASSERT_EQ(next.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(next.status().message()),
              HasSubstr("roster v2 has 1 valid member signature; 2 required (threshold of v1)"));
  EXPECT_THAT(std::string(next.status().message()),
              HasSubstr("; or, as the pre-committed key rotation it is, a valid "
                        "signature by a.cz alone"));
}

TEST(PreCommitTest, AnyOtherChangeAlongsideNeedsTheThreshold) {
  const SigningKey k2 = SeededKey('2');
  const Roster v1 = CommittedGenesis(k2);
  struct Case {
    const char* name;
    v1::Roster roster;
  };
  v1::Roster endpoint = Rotated(MakeRoster(2, 2, {0, 1, 2}), k2, 57);
  endpoint.mutable_members(0)->mutable_nodes(0)->set_endpoints(0, "n9.a.cz:7443");
  v1::Roster threshold = Rotated(MakeRoster(2, 3, {0, 1, 2}), k2, 57);
  v1::Roster expiry = Rotated(MakeRoster(2, 2, {0, 1, 2}), k2, 57);
  expiry.mutable_expires()->set_seconds(4000000000);
  v1::Roster other_key = Rotated(MakeRoster(2, 2, {0, 1, 2}), SeededKey('4'), 57);
  v1::Roster admit = Rotated(MakeRoster(2, 2, {0, 1, 2, 3}), k2, 57);
  for (const Case& c : {Case{"endpoint", endpoint}, Case{"threshold", threshold},
                        Case{"expiry", expiry}, Case{"uncommitted key", other_key},
                        Case{"new member", admit}}) {
    SCOPED_TRACE(c.name);
    EXPECT_EQ(PreCommittedRotationMember(v1.proto(), c.roster), std::nullopt);
    absl::StatusOr<Roster> next = v1.VerifyNext(SignedBy(c.roster, {0}));
    ASSERT_EQ(next.status().code(), absl::StatusCode::kUnauthenticated);
    EXPECT_THAT(std::string(next.status().message()),
                HasSubstr("1 valid member signature; 2 required (threshold of v1)"));
  }
}

TEST(PreCommitTest, WithoutACommitmentTheMemberAloneIsNotEnough) {
  const Roster v1 = Genesis(MakeRoster(1, 2, {0, 1, 2}), {0, 1});
  absl::StatusOr<Roster> next = v1.VerifyNext(
      SignedBy(Rotated(MakeRoster(2, 2, {0, 1, 2}), SeededKey('2'), 57), {0}));
  ASSERT_EQ(next.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(next.status().message()),
              Not(HasSubstr("pre-committed")));
}

// --------------------------------------------------------------- threshold

TEST(ThresholdTest, MembersWhoLeaveCannotLowerTheBarForThoseWhoStay) {
  const Roster v1 = Genesis(MakeRoster(1, 3, {0, 1, 2, 3}), {0, 1, 2});
  // c.cz and d.cz leave; with a.cz they meet v1's threshold of 3 and lower
  // v2's to 1, so a.cz alone would rule. b.cz, who stays, never agreed.
  const v1::Roster v2 = MakeRoster(2, 1, {0, 1});
  absl::StatusOr<Roster> next = v1.VerifyNext(SignedBy(v2, {0, 2, 3}));
  ASSERT_EQ(next.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(next.status().message(),
            absl::StrCat("roster v2 has 1 valid member signature; 2 required (v2 lowers "
                         "the threshold from 3 to 1, so its own members must meet v1's "
                         "threshold, capped at its 2 members): missing b.cz (keyid ",
                         Short(P(1)), "); ignored 2 signatures by keys not in v2 (keyid ",
                         Short(P(2)), ", ", Short(P(3)), ")"));
  // With b.cz as well, lowering is fine.
  EXPECT_TRUE(v1.VerifyNext(SignedBy(v2, {0, 1, 2})).ok());
}

TEST(ThresholdTest, LoweringSignedByFewerThanTheOldThresholdIsRefused) {
  const Roster v1 = Genesis(MakeRoster(1, 2, {0, 1, 2}), {0, 1});
  absl::StatusOr<Roster> next = v1.VerifyNext(SignedBy(MakeRoster(2, 1, {0, 1, 2}), {0}));
  ASSERT_EQ(next.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(next.status().message()),
              HasSubstr("roster v2 has 1 valid member signature; 2 required (threshold "
                        "of v1): missing b.cz"));
  EXPECT_EQ(OwnSignaturesRequired(MakeRoster(1, 2, {0, 1, 2}), MakeRoster(2, 1, {0, 1, 2})),
            2u);
  EXPECT_EQ(OwnSignaturesRequired(MakeRoster(1, 2, {0, 1, 2}), MakeRoster(2, 3, {0, 1, 2})),
            3u);
}

TEST(ThresholdTest, PaddingWithTwoSignaturesOfOneMemberCountsOnce) {
  const Roster v1 = Genesis(MakeRoster(1, 2, {0, 1, 2}), {0, 1});
  Envelope env = SignedBy(MakeRoster(2, 2, {0, 1, 2}), {0});
  *env.add_signatures() = env.signatures(0);  // the same signature again
  v1::Signature* no_keyid = env.add_signatures();  // and once without keyid
  *no_keyid = env.signatures(0);
  no_keyid->clear_keyid();
  absl::StatusOr<Roster> next = v1.VerifyNext(env);
  ASSERT_EQ(next.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(next.status().message()),
              HasSubstr("roster v2 has 1 valid member signature; 2 required (threshold of v1)"));
}

TEST(ThresholdTest, AMemberRemovedInVersionNCannotSignNPlusOne) {
  const Roster v1 = Genesis(MakeRoster(1, 2, {0, 1, 2}), {0, 1});
  absl::StatusOr<Roster> v2 = v1.VerifyNext(SignedBy(MakeRoster(2, 2, {0, 1}), {0, 1}));
  ASSERT_TRUE(v2.ok()) << v2.status();
  absl::StatusOr<Roster> v3 = v2->VerifyNext(SignedBy(MakeRoster(3, 2, {0, 1}), {0, 2}));
  ASSERT_EQ(v3.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(v3.status().message(),
            absl::StrCat("roster v3 has 1 valid member signature; 2 required (threshold of "
                         "v2): missing b.cz (keyid ", Short(P(1)),
                         "); ignored 1 signature by keys not in v2 (keyid ", Short(P(2)),
                         "); and roster v3 has 1 valid member signature; 2 required "
                         "(threshold of v3): missing b.cz (keyid ", Short(P(1)),
                         "); ignored 1 signature by keys not in v3 (keyid ", Short(P(2)),
                         ")"));
}

TEST(ThresholdTest, AMemberRemovedInNPlusOneCountsForNOnly) {
  const Roster v1 = Genesis(MakeRoster(1, 2, {0, 1, 2}), {0, 1});
  // c.cz's signature helps meet v1's threshold for its own removal, but v2's
  // own threshold needs two of a.cz and b.cz.
  absl::StatusOr<Roster> next = v1.VerifyNext(SignedBy(MakeRoster(2, 2, {0, 1}), {1, 2}));
  ASSERT_EQ(next.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(next.status().message(),
            absl::StrCat("roster v2 has 1 valid member signature; 2 required (threshold of "
                         "v2): missing a.cz (keyid ", Short(P(0)),
                         "); ignored 1 signature by keys not in v2 (keyid ", Short(P(2)),
                         ")"));
  EXPECT_TRUE(v1.VerifyNext(SignedBy(MakeRoster(2, 2, {0, 1}), {0, 1, 2})).ok());
  EXPECT_TRUE(v1.VerifyNext(SignedBy(MakeRoster(2, 2, {0, 1}), {1, 2, 0})).ok());
}

// ------------------------------------------------------------------ expiry

TEST(ExpiryTest, ExpiresMustFollowIssuedAt) {
  v1::Roster r = MakeRoster(1, 1, {0});
  r.mutable_expires()->set_seconds(r.issued_at().seconds());
  absl::Status st = ValidateRoster(r);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(st.message(),
            "expires 2027-01-01T00:00:01Z is not after issued_at 2027-01-01T00:00:01Z");
}

TEST(ExpiryTest, AnExpiredRosterIsFailedPreconditionSayingWhen) {
  v1::Roster r = MakeRoster(1, 1, {0});
  r.mutable_expires()->set_seconds(1893456000);  // 2030-01-01
  const Roster roster = Genesis(r, {0});
  EXPECT_EQ(roster.expires(), absl::FromUnixSeconds(1893456000));
  EXPECT_EQ(CheckNotExpired(r, absl::FromUnixSeconds(1893455999)), absl::OkStatus());
  absl::Status st = CheckNotExpired(r, absl::FromUnixSeconds(1893456000));
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(st.message(),
            "roster v1 expired at 2030-01-01T00:00:00Z (now 2030-01-01T00:00:00Z); the "
            "members must sign a newer version with a later expires ('watchfloor roster "
            "draft --expires')");
  EXPECT_EQ(CheckNotExpired(MakeRoster(1, 1, {0}), absl::InfiniteFuture()),
            absl::OkStatus());
}

TEST(ExpiryTest, AnExpiredVersionStillLinksAChain) {
  v1::Roster r1 = MakeRoster(1, 1, {0, 1});
  r1.mutable_expires()->set_seconds(1893456000);
  const Roster v1 = Genesis(r1, {0});
  // Verification never reads a clock: the expired v1 still vouches for v2.
  EXPECT_TRUE(v1.VerifyNext(SignedBy(MakeRoster(2, 1, {0, 1}), {0})).ok());
}

}  // namespace
}  // namespace watchfloor::certs
