// The `watchfloor` binary as a user runs it: real processes, real files, a
// real node on a loopback port. Each case checks the exit code (0 ok, 1
// failure, 2 usage), and what the user reads on stdout and stderr.
//
// Fixed DSSE lines live in tests/testdata/cli (see make_dsse_cases.sh there):
// good.dsse is a valid three-alert feed signed by the protocol vector key;
// every tamper/<case>@<CODE>.dsse must fail verification with <CODE>.
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "certs/dsse.h"
#include "certs/ids.h"
#include "certs/keys.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"
#include "watchfloor/v1/node.grpc.pb.h"

namespace watchfloor::testing {
namespace {

using ::testing::AllOf;
using ::testing::ContainsRegex;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::MatchesRegex;
using ::testing::StartsWith;
using Clock = std::chrono::steady_clock;

constexpr char kOrigin[] = "example.cz/prg1";

std::string TestData(const std::string& name) {
  return absl::StrCat(WF_SOURCE_DIR, "/tests/testdata/", name);
}

struct RunResult {
  int exit_code = -1;  // 128+signal if killed
  std::string out;
  std::string err;
};

std::ostream& operator<<(std::ostream& os, const RunResult& r) {
  return os << "exit " << r.exit_code << "\n--- stdout ---\n" << r.out
            << "--- stderr ---\n" << r.err;
}

// Runs argv (argv[0] looked up in PATH) with `input` on stdin and returns what
// it printed. Kills it after 30 s.
RunResult RunCommand(const std::vector<std::string>& argv, const std::string& input = "") {
  signal(SIGPIPE, SIG_IGN);  // a child that exits early must not kill us
  int in[2], out[2], err[2];
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0 ||
      pipe2(err, O_CLOEXEC) != 0) {
    ADD_FAILURE() << "pipe2: " << std::strerror(errno);
    return {};
  }
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(in[0], STDIN_FILENO);
    dup2(out[1], STDOUT_FILENO);
    dup2(err[1], STDERR_FILENO);
    execvp(args[0], args.data());
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  close(err[1]);
  fcntl(in[1], F_SETFL, O_NONBLOCK);

  RunResult r;
  size_t written = 0;
  int in_fd = in[1];
  if (input.empty()) {
    close(in_fd);
    in_fd = -1;
  }
  const auto deadline = Clock::now() + std::chrono::seconds(30);
  bool out_open = true, err_open = true;
  while (out_open || err_open) {
    pollfd fds[3] = {{out_open ? out[0] : -1, POLLIN, 0},
                     {err_open ? err[0] : -1, POLLIN, 0},
                     {in_fd, POLLOUT, 0}};
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - Clock::now());
    if (left.count() <= 0) {
      ADD_FAILURE() << "timed out: " << absl::StrJoin(argv, " ");
      kill(pid, SIGKILL);
      break;
    }
    if (poll(fds, 3, static_cast<int>(left.count())) < 0 && errno != EINTR) break;
    char buf[65536];
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      ssize_t n = read(fds[i].fd, buf, sizeof(buf));
      if (n > 0) {
        (i == 0 ? r.out : r.err).append(buf, n);
      } else if (n == 0 || errno != EINTR) {
        (i == 0 ? out_open : err_open) = false;
      }
    }
    if (in_fd >= 0 && fds[2].revents != 0) {
      ssize_t n = write(in_fd, input.data() + written, input.size() - written);
      if (n > 0) written += n;
      if (n < 0 && errno != EAGAIN && errno != EINTR) written = input.size();
      if (written == input.size()) {
        close(in_fd);
        in_fd = -1;
      }
    }
  }
  if (in_fd >= 0) close(in_fd);
  close(out[0]);
  close(err[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

// `watchfloor args...`
RunResult Wf(std::vector<std::string> args, const std::string& input = "") {
  args.insert(args.begin(), WatchfloorBinary());
  return RunCommand(args, input);
}

std::vector<std::string> Lines(const std::string& s) {
  std::vector<std::string> lines = absl::StrSplit(s, '\n', absl::SkipEmpty());
  return lines;
}

// A `watchfloor node --config <dir>/<name>.conf` child process. `config` is
// the config body without listen_address, which Start() adds with a free
// port (retrying if another process takes the port first).
class NodeProcess {
 public:
  NodeProcess(std::string dir, std::string name, std::string config)
      : dir_(std::move(dir)), name_(std::move(name)), config_(std::move(config)) {}
  ~NodeProcess() { Stop(); }

  // True once GetIdentity answers; otherwise fails the test with the log.
  bool Start() {
    for (int attempt = 0; attempt < 5; ++attempt) {
      port_ = PickFreePort();
      WriteFile(config_path(), absl::StrCat(config_, "listen_address: \"",
                                            address(), "\"\n"));
      std::string bin = WatchfloorBinary();
      std::string conf = config_path();
      std::string log = log_path();
      std::vector<char*> argv = {bin.data(), const_cast<char*>("node"),
                                 const_cast<char*>("--config"), conf.data(), nullptr};
      pid_t parent = getpid();
      pid_ = fork();
      if (pid_ == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(127);
        int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
        dup2(fd, STDOUT_FILENO);
        dup2(fd, STDERR_FILENO);
        execv(argv[0], argv.data());
        _exit(127);
      }
      const auto deadline = Clock::now() + std::chrono::seconds(20);
      while (Clock::now() < deadline) {
        int status = 0;
        if (waitpid(pid_, &status, WNOHANG) == pid_) {
          pid_ = 0;
          break;
        }
        // A fresh channel each time: one that saw "connection refused" waits
        // seconds before it retries.
        grpc::ChannelArguments args;
        args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
        auto stub = watchfloor::v1::Node::NewStub(grpc::CreateCustomChannel(
            address(), grpc::InsecureChannelCredentials(), args));
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::milliseconds(500));
        watchfloor::v1::Identity id;
        if (stub->GetIdentity(&ctx, {}, &id).ok()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      std::string log_text = ReadFileOrDie(log_path());
      if (pid_ != 0 || !absl::StrContains(log_text, "cannot listen")) {
        ADD_FAILURE() << "node " << name_ << " did not start; log:\n" << log_text;
        Stop();
        return false;
      }
    }
    ADD_FAILURE() << "node " << name_ << " found no free port in 5 attempts";
    return false;
  }

  void Stop() {
    if (pid_ <= 0) return;
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = 0;
  }

  std::string address() const { return absl::StrCat("127.0.0.1:", port_); }
  std::string flag() const { return absl::StrCat("--node=", address()); }
  std::string config_path() const { return absl::StrCat(dir_, "/", name_, ".conf"); }
  std::string log_path() const { return absl::StrCat(dir_, "/", name_, ".log"); }

 private:
  const std::string dir_, name_, config_;
  pid_t pid_ = 0;
  int port_ = 0;
};

// A config body for a plaintext loopback node in `dir`.
std::string NodeConfig(const std::string& origin, const std::string& data_dir,
                       const std::string& key_file, const std::string& extra = "") {
  return absl::StrCat("origin: \"", origin, "\"\n", "data_dir: \"", data_dir,
                      "\"\n", "signing_key_file: \"", key_file, "\"\n",
                      "insecure_plaintext_loopback: true\n", extra);
}

// ---------------------------------------------------------------------------
// Usage

TEST(CliUsageTest, TopLevelHelpExitsZeroAndListsEveryCommand) {
  RunResult r = Wf({"--help"});
  EXPECT_EQ(r.exit_code, 0) << r;
  EXPECT_THAT(r.out, StartsWith("usage: watchfloor <command> [flags]\n"));
  for (const char* cmd : {"keygen", "node", "publish", "subscribe", "get",
                          "identity", "ingest", "verify"}) {
    EXPECT_THAT(r.out, ContainsRegex(absl::StrCat("\n  ", cmd, " +[a-z]")));
  }
  EXPECT_THAT(r.err, IsEmpty());
}

TEST(CliUsageTest, NoArgumentsIsAUsageErrorOnStderr) {
  RunResult r = Wf({});
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_THAT(r.out, IsEmpty());
  EXPECT_THAT(r.err, StartsWith("usage: watchfloor <command> [flags]\n"));
}

TEST(CliUsageTest, UnknownCommandIsAUsageErrorNamingIt) {
  RunResult r = Wf({"frobnicate", "--help"});
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_THAT(r.out, IsEmpty());
  EXPECT_EQ(r.err, "error: unknown command 'frobnicate'; run 'watchfloor --help'\n");
}

TEST(CliUsageTest, EverySubcommandHasHelp) {
  for (const char* cmd : {"keygen", "node", "publish", "subscribe", "get",
                          "identity", "ingest", "verify"}) {
    SCOPED_TRACE(cmd);
    RunResult r = Wf({cmd, "--help"});
    EXPECT_EQ(r.exit_code, 0) << r;
    EXPECT_THAT(r.out, StartsWith(absl::StrCat("usage: watchfloor ", cmd, " ")));
    EXPECT_THAT(r.out, HasSubstr("\nflags:\n"));
    EXPECT_THAT(r.err, IsEmpty());
  }
}

TEST(CliUsageTest, HelpWinsOverMissingRequiredFlags) {
  RunResult r = Wf({"keygen", "-h"});
  EXPECT_EQ(r.exit_code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr("--origin MEMBER/NODE"));
}

TEST(CliUsageTest, UnknownFlagIsAUsageErrorNamingTheFlag) {
  RunResult r = Wf({"publish", "--severity=high", "--colour=red"});
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_THAT(r.out, IsEmpty());
  EXPECT_EQ(r.err,
            "error: unknown flag --colour for 'watchfloor publish'; see "
            "'watchfloor publish --help'\n");

  r = Wf({"get", "--verbose", "x"});
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_THAT(r.err, HasSubstr("unknown flag --verbose"));
}

TEST(CliUsageTest, MissingRequiredFlagIsAUsageErrorNamingTheFlag) {
  RunResult r = Wf({"keygen", "--out", "/nonexistent/keys"});
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_EQ(r.err,
            "error: flag --origin is required; see 'watchfloor keygen --help'\n");

  r = Wf({"node"});
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_THAT(r.err, HasSubstr("flag --config is required"));

  r = Wf({"verify"}, "{}\n");
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_THAT(r.err, HasSubstr("flag --pubkey is required"));
}

TEST(CliUsageTest, MalformedFlagsAndArgumentsAreUsageErrors) {
  RunResult r = Wf({"subscribe", "--cursor"});
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_EQ(r.err, "error: flag --cursor needs a value (N)\n");

  r = Wf({"subscribe", "--cursor=-3"});
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_EQ(r.err, "error: --cursor \"-3\" is not a non-negative integer\n");

  r = Wf({"subscribe", "--output=yaml"});
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_THAT(r.err, HasSubstr("--output \"yaml\" is unknown; use text, json, dsse or stix"));

  r = Wf({"get"});
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_THAT(r.err, HasSubstr("'watchfloor get' takes ID, got 0 argument(s)"));

  r = Wf({"verify", "--pubkey=a", "--pubkey=b"});
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_EQ(r.err, "error: flag --pubkey was given more than once\n");
}

// ---------------------------------------------------------------------------
// keygen

TEST(CliKeygenTest, WritesPrivateKeyMode0600AndPublicKeyThatOpensslReads) {
  TempDir dir;
  const std::string keys = dir.Join("keys");
  RunResult r = Wf({"keygen", "--origin", kOrigin, "--out", keys});
  ASSERT_EQ(r.exit_code, 0) << r;

  struct stat st;
  ASSERT_EQ(stat((keys + "/signing.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  ASSERT_EQ(stat(keys.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);  // created by keygen
  auto pub = certs::PublicKey::LoadPemFile(keys + "/signing.pub");
  ASSERT_TRUE(pub.ok()) << pub.status();
  EXPECT_EQ(r.out, absl::StrCat("origin  ", kOrigin, "\nkeyid   ", pub->KeyId(),
                                "\nprivate ", keys, "/signing.key (mode 0600)\n",
                                "public  ", keys, "/signing.pub\n"));
  EXPECT_THAT(r.err, IsEmpty());

  RunResult check = RunCommand({"openssl", "pkey", "-in", keys + "/signing.key", "-noout"});
  EXPECT_EQ(check.exit_code, 0) << check;
  // The public file is exactly the public half of the private one.
  RunResult derived = RunCommand({"openssl", "pkey", "-in", keys + "/signing.key", "-pubout"});
  EXPECT_EQ(derived.exit_code, 0) << derived;
  EXPECT_EQ(derived.out, ReadFileOrDie(keys + "/signing.pub"));
}

TEST(CliKeygenTest, SecondKeygenIntoTheSameDirFailsAndKeepsTheKey) {
  TempDir dir;
  const std::string keys = dir.Join("keys");
  ASSERT_EQ(Wf({"keygen", "--origin", kOrigin, "--out", keys}).exit_code, 0);
  const std::string key_before = ReadFileOrDie(keys + "/signing.key");
  const std::string pub_before = ReadFileOrDie(keys + "/signing.pub");

  RunResult r = Wf({"keygen", "--origin", kOrigin, "--out", keys});
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_THAT(r.out, IsEmpty());
  EXPECT_EQ(r.err, absl::StrCat("error: ", keys,
                                "/signing.key already exists; refusing to "
                                "overwrite it\n"));
  EXPECT_EQ(ReadFileOrDie(keys + "/signing.key"), key_before);
  EXPECT_EQ(ReadFileOrDie(keys + "/signing.pub"), pub_before);
}

TEST(CliKeygenTest, ExistingPublicKeyFileStopsKeygenBeforeItWritesAnything) {
  TempDir dir;
  WriteFile(dir.Join("signing.pub"), "someone else's key\n");
  RunResult r = Wf({"keygen", "--origin", kOrigin, "--out", dir.path()});
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_THAT(r.err, HasSubstr(dir.Join("signing.pub")));
  EXPECT_THAT(r.err, HasSubstr("already exists"));
  // No orphan private key whose public half is not on disk.
  EXPECT_FALSE(std::filesystem::exists(dir.Join("signing.key")));
  EXPECT_EQ(ReadFileOrDie(dir.Join("signing.pub")), "someone else's key\n");
}

TEST(CliKeygenTest, InvalidOriginIsAUsageError) {
  TempDir dir;
  RunResult r = Wf({"keygen", "--origin", "Example.CZ", "--out", dir.Join("k")});
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_THAT(r.err, StartsWith("error: --origin: origin \"Example.CZ\" is invalid"));
  EXPECT_FALSE(std::filesystem::exists(dir.Join("k")));
}

// ---------------------------------------------------------------------------
// node start-up refusals

class CliNodeStartTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(Wf({"keygen", "--origin", kOrigin, "--out", dir_.Join("keys")}).exit_code, 0);
  }
  // Runs `watchfloor node` on a config; it must exit by itself.
  RunResult RunNode(const std::string& config_text) {
    WriteFile(config_path(), config_text);
    return Wf({"node", "--config", config_path()});
  }
  std::string config_path() const { return dir_.Join("node.conf"); }
  std::string key_path() const { return dir_.Join("keys/signing.key"); }
  std::string data_dir() const { return dir_.Join("data"); }

  TempDir dir_;
};

TEST_F(CliNodeStartTest, ConfigWithUnknownFieldIsRefusedNamingFileAndField) {
  RunResult r = RunNode(NodeConfig(kOrigin, data_dir(), key_path(),
                                   "listen_address: \"127.0.0.1:0\"\n"
                                   "gossip_fanout: 6\n"));
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_THAT(r.err, AllOf(StartsWith(absl::StrCat("error: config ", config_path(),
                                                   ": line 6")),
                           HasSubstr("gossip_fanout")));
  EXPECT_THAT(r.out, IsEmpty());
  EXPECT_FALSE(std::filesystem::exists(data_dir()));
}

TEST_F(CliNodeStartTest, WorldReadableKeyIsRefusedWithChmodHint) {
  ASSERT_EQ(chmod(key_path().c_str(), 0644), 0);
  RunResult r = RunNode(NodeConfig(kOrigin, data_dir(), key_path(),
                                   "listen_address: \"127.0.0.1:0\"\n"));
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_THAT(r.err, AllOf(StartsWith("error: "), HasSubstr(key_path()),
                           HasSubstr("0644"),
                           HasSubstr(absl::StrCat("chmod 600 ", key_path()))));
  EXPECT_FALSE(std::filesystem::exists(data_dir()));
}

TEST_F(CliNodeStartTest, PlaintextOnNonLoopbackAddressIsRefused) {
  RunResult r = RunNode(NodeConfig(kOrigin, data_dir(), key_path(),
                                   "listen_address: \"0.0.0.0:0\"\n"));
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_THAT(r.err, AllOf(StartsWith(absl::StrCat("error: ", config_path(), ": ")),
                           HasSubstr("insecure_plaintext_loopback refuses "
                                     "listen_address 0.0.0.0:0"),
                           HasSubstr("not a loopback address")));
  EXPECT_FALSE(std::filesystem::exists(data_dir()));
}

TEST_F(CliNodeStartTest, MissingConfigFileIsRefusedNamingIt) {
  RunResult r = Wf({"node", "--config", dir_.Join("nope.conf")});
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_EQ(r.err, absl::StrCat("error: config file ", dir_.Join("nope.conf"),
                                " cannot be read; check the path\n"));
}

// ---------------------------------------------------------------------------
// Against a running node

class CliAgainstNodeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    RunResult k = Wf({"keygen", "--origin", kOrigin, "--out", dir_.Join("keys")});
    ASSERT_EQ(k.exit_code, 0) << k;
    ASSERT_TRUE(node_.Start());
  }

  // Publishes a valid alert with flags; returns its id.
  std::string Publish(const std::string& title) {
    RunResult r = Wf({"publish", node_.flag(), "--severity", "high", "--category",
                      "dns.hijack", "--tlp", "green", "--title", title,
                      "--domain", "example.cz"});
    EXPECT_EQ(r.exit_code, 0) << r;
    EXPECT_THAT(r.out, MatchesRegex("published [0-9a-f]{64} sequence [0-9]+ cursor [0-9]+\n"));
    return r.out.substr(10, 64);
  }

  // `subscribe --replay-only --output FORMAT` against `node`.
  RunResult Replay(const NodeProcess& node, const std::string& format) {
    return Wf({"subscribe", node.flag(), "--replay-only", "--output", format});
  }

  std::string pub_path() const { return dir_.Join("keys/signing.pub"); }

  TempDir dir_;
  NodeProcess node_{dir_.path(), "node",
                    NodeConfig(kOrigin, dir_.Join("data"), dir_.Join("keys/signing.key"))};
};

TEST_F(CliAgainstNodeTest, PublishWithFlagsPrintsIdSequenceAndCursor) {
  RunResult r = Wf({"publish", node_.flag(), "--severity", "high", "--category",
                    "dns.hijack", "--tlp", "green", "--title",
                    "NS records of example.cz changed", "--domain", "example.cz",
                    "--prefix", "192.0.2.0/24", "--asn", "AS64500", "--label",
                    "incident=INC-1"});
  EXPECT_EQ(r.exit_code, 0) << r;
  EXPECT_THAT(r.out, MatchesRegex("published [0-9a-f]{64} sequence 1 cursor 1\n"));
  EXPECT_THAT(r.err, IsEmpty());

  r = Wf({"publish", node_.flag(), "--severity", "low", "--category", "dns.ddos",
          "--tlp", "clear", "--title", "second"});
  EXPECT_EQ(r.exit_code, 0) << r;
  EXPECT_THAT(r.out, MatchesRegex("published [0-9a-f]{64} sequence 2 cursor 2\n"));
}

TEST_F(CliAgainstNodeTest, PublishFromJsonFileAndFromStdin) {
  const std::string json = TestData("cli/alert.json");
  RunResult r = Wf({"publish", node_.flag(), "--json", json});
  ASSERT_EQ(r.exit_code, 0) << r;
  ASSERT_THAT(r.out, MatchesRegex("published [0-9a-f]{64} sequence 1 cursor 1\n"));
  const std::string id = r.out.substr(10, 64);

  r = Wf({"publish", node_.flag(), "--json", "-", "--output", "json"},
         ReadFileOrDie(json));
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_THAT(r.out, StartsWith("{\"cursor\":2,\"id\":\""));
  EXPECT_THAT(r.out, HasSubstr(absl::StrCat("\"previous\":\"", id, "\"")));

  // Every field of the file made it into the signed alert.
  r = Wf({"get", node_.flag(), id, "--output", "json"});
  ASSERT_EQ(r.exit_code, 0) << r;
  for (const char* field :
       {"\"severity\":\"SEVERITY_CRITICAL\"", "\"category\":\"registry.compromise\"",
        "\"tlp\":\"TLP_AMBER\"",
        "\"title\":\"Registrar account of example.cz used to change NS records\"",
        "\"domains\":[\"example.cz\",\"example.com\"]",
        "\"ip_prefixes\":[\"192.0.2.0/24\",\"2001:db8::/32\"]", "\"asns\":[64500,64501]",
        "{\"key\":\"incident\",\"value\":\"INC-2041\"}",
        "\"references\":[\"https://example.cz/incidents/2041\"]",
        "\"expires_at\":\"2030-01-01T00:00:00Z\"", "\"origin\":\"example.cz/prg1\""}) {
    EXPECT_THAT(r.out, HasSubstr(field));
  }

  // --json does not mix with field flags.
  r = Wf({"publish", node_.flag(), "--json", json, "--severity", "low"});
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_EQ(r.err, "error: --json and --severity do not mix; put the field in the JSON\n");
}

TEST_F(CliAgainstNodeTest, RefusedPublishExitsOneAndStoresNothing) {
  Publish("the only alert");
  ASSERT_EQ(Lines(Replay(node_, "json").out).size(), 1u);

  // Refused by the CLI before it reaches the node.
  RunResult r = Wf({"publish", node_.flag(), "--severity", "extreme", "--category",
                    "dns.hijack", "--tlp", "green", "--title", "t"});
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_THAT(r.out, IsEmpty());
  EXPECT_EQ(r.err,
            "error: severity \"extreme\" is unknown; use info, low, medium, "
            "high or critical\n");
  // Refused by the node's validator.
  r = Wf({"publish", node_.flag(), "--severity", "high", "--category",
          "DNS Hijack", "--tlp", "green", "--title", "t"});
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_THAT(r.err, StartsWith("error: category \"DNS Hijack\" is invalid"));
  // Sealed TLP is not yet supported, and says so.
  r = Wf({"publish", node_.flag(), "--severity", "high", "--category",
          "dns.hijack", "--tlp", "red", "--title", "t"});
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_THAT(r.err, HasSubstr("must be sealed"));
  // A JSON draft with a key the CLI does not know.
  r = Wf({"publish", node_.flag(), "--json", "-"},
         R"({"severity": "high", "category": "dns.hijack", "tlp": "green", "title": "t", "sevrity": "low"})");
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_THAT(r.err, StartsWith("error: alert JSON: sevrity: unknown key"));

  RunResult after = Replay(node_, "json");
  EXPECT_EQ(after.exit_code, 0) << after;
  EXPECT_EQ(Lines(after.out).size(), 1u) << after;

  // And the feed continues without a gap.
  r = Wf({"publish", node_.flag(), "--severity", "high", "--category",
          "dns.hijack", "--tlp", "green", "--title", "next"});
  EXPECT_THAT(r.out, MatchesRegex("published [0-9a-f]{64} sequence 2 cursor 2\n"));
}

TEST_F(CliAgainstNodeTest, GetPrintsTheAlert) {
  const std::string id = Publish("NS records of example.cz changed");
  RunResult r = Wf({"get", node_.flag(), id});
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_THAT(r.out, MatchesRegex(absl::StrCat(
                         "\\[1\\] [0-9T:.-]+Z  example\\.cz/prg1 #1  HIGH  "
                         "dns\\.hijack  TLP:GREEN\n"
                         "    NS records of example\\.cz changed\n"
                         "    id ",
                         id, "\n    domains: example\\.cz\n")));
  EXPECT_THAT(r.err, IsEmpty());

  // --output dsse is the stored envelope: its id is the one asked for.
  r = Wf({"get", node_.flag(), id, "--output", "dsse"});
  ASSERT_EQ(r.exit_code, 0) << r;
  auto env = certs::EnvelopeFromJson(Lines(r.out).at(0));
  ASSERT_TRUE(env.ok()) << env.status();
  EXPECT_EQ(certs::AlertId(env->payload()), id);
}

TEST_F(CliAgainstNodeTest, GetWithMalformedOrUnknownIdExitsOne) {
  Publish("one");
  RunResult r = Wf({"get", node_.flag(), "xyz"});
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_THAT(r.out, IsEmpty());
  EXPECT_EQ(r.err, "error: alert id \"xyz\" is not 64 lowercase hex characters\n");

  const std::string upper(64, 'A');
  r = Wf({"get", node_.flag(), upper});
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_THAT(r.err, HasSubstr("is not 64 lowercase hex characters"));

  const std::string zeros(64, '0');
  r = Wf({"get", node_.flag(), zeros});
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_EQ(r.err, absl::StrCat("error: no alert ", zeros, " on this node\n"));
}

TEST_F(CliAgainstNodeTest, SubscribeDssePipedIntoVerifyPrintsOkPerLine) {
  std::vector<std::string> ids = {Publish("a"), Publish("b"), Publish("c")};
  // The pipeline from the docs, through a real shell pipe.
  RunResult r = RunCommand({"bash", "-c",
                     absl::StrCat("set -o pipefail; '", WatchfloorBinary(),
                                  "' subscribe ", node_.flag(),
                                  " --replay-only --output dsse | '",
                                  WatchfloorBinary(), "' verify --pubkey '",
                                  pub_path(), "' --origin ", kOrigin)});
  EXPECT_EQ(r.exit_code, 0) << r;
  EXPECT_THAT(Lines(r.out),
              ElementsAre(absl::StrCat("line 1: ok ", ids[0], " example.cz/prg1 #1"),
                          absl::StrCat("line 2: ok ", ids[1], " example.cz/prg1 #2"),
                          absl::StrCat("line 3: ok ", ids[2], " example.cz/prg1 #3")));
  auto key = certs::PublicKey::LoadPemFile(pub_path());
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(r.err, absl::StrCat("all 3 envelopes verified with key ", key->KeyId(), "\n"));
}

TEST_F(CliAgainstNodeTest, TamperedDsseLineFailsOnlyThatLine) {
  Publish("a");
  Publish("b");
  Publish("c");
  RunResult dsse = Replay(node_, "dsse");
  ASSERT_EQ(dsse.exit_code, 0) << dsse;
  std::vector<std::string> lines = Lines(dsse.out);
  ASSERT_EQ(lines.size(), 3u);

  // Flips one base64 character in the middle of the named JSON member's value.
  auto flip = [](std::string line, const std::string& member) {
    size_t start = line.find(absl::StrCat("\"", member, "\":\"")) + member.size() + 4;
    size_t end = line.find('"', start);
    size_t at = start + (end - start) / 2;
    line[at] = line[at] == 'A' ? 'B' : 'A';
    return line;
  };
  for (const char* member : {"payload", "sig"}) {
    SCOPED_TRACE(member);
    std::string input = absl::StrCat(lines[0], "\n", flip(lines[1], member), "\n",
                                     lines[2], "\n");
    RunResult r = Wf({"verify", "--pubkey", pub_path()}, input);
    EXPECT_EQ(r.exit_code, 1) << r;
    std::vector<std::string> out = Lines(r.out);
    ASSERT_EQ(out.size(), 3u) << r;
    EXPECT_THAT(out[0], StartsWith("line 1: ok "));
    EXPECT_THAT(out[1], MatchesRegex("line 2: FAIL UNAUTHENTICATED: signature by "
                                     "key [0-9a-f]{64} does not verify"));
    EXPECT_THAT(out[2], StartsWith("line 3: ok "));
    EXPECT_EQ(r.err, "error: 1 of 3 envelopes failed verification\n");
  }
}

TEST_F(CliAgainstNodeTest, VerifyWithAnotherKeyFailsEveryLine) {
  Publish("a");
  Publish("b");
  ASSERT_EQ(Wf({"keygen", "--origin", "example.cz/brn1", "--out", dir_.Join("other")})
                .exit_code,
            0);
  auto other = certs::PublicKey::LoadPemFile(dir_.Join("other/signing.pub"));
  ASSERT_TRUE(other.ok());
  RunResult r = Wf({"verify", "--pubkey", dir_.Join("other/signing.pub")},
                   Replay(node_, "dsse").out);
  EXPECT_EQ(r.exit_code, 1) << r;
  const std::string fail =
      absl::StrCat(": FAIL UNAUTHENTICATED: no signature by key ", other->KeyId());
  EXPECT_THAT(Lines(r.out), ElementsAre(absl::StrCat("line 1", fail),
                                        absl::StrCat("line 2", fail)));
  EXPECT_EQ(r.err, "error: 2 of 2 envelopes failed verification\n");
}

TEST_F(CliAgainstNodeTest, IdentityWritesThePublicKeyItServes) {
  Publish("a");
  const std::string out = dir_.Join("fetched.pub");
  RunResult r = Wf({"identity", node_.flag(), "--pubkey-out", out});
  ASSERT_EQ(r.exit_code, 0) << r;
  const std::string pem = ReadFileOrDie(pub_path());
  EXPECT_EQ(ReadFileOrDie(out), pem);
  auto key = certs::PublicKey::FromPem(pem);
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(r.out, absl::StrCat("origin example.cz/prg1\nkeyid  ", key->KeyId(),
                                "\nhead   1\n", pem));

  // It never overwrites a file.
  r = Wf({"identity", node_.flag(), "--pubkey-out", out});
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_EQ(r.err, absl::StrCat("error: ", out,
                                " already exists; refusing to overwrite it\n"));
}

TEST_F(CliAgainstNodeTest, IngestIntoAPeerThatKnowsTheOriginStoresOnceThenSaysAlreadyStored) {
  std::vector<std::string> ids = {Publish("a"), Publish("b"), Publish("c")};
  RunResult exported = Replay(node_, "dsse");
  ASSERT_EQ(exported.exit_code, 0) << exported;
  const std::string export_file = dir_.Join("export.dsse");
  WriteFile(export_file, exported.out);
  std::vector<std::string> lines = Lines(exported.out);
  ASSERT_EQ(lines.size(), 3u);

  ASSERT_EQ(Wf({"keygen", "--origin", "example.cz/brn1", "--out", dir_.Join("peer-keys")})
                .exit_code,
            0);
  NodeProcess peer(dir_.path(), "peer",
                   NodeConfig("example.cz/brn1", dir_.Join("peer-data"),
                              dir_.Join("peer-keys/signing.key"),
                              absl::StrCat("known_origins { origin: \"", kOrigin,
                                           "\" public_key_file: \"", pub_path(),
                                           "\" }\n")));
  ASSERT_TRUE(peer.Start());

  // Alert #2 alone leaves a gap: refused, nothing stored.
  RunResult r = Wf({"ingest", peer.flag()}, lines[1] + "\n");
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_THAT(r.out, StartsWith("line 1: refused (FAILED_PRECONDITION): "));
  EXPECT_EQ(r.err, "error: 1 of 1 envelopes refused\n");

  r = Wf({"ingest", peer.flag(), "--in", export_file});
  EXPECT_EQ(r.exit_code, 0) << r;
  EXPECT_EQ(r.out, absl::StrCat("line 1: stored ", ids[0], " cursor 1\n",
                                "line 2: stored ", ids[1], " cursor 2\n",
                                "line 3: stored ", ids[2], " cursor 3\n"));
  EXPECT_THAT(r.err, IsEmpty());
  // The peer serves the very same signed bytes.
  RunResult replayed = Replay(peer, "dsse");
  EXPECT_EQ(replayed.exit_code, 0) << replayed;
  EXPECT_EQ(replayed.out, exported.out);

  r = Wf({"ingest", peer.flag()}, exported.out);
  EXPECT_EQ(r.exit_code, 0) << r;
  EXPECT_EQ(r.out, "line 1: already stored\nline 2: already stored\nline 3: already stored\n");
  EXPECT_EQ(Replay(peer, "dsse").out, exported.out);

  // The other way round the origin is unknown: refused, by name.
  r = Wf({"publish", peer.flag(), "--severity", "info", "--category", "dns.hijack",
          "--tlp", "green", "--title", "from brn1"});
  ASSERT_EQ(r.exit_code, 0) << r;
  r = Wf({"ingest", node_.flag()},
         Wf({"subscribe", peer.flag(), "--replay-only", "--output", "dsse",
             "--cursor", "3"})
             .out);
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_THAT(r.out, StartsWith("line 1: refused (UNAUTHENTICATED): origin "
                                "example.cz/brn1 is unknown to this node"));
}

TEST_F(CliAgainstNodeTest, ClientCommandsAgainstAStoppedNodeExitOne) {
  const std::string flag = node_.flag();
  node_.Stop();
  RunResult r = Wf({"identity", flag});
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_THAT(r.err, StartsWith("error: failed to connect"));
  r = Wf({"subscribe", flag, "--replay-only"});
  EXPECT_EQ(r.exit_code, 1) << r;
}

// ---------------------------------------------------------------------------
// verify, offline, on fixed data

TEST(CliVerifyTest, GoodVectorFeedVerifiesWithTheVectorKey) {
  RunResult r = Wf({"verify", "--pubkey", TestData("protocol_vector/public.pem"),
                    "--origin", kOrigin},
                   ReadFileOrDie(TestData("cli/good.dsse")));
  EXPECT_EQ(r.exit_code, 0) << r;
  std::vector<std::string> out = Lines(r.out);
  ASSERT_EQ(out.size(), 3u) << r;
  for (int i = 0; i < 3; ++i) {
    EXPECT_THAT(out[i], MatchesRegex(absl::StrCat("line ", i + 1, ": ok [0-9a-f]{64} "
                                                  "example\\.cz/prg1 #", i + 1)));
  }
}

TEST(CliVerifyTest, EveryTamperCaseFailsItsLineWithTheNamedCode) {
  std::vector<std::string> good = Lines(ReadFileOrDie(TestData("cli/good.dsse")));
  ASSERT_EQ(good.size(), 3u);
  int cases = 0;
  for (const auto& entry :
       std::filesystem::directory_iterator(TestData("cli/tamper"))) {
    const std::string name = entry.path().filename();
    if (!absl::EndsWith(name, ".dsse")) continue;
    SCOPED_TRACE(name);
    ++cases;
    const std::string code = name.substr(name.find('@') + 1,
                                         name.size() - name.find('@') - 1 - 5);
    std::string input =
        absl::StrCat(good[0], "\n", ReadFileOrDie(entry.path()), good[2], "\n");
    RunResult r = Wf({"verify", "--pubkey", TestData("protocol_vector/public.pem")},
                     input);
    EXPECT_EQ(r.exit_code, 1) << r;
    std::vector<std::string> out = Lines(r.out);
    ASSERT_EQ(out.size(), 3u) << r;
    EXPECT_THAT(out[0], StartsWith("line 1: ok "));
    EXPECT_THAT(out[1], StartsWith(absl::StrCat("line 2: FAIL ", code, ": ")));
    EXPECT_THAT(out[2], StartsWith("line 3: ok "));
    EXPECT_EQ(r.err, "error: 1 of 3 envelopes failed verification\n");
  }
  EXPECT_GE(cases, 10);
}

TEST(CliVerifyTest, WrongOriginAndEmptyInputFail) {
  RunResult r = Wf({"verify", "--pubkey", TestData("protocol_vector/public.pem"),
                    "--origin", "example.cz/brn1"},
                   ReadFileOrDie(TestData("cli/good.dsse")));
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_THAT(Lines(r.out),
              ::testing::Each(HasSubstr(": FAIL UNAUTHENTICATED: signed by the key, "
                                        "but for origin example.cz/prg1, not "
                                        "example.cz/brn1")));

  r = Wf({"verify", "--pubkey", TestData("protocol_vector/public.pem")}, "\n\n");
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_EQ(r.err, "error: no envelopes on stdin\n");

  r = Wf({"verify", "--pubkey", TestData("cli/missing.pub")}, "x\n");
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_THAT(r.err, HasSubstr(TestData("cli/missing.pub")));
}

}  // namespace
}  // namespace watchfloor::testing
