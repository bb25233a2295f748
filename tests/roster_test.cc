// Tests for certs/roster.h: validation, genesis and next-version signature
// rules (TUF root rotation), the accessors, the signed test vectors in
// tests/testdata/roster/, and the `watchfloor roster` CLI workflow of
// docs/FEDERATION.md.
//
// To regenerate tests/testdata/roster after an intentional format change:
//   WF_REGENERATE_ROSTER_TESTDATA=1 build/tests/roster_test
//     --gtest_filter='RosterVectorTest.*'   (one command line)
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/time.h"
#include "certs/dsse.h"
#include "certs/encryption_key.h"
#include "certs/keys.h"
#include "certs/roster.h"
#include "certs/x509.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/roster_fixtures.h"
#include "tests/test_util.h"
#include "watchfloor/v1/roster.pb.h"

namespace watchfloor::certs {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;
using ::testing::StartsWith;
using watchfloor::v1::Envelope;

using testing::Genesis;
using testing::MakeRoster;
using testing::MemberOf;
using testing::Outsider;
using testing::P;
using testing::Party;
using testing::SeededKey;
using testing::Short;
using testing::SignedBy;
using testing::SignWith;

// ---------------------------------------------------------------- validation

TEST(ValidateRosterTest, AWellFormedRosterIsValid) {
  EXPECT_EQ(ValidateRoster(MakeRoster(1, 2, {0, 1, 2})), absl::OkStatus());
}

TEST(ValidateRosterTest, CaNamedByCommonNameOnlyIsAccepted) {
  CertSpec spec;
  spec.common_name = "a.cz";
  spec.is_ca = true;
  spec.not_before = absl::FromUnixSeconds(1577836800);
  spec.not_after = absl::FromUnixSeconds(4733510400);
  absl::StatusOr<KeyAndCert> ca = MintCertificate(spec, nullptr);
  ASSERT_TRUE(ca.ok()) << ca.status();
  v1::Roster r = MakeRoster(1, 1, {0});
  r.mutable_members(0)->set_ca_cert_pem(ca->cert_pem);
  EXPECT_EQ(ValidateRoster(r), absl::OkStatus());
}

struct InvalidCase {
  const char* name;
  std::function<void(v1::Roster&)> mutate;
  const char* message;  // a substring of the INVALID_ARGUMENT message
};

constexpr char kP256PublicPem[] = R"(-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEr8UvmRSTxOL4GbIpm9Qh5hyhtpkw
j79d5MtnO53LqeiOPjGB1B/57lUlPx95zikh1IMRcE1/iabC5+ZzU9nafQ==
-----END PUBLIC KEY-----
)";

KeyAndCert MintOrDie(const CertSpec& spec, const KeyAndCert* issuer) {
  absl::StatusOr<KeyAndCert> kc = MintCertificate(spec, issuer);
  if (!kc.ok()) std::abort();
  return *kc;
}

CertSpec LongLived(const std::string& cn, bool is_ca) {
  CertSpec spec;
  spec.common_name = cn;
  spec.is_ca = is_ca;
  spec.not_before = absl::FromUnixSeconds(1577836800);
  spec.not_after = absl::FromUnixSeconds(4733510400);
  return spec;
}

std::vector<InvalidCase> InvalidCases() {
  auto member = [](v1::Roster& r, int i) { return r.mutable_members(i); };
  auto node = [](v1::Roster& r, int i) { return r.mutable_members(i)->mutable_nodes(0); };
  return {
      {"federation unset", [](v1::Roster& r) { r.clear_federation(); },
       "federation is not set"},
      {"federation upper case", [](v1::Roster& r) { r.set_federation("DNS-cert"); },
       "roster: federation: name \"DNS-cert\" is invalid"},
      {"version 0", [](v1::Roster& r) { r.set_version(0); }, "version is 0"},
      {"threshold 0", [](v1::Roster& r) { r.set_threshold(0); },
       "threshold is 0; it must be 1..3"},
      {"threshold above members", [](v1::Roster& r) { r.set_threshold(4); },
       "threshold is 4; it must be 1..3"},
      {"no members", [](v1::Roster& r) { r.clear_members(); }, "has no members"},
      {"member name invalid",
       [member](v1::Roster& r) { member(r, 1)->set_name("B.cz"); },
       "member B.cz: name: name \"B.cz\" is invalid"},
      {"member name duplicated",
       [](v1::Roster& r) {
         const v1::RosterMember copy = r.members(0);
         *r.add_members() = copy;
       },
       "member a.cz: name: listed more than once"},
      {"member key not PEM",
       [member](v1::Roster& r) { member(r, 1)->set_member_key_pem("hello"); },
       "member b.cz: member_key_pem: must be exactly one PEM \"PUBLIC KEY\" block"},
      {"member key not Ed25519",
       [member](v1::Roster& r) { member(r, 1)->set_member_key_pem(kP256PublicPem); },
       "member b.cz: member_key_pem: public key is a EC key, not an Ed25519 key"},
      {"member key is a private key",
       [member](v1::Roster& r) { member(r, 1)->set_member_key_pem(P(1).member_key.ToPem()); },
       "member b.cz: member_key_pem: contains a PRIVATE KEY"},
      {"member key shared",
       [member](v1::Roster& r) {
         member(r, 1)->set_member_key_pem(r.members(0).member_key_pem());
       },
       "member b.cz: member_key_pem: keyid"},
      {"ca not a certificate",
       [member](v1::Roster& r) { member(r, 2)->set_ca_cert_pem("x"); },
       "member c.cz: ca_cert_pem: not a PEM certificate"},
      {"ca is a leaf certificate",
       [member](v1::Roster& r) {
         member(r, 2)->set_ca_cert_pem(MintOrDie(LongLived("c.cz", false), nullptr).cert_pem);
       },
       "member c.cz: ca_cert_pem: certificate CN=c.cz is not a CA certificate"},
      {"ca names another member",
       [member](v1::Roster& r) { member(r, 2)->set_ca_cert_pem(P(0).ca.cert_pem); },
       "member c.cz: ca_cert_pem: certificate CN=a.cz names spiffe://watchfloor/a.cz, "
       "not spiffe://watchfloor/c.cz"},
      {"ca CN names another member",
       [member](v1::Roster& r) {
         member(r, 2)->set_ca_cert_pem(MintOrDie(LongLived("a.cz", true), nullptr).cert_pem);
       },
       "member c.cz: ca_cert_pem: certificate CN=a.cz does not name member c.cz"},
      {"ca not self-signed",
       [member](v1::Roster& r) {
         CertSpec spec = LongLived("c.cz", true);
         spec.uri_sans = {"spiffe://watchfloor/c.cz"};
         member(r, 2)->set_ca_cert_pem(MintOrDie(spec, &P(0).ca).cert_pem);
       },
       "member c.cz: ca_cert_pem: certificate CN=c.cz is not self-signed (issuer CN=a.cz)"},
      {"ca with a second certificate",
       [member](v1::Roster& r) {
         member(r, 2)->set_ca_cert_pem(P(2).ca.cert_pem + P(0).ca.cert_pem);
       },
       "member c.cz: ca_cert_pem: holds more than one PEM block"},
      {"ca with its private key",
       [member](v1::Roster& r) {
         member(r, 2)->set_ca_cert_pem(P(2).ca.cert_pem + P(2).ca.key_pem);
       },
       "member c.cz: ca_cert_pem: contains a PRIVATE KEY"},
      {"origin invalid",
       [node](v1::Roster& r) { node(r, 0)->set_origin("a.cz/N1"); },
       "node a.cz/N1: origin: origin \"a.cz/N1\" is invalid"},
      {"origin of another member",
       [node](v1::Roster& r) { node(r, 0)->set_origin("b.cz/n9"); },
       "node b.cz/n9: origin: belongs to member b.cz but is listed under member a.cz"},
      {"origin duplicated",
       [member](v1::Roster& r) {
         const v1::RosterNode copy = r.members(0).nodes(0);
         v1::RosterNode* n = member(r, 0)->add_nodes();
         *n = copy;
         n->set_signing_key_pem(Outsider().public_key().ToPem());
         n->set_endpoints(0, "n2.a.cz:7443");
       },
       "node a.cz/n1: origin: listed more than once"},
      {"node key not parsable",
       [node](v1::Roster& r) { node(r, 1)->set_signing_key_pem(kP256PublicPem); },
       "node b.cz/n1: signing_key_pem: public key is a EC key"},
      {"node key shared by two nodes",
       [node](v1::Roster& r) {
         node(r, 1)->set_signing_key_pem(r.members(0).nodes(0).signing_key_pem());
       },
       "node b.cz/n1: signing_key_pem: keyid"},
      {"node key is a member key",
       [node](v1::Roster& r) {
         node(r, 1)->set_signing_key_pem(r.members(0).member_key_pem());
       },
       "is both a member key and a node signing key"},
      {"encryption key is an Ed25519 key",
       [node](v1::Roster& r) {
         node(r, 1)->set_encryption_key_pem(Outsider().public_key().ToPem());
       },
       "node b.cz/n1: encryption_key_pem: "},
      {"encryption key is the node's signing key",
       [node](v1::Roster& r) {
         node(r, 1)->set_encryption_key_pem(r.members(1).nodes(0).signing_key_pem());
       },
       "node b.cz/n1: encryption_key_pem: "},
      {"encryption key shared by two nodes",
       [node](v1::Roster& r) {
         const std::string pem = certs::EncryptionKey::Generate().public_key().ToPem();
         node(r, 0)->set_encryption_key_pem(pem);
         node(r, 1)->set_encryption_key_pem(pem);
       },
       "node b.cz/n1: encryption_key_pem: keyid"},
      {"encryption key is a private key",
       [node](v1::Roster& r) {
         node(r, 1)->set_encryption_key_pem(certs::EncryptionKey::Generate().ToPem());
       },
       "node b.cz/n1: encryption_key_pem: "},
      {"no endpoints", [node](v1::Roster& r) { node(r, 1)->clear_endpoints(); },
       "node b.cz/n1: endpoints: none"},
      {"endpoint without port",
       [node](v1::Roster& r) { node(r, 1)->set_endpoints(0, "n1.b.cz"); },
       "node b.cz/n1: endpoints[0]: endpoint \"n1.b.cz\" is invalid"},
      {"endpoint port 0",
       [node](v1::Roster& r) { node(r, 1)->set_endpoints(0, "n1.b.cz:0"); },
       "endpoint \"n1.b.cz:0\" is invalid"},
      {"endpoint port too big",
       [node](v1::Roster& r) { node(r, 1)->set_endpoints(0, "n1.b.cz:65536"); },
       "endpoint \"n1.b.cz:65536\" is invalid"},
      {"endpoint bare ipv6",
       [node](v1::Roster& r) { node(r, 1)->set_endpoints(0, "::1:7443"); },
       "write IPv6 as [addr]:port"},
      {"endpoint bracketed non-ipv6",
       [node](v1::Roster& r) { node(r, 1)->set_endpoints(0, "[n1.b.cz]:7443"); },
       "the bracketed host is not IPv6"},
      {"endpoint shared by two nodes",
       [node](v1::Roster& r) { node(r, 1)->set_endpoints(0, "n1.a.cz:7443"); },
       "node b.cz/n1: endpoints[0]: \"n1.a.cz:7443\" is already an endpoint of node a.cz/n1"},
  };
}

TEST(ValidateRosterTest, EachBrokenRuleIsInvalidArgumentNamingTheField) {
  for (const InvalidCase& c : InvalidCases()) {
    SCOPED_TRACE(c.name);
    v1::Roster r = MakeRoster(1, 2, {0, 1, 2});
    c.mutate(r);
    absl::Status st = ValidateRoster(r);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
    EXPECT_THAT(std::string(st.message()), HasSubstr(c.message));
  }
}

TEST(ValidateRosterTest, EachNodesOwnX25519EncryptionKeyIsAccepted) {
  v1::Roster r = MakeRoster(1, 2, {0, 1, 2});
  for (auto& m : *r.mutable_members()) {
    for (auto& n : *m.mutable_nodes()) {
      n.set_encryption_key_pem(certs::EncryptionKey::Generate().public_key().ToPem());
    }
  }
  EXPECT_EQ(ValidateRoster(r), absl::OkStatus());
  // Optional: a node without one is valid too.
  r.mutable_members(0)->mutable_nodes(0)->clear_encryption_key_pem();
  EXPECT_EQ(ValidateRoster(r), absl::OkStatus());
}

TEST(ValidateRosterTest, Ipv6AndIpv4EndpointsAreAccepted) {
  v1::Roster r = MakeRoster(1, 1, {0});
  r.mutable_members(0)->mutable_nodes(0)->add_endpoints("[2001:db8::1]:7443");
  r.mutable_members(0)->mutable_nodes(0)->add_endpoints("192.0.2.1:7443");
  EXPECT_EQ(ValidateRoster(r), absl::OkStatus());
}

TEST(NamesTest, OriginRulesMatchTheNodeRules) {
  EXPECT_TRUE(ValidateOrigin("nic.cz/prg1").ok());
  EXPECT_TRUE(ValidateOrigin("a-b.example/x-1").ok());
  for (const char* bad : {"nic.cz", "nic.cz/prg1/x", "Nic.cz/prg1", "nic.cz/p.1",
                          "-nic.cz/prg1", "nic.cz/prg1-", "nic..cz/prg1", "/prg1",
                          "nic.cz/"}) {
    EXPECT_EQ(ValidateOrigin(bad).code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

// ------------------------------------------------------------------ genesis

TEST(GenesisTest, ThresholdOfOwnMembersIsAccepted) {
  const v1::Roster proto = MakeRoster(1, 2, {0, 1, 2});
  const Envelope env = SignedBy(proto, {0, 1});
  absl::StatusOr<Roster> r = Roster::VerifyGenesis(env);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->version(), 1u);
  EXPECT_EQ(r->federation(), "dns-cert");
  EXPECT_EQ(r->envelope().SerializeAsString(), env.SerializeAsString());
}

TEST(GenesisTest, BelowThresholdIsUnauthenticatedListingMissingMembers) {
  absl::StatusOr<Roster> r =
      Roster::VerifyGenesis(SignedBy(MakeRoster(1, 2, {0, 1, 2}), {0}));
  ASSERT_EQ(r.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(r.status().message(),
            absl::StrCat("roster v1 has 1 valid member signature; 2 required "
                         "(threshold of v1): missing b.cz (keyid ", Short(P(1)),
                         "), missing c.cz (keyid ", Short(P(2)), ")"));
}

TEST(GenesisTest, UnsignedDraftIsUnauthenticated) {
  absl::StatusOr<Roster> r =
      Roster::VerifyGenesis(SignedBy(MakeRoster(1, 1, {0}), {}));
  ASSERT_EQ(r.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(r.status().message()),
              StartsWith("roster v1 has 0 valid member signatures; 1 required"));
}

TEST(GenesisTest, SignaturesByUnknownKeysAreIgnoredButReported) {
  Envelope env = SignWith(SignedBy(MakeRoster(1, 2, {0, 1, 2}), {0}), Outsider());
  absl::StatusOr<Roster> r = Roster::VerifyGenesis(env);
  ASSERT_EQ(r.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(r.status().message()),
              HasSubstr(absl::StrCat(
                  "1 valid member signature; 2 required (threshold of v1)")));
  EXPECT_THAT(std::string(r.status().message()),
              HasSubstr(absl::StrCat("; ignored 1 signature by keys not in v1 (keyid ",
                                     Outsider().public_key().KeyId().substr(0, 16),
                                     "...)")));
  // With enough member signatures the stranger's does not get in the way.
  env = SignWith(env, P(1).member_key);
  EXPECT_TRUE(Roster::VerifyGenesis(env).ok());
  SignatureReport report = CheckRosterSignatures(env, MakeRoster(1, 2, {0, 1, 2}));
  EXPECT_EQ(report.valid, 2);
  EXPECT_EQ(report.unknown_keyids,
            std::vector<std::string>{Outsider().public_key().KeyId()});
}

TEST(GenesisTest, DuplicateSignatureCountsOnce) {
  Envelope env = SignedBy(MakeRoster(1, 2, {0, 1, 2}), {0});
  *env.add_signatures() = env.signatures(0);
  ASSERT_EQ(env.signatures_size(), 2);
  absl::StatusOr<Roster> r = Roster::VerifyGenesis(env);
  ASSERT_EQ(r.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(r.status().message()),
              StartsWith("roster v1 has 1 valid member signature; 2 required"));
}

TEST(GenesisTest, SignRosterReplacesTheSameKeysEarlierSignature) {
  Envelope env = SignedBy(MakeRoster(1, 2, {0, 1, 2}), {0, 0, 1, 0});
  EXPECT_EQ(env.signatures_size(), 2);
  EXPECT_TRUE(Roster::VerifyGenesis(env).ok());
}

TEST(GenesisTest, TamperedPayloadInvalidatesEverySignature) {
  Envelope env = SignedBy(MakeRoster(1, 2, {0, 1, 2}), {0, 1});
  v1::Roster changed = MakeRoster(1, 2, {0, 1, 2});
  changed.mutable_members(2)->mutable_nodes(0)->set_endpoints(0, "evil.example:7443");
  env.set_payload(changed.SerializeAsString());
  absl::StatusOr<Roster> r = Roster::VerifyGenesis(env);
  ASSERT_EQ(r.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(r.status().message(),
            absl::StrCat("roster v1 has 0 valid member signatures; 2 required "
                         "(threshold of v1): invalid a.cz (signature does not "
                         "verify), invalid b.cz (signature does not verify), "
                         "missing c.cz (keyid ", Short(P(2)), ")"));
}

TEST(GenesisTest, FlippedSignatureBitAndShortSignatureAreInvalid) {
  Envelope env = SignedBy(MakeRoster(1, 2, {0, 1, 2}), {0, 1});
  (*env.mutable_signatures(0)->mutable_sig())[5] ^= 0x01;
  env.mutable_signatures(1)->mutable_sig()->pop_back();
  absl::StatusOr<Roster> r = Roster::VerifyGenesis(env);
  ASSERT_EQ(r.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(r.status().message()),
              HasSubstr("invalid a.cz (signature does not verify), invalid b.cz "
                        "(signature is 63 bytes, not 64)"));
}

TEST(GenesisTest, ValidSignatureOutweighsAnInvalidOneBySameMember) {
  Envelope env = SignedBy(MakeRoster(1, 1, {0, 1}), {0});
  watchfloor::v1::Signature bad = env.signatures(0);
  (*bad.mutable_sig())[0] ^= 0x01;
  env.mutable_signatures()->Add(std::move(bad));
  env.mutable_signatures()->SwapElements(0, 1);  // the bad one first
  EXPECT_TRUE(Roster::VerifyGenesis(env).ok());
}

TEST(GenesisTest, SignatureWithoutKeyidStillCounts) {
  Envelope env = SignedBy(MakeRoster(1, 1, {0, 1}), {1});
  env.mutable_signatures(0)->clear_keyid();
  EXPECT_TRUE(Roster::VerifyGenesis(env).ok());
}

TEST(GenesisTest, WrongPayloadTypeIsInvalidArgument) {
  Envelope env = SignedBy(MakeRoster(1, 1, {0}), {0});
  env.set_payload_type(std::string(kAlertPayloadType));
  EXPECT_EQ(Roster::VerifyGenesis(env).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(SignRoster(env, P(0).member_key).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(GenesisTest, UnparsablePayloadIsInvalidArgument) {
  Envelope env = SignedBy(MakeRoster(1, 1, {0}), {0});
  env.set_payload("\xff\xff\xff");
  absl::StatusOr<Roster> r = Roster::VerifyGenesis(env);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "payload is not a serialized watchfloor.v1.Roster");
}

TEST(GenesisTest, InvalidRosterIsInvalidArgumentEvenIfSigned) {
  v1::Roster proto = MakeRoster(1, 1, {0});
  Envelope env = SignedBy(proto, {0});
  proto.mutable_members(0)->mutable_nodes(0)->clear_endpoints();
  env.set_payload(proto.SerializeAsString());
  EXPECT_EQ(SignRoster(env, P(0).member_key).status().code(),
            absl::StatusCode::kInvalidArgument);
  absl::StatusOr<Roster> r = Roster::VerifyGenesis(env);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "roster v1: node a.cz/n1: endpoints: none; give at "
                                  "least one host:port");
}

TEST(GenesisTest, DraftIsValidatedBeforeSerializing) {
  v1::Roster proto = MakeRoster(1, 4, {0, 1, 2});
  EXPECT_EQ(MakeRosterDraft(proto).status().code(), absl::StatusCode::kInvalidArgument);
}

// --------------------------------------------------------------- accessors

TEST(RosterTest, AccessorsFindMembersNodesAndKeys) {
  const Roster r = Genesis(MakeRoster(1, 2, {0, 1, 2}), {0, 1});
  ASSERT_NE(r.Member("b.cz"), nullptr);
  EXPECT_EQ(r.Member("b.cz")->name(), "b.cz");
  EXPECT_EQ(r.Member("x.cz"), nullptr);
  ASSERT_NE(r.Node("c.cz/n1"), nullptr);
  EXPECT_EQ(r.Node("c.cz/n1")->endpoints(0), "n1.c.cz:7443");
  EXPECT_EQ(r.Node("c.cz/n2"), nullptr);
  std::optional<PublicKey> key = r.NodeKey("a.cz/n1");
  ASSERT_TRUE(key.has_value());
  EXPECT_EQ(*key, P(0).node_key.public_key());
  EXPECT_FALSE(r.NodeKey("a.cz/n2").has_value());
  EXPECT_EQ(r.Origins(), (std::vector<std::string>{"a.cz/n1", "b.cz/n1", "c.cz/n1"}));
  EXPECT_EQ(r.CaBundlePem(), P(0).ca.cert_pem + P(1).ca.cert_pem + P(2).ca.cert_pem);
  EXPECT_EQ(FindMemberByKeyId(r.proto(), P(2).member_key.public_key().KeyId()),
            r.Member("c.cz"));
  EXPECT_EQ(FindMemberByKeyId(r.proto(), Outsider().public_key().KeyId()), nullptr);
}

TEST(RosterTest, CopiesStayValid) {
  std::optional<Roster> copy;
  {
    const Roster r = Genesis(MakeRoster(1, 1, {0, 1}), {0});
    copy = r;
  }
  ASSERT_NE(copy->Node("b.cz/n1"), nullptr);
  EXPECT_EQ(copy->Node("b.cz/n1")->origin(), "b.cz/n1");
  EXPECT_EQ(copy->Member("a.cz"), &copy->proto().members(0));
}

// -------------------------------------------------------------- next version

TEST(NextVersionTest, OldThresholdAdmitsAMember) {
  const Roster v1 = Genesis(MakeRoster(1, 2, {0, 1, 2}), {0, 1});
  absl::StatusOr<Roster> v2 = v1.VerifyNext(SignedBy(MakeRoster(2, 2, {0, 1, 2, 3}), {0, 2}));
  ASSERT_TRUE(v2.ok()) << v2.status();
  EXPECT_EQ(v2->version(), 2u);
  ASSERT_NE(v2->Member("d.cz"), nullptr);
  EXPECT_TRUE(v2->NodeKey("d.cz/n1").has_value());
}

TEST(NextVersionTest, NewMembersCannotStandInForOldOnes) {
  const Roster v1 = Genesis(MakeRoster(1, 2, {0, 1, 2}), {0, 1});
  // d.cz and e.cz are members of v2 and sign it, but only a.cz of v1 did.
  absl::StatusOr<Roster> v2 =
      v1.VerifyNext(SignedBy(MakeRoster(2, 2, {0, 1, 2, 3, 4}), {0, 3, 4}));
  ASSERT_EQ(v2.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(v2.status().message(),
            absl::StrCat("roster v2 has 1 valid member signature; 2 required "
                         "(threshold of v1): missing b.cz (keyid ", Short(P(1)),
                         "), missing c.cz (keyid ", Short(P(2)),
                         "); ignored 2 signatures by keys not in v1 (keyid ",
                         P(3).member_key.public_key().KeyId().substr(0, 16), "..., ",
                         P(4).member_key.public_key().KeyId().substr(0, 16), "...)"));
}

TEST(NextVersionTest, NextMustAlsoMeetItsOwnThreshold) {
  const Roster v1 = Genesis(MakeRoster(1, 2, {0, 1, 2}), {0, 1});
  absl::StatusOr<Roster> v2 = v1.VerifyNext(SignedBy(MakeRoster(2, 3, {0, 1, 2, 3}), {0, 1}));
  ASSERT_EQ(v2.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(v2.status().message(),
            absl::StrCat("roster v2 has 2 valid member signatures; 3 required "
                         "(threshold of v2): missing c.cz (keyid ", Short(P(2)),
                         "), missing d.cz (keyid ", Short(P(3)), ")"));
}

TEST(NextVersionTest, BothShortfallsAreReported) {
  const Roster v1 = Genesis(MakeRoster(1, 2, {0, 1, 2}), {0, 1});
  absl::StatusOr<Roster> v2 = v1.VerifyNext(SignedBy(MakeRoster(2, 2, {0, 1, 2}), {0}));
  ASSERT_EQ(v2.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(v2.status().message()),
              HasSubstr("(threshold of v1): missing b.cz"));
  EXPECT_THAT(std::string(v2.status().message()),
              HasSubstr("; and roster v2 has 1 valid member signature; 2 required "
                        "(threshold of v2)"));
}

TEST(NextVersionTest, RemovingAMemberNeedsTheOldThreshold) {
  const Roster v1 = Genesis(MakeRoster(1, 2, {0, 1, 2}), {0, 1});
  absl::StatusOr<Roster> v2 = v1.VerifyNext(SignedBy(MakeRoster(2, 2, {0, 1}), {0, 1}));
  ASSERT_TRUE(v2.ok()) << v2.status();
  EXPECT_EQ(v2->Member("c.cz"), nullptr);
  EXPECT_EQ(v2->Node("c.cz/n1"), nullptr);
  EXPECT_FALSE(v2->NodeKey("c.cz/n1").has_value());
}

TEST(NextVersionTest, RemovedMemberCannotCountTowardsTheNewThreshold) {
  const Roster v1 = Genesis(MakeRoster(1, 2, {0, 1, 2}), {0, 1});
  // a.cz and c.cz meet v1's threshold, but c.cz is not in v2: only a.cz of
  // v2's members signed.
  absl::StatusOr<Roster> v2 = v1.VerifyNext(SignedBy(MakeRoster(2, 2, {0, 1}), {0, 2}));
  ASSERT_EQ(v2.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(v2.status().message(),
            absl::StrCat("roster v2 has 1 valid member signature; 2 required "
                         "(threshold of v2): missing b.cz (keyid ", Short(P(1)),
                         "); ignored 1 signature by keys not in v2 (keyid ",
                         P(2).member_key.public_key().KeyId().substr(0, 16), "...)"));
}

TEST(NextVersionTest, MemberKeyRotationNeedsOldAndNewKey) {
  const Roster v1 = Genesis(MakeRoster(1, 2, {0, 1}), {0, 1});
  const SigningKey new_a = SeededKey('N');
  v1::Roster v2 = MakeRoster(2, 2, {0, 1});
  v2.mutable_members(0)->set_member_key_pem(new_a.public_key().ToPem());
  // Old keys of a and b satisfy v1; v2 needs a's new key and b.
  Envelope env = SignedBy(v2, {0, 1});
  EXPECT_EQ(v1.VerifyNext(env).status().code(), absl::StatusCode::kUnauthenticated);
  env = SignWith(env, new_a);
  absl::StatusOr<Roster> next = v1.VerifyNext(env);
  ASSERT_TRUE(next.ok()) << next.status();
  // From v2 on, a's old key no longer counts.
  v1::Roster v3 = MakeRoster(3, 2, {0, 1});
  v3.mutable_members(0)->set_member_key_pem(new_a.public_key().ToPem());
  EXPECT_EQ(next->VerifyNext(SignedBy(v3, {0, 1})).status().code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(next->VerifyNext(SignWith(SignedBy(v3, {1}), new_a)).ok());
}

TEST(NextVersionTest, VersionSkipIsFailedPrecondition) {
  const Roster v1 = Genesis(MakeRoster(1, 2, {0, 1, 2}), {0, 1});
  absl::StatusOr<Roster> v3 = v1.VerifyNext(SignedBy(MakeRoster(3, 2, {0, 1, 2}), {0, 1, 2}));
  ASSERT_EQ(v3.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(v3.status().message(),
            "roster v3 skips versions: the current roster is v1, so the next "
            "must be v2; verify the versions in between first");
}

TEST(NextVersionTest, SameOrOlderVersionIsFailedPrecondition) {
  const Roster v1 = Genesis(MakeRoster(1, 2, {0, 1, 2}), {0, 1});
  absl::StatusOr<Roster> again = v1.VerifyNext(SignedBy(MakeRoster(1, 2, {0, 1, 2}), {0, 1}));
  ASSERT_EQ(again.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(again.status().message(),
            "roster v1 is not newer than the current v1; the next roster must be v2");
}

TEST(NextVersionTest, FederationChangeIsInvalidArgument) {
  const Roster v1 = Genesis(MakeRoster(1, 2, {0, 1, 2}), {0, 1});
  absl::StatusOr<Roster> v2 =
      v1.VerifyNext(SignedBy(MakeRoster(2, 2, {0, 1, 2}, "other-fed"), {0, 1}));
  ASSERT_EQ(v2.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(v2.status().message(),
            "roster v2 is for federation \"other-fed\", not \"dns-cert\"; the "
            "federation name never changes");
}

TEST(NextVersionTest, AnyVersionCanBeATrustAnchor) {
  const Roster v1 = Genesis(MakeRoster(1, 2, {0, 1, 2}), {0, 1});
  const Envelope v2 = SignedBy(MakeRoster(2, 2, {0, 1, 2, 3}), {0, 1});
  ASSERT_TRUE(v1.VerifyNext(v2).ok());
  absl::StatusOr<Roster> pinned = Roster::VerifyGenesis(v2);
  ASSERT_TRUE(pinned.ok()) << pinned.status();
  EXPECT_TRUE(pinned->VerifyNext(SignedBy(MakeRoster(3, 2, {0, 1, 2, 3}), {2, 3})).ok());
}

// ------------------------------------------------------------ test vectors
//
// tests/testdata/roster/: a 2-of-3 genesis (genesis.json) and candidate next
// versions, each named "<expected code>-<what>.json" ("ok-..." must verify as
// the successor of genesis.json). New attack, new file.

std::string VectorDir() {
  return std::string(WF_SOURCE_DIR) + "/tests/testdata/roster";
}

// The vector files, built from the seeded fixtures.
std::vector<std::pair<std::string, Envelope>> BuildVectors() {
  std::vector<std::pair<std::string, Envelope>> out;
  const v1::Roster v1 = MakeRoster(1, 2, {0, 1, 2});
  out.emplace_back("genesis.json", SignedBy(v1, {0, 1}));
  out.emplace_back("ok-admit-d.json", SignedBy(MakeRoster(2, 2, {0, 1, 2, 3}), {0, 1}));
  out.emplace_back("ok-remove-c.json", SignedBy(MakeRoster(2, 2, {0, 1}), {1, 0}));
  out.emplace_back("unauthenticated-only-new-members-signed.json",
                   SignedBy(MakeRoster(2, 2, {0, 1, 2, 3, 4}), {3, 4}));
  out.emplace_back("unauthenticated-one-old-member.json",
                   SignedBy(MakeRoster(2, 2, {0, 1, 2, 3}), {0, 3}));
  out.emplace_back("unauthenticated-duplicate-signature.json", [&] {
    Envelope e = SignedBy(MakeRoster(2, 2, {0, 1, 2}), {0});
    *e.add_signatures() = e.signatures(0);
    return e;
  }());
  out.emplace_back("unauthenticated-payload-swapped.json", [&] {
    Envelope e = SignedBy(MakeRoster(2, 2, {0, 1, 2}), {0, 1});
    v1::Roster evil = MakeRoster(2, 1, {0, 1, 2});
    e.set_payload(evil.SerializeAsString());
    return e;
  }());
  out.emplace_back("unauthenticated-signature-bit-flipped.json", [&] {
    Envelope e = SignedBy(MakeRoster(2, 2, {0, 1, 2}), {0, 1});
    (*e.mutable_signatures(1)->mutable_sig())[17] ^= 0x40;
    return e;
  }());
  out.emplace_back("unauthenticated-padded-copy-without-keyid.json", [&] {
    Envelope e = SignedBy(MakeRoster(2, 2, {0, 1, 2}), {0});
    *e.add_signatures() = e.signatures(0);
    e.mutable_signatures(1)->clear_keyid();
    return e;
  }());
  // c.cz leaves and, with a.cz, lowers the threshold to 1: b.cz, who stays,
  // never agreed (v1's threshold of 2 applies to v2's own members).
  out.emplace_back("unauthenticated-lowers-threshold-signed-by-leaver.json",
                   SignedBy(MakeRoster(2, 1, {0, 1}), {0, 2}));
  out.emplace_back("ok-rotate-node-key-from-101.json", [&] {
    v1::Roster r = MakeRoster(2, 2, {0, 1, 2});
    v1::RosterNode* n = r.mutable_members(0)->mutable_nodes(0);
    v1::PreviousNodeKey* p = n->add_previous_keys();
    p->set_signing_key_pem(n->signing_key_pem());
    p->set_first_sequence(1);
    p->set_last_sequence(100);
    n->set_signing_key_pem(SeededKey('2').public_key().ToPem());
    n->set_key_from_sequence(101);
    return SignedBy(r, {0, 1});
  }());
  out.emplace_back("invalid_argument-node-key-history-rewritten.json", [&] {
    v1::Roster r = MakeRoster(2, 2, {0, 1, 2});
    v1::RosterNode* n = r.mutable_members(0)->mutable_nodes(0);
    v1::PreviousNodeKey* p = n->add_previous_keys();
    p->set_signing_key_pem(Outsider().public_key().ToPem());
    p->set_first_sequence(1);
    p->set_last_sequence(10);
    n->set_key_from_sequence(11);
    return SignedBy(r, {0, 1, 2});
  }());
  out.emplace_back("failed_precondition-skips-v2.json",
                   SignedBy(MakeRoster(3, 2, {0, 1, 2}), {0, 1}));
  out.emplace_back("failed_precondition-replays-v1.json",
                   SignedBy(MakeRoster(1, 2, {0, 1, 2}), {0, 1, 2}));
  out.emplace_back("invalid_argument-other-federation.json",
                   SignedBy(MakeRoster(2, 2, {0, 1, 2}, "other-fed"), {0, 1}));
  out.emplace_back("invalid_argument-alert-payload-type.json", [&] {
    Envelope e = SignedBy(MakeRoster(2, 2, {0, 1, 2}), {0, 1});
    e.set_payload_type(std::string(kAlertPayloadType));
    return e;
  }());
  return out;
}

absl::StatusCode CodeFromName(absl::string_view file) {
  const absl::string_view prefix = file.substr(0, file.find('-'));
  if (prefix == "ok") return absl::StatusCode::kOk;
  if (prefix == "unauthenticated") return absl::StatusCode::kUnauthenticated;
  if (prefix == "failed_precondition") return absl::StatusCode::kFailedPrecondition;
  if (prefix == "invalid_argument") return absl::StatusCode::kInvalidArgument;
  ADD_FAILURE() << "vector " << file << " does not start with a known status code";
  return absl::StatusCode::kUnknown;
}

TEST(RosterVectorTest, EachNextVersionFileYieldsTheCodeInItsName) {
  if (std::getenv("WF_REGENERATE_ROSTER_TESTDATA") != nullptr) {
    std::filesystem::create_directories(VectorDir());
    for (const auto& [name, env] : BuildVectors()) {
      testing::WriteFile(VectorDir() + "/" + name, EnvelopeToJson(env) + "\n");
    }
  }
  absl::StatusOr<Envelope> genesis_env =
      EnvelopeFromJson(testing::ReadFileOrDie(VectorDir() + "/genesis.json"));
  ASSERT_TRUE(genesis_env.ok()) << genesis_env.status();
  absl::StatusOr<Roster> genesis = Roster::VerifyGenesis(*genesis_env);
  ASSERT_TRUE(genesis.ok()) << genesis.status();

  int walked = 0;
  for (const auto& entry : std::filesystem::directory_iterator(VectorDir())) {
    const std::string name = entry.path().filename().string();
    if (name == "genesis.json" || !absl::EndsWith(name, ".json")) continue;
    SCOPED_TRACE(name);
    ++walked;
    absl::StatusOr<Envelope> env =
        EnvelopeFromJson(testing::ReadFileOrDie(entry.path().string()));
    ASSERT_TRUE(env.ok()) << env.status();
    EXPECT_EQ(genesis->VerifyNext(*env).status().code(), CodeFromName(name))
        << genesis->VerifyNext(*env).status();
  }
  EXPECT_EQ(walked, static_cast<int>(BuildVectors().size()) - 1);
}

// ------------------------------------------------------------------ the CLI

struct CmdResult {
  int code = -1;
  std::string output;  // stdout and stderr
};

CmdResult Sh(const std::string& dir, const std::string& args) {
  const std::string wf = std::filesystem::absolute(testing::WatchfloorBinary()).string();
  const std::string cmd = absl::StrCat("cd '", dir, "' && '", wf, "' ", args, " 2>&1");
  CmdResult run;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return run;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) run.output.append(buf, n);
  const int status = pclose(p);
  run.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

// The docs/FEDERATION.md workflow: a 2-of-3 genesis, then admitting d.cz.
TEST(RosterCliTest, GenesisTwoOfThreeThenAdmitAFourth) {
  // Absolute: the commands run in the temp dir (under Bazel the path is
  // relative to the runfiles root).
  const std::string wf = std::filesystem::absolute(testing::WatchfloorBinary()).string();
  ASSERT_EQ(access(wf.c_str(), X_OK), 0) << "build the watchfloor binary first: " << wf;
  testing::TempDir tmp;
  const std::string dir = tmp.path();
  std::string v1_spec = "federation: \"dns-cert\"\nversion: 1\nthreshold: 2\n";
  std::string v2_spec = "federation: \"dns-cert\"\nversion: 2\nthreshold: 2\n";
  int port = 7441;
  for (const char* m : {"a.cz", "b.cz", "c.cz", "d.cz"}) {
    ASSERT_EQ(Sh(dir, absl::StrCat("roster keygen --member ", m, " --out ", m)).code, 0);
    ASSERT_EQ(Sh(dir, absl::StrCat("certs ca --member ", m, " --out ", m, "/ca")).code, 0);
    ASSERT_EQ(Sh(dir, absl::StrCat("keygen --origin ", m, "/n1 --out ", m, "/n1")).code, 0);
    const std::string member = absl::StrCat(
        "members {\n  name: \"", m, "\"\n  member_key_pem: \"@", m,
        "/member.pub\"\n  ca_cert_pem: \"@", m, "/ca/ca.crt\"\n  nodes { origin: \"", m,
        "/n1\" signing_key_pem: \"@", m, "/n1/signing.pub\" endpoints: \"127.0.0.1:",
        port++, "\" }\n}\n");
    if (std::string(m) != "d.cz") v1_spec += member;
    v2_spec += member;
  }
  testing::WriteFile(dir + "/v1.spec", v1_spec);
  testing::WriteFile(dir + "/v2.spec", v2_spec);

  CmdResult r = Sh(dir, "roster draft --spec v1.spec --out v1.json");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(Sh(dir, "roster draft --spec v1.spec --out v1.json").code, 1);  // never overwrites
  ASSERT_EQ(Sh(dir, "roster sign --in v1.json --key a.cz/member.key --out v1.json").code, 0);
  r = Sh(dir, "roster verify --in v1.json");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr("error: roster v1 has 1 valid member signature; 2 "
                                  "required (threshold of v1): missing b.cz"));
  r = Sh(dir, "roster sign --in v1.json --key b.cz/member.key --out v1.json");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("2 of 3 members of v1 have signed; threshold 2 (met)"));
  r = Sh(dir, "roster verify --in v1.json");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("OK: roster v1 is valid as a trust anchor"));

  ASSERT_EQ(Sh(dir, "roster draft --spec v2.spec --out v2.json").code, 0);
  r = Sh(dir, "roster sign --in v2.json --key d.cz/member.key --out v2.json");
  ASSERT_EQ(r.code, 0) << r.output;
  ASSERT_EQ(Sh(dir, "roster sign --in v2.json --key a.cz/member.key --out v2.json").code, 0);
  r = Sh(dir, "roster verify --in v2.json --previous v1.json");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr("(threshold of v1): missing b.cz"));
  ASSERT_EQ(Sh(dir, "roster sign --in v2.json --key b.cz/member.key --out v2.json").code, 0);
  r = Sh(dir, "roster verify --in v2.json --previous v1.json");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("OK: roster v2 is a valid successor of v1"));

  r = Sh(dir, "roster show --in v2.json");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("federation  dns-cert"));
  EXPECT_THAT(r.output, HasSubstr("member d.cz"));
  EXPECT_THAT(r.output, HasSubstr("endpoints 127.0.0.1:7444"));
  EXPECT_THAT(r.output, HasSubstr("signatures: 3 of 4 members of v2 (threshold 2, met)"));

  // A key that is no member of a first roster: warned about, and useless.
  ASSERT_EQ(Sh(dir, "roster draft --spec v1.spec --out v1b.json").code, 0);
  r = Sh(dir, "roster sign --in v1b.json --key d.cz/member.key --out v1b.json");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("warning: key"));
}

// docs/FEDERATION.md "Governance": the next version from the current one by
// named edits, then signatures, then verification against the current one.
TEST(RosterCliTest, DraftFromTheCurrentVersionAppliesEdits) {
  const std::string wf = std::filesystem::absolute(testing::WatchfloorBinary()).string();
  ASSERT_EQ(access(wf.c_str(), X_OK), 0) << "build the watchfloor binary first: " << wf;
  testing::TempDir tmp;
  const std::string dir = tmp.path();
  std::string v1_spec = "federation: \"dns-cert\"\nversion: 1\nthreshold: 2\n";
  int port = 7441;
  for (const char* m : {"a.cz", "b.cz", "c.cz", "d.cz"}) {
    ASSERT_EQ(Sh(dir, absl::StrCat("roster keygen --member ", m, " --out ", m)).code, 0);
    ASSERT_EQ(Sh(dir, absl::StrCat("certs ca --member ", m, " --out ", m, "/ca")).code, 0);
    ASSERT_EQ(Sh(dir, absl::StrCat("keygen --origin ", m, "/n1 --out ", m, "/n1")).code, 0);
    const std::string member = absl::StrCat(
        "members {\n  name: \"", m, "\"\n  member_key_pem: \"@", m,
        "/member.pub\"\n  ca_cert_pem: \"@", m, "/ca/ca.crt\"\n  nodes { origin: \"", m,
        "/n1\" signing_key_pem: \"@", m, "/n1/signing.pub\" endpoints: \"127.0.0.1:",
        port++, "\" }\n}\n");
    if (std::string(m) != "d.cz") v1_spec += member;
  }
  testing::WriteFile(dir + "/v1.spec", v1_spec);
  testing::WriteFile(dir + "/d.member",
                     "name: \"d.cz\" member_key_pem: \"@d.cz/member.pub\"\n"
                     "ca_cert_pem: \"@d.cz/ca/ca.crt\"\n"
                     "nodes { origin: \"d.cz/n1\" signing_key_pem: \"@d.cz/n1/signing.pub\" "
                     "encryption_key_pem: \"@d.cz/n1/encryption.pub\" "
                     "endpoints: \"127.0.0.1:7444\" }\n");
  ASSERT_EQ(Sh(dir, "keygen --origin a.cz/n1 --out a.cz/n1-next").code, 0);
  ASSERT_EQ(Sh(dir, "roster draft --spec v1.spec --out v1.json").code, 0);
  ASSERT_EQ(Sh(dir, "roster sign --in v1.json --key a.cz/member.key --out v1.json").code, 0);
  ASSERT_EQ(Sh(dir, "roster sign --in v1.json --key b.cz/member.key --out v1.json").code, 0);

  CmdResult r = Sh(dir,
                   "roster draft --from v1.json --add-member d.member --remove-member c.cz "
                   "--rotate-node-key a.cz/n1=a.cz/n1-next/signing.pub@101 "
                   "--encryption-key b.cz/n1=b.cz/n1/encryption.pub "
                   "--expires 2099-01-01T00:00:00Z --out v2.json");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("wrote v2.json: roster dns-cert v2 after v1, 3 members, "
                                  "threshold 2, unsigned"));
  EXPECT_THAT(r.output, HasSubstr("next: 2 members of v1 and 2 of v2 sign it"));
  ASSERT_EQ(Sh(dir, "roster sign --in v2.json --key a.cz/member.key --out v2.json").code, 0);
  // d.cz is no member of v1: its signature counts for v2 only.
  ASSERT_EQ(Sh(dir, "roster sign --in v2.json --key d.cz/member.key --out v2.json").code, 0);
  r = Sh(dir, "roster verify --in v2.json --previous v1.json");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr("error: roster v2 has 1 valid member signature; 2 required "
                                  "(threshold of v1): missing b.cz"));
  ASSERT_EQ(Sh(dir, "roster sign --in v2.json --key b.cz/member.key --out v2.json").code, 0);
  r = Sh(dir, "roster verify --in v2.json --previous v1.json");
  EXPECT_EQ(r.code, 0) << r.output;
  r = Sh(dir, "roster show --in v2.json");
  EXPECT_THAT(r.output, HasSubstr("member d.cz"));
  EXPECT_THAT(r.output, Not(HasSubstr("member c.cz")));
  // The member file's and the edit's encryption keys are in v2; a.cz's node
  // has none.
  for (const char* m : {"b.cz", "d.cz"}) {
    absl::StatusOr<certs::EncryptionPublicKey> enc = certs::EncryptionPublicKey::LoadPemFile(
        absl::StrCat(dir, "/", m, "/n1/encryption.pub"));
    ASSERT_TRUE(enc.ok()) << enc.status();
    EXPECT_THAT(r.output, HasSubstr(absl::StrCat("  node ", m, "/n1\n    key       ")));
    EXPECT_THAT(r.output, HasSubstr(absl::StrCat("    encryption ", enc->KeyId(), "\n")));
  }
  EXPECT_THAT(r.output, HasSubstr("    encryption (none: it cannot be sent sealed alerts)\n"));
  EXPECT_THAT(Sh(dir, "roster draft --from v1.json --encryption-key x.cz/n1=b.cz/n1/encryption.pub "
                      "--out v2x.json").output,
              HasSubstr("error: --encryption-key: node x.cz/n1 is not in roster v1"));
  EXPECT_THAT(Sh(dir, "roster draft --from v1.json --encryption-key b.cz/n1=b.cz/n1/signing.pub "
                      "--out v2y.json").output,
              HasSubstr("node b.cz/n1: encryption_key_pem: "));

  struct Bad {
    std::string flags;
    std::string message;
  };
  for (const Bad& b : std::vector<Bad>{
           {"--remove-member x.cz", "error: --remove-member: x.cz is not a member of roster v1"},
           {"--rotate-node-key a.cz/n1=a.cz/n1-next/signing.pub",
            "error: --rotate-node-key \"a.cz/n1=a.cz/n1-next/signing.pub\" needs @SEQ"},
           {"--endpoints x.cz/n1=127.0.0.1:1", "error: --endpoints: node x.cz/n1 is not in "
                                                "roster v1"},
           {"--expires tomorrow", "error: --expires \"tomorrow\" is not an RFC 3339 time"},
           {"--threshold 4", "error: the edited roster v2: threshold is 4; it must be 1..3"},
           {"--spec v1.spec", "error: give either --spec (a whole roster) or --from"},
       }) {
    SCOPED_TRACE(b.flags);
    r = Sh(dir, "roster draft --from v1.json --out bad.json " + b.flags);
    EXPECT_EQ(r.code, 1) << r.output;
    EXPECT_THAT(r.output, HasSubstr(b.message));
    EXPECT_NE(access((dir + "/bad.json").c_str(), F_OK), 0);  // nothing written
  }
}

TEST(RosterCliTest, UsageAndInputErrorsHaveDistinctExitCodes) {
  // Absolute: the commands run in the temp dir (under Bazel the path is
  // relative to the runfiles root).
  const std::string wf = std::filesystem::absolute(testing::WatchfloorBinary()).string();
  ASSERT_EQ(access(wf.c_str(), X_OK), 0) << "build the watchfloor binary first: " << wf;
  testing::TempDir tmp;
  EXPECT_EQ(Sh(tmp.path(), "roster").code, 2);
  EXPECT_EQ(Sh(tmp.path(), "roster --help").code, 0);
  EXPECT_EQ(Sh(tmp.path(), "roster frobnicate").code, 2);
  EXPECT_EQ(Sh(tmp.path(), "roster verify").code, 2);
  EXPECT_EQ(Sh(tmp.path(), "roster keygen --member Bad --out x").code, 2);
  CmdResult r = Sh(tmp.path(), "roster verify --in missing.json");
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.output, HasSubstr("missing.json"));
  testing::WriteFile(tmp.Join("bad.spec"), "federation: \"x\"\nbogus: 1\n");
  r = Sh(tmp.path(), "roster draft --spec bad.spec --out out.json");
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.output, HasSubstr("bad.spec:2:"));
  testing::WriteFile(tmp.Join("key.spec"),
                     "federation: \"x\" version: 1 threshold: 1\n"
                     "members { name: \"a.cz\" member_key_pem: \"@nope.pub\" }\n");
  r = Sh(tmp.path(), "roster draft --spec key.spec --out out.json");
  EXPECT_EQ(r.code, 1);
  EXPECT_THAT(r.output, HasSubstr("member a.cz member_key_pem"));
}

}  // namespace
}  // namespace watchfloor::certs
