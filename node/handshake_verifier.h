// The TLS server side of mutual TLS: who may complete a handshake with the
// node, checked by the node itself so that every refused handshake leaves one
// log line saying who the peer claimed to be and why it was refused, and so
// that the trusted CAs can change at run time (a roster adoption) without
// restarting the listener.
//
// gRPC's own check (SslServerCredentials with REQUEST_AND_REQUIRE_CLIENT_
// CERTIFICATE_AND_VERIFY) refuses inside OpenSSL and logs only "Handshake
// failed", with neither the peer nor the reason. Here the server asks for a
// client certificate without letting OpenSSL judge it, and a
// grpc::experimental::ExternalCertificateVerifier makes the same decision
// (the certificate chains to a trusted CA at the current time, with the TLS
// client purpose) before the handshake completes: a refused peer never gets
// to send an HTTP/2 frame. Which identity a certificate may act as is decided
// per rpc afterwards (node/authz.h), as before.
#ifndef WATCHFLOOR_NODE_HANDSHAKE_VERIFIER_H_
#define WATCHFLOOR_NODE_HANDSHAKE_VERIFIER_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "certs/x509.h"
#include "grpcpp/security/server_credentials.h"
#include "log/rate_limiter.h"
#include "node/clock.h"

namespace watchfloor::node {

// What the handshake verifier trusts, shared between the node (which swaps it
// when its roster changes) and gRPC's verifier object (which gRPC owns).
// Thread-safe.
class HandshakeTrust {
 public:
  // `clock` must outlive every handshake.
  HandshakeTrust(std::shared_ptr<const certs::TrustBundle> bundle, Clock* clock)
      : clock_(clock), bundle_(std::move(bundle)) {}

  // From now on, handshakes are checked against `bundle`. Connections
  // already established are not affected (the per-rpc check is).
  void Set(std::shared_ptr<const certs::TrustBundle> bundle) ABSL_LOCKS_EXCLUDED(mu_);

  // OK, or UNAUTHENTICATED with the reason; a refusal is also logged as
  // event tls_handshake_refused with fields identity (certs::ClaimedIdentity)
  // and reason: at most 20 such lines a second, then one
  // tls_handshakes_not_logged line counting those not logged.
  absl::Status Check(absl::string_view leaf_pem) ABSL_LOCKS_EXCLUDED(mu_);

  uint64_t refused() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Log(const std::string& identity, absl::string_view reason) ABSL_LOCKS_EXCLUDED(mu_);

  Clock* const clock_;
  mutable absl::Mutex mu_;
  std::shared_ptr<const certs::TrustBundle> bundle_ ABSL_GUARDED_BY(mu_);
  uint64_t refused_ ABSL_GUARDED_BY(mu_) = 0;
  log::RateLimiter log_limit_{20};  // lines a second
};

// TLS server credentials presenting `cert_pem`/`key_pem` and admitting only
// clients whose certificate `trust` accepts (see above). A client without a
// certificate is refused by `trust` too, with a log line.
std::shared_ptr<grpc::ServerCredentials> MutualTlsServerCredentials(
    const std::string& key_pem, const std::string& cert_pem,
    std::shared_ptr<HandshakeTrust> trust);

}  // namespace watchfloor::node

#endif  // WATCHFLOOR_NODE_HANDSHAKE_VERIFIER_H_
