// Test fixtures for federations: a TestFederation mints N members (member
// keys, member CAs, node keys and certificates, client certificates), a
// genesis roster signed by a majority, and node configs, all as real files in
// a TempDir, then runs the nodes over real mutual TLS on 127.0.0.1, either in
// this process (NodeServer) or as `watchfloor node` child processes (so a
// node can be SIGKILLed). A TcpProxy per directed node->node link (through
// federation.dial_overrides) lets a test cut any set of links.
//
// Everything is real: SQLite files, gRPC, TLS handshakes, sockets. Nothing is
// mocked.
#ifndef WATCHFLOOR_TESTS_FEDERATION_UTIL_H_
#define WATCHFLOOR_TESTS_FEDERATION_UTIL_H_

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "certs/encryption_key.h"
#include "certs/keys.h"
#include "certs/roster.h"
#include "certs/x509.h"
#include "grpcpp/channel.h"
#include "grpcpp/support/status.h"
#include "gtest/gtest.h"
#include "node/node_server.h"
#include "tests/test_util.h"
#include "watchfloor/v1/config.pb.h"
#include "watchfloor/v1/federation.grpc.pb.h"
#include "watchfloor/v1/node.grpc.pb.h"
#include "watchfloor/v1/roster.pb.h"

namespace watchfloor::testing {

// Polls `done` every `poll` until it returns true or `timeout` passes.
// Returns whether it became true. The predicate runs on the caller's thread.
bool WaitUntil(const std::function<bool()>& done, absl::Duration timeout,
               absl::Duration poll = absl::Milliseconds(20));

// A userspace TCP proxy on 127.0.0.1:<ephemeral> forwarding every connection
// to 127.0.0.1:`target_port`. Block() closes the connections it carries and
// drops new ones (accepted, then closed at once) until Unblock(): a network
// partition of that one direction, as the dialer sees it. Threads: one
// acceptor, one pump per connection. All methods are thread-safe.
class TcpProxy {
 public:
  explicit TcpProxy(int target_port);
  ~TcpProxy();
  TcpProxy(const TcpProxy&) = delete;
  TcpProxy& operator=(const TcpProxy&) = delete;

  // False if the listening socket could not be set up.
  bool ok() const { return listen_fd_ >= 0; }
  int port() const { return port_; }
  std::string address() const;

  void Block();
  void Unblock();
  bool blocked() const { return blocked_.load(); }
  // Connections forwarded so far / dropped while blocked.
  uint64_t forwarded() const { return forwarded_.load(); }
  uint64_t dropped() const { return dropped_.load(); }

 private:
  void AcceptLoop();
  void Pump(int a, int b);
  void Forget(int fd);

  const int target_port_;
  int listen_fd_ = -1;
  int port_ = 0;
  int wake_[2] = {-1, -1};
  std::atomic<bool> blocked_{false};
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> forwarded_{0};
  std::atomic<uint64_t> dropped_{0};
  std::mutex mu_;
  std::set<int> open_;                // connection sockets, both ends
  std::vector<std::thread> pumps_;    // joined on destruction
  std::thread acceptor_;
};

// One member of a TestFederation: one node ("<member>/n1") and one client
// ("<member>/client/operator"). Paths are absolute, inside the TempDir.
struct FederationMember {
  std::string name;    // "m0.test"
  std::string node;    // "n1"
  std::string origin;  // "m0.test/n1"
  std::string dir;     // <tmp>/<name>
  int port = 0;        // the node's listen port (its roster endpoint)

  std::unique_ptr<certs::SigningKey> member_key;   // signs rosters
  std::unique_ptr<certs::SigningKey> signing_key;  // the node's alert key
  // The node's X25519 key that sealed alerts are wrapped to.
  std::unique_ptr<certs::EncryptionKey> encryption_key;
  certs::KeyAndCert ca;
  certs::KeyAndCert node_tls;
  certs::KeyAndCert client_tls;

  std::string member_key_file;
  std::string signing_key_file;  // mode 0600
  std::string encryption_key_file;  // mode 0600
  std::string ca_key_file, ca_cert_file;
  std::string node_key_file, node_cert_file;      // mode 0600 key
  std::string client_key_file, client_cert_file;  // mode 0600 key
  std::string config_file;  // multi-process: the text config written there
  std::string log_file;     // multi-process: the node's stdout/stderr
  std::string data_dir;

  std::string endpoint() const;  // "127.0.0.1:<port>"
  std::string dns_name() const;  // certs::NodeDnsName(name, node)
};

struct FederationOptions {
  int members = 3;
  // Roster threshold; 0 means a majority (members / 2 + 1).
  int threshold = 0;
  // federation.anti_entropy_interval_ms of every node.
  uint32_t anti_entropy_interval_ms = 300;
  uint32_t eager_fanout = 0;      // 0: the node's default
  uint32_t graft_timeout_ms = 0;  // 0: the node's default
  // Route every directed node->node link through its own TcpProxy.
  bool proxies = false;
  // Run nodes as `watchfloor node --config` child processes.
  bool multi_process = false;
  // How many of the members (the first ones) the genesis roster lists; 0:
  // all. The others are minted (keys, CA, certificates, config) but stay
  // outside the federation until a roster version admits them.
  int roster_members = 0;
  // The genesis roster's expires, relative to now; zero: none. Negative: it
  // has expired before the nodes start (issued_at is moved back before it).
  absl::Duration roster_expires_in = absl::ZeroDuration();
  // Every node gets an encryption key (always minted): listed in the roster
  // as encryption_key_pem and configured as encryption_key_file. False: in
  // neither, as for nodes from before sealed alerts.
  bool encryption_keys = true;
};

class TestFederation {
 public:
  // Mints everything and writes every file; starts nothing. Failures are
  // reported with ADD_FAILURE and leave ok() false.
  explicit TestFederation(FederationOptions options);
  ~TestFederation();  // stops every node (SIGKILL for child processes)
  TestFederation(const TestFederation&) = delete;
  TestFederation& operator=(const TestFederation&) = delete;

  bool ok() const { return ok_; }
  int size() const { return static_cast<int>(members_.size()); }
  const FederationOptions& options() const { return options_; }
  const TempDir& dir() const { return dir_; }
  FederationMember& member(int i) { return *members_[i]; }
  const std::string& origin(int i) const { return members_[i]->origin; }
  int IndexOf(const std::string& origin) const;  // -1 if none

  // The roster as verified, its file, and helpers to build other rosters
  // from the same members (for tests of roster rules).
  const certs::Roster& roster() const { return *roster_; }
  const std::string& roster_file() const { return roster_file_; }
  const watchfloor::v1::Roster& roster_proto() const { return roster_proto_; }
  // The roster_proto() draft signed by the member keys of `signers`.
  absl::StatusOr<watchfloor::v1::Envelope> SignedRoster(
      const std::vector<int>& signers) const;

  // The NodeConfig node i is (re)started with; tests may edit it first.
  watchfloor::v1::NodeConfig& config(int i) { return configs_[i]; }

  // Starts node i (in-process or a child process) and waits until it answers
  // GetIdentity over mutual TLS. Returns the start error otherwise.
  absl::Status StartNode(int i);
  absl::Status StartAll();
  // Graceful stop (in-process: destroys the NodeServer; child: SIGTERM and
  // wait). Pending gossip sends of that node are dropped.
  void StopNode(int i);
  // Multi-process only: SIGKILL, then reap. Nothing in the node gets to run.
  void KillNode(int i);
  bool running(int i) const;
  // Multi-process only: node i's process id, 0 if it is not running.
  pid_t pid(int i) const { return pids_[i]; }
  // In-process only: the running server, or nullptr.
  node::NodeServer* server(int i) { return servers_[i].get(); }
  federation::Gossip* gossip(int i) {
    return servers_[i] == nullptr ? nullptr : servers_[i]->gossip();
  }

  // A Node stub at node `node` presenting member `as_member`'s client
  // certificate (default: the node's own member). Cached per pair.
  watchfloor::v1::Node::Stub* Client(int node, int as_member = -1);
  // A Federation stub at node `target` presenting node `as_node`'s node
  // certificate: a raw peer, for attack tests. Fresh channel each call.
  std::unique_ptr<watchfloor::v1::Federation::Stub> PeerStub(int as_node,
                                                             int target);
  // A fresh channel to node `target` over TLS trusting the roster CAs and
  // checking the node's DNS name, presenting `identity` (nullptr: no client
  // certificate). For mTLS tests.
  std::shared_ptr<grpc::Channel> ChannelAs(const certs::KeyAndCert* identity,
                                           int target) const;

  // Publishes through node i with its member's client. Sets *out if given.
  grpc::Status Publish(int node, const watchfloor::v1::Alert& draft,
                       watchfloor::v1::PublishResponse* out = nullptr);

  // Read from node i's SQLite file directly (works while it runs, in-process
  // or not). -1 if the file cannot be read.
  int64_t StoredAlertCount(int i) const;
  int64_t StoredEvidenceCount(int i) const;
  int64_t StoredCosignatureCount(int i) const;
  int64_t EvidenceCountFor(int i, const std::string& origin) const;
  std::set<std::string> StoredIds(int i) const;
  // OK iff every origin's stored sequences are exactly 1..max. Otherwise
  // DATA_LOSS naming the first origin that is not.
  absl::Status CheckFeedsContiguous(int i) const;
  std::string db_path(int i) const;

  // True once every node in `nodes` (default: all) stores exactly `count`
  // alerts.
  bool AllHaveCount(int64_t count, const std::vector<int>& nodes = {}) const;
  // Waits until every node in `nodes` (default: all) stores every id in
  // `ids`. On timeout, says which node misses how many.
  ::testing::AssertionResult WaitForIds(const std::set<std::string>& ids,
                                        absl::Duration timeout,
                                        const std::vector<int>& nodes = {});

  // The proxy of link from->to (options().proxies only), else nullptr.
  TcpProxy* proxy(int from, int to);
  // Blocks every link between a node of `a` and a node of `b`, both
  // directions.
  void Partition(const std::vector<int>& a, const std::vector<int>& b);
  // Unblocks every proxy.
  void Heal();

  // Last lines of a child node's log (multi-process mode).
  std::string LogTail(int i) const;

 private:
  absl::Status Mint();
  absl::Status WriteConfigs();
  absl::Status StartChild(int i);
  bool WaitServing(int i, absl::Duration timeout);

  const FederationOptions options_;
  TempDir dir_;
  bool ok_ = false;
  std::vector<std::unique_ptr<FederationMember>> members_;
  watchfloor::v1::Roster roster_proto_;
  std::optional<certs::Roster> roster_;
  std::string roster_file_;
  std::vector<watchfloor::v1::NodeConfig> configs_;
  std::vector<std::unique_ptr<node::NodeServer>> servers_;
  std::vector<pid_t> pids_;
  std::map<std::pair<int, int>, std::unique_ptr<TcpProxy>> proxies_;
  mutable std::mutex clients_mu_;
  std::map<std::pair<int, int>, std::unique_ptr<watchfloor::v1::Node::Stub>>
      clients_;
};

// A signed envelope of `alert` by `key` (DSSE, the alert payload type).
watchfloor::v1::Envelope SignAlert(const watchfloor::v1::Alert& alert,
                                   const certs::SigningKey& key);

// The alert inside an envelope (empty on a parse failure).
watchfloor::v1::Alert AlertOf(const watchfloor::v1::Envelope& envelope);

// Sum over nodes of Gossip stats (in-process only).
struct GossipTotals {
  uint64_t received_new = 0;
  uint64_t received_dup = 0;
  uint64_t refused = 0;
};
GossipTotals SumGossipStats(TestFederation& fed);

}  // namespace watchfloor::testing

#endif  // WATCHFLOOR_TESTS_FEDERATION_UTIL_H_
