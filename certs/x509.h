// TLS identities: minting member CAs, node and client certificates, and
// mapping a peer's certificate to a roster identity.
//
// Each member is its own CA; the trust bundle is the roster's CAs
// (Roster::CaBundlePem()). Certificates name identities with exactly one
// SPIFFE-style URI SAN (DESIGN.md "Trust"):
//   member CA  spiffe://watchfloor/<member>            (and CN=<member>)
//   node       spiffe://watchfloor/<member>/<node>     (EKU serverAuth+clientAuth)
//   client     spiffe://watchfloor/<member>/client/<name>   (EKU clientAuth)
// TLS keys are ECDSA P-256 (the widest gRPC/OpenSSL support); key PEM is
// PKCS#8, certificates are signed with ECDSA-SHA256.
//
// How nodes use this with gRPC (1.51):
//  - Server: SslServerCredentialsOptions with
//    GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY,
//    pem_root_certs = roster.CaBundlePem(), the node's KeyAndCert as the
//    key/cert pair. gRPC then only checks that SOME roster CA issued the
//    client's certificate. Each call must then map the peer with
//    VerifyPeerCertificate(auth_context GRPC_X509_PEM_CERT_PROPERTY_NAME,
//    roster, now), which also checks that the CA is the one of the member
//    the SAN names, and that a node is in the roster.
//  - Client (dialing a peer node M/N at one of its roster endpoints): the
//    node's certificate carries the DNS SAN NodeDnsName(M, N) =
//    "<N>.<M>.watchfloor", so set GRPC_SSL_TARGET_NAME_OVERRIDE_ARG
//    (ChannelArguments::SetSslTargetNameOverride) to that name and
//    pem_root_certs to the bundle. That hostname check alone is NOT enough:
//    any roster member's CA could issue a certificate with that DNS name.
//    Bind the identity with VerifyPeerCertificate too, e.g. in a
//    grpc::experimental::ExternalCertificateVerifier (TlsCredentialsOptions;
//    request.peer_cert() is the leaf PEM), and compare the result's origin
//    with the node dialed.
// The Mint* functions read the clock only through their arguments; they use
// the OS CSPRNG for keys and serial numbers. VerifyPeerCertificate is pure.
#ifndef WATCHFLOOR_CERTS_X509_H_
#define WATCHFLOOR_CERTS_X509_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "certs/roster.h"

struct x509_store_st;  // OpenSSL's X509_STORE

namespace watchfloor::certs {

inline constexpr absl::string_view kSpiffePrefix = "spiffe://watchfloor/";

// spiffe://watchfloor/<member>
std::string MemberSpiffeId(absl::string_view member);
// spiffe://watchfloor/<member>/<node>
std::string NodeSpiffeId(absl::string_view member, absl::string_view node);
// spiffe://watchfloor/<member>/client/<name>
std::string ClientSpiffeId(absl::string_view member, absl::string_view name);
// <node>.<member>.watchfloor: the DNS SAN of a node certificate, the name to
// give GRPC_SSL_TARGET_NAME_OVERRIDE_ARG when dialing that node.
std::string NodeDnsName(absl::string_view member, absl::string_view node);

// A PEM PKCS#8 private key and its PEM certificate. key_pem is a secret.
struct KeyAndCert {
  std::string key_pem;
  std::string cert_pem;
};

// A member's CA: a fresh P-256 key, self-signed, subject CN=<member>, URI
// SAN spiffe://watchfloor/<member>, basicConstraints critical CA:TRUE
// pathlen:0, keyUsage critical keyCertSign+cRLSign. INVALID_ARGUMENT if the
// member name is invalid or not_before >= not_after.
absl::StatusOr<KeyAndCert> MintMemberCa(absl::string_view member,
                                        absl::Time not_before,
                                        absl::Time not_after);

// A node's TLS certificate issued by `ca` (the member's CA): a fresh P-256
// key, CN=<member>/<node>, URI SAN NodeSpiffeId, DNS SAN NodeDnsName, EKU
// serverAuth+clientAuth, CA:FALSE, keyUsage digitalSignature.
// INVALID_ARGUMENT if a name is invalid, not_before >= not_after, `ca` is
// not a CA certificate naming `member` (ValidateMemberCa), or `ca`'s key
// does not match its certificate.
absl::StatusOr<KeyAndCert> MintNodeCert(const KeyAndCert& ca,
                                        absl::string_view member,
                                        absl::string_view node,
                                        absl::Time not_before,
                                        absl::Time not_after);

// A client certificate of `member` issued by its CA: CN=<member>/client/
// <name>, URI SAN ClientSpiffeId, EKU clientAuth only. `name` follows the
// member-name rules (lowercase DNS labels). Errors as MintNodeCert.
absl::StatusOr<KeyAndCert> MintClientCert(const KeyAndCert& ca,
                                          absl::string_view member,
                                          absl::string_view name,
                                          absl::Time not_before,
                                          absl::Time not_after);

// The low-level minting the functions above are built on. No naming rules
// are enforced here: tools and tests use it to build unusual certificates
// (no SAN, two SANs, a SAN naming another member). `issuer` == nullptr
// means self-signed.
struct CertSpec {
  std::string common_name;
  std::vector<std::string> uri_sans;
  std::vector<std::string> dns_sans;
  std::vector<std::string> ip_sans;  // "127.0.0.1", "::1"
  bool is_ca = false;  // CA:TRUE pathlen:0 + keyCertSign, else CA:FALSE
  bool server_auth = false;  // EKU; none set = no EKU extension
  bool client_auth = false;
  absl::Time not_before;
  absl::Time not_after;
};
absl::StatusOr<KeyAndCert> MintCertificate(const CertSpec& spec,
                                           const KeyAndCert* issuer);

// What a certificate says, for display and checks.
struct CertInfo {
  std::string subject;  // one line, RFC 2253, e.g. "CN=nic.cz"
  std::string issuer;
  std::string common_name;  // empty if none
  absl::Time not_before;
  absl::Time not_after;
  bool is_ca = false;  // basicConstraints CA:TRUE
  bool self_signed = false;  // issuer == subject and the signature verifies
  std::vector<std::string> uri_sans;
  std::vector<std::string> dns_sans;
  std::string sha256_fingerprint;  // lowercase hex of SHA-256 of the DER
  std::string public_key_sha256;   // lowercase hex of SHA-256 of the SPKI DER
};

// Parses the first certificate of a PEM text. INVALID_ARGUMENT (with
// OpenSSL's error string) if there is none.
absl::StatusOr<CertInfo> DescribeCertificate(absl::string_view pem);

// OK iff `ca_pem` is a self-signed CA certificate (CA:TRUE; keyUsage, if
// present, has keyCertSign) that names `member` by URI SAN
// spiffe://watchfloor/<member>, or, when it has no spiffe://watchfloor/ URI
// SAN, by subject CN. INVALID_ARGUMENT saying which rule failed. No clock:
// validity periods are not checked here.
absl::Status ValidateMemberCa(absl::string_view ca_pem,
                              absl::string_view member);

// Who a peer is, from its certificate.
struct PeerIdentity {
  std::string member;
  std::string node;    // set for a node identity
  std::string client;  // set for a client identity
  bool is_client = false;
  std::string spiffe_id;  // the URI SAN, verbatim

  // "member/node" for a node, "" for a client.
  std::string origin() const {
    return is_client ? std::string() : member + "/" + node;
  }
};

// Parses spiffe://watchfloor/<member>/<node> or
// spiffe://watchfloor/<member>/client/<name> exactly (no trailing slash,
// query, fragment, upper case or port). INVALID_ARGUMENT otherwise.
absl::StatusOr<PeerIdentity> ParseSpiffeId(absl::string_view uri);

// Maps a peer's leaf certificate (PEM; only the first certificate is used)
// to its identity, or says which rule it breaks. All errors are
// UNAUTHENTICATED, and name the SAN and the issuer where known:
//  - "no peer certificate" (empty input) / not a certificate;
//  - the certificate must have exactly one URI SAN (SPIFFE X509-SVID rule),
//    a node or client SPIFFE ID as ParseSpiffeId accepts;
//  - the member it names must be in the roster;
//  - it must verify (X509_verify_cert) against a store holding ONLY that
//    member's CA, at time `now`: so a certificate issued by another member's
//    CA ("issued by the CA of member X, but its SAN names member Y"), by a
//    CA not in the roster, expired, or not yet valid fails, as does one
//    whose member CA has expired;
//  - it must not be a CA certificate; a node certificate's EKU (if present)
//    must allow serverAuth and clientAuth, a client's must allow clientAuth;
//  - a node identity must be a node of the roster (Roster::Node).
// A client identity only needs its member in the roster. Thread-safe.
absl::StatusOr<PeerIdentity> VerifyPeerCertificate(absl::string_view leaf_pem,
                                                   const Roster& roster,
                                                   absl::Time now);

// A set of trusted CA certificates (a roster's CA bundle, or a standalone
// node's client_ca_file) that a TLS server checks client certificates
// against itself instead of inside OpenSSL's handshake, so that a refused
// handshake can be reported with what the peer claimed
// (node/handshake_verifier.h). Immutable, thread-safe.
class TrustBundle {
 public:
  // Every certificate in `bundle_pem`. INVALID_ARGUMENT if it holds none or
  // one does not parse.
  static absl::StatusOr<std::shared_ptr<const TrustBundle>> FromPem(
      absl::string_view bundle_pem);
  ~TrustBundle();

  // OK iff the first certificate of `leaf_pem` chains to one of the
  // bundle's certificates at `now`, with the TLS client purpose (EKU
  // clientAuth if it has an EKU): the check OpenSSL makes for a server that
  // requires and verifies client certificates. UNAUTHENTICATED otherwise,
  // with OpenSSL's reason ("certificate has expired", "unable to get local
  // issuer certificate", ...).
  absl::Status VerifyClient(absl::string_view leaf_pem, absl::Time now) const;

  size_t size() const { return size_; }

 private:
  TrustBundle() = default;
  ::x509_store_st* store_ = nullptr;  // owned (X509_STORE)
  size_t size_ = 0;
};

// What a certificate claims to be, for a log line about a peer whose
// certificate was refused: its URI SAN, else its subject, and the first 16
// hex digits of its SHA-256 fingerprint; "no certificate" for empty input,
// "unparsable certificate" if it does not parse.
std::string ClaimedIdentity(absl::string_view leaf_pem);

// OK iff `key_pem` (an unencrypted PEM private key) is the private key of
// the first certificate in `cert_pem`, i.e. the pair can serve TLS.
// INVALID_ARGUMENT otherwise: "the private key does not match the
// certificate's public key", or which of the two does not parse (with
// OpenSSL's error string). Names no file: callers know which files they
// read. Pure, thread-safe.
absl::Status CheckKeyMatchesCertificate(absl::string_view key_pem,
                                        absl::string_view cert_pem);

// Writes key_path (mode 0600) and cert_path (mode 0644), durably, never
// overwriting: ALREADY_EXISTS if either exists (checked before writing
// anything; if writing the certificate fails, the key file is removed).
absl::Status SaveKeyAndCert(const KeyAndCert& kc, const std::string& key_path,
                            const std::string& cert_path);

// Reads a key and certificate written by SaveKeyAndCert. NOT_FOUND if
// missing; PERMISSION_DENIED if the key file is group/world accessible
// (the message says to chmod 600); INVALID_ARGUMENT if the key is not an
// unencrypted PKCS#8 key, the certificate does not parse, or the key does
// not match the certificate. Every message names the path.
absl::StatusOr<KeyAndCert> LoadKeyAndCert(const std::string& key_path,
                                          const std::string& cert_path);

}  // namespace watchfloor::certs

#endif  // WATCHFLOOR_CERTS_X509_H_
