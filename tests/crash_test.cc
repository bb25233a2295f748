// "Nothing acknowledged is ever lost": a real `watchfloor node` process is
// SIGKILLed while publishers are mid-flight, restarted on the same data dir,
// and its store is checked against every acknowledgement the publishers got.
//
// The node runs as a child process (fork/exec of the built binary), speaking
// plaintext gRPC on a loopback port; the store is the node's real SQLite file.
#include <netinet/in.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "certs/dsse.h"
#include "certs/ids.h"
#include "certs/keys.h"
#include "certs/merkle.h"
#include "certs/note.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "node/sqlite_alert_store.h"
#include "tests/test_util.h"
#include "watchfloor/v1/node.grpc.pb.h"

namespace watchfloor::testing {
namespace {

using Clock = std::chrono::steady_clock;
using watchfloor::v1::Node;

constexpr char kOrigin[] = "example.cz/prg1";
constexpr int kPublishers = 6;

std::string Tail(const std::string& path, size_t max = 4000) {
  std::string s = ReadFileOrDie(path);
  return s.size() > max ? s.substr(s.size() - max) : s;
}

// A `watchfloor node` child process over one data dir. Each Start() writes
// the config with a fresh port. The child is SIGKILLed if the test dies.
class NodeProcess {
 public:
  NodeProcess(const TempDir& dir, std::string key_file)
      : dir_(dir), key_file_(std::move(key_file)) {}
  ~NodeProcess() {
    if (pid_ > 0) Kill();
  }

  // Starts the node and waits until GetIdentity answers. Fails the test (and
  // returns false) if it does not come up within 20 s.
  bool Start() {
    for (int attempt = 0; attempt < 5; ++attempt) {
      port_ = PickFreePort();
      WriteFile(config_path(),
                absl::StrCat("origin: \"", kOrigin, "\"\n",
                             "listen_address: \"127.0.0.1:", port_, "\"\n",
                             "data_dir: \"", dir_.Join("data"), "\"\n",
                             "signing_key_file: \"", key_file_, "\"\n",
                             "insecure_plaintext_loopback: true\n"));
      Spawn();
      int status = 0;
      if (WaitUntilServing(&status)) return true;
      if (pid_ > 0) {  // alive but not answering
        Kill();
        ADD_FAILURE() << "node did not answer GetIdentity within 20 s; log:\n"
                      << Tail(log_path());
        return false;
      }
      // It exited. A lost race for the port is worth another try.
      if (Tail(log_path()).find("cannot listen") == std::string::npos) {
        ADD_FAILURE() << "node exited during start-up (status " << status
                      << "); log:\n" << Tail(log_path());
        return false;
      }
    }
    ADD_FAILURE() << "node could not bind a port in 5 attempts";
    return false;
  }

  // SIGKILL, then reap. Nothing in the node gets to run.
  void Kill() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = 0;
  }

  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }
  std::string config_path() const { return dir_.Join("node.conf"); }
  std::string log_path() const { return dir_.Join("node.log"); }
  std::string db_path() const {
    return dir_.Join("data") + "/" + node::SqliteAlertStore::kFileName;
  }
  std::unique_ptr<Node::Stub> NewStub() const {
    return Node::NewStub(
        grpc::CreateChannel(address(), grpc::InsecureChannelCredentials()));
  }

 private:
  void Spawn() {
    std::string bin = WatchfloorBinary();
    std::string config = config_path();
    std::string log = log_path();
    std::vector<char*> argv = {bin.data(), const_cast<char*>("node"),
                               const_cast<char*>("--config"), config.data(),
                               nullptr};
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(127);
      int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) {
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
      }
      int null = open("/dev/null", O_RDONLY);
      if (null >= 0) dup2(null, STDIN_FILENO);
      execv(argv[0], argv.data());
      _exit(127);
    }
    pid_ = pid;
  }

  bool WaitUntilServing(int* exit_status) {
    auto deadline = Clock::now() + std::chrono::seconds(20);
    while (Clock::now() < deadline) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = 0;
        *exit_status = status;
        return false;
      }
      // A fresh channel per attempt: a channel that saw "connection refused"
      // backs off for seconds before it tries again.
      grpc::ChannelArguments args;
      args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
      auto stub = Node::NewStub(grpc::CreateCustomChannel(
          address(), grpc::InsecureChannelCredentials(), args));
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::milliseconds(500));
      watchfloor::v1::Identity id;
      if (stub->GetIdentity(&ctx, watchfloor::v1::GetIdentityRequest(), &id).ok()) {
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
  }

  const TempDir& dir_;
  const std::string key_file_;
  pid_t pid_ = 0;
  int port_ = 0;
};

// One acknowledged publish.
struct Ack {
  std::string id;
  uint64_t sequence = 0;
  std::string payload;
};

// Publishers that publish continuously through their own channels and keep
// every acknowledgement. Failures (the node died under them) are counted, not
// recorded: an unacknowledged alert may or may not have been stored.
class PublisherFleet {
 public:
  explicit PublisherFleet(const std::string& address) {
    for (int t = 0; t < kPublishers; ++t) {
      threads_.emplace_back([this, address, t] { Run(address, t); });
    }
  }
  ~PublisherFleet() { StopAndJoin(); }

  void StopAndJoin() {
    stop_.store(true);
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }

  int acked() const { return acked_.load(); }
  int failed() const { return failed_.load(); }
  // Only after StopAndJoin().
  const std::vector<Ack>& acks() const { return acks_; }
  const std::map<grpc::StatusCode, int>& failure_codes() const { return codes_; }

 private:
  void Run(const std::string& address, int t) {
    auto stub = Node::NewStub(
        grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
    std::vector<Ack> mine;
    std::map<grpc::StatusCode, int> codes;
    for (int n = 0; !stop_.load(); ++n) {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
      watchfloor::v1::PublishRequest req;
      *req.mutable_alert() = SampleDraft(t * 1000000 + n);
      watchfloor::v1::PublishResponse resp;
      grpc::Status st = stub->Publish(&ctx, req, &resp);
      if (st.ok()) {
        mine.push_back({resp.id(), resp.sequence(), resp.envelope().payload()});
        acked_.fetch_add(1);
      } else {
        ++codes[st.error_code()];
        failed_.fetch_add(1);
        // The node is gone: do not spin.
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    }
    std::lock_guard<std::mutex> lock(mu_);
    acks_.insert(acks_.end(), mine.begin(), mine.end());
    for (const auto& [code, n] : codes) codes_[code] += n;
  }

  std::atomic<bool> stop_{false};
  std::atomic<int> acked_{0};
  std::atomic<int> failed_{0};
  std::mutex mu_;
  std::vector<Ack> acks_;
  std::map<grpc::StatusCode, int> codes_;
  std::vector<std::thread> threads_;
};

// Publishes for at least `min_time` and until `min_acks` acknowledgements
// (at most 15 s), then SIGKILLs the node with the publishers still running.
// Returns every acknowledgement of this round.
std::vector<Ack> PublishThenKill(NodeProcess& node, int min_acks,
                                 std::chrono::milliseconds min_time) {
  PublisherFleet fleet(node.address());
  auto start = Clock::now();
  while ((Clock::now() - start < min_time || fleet.acked() < min_acks) &&
         Clock::now() - start < std::chrono::seconds(15)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  int acked_before_kill = fleet.acked();
  node.Kill();
  // Let the publishers run into the dead node before they stop.
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  fleet.StopAndJoin();
  EXPECT_GE(acked_before_kill, min_acks) << "publishing was too slow; log:\n"
                                         << Tail(node.log_path());
  // Every publisher had a call in flight or starting when the node died.
  EXPECT_GE(fleet.failed(), kPublishers);
  for (const auto& [code, n] : fleet.failure_codes()) {
    // A dead node is UNAVAILABLE, never a verdict on the alert.
    EXPECT_EQ(code, grpc::StatusCode::UNAVAILABLE)
        << "publishers saw status " << code << " x" << n;
  }
  return fleet.acks();
}

// What a replay of the whole store shows of this origin's feed.
struct Feed {
  std::vector<watchfloor::v1::SubscribeResponse> alerts;  // in cursor order
};

Feed ReplayAll(Node::Stub& stub) {
  Feed feed;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  watchfloor::v1::SubscribeRequest req;
  req.set_cursor(0);
  req.set_replay_only(true);
  auto reader = stub.Subscribe(&ctx, req);
  watchfloor::v1::SubscribeResponse msg;
  while (reader->Read(&msg)) feed.alerts.push_back(msg);
  grpc::Status st = reader->Finish();
  EXPECT_TRUE(st.ok()) << st.error_code() << ": " << st.error_message();
  return feed;
}

// Checks the restarted node: contiguous, correctly chained, validly signed
// feed; every ack in it with the acknowledged sequence and bytes. Returns N,
// the head sequence.
uint64_t CheckStoreAgainstAcks(NodeProcess& node, const certs::PublicKey& key,
                               const std::vector<Ack>& acks) {
  auto stub = node.NewStub();
  Feed feed = ReplayAll(*stub);
  const uint64_t n = feed.alerts.size();

  uint64_t last_cursor = 0;
  std::string previous_id;
  std::map<std::string, uint64_t> sequence_of;
  const bool failed_before = ::testing::Test::HasFailure();
  for (uint64_t i = 0; i < n; ++i) {
    const auto& msg = feed.alerts[i];
    SCOPED_TRACE(absl::StrCat("replayed alert #", i + 1, " id ", msg.id()));
    EXPECT_GT(msg.cursor(), last_cursor);
    last_cursor = msg.cursor();
    EXPECT_EQ(certs::VerifyEnvelope(msg.envelope(), key), absl::OkStatus());
    EXPECT_EQ(msg.id(), certs::AlertId(msg.envelope().payload()));
    watchfloor::v1::Alert alert;
    if (!alert.ParseFromString(msg.envelope().payload())) {
      ADD_FAILURE() << "payload is not an Alert";
      return 0;
    }
    EXPECT_EQ(alert.origin(), kOrigin);
    // Only this origin publishes here, so store order is feed order.
    EXPECT_EQ(alert.sequence(), i + 1);
    EXPECT_EQ(alert.previous(), previous_id);
    previous_id = msg.id();
    sequence_of[msg.id()] = alert.sequence();
    if (!failed_before && ::testing::Test::HasFailure()) break;  // first bad one
  }

  size_t missing = 0;
  for (const Ack& ack : acks) {
    auto it = sequence_of.find(ack.id);
    if (it == sequence_of.end()) {
      if (++missing <= 5) ADD_FAILURE() << "acknowledged alert " << ack.id
                                        << " (sequence " << ack.sequence
                                        << ") is not in the replay";
      continue;
    }
    EXPECT_EQ(it->second, ack.sequence) << ack.id;
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    watchfloor::v1::GetAlertRequest req;
    req.set_id(ack.id);
    watchfloor::v1::GetAlertResponse resp;
    grpc::Status st = stub->GetAlert(&ctx, req, &resp);
    if (!st.ok()) {
      if (++missing <= 5) ADD_FAILURE() << "GetAlert(" << ack.id << ") = "
                                        << st.error_code() << " "
                                        << st.error_message();
      continue;
    }
    // The bytes are the ones that were acknowledged, not a re-signing.
    EXPECT_EQ(resp.envelope().payload(), ack.payload) << ack.id;
  }
  EXPECT_EQ(missing, 0u) << "of " << acks.size() << " acknowledged alerts";

  // The Merkle log survived too: within a few seconds of the restart the node
  // signs a checkpoint of exactly this feed, and proofs verify against it.
  std::vector<std::string> leaves;
  for (const auto& msg : feed.alerts) leaves.push_back(absl::HexStringToBytes(msg.id()));
  const std::string want_root = certs::RootFromLeaves(leaves);
  std::string note;
  absl::StatusOr<certs::Checkpoint> cp = absl::NotFoundError("no checkpoint yet");
  for (int tries = 0; tries < 100; ++tries) {
    grpc::ClientContext cctx;
    cctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    watchfloor::v1::GetCheckpointResponse got;
    if (stub->GetCheckpoint(&cctx, watchfloor::v1::GetCheckpointRequest(), &got).ok()) {
      note = got.note();
      cp = certs::OpenCheckpoint(note, certs::LogOrigin(kOrigin), key);
      if (cp.ok() && cp->size == n) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  EXPECT_TRUE(cp.ok()) << cp.status() << "\n" << note;
  if (cp.ok()) {
    EXPECT_EQ(cp->size, n);
    EXPECT_EQ(cp->root_hash, want_root) << "the log is not the feed after kill -9";
  }
  if (cp.ok() && n > 0) {
    grpc::ClientContext pctx;
    pctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    watchfloor::v1::GetInclusionProofRequest preq;
    preq.set_id(feed.alerts[n / 2].id());
    preq.set_tree_size(n);
    watchfloor::v1::GetInclusionProofResponse proof;
    grpc::Status pst = stub->GetInclusionProof(&pctx, preq, &proof);
    EXPECT_TRUE(pst.ok()) << pst.error_message();
    std::vector<std::string> hashes(proof.hashes().begin(), proof.hashes().end());
    EXPECT_TRUE(certs::VerifyInclusion(n / 2, n, leaves[n / 2], hashes, want_root).ok());
  }

  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  watchfloor::v1::Identity identity;
  grpc::Status st =
      stub->GetIdentity(&ctx, watchfloor::v1::GetIdentityRequest(), &identity);
  EXPECT_TRUE(st.ok()) << st.error_message();
  EXPECT_EQ(identity.head_sequence(), n);
  EXPECT_EQ(identity.keyid(), key.KeyId());
  return n;
}

class CrashTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(key_.SavePemFile(dir_.Join("signing.key")), absl::OkStatus());
  }

  TempDir dir_;
  certs::SigningKey key_ = certs::SigningKey::Generate();
  NodeProcess node_{dir_, dir_.Join("signing.key")};
};

TEST_F(CrashTest, AcknowledgedAlertsSurviveRepeatedKillNine) {
  constexpr int kCycles = 3;
  std::vector<Ack> all_acks;
  std::set<uint64_t> acked_sequences;
  ASSERT_TRUE(node_.Start());
  for (int cycle = 1; cycle <= kCycles; ++cycle) {
    SCOPED_TRACE(absl::StrCat("kill/restart cycle ", cycle));
    auto t0 = Clock::now();
    std::vector<Ack> acks =
        PublishThenKill(node_, /*min_acks=*/300, std::chrono::milliseconds(1000));
    for (const Ack& a : acks) {
      EXPECT_TRUE(acked_sequences.insert(a.sequence).second)
          << "sequence " << a.sequence << " acknowledged twice";
    }
    all_acks.insert(all_acks.end(), acks.begin(), acks.end());

    ASSERT_TRUE(node_.Start());
    uint64_t n = CheckStoreAgainstAcks(node_, key_.public_key(), all_acks);
    ASSERT_FALSE(HasFailure());
    // The store holds at least every ack; at most the in-flight extras.
    ASSERT_GE(n, all_acks.size());
    EXPECT_LE(n, all_acks.size() + kPublishers * cycle);
    EXPECT_LE(*acked_sequences.rbegin(), n);

    // The feed continues exactly where the store left off.
    auto stub = node_.NewStub();
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    watchfloor::v1::PublishRequest req;
    *req.mutable_alert() = SampleDraft(-cycle);
    watchfloor::v1::PublishResponse resp;
    grpc::Status st = stub->Publish(&ctx, req, &resp);
    ASSERT_TRUE(st.ok()) << st.error_code() << ": " << st.error_message();
    EXPECT_EQ(resp.sequence(), n + 1);
    watchfloor::v1::Alert alert;
    ASSERT_TRUE(alert.ParseFromString(resp.envelope().payload()));
    Feed feed = ReplayAll(*stub);
    ASSERT_EQ(feed.alerts.size(), n + 1);
    EXPECT_EQ(alert.previous(), feed.alerts[n - 1].id());
    EXPECT_EQ(feed.alerts[n].id(), resp.id());
    all_acks.push_back({resp.id(), resp.sequence(), resp.envelope().payload()});
    acked_sequences.insert(resp.sequence());

    std::printf("cycle %d: %zu acks this round, store N=%llu (+%llu unacked), %.2f s\n",
                cycle, acks.size(), static_cast<unsigned long long>(n),
                static_cast<unsigned long long>(n - (all_acks.size() - 1)),
                std::chrono::duration<double>(Clock::now() - t0).count());
  }
}

// WATCHFLOOR_WAL_CHECKPOINTS=background, with at least 4,000 acks: the WAL
// passes the 3,000 frames at which the background checkpoint restarts it
// (with commits held off) more than once, so the kill lands somewhere in
// that cycle, and every acknowledged alert is still there after the restart.
TEST_F(CrashTest, AcknowledgedAlertsSurviveKillNineAcrossBackgroundWalRestarts) {
  // The node inherits this process's environment.
  ASSERT_EQ(setenv("WATCHFLOOR_WAL_CHECKPOINTS", "background", 1), 0);
  struct Unset {
    ~Unset() { unsetenv("WATCHFLOOR_WAL_CHECKPOINTS"); }
  } unset;
  ASSERT_TRUE(node_.Start());
  std::vector<Ack> acks =
      PublishThenKill(node_, /*min_acks=*/4000, std::chrono::milliseconds(3000));
  ASSERT_TRUE(node_.Start());
  uint64_t n = CheckStoreAgainstAcks(node_, key_.public_key(), acks);
  ASSERT_FALSE(HasFailure());
  ASSERT_GE(n, acks.size());
  EXPECT_LE(n, acks.size() + kPublishers);
  std::printf("%zu acks, store N=%llu\n", acks.size(), static_cast<unsigned long long>(n));
}

TEST_F(CrashTest, StoreFileIsIntactRightAfterKillNine) {
  ASSERT_TRUE(node_.Start());
  std::vector<Ack> acks =
      PublishThenKill(node_, /*min_acks=*/300, std::chrono::milliseconds(1000));
  ASSERT_FALSE(HasFailure());

  // Open the file as an auditor would with the sqlite3 shell, before any
  // node touches it again (this connection replays the WAL).
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(node_.db_path().c_str(), &db, SQLITE_OPEN_READWRITE,
                            nullptr),
            SQLITE_OK)
      << sqlite3_errmsg(db);
  std::unique_ptr<sqlite3, int (*)(sqlite3*)> closer(db, sqlite3_close);
  auto query = [db](const char* sql) {
    std::vector<std::vector<std::string>> rows;
    sqlite3_stmt* st = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql, -1, &st, nullptr), SQLITE_OK)
        << sql << ": " << sqlite3_errmsg(db);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
      std::vector<std::string> row;
      for (int c = 0; c < sqlite3_column_count(st); ++c) {
        const unsigned char* t = sqlite3_column_text(st, c);
        row.push_back(t == nullptr ? "" : reinterpret_cast<const char*>(t));
      }
      rows.push_back(std::move(row));
    }
    EXPECT_EQ(rc, SQLITE_DONE) << sql << ": " << sqlite3_errmsg(db);
    sqlite3_finalize(st);
    return rows;
  };

  using Rows = std::vector<std::vector<std::string>>;
  EXPECT_EQ(query("PRAGMA integrity_check"), (Rows{{"ok"}}));
  EXPECT_EQ(query("PRAGMA journal_mode"), (Rows{{"wal"}}));
  // The feed in the file is contiguous: N rows with sequences 1..N.
  Rows counts = query(
      "SELECT COUNT(*), MIN(sequence), MAX(sequence), COUNT(DISTINCT sequence) "
      "FROM alerts WHERE origin = 'example.cz/prg1'");
  ASSERT_EQ(counts.size(), 1u);
  const std::string n = counts[0][0];
  EXPECT_EQ(counts[0], (std::vector<std::string>{n, "1", n, n}));
  EXPECT_GE(std::stoull(n), acks.size());
  // Every link points at the row before it.
  EXPECT_EQ(query("SELECT COUNT(*) FROM alerts a JOIN alerts p "
                  "ON p.origin = a.origin AND p.sequence = a.sequence - 1 "
                  "WHERE a.previous != p.id"),
            (Rows{{"0"}}));
  std::set<std::string> ids;
  for (const auto& row : query("SELECT id FROM alerts")) ids.insert(row[0]);
  size_t missing = 0;
  for (const Ack& a : acks) missing += ids.count(a.id) == 0;
  EXPECT_EQ(missing, 0u) << "of " << acks.size() << " acknowledged alerts";
}

}  // namespace
}  // namespace watchfloor::testing
