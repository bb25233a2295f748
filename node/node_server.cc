#include "node/node_server.h"

#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "certs/status_macros.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "grpcpp/resource_quota.h"

namespace watchfloor::node {
namespace {

constexpr int kDefaultMaxMessageBytes = 1 << 20;
constexpr int kDefaultMaxConcurrentStreams = 100;
constexpr int kDefaultMaxMetadataBytes = 16 << 10;
constexpr int kDefaultHandshakeTimeoutMs = 10000;
constexpr size_t kDefaultMaxSubscribers = 4096;

template <typename T>
T OrDefault(T v, T def) {
  return v == 0 ? def : v;
}

absl::StatusOr<std::string> ReadFile(const std::string& path, const char* what) {
  std::ifstream in(path);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat(what, " ", path, " cannot be read; check the path"));
  }
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

std::string OctalMode(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

// A private key file readable by group or others is refused.
absl::Status CheckPrivateFileMode(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    return absl::NotFoundError(
        absl::StrCat("key file ", path, " cannot be read; check the path"));
  }
  if ((st.st_mode & 077) != 0) {
    return absl::PermissionDeniedError(absl::StrCat(
        "key file ", path, " is readable by others (mode ",
        OctalMode(st.st_mode), "); run chmod 600 ", path));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> Credentials(
    const watchfloor::v1::NodeConfig& config) {
  if (config.insecure_plaintext_loopback()) {
    return grpc::InsecureServerCredentials();
  }
  const auto& t = config.tls();
  // The TLS key must be as private as the signing key.
  WF_RETURN_IF_ERROR(CheckPrivateFileMode(t.key_file()));
  WF_ASSIGN_OR_RETURN(std::string cert, ReadFile(t.cert_file(), "tls cert_file"));
  WF_ASSIGN_OR_RETURN(std::string key, ReadFile(t.key_file(), "tls key_file"));
  WF_ASSIGN_OR_RETURN(std::string ca, ReadFile(t.client_ca_file(), "tls client_ca_file"));
  grpc::SslServerCredentialsOptions opts(
      GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  opts.pem_root_certs = ca;
  opts.pem_key_cert_pairs.push_back({key, cert});
  return grpc::SslServerCredentials(opts);
}

}  // namespace

NodeServer::NodeServer(watchfloor::v1::NodeConfig config, certs::SigningKey key)
    : config_(std::move(config)), key_(std::move(key)) {}

absl::StatusOr<std::unique_ptr<NodeServer>> NodeServer::Start(
    const watchfloor::v1::NodeConfig& config, Clock* clock) {
  WF_ASSIGN_OR_RETURN(certs::SigningKey key,
                      certs::SigningKey::LoadPemFile(config.signing_key_file()));
  std::unique_ptr<NodeServer> s(new NodeServer(config, std::move(key)));

  std::map<std::string, certs::PublicKey> keys;
  keys.emplace(config.origin(), s->key_.public_key());
  for (const auto& k : config.known_origins()) {
    WF_ASSIGN_OR_RETURN(certs::PublicKey pk,
                        certs::PublicKey::LoadPemFile(k.public_key_file()));
    if (!keys.emplace(k.origin(), pk).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          "config: origin ", k.origin(), " is listed twice (known_origins "
          "may not repeat this node's own origin either)"));
    }
  }
  s->resolver_ = std::make_unique<StaticKeyResolver>(std::move(keys));

  WF_ASSIGN_OR_RETURN(s->store_,
                      SqliteAlertStore::Open(config.data_dir(), config.origin()));
  WF_ASSIGN_OR_RETURN(uint64_t last_cursor, s->store_->LastCursor());
  s->hub_ = std::make_unique<SubscriptionHub>(s->store_.get(), last_cursor);
  SubscriptionHub* hub = s->hub_.get();
  WF_ASSIGN_OR_RETURN(
      s->ledger_,
      Ledger::Open(s->store_.get(), &s->key_, config.origin(),
                   s->resolver_.get(), clock,
                   [hub](const std::vector<StoredRef>& a) { hub->OnCommitted(a); }));

  const auto& lim = config.limits();
  s->service_ = std::make_unique<NodeService>(
      s->ledger_.get(), hub, s->store_.get(), &s->key_.public_key(),
      OrDefault<size_t>(lim.max_subscribers(), kDefaultMaxSubscribers));

  WF_ASSIGN_OR_RETURN(auto creds, Credentials(config));
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(config.listen_address(), creds, &s->port_);
  builder.RegisterService(s->service_.get());
  int max_msg = OrDefault<int>(lim.max_message_bytes(), kDefaultMaxMessageBytes);
  builder.SetMaxReceiveMessageSize(max_msg);
  builder.SetMaxSendMessageSize(max_msg);
  builder.AddChannelArgument(
      GRPC_ARG_MAX_CONCURRENT_STREAMS,
      OrDefault<int>(lim.max_concurrent_streams(), kDefaultMaxConcurrentStreams));
  builder.AddChannelArgument(
      GRPC_ARG_MAX_METADATA_SIZE,
      OrDefault<int>(lim.max_metadata_bytes(), kDefaultMaxMetadataBytes));
  builder.AddChannelArgument(
      GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS,
      OrDefault<int>(lim.handshake_timeout_ms(), kDefaultHandshakeTimeoutMs));
  // Pings from clients at most every 10 s; abusive pingers are dropped.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 2);
  // gRPC sets SO_REUSEPORT by default, which lets a second node bind the same
  // port and silently take half the connections. A busy port must be an error.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  grpc::ResourceQuota quota("watchfloor-node");
  quota.Resize(512 << 20);
  builder.SetResourceQuota(quota);
  s->server_ = builder.BuildAndStart();
  if (s->server_ == nullptr || s->port_ == 0) {
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on ", config.listen_address(),
        "; is another process using the port, or is the address not local?"));
  }
  s->server_->GetHealthCheckService()->SetServingStatus(true);
  return s;
}

std::string NodeServer::address() const {
  const std::string& listen = config_.listen_address();
  return absl::StrCat(listen.substr(0, listen.rfind(':')), ":", port_);
}

void NodeServer::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) return;
    shut_down_ = true;
  }
  server_->GetHealthCheckService()->SetServingStatus(false);
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
}

void NodeServer::Wait() { server_->Wait(); }

NodeServer::~NodeServer() {
  if (server_ != nullptr) {
    Shutdown();
    server_->Wait();
  }
  // Members are destroyed in reverse order: the ledger drains before the
  // hub and store go away.
}

}  // namespace watchfloor::node
