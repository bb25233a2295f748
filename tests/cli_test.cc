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
#include "certs/encryption_key.h"
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
using ::testing::Not;
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
                          "identity", "ingest", "verify", "incidents", "react", "corroborate"}) {
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
                          "identity", "ingest", "verify", "incidents", "react", "corroborate"}) {
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
// Documented limits, checked before dialing: against a port where nothing
// listens, every case is still the usage error (exit 2), never "connection
// refused". The words are the node's own (node/alert_validator.h,
// node/filter_parser.h, node/filter.h), so CLI and node agree.

// `n` flags `--name value`.
std::vector<std::string> Repeat(int n, const std::string& name, const std::string& value) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) {
    out.push_back(absl::StrCat("--", name));
    out.push_back(value);
  }
  return out;
}

// `n` distinct `--name <prefix>i<suffix>` flags.
std::vector<std::string> RepeatNumbered(int n, const std::string& name,
                                        const std::string& prefix,
                                        const std::string& suffix = "") {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) {
    out.push_back(absl::StrCat("--", name));
    out.push_back(absl::StrCat(prefix, i, suffix));
  }
  return out;
}

std::vector<std::string> Concat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// A valid publish command line without --node, with `changes` replacing (or,
// with an empty value, dropping) its fields; cases append what breaks it.
std::vector<std::string> ValidPublish(
    const std::vector<std::pair<std::string, std::string>>& changes = {}) {
  std::vector<std::pair<std::string, std::string>> fields = {
      {"severity", "high"}, {"category", "dns.hijack"}, {"tlp", "green"},
      {"title", "NS records of example.cz changed"}};
  std::vector<std::string> out = {"publish"};
  for (auto& [name, value] : fields) {
    for (const auto& [changed, to] : changes) {
      if (changed == name) value = to;
    }
    if (value.empty()) continue;
    out.push_back(absl::StrCat("--", name));
    out.push_back(value);
  }
  return out;
}

struct LimitCase {
  std::string name;
  std::vector<std::string> args;  // without --node
  std::string stderr_has;         // after "error: "
  std::string input = "";
};

std::vector<LimitCase> LimitCases() {
  const std::string hex(64, 'a');
  std::string big_json = R"({"severity": "high", "category": "dns.hijack", "tlp": "green", "title": "t", "references": [)";
  for (int i = 0; i < 40; ++i) {
    absl::StrAppend(&big_json, i ? "," : "", "\"https://example.cz/", std::string(1990, 'x'), "\"");
  }
  big_json += "]}";
  std::string many_labels = R"({"severity": "high", "category": "dns.hijack", "tlp": "green", "title": "t", "labels": {)";
  for (int i = 0; i < 65; ++i) absl::StrAppend(&many_labels, i ? "," : "", "\"k", i, "\": \"v\"");
  many_labels += "}}";
  std::string conditions33;
  for (int i = 0; i < 33; ++i) absl::StrAppend(&conditions33, i ? " " : "", "asn:", i + 1);
  return {
      // subscribe
      {"subscribe_65_filters", Concat({"subscribe"}, Repeat(65, "filter", "domain:cz")),
       "--filter given 65 times; the limit is 64 filters per request"},
      {"subscribe_filter_syntax", {"subscribe", "--filter", "domain:cz sevrity>=high"},
       "--filter: filter \"domain:cz sevrity>=high\": column 11, token \"sevrity>=high\": "
       "unknown field \"sevrity\""},
      {"subscribe_33_conditions", {"subscribe", "--filter", conditions33},
       "33 conditions; the limit is 32"},
      {"subscribe_257_zones", {"subscribe", "--filter", absl::StrCat("domain:", [] {
                                 std::string z;
                                 for (int i = 0; i < 257; ++i) absl::StrAppend(&z, i ? "," : "", "z", i);
                                 return z;
                               }())},
       "257 zones given; the limit is 256"},
      {"subscribe_bad_since", {"subscribe", "--since", "yesterday"},
       "--since \"yesterday\" is not an RFC 3339 time"},
      {"subscribe_cursor_and_since", {"subscribe", "--cursor", "3", "--since", "2026-01-01T00:00:00Z"},
       "give --cursor or --since, not both"},
      // export and audit --node
      {"export_65_filters", Concat({"export", "--out", "/nonexistent/b.wfb"},
                                   Repeat(65, "filter", "asn:64500")),
       "--filter given 65 times; the limit is 64 filters per request"},
      {"export_filter_syntax", {"export", "--out", "/nonexistent/b.wfb", "--filter", "severity>=urgent"},
       "--filter: filter \"severity>=urgent\""},
      {"audit_node_65_filters", Concat({"audit"}, Repeat(65, "filter", "origin:nic.cz/prg1")),
       "--filter given 65 times; the limit is 64 filters per request"},
      // get
      {"get_short_id", {"get", "abc"}, "alert id \"abc\" is not 64 lowercase hex characters"},
      {"get_upper_id", {"get", std::string(64, 'A')}, "is not 64 lowercase hex characters"},
      // publish, with flags
      {"publish_no_title", ValidPublish({{"title", ""}}),
       "title is empty; give a one-line summary"},
      {"publish_title_257_bytes", ValidPublish({{"title", std::string(257, 't')}}),
       "must be 1..256 bytes of UTF-8 without control characters"},
      {"publish_title_control_char", ValidPublish({{"title", "a\tb"}}),
       "title \"a\tb\" is invalid"},
      {"publish_description_16k", Concat(ValidPublish(), {"--description", std::string(16 * 1024 + 1, 'd')}),
       "must be at most 16384 bytes of UTF-8"},
      {"publish_no_severity", ValidPublish({{"severity", ""}}),
       "severity \"0\" is invalid: must be one of info, low, medium, high, critical"},
      {"publish_no_tlp", ValidPublish({{"tlp", ""}}),
       "tlp \"0\" is invalid"},
      {"publish_unknown_tlp", ValidPublish({{"tlp", "purple"}}), "tlp \"purple\" is unknown"},
      {"publish_category_9_labels", ValidPublish({{"category", "a.b.c.d.e.f.g.h.i"}}),
       "has more than 8 labels"},
      {"publish_category_129_chars", ValidPublish({{"category", std::string(129, 'c')}}),
       "must be a dotted lowercase path of 1..128 chars"},
      {"publish_257_domains", Concat(ValidPublish(), RepeatNumbered(257, "domain", "d", ".cz")),
       "domains has 257 entries; the limit is 256"},
      {"publish_bad_domain", Concat(ValidPublish(), {"--domain", "Example.CZ."}),
       "domain \"Example.CZ.\" is invalid"},
      {"publish_257_prefixes", Concat(ValidPublish(), Repeat(257, "prefix", "192.0.2.0/24")),
       "ip_prefixes has 257 entries; the limit is 256"},
      {"publish_prefix_host_bits", Concat(ValidPublish(), {"--prefix", "192.0.2.1/24"}),
       "has host bits set"},
      {"publish_257_asns", Concat(ValidPublish(), RepeatNumbered(257, "asn", "6450")),
       "asns has 257 entries; the limit is 256"},
      {"publish_asn_zero", Concat(ValidPublish(), {"--asn", "0"}), "--asn \"0\" is not an AS number"},
      {"publish_65_labels", Concat(ValidPublish(), RepeatNumbered(65, "label", "k", "=v")),
       "labels has 65 entries; the limit is 64"},
      {"publish_label_key_65_chars", Concat(ValidPublish(), {"--label", std::string(65, 'k') + "=v"}),
       "label key"},
      {"publish_label_key_uppercase", Concat(ValidPublish(), {"--label", "Incident=1"}),
       "label key \"Incident\" is invalid: must be 1..64 chars of [a-z0-9._-]"},
      {"publish_label_value_257_bytes", Concat(ValidPublish(), {"--label", "k=" + std::string(257, 'v')}),
       "must be at most 256 bytes of UTF-8 without control characters"},
      {"publish_label_without_value", Concat(ValidPublish(), {"--label", "incident"}),
       "--label \"incident\" must be key=value"},
      {"publish_65_references", Concat(ValidPublish(), RepeatNumbered(65, "reference", "https://e.cz/")),
       "references has 65 entries; the limit is 64"},
      {"publish_reference_2049_bytes", Concat(ValidPublish(), {"--reference", std::string(2049, 'r')}),
       "must be 1..2048 bytes of UTF-8"},
      {"publish_bad_expires", Concat(ValidPublish(), {"--expires", "tomorrow"}),
       "--expires \"tomorrow\" is not an RFC 3339 time"},
      {"publish_updates_not_hex", Concat(ValidPublish(), {"--updates", "INC-1"}),
       "updates \"INC-1\" is invalid: must be a 64-char lowercase hex alert id"},
      {"publish_updates_and_cancels", Concat(ValidPublish(), {"--updates", hex, "--cancels", hex}),
       "an alert may either update or cancel an earlier alert, not both"},
      // Sealed TLP is the node's to refuse; the rest of the draft is checked here.
      {"publish_red_with_bad_category",
       Concat(ValidPublish({{"tlp", "red"}, {"category", "Bad"}}), {"--to", "m2.example"}),
       "category \"Bad\" is invalid"},
      {"publish_red_without_to", ValidPublish({{"tlp", "red"}}),
       "a TLP AMBER+STRICT or RED alert needs recipients"},
      {"publish_red_to_a_node", Concat(ValidPublish({{"tlp", "red"}}), {"--to", "nic.cz/prg1"}),
       "recipient: "},
      {"publish_red_to_a_member_twice",
       Concat(ValidPublish({{"tlp", "amber+strict"}}), {"--to", "nic.cz,nic.cz"}),
       "recipient \"nic.cz\" is invalid: is listed twice"},
      {"publish_green_to_a_member", Concat(ValidPublish(), {"--to", "nic.cz"}),
       "recipients are only for TLP AMBER+STRICT and RED"},
      // publish --json
      {"publish_json_65_labels", {"publish", "--json", "-"}, "labels has 65 entries; the limit is 64",
       many_labels},
      {"publish_json_over_64k", {"publish", "--json", "-"}, "; the limit is 65536", big_json},
      {"publish_json_malformed", {"publish", "--json", "-"},
       "alert JSON: not valid JSON: line 1 column 13: expected ':' after the member name",
       R"({"severity" "high"})"},
      {"publish_json_duplicate_label", {"publish", "--json", "-"},
       "member \"a\" is given twice in one object",
       R"({"severity": "high", "labels": {"a": "1", "a": "2"}})"},
      {"publish_json_asn_fraction", {"publish", "--json", "-"},
       "alert JSON: asns: entry 64500.5 is not an AS number 1..4294967295",
       R"({"asns": [64500.5]})"},
      // react, incidents, subscribe --incident-events (issue 13)
      {"react_no_kind", {"react", hex}, "give exactly one of --ack, --sighting, --claim or --resolved"},
      {"react_two_kinds", {"react", hex, "--ack", "--claim"},
       "give exactly one of --ack, --sighting, --claim or --resolved"},
      {"react_short_id", {"react", "abc", "--ack"}, "alert id \"abc\" is not 64 lowercase hex characters"},
      {"react_note_1025_bytes", {"react", hex, "--ack", "--note", std::string(1025, 'n')},
       "reaction.note"},
      {"react_note_control", {"react", hex, "--ack", "--note", "bell\a"}, "reaction.note"},
      {"react_bad_domain", {"react", hex, "--sighting", "--domain", "a..cz"}, "a..cz"},
      {"react_bad_prefix", {"react", hex, "--sighting", "--prefix", "192.0.2.1/24"}, "192.0.2.1/24"},
      {"corroborate_short_id", {"corroborate", "abc"},
       "alert id \"abc\" is not 64 lowercase hex characters"},
      {"corroborate_bad_output", {"corroborate", hex, "--output", "yaml"},
       "--output \"yaml\" is unknown; use text or json"},
      {"incidents_bad_state", {"incidents", "--state", "closed"},
       "--state \"closed\" is unknown; use open, updated, cancelled or expired"},
      {"incidents_filter_syntax", {"incidents", "--filter", "severity>=urgent"},
       "--filter: filter \"severity>=urgent\""},
      {"incidents_bad_limit", {"incidents", "--limit", "-1"}, "--limit \"-1\" is not a non-negative integer"},
      {"subscribe_events_dsse", {"subscribe", "--incident-events", "--output", "dsse"},
       "--incident-events needs --output text or json"},
  };
}

TEST(CliLimitsTest, EveryDocumentedLimitIsAUsageErrorBeforeDialing) {
  // Nothing listens here: a command that dialed would fail to connect.
  const std::string node = absl::StrCat("--node=127.0.0.1:", PickFreePort());
  for (const LimitCase& c : LimitCases()) {
    SCOPED_TRACE(c.name);
    RunResult r = Wf(Concat(c.args, {node}), c.input);
    EXPECT_EQ(r.exit_code, 2) << r;
    EXPECT_THAT(r.out, IsEmpty());
    EXPECT_THAT(r.err, StartsWith("error: ")) << r;
    EXPECT_THAT(r.err, HasSubstr(c.stderr_has)) << r;
    EXPECT_THAT(r.err, ::testing::Not(HasSubstr("connect"))) << r;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r;
  }
}

TEST(CliLimitsTest, AtTheLimitTheCommandDialsAndFailsToConnect) {
  // 64 filters and 64 labels are allowed: the CLI passes them on and only
  // then finds nobody listening (exit 1), so the limits are not off by one.
  const std::string node = absl::StrCat("--node=127.0.0.1:", PickFreePort());
  RunResult r = Wf(Concat(Concat({"subscribe", "--replay-only"}, Repeat(64, "filter", "domain:cz")),
                          {node}));
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_THAT(r.err, StartsWith("error: failed to connect"));

  r = Wf(Concat(Concat(ValidPublish(), RepeatNumbered(64, "label", "k", "=v")), {node}));
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_THAT(r.err, StartsWith("error: failed to connect"));
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
  ASSERT_EQ(stat((keys + "/encryption.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  auto enc = certs::EncryptionPublicKey::LoadPemFile(keys + "/encryption.pub");
  ASSERT_TRUE(enc.ok()) << enc.status();
  EXPECT_EQ(r.out, absl::StrCat("origin  ", kOrigin, "\nkeyid   ", pub->KeyId(),
                                "\nprivate ", keys, "/signing.key (mode 0600)\n",
                                "public  ", keys, "/signing.pub\n",
                                "encryption keyid   ", enc->KeyId(), "\n",
                                "encryption private ", keys, "/encryption.key (mode 0600)\n",
                                "encryption public  ", keys, "/encryption.pub\n"));
  EXPECT_THAT(r.err, IsEmpty());
  // Two keys for two purposes.
  EXPECT_NE(ReadFileOrDie(keys + "/signing.pub"), ReadFileOrDie(keys + "/encryption.pub"));

  for (const char* name : {"signing", "encryption"}) {
    const std::string priv = absl::StrCat(keys, "/", name, ".key");
    RunResult check = RunCommand({"openssl", "pkey", "-in", priv, "-noout"});
    EXPECT_EQ(check.exit_code, 0) << check;
    // The public file is exactly the public half of the private one.
    RunResult derived = RunCommand({"openssl", "pkey", "-in", priv, "-pubout"});
    EXPECT_EQ(derived.exit_code, 0) << derived;
    EXPECT_EQ(derived.out, ReadFileOrDie(absl::StrCat(keys, "/", name, ".pub")));
  }
  RunResult text = RunCommand({"openssl", "pkey", "-in", keys + "/encryption.key", "-noout",
                               "-text"});
  EXPECT_THAT(text.out, HasSubstr("X25519"));
}

TEST(CliKeygenTest, EncryptionOnlyAddsTheEncryptionKeyNextToAnExistingSigningKey) {
  TempDir dir;
  const std::string keys = dir.Join("keys");
  ASSERT_EQ(Wf({"keygen", "--origin", kOrigin, "--out", keys}).exit_code, 0);
  const std::string signing_before = ReadFileOrDie(keys + "/signing.key");
  // The set is complete: a second --encryption-only run refuses, unchanged.
  const std::string enc_before = ReadFileOrDie(keys + "/encryption.key");
  RunResult again = Wf({"keygen", "--origin", kOrigin, "--out", keys, "--encryption-only"});
  EXPECT_EQ(again.exit_code, 1) << again;
  EXPECT_EQ(again.err, absl::StrCat("error: ", keys,
                                    "/encryption.key already exists; refusing to "
                                    "overwrite it\n"));
  EXPECT_EQ(ReadFileOrDie(keys + "/encryption.key"), enc_before);

  // A node from before encryption keys: only signing.key/.pub.
  const std::string old_keys = dir.Join("old");
  ASSERT_EQ(Wf({"keygen", "--origin", kOrigin, "--out", old_keys}).exit_code, 0);
  ASSERT_EQ(unlink((old_keys + "/encryption.key").c_str()), 0);
  ASSERT_EQ(unlink((old_keys + "/encryption.pub").c_str()), 0);
  const std::string old_signing = ReadFileOrDie(old_keys + "/signing.key");
  RunResult r = Wf({"keygen", "--origin", kOrigin, "--out", old_keys, "--encryption-only"});
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr("encryption private " + old_keys + "/encryption.key (mode 0600)"));
  EXPECT_THAT(r.out, Not(HasSubstr("signing.key")));
  EXPECT_EQ(ReadFileOrDie(old_keys + "/signing.key"), old_signing);
  EXPECT_TRUE(certs::EncryptionKey::LoadPemFile(old_keys + "/encryption.key").ok());
  EXPECT_EQ(ReadFileOrDie(keys + "/signing.key"), signing_before);
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

// Labels not in sorted (or any hash) order: a map on the way would reorder them.
const std::vector<std::pair<std::string, std::string>>& UnsortedLabels() {
  static const auto* labels = new std::vector<std::pair<std::string, std::string>>{
      {"zulu", "1"},    {"incident", "INC-7"}, {"alpha", "2"},  {"mike", "3"},
      {"tlp.source", "x"}, {"bravo", "4"},   {"yankee", "5"}, {"charlie", "6"},
      {"x-ray", "7"},   {"delta", "8"},        {"echo", "9"},   {"kilo", "10"}};
  return *labels;
}

// The labels of the alert in a `--output dsse` line, decoded from the signed
// payload.
std::vector<std::pair<std::string, std::string>> SignedLabels(const std::string& dsse_line) {
  std::vector<std::pair<std::string, std::string>> out;
  auto env = certs::EnvelopeFromJson(dsse_line);
  EXPECT_TRUE(env.ok()) << env.status();
  if (!env.ok()) return out;
  watchfloor::v1::Alert alert;
  EXPECT_TRUE(alert.ParseFromString(env->payload()));
  for (const auto& l : alert.labels()) out.emplace_back(l.key(), l.value());
  return out;
}

TEST_F(CliAgainstNodeTest, LabelsKeepThePublishersOrderFromJsonAndFlags) {
  std::string object, list, json_out, text_out;
  std::vector<std::string> flags = {"publish", node_.flag(), "--severity", "high",
                                    "--category", "dns.hijack", "--tlp", "green",
                                    "--title", "from flags"};
  for (const auto& [k, v] : UnsortedLabels()) {
    absl::StrAppend(&object, object.empty() ? "" : ", ", "\"", k, "\": \"", v, "\"");
    absl::StrAppend(&list, list.empty() ? "" : ", ", "{\"key\": \"", k, "\", \"value\": \"", v,
                    "\"}");
    absl::StrAppend(&json_out, json_out.empty() ? "" : ",", "{\"key\":\"", k, "\",\"value\":\"",
                    v, "\"}");
    absl::StrAppend(&text_out, text_out.empty() ? "" : ", ", k, "=", v);
    flags.push_back("--label");
    flags.push_back(absl::StrCat(k, "=", v));
  }
  const std::string head =
      R"({"severity": "high", "category": "dns.hijack", "tlp": "green", "title": "t", "labels": )";
  std::vector<std::string> ids;
  // The object form, the proto3 JSON list form, and --label flags.
  for (const std::string& json : {head + "{" + object + "}}", head + "[" + list + "]}"}) {
    RunResult r = Wf({"publish", node_.flag(), "--json", "-"}, json);
    ASSERT_EQ(r.exit_code, 0) << r;
    ids.push_back(r.out.substr(10, 64));
  }
  RunResult r = Wf(flags);
  ASSERT_EQ(r.exit_code, 0) << r;
  ids.push_back(r.out.substr(10, 64));

  const std::string want_json = absl::StrCat("\"labels\":[", json_out, "]");
  for (const std::string& id : ids) {
    SCOPED_TRACE(id);
    r = Wf({"get", node_.flag(), id, "--output", "json"});
    ASSERT_EQ(r.exit_code, 0) << r;
    EXPECT_THAT(r.out, HasSubstr(want_json));
    r = Wf({"get", node_.flag(), id});
    ASSERT_EQ(r.exit_code, 0) << r;
    EXPECT_THAT(r.out, HasSubstr(absl::StrCat("\n    labels: ", text_out, "\n")));
    r = Wf({"get", node_.flag(), id, "--output", "dsse"});
    ASSERT_EQ(r.exit_code, 0) << r;
    EXPECT_EQ(SignedLabels(Lines(r.out).at(0)), UnsortedLabels());
  }
  // Every alert of the stream, in both forms.
  RunResult json = Replay(node_, "json");
  ASSERT_EQ(json.exit_code, 0) << json;
  ASSERT_EQ(Lines(json.out).size(), 3u);
  for (const std::string& line : Lines(json.out)) EXPECT_THAT(line, HasSubstr(want_json));
  RunResult dsse = Replay(node_, "dsse");
  ASSERT_EQ(dsse.exit_code, 0) << dsse;
  for (const std::string& line : Lines(dsse.out)) {
    EXPECT_EQ(SignedLabels(line), UnsortedLabels());
  }
}

TEST_F(CliAgainstNodeTest, RefusedPublishStoresNothing) {
  Publish("the only alert");
  ASSERT_EQ(Lines(Replay(node_, "json").out).size(), 1u);

  // Refused by the CLI before it dials: usage errors, exit 2.
  RunResult r = Wf({"publish", node_.flag(), "--severity", "extreme", "--category",
                    "dns.hijack", "--tlp", "green", "--title", "t"});
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_THAT(r.out, IsEmpty());
  EXPECT_EQ(r.err,
            "error: severity \"extreme\" is unknown; use info, low, medium, "
            "high or critical\n");
  // The node's validator, run by the CLI: the same words the node would use.
  r = Wf({"publish", node_.flag(), "--severity", "high", "--category",
          "DNS Hijack", "--tlp", "green", "--title", "t"});
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_THAT(r.err, StartsWith("error: category \"DNS Hijack\" is invalid"));
  // A JSON draft with a key the CLI does not know.
  r = Wf({"publish", node_.flag(), "--json", "-"},
         R"({"severity": "high", "category": "dns.hijack", "tlp": "green", "title": "t", "sevrity": "low"})");
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_THAT(r.err, StartsWith("error: alert JSON: sevrity: unknown key"));
  // A sealed TLP without recipients is a draft error, caught before dialing.
  r = Wf({"publish", node_.flag(), "--severity", "high", "--category",
          "dns.hijack", "--tlp", "red", "--title", "t"});
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_THAT(r.err, StartsWith("error: a TLP AMBER+STRICT or RED alert needs recipients"));
  // With recipients, sealing is the node's capability: this one is not in a
  // federation, and says so (exit 1).
  r = Wf({"publish", node_.flag(), "--severity", "high", "--category",
          "dns.hijack", "--tlp", "red", "--to", "m2.example", "--title", "t"});
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_THAT(r.err, HasSubstr("not in a federation"));
  // Recipients on a clear TLP are a draft error.
  r = Wf({"publish", node_.flag(), "--severity", "high", "--category",
          "dns.hijack", "--tlp", "amber", "--to", "m2.example", "--title", "t"});
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_THAT(r.err, StartsWith("error: recipients are only for TLP AMBER+STRICT and RED"));

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

TEST_F(CliAgainstNodeTest, GetWithMalformedIdIsAUsageErrorAndUnknownIdExitsOne) {
  Publish("one");
  RunResult r = Wf({"get", node_.flag(), "xyz"});
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_THAT(r.out, IsEmpty());
  EXPECT_EQ(r.err,
            "error: alert id \"xyz\" is not 64 lowercase hex characters; copy it from "
            "'publish' or 'subscribe' output\n");

  const std::string upper(64, 'A');
  r = Wf({"get", node_.flag(), upper});
  EXPECT_EQ(r.exit_code, 2) << r;
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
