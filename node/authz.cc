#include "node/authz.h"

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpc/grpc_security_constants.h"
#include "grpcpp/security/auth_context.h"
#include "log/log.h"

namespace watchfloor::node {
namespace {

// The identity the peer's certificate claims (verified or not: a refused
// peer's claim is what the operator needs to see), "no certificate", or ""
// without TLS.
std::string ClaimedIdentity(const grpc::ServerContextBase& ctx) {
  std::shared_ptr<const grpc::AuthContext> auth = ctx.auth_context();
  if (auth == nullptr) return "";
  for (const char* property : {GRPC_PEER_SPIFFE_ID_PROPERTY_NAME, GRPC_X509_CN_PROPERTY_NAME}) {
    std::vector<grpc::string_ref> v = auth->FindPropertyValues(property);
    if (!v.empty()) return std::string(v[0].data(), v[0].size());
  }
  if (auth->FindPropertyValues(GRPC_X509_PEM_CERT_PROPERTY_NAME).empty()) {
    return "no certificate";
  }
  return "";
}

}  // namespace

absl::Status Authorizer::Refuse(const grpc::ServerContextBase& ctx, absl::string_view kind,
                                absl::Status status) const {
  // Wall time, not clock_: the limit is about the log.
  const log::RateLimiter::Decision d = refusal_log_.Admit(absl::Now());
  if (d.unreported > 0) {
    log::Warn("node", "calls_refused_not_logged",
              {{"count", d.unreported}, {"max_lines_per_second", refusal_log_.per_second()}});
  }
  if (!d.write) return status;
  log::Warn("node", "call_refused",
            {{"kind", kind},
             {"peer", ctx.peer()},
             {"identity", ClaimedIdentity(ctx)},
             {"code", absl::StatusCodeToString(status.code())},
             {"reason", status.message()}});
  return status;
}

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
  if (mode_ == Mode::kRoster) return IdentifyCertificate(pem);
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

absl::StatusOr<certs::PeerIdentity> Authorizer::IdentifyCertificate(
    absl::string_view pem) const {
  if (mode_ != Mode::kRoster) {
    return absl::FailedPreconditionError(
        "certificates are checked against a roster, and this node is not in a federation");
  }
  constexpr absl::Duration kCacheTtl = absl::Seconds(30);
  constexpr size_t kMaxCached = 1024;
  const absl::Time now = clock_->Now();
  std::string key(pem);
  // One roster for the whole check (SetRoster may swap it meanwhile).
  const certs::Roster* roster = roster_.load();
  {
    absl::MutexLock lock(&cache_mu_);
    auto it = cache_.find(key);
    if (it != cache_.end() && it->second.roster == roster &&
        now >= it->second.verified_at && now - it->second.verified_at < kCacheTtl) {
      return it->second.identity;
    }
  }
  absl::StatusOr<certs::PeerIdentity> id = certs::VerifyPeerCertificate(pem, *roster, now);
  if (id.ok()) {
    absl::MutexLock lock(&cache_mu_);
    if (cache_.size() >= kMaxCached) cache_.clear();
    cache_[key] = Cached{*id, now, roster};
  }
  return id;
}

absl::StatusOr<certs::PeerIdentity> Authorizer::CheckReaderCertificate(
    absl::string_view pem) const {
  // The rule of CheckReader: any identity the roster vouches for may read.
  return IdentifyCertificate(pem);
}

void Authorizer::SetRoster(const certs::Roster* roster) {
  roster_.store(roster);
  absl::MutexLock lock(&cache_mu_);
  cache_.clear();
}

absl::Status Authorizer::CheckPublisher(const grpc::ServerContextBase& ctx) const {
  if (mode_ == Mode::kPlaintextLoopback) return absl::OkStatus();
  absl::StatusOr<certs::PeerIdentity> id = Identify(ctx);
  if (!id.ok()) return Refuse(ctx, "publish", id.status());
  if (!id->is_client || id->member != own_member_) {
    return Refuse(ctx, "publish", absl::PermissionDeniedError(absl::StrCat(
        id->spiffe_id, " may not publish through this node: only client "
        "certificates of member ", own_member_, " may")));
  }
  return absl::OkStatus();
}

absl::Status Authorizer::CheckReader(const grpc::ServerContextBase& ctx) const {
  absl::Status st = Identify(ctx).status();
  if (!st.ok()) return Refuse(ctx, "read", std::move(st));
  return st;
}

absl::StatusOr<std::string> Authorizer::AuthenticatePeer(
    const grpc::ServerContextBase& ctx) const {
  if (mode_ != Mode::kRoster) {
    return Refuse(ctx, "federation",
                  absl::PermissionDeniedError("this node is not in a federation"));
  }
  absl::StatusOr<certs::PeerIdentity> id = Identify(ctx);
  if (!id.ok()) return Refuse(ctx, "federation", id.status());
  if (id->is_client) {
    return Refuse(ctx, "federation", absl::PermissionDeniedError(absl::StrCat(
        id->spiffe_id, " is a client certificate; only roster nodes may gossip")));
  }
  return id->origin();
}

}  // namespace watchfloor::node
