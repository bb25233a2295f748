#include "node/authz.h"

#include "absl/strings/str_cat.h"
#include "grpc/grpc_security_constants.h"
#include "grpcpp/security/auth_context.h"

namespace watchfloor::node {

absl::StatusOr<certs::PeerIdentity> Authorizer::Identify(
    const grpc::ServerContextBase& ctx) const {
  if (mode_ == Mode::kPlaintextLoopback) return certs::PeerIdentity();
  std::shared_ptr<const grpc::AuthContext> auth = ctx.auth_context();
  if (auth == nullptr) {
    return absl::UnauthenticatedError("no TLS peer certificate");
  }
  std::vector<grpc::string_ref> pems =
      auth->FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME);
  if (pems.empty()) {
    return absl::UnauthenticatedError(
        "no TLS peer certificate; connect with a client certificate");
  }
  absl::string_view pem(pems[0].data(), pems[0].size());
  if (mode_ == Mode::kRoster) {
    constexpr absl::Duration kCacheTtl = absl::Seconds(30);
    constexpr size_t kMaxCached = 1024;
    const absl::Time now = clock_->Now();
    std::string key(pem);
    {
      absl::MutexLock lock(&cache_mu_);
      auto it = cache_.find(key);
      if (it != cache_.end() && now >= it->second.verified_at &&
          now - it->second.verified_at < kCacheTtl) {
        return it->second.identity;
      }
    }
    absl::StatusOr<certs::PeerIdentity> id =
        certs::VerifyPeerCertificate(pem, *roster_, now);
    if (id.ok()) {
      absl::MutexLock lock(&cache_mu_);
      if (cache_.size() >= kMaxCached) cache_.clear();
      cache_[key] = Cached{*id, now};
    }
    return id;
  }
  // TLS already verified the chain to client_ca_file; the SAN names who.
  absl::StatusOr<certs::CertInfo> info = certs::DescribeCertificate(pem);
  if (!info.ok()) return absl::UnauthenticatedError(info.status().message());
  if (info->uri_sans.size() != 1) {
    return absl::UnauthenticatedError(absl::StrCat(
        "peer certificate ", info->subject, " must carry exactly one "
        "spiffe://watchfloor/ URI SAN, has ", info->uri_sans.size()));
  }
  absl::StatusOr<certs::PeerIdentity> id = certs::ParseSpiffeId(info->uri_sans[0]);
  if (!id.ok()) return absl::UnauthenticatedError(id.status().message());
  return id;
}

absl::Status Authorizer::CheckPublisher(const grpc::ServerContextBase& ctx) const {
  if (mode_ == Mode::kPlaintextLoopback) return absl::OkStatus();
  absl::StatusOr<certs::PeerIdentity> id = Identify(ctx);
  if (!id.ok()) return id.status();
  if (!id->is_client || id->member != own_member_) {
    return absl::PermissionDeniedError(absl::StrCat(
        id->spiffe_id, " may not publish through this node: only client "
        "certificates of member ", own_member_, " may"));
  }
  return absl::OkStatus();
}

absl::Status Authorizer::CheckReader(const grpc::ServerContextBase& ctx) const {
  return Identify(ctx).status();
}

absl::StatusOr<std::string> Authorizer::AuthenticatePeer(
    const grpc::ServerContextBase& ctx) const {
  if (mode_ != Mode::kRoster) {
    return absl::PermissionDeniedError("this node is not in a federation");
  }
  absl::StatusOr<certs::PeerIdentity> id = Identify(ctx);
  if (!id.ok()) return id.status();
  if (id->is_client) {
    return absl::PermissionDeniedError(absl::StrCat(
        id->spiffe_id, " is a client certificate; only roster nodes may gossip"));
  }
  return id->origin();
}

}  // namespace watchfloor::node
