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
#include <string>
#include <vector>

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "certs/audit.h"
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
  std::string token, origin, message;
  size_t count = 0;
};

Expect ReadExpect(const std::string& path) {
  Expect e;
  for (absl::string_view line : absl::StrSplit(Slurp(path), '\n', absl::SkipEmpty())) {
    const size_t space = line.find(' ');
    const std::string key(line.substr(0, space));
    const std::string value(space == absl::string_view::npos ? "" : line.substr(space + 1));
    if (key == "token") e.token = value;
    if (key == "origin") e.origin = value;
    if (key == "message") e.message = value;
    if (key == "count") e.count = std::stoul(value);
  }
  return e;
}

TEST(AuditTamperTest, EveryBundleReportsExactlyItsExpectedFinding) {
  std::vector<std::string> names;
  for (const auto& entry : std::filesystem::directory_iterator(AuditDir())) {
    if (entry.path().extension() == ".wfb") names.push_back(entry.path().stem().string());
  }
  std::sort(names.begin(), names.end());
  // The twelve attacks plus good, chain-break, quorum-not-met,
  // split-view-inconsistent and truncated-consistency-proof.
  ASSERT_GE(names.size(), 17u);
  for (const std::string& name : names) {
    SCOPED_TRACE(name);
    const Expect expect = ReadExpect(AuditDir() + "/" + name + ".expect");
    ASSERT_FALSE(expect.token.empty()) << "no token in " << name << ".expect";
    const AuditReport report = MustAudit(LoadBundle(name));
    if (expect.token == "ok") {
      EXPECT_TRUE(report.ok()) << report.Summary();
      EXPECT_TRUE(report.Findings().empty());
      continue;
    }
    EXPECT_FALSE(report.ok());
    EXPECT_EQ(report.Tokens(), std::set<std::string>{expect.token}) << report.Summary();
    const std::vector<AuditFinding> findings = report.Findings();
    ASSERT_EQ(findings.size(), expect.count) << report.Summary();
    EXPECT_EQ(findings[0].origin, expect.origin);
    EXPECT_THAT(findings[0].message, HasSubstr(expect.message));
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

TEST(AuditTest, MissingSequencesAreOnlyReportedForCompleteOrigins) {
  AuditBundle bundle = LoadBundle("missing-alert");
  EXPECT_EQ(FindOrigin(MustAudit(bundle), "a.cz/n1")->missing, 1u);
  bundle.clear_complete_origins();  // as a filtered export writes it
  const AuditReport report = MustAudit(bundle);
  EXPECT_TRUE(report.ok()) << report.Summary();
  EXPECT_THAT(report.Summary(), HasSubstr("- (not a complete origin)"));
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
  const AuditReport report = MustAudit(bundle, options);
  EXPECT_TRUE(report.ok()) << report.Summary();
  EXPECT_EQ(report.roster_version, 2u);

  *bundle.mutable_roster() = SignedVariant([](watchfloor::v1::Roster& r) { r.set_version(3); });
  EXPECT_EQ(Audit(bundle, options).status().code(), absl::StatusCode::kFailedPrecondition);
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
  EXPECT_EQ(other.exit_code, 1) << other;
  EXPECT_THAT(other.err, HasSubstr("good.wfb cannot be audited: bundle roster is for federation"));
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

TEST(AuditCliTest, HelpListsTheFlags) {
  const CliRun r = Watchfloor({"audit", "--help"});
  EXPECT_EQ(r.exit_code, 0) << r;
  for (const char* flag : {"--roster", "--quorum", "--json", "--threads", "--node"}) {
    EXPECT_THAT(r.out, HasSubstr(flag));
  }
}

}  // namespace
}  // namespace watchfloor::certs
