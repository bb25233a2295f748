// node/health_service.h on a real in-process node: Check and Watch over
// gRPC, status changes set through NodeServer::health(), and shutdown.
// tests/reflection_test.sh covers the same service as a reflection-only
// client sees it.
#include <memory>
#include <string>

#include "gtest/gtest.h"
#include "node/sqlite_alert_store.h"
#include "sqlite3.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "node/health_service.h"
#include "tests/test_util.h"

namespace watchfloor::testing {
namespace {

using grpc::health::v1::Health;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

class HealthServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(node_.Start(), absl::OkStatus());
    stub_ = Health::NewStub(grpc::CreateChannel(node_.server()->address(),
                                                grpc::InsecureChannelCredentials()));
  }

  grpc::Status Check(const std::string& service, HealthCheckResponse* resp) {
    HealthCheckRequest req;
    req.set_service(service);
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return stub_->Check(&ctx, req, resp);
  }

  TestNode node_;
  std::unique_ptr<Health::Stub> stub_;
};

TEST_F(HealthServiceTest, NodeAndItsServiceAreServingOnceStarted) {
  for (const std::string name : {"", "watchfloor.v1.Node"}) {
    HealthCheckResponse resp;
    ASSERT_TRUE(Check(name, &resp).ok()) << name;
    EXPECT_EQ(resp.status(), HealthCheckResponse::SERVING) << name;
  }
}

// A store failure that retries cannot clear (here the alerts table is
// dropped under the running node, a damaged store) stops every write; the
// node must then say NOT_SERVING for "" and its service, so that clients and
// orchestration go elsewhere.
TEST_F(HealthServiceTest, AStoreThatFailsForGoodMakesTheNodeNotServing) {
  ASSERT_TRUE(node_.server()->ledger()->PublishSync(SampleDraft(1)).ok());
  sqlite3* db = nullptr;
  const std::string path =
      node_.config().data_dir() + "/" + node::SqliteAlertStore::kFileName;
  ASSERT_EQ(sqlite3_open(path.c_str(), &db), SQLITE_OK);
  ASSERT_EQ(sqlite3_exec(db, "DROP TABLE alerts", nullptr, nullptr, nullptr), SQLITE_OK)
      << sqlite3_errmsg(db);
  sqlite3_close(db);

  absl::StatusOr<node::PublishResult> r = node_.server()->ledger()->PublishSync(SampleDraft(2));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
  EXPECT_FALSE(node_.server()->ledger()->healthy());
  for (const std::string name : {"", "watchfloor.v1.Node"}) {
    HealthCheckResponse resp;
    ASSERT_TRUE(Check(name, &resp).ok()) << name;
    EXPECT_EQ(resp.status(), HealthCheckResponse::NOT_SERVING) << name;
  }
}

TEST_F(HealthServiceTest, FederationIsUnknownWithoutAFederation) {
  HealthCheckResponse resp;
  grpc::Status st = Check("watchfloor.v1.Federation", &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(st.error_message(),
            "unknown service \"watchfloor.v1.Federation\"; this node answers for \"\" (the "
            "node), \"watchfloor.v1.Node\"");
}

TEST_F(HealthServiceTest, SetStatusReachesCheckAndWatchers) {
  grpc::ClientContext ctx;
  HealthCheckRequest req;
  req.set_service("watchfloor.v1.Node");
  auto watch = stub_->Watch(&ctx, req);
  HealthCheckResponse got;
  ASSERT_TRUE(watch->Read(&got));
  EXPECT_EQ(got.status(), HealthCheckResponse::SERVING);

  node::HealthService* health = node_.server()->health();
  ASSERT_EQ(health->SetStatus("watchfloor.v1.Node", HealthCheckResponse::NOT_SERVING),
            absl::OkStatus());
  ASSERT_TRUE(watch->Read(&got));
  EXPECT_EQ(got.status(), HealthCheckResponse::NOT_SERVING);
  HealthCheckResponse checked;
  ASSERT_TRUE(Check("watchfloor.v1.Node", &checked).ok());
  EXPECT_EQ(checked.status(), HealthCheckResponse::NOT_SERVING);
  // The node as a whole is its own entry.
  ASSERT_TRUE(Check("", &checked).ok());
  EXPECT_EQ(checked.status(), HealthCheckResponse::SERVING);

  ASSERT_EQ(health->SetStatus("watchfloor.v1.Node", HealthCheckResponse::SERVING),
            absl::OkStatus());
  ASSERT_TRUE(watch->Read(&got));
  EXPECT_EQ(got.status(), HealthCheckResponse::SERVING);
  ctx.TryCancel();
  while (watch->Read(&got)) {
  }
  EXPECT_EQ(watch->Finish().error_code(), grpc::StatusCode::CANCELLED);
}

TEST_F(HealthServiceTest, SetStatusRefusesUnknownNamesAndServiceUnknown) {
  node::HealthService* health = node_.server()->health();
  EXPECT_EQ(health->SetStatus("no.such.Service", HealthCheckResponse::NOT_SERVING),
            absl::NotFoundError("no health status for service \"no.such.Service\" on this node"));
  EXPECT_EQ(health->SetStatus("", HealthCheckResponse::SERVICE_UNKNOWN).code(),
            absl::StatusCode::kInvalidArgument);
  HealthCheckResponse resp;
  ASSERT_TRUE(Check("", &resp).ok());
  EXPECT_EQ(resp.status(), HealthCheckResponse::SERVING);  // unchanged
}

TEST_F(HealthServiceTest, ShutdownSendsNotServingAndEndsWatchesPromptly) {
  grpc::ClientContext ctx;
  HealthCheckRequest req;  // "": the node
  auto watch = stub_->Watch(&ctx, req);
  HealthCheckResponse got;
  ASSERT_TRUE(watch->Read(&got));
  EXPECT_EQ(got.status(), HealthCheckResponse::SERVING);

  const absl::Time start = absl::Now();
  node_.server()->Shutdown();
  ASSERT_TRUE(watch->Read(&got));
  EXPECT_EQ(got.status(), HealthCheckResponse::NOT_SERVING);
  EXPECT_FALSE(watch->Read(&got));
  grpc::Status st = watch->Finish();
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(st.error_message(), "the node is shutting down");
  // Not held until the server's 2 s shutdown deadline cancels it.
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
  EXPECT_EQ(node_.server()->health()->SetStatus("", HealthCheckResponse::SERVING).code(),
            absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace watchfloor::testing
