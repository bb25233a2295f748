// Ed25519 signing keys and public keys, and their PEM files.
//
// Signing and verification go through libsodium (about 2.3x faster than
// OpenSSL 3.0's EVP here); PEM encoding goes through OpenSSL so that
// `openssl pkey` reads every key file we write (PKCS#8 for private keys,
// SubjectPublicKeyInfo for public keys).
#ifndef WATCHFLOOR_CERTS_KEYS_H_
#define WATCHFLOOR_CERTS_KEYS_H_

#include <array>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace watchfloor::certs {

inline constexpr size_t kEd25519PublicKeySize = 32;
inline constexpr size_t kEd25519SeedSize = 32;
inline constexpr size_t kEd25519SignatureSize = 64;

// An Ed25519 public key. Immutable value type; thread-safe to share.
class PublicKey {
 public:
  // From the 32 raw key bytes. INVALID_ARGUMENT if the size is wrong.
  static absl::StatusOr<PublicKey> FromRaw(absl::string_view raw);
  // From PEM SubjectPublicKeyInfo text. INVALID_ARGUMENT if it is not an
  // Ed25519 public key (the message carries OpenSSL's error string).
  static absl::StatusOr<PublicKey> FromPem(absl::string_view pem);
  // From DER SubjectPublicKeyInfo bytes.
  static absl::StatusOr<PublicKey> FromSpkiDer(absl::string_view der);
  // Reads a PEM file. NOT_FOUND if missing, INVALID_ARGUMENT if unreadable
  // as an Ed25519 public key; the message names the path.
  static absl::StatusOr<PublicKey> LoadPemFile(const std::string& path);

  // The 32 raw key bytes.
  const std::string& raw() const { return raw_; }
  // DER SubjectPublicKeyInfo (44 bytes for Ed25519).
  std::string SpkiDer() const;
  // PEM SubjectPublicKeyInfo ("-----BEGIN PUBLIC KEY-----").
  std::string ToPem() const;
  // Lowercase hex SHA-256 of SpkiDer(), as DESIGN.md defines keyid.
  const std::string& KeyId() const { return keyid_; }

  // True iff `sig` is a valid Ed25519 signature of `message` by this key.
  // Pure; no I/O.
  bool Verify(absl::string_view message, absl::string_view sig) const;

  // Writes the PEM to `path` with mode 0644, replacing nothing: ALREADY_EXISTS
  // if the file exists.
  absl::Status SavePemFile(const std::string& path) const;

  friend bool operator==(const PublicKey& a, const PublicKey& b) {
    return a.raw_ == b.raw_;
  }

 private:
  explicit PublicKey(std::string raw);
  std::string raw_;    // 32 bytes
  std::string keyid_;  // cached hex keyid
};

// An Ed25519 private key. Move-only; the secret is wiped on destruction.
// Sign() is const and thread-safe.
class SigningKey {
 public:
  // A fresh key from the OS CSPRNG.
  static SigningKey Generate();
  // From a 32-byte seed (RFC 8032 "private key"). INVALID_ARGUMENT if the
  // size is wrong. Used by test vectors.
  static absl::StatusOr<SigningKey> FromSeed(absl::string_view seed);
  // From PEM PKCS#8 text. INVALID_ARGUMENT if not an Ed25519 private key.
  static absl::StatusOr<SigningKey> FromPem(absl::string_view pem);
  // Reads a PEM PKCS#8 file. NOT_FOUND if missing; PERMISSION_DENIED if the
  // file is readable or writable by group or others (the message says which
  // mode it has and to run `chmod 600 <path>`); INVALID_ARGUMENT if it is not
  // an Ed25519 private key. Every message names the path.
  static absl::StatusOr<SigningKey> LoadPemFile(const std::string& path);

  SigningKey(SigningKey&&) noexcept;
  SigningKey& operator=(SigningKey&&) noexcept;
  SigningKey(const SigningKey&) = delete;
  SigningKey& operator=(const SigningKey&) = delete;
  ~SigningKey();

  const PublicKey& public_key() const { return public_key_; }
  // 64-byte Ed25519 signature of `message`. Deterministic.
  std::string Sign(absl::string_view message) const;
  // PEM PKCS#8 ("-----BEGIN PRIVATE KEY-----").
  std::string ToPem() const;
  // Writes the PEM PKCS#8 file, created with mode 0600 (O_EXCL: ALREADY_EXISTS
  // if the path exists, so a key is never overwritten).
  absl::Status SavePemFile(const std::string& path) const;

 private:
  SigningKey(const std::array<unsigned char, 64>& sk, PublicKey pk);
  std::array<unsigned char, 64> sk_;  // libsodium layout: seed || public key
  PublicKey public_key_;
};

}  // namespace watchfloor::certs

#endif  // WATCHFLOOR_CERTS_KEYS_H_
