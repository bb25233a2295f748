// A node restarted on a data directory holding an adopted roster chain runs
// on the newest persisted version, not on the older roster_file it was
// configured with (node/roster_store.h, docs/CONFIG.md). Real nodes, real
// mutual TLS on loopback.
#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "certs/dsse.h"
#include "certs/roster.h"
#include "grpcpp/client_context.h"
#include "gtest/gtest.h"
#include "node/roster_store.h"
#include "tests/federation_util.h"

namespace watchfloor::testing {
namespace {

using watchfloor::v1::Envelope;

grpc::Status Frontier(TestFederation& fed, int as_node, int target) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  watchfloor::v1::FrontierMessage req, resp;
  return fed.PeerStub(as_node, target)->ExchangeFrontier(&ctx, req, &resp);
}

TEST(RosterRestartTest, TheNewestPersistedVersionWinsOverRosterFile) {
  FederationOptions options;
  options.members = 3;
  TestFederation fed(options);
  ASSERT_TRUE(fed.ok());
  // v2 removes member 2; members 0 and 1 sign it.
  v1::Roster v2 = fed.roster_proto();
  v2.set_version(2);
  v2.mutable_members()->DeleteSubrange(2, 1);
  absl::StatusOr<Envelope> env = certs::MakeRosterDraft(v2);
  ASSERT_TRUE(env.ok()) << env.status();
  for (int i : {0, 1}) {
    env = certs::SignRoster(*env, *fed.member(i).member_key);
    ASSERT_TRUE(env.ok()) << env.status();
  }
  absl::StatusOr<certs::Roster> next = fed.roster().VerifyNext(*env);
  ASSERT_TRUE(next.ok()) << next.status();

  // On roster_file (v1), node 2's certificate is a peer's.
  ASSERT_EQ(fed.StartNode(0), absl::OkStatus());
  ASSERT_TRUE(Frontier(fed, 2, 0).ok()) << Frontier(fed, 2, 0).error_message();
  fed.StopNode(0);

  ASSERT_EQ(node::RosterStore(fed.member(0).data_dir).Save({fed.roster(), *next}),
            absl::OkStatus());
  ASSERT_EQ(fed.StartNode(0), absl::OkStatus());
  // v2 is in force: member 2's CA is out of the TLS trust bundle, so its
  // node's handshake fails; member 1's still works.
  grpc::Status refused = Frontier(fed, 2, 0);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::UNAVAILABLE)
      << refused.error_message();
  EXPECT_TRUE(Frontier(fed, 1, 0).ok());
}

TEST(RosterRestartTest, APersistedChainFromAnotherHistoryStopsTheNode) {
  FederationOptions options;
  options.members = 3;
  TestFederation fed(options);
  ASSERT_TRUE(fed.ok());
  // A v2 signed by member 0 alone: it does not follow roster_file's v1.
  v1::Roster v2 = fed.roster_proto();
  v2.set_version(2);
  absl::StatusOr<Envelope> env = certs::MakeRosterDraft(v2);
  ASSERT_TRUE(env.ok());
  env = certs::SignRoster(*env, *fed.member(0).member_key);
  ASSERT_TRUE(env.ok());
  const std::string file = fed.member(0).data_dir + "/roster-chain.jsonl";
  std::filesystem::create_directories(fed.member(0).data_dir);
  WriteFile(file, certs::EnvelopeToJson(fed.roster().envelope()) + "\n" +
                      certs::EnvelopeToJson(*env) + "\n");
  absl::Status st = fed.StartNode(0);
  EXPECT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
  EXPECT_NE(st.message().find("roster chain " + file +
                              ": it does not chain from roster_file v1: roster chain "
                              "link v2: roster v2 has 1 valid member signature; 2 "
                              "required (threshold of v1)"),
            absl::string_view::npos)
      << st;
}

}  // namespace
}  // namespace watchfloor::testing
