#include "node/handshake_verifier.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "grpcpp/security/tls_certificate_provider.h"
#include "grpcpp/security/tls_certificate_verifier.h"
#include "grpcpp/security/tls_credentials_options.h"
#include "log/log.h"

namespace watchfloor::node {
namespace {

// gRPC owns this object (ExternalCertificateVerifier::Create); the trust it
// reads is shared with the node.
class Verifier final : public grpc::experimental::ExternalCertificateVerifier {
 public:
  explicit Verifier(std::shared_ptr<HandshakeTrust> trust) : trust_(std::move(trust)) {}

  bool Verify(grpc::experimental::TlsCustomVerificationCheckRequest* request,
              std::function<void(grpc::Status)> /*callback*/,
              grpc::Status* sync_status) override {
    grpc::string_ref pem = request->peer_cert();
    const absl::Status s = trust_->Check(absl::string_view(pem.data(), pem.size()));
    *sync_status = s.ok() ? grpc::Status::OK
                          : grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                                         std::string(s.message()));
    return true;  // decided synchronously
  }
  void Cancel(grpc::experimental::TlsCustomVerificationCheckRequest*) override {}

 private:
  const std::shared_ptr<HandshakeTrust> trust_;
};

}  // namespace

void HandshakeTrust::Set(std::shared_ptr<const certs::TrustBundle> bundle) {
  absl::MutexLock lock(&mu_);
  bundle_ = std::move(bundle);
}

absl::Status HandshakeTrust::Check(absl::string_view leaf_pem) {
  std::shared_ptr<const certs::TrustBundle> bundle;
  {
    absl::MutexLock lock(&mu_);
    bundle = bundle_;
  }
  absl::Status s = bundle == nullptr
                       ? absl::UnauthenticatedError("this node trusts no CA yet")
                       : bundle->VerifyClient(leaf_pem, clock_->Now());
  if (s.ok()) return s;
  Log(certs::ClaimedIdentity(leaf_pem), s.message());
  return s;
}

uint64_t HandshakeTrust::refused() const {
  absl::MutexLock lock(&mu_);
  return refused_;
}

void HandshakeTrust::Log(const std::string& identity, absl::string_view reason) {
  {
    absl::MutexLock lock(&mu_);
    ++refused_;
  }
  // Wall time, not clock_: the limit is about the log, not the protocol.
  const log::RateLimiter::Decision d = log_limit_.Admit(absl::Now());
  if (d.unreported > 0) {
    log::Warn("tls", "tls_handshakes_not_logged",
              {{"count", d.unreported}, {"max_lines_per_second", log_limit_.per_second()}});
  }
  if (d.write) {
    log::Warn("tls", "tls_handshake_refused", {{"identity", identity}, {"reason", reason}});
  }
}

std::shared_ptr<grpc::ServerCredentials> MutualTlsServerCredentials(
    const std::string& key_pem, const std::string& cert_pem,
    std::shared_ptr<HandshakeTrust> trust) {
  auto provider = std::make_shared<grpc::experimental::StaticDataCertificateProvider>(
      std::vector<grpc::experimental::IdentityKeyCertPair>{{key_pem, cert_pem}});
  grpc::experimental::TlsServerCredentialsOptions opts(provider);
  opts.watch_identity_key_cert_pairs();
  // Ask for a certificate but let Verifier, not OpenSSL, decide, so that a
  // missing or untrusted certificate is refused with a log line.
  opts.set_cert_request_type(GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_BUT_DONT_VERIFY);
  opts.set_certificate_verifier(
      grpc::experimental::ExternalCertificateVerifier::Create<Verifier>(std::move(trust)));
  return grpc::experimental::TlsServerCredentials(opts);
}

}  // namespace watchfloor::node
