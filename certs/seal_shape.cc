// ValidateSealedShape: the structural checks of a sealed alert that need no
// key, so every relay can make them (certs/seal.h).
#include <algorithm>
#include <set>
#include <tuple>

#include "absl/strings/str_cat.h"
#include "certs/roster.h"
#include "certs/seal.h"
#include "certs/status_macros.h"

namespace watchfloor::certs {
namespace {

using watchfloor::v1::Alert;
using watchfloor::v1::WrappedKey;

constexpr size_t kEncSize = 32;  // hpke::kEncSize, the X25519 public key

absl::Status Invalid(absl::string_view a, absl::string_view b = "",
                     absl::string_view c = "", absl::string_view d = "") {
  return absl::InvalidArgumentError(absl::StrCat(a, b, c, d));
}

// Prefixes a name validator's message with the field it checked.
absl::Status At(absl::string_view field, absl::Status status) {
  if (status.ok()) return status;
  return Invalid(field, ": ", status.message());
}

// The first content field the outer alert sets, or "" if none.
absl::string_view FirstContentField(const Alert& a) {
  if (a.severity() != watchfloor::v1::SEVERITY_UNSPECIFIED) return "severity";
  if (!a.category().empty()) return "category";
  if (!a.title().empty()) return "title";
  if (!a.description().empty()) return "description";
  if (a.domains_size() > 0) return "domains";
  if (a.ip_prefixes_size() > 0) return "ip_prefixes";
  if (a.asns_size() > 0) return "asns";
  if (a.labels_size() > 0) return "labels";
  if (a.references_size() > 0) return "references";
  if (a.has_expires_at()) return "expires_at";
  if (!a.updates().empty()) return "updates";
  if (!a.cancels().empty()) return "cancels";
  return "";
}

// A clear (not sealed) alert: no sealed, no recipients.
absl::Status CheckClear(const Alert& a) {
  const std::string tlp = watchfloor::v1::Tlp_Name(a.tlp());
  if (a.has_sealed()) {
    return Invalid("sealed is set but tlp is ", tlp,
                   "; only TLP_AMBER_STRICT and TLP_RED alerts are sealed");
  }
  if (a.recipients_size() > 0) {
    return Invalid("recipients is set but tlp is ", tlp,
                   "; only TLP_AMBER_STRICT and TLP_RED alerts have recipients");
  }
  return absl::OkStatus();
}

absl::Status CheckRecipients(const Alert& a) {
  const std::string tlp = watchfloor::v1::Tlp_Name(a.tlp());
  if (a.recipients_size() == 0) {
    return Invalid("recipients is empty; a ", tlp,
                   " alert names at least one recipient member");
  }
  if (a.recipients_size() > kMaxSealedRecipients) {
    return Invalid(absl::StrCat("recipients has ", a.recipients_size(),
                                " members; the limit is ",
                                kMaxSealedRecipients));
  }
  for (int i = 0; i < a.recipients_size(); ++i) {
    const std::string field = absl::StrCat("recipients[", i, "]");
    WF_RETURN_IF_ERROR(At(field, ValidateMemberName(a.recipients(i))));
    if (i > 0 && a.recipients(i) <= a.recipients(i - 1)) {
      return Invalid(field, " \"", a.recipients(i),
                     absl::StrCat("\" is not after recipients[", i - 1,
                                  "] \"", a.recipients(i - 1),
                                  "\"; recipients must be sorted, each once"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckCiphertext(const watchfloor::v1::Sealed& s) {
  if (s.nonce().size() != kContentNonceSize) {
    return Invalid(absl::StrCat("sealed.nonce must be ", kContentNonceSize,
                                " bytes, got ", s.nonce().size()));
  }
  if (s.ciphertext().size() < kAeadTagSize) {
    return Invalid(absl::StrCat("sealed.ciphertext is ", s.ciphertext().size(),
                                " bytes, shorter than the ", kAeadTagSize,
                                "-byte tag"));
  }
  if (s.ciphertext().size() > kMaxSealedCiphertextBytes) {
    return Invalid(absl::StrCat("sealed.ciphertext is ", s.ciphertext().size(),
                                " bytes; the limit is ",
                                kMaxSealedCiphertextBytes));
  }
  return absl::OkStatus();
}

// One wrapped key, and its order after the previous one.
absl::Status CheckKey(const Alert& a, int i) {
  const WrappedKey& k = a.sealed().keys(i);
  const std::string field = absl::StrCat("sealed.keys[", i, "]");
  WF_RETURN_IF_ERROR(At(field + ".node", ValidateOrigin(k.node())));
  const std::string member = k.node().substr(0, k.node().find('/'));
  if (!std::binary_search(a.recipients().begin(), a.recipients().end(),
                          member)) {
    return Invalid(field, ".node \"", k.node(),
                   absl::StrCat("\": member ", member, " is not in recipients"));
  }
  if (k.enc().size() != kEncSize) {
    return Invalid(absl::StrCat(field, ".enc must be ", kEncSize,
                                " bytes, got ", k.enc().size()));
  }
  if (k.wrapped_key().size() != kWrappedKeySize) {
    return Invalid(absl::StrCat(field, ".wrapped_key must be ",
                                kWrappedKeySize, " bytes, got ",
                                k.wrapped_key().size()));
  }
  if (i > 0) {
    const WrappedKey& p = a.sealed().keys(i - 1);
    if (std::make_tuple(k.node(), k.key_epoch()) <=
        std::make_tuple(p.node(), p.key_epoch())) {
      return Invalid(field, " (", k.node(),
                     absl::StrCat(", epoch ", k.key_epoch(),
                                  ") is not after sealed.keys[", i - 1, "] (",
                                  p.node(), ", epoch ", p.key_epoch(),
                                  "); keys must be sorted by node then "
                                  "key_epoch, each pair once"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckKeys(const Alert& a) {
  const int n = a.sealed().keys_size();
  if (n == 0) return Invalid("sealed.keys is empty");
  if (n > kMaxWrappedKeys) {
    return Invalid(absl::StrCat("sealed.keys has ", n,
                                " entries; the limit is ", kMaxWrappedKeys));
  }
  for (int i = 0; i < n; ++i) WF_RETURN_IF_ERROR(CheckKey(a, i));
  // Every recipient member has at least one node key. (A merge pass would
  // not do: "a.b.c/x" sorts before "a.b/x" while "a.b" sorts before "a.b.c".)
  std::set<absl::string_view> covered;
  for (const WrappedKey& k : a.sealed().keys()) {
    absl::string_view node = k.node();
    covered.insert(node.substr(0, node.find('/')));
  }
  for (int r = 0; r < a.recipients_size(); ++r) {
    if (covered.count(a.recipients(r)) == 0) {
      return Invalid(absl::StrCat("recipients[", r, "] \"", a.recipients(r),
                                  "\" has no node key in sealed.keys"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateSealedShape(const Alert& outer) {
  if (!IsSealedTlp(outer.tlp())) return CheckClear(outer);
  if (!outer.has_sealed()) {
    return Invalid("tlp ", watchfloor::v1::Tlp_Name(outer.tlp()),
                   " requires sealed; an alert with this TLP travels only "
                   "sealed to its recipients");
  }
  WF_RETURN_IF_ERROR(CheckRecipients(outer));
  if (absl::string_view field = FirstContentField(outer); !field.empty()) {
    return Invalid("outer alert sets ", field,
                   "; in a sealed alert it belongs inside sealed.ciphertext");
  }
  WF_RETURN_IF_ERROR(CheckCiphertext(outer.sealed()));
  return CheckKeys(outer);
}

}  // namespace watchfloor::certs
