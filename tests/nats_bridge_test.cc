// `watchfloor bridge nats` against Debian's nats-server (JetStream on, a
// temp store, loopback) and a real node, read back by an independent client:
// the official nats.js package run by Node.js (tests/nats/consume.mjs,
// pinned in tests/nats/package-lock.json, installed by scripts/setup.sh).
#include <unistd.h>
#include <signal.h>
#include <sys/stat.h>

#include <cstdio>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/client_context.h"
#include "gtest/gtest.h"
#include "interop/cursor_file.h"
#include "interop/nats_client.h"
#include "tests/interop_test_util.h"
#include "tests/test_util.h"

namespace watchfloor::interop {
namespace {

using ::testing::HasSubstr;
using watchfloor::testing::ChildProcess;
using watchfloor::testing::ProcResult;
using watchfloor::testing::RunProcess;
using watchfloor::testing::RunWatchfloor;
using watchfloor::testing::TempDir;
using watchfloor::testing::TestNode;

const std::string kClientDir = WF_SOURCE_DIR "/tests/nats";

class NatsBridgeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    struct stat st;
    ASSERT_EQ(stat((kClientDir + "/node_modules/nats").c_str(), &st), 0)
        << "the nats.js test client is not installed; run scripts/setup.sh (npm ci in tests/nats)";
    ASSERT_TRUE(node_.Start().ok());
  }

  // nats-server on a free loopback port with a temp store; waits until it answers.
  void StartNats(bool jetstream) {
    nats_port_ = watchfloor::testing::PickFreePort();
    // Debian installs it in /usr/sbin, which Bazel's test PATH leaves out.
    const std::string nats_server =
        access("/usr/sbin/nats-server", X_OK) == 0 ? "/usr/sbin/nats-server" : "nats-server";
    std::vector<std::string> argv = {nats_server, "-a", "127.0.0.1", "-p",
                                     std::to_string(nats_port_)};
    if (jetstream) {
      argv.insert(argv.end(), {"-js", "-sd", dir_.Join("js")});
    }
    nats_ = std::make_unique<ChildProcess>(argv, dir_.Join("nats.log"));
    for (int i = 0; i < 200; ++i) {
      if (NatsConnection::Connect({"127.0.0.1", nats_port_}, absl::Seconds(1)).ok()) return;
      absl::SleepFor(absl::Milliseconds(50));
    }
    FAIL() << "nats-server did not start: " << watchfloor::testing::ReadFileOrDie(dir_.Join("nats.log"));
  }

  std::string NatsUrl() { return absl::StrCat("nats://127.0.0.1:", nats_port_); }
  std::string NodeAddr() { return absl::StrCat("127.0.0.1:", node_.server()->port()); }

  std::unique_ptr<ChildProcess> StartBridge() {
    return std::make_unique<ChildProcess>(
        std::vector<std::string>{watchfloor::testing::WatchfloorBinary(), "bridge", "nats",
                                 "--node", NodeAddr(), "--url", NatsUrl(), "--state", state_,
                                 "--max-in-flight", "32"},
        bridge_log_);
  }

  uint64_t Cursor() {
    absl::StatusOr<uint64_t> c = LoadCursor(state_);
    return c.ok() ? *c : 0;
  }

  bool WaitForCursor(uint64_t want, absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    while (absl::Now() < deadline) {
      if (Cursor() >= want) return true;
      absl::SleepFor(absl::Milliseconds(10));
    }
    return false;
  }

  std::string Publish(int n) {
    auto stub = node_.NewStub();
    grpc::ClientContext ctx;
    watchfloor::v1::PublishRequest req;
    *req.mutable_alert() = watchfloor::testing::SampleDraft(n);
    watchfloor::v1::PublishResponse resp;
    grpc::Status st = stub->Publish(&ctx, req, &resp);
    EXPECT_TRUE(st.ok()) << st.error_message();
    return resp.id();
  }

  TestNode node_{"nic.cz/prg1"};
  TempDir dir_;
  int nats_port_ = 0;
  std::unique_ptr<ChildProcess> nats_;
  std::string state_ = dir_.Join("bridge.cursor");
  std::string bridge_log_ = dir_.Join("bridge.log");
};

TEST_F(NatsBridgeTest, EveryAlertArrivesExactlyOnceAcrossKill9AndRestart) {
  StartNats(true);
  constexpr int kAlerts = 300;
  std::vector<std::string> ids(kAlerts);
  std::thread publisher([&] {
    for (int i = 0; i < kAlerts; ++i) {
      ids[i] = Publish(i);
      if (i % 10 == 0) absl::SleepFor(absl::Milliseconds(5));  // a stream, not one burst
    }
  });
  auto bridge = StartBridge();
  ASSERT_TRUE(WaitForCursor(80, absl::Seconds(60))) << watchfloor::testing::ReadFileOrDie(bridge_log_);
  EXPECT_EQ(bridge->Signal(SIGKILL), 128 + SIGKILL);
  const uint64_t at_kill = Cursor();
  // A kill -9 between JetStream's ack and the cursor fsync leaves the cursor
  // behind what JetStream holds; make that window wide (rewind 50) so the
  // restart must re-publish alerts that are already in the stream.
  ASSERT_TRUE(StoreCursor(state_, at_kill - 50).ok());

  bridge = StartBridge();
  publisher.join();
  ASSERT_TRUE(WaitForCursor(kAlerts, absl::Seconds(60)))
      << "cursor " << Cursor() << "\n" << watchfloor::testing::ReadFileOrDie(bridge_log_);
  EXPECT_EQ(bridge->Signal(SIGTERM), 0) << watchfloor::testing::ReadFileOrDie(bridge_log_);
  const std::string log = watchfloor::testing::ReadFileOrDie(bridge_log_);
  // The second run's summary: the rewound 50 (and whatever was in flight at
  // the kill) came back from JetStream as duplicates.
  std::vector<std::string> summary = absl::StrSplit(log, '\n', absl::SkipEmpty());
  ASSERT_FALSE(summary.empty());
  unsigned long long published = 0, duplicates = 0, cursor = 0;
  ASSERT_EQ(std::sscanf(summary.back().c_str(),
                        "bridge: %llu published, %llu duplicates dropped, cursor %llu", &published,
                        &duplicates, &cursor), 3) << log;
  EXPECT_EQ(cursor, static_cast<unsigned long long>(kAlerts));
  EXPECT_GE(duplicates, 50u) << log;
  EXPECT_EQ(published + duplicates, kAlerts - (at_kill - 50)) << log;

  // The independent client reads the stream: each alert once, in order.
  ProcResult r = RunProcess({"node", kClientDir + "/consume.mjs", "--server", NatsUrl(), "--stream",
                             "WATCHFLOOR", "--expect", std::to_string(kAlerts), "--idle-ms", "1500",
                             "--timeout-ms", "30000"});
  ASSERT_EQ(r.exit_code, 0) << r;
  std::vector<std::string> lines = absl::StrSplit(r.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), static_cast<size_t>(kAlerts)) << r;
  std::set<std::string> seen;
  for (size_t i = 0; i < lines.size(); ++i) {
    google::protobuf::Struct m;
    ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(lines[i], &m).ok()) << lines[i];
    const auto& f = m.fields();
    EXPECT_EQ(f.at("seq").number_value(), static_cast<double>(i + 1));
    EXPECT_EQ(f.at("subject").string_value(), "watchfloor.nic_cz.prg1.dns.hijack");
    EXPECT_TRUE(f.at("envelope_ok").bool_value()) << lines[i];
    EXPECT_EQ(f.at("msg_id").string_value(), ids[i]) << "store order is stream order";
    seen.insert(f.at("msg_id").string_value());
  }
  EXPECT_EQ(seen, std::set<std::string>(ids.begin(), ids.end()));
}

TEST_F(NatsBridgeTest, WithoutJetStreamTheBridgeRefusesAndStoresNoCursor) {
  StartNats(false);
  Publish(1);
  ProcResult r = RunWatchfloor({"bridge", "nats", "--node", NodeAddr(), "--url", NatsUrl(),
                                "--state", state_});
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_EQ(r.err,
            "bridge: 0 published, 0 duplicates dropped, cursor 0\n"
            "error: JetStream is not enabled on the NATS server; start nats-server with -js\n");
  struct stat st;
  EXPECT_NE(stat(state_.c_str(), &st), 0) << "no cursor file may be written";
}

TEST_F(NatsBridgeTest, ACorruptCursorFileIsDataLossAndNothingIsPublished) {
  StartNats(true);
  Publish(1);
  watchfloor::testing::WriteFile(state_, "cursor twelve\n");
  ProcResult r = RunWatchfloor({"bridge", "nats", "--node", NodeAddr(), "--url", NatsUrl(),
                                "--state", state_});
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_THAT(r.err, HasSubstr(absl::StrCat("error: cursor file ", state_,
                                            " does not hold \"cursor <N>\"; restore it, or delete it")));
  EXPECT_EQ(watchfloor::testing::ReadFileOrDie(state_), "cursor twelve\n");
  // The bridge stopped before touching NATS: the stream does not even exist.
  auto c = NatsConnection::Connect({"127.0.0.1", nats_port_}, absl::Seconds(2));
  ASSERT_TRUE(c.ok());
  absl::StatusOr<NatsMessage> info = (*c)->Request("$JS.API.STREAM.INFO.WATCHFLOOR", "", absl::Seconds(2));
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_THAT(info->payload, HasSubstr("10059")) << info->payload;  // stream not found
}

TEST_F(NatsBridgeTest, BadFlagsAreUsageErrors) {
  ProcResult r = RunWatchfloor({"bridge", "nats", "--node", NodeAddr(), "--url",
                                "tls://127.0.0.1:4222", "--state", state_});
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_EQ(r.err,
            "error: --url \"tls://127.0.0.1:4222\" is not a NATS URL like nats://127.0.0.1:4222 "
            "(TLS and credentials are not supported)\n");
  r = RunWatchfloor({"bridge", "nats", "--node", NodeAddr(), "--url", "nats://127.0.0.1:1",
                     "--state", state_, "--duplicate-window", "soon"});
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_EQ(r.err,
            "error: --duplicate-window \"soon\" is not a positive duration such as 10m or 1h\n");
  r = RunWatchfloor({"bridge", "kafka"});
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_EQ(r.err, "error: unknown command 'bridge kafka'; run 'watchfloor bridge --help'\n");
}

}  // namespace
}  // namespace watchfloor::interop
