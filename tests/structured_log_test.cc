// A real `watchfloor node` process and its stderr: every line is one JSON
// object (or one logfmt record) with time, level, component and event first;
// --log-level filters; --log-format and the flags override the config's
// logging section; bad values stop the command before anything starts; and
// neither the signing key nor an alert's content ever reaches the log.
//
// Events driven: start, a publish (debug: alert_published), two requests
// that do not parse (one of them invalid UTF-8, which libprotobuf would
// otherwise log on its own), SIGTERM; once more with gRPC's own debug
// messages switched on.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "certs/keys.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/impl/codegen/client_unary_call.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"
#include "watchfloor/v1/node.grpc.pb.h"

namespace watchfloor::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::StartsWith;

// What one log line says, whichever the format.
struct Record {
  std::string raw;
  std::vector<std::string> keys;              // in the order written
  std::map<std::string, std::string> values;  // strings unquoted, numbers as written
  std::string Get(const std::string& key) const {
    auto it = values.find(key);
    return it == values.end() ? std::string() : it->second;
  }
};

// The four keys every line starts with, in this order.
const std::vector<std::string> kFixedKeys = {"time", "level", "component", "event"};

// Parses `line` as a JSON object with a real JSON parser (protobuf's, into a
// google.protobuf.Struct); the key order is read off the raw line.
std::optional<Record> ParseJson(const std::string& line) {
  google::protobuf::Struct object;
  if (!google::protobuf::util::JsonStringToMessage(line, &object).ok()) return std::nullopt;
  Record r;
  r.raw = line;
  for (const auto& [key, value] : object.fields()) {
    switch (value.kind_case()) {
      case google::protobuf::Value::kStringValue:
        r.values[key] = value.string_value();
        break;
      case google::protobuf::Value::kNumberValue:
        r.values[key] = absl::StrCat(static_cast<int64_t>(value.number_value()));
        break;
      case google::protobuf::Value::kBoolValue:
        r.values[key] = value.bool_value() ? "true" : "false";
        break;
      default:
        return std::nullopt;  // the log writes no objects, lists or nulls
    }
  }
  // Keys in written order: the strings at depth 1 followed by ':' (the
  // parse above has checked the syntax; values hold no objects).
  bool in_string = false;
  std::string current;
  for (size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (in_string) {
      if (c == '\\') {
        current.push_back(line[++i]);  // the key's escaped character, roughly
      } else if (c == '"') {
        in_string = false;
        if (i + 1 < line.size() && line[i + 1] == ':') r.keys.push_back(current);
      } else {
        current.push_back(c);
      }
    } else if (c == '"') {
      in_string = true;
      current.clear();
    }
  }
  if (r.keys.size() != r.values.size()) return std::nullopt;
  return r;
}

// A strict logfmt reader: key=value pairs separated by one space; a value is
// bare (no space, '"', '=' or '\') or quoted with \" \\ \n \r \t \u00XX.
std::optional<Record> ParseLogfmt(const std::string& line) {
  Record r;
  r.raw = line;
  size_t i = 0;
  while (i < line.size()) {
    const size_t eq = line.find('=', i);
    if (eq == std::string::npos || eq == i) return std::nullopt;
    const std::string key = line.substr(i, eq - i);
    for (char c : key) {
      if (!(absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' ||
            c == '-')) {
        return std::nullopt;
      }
    }
    i = eq + 1;
    std::string value;
    if (i < line.size() && line[i] == '"') {
      ++i;
      bool closed = false;
      while (i < line.size()) {
        const char c = line[i++];
        if (c == '"') {
          closed = true;
          break;
        }
        if (static_cast<unsigned char>(c) < 0x20) return std::nullopt;
        if (c != '\\') {
          value.push_back(c);
          continue;
        }
        if (i >= line.size()) return std::nullopt;
        const char e = line[i++];
        if (e == '"' || e == '\\') value.push_back(e);
        else if (e == 'n') value.push_back('\n');
        else if (e == 'r') value.push_back('\r');
        else if (e == 't') value.push_back('\t');
        else if (e == 'u' && i + 4 <= line.size() && line.compare(i, 2, "00") == 0) {
          int code = 0;
          if (!absl::SimpleHexAtoi(line.substr(i + 2, 2), &code)) return std::nullopt;
          value.push_back(static_cast<char>(code));
          i += 4;
        } else {
          return std::nullopt;
        }
      }
      if (!closed) return std::nullopt;
    } else {
      const size_t end = std::min(line.find(' ', i), line.size());
      value = line.substr(i, end - i);
      if (value.empty() || value.find_first_of("\"=\\") != std::string::npos) return std::nullopt;
      i = end;
    }
    if (r.values.count(key) != 0) return std::nullopt;  // one value per key
    r.keys.push_back(key);
    r.values[key] = value;
    if (i == line.size()) break;
    if (line[i] != ' ' || i + 1 == line.size()) return std::nullopt;
    ++i;
  }
  if (r.keys.empty()) return std::nullopt;
  return r;
}

// Checks what every line must have; returns the records.
std::vector<Record> ParseAll(const std::string& text, bool json) {
  std::vector<Record> records;
  EXPECT_TRUE(text.empty() || text.back() == '\n') << "the last line is whole";
  for (absl::string_view l : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    const std::string line(l);
    std::optional<Record> r = json ? ParseJson(line) : ParseLogfmt(line);
    if (!r.has_value()) {
      ADD_FAILURE() << "not a " << (json ? "JSON object" : "logfmt record") << ": " << line;
      continue;
    }
    EXPECT_GE(r->keys.size(), 4u) << line;
    if (r->keys.size() >= 4) {
      EXPECT_EQ(std::vector<std::string>(r->keys.begin(), r->keys.begin() + 4), kFixedKeys)
          << line;
    }
    EXPECT_THAT(r->Get("time"),
                MatchesRegex("[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z"))
        << line;
    EXPECT_THAT(r->Get("level"), MatchesRegex("debug|info|warn|error")) << line;
    EXPECT_THAT(r->Get("component"), MatchesRegex("[a-z_]+")) << line;
    EXPECT_THAT(r->Get("event"), MatchesRegex("[a-z_]+")) << line;
    records.push_back(*std::move(r));
  }
  return records;
}

std::vector<Record> WithEvent(const std::vector<Record>& records, const std::string& event) {
  std::vector<Record> out;
  for (const Record& r : records) {
    if (r.Get("event") == event) out.push_back(r);
  }
  return out;
}

// A raw unary call with `bytes` as the request.
grpc::Status RawCall(grpc::ChannelInterface* channel, const std::string& path,
                     const std::string& bytes) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::Slice slice(bytes);
  grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer response;
  return grpc::internal::BlockingUnaryCall<grpc::ByteBuffer, grpc::ByteBuffer>(
      channel, grpc::internal::RpcMethod(path.c_str(), grpc::internal::RpcMethod::NORMAL_RPC),
      &ctx, request, &response);
}

// Words no log line may contain: the alert published below carries them.
constexpr char kTitle[] = "Resolver hijack seen from AS64500 zebra-quartz-title";
constexpr char kDescription[] = "Sealed analyst notes: violet-anchor-description";

class StructuredLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // A known seed, so that the test knows every form of the secret.
    seed_ = std::string(32, '\0');
    for (size_t i = 0; i < seed_.size(); ++i) seed_[i] = static_cast<char>(0xA5 ^ (i * 37));
    absl::StatusOr<certs::SigningKey> key = certs::SigningKey::FromSeed(seed_);
    ASSERT_TRUE(key.ok()) << key.status();
    ASSERT_TRUE(key->SavePemFile(key_path()).ok());
    key_pem_ = ReadFileOrDie(key_path());
  }

  void TearDown() override {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }

  std::string key_path() const { return dir_.Join("signing.key"); }
  std::string out_path() const { return dir_.Join("node.out"); }
  std::string err_path() const { return dir_.Join("node.err"); }
  std::string data_dir() const { return dir_.Join("data"); }

  void WriteConfig(const std::string& extra) {
    WriteFile(dir_.Join("node.conf"),
              absl::StrCat("origin: \"example.cz/n1\"\nlisten_address: \"127.0.0.1:0\"\n",
                           "data_dir: \"", data_dir(), "\"\nsigning_key_file: \"", key_path(),
                           "\"\ninsecure_plaintext_loopback: true\n", extra));
  }

  // Starts `watchfloor node --config node.conf <flags>` with stdout and
  // stderr in files of their own; returns the address it listens on.
  // `grpc_verbosity`, if not empty, is the child's GRPC_VERBOSITY.
  std::string StartNode(const std::vector<std::string>& flags,
                        const std::string& grpc_verbosity = "") {
    const std::string bin = WatchfloorBinary();
    const std::string conf = dir_.Join("node.conf");
    std::vector<std::string> argv = {bin, "node", "--config", conf};
    argv.insert(argv.end(), flags.begin(), flags.end());
    std::vector<char*> args;
    for (std::string& a : argv) args.push_back(a.data());
    args.push_back(nullptr);
    pid_ = fork();
    if (pid_ == 0) {
      const int out = open(out_path().c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      const int err = open(err_path().c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      dup2(out, STDOUT_FILENO);
      dup2(err, STDERR_FILENO);
      if (!grpc_verbosity.empty()) setenv("GRPC_VERBOSITY", grpc_verbosity.c_str(), 1);
      execv(args[0], args.data());
      _exit(127);
    }
    for (int i = 0; i < 300; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      const std::string out = ReadFile(out_path());
      const size_t at = out.find(" listening on ");
      if (at != std::string::npos) {
        const size_t start = at + 14;
        return out.substr(start, out.find(' ', start) - start);
      }
      int status;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        ADD_FAILURE() << "node exited; stderr:\n" << ReadFile(err_path());
        return "";
      }
    }
    ADD_FAILURE() << "node did not start; stderr:\n" << ReadFile(err_path());
    return "";
  }

  // SIGTERM; the exit code.
  int StopNode() {
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }

  static std::string ReadFile(const std::string& path) {
    if (!std::filesystem::exists(path)) return "";
    return ReadFileOrDie(path);
  }

  // Publishes the alert with kTitle and kDescription (OK), then sends two
  // requests that do not parse (INVALID_ARGUMENT each).
  void DriveEvents(const std::string& address) {
    auto channel = grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
    auto stub = v1::Node::NewStub(channel);
    v1::PublishRequest request;
    *request.mutable_alert() = SampleDraft(1);
    request.mutable_alert()->set_title(kTitle);
    request.mutable_alert()->set_description(kDescription);
    v1::PublishResponse response;
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub->Publish(&ctx, request, &response).ok());
    published_id_ = response.id();
    // Random bytes; then an alert whose title (field 8) is not UTF-8.
    EXPECT_EQ(RawCall(channel.get(), "/watchfloor.v1.Node/Publish", "\xff\xff\xff\x07garbage")
                  .error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_EQ(RawCall(channel.get(), "/watchfloor.v1.Node/Publish",
                      std::string("\x0a\x04\x42\x02\xff\xfe", 6))
                  .error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
  }

  // No form of the signing key and none of the alert's words, anywhere the
  // node wrote.
  void ExpectNoSecrets(const std::string& text) {
    std::vector<std::string> secrets = {kTitle, kDescription, "zebra-quartz", "violet-anchor",
                                        absl::BytesToHexString(seed_),
                                        absl::Base64Escape(seed_)};
    for (absl::string_view l : absl::StrSplit(key_pem_, '\n', absl::SkipEmpty())) {
      if (!absl::StartsWith(l, "-----")) secrets.emplace_back(l);  // the base64 lines
    }
    for (const std::string& s : secrets) {
      EXPECT_EQ(text.find(s), std::string::npos) << "the log contains " << s;
    }
  }

  TempDir dir_;
  std::string seed_;
  std::string key_pem_;
  std::string published_id_;
  pid_t pid_ = -1;
};

TEST_F(StructuredLogTest, JsonAtDebugIsOneObjectPerLineWithEveryEventAndNoSecrets) {
  WriteConfig("");
  const std::string address = StartNode({"--log-level", "debug", "--log-format", "json"});
  ASSERT_FALSE(address.empty());
  DriveEvents(address);
  ASSERT_EQ(StopNode(), 0);

  const std::string err = ReadFile(err_path());
  std::vector<Record> records = ParseAll(err, /*json=*/true);
  EXPECT_THAT(err, ::testing::Not(HasSubstr("libprotobuf")));

  std::vector<Record> started = WithEvent(records, "node_started");
  ASSERT_EQ(started.size(), 1u) << err;
  EXPECT_EQ(started[0].Get("level"), "info");
  EXPECT_EQ(started[0].Get("component"), "node");
  EXPECT_EQ(started[0].Get("origin"), "example.cz/n1");
  EXPECT_EQ(started[0].Get("address"), address);
  EXPECT_EQ(started[0].Get("transport"), "plaintext");
  EXPECT_EQ(started[0].Get("log_level"), "debug");
  EXPECT_EQ(started[0].Get("federation"), "false");

  std::vector<Record> published = WithEvent(records, "alert_published");
  ASSERT_EQ(published.size(), 1u) << err;
  EXPECT_EQ(published[0].Get("level"), "debug");
  EXPECT_EQ(published[0].Get("id"), published_id_);
  EXPECT_EQ(published[0].Get("sequence"), "1");

  // One line per request that did not parse, and nothing from libprotobuf
  // above debug.
  std::vector<Record> refused = WithEvent(records, "request_refused");
  ASSERT_EQ(refused.size(), 2u) << err;
  for (const Record& r : refused) {
    EXPECT_EQ(r.Get("level"), "warn");
    EXPECT_EQ(r.Get("rpc"), "watchfloor.v1.Node/Publish");
    EXPECT_EQ(r.Get("code"), "INVALID_ARGUMENT");
    EXPECT_THAT(r.Get("peer"), StartsWith("ipv4:127.0.0.1:"));
    EXPECT_THAT(r.Get("reason"),
                StartsWith("request could not be parsed as watchfloor.v1.PublishRequest: "));
  }
  EXPECT_EQ(refused[1].Get("reason"),
            "request could not be parsed as watchfloor.v1.PublishRequest: alert.title: "
            "invalid UTF-8 in a string field");
  for (const Record& r : records) {
    if (r.Get("component") == "protobuf") {
      EXPECT_EQ(r.Get("level"), "debug") << r.raw;
    }
  }

  std::vector<Record> stopping = WithEvent(records, "node_stopping");
  ASSERT_EQ(stopping.size(), 1u) << err;
  EXPECT_EQ(stopping[0].Get("signal"), "SIGTERM");
  ASSERT_EQ(WithEvent(records, "node_stopped").size(), 1u) << err;
  EXPECT_EQ(records.back().Get("event"), "node_stopped");

  ExpectNoSecrets(err);
  ExpectNoSecrets(ReadFile(out_path()));
}

TEST_F(StructuredLogTest, FlagsOverrideTheConfigAndWarnSuppressesInfoAndDebug) {
  // The config asks for debug JSON; the flags for warn logfmt.
  WriteConfig("logging { level: \"debug\" format: \"json\" }\n");
  const std::string address = StartNode({"--log-level=warn", "--log-format=logfmt"});
  ASSERT_FALSE(address.empty());
  DriveEvents(address);
  ASSERT_EQ(StopNode(), 0);

  const std::string err = ReadFile(err_path());
  std::vector<Record> records = ParseAll(err, /*json=*/false);
  std::vector<std::string> events;
  for (const Record& r : records) {
    EXPECT_THAT(r.Get("level"), MatchesRegex("warn|error")) << r.raw;
    events.push_back(r.Get("event"));
  }
  // Exactly the two refusals: no node_started, alert_published, node_stopped.
  EXPECT_EQ(events, (std::vector<std::string>{"request_refused", "request_refused"})) << err;
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[1].Get("reason"),
            "request could not be parsed as watchfloor.v1.PublishRequest: alert.title: "
            "invalid UTF-8 in a string field");
  EXPECT_THAT(records[1].raw,
              HasSubstr(" rpc=watchfloor.v1.Node/Publish peer=ipv4:127.0.0.1:"));
  ExpectNoSecrets(err);
}

TEST_F(StructuredLogTest, TheConfigsLoggingSectionAppliesWithoutFlags) {
  WriteConfig("logging { format: \"logfmt\" }\n");
  const std::string address = StartNode({});
  ASSERT_FALSE(address.empty());
  ASSERT_EQ(StopNode(), 0);
  const std::string err = ReadFile(err_path());
  std::vector<Record> records = ParseAll(err, /*json=*/false);
  std::vector<std::string> events;
  for (const Record& r : records) events.push_back(r.Get("event"));
  EXPECT_EQ(events, (std::vector<std::string>{"node_started", "node_stopping", "node_stopped"}))
      << err;
  ASSERT_FALSE(records.empty());
  EXPECT_EQ(records[0].Get("log_level"), "info");
}

// With GRPC_VERBOSITY=DEBUG gRPC talks a lot; every word of it arrives as a
// grpc_log line at its level, none as raw text.
TEST_F(StructuredLogTest, GrpcsOwnMessagesAreLogLinesToo) {
  WriteConfig("");
  const std::string address = StartNode({"--log-level", "debug"}, "DEBUG");
  ASSERT_FALSE(address.empty());
  DriveEvents(address);
  ASSERT_EQ(StopNode(), 0);
  const std::string err = ReadFile(err_path());
  std::vector<Record> records = ParseAll(err, /*json=*/true);
  std::vector<Record> grpc = WithEvent(records, "grpc_log");
  ASSERT_FALSE(grpc.empty()) << err;
  for (const Record& r : grpc) {
    EXPECT_EQ(r.Get("component"), "grpc");
    EXPECT_THAT(r.Get("level"), MatchesRegex("debug|info|warn")) << r.raw;
    EXPECT_THAT(r.Get("source"), MatchesRegex("[A-Za-z0-9_.-]+\\.(cc|c|h):[0-9]+")) << r.raw;
    EXPECT_FALSE(r.Get("message").empty()) << r.raw;
  }
  EXPECT_EQ(WithEvent(records, "request_refused").size(), 2u);
  ExpectNoSecrets(err);
}

// Bad values: exit code 2 for a flag, 1 for the config, the allowed values
// named, and nothing started or created.
TEST_F(StructuredLogTest, BadLevelOrFormatStopsTheCommandBeforeAnythingStarts) {
  WriteConfig("");
  struct Case {
    std::vector<std::string> flags;
    std::string config;
    int exit_code;
    std::string err;
  };
  const std::string conf = dir_.Join("node.conf");
  const std::vector<Case> cases = {
      {{"--log-level", "verbose"}, "", 2,
       "error: flag --log-level: log level \"verbose\" is not one of debug, info, warn, error; "
       "see 'watchfloor node --help'\n"},
      {{"--log-level=WARN"}, "", 2,
       "error: flag --log-level: log level \"WARN\" is not one of debug, info, warn, error; "
       "see 'watchfloor node --help'\n"},
      {{"--log-format", "text"}, "", 2,
       "error: flag --log-format: log format \"text\" is not one of json, logfmt; "
       "see 'watchfloor node --help'\n"},
      {{}, "logging { level: \"trace\" }\n", 1,
       absl::StrCat("error: ", conf, ": config: logging.level: log level \"trace\" is not one "
                    "of debug, info, warn, error\n")},
      {{"--log-level", "warn"}, "logging { format: \"xml\" }\n", 1,
       absl::StrCat("error: ", conf, ": config: logging.format: log format \"xml\" is not one "
                    "of json, logfmt\n")},
  };
  for (const Case& c : cases) {
    WriteConfig(c.config);
    const std::string bin = WatchfloorBinary();
    std::string cmd = absl::StrCat("'", bin, "' node --config '", conf, "'");
    for (const std::string& f : c.flags) absl::StrAppend(&cmd, " '", f, "'");
    absl::StrAppend(&cmd, " >'", out_path(), "' 2>'", err_path(), "'");
    const int status = std::system(cmd.c_str());
    ASSERT_TRUE(WIFEXITED(status)) << cmd;
    EXPECT_EQ(WEXITSTATUS(status), c.exit_code) << cmd;
    EXPECT_EQ(ReadFile(err_path()), c.err) << cmd;
    EXPECT_EQ(ReadFile(out_path()), "") << cmd;
    EXPECT_FALSE(std::filesystem::exists(data_dir())) << cmd;
  }
}

}  // namespace
}  // namespace watchfloor::testing
