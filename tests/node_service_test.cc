// The node's gRPC service end to end: a real node (SQLite file, gRPC server on
// 127.0.0.1 port 0) and a real client stub. Every refusal checks the exact
// code and that nothing was stored, chained or delivered.
#include <atomic>
#include <chrono>
#include <map>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/time/clock.h"
#include "certs/dsse.h"
#include "certs/ids.h"
#include "google/protobuf/util/message_differencer.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/support/channel_arguments.h"
#include "gtest/gtest.h"
#include "node/alert_validator.h"
#include "tests/test_util.h"

namespace watchfloor::node {
namespace {

using google::protobuf::util::MessageDifferencer;
using grpc::StatusCode;
using watchfloor::testing::SampleDraft;
using watchfloor::testing::TestNode;
using watchfloor::v1::Alert;
using watchfloor::v1::Envelope;

constexpr char kOrigin[] = "example.cz/prg1";
constexpr char kPeer[] = "nic.sk/bts1";
constexpr int64_t kStartSeconds = 1798761600;  // TestNode's fake clock

std::chrono::system_clock::time_point In(int seconds) {
  return std::chrono::system_clock::now() + std::chrono::seconds(seconds);
}

// What a refused call must leave exactly as it was.
struct Snapshot {
  int64_t alerts;
  int64_t evidence;
  uint64_t own_head;
  std::string own_head_id;
  uint64_t hub_cursor;  // nothing new was handed to subscribers

  friend bool operator==(const Snapshot& a, const Snapshot& b) {
    return a.alerts == b.alerts && a.evidence == b.evidence &&
           a.own_head == b.own_head && a.own_head_id == b.own_head_id &&
           a.hub_cursor == b.hub_cursor;
  }
  friend std::ostream& operator<<(std::ostream& os, const Snapshot& s) {
    return os << "{alerts " << s.alerts << ", evidence " << s.evidence
              << ", own head " << s.own_head << ", hub cursor " << s.hub_cursor
              << "}";
  }
};

class NodeServiceTest : public ::testing::Test {
 protected:
  NodeServiceTest() : node_(kOrigin) {}

  void SetUp() override { Restart(); }

  void Restart() {
    stub_.reset();
    absl::Status st = node_.Start();
    ASSERT_EQ(st, absl::OkStatus());
    stub_ = node_.NewStub();
  }

  grpc::Status Publish(const Alert& draft, v1::PublishResponse* out) {
    grpc::ClientContext ctx;
    ctx.set_deadline(In(10));
    v1::PublishRequest req;
    *req.mutable_alert() = draft;
    return stub_->Publish(&ctx, req, out);
  }

  v1::PublishResponse PublishOk(const Alert& draft) {
    v1::PublishResponse out;
    grpc::Status st = Publish(draft, &out);
    EXPECT_TRUE(st.ok()) << st.error_code() << ": " << st.error_message();
    return out;
  }

  grpc::Status Ingest(const Envelope& env, v1::IngestResponse* out = nullptr) {
    grpc::ClientContext ctx;
    ctx.set_deadline(In(10));
    v1::IngestRequest req;
    *req.mutable_envelope() = env;
    v1::IngestResponse ignored;
    return stub_->Ingest(&ctx, req, out != nullptr ? out : &ignored);
  }

  grpc::Status GetAlert(const std::string& id, v1::GetAlertResponse* out) {
    grpc::ClientContext ctx;
    ctx.set_deadline(In(10));
    v1::GetAlertRequest req;
    req.set_id(id);
    return stub_->GetAlert(&ctx, req, out);
  }

  v1::Identity GetIdentity() {
    grpc::ClientContext ctx;
    ctx.set_deadline(In(10));
    v1::Identity out;
    grpc::Status st = stub_->GetIdentity(&ctx, v1::GetIdentityRequest(), &out);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return out;
  }

  Snapshot Observe() {
    FeedHead head = node_.server()->ledger()->OwnHead();
    return {node_.StoredAlertCount(), node_.StoredEvidenceCount(), head.sequence,
            head.id, node_.server()->hub()->last_cursor()};
  }

  TestNode node_;
  std::unique_ptr<v1::Node::Stub> stub_;
};

Alert ParsePayload(const Envelope& env) {
  Alert a;
  EXPECT_TRUE(a.ParseFromString(env.payload()));
  return a;
}

// --- Publish, GetAlert, GetIdentity ---

TEST_F(NodeServiceTest, PublishSignsChainsAndNumbersTheFeed) {
  std::vector<v1::PublishResponse> got;
  for (int i = 0; i < 3; ++i) {
    got.push_back(PublishOk(SampleDraft(i)));
    node_.clock().Advance(absl::Seconds(5));
  }
  std::string previous;
  for (int i = 0; i < 3; ++i) {
    SCOPED_TRACE(i);
    const v1::PublishResponse& r = got[i];
    EXPECT_EQ(r.sequence(), static_cast<uint64_t>(i + 1));
    EXPECT_EQ(r.cursor(), static_cast<uint64_t>(i + 1));
    EXPECT_EQ(r.id(), certs::AlertId(r.envelope().payload()));
    EXPECT_EQ(r.envelope().payload_type(), certs::kAlertPayloadType);
    ASSERT_EQ(r.envelope().signatures_size(), 1);
    EXPECT_EQ(r.envelope().signatures(0).keyid(), node_.key().public_key().KeyId());
    EXPECT_EQ(certs::VerifyEnvelope(r.envelope(), node_.key().public_key()),
              absl::OkStatus());

    Alert signed_alert = ParsePayload(r.envelope());
    EXPECT_EQ(signed_alert.origin(), kOrigin);
    EXPECT_EQ(signed_alert.sequence(), static_cast<uint64_t>(i + 1));
    EXPECT_EQ(signed_alert.previous(), previous);
    EXPECT_EQ(signed_alert.issued_at().seconds(), kStartSeconds + 5 * i);
    EXPECT_EQ(signed_alert.issued_at().nanos(), 0);
    // Everything the publisher wrote is signed unchanged.
    Alert content = signed_alert;
    content.clear_origin();
    content.clear_sequence();
    content.clear_previous();
    content.clear_issued_at();
    EXPECT_TRUE(MessageDifferencer::Equals(content, SampleDraft(i)))
        << content.DebugString();
    previous = r.id();
  }
  EXPECT_EQ(node_.StoredAlertCount(), 3);
}

TEST_F(NodeServiceTest, GetAlertReturnsTheEnvelopeAsPublished) {
  v1::PublishResponse pub = PublishOk(SampleDraft());
  v1::GetAlertResponse got;
  grpc::Status st = GetAlert(pub.id(), &got);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(got.cursor(), pub.cursor());
  EXPECT_EQ(got.envelope().SerializeAsString(), pub.envelope().SerializeAsString());
}

TEST_F(NodeServiceTest, GetAlertOfUnknownIdIsNotFound) {
  PublishOk(SampleDraft());
  v1::GetAlertResponse got;
  grpc::Status st = GetAlert(std::string(64, '0'), &got);
  EXPECT_EQ(st.error_code(), StatusCode::NOT_FOUND) << st.error_message();
}

TEST_F(NodeServiceTest, GetAlertOfMalformedIdIsInvalidArgument) {
  v1::PublishResponse pub = PublishOk(SampleDraft());
  std::string upper = pub.id();
  for (char& c : upper) c = static_cast<char>(toupper(c));
  for (const std::string& id : {std::string(""), std::string("xyz"), pub.id().substr(1),
                                pub.id() + "0", upper, std::string(64, 'g')}) {
    SCOPED_TRACE(id);
    v1::GetAlertResponse got;
    grpc::Status st = GetAlert(id, &got);
    EXPECT_EQ(st.error_code(), StatusCode::INVALID_ARGUMENT) << st.error_message();
  }
}

TEST_F(NodeServiceTest, GetIdentityReturnsOriginKeyAndHead) {
  v1::Identity id = GetIdentity();
  EXPECT_EQ(id.origin(), kOrigin);
  EXPECT_EQ(id.keyid(), node_.key().public_key().KeyId());
  EXPECT_EQ(id.public_key_pem(), node_.key().public_key().ToPem());
  EXPECT_EQ(id.head_sequence(), 0u);
  // The PEM is usable as is: it verifies what the node signs.
  absl::StatusOr<certs::PublicKey> pk = certs::PublicKey::FromPem(id.public_key_pem());
  ASSERT_TRUE(pk.ok()) << pk.status();
  v1::PublishResponse pub = PublishOk(SampleDraft());
  PublishOk(SampleDraft(1));
  EXPECT_EQ(certs::VerifyEnvelope(pub.envelope(), *pk), absl::OkStatus());
  EXPECT_EQ(GetIdentity().head_sequence(), 2u);
}

TEST_F(NodeServiceTest, UpdatesAndCancelsOfOwnAlertsArePublished) {
  v1::PublishResponse first = PublishOk(SampleDraft(0));
  Alert update = SampleDraft(1);
  update.set_updates(first.id());
  v1::PublishResponse second = PublishOk(update);
  EXPECT_EQ(ParsePayload(second.envelope()).updates(), first.id());
  Alert cancel = SampleDraft(2);
  cancel.set_cancels(first.id());
  v1::PublishResponse third = PublishOk(cancel);
  EXPECT_EQ(ParsePayload(third.envelope()).cancels(), first.id());
  EXPECT_EQ(third.sequence(), 3u);
}

// Pads `a` with references and description to exactly `target` bytes.
Alert DraftOfSize(size_t target) {
  Alert a = SampleDraft();
  while (a.ByteSizeLong() + 2100 + 64 < target) a.add_references(std::string(2000, 'r'));
  for (int i = 0; i < 8 && a.ByteSizeLong() != target; ++i) {
    const int64_t missing = static_cast<int64_t>(target) - static_cast<int64_t>(a.ByteSizeLong());
    a.set_description(std::string(a.description().size() + missing, 'd'));
  }
  return a;
}

TEST_F(NodeServiceTest, DraftThatFitsOnceSignedIsPublishedWithinTheLimit) {
  Alert draft = DraftOfSize(kMaxAlertBytes - 200);
  ASSERT_EQ(draft.ByteSizeLong(), kMaxAlertBytes - 200);
  v1::PublishResponse r = PublishOk(draft);
  EXPECT_LE(r.envelope().payload().size(), kMaxAlertBytes);
  EXPECT_EQ(r.sequence(), 1u);
}

// --- Every Publish refusal: exact code, nothing stored, head unmoved. ---

struct PublishRejection {
  std::string name;
  std::function<void(Alert&)> mutate;
  StatusCode code;
};

void PrintTo(const PublishRejection& r, std::ostream* os) { *os << r.name; }

class PublishRejectionTest : public NodeServiceTest,
                             public ::testing::WithParamInterface<PublishRejection> {};

TEST_P(PublishRejectionTest, IsRefusedWithExactCodeAndChangesNothing) {
  // One good alert first, so that "unchanged" means something.
  v1::PublishResponse first = PublishOk(SampleDraft(0));
  const Snapshot before = Observe();
  ASSERT_EQ(before.alerts, 1);
  ASSERT_EQ(before.own_head, 1u);

  Alert bad = SampleDraft(1);
  GetParam().mutate(bad);
  v1::PublishResponse out;
  grpc::Status st = Publish(bad, &out);
  EXPECT_EQ(st.error_code(), GetParam().code) << st.error_message();
  EXPECT_FALSE(st.error_message().empty());
  EXPECT_EQ(out.id(), "");
  EXPECT_EQ(Observe(), before);
  EXPECT_EQ(GetIdentity().head_sequence(), 1u);

  // The feed carries on where it was: the refusal consumed no sequence.
  v1::PublishResponse next = PublishOk(SampleDraft(2));
  EXPECT_EQ(next.sequence(), 2u);
  EXPECT_EQ(ParsePayload(next.envelope()).previous(), first.id());
}

const std::string kUnknownId(64, 'e');

INSTANTIATE_TEST_SUITE_P(
    Publish, PublishRejectionTest,
    ::testing::Values(
        PublishRejection{"UnknownSeverity9", [](Alert& a) { a.set_severity(static_cast<v1::Severity>(9)); }, StatusCode::INVALID_ARGUMENT},
        PublishRejection{"UnspecifiedSeverity", [](Alert& a) { a.clear_severity(); }, StatusCode::INVALID_ARGUMENT},
        PublishRejection{"UnknownTlp9", [](Alert& a) { a.set_tlp(static_cast<v1::Tlp>(9)); }, StatusCode::INVALID_ARGUMENT},
        PublishRejection{"TlpRedWithoutRecipients", [](Alert& a) { a.set_tlp(v1::TLP_RED); }, StatusCode::INVALID_ARGUMENT},
        PublishRejection{"TlpAmberStrictWithoutRecipients", [](Alert& a) { a.set_tlp(v1::TLP_AMBER_STRICT); }, StatusCode::INVALID_ARGUMENT},
        PublishRejection{"TlpRedOutsideAFederationCannotBeSealed", [](Alert& a) { a.set_tlp(v1::TLP_RED); a.add_recipients("example.cz"); }, StatusCode::FAILED_PRECONDITION},
        PublishRejection{"RecipientsOnGreen", [](Alert& a) { a.add_recipients("example.cz"); }, StatusCode::INVALID_ARGUMENT},
        PublishRejection{"MalformedCategory", [](Alert& a) { a.set_category("dns..hijack"); }, StatusCode::INVALID_ARGUMENT},
        PublishRejection{"EmptyTitle", [](Alert& a) { a.clear_title(); }, StatusCode::INVALID_ARGUMENT},
        PublishRejection{"UppercaseDomain", [](Alert& a) { a.add_domains("Example.cz"); }, StatusCode::INVALID_ARGUMENT},
        PublishRejection{"PrefixWithHostBits", [](Alert& a) { a.add_ip_prefixes("192.0.2.1/24"); }, StatusCode::INVALID_ARGUMENT},
        PublishRejection{"As0", [](Alert& a) { a.add_asns(0); }, StatusCode::INVALID_ARGUMENT},
        PublishRejection{"BadLabelKey", [](Alert& a) { a.add_labels()->set_key("Bad Key"); }, StatusCode::INVALID_ARGUMENT},
        PublishRejection{"DraftOver64KiB", [](Alert& a) { a = DraftOfSize(kMaxAlertBytes + 1); }, StatusCode::INVALID_ARGUMENT},
        PublishRejection{"DraftOver64KiBOnceSigned", [](Alert& a) { a = DraftOfSize(kMaxAlertBytes - 10); }, StatusCode::INVALID_ARGUMENT},
        PublishRejection{"MessageOver1MiBIsResourceExhausted", [](Alert& a) { a.set_description(std::string(1100 * 1024, 'd')); }, StatusCode::RESOURCE_EXHAUSTED},
        PublishRejection{"DraftWithSequence", [](Alert& a) { a.set_sequence(7); }, StatusCode::INVALID_ARGUMENT},
        PublishRejection{"DraftWithOrigin", [](Alert& a) { a.set_origin(kOrigin); }, StatusCode::INVALID_ARGUMENT},
        PublishRejection{"DraftWithPrevious", [](Alert& a) { a.set_previous(kUnknownId); }, StatusCode::INVALID_ARGUMENT},
        PublishRejection{"DraftWithIssuedAt", [](Alert& a) { a.mutable_issued_at()->set_seconds(kStartSeconds); }, StatusCode::INVALID_ARGUMENT},
        PublishRejection{"UpdatesUnknownId", [](Alert& a) { a.set_updates(kUnknownId); }, StatusCode::INVALID_ARGUMENT},
        PublishRejection{"CancelsUnknownId", [](Alert& a) { a.set_cancels(kUnknownId); }, StatusCode::INVALID_ARGUMENT},
        PublishRejection{"UpdatesMalformedId", [](Alert& a) { a.set_updates("not-an-id"); }, StatusCode::INVALID_ARGUMENT},
        PublishRejection{"UpdatesAndCancels", [](Alert& a) { a.set_updates(kUnknownId); a.set_cancels(kUnknownId); }, StatusCode::INVALID_ARGUMENT},
        PublishRejection{"ExpiresBeforeIssued", [](Alert& a) { a.mutable_expires_at()->set_seconds(kStartSeconds - 60); }, StatusCode::INVALID_ARGUMENT},
        PublishRejection{"ExpiresWhenIssued", [](Alert& a) { a.mutable_expires_at()->set_seconds(kStartSeconds); }, StatusCode::INVALID_ARGUMENT}),
    [](const ::testing::TestParamInfo<PublishRejection>& info) { return info.param.name; });

// A draft whose string field is not UTF-8 never reaches the node's validator:
// proto3 refuses to parse it. The node's parsing handler answers
// INVALID_ARGUMENT naming the field (gRPC 1.51's generated callback handler
// alone answered UNIMPLEMENTED with an empty message), and nothing is stored.
TEST_F(NodeServiceTest, DraftWithInvalidUtf8IsInvalidArgumentAndChangesNothing) {
  PublishOk(SampleDraft(0));
  const Snapshot before = Observe();
  Alert bad = SampleDraft(1);
  bad.set_title("caf\xe9");
  v1::PublishResponse out;
  grpc::Status st = Publish(bad, &out);
  EXPECT_EQ(st.error_code(), StatusCode::INVALID_ARGUMENT) << st.error_message();
  EXPECT_EQ(st.error_message(),
            "request could not be parsed as watchfloor.v1.PublishRequest: alert.title: invalid "
            "UTF-8 in a string field");
  EXPECT_EQ(Observe(), before);
  EXPECT_EQ(node_.server()->node_service().unparsable_requests(), 1u);
  EXPECT_EQ(PublishOk(SampleDraft(2)).sequence(), 2u);
}

// --- Ingest: the peer path. ---

class IngestTest : public NodeServiceTest {
 protected:
  IngestTest()
      : peer_key_(certs::SigningKey::Generate()),
        other_key_(certs::SigningKey::Generate()) {}

  void SetUp() override {
    const std::string pem = node_.dir().Join("bts1.pem");
    ASSERT_EQ(peer_key_.public_key().SavePemFile(pem), absl::OkStatus());
    auto* k = node_.config().add_known_origins();
    k->set_origin(kPeer);
    k->set_public_key_file(pem);
    Restart();
  }

  // Alert `seq` of a feed signed by `key` as `origin`; `variant` changes the
  // content, and so the id, at the same position.
  static Alert PeerAlert(uint64_t seq, const std::string& previous, int variant = 0,
                         const std::string& origin = kPeer) {
    Alert a = SampleDraft(variant);
    a.set_origin(origin);
    a.set_sequence(seq);
    a.set_previous(previous);
    a.mutable_issued_at()->set_seconds(kStartSeconds + static_cast<int64_t>(seq));
    return a;
  }
  Envelope Sign(const Alert& a) const { return Sign(a, peer_key_); }
  static Envelope Sign(const Alert& a, const certs::SigningKey& key) {
    return certs::SignEnvelope(a.SerializeAsString(), certs::kAlertPayloadType, key);
  }

  // Ingests seq 1..n of the peer feed; returns their ids.
  std::vector<std::string> IngestFeed(int n) {
    std::vector<std::string> ids;
    std::string previous;
    for (int i = 1; i <= n; ++i) {
      Envelope env = Sign(PeerAlert(i, previous));
      v1::IngestResponse out;
      grpc::Status st = Ingest(env, &out);
      EXPECT_TRUE(st.ok()) << st.error_code() << ": " << st.error_message();
      ids.push_back(out.id());
      previous = out.id();
    }
    return ids;
  }

  FeedHead PeerHead() {
    for (const FeedHead& h : node_.server()->ledger()->Heads()) {
      if (h.origin == kPeer) return h;
    }
    return FeedHead();
  }

  // Asserts `env` is refused with `code` and leaves everything unchanged.
  void ExpectRefused(const Envelope& env, StatusCode code) {
    const Snapshot before = Observe();
    const FeedHead peer_before = PeerHead();
    grpc::Status st = Ingest(env);
    EXPECT_EQ(st.error_code(), code) << st.error_message();
    EXPECT_EQ(Observe(), before);
    EXPECT_EQ(PeerHead().sequence, peer_before.sequence);
    EXPECT_EQ(PeerHead().id, peer_before.id);
  }

  certs::SigningKey peer_key_;
  certs::SigningKey other_key_;
};

TEST_F(IngestTest, ContiguousPeerFeedIsAccepted) {
  Envelope one = Sign(PeerAlert(1, ""));
  v1::IngestResponse r1;
  grpc::Status st = Ingest(one, &r1);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(r1.id(), certs::AlertId(one.payload()));
  EXPECT_EQ(r1.cursor(), 1u);
  Envelope two = Sign(PeerAlert(2, r1.id()));
  v1::IngestResponse r2;
  st = Ingest(two, &r2);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(r2.id(), certs::AlertId(two.payload()));
  EXPECT_EQ(r2.cursor(), 2u);

  EXPECT_EQ(node_.StoredAlertCount(), 2);
  EXPECT_EQ(PeerHead().sequence, 2u);
  EXPECT_EQ(PeerHead().id, r2.id());
  EXPECT_EQ(GetIdentity().head_sequence(), 0u);  // the node's own feed is apart
  v1::GetAlertResponse got;
  ASSERT_TRUE(GetAlert(r2.id(), &got).ok());
  EXPECT_EQ(got.envelope().SerializeAsString(), two.SerializeAsString());
}

TEST_F(IngestTest, DuplicateIsAlreadyExists) {
  std::vector<std::string> ids = IngestFeed(2);
  ExpectRefused(Sign(PeerAlert(2, ids[0])), StatusCode::ALREADY_EXISTS);
  ExpectRefused(Sign(PeerAlert(1, "")), StatusCode::ALREADY_EXISTS);
}

TEST_F(IngestTest, FlippedSignatureBitIsUnauthenticated) {
  IngestFeed(1);
  Envelope env = Sign(PeerAlert(2, PeerHead().id));
  (*env.mutable_signatures(0)->mutable_sig())[10] ^= 0x01;
  ExpectRefused(env, StatusCode::UNAUTHENTICATED);
}

TEST_F(IngestTest, FlippedPayloadBitIsUnauthenticated) {
  IngestFeed(1);
  Alert a = PeerAlert(2, PeerHead().id);
  Envelope env = Sign(a);
  // Flip a bit inside the title, so the payload still parses and names the
  // same origin: only the signature can catch it.
  size_t at = env.payload().find(a.title());
  ASSERT_NE(at, std::string::npos);
  (*env.mutable_payload())[at] ^= 0x01;
  ExpectRefused(env, StatusCode::UNAUTHENTICATED);
}

TEST_F(IngestTest, SignedByAnotherKeyIsUnauthenticated) {
  ExpectRefused(Sign(PeerAlert(1, ""), other_key_), StatusCode::UNAUTHENTICATED);
}

TEST_F(IngestTest, SignedByAnotherKeyUnderThePeersKeyIdIsUnauthenticated) {
  Envelope env = Sign(PeerAlert(1, ""), other_key_);
  env.mutable_signatures(0)->set_keyid(peer_key_.public_key().KeyId());
  ExpectRefused(env, StatusCode::UNAUTHENTICATED);
}

TEST_F(IngestTest, UnknownOriginIsUnauthenticated) {
  ExpectRefused(Sign(PeerAlert(1, "", 0, "stranger.example/x1"), other_key_),
                StatusCode::UNAUTHENTICATED);
}

TEST_F(IngestTest, EnvelopeWithoutSignaturesIsUnauthenticated) {
  Envelope env = Sign(PeerAlert(1, ""));
  env.clear_signatures();
  ExpectRefused(env, StatusCode::UNAUTHENTICATED);
}

TEST_F(IngestTest, TruncatedSignatureIsInvalidArgument) {
  Envelope env = Sign(PeerAlert(1, ""));
  env.mutable_signatures(0)->mutable_sig()->resize(63);
  ExpectRefused(env, StatusCode::INVALID_ARGUMENT);
}

TEST_F(IngestTest, ExtraSignatureByUnknownKeyIsIgnored) {
  Envelope env = Sign(PeerAlert(1, ""));
  Envelope other = Sign(PeerAlert(1, ""), other_key_);
  *env.add_signatures() = other.signatures(0);
  std::swap(*env.mutable_signatures(0), *env.mutable_signatures(1));
  ASSERT_TRUE(Ingest(env).ok());
  EXPECT_EQ(node_.StoredAlertCount(), 1);
}

TEST_F(IngestTest, WrongPayloadTypeIsInvalidArgument) {
  Alert a = PeerAlert(1, "");
  // Validly signed, but over another type: not an alert envelope.
  ExpectRefused(certs::SignEnvelope(a.SerializeAsString(), "application/json", peer_key_),
                StatusCode::INVALID_ARGUMENT);
}

TEST_F(IngestTest, GarbagePayloadWithValidSignatureIsInvalidArgument) {
  ExpectRefused(certs::SignEnvelope(std::string("\xff\xff\xff\xff\xff\xff", 6),
                                    certs::kAlertPayloadType, peer_key_),
                StatusCode::INVALID_ARGUMENT);
}

TEST_F(IngestTest, SignedAlertBreakingContentRulesIsInvalidArgument) {
  Alert a = PeerAlert(1, "");
  a.set_severity(static_cast<v1::Severity>(9));
  ExpectRefused(Sign(a), StatusCode::INVALID_ARGUMENT);
  a = PeerAlert(1, "");
  a.clear_issued_at();
  ExpectRefused(Sign(a), StatusCode::INVALID_ARGUMENT);
  a = PeerAlert(1, "");
  a.set_sequence(0);
  ExpectRefused(Sign(a), StatusCode::INVALID_ARGUMENT);
}

TEST_F(IngestTest, SignedPayloadWithInvalidUtf8IsInvalidArgument) {
  // The payload is bytes on the wire, so this one reaches the node.
  Alert a = PeerAlert(1, "");
  a.set_title("caf\xe9");
  std::string payload;
  ASSERT_TRUE(a.SerializePartialToString(&payload));
  ExpectRefused(certs::SignEnvelope(payload, certs::kAlertPayloadType, peer_key_),
                StatusCode::INVALID_ARGUMENT);
}

TEST_F(IngestTest, PayloadOver64KiBIsInvalidArgument) {
  Alert a = PeerAlert(1, "");
  while (a.ByteSizeLong() <= kMaxAlertBytes) a.add_references(std::string(2000, 'r'));
  ExpectRefused(Sign(a), StatusCode::INVALID_ARGUMENT);
}

TEST_F(IngestTest, GapIsFailedPreconditionAndStoresNothing) {
  std::vector<std::string> ids = IngestFeed(2);
  Envelope three = Sign(PeerAlert(3, ids[1]));
  Envelope four = Sign(PeerAlert(4, certs::AlertId(three.payload())));
  ExpectRefused(four, StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(node_.StoredEvidenceCount(), 0);
  // Once the gap is filled the same envelope is accepted.
  ASSERT_TRUE(Ingest(three).ok());
  ASSERT_TRUE(Ingest(four).ok());
  EXPECT_EQ(PeerHead().sequence, 4u);
}

TEST_F(IngestTest, FirstAlertOfFeedMustBeSequenceOne) {
  ExpectRefused(Sign(PeerAlert(2, std::string(64, 'a'))), StatusCode::FAILED_PRECONDITION);
}

TEST_F(IngestTest, BrokenChainIsDataLossWithEvidenceAndFreezesTheFeed) {
  std::vector<std::string> ids = IngestFeed(2);
  const int64_t alerts = node_.StoredAlertCount();
  Envelope bad = Sign(PeerAlert(3, std::string(64, 'c')));
  grpc::Status st = Ingest(bad);
  EXPECT_EQ(st.error_code(), StatusCode::DATA_LOSS) << st.error_message();
  EXPECT_EQ(node_.StoredAlertCount(), alerts);
  ASSERT_EQ(node_.StoredEvidenceCount(), 1);
  absl::StatusOr<std::vector<Evidence>> ev = node_.server()->store()->ListEvidence();
  ASSERT_TRUE(ev.ok()) << ev.status();
  ASSERT_EQ(ev->size(), 1u);
  EXPECT_EQ((*ev)[0].kind, "broken-chain");
  EXPECT_EQ((*ev)[0].origin, kPeer);
  EXPECT_EQ((*ev)[0].stored_id, ids[1]);
  EXPECT_EQ((*ev)[0].conflict_id, certs::AlertId(bad.payload()));
  EXPECT_EQ((*ev)[0].conflict_envelope, bad.SerializeAsString());

  // The valid sequence 3 is refused too: the feed is frozen.
  Envelope good = Sign(PeerAlert(3, ids[1]));
  st = Ingest(good);
  EXPECT_EQ(st.error_code(), StatusCode::DATA_LOSS) << st.error_message();
  EXPECT_EQ(node_.StoredAlertCount(), alerts);
  EXPECT_EQ(node_.StoredEvidenceCount(), 1);
}

TEST_F(IngestTest, ForkIsDataLossWithEvidenceAndFreezesTheFeedAcrossRestart) {
  std::vector<std::string> ids = IngestFeed(2);
  const Snapshot before = Observe();
  Envelope fork = Sign(PeerAlert(2, ids[0], /*variant=*/7));
  ASSERT_NE(certs::AlertId(fork.payload()), ids[1]);
  grpc::Status st = Ingest(fork);
  EXPECT_EQ(st.error_code(), StatusCode::DATA_LOSS) << st.error_message();
  EXPECT_EQ(node_.StoredAlertCount(), before.alerts);
  EXPECT_EQ(node_.StoredEvidenceCount(), 1);
  EXPECT_EQ(node_.server()->hub()->last_cursor(), before.hub_cursor);
  absl::StatusOr<std::vector<Evidence>> ev = node_.server()->store()->ListEvidence();
  ASSERT_TRUE(ev.ok()) << ev.status();
  ASSERT_EQ(ev->size(), 1u);
  EXPECT_EQ((*ev)[0].kind, "fork");
  EXPECT_EQ((*ev)[0].origin, kPeer);
  EXPECT_EQ((*ev)[0].sequence, 2u);
  EXPECT_EQ((*ev)[0].stored_id, ids[1]);
  EXPECT_EQ((*ev)[0].conflict_id, certs::AlertId(fork.payload()));
  EXPECT_EQ((*ev)[0].conflict_envelope, fork.SerializeAsString());
  EXPECT_TRUE(PeerHead().forked);

  // Frozen: a valid next alert is refused, and nothing more is stored.
  Envelope three = Sign(PeerAlert(3, ids[1]));
  st = Ingest(three);
  EXPECT_EQ(st.error_code(), StatusCode::DATA_LOSS) << st.error_message();
  EXPECT_EQ(node_.StoredAlertCount(), before.alerts);
  EXPECT_EQ(node_.StoredEvidenceCount(), 1);

  // The same fork again is still a fork, kept once.
  st = Ingest(fork);
  EXPECT_EQ(st.error_code(), StatusCode::DATA_LOSS) << st.error_message();
  EXPECT_EQ(node_.StoredEvidenceCount(), 1);

  // Still frozen after a restart: the evidence is durable.
  node_.Stop();
  Restart();
  st = Ingest(three);
  EXPECT_EQ(st.error_code(), StatusCode::DATA_LOSS) << st.error_message();
  EXPECT_EQ(node_.StoredAlertCount(), before.alerts);
  // The node's own feed is unaffected by a peer's fork.
  EXPECT_EQ(PublishOk(SampleDraft()).sequence(), 1u);
}

TEST_F(IngestTest, PublishCannotUpdateAnotherOriginsAlert) {
  std::vector<std::string> ids = IngestFeed(1);
  Alert draft = SampleDraft();
  draft.set_updates(ids[0]);
  const Snapshot before = Observe();
  v1::PublishResponse out;
  grpc::Status st = Publish(draft, &out);
  EXPECT_EQ(st.error_code(), StatusCode::INVALID_ARGUMENT) << st.error_message();
  EXPECT_EQ(Observe(), before);
}

// --- Subscribe ---

struct Received {
  uint64_t cursor;
  std::string id;
};

// Reads until `n` messages arrived or the stream ended.
std::vector<Received> ReadUpTo(grpc::ClientReaderInterface<v1::SubscribeResponse>* reader,
                               size_t n, std::vector<v1::SubscribeResponse>* full = nullptr) {
  std::vector<Received> out;
  v1::SubscribeResponse msg;
  while (out.size() < n && reader->Read(&msg)) {
    out.push_back({msg.cursor(), msg.id()});
    if (full != nullptr) full->push_back(msg);
  }
  return out;
}

class SubscribeTest : public NodeServiceTest {
 protected:
  std::unique_ptr<grpc::ClientReader<v1::SubscribeResponse>> Subscribe(
      grpc::ClientContext* ctx, uint64_t cursor, bool replay_only, int deadline_s = 20) {
    ctx->set_deadline(In(deadline_s));
    v1::SubscribeRequest req;
    req.set_cursor(cursor);
    req.set_replay_only(replay_only);
    return stub_->Subscribe(ctx, req);
  }

  // Publishes `n` drafts; returns their ids by cursor.
  std::map<uint64_t, std::string> PublishMany(int n, int first_variant = 0) {
    std::map<uint64_t, std::string> ids;
    for (int i = 0; i < n; ++i) {
      v1::PublishResponse r = PublishOk(SampleDraft(first_variant + i));
      ids[r.cursor()] = r.id();
    }
    return ids;
  }

  // Waits until the hub counts `n` subscribers (server-side cleanup is
  // asynchronous to the client seeing its stream end).
  bool WaitForSubscribers(size_t n) {
    const absl::Time deadline = absl::Now() + absl::Seconds(5);
    while (absl::Now() < deadline) {
      if (node_.server()->hub()->subscriber_count() == n) return true;
      absl::SleepFor(absl::Milliseconds(5));
    }
    ADD_FAILURE() << "the hub counts " << node_.server()->hub()->subscriber_count()
                  << " subscribers, want " << n;
    return false;
  }
};

TEST_F(SubscribeTest, ReplayFromZeroReturnsEveryAlertInOrderAndFinishesOk) {
  std::map<uint64_t, std::string> ids = PublishMany(5);
  grpc::ClientContext ctx;
  auto reader = Subscribe(&ctx, 0, /*replay_only=*/true);
  std::vector<v1::SubscribeResponse> full;
  std::vector<Received> got = ReadUpTo(reader.get(), 100, &full);
  grpc::Status st = reader->Finish();
  EXPECT_TRUE(st.ok()) << st.error_code() << ": " << st.error_message();
  ASSERT_EQ(got.size(), 5u);
  for (size_t i = 0; i < got.size(); ++i) {
    EXPECT_EQ(got[i].cursor, i + 1);
    EXPECT_EQ(got[i].id, ids[i + 1]);
    EXPECT_EQ(full[i].id(), certs::AlertId(full[i].envelope().payload()));
    EXPECT_EQ(certs::VerifyEnvelope(full[i].envelope(), node_.key().public_key()),
              absl::OkStatus());
  }
}

TEST_F(SubscribeTest, ReplayFromCursorReturnsOnlyLaterAlerts) {
  std::map<uint64_t, std::string> ids = PublishMany(5);
  grpc::ClientContext ctx;
  auto reader = Subscribe(&ctx, 3, /*replay_only=*/true);
  std::vector<Received> got = ReadUpTo(reader.get(), 100);
  EXPECT_TRUE(reader->Finish().ok());
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].cursor, 4u);
  EXPECT_EQ(got[0].id, ids[4]);
  EXPECT_EQ(got[1].cursor, 5u);
  EXPECT_EQ(got[1].id, ids[5]);
}

TEST_F(SubscribeTest, ReplayOfEmptyOrPastTheEndFinishesOkWithNothing) {
  for (uint64_t cursor : {0ull, 1ull, 1000ull}) {
    SCOPED_TRACE(cursor);
    if (cursor == 1) PublishMany(1);
    grpc::ClientContext ctx;
    auto reader = Subscribe(&ctx, cursor, /*replay_only=*/true);
    std::vector<Received> got = ReadUpTo(reader.get(), 100);
    EXPECT_TRUE(reader->Finish().ok());
    EXPECT_TRUE(got.empty());
  }
}

TEST_F(SubscribeTest, SinceStartsAtTheFirstAlertStoredThenAndSaturates) {
  std::map<uint64_t, std::string> ids = PublishMany(2);  // stored at kStartSeconds
  struct Case {
    int64_t seconds;
    size_t want;
  };
  for (const Case& c : {Case{kStartSeconds, 2}, Case{kStartSeconds + 1, 0},
                        Case{INT64_MAX, 0}, Case{INT64_MIN, 2}}) {
    SCOPED_TRACE(c.seconds);
    grpc::ClientContext ctx;
    ctx.set_deadline(In(20));
    v1::SubscribeRequest req;
    req.mutable_since()->set_seconds(c.seconds);
    req.set_replay_only(true);
    auto reader = stub_->Subscribe(&ctx, req);
    std::vector<Received> got = ReadUpTo(reader.get(), 100);
    EXPECT_TRUE(reader->Finish().ok());
    EXPECT_EQ(got.size(), c.want);
  }
}

TEST_F(SubscribeTest, ReplayAfterRestartComesFromTheStore) {
  std::map<uint64_t, std::string> ids = PublishMany(3);
  node_.Stop();
  Restart();
  grpc::ClientContext ctx;
  auto reader = Subscribe(&ctx, 1, /*replay_only=*/true);
  std::vector<Received> got = ReadUpTo(reader.get(), 100);
  EXPECT_TRUE(reader->Finish().ok());
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].id, ids[2]);
  EXPECT_EQ(got[1].id, ids[3]);
}

// The seam between replay and live tail: while a publisher runs, a subscriber
// from cursor 0 must see every cursor once, in order, without gaps.
TEST_F(SubscribeTest, LiveTailHasNoGapOrDuplicateAtTheSeam) {
  constexpr int kTotal = 300;
  std::atomic<int> published{0};
  std::map<uint64_t, std::string> ids;
  absl::Mutex ids_mu;
  std::thread publisher([&] {
    auto stub = node_.NewStub();
    for (int i = 0; i < kTotal; ++i) {
      grpc::ClientContext ctx;
      ctx.set_deadline(In(10));
      v1::PublishRequest req;
      *req.mutable_alert() = SampleDraft(i);
      v1::PublishResponse r;
      grpc::Status st = stub->Publish(&ctx, req, &r);
      if (!st.ok()) {
        ADD_FAILURE() << st.error_message();
        return;
      }
      absl::MutexLock lock(&ids_mu);
      ids[r.cursor()] = r.id();
      published.fetch_add(1);
    }
  });
  // Join mid-stream: some history to replay, more arriving during the replay.
  while (published.load() < 30) absl::SleepFor(absl::Milliseconds(1));
  grpc::ClientContext ctx;
  auto reader = Subscribe(&ctx, 0, /*replay_only=*/false, /*deadline_s=*/60);
  std::vector<Received> got = ReadUpTo(reader.get(), kTotal);
  publisher.join();
  ctx.TryCancel();
  reader->Finish();

  ASSERT_EQ(got.size(), static_cast<size_t>(kTotal));
  absl::MutexLock lock(&ids_mu);
  for (int i = 0; i < kTotal; ++i) {
    ASSERT_EQ(got[i].cursor, static_cast<uint64_t>(i + 1)) << "at position " << i;
    EXPECT_EQ(got[i].id, ids[i + 1]);
  }
}

TEST_F(SubscribeTest, ResumeFromLastCursorContinuesWithoutDuplicates) {
  std::map<uint64_t, std::string> ids = PublishMany(10);
  uint64_t last = 0;
  {
    grpc::ClientContext ctx;
    auto reader = Subscribe(&ctx, 0, /*replay_only=*/false);
    std::vector<Received> got = ReadUpTo(reader.get(), 5);
    ASSERT_EQ(got.size(), 5u);
    last = got.back().cursor;
    ctx.TryCancel();
    grpc::Status st = reader->Finish();
    EXPECT_EQ(st.error_code(), StatusCode::CANCELLED) << st.error_message();
  }
  ASSERT_EQ(last, 5u);
  grpc::ClientContext ctx;
  auto reader = Subscribe(&ctx, last, /*replay_only=*/true);
  std::vector<Received> rest = ReadUpTo(reader.get(), 100);
  EXPECT_TRUE(reader->Finish().ok());
  ASSERT_EQ(rest.size(), 5u);
  for (size_t i = 0; i < rest.size(); ++i) {
    EXPECT_EQ(rest[i].cursor, 6 + i);
    EXPECT_EQ(rest[i].id, ids[6 + i]);
  }
}

// Commits `n` drafts through the Ledger directly, so that group commit makes a
// big burst quick; the subscriber is the part under test, not the publish
// path. Returns false if any publish failed.
bool CommitBurst(Ledger* ledger, int n) {
  absl::BlockingCounter done(n);
  std::atomic<int> failures{0};
  for (int i = 0; i < n; ++i) {
    ledger->Publish(SampleDraft(i), [&](absl::StatusOr<PublishResult> r) {
      if (!r.ok()) failures.fetch_add(1);
      done.DecrementCount();
    });
  }
  done.Wait();
  return failures.load() == 0;
}

// Reads a live stream from cursor 0 until it has seen `last`. A stream the
// node ends for falling behind must say RESOURCE_EXHAUSTED and name the
// resume cursor in its trailing metadata (node.proto); the reader resumes
// there. `stub` picks the channel, `reader` and `ctx` hold the open stream,
// `resumes` counts how often it had to resume.
void ReadToEnd(v1::Node::Stub* stub, std::unique_ptr<grpc::ClientContext>& ctx,
               std::unique_ptr<grpc::ClientReader<v1::SubscribeResponse>>& reader,
               std::vector<Received>& got, uint64_t last, int* resumes) {
  while (got.empty() || got.back().cursor < last) {
    std::vector<Received> more = ReadUpTo(reader.get(), last - (got.empty() ? 0 : got.back().cursor));
    got.insert(got.end(), more.begin(), more.end());
    if (!got.empty() && got.back().cursor == last) break;
    grpc::Status st = reader->Finish();
    ASSERT_EQ(st.error_code(), StatusCode::RESOURCE_EXHAUSTED) << st.error_message();
    const uint64_t resume_at = got.empty() ? 0 : got.back().cursor;
    auto it = ctx->GetServerTrailingMetadata().find("watchfloor-resume-cursor");
    ASSERT_NE(it, ctx->GetServerTrailingMetadata().end());
    EXPECT_EQ(std::string(it->second.data(), it->second.size()), absl::StrCat(resume_at));
    ASSERT_LT(++*resumes, 10);
    ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(In(60));
    v1::SubscribeRequest req;
    req.set_cursor(resume_at);
    reader = stub->Subscribe(ctx.get(), req);
  }
  ctx->TryCancel();
  reader->Finish();
}

void ExpectEveryCursorOnceInOrder(const std::vector<Received>& got, uint64_t last) {
  ASSERT_EQ(got.size(), last);
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(got[i].cursor, i + 1) << "at position " << i;
  }
}

// A live subscriber that stops reading while far more alerts are committed
// than the node keeps in memory still gets every one of them, in order, once
// it reads again (resuming, if the node cut it off, where the node says).
TEST_F(SubscribeTest, SlowSubscriberGetsEveryAlertInOrder) {
  constexpr int kBurst = 5000;
  PublishMany(1);
  auto ctx = std::make_unique<grpc::ClientContext>();
  auto reader = Subscribe(ctx.get(), 0, /*replay_only=*/false, /*deadline_s=*/60);
  std::vector<Received> got = ReadUpTo(reader.get(), 1);
  ASSERT_EQ(got.size(), 1u);
  ASSERT_TRUE(CommitBurst(node_.server()->ledger(), kBurst));
  int resumes = 0;
  ReadToEnd(stub_.get(), ctx, reader, got, 1 + kBurst, &resumes);
  ExpectEveryCursorOnceInOrder(got, 1 + kBurst);
}

// The same, on a client channel with a small, fixed flow-control window, so
// that the node cannot push the burst into the client's buffers: the live
// queue must overflow, and the subscriber must be told where to resume.
TEST_F(SubscribeTest, SubscriberThatFallsBehindIsToldWhereToResumeAndLosesNothing) {
  constexpr int kBurst = 6000;
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  args.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 16 * 1024);
  auto stub = v1::Node::NewStub(grpc::CreateCustomChannel(
      node_.server()->address(), grpc::InsecureChannelCredentials(), args));
  stub_.swap(stub);
  PublishMany(1);
  auto ctx = std::make_unique<grpc::ClientContext>();
  auto reader = Subscribe(ctx.get(), 0, /*replay_only=*/false, /*deadline_s=*/60);
  std::vector<Received> got = ReadUpTo(reader.get(), 1);
  ASSERT_EQ(got.size(), 1u);
  ASSERT_TRUE(CommitBurst(node_.server()->ledger(), kBurst));
  int resumes = 0;
  ReadToEnd(stub_.get(), ctx, reader, got, 1 + kBurst, &resumes);
  EXPECT_GE(resumes, 1);
  ExpectEveryCursorOnceInOrder(got, 1 + kBurst);
}

TEST_F(SubscribeTest, CancellingAParkedSubscriberFinishesPromptly) {
  grpc::ClientContext ctx;
  auto reader = Subscribe(&ctx, 0, /*replay_only=*/false);
  ASSERT_TRUE(WaitForSubscribers(1));
  absl::SleepFor(absl::Milliseconds(50));  // let it reach the live tail and park
  const absl::Time start = absl::Now();
  ctx.TryCancel();
  grpc::Status st = reader->Finish();
  EXPECT_EQ(st.error_code(), StatusCode::CANCELLED) << st.error_message();
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
  // The server let go of it too.
  EXPECT_TRUE(WaitForSubscribers(0));
  // And the node still publishes (the cancelled waiter is not woken).
  EXPECT_EQ(PublishOk(SampleDraft()).sequence(), 1u);
}

TEST_F(SubscribeTest, ParkedSubscriberIsWokenByAPublish) {
  grpc::ClientContext ctx;
  auto reader = Subscribe(&ctx, 0, /*replay_only=*/false);
  ASSERT_TRUE(WaitForSubscribers(1));
  absl::SleepFor(absl::Milliseconds(50));
  v1::PublishResponse pub = PublishOk(SampleDraft());
  std::vector<Received> got = ReadUpTo(reader.get(), 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].cursor, pub.cursor());
  EXPECT_EQ(got[0].id, pub.id());
  ctx.TryCancel();
  reader->Finish();
}

// The Ledger commits a batch to the store before it hands the batch to the
// hub. A subscriber replaying in between reads those alerts from the store,
// goes live, and is then handed the same alerts by the hub: each must still
// reach it once, in cursor order (node.proto: strictly increasing).
TEST_F(SubscribeTest, AlertsReplayedBeforeTheHubHearsOfThemAreNotSentAgainLive) {
  PublishMany(2);
  // Play the writer thread between its commit and its call to the hub (the
  // Ledger is idle, so this is the only writer).
  Alert alert = SampleDraft(100);
  alert.set_origin(kPeer);
  alert.set_sequence(1);
  alert.mutable_issued_at()->set_seconds(kStartSeconds);
  Envelope envelope;
  envelope.set_payload_type(std::string(certs::kAlertPayloadType));
  envelope.set_payload(alert.SerializeAsString());
  NewAlert row;
  row.id = certs::AlertId(envelope.payload());
  row.origin = kPeer;
  row.sequence = 1;
  row.issued_at_ms = kStartSeconds * 1000;
  row.received_at_ms = kStartSeconds * 1000;
  row.envelope = envelope.SerializeAsString();
  absl::StatusOr<std::vector<uint64_t>> cursors =
      node_.server()->store()->Append({row}, {});
  ASSERT_TRUE(cursors.ok()) << cursors.status();
  ASSERT_EQ(*cursors, std::vector<uint64_t>{3});

  grpc::ClientContext ctx;
  auto reader = Subscribe(&ctx, 0, /*replay_only=*/false);
  std::vector<Received> got = ReadUpTo(reader.get(), 3);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[2].cursor, 3u);
  absl::SleepFor(absl::Milliseconds(50));  // replay done: it goes live
  auto stored = std::make_shared<StoredAlert>();
  stored->cursor = 3;
  stored->id = row.id;
  stored->origin = kPeer;
  stored->sequence = 1;
  stored->envelope = envelope;
  node_.server()->hub()->OnCommitted({stored});

  v1::PublishResponse next = PublishOk(SampleDraft(3));
  got = ReadUpTo(reader.get(), 1);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].cursor, next.cursor());
  EXPECT_EQ(got[0].id, next.id());
  ctx.TryCancel();
  reader->Finish();
}

TEST_F(SubscribeTest, SubscriberLimitIsResourceExhausted) {
  node_.config().mutable_limits()->set_max_subscribers(1);
  node_.Stop();
  Restart();
  PublishMany(1);
  grpc::ClientContext first_ctx;
  auto first = Subscribe(&first_ctx, 0, /*replay_only=*/false);
  ASSERT_EQ(ReadUpTo(first.get(), 1).size(), 1u);

  {
    grpc::ClientContext ctx;
    auto second = Subscribe(&ctx, 0, /*replay_only=*/true);
    EXPECT_TRUE(ReadUpTo(second.get(), 1).empty());
    grpc::Status st = second->Finish();
    EXPECT_EQ(st.error_code(), StatusCode::RESOURCE_EXHAUSTED) << st.error_message();
  }

  // A place frees up when the first subscriber leaves.
  first_ctx.TryCancel();
  first->Finish();
  ASSERT_TRUE(WaitForSubscribers(0));
  grpc::ClientContext ctx;
  auto third = Subscribe(&ctx, 0, /*replay_only=*/true);
  EXPECT_EQ(ReadUpTo(third.get(), 10).size(), 1u);
  EXPECT_TRUE(third->Finish().ok());
}

TEST_F(SubscribeTest, StoppingTheNodeEndsAParkedStream) {
  grpc::ClientContext ctx;
  auto reader = Subscribe(&ctx, 0, /*replay_only=*/false);
  ASSERT_TRUE(WaitForSubscribers(1));
  absl::SleepFor(absl::Milliseconds(50));
  const absl::Time start = absl::Now();
  node_.Stop();
  EXPECT_LT(absl::Now() - start, absl::Seconds(4));
  grpc::Status st = reader->Finish();
  EXPECT_EQ(st.error_code(), StatusCode::UNAVAILABLE) << st.error_message();
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

// --- Restart ---

TEST_F(NodeServiceTest, FeedContinuesAfterRestart) {
  PublishOk(SampleDraft(0));
  v1::PublishResponse second = PublishOk(SampleDraft(1));
  node_.Stop();
  Restart();
  EXPECT_EQ(GetIdentity().head_sequence(), 2u);
  v1::PublishResponse third = PublishOk(SampleDraft(2));
  EXPECT_EQ(third.sequence(), 3u);
  EXPECT_EQ(third.cursor(), 3u);
  EXPECT_EQ(ParsePayload(third.envelope()).previous(), second.id());
  v1::GetAlertResponse got;
  ASSERT_TRUE(GetAlert(second.id(), &got).ok());
  EXPECT_EQ(got.cursor(), 2u);
}

}  // namespace
}  // namespace watchfloor::node
