// Sealed alerts (TLP:AMBER+STRICT and TLP:RED) on a real federation of three
// members, each node a `watchfloor node` child process over mutual TLS with
// its own SQLite file: entitlement is enforced by the node that serves. Each
// test checks what was delivered and what was not, byte for byte: no
// message a non-entitled caller receives, and no byte of a non-recipient
// node's store, contains any of the sealed strings.
#include <sys/stat.h>

#include <cstdio>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "certs/audit.h"
#include "certs/dsse.h"
#include "certs/ids.h"
#include "certs/note.h"
#include "gtest/gtest.h"
#include "node/filter_parser.h"
#include "tests/federation_util.h"
#include "tests/test_util.h"

namespace watchfloor::testing {
namespace {

namespace v1 = ::watchfloor::v1;

constexpr absl::Duration kConverge = absl::Seconds(30);

// The sealed content: none of these may reach anyone not entitled.
constexpr char kSecretTitle[] = "SECRET-TITLE-7f3a registrar account takeover";
constexpr char kSecretDescription[] = "SECRET-DESCRIPTION-91c2 attacker holds the EPP auth codes";
constexpr char kSecretDomain[] = "secret-bank-4d1e.example";
constexpr char kSecretLabel[] = "SECRET-LABEL-0b77";
const std::vector<std::string> kSecrets = {kSecretTitle, kSecretDescription, kSecretDomain,
                                           kSecretLabel, "SECRET-"};

grpc::ClientContext* WithDeadline(grpc::ClientContext* ctx) {
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  return ctx;
}

v1::Alert SealedDraft(v1::Tlp tlp, const std::vector<std::string>& to) {
  v1::Alert a;
  a.set_severity(v1::SEVERITY_CRITICAL);
  a.set_category("dns.hijack");
  a.set_tlp(tlp);
  a.set_title(kSecretTitle);
  a.set_description(kSecretDescription);
  a.add_domains(kSecretDomain);
  v1::Label* l = a.add_labels();
  l->set_key("incident");
  l->set_value(kSecretLabel);
  for (const std::string& m : to) a.add_recipients(m);
  return a;
}

::testing::AssertionResult HasNoSecret(const std::string& bytes) {
  for (const std::string& s : kSecrets) {
    if (absl::StrContains(bytes, s)) {
      return ::testing::AssertionFailure() << "found \"" << s << "\"";
    }
  }
  return ::testing::AssertionSuccess();
}

std::vector<v1::Filter> Filters(const std::vector<std::string>& texts) {
  std::vector<v1::Filter> out;
  for (const std::string& t : texts) {
    absl::StatusOr<v1::Filter> f = node::ParseFilter(t);
    EXPECT_TRUE(f.ok()) << t << ": " << f.status();
    if (f.ok()) out.push_back(*f);
  }
  return out;
}

// Everything a replay-only subscription of member `as`'s client at `node`
// returns, and the bytes of every message as received.
struct Received {
  grpc::Status status;
  std::vector<v1::SubscribeResponse> messages;
  std::string bytes;
  const v1::SubscribeResponse* Find(const std::string& id) const {
    for (const auto& m : messages) {
      if (m.id() == id) return &m;
    }
    return nullptr;
  }
};

Received Replay(TestFederation& fed, int node, int as,
                const std::vector<std::string>& filters = {}) {
  v1::SubscribeRequest req;
  req.set_replay_only(true);
  for (v1::Filter& f : Filters(filters)) *req.add_filters() = std::move(f);
  grpc::ClientContext ctx;
  auto reader = fed.Client(node, as)->Subscribe(WithDeadline(&ctx), req);
  Received out;
  v1::SubscribeResponse msg;
  while (reader->Read(&msg)) {
    msg.AppendToString(&out.bytes);
    out.messages.push_back(msg);
  }
  out.status = reader->Finish();
  return out;
}

grpc::Status Get(TestFederation& fed, int node, int as, const std::string& id,
                 v1::GetAlertResponse* out) {
  v1::GetAlertRequest req;
  req.set_id(id);
  grpc::ClientContext ctx;
  return fed.Client(node, as)->GetAlert(WithDeadline(&ctx), req, out);
}

std::string ReadAll(const std::string& path) {
  std::string s;
  // The store and its write-ahead log: a non-recipient must hold no
  // plaintext anywhere on disk.
  for (const std::string& p : {path, path + "-wal"}) {
    FILE* f = std::fopen(p.c_str(), "rb");
    if (f == nullptr) continue;
    char buf[65536];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) s.append(buf, n);
    std::fclose(f);
  }
  return s;
}

class SealedLiveTest : public ::testing::Test {
 protected:
  static FederationOptions Options() {
    FederationOptions o;
    o.members = 3;
    o.multi_process = true;
    return o;
  }
  SealedLiveTest() : fed_(Options()) {}

  void SetUp() override {
    ASSERT_TRUE(fed_.ok());
    for (int i = 0; i < fed_.size(); ++i) {
      fed_.config(i).mutable_transparency()->set_checkpoint_interval_ms(200);
      fed_.config(i).mutable_transparency()->set_resend_interval_ms(500);
    }
    absl::Status st = fed_.StartAll();
    ASSERT_TRUE(st.ok()) << st;
  }

  // Publishes at node `at` with its own member's client; the response.
  v1::PublishResponse PublishOk(int at, const v1::Alert& draft) {
    v1::PublishResponse r;
    grpc::Status st = fed_.Publish(at, draft, &r);
    EXPECT_TRUE(st.ok()) << st.error_code() << " " << st.error_message();
    return r;
  }

  TestFederation fed_;
};

// A RED alert from m0 to m1: stored, verified and relayed everywhere; m0's
// and m1's clients at their own nodes read it (filters on its content
// work); m2's clients, and other members' clients at a recipient node, get
// the signed header only and no filter on its content ever matches it.
TEST_F(SealedLiveTest, RedAlertIsReadOnlyByRecipientMembersClientsAtTheirOwnNodes) {
  v1::PublishResponse clear = PublishOk(0, SampleDraft(1));
  v1::PublishResponse red = PublishOk(0, SealedDraft(v1::TLP_RED, {fed_.member(1).name}));
  ASSERT_EQ(red.sequence(), 2u);
  ASSERT_TRUE(fed_.WaitForIds({clear.id(), red.id()}, kConverge));

  // What was signed: the header in clear, the content sealed; the origin's
  // own member was added to the recipients.
  const v1::Alert outer = AlertOf(red.envelope());
  EXPECT_TRUE(outer.has_sealed());
  EXPECT_EQ(std::vector<std::string>(outer.recipients().begin(), outer.recipients().end()),
            (std::vector<std::string>{fed_.member(0).name, fed_.member(1).name}));
  EXPECT_EQ(outer.tlp(), v1::TLP_RED);
  EXPECT_TRUE(outer.title().empty());
  EXPECT_TRUE(HasNoSecret(red.envelope().SerializeAsString()));
  EXPECT_EQ(outer.sealed().keys_size(), 2);  // one node per recipient member

  // m2 (not a recipient) stores it, sealed: no plaintext on its disk.
  EXPECT_TRUE(HasNoSecret(ReadAll(fed_.db_path(2))));
  for (int i = 0; i < fed_.size(); ++i) {
    EXPECT_TRUE(fed_.CheckFeedsContiguous(i).ok()) << fed_.CheckFeedsContiguous(i);
  }

  // m2's client at m2's node, subscribing to everything: both alerts, the
  // sealed one as signed and nothing more.
  {
    Received got = Replay(fed_, 2, 2);
    ASSERT_TRUE(got.status.ok()) << got.status.error_message();
    ASSERT_EQ(got.messages.size(), 2u);
    const v1::SubscribeResponse* m = got.Find(red.id());
    ASSERT_NE(m, nullptr);
    EXPECT_EQ(m->envelope().SerializeAsString(), red.envelope().SerializeAsString());
    EXPECT_FALSE(m->has_opened());
    EXPECT_FALSE(m->has_open_error());
    EXPECT_TRUE(HasNoSecret(got.bytes));
    // The signature still verifies for anyone holding the origin's key.
    EXPECT_TRUE(certs::VerifyEnvelope(m->envelope(), fed_.member(0).signing_key->public_key())
                    .ok());
  }
  // Filters on sealed fields never match the header, negated or not; on the
  // clear header (origin, tlp) they do.
  for (const char* f : {"domain:example", "severity>=info", "category:dns.*",
                        "!domain:nothing.example", "!severity>=critical", "label:incident"}) {
    SCOPED_TRACE(f);
    Received got = Replay(fed_, 2, 2, {f});
    ASSERT_TRUE(got.status.ok()) << got.status.error_message();
    EXPECT_EQ(got.Find(red.id()), nullptr);
    EXPECT_TRUE(HasNoSecret(got.bytes));
  }
  {
    Received got = Replay(fed_, 2, 2, {"tlp<=red origin:" + fed_.origin(0)});
    ASSERT_TRUE(got.status.ok());
    EXPECT_NE(got.Find(red.id()), nullptr);
    EXPECT_NE(got.Find(clear.id()), nullptr);  // GREEN: unchanged
    EXPECT_TRUE(HasNoSecret(got.bytes));
  }
  // Clear alerts still match content filters for everyone.
  {
    Received got = Replay(fed_, 2, 2, {"domain:example.cz"});
    ASSERT_EQ(got.messages.size(), 1u);
    EXPECT_EQ(got.messages[0].id(), clear.id());
    EXPECT_FALSE(got.messages[0].has_opened());
  }

  // m1's client at m1's node: the whole alert.
  {
    Received got = Replay(fed_, 1, 1);
    ASSERT_TRUE(got.status.ok()) << got.status.error_message();
    const v1::SubscribeResponse* m = got.Find(red.id());
    ASSERT_NE(m, nullptr);
    EXPECT_EQ(m->envelope().SerializeAsString(), red.envelope().SerializeAsString());
    ASSERT_TRUE(m->has_opened());
    EXPECT_EQ(m->opened().title(), kSecretTitle);
    EXPECT_EQ(m->opened().description(), kSecretDescription);
    ASSERT_EQ(m->opened().domains_size(), 1);
    EXPECT_EQ(m->opened().domains(0), kSecretDomain);
    EXPECT_EQ(m->opened().origin(), fed_.origin(0));
    EXPECT_EQ(m->opened().sequence(), 2u);
    EXPECT_EQ(m->opened().severity(), v1::SEVERITY_CRITICAL);
    EXPECT_FALSE(m->opened().has_sealed());
    // The clear alert carries no opened form.
    ASSERT_NE(got.Find(clear.id()), nullptr);
    EXPECT_FALSE(got.Find(clear.id())->has_opened());
  }
  // ... and its filters match the sealed content, exactly as for a clear
  // alert.
  {
    Received got = Replay(fed_, 1, 1, {"domain:example"});
    ASSERT_EQ(got.messages.size(), 1u);
    EXPECT_EQ(got.messages[0].id(), red.id());
    EXPECT_EQ(got.messages[0].opened().title(), kSecretTitle);
    got = Replay(fed_, 1, 1, {"severity>=critical category:dns.hijack label:incident=" +
                              std::string(kSecretLabel)});
    ASSERT_EQ(got.messages.size(), 1u);
    EXPECT_EQ(got.messages[0].id(), red.id());
    got = Replay(fed_, 1, 1, {"domain:other.example"});
    EXPECT_TRUE(got.messages.empty());
    got = Replay(fed_, 1, 1, {"!domain:" + std::string(kSecretDomain)});
    ASSERT_EQ(got.messages.size(), 1u);
    EXPECT_EQ(got.messages[0].id(), clear.id());
  }
  // The origin's own member reads it at the origin's node.
  {
    Received got = Replay(fed_, 0, 0, {"domain:" + std::string(kSecretDomain)});
    ASSERT_EQ(got.messages.size(), 1u);
    EXPECT_EQ(got.messages[0].opened().title(), kSecretTitle);
  }
  // Another member's client at a recipient node: the header only. Entitlement
  // is the serving node's decision, by the caller's certificate.
  for (int as : {2, 0}) {
    SCOPED_TRACE(absl::StrCat("client of ", fed_.member(as).name, " at ", fed_.origin(1)));
    Received got = Replay(fed_, 1, as);
    ASSERT_TRUE(got.status.ok()) << got.status.error_message();
    const v1::SubscribeResponse* m = got.Find(red.id());
    ASSERT_NE(m, nullptr);
    EXPECT_FALSE(m->has_opened());
    EXPECT_TRUE(HasNoSecret(got.bytes));
    EXPECT_EQ(Replay(fed_, 1, as, {"domain:example"}).Find(red.id()), nullptr);
  }

  // GetAlert follows the same rules.
  {
    v1::GetAlertResponse r;
    ASSERT_TRUE(Get(fed_, 1, 1, red.id(), &r).ok());
    EXPECT_EQ(r.opened().title(), kSecretTitle);
    EXPECT_EQ(r.envelope().SerializeAsString(), red.envelope().SerializeAsString());
    for (auto [node, as] : std::vector<std::pair<int, int>>{{2, 2}, {1, 2}, {1, 0}, {2, 1}}) {
      SCOPED_TRACE(absl::StrCat("client of member ", as, " at node ", node));
      v1::GetAlertResponse h;
      grpc::Status st = Get(fed_, node, as, red.id(), &h);
      ASSERT_TRUE(st.ok()) << st.error_message();
      EXPECT_FALSE(h.has_opened());
      EXPECT_EQ(h.envelope().SerializeAsString(), red.envelope().SerializeAsString());
      EXPECT_TRUE(HasNoSecret(h.SerializeAsString()));
    }
  }

  // Export, from a recipient and a non-recipient: the original envelope,
  // still sealed, and the bundle audits clean without any key.
  for (int node : {1, 2}) {
    SCOPED_TRACE(absl::StrCat("export from ", fed_.origin(node)));
    // Export picks the newest checkpoint a quorum has witnessed, which can
    // trail the newest one the node signed: export until it covers both.
    std::string bytes;
    grpc::Status st;
    ASSERT_TRUE(WaitUntil(
        [&] {
          grpc::ClientContext ctx;
          ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
          auto reader = fed_.Client(node, node)->Export(&ctx, v1::ExportRequest());
          bytes.clear();
          v1::AuditBundle piece;
          while (reader->Read(&piece)) piece.AppendToString(&bytes);
          st = reader->Finish();
          v1::AuditBundle whole;
          return st.ok() && whole.ParseFromString(bytes) && whole.alerts_size() == 2;
        },
        kConverge))
        << st.error_message();
    EXPECT_TRUE(HasNoSecret(bytes));
    v1::AuditBundle bundle;
    ASSERT_TRUE(bundle.ParseFromString(bytes));
    bool found = false;
    for (const v1::BundledAlert& b : bundle.alerts()) {
      if (certs::AlertId(b.envelope().payload()) == red.id()) {
        found = true;
        EXPECT_EQ(b.envelope().SerializeAsString(), red.envelope().SerializeAsString());
        EXPECT_FALSE(b.inclusion_proof().empty());
      }
    }
    EXPECT_TRUE(found);
    certs::AuditOptions opts;
    opts.anchor = &fed_.roster();
    // Signatures, chain and inclusion are what this test is about; witness
    // cosignatures are transparency_test's.
    opts.quorum = 0;
    absl::StatusOr<certs::AuditReport> report = certs::Audit(bundle, opts);
    ASSERT_TRUE(report.ok()) << report.status();
    EXPECT_TRUE(report->ok()) << report->Summary();
    EXPECT_EQ(report->alerts, 2u);
  }
}

// The live tail follows the same rules as the replay: a sealed alert
// committed while a subscriber waits is matched on its content for an
// entitled subscriber, on its header for everyone else.
TEST_F(SealedLiveTest, LiveSubscribersGetTheSameViewAsReplays) {
  struct Stream {
    grpc::ClientContext ctx;
    std::unique_ptr<grpc::ClientReader<v1::SubscribeResponse>> reader;
  };
  auto open = [&](int node, int as, const std::vector<std::string>& filters) {
    auto s = std::make_unique<Stream>();
    v1::SubscribeRequest req;
    for (v1::Filter& f : Filters(filters)) *req.add_filters() = std::move(f);
    WithDeadline(&s->ctx);
    s->reader = fed_.Client(node, as)->Subscribe(&s->ctx, req);
    return s;
  };
  const std::string both_domains = "domain:example.cz";
  const std::string secret_domain = "domain:" + std::string(kSecretDomain);
  std::unique_ptr<Stream> m1 = open(1, 1, {both_domains, secret_domain});
  std::unique_ptr<Stream> m2_all = open(2, 2, {});
  std::unique_ptr<Stream> m2_secret = open(2, 2, {both_domains, secret_domain});

  // A clear alert first: every stream has passed its (empty) replay once it
  // has this one.
  v1::PublishResponse clear = PublishOk(0, SampleDraft(1));
  for (Stream* s : {m1.get(), m2_all.get(), m2_secret.get()}) {
    v1::SubscribeResponse msg;
    ASSERT_TRUE(s->reader->Read(&msg));
    EXPECT_EQ(msg.id(), clear.id());
  }
  absl::SleepFor(absl::Milliseconds(200));
  v1::PublishResponse red = PublishOk(0, SealedDraft(v1::TLP_RED, {fed_.member(1).name}));
  // And a clear one after it, so a stream that (rightly) skips the sealed
  // one has something to read.
  v1::PublishResponse after = PublishOk(0, SampleDraft(2));

  v1::SubscribeResponse msg;
  ASSERT_TRUE(m1->reader->Read(&msg));
  EXPECT_EQ(msg.id(), red.id());
  EXPECT_EQ(msg.opened().title(), kSecretTitle);

  std::string bytes;
  ASSERT_TRUE(m2_all->reader->Read(&msg));
  EXPECT_EQ(msg.id(), red.id());
  EXPECT_FALSE(msg.has_opened());
  msg.AppendToString(&bytes);

  ASSERT_TRUE(m2_secret->reader->Read(&msg));
  EXPECT_EQ(msg.id(), after.id());  // the sealed alert never matched
  msg.AppendToString(&bytes);
  EXPECT_TRUE(HasNoSecret(bytes));
  for (Stream* s : {m1.get(), m2_all.get(), m2_secret.get()}) {
    s->ctx.TryCancel();
    (void)s->reader->Finish();
  }
}

// AMBER+STRICT addressed to m2 by m0: m2's clients at m2's node read it,
// m1's clients nowhere do.
TEST_F(SealedLiveTest, AmberStrictToMember2IsReadByMember2sClientsOnly) {
  v1::PublishResponse as =
      PublishOk(0, SealedDraft(v1::TLP_AMBER_STRICT, {fed_.member(2).name}));
  ASSERT_TRUE(fed_.WaitForIds({as.id()}, kConverge));
  EXPECT_EQ(AlertOf(as.envelope()).tlp(), v1::TLP_AMBER_STRICT);

  Received m2 = Replay(fed_, 2, 2, {"domain:" + std::string(kSecretDomain)});
  ASSERT_EQ(m2.messages.size(), 1u);
  EXPECT_EQ(m2.messages[0].opened().title(), kSecretTitle);
  EXPECT_EQ(m2.messages[0].opened().tlp(), v1::TLP_AMBER_STRICT);

  for (auto [node, client] : std::vector<std::pair<int, int>>{{1, 1}, {2, 1}, {0, 1}}) {
    SCOPED_TRACE(absl::StrCat("client of member ", client, " at node ", node));
    Received got = Replay(fed_, node, client);
    ASSERT_TRUE(got.status.ok()) << got.status.error_message();
    ASSERT_NE(got.Find(as.id()), nullptr);
    EXPECT_FALSE(got.Find(as.id())->has_opened());
    EXPECT_TRUE(HasNoSecret(got.bytes));
  }
  EXPECT_TRUE(HasNoSecret(ReadAll(fed_.db_path(1))));
}

// The origin's HPKE sender contexts: consecutive RED alerts to the same
// recipients reuse each node's context (same enc, seq 0, 1, 2, ...); after
// the origin is killed (-9) and restarted its contexts are fresh (new enc,
// seq 0 again), so no (enc, seq) pair repeats. The recipient opens every
// one of them, before and after, with its cached contexts.
TEST_F(SealedLiveTest, SenderContextsRepeatEncWithRisingSeqAndRestartFresh) {
  const std::string to = fed_.member(1).name;
  std::vector<std::string> ids;
  std::vector<v1::Alert> outers;
  for (int i = 0; i < 3; ++i) {
    v1::PublishResponse r = PublishOk(0, SealedDraft(v1::TLP_RED, {to}));
    ids.push_back(r.id());
    outers.push_back(AlertOf(r.envelope()));
  }
  fed_.KillNode(0);
  ASSERT_TRUE(fed_.StartNode(0).ok());
  {
    v1::PublishResponse r = PublishOk(0, SealedDraft(v1::TLP_RED, {to}));
    ids.push_back(r.id());
    outers.push_back(AlertOf(r.envelope()));
  }
  ASSERT_TRUE(fed_.WaitForIds({ids.begin(), ids.end()}, kConverge));

  // The wrapped key for member 1's node, in each alert.
  const std::string node1 = fed_.origin(1);
  std::vector<const v1::WrappedKey*> keys;
  for (const v1::Alert& a : outers) {
    const v1::WrappedKey* k = nullptr;
    for (const v1::WrappedKey& w : a.sealed().keys()) {
      if (w.node() == node1) k = &w;
    }
    ASSERT_NE(k, nullptr);
    ASSERT_TRUE(k->has_seq());
    keys.push_back(k);
  }
  EXPECT_EQ(keys[0]->enc(), keys[1]->enc());
  EXPECT_EQ(keys[1]->enc(), keys[2]->enc());
  EXPECT_EQ(keys[0]->seq() + 1, keys[1]->seq());
  EXPECT_EQ(keys[1]->seq() + 1, keys[2]->seq());
  EXPECT_NE(keys[3]->enc(), keys[0]->enc());
  EXPECT_EQ(keys[3]->seq(), 0u);

  Received m1 = Replay(fed_, 1, 1, {"domain:" + std::string(kSecretDomain)});
  ASSERT_TRUE(m1.status.ok()) << m1.status.error_message();
  for (const std::string& id : ids) {
    SCOPED_TRACE(id);
    const v1::SubscribeResponse* got = m1.Find(id);
    ASSERT_NE(got, nullptr);
    EXPECT_EQ(got->opened().title(), kSecretTitle);
  }
  // Member 2 is not a recipient: header only.
  Received m2 = Replay(fed_, 2, 2);
  for (const std::string& id : ids) {
    ASSERT_NE(m2.Find(id), nullptr);
    EXPECT_FALSE(m2.Find(id)->has_opened());
  }
  EXPECT_TRUE(HasNoSecret(m2.bytes));
}

// A relay that alters a sealed alert breaks the origin's signature: pushed
// to a node it is refused and neither stored nor forwarded; handed to
// Ingest, UNAUTHENTICATED. An alert the origin itself signs with its content
// in clear at a sealed TLP is INVALID_ARGUMENT.
TEST_F(SealedLiveTest, AlteredSealedAlertsAreRefusedAndNothingIsStored) {
  v1::PublishResponse red = PublishOk(0, SealedDraft(v1::TLP_RED, {fed_.member(1).name}));
  ASSERT_TRUE(fed_.WaitForIds({red.id()}, kConverge));
  const v1::Alert outer = AlertOf(red.envelope());
  // A next alert of m0 (sequence 2), validly sealed and signed: the tamper
  // cases alter it, so that the unaltered one would be NEW.
  const certs::SigningKey& key0 = *fed_.member(0).signing_key;

  struct Tamper {
    const char* name;
    std::function<void(v1::Alert&)> alter;
  };
  const std::vector<Tamper> cases = {
      {"ciphertext-bit-flipped",
       [](v1::Alert& a) {
         std::string* c = a.mutable_sealed()->mutable_ciphertext();
         (*c)[c->size() / 2] ^= 0x01;
       }},
      {"recipient-added",
       [&](v1::Alert& a) {
         a.add_recipients(fed_.member(2).name);
       }},
      {"recipient-removed",
       [&](v1::Alert& a) {
         a.clear_recipients();
         a.add_recipients(fed_.member(0).name);
       }},
      {"wrapped-key-dropped",
       [](v1::Alert& a) { a.mutable_sealed()->mutable_keys()->RemoveLast(); }},
      {"tlp-lowered-to-amber-strict", [](v1::Alert& a) { a.set_tlp(v1::TLP_AMBER_STRICT); }},
  };
  const int64_t stored_before[3] = {fed_.StoredAlertCount(0), fed_.StoredAlertCount(1),
                                    fed_.StoredAlertCount(2)};
  for (const Tamper& t : cases) {
    SCOPED_TRACE(t.name);
    v1::Alert altered = outer;
    t.alter(altered);
    // The relay keeps the origin's signature over bytes that changed.
    v1::Envelope env = red.envelope();
    env.set_payload(altered.SerializeAsString());
    v1::PushRequest push;
    *push.add_envelopes() = env;
    v1::PushResponse resp;
    grpc::ClientContext ctx;
    grpc::Status st = fed_.PeerStub(1, 2)->Push(WithDeadline(&ctx), push, &resp);
    ASSERT_TRUE(st.ok()) << st.error_message();
    ASSERT_EQ(resp.verdicts_size(), 1);
    EXPECT_EQ(resp.verdicts(0), v1::PUSH_VERDICT_REFUSED);

    v1::IngestRequest ingest;
    *ingest.mutable_envelope() = env;
    v1::IngestResponse iresp;
    grpc::ClientContext ictx;
    st = fed_.Client(2)->Ingest(WithDeadline(&ictx), ingest, &iresp);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED) << st.error_message();
  }
  // The origin's own key over an alert whose content is in clear at TLP RED:
  // well signed, refused for its shape.
  {
    v1::Alert plain = SealedDraft(v1::TLP_RED, {fed_.member(0).name, fed_.member(1).name});
    plain.set_origin(fed_.origin(0));
    plain.set_sequence(2);
    plain.set_previous(red.id());
    *plain.mutable_issued_at() = outer.issued_at();
    v1::IngestRequest ingest;
    *ingest.mutable_envelope() = SignAlert(plain, key0);
    v1::IngestResponse iresp;
    grpc::ClientContext ictx;
    grpc::Status st = fed_.Client(2)->Ingest(WithDeadline(&ictx), ingest, &iresp);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << st.error_message();
    EXPECT_TRUE(absl::StrContains(st.error_message(), "must be sealed")) << st.error_message();
    v1::PushRequest push;
    *push.add_envelopes() = ingest.envelope();
    v1::PushResponse resp;
    grpc::ClientContext ctx;
    ASSERT_TRUE(fed_.PeerStub(1, 2)->Push(WithDeadline(&ctx), push, &resp).ok());
    EXPECT_EQ(resp.verdicts(0), v1::PUSH_VERDICT_REFUSED);
  }
  // A barrier crossing the federation after the attempts: when it has
  // arrived everywhere, nothing else was stored anywhere.
  v1::PublishResponse barrier = PublishOk(1, SampleDraft(9));
  ASSERT_TRUE(fed_.WaitForIds({barrier.id()}, kConverge));
  for (int i = 0; i < fed_.size(); ++i) {
    EXPECT_EQ(fed_.StoredAlertCount(i), stored_before[i] + 1) << fed_.origin(i);
    EXPECT_EQ(fed_.StoredIds(i), (std::set<std::string>{red.id(), barrier.id()}));
    EXPECT_EQ(fed_.StoredEvidenceCount(i), 0);
  }
}

// Publishing refusals, each with its exact status and nothing stored.
TEST_F(SealedLiveTest, PublishRefusalsHaveExactStatusesAndStoreNothing) {
  const int64_t before = fed_.StoredAlertCount(0);
  struct Refusal {
    const char* name;
    v1::Alert draft;
    grpc::StatusCode code;
    const char* says;
  };
  v1::Alert clear_with_recipients = SampleDraft(1);
  clear_with_recipients.add_recipients(fed_.member(1).name);
  v1::Alert with_sealed = SealedDraft(v1::TLP_RED, {fed_.member(1).name});
  with_sealed.mutable_sealed()->set_nonce(std::string(12, 'n'));
  const std::vector<Refusal> cases = {
      {"no recipients", SealedDraft(v1::TLP_RED, {}), grpc::StatusCode::INVALID_ARGUMENT,
       "needs recipients"},
      {"not a member", SealedDraft(v1::TLP_RED, {"m9.test"}), grpc::StatusCode::INVALID_ARGUMENT,
       "recipient m9.test is not a member of federation"},
      {"bad name", SealedDraft(v1::TLP_RED, {"M1.TEST"}), grpc::StatusCode::INVALID_ARGUMENT,
       "recipient:"},
      {"twice", SealedDraft(v1::TLP_RED, {fed_.member(1).name, fed_.member(1).name}),
       grpc::StatusCode::INVALID_ARGUMENT, "is listed twice"},
      {"recipients on green", clear_with_recipients, grpc::StatusCode::INVALID_ARGUMENT,
       "recipients are only for TLP AMBER+STRICT and RED"},
      {"draft with sealed", with_sealed, grpc::StatusCode::INVALID_ARGUMENT, "sealed is set"},
  };
  for (const Refusal& r : cases) {
    SCOPED_TRACE(r.name);
    v1::PublishResponse out;
    grpc::Status st = fed_.Publish(0, r.draft, &out);
    EXPECT_EQ(st.error_code(), r.code) << st.error_message();
    EXPECT_TRUE(absl::StrContains(st.error_message(), r.says)) << st.error_message();
  }
  EXPECT_EQ(fed_.StoredAlertCount(0), before);
  // The feed goes on from sequence 1.
  EXPECT_EQ(PublishOk(0, SealedDraft(v1::TLP_RED, {fed_.member(2).name})).sequence(), 1u);
}

// A recipient node started without its encryption key stores and relays
// the alert, and tells its own member's clients why they get no content:
// FAILED_PRECONDITION, never a header passed off as the alert.
TEST_F(SealedLiveTest, RecipientNodeWithoutItsKeyGivesItsClientsAClearError) {
  v1::PublishResponse red = PublishOk(0, SealedDraft(v1::TLP_RED, {fed_.member(1).name}));
  ASSERT_TRUE(fed_.WaitForIds({red.id()}, kConverge));
  fed_.StopNode(1);
  fed_.config(1).clear_encryption_key_file();
  absl::Status started = fed_.StartNode(1);
  ASSERT_TRUE(started.ok()) << started;

  v1::GetAlertResponse r;
  grpc::Status st = Get(fed_, 1, 1, red.id(), &r);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_TRUE(absl::StrContains(st.error_message(), "has no encryption key: set encryption_key_file"))
      << st.error_message();
  EXPECT_FALSE(r.has_opened());

  Received got = Replay(fed_, 1, 1);
  ASSERT_TRUE(got.status.ok()) << got.status.error_message();
  const v1::SubscribeResponse* m = got.Find(red.id());
  ASSERT_NE(m, nullptr);
  EXPECT_FALSE(m->has_opened());
  EXPECT_EQ(m->open_error().code(), static_cast<int>(absl::StatusCode::kFailedPrecondition));
  EXPECT_TRUE(absl::StrContains(m->open_error().message(), "encryption_key_file"));
  EXPECT_TRUE(HasNoSecret(got.bytes));
  // Another member's client there gets the header without an error: it was
  // never entitled.
  Received other = Replay(fed_, 1, 2);
  ASSERT_NE(other.Find(red.id()), nullptr);
  EXPECT_FALSE(other.Find(red.id())->has_open_error());
  // Relaying is unaffected: a later alert still reaches every node.
  v1::PublishResponse later = PublishOk(0, SealedDraft(v1::TLP_RED, {fed_.member(1).name}));
  ASSERT_TRUE(fed_.WaitForIds({later.id()}, kConverge));
}

// A recipient member whose node lists no encryption key in the roster
// cannot be sealed to: FAILED_PRECONDITION, nothing stored.
TEST(SealedRosterTest, RecipientWithoutAnEncryptionKeyIsRefusedFailedPrecondition) {
  FederationOptions o;
  o.members = 2;
  o.multi_process = true;
  o.encryption_keys = false;
  TestFederation fed(o);
  ASSERT_TRUE(fed.ok());
  ASSERT_TRUE(fed.StartAll().ok());
  v1::PublishResponse out;
  grpc::Status st = fed.Publish(0, SealedDraft(v1::TLP_RED, {fed.member(1).name}), &out);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << st.error_message();
  EXPECT_TRUE(absl::StrContains(st.error_message(), "has no encryption key in roster v1"))
      << st.error_message();
  EXPECT_EQ(fed.StoredAlertCount(0), 0);
}

// A node refuses to start with an encryption key others can read, or with
// one that is not the key its roster entry names; nothing is served.
TEST(SealedStartTest, NodeRefusesAReadableOrWrongEncryptionKeyFile) {
  FederationOptions o;
  o.members = 2;
  TestFederation fed(o);
  ASSERT_TRUE(fed.ok());
  const std::string key_file = fed.member(0).encryption_key_file;
  ASSERT_EQ(chmod(key_file.c_str(), 0644), 0);
  absl::Status st = fed.StartNode(0);
  EXPECT_EQ(st.code(), absl::StatusCode::kPermissionDenied) << st;
  EXPECT_TRUE(absl::StrContains(st.message(), "chmod 600")) << st;
  EXPECT_FALSE(fed.running(0));
  ASSERT_EQ(chmod(key_file.c_str(), 0600), 0);

  fed.config(0).set_encryption_key_file(fed.member(1).encryption_key_file);
  st = fed.StartNode(0);
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << st;
  EXPECT_TRUE(absl::StrContains(st.message(), "lists a different encryption key for m0.test/n1"))
      << st;
  EXPECT_FALSE(fed.running(0));

  fed.config(0).set_encryption_key_file(key_file);
  st = fed.StartNode(0);
  EXPECT_TRUE(st.ok()) << st;
}

}  // namespace
}  // namespace watchfloor::testing
