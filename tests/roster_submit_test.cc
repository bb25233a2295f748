// `watchfloor roster submit` and `roster status` against a 3-member
// federation of `watchfloor node` child processes over real mutual TLS
// (issue 9). New versions are made as an operator makes them, with `roster
// draft --from` and `roster sign`; one submitted at one node reaches every
// node by gossip and is persisted in each data directory. Each refused
// submission checks the exit code and message, and that no node moved off
// its version or persisted anything.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "certs/dsse.h"
#include "certs/roster.h"
#include "grpcpp/client_context.h"
#include "gtest/gtest.h"
#include "node/roster_store.h"
#include "tests/federation_util.h"
#include "tests/interop_test_util.h"
#include "tests/test_util.h"

namespace watchfloor::testing {
namespace {

using watchfloor::v1::Envelope;

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

Envelope EnvelopeIn(const std::string& path) {
  absl::StatusOr<Envelope> env = certs::EnvelopeFromJson(Slurp(path));
  EXPECT_TRUE(env.ok()) << path << ": " << env.status();
  return env.ok() ? *env : Envelope();
}

std::string Rfc3339(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

class RosterSubmitTest : public ::testing::Test {
 protected:
  RosterSubmitTest() : fed_(Options()) {}
  static FederationOptions Options() {
    FederationOptions o;
    o.members = 3;  // threshold 2
    o.multi_process = true;
    return o;
  }
  void SetUp() override {
    ASSERT_TRUE(fed_.ok());
    ASSERT_EQ(fed_.StartAll(), absl::OkStatus());
  }

  // The client flags that reach node i as its member's operator.
  std::vector<std::string> Dial(int i) {
    FederationMember& m = fed_.member(i);
    return {"--node",   m.endpoint(),       "--tls-cert",    m.client_cert_file,
            "--tls-key", m.client_key_file, "--tls-ca",      m.ca_cert_file,
            "--node-origin", m.origin};
  }
  std::string File(const std::string& name) { return fed_.dir().Join(name); }

  // `roster draft --from FROM <edits> --out OUT`, then `roster sign` by each
  // member in `signers`, as the operators would.
  void DraftAndSign(const std::string& from, const std::string& out,
                    const std::vector<std::string>& edits, const std::vector<int>& signers) {
    std::vector<std::string> keys;
    for (int i : signers) keys.push_back(fed_.member(i).member_key_file);
    ProcResult r = DraftAndSignRoster(from, out, edits, keys);
    ASSERT_EQ(r.exit_code, 0) << r;
  }

  ProcResult Submit(int node, const std::vector<std::string>& files) {
    std::vector<std::string> args = {"roster", "submit"};
    for (const std::string& a : Dial(node)) args.push_back(a);
    args.insert(args.end(), files.begin(), files.end());
    return RunWatchfloor(args);
  }

  ProcResult Status(int node, bool json) {
    std::vector<std::string> args = {"roster", "status"};
    for (const std::string& a : Dial(node)) args.push_back(a);
    if (json) args.push_back("--json");
    return RunWatchfloor(args);
  }

  // The version `roster status --json` reports for node i (0 on failure).
  uint64_t VersionAt(int node) {
    ProcResult r = Status(node, /*json=*/true);
    if (r.exit_code != 0) return 0;
    // Fields print in field-number order: the first "version" is the node's.
    const std::string key = "\"version\":\"";
    const size_t at = r.out.find(key);
    uint64_t v = 0;
    if (at == std::string::npos ||
        !absl::SimpleAtoi(r.out.substr(at + key.size(), r.out.find('"', at + key.size()) -
                                                            at - key.size()),
                          &v)) {
      return 0;
    }
    return v;
  }

  std::string ChainFile(int node) {
    return fed_.member(node).data_dir + "/" + node::RosterStore::kFileName;
  }

  // Every node runs `version` and has persisted exactly `persisted`
  // versions (0: no chain file at all).
  void ExpectEveryNodeOn(uint64_t version, size_t persisted) {
    for (int i = 0; i < fed_.size(); ++i) {
      SCOPED_TRACE(fed_.origin(i));
      EXPECT_EQ(VersionAt(i), version);
      if (persisted == 0) {
        EXPECT_FALSE(std::filesystem::exists(ChainFile(i)));
      } else {
        std::vector<std::string> lines =
            absl::StrSplit(Slurp(ChainFile(i)), '\n', absl::SkipEmpty());
        EXPECT_EQ(lines.size(), persisted);
      }
    }
  }

  TestFederation fed_;
};

TEST_F(RosterSubmitTest, AVersionSubmittedAtOneNodeReachesAndIsPersistedByEveryNode) {
  const std::string v2 = File("roster-v2.json");
  DraftAndSign(fed_.roster_file(), v2, {"--expires", "2099-01-01T00:00:00Z"}, {0, 1});
  ExpectEveryNodeOn(1, 0);

  ProcResult r = Submit(0, {v2});
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_EQ(r.out, absl::StrCat("roster v2 is in force at ", fed_.member(0).endpoint(),
                                "; gossip takes it to the other nodes (watch with "
                                "'watchfloor roster status')\n"));
  ASSERT_TRUE(WaitUntil(
      [&] {
        for (int i = 0; i < fed_.size(); ++i) {
          if (VersionAt(i) != 2) return false;
        }
        return true;
      },
      absl::Seconds(60), absl::Milliseconds(200)))
      << fed_.LogTail(1) << fed_.LogTail(2);
  const std::string submitted = EnvelopeIn(v2).SerializeAsString();
  for (int i = 0; i < fed_.size(); ++i) {
    SCOPED_TRACE(fed_.origin(i));
    std::vector<std::string> lines =
        absl::StrSplit(Slurp(ChainFile(i)), '\n', absl::SkipEmpty());
    ASSERT_EQ(lines.size(), 2u);
    absl::StatusOr<Envelope> persisted = certs::EnvelopeFromJson(lines[1]);
    ASSERT_TRUE(persisted.ok()) << persisted.status();
    EXPECT_EQ(persisted->SerializeAsString(), submitted);
    EXPECT_NE(Slurp(fed_.member(i).log_file).find("\"event\":\"roster_adopted\",\"roster_version\":2}"), std::string::npos);
  }
  // Node 0 sees every peer on v2 once each has reported it in a frontier.
  ProcResult status;
  ASSERT_TRUE(WaitUntil(
      [&] {
        status = Status(0, /*json=*/false);
        return status.exit_code == 0 &&
               status.out.find(absl::StrCat("  ", fed_.origin(1))) != std::string::npos &&
               status.out.find(" v1 ") == std::string::npos &&
               status.out.find("not reported") == std::string::npos;
      },
      absl::Seconds(30), absl::Milliseconds(200)))
      << status;
  EXPECT_EQ(status.out.substr(0, status.out.find("peers:")),
            "federation  test-federation\nversion     2\nexpires     2099-01-01T00:00:00Z\n"
            "adopted     1 since start (0 refused)\n");
  for (int i : {1, 2}) {
    EXPECT_NE(status.out.find(absl::StrCat("  ", fed_.origin(i))), std::string::npos) << status;
  }

  // The same version again is no error; an older one is a rollback.
  r = Submit(2, {v2});
  EXPECT_EQ(r.exit_code, 0) << r;
  EXPECT_EQ(r.out, absl::StrCat("roster v2 (", v2, ") is already in force at ",
                                fed_.member(2).endpoint(), "\n"));
  r = Submit(1, {fed_.roster_file()});
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_EQ(r.err, absl::StrCat("error: ", fed_.member(1).endpoint(), " refused roster v1 (",
                                fed_.roster_file(),
                                "): FAILED_PRECONDITION: roster v1 is not newer than the "
                                "current v2; the next roster must be v3\n"));
  ExpectEveryNodeOn(2, 2);
}

TEST_F(RosterSubmitTest, RefusedVersionsChangeNothingOnAnyNode) {
  const std::string addr = fed_.member(0).endpoint();
  // Usage errors, before the node is dialed: exit 2.
  ProcResult r = Submit(0, {File("no-such.json")});
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_EQ(r.err, absl::StrCat("error: cannot read roster file ", File("no-such.json"),
                                ": No such file or directory; check the path\n"));
  WriteFile(File("alert.json"), "{\"severity\": \"high\"}\n");
  r = Submit(0, {File("alert.json")});
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_EQ(r.err.rfind(absl::StrCat("error: roster file ", File("alert.json"),
                                     " is not a DSSE JSON envelope: "),
                        0),
            0u)
      << r;

  // Skipped version: v3 (made from an unsubmitted v2) on nodes at v1.
  const std::string v2 = File("roster-v2.json"), v3 = File("roster-v3.json");
  DraftAndSign(fed_.roster_file(), v2, {"--expires", "2099-01-01T00:00:00Z"}, {0, 1});
  DraftAndSign(v2, v3, {"--expires", "2099-06-01T00:00:00Z"}, {0, 1});
  r = Submit(0, {v3});
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_EQ(r.err, absl::StrCat("error: ", addr, " refused roster v3 (", v3,
                                "): FAILED_PRECONDITION: roster chain link v2: roster v3 skips "
                                "versions: the current roster is v1, so the next must be v2; "
                                "verify the versions in between first\n"));

  // Equal version, other content: a v1 re-drafted and signed by a
  // threshold. `roster draft --from` only makes the next version, so the
  // attacker's file is made here.
  {
    watchfloor::v1::Roster other = fed_.roster_proto();
    other.mutable_issued_at()->set_seconds(other.issued_at().seconds() + 1);
    absl::StatusOr<Envelope> env = certs::MakeRosterDraft(other);
    ASSERT_TRUE(env.ok()) << env.status();
    for (int i : {0, 1}) {
      env = certs::SignRoster(*env, *fed_.member(i).member_key);
      ASSERT_TRUE(env.ok()) << env.status();
    }
    WriteFile(File("other-v1.json"), certs::EnvelopeToJson(*env) + "\n");
  }
  r = Submit(0, {File("other-v1.json")});
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_EQ(r.err, absl::StrCat("error: ", addr, " refused roster v1 (", File("other-v1.json"),
                                "): FAILED_PRECONDITION: roster v1 is not newer than the "
                                "current v1; the next roster must be v2\n"));

  // A threshold padded with a second signature by the same member (the
  // copy without its keyid, so that `roster sign` would not replace it).
  const std::string padded = File("padded-v2.json");
  DraftAndSign(fed_.roster_file(), padded, {}, {0});
  {
    Envelope env = EnvelopeIn(padded);
    ASSERT_EQ(env.signatures_size(), 1);
    watchfloor::v1::Signature copy = env.signatures(0);
    copy.clear_keyid();
    *env.add_signatures() = copy;
    WriteFile(padded, certs::EnvelopeToJson(env) + "\n");
  }
  r = Submit(0, {padded});
  EXPECT_EQ(r.exit_code, 1) << r;
  const std::string unauthenticated =
      absl::StrCat("error: ", addr, " refused roster v2 (", padded,
                   "): UNAUTHENTICATED: roster chain link v2: roster v2 has 1 valid member "
                   "signature; 2 required (threshold of v1): missing ",
                   fed_.member(1).name, " (keyid ");
  EXPECT_EQ(r.err.rfind(unauthenticated, 0), 0u) << r;
  EXPECT_NE(r.err.find(absl::StrCat("missing ", fed_.member(2).name)), std::string::npos) << r;

  // Expired: signed, but its expires passed before it was submitted.
  const absl::Time expiry = absl::FromUnixSeconds(absl::ToUnixSeconds(absl::Now()) + 3);
  const std::string expired = File("expired-v2.json");
  DraftAndSign(fed_.roster_file(), expired, {"--expires", Rfc3339(expiry)}, {0, 1});
  while (absl::Now() < expiry + absl::Seconds(1)) absl::SleepFor(absl::Milliseconds(100));
  r = Submit(0, {expired});
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_EQ(r.err.rfind(absl::StrCat("error: ", addr, " refused roster v2 (", expired,
                                     "): FAILED_PRECONDITION: refusing to adopt: roster v2 "
                                     "expired at ",
                                     Rfc3339(expiry), " (now "),
                        0),
            0u)
      << r;

  // Nothing moved anywhere, and node 0 counted four refusals.
  ExpectEveryNodeOn(1, 0);
  r = Status(0, /*json=*/false);
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_NE(r.out.find("adopted     0 since start (4 refused)\n"), std::string::npos) << r;
}

// A node outside a federation has no roster to update or report.
TEST(RosterRpcTest, ANodeOutsideAFederationRefusesBothRosterRpcs) {
  TestNode node;
  ASSERT_EQ(node.Start(), absl::OkStatus());
  auto stub = node.NewStub();
  const std::string want =
      "this node is not in a federation (its config has no federation section), so it has "
      "no roster; ask a federation node";
  grpc::ClientContext submit_ctx;
  watchfloor::v1::SubmitRosterRequest req;
  *req.add_versions() = Envelope();
  watchfloor::v1::SubmitRosterResponse resp;
  grpc::Status st = stub->SubmitRoster(&submit_ctx, req, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(st.error_message(), want);
  grpc::ClientContext status_ctx;
  watchfloor::v1::GetRosterStatusResponse status;
  st = stub->GetRosterStatus(&status_ctx, watchfloor::v1::GetRosterStatusRequest(), &status);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(st.error_message(), want);
}

}  // namespace
}  // namespace watchfloor::testing
