// Shared helpers for tests: temporary directories, sample drafts, and a real
// node (SQLite file, gRPC server on 127.0.0.1 port 0) running in-process.
#ifndef WATCHFLOOR_TESTS_TEST_UTIL_H_
#define WATCHFLOOR_TESTS_TEST_UTIL_H_

#include <memory>
#include <string>

#include "certs/keys.h"
#include "node/clock.h"
#include "node/node_server.h"
#include "watchfloor/v1/alert.pb.h"
#include "watchfloor/v1/config.pb.h"
#include "watchfloor/v1/node.grpc.pb.h"

namespace watchfloor::testing {

// A fresh directory under $TEST_TMPDIR or /tmp, removed (recursively) on
// destruction.
class TempDir {
 public:
  TempDir();
  // Under `base` instead (e.g. "/tmp", reachable by other users).
  explicit TempDir(const std::string& base);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string Join(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

// A valid draft: severity high, category dns.hijack, TLP green, a title, one
// domain, one prefix, one ASN. `n` varies the title.
watchfloor::v1::Alert SampleDraft(int n = 0);

// Writes a file with the given contents and mode.
void WriteFile(const std::string& path, const std::string& contents,
               int mode = 0644);
std::string ReadFileOrDie(const std::string& path);

// Path of the built `watchfloor` binary (for multi-process tests).
std::string WatchfloorBinary();

// A loopback TCP port that was free a moment ago (bind 127.0.0.1:0, read the
// port, close). Another process may take it before it is used.
int PickFreePort();

// A real node in this process: fresh key (saved 0600 in the temp dir), SQLite
// data dir, plaintext gRPC on 127.0.0.1:0.
class TestNode {
 public:
  // `origin` defaults to "example.cz/prg1".
  explicit TestNode(const std::string& origin = "example.cz/prg1");
  ~TestNode();

  // (Re)starts the server with `config()` as it is now. Returns its status.
  absl::Status Start();
  void Stop();

  watchfloor::v1::NodeConfig& config() { return config_; }
  node::NodeServer* server() { return server_.get(); }
  std::unique_ptr<watchfloor::v1::Node::Stub> NewStub();
  const certs::SigningKey& key() const { return key_; }
  const TempDir& dir() const { return dir_; }
  node::FakeClock& clock() { return clock_; }
  // Number of stored alerts, read from the SQLite file directly.
  int64_t StoredAlertCount();
  int64_t StoredEvidenceCount();

 private:
  TempDir dir_;
  certs::SigningKey key_;
  watchfloor::v1::NodeConfig config_;
  node::FakeClock clock_;
  std::unique_ptr<node::NodeServer> server_;
};

}  // namespace watchfloor::testing

#endif  // WATCHFLOOR_TESTS_TEST_UTIL_H_
