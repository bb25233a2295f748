// Corroboration by co-signature (issue 13 point 3) on real 3-member
// federations over mutual TLS on loopback: a co-signature made at one member
// reaches every other member by gossip and verifies there against the
// co-signer's roster key; forged, non-member and own-member co-signatures
// are refused, counted against the peer that sent them, and stored nowhere;
// every refusal of Node.Corroborate has its exact status and stores
// nothing; a node that was away catches up by anti-entropy; filters on
// corroboration; the CLI's `corroborate` against running node processes.
#include <functional>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "certs/cosign.h"
#include "certs/dsse.h"
#include "certs/ids.h"
#include "node/filter_parser.h"
#include "gtest/gtest.h"
#include "tests/federation_util.h"
#include "tests/interop_test_util.h"
#include "tests/test_util.h"

namespace watchfloor::testing {
namespace {

namespace v1 = ::watchfloor::v1;
constexpr absl::Duration kConverge = absl::Seconds(30);

FederationOptions Three(bool multi_process = false) {
  FederationOptions o;
  o.members = 3;
  o.multi_process = multi_process;
  return o;
}

grpc::ClientContext* WithDeadline(grpc::ClientContext* ctx) {
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  return ctx;
}

std::string Publish(TestFederation& fed, int node, const v1::Alert& draft) {
  v1::PublishResponse r;
  grpc::Status st = fed.Publish(node, draft, &r);
  EXPECT_TRUE(st.ok()) << st.error_code() << " " << st.error_message();
  return r.id();
}

grpc::Status Corroborate(TestFederation& fed, int node, const std::string& id,
                         v1::CorroborateResponse* out) {
  grpc::ClientContext ctx;
  v1::CorroborateRequest req;
  req.set_id(id);
  return fed.Client(node)->Corroborate(WithDeadline(&ctx), req, out);
}

// The envelope node `node` serves for `id` (empty if it does not store it).
v1::Envelope Served(TestFederation& fed, int node, const std::string& id) {
  grpc::ClientContext ctx;
  v1::GetAlertRequest req;
  req.set_id(id);
  v1::GetAlertResponse resp;
  if (!fed.Client(node)->GetAlert(WithDeadline(&ctx), req, &resp).ok()) return {};
  return resp.envelope();
}

// Number of signatures node `node` serves on alert `id`.
int Signatures(TestFederation& fed, int node, const std::string& id) {
  return Served(fed, node, id).signatures_size();
}

int64_t StoredCosignatures(TestFederation& fed, int node) {
  return fed.StoredCosignatureCount(node);
}

size_t ListCount(TestFederation& fed, int node, const std::string& filter_text) {
  v1::ListIncidentsRequest req;
  absl::StatusOr<v1::Filter> f = node::ParseFilter(filter_text);
  EXPECT_TRUE(f.ok()) << f.status();
  *req.add_filters() = *f;
  grpc::ClientContext ctx;
  v1::ListIncidentsResponse resp;
  grpc::Status st = fed.Client(node)->ListIncidents(WithDeadline(&ctx), req, &resp);
  EXPECT_TRUE(st.ok()) << st.error_message();
  return static_cast<size_t>(resp.incidents_size());
}

// A co-signature made at member 1 reaches members 0 and 2, each serving the
// same envelope: the origin's signature first, then member 1's, which
// verifies over PAE with member 1's node key. Member 2 adds its own; the
// filters count distinct members.
TEST(CorroborationTest, CosignatureReachesEveryMemberAndVerifiesWithTheRosterKey) {
  TestFederation fed(Three());
  ASSERT_TRUE(fed.ok());
  ASSERT_TRUE(fed.StartAll().ok());
  const std::string id = Publish(fed, 0, SampleDraft(1));
  ASSERT_TRUE(fed.WaitForIds({id}, kConverge));
  const v1::Envelope original = Served(fed, 0, id);
  ASSERT_EQ(original.signatures_size(), 1);

  v1::CorroborateResponse resp;
  grpc::Status st = Corroborate(fed, 1, id, &resp);
  ASSERT_TRUE(st.ok()) << st.error_message();
  EXPECT_TRUE(resp.added());
  EXPECT_EQ(resp.corroborations(), 1u);
  ASSERT_EQ(resp.envelope().signatures_size(), 2);
  EXPECT_EQ(resp.envelope().payload(), original.payload());
  EXPECT_EQ(resp.envelope().signatures(0).SerializeAsString(),
            original.signatures(0).SerializeAsString());
  const v1::Signature& cosig = resp.envelope().signatures(1);
  const certs::PublicKey& key1 = fed.member(1).signing_key->public_key();
  EXPECT_EQ(cosig.keyid(), key1.KeyId());
  EXPECT_TRUE(key1.Verify(certs::Pae(original.payload_type(), original.payload()), cosig.sig()));

  ASSERT_TRUE(WaitUntil([&] { return Signatures(fed, 0, id) == 2 && Signatures(fed, 2, id) == 2; },
                        kConverge));
  for (int i = 0; i < 3; ++i) {
    SCOPED_TRACE(fed.origin(i));
    EXPECT_EQ(Served(fed, i, id).SerializeAsString(), resp.envelope().SerializeAsString());
    EXPECT_EQ(StoredCosignatures(fed, i), 1);
    // The id is over the payload only: unchanged.
    EXPECT_EQ(certs::AlertId(Served(fed, i, id).payload()), id);
  }
  EXPECT_EQ(ListCount(fed, 2, "corroborated>=1"), 1u);
  EXPECT_EQ(ListCount(fed, 2, "corroborated>=2"), 0u);
  EXPECT_EQ(ListCount(fed, 0, "cosigned-by:m1.test"), 1u);
  EXPECT_EQ(ListCount(fed, 0, "cosigned-by:m2.test"), 0u);
  EXPECT_EQ(ListCount(fed, 0, "!cosigned-by:m2.test"), 1u);

  // A second member: two members corroborate it now, everywhere.
  v1::CorroborateResponse second;
  ASSERT_TRUE(Corroborate(fed, 2, id, &second).ok());
  EXPECT_EQ(second.corroborations(), 2u);
  ASSERT_TRUE(WaitUntil([&] {
    return Signatures(fed, 0, id) == 3 && Signatures(fed, 1, id) == 3;
  }, kConverge));
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(ListCount(fed, i, "corroborated>=2"), 1u) << fed.origin(i);
    EXPECT_EQ(Served(fed, i, id).SerializeAsString(), second.envelope().SerializeAsString());
  }
  // Corroborating again is idempotent: nothing new anywhere.
  v1::CorroborateResponse again;
  ASSERT_TRUE(Corroborate(fed, 1, id, &again).ok());
  EXPECT_FALSE(again.added());
  EXPECT_EQ(again.envelope().SerializeAsString(), second.envelope().SerializeAsString());
  EXPECT_EQ(StoredCosignatures(fed, 1), 2);
}

// Every refusal of Node.Corroborate: the exact status, and nothing stored.
TEST(CorroborationTest, CorroborateRefusalsHaveExactStatusesAndStoreNothing) {
  TestFederation fed(Three());
  ASSERT_TRUE(fed.ok());
  ASSERT_TRUE(fed.StartAll().ok());
  const std::string own = Publish(fed, 0, SampleDraft(1));
  // Sealed to member 2 only (the origin's member is added): member 1 cannot
  // read it.
  v1::Alert secret = SampleDraft(2);
  secret.set_tlp(v1::TLP_RED);
  secret.add_recipients("m2.test");
  const std::string sealed = Publish(fed, 0, secret);
  ASSERT_TRUE(fed.WaitForIds({own, sealed}, kConverge));
  struct Case {
    const char* name;
    int node;
    std::string id;
    grpc::StatusCode code;
    std::string says;
  };
  const std::vector<Case> cases = {
      {"not an id", 1, "xyz", grpc::StatusCode::INVALID_ARGUMENT, "64 lowercase hex"},
      {"upper-case id", 1, absl::AsciiStrToUpper(own), grpc::StatusCode::INVALID_ARGUMENT,
       "64 lowercase hex"},
      {"unknown alert", 1, std::string(64, 'a'), grpc::StatusCode::NOT_FOUND, "not stored"},
      {"own member's alert", 0, own, grpc::StatusCode::FAILED_PRECONDITION, "own member"},
      {"sealed, not a recipient", 1, sealed, grpc::StatusCode::PERMISSION_DENIED,
       "cannot read it"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    v1::CorroborateResponse resp;
    grpc::Status st = Corroborate(fed, c.node, c.id, &resp);
    EXPECT_EQ(st.error_code(), c.code) << st.error_message();
    EXPECT_TRUE(absl::StrContains(st.error_message(), c.says)) << st.error_message();
    EXPECT_EQ(StoredCosignatures(fed, c.node), 0);
  }
  // A recipient may corroborate the sealed alert; its co-signature covers
  // the sealed payload as signed.
  v1::CorroborateResponse ok;
  ASSERT_TRUE(Corroborate(fed, 2, sealed, &ok).ok());
  EXPECT_TRUE(ok.added());
  // Gossip reaches the other two nodes in no particular order: wait for
  // both, then none holds more than the one.
  ASSERT_TRUE(WaitUntil(
      [&] { return StoredCosignatures(fed, 0) == 1 && StoredCosignatures(fed, 1) == 1; },
      kConverge));
  for (int i = 0; i < 3; ++i) EXPECT_EQ(StoredCosignatures(fed, i), 1) << fed.origin(i);
}

// Co-signatures a peer pushes that are forged (bad signature under a roster
// node's keyid), by a key no roster node has, or by the alert origin's own
// member: each refused, counted against that peer as bad_cosignature, and
// stored nowhere; a valid one in the same call is kept.
TEST(CorroborationTest, ForgedAndNonMemberCosignaturesAreRefusedAndCountedAgainstThePeer) {
  TestFederation fed(Three());
  ASSERT_TRUE(fed.ok());
  ASSERT_TRUE(fed.StartAll().ok());
  const std::string id = Publish(fed, 0, SampleDraft(1));
  ASSERT_TRUE(fed.WaitForIds({id}, kConverge));
  const v1::Envelope env = Served(fed, 2, id);

  v1::PushCosignaturesRequest req;
  auto add = [&](const v1::Signature& s) {
    v1::AlertCosignature* c = req.add_cosignatures();
    c->set_alert_id(id);
    *c->mutable_signature() = s;
  };
  v1::Signature forged = certs::Cosign(env, *fed.member(1).signing_key);
  forged.mutable_sig()->at(10) ^= 0x01;
  add(forged);
  add(certs::Cosign(env, certs::SigningKey::Generate()));  // not in the roster
  add(certs::Cosign(env, *fed.member(0).signing_key));     // the origin itself
  v1::Signature short_sig = certs::Cosign(env, *fed.member(1).signing_key);
  short_sig.mutable_sig()->resize(63);
  add(short_sig);
  add(certs::Cosign(env, *fed.member(1).signing_key));  // valid, relayed by node 1

  const uint64_t before = fed.gossip(2)->stats().peers[fed.origin(1)].refused_by_reason["bad_cosignature"];
  std::unique_ptr<v1::Federation::Stub> peer = fed.PeerStub(1, 2);
  grpc::ClientContext ctx;
  v1::PushCosignaturesResponse resp;
  grpc::Status st = peer->PushCosignatures(WithDeadline(&ctx), req, &resp);
  ASSERT_TRUE(st.ok()) << st.error_message();
  ASSERT_EQ(resp.new_info_size(), 5);
  EXPECT_FALSE(resp.new_info(0));
  EXPECT_FALSE(resp.new_info(1));
  EXPECT_FALSE(resp.new_info(2));
  EXPECT_FALSE(resp.new_info(3));
  EXPECT_TRUE(resp.new_info(4));
  federation::Gossip::PeerStats ps = fed.gossip(2)->stats().peers[fed.origin(1)];
  EXPECT_EQ(ps.refused_by_reason["bad_cosignature"], before + 4);
  EXPECT_EQ(fed.gossip(2)->stats().peers[fed.origin(0)].refused_by_reason["bad_cosignature"], 0u);

  // Only the valid one, at node 2 and, by gossip, everywhere.
  ASSERT_TRUE(WaitUntil([&] {
    return StoredCosignatures(fed, 0) == 1 && StoredCosignatures(fed, 1) == 1;
  }, kConverge));
  for (int i = 0; i < 3; ++i) {
    SCOPED_TRACE(fed.origin(i));
    EXPECT_EQ(StoredCosignatures(fed, i), 1);
    const v1::Envelope served = Served(fed, i, id);
    ASSERT_EQ(served.signatures_size(), 2);
    EXPECT_EQ(served.signatures(1).keyid(), fed.member(1).signing_key->public_key().KeyId());
  }

  // An alert envelope pushed with an extra (unverified) signature is stored
  // with the origin's signature only: extras in an envelope are ignored.
  v1::Alert next = SampleDraft(2);
  next.set_origin(fed.origin(0));
  next.set_sequence(2);
  next.set_previous(id);
  *next.mutable_issued_at() = AlertOf(env).issued_at();
  next.mutable_issued_at()->set_seconds(next.issued_at().seconds() + 1);
  v1::Envelope signed_next = SignAlert(next, *fed.member(0).signing_key);
  v1::Signature junk = certs::Cosign(signed_next, certs::SigningKey::Generate());
  *signed_next.add_signatures() = junk;
  v1::PushRequest push;
  *push.add_envelopes() = signed_next;
  grpc::ClientContext push_ctx;
  v1::PushResponse push_resp;
  ASSERT_TRUE(fed.PeerStub(0, 2)->Push(WithDeadline(&push_ctx), push, &push_resp).ok());
  const std::string next_id = certs::AlertId(signed_next.payload());
  ASSERT_TRUE(fed.WaitForIds({next_id}, kConverge, {2}));
  EXPECT_EQ(Signatures(fed, 2, next_id), 1);
  EXPECT_EQ(StoredCosignatures(fed, 2), 1);
}

// A node that was down while an alert was corroborated gets the
// co-signature by anti-entropy (PullCosignatures) when it comes back, from a
// peer that has no push of it queued any more (it restarted too, and the
// co-signer stays down); and both keep it across their restarts (the store
// is durable).
TEST(CorroborationTest, NodeThatWasAwayPullsItByAntiEntropyAndItSurvivesRestarts) {
  TestFederation fed(Three());
  ASSERT_TRUE(fed.ok());
  ASSERT_TRUE(fed.StartAll().ok());
  const std::string id = Publish(fed, 0, SampleDraft(1));
  ASSERT_TRUE(fed.WaitForIds({id}, kConverge));
  fed.StopNode(2);
  v1::CorroborateResponse resp;
  ASSERT_TRUE(Corroborate(fed, 1, id, &resp).ok());
  ASSERT_TRUE(WaitUntil([&] { return Signatures(fed, 0, id) == 2; }, kConverge));
  fed.StopNode(1);
  fed.StopNode(0);
  ASSERT_TRUE(fed.StartNode(0).ok());
  EXPECT_EQ(Served(fed, 0, id).SerializeAsString(), resp.envelope().SerializeAsString());
  ASSERT_TRUE(fed.StartNode(2).ok());
  ASSERT_TRUE(WaitUntil([&] { return Signatures(fed, 2, id) == 2; }, kConverge));
  EXPECT_EQ(Served(fed, 2, id).SerializeAsString(), resp.envelope().SerializeAsString());
  EXPECT_EQ(fed.gossip(2)->stats().cosignatures_pulled, 1u);
  EXPECT_EQ(fed.gossip(0)->stats().cosignatures_sent, 0u);  // nothing pushed since its start
  fed.StopNode(2);
  ASSERT_TRUE(fed.StartNode(2).ok());
  EXPECT_EQ(Served(fed, 2, id).SerializeAsString(), resp.envelope().SerializeAsString());
  EXPECT_EQ(StoredCosignatures(fed, 2), 1);
}

// The CLI against real node processes.
TEST(CorroborationTest, CliCorroboratesAndShowsCorroboration) {
  TestFederation fed(Three(/*multi_process=*/true));
  ASSERT_TRUE(fed.ok());
  ASSERT_TRUE(fed.StartAll().ok());
  auto run = [&](int i, std::vector<std::string> args) {
    FederationMember& m = fed.member(i);
    for (const std::string& d : {std::string("--node"), m.endpoint(), std::string("--tls-cert"),
                                 m.client_cert_file, std::string("--tls-key"), m.client_key_file,
                                 std::string("--tls-ca"), m.ca_cert_file,
                                 std::string("--node-origin"), m.origin}) {
      args.push_back(d);
    }
    return RunWatchfloor(args);
  };
  const std::string id = Publish(fed, 0, SampleDraft(1));
  ASSERT_TRUE(fed.WaitForIds({id}, kConverge));
  ProcResult r = run(1, {"corroborate", id});
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_EQ(r.out, absl::StrCat("corroborated ", id, ": corroborated by 1 member(s), 2 signature(s)\n"));
  r = run(1, {"corroborate", id, "--output", "json"});
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_EQ(r.out, absl::StrCat("{\"id\":\"", id,
                                "\",\"added\":false,\"corroborations\":1,\"signatures\":2}\n"));
  r = run(0, {"corroborate", id});
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_TRUE(absl::StrContains(r.err, "own member")) << r;
  r = run(1, {"corroborate", "nothex"});
  EXPECT_EQ(r.exit_code, 2) << r;
  ASSERT_TRUE(WaitUntil([&] { return Signatures(fed, 2, id) == 2; }, kConverge));
  r = run(2, {"incidents", "--filter", "corroborated>=1"});
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_TRUE(absl::StrContains(r.out, absl::StrCat("corroborated by: ", fed.origin(1)))) << r;
  r = run(2, {"incidents", "--filter", "cosigned-by:m2.test"});
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_EQ(r.out, "no incidents\n");
}

// One message of a Subscribe stream with incident events: its cursor, its
// alert id (empty for a co-signature or expiry message) and its events.
struct Message {
  uint64_t cursor = 0;
  std::string id;
  int signatures = 0;               // on its envelope
  std::vector<std::string> events;  // "KIND incident alert cosigner"
  bool operator==(const Message& o) const {
    return cursor == o.cursor && id == o.id && signatures == o.signatures &&
           events == o.events;
  }
};

std::ostream& operator<<(std::ostream& os, const Message& m) {
  os << "[" << m.cursor << " " << m.id << " sigs " << m.signatures;
  for (const std::string& e : m.events) os << " {" << e << "}";
  return os << "]";
}

// Reads node `node`'s Subscribe stream from `cursor` until `until` says
// stop (or the stream ends: replay_only).
std::vector<Message> Collect(TestFederation& fed, int node, uint64_t cursor, bool replay_only,
                             bool events, const std::string& filter,
                             const std::function<bool(const std::vector<Message>&)>& until,
                             grpc::ClientContext* ctx) {
  v1::SubscribeRequest req;
  req.set_cursor(cursor);
  req.set_replay_only(replay_only);
  req.set_incident_events(events);
  if (!filter.empty()) {
    absl::StatusOr<v1::Filter> f = node::ParseFilter(filter);
    EXPECT_TRUE(f.ok()) << f.status();
    *req.add_filters() = *f;
  }
  std::vector<Message> seen;
  auto reader = fed.Client(node)->Subscribe(ctx, req);
  v1::SubscribeResponse msg;
  while (!until(seen) && reader->Read(&msg)) {
    Message& m = seen.emplace_back();
    m.cursor = msg.cursor();
    m.id = msg.id();
    m.signatures = msg.envelope().signatures_size();
    EXPECT_EQ(msg.has_envelope(), !msg.id().empty());
    for (const v1::IncidentEvent& e : msg.events()) {
      m.events.push_back(absl::StrCat(v1::IncidentEventKind_Name(e.kind()), " ", e.incident(),
                                      " ", e.alert(), " ", e.cosigner()));
    }
  }
  ctx->TryCancel();
  reader->Finish();
  return seen;
}

std::vector<Message> Replay(TestFederation& fed, int node, uint64_t cursor, bool events,
                            const std::string& filter = "") {
  grpc::ClientContext ctx;
  return Collect(fed, node, cursor, true, events, filter,
                 [](const std::vector<Message>&) { return false; }, WithDeadline(&ctx));
}

size_t CountEvents(const std::vector<Message>& seen, absl::string_view kind) {
  size_t n = 0;
  for (const Message& m : seen) {
    for (const std::string& e : m.events) n += absl::StartsWith(e, kind);
  }
  return n;
}

// Issue 13 point 4: co-signatures and expiries are incident events too.
// A live subscriber at member 2, started before anything happened, sees
// each co-signature of an incident's alert (made at member 1, gossiped,
// and made at member 2 itself) and each expiry as a message of its own;
// a replay afterwards, a resume from the middle and a replay after the
// node restarted all see exactly the same messages at the same cursors.
// A cancelled incident does not expire; a subscriber without incident
// events sees the alerts only; `corroborated>=2` sees the co-signature
// that made the alert match.
TEST(CorroborationTest, CorroboratedAndExpiredEventsReplayExactlyAsTheyWentLive) {
  TestFederation fed(Three());
  ASSERT_TRUE(fed.ok());
  ASSERT_TRUE(fed.StartAll().ok());
  std::vector<Message> live;
  grpc::ClientContext live_ctx;
  live_ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(90));
  auto done = [](const std::vector<Message>& seen) {
    return CountEvents(seen, "INCIDENT_CORROBORATED") == 2 &&
           CountEvents(seen, "INCIDENT_EXPIRY") == 1 &&
           CountEvents(seen, "INCIDENT_CANCELLED_BY") == 1;
  };
  std::thread subscriber(
      [&] { live = Collect(fed, 2, 0, false, true, "", done, &live_ctx); });
  // And one that only wants alerts with two co-signing members.
  std::vector<Message> live_two;
  grpc::ClientContext two_ctx;
  two_ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(90));
  std::thread two_subscriber([&] {
    live_two = Collect(
        fed, 2, 0, false, true, "corroborated>=2",
        [](const std::vector<Message>& seen) {
          return CountEvents(seen, "INCIDENT_CORROBORATED") == 1;
        },
        &two_ctx);
  });

  auto expiring = [](int n, int seconds) {
    v1::Alert a = SampleDraft(n);
    a.mutable_expires_at()->set_seconds(absl::ToUnixSeconds(absl::Now()) + seconds);
    return a;
  };
  const std::string kept = Publish(fed, 0, SampleDraft(1));
  const std::string expires = Publish(fed, 0, expiring(2, 3));
  const std::string cancelled = Publish(fed, 0, expiring(3, 4));
  v1::Alert cancel_draft = SampleDraft(4);
  cancel_draft.set_cancels(cancelled);
  const std::string cancel = Publish(fed, 0, cancel_draft);
  ASSERT_TRUE(fed.WaitForIds({kept, expires, cancelled, cancel}, kConverge));
  v1::CorroborateResponse resp;
  ASSERT_TRUE(Corroborate(fed, 1, kept, &resp).ok());
  ASSERT_TRUE(WaitUntil([&] { return Signatures(fed, 2, kept) == 2; }, kConverge));
  ASSERT_TRUE(Corroborate(fed, 2, kept, &resp).ok());
  subscriber.join();
  two_subscriber.join();
  ASSERT_TRUE(done(live)) << ::testing::PrintToString(live);

  // The story as node 2 tells it.
  std::vector<std::string> corroborated;
  for (const Message& m : live) {
    for (const std::string& e : m.events) {
      if (absl::StartsWith(e, "INCIDENT_CORROBORATED")) {
        EXPECT_TRUE(m.id.empty());
        corroborated.push_back(e);
      }
      if (absl::StartsWith(e, "INCIDENT_EXPIRY")) {
        EXPECT_TRUE(m.id.empty());
        EXPECT_EQ(e, absl::StrCat("INCIDENT_EXPIRY ", expires, " ", expires, " "));
      }
    }
  }
  EXPECT_EQ(corroborated,
            (std::vector<std::string>{
                absl::StrCat("INCIDENT_CORROBORATED ", kept, " ", kept, " ", fed.origin(1)),
                absl::StrCat("INCIDENT_CORROBORATED ", kept, " ", kept, " ", fed.origin(2))}));
  for (size_t i = 1; i < live.size(); ++i) EXPECT_LT(live[i - 1].cursor, live[i].cursor);

  // The cancelled incident's expiry passes too; it stays quiet, and nothing
  // more is written.
  absl::SleepFor(absl::Seconds(2));
  std::vector<Message> replay = Replay(fed, 2, 0, true);
  EXPECT_EQ(replay, live);
  ASSERT_GE(replay.size(), 4u);
  std::vector<Message> rest = Replay(fed, 2, replay[2].cursor, true);
  EXPECT_EQ(rest, std::vector<Message>(replay.begin() + 3, replay.end()));

  // Without incident events: the four alerts, nothing else.
  std::vector<Message> plain = Replay(fed, 2, 0, false);
  ASSERT_EQ(plain.size(), 4u);
  for (const Message& m : plain) {
    EXPECT_FALSE(m.id.empty());
    EXPECT_TRUE(m.events.empty());
  }

  // Only the second co-signature made `kept` match corroborated>=2: live
  // that is the one message, and a replay (which sees each alert as it was
  // at commit) gives the same, although `kept` has two co-signers now.
  std::vector<Message> two = Replay(fed, 2, 0, true, "corroborated>=2");
  ASSERT_EQ(two.size(), 1u) << ::testing::PrintToString(two);
  EXPECT_TRUE(two[0].id.empty());
  EXPECT_EQ(two[0].events, std::vector<std::string>{corroborated[1]});
  EXPECT_EQ(two, live_two);
  // Alerts in the replay carry the origin's signature only, as live;
  // GetAlert serves all three.
  for (const Message& m : replay) {
    if (!m.id.empty()) {
      EXPECT_EQ(m.signatures, 1) << m;
    }
  }
  EXPECT_EQ(Signatures(fed, 2, kept), 3);

  // Rebuilt from the store after a restart: the same messages, and no
  // second expiry mark.
  fed.StopNode(2);
  ASSERT_TRUE(fed.StartNode(2).ok());
  absl::SleepFor(absl::Seconds(1));
  EXPECT_EQ(Replay(fed, 2, 0, true), live);
}

}  // namespace
}  // namespace watchfloor::testing
