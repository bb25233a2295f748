// Sealed alerts: the context encoding, SealAlert and OpenSealedAlert.
// ValidateSealedShape lives in seal_shape.cc.
#include "certs/seal.h"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "certs/hpke.h"
#include "certs/openssl_util.h"
#include "certs/status_macros.h"

namespace watchfloor::certs {
namespace {

using internal::Wiper;
using watchfloor::v1::Alert;

constexpr hpke::Aead kAead = hpke::Aead::kAes256Gcm;

void AppendU32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>((v >> shift) & 0xff));
  }
}

void AppendU64(std::string& out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) {
    out.push_back(static_cast<char>((v >> shift) & 0xff));
  }
}

// str(x): 4-byte big-endian length, then the bytes.
void AppendStr(std::string& out, absl::string_view s) {
  AppendU32(out, static_cast<uint32_t>(s.size()));
  out.append(s.data(), s.size());
}

// The member part of "member/node".
absl::string_view MemberOf(absl::string_view node) {
  return node.substr(0, node.find('/'));
}

// The outer alert: the clear header of `full`, recipients sorted and unique.
Alert OuterHeader(const Alert& full) {
  Alert outer;
  outer.set_origin(full.origin());
  outer.set_sequence(full.sequence());
  outer.set_previous(full.previous());
  if (full.has_issued_at()) *outer.mutable_issued_at() = full.issued_at();
  outer.set_tlp(full.tlp());
  std::vector<std::string> members(full.recipients().begin(),
                                   full.recipients().end());
  std::sort(members.begin(), members.end());
  members.erase(std::unique(members.begin(), members.end()), members.end());
  for (std::string& m : members) outer.add_recipients(std::move(m));
  return outer;
}

// The inner alert: `full` without the header fields.
Alert InnerContent(const Alert& full) {
  Alert inner = full;
  inner.clear_origin();
  inner.clear_sequence();
  inner.clear_previous();
  inner.clear_issued_at();
  inner.clear_tlp();
  inner.clear_recipients();
  inner.clear_sealed();
  return inner;
}

// Checks `recipients` against the outer alert's members (see SealAlert).
absl::Status CheckSealRecipients(const Alert& outer,
                                 const std::vector<SealRecipient>& recipients,
                                 const std::vector<size_t>& order) {
  if (recipients.empty() ||
      recipients.size() > static_cast<size_t>(kMaxWrappedKeys)) {
    return absl::InvalidArgumentError(
        absl::StrCat("sealing needs 1..", kMaxWrappedKeys,
                     " recipient node keys, got ", recipients.size()));
  }
  const auto& members = outer.recipients();
  for (size_t k = 0; k < order.size(); ++k) {
    const SealRecipient& r = recipients[order[k]];
    if (!std::binary_search(members.begin(), members.end(),
                            std::string(MemberOf(r.node)))) {
      return absl::InvalidArgumentError(absl::StrCat(
          "recipient node ", r.node, " does not belong to a member in "
          "recipients (", absl::StrJoin(members, ", "), ")"));
    }
    if (k > 0) {
      const SealRecipient& prev = recipients[order[k - 1]];
      if (prev.node == r.node && prev.key_epoch == r.key_epoch) {
        return absl::InvalidArgumentError(
            absl::StrCat("recipient node ", r.node, " key epoch ",
                         r.key_epoch, " is given twice"));
      }
    }
  }
  return absl::OkStatus();
}

// Index order of `recipients` by (node, key_epoch).
std::vector<size_t> SortedOrder(const std::vector<SealRecipient>& recipients) {
  std::vector<size_t> order(recipients.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const SealRecipient& x = recipients[a];
    const SealRecipient& y = recipients[b];
    return std::tie(x.node, x.key_epoch) < std::tie(y.node, y.key_epoch);
  });
  return order;
}

absl::Status CheckSecrets(const SealSecrets& secrets, size_t recipients) {
  if (secrets.content_key.size() != kContentKeySize) {
    return absl::InvalidArgumentError(
        absl::StrCat("content key must be ", kContentKeySize, " bytes, got ",
                     secrets.content_key.size()));
  }
  if (secrets.nonce.size() != kContentNonceSize) {
    return absl::InvalidArgumentError(
        absl::StrCat("content nonce must be ", kContentNonceSize,
                     " bytes, got ", secrets.nonce.size()));
  }
  if (!secrets.ephemeral.empty() && secrets.ephemeral.size() != recipients) {
    return absl::InvalidArgumentError(absl::StrCat(
        "got ", secrets.ephemeral.size(), " ephemeral keys for ", recipients,
        " recipients"));
  }
  return absl::OkStatus();
}

std::string RandomBytes(size_t n) {
  std::string out(n, '\0');
  if (RAND_priv_bytes(reinterpret_cast<unsigned char*>(out.data()),
                      static_cast<int>(n)) != 1) {
    // No randomness: sealing with a predictable key would be worse than
    // stopping, and OpenSSL fails here only if the OS CSPRNG is unusable.
    std::fprintf(stderr, "watchfloor certs: fatal: RAND_priv_bytes failed\n");
    std::abort();
  }
  return out;
}

// The first header field `inner` sets, or "" if none.
absl::string_view FirstHeaderField(const Alert& inner) {
  if (!inner.origin().empty()) return "origin";
  if (inner.sequence() != 0) return "sequence";
  if (!inner.previous().empty()) return "previous";
  if (inner.has_issued_at()) return "issued_at";
  if (inner.tlp() != watchfloor::v1::TLP_UNSPECIFIED) return "tlp";
  if (inner.recipients_size() > 0) return "recipients";
  if (inner.has_sealed()) return "sealed";
  return "";
}

// The content key from one multi-shot wrapped key (seq present).
absl::StatusOr<std::string> UnwrapMultiShot(
    const watchfloor::v1::WrappedKey& wrapped, absl::string_view origin,
    absl::string_view context, const EncryptionKey& key,
    UnwrapContexts* contexts) {
  const std::string info =
      WrapContextInfo(origin, wrapped.node(), wrapped.key_epoch());
  std::shared_ptr<const hpke::Context> shared;
  if (contexts != nullptr) {
    WF_ASSIGN_OR_RETURN(shared, contexts->Get(wrapped.key_epoch(), info,
                                              wrapped.enc(), key));
  } else {
    WF_ASSIGN_OR_RETURN(hpke::Context own,
                        hpke::Context::SetupBaseR(wrapped.enc(), key, info,
                                                  kAead));
    shared = std::make_shared<const hpke::Context>(std::move(own));
  }
  return shared->OpenAt(wrapped.seq(), context, wrapped.wrapped_key());
}

// Unwraps the content key from one wrapped key with `key`.
absl::StatusOr<std::string> Unwrap(const watchfloor::v1::WrappedKey& wrapped,
                                   absl::string_view origin,
                                   absl::string_view context,
                                   const EncryptionKey& key,
                                   UnwrapContexts* contexts) {
  absl::StatusOr<std::string> content_key =
      wrapped.has_seq()
          ? UnwrapMultiShot(wrapped, origin, context, key, contexts)
          : hpke::OpenBase(
                key, wrapped.enc(),
                WrapInfo(context, wrapped.node(), wrapped.key_epoch()), "",
                wrapped.wrapped_key(), kAead);
  if (!content_key.ok()) {
    return absl::Status(
        content_key.status().code(),
        absl::StrCat("wrapped key for node ", wrapped.node(), " key epoch ",
                     wrapped.key_epoch(), ": ", content_key.status().message()));
  }
  return content_key;
}

// The content key for `node`, trying its wrapped keys in (ascending epoch)
// order. See OpenSealedAlert for the error codes.
absl::StatusOr<std::string> ContentKeyFor(const Alert& outer,
                                          absl::string_view node,
                                          absl::string_view context,
                                          const KeyForEpoch& key_for_epoch,
                                          UnwrapContexts* contexts) {
  std::vector<uint64_t> missing;
  std::optional<absl::Status> first_failure;
  bool recipient = false;
  for (const auto& wrapped : outer.sealed().keys()) {
    if (wrapped.node() != node) continue;
    recipient = true;
    const EncryptionKey* key = key_for_epoch(wrapped.key_epoch());
    if (key == nullptr) {
      missing.push_back(wrapped.key_epoch());
      continue;
    }
    absl::StatusOr<std::string> content_key =
        Unwrap(wrapped, outer.origin(), context, *key, contexts);
    if (content_key.ok()) return content_key;
    if (!first_failure) first_failure = content_key.status();
  }
  if (!recipient) {
    return absl::PermissionDeniedError(absl::StrCat(
        "node ", node, " is not a recipient of this sealed alert (recipients: ",
        absl::StrJoin(outer.recipients(), ", "), ")"));
  }
  if (first_failure) return *first_failure;
  return absl::FailedPreconditionError(absl::StrCat(
      "node ", node, " is a recipient of this sealed alert but has no private "
      "encryption key for key epoch ", absl::StrJoin(missing, ", "),
      " (never configured, or erased after its retention), so it cannot be "
      "opened here"));
}

// Appends one HPKE-wrapped copy of the content key per recipient to
// `sealed`, in (node, key_epoch) order.
absl::Status WrapContentKey(absl::string_view origin,
                            const std::vector<SealRecipient>& recipients,
                            const std::vector<size_t>& order,
                            const SealSecrets& secrets,
                            absl::string_view context, WrapContexts& contexts,
                            watchfloor::v1::Sealed* sealed) {
  for (size_t i : order) {
    const EncryptionKey* ephemeral =
        secrets.ephemeral.empty() ? nullptr : secrets.ephemeral[i];
    WF_RETURN_IF_ERROR(contexts.Wrap(origin, recipients[i], context,
                                     secrets.content_key, ephemeral,
                                     sealed->add_keys()));
  }
  return absl::OkStatus();
}

}  // namespace

bool IsSealedTlp(watchfloor::v1::Tlp tlp) {
  return tlp == watchfloor::v1::TLP_AMBER_STRICT ||
         tlp == watchfloor::v1::TLP_RED;
}

std::string SealContext(const Alert& alert) {
  std::string out;
  AppendStr(out, kSealedAlertLabel);
  AppendStr(out, alert.origin());
  AppendU64(out, alert.sequence());
  AppendU32(out, static_cast<uint32_t>(alert.tlp()));
  AppendU32(out, static_cast<uint32_t>(alert.recipients_size()));
  for (const std::string& member : alert.recipients()) AppendStr(out, member);
  return out;
}

std::string WrapInfo(absl::string_view context, absl::string_view node,
                     uint64_t key_epoch) {
  std::string out;
  AppendStr(out, context);
  AppendStr(out, node);
  AppendU64(out, key_epoch);
  return out;
}

std::string WrapContextInfo(absl::string_view origin, absl::string_view node,
                            uint64_t key_epoch) {
  std::string out;
  AppendStr(out, kSealedWrapLabel);
  AppendStr(out, origin);
  AppendStr(out, node);
  AppendU64(out, key_epoch);
  return out;
}

absl::Status WrapContexts::Wrap(absl::string_view origin,
                                const SealRecipient& recipient,
                                absl::string_view aad,
                                absl::string_view content_key,
                                const EncryptionKey* ephemeral,
                                watchfloor::v1::WrappedKey* out) {
  const std::string recipient_key = recipient.key.raw();
  Key key(std::string(origin), recipient.node, recipient.key_epoch);
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(key);
  if (it != entries_.end() && (it->second->recipient_key != recipient_key ||
                               it->second->next_seq >= max_seals_)) {
    entries_.erase(it);  // its secrets are wiped by ~Context
    it = entries_.end();
  }
  if (it == entries_.end()) {
    // A node sealed to under a new key epoch: its contexts for other epochs
    // are done with (their secrets are wiped now, not at kMaxContexts).
    const auto& [o, node, epoch] = key;
    for (auto other = entries_.lower_bound(Key(o, node, 0));
         other != entries_.end() && std::get<0>(other->first) == o &&
         std::get<1>(other->first) == node;) {
      other = entries_.erase(other);
    }
    if (entries_.size() >= kMaxContexts) entries_.clear();
    std::string enc;
    WF_ASSIGN_OR_RETURN(
        hpke::Context context,
        hpke::Context::SetupBaseS(
            recipient.key,
            WrapContextInfo(origin, recipient.node, recipient.key_epoch),
            kAead, ephemeral, &enc));
    auto entry = std::make_unique<Entry>(
        Entry{recipient_key, std::move(enc), std::move(context), 0});
    it = entries_.emplace(std::move(key), std::move(entry)).first;
  }
  Entry& entry = *it->second;
  WF_ASSIGN_OR_RETURN(std::string wrapped,
                      entry.context.SealAt(entry.next_seq, aad, content_key));
  out->set_node(recipient.node);
  out->set_key_epoch(recipient.key_epoch);
  out->set_enc(entry.enc);
  out->set_seq(entry.next_seq);
  out->set_wrapped_key(std::move(wrapped));
  ++entry.next_seq;
  return absl::OkStatus();
}

size_t WrapContexts::size() const {
  absl::MutexLock lock(&mu_);
  return entries_.size();
}

void WrapContexts::Clear() {
  absl::MutexLock lock(&mu_);
  entries_.clear();
}

absl::StatusOr<std::shared_ptr<const hpke::Context>> UnwrapContexts::Get(
    uint64_t key_epoch, absl::string_view info, absl::string_view enc,
    const EncryptionKey& key) {
  Key k(key_epoch, std::string(info), std::string(enc));
  {
    absl::MutexLock lock(&mu_);
    auto it = entries_.find(k);
    if (it != entries_.end()) return it->second;
  }
  // Decap outside the lock: it is the expensive part, and two threads
  // setting up the same context compute the same one.
  WF_ASSIGN_OR_RETURN(hpke::Context context,
                      hpke::Context::SetupBaseR(enc, key, info, kAead));
  auto shared = std::make_shared<const hpke::Context>(std::move(context));
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = entries_.emplace(k, shared);
  if (!inserted) return it->second;
  order_.push_back(std::move(k));
  while (entries_.size() > capacity_ && !order_.empty()) {
    entries_.erase(order_.front());
    order_.erase(order_.begin());
  }
  return shared;
}

void UnwrapContexts::EraseEpoch(uint64_t key_epoch) {
  absl::MutexLock lock(&mu_);
  for (auto it = entries_.begin(); it != entries_.end();) {
    it = std::get<0>(it->first) == key_epoch ? entries_.erase(it)
                                             : std::next(it);
  }
  order_.erase(std::remove_if(order_.begin(), order_.end(),
                              [&](const Key& k) {
                                return std::get<0>(k) == key_epoch;
                              }),
               order_.end());
}

size_t UnwrapContexts::size() const {
  absl::MutexLock lock(&mu_);
  return entries_.size();
}

absl::StatusOr<Alert> SealAlert(const Alert& full,
                                const std::vector<SealRecipient>& recipients,
                                WrapContexts& contexts) {
  SealSecrets secrets;
  secrets.content_key = RandomBytes(kContentKeySize);
  secrets.nonce = RandomBytes(kContentNonceSize);
  Wiper wipe(secrets.content_key);
  return SealAlert(full, recipients, secrets, contexts);
}

absl::StatusOr<Alert> SealAlert(const Alert& full,
                                const std::vector<SealRecipient>& recipients) {
  WrapContexts contexts;
  return SealAlert(full, recipients, contexts);
}

absl::StatusOr<Alert> SealAlert(const Alert& full,
                                const std::vector<SealRecipient>& recipients,
                                const SealSecrets& secrets) {
  WrapContexts contexts;
  return SealAlert(full, recipients, secrets, contexts);
}

absl::StatusOr<Alert> SealAlert(const Alert& full,
                                const std::vector<SealRecipient>& recipients,
                                const SealSecrets& secrets,
                                WrapContexts& contexts) {
  if (!IsSealedTlp(full.tlp())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "only TLP_AMBER_STRICT and TLP_RED alerts are sealed, not ",
        watchfloor::v1::Tlp_Name(full.tlp())));
  }
  if (full.has_sealed()) {
    return absl::InvalidArgumentError("alert is already sealed");
  }
  WF_RETURN_IF_ERROR(CheckSecrets(secrets, recipients.size()));
  Alert outer = OuterHeader(full);
  const std::vector<size_t> order = SortedOrder(recipients);
  WF_RETURN_IF_ERROR(CheckSealRecipients(outer, recipients, order));

  const std::string context = SealContext(outer);
  std::string inner;
  if (!InnerContent(full).SerializeToString(&inner)) {
    return absl::InvalidArgumentError("inner alert does not serialize");
  }
  Wiper wipe_inner(inner);
  auto* sealed = outer.mutable_sealed();
  sealed->set_nonce(secrets.nonce);
  WF_ASSIGN_OR_RETURN(*sealed->mutable_ciphertext(),
                      hpke::AeadSeal(kAead, secrets.content_key,
                                     secrets.nonce, context, inner));
  WF_RETURN_IF_ERROR(WrapContentKey(outer.origin(), recipients, order,
                                    secrets, context, contexts, sealed));
  // Names, sizes and coverage of every member, checked as a relay will.
  WF_RETURN_IF_ERROR(ValidateSealedShape(outer));
  return outer;
}

absl::StatusOr<Alert> OpenSealedAlert(const Alert& outer,
                                      absl::string_view node,
                                      const KeyForEpoch& key_for_epoch,
                                      UnwrapContexts* contexts) {
  WF_RETURN_IF_ERROR(ValidateSealedShape(outer));
  if (!outer.has_sealed()) {
    return absl::InvalidArgumentError(
        absl::StrCat("alert is not sealed (tlp ",
                     watchfloor::v1::Tlp_Name(outer.tlp()), ")"));
  }
  const std::string context = SealContext(outer);
  WF_ASSIGN_OR_RETURN(std::string content_key,
                      ContentKeyFor(outer, node, context, key_for_epoch,
                                    contexts));
  Wiper wipe_key(content_key);
  WF_ASSIGN_OR_RETURN(
      std::string inner_bytes,
      hpke::AeadOpen(kAead, content_key, outer.sealed().nonce(), context,
                     outer.sealed().ciphertext(), "sealed.ciphertext"));
  Wiper wipe_inner(inner_bytes);
  Alert full;
  if (!full.ParseFromString(inner_bytes)) {
    return absl::DataLossError(
        "sealed.ciphertext authenticates but does not hold an Alert");
  }
  if (absl::string_view field = FirstHeaderField(full); !field.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "inner alert sets ", field,
        "; in a sealed alert the header is only in the outer alert"));
  }
  full.set_origin(outer.origin());
  full.set_sequence(outer.sequence());
  full.set_previous(outer.previous());
  if (outer.has_issued_at()) *full.mutable_issued_at() = outer.issued_at();
  full.set_tlp(outer.tlp());
  *full.mutable_recipients() = outer.recipients();
  return full;
}

}  // namespace watchfloor::certs
