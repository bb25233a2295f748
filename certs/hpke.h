// HPKE (RFC 9180), base mode only, one KEM and one KDF:
//   KEM  DHKEM(X25519, HKDF-SHA256)  kem_id 0x0020
//   KDF  HKDF-SHA256                 kdf_id 0x0001
//   AEAD AES-128-GCM                 aead_id 0x0001 (only to check the RFC's
//                                     Appendix A.1 vectors)
//        AES-256-GCM                 aead_id 0x0002 (what watchfloor uses)
// Built on OpenSSL 3.0 primitives (Debian's 3.0 has no HPKE API): X25519
// through EVP_PKEY_derive, HKDF through EVP_KDF "HKDF" in EXTRACT_ONLY /
// EXPAND_ONLY modes, AES-GCM through EVP_Cipher*. Pure functions; no I/O.
//
// Error codes, the same everywhere in this file:
//   INVALID_ARGUMENT  malformed input: wrong sizes (enc, keys, nonces, a
//                     ciphertext shorter than the tag), or a DH output that is
//                     all zero (RFC 9180 section 7.1.4);
//   DATA_LOSS         a ciphertext that does not authenticate (wrong key,
//                     wrong info/aad, altered bytes): "... does not
//                     authenticate";
//   FAILED_PRECONDITION  the sequence number would overflow (RFC 9180 5.2);
//   INTERNAL          OpenSSL failed for a reason unrelated to the input.
#ifndef WATCHFLOOR_CERTS_HPKE_H_
#define WATCHFLOOR_CERTS_HPKE_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "certs/encryption_key.h"

namespace watchfloor::certs::hpke {

inline constexpr uint16_t kKemX25519HkdfSha256 = 0x0020;
inline constexpr uint16_t kKdfHkdfSha256 = 0x0001;
inline constexpr size_t kEncSize = 32;    // Nenc: the ephemeral public key
inline constexpr size_t kNonceSize = 12;  // Nn for both AEADs
inline constexpr size_t kTagSize = 16;    // Nt for both AEADs
// Longest Export() context (OpenSSL 3.0's HKDF info buffer is 1024 bytes).
inline constexpr size_t kMaxExporterContext = 1000;

// The AEADs; the values are the RFC 9180 aead_id.
enum class Aead : uint16_t {
  kAes128Gcm = 0x0001,
  kAes256Gcm = 0x0002,
};

// Nk: 16 for AES-128-GCM, 32 for AES-256-GCM.
size_t KeySize(Aead aead);

// DeriveKeyPair(ikm) for DHKEM(X25519, HKDF-SHA256) (RFC 9180 7.1.3).
// INVALID_ARGUMENT if ikm is shorter than 32 bytes (Nsk).
absl::StatusOr<EncryptionKey> DeriveKeyPair(absl::string_view ikm);

// The output of Encap: the encapsulated key and the KEM shared secret.
struct Encapsulation {
  std::string enc;            // 32 bytes, the ephemeral public key
  std::string shared_secret;  // 32 bytes
};

// Encap(pkR) (RFC 9180 4.1). `ephemeral` is the ephemeral private key; null
// means a fresh one from the CSPRNG (non-null only for test vectors).
absl::StatusOr<Encapsulation> Encap(const EncryptionPublicKey& pkR,
                                    const EncryptionKey* ephemeral = nullptr);
// Decap(enc, skR): the KEM shared secret.
absl::StatusOr<std::string> Decap(absl::string_view enc,
                                  const EncryptionKey& skR);

// One AEAD operation with an explicit key and nonce: the ciphertext with the
// 16-byte tag appended. INVALID_ARGUMENT on a wrong key or nonce size.
absl::StatusOr<std::string> AeadSeal(Aead aead, absl::string_view key,
                                     absl::string_view nonce,
                                     absl::string_view aad,
                                     absl::string_view plaintext);
// The inverse; DATA_LOSS "<what> does not authenticate" on a bad tag,
// INVALID_ARGUMENT on wrong sizes (including a ciphertext under 16 bytes).
absl::StatusOr<std::string> AeadOpen(Aead aead, absl::string_view key,
                                     absl::string_view nonce,
                                     absl::string_view aad,
                                     absl::string_view ciphertext,
                                     absl::string_view what = "ciphertext");

// An HPKE context (RFC 9180 5.1/5.2), base mode. Move-only; secrets are
// wiped on destruction. Not thread-safe (Seal/Open advance the sequence).
class Context {
 public:
  // SetupBaseS: a sender context and the enc to send along.
  static absl::StatusOr<Context> SetupBaseS(
      const EncryptionPublicKey& pkR, absl::string_view info, Aead aead,
      const EncryptionKey* ephemeral = nullptr, std::string* enc = nullptr);
  // SetupBaseR: the recipient context for `enc`.
  static absl::StatusOr<Context> SetupBaseR(absl::string_view enc,
                                            const EncryptionKey& skR,
                                            absl::string_view info, Aead aead);
  // The key schedule from an already computed KEM shared secret (RFC 9180
  // 5.1 KeySchedule with mode_base); what SetupBaseS/R end with.
  static absl::StatusOr<Context> FromSharedSecret(
      absl::string_view shared_secret, absl::string_view info, Aead aead);

  Context(Context&&) noexcept;
  Context& operator=(Context&&) noexcept;
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;
  ~Context();

  // Seal/Open with the current sequence number, then increment it.
  absl::StatusOr<std::string> Seal(absl::string_view aad,
                                   absl::string_view plaintext);
  absl::StatusOr<std::string> Open(absl::string_view aad,
                                   absl::string_view ciphertext);
  // The same at an explicit sequence number, without changing seq().
  absl::StatusOr<std::string> SealAt(uint64_t seq, absl::string_view aad,
                                     absl::string_view plaintext) const;
  absl::StatusOr<std::string> OpenAt(uint64_t seq, absl::string_view aad,
                                     absl::string_view ciphertext) const;
  // ComputeNonce(seq) = base_nonce XOR I2OSP(seq, Nn).
  std::string NonceAt(uint64_t seq) const;
  // Secret export (RFC 9180 5.3): LabeledExpand(exporter_secret, "sec",
  // exporter_context, length). INVALID_ARGUMENT if length > 255 * 32 or
  // the context is longer than kMaxExporterContext.
  absl::StatusOr<std::string> Export(absl::string_view exporter_context,
                                     size_t length) const;

  // Key schedule values, exposed for the RFC 9180 test vectors.
  Aead aead() const { return aead_; }
  const std::string& shared_secret() const { return shared_secret_; }
  const std::string& key_schedule_context() const { return ks_context_; }
  const std::string& secret() const { return secret_; }
  const std::string& key() const { return key_; }
  const std::string& base_nonce() const { return base_nonce_; }
  const std::string& exporter_secret() const { return exporter_secret_; }
  uint64_t seq() const { return seq_; }

 private:
  Context() = default;
  void Wipe();

  Aead aead_ = Aead::kAes256Gcm;
  std::string shared_secret_;
  std::string ks_context_;
  std::string secret_;
  std::string key_;
  std::string base_nonce_;
  std::string exporter_secret_;
  uint64_t seq_ = 0;
};

// Single-shot base mode (RFC 9180 6.1).
struct Sealed {
  std::string enc;         // 32 bytes
  std::string ciphertext;  // plaintext size + 16
};
// SealBase: encrypts `plaintext` to `pkR`. `ephemeral` as in Encap.
absl::StatusOr<Sealed> SealBase(const EncryptionPublicKey& pkR,
                                absl::string_view info, absl::string_view aad,
                                absl::string_view plaintext, Aead aead,
                                const EncryptionKey* ephemeral = nullptr);
// OpenBase: DATA_LOSS "HPKE ciphertext does not authenticate" if the
// ciphertext, enc, info or aad were altered, or skR is not the key it was
// sealed to; INVALID_ARGUMENT on wrong sizes or an all-zero DH output.
absl::StatusOr<std::string> OpenBase(const EncryptionKey& skR,
                                     absl::string_view enc,
                                     absl::string_view info,
                                     absl::string_view aad,
                                     absl::string_view ciphertext, Aead aead);

}  // namespace watchfloor::certs::hpke

#endif  // WATCHFLOOR_CERTS_HPKE_H_
