// Sealed alerts: TLP:AMBER+STRICT and TLP:RED alerts encrypted end to end to
// their recipient nodes (docs/PROTOCOL.md "Sealed alerts").
//
// The outer Alert keeps origin, sequence, previous, issued_at, tlp and
// recipients in clear and carries Sealed{nonce, ciphertext, keys}: the inner
// Alert (content fields only) under AES-256-GCM with a fresh 32-byte content
// key, and that key HPKE-sealed (RFC 9180 base mode, DHKEM(X25519,
// HKDF-SHA256), HKDF-SHA256, AES-256-GCM) once per recipient node.
//
// Context binding: SealContext() encodes (label, origin, sequence, tlp,
// recipients) unambiguously. It is the content AEAD's associated data and
// the associated data of every wrapped key; each wrapped key is sealed with
// an HPKE context whose info, WrapContextInfo(), names the origin, the
// recipient node and its key epoch. So a ciphertext or a wrapped key moved
// to another alert, origin, sequence, TLP, recipient list or node does not
// open.
//
// Multi-shot (RFC 9180 5.2): a sender keeps one HPKE context per (recipient
// node, key epoch, key) in a WrapContexts and seals many alerts' content
// keys with it, each at the context's next sequence number (WrappedKey.seq),
// so a wrapped key costs one AES-256-GCM of 32 bytes instead of two X25519
// scalar multiplications. A recipient caches the context per enc
// (UnwrapContexts). Alerts sealed single-shot before (WrappedKey.seq absent;
// each wrap its own context with info WrapInfo()) still open.
//
// Pure functions (SealAlert reads the CSPRNG); no I/O, no clocks.
//
// Error codes, the same in every function here:
//   INVALID_ARGUMENT    malformed structure: wrong sizes, missing or extra
//                       fields, unsorted or duplicate lists, bad names; the
//                       message names the field ("sealed.keys[2].enc ...");
//   PERMISSION_DENIED   OpenSealedAlert: the node has no wrapped key (it is
//                       not a recipient);
//   FAILED_PRECONDITION OpenSealedAlert: the node is a recipient but has no
//                       private key for the epoch(s) it was sealed to (not
//                       configured, or erased after retention);
//   DATA_LOSS           a wrapped key or the content does not authenticate
//                       under this context (altered, moved, or sealed to a
//                       different key), or the authenticated inner alert
//                       does not parse.
#ifndef WATCHFLOOR_CERTS_SEAL_H_
#define WATCHFLOOR_CERTS_SEAL_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "certs/encryption_key.h"
#include "certs/hpke.h"
#include "watchfloor/v1/alert.pb.h"

namespace watchfloor::certs {

// Domain-separation label, the first item of the context.
inline constexpr absl::string_view kSealedAlertLabel =
    "watchfloor sealed alert v1";
// Domain-separation label, the first item of a wrap context's HPKE info.
inline constexpr absl::string_view kSealedWrapLabel =
    "watchfloor sealed wrap v2";
inline constexpr size_t kContentKeySize = 32;    // AES-256-GCM key
inline constexpr size_t kContentNonceSize = 12;  // AES-256-GCM nonce
inline constexpr size_t kAeadTagSize = 16;
inline constexpr size_t kWrappedKeySize = kContentKeySize + kAeadTagSize;
// At most this many recipient members per alert.
inline constexpr int kMaxSealedRecipients = 64;
// At most this many wrapped keys (recipient nodes x epochs) per alert.
inline constexpr int kMaxWrappedKeys = 1024;
// The inner alert obeys the alert size limit (node::kMaxAlertBytes, 64 KiB);
// its ciphertext is at most that plus the tag.
inline constexpr size_t kMaxSealedCiphertextBytes = 64 * 1024 + kAeadTagSize;

// One recipient node's encryption key for one epoch.
struct SealRecipient {
  std::string node;    // "member/node"; its member must be in recipients
  uint64_t key_epoch;  // WrappedKey.key_epoch
  EncryptionPublicKey key;
};

// The secrets a seal uses, explicit only for test vectors.
struct SealSecrets {
  std::string content_key;  // 32 bytes
  std::string nonce;        // 12 bytes
  // One per entry of `recipients`, in the same order (the caller's order,
  // not the sorted one): the HPKE ephemeral private keys of the contexts a
  // WrapContexts sets up during this seal (ignored for contexts it already
  // holds). Not owned.
  std::vector<const EncryptionKey*> ephemeral;
};

// The HPKE info of the sender context that wraps content keys from `origin`
// to one recipient node's key, with str/u64 as in SealContext:
//   str(kSealedWrapLabel) || str(origin) || str(node) || u64(key_epoch)
std::string WrapContextInfo(absl::string_view origin, absl::string_view node,
                            uint64_t key_epoch);

// A sender's HPKE contexts (RFC 9180 5.2 multi-shot), one per (origin,
// recipient node, key epoch), each set up (SetupBaseS, with a fresh
// ephemeral key) the first time it is needed, again when the recipient's
// key for that epoch changes, and after max_seals wraps, so a sequence
// number never repeats under one enc; the wrapped key's seq says which.
// Setting up a node's context for one epoch drops its contexts for other
// epochs.
// Thread-safe. Secrets are wiped when a context is dropped.
class WrapContexts {
 public:
  // 2^20 wraps per context: a fresh ephemeral key at least that often.
  static constexpr uint64_t kDefaultMaxSeals = uint64_t{1} << 20;
  // Beyond this many contexts all are dropped (recipients that left the
  // roster otherwise stay forever); the next wraps set up fresh ones.
  static constexpr size_t kMaxContexts = 4096;

  explicit WrapContexts(uint64_t max_seals = kDefaultMaxSeals)
      : max_seals_(max_seals) {}
  WrapContexts(const WrapContexts&) = delete;
  WrapContexts& operator=(const WrapContexts&) = delete;

  // Wraps `content_key` for `recipient` from `origin` with associated data
  // `aad` (the alert's SealContext): sets out's node, key_epoch, enc, seq
  // and wrapped_key. `ephemeral` is used only if a context is set up now
  // (null: a fresh key from the CSPRNG).
  absl::Status Wrap(absl::string_view origin, const SealRecipient& recipient,
                    absl::string_view aad, absl::string_view content_key,
                    const EncryptionKey* ephemeral,
                    watchfloor::v1::WrappedKey* out);

  // Contexts held now.
  size_t size() const;
  // Drops every context (the next wraps set up fresh ones).
  void Clear();

 private:
  struct Entry {
    std::string recipient_key;  // raw X25519 public key it was set up for
    std::string enc;
    hpke::Context context;
    uint64_t next_seq = 0;
  };
  using Key = std::tuple<std::string, std::string, uint64_t>;

  const uint64_t max_seals_;
  mutable absl::Mutex mu_;
  std::map<Key, std::unique_ptr<Entry>> entries_ ABSL_GUARDED_BY(mu_);
};

// A recipient's cache of HPKE contexts (SetupBaseR) by (key epoch, info,
// enc), so the many alerts a sender seals with one context cost one Decap
// in all. Bounded (oldest dropped first). Thread-safe. A node erasing an
// epoch's private key must also EraseEpoch here, or the cached contexts
// would still open what that key opened.
class UnwrapContexts {
 public:
  static constexpr size_t kDefaultCapacity = 4096;
  explicit UnwrapContexts(size_t capacity = kDefaultCapacity)
      : capacity_(capacity) {}
  UnwrapContexts(const UnwrapContexts&) = delete;
  UnwrapContexts& operator=(const UnwrapContexts&) = delete;

  // The context for `enc` under `key` (of `key_epoch`) and `info`, set up
  // now if not cached. Errors as hpke::Context::SetupBaseR.
  absl::StatusOr<std::shared_ptr<const hpke::Context>> Get(
      uint64_t key_epoch, absl::string_view info, absl::string_view enc,
      const EncryptionKey& key);
  // Drops (and wipes) every context of `key_epoch`.
  void EraseEpoch(uint64_t key_epoch);
  size_t size() const;

 private:
  using Key = std::tuple<uint64_t, std::string, std::string>;
  const size_t capacity_;
  mutable absl::Mutex mu_;
  std::map<Key, std::shared_ptr<const hpke::Context>> entries_
      ABSL_GUARDED_BY(mu_);
  std::vector<Key> order_ ABSL_GUARDED_BY(mu_);  // insertion order
};

// True for the TLPs that are sealed: TLP_AMBER_STRICT and TLP_RED.
bool IsSealedTlp(watchfloor::v1::Tlp tlp);

// The canonical context of `alert` (its origin, sequence, tlp and
// recipients; other fields ignored). str(x) is a 4-byte big-endian length
// followed by the bytes of x; u32/u64 are fixed-width big-endian:
//   str(kSealedAlertLabel) || str(origin) || u64(sequence) || u32(tlp) ||
//   u32(n) || str(recipients[0]) || ... || str(recipients[n-1])
// Unambiguous: every variable-length item carries its length.
// docs/PROTOCOL.md "Sealed alerts" gives it byte by byte.
std::string SealContext(const watchfloor::v1::Alert& alert);

// The HPKE info of one single-shot wrapped key (alerts sealed before
// multi-shot contexts; WrappedKey.seq absent), with str/u64 as above:
//   str(context) || str(node) || u64(key_epoch)
std::string WrapInfo(absl::string_view context, absl::string_view node,
                     uint64_t key_epoch);

// Seals `full` to `recipients` with a fresh content key and nonce from the
// CSPRNG, wrapping the content key with `contexts` (the sender's long-lived
// contexts; see WrapContexts).
// `full` carries origin, sequence, previous, issued_at, tlp (AMBER_STRICT or
// RED), recipients (member names; sorted and de-duplicated here) and content
// fields; its `sealed` is unset. Every recipient node's member must be listed
// in full.recipients and every listed member must have at least one node in
// `recipients`; (node, key_epoch) pairs must be unique. Returns the outer
// Alert (header in clear + sealed); it passes ValidateSealedShape.
// INVALID_ARGUMENT naming what is wrong otherwise.
absl::StatusOr<watchfloor::v1::Alert> SealAlert(
    const watchfloor::v1::Alert& full,
    const std::vector<SealRecipient>& recipients, WrapContexts& contexts);
// The same with contexts used for this alert only (every wrap sets up its
// own, at seq 0): two X25519 operations per recipient node.
absl::StatusOr<watchfloor::v1::Alert> SealAlert(
    const watchfloor::v1::Alert& full,
    const std::vector<SealRecipient>& recipients);
// The same with explicit secrets, for test vectors. INVALID_ARGUMENT if the
// sizes are wrong or secrets.ephemeral does not match recipients one to one.
absl::StatusOr<watchfloor::v1::Alert> SealAlert(
    const watchfloor::v1::Alert& full,
    const std::vector<SealRecipient>& recipients, const SealSecrets& secrets,
    WrapContexts& contexts);
// ... with contexts for this alert only.
absl::StatusOr<watchfloor::v1::Alert> SealAlert(
    const watchfloor::v1::Alert& full,
    const std::vector<SealRecipient>& recipients, const SealSecrets& secrets);

// Structural checks any relay can make without keys; INVALID_ARGUMENT naming
// the field on the first failure:
//  - tlp is AMBER_STRICT or RED iff sealed is set; recipients empty iff not;
//  - recipients: 1..kMaxSealedRecipients valid member names, sorted, unique;
//  - no content field set in the outer alert (severity, category, title,
//    description, domains, ip_prefixes, asns, labels, references,
//    expires_at, updates, cancels);
//  - sealed.nonce 12 bytes; sealed.ciphertext 16..kMaxSealedCiphertextBytes;
//  - sealed.keys: 1..kMaxWrappedKeys; each node a valid "member/node" whose
//    member is in recipients; enc 32 bytes; wrapped_key 48 bytes; sorted and
//    unique by (node, key_epoch); every recipient member has a key.
// OK for an alert that is not sealed and has no recipients (a clear alert).
absl::Status ValidateSealedShape(const watchfloor::v1::Alert& outer);

// Given a key epoch, the node's private encryption key for it, or null if
// it has none (never configured, or erased). Called synchronously; the
// pointer need only live until OpenSealedAlert returns.
using KeyForEpoch = std::function<const EncryptionKey*(uint64_t key_epoch)>;

// Opens a sealed `outer` alert as recipient `node` ("member/node"): the full
// alert (outer header + inner content, sealed cleared, recipients kept).
// Tries each of the node's wrapped keys (ascending key_epoch) for which
// key_for_epoch returns a key. Errors:
//   INVALID_ARGUMENT    ValidateSealedShape fails; or the inner alert sets a
//                       header field (origin, sequence, previous, issued_at,
//                       tlp, recipients, sealed);
//   PERMISSION_DENIED   no wrapped key names `node`;
//   FAILED_PRECONDITION key_for_epoch returned null for every epoch of the
//                       node's wrapped keys; the message names the epochs;
//   DATA_LOSS           the wrapped key or the content does not authenticate,
//                       or the inner alert does not parse.
// `contexts`, if not null, caches the recipient contexts of multi-shot
// wrapped keys (the same alert opens with or without it).
absl::StatusOr<watchfloor::v1::Alert> OpenSealedAlert(
    const watchfloor::v1::Alert& outer, absl::string_view node,
    const KeyForEpoch& key_for_epoch, UnwrapContexts* contexts = nullptr);

}  // namespace watchfloor::certs

#endif  // WATCHFLOOR_CERTS_SEAL_H_
