// A node's own TLS identity, checked at start (the certificate must name
// this node's origin; the key must belong to the certificate), the CLI's
// --tls-cert/--tls-key pair, and the one log line a refused call leaves in
// a real node's stderr.
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "certs/x509.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "node/handshake_verifier.h"
#include "node/node_server.h"
#include "tests/federation_util.h"
#include "tests/test_util.h"
#include "watchfloor/v1/federation.grpc.pb.h"
#include "watchfloor/v1/node.grpc.pb.h"

namespace watchfloor::testing {
namespace {

namespace v1 = ::watchfloor::v1;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;

// The start of a structured log line (log/log.h, JSON): what follows is the
// level, component, event and fields, in that order.
const std::string kTimeRe = "\\{\"time\":\"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z\",";

FederationOptions Members(int n, bool multi_process) {
  FederationOptions o;
  o.members = n;
  o.multi_process = multi_process;
  return o;
}

std::string UseOriginFix(const std::string& origin) {
  return absl::StrCat("; use the certificate and key minted for ", origin,
                      " (watchfloor certs node --origin ", origin, ")");
}

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

TEST(TlsIdentityStartTest, AnotherNodesCertificateIsRefusedNamingBothOrigins) {
  TestFederation fed(Members(2, false));
  ASSERT_TRUE(fed.ok());
  // m0's own signing key, but m1's node certificate and key.
  auto* tls = fed.config(0).mutable_tls();
  tls->set_cert_file(fed.member(1).node_cert_file);
  tls->set_key_file(fed.member(1).node_key_file);
  EXPECT_EQ(fed.StartNode(0),
            absl::FailedPreconditionError(absl::StrCat(
                "tls cert_file ", fed.member(1).node_cert_file,
                " is the certificate of m1.test/n1 (spiffe://watchfloor/m1.test/n1), "
                "but this node's origin is m0.test/n1",
                UseOriginFix("m0.test/n1"))));
  EXPECT_FALSE(Exists(fed.db_path(0)));  // refused before the store opened
}

TEST(TlsIdentityStartTest, ClientCertificateAsTheNodesCertificateIsRefused) {
  TestFederation fed(Members(1, false));
  ASSERT_TRUE(fed.ok());
  auto* tls = fed.config(0).mutable_tls();
  tls->set_cert_file(fed.member(0).client_cert_file);
  tls->set_key_file(fed.member(0).client_key_file);
  EXPECT_EQ(fed.StartNode(0),
            absl::FailedPreconditionError(absl::StrCat(
                "tls cert_file ", fed.member(0).client_cert_file,
                " is a client certificate (spiffe://watchfloor/m0.test/client/operator), "
                "but this node's origin is m0.test/n1",
                UseOriginFix("m0.test/n1"))));
}

TEST(TlsIdentityStartTest, KeyThatDoesNotMatchTheCertificateIsRefusedNamingBothFiles) {
  TestFederation fed(Members(2, false));
  ASSERT_TRUE(fed.ok());
  auto* tls = fed.config(0).mutable_tls();
  tls->set_key_file(fed.member(1).node_key_file);  // m0's certificate, m1's key
  EXPECT_EQ(fed.StartNode(0),
            absl::InvalidArgumentError(absl::StrCat(
                "tls key_file ", fed.member(1).node_key_file,
                " does not belong to tls cert_file ", fed.member(0).node_cert_file,
                " (the private key does not match the certificate's public key); "
                "configure the key written together with that certificate")));
  EXPECT_FALSE(Exists(fed.db_path(0)));
}

TEST(TlsIdentityStartTest, NodeProcessPrintsTheMismatchAndExits) {
  TestFederation fed(Members(2, true));
  ASSERT_TRUE(fed.ok());
  fed.config(0).mutable_tls()->set_key_file(fed.member(1).node_key_file);
  absl::Status st = fed.StartNode(0);
  EXPECT_FALSE(st.ok());
  EXPECT_THAT(fed.LogTail(0),
              HasSubstr(absl::StrCat("error: tls key_file ", fed.member(1).node_key_file,
                                     " does not belong to tls cert_file ",
                                     fed.member(0).node_cert_file)));
  EXPECT_THAT(fed.LogTail(0), ::testing::Not(HasSubstr("cannot listen")));
}

// Runs `argv` and returns (exit code, stderr).
std::pair<int, std::string> RunBinary(const std::vector<std::string>& argv, const TempDir& tmp) {
  const std::string err = tmp.Join("stderr.txt");
  pid_t pid = fork();
  if (pid == 0) {
    FILE* f = std::freopen(err.c_str(), "w", stderr);
    (void)f;
    FILE* out = std::freopen("/dev/null", "w", stdout);
    (void)out;
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execv(args[0], args.data());
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  std::ifstream in(err);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1,
          std::string(std::istreambuf_iterator<char>(in), {})};
}

TEST(TlsIdentityCliTest, MismatchedTlsKeyIsNamedWithBothFilesBeforeDialing) {
  TestFederation fed(Members(2, false));
  ASSERT_TRUE(fed.ok());
  const FederationMember& m0 = fed.member(0);
  const FederationMember& m1 = fed.member(1);
  // No node listens on port 1: the error must come before any dialing.
  auto [code, err] = RunBinary({WatchfloorBinary(), "identity", "--node", "127.0.0.1:1",
                          "--tls-cert", m0.client_cert_file, "--tls-key", m1.client_key_file,
                          "--tls-ca", m0.ca_cert_file, "--node-origin", m0.origin},
                         fed.dir());
  EXPECT_EQ(code, 1);
  EXPECT_EQ(err, absl::StrCat("error: --tls-key ", m1.client_key_file,
                              " does not belong to --tls-cert ", m0.client_cert_file,
                              " (the private key does not match the certificate's public "
                              "key); give the key written together with that certificate\n"));
}

// ---------------------------------------------------------------- logging

// Refusals logged by node 0 of a two-node multi-process federation.
class RefusalLogTest : public ::testing::Test {
 protected:
  RefusalLogTest() : fed_(Members(2, true)) {}
  void SetUp() override {
    ASSERT_TRUE(fed_.ok());
    ASSERT_EQ(fed_.StartAll(), absl::OkStatus());
    now_ = absl::Now();
  }

  std::string Log() {
    std::ifstream in(fed_.member(0).log_file);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  // The "refused" lines node 0 logged after `offset`, once they stop coming.
  std::vector<std::string> RefusalsSince(size_t offset) {
    std::vector<std::string> lines;
    for (int i = 0; i < 40; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      lines.clear();
      for (absl::string_view l : absl::StrSplit(Log().substr(offset), '\n')) {
        if (l.find("refused") != absl::string_view::npos) lines.emplace_back(l);
      }
      if (!lines.empty() && i >= 4) break;  // and nothing more for 200 ms
    }
    return lines;
  }

  TestFederation fed_;
  absl::Time now_;
};

TEST_F(RefusalLogTest, AnotherMembersClientPublishingLeavesOneLineNamingPeerAndReason) {
  const size_t offset = Log().size();
  auto stub = v1::Node::NewStub(fed_.ChannelAs(&fed_.member(1).client_tls, 0));
  v1::PublishRequest req;
  *req.mutable_alert() = SampleDraft(1);
  v1::PublishResponse resp;
  grpc::ClientContext ctx;
  grpc::Status st = stub->Publish(&ctx, req, &resp);
  ASSERT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED);
  std::vector<std::string> lines = RefusalsSince(offset);
  ASSERT_EQ(lines.size(), 1u) << Log();
  EXPECT_THAT(lines[0],
              MatchesRegex(kTimeRe + "\"level\":\"warn\",\"component\":\"node\","
                           "\"event\":\"call_refused\",\"kind\":\"publish\","
                           "\"peer\":\"ipv4:127\\.0\\.0\\.1:[0-9]+\","
                           "\"identity\":\"spiffe://watchfloor/m1\\.test/client/operator\","
                           "\"code\":\"PERMISSION_DENIED\","
                           "\"reason\":\"spiffe://watchfloor/m1\\.test/client/operator may not "
                           "publish through this node: only client certificates of member "
                           "m0\\.test may\"\\}"));
  EXPECT_EQ(fed_.StoredAlertCount(0), 0);
}

// A client with a valid certificate can cause refusals as fast as it sends
// calls: at most 20 call_refused lines a second, and the rest counted.
TEST_F(RefusalLogTest, AFloodOfRefusedCallsIsCappedAndCounted) {
  const size_t offset = Log().size();
  auto stub = v1::Node::NewStub(fed_.ChannelAs(&fed_.member(1).client_tls, 0));
  auto publish = [&] {
    v1::PublishRequest req;
    *req.mutable_alert() = SampleDraft(1);
    v1::PublishResponse resp;
    grpc::ClientContext ctx;
    return stub->Publish(&ctx, req, &resp).error_code();
  };
  constexpr int kFlood = 200;
  for (int i = 0; i < kFlood; ++i) ASSERT_EQ(publish(), grpc::StatusCode::PERMISSION_DENIED);
  // The count of those left out comes with the first refusal of a later
  // second.
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  ASSERT_EQ(publish(), grpc::StatusCode::PERMISSION_DENIED);
  std::vector<std::string> lines = RefusalsSince(offset);
  uint64_t written = 0, counted = 0, count_lines = 0;
  for (const std::string& l : lines) {
    if (absl::StrContains(l, "\"event\":\"call_refused\"")) {
      ++written;
    } else if (absl::StrContains(l, "\"event\":\"calls_refused_not_logged\"")) {
      ++count_lines;
      uint64_t n = 0;
      const size_t at = l.find("\"count\":");
      ASSERT_NE(at, std::string::npos) << l;
      ASSERT_TRUE(absl::SimpleAtoi(l.substr(at + 8, l.find(',', at) - at - 8), &n)) << l;
      EXPECT_THAT(l, HasSubstr("\"max_lines_per_second\":20}"));
      counted += n;
    } else {
      ADD_FAILURE() << "unexpected line: " << l;
    }
  }
  EXPECT_GE(count_lines, 1u) << Log().substr(offset);
  EXPECT_LT(written, static_cast<uint64_t>(kFlood)) << "the limit held";
  EXPECT_EQ(written + counted, static_cast<uint64_t>(kFlood + 1)) << "every refusal is accounted for";
  EXPECT_EQ(fed_.StoredAlertCount(0), 0);
}

TEST_F(RefusalLogTest, ClientCertificateOnTheFederationServiceLeavesOneLine) {
  const size_t offset = Log().size();
  auto stub = v1::Federation::NewStub(fed_.ChannelAs(&fed_.member(0).client_tls, 0));
  v1::FrontierMessage req, resp;
  grpc::ClientContext ctx;
  ASSERT_EQ(stub->ExchangeFrontier(&ctx, req, &resp).error_code(),
            grpc::StatusCode::PERMISSION_DENIED);
  std::vector<std::string> lines = RefusalsSince(offset);
  ASSERT_EQ(lines.size(), 1u) << Log();
  EXPECT_THAT(lines[0],
              MatchesRegex(kTimeRe + "\"level\":\"warn\",\"component\":\"node\","
                           "\"event\":\"call_refused\",\"kind\":\"federation\","
                           "\"peer\":\"ipv4:127\\.0\\.0\\.1:[0-9]+\","
                           "\"identity\":\"spiffe://watchfloor/m0\\.test/client/operator\","
                           "\"code\":\"PERMISSION_DENIED\","
                           "\"reason\":\".* is a client certificate; only roster nodes may "
                           "gossip\"\\}"));
}

TEST_F(RefusalLogTest, ImpersonationLeavesOneLineNamingTheClaimedIdentity) {
  // m1's CA (in the roster) vouching for a client of m0.
  certs::CertSpec spec;
  spec.common_name = "m0.test/client/mallory";
  spec.uri_sans = {certs::ClientSpiffeId("m0.test", "mallory")};
  spec.client_auth = true;
  spec.not_before = now_ - absl::Hours(1);
  spec.not_after = now_ + absl::Hours(1);
  absl::StatusOr<certs::KeyAndCert> mallory =
      certs::MintCertificate(spec, &fed_.member(1).ca);
  ASSERT_TRUE(mallory.ok()) << mallory.status();
  const size_t offset = Log().size();
  auto stub = v1::Node::NewStub(fed_.ChannelAs(&*mallory, 0));
  v1::Identity id;
  grpc::ClientContext ctx;
  ASSERT_EQ(stub->GetIdentity(&ctx, v1::GetIdentityRequest(), &id).error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  std::vector<std::string> lines = RefusalsSince(offset);
  ASSERT_EQ(lines.size(), 1u) << Log();
  EXPECT_THAT(lines[0],
              MatchesRegex(kTimeRe + "\"level\":\"warn\",\"component\":\"node\","
                           "\"event\":\"call_refused\",\"kind\":\"read\","
                           "\"peer\":\"ipv4:127\\.0\\.0\\.1:[0-9]+\","
                           "\"identity\":\"spiffe://watchfloor/m0\\.test/client/mallory\","
                           "\"code\":\"UNAUTHENTICATED\",\"reason\":\".*\"\\}"));
}

// A handshake refused before any rpc: the node logs what the peer claimed.
TEST_F(RefusalLogTest, HandshakeWithoutAClientCertificateLeavesOneLine) {
  const size_t offset = Log().size();
  {
    auto stub = v1::Node::NewStub(fed_.ChannelAs(nullptr, 0));
    v1::Identity id;
    grpc::ClientContext ctx;
    ASSERT_EQ(stub->GetIdentity(&ctx, v1::GetIdentityRequest(), &id).error_code(),
              grpc::StatusCode::UNAVAILABLE);
  }  // the channel goes: no reconnection attempts add lines
  std::vector<std::string> lines = RefusalsSince(offset);
  ASSERT_EQ(lines.size(), 1u) << Log();
  EXPECT_THAT(lines[0],
              MatchesRegex(kTimeRe + "\"level\":\"warn\",\"component\":\"tls\","
                           "\"event\":\"tls_handshake_refused\",\"identity\":\"no certificate\","
                           "\"reason\":\"no client certificate\"\\}"));
}

TEST_F(RefusalLogTest, HandshakeWithACertificateFromACaNotInTheRosterLeavesOneLine) {
  absl::StatusOr<certs::KeyAndCert> ca =
      certs::MintMemberCa("m0.test", now_ - absl::Hours(1), now_ + absl::Hours(1));
  ASSERT_TRUE(ca.ok()) << ca.status();
  absl::StatusOr<certs::KeyAndCert> eve = certs::MintClientCert(
      *ca, "m0.test", "eve", now_ - absl::Hours(1), now_ + absl::Hours(1));
  ASSERT_TRUE(eve.ok()) << eve.status();
  const size_t offset = Log().size();
  {
    auto stub = v1::Node::NewStub(fed_.ChannelAs(&*eve, 0));
    v1::Identity id;
    grpc::ClientContext ctx;
    ASSERT_EQ(stub->GetIdentity(&ctx, v1::GetIdentityRequest(), &id).error_code(),
              grpc::StatusCode::UNAVAILABLE);
  }
  std::vector<std::string> lines = RefusalsSince(offset);
  ASSERT_EQ(lines.size(), 1u) << Log();
  EXPECT_THAT(lines[0],
              MatchesRegex(kTimeRe + "\"level\":\"warn\",\"component\":\"tls\","
                           "\"event\":\"tls_handshake_refused\","
                           "\"identity\":\"spiffe://watchfloor/m0\\.test/client/eve "
                           "sha256:[0-9a-f]{16}\",\"reason\":\"unable to get local issuer "
                           "certificate; the certificate must be issued by a CA this node "
                           "trusts .*\"\\}"));
  EXPECT_EQ(fed_.StoredAlertCount(0), 0);
}

// ------------------------------------------------------- trust at run time

class HandshakeTrustTest : public ::testing::Test {
 protected:
  void SetUp() override {
    now_ = absl::Now();
    for (const char* m : {"a.test", "b.test"}) {
      absl::StatusOr<certs::KeyAndCert> ca =
          certs::MintMemberCa(m, now_ - absl::Hours(1), now_ + absl::Hours(1));
      ASSERT_TRUE(ca.ok()) << ca.status();
      absl::StatusOr<certs::KeyAndCert> client = certs::MintClientCert(
          *ca, m, "ops", now_ - absl::Hours(1), now_ + absl::Hours(1));
      ASSERT_TRUE(client.ok()) << client.status();
      cas_.push_back(*ca);
      clients_.push_back(*client);
    }
  }
  std::shared_ptr<const certs::TrustBundle> Bundle(const std::string& pem) {
    absl::StatusOr<std::shared_ptr<const certs::TrustBundle>> b =
        certs::TrustBundle::FromPem(pem);
    EXPECT_TRUE(b.ok()) << b.status();
    return b.ok() ? *b : nullptr;
  }

  absl::Time now_;
  std::vector<certs::KeyAndCert> cas_, clients_;
};

TEST_F(HandshakeTrustTest, SwappingTheBundleChangesWhoMayConnect) {
  node::HandshakeTrust trust(Bundle(cas_[0].cert_pem), node::Clock::Real());
  EXPECT_TRUE(trust.Check(clients_[0].cert_pem).ok());
  EXPECT_EQ(trust.Check(clients_[1].cert_pem).code(), absl::StatusCode::kUnauthenticated);
  // b.test admitted, a.test removed.
  trust.Set(Bundle(cas_[1].cert_pem));
  EXPECT_EQ(trust.Check(clients_[0].cert_pem).code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(trust.Check(clients_[1].cert_pem).ok());
  trust.Set(Bundle(cas_[0].cert_pem + cas_[1].cert_pem));
  EXPECT_TRUE(trust.Check(clients_[0].cert_pem).ok());
  EXPECT_TRUE(trust.Check(clients_[1].cert_pem).ok());
  EXPECT_EQ(trust.refused(), 2u);
}

TEST_F(HandshakeTrustTest, RefusesWhatOpenSslWouldRefuse) {
  node::HandshakeTrust trust(Bundle(cas_[0].cert_pem), node::Clock::Real());
  EXPECT_EQ(trust.Check("").code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(trust.Check("not a certificate").code(), absl::StatusCode::kUnauthenticated);
  // An expired client certificate does not chain at `now`.
  absl::StatusOr<certs::KeyAndCert> old = certs::MintClientCert(
      cas_[0], "a.test", "old", now_ - absl::Hours(3), now_ - absl::Hours(2));
  ASSERT_TRUE(old.ok()) << old.status();
  absl::Status s = trust.Check(old->cert_pem);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("certificate has expired"));
  // A server-only certificate may not be a TLS client.
  certs::CertSpec spec;
  spec.common_name = "a.test/n1";
  spec.uri_sans = {certs::NodeSpiffeId("a.test", "n1")};
  spec.server_auth = true;
  spec.not_before = now_ - absl::Hours(1);
  spec.not_after = now_ + absl::Hours(1);
  absl::StatusOr<certs::KeyAndCert> server_only = certs::MintCertificate(spec, &cas_[0]);
  ASSERT_TRUE(server_only.ok()) << server_only.status();
  EXPECT_EQ(trust.Check(server_only->cert_pem).code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(trust.refused(), 4u);
}

TEST(TrustBundleTest, RefusesABundleWithoutCertificates) {
  EXPECT_EQ(certs::TrustBundle::FromPem("").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(certs::TrustBundle::FromPem("-----BEGIN CERTIFICATE-----\nAAAA\n"
                                        "-----END CERTIFICATE-----\n")
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace watchfloor::testing
