// HPKE (RFC 9180) base mode on OpenSSL 3.0 primitives. Section numbers in
// comments are RFC 9180's.
#include "certs/hpke.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include <limits>
#include <optional>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "certs/openssl_util.h"
#include "certs/status_macros.h"

namespace watchfloor::certs::hpke {
namespace {

using internal::Deleter;
using internal::OpenSslError;
using internal::Wiper;
using KdfCtxPtr =
    std::unique_ptr<EVP_KDF_CTX, Deleter<EVP_KDF_CTX, EVP_KDF_CTX_free>>;
using CipherCtxPtr = std::unique_ptr<EVP_CIPHER_CTX,
                                     Deleter<EVP_CIPHER_CTX, EVP_CIPHER_CTX_free>>;

constexpr size_t kHashSize = 32;  // Nh of HKDF-SHA256, Nsecret of the KEM
constexpr absl::string_view kVersionLabel = "HPKE-v1";
constexpr char kModeBase = 0x00;

std::string I2Osp2(size_t v) {
  return std::string{static_cast<char>((v >> 8) & 0xff),
                     static_cast<char>(v & 0xff)};
}

// suite_id of the KEM (4.1): "KEM" || I2OSP(kem_id, 2).
std::string KemSuiteId() {
  return absl::StrCat("KEM", I2Osp2(kKemX25519HkdfSha256));
}

// suite_id of the full HPKE suite (5.1).
std::string HpkeSuiteId(Aead aead) {
  return absl::StrCat("HPKE", I2Osp2(kKemX25519HkdfSha256),
                      I2Osp2(kKdfHkdfSha256),
                      I2Osp2(static_cast<uint16_t>(aead)));
}

// OpenSSL fetches are slow (a provider lookup, also for the digest named in
// the KDF's parameters: about 3 us per HKDF call here). So each thread keeps
// one HKDF-SHA256 context whose digest is set once; every call then sets all
// of mode, key, salt and info (see RunHkdf). OpenSSL 3.0 cannot duplicate an
// HKDF context (no dupctx before 3.1), hence per thread. The last call's
// key stays in the context until the next call or the thread's exit (freed
// with OPENSSL_clear_free). Null on failure.
EVP_KDF_CTX* ThreadHkdfSha256() {
  thread_local const KdfCtxPtr ctx = [] {
    EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
    if (kdf == nullptr) return KdfCtxPtr();
    KdfCtxPtr c(EVP_KDF_CTX_new(kdf));
    EVP_KDF_free(kdf);  // the context holds its own reference
    char digest[] = "SHA256";
    const OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
        OSSL_PARAM_construct_end()};
    if (c != nullptr && EVP_KDF_CTX_set_params(c.get(), params) != 1) c.reset();
    return c;
  }();
  return ctx.get();
}

// The EVP_CIPHER objects are immutable and safe to share.
const EVP_CIPHER* GcmCipher(Aead aead) {
  static EVP_CIPHER* const aes128 =
      EVP_CIPHER_fetch(nullptr, "AES-128-GCM", nullptr);
  static EVP_CIPHER* const aes256 =
      EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
  return aead == Aead::kAes128Gcm ? aes128 : aes256;
}

// One EVP_KDF "HKDF" (SHA-256) call in `mode` (EXTRACT_ONLY or EXPAND_ONLY).
absl::StatusOr<std::string> RunHkdf(int mode, absl::string_view key,
                                    absl::string_view salt,
                                    absl::string_view info, size_t length) {
  ERR_clear_error();
  EVP_KDF_CTX* ctx = ThreadHkdfSha256();
  if (ctx == nullptr) {
    return OpenSslError(absl::StatusCode::kInternal, "HKDF-SHA256 setup");
  }
  // The context is reused, and OpenSSL 3.0 ignores an empty salt or info
  // parameter (keeping the previous value), so both are always passed with
  // content: an empty salt as HashLen zero bytes, which RFC 5869 2.2 defines
  // it to mean; info is only read by EXPAND_ONLY, where it is never empty
  // (labeled info starts with I2OSP(L, 2)).
  static const std::string kZeroSalt(kHashSize, '\0');
  if (salt.empty()) salt = kZeroSalt;
  OSSL_PARAM params[5];
  OSSL_PARAM* p = params;
  *p++ = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode);
  *p++ = OSSL_PARAM_construct_octet_string(
      OSSL_KDF_PARAM_KEY, const_cast<char*>(key.data()), key.size());
  *p++ = OSSL_PARAM_construct_octet_string(
      OSSL_KDF_PARAM_SALT, const_cast<char*>(salt.data()), salt.size());
  if (!info.empty()) {
    *p++ = OSSL_PARAM_construct_octet_string(
        OSSL_KDF_PARAM_INFO, const_cast<char*>(info.data()), info.size());
  }
  *p = OSSL_PARAM_construct_end();
  std::string out(length, '\0');
  if (EVP_KDF_derive(ctx, reinterpret_cast<unsigned char*>(out.data()),
                     out.size(), params) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "EVP_KDF_derive(HKDF)");
  }
  return out;
}

// LabeledExtract(salt, label, ikm) (4): Extract(salt, "HPKE-v1" || suite_id
// || label || ikm).
absl::StatusOr<std::string> LabeledExtract(absl::string_view suite_id,
                                           absl::string_view salt,
                                           absl::string_view label,
                                           absl::string_view ikm) {
  std::string labeled_ikm = absl::StrCat(kVersionLabel, suite_id, label, ikm);
  Wiper wipe(labeled_ikm);
  return RunHkdf(EVP_KDF_HKDF_MODE_EXTRACT_ONLY, labeled_ikm, salt, "",
                 kHashSize);
}

// LabeledExpand(prk, label, info, L) (4): Expand(prk, I2OSP(L, 2) ||
// "HPKE-v1" || suite_id || label || info, L).
absl::StatusOr<std::string> LabeledExpand(absl::string_view suite_id,
                                          absl::string_view prk,
                                          absl::string_view label,
                                          absl::string_view info,
                                          size_t length) {
  const std::string labeled_info =
      absl::StrCat(I2Osp2(length), kVersionLabel, suite_id, label, info);
  return RunHkdf(EVP_KDF_HKDF_MODE_EXPAND_ONLY, prk, "", labeled_info, length);
}

// ExtractAndExpand(dh, kem_context) of DHKEM (4.1).
absl::StatusOr<std::string> ExtractAndExpand(absl::string_view dh,
                                             absl::string_view kem_context) {
  const std::string suite = KemSuiteId();
  WF_ASSIGN_OR_RETURN(std::string eae_prk,
                      LabeledExtract(suite, "", "eae_prk", dh));
  Wiper wipe(eae_prk);
  return LabeledExpand(suite, eae_prk, "shared_secret", kem_context,
                       kHashSize);
}

absl::Status CheckAeadSizes(Aead aead, absl::string_view key,
                            absl::string_view nonce) {
  if (key.size() != KeySize(aead)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "AEAD key must be ", KeySize(aead), " bytes, got ", key.size()));
  }
  if (nonce.size() != kNonceSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "AEAD nonce must be ", kNonceSize, " bytes, got ", nonce.size()));
  }
  return absl::OkStatus();
}

// A GCM context initialised for `encrypt` with key and nonce, AAD fed in.
absl::StatusOr<CipherCtxPtr> StartGcm(Aead aead, bool encrypt,
                                      absl::string_view key,
                                      absl::string_view nonce,
                                      absl::string_view aad) {
  ERR_clear_error();
  CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  const auto* k = reinterpret_cast<const unsigned char*>(key.data());
  const auto* iv = reinterpret_cast<const unsigned char*>(nonce.data());
  int unused = 0;
  if (ctx == nullptr || GcmCipher(aead) == nullptr ||
      EVP_CipherInit_ex(ctx.get(), GcmCipher(aead), nullptr, k, iv,
                        encrypt ? 1 : 0) != 1 ||
      (!aad.empty() &&
       EVP_CipherUpdate(ctx.get(), nullptr, &unused,
                        reinterpret_cast<const unsigned char*>(aad.data()),
                        static_cast<int>(aad.size())) != 1)) {
    return OpenSslError(absl::StatusCode::kInternal, "AES-GCM setup");
  }
  return ctx;
}

}  // namespace

size_t KeySize(Aead aead) { return aead == Aead::kAes128Gcm ? 16 : 32; }

// ------------------------------------------------------------------- KEM

absl::StatusOr<EncryptionKey> DeriveKeyPair(absl::string_view ikm) {
  if (ikm.size() < kX25519KeySize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "DeriveKeyPair ikm must be at least ", kX25519KeySize,
        " bytes, got ", ikm.size()));
  }
  const std::string suite = KemSuiteId();
  WF_ASSIGN_OR_RETURN(std::string dkp_prk,
                      LabeledExtract(suite, "", "dkp_prk", ikm));
  Wiper wipe_prk(dkp_prk);
  WF_ASSIGN_OR_RETURN(std::string sk,
                      LabeledExpand(suite, dkp_prk, "sk", "", kX25519KeySize));
  Wiper wipe_sk(sk);
  return EncryptionKey::FromRaw(sk);
}

absl::StatusOr<Encapsulation> Encap(const EncryptionPublicKey& pkR,
                                    const EncryptionKey* ephemeral) {
  std::optional<EncryptionKey> fresh;
  if (ephemeral == nullptr) ephemeral = &fresh.emplace(EncryptionKey::Generate());
  WF_ASSIGN_OR_RETURN(std::string dh, ephemeral->DiffieHellman(pkR));
  Wiper wipe(dh);
  Encapsulation out;
  out.enc = ephemeral->public_key().raw();
  WF_ASSIGN_OR_RETURN(out.shared_secret,
                      ExtractAndExpand(dh, absl::StrCat(out.enc, pkR.raw())));
  return out;
}

absl::StatusOr<std::string> Decap(absl::string_view enc,
                                  const EncryptionKey& skR) {
  if (enc.size() != kEncSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "HPKE enc must be ", kEncSize, " bytes, got ", enc.size()));
  }
  WF_ASSIGN_OR_RETURN(EncryptionPublicKey pkE, EncryptionPublicKey::FromRaw(enc));
  WF_ASSIGN_OR_RETURN(std::string dh, skR.DiffieHellman(pkE));
  Wiper wipe(dh);
  return ExtractAndExpand(dh, absl::StrCat(enc, skR.public_key().raw()));
}

// ------------------------------------------------------------------ AEAD

absl::StatusOr<std::string> AeadSeal(Aead aead, absl::string_view key,
                                     absl::string_view nonce,
                                     absl::string_view aad,
                                     absl::string_view plaintext) {
  WF_RETURN_IF_ERROR(CheckAeadSizes(aead, key, nonce));
  WF_ASSIGN_OR_RETURN(CipherCtxPtr ctx,
                      StartGcm(aead, /*encrypt=*/true, key, nonce, aad));
  std::string out(plaintext.size() + kTagSize, '\0');
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  int len = 0;
  int final_len = 0;
  if (EVP_CipherUpdate(ctx.get(), o, &len,
                       reinterpret_cast<const unsigned char*>(plaintext.data()),
                       static_cast<int>(plaintext.size())) != 1 ||
      EVP_CipherFinal_ex(ctx.get(), o + len, &final_len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagSize,
                          o + plaintext.size()) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "AES-GCM encrypt");
  }
  return out;
}

absl::StatusOr<std::string> AeadOpen(Aead aead, absl::string_view key,
                                     absl::string_view nonce,
                                     absl::string_view aad,
                                     absl::string_view ciphertext,
                                     absl::string_view what) {
  WF_RETURN_IF_ERROR(CheckAeadSizes(aead, key, nonce));
  if (ciphertext.size() < kTagSize) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " is ", ciphertext.size(),
                     " bytes, shorter than the ", kTagSize, "-byte tag"));
  }
  WF_ASSIGN_OR_RETURN(CipherCtxPtr ctx,
                      StartGcm(aead, /*encrypt=*/false, key, nonce, aad));
  const size_t body = ciphertext.size() - kTagSize;
  const auto* c = reinterpret_cast<const unsigned char*>(ciphertext.data());
  std::string out(body, '\0');
  auto* o = reinterpret_cast<unsigned char*>(out.data());
  int len = 0;
  int final_len = 0;
  if (EVP_CipherUpdate(ctx.get(), o, &len, c, static_cast<int>(body)) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagSize,
                          const_cast<unsigned char*>(c + body)) != 1) {
    return OpenSslError(absl::StatusCode::kInternal, "AES-GCM decrypt");
  }
  if (EVP_CipherFinal_ex(ctx.get(), o + len, &final_len) != 1) {
    ERR_clear_error();
    OPENSSL_cleanse(out.data(), out.size());
    return absl::DataLossError(absl::StrCat(what, " does not authenticate"));
  }
  return out;
}

// --------------------------------------------------------------- Context

Context::Context(Context&& other) noexcept
    : aead_(other.aead_),
      shared_secret_(std::move(other.shared_secret_)),
      ks_context_(std::move(other.ks_context_)),
      secret_(std::move(other.secret_)),
      key_(std::move(other.key_)),
      base_nonce_(std::move(other.base_nonce_)),
      exporter_secret_(std::move(other.exporter_secret_)),
      seq_(other.seq_) {
  other.Wipe();
}

Context& Context::operator=(Context&& other) noexcept {
  if (this != &other) {
    Wipe();
    aead_ = other.aead_;
    shared_secret_ = std::move(other.shared_secret_);
    ks_context_ = std::move(other.ks_context_);
    secret_ = std::move(other.secret_);
    key_ = std::move(other.key_);
    base_nonce_ = std::move(other.base_nonce_);
    exporter_secret_ = std::move(other.exporter_secret_);
    seq_ = other.seq_;
    other.Wipe();
  }
  return *this;
}

Context::~Context() { Wipe(); }

void Context::Wipe() {
  for (std::string* s : {&shared_secret_, &secret_, &key_, &base_nonce_,
                         &exporter_secret_}) {
    OPENSSL_cleanse(s->data(), s->size());
    s->clear();
  }
}

absl::StatusOr<Context> Context::FromSharedSecret(
    absl::string_view shared_secret, absl::string_view info, Aead aead) {
  if (aead != Aead::kAes128Gcm && aead != Aead::kAes256Gcm) {
    return absl::InvalidArgumentError(
        absl::StrCat("unsupported HPKE aead_id ", static_cast<int>(aead)));
  }
  const std::string suite = HpkeSuiteId(aead);
  Context c;
  c.aead_ = aead;
  c.shared_secret_ = std::string(shared_secret);
  // 5.1 KeySchedule, mode_base: psk and psk_id are empty.
  WF_ASSIGN_OR_RETURN(std::string psk_id_hash,
                      LabeledExtract(suite, "", "psk_id_hash", ""));
  WF_ASSIGN_OR_RETURN(std::string info_hash,
                      LabeledExtract(suite, "", "info_hash", info));
  c.ks_context_ = absl::StrCat(absl::string_view(&kModeBase, 1), psk_id_hash,
                               info_hash);
  WF_ASSIGN_OR_RETURN(c.secret_,
                      LabeledExtract(suite, shared_secret, "secret", ""));
  WF_ASSIGN_OR_RETURN(c.key_, LabeledExpand(suite, c.secret_, "key",
                                            c.ks_context_, KeySize(aead)));
  WF_ASSIGN_OR_RETURN(c.base_nonce_,
                      LabeledExpand(suite, c.secret_, "base_nonce",
                                    c.ks_context_, kNonceSize));
  WF_ASSIGN_OR_RETURN(c.exporter_secret_,
                      LabeledExpand(suite, c.secret_, "exp", c.ks_context_,
                                    kHashSize));
  return c;
}

absl::StatusOr<Context> Context::SetupBaseS(const EncryptionPublicKey& pkR,
                                            absl::string_view info, Aead aead,
                                            const EncryptionKey* ephemeral,
                                            std::string* enc) {
  WF_ASSIGN_OR_RETURN(Encapsulation e, Encap(pkR, ephemeral));
  Wiper wipe(e.shared_secret);
  WF_ASSIGN_OR_RETURN(Context c, FromSharedSecret(e.shared_secret, info, aead));
  if (enc != nullptr) *enc = e.enc;
  return c;
}

absl::StatusOr<Context> Context::SetupBaseR(absl::string_view enc,
                                            const EncryptionKey& skR,
                                            absl::string_view info,
                                            Aead aead) {
  WF_ASSIGN_OR_RETURN(std::string shared_secret, Decap(enc, skR));
  Wiper wipe(shared_secret);
  return FromSharedSecret(shared_secret, info, aead);
}

std::string Context::NonceAt(uint64_t seq) const {
  std::string nonce = base_nonce_;
  // XOR I2OSP(seq, Nn) into the low-order (last) bytes.
  for (size_t i = 0; i < sizeof(seq) && i < nonce.size(); ++i) {
    nonce[nonce.size() - 1 - i] ^= static_cast<char>((seq >> (8 * i)) & 0xff);
  }
  return nonce;
}

absl::StatusOr<std::string> Context::SealAt(uint64_t seq,
                                            absl::string_view aad,
                                            absl::string_view plaintext) const {
  return AeadSeal(aead_, key_, NonceAt(seq), aad, plaintext);
}

absl::StatusOr<std::string> Context::OpenAt(
    uint64_t seq, absl::string_view aad, absl::string_view ciphertext) const {
  return AeadOpen(aead_, key_, NonceAt(seq), aad, ciphertext,
                  "HPKE ciphertext");
}

absl::StatusOr<std::string> Context::Seal(absl::string_view aad,
                                          absl::string_view plaintext) {
  if (seq_ == std::numeric_limits<uint64_t>::max()) {
    return absl::FailedPreconditionError("HPKE sequence number overflow");
  }
  WF_ASSIGN_OR_RETURN(std::string ct, SealAt(seq_, aad, plaintext));
  ++seq_;
  return ct;
}

absl::StatusOr<std::string> Context::Open(absl::string_view aad,
                                          absl::string_view ciphertext) {
  if (seq_ == std::numeric_limits<uint64_t>::max()) {
    return absl::FailedPreconditionError("HPKE sequence number overflow");
  }
  WF_ASSIGN_OR_RETURN(std::string pt, OpenAt(seq_, aad, ciphertext));
  ++seq_;
  return pt;
}

absl::StatusOr<std::string> Context::Export(absl::string_view exporter_context,
                                            size_t length) const {
  if (length > 255 * kHashSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "HPKE export length ", length, " exceeds ", 255 * kHashSize));
  }
  // OpenSSL 3.0's HKDF holds at most 1024 bytes of info; the labeled info
  // adds 22 to the exporter context.
  if (exporter_context.size() > kMaxExporterContext) {
    return absl::InvalidArgumentError(
        absl::StrCat("HPKE exporter context is ", exporter_context.size(),
                     " bytes; the limit is ", kMaxExporterContext));
  }
  return LabeledExpand(HpkeSuiteId(aead_), exporter_secret_, "sec",
                       exporter_context, length);
}

// ------------------------------------------------------------ single-shot

absl::StatusOr<Sealed> SealBase(const EncryptionPublicKey& pkR,
                                absl::string_view info, absl::string_view aad,
                                absl::string_view plaintext, Aead aead,
                                const EncryptionKey* ephemeral) {
  Sealed out;
  WF_ASSIGN_OR_RETURN(Context c,
                      Context::SetupBaseS(pkR, info, aead, ephemeral, &out.enc));
  WF_ASSIGN_OR_RETURN(out.ciphertext, c.Seal(aad, plaintext));
  return out;
}

absl::StatusOr<std::string> OpenBase(const EncryptionKey& skR,
                                     absl::string_view enc,
                                     absl::string_view info,
                                     absl::string_view aad,
                                     absl::string_view ciphertext, Aead aead) {
  WF_ASSIGN_OR_RETURN(Context c, Context::SetupBaseR(enc, skR, info, aead));
  return c.Open(aad, ciphertext);
}

}  // namespace watchfloor::certs::hpke
