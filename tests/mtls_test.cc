// Mutual TLS as a federation node enforces it, on real TLS connections to a
// real node: each rejection with its exact status code, and nothing stored.
// Also the dialing side (a node refuses to gossip with a server whose
// certificate another member's CA issued for the peer), and the start-up
// refusals: a roster short of signatures, plaintext off loopback, a
// federation without TLS.
#include <sys/wait.h>

#include <atomic>
#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "certs/dsse.h"
#include "certs/x509.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "node/config.h"
#include "tests/federation_util.h"
#include "tests/test_util.h"

namespace watchfloor::testing {
namespace {

namespace v1 = ::watchfloor::v1;

grpc::ClientContext* WithDeadline(grpc::ClientContext* ctx) {
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  return ctx;
}

// Three members (threshold 2), all nodes running; m0's node is the one
// attacked. Certificates are minted per test with the real minting code.
class MtlsTest : public ::testing::Test {
 protected:
  MtlsTest() : fed_(MakeOptions()) {}
  static FederationOptions MakeOptions() {
    FederationOptions o;
    o.members = 3;
    o.anti_entropy_interval_ms = 500;
    return o;
  }
  void SetUp() override {
    ASSERT_TRUE(fed_.ok());
    ASSERT_TRUE(fed_.StartAll().ok());
    now_ = absl::Now();
  }

  // Publishes at node `target` presenting `identity` on a fresh channel.
  grpc::Status PublishAs(const certs::KeyAndCert* identity, int target) {
    auto stub = v1::Node::NewStub(fed_.ChannelAs(identity, target));
    v1::PublishRequest req;
    *req.mutable_alert() = SampleDraft(1);
    v1::PublishResponse resp;
    grpc::ClientContext ctx;
    return stub->Publish(WithDeadline(&ctx), req, &resp);
  }

  // Pushes probe_ (MakeProbe) to node `target` presenting `identity`: a
  // caller that got past authentication would have it stored.
  grpc::Status PushAs(const certs::KeyAndCert* identity, int target,
                      v1::PushResponse* resp = nullptr) {
    auto stub = v1::Federation::NewStub(fed_.ChannelAs(identity, target));
    v1::PushRequest req;
    *req.add_envelopes() = probe_;
    v1::PushResponse r;
    grpc::ClientContext ctx;
    grpc::Status st = stub->Push(WithDeadline(&ctx), req, &r);
    if (resp != nullptr) *resp = r;
    return st;
  }

  certs::KeyAndCert Mint(const certs::CertSpec& spec, const certs::KeyAndCert* issuer) {
    absl::StatusOr<certs::KeyAndCert> kc = certs::MintCertificate(spec, issuer);
    EXPECT_TRUE(kc.ok()) << kc.status();
    return kc.ok() ? *kc : certs::KeyAndCert();
  }

  certs::CertSpec Spec(const std::string& cn, const std::string& uri, bool node) {
    certs::CertSpec s;
    s.common_name = cn;
    s.uri_sans = {uri};
    s.client_auth = true;
    s.server_auth = node;
    s.not_before = now_ - absl::Hours(1);
    s.not_after = now_ + absl::Hours(1);
    return s;
  }

  // A valid alert signed by m2's node key (not stored anywhere yet), so a
  // push that got through authentication would store it.
  void MakeProbe() {
    absl::StatusOr<certs::SigningKey> key =
        certs::SigningKey::LoadPemFile(fed_.member(2).signing_key_file);
    ASSERT_TRUE(key.ok()) << key.status();
    v1::Alert a = SampleDraft(42);
    a.set_origin(fed_.origin(2));
    a.set_sequence(1);
    a.mutable_issued_at()->set_seconds(absl::ToUnixSeconds(now_));
    probe_ = SignAlert(a, *key);
  }

  // Nothing was stored anywhere, and no gossip counter moved at m0.
  void ExpectNothingStored() {
    for (int i = 0; i < fed_.size(); ++i) {
      EXPECT_EQ(fed_.StoredAlertCount(i), 0) << fed_.origin(i);
    }
    federation::Gossip::Stats s = fed_.gossip(0)->stats();
    EXPECT_EQ(s.received_new + s.received_dup + s.refused, 0u);
  }

  TestFederation fed_;
  absl::Time now_;
  v1::Envelope probe_;
};

TEST_F(MtlsTest, OwnMembersClientPublishesThroughItsNode) {
  v1::PublishResponse r;
  grpc::Status st = fed_.Publish(0, SampleDraft(1), &r);
  ASSERT_TRUE(st.ok()) << st.error_code() << " " << st.error_message();
  EXPECT_EQ(r.sequence(), 1u);
  EXPECT_EQ(fed_.StoredAlertCount(0), 1);
  ASSERT_TRUE(fed_.WaitForIds({r.id()}, absl::Seconds(20)));
}

TEST_F(MtlsTest, ConnectionWithoutClientCertificateFailsTheHandshake) {
  grpc::Status st = PublishAs(nullptr, 0);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE) << st.error_message();
  MakeProbe();
  EXPECT_EQ(PushAs(nullptr, 0).error_code(), grpc::StatusCode::UNAVAILABLE);
  ExpectNothingStored();
}

TEST_F(MtlsTest, CertificateFromACaNotInTheRosterFailsTheHandshake) {
  // A CA that calls itself m0.test, but is not the one in the roster.
  absl::StatusOr<certs::KeyAndCert> rogue_ca =
      certs::MintMemberCa(fed_.member(0).name, now_ - absl::Hours(1), now_ + absl::Hours(1));
  ASSERT_TRUE(rogue_ca.ok()) << rogue_ca.status();
  absl::StatusOr<certs::KeyAndCert> client = certs::MintClientCert(
      *rogue_ca, fed_.member(0).name, "operator", now_ - absl::Hours(1), now_ + absl::Hours(1));
  ASSERT_TRUE(client.ok()) << client.status();
  absl::StatusOr<certs::KeyAndCert> node = certs::MintNodeCert(
      *rogue_ca, fed_.member(0).name, "n1",
      now_ - absl::Hours(1), now_ + absl::Hours(1));
  ASSERT_TRUE(node.ok()) << node.status();

  grpc::Status st = PublishAs(&*client, 0);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE) << st.error_message();
  MakeProbe();
  st = PushAs(&*node, 1);  // posing as m0's node towards m1
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE) << st.error_message();
  ExpectNothingStored();
  EXPECT_EQ(fed_.gossip(1)->stats().received_new, 0u);
}

TEST_F(MtlsTest, CertificateWhoseSanNamesAnotherMemberThanItsCasIsUnauthenticated) {
  // m1's CA (in the roster) vouching for identities of m0.
  const certs::KeyAndCert& m1_ca = fed_.member(1).ca;
  certs::KeyAndCert client = Mint(
      Spec("m0.test/client/mallory", certs::ClientSpiffeId(fed_.member(0).name, "mallory"),
           false),
      &m1_ca);
  grpc::Status st = PublishAs(&client, 0);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED) << st.error_message();
  EXPECT_NE(st.error_message().find(fed_.member(0).name), std::string::npos)
      << st.error_message();

  certs::KeyAndCert node = Mint(
      Spec("m0.test/n1", certs::NodeSpiffeId(fed_.member(0).name, "n1"), true), &m1_ca);
  MakeProbe();
  st = PushAs(&node, 1);  // posing as m0's node towards m1
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED) << st.error_message();
  ExpectNothingStored();
  federation::Gossip::Stats s1 = fed_.gossip(1)->stats();
  EXPECT_EQ(s1.received_new + s1.received_dup + s1.refused, 0u);
}

TEST_F(MtlsTest, ExpiredCertificateFailsTheHandshake) {
  absl::StatusOr<certs::KeyAndCert> client =
      certs::MintClientCert(fed_.member(0).ca, fed_.member(0).name, "old",
                            now_ - absl::Hours(48), now_ - absl::Hours(24));
  ASSERT_TRUE(client.ok()) << client.status();
  grpc::Status st = PublishAs(&*client, 0);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE) << st.error_message();

  absl::StatusOr<certs::KeyAndCert> node =
      certs::MintNodeCert(fed_.member(1).ca, fed_.member(1).name, "n1",
                          now_ - absl::Hours(48), now_ - absl::Hours(24));
  ASSERT_TRUE(node.ok()) << node.status();
  MakeProbe();
  st = PushAs(&*node, 0);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE) << st.error_message();
  ExpectNothingStored();
}

TEST_F(MtlsTest, NodeCertificateForANodeNotInTheRosterIsUnauthenticated) {
  absl::StatusOr<certs::KeyAndCert> node =
      certs::MintNodeCert(fed_.member(1).ca, fed_.member(1).name, "n9",
                          now_ - absl::Hours(1), now_ + absl::Hours(1));
  ASSERT_TRUE(node.ok()) << node.status();
  MakeProbe();
  grpc::Status st = PushAs(&*node, 0);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED) << st.error_message();
  EXPECT_NE(st.error_message().find("n9"), std::string::npos) << st.error_message();
  ExpectNothingStored();
}

TEST_F(MtlsTest, ClientCertificateMayNotCallTheFederationService) {
  MakeProbe();
  // Even the node's own member's client.
  for (int as : {0, 1}) {
    grpc::Status st = PushAs(&fed_.member(as).client_tls, 0);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED)
        << fed_.member(as).name << ": " << st.error_message();
  }
  auto stub = v1::Federation::NewStub(fed_.ChannelAs(&fed_.member(0).client_tls, 0));
  v1::FrontierMessage theirs;
  grpc::ClientContext ctx;
  grpc::Status st =
      stub->ExchangeFrontier(WithDeadline(&ctx), v1::FrontierMessage(), &theirs);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED) << st.error_message();
  ExpectNothingStored();
}

TEST_F(MtlsTest, NodeMayNotCallItsOwnFederationService) {
  MakeProbe();
  grpc::Status st = PushAs(&fed_.member(0).node_tls, 0);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED) << st.error_message();
  ExpectNothingStored();
}

TEST_F(MtlsTest, AnotherMembersClientMayNotPublishOrIngestThroughThisNode) {
  grpc::Status st = PublishAs(&fed_.member(1).client_tls, 0);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED) << st.error_message();

  MakeProbe();
  auto stub = v1::Node::NewStub(fed_.ChannelAs(&fed_.member(2).client_tls, 0));
  v1::IngestRequest req;
  *req.mutable_envelope() = probe_;  // m2's own alert, but at m0's node
  v1::IngestResponse resp;
  grpc::ClientContext ctx;
  st = stub->Ingest(WithDeadline(&ctx), req, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED) << st.error_message();
  ExpectNothingStored();
}

TEST_F(MtlsTest, NodeCertificateMayNotPublish) {
  // A peer node may gossip but not publish as this node's member.
  for (int as : {0, 1}) {
    grpc::Status st = PublishAs(&fed_.member(as).node_tls, 0);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED)
        << fed_.member(as).name << ": " << st.error_message();
  }
  ExpectNothingStored();
}

// ------------------------------------------------------------- start-up

TEST(MtlsStartupTest, NodeRefusesARosterShortOfItsThresholdAndNamesTheMissingMembers) {
  FederationOptions o;
  o.members = 4;  // threshold 3
  TestFederation fed(o);
  ASSERT_TRUE(fed.ok());
  ASSERT_EQ(fed.roster_proto().threshold(), 3u);

  // Signed by m0 and m2 only: m1 and m3 are missing.
  absl::StatusOr<v1::Envelope> env = fed.SignedRoster({0, 2});
  ASSERT_TRUE(env.ok()) << env.status();
  const std::string short_roster = fed.dir().Join("roster-short.json");
  WriteFile(short_roster, certs::EnvelopeToJson(*env));
  fed.config(0).mutable_federation()->set_roster_file(short_roster);
  absl::Status st = fed.StartNode(0);
  EXPECT_EQ(st.code(), absl::StatusCode::kUnauthenticated) << st;
  for (const char* missing : {"m1.test", "m3.test"}) {
    EXPECT_NE(st.message().find(missing), std::string::npos) << st;
  }
  EXPECT_NE(st.message().find("missing"), std::string::npos) << st;
  EXPECT_NE(st.message().find(short_roster), std::string::npos) << st;
  EXPECT_FALSE(fed.running(0));

  // Three signatures, but m1's does not verify: invalid, named as such.
  env = fed.SignedRoster({0, 1, 2});
  ASSERT_TRUE(env.ok()) << env.status();
  const std::string m1_keyid = fed.member(1).member_key->public_key().KeyId();
  for (auto& sig : *env->mutable_signatures()) {
    if (sig.keyid() != m1_keyid) continue;
    std::string s = sig.sig();
    s[0] ^= 0x01;
    sig.set_sig(s);
  }
  const std::string bad_roster = fed.dir().Join("roster-bad-sig.json");
  WriteFile(bad_roster, certs::EnvelopeToJson(*env));
  fed.config(0).mutable_federation()->set_roster_file(bad_roster);
  st = fed.StartNode(0);
  EXPECT_EQ(st.code(), absl::StatusCode::kUnauthenticated) << st;
  EXPECT_NE(st.message().find("invalid m1.test"), std::string::npos) << st;
  EXPECT_FALSE(fed.running(0));
  EXPECT_EQ(fed.StoredAlertCount(0), -1);  // no store was even created

  // The properly signed roster starts.
  fed.config(0).mutable_federation()->set_roster_file(fed.roster_file());
  st = fed.StartNode(0);
  EXPECT_TRUE(st.ok()) << st;
}

// Runs `watchfloor node --config <path>`; returns its exit status and output.
int RunNode(const std::string& config, std::string* output) {
  std::string cmd = absl::StrCat("'", WatchfloorBinary(), "' node --config '", config,
                                 "' 2>&1 </dev/null");
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return -1;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) output->append(buf, n);
  int status = pclose(p);
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(MtlsStartupTest, PlaintextConfigOnANonLoopbackAddressIsRefused) {
  TempDir dir;
  certs::SigningKey key = certs::SigningKey::Generate();
  ASSERT_TRUE(key.SavePemFile(dir.Join("signing.key")).ok());
  for (const char* addr : {"0.0.0.0", "192.0.2.10", "[::]"}) {
    SCOPED_TRACE(addr);
    const std::string config = dir.Join("node.conf");
    WriteFile(config, absl::StrCat("origin: \"m0.test/n1\"\n",
                                   "listen_address: \"", addr, ":", PickFreePort(), "\"\n",
                                   "data_dir: \"data\"\n",
                                   "signing_key_file: \"signing.key\"\n",
                                   "insecure_plaintext_loopback: true\n"));
    absl::StatusOr<v1::NodeConfig> c = node::LoadConfigFile(config);
    ASSERT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << c.status();
    EXPECT_NE(c.status().message().find("not a loopback address"), std::string::npos)
        << c.status();

    // The binary refuses it before listening or creating a store.
    std::string out;
    EXPECT_NE(RunNode(config, &out), 0) << out;
    EXPECT_NE(out.find("not a loopback address"), std::string::npos) << out;
    EXPECT_EQ(out.find("listening on"), std::string::npos) << out;
  }
  EXPECT_NE(access(dir.Join("data").c_str(), F_OK), 0) << "a store was created";
}

TEST(MtlsStartupTest, FederationConfigWithoutTlsIsRefused) {
  FederationOptions o;
  o.members = 2;
  TestFederation fed(o);
  ASSERT_TRUE(fed.ok());
  const std::string roster = fed.roster_file();
  const FederationMember& m = fed.member(0);
  const std::string base = absl::StrCat(
      "origin: \"", m.origin, "\"\n", "listen_address: \"", m.endpoint(), "\"\n",
      "data_dir: \"", m.data_dir, "\"\n", "signing_key_file: \"", m.signing_key_file,
      "\"\n", "federation { roster_file: \"", roster, "\" }\n");
  struct Case {
    const char* name;
    std::string extra;
  } cases[] = {
      {"no tls at all", ""},
      {"plaintext flag on loopback", "insecure_plaintext_loopback: true\n"},
      {"a key without a certificate",
       absl::StrCat("tls { key_file: \"", m.node_key_file, "\" }\n")},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string config = fed.dir().Join("notls.conf");
    WriteFile(config, base + c.extra);
    absl::StatusOr<v1::NodeConfig> parsed = node::LoadConfigFile(config);
    ASSERT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << parsed.status();
    EXPECT_NE(parsed.status().message().find("needs tls"), std::string::npos)
        << parsed.status();
    std::string out;
    EXPECT_NE(RunNode(config, &out), 0) << out;
    EXPECT_NE(out.find("needs tls"), std::string::npos) << out;
  }
  EXPECT_EQ(fed.StoredAlertCount(0), -1);  // no store was created
}


// ------------------------------------------------------- dialing a peer

// A Federation server that only counts the calls it gets.
class RecordingFederation final : public v1::Federation::Service {
 public:
  std::atomic<int> calls{0};
  grpc::Status Push(grpc::ServerContext*, const v1::PushRequest*,
                    v1::PushResponse*) override {
    ++calls;
    return grpc::Status::OK;
  }
  grpc::Status IHave(grpc::ServerContext*, const v1::IHaveRequest*,
                     v1::IHaveResponse*) override {
    ++calls;
    return grpc::Status::OK;
  }
  grpc::Status Fetch(grpc::ServerContext*, const v1::FetchRequest*,
                     v1::FetchResponse*) override {
    ++calls;
    return grpc::Status::OK;
  }
  grpc::Status ExchangeFrontier(grpc::ServerContext*, const v1::FrontierMessage*,
                                v1::FrontierMessage*) override {
    ++calls;
    return grpc::Status::OK;
  }
  grpc::Status PullRange(grpc::ServerContext*, const v1::PullRangeRequest*,
                         v1::PullRangeResponse*) override {
    ++calls;
    return grpc::Status::OK;
  }
  grpc::Status PushEvidence(grpc::ServerContext*, const v1::EvidenceMessage*,
                            v1::PushEvidenceResponse*) override {
    ++calls;
    return grpc::Status::OK;
  }
};

// m1's CA (in the roster) issues a certificate naming m0's node, DNS name
// and URI SAN alike, and a server presenting it stands where m2 dials m0.
// The DNS name check alone would accept it; the node must bind the identity
// to the member's own CA (certs/x509.h, VerifyPeerCertificate) and refuse
// to gossip with it.
TEST(MtlsDialTest, NodeRefusesToGossipWithAPeerVouchedForByAnotherMembersCa) {
  FederationOptions o;
  o.members = 3;
  o.anti_entropy_interval_ms = 200;
  TestFederation fed(o);
  ASSERT_TRUE(fed.ok());
  const absl::Time now = absl::Now();
  certs::CertSpec spec;
  spec.common_name = "m0.test/n1";
  spec.uri_sans = {certs::NodeSpiffeId(fed.member(0).name, "n1")};
  spec.dns_sans = {fed.member(0).dns_name()};
  spec.server_auth = true;
  spec.client_auth = true;
  spec.not_before = now - absl::Hours(1);
  spec.not_after = now + absl::Hours(1);
  absl::StatusOr<certs::KeyAndCert> impostor_cert =
      certs::MintCertificate(spec, &fed.member(1).ca);
  ASSERT_TRUE(impostor_cert.ok()) << impostor_cert.status();

  RecordingFederation impostor;
  grpc::SslServerCredentialsOptions opts(
      GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_BUT_DONT_VERIFY);
  opts.pem_key_cert_pairs.push_back({impostor_cert->key_pem, impostor_cert->cert_pem});
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::SslServerCredentials(opts), &port);
  builder.RegisterService(&impostor);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  ASSERT_NE(port, 0);

  v1::DialOverride* d = fed.config(2).mutable_federation()->add_dial_overrides();
  d->set_origin(fed.origin(0));
  d->set_address(absl::StrCat("127.0.0.1:", port));
  ASSERT_TRUE(fed.StartAll().ok());
  for (int k = 0; k < 5; ++k) ASSERT_TRUE(fed.Publish(2, SampleDraft(k)).ok());

  // Until m2 has either talked to the impostor or given up on it.
  EXPECT_TRUE(WaitUntil(
      [&] {
        federation::Gossip::PeerStats ps = fed.gossip(2)->stats().peers.at(fed.origin(0));
        return impostor.calls.load() > 0 || ps.dropped > 0 || !ps.reachable;
      },
      absl::Seconds(20)));
  EXPECT_EQ(impostor.calls.load(), 0)
      << "m2 gossiped with a server whose certificate m1's CA issued for m0's node";
  server->Shutdown();
}

}  // namespace
}  // namespace watchfloor::testing
