// Ed25519 keys: libsodium for the arithmetic, OpenSSL 3 for PEM/DER
// (file_io.cc does the POSIX part). OpenSSL types never leave this file.
#include "certs/keys.h"

#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <sodium.h>
#include <sys/stat.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
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
using internal::OpenSslErrors;
using internal::PkeyPtr;
using internal::ReadOnlyBio;

void EnsureSodium() {
  // Function-local static: initialised once, thread-safely (C++11).
  static const bool ok = sodium_init() >= 0;
  if (!ok) std::abort();  // No usable crypto: nothing sane to continue with.
}

// For the few accessors whose signature cannot carry a Status: OpenSSL fails
// there only when out of memory, which we treat like std::bad_alloc.
[[noreturn]] void DieOnInternalError(const absl::Status& status) {
  std::fprintf(stderr, "watchfloor certs: fatal: %s\n",
               status.ToString().c_str());
  std::abort();
}

absl::StatusOr<PkeyPtr> RawPublicPkey(absl::string_view raw) {
  ERR_clear_error();
  PkeyPtr pkey(EVP_PKEY_new_raw_public_key(
      EVP_PKEY_ED25519, nullptr,
      reinterpret_cast<const unsigned char*>(raw.data()), raw.size()));
  if (pkey == nullptr) {
    return OpenSslError(absl::StatusCode::kInternal,
                        "EVP_PKEY_new_raw_public_key");
  }
  return pkey;
}

absl::Status RequireEd25519(const EVP_PKEY* pkey, absl::string_view what) {
  if (EVP_PKEY_get_id(pkey) == EVP_PKEY_ED25519) return absl::OkStatus();
  const char* type = EVP_PKEY_get0_type_name(pkey);
  return absl::InvalidArgumentError(
      absl::StrCat(what, " is a ", type != nullptr ? type : "non-Ed25519",
                   " key, not an Ed25519 key"));
}

absl::StatusOr<std::string> RawPublicKeyOf(const EVP_PKEY* pkey) {
  std::string raw(kEd25519PublicKeySize, '\0');
  size_t len = raw.size();
  ERR_clear_error();
  if (EVP_PKEY_get_raw_public_key(
          pkey, reinterpret_cast<unsigned char*>(raw.data()), &len) != 1 ||
      len != kEd25519PublicKeySize) {
    return OpenSslError(absl::StatusCode::kInvalidArgument,
                        "EVP_PKEY_get_raw_public_key");
  }
  return raw;
}

absl::StatusOr<std::string> EncodeSpkiDer(absl::string_view raw) {
  WF_ASSIGN_OR_RETURN(PkeyPtr pkey, RawPublicPkey(raw));
  unsigned char* der = nullptr;
  const int len = i2d_PUBKEY(pkey.get(), &der);
  if (len <= 0) return OpenSslError(absl::StatusCode::kInternal, "i2d_PUBKEY");
  std::string out(reinterpret_cast<char*>(der), len);
  OPENSSL_free(der);
  return out;
}

absl::StatusOr<std::string> EncodePublicPem(absl::string_view raw) {
  WF_ASSIGN_OR_RETURN(PkeyPtr pkey, RawPublicPkey(raw));
  BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || PEM_write_bio_PUBKEY(bio.get(), pkey.get()) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "PEM_write_bio_PUBKEY");
  }
  return BioContents(bio.get());
}

absl::StatusOr<std::string> EncodePrivatePem(const unsigned char* seed) {
  ERR_clear_error();
  PkeyPtr pkey(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, seed,
                                            kEd25519SeedSize));
  if (pkey == nullptr) {
    return OpenSslError(absl::StatusCode::kInternal,
                        "EVP_PKEY_new_raw_private_key");
  }
  // A secure-memory BIO wipes its buffer when freed.
  BioPtr bio(BIO_new(BIO_s_secmem()));
  if (bio == nullptr ||
      PEM_write_bio_PrivateKey(bio.get(), pkey.get(), nullptr, nullptr, 0,
                               nullptr, nullptr) != 1) {
    return OpenSslError(absl::StatusCode::kInternal,
                        "PEM_write_bio_PrivateKey");
  }
  return BioContents(bio.get());
}

}  // namespace

// ---------------------------------------------------------------- PublicKey

PublicKey::PublicKey(std::string raw) : raw_(std::move(raw)) {
  keyid_ = HexEncode(Sha256(SpkiDer()));
}

absl::StatusOr<PublicKey> PublicKey::FromRaw(absl::string_view raw) {
  if (raw.size() != kEd25519PublicKeySize) {
    return absl::InvalidArgumentError(
        absl::StrCat("Ed25519 public key must be ", kEd25519PublicKeySize,
                     " bytes, got ", raw.size()));
  }
  return PublicKey(std::string(raw));
}

absl::StatusOr<PublicKey> PublicKey::FromPem(absl::string_view pem) {
  WF_ASSIGN_OR_RETURN(BioPtr bio, ReadOnlyBio(pem));
  PkeyPtr pkey(PEM_read_bio_PUBKEY(bio.get(), nullptr, NoPassword, nullptr));
  if (pkey == nullptr) {
    return OpenSslError(absl::StatusCode::kInvalidArgument,
                        "not a PEM SubjectPublicKeyInfo public key");
  }
  WF_RETURN_IF_ERROR(RequireEd25519(pkey.get(), "public key"));
  WF_ASSIGN_OR_RETURN(std::string raw, RawPublicKeyOf(pkey.get()));
  return PublicKey(std::move(raw));
}

absl::StatusOr<PublicKey> PublicKey::FromSpkiDer(absl::string_view der) {
  ERR_clear_error();
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  const auto* end = p + der.size();
  PkeyPtr pkey(d2i_PUBKEY(nullptr, &p, static_cast<long>(der.size())));
  if (pkey == nullptr) {
    return OpenSslError(absl::StatusCode::kInvalidArgument,
                        "not a DER SubjectPublicKeyInfo public key");
  }
  if (p != end) {
    return absl::InvalidArgumentError(absl::StrCat(
        "DER SubjectPublicKeyInfo has ", end - p, " trailing bytes"));
  }
  WF_RETURN_IF_ERROR(RequireEd25519(pkey.get(), "public key"));
  WF_ASSIGN_OR_RETURN(std::string raw, RawPublicKeyOf(pkey.get()));
  return PublicKey(std::move(raw));
}

absl::StatusOr<PublicKey> PublicKey::LoadPemFile(const std::string& path) {
  WF_ASSIGN_OR_RETURN(FileContents file,
                      ReadSmallFile(path, "public key file", ""));
  absl::StatusOr<PublicKey> key = FromPem(file.data);
  if (!key.ok()) {
    return absl::Status(
        key.status().code(),
        absl::StrCat("public key file ", path, ": ", key.status().message()));
  }
  return key;
}

std::string PublicKey::SpkiDer() const {
  absl::StatusOr<std::string> der = EncodeSpkiDer(raw_);
  if (!der.ok()) DieOnInternalError(der.status());
  return *std::move(der);
}

std::string PublicKey::ToPem() const {
  absl::StatusOr<std::string> pem = EncodePublicPem(raw_);
  if (!pem.ok()) DieOnInternalError(pem.status());
  return *std::move(pem);
}

bool PublicKey::Verify(absl::string_view message, absl::string_view sig) const {
  EnsureSodium();
  if (sig.size() != kEd25519SignatureSize) return false;
  return crypto_sign_verify_detached(
             reinterpret_cast<const unsigned char*>(sig.data()),
             reinterpret_cast<const unsigned char*>(message.data()),
             message.size(),
             reinterpret_cast<const unsigned char*>(raw_.data())) == 0;
}

absl::Status PublicKey::SavePemFile(const std::string& path) const {
  WF_ASSIGN_OR_RETURN(std::string pem, EncodePublicPem(raw_));
  return WriteNewFile(path, pem, 0644);
}

// --------------------------------------------------------------- SigningKey

SigningKey::SigningKey(const std::array<unsigned char, 64>& sk, PublicKey pk)
    : sk_(sk), public_key_(std::move(pk)) {}

SigningKey::SigningKey(SigningKey&& other) noexcept
    : sk_(other.sk_), public_key_(std::move(other.public_key_)) {
  sodium_memzero(other.sk_.data(), other.sk_.size());
}

SigningKey& SigningKey::operator=(SigningKey&& other) noexcept {
  if (this != &other) {
    sk_ = other.sk_;
    public_key_ = std::move(other.public_key_);
    sodium_memzero(other.sk_.data(), other.sk_.size());
  }
  return *this;
}

SigningKey::~SigningKey() { sodium_memzero(sk_.data(), sk_.size()); }

SigningKey SigningKey::Generate() {
  EnsureSodium();
  std::array<unsigned char, 64> sk;
  unsigned char pk[crypto_sign_PUBLICKEYBYTES];
  crypto_sign_keypair(pk, sk.data());
  // FromRaw cannot fail on libsodium's 32-byte public key.
  SigningKey key(sk, *PublicKey::FromRaw(absl::string_view(
                         reinterpret_cast<char*>(pk), sizeof(pk))));
  sodium_memzero(sk.data(), sk.size());
  return key;
}

absl::StatusOr<SigningKey> SigningKey::FromSeed(absl::string_view seed) {
  EnsureSodium();
  if (seed.size() != kEd25519SeedSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("Ed25519 seed must be ", kEd25519SeedSize, " bytes, got ",
                     seed.size()));
  }
  std::array<unsigned char, 64> sk;
  unsigned char pk[crypto_sign_PUBLICKEYBYTES];
  crypto_sign_seed_keypair(pk, sk.data(),
                           reinterpret_cast<const unsigned char*>(seed.data()));
  // FromRaw cannot fail on libsodium's 32-byte public key.
  SigningKey key(sk, *PublicKey::FromRaw(absl::string_view(
                         reinterpret_cast<char*>(pk), sizeof(pk))));
  sodium_memzero(sk.data(), sk.size());
  return key;
}

absl::StatusOr<SigningKey> SigningKey::FromPem(absl::string_view pem) {
  WF_ASSIGN_OR_RETURN(BioPtr bio, ReadOnlyBio(pem));
  PkeyPtr pkey(
      PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassword, nullptr));
  if (pkey == nullptr) {
    return OpenSslError(absl::StatusCode::kInvalidArgument,
                        "not an unencrypted PEM PKCS#8 private key");
  }
  WF_RETURN_IF_ERROR(RequireEd25519(pkey.get(), "private key"));
  unsigned char seed[kEd25519SeedSize];
  size_t len = sizeof(seed);
  ERR_clear_error();
  if (EVP_PKEY_get_raw_private_key(pkey.get(), seed, &len) != 1 ||
      len != kEd25519SeedSize) {
    OPENSSL_cleanse(seed, sizeof(seed));
    return OpenSslError(absl::StatusCode::kInvalidArgument,
                        "EVP_PKEY_get_raw_private_key");
  }
  absl::StatusOr<SigningKey> key =
      FromSeed(absl::string_view(reinterpret_cast<char*>(seed), len));
  OPENSSL_cleanse(seed, sizeof(seed));
  return key;
}

absl::StatusOr<SigningKey> SigningKey::LoadPemFile(const std::string& path) {
  WF_ASSIGN_OR_RETURN(
      FileContents file,
      ReadSmallFile(path, "key file",
                    "; run `watchfloor keygen` to create a node key"));
  if ((file.mode & 077) != 0) {
    OPENSSL_cleanse(file.data.data(), file.data.size());
    return absl::PermissionDeniedError(LooseKeyModeMessage(path, file.mode));
  }
  absl::StatusOr<SigningKey> key = FromPem(file.data);
  OPENSSL_cleanse(file.data.data(), file.data.size());
  if (!key.ok()) {
    return absl::Status(
        key.status().code(),
        absl::StrCat("key file ", path, ": ", key.status().message()));
  }
  return key;
}

std::string SigningKey::Sign(absl::string_view message) const {
  std::string sig(kEd25519SignatureSize, '\0');
  crypto_sign_detached(reinterpret_cast<unsigned char*>(sig.data()), nullptr,
                       reinterpret_cast<const unsigned char*>(message.data()),
                       message.size(), sk_.data());
  return sig;
}

std::string SigningKey::ToPem() const {
  absl::StatusOr<std::string> pem = EncodePrivatePem(sk_.data());
  if (!pem.ok()) DieOnInternalError(pem.status());
  return *std::move(pem);
}

absl::Status SigningKey::SavePemFile(const std::string& path) const {
  WF_ASSIGN_OR_RETURN(std::string pem, EncodePrivatePem(sk_.data()));
  absl::Status status = WriteNewFile(path, pem, 0600);
  OPENSSL_cleanse(pem.data(), pem.size());
  return status;
}

}  // namespace watchfloor::certs
