#include "node/cli/client.h"

#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "certs/x509.h"
#include "node/config.h"

namespace watchfloor::cli {
namespace {

absl::StatusOr<std::string> Slurp(const std::string& flag, const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat("--", flag, " ", path, " cannot be read; check the path"));
  }
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

}  // namespace

std::vector<FlagSpec> ConnectionFlags() {
  return {
      {"node", "HOST:PORT", "node to talk to", "127.0.0.1:7400"},
      {"tls-cert", "FILE", "client certificate (PEM) for mutual TLS"},
      {"tls-key", "FILE", "client private key (PEM) for mutual TLS"},
      {"tls-ca", "FILE", "CA bundle (PEM) that the node's certificate chains to"},
      {"node-origin", "MEMBER/NODE",
       "with TLS: the node's origin, whose certificate name "
       "(<node>.<member>.watchfloor) is checked"},
  };
}

absl::StatusOr<std::unique_ptr<watchfloor::v1::Node::Stub>> Connect(
    const ParsedArgs& args) {
  std::string target = args.Get("node");
  std::shared_ptr<grpc::ChannelCredentials> creds;
  int tls = args.Has("tls-cert") + args.Has("tls-key") + args.Has("tls-ca");
  if (tls == 0) {
    if (!node::IsLoopbackAddress(target)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--node ", target,
          " is not a loopback address, and plaintext is allowed only on "
          "loopback; give --tls-cert, --tls-key and --tls-ca"));
    }
    creds = grpc::InsecureChannelCredentials();
  } else if (tls != 3) {
    return absl::InvalidArgumentError(
        "--tls-cert, --tls-key and --tls-ca go together");
  } else {
    grpc::SslCredentialsOptions opts;
    auto ca = Slurp("tls-ca", args.Get("tls-ca"));
    if (!ca.ok()) return ca.status();
    auto cert = Slurp("tls-cert", args.Get("tls-cert"));
    if (!cert.ok()) return cert.status();
    auto key = Slurp("tls-key", args.Get("tls-key"));
    if (!key.ok()) return key.status();
    // gRPC reports a mismatched pair only as a failed connection ("empty
    // address list"); name the files instead.
    absl::Status pair = certs::CheckKeyMatchesCertificate(*key, *cert);
    if (!pair.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--tls-key ", args.Get("tls-key"), " does not belong to --tls-cert ",
          args.Get("tls-cert"), " (", pair.message(),
          "); give the key written together with that certificate"));
    }
    opts.pem_root_certs = *ca;
    opts.pem_cert_chain = *cert;
    opts.pem_private_key = *key;
    creds = grpc::SslCredentials(opts);
  }
  grpc::ChannelArguments ch;
  ch.SetMaxReceiveMessageSize(4 << 20);
  if (tls == 3) {
    std::string origin = args.Get("node-origin");
    size_t slash = origin.find('/');
    if (origin.empty() || slash == std::string::npos) {
      return absl::InvalidArgumentError(
          "usage: with --tls-* give --node-origin MEMBER/NODE: the node's "
          "certificate names it, not its address");
    }
    ch.SetSslTargetNameOverride(
        certs::NodeDnsName(origin.substr(0, slash), origin.substr(slash + 1)));
  }
  return watchfloor::v1::Node::NewStub(grpc::CreateCustomChannel(target, creds, ch));
}

}  // namespace watchfloor::cli
