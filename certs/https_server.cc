#include "certs/https_server.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <memory>

#include "absl/strings/str_cat.h"
#include "certs/openssl_util.h"

namespace watchfloor::certs {
namespace {

// Accepts any chain: the handshake still proves the client holds the key of
// the leaf it sent; the chain is judged per request against the roster.
int AcceptAnyChain(int, X509_STORE_CTX*) { return 1; }

}  // namespace

absl::Status ConfigureHttpsServer(ssl_ctx_st* ctx, const std::string& cert_file,
                                  const std::string& key_file) {
  ERR_clear_error();
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
    return internal::OpenSslError(absl::StatusCode::kInternal, "TLS 1.2 minimum");
  }
  if (SSL_CTX_use_certificate_chain_file(ctx, cert_file.c_str()) != 1) {
    return internal::OpenSslError(absl::StatusCode::kInvalidArgument,
                                  absl::StrCat("certificate chain ", cert_file));
  }
  SSL_CTX_set_default_passwd_cb(ctx, internal::NoPassword);
  if (SSL_CTX_use_PrivateKey_file(ctx, key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
    return internal::OpenSslError(absl::StatusCode::kInvalidArgument,
                                  absl::StrCat("private key ", key_file));
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    return internal::OpenSslError(
        absl::StatusCode::kInvalidArgument,
        absl::StrCat("private key ", key_file, " does not match certificate ", cert_file));
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, AcceptAnyChain);
  return absl::OkStatus();
}

absl::StatusOr<std::string> PeerLeafPem(const ssl_st* ssl) {
  if (ssl == nullptr) return absl::UnauthenticatedError("not a TLS connection");
  // SSL_get0_peer_certificate does not take a reference (OpenSSL 3).
  X509* leaf = SSL_get0_peer_certificate(ssl);
  if (leaf == nullptr) {
    return absl::UnauthenticatedError("no client certificate; connect with a member's one");
  }
  internal::BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || PEM_write_bio_X509(bio.get(), leaf) != 1) {
    return internal::OpenSslError(absl::StatusCode::kResourceExhausted, "client certificate PEM");
  }
  return internal::BioContents(bio.get());
}

}  // namespace watchfloor::certs
