// X.509 minting and peer identity with the OpenSSL 3 API. OpenSSL types
// never leave this file; every handle lives in a unique_ptr.
#include "certs/x509.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <memory>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/ascii.h"
#include "absl/strings/strip.h"
#include "certs/file_io.h"
#include "certs/ids.h"
#include "certs/openssl_util.h"
#include "certs/status_macros.h"

namespace watchfloor::certs {
namespace {

using internal::BioContents;
using internal::BioPtr;
using internal::Deleter;
using internal::NoPassword;
using internal::OpenSslError;
using internal::OpenSslErrors;
using internal::PkeyPtr;
using internal::ReadOnlyBio;

void FreeGeneralNames(GENERAL_NAMES* g) { GENERAL_NAMES_free(g); }
using X509Ptr = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using StorePtr = std::unique_ptr<X509_STORE, Deleter<X509_STORE, X509_STORE_free>>;
using StoreCtxPtr =
    std::unique_ptr<X509_STORE_CTX, Deleter<X509_STORE_CTX, X509_STORE_CTX_free>>;
using NamesPtr = std::unique_ptr<GENERAL_NAMES, Deleter<GENERAL_NAMES, FreeGeneralNames>>;
using NamePtr = std::unique_ptr<GENERAL_NAME, Deleter<GENERAL_NAME, GENERAL_NAME_free>>;
using BnPtr = std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_free>>;
using ExtPtr =
    std::unique_ptr<X509_EXTENSION, Deleter<X509_EXTENSION, X509_EXTENSION_free>>;

absl::StatusOr<X509Ptr> ParseCert(absl::string_view pem) {
  WF_ASSIGN_OR_RETURN(BioPtr bio, ReadOnlyBio(pem));
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, NoPassword, nullptr));
  if (cert == nullptr) {
    return OpenSslError(absl::StatusCode::kInvalidArgument,
                        "not a PEM X.509 certificate");
  }
  return cert;
}

absl::StatusOr<PkeyPtr> ParseKey(absl::string_view pem) {
  WF_ASSIGN_OR_RETURN(BioPtr bio, ReadOnlyBio(pem));
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassword, nullptr));
  if (key == nullptr) {
    return OpenSslError(absl::StatusCode::kInvalidArgument,
                        "not an unencrypted PEM PKCS#8 private key");
  }
  return key;
}

absl::StatusOr<std::string> KeyToPem(EVP_PKEY* key) {
  BioPtr bio(BIO_new(BIO_s_secmem()));
  if (bio == nullptr || PEM_write_bio_PrivateKey(bio.get(), key, nullptr,
                                                 nullptr, 0, nullptr,
                                                 nullptr) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "PEM_write_bio_PrivateKey");
  }
  return BioContents(bio.get());
}

absl::StatusOr<std::string> CertToPem(X509* cert) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || PEM_write_bio_X509(bio.get(), cert) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "PEM_write_bio_X509");
  }
  return BioContents(bio.get());
}

std::string NameToString(const X509_NAME* name) {
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr ||
      X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253) < 0) {
    return "(unprintable name)";
  }
  std::string s = BioContents(bio.get());
  return s.empty() ? "(empty)" : s;
}

std::string CommonName(const X509_NAME* name) {
  const int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (i < 0) return std::string();
  const ASN1_STRING* s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
  unsigned char* utf8 = nullptr;
  const int len = ASN1_STRING_to_UTF8(&utf8, s);
  if (len < 0) return std::string();
  std::string out(reinterpret_cast<char*>(utf8), len);
  OPENSSL_free(utf8);
  return out;
}

absl::Time FromAsn1Time(const ASN1_TIME* t) {
  struct tm tm;
  std::memset(&tm, 0, sizeof(tm));
  if (ASN1_TIME_to_tm(t, &tm) != 1) return absl::InfinitePast();
  return absl::FromTimeT(timegm(&tm));
}

std::string Rfc3339(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", t, absl::UTCTimeZone());
}

// The URI and DNS SANs. INVALID_ARGUMENT if the certificate carries more
// than one SAN extension or a name with an embedded NUL.
struct Sans {
  std::vector<std::string> uris;
  std::vector<std::string> dns;
};
absl::StatusOr<Sans> GetSans(const X509* cert) {
  int crit = -1;
  NamesPtr names(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert, NID_subject_alt_name, &crit, nullptr)));
  Sans out;
  if (names == nullptr) {
    if (crit == -2) {
      return absl::InvalidArgumentError(
          "the certificate has more than one subjectAltName extension");
    }
    return out;  // no SAN (crit == -1) or an unparsable one (ignored: none)
  }
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names.get(), i);
    if (gn->type != GEN_URI && gn->type != GEN_DNS) continue;
    const ASN1_IA5STRING* s = gn->type == GEN_URI ? gn->d.uniformResourceIdentifier
                                                   : gn->d.dNSName;
    std::string value(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                      ASN1_STRING_length(s));
    if (value.find('\0') != std::string::npos) {
      return absl::InvalidArgumentError(
          "a subjectAltName contains a NUL character");
    }
    (gn->type == GEN_URI ? out.uris : out.dns).push_back(std::move(value));
  }
  return out;
}

bool IsCa(X509* cert) {
  return (X509_get_extension_flags(cert) & EXFLAG_CA) != 0;
}

absl::Status AddExt(X509* cert, X509V3_CTX* ctx, int nid, const char* value) {
  ExtPtr ext(X509V3_EXT_conf_nid(nullptr, ctx, nid, value));
  if (ext == nullptr || X509_add_ext(cert, ext.get(), -1) != 1) {
    return OpenSslError(absl::StatusCode::kInternal,
                        absl::StrCat("adding extension ", OBJ_nid2sn(nid), "=",
                                     value));
  }
  return absl::OkStatus();
}

absl::Status AddSans(X509* cert, const CertSpec& spec, bool critical) {
  NamesPtr names(sk_GENERAL_NAME_new_null());
  if (names == nullptr) {
    return OpenSslError(absl::StatusCode::kResourceExhausted, "GENERAL_NAMES");
  }
  auto add = [&](int type, const std::string& value) -> absl::Status {
    ERR_clear_error();
    NamePtr gn(a2i_GENERAL_NAME(nullptr, nullptr, nullptr, type, value.c_str(), 0));
    if (gn == nullptr) {
      return OpenSslError(absl::StatusCode::kInvalidArgument,
                          absl::StrCat("subjectAltName \"", value, "\""));
    }
    if (sk_GENERAL_NAME_push(names.get(), gn.get()) == 0) {
      return OpenSslError(absl::StatusCode::kResourceExhausted, "push SAN");
    }
    gn.release();  // owned by `names` now
    return absl::OkStatus();
  };
  for (const std::string& v : spec.uri_sans) WF_RETURN_IF_ERROR(add(GEN_URI, v));
  for (const std::string& v : spec.dns_sans) WF_RETURN_IF_ERROR(add(GEN_DNS, v));
  for (const std::string& v : spec.ip_sans) WF_RETURN_IF_ERROR(add(GEN_IPADD, v));
  if (sk_GENERAL_NAME_num(names.get()) == 0) return absl::OkStatus();
  if (X509_add1_ext_i2d(cert, NID_subject_alt_name, names.get(), critical ? 1 : 0,
                        X509V3_ADD_DEFAULT) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "adding subjectAltName");
  }
  return absl::OkStatus();
}

absl::StatusOr<PkeyPtr> GenerateP256() {
  ERR_clear_error();
  PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  if (key == nullptr) {
    return OpenSslError(absl::StatusCode::kInternal, "P-256 key generation");
  }
  return key;
}

absl::Status SetRandomSerial(X509* cert) {
  BnPtr bn(BN_new());
  // 127 random bits, top bit set: positive, 16 bytes, never zero (RFC 5280
  // allows up to 20 octets; CA/B asks for >= 64 bits of entropy).
  if (bn == nullptr || BN_rand(bn.get(), 127, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY) != 1 ||
      BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert)) == nullptr) {
    return OpenSslError(absl::StatusCode::kInternal, "serial number");
  }
  return absl::OkStatus();
}

// ub-common-name is 64 characters; CN is informational (identities are the
// SANs), so a longer name is shortened rather than refused.
std::string FitCommonName(absl::string_view cn) {
  if (cn.size() <= 64) return std::string(cn);
  return absl::StrCat(cn.substr(0, 61), "...");
}

absl::Status CheckValidity(absl::Time not_before, absl::Time not_after) {
  if (not_before >= not_after) {
    return absl::InvalidArgumentError(absl::StrCat(
        "not_before ", Rfc3339(not_before), " is not before not_after ",
        Rfc3339(not_after)));
  }
  return absl::OkStatus();
}

absl::StatusOr<PeerIdentity> Unauthenticated(std::string message) {
  return absl::UnauthenticatedError(std::move(message));
}

}  // namespace

// ------------------------------------------------------------------ names

std::string MemberSpiffeId(absl::string_view member) {
  return absl::StrCat(kSpiffePrefix, member);
}
std::string NodeSpiffeId(absl::string_view member, absl::string_view node) {
  return absl::StrCat(kSpiffePrefix, member, "/", node);
}
std::string ClientSpiffeId(absl::string_view member, absl::string_view name) {
  return absl::StrCat(kSpiffePrefix, member, "/client/", name);
}
std::string NodeDnsName(absl::string_view member, absl::string_view node) {
  return absl::StrCat(node, ".", member, ".watchfloor");
}

absl::StatusOr<PeerIdentity> ParseSpiffeId(absl::string_view uri) {
  constexpr absl::string_view kRule =
      "want spiffe://watchfloor/<member>/<node> or "
      "spiffe://watchfloor/<member>/client/<name>";
  absl::string_view path = uri;
  if (!absl::ConsumePrefix(&path, kSpiffePrefix)) {
    return absl::InvalidArgumentError(
        absl::StrCat("\"", uri, "\" is not a spiffe://watchfloor/ ID; ", kRule));
  }
  std::vector<absl::string_view> parts = absl::StrSplit(path, '/');
  PeerIdentity id;
  id.spiffe_id = std::string(uri);
  if (parts.size() == 2) {
    id.member = std::string(parts[0]);
    id.node = std::string(parts[1]);
    if (!ValidateMemberName(id.member).ok() || !ValidateNodeName(id.node).ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "\"", uri, "\" is not a valid node identity: member must be "
          "lowercase DNS labels and node one lowercase label; ", kRule));
    }
    return id;
  }
  if (parts.size() == 3 && parts[1] == "client") {
    id.member = std::string(parts[0]);
    id.client = std::string(parts[2]);
    id.is_client = true;
    if (!ValidateMemberName(id.member).ok() ||
        !ValidateMemberName(id.client).ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "\"", uri, "\" is not a valid client identity: member and client "
          "name must be lowercase DNS labels; ", kRule));
    }
    return id;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("\"", uri, "\" has the wrong shape; ", kRule));
}

// ----------------------------------------------------------------- minting

absl::StatusOr<KeyAndCert> MintCertificate(const CertSpec& spec,
                                           const KeyAndCert* issuer) {
  WF_RETURN_IF_ERROR(CheckValidity(spec.not_before, spec.not_after));
  X509Ptr issuer_cert;
  PkeyPtr issuer_key;
  if (issuer != nullptr) {
    WF_ASSIGN_OR_RETURN(issuer_cert, ParseCert(issuer->cert_pem));
    WF_ASSIGN_OR_RETURN(issuer_key, ParseKey(issuer->key_pem));
    ERR_clear_error();
    if (X509_check_private_key(issuer_cert.get(), issuer_key.get()) != 1) {
      return OpenSslError(absl::StatusCode::kInvalidArgument,
                          "the CA key does not match the CA certificate");
    }
  }
  WF_ASSIGN_OR_RETURN(PkeyPtr key, GenerateP256());
  ERR_clear_error();
  X509Ptr cert(X509_new());
  if (cert == nullptr || X509_set_version(cert.get(), X509_VERSION_3) != 1 ||
      X509_set_pubkey(cert.get(), key.get()) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "X509_new");
  }
  WF_RETURN_IF_ERROR(SetRandomSerial(cert.get()));
  if (ASN1_TIME_set(X509_getm_notBefore(cert.get()),
                    absl::ToTimeT(spec.not_before)) == nullptr ||
      ASN1_TIME_set(X509_getm_notAfter(cert.get()),
                    absl::ToTimeT(spec.not_after)) == nullptr) {
    return OpenSslError(absl::StatusCode::kInvalidArgument, "validity period");
  }
  X509_NAME* subject = X509_get_subject_name(cert.get());
  if (!spec.common_name.empty()) {
    const std::string cn = FitCommonName(spec.common_name);
    if (X509_NAME_add_entry_by_NID(
            subject, NID_commonName, MBSTRING_UTF8,
            reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0) != 1) {
      return OpenSslError(absl::StatusCode::kInvalidArgument, "subject CN");
    }
  }
  if (X509_set_issuer_name(cert.get(), issuer_cert != nullptr
                                           ? X509_get_subject_name(issuer_cert.get())
                                           : subject) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "issuer name");
  }
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer_cert != nullptr ? issuer_cert.get() : cert.get(),
                 cert.get(), nullptr, nullptr, 0);
  if (spec.is_ca) {
    WF_RETURN_IF_ERROR(AddExt(cert.get(), &ctx, NID_basic_constraints,
                              "critical,CA:TRUE,pathlen:0"));
    WF_RETURN_IF_ERROR(AddExt(cert.get(), &ctx, NID_key_usage,
                              "critical,keyCertSign,cRLSign"));
  } else {
    WF_RETURN_IF_ERROR(
        AddExt(cert.get(), &ctx, NID_basic_constraints, "critical,CA:FALSE"));
    WF_RETURN_IF_ERROR(
        AddExt(cert.get(), &ctx, NID_key_usage, "critical,digitalSignature"));
  }
  if (spec.server_auth || spec.client_auth) {
    const char* eku = spec.server_auth && spec.client_auth
                          ? "serverAuth,clientAuth"
                          : (spec.server_auth ? "serverAuth" : "clientAuth");
    WF_RETURN_IF_ERROR(AddExt(cert.get(), &ctx, NID_ext_key_usage, eku));
  }
  WF_RETURN_IF_ERROR(
      AddExt(cert.get(), &ctx, NID_subject_key_identifier, "hash"));
  // For a self-signed certificate the issuer is the certificate itself,
  // whose SKID was just added.
  WF_RETURN_IF_ERROR(
      AddExt(cert.get(), &ctx, NID_authority_key_identifier, "keyid:always"));
  // RFC 5280 4.2.1.6: SANs are critical when the subject is empty.
  WF_RETURN_IF_ERROR(AddSans(cert.get(), spec, spec.common_name.empty()));
  EVP_PKEY* signer = issuer_key != nullptr ? issuer_key.get() : key.get();
  if (X509_sign(cert.get(), signer, EVP_sha256()) <= 0) {
    return OpenSslError(absl::StatusCode::kInternal, "X509_sign");
  }
  KeyAndCert out;
  WF_ASSIGN_OR_RETURN(out.key_pem, KeyToPem(key.get()));
  WF_ASSIGN_OR_RETURN(out.cert_pem, CertToPem(cert.get()));
  return out;
}

absl::StatusOr<KeyAndCert> MintMemberCa(absl::string_view member,
                                        absl::Time not_before,
                                        absl::Time not_after) {
  WF_RETURN_IF_ERROR(ValidateMemberName(member));
  CertSpec spec;
  spec.common_name = std::string(member);
  spec.uri_sans = {MemberSpiffeId(member)};
  spec.is_ca = true;
  spec.not_before = not_before;
  spec.not_after = not_after;
  return MintCertificate(spec, nullptr);
}

absl::StatusOr<KeyAndCert> MintNodeCert(const KeyAndCert& ca,
                                        absl::string_view member,
                                        absl::string_view node,
                                        absl::Time not_before,
                                        absl::Time not_after) {
  WF_RETURN_IF_ERROR(ValidateMemberName(member));
  WF_RETURN_IF_ERROR(ValidateNodeName(node));
  WF_RETURN_IF_ERROR(ValidateMemberCa(ca.cert_pem, member));
  CertSpec spec;
  spec.common_name = absl::StrCat(member, "/", node);
  spec.uri_sans = {NodeSpiffeId(member, node)};
  spec.dns_sans = {NodeDnsName(member, node)};
  spec.server_auth = true;
  spec.client_auth = true;
  spec.not_before = not_before;
  spec.not_after = not_after;
  return MintCertificate(spec, &ca);
}

absl::StatusOr<KeyAndCert> MintClientCert(const KeyAndCert& ca,
                                          absl::string_view member,
                                          absl::string_view name,
                                          absl::Time not_before,
                                          absl::Time not_after) {
  WF_RETURN_IF_ERROR(ValidateMemberName(member));
  absl::Status st = ValidateMemberName(name);
  if (!st.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("client ", st.message()));
  }
  WF_RETURN_IF_ERROR(ValidateMemberCa(ca.cert_pem, member));
  CertSpec spec;
  spec.common_name = absl::StrCat(member, "/client/", name);
  spec.uri_sans = {ClientSpiffeId(member, name)};
  spec.client_auth = true;
  spec.not_before = not_before;
  spec.not_after = not_after;
  return MintCertificate(spec, &ca);
}

// ------------------------------------------------------------- inspection

absl::StatusOr<CertInfo> DescribeCertificate(absl::string_view pem) {
  WF_ASSIGN_OR_RETURN(X509Ptr cert, ParseCert(pem));
  CertInfo info;
  info.subject = NameToString(X509_get_subject_name(cert.get()));
  info.issuer = NameToString(X509_get_issuer_name(cert.get()));
  info.common_name = CommonName(X509_get_subject_name(cert.get()));
  info.not_before = FromAsn1Time(X509_get0_notBefore(cert.get()));
  info.not_after = FromAsn1Time(X509_get0_notAfter(cert.get()));
  info.is_ca = IsCa(cert.get());
  ERR_clear_error();
  EVP_PKEY* pub = X509_get0_pubkey(cert.get());
  info.self_signed = pub != nullptr &&
                     X509_check_issued(cert.get(), cert.get()) == X509_V_OK &&
                     X509_verify(cert.get(), pub) == 1;
  ERR_clear_error();
  WF_ASSIGN_OR_RETURN(Sans sans, GetSans(cert.get()));
  info.uri_sans = std::move(sans.uris);
  info.dns_sans = std::move(sans.dns);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  if (X509_digest(cert.get(), EVP_sha256(), md, &md_len) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "X509_digest");
  }
  info.sha256_fingerprint =
      HexEncode(absl::string_view(reinterpret_cast<char*>(md), md_len));
  unsigned char* spki = nullptr;
  const int spki_len = i2d_PUBKEY(pub, &spki);
  if (spki_len <= 0) {
    return OpenSslError(absl::StatusCode::kInvalidArgument, "certificate key");
  }
  info.public_key_sha256 =
      HexEncode(Sha256(absl::string_view(reinterpret_cast<char*>(spki), spki_len)));
  OPENSSL_free(spki);
  return info;
}

absl::Status ValidateMemberCa(absl::string_view ca_pem,
                              absl::string_view member) {
  if (ca_pem.find("PRIVATE KEY") != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        "contains a PRIVATE KEY; the roster holds the CA certificate only "
        "(ca.crt, never ca.key)");
  }
  const absl::string_view trimmed = absl::StripAsciiWhitespace(ca_pem);
  if (!absl::StartsWith(trimmed, "-----BEGIN CERTIFICATE-----")) {
    return absl::InvalidArgumentError(
        "not a PEM certificate (want exactly one \"-----BEGIN "
        "CERTIFICATE-----\" block)");
  }
  // A second block would slip an extra trust anchor into the TLS bundle.
  if (trimmed.find("-----BEGIN", 1) != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        "holds more than one PEM block; a member has exactly one CA "
        "certificate");
  }
  WF_ASSIGN_OR_RETURN(CertInfo info, DescribeCertificate(trimmed));
  WF_ASSIGN_OR_RETURN(X509Ptr cert, ParseCert(trimmed));
  const std::string who = absl::StrCat("certificate ", info.subject);
  if (!info.is_ca) {
    return absl::InvalidArgumentError(absl::StrCat(
        who, " is not a CA certificate (needs basicConstraints CA:TRUE)"));
  }
  if ((X509_get_extension_flags(cert.get()) & EXFLAG_KUSAGE) != 0 &&
      (X509_get_key_usage(cert.get()) & KU_KEY_CERT_SIGN) == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(who, " has a keyUsage without keyCertSign"));
  }
  if (!info.self_signed) {
    return absl::InvalidArgumentError(absl::StrCat(
        who, " is not self-signed (issuer ", info.issuer,
        "); the roster holds each member's root CA"));
  }
  std::vector<std::string> spiffe;
  for (const std::string& uri : info.uri_sans) {
    if (absl::StartsWith(uri, kSpiffePrefix)) spiffe.push_back(uri);
  }
  const std::string want = MemberSpiffeId(member);
  if (!spiffe.empty()) {
    if (spiffe.size() != 1 || spiffe[0] != want) {
      return absl::InvalidArgumentError(
          absl::StrCat(who, " names ", absl::StrJoin(spiffe, ", "), ", not ",
                       want));
    }
    return absl::OkStatus();
  }
  if (info.common_name != member) {
    return absl::InvalidArgumentError(absl::StrCat(
        who, " does not name member ", member, " (want URI SAN ", want,
        " or subject CN=", member, ")"));
  }
  return absl::OkStatus();
}

// --------------------------------------------------------- peer identities

absl::StatusOr<PeerIdentity> VerifyPeerCertificate(absl::string_view leaf_pem,
                                                   const Roster& roster,
                                                   absl::Time now) {
  if (absl::StripAsciiWhitespace(leaf_pem).empty()) {
    return Unauthenticated("no peer certificate; the peer must present a "
                           "certificate issued by its member's CA");
  }
  absl::StatusOr<X509Ptr> parsed = ParseCert(leaf_pem);
  if (!parsed.ok()) {
    return Unauthenticated(
        absl::StrCat("peer certificate: ", parsed.status().message()));
  }
  X509* leaf = parsed->get();
  const std::string issuer = NameToString(X509_get_issuer_name(leaf));
  const std::string subject = NameToString(X509_get_subject_name(leaf));
  absl::StatusOr<Sans> sans = GetSans(leaf);
  if (!sans.ok()) {
    return Unauthenticated(absl::StrCat("certificate ", subject, " (issuer ",
                                        issuer, "): ", sans.status().message()));
  }
  if (sans->uris.size() != 1) {
    return Unauthenticated(absl::StrCat(
        "certificate ", subject, " (issuer ", issuer, ") has ",
        sans->uris.size(), " URI SANs",
        sans->uris.empty() ? "" : absl::StrCat(" (", absl::StrJoin(sans->uris, ", "), ")"),
        "; a watchfloor identity is exactly one URI SAN "
        "spiffe://watchfloor/<member>/<node> or "
        "spiffe://watchfloor/<member>/client/<name>"));
  }
  const std::string& san = sans->uris[0];
  absl::StatusOr<PeerIdentity> id = ParseSpiffeId(san);
  if (!id.ok()) {
    return Unauthenticated(absl::StrCat("certificate (issuer ", issuer,
                                        "): URI SAN ", id.status().message()));
  }
  const std::string who = absl::StrCat("certificate ", san, " (issuer ", issuer, ")");
  const watchfloor::v1::RosterMember* member = roster.Member(id->member);
  if (member == nullptr) {
    return Unauthenticated(absl::StrCat(who, " names member ", id->member,
                                        ", which is not in roster v",
                                        roster.version()));
  }
  if (IsCa(leaf)) {
    return Unauthenticated(
        absl::StrCat(who, " is a CA certificate, not a node or client one"));
  }

  // Verify against a store holding only the CA of the member the SAN names.
  absl::StatusOr<X509Ptr> ca = ParseCert(member->ca_cert_pem());
  if (!ca.ok()) {
    return Unauthenticated(absl::StrCat("the roster CA of member ", id->member,
                                        ": ", ca.status().message()));
  }
  ERR_clear_error();
  StorePtr store(X509_STORE_new());
  StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (store == nullptr || ctx == nullptr ||
      X509_STORE_add_cert(store.get(), ca->get()) != 1 ||
      X509_STORE_CTX_init(ctx.get(), store.get(), leaf, nullptr) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "X509_STORE setup");
  }
  X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx.get()),
                             absl::ToTimeT(now));
  if (X509_verify_cert(ctx.get()) != 1) {
    const int err = X509_STORE_CTX_get_error(ctx.get());
    const int depth = X509_STORE_CTX_get_error_depth(ctx.get());
    const std::string reason = X509_verify_cert_error_string(err);
    ERR_clear_error();
    if (err == X509_V_ERR_CERT_HAS_EXPIRED) {
      if (depth == 0) {
        return Unauthenticated(absl::StrCat(
            who, " expired at ", Rfc3339(FromAsn1Time(X509_get0_notAfter(leaf))),
            " (checked at ", Rfc3339(now), ")"));
      }
      return Unauthenticated(absl::StrCat(
          who, ": the CA of member ", id->member, " expired at ",
          Rfc3339(FromAsn1Time(X509_get0_notAfter(ca->get()))),
          " (checked at ", Rfc3339(now), ")"));
    }
    if (err == X509_V_ERR_CERT_NOT_YET_VALID) {
      const X509* c = depth == 0 ? leaf : ca->get();
      return Unauthenticated(absl::StrCat(
          who, depth == 0 ? " is" : ": the CA of member " + id->member + " is",
          " not valid before ", Rfc3339(FromAsn1Time(X509_get0_notBefore(c))),
          " (checked at ", Rfc3339(now), ")"));
    }
    if (err == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY ||
        err == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT ||
        err == X509_V_ERR_CERT_SIGNATURE_FAILURE ||
        err == X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT ||
        err == X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE) {
      // Name the member whose CA did issue it, if it is one of ours.
      for (const watchfloor::v1::RosterMember& other : roster.proto().members()) {
        if (other.name() == id->member) continue;
        absl::StatusOr<X509Ptr> other_ca = ParseCert(other.ca_cert_pem());
        if (!other_ca.ok()) continue;
        EVP_PKEY* pub = X509_get0_pubkey(other_ca->get());
        const bool issued =
            pub != nullptr &&
            X509_check_issued(other_ca->get(), leaf) == X509_V_OK &&
            X509_verify(leaf, pub) == 1;
        ERR_clear_error();
        if (issued) {
          return Unauthenticated(absl::StrCat(
              who, " was issued by the CA of member ", other.name(),
              ", but its SAN names member ", id->member,
              "; a member's CA may only issue that member's identities"));
        }
      }
      return Unauthenticated(absl::StrCat(
          who, " was not issued by the roster CA of member ", id->member,
          " (", NameToString(X509_get_subject_name(ca->get())),
          "): its issuer is not in roster v", roster.version(), " (", reason,
          ")"));
    }
    return Unauthenticated(absl::StrCat(who, " does not verify against the CA of member ",
                                        id->member, ": ", reason, " (depth ",
                                        depth, ")"));
  }

  const uint32_t eku = X509_get_extended_key_usage(leaf);
  if (id->is_client) {
    if ((eku & XKU_SSL_CLIENT) == 0) {
      return Unauthenticated(
          absl::StrCat(who, " does not allow clientAuth (extendedKeyUsage)"));
    }
    return id;
  }
  if ((eku & XKU_SSL_CLIENT) == 0 || (eku & XKU_SSL_SERVER) == 0) {
    return Unauthenticated(absl::StrCat(
        who, " is a node identity but its extendedKeyUsage does not allow "
             "both serverAuth and clientAuth"));
  }
  if (roster.Node(id->origin()) == nullptr) {
    return Unauthenticated(absl::StrCat(who, " names node ", id->origin(),
                                        ", which is not a node of member ",
                                        id->member, " in roster v",
                                        roster.version()));
  }
  return id;
}

// -------------------------------------------------------------------- files

absl::Status SaveKeyAndCert(const KeyAndCert& kc, const std::string& key_path,
                            const std::string& cert_path) {
  for (const std::string* path : {&key_path, &cert_path}) {
    struct stat st;
    if (lstat(path->c_str(), &st) == 0) {
      return absl::AlreadyExistsError(
          absl::StrCat(*path, " already exists; refusing to overwrite it"));
    }
  }
  WF_RETURN_IF_ERROR(WriteNewFile(key_path, kc.key_pem, 0600));
  absl::Status st = WriteNewFile(cert_path, kc.cert_pem, 0644);
  if (!st.ok()) unlink(key_path.c_str());
  return st;
}

absl::Status CheckKeyMatchesCertificate(absl::string_view key_pem,
                                        absl::string_view cert_pem) {
  absl::StatusOr<PkeyPtr> pkey = ParseKey(key_pem);
  if (!pkey.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the private key: ", pkey.status().message()));
  }
  absl::StatusOr<X509Ptr> x509 = ParseCert(cert_pem);
  if (!x509.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the certificate: ", x509.status().message()));
  }
  ERR_clear_error();
  if (X509_check_private_key(x509->get(), pkey->get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(
        "the private key does not match the certificate's public key");
  }
  return absl::OkStatus();
}

absl::StatusOr<KeyAndCert> LoadKeyAndCert(const std::string& key_path,
                                          const std::string& cert_path) {
  WF_ASSIGN_OR_RETURN(FileContents key, ReadSmallFile(key_path, "key file", ""));
  if ((key.mode & 077) != 0) {
    OPENSSL_cleanse(key.data.data(), key.data.size());
    return absl::PermissionDeniedError(absl::StrCat(
        "key file ", key_path, " is accessible by group or others (mode ",
        absl::StrFormat("%04o", key.mode & 07777), "); run chmod 600 ",
        key_path));
  }
  WF_ASSIGN_OR_RETURN(FileContents cert,
                      ReadSmallFile(cert_path, "certificate file", ""));
  KeyAndCert out;
  out.key_pem = std::move(key.data);
  out.cert_pem = std::move(cert.data);
  absl::StatusOr<PkeyPtr> pkey = ParseKey(out.key_pem);
  if (!pkey.ok()) {
    OPENSSL_cleanse(out.key_pem.data(), out.key_pem.size());
    return absl::InvalidArgumentError(
        absl::StrCat("key file ", key_path, ": ", pkey.status().message()));
  }
  absl::StatusOr<X509Ptr> x509 = ParseCert(out.cert_pem);
  if (!x509.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "certificate file ", cert_path, ": ", x509.status().message()));
  }
  ERR_clear_error();
  if (X509_check_private_key(x509->get(), pkey->get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(absl::StrCat(
        "key file ", key_path, " does not match certificate ", cert_path));
  }
  return out;
}

absl::StatusOr<std::shared_ptr<const TrustBundle>> TrustBundle::FromPem(
    absl::string_view bundle_pem) {
  WF_ASSIGN_OR_RETURN(BioPtr bio, ReadOnlyBio(bundle_pem));
  std::shared_ptr<TrustBundle> bundle(new TrustBundle());
  bundle->store_ = X509_STORE_new();
  if (bundle->store_ == nullptr) {
    return OpenSslError(absl::StatusCode::kInternal, "X509_STORE_new");
  }
  ERR_clear_error();
  while (true) {
    X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, NoPassword, nullptr));
    if (cert == nullptr) break;
    if (X509_STORE_add_cert(bundle->store_, cert.get()) != 1) {
      return OpenSslError(absl::StatusCode::kInvalidArgument,
                          absl::StrCat("CA certificate ", bundle->size_ + 1, " of the bundle"));
    }
    ++bundle->size_;
  }
  // The loop ends at the end of the text (PEM_R_NO_START_LINE) or at a
  // block that does not parse.
  const unsigned long err = ERR_peek_last_error();  // NOLINT(runtime/int)
  if (err != 0 && !(ERR_GET_LIB(err) == ERR_LIB_PEM &&
                    ERR_GET_REASON(err) == PEM_R_NO_START_LINE)) {
    return OpenSslError(absl::StatusCode::kInvalidArgument,
                        absl::StrCat("CA certificate ", bundle->size_ + 1, " of the bundle"));
  }
  ERR_clear_error();
  if (bundle->size_ == 0) {
    return absl::InvalidArgumentError("the CA bundle holds no PEM certificate");
  }
  return bundle;
}

TrustBundle::~TrustBundle() { X509_STORE_free(store_); }

absl::Status TrustBundle::VerifyClient(absl::string_view leaf_pem, absl::Time now) const {
  if (leaf_pem.empty()) return absl::UnauthenticatedError("no client certificate");
  absl::StatusOr<X509Ptr> leaf = ParseCert(leaf_pem);
  if (!leaf.ok()) return absl::UnauthenticatedError(leaf.status().message());
  StoreCtxPtr ctx(X509_STORE_CTX_new());
  ERR_clear_error();
  if (ctx == nullptr || X509_STORE_CTX_init(ctx.get(), store_, leaf->get(), nullptr) != 1 ||
      X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_SSL_CLIENT) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "X509_STORE_CTX setup");
  }
  X509_VERIFY_PARAM_set_time(X509_STORE_CTX_get0_param(ctx.get()), absl::ToTimeT(now));
  if (X509_verify_cert(ctx.get()) == 1) return absl::OkStatus();
  const int err = X509_STORE_CTX_get_error(ctx.get());
  const int depth = X509_STORE_CTX_get_error_depth(ctx.get());
  ERR_clear_error();
  return absl::UnauthenticatedError(
      absl::StrCat(X509_verify_cert_error_string(err),
                   depth == 0 ? "" : absl::StrCat(" (at chain depth ", depth, ")"),
                   "; the certificate must be issued by a CA this node trusts "
                   "(a roster member's CA, or client_ca_file)"));
}

std::string ClaimedIdentity(absl::string_view leaf_pem) {
  if (leaf_pem.empty()) return "no certificate";
  absl::StatusOr<CertInfo> info = DescribeCertificate(leaf_pem);
  if (!info.ok()) return "unparsable certificate";
  const std::string who = !info->uri_sans.empty() ? info->uri_sans[0]
                          : !info->subject.empty() ? info->subject
                                                   : std::string("no subject");
  return absl::StrCat(who, " sha256:", info->sha256_fingerprint.substr(0, 16));
}

}  // namespace watchfloor::certs
