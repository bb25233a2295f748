// X25519 keys on OpenSSL 3: arithmetic through EVP_PKEY_derive, PEM/DER
// through the same encoders as keys.cc (file_io.cc does the POSIX part).
// OpenSSL types never leave certs/.
#include "certs/encryption_key.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <utility>

#include "absl/strings/str_cat.h"
#include "certs/file_io.h"
#include "certs/ids.h"
#include "certs/openssl_util.h"
#include "certs/status_macros.h"

namespace watchfloor::certs {
namespace {

using internal::BioContents;
using internal::BioPtr;
using internal::NoPassword;
using internal::OpenSslError;
using internal::PkeyPtr;
using internal::ReadOnlyBio;

using PkeyCtxPtr =
    std::unique_ptr<EVP_PKEY_CTX,
                    internal::Deleter<EVP_PKEY_CTX, EVP_PKEY_CTX_free>>;

// For accessors whose signature cannot carry a Status: OpenSSL fails there
// only when out of memory, which we treat like std::bad_alloc.
[[noreturn]] void DieOnInternalError(const absl::Status& status) {
  std::fprintf(stderr, "watchfloor certs: fatal: %s\n",
               status.ToString().c_str());
  std::abort();
}

absl::string_view AsView(const unsigned char* p, size_t n) {
  return absl::string_view(reinterpret_cast<const char*>(p), n);
}

absl::StatusOr<PkeyPtr> RawPublicPkey(absl::string_view raw) {
  ERR_clear_error();
  PkeyPtr pkey(EVP_PKEY_new_raw_public_key(
      EVP_PKEY_X25519, nullptr,
      reinterpret_cast<const unsigned char*>(raw.data()), raw.size()));
  if (pkey == nullptr) {
    return OpenSslError(absl::StatusCode::kInternal,
                        "EVP_PKEY_new_raw_public_key(X25519)");
  }
  return pkey;
}

// INVALID_ARGUMENT unless `pkey` is X25519; an Ed25519 key (the signing key
// given by mistake) is called out, since the two files look alike.
absl::Status RequireX25519(const EVP_PKEY* pkey, absl::string_view what) {
  const int id = EVP_PKEY_get_id(pkey);
  if (id == EVP_PKEY_X25519) return absl::OkStatus();
  if (id == EVP_PKEY_ED25519) {
    return absl::InvalidArgumentError(absl::StrCat(
        what,
        " is an Ed25519 signing key, not an X25519 encryption key (the "
        "signing key and the encryption key are separate keys)"));
  }
  const char* type = EVP_PKEY_get0_type_name(pkey);
  return absl::InvalidArgumentError(
      absl::StrCat(what, " is a ", type != nullptr ? type : "non-X25519",
                   " key, not an X25519 encryption key"));
}

absl::StatusOr<std::string> RawPublicKeyOf(const EVP_PKEY* pkey) {
  std::string raw(kX25519KeySize, '\0');
  size_t len = raw.size();
  ERR_clear_error();
  if (EVP_PKEY_get_raw_public_key(
          pkey, reinterpret_cast<unsigned char*>(raw.data()), &len) != 1 ||
      len != kX25519KeySize) {
    return OpenSslError(absl::StatusCode::kInvalidArgument,
                        "EVP_PKEY_get_raw_public_key");
  }
  return raw;
}

// DER SubjectPublicKeyInfo of an X25519 key (RFC 8410 section 4) is this
// fixed 12-byte prefix (SEQUENCE { SEQUENCE { OID 1.3.101.110 }, BIT STRING
// of 33 bytes }) followed by the 32 raw bytes. Spelled out rather than asked
// of OpenSSL, because every ephemeral HPKE key computes its keyid; the test
// checks it against the DER inside OpenSSL's PEM.
constexpr char kSpkiPrefix[] =
    "\x30\x2a\x30\x05\x06\x03\x2b\x65\x6e\x03\x21\x00";

absl::StatusOr<std::string> EncodePublicPem(absl::string_view raw) {
  WF_ASSIGN_OR_RETURN(PkeyPtr pkey, RawPublicPkey(raw));
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || PEM_write_bio_PUBKEY(bio.get(), pkey.get()) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "PEM_write_bio_PUBKEY");
  }
  return BioContents(bio.get());
}

absl::StatusOr<std::string> EncodePrivatePem(const EVP_PKEY* pkey) {
  ERR_clear_error();
  // A secure-memory BIO wipes its buffer when freed.
  BioPtr bio(BIO_new(BIO_s_secmem()));
  if (bio == nullptr ||
      PEM_write_bio_PrivateKey(bio.get(), pkey, nullptr, nullptr, 0, nullptr,
                               nullptr) != 1) {
    return OpenSslError(absl::StatusCode::kInternal,
                        "PEM_write_bio_PrivateKey");
  }
  return BioContents(bio.get());
}

bool AllZero(absl::string_view bytes) {
  unsigned char acc = 0;  // constant time: no early exit on secret data
  for (char c : bytes) acc |= static_cast<unsigned char>(c);
  return acc == 0;
}

}  // namespace

// ------------------------------------------------------- EncryptionPublicKey

EncryptionPublicKey::EncryptionPublicKey(std::string raw)
    : raw_(std::move(raw)) {
  keyid_ = HexEncode(Sha256(SpkiDer()));
}

absl::StatusOr<EncryptionPublicKey> EncryptionPublicKey::FromRaw(
    absl::string_view raw) {
  if (raw.size() != kX25519KeySize) {
    return absl::InvalidArgumentError(
        absl::StrCat("X25519 public key must be ", kX25519KeySize,
                     " bytes, got ", raw.size()));
  }
  return EncryptionPublicKey(std::string(raw));
}

absl::StatusOr<EncryptionPublicKey> EncryptionPublicKey::FromPem(
    absl::string_view pem) {
  WF_ASSIGN_OR_RETURN(BioPtr bio, ReadOnlyBio(pem));
  PkeyPtr pkey(PEM_read_bio_PUBKEY(bio.get(), nullptr, NoPassword, nullptr));
  if (pkey == nullptr) {
    return OpenSslError(absl::StatusCode::kInvalidArgument,
                        "not a PEM SubjectPublicKeyInfo public key");
  }
  WF_RETURN_IF_ERROR(RequireX25519(pkey.get(), "public key"));
  WF_ASSIGN_OR_RETURN(std::string raw, RawPublicKeyOf(pkey.get()));
  return EncryptionPublicKey(std::move(raw));
}

absl::StatusOr<EncryptionPublicKey> EncryptionPublicKey::LoadPemFile(
    const std::string& path) {
  WF_ASSIGN_OR_RETURN(FileContents file,
                      ReadSmallFile(path, "public key file", ""));
  absl::StatusOr<EncryptionPublicKey> key = FromPem(file.data);
  if (!key.ok()) {
    return absl::Status(
        key.status().code(),
        absl::StrCat("public key file ", path, ": ", key.status().message()));
  }
  return key;
}

std::string EncryptionPublicKey::SpkiDer() const {
  return absl::StrCat(absl::string_view(kSpkiPrefix, sizeof(kSpkiPrefix) - 1),
                      raw_);
}

std::string EncryptionPublicKey::ToPem() const {
  absl::StatusOr<std::string> pem = EncodePublicPem(raw_);
  if (!pem.ok()) DieOnInternalError(pem.status());
  return *std::move(pem);
}

absl::Status EncryptionPublicKey::SavePemFile(const std::string& path) const {
  WF_ASSIGN_OR_RETURN(std::string pem, EncodePublicPem(raw_));
  return WriteNewFile(path, pem, 0644);
}

// ------------------------------------------------------------ EncryptionKey

EncryptionKey::EncryptionKey(
    const std::array<unsigned char, kX25519KeySize>& sk, evp_pkey_st* pkey,
    EncryptionPublicKey pk)
    : sk_(sk), pkey_(pkey), public_key_(std::move(pk)) {}

EncryptionKey::EncryptionKey(EncryptionKey&& other) noexcept
    : sk_(other.sk_),
      pkey_(std::exchange(other.pkey_, nullptr)),
      public_key_(std::move(other.public_key_)) {
  OPENSSL_cleanse(other.sk_.data(), other.sk_.size());
}

EncryptionKey& EncryptionKey::operator=(EncryptionKey&& other) noexcept {
  if (this != &other) {
    Clear();
    sk_ = other.sk_;
    pkey_ = std::exchange(other.pkey_, nullptr);
    public_key_ = std::move(other.public_key_);
    OPENSSL_cleanse(other.sk_.data(), other.sk_.size());
  }
  return *this;
}

EncryptionKey::~EncryptionKey() { Clear(); }

void EncryptionKey::Clear() {
  OPENSSL_cleanse(sk_.data(), sk_.size());
  EVP_PKEY_free(pkey_);  // null-safe; wipes the private key it holds
  pkey_ = nullptr;
}

EncryptionKey EncryptionKey::Generate() {
  std::array<unsigned char, kX25519KeySize> sk;
  if (RAND_priv_bytes(sk.data(), static_cast<int>(sk.size())) != 1) {
    DieOnInternalError(
        OpenSslError(absl::StatusCode::kInternal, "RAND_priv_bytes"));
  }
  absl::StatusOr<EncryptionKey> key = FromRaw(AsView(sk.data(), sk.size()));
  OPENSSL_cleanse(sk.data(), sk.size());
  if (!key.ok()) DieOnInternalError(key.status());
  return *std::move(key);
}

absl::StatusOr<EncryptionKey> EncryptionKey::FromRaw(absl::string_view raw) {
  if (raw.size() != kX25519KeySize) {
    return absl::InvalidArgumentError(
        absl::StrCat("X25519 private key must be ", kX25519KeySize,
                     " bytes, got ", raw.size()));
  }
  ERR_clear_error();
  PkeyPtr pkey(EVP_PKEY_new_raw_private_key(
      EVP_PKEY_X25519, nullptr,
      reinterpret_cast<const unsigned char*>(raw.data()), raw.size()));
  if (pkey == nullptr) {
    return OpenSslError(absl::StatusCode::kInternal,
                        "EVP_PKEY_new_raw_private_key(X25519)");
  }
  WF_ASSIGN_OR_RETURN(std::string pub, RawPublicKeyOf(pkey.get()));
  WF_ASSIGN_OR_RETURN(EncryptionPublicKey pk, EncryptionPublicKey::FromRaw(pub));
  std::array<unsigned char, kX25519KeySize> sk;
  std::copy(raw.begin(), raw.end(), sk.begin());
  EncryptionKey key(sk, pkey.release(), std::move(pk));
  OPENSSL_cleanse(sk.data(), sk.size());
  return key;
}

absl::StatusOr<EncryptionKey> EncryptionKey::FromPem(absl::string_view pem) {
  WF_ASSIGN_OR_RETURN(BioPtr bio, ReadOnlyBio(pem));
  PkeyPtr pkey(
      PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassword, nullptr));
  if (pkey == nullptr) {
    return OpenSslError(absl::StatusCode::kInvalidArgument,
                        "not an unencrypted PEM PKCS#8 private key");
  }
  WF_RETURN_IF_ERROR(RequireX25519(pkey.get(), "private key"));
  unsigned char sk[kX25519KeySize];
  size_t len = sizeof(sk);
  ERR_clear_error();
  if (EVP_PKEY_get_raw_private_key(pkey.get(), sk, &len) != 1 ||
      len != kX25519KeySize) {
    OPENSSL_cleanse(sk, sizeof(sk));
    return OpenSslError(absl::StatusCode::kInvalidArgument,
                        "EVP_PKEY_get_raw_private_key");
  }
  absl::StatusOr<EncryptionKey> key = FromRaw(AsView(sk, len));
  OPENSSL_cleanse(sk, sizeof(sk));
  return key;
}

absl::StatusOr<EncryptionKey> EncryptionKey::LoadPemFile(
    const std::string& path) {
  WF_ASSIGN_OR_RETURN(
      FileContents file,
      ReadSmallFile(path, "key file",
                    "; run `watchfloor keygen` to create a node key"));
  if ((file.mode & 077) != 0) {
    OPENSSL_cleanse(file.data.data(), file.data.size());
    return absl::PermissionDeniedError(LooseKeyModeMessage(path, file.mode));
  }
  absl::StatusOr<EncryptionKey> key = FromPem(file.data);
  OPENSSL_cleanse(file.data.data(), file.data.size());
  if (!key.ok()) {
    return absl::Status(
        key.status().code(),
        absl::StrCat("key file ", path, ": ", key.status().message()));
  }
  return key;
}

absl::StatusOr<std::string> EncryptionKey::DiffieHellman(
    const EncryptionPublicKey& peer) const {
  WF_ASSIGN_OR_RETURN(PkeyPtr peer_pkey, RawPublicPkey(peer.raw()));
  ERR_clear_error();
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey_, nullptr));
  if (ctx == nullptr || EVP_PKEY_derive_init(ctx.get()) != 1 ||
      EVP_PKEY_derive_set_peer(ctx.get(), peer_pkey.get()) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "X25519 derive setup");
  }
  std::string shared(kX25519KeySize, '\0');
  size_t len = shared.size();
  // OpenSSL refuses (derive fails) when the result is all zero; check it
  // ourselves as well so the rule does not depend on the provider.
  const int rc = EVP_PKEY_derive(
      ctx.get(), reinterpret_cast<unsigned char*>(shared.data()), &len);
  if (rc != 1 || len != kX25519KeySize || AllZero(shared)) {
    OPENSSL_cleanse(shared.data(), shared.size());
    ERR_clear_error();
    return absl::InvalidArgumentError(absl::StrCat(
        "X25519 with public key ", HexEncode(peer.raw()),
        " gives the all-zero shared secret (a small-order point); refused "
        "(RFC 7748 section 6.1, RFC 9180 section 7.1.4)"));
  }
  return shared;
}

std::string EncryptionKey::ExportRaw() const {
  return std::string(AsView(sk_.data(), sk_.size()));
}

std::string EncryptionKey::ToPem() const {
  absl::StatusOr<std::string> pem = EncodePrivatePem(pkey_);
  if (!pem.ok()) DieOnInternalError(pem.status());
  return *std::move(pem);
}

absl::Status EncryptionKey::SavePemFile(const std::string& path) const {
  WF_ASSIGN_OR_RETURN(std::string pem, EncodePrivatePem(pkey_));
  absl::Status status = WriteNewFile(path, pem, 0600);
  OPENSSL_cleanse(pem.data(), pem.size());
  return status;
}

}  // namespace watchfloor::certs
