// Requests whose bytes do not parse, sent raw (ByteBuffer) to every rpc of
// both services: random bytes, a truncated valid message, invalid UTF-8 in
// a string field, and a valid message of another type that does not parse
// as this one. Each must be answered INVALID_ARGUMENT "request could not be
// parsed as <type>: <why>", counted (per peer for Federation), and change
// nothing; a caller without permission learns only that. Also unknown
// fields in what Publish would sign and what Ingest or gossip would store.
// Real nodes: the Node service on plaintext loopback (as node_service_test),
// the Federation service over real mutual TLS (TestFederation).
#include <chrono>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "certs/proto_check.h"
#include "federation/federation_handler.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/impl/client_unary_call.h"
#include "grpcpp/impl/rpc_method.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/byte_buffer.h"
#include "gtest/gtest.h"
#include "tests/federation_util.h"
#include "tests/test_util.h"

namespace watchfloor::testing {
namespace {

namespace v1 = ::watchfloor::v1;
using google::protobuf::Message;

// One bad request and the reason the node must give ("" : computed with
// certs::DescribeParseFailure, which proto_check_test checks on its own).
struct BadRequest {
  std::string kind;
  std::string bytes;
  std::string reason;
};

// A raw unary call (a server-streaming rpc refused before its first message
// looks the same to this client).
grpc::Status RawCall(grpc::ChannelInterface* channel, const std::string& path,
                     const std::string& bytes, grpc::ByteBuffer* response) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::Slice slice(bytes);
  grpc::ByteBuffer request(&slice, 1);
  return grpc::internal::BlockingUnaryCall<grpc::ByteBuffer, grpc::ByteBuffer>(
      channel, grpc::internal::RpcMethod(path.c_str(), grpc::internal::RpcMethod::NORMAL_RPC),
      &ctx, request, response);
}

std::string RandomBytes() {
  std::mt19937 rng(7);
  std::string b;
  for (int i = 0; i < 48; ++i) b.push_back(static_cast<char>(rng()));
  return b;
}

// A valid message of another type whose field 1 is the string "hello": where
// the target's field 1 is a message, 'l' is an end-group tag of field 13.
std::string Hello() {
  v1::GetAlertRequest r;
  r.set_id("hello");
  return r.SerializeAsString();
}
// A valid PushRequest: where the target's field 1 is a string, the envelope's
// signature bytes are not UTF-8.
std::string AnEnvelopeAsString() {
  v1::PushRequest r;
  v1::Envelope* e = r.add_envelopes();
  e->set_payload("x");
  e->add_signatures()->set_sig(std::string(8, '\x9c'));
  return r.SerializeAsString();
}

// The four kinds for a request type: `valid` (ending in a length-delimited
// field, truncated by one byte), `bad_utf8` (nullptr: the type has no
// string field) with its field path, and the wrong-type bytes with theirs.
std::vector<BadRequest> BadRequests(const Message& valid, const Message* bad_utf8,
                                    const std::string& utf8_path, const std::string& wrong,
                                    const std::string& wrong_reason) {
  std::vector<BadRequest> out;
  out.push_back({"random bytes", RandomBytes(), ""});
  std::string full = valid.SerializeAsString();
  out.push_back({"truncated", full.substr(0, full.size() - 1), ""});
  if (bad_utf8 != nullptr) {
    out.push_back({"invalid UTF-8", bad_utf8->SerializePartialAsString(),
                   absl::StrCat(utf8_path, ": invalid UTF-8 in a string field")});
  }
  if (!wrong.empty()) out.push_back({"wrong nesting", wrong, wrong_reason});
  return out;
}

const char kEndGroup[] = ", byte 2: an end-group tag of field 13 without its start-group";
const char kBadUtf8[] = ": invalid UTF-8 in a string field";

struct Rpc {
  std::string method;
  std::shared_ptr<const Message> prototype;
  std::vector<BadRequest> bad;
};

// A fresh message per call: the tables below are built once per test.
template <class T>
std::shared_ptr<T> New() {
  return std::make_shared<T>();
}

// Checks every bad request of `rpc` at `service`: exact code and message.
void ExpectAllRefused(grpc::ChannelInterface* channel, const std::string& service,
                      const Rpc& rpc, int* sent) {
  const std::string type = rpc.prototype->GetDescriptor()->full_name();
  for (const BadRequest& bad : rpc.bad) {
    SCOPED_TRACE(absl::StrCat(rpc.method, ": ", bad.kind));
    std::unique_ptr<Message> m(rpc.prototype->New());
    ASSERT_FALSE(m->ParseFromString(bad.bytes)) << "the case must not parse";
    std::string reason =
        bad.reason.empty() ? certs::DescribeParseFailure(*rpc.prototype->GetDescriptor(), bad.bytes)
                           : bad.reason;
    ASSERT_FALSE(reason.empty());
    grpc::ByteBuffer response;
    grpc::Status st = RawCall(channel, absl::StrCat("/", service, "/", rpc.method), bad.bytes,
                              &response);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << st.error_message();
    EXPECT_EQ(st.error_message(),
              absl::StrCat("request could not be parsed as ", type, ": ", reason));
    ++*sent;
  }
}

// ------------------------------------------------------------ Node service

std::vector<Rpc> NodeRpcs() {
  auto publish = New<v1::PublishRequest>();
  *publish->mutable_alert() = SampleDraft(1);
  auto publish_utf8 = std::make_shared<v1::PublishRequest>(*publish);
  publish_utf8->mutable_alert()->set_title("caf\xc3");
  auto sub = New<v1::SubscribeRequest>();
  sub->set_cursor(5);
  sub->add_filters()->add_conditions()->mutable_category()->add_patterns("dns.*");
  auto sub_utf8 = std::make_shared<v1::SubscribeRequest>(*sub);
  sub_utf8->mutable_filters(0)->mutable_conditions(0)->mutable_category()->set_patterns(0, "\xff");
  auto get = New<v1::GetAlertRequest>();
  get->set_id(std::string(64, 'a'));
  auto get_utf8 = New<v1::GetAlertRequest>();
  get_utf8->set_id("\xff");
  // An empty message type: any well-formed bytes parse (as unknown fields),
  // so neither invalid UTF-8 nor another type can fail; only broken wire
  // format does. The valid one carries field 1, 5 bytes.
  auto identity = New<v1::GetIdentityRequest>();
  identity->ParseFromString(std::string("\x0a\x05hello", 7));
  auto ingest = New<v1::IngestRequest>();
  ingest->mutable_envelope()->set_payload_type("t");
  ingest->mutable_envelope()->set_payload("abc");
  auto ingest_utf8 = New<v1::IngestRequest>();
  ingest_utf8->mutable_envelope()->set_payload_type("\xff");
  auto cp = New<v1::GetCheckpointRequest>();
  cp->set_origin("example.cz/prg1");
  auto cp_utf8 = New<v1::GetCheckpointRequest>();
  cp_utf8->set_origin("\xfe");
  auto incl = New<v1::GetInclusionProofRequest>();
  incl->set_tree_size(3);
  incl->set_id(std::string(64, 'b'));
  auto incl_utf8 = New<v1::GetInclusionProofRequest>();
  incl_utf8->set_id("\xff");
  auto cons = New<v1::GetConsistencyProofRequest>();
  cons->set_origin("example.cz/prg1");
  auto cons_utf8 = New<v1::GetConsistencyProofRequest>();
  cons_utf8->set_origin("\xff");
  auto evidence = New<v1::ListEvidenceRequest>();
  evidence->ParseFromString(std::string("\x0a\x05hello", 7));
  auto exp = New<v1::ExportRequest>();
  exp->set_filter_text("category:dns.*");
  auto exp_utf8 = New<v1::ExportRequest>();
  exp_utf8->set_filter_text("\xff");
  auto submit = New<v1::SubmitRosterRequest>();
  submit->add_versions()->set_payload_type("t");
  auto submit_utf8 = New<v1::SubmitRosterRequest>();
  submit_utf8->add_versions()->set_payload_type("\xff");
  auto roster_status = New<v1::GetRosterStatusRequest>();
  roster_status->ParseFromString(std::string("\x0a\x05hello", 7));
  auto incidents = New<v1::ListIncidentsRequest>();
  incidents->set_page_size(5);
  incidents->set_page_token("12");
  auto incidents_utf8 = New<v1::ListIncidentsRequest>();
  incidents_utf8->set_page_token("\xff");
  auto corroborate = New<v1::CorroborateRequest>();
  corroborate->set_id(std::string(64, 'a'));
  auto corroborate_utf8 = New<v1::CorroborateRequest>();
  corroborate_utf8->set_id("\xff");
  v1::FrontierEntry entry;  // its field 3 is a string; SubscribeRequest's is filters
  entry.set_id("hello");
  return {
      {"Publish", publish,
       BadRequests(*publish, publish_utf8.get(), "alert.title", Hello(),
                   absl::StrCat("alert", kEndGroup))},
      {"Subscribe", sub,
       BadRequests(*sub, sub_utf8.get(), "filters[0].conditions[0].category.patterns[0]",
                   entry.SerializeAsString(), absl::StrCat("filters[0]", kEndGroup))},
      {"GetAlert", get,
       BadRequests(*get, get_utf8.get(), "id", AnEnvelopeAsString(), absl::StrCat("id", kBadUtf8))},
      {"GetIdentity", identity, BadRequests(*identity, nullptr, "", "", "")},
      {"Ingest", ingest,
       BadRequests(*ingest, ingest_utf8.get(), "envelope.payload_type", Hello(),
                   absl::StrCat("envelope", kEndGroup))},
      {"GetCheckpoint", cp,
       BadRequests(*cp, cp_utf8.get(), "origin", AnEnvelopeAsString(),
                   absl::StrCat("origin", kBadUtf8))},
      {"GetInclusionProof", incl,
       BadRequests(*incl, incl_utf8.get(), "id", AnEnvelopeAsString(), absl::StrCat("id", kBadUtf8))},
      {"GetConsistencyProof", cons,
       BadRequests(*cons, cons_utf8.get(), "origin", AnEnvelopeAsString(),
                   absl::StrCat("origin", kBadUtf8))},
      {"ListEvidence", evidence, BadRequests(*evidence, nullptr, "", "", "")},
      {"Export", exp,
       BadRequests(*exp, exp_utf8.get(), "filter_text", Hello(),
                   absl::StrCat("filters[0]", kEndGroup))},
      {"SubmitRoster", submit,
       BadRequests(*submit, submit_utf8.get(), "versions[0].payload_type", Hello(),
                   absl::StrCat("versions[0]", kEndGroup))},
      {"GetRosterStatus", roster_status, BadRequests(*roster_status, nullptr, "", "", "")},
      {"ListIncidents", incidents,
       BadRequests(*incidents, incidents_utf8.get(), "page_token", Hello(),
                   absl::StrCat("filters[0]", kEndGroup))},
      {"Corroborate", corroborate,
       BadRequests(*corroborate, corroborate_utf8.get(), "id", AnEnvelopeAsString(),
                   absl::StrCat("id", kBadUtf8))},
  };
}

class NodeRequestParsingTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(node_.Start(), absl::OkStatus());
    channel_ = grpc::CreateChannel(node_.server()->address(), grpc::InsecureChannelCredentials());
  }
  TestNode node_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(NodeRequestParsingTest, EveryRpcAnswersInvalidArgumentCountsAndChangesNothing) {
  const std::vector<Rpc> rpcs = NodeRpcs();
  ASSERT_EQ(static_cast<int>(rpcs.size()),
            v1::PublishRequest::descriptor()->file()->FindServiceByName("Node")->method_count());
  int sent = 0;
  for (const Rpc& rpc : rpcs) ExpectAllRefused(channel_.get(), "watchfloor.v1.Node", rpc, &sent);
  EXPECT_EQ(node_.server()->node_service().unparsable_requests(), static_cast<uint64_t>(sent));
  EXPECT_EQ(node_.StoredAlertCount(), 0);
  EXPECT_EQ(node_.server()->ledger()->OwnHead().sequence, 0u);

  // The node still serves well-formed requests, the first at sequence 1.
  auto stub = node_.NewStub();
  grpc::ClientContext ctx;
  v1::PublishRequest req;
  *req.mutable_alert() = SampleDraft(9);
  v1::PublishResponse resp;
  grpc::Status st = stub->Publish(&ctx, req, &resp);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(resp.sequence(), 1u);
}

// A client may half-close a unary call without sending its message at all.
TEST_F(NodeRequestParsingTest, CallWithoutARequestMessageIsRefusedAndTheNodeKeepsServing) {
  grpc::GenericStub stub(channel_);
  for (const char* method : {"/watchfloor.v1.Node/GetIdentity", "/watchfloor.v1.Node/Publish",
                             "/watchfloor.v1.Node/Subscribe"}) {
    SCOPED_TRACE(method);
    grpc::CompletionQueue cq;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call =
        stub.PrepareCall(&ctx, method, &cq);
    void* tag;
    bool ok;
    call->StartCall(reinterpret_cast<void*>(1));
    ASSERT_TRUE(cq.Next(&tag, &ok));
    call->WritesDone(reinterpret_cast<void*>(2));
    ASSERT_TRUE(cq.Next(&tag, &ok));
    grpc::Status st;
    call->Finish(&st, reinterpret_cast<void*>(3));
    ASSERT_TRUE(cq.Next(&tag, &ok));
    EXPECT_FALSE(st.ok());
    EXPECT_NE(st.error_code(), grpc::StatusCode::UNIMPLEMENTED) << st.error_message();
    cq.Shutdown();
    while (cq.Next(&tag, &ok)) {
    }
  }
  EXPECT_EQ(node_.StoredAlertCount(), 0);
  auto stub2 = node_.NewStub();
  grpc::ClientContext ctx;
  v1::Identity id;
  EXPECT_TRUE(stub2->GetIdentity(&ctx, v1::GetIdentityRequest(), &id).ok());
}

TEST_F(NodeRequestParsingTest, PublishDraftWithUnknownFieldIsRefusedAndConsumesNoSequence) {
  auto stub = node_.NewStub();
  auto publish = [&](const v1::Alert& draft) {
    grpc::ClientContext ctx;
    v1::PublishRequest req;
    *req.mutable_alert() = draft;
    v1::PublishResponse resp;
    return stub->Publish(&ctx, req, &resp);
  };
  v1::Alert top = SampleDraft(1);
  top.GetReflection()->MutableUnknownFields(&top)->AddVarint(99, 1);
  grpc::Status st = publish(top);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(st.error_message(),
            "draft: unknown field 99 (varint); this node signs only fields it knows: leave the "
            "field out, or upgrade the node");
  v1::Alert nested = SampleDraft(1);
  v1::Label* label = nested.add_labels();
  label->set_key("kind");
  label->GetReflection()->MutableUnknownFields(label)->AddLengthDelimited(99, "x");
  st = publish(nested);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(st.error_message(),
            "draft.labels[0]: unknown field 99 (length-delimited); this node signs only fields "
            "it knows: leave the field out, or upgrade the node");
  EXPECT_EQ(node_.StoredAlertCount(), 0);
  EXPECT_EQ(node_.server()->ledger()->OwnHead().sequence, 0u);
  EXPECT_EQ(node_.server()->hub()->last_cursor(), 0u);
  EXPECT_TRUE(publish(SampleDraft(1)).ok());
  EXPECT_EQ(node_.server()->ledger()->OwnHead().sequence, 1u);
}

TEST_F(NodeRequestParsingTest, IngestOfAnEnvelopeWithUnknownFieldsIsRefused) {
  // Signed by this node's own key, so only the unknown fields are wrong.
  v1::Alert alert = SampleDraft(3);
  alert.set_origin("example.cz/prg1");
  alert.set_sequence(1);
  alert.mutable_issued_at()->set_seconds(1798761600);
  v1::Alert with_unknown = alert;
  with_unknown.mutable_issued_at()->GetReflection()
      ->MutableUnknownFields(with_unknown.mutable_issued_at())->AddVarint(7, 1);
  auto ingest = [&](const v1::Envelope& env) {
    auto stub = node_.NewStub();
    grpc::ClientContext ctx;
    v1::IngestRequest req;
    *req.mutable_envelope() = env;
    v1::IngestResponse resp;
    return stub->Ingest(&ctx, req, &resp);
  };
  grpc::Status st = ingest(SignAlert(with_unknown, node_.key()));
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(st.error_message(),
            "alert.issued_at: unknown field 7 (varint); this node stores and forwards only "
            "alerts whose every field it can validate");
  v1::Envelope env = SignAlert(alert, node_.key());
  env.GetReflection()->MutableUnknownFields(&env)->AddVarint(12, 1);
  st = ingest(env);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(st.error_message(), "envelope: unknown field 12 (varint)");
  EXPECT_EQ(node_.StoredAlertCount(), 0);
}

// ------------------------------------------------------- Federation service

std::vector<Rpc> FederationRpcs() {
  auto push = New<v1::PushRequest>();
  push->add_envelopes()->set_payload_type("t");
  auto push_utf8 = New<v1::PushRequest>();
  push_utf8->add_envelopes()->set_payload_type("\xff");
  auto ihave = New<v1::IHaveRequest>();
  ihave->add_refs()->set_origin("m1.test/n1");
  auto ihave_utf8 = New<v1::IHaveRequest>();
  ihave_utf8->add_refs()->set_origin("\xff");
  auto fetch = New<v1::FetchRequest>();
  fetch->add_ids(std::string(64, 'c'));
  auto fetch_utf8 = New<v1::FetchRequest>();
  fetch_utf8->add_ids("\xff");
  auto frontier = New<v1::FrontierMessage>();
  frontier->add_entries()->set_origin("m1.test/n1");
  auto frontier_utf8 = New<v1::FrontierMessage>();
  frontier_utf8->add_entries()->set_origin("\xff");
  auto pull = New<v1::PullRangeRequest>();
  pull->set_origin("m1.test/n1");
  auto pull_utf8 = New<v1::PullRangeRequest>();
  pull_utf8->set_origin("\xff");
  auto evidence = New<v1::EvidenceMessage>();
  evidence->mutable_first()->set_payload_type("t");
  auto evidence_utf8 = New<v1::EvidenceMessage>();
  evidence_utf8->mutable_first()->set_payload_type("\xff");
  auto cps = New<v1::PushCheckpointsRequest>();
  cps->add_notes("note");
  auto cps_utf8 = New<v1::PushCheckpointsRequest>();
  cps_utf8->add_notes("\xff");
  // Numbers only: no string to break, and a string where a number goes
  // parses (as an unknown field). A 2-byte varint cut short does not.
  auto chain = New<v1::GetRosterChainRequest>();
  chain->set_after_version(300);
  auto cosigs = New<v1::PushCosignaturesRequest>();
  cosigs->add_cosignatures()->set_alert_id(std::string(64, 'a'));
  auto cosigs_utf8 = New<v1::PushCosignaturesRequest>();
  cosigs_utf8->add_cosignatures()->set_alert_id("\xff");
  auto pull_cosigs = New<v1::PullCosignaturesRequest>();
  pull_cosigs->set_after(300);
  return {
      {"Push", push,
       BadRequests(*push, push_utf8.get(), "envelopes[0].payload_type", Hello(),
                   absl::StrCat("envelopes[0]", kEndGroup))},
      {"IHave", ihave,
       BadRequests(*ihave, ihave_utf8.get(), "refs[0].origin", Hello(),
                   absl::StrCat("refs[0]", kEndGroup))},
      {"Fetch", fetch,
       BadRequests(*fetch, fetch_utf8.get(), "ids[0]", AnEnvelopeAsString(),
                   absl::StrCat("ids[0]", kBadUtf8))},
      {"ExchangeFrontier", frontier,
       BadRequests(*frontier, frontier_utf8.get(), "entries[0].origin", Hello(),
                   absl::StrCat("entries[0]", kEndGroup))},
      {"PullRange", pull,
       BadRequests(*pull, pull_utf8.get(), "origin", AnEnvelopeAsString(),
                   absl::StrCat("origin", kBadUtf8))},
      {"PushEvidence", evidence,
       BadRequests(*evidence, evidence_utf8.get(), "first.payload_type", Hello(),
                   absl::StrCat("first", kEndGroup))},
      {"PushCheckpoints", cps,
       BadRequests(*cps, cps_utf8.get(), "notes[0]", AnEnvelopeAsString(),
                   absl::StrCat("notes[0]", kBadUtf8))},
      {"GetRosterChain", chain, BadRequests(*chain, nullptr, "", "", "")},
      {"PushCosignatures", cosigs,
       BadRequests(*cosigs, cosigs_utf8.get(), "cosignatures[0].alert_id", Hello(),
                   absl::StrCat("cosignatures[0]", kEndGroup))},
      {"PullCosignatures", pull_cosigs, BadRequests(*pull_cosigs, nullptr, "", "", "")},
  };
}

class FederationRequestParsingTest : public ::testing::Test {
 protected:
  FederationRequestParsingTest() : fed_(Options()) {}
  static FederationOptions Options() {
    FederationOptions o;
    o.members = 3;
    o.anti_entropy_interval_ms = 60000;  // no background rounds to count
    return o;
  }
  void SetUp() override {
    ASSERT_TRUE(fed_.ok());
    ASSERT_TRUE(fed_.StartAll().ok());
  }
  uint64_t Refused(int at, int from) {
    return fed_.gossip(at)->stats().peers[fed_.origin(from)].refused;
  }
  void ExpectNothingStoredOrForwarded() {
    for (int i = 0; i < fed_.size(); ++i) {
      EXPECT_EQ(fed_.StoredAlertCount(i), 0) << fed_.origin(i);
      federation::Gossip::Stats s = fed_.gossip(i)->stats();
      EXPECT_EQ(s.received_new + s.received_dup, 0u) << fed_.origin(i);
      for (const auto& [peer, ps] : s.peers) EXPECT_EQ(ps.pushed, 0u) << peer;
    }
  }
  TestFederation fed_;
};

TEST_F(FederationRequestParsingTest, EveryRpcAnswersInvalidArgumentAndCountsAgainstThePeer) {
  const std::vector<Rpc> rpcs = FederationRpcs();
  ASSERT_EQ(static_cast<int>(rpcs.size()),
            v1::PushRequest::descriptor()->file()->FindServiceByName("Federation")->method_count());
  auto channel = fed_.ChannelAs(&fed_.member(1).node_tls, 0);
  const uint64_t before_other = Refused(0, 2);
  int sent = 0;
  for (const Rpc& rpc : rpcs) {
    ExpectAllRefused(channel.get(), "watchfloor.v1.Federation", rpc, &sent);
  }
  EXPECT_EQ(Refused(0, 1), static_cast<uint64_t>(sent));
  EXPECT_EQ(Refused(0, 2), before_other);
  EXPECT_EQ(fed_.gossip(0)->stats().refused, static_cast<uint64_t>(sent));
  ExpectNothingStoredOrForwarded();

  // A well-formed request on the same raw path is served.
  grpc::ByteBuffer response;
  grpc::Status st = RawCall(channel.get(), "/watchfloor.v1.Federation/ExchangeFrontier",
                            v1::FrontierMessage().SerializeAsString(), &response);
  ASSERT_TRUE(st.ok()) << st.error_message();
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(response.Dump(&slices).ok());
  std::string bytes;
  for (const grpc::Slice& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  v1::FrontierMessage theirs;
  EXPECT_TRUE(theirs.ParseFromString(bytes));
}

TEST_F(FederationRequestParsingTest, GarbageFromAClientCertificateIsPermissionDenied) {
  const std::vector<Rpc> rpcs = FederationRpcs();
  auto channel = fed_.ChannelAs(&fed_.member(0).client_tls, 0);
  for (const Rpc& rpc : rpcs) {
    grpc::ByteBuffer response;
    grpc::Status st = RawCall(channel.get(), absl::StrCat("/watchfloor.v1.Federation/", rpc.method),
                              rpc.bad[0].bytes, &response);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED)
        << rpc.method << ": " << st.error_message();
    EXPECT_NE(st.error_message().find("is a client certificate"), std::string::npos)
        << st.error_message();
  }
  EXPECT_EQ(fed_.gossip(0)->stats().refused, 0u);
  ExpectNothingStoredOrForwarded();
}

TEST_F(FederationRequestParsingTest, GarbageFromAnUnauthenticatedCallerIsUnauthenticated) {
  // m1's CA (in the roster) vouching for a node n9 the roster does not list.
  absl::StatusOr<certs::KeyAndCert> impostor = certs::MintNodeCert(
      fed_.member(1).ca, fed_.member(1).name, "n9", absl::Now() - absl::Hours(1),
      absl::Now() + absl::Hours(1));
  ASSERT_TRUE(impostor.ok()) << impostor.status();
  auto channel = fed_.ChannelAs(&*impostor, 0);
  for (const Rpc& rpc : FederationRpcs()) {
    grpc::ByteBuffer response;
    grpc::Status st = RawCall(channel.get(), absl::StrCat("/watchfloor.v1.Federation/", rpc.method),
                              rpc.bad[0].bytes, &response);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAUTHENTICATED)
        << rpc.method << ": " << st.error_message();
    EXPECT_NE(st.error_message().find("n9"), std::string::npos) << st.error_message();
  }
  EXPECT_EQ(fed_.gossip(0)->stats().refused, 0u);
  ExpectNothingStoredOrForwarded();
}

TEST_F(FederationRequestParsingTest, NodeRpcGarbageFromAnotherMembersClientIsPermissionDenied) {
  auto channel = fed_.ChannelAs(&fed_.member(1).client_tls, 0);
  grpc::ByteBuffer response;
  grpc::Status st = RawCall(channel.get(), "/watchfloor.v1.Node/Publish", "\x0f", &response);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::PERMISSION_DENIED) << st.error_message();
  // The node's own member's client is told what is wrong.
  channel = fed_.ChannelAs(&fed_.member(0).client_tls, 0);
  st = RawCall(channel.get(), "/watchfloor.v1.Node/Publish", "\x0f", &response);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(st.error_message(),
            "request could not be parsed as watchfloor.v1.PublishRequest: byte 0: invalid wire "
            "type 7 (field 1)");
  EXPECT_EQ(fed_.server(0)->node_service().unparsable_requests(), 1u);
  ExpectNothingStoredOrForwarded();
}

TEST_F(FederationRequestParsingTest, PushOfAnAlertWithUnknownFieldsIsRefusedAndNotForwarded) {
  absl::StatusOr<certs::SigningKey> key =
      certs::SigningKey::LoadPemFile(fed_.member(2).signing_key_file);
  ASSERT_TRUE(key.ok()) << key.status();
  v1::Alert a = SampleDraft(5);
  a.set_origin(fed_.origin(2));
  a.set_sequence(1);
  a.mutable_issued_at()->set_seconds(absl::ToUnixSeconds(absl::Now()));
  a.GetReflection()->MutableUnknownFields(&a)->AddVarint(99, 1);
  auto stub = fed_.PeerStub(2, 0);
  v1::PushRequest req;
  *req.add_envelopes() = SignAlert(a, *key);
  v1::PushResponse resp;
  grpc::ClientContext ctx;
  grpc::Status st = stub->Push(&ctx, req, &resp);
  ASSERT_TRUE(st.ok()) << st.error_message();
  ASSERT_EQ(resp.verdicts_size(), 1);
  EXPECT_EQ(resp.verdicts(0), v1::PUSH_VERDICT_REFUSED);
  EXPECT_EQ(Refused(0, 2), 1u);
  ExpectNothingStoredOrForwarded();
}

TEST_F(FederationRequestParsingTest, HandleFederationRequestWorksWithoutANetwork) {
  federation::Gossip& gossip = *fed_.gossip(0);
  absl::StatusOr<std::string> r = federation::HandleFederationRequest(
      gossip, fed_.origin(1), "ExchangeFrontier", v1::FrontierMessage().SerializeAsString());
  ASSERT_TRUE(r.ok()) << r.status();
  v1::FrontierMessage theirs;
  EXPECT_TRUE(theirs.ParseFromString(*r));
  EXPECT_EQ(federation::HandleFederationRequest(gossip, fed_.origin(1), "Nope", "").status(),
            absl::UnimplementedError("watchfloor.v1.Federation has no rpc \"Nope\""));
  EXPECT_EQ(federation::HandleFederationRequest(gossip, fed_.origin(0), "Push", "\x0f")
                .status()
                .code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(federation::HandleFederationRequest(gossip, fed_.origin(1), "Push", "\x0f").status(),
            absl::InvalidArgumentError("request could not be parsed as watchfloor.v1.PushRequest: "
                                       "byte 0: invalid wire type 7 (field 1)"));
  EXPECT_EQ(Refused(0, 1), 1u);
}

}  // namespace
}  // namespace watchfloor::testing
