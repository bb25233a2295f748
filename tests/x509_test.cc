// Tests for certs/x509.h: minting member CAs, node and client certificates,
// mapping peer certificates to roster identities (and each rejection), the
// key/cert files, what the openssl CLI sees, and `watchfloor certs`.
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <optional>
#include <tuple>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "certs/keys.h"
#include "certs/roster.h"
#include "certs/x509.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"
#include "watchfloor/v1/roster.pb.h"

namespace watchfloor::certs {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// Simulated time: every check takes `now` from the caller.
const absl::Time kNow = absl::FromUnixSeconds(1798761600);  // 2027-01-01
const absl::Time kYearAgo = kNow - absl::Hours(24 * 365);
const absl::Time kInAYear = kNow + absl::Hours(24 * 365);

KeyAndCert Must(absl::StatusOr<KeyAndCert> kc) {
  EXPECT_TRUE(kc.ok()) << kc.status();
  if (!kc.ok()) std::abort();
  return *std::move(kc);
}

// Two members, a.cz and b.cz, each with a CA and node n1; c.cz has a CA but
// is not in the roster.
struct Federation {
  KeyAndCert ca_a = Must(MintMemberCa("a.cz", kYearAgo, kInAYear));
  KeyAndCert ca_b = Must(MintMemberCa("b.cz", kYearAgo, kInAYear));
  KeyAndCert ca_c = Must(MintMemberCa("c.cz", kYearAgo, kInAYear));
  SigningKey key_a = SigningKey::Generate();
  SigningKey key_b = SigningKey::Generate();
  std::optional<Roster> roster;

  Federation() {
    v1::Roster r;
    r.set_federation("dns-cert");
    r.set_version(1);
    r.set_threshold(1);
    int port = 7441;
    for (auto [name, ca, key] : {std::make_tuple("a.cz", &ca_a, &key_a),
                                 std::make_tuple("b.cz", &ca_b, &key_b)}) {
      v1::RosterMember* m = r.add_members();
      m->set_name(name);
      m->set_member_key_pem(key->public_key().ToPem());
      m->set_ca_cert_pem(ca->cert_pem);
      v1::RosterNode* n = m->add_nodes();
      n->set_origin(absl::StrCat(name, "/n1"));
      n->set_signing_key_pem(SigningKey::Generate().public_key().ToPem());
      n->add_endpoints(absl::StrCat("127.0.0.1:", port++));
    }
    absl::StatusOr<v1::Envelope> env = MakeRosterDraft(r);
    EXPECT_TRUE(env.ok()) << env.status();
    absl::StatusOr<v1::Envelope> signed_env = SignRoster(*env, key_a);
    absl::StatusOr<Roster> verified = Roster::VerifyGenesis(*signed_env);
    EXPECT_TRUE(verified.ok()) << verified.status();
    roster.emplace(*std::move(verified));
  }
};

const Federation& Fed() {
  static const Federation* fed = new Federation();
  return *fed;
}

// A leaf with arbitrary SANs, issued by `ca`.
KeyAndCert Leaf(const KeyAndCert& ca, std::vector<std::string> uris,
                absl::Time not_before = kYearAgo, absl::Time not_after = kInAYear) {
  CertSpec spec;
  spec.common_name = "test leaf";
  spec.uri_sans = std::move(uris);
  spec.server_auth = true;
  spec.client_auth = true;
  spec.not_before = not_before;
  spec.not_after = not_after;
  return Must(MintCertificate(spec, &ca));
}

void ExpectRejected(const std::string& pem, const std::string& message,
                    absl::Time now = kNow) {
  absl::StatusOr<PeerIdentity> id = VerifyPeerCertificate(pem, *Fed().roster, now);
  ASSERT_EQ(id.status().code(), absl::StatusCode::kUnauthenticated) << id.status();
  EXPECT_THAT(std::string(id.status().message()), HasSubstr(message));
}

// ------------------------------------------------------------------ minting

TEST(MintTest, MemberCaIsSelfSignedCaNamingTheMember) {
  absl::StatusOr<CertInfo> info = DescribeCertificate(Fed().ca_a.cert_pem);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_TRUE(info->is_ca);
  EXPECT_TRUE(info->self_signed);
  EXPECT_EQ(info->subject, "CN=a.cz");
  EXPECT_EQ(info->common_name, "a.cz");
  EXPECT_EQ(info->uri_sans, std::vector<std::string>{"spiffe://watchfloor/a.cz"});
  EXPECT_EQ(info->not_before, kYearAgo);
  EXPECT_EQ(info->not_after, kInAYear);
  EXPECT_EQ(info->sha256_fingerprint.size(), 64u);
  EXPECT_EQ(ValidateMemberCa(Fed().ca_a.cert_pem, "a.cz"), absl::OkStatus());
  EXPECT_EQ(ValidateMemberCa(Fed().ca_a.cert_pem, "b.cz").code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(MintTest, NodeCertNamesNodeBySpiffeUriAndDnsName) {
  KeyAndCert node = Must(MintNodeCert(Fed().ca_a, "a.cz", "n1", kYearAgo, kInAYear));
  absl::StatusOr<CertInfo> info = DescribeCertificate(node.cert_pem);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_FALSE(info->is_ca);
  EXPECT_EQ(info->issuer, "CN=a.cz");
  EXPECT_EQ(info->subject, "CN=a.cz/n1");
  EXPECT_EQ(info->uri_sans, std::vector<std::string>{"spiffe://watchfloor/a.cz/n1"});
  EXPECT_EQ(info->dns_sans, std::vector<std::string>{"n1.a.cz.watchfloor"});
  EXPECT_EQ(NodeDnsName("a.cz", "n1"), "n1.a.cz.watchfloor");
  EXPECT_THAT(node.key_pem, StartsWith("-----BEGIN PRIVATE KEY-----"));
}

TEST(MintTest, ClientCertNamesClientBySpiffeUri) {
  KeyAndCert client = Must(MintClientCert(Fed().ca_a, "a.cz", "soc-bot", kYearAgo, kInAYear));
  absl::StatusOr<CertInfo> info = DescribeCertificate(client.cert_pem);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->uri_sans,
            std::vector<std::string>{"spiffe://watchfloor/a.cz/client/soc-bot"});
  EXPECT_TRUE(info->dns_sans.empty());
}

TEST(MintTest, RefusesAnotherMembersCaBadNamesAndEmptyValidity) {
  EXPECT_EQ(MintNodeCert(Fed().ca_b, "a.cz", "n1", kYearAgo, kInAYear).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MintClientCert(Fed().ca_b, "a.cz", "x", kYearAgo, kInAYear).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MintNodeCert(Fed().ca_a, "a.cz", "N1", kYearAgo, kInAYear).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(MintMemberCa("A.cz", kYearAgo, kInAYear).status().code(),
            absl::StatusCode::kInvalidArgument);
  absl::StatusOr<KeyAndCert> backwards = MintMemberCa("a.cz", kInAYear, kYearAgo);
  ASSERT_EQ(backwards.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(backwards.status().message()), HasSubstr("is not before not_after"));
  // A CA key that does not belong to the CA certificate.
  KeyAndCert mixed{Fed().ca_b.key_pem, Fed().ca_a.cert_pem};
  absl::StatusOr<KeyAndCert> bad = MintNodeCert(mixed, "a.cz", "n1", kYearAgo, kInAYear);
  ASSERT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()),
              HasSubstr("the CA key does not match the CA certificate"));
}

TEST(SpiffeIdTest, ParsesNodeAndClientIdsExactly) {
  absl::StatusOr<PeerIdentity> node = ParseSpiffeId("spiffe://watchfloor/nic.cz/prg1");
  ASSERT_TRUE(node.ok()) << node.status();
  EXPECT_EQ(node->member, "nic.cz");
  EXPECT_EQ(node->node, "prg1");
  EXPECT_FALSE(node->is_client);
  EXPECT_EQ(node->origin(), "nic.cz/prg1");
  absl::StatusOr<PeerIdentity> client =
      ParseSpiffeId("spiffe://watchfloor/nic.cz/client/soc-bot");
  ASSERT_TRUE(client.ok()) << client.status();
  EXPECT_EQ(client->member, "nic.cz");
  EXPECT_EQ(client->client, "soc-bot");
  EXPECT_TRUE(client->is_client);
  for (const char* bad : {"spiffe://watchfloor/nic.cz", "spiffe://watchfloor/nic.cz/prg1/",
                          "spiffe://watchfloor/nic.cz/PRG1", "spiffe://other/nic.cz/prg1",
                          "SPIFFE://watchfloor/nic.cz/prg1", "spiffe://watchfloor/nic.cz/x/y",
                          "spiffe://watchfloor/nic.cz/client/", "spiffe://watchfloor//prg1",
                          "spiffe://watchfloor/nic.cz/prg1?x=1", "https://nic.cz/prg1"}) {
    EXPECT_EQ(ParseSpiffeId(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

// ------------------------------------------------------- peer verification

TEST(VerifyPeerTest, AcceptsANodeOfTheRoster) {
  KeyAndCert node = Must(MintNodeCert(Fed().ca_b, "b.cz", "n1", kYearAgo, kInAYear));
  absl::StatusOr<PeerIdentity> id = VerifyPeerCertificate(node.cert_pem, *Fed().roster, kNow);
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(id->member, "b.cz");
  EXPECT_EQ(id->node, "n1");
  EXPECT_FALSE(id->is_client);
  EXPECT_EQ(id->spiffe_id, "spiffe://watchfloor/b.cz/n1");
  EXPECT_EQ(id->origin(), "b.cz/n1");
}

TEST(VerifyPeerTest, AcceptsAClientOfAMember) {
  KeyAndCert client = Must(MintClientCert(Fed().ca_a, "a.cz", "soc-bot", kYearAgo, kInAYear));
  absl::StatusOr<PeerIdentity> id =
      VerifyPeerCertificate(client.cert_pem, *Fed().roster, kNow);
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(id->member, "a.cz");
  EXPECT_EQ(id->client, "soc-bot");
  EXPECT_TRUE(id->is_client);
  EXPECT_EQ(id->origin(), "");
}

TEST(VerifyPeerTest, RejectsAConnectionWithoutCertificate) {
  ExpectRejected("", "no peer certificate");
  ExpectRejected("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
                 "peer certificate: not a PEM X.509 certificate");
}

TEST(VerifyPeerTest, RejectsACertificateFromACaNotInTheRoster) {
  // A rogue CA even uses the member's name.
  KeyAndCert rogue = Must(MintMemberCa("a.cz", kYearAgo, kInAYear));
  KeyAndCert node = Must(MintNodeCert(rogue, "a.cz", "n1", kYearAgo, kInAYear));
  ExpectRejected(node.cert_pem,
                 "certificate spiffe://watchfloor/a.cz/n1 (issuer CN=a.cz) was not issued "
                 "by the roster CA of member a.cz (CN=a.cz): its issuer is not in roster v1");
}

TEST(VerifyPeerTest, RejectsASanNamingAnotherMemberThanItsCa) {
  KeyAndCert forged = Leaf(Fed().ca_b, {"spiffe://watchfloor/a.cz/n1"});
  ExpectRejected(forged.cert_pem,
                 "certificate spiffe://watchfloor/a.cz/n1 (issuer CN=b.cz) was issued by "
                 "the CA of member b.cz, but its SAN names member a.cz");
  KeyAndCert forged_client = Leaf(Fed().ca_b, {"spiffe://watchfloor/a.cz/client/x"});
  ExpectRejected(forged_client.cert_pem, "was issued by the CA of member b.cz");
}

TEST(VerifyPeerTest, RejectsAnExpiredCertificate) {
  KeyAndCert node = Must(MintNodeCert(Fed().ca_a, "a.cz", "n1", kYearAgo,
                                      kNow - absl::Hours(1)));
  ExpectRejected(node.cert_pem,
                 "certificate spiffe://watchfloor/a.cz/n1 (issuer CN=a.cz) expired at "
                 "2026-12-31T23:00:00Z (checked at 2027-01-01T00:00:00Z)");
  // The same certificate was fine while it was valid.
  EXPECT_TRUE(VerifyPeerCertificate(node.cert_pem, *Fed().roster, kNow - absl::Hours(2)).ok());
}

TEST(VerifyPeerTest, RejectsANotYetValidCertificate) {
  KeyAndCert node = Must(MintNodeCert(Fed().ca_a, "a.cz", "n1", kNow + absl::Hours(1),
                                      kInAYear));
  ExpectRejected(node.cert_pem,
                 "certificate spiffe://watchfloor/a.cz/n1 (issuer CN=a.cz) is not valid "
                 "before 2027-01-01T01:00:00Z (checked at 2027-01-01T00:00:00Z)");
}

TEST(VerifyPeerTest, RejectsEverythingOnceTheMemberCaExpired) {
  KeyAndCert node = Must(MintNodeCert(Fed().ca_a, "a.cz", "n1", kYearAgo, kInAYear));
  ExpectRejected(node.cert_pem, "the CA of member a.cz expired at", kInAYear + absl::Hours(1));
}

TEST(VerifyPeerTest, RejectsANodeNotInTheRoster) {
  KeyAndCert node = Must(MintNodeCert(Fed().ca_a, "a.cz", "n9", kYearAgo, kInAYear));
  ExpectRejected(node.cert_pem,
                 "certificate spiffe://watchfloor/a.cz/n9 (issuer CN=a.cz) names node "
                 "a.cz/n9, which is not a node of member a.cz in roster v1");
}

TEST(VerifyPeerTest, RejectsAMemberNotInTheRoster) {
  KeyAndCert node = Must(MintNodeCert(Fed().ca_c, "c.cz", "n1", kYearAgo, kInAYear));
  ExpectRejected(node.cert_pem,
                 "certificate spiffe://watchfloor/c.cz/n1 (issuer CN=c.cz) names member "
                 "c.cz, which is not in roster v1");
  KeyAndCert client = Must(MintClientCert(Fed().ca_c, "c.cz", "x", kYearAgo, kInAYear));
  ExpectRejected(client.cert_pem, "names member c.cz, which is not in roster v1");
}

TEST(VerifyPeerTest, RejectsACertificateWithoutSpiffeSan) {
  ExpectRejected(Leaf(Fed().ca_a, {}).cert_pem,
                 "certificate CN=test leaf (issuer CN=a.cz) has 0 URI SANs; a watchfloor "
                 "identity is exactly one URI SAN");
  ExpectRejected(Leaf(Fed().ca_a, {"spiffe://elsewhere/a.cz/n1"}).cert_pem,
                 "URI SAN \"spiffe://elsewhere/a.cz/n1\" is not a spiffe://watchfloor/ ID");
}

TEST(VerifyPeerTest, RejectsACertificateWithTwoSans) {
  ExpectRejected(
      Leaf(Fed().ca_a, {"spiffe://watchfloor/a.cz/n1", "spiffe://watchfloor/a.cz/n2"}).cert_pem,
      "has 2 URI SANs (spiffe://watchfloor/a.cz/n1, spiffe://watchfloor/a.cz/n2)");
  ExpectRejected(
      Leaf(Fed().ca_a, {"spiffe://watchfloor/a.cz/n1", "https://a.cz/"}).cert_pem,
      "has 2 URI SANs");
}

TEST(VerifyPeerTest, RejectsTheMemberCaItselfAndCaLeaves) {
  ExpectRejected(Fed().ca_a.cert_pem,
                 "URI SAN \"spiffe://watchfloor/a.cz\" has the wrong shape");
  CertSpec spec;
  spec.common_name = "sub";
  spec.uri_sans = {"spiffe://watchfloor/a.cz/n1"};
  spec.is_ca = true;
  spec.not_before = kYearAgo;
  spec.not_after = kInAYear;
  ExpectRejected(Must(MintCertificate(spec, &Fed().ca_a)).cert_pem,
                 "is a CA certificate, not a node or client one");
}

TEST(VerifyPeerTest, RejectsANodeCertificateLimitedToClientAuth) {
  CertSpec spec;
  spec.common_name = "a.cz/n1";
  spec.uri_sans = {"spiffe://watchfloor/a.cz/n1"};
  spec.client_auth = true;
  spec.not_before = kYearAgo;
  spec.not_after = kInAYear;
  ExpectRejected(Must(MintCertificate(spec, &Fed().ca_a)).cert_pem,
                 "is a node identity but its extendedKeyUsage does not allow both "
                 "serverAuth and clientAuth");
}

TEST(VerifyPeerTest, CaBundleHoldsEveryMemberCa) {
  const std::string bundle = Fed().roster->CaBundlePem();
  EXPECT_THAT(bundle, HasSubstr(Fed().ca_a.cert_pem));
  EXPECT_THAT(bundle, HasSubstr(Fed().ca_b.cert_pem));
}

// -------------------------------------------------------------------- files

mode_t ModeOf(const std::string& path) {
  struct stat st;
  EXPECT_EQ(stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

TEST(KeyFilesTest, SaveWritesPrivateKeyOwnerOnlyAndNeverOverwrites) {
  testing::TempDir tmp;
  KeyAndCert node = Must(MintNodeCert(Fed().ca_a, "a.cz", "n1", kYearAgo, kInAYear));
  ASSERT_EQ(SaveKeyAndCert(node, tmp.Join("node.key"), tmp.Join("node.crt")),
            absl::OkStatus());
  EXPECT_EQ(ModeOf(tmp.Join("node.key")), 0600u);
  EXPECT_EQ(ModeOf(tmp.Join("node.crt")), 0644u);
  EXPECT_EQ(SaveKeyAndCert(node, tmp.Join("other.key"), tmp.Join("node.crt")).code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_NE(access(tmp.Join("other.key").c_str(), F_OK), 0);  // nothing half-written

  absl::StatusOr<KeyAndCert> loaded = LoadKeyAndCert(tmp.Join("node.key"), tmp.Join("node.crt"));
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->cert_pem, node.cert_pem);
  EXPECT_EQ(loaded->key_pem, node.key_pem);
}

TEST(KeyFilesTest, LoadRefusesLooseModesMissingFilesAndMismatchedKeys) {
  testing::TempDir tmp;
  KeyAndCert node = Must(MintNodeCert(Fed().ca_a, "a.cz", "n1", kYearAgo, kInAYear));
  ASSERT_EQ(SaveKeyAndCert(node, tmp.Join("node.key"), tmp.Join("node.crt")),
            absl::OkStatus());
  EXPECT_EQ(LoadKeyAndCert(tmp.Join("nope.key"), tmp.Join("node.crt")).status().code(),
            absl::StatusCode::kNotFound);
  testing::WriteFile(tmp.Join("other.crt"), Fed().ca_b.cert_pem);
  absl::StatusOr<KeyAndCert> mismatch = LoadKeyAndCert(tmp.Join("node.key"), tmp.Join("other.crt"));
  ASSERT_EQ(mismatch.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(mismatch.status().message()), HasSubstr("does not match certificate"));
  chmod(tmp.Join("node.key").c_str(), 0640);
  absl::StatusOr<KeyAndCert> loose = LoadKeyAndCert(tmp.Join("node.key"), tmp.Join("node.crt"));
  ASSERT_EQ(loose.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(loose.status().message()),
              HasSubstr(absl::StrCat("(mode 0640); run chmod 600 ", tmp.Join("node.key"))));
}

TEST(KeyMatchTest, KeyOfTheCertificateMatches) {
  KeyAndCert node = Must(MintNodeCert(Fed().ca_a, "a.cz", "n1", kYearAgo, kInAYear));
  EXPECT_EQ(CheckKeyMatchesCertificate(node.key_pem, node.cert_pem), absl::OkStatus());
}

TEST(KeyMatchTest, AnotherCertificatesKeyIsRefused) {
  KeyAndCert n1 = Must(MintNodeCert(Fed().ca_a, "a.cz", "n1", kYearAgo, kInAYear));
  KeyAndCert n2 = Must(MintNodeCert(Fed().ca_a, "a.cz", "n2", kYearAgo, kInAYear));
  EXPECT_EQ(CheckKeyMatchesCertificate(n2.key_pem, n1.cert_pem),
            absl::InvalidArgumentError(
                "the private key does not match the certificate's public key"));
}

TEST(KeyMatchTest, UnparsableKeyOrCertificateIsNamed) {
  KeyAndCert n1 = Must(MintNodeCert(Fed().ca_a, "a.cz", "n1", kYearAgo, kInAYear));
  absl::Status key = CheckKeyMatchesCertificate(n1.cert_pem, n1.cert_pem);
  EXPECT_EQ(key.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(key.message()),
              HasSubstr("the private key: not an unencrypted PEM PKCS#8 private key"));
  absl::Status cert = CheckKeyMatchesCertificate(n1.key_pem, "garbage");
  EXPECT_EQ(cert.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(cert.message()),
              HasSubstr("the certificate: not a PEM X.509 certificate"));
}

// ------------------------------------------------- the openssl CLI's view

struct CmdResult {
  int code = -1;
  std::string output;
};

CmdResult Sh(const std::string& dir, const std::string& cmd) {
  CmdResult run;
  FILE* p = popen(absl::StrCat("cd '", dir, "' && ", cmd, " 2>&1").c_str(), "r");
  if (p == nullptr) return run;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) run.output.append(buf, n);
  const int status = pclose(p);
  run.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

TEST(OpensslCliTest, VerifiesOurChainsAndShowsOurSans) {
  if (Sh("/", "openssl version").code != 0) GTEST_SKIP() << "no openssl CLI";
  testing::TempDir tmp;
  const absl::Time now = absl::Now();
  KeyAndCert ca = Must(MintMemberCa("a.cz", now - absl::Hours(1), now + absl::Hours(24)));
  KeyAndCert node = Must(MintNodeCert(ca, "a.cz", "n1", now - absl::Hours(1), now + absl::Hours(24)));
  KeyAndCert client =
      Must(MintClientCert(ca, "a.cz", "soc-bot", now - absl::Hours(1), now + absl::Hours(24)));
  KeyAndCert other = Must(MintMemberCa("b.cz", now - absl::Hours(1), now + absl::Hours(24)));
  ASSERT_EQ(SaveKeyAndCert(ca, tmp.Join("ca.key"), tmp.Join("ca.crt")), absl::OkStatus());
  ASSERT_EQ(SaveKeyAndCert(node, tmp.Join("node.key"), tmp.Join("node.crt")), absl::OkStatus());
  ASSERT_EQ(SaveKeyAndCert(client, tmp.Join("client.key"), tmp.Join("client.crt")),
            absl::OkStatus());
  testing::WriteFile(tmp.Join("other.crt"), other.cert_pem);

  CmdResult r = Sh(tmp.path(), "openssl verify -CAfile ca.crt node.crt");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(r.output, "node.crt: OK\n");
  r = Sh(tmp.path(), "openssl verify -purpose sslserver -CAfile ca.crt node.crt");
  EXPECT_EQ(r.code, 0) << r.output;
  r = Sh(tmp.path(), "openssl verify -purpose sslclient -CAfile ca.crt node.crt client.crt");
  EXPECT_EQ(r.code, 0) << r.output;
  r = Sh(tmp.path(), "openssl verify -purpose sslserver -CAfile ca.crt client.crt");
  EXPECT_NE(r.code, 0) << r.output;  // clientAuth only
  r = Sh(tmp.path(), "openssl verify -CAfile other.crt node.crt");
  EXPECT_NE(r.code, 0) << r.output;

  r = Sh(tmp.path(), "openssl x509 -noout -ext subjectAltName -in node.crt");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(r.output, "X509v3 Subject Alternative Name: \n"
                      "    URI:spiffe://watchfloor/a.cz/n1, DNS:n1.a.cz.watchfloor\n");
  r = Sh(tmp.path(), "openssl x509 -noout -ext subjectAltName -in client.crt");
  EXPECT_THAT(r.output, HasSubstr("URI:spiffe://watchfloor/a.cz/client/soc-bot\n"));
  r = Sh(tmp.path(), "openssl x509 -noout -ext basicConstraints,keyUsage -in ca.crt");
  EXPECT_THAT(r.output, HasSubstr("critical\n    CA:TRUE, pathlen:0\n"));
  EXPECT_THAT(r.output, HasSubstr("Certificate Sign, CRL Sign"));
  r = Sh(tmp.path(), "openssl x509 -noout -ext extendedKeyUsage -in node.crt");
  EXPECT_THAT(r.output,
              HasSubstr("TLS Web Server Authentication, TLS Web Client Authentication"));
  r = Sh(tmp.path(), "openssl pkey -noout -text -in node.key");
  EXPECT_EQ(r.code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("NIST CURVE: P-256"));
}

// ------------------------------------------------------- `watchfloor certs`

TEST(CertsCliTest, MintsCaNodeAndClientThatVerify) {
  // Absolute: the commands run in the temp dir (under Bazel the path is
  // relative to the runfiles root).
  const std::string wf = std::filesystem::absolute(testing::WatchfloorBinary()).string();
  ASSERT_EQ(access(wf.c_str(), X_OK), 0) << "build the watchfloor binary first: " << wf;
  testing::TempDir tmp;
  const std::string w = absl::StrCat("'", wf, "' ");
  CmdResult r = Sh(tmp.path(), w + "certs ca --member a.cz --out a");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("uri san     spiffe://watchfloor/a.cz"));
  EXPECT_EQ(ModeOf(tmp.Join("a/ca.key")), 0600u);
  r = Sh(tmp.path(), w + "certs node --ca-dir a --origin a.cz/n1 --out a/n1");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_THAT(r.output, HasSubstr("dns san     n1.a.cz.watchfloor"));
  EXPECT_EQ(ModeOf(tmp.Join("a/n1/node.key")), 0600u);
  r = Sh(tmp.path(), w + "certs client --ca-dir a --member a.cz --name soc-bot --out a/bot");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(ModeOf(tmp.Join("a/bot/client.key")), 0600u);
  r = Sh(tmp.path(), "openssl verify -CAfile a/ca.crt a/n1/node.crt a/bot/client.crt");
  EXPECT_EQ(r.code, 0) << r.output;

  // Never overwrites; refuses another member's CA; usage errors exit 2.
  r = Sh(tmp.path(), w + "certs node --ca-dir a --origin a.cz/n1 --out a/n1");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr("already exists; refusing to overwrite it"));
  r = Sh(tmp.path(), w + "certs node --ca-dir a --origin b.cz/n1 --out b");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr("error: CA a/ca.crt cannot issue for member b.cz"));
  EXPECT_EQ(Sh(tmp.path(), w + "certs node --ca-dir a --origin a.cz --out x").code, 2);
  EXPECT_EQ(Sh(tmp.path(), w + "certs ca --member a.cz --out y --days 0").code, 2);
  EXPECT_EQ(Sh(tmp.path(), w + "certs").code, 2);
  EXPECT_EQ(Sh(tmp.path(), w + "certs --help").code, 0);
  EXPECT_EQ(Sh(tmp.path(), w + "certs bogus").code, 2);
  chmod(tmp.Join("a/ca.key").c_str(), 0644);
  r = Sh(tmp.path(), w + "certs node --ca-dir a --origin a.cz/n2 --out a/n2");
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr("run chmod 600 a/ca.key"));
}

}  // namespace
}  // namespace watchfloor::certs
