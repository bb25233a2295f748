#include "tests/federation_util.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "certs/dsse.h"
#include "google/protobuf/text_format.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "node/sqlite_alert_store.h"

namespace watchfloor::testing {

namespace v1 = ::watchfloor::v1;

// ------------------------------------------------------------------ helpers

bool WaitUntil(const std::function<bool()>& done, absl::Duration timeout,
               absl::Duration poll) {
  absl::Time deadline = absl::Now() + timeout;
  for (;;) {
    if (done()) return true;
    if (absl::Now() >= deadline) return false;
    absl::SleepFor(poll);
  }
}

v1::Envelope SignAlert(const v1::Alert& alert, const certs::SigningKey& key) {
  std::string payload;
  alert.SerializeToString(&payload);
  return certs::SignEnvelope(payload, certs::kAlertPayloadType, key);
}

v1::Alert AlertOf(const v1::Envelope& envelope) {
  v1::Alert a;
  if (!a.ParseFromString(envelope.payload())) a.Clear();
  return a;
}

GossipTotals SumGossipStats(TestFederation& fed) {
  GossipTotals t;
  for (int i = 0; i < fed.size(); ++i) {
    federation::Gossip* g = fed.gossip(i);
    if (g == nullptr) continue;
    federation::Gossip::Stats s = g->stats();
    t.received_new += s.received_new;
    t.received_dup += s.received_dup;
    t.refused += s.refused;
  }
  return t;
}

namespace {

// A read-only SQLite connection to a node's store (another connection may
// be writing: WAL mode lets both proceed).
class Db {
 public:
  explicit Db(const std::string& path) {
    if (sqlite3_open_v2(path.c_str(), &db_, SQLITE_OPEN_READONLY, nullptr) !=
        SQLITE_OK) {
      sqlite3_close(db_);
      db_ = nullptr;
      return;
    }
    sqlite3_busy_timeout(db_, 2000);
  }
  ~Db() {
    if (db_ != nullptr) sqlite3_close(db_);
  }
  bool ok() const { return db_ != nullptr; }

  // Runs `sql`, calling `row` for each result row. False on any error.
  bool Query(const std::string& sql, const std::vector<std::string>& binds,
             const std::function<void(sqlite3_stmt*)>& row) {
    if (db_ == nullptr) return false;
    sqlite3_stmt* st = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) {
      sqlite3_finalize(st);
      return false;
    }
    for (size_t i = 0; i < binds.size(); ++i) {
      sqlite3_bind_text(st, static_cast<int>(i + 1), binds[i].c_str(), -1,
                        SQLITE_TRANSIENT);
    }
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) row(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE;
  }

  int64_t Count(const std::string& sql,
                const std::vector<std::string>& binds = {}) {
    int64_t n = -1;
    if (!Query(sql, binds, [&](sqlite3_stmt* st) { n = sqlite3_column_int64(st, 0); })) {
      return -1;
    }
    return n;
  }

 private:
  sqlite3* db_ = nullptr;
};

std::string Text(sqlite3_stmt* st, int col) {
  const unsigned char* p = sqlite3_column_text(st, col);
  return p == nullptr ? std::string() : reinterpret_cast<const char*>(p);
}

int ConnectLoopback(int port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  return fd;
}

bool WriteAll(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

}  // namespace

// ----------------------------------------------------------------- TcpProxy

TcpProxy::TcpProxy(int target_port) : target_port_(target_port) {
  if (pipe2(wake_, O_CLOEXEC) != 0) return;
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return;
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
      listen(fd, 64) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    close(fd);
    return;
  }
  port_ = ntohs(addr.sin_port);
  listen_fd_ = fd;
  acceptor_ = std::thread([this] { AcceptLoop(); });
}

TcpProxy::~TcpProxy() {
  stopping_.store(true);
  if (wake_[1] >= 0) {
    char c = 0;
    (void)!write(wake_[1], &c, 1);
  }
  if (acceptor_.joinable()) acceptor_.join();
  std::vector<std::thread> pumps;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (int fd : open_) shutdown(fd, SHUT_RDWR);
    pumps.swap(pumps_);
  }
  for (std::thread& t : pumps) t.join();
  if (listen_fd_ >= 0) close(listen_fd_);
  for (int fd : wake_) {
    if (fd >= 0) close(fd);
  }
}

std::string TcpProxy::address() const { return absl::StrCat("127.0.0.1:", port_); }

void TcpProxy::Block() {
  blocked_.store(true);
  std::lock_guard<std::mutex> lock(mu_);
  // The pumps see EOF and close both ends.
  for (int fd : open_) shutdown(fd, SHUT_RDWR);
}

void TcpProxy::Unblock() { blocked_.store(false); }

void TcpProxy::AcceptLoop() {
  for (;;) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
    int rc = poll(fds, 2, -1);
    if (stopping_.load()) return;
    if (rc < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if ((fds[0].revents & POLLIN) == 0) continue;
    int client = accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    if (blocked_.load()) {
      ++dropped_;
      close(client);
      continue;
    }
    int upstream = ConnectLoopback(target_port_);
    if (upstream < 0) {  // the target is down: so is this link
      close(client);
      continue;
    }
    int one = 1;
    setsockopt(client, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    ++forwarded_;
    std::lock_guard<std::mutex> lock(mu_);
    open_.insert(client);
    open_.insert(upstream);
    pumps_.emplace_back([this, client, upstream] { Pump(client, upstream); });
  }
}

void TcpProxy::Pump(int a, int b) {
  char buf[64 << 10];
  for (;;) {
    pollfd fds[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
    int rc = poll(fds, 2, 200);
    if (rc < 0 && errno != EINTR) break;
    if (stopping_.load() || blocked_.load()) break;
    bool done = false;
    for (int k = 0; k < 2 && !done; ++k) {
      if (fds[k].revents == 0) continue;
      ssize_t n = recv(fds[k].fd, buf, sizeof(buf), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0 || !WriteAll(fds[1 - k].fd, buf, static_cast<size_t>(n))) {
        done = true;
      }
    }
    if (done) break;
  }
  Forget(a);
  Forget(b);
}

void TcpProxy::Forget(int fd) {
  std::lock_guard<std::mutex> lock(mu_);
  open_.erase(fd);
  close(fd);
}

// -------------------------------------------------------- FederationMember

std::string FederationMember::endpoint() const {
  return absl::StrCat("127.0.0.1:", port);
}

std::string FederationMember::dns_name() const {
  return certs::NodeDnsName(name, node);
}

// ----------------------------------------------------------- TestFederation

TestFederation::TestFederation(FederationOptions options)
    : options_(options) {
  absl::Status st = Mint();
  if (st.ok()) st = WriteConfigs();
  if (!st.ok()) {
    ADD_FAILURE() << "minting the federation failed: " << st;
    return;
  }
  ok_ = true;
}

TestFederation::~TestFederation() {
  for (int i = 0; i < size(); ++i) {
    if (options_.multi_process) {
      KillNode(i);
    } else {
      StopNode(i);
    }
  }
  {
    std::lock_guard<std::mutex> lock(clients_mu_);
    clients_.clear();
  }
  proxies_.clear();
}

int TestFederation::IndexOf(const std::string& origin) const {
  for (int i = 0; i < size(); ++i) {
    if (members_[i]->origin == origin) return i;
  }
  return -1;
}

absl::Status TestFederation::Mint() {
  const int n = options_.members;
  const int listed = options_.roster_members != 0 ? options_.roster_members : n;
  const absl::Time now = absl::Now();
  const absl::Time not_before = now - absl::Hours(1);
  const absl::Time not_after = now + absl::Hours(24);
  roster_proto_.set_federation("test-federation");
  roster_proto_.set_version(1);
  roster_proto_.set_threshold(static_cast<uint32_t>(
      options_.threshold != 0 ? options_.threshold : listed / 2 + 1));
  roster_proto_.mutable_issued_at()->set_seconds(absl::ToUnixSeconds(now));
  if (options_.roster_expires_in != absl::ZeroDuration()) {
    const absl::Time expires = now + options_.roster_expires_in;
    roster_proto_.mutable_expires()->set_seconds(absl::ToUnixSeconds(expires));
    if (expires <= now) {
      roster_proto_.mutable_issued_at()->set_seconds(absl::ToUnixSeconds(expires - absl::Hours(1)));
    }
  }
  std::set<int> ports;
  for (int i = 0; i < n; ++i) {
    auto m = std::make_unique<FederationMember>();
    m->name = absl::StrCat("m", i, ".test");
    m->node = "n1";
    m->origin = absl::StrCat(m->name, "/", m->node);
    m->dir = dir_.Join(m->name);
    if (mkdir(m->dir.c_str(), 0700) != 0) {
      return absl::InternalError(absl::StrCat("mkdir ", m->dir));
    }
    do {
      m->port = PickFreePort();
    } while (m->port == 0 || !ports.insert(m->port).second);
    m->member_key = std::make_unique<certs::SigningKey>(certs::SigningKey::Generate());
    m->signing_key = std::make_unique<certs::SigningKey>(certs::SigningKey::Generate());
    m->member_key_file = m->dir + "/member.key";
    m->signing_key_file = m->dir + "/signing.key";
    m->encryption_key =
        std::make_unique<certs::EncryptionKey>(certs::EncryptionKey::Generate());
    m->encryption_key_file = m->dir + "/encryption.key";
    absl::Status st = m->member_key->SavePemFile(m->member_key_file);
    if (st.ok()) st = m->signing_key->SavePemFile(m->signing_key_file);
    if (st.ok()) st = m->encryption_key->SavePemFile(m->encryption_key_file);
    if (!st.ok()) return st;

    absl::StatusOr<certs::KeyAndCert> ca = certs::MintMemberCa(m->name, not_before, not_after);
    if (!ca.ok()) return ca.status();
    m->ca = *ca;
    absl::StatusOr<certs::KeyAndCert> node_tls =
        certs::MintNodeCert(m->ca, m->name, m->node, not_before, not_after);
    if (!node_tls.ok()) return node_tls.status();
    m->node_tls = *node_tls;
    absl::StatusOr<certs::KeyAndCert> client_tls =
        certs::MintClientCert(m->ca, m->name, "operator", not_before, not_after);
    if (!client_tls.ok()) return client_tls.status();
    m->client_tls = *client_tls;
    m->ca_key_file = m->dir + "/ca.key";
    m->ca_cert_file = m->dir + "/ca.crt";
    m->node_key_file = m->dir + "/node.key";
    m->node_cert_file = m->dir + "/node.crt";
    m->client_key_file = m->dir + "/client.key";
    m->client_cert_file = m->dir + "/client.crt";
    st = certs::SaveKeyAndCert(m->ca, m->ca_key_file, m->ca_cert_file);
    if (st.ok()) st = certs::SaveKeyAndCert(m->node_tls, m->node_key_file, m->node_cert_file);
    if (st.ok()) {
      st = certs::SaveKeyAndCert(m->client_tls, m->client_key_file, m->client_cert_file);
    }
    if (!st.ok()) return st;
    m->config_file = m->dir + "/node.conf";
    m->log_file = m->dir + "/node.log";
    m->data_dir = m->dir + "/data";

    members_.push_back(std::move(m));
    if (i >= listed) continue;
    const FederationMember* mm = members_.back().get();
    v1::RosterMember* rm = roster_proto_.add_members();
    rm->set_name(mm->name);
    rm->set_member_key_pem(mm->member_key->public_key().ToPem());
    rm->set_ca_cert_pem(mm->ca.cert_pem);
    v1::RosterNode* rn = rm->add_nodes();
    rn->set_origin(mm->origin);
    rn->set_signing_key_pem(mm->signing_key->public_key().ToPem());
    if (options_.encryption_keys) {
      rn->set_encryption_key_pem(mm->encryption_key->public_key().ToPem());
    }
    rn->add_endpoints(mm->endpoint());
  }
  std::vector<int> signers;
  for (int i = 0; i < static_cast<int>(roster_proto_.threshold()); ++i) {
    signers.push_back(i);
  }
  absl::StatusOr<v1::Envelope> env = SignedRoster(signers);
  if (!env.ok()) return env.status();
  absl::StatusOr<certs::Roster> roster = certs::Roster::VerifyGenesis(*env);
  if (!roster.ok()) return roster.status();
  roster_ = std::move(*roster);
  roster_file_ = dir_.Join("roster.json");
  WriteFile(roster_file_, certs::EnvelopeToJson(*env), 0644);
  servers_.resize(n);
  pids_.assign(n, 0);
  if (options_.proxies) {
    for (int from = 0; from < n; ++from) {
      for (int to = 0; to < n; ++to) {
        if (from == to) continue;
        auto p = std::make_unique<TcpProxy>(members_[to]->port);
        if (!p->ok()) return absl::InternalError("cannot start a TcpProxy");
        proxies_[{from, to}] = std::move(p);
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::Envelope> TestFederation::SignedRoster(
    const std::vector<int>& signers) const {
  absl::StatusOr<v1::Envelope> env = certs::MakeRosterDraft(roster_proto_);
  if (!env.ok()) return env.status();
  for (int i : signers) {
    env = certs::SignRoster(*env, *members_[i]->member_key);
    if (!env.ok()) return env.status();
  }
  return env;
}

absl::Status TestFederation::WriteConfigs() {
  configs_.clear();
  for (int i = 0; i < size(); ++i) {
    const FederationMember& m = *members_[i];
    v1::NodeConfig c;
    c.set_origin(m.origin);
    c.set_listen_address(m.endpoint());
    c.set_data_dir(m.data_dir);
    c.set_signing_key_file(m.signing_key_file);
    if (options_.encryption_keys) c.set_encryption_key_file(m.encryption_key_file);
    c.mutable_tls()->set_cert_file(m.node_cert_file);
    c.mutable_tls()->set_key_file(m.node_key_file);
    v1::FederationConfig* f = c.mutable_federation();
    f->set_roster_file(roster_file_);
    f->set_anti_entropy_interval_ms(options_.anti_entropy_interval_ms);
    if (options_.eager_fanout != 0) f->set_eager_fanout(options_.eager_fanout);
    if (options_.graft_timeout_ms != 0) f->set_graft_timeout_ms(options_.graft_timeout_ms);
    if (options_.proxies) {
      for (int to = 0; to < size(); ++to) {
        if (to == i) continue;
        v1::DialOverride* d = f->add_dial_overrides();
        d->set_origin(members_[to]->origin);
        d->set_address(proxies_[{i, to}]->address());
      }
    }
    configs_.push_back(std::move(c));
  }
  return absl::OkStatus();
}

absl::Status TestFederation::StartAll() {
  for (int i = 0; i < size(); ++i) {
    absl::Status st = StartNode(i);
    if (!st.ok()) return st;
  }
  return absl::OkStatus();
}

absl::Status TestFederation::StartNode(int i) {
  if (running(i)) StopNode(i);
  if (options_.multi_process) return StartChild(i);
  absl::StatusOr<std::unique_ptr<node::NodeServer>> s =
      node::NodeServer::Start(configs_[i]);
  if (!s.ok()) return s.status();
  servers_[i] = std::move(*s);
  if (!WaitServing(i, absl::Seconds(20))) {
    return absl::DeadlineExceededError(
        absl::StrCat(origin(i), " did not answer GetIdentity over mTLS"));
  }
  return absl::OkStatus();
}

absl::Status TestFederation::StartChild(int i) {
  FederationMember& m = *members_[i];
  std::string text;
  google::protobuf::TextFormat::PrintToString(configs_[i], &text);
  WriteFile(m.config_file, text, 0644);
  std::string bin = WatchfloorBinary();
  std::vector<char*> argv = {bin.data(), const_cast<char*>("node"),
                             const_cast<char*>("--config"), m.config_file.data(),
                             nullptr};
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    int fd = open(m.log_file.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
      dup2(fd, STDOUT_FILENO);
      dup2(fd, STDERR_FILENO);
    }
    int null = open("/dev/null", O_RDONLY);
    if (null >= 0) dup2(null, STDIN_FILENO);
    execv(argv[0], argv.data());
    _exit(127);
  }
  pids_[i] = pid;
  if (!WaitServing(i, absl::Seconds(20))) {
    bool exited = pids_[i] == 0;
    KillNode(i);
    return absl::UnavailableError(absl::StrCat(
        origin(i), exited ? " exited during start-up" : " did not answer within 20 s",
        "; log:\n", LogTail(i)));
  }
  return absl::OkStatus();
}

bool TestFederation::WaitServing(int i, absl::Duration timeout) {
  return WaitUntil(
      [&] {
        if (options_.multi_process) {
          int status = 0;
          if (pids_[i] == 0) return true;  // gone: stop waiting
          if (waitpid(pids_[i], &status, WNOHANG) == pids_[i]) {
            pids_[i] = 0;
            return true;
          }
        }
        // A fresh channel per attempt: one that saw "connection refused"
        // backs off before trying again.
        auto stub = v1::Node::NewStub(ChannelAs(&members_[i]->client_tls, i));
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::milliseconds(1000));
        v1::Identity id;
        return stub->GetIdentity(&ctx, v1::GetIdentityRequest(), &id).ok();
      },
      timeout, absl::Milliseconds(30)) &&
         (!options_.multi_process || pids_[i] != 0);
}

void TestFederation::StopNode(int i) {
  if (options_.multi_process) {
    if (pids_[i] <= 0) return;
    kill(pids_[i], SIGTERM);
    int status = 0;
    waitpid(pids_[i], &status, 0);
    pids_[i] = 0;
    return;
  }
  servers_[i].reset();
}

void TestFederation::KillNode(int i) {
  if (!options_.multi_process) {
    ADD_FAILURE() << "KillNode needs multi_process";
    return;
  }
  if (pids_[i] <= 0) return;
  kill(pids_[i], SIGKILL);
  int status = 0;
  waitpid(pids_[i], &status, 0);
  pids_[i] = 0;
}

bool TestFederation::running(int i) const {
  return options_.multi_process ? pids_[i] > 0 : servers_[i] != nullptr;
}

std::shared_ptr<grpc::Channel> TestFederation::ChannelAs(
    const certs::KeyAndCert* identity, int target) const {
  grpc::SslCredentialsOptions opts;
  opts.pem_root_certs = roster_->CaBundlePem();
  // Members the genesis roster does not list yet (roster_members): their
  // nodes are dialed with their own CA trusted too.
  for (int i = roster_proto_.members_size(); i < size(); ++i) {
    opts.pem_root_certs += members_[i]->ca.cert_pem;
  }
  if (identity != nullptr) {
    opts.pem_private_key = identity->key_pem;
    opts.pem_cert_chain = identity->cert_pem;
  }
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride(members_[target]->dns_name());
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  // Retry soon after a restart. (Not GRPC_ARG_MIN_RECONNECT_BACKOFF_MS: it
  // is also the connect timeout, and a loaded machine needs more than 100 ms
  // for a TLS handshake.)
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  args.SetMaxReceiveMessageSize(16 << 20);
  return grpc::CreateCustomChannel(members_[target]->endpoint(),
                                   grpc::SslCredentials(opts), args);
}

v1::Node::Stub* TestFederation::Client(int node, int as_member) {
  if (as_member < 0) as_member = node;
  std::lock_guard<std::mutex> lock(clients_mu_);
  auto& stub = clients_[{node, as_member}];
  if (stub == nullptr) {
    stub = v1::Node::NewStub(ChannelAs(&members_[as_member]->client_tls, node));
  }
  return stub.get();
}

std::unique_ptr<v1::Federation::Stub> TestFederation::PeerStub(int as_node,
                                                               int target) {
  return v1::Federation::NewStub(ChannelAs(&members_[as_node]->node_tls, target));
}

grpc::Status TestFederation::Publish(int node, const v1::Alert& draft,
                                     v1::PublishResponse* out) {
  v1::PublishRequest req;
  *req.mutable_alert() = draft;
  v1::PublishResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::Status st = Client(node)->Publish(&ctx, req, &resp);
  if (out != nullptr) *out = std::move(resp);
  return st;
}

std::string TestFederation::db_path(int i) const {
  return members_[i]->data_dir + "/" + node::SqliteAlertStore::kFileName;
}

int64_t TestFederation::StoredAlertCount(int i) const {
  Db db(db_path(i));
  return db.Count("SELECT COUNT(*) FROM alerts");
}

int64_t TestFederation::StoredEvidenceCount(int i) const {
  Db db(db_path(i));
  return db.Count("SELECT COUNT(*) FROM evidence");
}

int64_t TestFederation::StoredCosignatureCount(int i) const {
  Db db(db_path(i));
  return db.Count("SELECT COUNT(*) FROM cosignatures");
}

int64_t TestFederation::EvidenceCountFor(int i, const std::string& origin) const {
  Db db(db_path(i));
  return db.Count("SELECT COUNT(*) FROM evidence WHERE origin = ?", {origin});
}

std::set<std::string> TestFederation::StoredIds(int i) const {
  std::set<std::string> ids;
  Db db(db_path(i));
  db.Query("SELECT id FROM alerts", {},
           [&](sqlite3_stmt* st) { ids.insert(Text(st, 0)); });
  return ids;
}

absl::Status TestFederation::CheckFeedsContiguous(int i) const {
  Db db(db_path(i));
  if (!db.ok()) return absl::NotFoundError(absl::StrCat("cannot open ", db_path(i)));
  std::vector<std::string> broken;
  bool ok = db.Query(
      "SELECT origin, COUNT(*), MIN(sequence), MAX(sequence) FROM alerts "
      "GROUP BY origin",
      {}, [&](sqlite3_stmt* st) {
        int64_t n = sqlite3_column_int64(st, 1);
        int64_t lo = sqlite3_column_int64(st, 2);
        int64_t hi = sqlite3_column_int64(st, 3);
        if (lo != 1 || hi != n) {
          broken.push_back(absl::StrCat(Text(st, 0), " holds ", n,
                                        " alerts with sequences ", lo, "..", hi));
        }
      });
  if (!ok) return absl::InternalError(absl::StrCat("cannot query ", db_path(i)));
  if (!broken.empty()) {
    return absl::DataLossError(absl::StrCat(origin(i), ": feed not contiguous: ",
                                            absl::StrJoin(broken, "; ")));
  }
  return absl::OkStatus();
}

bool TestFederation::AllHaveCount(int64_t count, const std::vector<int>& nodes) const {
  std::vector<int> all = nodes;
  if (all.empty()) {
    for (int i = 0; i < size(); ++i) all.push_back(i);
  }
  for (int i : all) {
    if (StoredAlertCount(i) != count) return false;
  }
  return true;
}

::testing::AssertionResult TestFederation::WaitForIds(
    const std::set<std::string>& ids, absl::Duration timeout,
    const std::vector<int>& nodes) {
  std::vector<int> all = nodes;
  if (all.empty()) {
    for (int i = 0; i < size(); ++i) all.push_back(i);
  }
  auto missing_at = [&](int i) {
    std::set<std::string> have = StoredIds(i);
    size_t missing = 0;
    for (const std::string& id : ids) missing += have.count(id) == 0;
    return missing;
  };
  bool done = WaitUntil(
      [&] {
        for (int i : all) {
          if (missing_at(i) != 0) return false;
        }
        return true;
      },
      timeout, absl::Milliseconds(50));
  if (done) return ::testing::AssertionSuccess();
  ::testing::AssertionResult r = ::testing::AssertionFailure();
  r << "after " << absl::FormatDuration(timeout) << ":";
  for (int i : all) {
    r << " " << origin(i) << " misses " << missing_at(i) << " of " << ids.size()
      << " (holds " << StoredAlertCount(i) << ");";
  }
  return r;
}

TcpProxy* TestFederation::proxy(int from, int to) {
  auto it = proxies_.find({from, to});
  return it == proxies_.end() ? nullptr : it->second.get();
}

void TestFederation::Partition(const std::vector<int>& a, const std::vector<int>& b) {
  for (int x : a) {
    for (int y : b) {
      if (TcpProxy* p = proxy(x, y)) p->Block();
      if (TcpProxy* p = proxy(y, x)) p->Block();
    }
  }
}

void TestFederation::Heal() {
  for (auto& [link, p] : proxies_) p->Unblock();
}

std::string TestFederation::LogTail(int i) const {
  std::ifstream in(members_[i]->log_file);
  if (!in) return "(no log)";
  std::stringstream buf;
  buf << in.rdbuf();
  std::string s = buf.str();
  return s.size() > 4000 ? s.substr(s.size() - 4000) : s;
}

}  // namespace watchfloor::testing
