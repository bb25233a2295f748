// Transparency logs across a real 3-member federation in this process (real
// mutual TLS, SQLite, gRPC): the origin signs checkpoints of its feed's
// Merkle log, every other node checks them against its own copy of the feed
// and cosigns, cosignatures are gossiped until every node holds all of
// them; proofs and evidence over the Node API; split views are stored and
// gossiped as evidence; bad checkpoints are refused and change nothing.
#include <sys/wait.h>

#include <cstdlib>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "certs/audit.h"
#include "certs/dsse.h"
#include "certs/ids.h"
#include "certs/merkle.h"
#include "certs/note.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/federation_util.h"
#include "tests/test_util.h"

namespace watchfloor::testing {
namespace {

namespace v1 = ::watchfloor::v1;

constexpr absl::Duration kConverge = absl::Seconds(30);

grpc::ClientContext* WithDeadline(grpc::ClientContext* ctx) {
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  return ctx;
}

// A 3-member federation whose nodes sign a checkpoint at most every 100 ms.
class TransparencyTest : public ::testing::Test {
 protected:
  TransparencyTest() : fed_(Make()) {}

  static FederationOptions Make() {
    FederationOptions o;
    o.members = 3;
    return o;
  }

  // Node i's checkpoint interval; a test may keep node 0 from signing and
  // sign node 0's checkpoints itself.
  virtual uint32_t CheckpointIntervalMs(int node) { return 100; }

  void SetUp() override {
    ASSERT_TRUE(fed_.ok());
    for (int i = 0; i < fed_.size(); ++i) {
      fed_.config(i).mutable_transparency()->set_checkpoint_interval_ms(CheckpointIntervalMs(i));
      fed_.config(i).mutable_transparency()->set_resend_interval_ms(500);
    }
    ASSERT_TRUE(fed_.StartAll().ok());
  }

  // Publishes n alerts at node 0; returns their ids in sequence order.
  std::vector<std::string> PublishAt0(int n, int tag = 0) {
    std::vector<std::string> ids;
    for (int k = 0; k < n; ++k) {
      v1::PublishResponse r;
      grpc::Status st = fed_.Publish(0, SampleDraft(tag + k), &r);
      EXPECT_TRUE(st.ok()) << st.error_message();
      ids.push_back(r.id());
    }
    return ids;
  }

  absl::StatusOr<std::string> Checkpoint(int node, const std::string& origin) {
    v1::GetCheckpointRequest req;
    req.set_origin(origin);
    v1::GetCheckpointResponse resp;
    grpc::ClientContext ctx;
    grpc::Status st = fed_.Client(node)->GetCheckpoint(WithDeadline(&ctx), req, &resp);
    if (!st.ok()) {
      return absl::Status(static_cast<absl::StatusCode>(st.error_code()), st.error_message());
    }
    return resp.note();
  }

  // Witness members whose valid cosignature `note` carries.
  std::set<std::string> Cosigners(const std::string& note) {
    std::set<std::string> out;
    absl::StatusOr<certs::ParsedNote> parsed = certs::ParseNote(note);
    if (!parsed.ok()) return out;
    for (int i = 0; i < fed_.size(); ++i) {
      const std::string name = certs::LogOrigin(fed_.origin(i));
      if (certs::VerifyCosignature(*parsed, name, fed_.member(i).signing_key->public_key())
              .ok()) {
        out.insert(fed_.origin(i));
      }
    }
    return out;
  }

  // Node `node`'s checkpoint of node 0's log once it has size `size` and
  // both other members' cosignatures.
  std::string WaitForWitnessed(int node, uint64_t size) {
    std::string note;
    bool ok = WaitUntil(
        [&] {
          absl::StatusOr<std::string> n = Checkpoint(node, fed_.origin(0));
          if (!n.ok()) return false;
          absl::StatusOr<certs::ParsedNote> p = certs::ParseNote(*n);
          if (!p.ok()) return false;
          absl::StatusOr<certs::Checkpoint> c = certs::ParseCheckpoint(p->text);
          note = *n;
          return c.ok() && c->size == size && Cosigners(*n).size() == 2;
        },
        kConverge);
    EXPECT_TRUE(ok) << "node " << node << " last had:\n" << note;
    return note;
  }

  // Node `node`'s checkpoint of node 0's log once it has size `size` and
  // the cosignatures of exactly the nodes `by`.
  std::string WaitForWitnessedBy(int node, uint64_t size, const std::set<int>& by) {
    std::set<std::string> want;
    for (int i : by) want.insert(fed_.origin(i));
    std::string note;
    bool ok = WaitUntil(
        [&] {
          absl::StatusOr<std::string> n = Checkpoint(node, fed_.origin(0));
          if (!n.ok()) return false;
          note = *n;
          absl::StatusOr<certs::ParsedNote> p = certs::ParseNote(*n);
          if (!p.ok()) return false;
          absl::StatusOr<certs::Checkpoint> c = certs::ParseCheckpoint(p->text);
          return c.ok() && c->size == size && Cosigners(*n) == want;
        },
        kConverge);
    EXPECT_TRUE(ok) << "node " << node << " last had:\n" << note;
    return note;
  }

  certs::Checkpoint OpenAs0(const std::string& note) {
    absl::StatusOr<certs::Checkpoint> c = certs::OpenCheckpoint(
        note, certs::LogOrigin(fed_.origin(0)), fed_.member(0).signing_key->public_key());
    EXPECT_TRUE(c.ok()) << c.status();
    return c.ok() ? *c : certs::Checkpoint();
  }

  // A checkpoint of node 0's log signed with node 0's key: what a lying
  // origin could sign.
  std::string ForgeBy0(uint64_t size, const std::string& root) {
    certs::Checkpoint c;
    c.origin = certs::LogOrigin(fed_.origin(0));
    c.size = size;
    c.root_hash = root;
    return certs::SignNote(certs::FormatCheckpoint(c), c.origin, *fed_.member(0).signing_key);
  }

  static std::string Root(const std::vector<std::string>& ids, size_t n) {
    std::vector<std::string> leaves;
    for (size_t i = 0; i < n; ++i) leaves.push_back(absl::HexStringToBytes(ids[i]));
    return certs::RootFromLeaves(leaves);
  }

  v1::ListEvidenceResponse Evidence(int node) {
    v1::ListEvidenceResponse resp;
    grpc::ClientContext ctx;
    grpc::Status st =
        fed_.Client(node)->ListEvidence(WithDeadline(&ctx), v1::ListEvidenceRequest(), &resp);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return resp;
  }

  TestFederation fed_;
};

TEST_F(TransparencyTest, EveryNodeHoldsTheOriginsCheckpointWithEveryWitnessCosignature) {
  std::vector<std::string> ids = PublishAt0(10);
  for (int node = 0; node < fed_.size(); ++node) {
    std::string note = WaitForWitnessed(node, 10);
    certs::Checkpoint c = OpenAs0(note);
    EXPECT_EQ(c.size, 10u);
    EXPECT_EQ(c.root_hash, Root(ids, 10)) << "the log is the feed's ids, in order";
    EXPECT_EQ(Cosigners(note), (std::set<std::string>{fed_.origin(1), fed_.origin(2)}));
  }
  // The feed grows; the checkpoint follows and is witnessed again.
  std::vector<std::string> more = PublishAt0(7, 100);
  ids.insert(ids.end(), more.begin(), more.end());
  std::string note = WaitForWitnessed(2, 17);
  EXPECT_EQ(OpenAs0(note).root_hash, Root(ids, 17));
}

TEST_F(TransparencyTest, InclusionAndConsistencyProofsVerifyAgainstTheCheckpoint) {
  std::vector<std::string> ids = PublishAt0(13);
  const std::string note = WaitForWitnessed(1, 13);
  const certs::Checkpoint c = OpenAs0(note);
  for (size_t i = 0; i < ids.size(); ++i) {
    for (int node : {0, 1}) {  // the origin, and a witness holding a copy
      v1::GetInclusionProofRequest req;
      req.set_id(ids[i]);
      v1::GetInclusionProofResponse resp;
      grpc::ClientContext ctx;
      grpc::Status st = fed_.Client(node)->GetInclusionProof(WithDeadline(&ctx), req, &resp);
      ASSERT_TRUE(st.ok()) << st.error_message();
      EXPECT_EQ(resp.origin(), fed_.origin(0));
      EXPECT_EQ(resp.leaf_index(), i);
      EXPECT_EQ(resp.tree_size(), 13u);
      EXPECT_LE(resp.hashes_size(), 4);  // ceil(log2(13))
      std::vector<std::string> proof(resp.hashes().begin(), resp.hashes().end());
      EXPECT_TRUE(certs::VerifyInclusion(i, 13, absl::HexStringToBytes(ids[i]), proof,
                                         c.root_hash)
                      .ok());
      EXPECT_FALSE(resp.checkpoint_note().empty());
    }
  }
  for (uint64_t m : {1u, 4u, 7u, 12u, 13u}) {
    v1::GetConsistencyProofRequest req;
    req.set_origin(fed_.origin(0));
    req.set_first(m);
    req.set_second(13);
    v1::GetConsistencyProofResponse resp;
    grpc::ClientContext ctx;
    grpc::Status st = fed_.Client(2)->GetConsistencyProof(WithDeadline(&ctx), req, &resp);
    ASSERT_TRUE(st.ok()) << st.error_message();
    std::vector<std::string> proof(resp.hashes().begin(), resp.hashes().end());
    EXPECT_TRUE(certs::VerifyConsistency(m, 13, proof, Root(ids, m), c.root_hash).ok()) << m;
  }
}

TEST_F(TransparencyTest, ProofRequestsForWhatIsNotThereGetCanonicalErrors) {
  std::vector<std::string> ids = PublishAt0(3);
  WaitForWitnessed(1, 3);
  auto inclusion = [&](const std::string& id, uint64_t size) {
    v1::GetInclusionProofRequest req;
    req.set_id(id);
    req.set_tree_size(size);
    v1::GetInclusionProofResponse resp;
    grpc::ClientContext ctx;
    return fed_.Client(1)->GetInclusionProof(WithDeadline(&ctx), req, &resp).error_code();
  };
  EXPECT_EQ(inclusion("not-hex", 0), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(inclusion(std::string(64, 'a'), 0), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(inclusion(ids[2], 2), grpc::StatusCode::OUT_OF_RANGE);  // leaf 2 not in size 2
  EXPECT_EQ(inclusion(ids[0], 99), grpc::StatusCode::OUT_OF_RANGE);
  auto consistency = [&](const std::string& origin, uint64_t a, uint64_t b) {
    v1::GetConsistencyProofRequest req;
    req.set_origin(origin);
    req.set_first(a);
    req.set_second(b);
    v1::GetConsistencyProofResponse resp;
    grpc::ClientContext ctx;
    return fed_.Client(1)->GetConsistencyProof(WithDeadline(&ctx), req, &resp).error_code();
  };
  EXPECT_EQ(consistency(fed_.origin(0), 3, 2), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(consistency(fed_.origin(0), 1, 4), grpc::StatusCode::OUT_OF_RANGE);
  EXPECT_EQ(consistency("Not An Origin", 1, 2), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(Checkpoint(1, "nobody.test/n1").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(Checkpoint(1, "bad origin").status().code(), absl::StatusCode::kInvalidArgument);
}

TEST_F(TransparencyTest, ASplitViewIsStoredGossipedAndDoesNotFreezeTheFeed) {
  std::vector<std::string> ids = PublishAt0(6);
  const std::string honest = WaitForWitnessed(1, 6);
  WaitForWitnessed(2, 6);
  ASSERT_EQ(Evidence(1).evidence_size(), 0);

  // The origin's key signs another root for the same size and shows it to
  // node 1 only.
  const std::string lie = ForgeBy0(6, Root(ids, 5));
  v1::PushCheckpointsRequest req;
  req.add_notes(lie);
  v1::PushCheckpointsResponse resp;
  grpc::ClientContext ctx;
  ASSERT_TRUE(fed_.PeerStub(0, 1)->PushCheckpoints(WithDeadline(&ctx), req, &resp).ok());
  ASSERT_EQ(resp.new_info_size(), 1);
  EXPECT_TRUE(resp.new_info(0));

  for (int node : {1, 2}) {  // node 2 learns it by gossip
    ASSERT_TRUE(WaitUntil([&] { return Evidence(node).evidence_size() == 1; }, kConverge))
        << "node " << node;
    v1::EvidenceRecord e = Evidence(node).evidence(0);
    EXPECT_EQ(e.kind(), "split-view");
    EXPECT_EQ(e.origin(), fed_.origin(0));
    EXPECT_EQ(e.sequence(), 6u);
    EXPECT_EQ(std::set<std::string>({e.first_note(), e.second_note()}).count(lie), 1u);
  }
  // The honest checkpoint stays the accepted one, and the feed still flows.
  EXPECT_EQ(OpenAs0(*Checkpoint(1, fed_.origin(0))).root_hash, OpenAs0(honest).root_hash);
  std::vector<std::string> more = PublishAt0(2, 50);
  EXPECT_TRUE(fed_.WaitForIds({more.begin(), more.end()}, kConverge));
  // The same evidence again is nothing new anywhere.
  grpc::ClientContext ctx2;
  ASSERT_TRUE(fed_.PeerStub(0, 2)->PushCheckpoints(WithDeadline(&ctx2), req, &resp).ok());
  EXPECT_FALSE(resp.new_info(0));
  EXPECT_EQ(Evidence(2).evidence_size(), 1);
}

TEST_F(TransparencyTest, AnOlderCheckpointThatIsNotAPrefixOfTheFeedIsASplitView) {
  std::vector<std::string> ids = PublishAt0(8);
  WaitForWitnessed(1, 8);
  const std::string lie = ForgeBy0(3, Root(ids, 2));  // size 3 with the root of 2
  v1::PushCheckpointsRequest req;
  req.add_notes(lie);
  v1::PushCheckpointsResponse resp;
  grpc::ClientContext ctx;
  ASSERT_TRUE(fed_.PeerStub(2, 1)->PushCheckpoints(WithDeadline(&ctx), req, &resp).ok());
  EXPECT_TRUE(resp.new_info(0));
  ASSERT_EQ(Evidence(1).evidence_size(), 1);
  EXPECT_EQ(Evidence(1).evidence(0).kind(), "split-view");
}

TEST_F(TransparencyTest, BadCheckpointsAreRefusedAndChangeNothing) {
  std::vector<std::string> ids = PublishAt0(4);
  const std::string before = WaitForWitnessed(1, 4);
  const std::string before2 = WaitForWitnessed(2, 4);
  std::vector<std::string> bad;
  // A flipped bit in the signature.
  std::string flipped = ForgeBy0(4, Root(ids, 4));
  flipped[flipped.size() - 6] ^= 0x01;
  bad.push_back(flipped);
  // Signed by a key that is not the origin's (node 2's key, node 0's name).
  certs::Checkpoint c;
  c.origin = certs::LogOrigin(fed_.origin(0));
  c.size = 4;
  c.root_hash = Root(ids, 3);
  bad.push_back(certs::SignNote(certs::FormatCheckpoint(c), c.origin, *fed_.member(2).signing_key));
  // A log that is not in the roster.
  certs::SigningKey stranger = certs::SigningKey::Generate();
  c.origin = "watchfloor/stranger.test/n1";
  bad.push_back(certs::SignNote(certs::FormatCheckpoint(c), c.origin, stranger));
  // Not a note at all.
  bad.push_back("hello\n");
  // A larger checkpoint of a size the feed does not have: held, not accepted.
  bad.push_back(ForgeBy0(40, Root(ids, 4)));
  v1::PushCheckpointsRequest req;
  for (const std::string& n : bad) req.add_notes(n);
  v1::PushCheckpointsResponse resp;
  grpc::ClientContext ctx;
  const uint64_t refused_before = fed_.gossip(1)->stats().peers[fed_.origin(0)].refused;
  ASSERT_TRUE(fed_.PeerStub(0, 1)->PushCheckpoints(WithDeadline(&ctx), req, &resp).ok());
  ASSERT_EQ(resp.new_info_size(), static_cast<int>(bad.size()));
  // Counted against the peer: all but the one ahead of the feed (held).
  EXPECT_EQ(fed_.gossip(1)->stats().peers[fed_.origin(0)].refused - refused_before,
            bad.size() - 1);
  for (int i = 0; i < resp.new_info_size(); ++i) EXPECT_FALSE(resp.new_info(i)) << i;
  EXPECT_EQ(*Checkpoint(1, fed_.origin(0)), before);
  EXPECT_EQ(Evidence(1).evidence_size(), 0);
  absl::SleepFor(absl::Milliseconds(300));  // nothing was relayed to node 2
  EXPECT_EQ(*Checkpoint(2, fed_.origin(0)), before2);
  EXPECT_EQ(Evidence(2).evidence_size(), 0);
  EXPECT_EQ(fed_.StoredAlertCount(1), 4);
  // More than 64 notes in one call is refused outright.
  v1::PushCheckpointsRequest many;
  for (int i = 0; i < 65; ++i) many.add_notes(before);
  grpc::ClientContext ctx2;
  EXPECT_EQ(fed_.PeerStub(0, 1)->PushCheckpoints(WithDeadline(&ctx2), many, &resp).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(TransparencyTest, SplitViewEvidenceThatProvesNothingIsRefusedAndStoresNothing) {
  std::vector<std::string> ids = PublishAt0(5);
  const std::string honest = WaitForWitnessed(1, 5);
  WaitForWitnessed(2, 5);
  const std::string honest3 = ForgeBy0(3, Root(ids, 3));  // true, just older
  certs::SigningKey stranger = certs::SigningKey::Generate();
  certs::Checkpoint c;
  c.origin = certs::LogOrigin(fed_.origin(0));
  c.size = 5;
  c.root_hash = Root(ids, 4);
  const std::string unsigned_lie = certs::SignNote(certs::FormatCheckpoint(c), c.origin, stranger);
  const struct {
    std::string first, second, why;
  } cases[] = {
      {honest, honest, "the same checkpoint twice"},
      {honest3, honest, "two consistent checkpoints"},
      {honest, unsigned_lie, "a 'lie' not signed by the origin"},
      {honest, "garbage\n", "not a note"},
      {honest, ForgeBy0(40, Root(ids, 5)), "beyond the receiver's copy of the feed"},
  };
  for (const auto& k : cases) {
    v1::EvidenceMessage msg;
    msg.set_first_note(k.first);
    msg.set_second_note(k.second);
    v1::PushEvidenceResponse resp;
    grpc::ClientContext ctx;
    ASSERT_TRUE(fed_.PeerStub(0, 1)->PushEvidence(WithDeadline(&ctx), msg, &resp).ok());
    EXPECT_FALSE(resp.new_evidence()) << k.why;
  }
  absl::SleepFor(absl::Milliseconds(300));  // nothing to relay either
  for (int node : {1, 2}) EXPECT_EQ(Evidence(node).evidence_size(), 0) << node;
  EXPECT_EQ(OpenAs0(*Checkpoint(1, fed_.origin(0))).root_hash, OpenAs0(honest).root_hash);
}

}  // namespace
}  // namespace watchfloor::testing

namespace watchfloor::testing {
namespace {

// Node.Export from a running node: the pieces concatenated are one bundle.
v1::AuditBundle ExportFrom(TestFederation& fed, int node, const v1::ExportRequest& req) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  auto reader = fed.Client(node)->Export(&ctx, req);
  std::string bytes;
  v1::AuditBundle piece;
  int pieces = 0;
  while (reader->Read(&piece)) {
    piece.AppendToString(&bytes);
    ++pieces;
  }
  grpc::Status st = reader->Finish();
  EXPECT_TRUE(st.ok()) << st.error_message();
  v1::AuditBundle bundle;
  EXPECT_TRUE(bundle.ParseFromString(bytes));
  return bundle;
}

TEST_F(TransparencyTest, AnExportFromAWitnessAuditsCleanWithTheQuorumMet) {
  std::vector<std::string> ids0 = PublishAt0(300);  // more than one 256-alert piece
  v1::PublishResponse r;
  ASSERT_TRUE(fed_.Publish(2, SampleDraft(7), &r).ok());
  WaitForWitnessed(1, 300);
  ASSERT_TRUE(WaitUntil(
      [&] {
        absl::StatusOr<std::string> n = Checkpoint(1, fed_.origin(2));
        return n.ok() && Cosigners(*n).size() == 2;
      },
      kConverge));

  v1::AuditBundle bundle = ExportFrom(fed_, 1, v1::ExportRequest());
  EXPECT_EQ(bundle.format(), "watchfloor-bundle/v1");
  EXPECT_EQ(bundle.alerts_size(), 301);
  EXPECT_EQ(bundle.checkpoints_size(), 2);
  EXPECT_EQ(bundle.complete_origins_size(), 2);
  certs::AuditOptions opts;
  opts.anchor = &fed_.roster();
  absl::StatusOr<certs::AuditReport> report = certs::Audit(bundle, opts);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->ok()) << report->Summary();
  EXPECT_EQ(report->alerts, 301u);
  for (const certs::OriginAudit& o : report->origins) {
    EXPECT_TRUE(o.quorum_met) << o.origin;
    EXPECT_EQ(o.witnesses.size(), 2u) << o.origin;
  }

  // A filtered export carries only the matches, and is not "complete".
  v1::ExportRequest filtered;
  v1::Filter* f = filtered.add_filters();
  f->add_conditions()->mutable_origin()->add_origins(fed_.origin(2));
  filtered.set_filter_text(absl::StrCat("origin:", fed_.origin(2)));
  bundle = ExportFrom(fed_, 0, filtered);
  EXPECT_EQ(bundle.alerts_size(), 1);
  EXPECT_EQ(bundle.complete_origins_size(), 0);
  EXPECT_EQ(bundle.filter(), filtered.filter_text());
  report = certs::Audit(bundle, opts);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->ok()) << report->Summary();

  // Tampering with one exported alert is found, and only that one.
  bundle = ExportFrom(fed_, 2, v1::ExportRequest());
  std::string* payload = bundle.mutable_alerts(17)->mutable_envelope()->mutable_payload();
  const size_t at = payload->find("attacker");  // inside the description
  ASSERT_NE(at, std::string::npos);
  (*payload)[at] ^= 1;
  report = certs::Audit(bundle, opts);
  ASSERT_TRUE(report.ok());
  EXPECT_FALSE(report->ok());
  EXPECT_EQ(report->Tokens(), std::set<std::string>{"signature_failure"}) << report->Summary();
}

const certs::OriginAudit* FindOrigin(const certs::AuditReport& report, const std::string& origin) {
  for (const certs::OriginAudit& o : report.origins) {
    if (o.origin == origin) return &o;
  }
  return nullptr;
}

// `watchfloor audit args...`: its exit code, output discarded.
int AuditCli(const std::string& args) {
  const int status = std::system((WatchfloorBinary() + " audit " + args + " >/dev/null 2>&1").c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// The exporting node signs its claims; the outside check's repro (drop
// alert #26 of 50 and clear complete_origins) fails the audit, and a
// filtered export's claims count what it holds.
TEST_F(TransparencyTest, ExportClaimsAreSignedAndAnOmissionFailsTheAudit) {
  const std::vector<std::string> ids = PublishAt0(50);
  WaitForWitnessed(1, 50);
  v1::AuditBundle bundle = ExportFrom(fed_, 1, v1::ExportRequest());
  ASSERT_EQ(bundle.claims().payload_type(), certs::kExportClaimsPayloadType);
  v1::ExportClaims claims;
  ASSERT_TRUE(claims.ParseFromString(bundle.claims().payload()));
  EXPECT_EQ(claims.exporter(), fed_.origin(1));
  EXPECT_EQ(claims.filter(), "");
  EXPECT_EQ(claims.exported_at_ms(), bundle.exported_at_ms());
  ASSERT_EQ(claims.origins_size(), 1);
  EXPECT_EQ(claims.origins(0).origin(), fed_.origin(0));
  EXPECT_EQ(claims.origins(0).tree_size(), 50u);
  EXPECT_EQ(claims.origins(0).root_hash(), Root(ids, 50));
  EXPECT_EQ(claims.origins(0).alerts(), 50u);
  certs::AuditOptions opts;
  opts.anchor = &fed_.roster();
  absl::StatusOr<certs::AuditReport> report = certs::Audit(bundle, opts);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->ok()) << report->Summary();
  EXPECT_TRUE(report->claims_valid);
  EXPECT_EQ(report->exporter, fed_.origin(1));

  TempDir dir;
  WriteFile(dir.Join("roster.json"), certs::EnvelopeToJson(fed_.roster().envelope()));
  WriteFile(dir.Join("full.wfb"), bundle.SerializeAsString());
  EXPECT_EQ(AuditCli(dir.Join("full.wfb") + " --roster " + dir.Join("roster.json")), 0);

  ASSERT_EQ(bundle.alerts(25).envelope().payload(), [&] {
    v1::Alert alert;  // alerts(25) is #26
    alert.ParseFromString(bundle.alerts(25).envelope().payload());
    EXPECT_EQ(alert.sequence(), 26u);
    return bundle.alerts(25).envelope().payload();
  }());
  bundle.mutable_alerts()->DeleteSubrange(25, 1);
  bundle.clear_complete_origins();
  report = certs::Audit(bundle, opts);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->Tokens(), (std::set<std::string>{"missing", "claims_mismatch"}))
      << report->Summary();
  EXPECT_EQ(FindOrigin(*report, fed_.origin(0))->missing, 1u);
  WriteFile(dir.Join("dropped.wfb"), bundle.SerializeAsString());
  EXPECT_EQ(AuditCli(dir.Join("dropped.wfb") + " --roster " + dir.Join("roster.json")), 1);

  // A filtered export: the claims count the matches; the report says how
  // many entries of the log the bundle does not show.
  v1::ExportRequest filtered;
  filtered.add_filters()->add_conditions()->mutable_origin()->add_origins(fed_.origin(0));
  filtered.set_filter_text(absl::StrCat("origin:", fed_.origin(0)));
  v1::Filter* none = filtered.add_filters();
  none->add_conditions()->mutable_origin()->add_origins("nobody.cz/n1");
  bundle = ExportFrom(fed_, 2, filtered);
  ASSERT_TRUE(claims.ParseFromString(bundle.claims().payload()));
  EXPECT_EQ(claims.exporter(), fed_.origin(2));
  EXPECT_EQ(claims.filter(), filtered.filter_text());
  EXPECT_EQ(claims.complete_origins_size(), 0);
  report = certs::Audit(bundle, opts);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->ok()) << report->Summary();
  bundle.mutable_alerts()->DeleteSubrange(0, 1);
  report = certs::Audit(bundle, opts);
  EXPECT_EQ(report->Tokens(), std::set<std::string>{"claims_mismatch"}) << report->Summary();
  opts.require_complete = true;
  report = certs::Audit(bundle, opts);
  EXPECT_EQ(FindOrigin(*report, fed_.origin(0))->missing, 1u);
}

// Auditing over time: an export with the older bundle's checkpoint sizes
// carries consistency proofs to its own; audited against the older bundle
// it is consistent. Without the proofs, or against an older bundle from a
// split view, it is not.
TEST_F(TransparencyTest, AnExportSinceAnOlderBundleProvesTheLogOnlyGrew) {
  std::vector<std::string> ids = PublishAt0(10);
  WaitForWitnessed(1, 10);
  const v1::AuditBundle old = ExportFrom(fed_, 1, v1::ExportRequest());
  for (const std::string& id : PublishAt0(7, 100)) ids.push_back(id);
  WaitForWitnessed(1, 17);

  v1::ExportRequest since;
  v1::ExportSince* s = since.add_since();
  s->set_origin(fed_.origin(0));
  s->set_tree_size(10);
  const v1::AuditBundle later = ExportFrom(fed_, 1, since);
  ASSERT_EQ(later.since_proofs_size(), 1);
  EXPECT_EQ(later.since_proofs(0).from_size(), 10u);
  EXPECT_EQ(later.since_proofs(0).to_size(), 17u);

  certs::AuditOptions opts;
  opts.anchor = &fed_.roster();
  opts.since = &old;
  absl::StatusOr<certs::AuditReport> report = certs::Audit(later, opts);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->ok()) << report->Summary();
  const certs::OriginAudit* o = FindOrigin(*report, fed_.origin(0));
  EXPECT_EQ(o->since_size, 10u);
  EXPECT_TRUE(o->since_consistent);

  // Without the proofs: unproven.
  report = certs::Audit(ExportFrom(fed_, 1, v1::ExportRequest()), opts);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->Tokens(), std::set<std::string>{"inconsistent"}) << report->Summary();

  // The older bundle from a split view: node 0 signed another size-10 root.
  v1::AuditBundle forked = old;
  std::vector<std::string> other = ids;
  other[4] = std::string(64, 'a');
  forked.mutable_checkpoints(0)->set_note(ForgeBy0(10, Root(other, 10)));
  opts.since = &forked;
  report = certs::Audit(later, opts);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_EQ(report->Tokens(), std::set<std::string>{"split_view"}) << report->Summary();

  // The CLI end to end: export --since-checkpoint writes the proofs, audit
  // --since checks them.
  TempDir dir;
  WriteFile(dir.Join("roster.json"), certs::EnvelopeToJson(fed_.roster().envelope()));
  WriteFile(dir.Join("old.wfb"), old.SerializeAsString());
  WriteFile(dir.Join("forked.wfb"), forked.SerializeAsString());
  WriteFile(dir.Join("ca.pem"), fed_.roster().CaBundlePem());
  const auto& m = fed_.member(1);
  const std::string exported = dir.Join("new.wfb");
  const std::string export_cmd = absl::StrCat(
      WatchfloorBinary(), " export --node ", m.endpoint(), " --tls-cert ", m.client_cert_file,
      " --tls-key ", m.client_key_file, " --tls-ca ", dir.Join("ca.pem"), " --node-origin ",
      fed_.origin(1), " --since-checkpoint ", dir.Join("old.wfb"), " --out ", exported,
      " >/dev/null");
  ASSERT_EQ(std::system(export_cmd.c_str()), 0) << export_cmd;
  const std::string roster = " --roster " + dir.Join("roster.json");
  EXPECT_EQ(AuditCli(exported + " --since " + dir.Join("old.wfb") + roster), 0);
  EXPECT_EQ(AuditCli(exported + " --since " + dir.Join("forked.wfb") + roster), 1);
  // A live node, audited here against the older bundle: it is asked for the
  // proofs the same way.
  const std::string live = absl::StrCat(
      "--node ", m.endpoint(), " --tls-cert ", m.client_cert_file, " --tls-key ",
      m.client_key_file, " --tls-ca ", dir.Join("ca.pem"), " --node-origin ", fed_.origin(1));
  EXPECT_EQ(AuditCli(live + " --since " + dir.Join("old.wfb") + roster), 0);
  EXPECT_EQ(AuditCli(live + " --since " + dir.Join("forked.wfb") + roster), 1);
}

// A since list that names no checkpoint is refused before anything streams.
TEST_F(TransparencyTest, ExportRefusesABadSinceList) {
  const struct {
    std::string origin;
    uint64_t size;
    std::string message;
  } cases[] = {
      {"not an origin", 3, "since: origin: "},
      {fed_.origin(0), 0, "since: tree size 0 for "},
  };
  for (const auto& c : cases) {
    v1::ExportRequest req;
    v1::ExportSince* s = req.add_since();
    s->set_origin(c.origin);
    s->set_tree_size(c.size);
    grpc::ClientContext ctx;
    auto reader = fed_.Client(1)->Export(WithDeadline(&ctx), req);
    v1::AuditBundle piece;
    EXPECT_FALSE(reader->Read(&piece));
    const grpc::Status st = reader->Finish();
    EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.message;
    EXPECT_THAT(st.error_message(), ::testing::HasSubstr(c.message));
  }
  v1::ExportRequest twice;
  for (int i = 0; i < 2; ++i) {
    v1::ExportSince* s = twice.add_since();
    s->set_origin(fed_.origin(0));
    s->set_tree_size(1);
  }
  grpc::ClientContext ctx;
  auto reader = fed_.Client(1)->Export(WithDeadline(&ctx), twice);
  v1::AuditBundle piece;
  EXPECT_FALSE(reader->Read(&piece));
  const grpc::Status st = reader->Finish();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(st.error_message(), ::testing::HasSubstr("is named twice"));
}

}  // namespace
}  // namespace watchfloor::testing

namespace watchfloor::testing {
namespace {

// Export's refusals: a bad filter is INVALID_ARGUMENT; a third export while
// two are streaming is RESOURCE_EXHAUSTED and leaves them unharmed; once
// they end, exports run again.
TEST_F(TransparencyTest, ExportRefusesBadFiltersAndMoreThanTwoAtOnce) {
  std::vector<std::string> ids = PublishAt0(600);
  WaitForWitnessed(1, 600);

  v1::ExportRequest bad;
  bad.add_filters()->add_conditions()->mutable_domain()->add_zones("not a zone!");
  {
    grpc::ClientContext ctx;
    auto reader = fed_.Client(1)->Export(WithDeadline(&ctx), bad);
    v1::AuditBundle piece;
    EXPECT_FALSE(reader->Read(&piece));
    EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  }

  // Two exports that read only their first piece stay open on the node
  // (the rest of 600 alerts' proofs does not fit in the stream windows).
  grpc::ClientContext c1, c2;
  auto r1 = fed_.Client(1)->Export(WithDeadline(&c1), v1::ExportRequest());
  auto r2 = fed_.Client(1)->Export(WithDeadline(&c2), v1::ExportRequest());
  v1::AuditBundle piece;
  ASSERT_TRUE(r1->Read(&piece));
  ASSERT_TRUE(r2->Read(&piece));
  {
    grpc::ClientContext ctx;
    auto r3 = fed_.Client(1)->Export(WithDeadline(&ctx), v1::ExportRequest());
    EXPECT_FALSE(r3->Read(&piece));
    grpc::Status st = r3->Finish();
    EXPECT_EQ(st.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << st.error_message();
  }
  // The first one still completes, with every alert.
  int alerts = 0;
  while (r1->Read(&piece)) alerts += piece.alerts_size();
  EXPECT_TRUE(r1->Finish().ok());
  EXPECT_EQ(alerts, 600);
  c2.TryCancel();
  while (r2->Read(&piece)) {
  }
  EXPECT_EQ(r2->Finish().error_code(), grpc::StatusCode::CANCELLED);
  // Slots are given back as exports end.
  EXPECT_TRUE(WaitUntil(
      [&] {
        grpc::ClientContext ctx;
        auto r = fed_.Client(1)->Export(WithDeadline(&ctx), v1::ExportRequest());
        int n = 0;
        v1::AuditBundle p;
        while (r->Read(&p)) n += p.alerts_size();
        return r->Finish().ok() && n == 600;
      },
      kConverge));
}

// Node 0 signs no checkpoint by itself: the test signs them with its key,
// as a relay could forward them, and decides who sees what first.
class SilentOriginTest : public TransparencyTest {
 protected:
  uint32_t CheckpointIntervalMs(int node) override { return node == 0 ? 3600000 : 100; }

  bool Push(int as, int to, const std::string& note) {
    v1::PushCheckpointsRequest req;
    req.add_notes(note);
    v1::PushCheckpointsResponse resp;
    grpc::ClientContext ctx;
    grpc::Status st = fed_.PeerStub(as, to)->PushCheckpoints(WithDeadline(&ctx), req, &resp);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return st.ok() && resp.new_info_size() == 1 && resp.new_info(0);
  }
};

// A relay that appends junk under the origin's name (another key id) and a
// cosignature line under a witness's name and key id that does not verify
// gets neither kept nor passed on: witnesses store and relay the origin's
// signature and valid cosignatures only, and an export audits clean.
TEST_F(SilentOriginTest, JunkLinesARelayAddsAreNeitherKeptNorRelayed) {
  std::vector<std::string> ids = PublishAt0(5);
  ASSERT_TRUE(fed_.WaitForIds({ids.begin(), ids.end()}, kConverge));
  const std::string honest = ForgeBy0(5, Root(ids, 5));
  const std::string log0 = certs::LogOrigin(fed_.origin(0));
  const std::string log2 = certs::LogOrigin(fed_.origin(2));
  certs::SigningKey stranger = certs::SigningKey::Generate();
  absl::StatusOr<certs::ParsedNote> parsed = certs::ParseNote(honest);
  ASSERT_TRUE(parsed.ok());
  // Under the origin's name with its cosignature key id: OpenCheckpoint does
  // not look at it.
  std::string junk_line = certs::CosignatureLine(parsed->text, log0, stranger, 1);
  // Under node 2's witness name, re-labelled with node 2's key id.
  std::string forged = certs::CosignatureLine(parsed->text, log2, stranger, 1);
  {
    absl::StatusOr<certs::ParsedNote> f = certs::ParseNote(honest + forged);
    ASSERT_TRUE(f.ok());
    f->signatures.back().key_id = certs::NoteKeyId(log2, certs::kNoteTypeCosignatureV1,
                                                   fed_.member(2).signing_key->public_key());
    forged = certs::FormatNote(*f).substr(honest.size());
  }
  const std::string tampered = honest + junk_line + forged;
  EXPECT_TRUE(Push(0, 1, tampered));  // node 1 checks, cosigns, relays
  for (int node : {1, 2}) {
    const std::string note = WaitForWitnessedBy(node, 5, {1, 2});
    EXPECT_EQ(note.find(junk_line), std::string::npos) << note;
    absl::StatusOr<certs::ParsedNote> p = certs::ParseNote(note);
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(p->signatures.size(), 3u) << note;  // origin + two witnesses
  }
  v1::AuditBundle bundle = ExportFrom(fed_, 2, v1::ExportRequest());
  certs::AuditOptions opts;
  opts.anchor = &fed_.roster();
  absl::StatusOr<certs::AuditReport> report = certs::Audit(bundle, opts);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->ok()) << report->Summary();

  // Oversized notes and notes with more lines than the roster has nodes are
  // refused outright.
  EXPECT_FALSE(Push(0, 2, honest + std::string(40000, 'x') + "\n"));
  std::string many = honest;
  for (int i = 0; i < 4; ++i) many += certs::CosignatureLine(parsed->text, log2, stranger, i);
  EXPECT_FALSE(Push(0, 2, many));
}

// A split view relayed while a node was down reaches it after its restart:
// stored split views are re-sent with the periodic resend.
TEST_F(SilentOriginTest, ASplitViewReachesANodeThatWasDownWhenItWasFound) {
  std::vector<std::string> ids = PublishAt0(4);
  ASSERT_TRUE(fed_.WaitForIds({ids.begin(), ids.end()}, kConverge));
  ASSERT_TRUE(Push(0, 1, ForgeBy0(4, Root(ids, 4))));
  fed_.StopNode(2);
  ASSERT_TRUE(Push(0, 1, ForgeBy0(4, Root(ids, 3))));  // same size, another root
  ASSERT_EQ(Evidence(1).evidence_size(), 1);
  ASSERT_TRUE(fed_.StartNode(2).ok());
  EXPECT_TRUE(WaitUntil([&] { return Evidence(2).evidence_size() == 1; }, kConverge));
  EXPECT_EQ(Evidence(2).evidence(0).kind(), "split-view");
  EXPECT_EQ(Evidence(1).evidence_size(), 1);  // and it does not come back twice
}

// Cosignatures for a checkpoint the receiver has moved past still count:
// they are merged into its stored copy of that size (not relayed).
TEST_F(SilentOriginTest, LateCosignaturesOfAnOlderCheckpointAreMergedIntoItsStoredCopy) {
  std::vector<std::string> ids = PublishAt0(6);
  ASSERT_TRUE(fed_.WaitForIds({ids.begin(), ids.end()}, kConverge));
  const std::string c4 = ForgeBy0(4, Root(ids, 4));
  // Node 1 witnesses size 4, then size 6; node 2 never saw size 4.
  fed_.StopNode(2);
  ASSERT_TRUE(Push(0, 1, c4));
  ASSERT_TRUE(Push(0, 1, ForgeBy0(6, Root(ids, 6))));
  // Node 2's cosignature of size 4 arrives late, by hand.
  absl::StatusOr<certs::ParsedNote> parsed = certs::ParseNote(c4);
  ASSERT_TRUE(parsed.ok());
  const std::string late = c4 + certs::CosignatureLine(parsed->text,
                                                        certs::LogOrigin(fed_.origin(2)),
                                                        *fed_.member(2).signing_key, 1);
  EXPECT_FALSE(Push(0, 1, late));  // nothing new about the latest checkpoint
  // Node 1's export picks size 4, the largest one a majority witnessed (size
  // 6 has node 1 only), and leaves sequences 5 and 6 for a later bundle.
  v1::AuditBundle bundle = ExportFrom(fed_, 1, v1::ExportRequest());
  ASSERT_EQ(bundle.checkpoints_size(), 1);
  EXPECT_EQ(OpenAs0(bundle.checkpoints(0).note()).size, 4u);
  EXPECT_EQ(Cosigners(bundle.checkpoints(0).note()),
            (std::set<std::string>{fed_.origin(1), fed_.origin(2)}));
  EXPECT_EQ(bundle.alerts_size(), 4);
  certs::AuditOptions opts;
  opts.anchor = &fed_.roster();
  absl::StatusOr<certs::AuditReport> report = certs::Audit(bundle, opts);
  ASSERT_TRUE(report.ok()) << report.status();
  EXPECT_TRUE(report->ok()) << report->Summary();
  // Back up, node 2 cosigns size 6 from the resend, and it is witnessed.
  ASSERT_TRUE(fed_.StartNode(2).ok());
  WaitForWitnessedBy(1, 6, {1, 2});
}

}  // namespace
}  // namespace watchfloor::testing
