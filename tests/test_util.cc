#include "tests/test_util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "grpcpp/create_channel.h"
#include "gtest/gtest.h"
#include "node/sqlite_alert_store.h"

namespace watchfloor::testing {
namespace {

int64_t CountRows(const std::string& db_path, const char* table) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    return -1;
  }
  std::string sql = absl::StrCat("SELECT COUNT(*) FROM ", table);
  sqlite3_stmt* st = nullptr;
  int64_t n = -1;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) == SQLITE_OK &&
      sqlite3_step(st) == SQLITE_ROW) {
    n = sqlite3_column_int64(st, 0);
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  return n;
}

}  // namespace

TempDir::TempDir()
    : TempDir(std::getenv("TEST_TMPDIR") != nullptr ? std::getenv("TEST_TMPDIR")
                                                   : "/tmp") {}

TempDir::TempDir(const std::string& base) {
  std::string tmpl = absl::StrCat(base, "/wf-XXXXXX");
  char* made = mkdtemp(tmpl.data());
  if (made == nullptr) std::abort();
  path_ = made;
}

TempDir::~TempDir() {
  std::string cmd = absl::StrCat("chmod -R u+rwx '", path_, "' 2>/dev/null; rm -rf '", path_, "'");
  (void)std::system(cmd.c_str());
}

watchfloor::v1::Alert SampleDraft(int n) {
  watchfloor::v1::Alert a;
  a.set_severity(watchfloor::v1::SEVERITY_HIGH);
  a.set_category("dns.hijack");
  a.set_tlp(watchfloor::v1::TLP_GREEN);
  a.set_title(absl::StrCat("NS records of example.cz changed #", n));
  a.set_description("Observed NS change to ns1.attacker.example at 10:02 UTC.");
  a.add_domains("example.cz");
  a.add_ip_prefixes("192.0.2.0/24");
  a.add_asns(64500);
  return a;
}

void WriteFile(const std::string& path, const std::string& contents, int mode) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << contents;
  out.close();
  chmod(path.c_str(), mode);
}

std::string ReadFileOrDie(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    ADD_FAILURE() << "cannot read " << path;
    return "";
  }
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

int PickFreePort() {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

std::string WatchfloorBinary() {
  const char* env = std::getenv("WATCHFLOOR_BIN");
  if (env != nullptr) return env;
  // CMake: WF_BINARY_DIR is the build tree. Bazel: it is "." and the binary
  // is in the runfiles, relative to the test's cwd. Either way the result is
  // absolute, so tests may run it from another directory.
#ifdef WF_BINARY_DIR
  std::string path = std::string(WF_BINARY_DIR) + "/node/cli/watchfloor";
#else
  std::string path = "node/cli/watchfloor";
#endif
  char cwd[4096];
  if (path[0] != '/' && getcwd(cwd, sizeof(cwd)) != nullptr) {
    path = std::string(cwd) + "/" + path;
  }
  return path;
}

TestNode::TestNode(const std::string& origin)
    : key_(certs::SigningKey::Generate()),
      clock_(absl::FromUnixSeconds(1798761600)) {  // 2027-01-01T00:00:00Z
  std::string key_path = dir_.Join("signing.key");
  absl::Status st = key_.SavePemFile(key_path);
  if (!st.ok()) ADD_FAILURE() << st;
  config_.set_origin(origin);
  config_.set_listen_address("127.0.0.1:0");
  config_.set_data_dir(dir_.Join("data"));
  config_.set_signing_key_file(key_path);
  config_.set_insecure_plaintext_loopback(true);
}

TestNode::~TestNode() { Stop(); }

absl::Status TestNode::Start() {
  Stop();
  auto s = node::NodeServer::Start(config_, &clock_);
  if (!s.ok()) return s.status();
  server_ = std::move(*s);
  return absl::OkStatus();
}

void TestNode::Stop() { server_.reset(); }

std::unique_ptr<watchfloor::v1::Node::Stub> TestNode::NewStub() {
  return watchfloor::v1::Node::NewStub(grpc::CreateChannel(
      server_->address(), grpc::InsecureChannelCredentials()));
}

int64_t TestNode::StoredAlertCount() {
  return CountRows(config_.data_dir() + "/" + node::SqliteAlertStore::kFileName,
                   "alerts");
}

int64_t TestNode::StoredEvidenceCount() {
  return CountRows(config_.data_dir() + "/" + node::SqliteAlertStore::kFileName,
                   "evidence");
}

}  // namespace watchfloor::testing
