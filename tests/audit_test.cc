// Tests for certs/audit.h and `watchfloor audit`: the tamper cases in
// tests/testdata/audit/ (one bundle per attack, each naming its finding;
// regenerate them with tests/make_audit_testdata.cc), quorum, roster anchoring,
// the JSON report and the CLI's exit codes. Proof verification itself is
// checked against RFC 6962 reference values in merkle_test.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "certs/audit.h"
#include "certs/cosign.h"
#include "certs/dsse.h"
#include "certs/ids.h"
#include "certs/keys.h"
#include "certs/roster.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"
#include "watchfloor/v1/audit.pb.h"

namespace watchfloor::certs {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using watchfloor::v1::AuditBundle;
using watchfloor::v1::Envelope;

std::string AuditDir() { return std::string(WF_SOURCE_DIR) + "/tests/testdata/audit"; }

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << path;
  return std::string(std::istreambuf_iterator<char>(in), {});
}

AuditBundle LoadBundle(const std::string& name) {
  AuditBundle bundle;
  EXPECT_TRUE(bundle.ParseFromString(Slurp(AuditDir() + "/" + name + ".wfb"))) << name;
  return bundle;
}

Roster LoadRoster(const std::string& path) {
  absl::StatusOr<Envelope> env = EnvelopeFromJson(Slurp(path));
  EXPECT_TRUE(env.ok()) << env.status();
  absl::StatusOr<Roster> roster = Roster::VerifyGenesis(*env);
  if (!roster.ok()) {
    ADD_FAILURE() << path << ": " << roster.status();
    std::abort();
  }
  return *std::move(roster);
}

AuditReport MustAudit(const AuditBundle& bundle, const AuditOptions& options = {}) {
  absl::StatusOr<AuditReport> report = Audit(bundle, options);
  if (!report.ok()) {
    ADD_FAILURE() << report.status();
    return AuditReport();
  }
  return *std::move(report);
}

const OriginAudit* FindOrigin(const AuditReport& report, const std::string& origin) {
  for (const OriginAudit& o : report.origins) {
    if (o.origin == origin) return &o;
  }
  return nullptr;
}

// The member keys of testdata/audit/roster.json (make_audit_testdata seeds).
SigningKey MemberKey(const std::string& member) {
  return *SigningKey::FromSeed(Sha256("watchfloor audit testdata member " + member));
}

// c.cz/n1's node key: the exporter that signs the testdata's claims.
SigningKey ExporterKey() {
  return *SigningKey::FromSeed(Sha256("watchfloor audit testdata node c.cz/n1"));
}

// Re-signs `bundle`'s claims after `mutate`, as its exporter would have.
void ResignClaims(AuditBundle& bundle,
                  const std::function<void(watchfloor::v1::ExportClaims&)>& mutate) {
  watchfloor::v1::ExportClaims claims;
  ASSERT_TRUE(claims.ParseFromString(bundle.claims().payload()));
  mutate(claims);
  *bundle.mutable_claims() =
      SignEnvelope(claims.SerializeAsString(), kExportClaimsPayloadType, ExporterKey());
}

// roster.json's roster, changed by `mutate`, signed by a.cz and b.cz.
Envelope SignedVariant(const std::function<void(watchfloor::v1::Roster&)>& mutate) {
  const Roster base = LoadRoster(AuditDir() + "/roster.json");
  watchfloor::v1::Roster proto = base.proto();
  mutate(proto);
  absl::StatusOr<Envelope> env = MakeRosterDraft(proto);
  EXPECT_TRUE(env.ok()) << env.status();
  for (const char* m : {"a.cz", "b.cz"}) {
    env = SignRoster(*env, MemberKey(m));
    EXPECT_TRUE(env.ok()) << env.status();
  }
  return *env;
}

// ---------------------------------------------------------- tamper cases

struct Expect {
  std::vector<std::string> tokens;  // the first is the one origin/message describe
  std::string origin, message, since, anchor, error;
  size_t count = 0;
};

Expect ReadExpect(const std::string& path) {
  Expect e;
  for (absl::string_view line : absl::StrSplit(Slurp(path), '\n', absl::SkipEmpty())) {
    const size_t space = line.find(' ');
    const std::string key(line.substr(0, space));
    const std::string value(space == absl::string_view::npos ? "" : line.substr(space + 1));
    if (key == "token") e.tokens.push_back(value);
    if (key == "origin") e.origin = value;
    if (key == "message") e.message = value;
    if (key == "count") e.count = std::stoul(value);
    if (key == "since") e.since = value;
    if (key == "anchor") e.anchor = value;
    if (key == "error") e.error = value;
  }
  return e;
}

absl::StatusCode CodeNamed(const std::string& name) {
  for (int c = 0; c <= 16; ++c) {
    const auto code = static_cast<absl::StatusCode>(c);
    if (absl::StatusCodeToString(code) == name) return code;
  }
  ADD_FAILURE() << "no status code " << name;
  return absl::StatusCode::kUnknown;
}

TEST(AuditTamperTest, EveryBundleReportsExactlyItsExpectedFinding) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(AuditDir())) {
    if (entry.path().extension() == ".wfb") names.push_back(entry.path().stem().string());
  }
  std::sort(names.begin(), names.end());
  // The twelve attacks plus good, chain-break, quorum-not-met,
  // split-view-inconsistent and truncated-consistency-proof; then signed
  // claims, omissions, roster chains and auditing over time.
  ASSERT_GE(names.size(), 35u);
  for (const std::string& name : names) {
    SCOPED_TRACE(name);
    const Expect expect = ReadExpect(AuditDir() + "/" + name + ".expect");
    ASSERT_TRUE(!expect.tokens.empty() || !expect.error.empty())
        << "no token or error in " << name << ".expect";
    AuditOptions options;
    AuditBundle since;
    if (!expect.since.empty()) {
      since = LoadBundle(expect.since);
      options.since = &since;
    }
    std::optional<Roster> anchor;
    if (!expect.anchor.empty()) {
      anchor.emplace(LoadRoster(AuditDir() + "/" + expect.anchor));
      options.anchor = &*anchor;
    }
    const absl::StatusOr<AuditReport> audited = Audit(LoadBundle(name), options);
    if (!expect.error.empty()) {
      EXPECT_EQ(audited.status().code(), CodeNamed(expect.error)) << audited.status();
      EXPECT_THAT(audited.status().message(), HasSubstr(expect.message));
      continue;
    }
    ASSERT_TRUE(audited.ok()) << audited.status();
    const AuditReport& report = *audited;
    if (expect.tokens[0] == "ok") {
      EXPECT_TRUE(report.ok()) << report.Summary();
      EXPECT_TRUE(report.Findings().empty());
      continue;
    }
    EXPECT_FALSE(report.ok());
    EXPECT_EQ(report.Tokens(), std::set<std::string>(expect.tokens.begin(), expect.tokens.end()))
        << report.Summary();
    const std::vector<AuditFinding> findings = report.Findings();
    ASSERT_EQ(findings.size(), expect.count) << report.Summary();
    const auto primary = std::find_if(findings.begin(), findings.end(), [&](const AuditFinding& f) {
      return f.token == expect.tokens[0];
    });
    ASSERT_NE(primary, findings.end());
    EXPECT_EQ(primary->origin, expect.origin);
    EXPECT_THAT(primary->message, HasSubstr(expect.message));
  }
}

TEST(AuditTamperTest, OneThreadAndFourThreadsReportTheSame) {
  for (const char* name : {"good", "flipped-payload-bit", "reordered-feed", "wrong-leaf"}) {
    const AuditBundle bundle = LoadBundle(name);
    AuditOptions one, four;
    one.threads = 1;
    four.threads = 4;
    EXPECT_EQ(MustAudit(bundle, one).Json(), MustAudit(bundle, four).Json()) << name;
  }
}

TEST(AuditTest, CleanBundleReportsEveryCount) {
  const AuditReport report = MustAudit(LoadBundle("good"));
  EXPECT_EQ(report.federation, "audit-example");
  EXPECT_EQ(report.roster_version, 1u);
  EXPECT_EQ(report.alerts, 12u);
  EXPECT_FALSE(report.anchored);
  EXPECT_TRUE(IsHexId(report.roster_fingerprint));
  ASSERT_EQ(report.origins.size(), 2u);
  const OriginAudit& a = report.origins[0];
  EXPECT_EQ(a.origin, "a.cz/n1");
  EXPECT_TRUE(a.in_roster);
  EXPECT_TRUE(a.complete);
  EXPECT_EQ(a.alerts_checked, 8u);
  EXPECT_EQ(a.checkpoints, 2);
  EXPECT_EQ(a.checkpoint_size, 8u);
  EXPECT_TRUE(a.checkpoint_valid());
  EXPECT_TRUE(a.consistent);
  EXPECT_THAT(a.witnesses, ElementsAre("b.cz", "c.cz"));
  EXPECT_EQ(a.quorum, 2);
  EXPECT_TRUE(a.quorum_met);
  EXPECT_THAT(report.origins[1].witnesses, ElementsAre("a.cz", "c.cz"));
  EXPECT_THAT(report.Summary(), HasSubstr("audit OK: 12 alerts, 2 origins, 0 problems\n"));
}

TEST(AuditTest, FlippedPayloadBitIsOneSignatureFailureAndNothingElse) {
  const AuditReport report = MustAudit(LoadBundle("flipped-payload-bit"));
  const OriginAudit* a = FindOrigin(report, "a.cz/n1");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->alerts_checked, 8u);
  EXPECT_EQ(a->signature_failures, 1u);
  EXPECT_EQ(a->chain_breaks, 0u);  // #4 names the original #3: not blamed
  EXPECT_EQ(a->inclusion_failures, 0u);
  EXPECT_EQ(a->missing, 0u);
  EXPECT_TRUE(a->quorum_met);
  EXPECT_THAT(a->problems[0].message, HasSubstr("alert #3 "));
  EXPECT_TRUE(FindOrigin(report, "b.cz/n1")->ok());
}

// Co-signatures on alert envelopes (PROTOCOL.md section 23), judged against
// the bundle roster: valid ones are reported per alert with their members;
// a forged one, one by a key outside the roster and one by the origin's own
// member are each a forged_alert_cosignature finding, while the alert stays
// validly signed by its origin.
TEST(AuditTest, CorroborationIsReportedPerAlertAndBadCosignaturesAreFindings) {
  AuditBundle bundle = LoadBundle("good");
  const SigningKey c_node = ExporterKey();  // c.cz/n1
  const SigningKey a_node = *SigningKey::FromSeed(Sha256("watchfloor audit testdata node a.cz/n1"));
  int a_alerts = 0;
  for (auto& b : *bundle.mutable_alerts()) {
    watchfloor::v1::Alert alert;
    ASSERT_TRUE(alert.ParseFromString(b.envelope().payload()));
    if (alert.origin() != "a.cz/n1") continue;
    ++a_alerts;
    watchfloor::v1::Envelope* env = b.mutable_envelope();
    if (alert.sequence() == 2) {
      *env->add_signatures() = Cosign(*env, c_node);  // valid
    } else if (alert.sequence() == 3) {
      watchfloor::v1::Signature forged = Cosign(*env, c_node);
      forged.mutable_sig()->at(0) ^= 1;
      *env->add_signatures() = forged;
      *env->add_signatures() = Cosign(*env, SigningKey::Generate());
      *env->add_signatures() = Cosign(*env, MemberKey("b.cz"));  // a member key, not a node's
    } else if (alert.sequence() == 4) {
      // The origin's own key again is its own signature, not a co-signature.
      *env->add_signatures() = Cosign(*env, a_node);
    }
  }
  ASSERT_EQ(a_alerts, 8);
  const AuditReport report = MustAudit(bundle);
  const OriginAudit* a = FindOrigin(report, "a.cz/n1");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->signature_failures, 0u);
  ASSERT_EQ(a->corroborated.size(), 1u);
  EXPECT_EQ(a->corroborated[0].sequence, 2u);
  EXPECT_THAT(a->corroborated[0].members, ElementsAre("c.cz"));
  EXPECT_THAT(a->corroborated[0].nodes, ElementsAre("c.cz/n1"));
  EXPECT_EQ(a->forged_cosignatures, 3u);
  ASSERT_EQ(a->problems.size(), 3u);
  for (const auto& f : a->problems) {
    EXPECT_EQ(f.token, kForgedAlertCosignature);
    EXPECT_THAT(f.message, HasSubstr("alert #3 "));
  }
  EXPECT_THAT(report.Summary(), HasSubstr("corroborated        1 alert(s), 3 forged co-signature(s)\n"));
  EXPECT_THAT(report.Json(), HasSubstr("\"corroborated\":[{\"sequence\":2,"));
  EXPECT_FALSE(report.ok());
  EXPECT_TRUE(FindOrigin(report, "b.cz/n1")->ok());
}

TEST(AuditTest, WithoutAFilterEveryOriginIsCompleteWhateverCompleteOriginsSays) {
  AuditBundle bundle = LoadBundle("missing-alert");
  EXPECT_EQ(FindOrigin(MustAudit(bundle), "a.cz/n1")->missing, 1u);
  // Clearing the unsigned list does not make the gap disappear: the signed
  // claims have no filter, so the origin is complete by definition.
  bundle.clear_complete_origins();
  const AuditReport report = MustAudit(bundle);
  EXPECT_EQ(report.Tokens(), (std::set<std::string>{"missing", "claims_mismatch"}));
  const OriginAudit* a = FindOrigin(report, "a.cz/n1");
  EXPECT_TRUE(a->complete);
  EXPECT_EQ(a->missing, 1u);
  EXPECT_EQ(a->not_shown, 1u);
  EXPECT_THAT(report.Summary(), HasSubstr("missing             1 of 8 (complete: no filter)"));
}

TEST(AuditTest, AFilteredBundleReportsWhatItDoesNotShowAndPassesUnlessCompletenessIsRequired) {
  const AuditBundle bundle = LoadBundle("filtered");
  const AuditReport report = MustAudit(bundle);
  EXPECT_TRUE(report.ok()) << report.Summary();
  const OriginAudit* a = FindOrigin(report, "a.cz/n1");
  EXPECT_FALSE(a->complete);
  EXPECT_EQ(a->alerts_checked, 4u);
  EXPECT_EQ(a->not_shown, 4u);
  EXPECT_EQ(a->missing, 0u);
  EXPECT_EQ(FindOrigin(report, "b.cz/n1")->not_shown, 4u);
  EXPECT_THAT(report.Summary(),
              HasSubstr("missing             - (filtered: 4 of 8 not shown, not proven to be "
                        "filtered out)"));
  EXPECT_THAT(report.Summary(),
              HasSubstr("a.cz/n1: 4 of its 8 entries are not in the bundle; that the filter "
                        "excludes them is not proven"));

  AuditOptions strict;
  strict.require_complete = true;
  const AuditReport failed = MustAudit(bundle, strict);
  EXPECT_EQ(failed.Tokens(), std::set<std::string>{"missing"});
  ASSERT_EQ(failed.Findings().size(), 2u);  // a.cz/n1 and b.cz/n1
  EXPECT_EQ(failed.Findings()[0].message,
            "4 of sequences 1..8 missing from a complete origin (--require-complete, though "
            "the bundle is filtered): sequence 1, 3, 5, 7");
  EXPECT_EQ(FindOrigin(failed, "b.cz/n1")->missing, 4u);
}

TEST(AuditTest, ValidClaimsAreReportedWithTheirExporter) {
  const AuditReport report = MustAudit(LoadBundle("good"));
  EXPECT_TRUE(report.claims_valid);
  EXPECT_EQ(report.exporter, "c.cz/n1");
  EXPECT_THAT(report.Summary(), HasSubstr("filter (none), claims signed by c.cz/n1\n"));
  EXPECT_THAT(report.Proven(),
              Contains("the filter, cuts and counts are as c.cz/n1 signed them"));
  EXPECT_THAT(report.Proven(), Contains("a.cz/n1, b.cz/n1: no entry up to the checkpoint is "
                                        "left out"));
  const AuditReport stripped = MustAudit(LoadBundle("claims-stripped"));
  EXPECT_FALSE(stripped.claims_valid);
  EXPECT_THAT(stripped.NotProven(),
              Contains("the filter, complete origins, cuts and counts: no valid signed claims"));
}

TEST(AuditTest, ClaimsByANodeOutsideTheRosterAreInvalid) {
  AuditBundle bundle = LoadBundle("good");
  watchfloor::v1::ExportClaims claims;
  ASSERT_TRUE(claims.ParseFromString(bundle.claims().payload()));
  claims.set_exporter("x.cz/n1");
  *bundle.mutable_claims() =
      SignEnvelope(claims.SerializeAsString(), kExportClaimsPayloadType, MemberKey("x.cz"));
  const AuditReport report = MustAudit(bundle);
  EXPECT_EQ(report.Tokens(), std::set<std::string>{"claims_invalid"});
  EXPECT_EQ(report.problems[0].message,
            "export claims: claims name exporter \"x.cz/n1\", which is not a node of roster "
            "v1; the claims are ignored, so the filter, cuts and counts are unauthenticated");
  // An alert envelope is not claims, even by the right key.
  bundle = LoadBundle("good");
  *bundle.mutable_claims() = bundle.alerts(0).envelope();
  EXPECT_THAT(MustAudit(bundle).problems[0].message,
              HasSubstr("claims payloadType is \"application/vnd.watchfloor.alert.v1+protobuf\""));
}

TEST(AuditTest, AllCheckpointsRemovedIsOneFindingPerOriginNotOnePerAlert) {
  const AuditReport report = MustAudit(LoadBundle("all-checkpoints-removed"));
  ASSERT_EQ(report.Findings().size(), 2u);
  EXPECT_EQ(report.Findings()[0].message,
            "8 validly signed alert(s) of a.cz/n1 cannot be placed in its log: the bundle has "
            "no valid checkpoint of a.cz/n1; nothing about its log is proven");
  EXPECT_EQ(FindOrigin(report, "a.cz/n1")->inclusion_failures, 0u);
}

TEST(AuditTest, AlertOfAnOriginOutsideTheRosterIsASignatureFailure) {
  AuditBundle bundle = LoadBundle("good");
  watchfloor::v1::Alert alert;
  ASSERT_TRUE(alert.ParseFromString(bundle.alerts(0).envelope().payload()));
  alert.set_origin("x.cz/n1");
  *bundle.mutable_alerts(0)->mutable_envelope() =
      SignEnvelope(alert.SerializeAsString(), kAlertPayloadType, MemberKey("x.cz"));
  const AuditReport report = MustAudit(bundle);
  EXPECT_EQ(report.Tokens(), (std::set<std::string>{"signature_failure", "missing"}));
  const OriginAudit* x = FindOrigin(report, "x.cz/n1");
  ASSERT_NE(x, nullptr);
  EXPECT_FALSE(x->in_roster);
  EXPECT_EQ(x->signature_failures, 1u);
  EXPECT_THAT(x->problems[0].message, HasSubstr("origin x.cz/n1 is not in the roster"));
}

// --------------------------------------------------------------- quorum

TEST(AuditQuorumTest, DefaultIsAMajorityOfTheOtherMembers) {
  // 3 members: 2 others, majority 2; quorum-not-met has only b.cz on a.cz/n1.
  const AuditReport report = MustAudit(LoadBundle("quorum-not-met"));
  const OriginAudit* a = FindOrigin(report, "a.cz/n1");
  EXPECT_EQ(a->quorum, 2);
  EXPECT_THAT(a->witnesses, ElementsAre("b.cz"));
  EXPECT_FALSE(a->quorum_met);
  EXPECT_TRUE(FindOrigin(report, "b.cz/n1")->quorum_met);
}

TEST(AuditQuorumTest, ExplicitQuorumOverridesTheDefault) {
  AuditOptions options;
  options.quorum = 1;
  EXPECT_TRUE(MustAudit(LoadBundle("quorum-not-met"), options).ok());
  options.quorum = 3;  // more witnesses than there are other members
  const AuditReport report = MustAudit(LoadBundle("good"), options);
  EXPECT_EQ(report.Tokens(), std::set<std::string>{"quorum_not_met"});
  EXPECT_EQ(report.Findings().size(), 2u);
  options.quorum = 0;
  EXPECT_TRUE(MustAudit(LoadBundle("quorum-not-met"), options).ok());
}

TEST(AuditQuorumTest, ACosignatureFromTheOriginsOwnMemberDoesNotCount) {
  AuditBundle bundle = LoadBundle("quorum-not-met");
  // Replace the size-8 checkpoint's witnesses with a.cz itself: a cosignature
  // by the origin's own member proves nothing about a split view.
  std::string* note = bundle.mutable_checkpoints(1)->mutable_note();
  const std::string body = note->substr(0, note->find("\n\n") + 1);
  const SigningKey node_a =
      *SigningKey::FromSeed(Sha256("watchfloor audit testdata node a.cz/n1"));
  *note += CosignatureLine(body, "watchfloor/a.cz/n1", node_a, 1798771000);
  AuditOptions options;
  options.quorum = 2;
  const AuditReport report = MustAudit(bundle, options);
  EXPECT_THAT(FindOrigin(report, "a.cz/n1")->witnesses, ElementsAre("b.cz"));
  EXPECT_EQ(report.Tokens(), std::set<std::string>{"quorum_not_met"});
}

// --------------------------------------------------------------- roster

TEST(AuditRosterTest, AnchorEqualToTheBundleRosterIsAnchored) {
  const Roster anchor = LoadRoster(AuditDir() + "/roster.json");
  AuditOptions options;
  options.anchor = &anchor;
  const AuditReport report = MustAudit(LoadBundle("good"), options);
  EXPECT_TRUE(report.ok());
  EXPECT_TRUE(report.anchored);
  EXPECT_THAT(report.Summary(), HasSubstr("anchored by --roster"));
}

TEST(AuditRosterTest, AnchorOfAnotherFederationIsInvalidArgument) {
  const Roster other = LoadRoster(std::string(WF_SOURCE_DIR) + "/tests/testdata/roster/genesis.json");
  AuditOptions options;
  options.anchor = &other;
  const absl::StatusOr<AuditReport> report = Audit(LoadBundle("good"), options);
  EXPECT_EQ(report.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(report.status().message(),
              HasSubstr("bundle roster is for federation audit-example, the anchor roster for "
                        "dns-cert"));
}

TEST(AuditRosterTest, SameVersionWithOtherContentsIsUnauthenticated) {
  const Envelope variant = SignedVariant([](watchfloor::v1::Roster& r) {
    r.mutable_issued_at()->set_seconds(r.issued_at().seconds() + 1);
  });
  const Roster anchor = *Roster::VerifyGenesis(variant);
  AuditOptions options;
  options.anchor = &anchor;
  const absl::StatusOr<AuditReport> report = Audit(LoadBundle("good"), options);
  EXPECT_EQ(report.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(report.status().message(), HasSubstr("differs from the anchor roster v1"));
}

TEST(AuditRosterTest, NextVersionChainsFromTheAnchorAndLaterOnesDoNot) {
  const Roster anchor = LoadRoster(AuditDir() + "/roster.json");
  AuditOptions options;
  options.anchor = &anchor;
  AuditBundle bundle = LoadBundle("good");
  *bundle.mutable_roster() = SignedVariant([](watchfloor::v1::Roster& r) { r.set_version(2); });
  ResignClaims(bundle, [](watchfloor::v1::ExportClaims& c) { c.set_roster_version(2); });
  const AuditReport report = MustAudit(bundle, options);
  EXPECT_TRUE(report.ok()) << report.Summary();
  EXPECT_EQ(report.roster_version, 2u);

  *bundle.mutable_roster() = SignedVariant([](watchfloor::v1::Roster& r) { r.set_version(3); });
  EXPECT_EQ(Audit(bundle, options).status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(AuditRosterTest, ARotatedChainAuditsAnchoredAtAnyVersionOnIt) {
  const AuditBundle bundle = LoadBundle("rotated-chain");
  ASSERT_EQ(bundle.roster_chain_size(), 2);
  const Roster v1 = LoadRoster(AuditDir() + "/roster.json");
  const Roster v2 = *Roster::VerifyGenesis(bundle.roster_chain(1));
  const Roster v3 = *Roster::VerifyGenesis(bundle.roster());
  for (const Roster* anchor : {&v1, &v2, &v3}) {
    SCOPED_TRACE(anchor->version());
    AuditOptions options;
    options.anchor = anchor;
    const AuditReport report = MustAudit(bundle, options);
    EXPECT_TRUE(report.ok()) << report.Summary();
    EXPECT_THAT(report.chain_versions, ElementsAre(1, 2, 3));
    EXPECT_EQ(report.roster_version, 3u);
    EXPECT_EQ(report.trust_fingerprint, HexEncode(Sha256(anchor->envelope().payload())));
  }
  // Unanchored, trust rests on the chain's first roster.
  const AuditReport report = MustAudit(bundle);
  EXPECT_EQ(report.trust_fingerprint, HexEncode(Sha256(v1.envelope().payload())));
  EXPECT_THAT(report.Summary(), HasSubstr("roster chain v1 -> v2 -> v3, trust rests on v1"));
}

TEST(AuditRosterTest, AChainMayStartRightAfterTheAnchorWhichThenHeadsIt) {
  AuditBundle bundle = LoadBundle("rotated-chain");
  bundle.mutable_roster_chain()->DeleteSubrange(0, 1);  // v2, v3
  const Roster v1 = LoadRoster(AuditDir() + "/roster.json");
  AuditOptions options;
  options.anchor = &v1;
  const AuditReport report = MustAudit(bundle, options);
  EXPECT_TRUE(report.ok()) << report.Summary();  // #1-#4 under the anchor's keys
  EXPECT_THAT(report.chain_versions, ElementsAre(1, 2, 3));
}

TEST(AuditRosterTest, WithoutTheChainAlertsUnderRotatedKeysAreSignatureFailures) {
  AuditBundle bundle = LoadBundle("rotated-chain");
  bundle.clear_roster_chain();  // v3 alone: a.cz/n1's v1 and v2 keys unknown
  const AuditReport report = MustAudit(bundle);
  EXPECT_EQ(report.Tokens(), std::set<std::string>{"signature_failure"});
  EXPECT_EQ(FindOrigin(report, "a.cz/n1")->signature_failures, 8u);
}

TEST(AuditRosterTest, AnEarlierVersionOnTheChainMustLeadToTheAnchorAsTheAuditorHoldsIt) {
  // The bundle's copy of v2 with v1's member signatures removed: as the
  // anchor (which keeps them) it still links, because the anchor's own
  // envelope is what is checked against v1.
  AuditBundle bundle = LoadBundle("rotated-chain");
  const Roster v2 = *Roster::VerifyGenesis(bundle.roster_chain(1));
  bundle.mutable_roster_chain(1)->mutable_signatures()->RemoveLast();
  AuditOptions options;
  options.anchor = &v2;
  EXPECT_TRUE(MustAudit(bundle, options).ok());
  EXPECT_EQ(Audit(bundle, {}).status().code(), absl::StatusCode::kUnauthenticated);
}

TEST(AuditRosterTest, UnanchoredRosterBelowItsThresholdIsUnauthenticated) {
  AuditBundle bundle = LoadBundle("good");
  bundle.mutable_roster()->mutable_signatures()->RemoveLast();  // 1 of 2
  const absl::StatusOr<AuditReport> report = Audit(bundle, {});
  EXPECT_EQ(report.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(report.status().message(), HasSubstr("bundle roster: "));
}

TEST(AuditTest, WrongFormatIsInvalidArgument) {
  AuditBundle bundle = LoadBundle("good");
  bundle.set_format("watchfloor-bundle/v2");
  const absl::StatusOr<AuditReport> report = Audit(bundle, {});
  EXPECT_EQ(report.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(report.status().message(),
              HasSubstr("bundle format is \"watchfloor-bundle/v2\", want \"watchfloor-bundle/v1\""));
}

// ----------------------------------------------------------------- JSON

google::protobuf::Struct ParseJson(const std::string& json) {
  google::protobuf::Struct out;
  const auto st = google::protobuf::util::JsonStringToMessage(json, &out);
  EXPECT_TRUE(st.ok()) << st.ToString() << "\n" << json;
  return out;
}

TEST(AuditJsonTest, ReportIsValidJsonWithCountsAndFindings) {
  const google::protobuf::Struct good = ParseJson(MustAudit(LoadBundle("good")).Json());
  EXPECT_TRUE(good.fields().at("ok").bool_value());
  ASSERT_EQ(good.fields().at("origins").list_value().values_size(), 2);
  const auto& a = good.fields().at("origins").list_value().values(0).struct_value().fields();
  EXPECT_EQ(a.at("origin").string_value(), "a.cz/n1");
  EXPECT_EQ(a.at("alerts_checked").number_value(), 8);
  EXPECT_EQ(a.at("checkpoint_size").number_value(), 8);
  EXPECT_TRUE(a.at("quorum_met").bool_value());

  const google::protobuf::Struct bad = ParseJson(MustAudit(LoadBundle("split-view")).Json());
  EXPECT_FALSE(bad.fields().at("ok").bool_value());
  const auto& origin = bad.fields().at("origins").list_value().values(0).struct_value().fields();
  EXPECT_FALSE(origin.at("consistent").bool_value());
  const auto& problem = origin.at("problems").list_value().values(0).struct_value().fields();
  EXPECT_EQ(problem.at("token").string_value(), "split_view");
}

// ------------------------------------------------------------------ CLI

struct CliRun {
  int exit_code = -1;
  std::string out, err;
};

// `watchfloor args...`, stdout and stderr captured through files.
CliRun Watchfloor(const std::vector<std::string>& args) {
  testing::TempDir dir;
  const std::string out_path = dir.Join("out"), err_path = dir.Join("err");
  std::vector<std::string> argv = {testing::WatchfloorBinary()};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> cargs;
  for (std::string& a : argv) cargs.push_back(a.data());
  cargs.push_back(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    const int out = open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(out, STDOUT_FILENO);
    dup2(err, STDERR_FILENO);
    execv(cargs[0], cargs.data());
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  CliRun r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = Slurp(out_path);
  r.err = Slurp(err_path);
  return r;
}

std::ostream& operator<<(std::ostream& os, const CliRun& r) {
  return os << "exit " << r.exit_code << "\n--- stdout ---\n" << r.out << "--- stderr ---\n"
            << r.err;
}

TEST(AuditCliTest, CleanBundleExitsZeroWithTheSummary) {
  const CliRun r = Watchfloor({"audit", AuditDir() + "/good.wfb", "--threads", "2"});
  EXPECT_EQ(r.exit_code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr("origin a.cz/n1: OK\n"));
  EXPECT_THAT(r.out, HasSubstr("audit OK: 12 alerts, 2 origins, 0 problems\n"));
}

TEST(AuditCliTest, TamperedBundleExitsOneNamingTheFinding) {
  const CliRun r = Watchfloor({"audit", AuditDir() + "/wrong-leaf.wfb"});
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_THAT(r.out, HasSubstr("origin a.cz/n1: FAILED\n"));
  EXPECT_THAT(r.out, HasSubstr("inclusion_failure: alert #3 "));
  EXPECT_THAT(r.out, HasSubstr("audit FAILED: 12 alerts, 2 origins, 1 problems\n"));
}

TEST(AuditCliTest, JsonFlagPrintsParsableJson) {
  const CliRun r = Watchfloor({"audit", "--json", AuditDir() + "/forged-cosignature.wfb"});
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_FALSE(ParseJson(r.out).fields().at("ok").bool_value());
}

TEST(AuditCliTest, QuorumAndRosterFlags) {
  EXPECT_EQ(Watchfloor({"audit", AuditDir() + "/quorum-not-met.wfb"}).exit_code, 1);
  EXPECT_EQ(Watchfloor({"audit", "--quorum", "1", AuditDir() + "/quorum-not-met.wfb"}).exit_code,
            0);
  const CliRun anchored =
      Watchfloor({"audit", "--roster", AuditDir() + "/roster.json", AuditDir() + "/good.wfb"});
  EXPECT_EQ(anchored.exit_code, 0) << anchored;
  const CliRun other = Watchfloor({"audit", "--roster",
                                std::string(WF_SOURCE_DIR) + "/tests/testdata/roster/genesis.json",
                                AuditDir() + "/good.wfb"});
  EXPECT_EQ(other.exit_code, 2) << other;
  EXPECT_THAT(other.err, HasSubstr("good.wfb cannot be audited: bundle roster is for federation"));
}

// docs/PROTOCOL.md section 13: a bundle that cannot be audited exits 2, as
// the help says; findings exit 1.
TEST(AuditCliTest, AnUntrustedRosterChainExitsTwo) {
  for (const char* name : {"rotated-chain-broken-link", "rotated-chain-skipped-version"}) {
    const CliRun r = Watchfloor({"audit", AuditDir() + "/" + name + ".wfb"});
    EXPECT_EQ(r.exit_code, 2) << r;
    EXPECT_THAT(r.err, HasSubstr("cannot be audited: bundle roster chain")) << r;
    EXPECT_EQ(r.out, "");
  }
  const CliRun r = Watchfloor({"audit", "--roster", AuditDir() + "/roster.json",
                               AuditDir() + "/rotated-chain-not-reaching-anchor.wfb"});
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_THAT(r.err, HasSubstr("does not reach the anchor roster v1")) << r;
  AuditBundle bundle = LoadBundle("good");
  bundle.mutable_roster()->mutable_signatures()->RemoveLast();
  testing::TempDir dir;
  testing::WriteFile(dir.Join("unsigned-roster.wfb"), bundle.SerializeAsString());
  const CliRun unsigned_roster = Watchfloor({"audit", dir.Join("unsigned-roster.wfb")});
  EXPECT_EQ(unsigned_roster.exit_code, 2) << unsigned_roster;
  EXPECT_THAT(unsigned_roster.err, HasSubstr("bundle roster: ")) << unsigned_roster;
}

TEST(AuditCliTest, ClaimsAndOmissionsExitOne) {
  for (const char* name : {"claims-stripped", "dropped-alert-complete-origins-cleared",
                           "all-checkpoints-removed", "filtered-dropped-alert"}) {
    const CliRun r = Watchfloor({"audit", AuditDir() + "/" + name + ".wfb"});
    EXPECT_EQ(r.exit_code, 1) << r;
  }
  const CliRun r = Watchfloor({"audit", AuditDir() + "/all-checkpoints-removed.wfb"});
  EXPECT_THAT(r.out, HasSubstr("audit FAILED: 12 alerts, 2 origins, 2 problems\n"));
}

TEST(AuditCliTest, RequireCompleteFailsAFilteredBundleWithGaps) {
  const std::string filtered = AuditDir() + "/filtered.wfb";
  EXPECT_EQ(Watchfloor({"audit", filtered}).exit_code, 0);
  const CliRun r = Watchfloor({"audit", "--require-complete", "--json", filtered});
  EXPECT_EQ(r.exit_code, 1) << r;
  const google::protobuf::Struct json = ParseJson(r.out);
  EXPECT_TRUE(json.fields().at("require_complete").bool_value());
  const auto& a = json.fields().at("origins").list_value().values(0).struct_value().fields();
  EXPECT_EQ(a.at("missing").number_value(), 4);
  EXPECT_EQ(a.at("not_shown").number_value(), 4);
}

TEST(AuditCliTest, SinceChecksTheNewerBundleAgainstTheOlder) {
  const std::string old = AuditDir() + "/since-old.wfb";
  const CliRun ok = Watchfloor({"audit", AuditDir() + "/since-consistent.wfb", "--since", old});
  EXPECT_EQ(ok.exit_code, 0) << ok;
  EXPECT_THAT(ok.out, HasSubstr("  since               size 5: consistent\n"));
  EXPECT_THAT(ok.out, HasSubstr("a.cz/n1, b.cz/n1: the log only grew since the --since bundle"));
  const CliRun forked = Watchfloor({"audit", AuditDir() + "/since-forked.wfb", "--since", old});
  EXPECT_EQ(forked.exit_code, 1) << forked;
  EXPECT_THAT(forked.out, HasSubstr("split_view: the --since bundle's checkpoint (size 5) is "
                                    "not a prefix of this bundle's (size 8)"));
  // The forked bundle alone audits clean: only the older one shows the fork.
  EXPECT_EQ(Watchfloor({"audit", AuditDir() + "/since-forked.wfb"}).exit_code, 0);
  const CliRun bad = Watchfloor({"audit", AuditDir() + "/good.wfb", "--since",
                                 AuditDir() + "/roster.json"});
  EXPECT_EQ(bad.exit_code, 2) << bad;
  EXPECT_THAT(bad.err, HasSubstr("roster.json is not an audit bundle")) << bad;
}

TEST(AuditCliTest, UsageAndInputErrorsExitTwo) {
  testing::TempDir dir;
  testing::WriteFile(dir.Join("junk.wfb"), "\xff\xff\xff not a protobuf");
  testing::WriteFile(dir.Join("empty.wfb"), "");
  const struct {
    std::vector<std::string> args;
    std::string message;
  } cases[] = {
      {{"audit"}, "missing BUNDLE_FILE"},
      {{"audit", dir.Join("nope.wfb")}, "cannot read bundle " + dir.Join("nope.wfb")},
      {{"audit", dir.path()}, "cannot read bundle " + dir.path() + ": it is a directory"},
      {{"audit", dir.Join("junk.wfb")}, "is not a serialized watchfloor.v1.AuditBundle"},
      {{"audit", dir.Join("empty.wfb")}, "is not an audit bundle: format is \"\""},
      {{"audit", "--quorum", "many", AuditDir() + "/good.wfb"}, "--quorum many is not a number"},
      {{"audit", "--threads", "0", AuditDir() + "/good.wfb"}, "--threads 0 is not a number"},
      {{"audit", "--roster", dir.Join("junk.wfb"), AuditDir() + "/good.wfb"},
       "is not a DSSE roster envelope"},
      {{"audit", "--bogus", AuditDir() + "/good.wfb"}, "unknown flag --bogus"},
      {{"audit", "--node", "127.0.0.1:7443", AuditDir() + "/good.wfb"},
       "give either BUNDLE_FILE or --node, not both"},
      {{"audit", "--filter", "severity>=high", AuditDir() + "/good.wfb"},
       "--filter applies to --node"},
      {{"audit", "--node", "127.0.0.1:1", "--filter", "severity>=nonsense"}, "--filter"},
  };
  for (const auto& c : cases) {
    const CliRun r = Watchfloor(c.args);
    EXPECT_EQ(r.exit_code, 2) << r;
    EXPECT_THAT(r.err, HasSubstr(c.message)) << r;
  }
}

// A live node that cannot be reached is a failure (1), not a usage error,
// and the message names the node. (A reachable one is audited end to end by
// tests/quickstart_test.sh.)
TEST(AuditCliTest, AnUnreachableNodeExitsOneNamingIt) {
  const CliRun r = Watchfloor({"audit", "--node", "127.0.0.1:1"});
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_THAT(r.err, HasSubstr("exporting from node 127.0.0.1:1")) << r;
}

// The exit codes --help prints (HelpListsTheFlags) are the ones the docs
// give, in words that survive reflowing.
TEST(AuditCliTest, TheDocsStateTheSameExitCodes) {
  auto flat = [](std::string text) {
    std::replace(text.begin(), text.end(), '\n', ' ');
    return text;
  };
  const std::string protocol = flat(Slurp(std::string(WF_SOURCE_DIR) + "/docs/PROTOCOL.md"));
  EXPECT_THAT(protocol, HasSubstr("It exits 0 only when there is no finding, 1 on any finding, "
                                  "2 on a usage error, an unreadable bundle, or one that cannot "
                                  "be audited at all"));
  const std::string readme = flat(Slurp(std::string(WF_SOURCE_DIR) + "/README.md"));
  EXPECT_THAT(readme, HasSubstr("`watchfloor audit` exits 0 when everything checks, 1 on any "
                                "finding"));
  EXPECT_THAT(readme, HasSubstr("and 2 on a usage error or a bundle that cannot be audited at "
                                "all"));
}

TEST(AuditCliTest, HelpListsTheFlags) {
  const CliRun r = Watchfloor({"audit", "--help"});
  EXPECT_EQ(r.exit_code, 0) << r;
  for (const char* flag : {"--roster", "--quorum", "--json", "--threads", "--node",
                           "--require-complete", "--since"}) {
    EXPECT_THAT(r.out, HasSubstr(flag));
  }
  EXPECT_THAT(r.out, HasSubstr("Exit codes: 0 everything checks, 1 any finding (or, with "
                               "--node, the\nnode failed), 2 usage error, unreadable bundle, "
                               "or a bundle that\ncannot be audited (untrusted or unreadable "
                               "roster chain)."));
}

}  // namespace
}  // namespace watchfloor::certs
