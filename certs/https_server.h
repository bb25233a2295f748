// TLS for an HTTPS listener whose clients are told apart by their
// certificates (the node's watch-floor page off loopback, docs/OPERATIONS.md).
// The handshake requires a client certificate and proves its holder has the
// key; whose certificate it is (its chain to a member CA, the roster's rules)
// is decided after the handshake by VerifyPeerCertificate (x509.h), against
// the roster in force at the time of each request, so that a roster change
// needs no new TLS context. OpenSSL types appear here only as opaque
// pointers (STYLE.md habit 5).
#ifndef WATCHFLOOR_CERTS_HTTPS_SERVER_H_
#define WATCHFLOOR_CERTS_HTTPS_SERVER_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

struct ssl_ctx_st;  // SSL_CTX
struct ssl_st;      // SSL

namespace watchfloor::certs {

// Sets up `ctx` for the server side: the certificate chain and private key
// from PEM files (the node's TLS identity), TLS 1.2 or later, and a client
// certificate required in every handshake (any chain: the caller verifies
// it per request). INVALID_ARGUMENT naming the file and OpenSSL's error.
absl::Status ConfigureHttpsServer(ssl_ctx_st* ctx, const std::string& cert_file,
                                  const std::string& key_file);

// The leaf certificate the client presented on `ssl`, as PEM.
// UNAUTHENTICATED if it presented none (or `ssl` is null: not TLS).
absl::StatusOr<std::string> PeerLeafPem(const ssl_st* ssl);

}  // namespace watchfloor::certs

#endif  // WATCHFLOOR_CERTS_HTTPS_SERVER_H_
