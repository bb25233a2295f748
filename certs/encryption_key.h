// X25519 encryption keys (RFC 7748) and their PEM files.
//
// A separate type from the Ed25519 SigningKey on purpose: a node's signing
// key and its encryption key are different keys with different purposes (no
// key reuse), and the type system keeps one from being passed for the other.
// The arithmetic and PEM go through OpenSSL 3.0 so that `openssl pkey` reads
// every file we write (PKCS#8 for private keys, SubjectPublicKeyInfo for
// public keys).
#ifndef WATCHFLOOR_CERTS_ENCRYPTION_KEY_H_
#define WATCHFLOOR_CERTS_ENCRYPTION_KEY_H_

#include <array>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

// OpenSSL's EVP_PKEY, declared so the header need not include OpenSSL.
struct evp_pkey_st;

namespace watchfloor::certs {

inline constexpr size_t kX25519KeySize = 32;

// An X25519 public key. Immutable value type; thread-safe to share.
class EncryptionPublicKey {
 public:
  // From the 32 raw key bytes (RFC 7748 u-coordinate). INVALID_ARGUMENT if
  // the size is wrong.
  static absl::StatusOr<EncryptionPublicKey> FromRaw(absl::string_view raw);
  // From PEM SubjectPublicKeyInfo text. INVALID_ARGUMENT if it is not an
  // X25519 public key (an Ed25519 key given by mistake is named as such).
  static absl::StatusOr<EncryptionPublicKey> FromPem(absl::string_view pem);
  // Reads a PEM file. NOT_FOUND if missing, INVALID_ARGUMENT if unreadable as
  // an X25519 public key; the message names the path.
  static absl::StatusOr<EncryptionPublicKey> LoadPemFile(
      const std::string& path);

  // The 32 raw key bytes.
  const std::string& raw() const { return raw_; }
  // DER SubjectPublicKeyInfo (44 bytes for X25519).
  std::string SpkiDer() const;
  // PEM SubjectPublicKeyInfo ("-----BEGIN PUBLIC KEY-----").
  std::string ToPem() const;
  // Lowercase hex SHA-256 of SpkiDer(), like PublicKey::KeyId().
  const std::string& KeyId() const { return keyid_; }
  // Writes the PEM to `path` with mode 0644. ALREADY_EXISTS if it exists.
  absl::Status SavePemFile(const std::string& path) const;

  friend bool operator==(const EncryptionPublicKey& a,
                         const EncryptionPublicKey& b) {
    return a.raw_ == b.raw_;
  }
  friend bool operator!=(const EncryptionPublicKey& a,
                         const EncryptionPublicKey& b) {
    return !(a == b);
  }

 private:
  explicit EncryptionPublicKey(std::string raw);
  std::string raw_;    // 32 bytes
  std::string keyid_;  // cached hex keyid
};

// An X25519 private key. Move-only; the secret is wiped on destruction.
// All const methods are thread-safe.
class EncryptionKey {
 public:
  // A fresh key from the OS CSPRNG (OpenSSL's RAND, seeded by getrandom).
  static EncryptionKey Generate();
  // From the 32 raw private bytes (RFC 7748 scalar, clamped when used).
  // INVALID_ARGUMENT if the size is wrong. Used by test vectors.
  static absl::StatusOr<EncryptionKey> FromRaw(absl::string_view raw);
  // From PEM PKCS#8 text. INVALID_ARGUMENT if not an X25519 private key (an
  // Ed25519 signing key given by mistake is named as such).
  static absl::StatusOr<EncryptionKey> FromPem(absl::string_view pem);
  // Reads a PEM PKCS#8 file. NOT_FOUND if missing; PERMISSION_DENIED if the
  // file is readable or writable by group or others (the message gives the
  // mode and says to run `chmod 600 <path>`); INVALID_ARGUMENT if it is not
  // an X25519 private key. Every message names the path.
  static absl::StatusOr<EncryptionKey> LoadPemFile(const std::string& path);

  EncryptionKey(EncryptionKey&&) noexcept;
  EncryptionKey& operator=(EncryptionKey&&) noexcept;
  EncryptionKey(const EncryptionKey&) = delete;
  EncryptionKey& operator=(const EncryptionKey&) = delete;
  ~EncryptionKey();

  const EncryptionPublicKey& public_key() const { return public_key_; }

  // X25519(this, peer): the 32-byte raw shared secret. INVALID_ARGUMENT if
  // the result is all zero (a low-order peer key; RFC 7748 section 6.1,
  // RFC 9180 section 7.1.4). The caller wipes the result when done.
  absl::StatusOr<std::string> DiffieHellman(
      const EncryptionPublicKey& peer) const;

  // The 32 raw private bytes. Only for test vectors (RFC 9180 skRm) and
  // tooling; the caller wipes the copy when done.
  std::string ExportRaw() const;
  // PEM PKCS#8 ("-----BEGIN PRIVATE KEY-----").
  std::string ToPem() const;
  // Writes the PEM PKCS#8 file, created with mode 0600 (O_EXCL:
  // ALREADY_EXISTS if the path exists, so a key is never overwritten).
  absl::Status SavePemFile(const std::string& path) const;

 private:
  EncryptionKey(const std::array<unsigned char, kX25519KeySize>& sk,
                evp_pkey_st* pkey, EncryptionPublicKey pk);
  void Clear();

  std::array<unsigned char, kX25519KeySize> sk_;
  // The same key as an OpenSSL handle, owned, made once so that each
  // DiffieHellman() costs one scalar multiplication (creating the handle
  // computes the public key). OpenSSL wipes it when freed.
  evp_pkey_st* pkey_;
  EncryptionPublicKey public_key_;
};

}  // namespace watchfloor::certs

#endif  // WATCHFLOOR_CERTS_ENCRYPTION_KEY_H_
