#include "node/alert_validator.h"

#include <arpa/inet.h>

#include <set>
#include <string>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "certs/encryption_key.h"
#include "certs/ids.h"
#include "certs/proto_check.h"
#include "certs/roster.h"
#include "certs/seal.h"
#include "certs/status_macros.h"

namespace watchfloor::node {
namespace {

using watchfloor::v1::Alert;

constexpr size_t kMaxTitleBytes = 256;
constexpr size_t kMaxDescriptionBytes = 16 * 1024;
constexpr int kMaxListEntries = 256;
constexpr int kMaxLabels = 64;
constexpr int kMaxReferences = 64;
constexpr size_t kMaxReferenceBytes = 2048;
constexpr size_t kMaxLabelValueBytes = 256;

absl::Status Invalid(absl::string_view field, absl::string_view value,
                     absl::string_view rule) {
  std::string shown(value.substr(0, 80));
  if (value.size() > 80) shown += "...";
  return absl::InvalidArgumentError(
      absl::StrCat(field, " \"", shown, "\" is invalid: ", rule));
}

bool IsLowerAlnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

// A DNS-label-like name: [a-z0-9-] (plus `extra`), not starting or ending
// with '-'.
bool IsLabel(absl::string_view label, absl::string_view extra, size_t max) {
  if (label.empty() || label.size() > max) return false;
  if (label.front() == '-' || label.back() == '-') return false;
  for (char c : label) {
    if (!IsLowerAlnum(c) && c != '-' && extra.find(c) == absl::string_view::npos) {
      return false;
    }
  }
  return true;
}


// C0 controls, DEL, and the C1 controls U+0080..U+009F (UTF-8 C2 80..C2 9F,
// e.g. U+0085 NEL, a line break): all of Unicode category Cc.
bool HasControlChars(absl::string_view s) {
  for (size_t i = 0; i < s.size(); ++i) {
    unsigned char u = static_cast<unsigned char>(s[i]);
    if (u < 0x20 || u == 0x7f) return true;
    if (u == 0xc2 && i + 1 < s.size() &&
        static_cast<unsigned char>(s[i + 1]) >= 0x80 &&
        static_cast<unsigned char>(s[i + 1]) <= 0x9f) {
      return true;
    }
  }
  return false;
}

absl::Status ValidateTimestamp(absl::string_view field,
                               const google::protobuf::Timestamp& ts) {
  // RFC 3339 range, as google.protobuf.Timestamp documents.
  if (ts.seconds() < -62135596800 || ts.seconds() > 253402300799 ||
      ts.nanos() < 0 || ts.nanos() > 999999999) {
    return Invalid(field, absl::StrCat(ts.seconds(), "s ", ts.nanos(), "ns"),
                   "outside 0001-01-01..9999-12-31 or nanos out of range");
  }
  return absl::OkStatus();
}

// The recipients rules shared by drafts, opened and sealed alerts: a list
// of 1..kMaxRecipients valid member names, each once, for a sealed TLP;
// none otherwise. Sorting is the node's job (it adds its own member), so a
// draft may give them in any order; ValidateSigned checks the order.
absl::Status ValidateRecipients(const Alert& a) {
  if (!IsSealedTlp(a.tlp())) {
    if (a.recipients_size() != 0) {
      return absl::InvalidArgumentError(
          "recipients are only for TLP AMBER+STRICT and RED alerts, which are "
          "sealed to them; leave them out, or raise the tlp");
    }
    return absl::OkStatus();
  }
  if (a.recipients_size() == 0) {
    return absl::InvalidArgumentError(
        "a TLP AMBER+STRICT or RED alert needs recipients: name the members "
        "it is for (watchfloor publish --to member1,member2)");
  }
  if (a.recipients_size() > kMaxRecipients) {
    return absl::InvalidArgumentError(absl::StrCat(
        "recipients has ", a.recipients_size(), " entries; the limit is ",
        kMaxRecipients));
  }
  std::set<absl::string_view> seen;
  for (const std::string& r : a.recipients()) {
    absl::Status st = certs::ValidateMemberName(r);
    if (!st.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("recipient: ", st.message()));
    }
    if (!seen.insert(r).second) {
      return Invalid("recipient", r, "is listed twice; name each member once");
    }
  }
  return absl::OkStatus();
}

// Origin, size, feed position and issue time: what the origin's node fills,
// in clear on every alert, sealed or not.
absl::Status ValidateHeader(const Alert& alert) {
  WF_RETURN_IF_ERROR(ValidateOrigin(alert.origin()));
  // The same limit as for a draft, counted with the feed fields: a node that
  // signed a bigger alert would break its feed at every peer, whose Ingest
  // refuses payloads over kMaxAlertBytes.
  size_t size = alert.ByteSizeLong();
  if (size > kMaxAlertBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "alert is ", size, " bytes; the limit is ", kMaxAlertBytes,
        alert.has_sealed() ? " sealed (shorten the description, split the lists or name "
                             "fewer recipients)"
                           : " (shorten the description or split the lists)"));
  }
  if (alert.sequence() == 0) {
    return absl::InvalidArgumentError("sequence is 0; feeds start at 1");
  }
  if (alert.sequence() == 1 && !alert.previous().empty()) {
    return Invalid("previous", alert.previous(),
                   "must be empty for sequence 1");
  }
  if (alert.sequence() > 1 && !certs::IsHexId(alert.previous())) {
    return Invalid("previous", alert.previous(),
                   "must be the 64-char hex id of sequence-1");
  }
  if (!alert.has_issued_at()) {
    return absl::InvalidArgumentError("issued_at is not set");
  }
  return ValidateTimestamp("issued_at", alert.issued_at());
}

// The reaction fields (alert.proto Reaction). Which alerts a reaction may
// target is the incident view's rule (node/incidents.h), not a field rule.
absl::Status ValidateReaction(const Alert& a) {
  const watchfloor::v1::Reaction& r = a.reaction();
  if (!watchfloor::v1::ReactionKind_IsValid(r.kind()) ||
      r.kind() == watchfloor::v1::REACTION_KIND_UNSPECIFIED) {
    return Invalid("reaction.kind", absl::StrCat(static_cast<int>(r.kind())),
                   "must be one of ack, sighting, claim, resolved");
  }
  if (!certs::IsHexId(r.target())) {
    return Invalid("reaction.target", r.target(),
                   "must be the 64-char lowercase hex id of the alert reacted to");
  }
  if (!a.updates().empty() || !a.cancels().empty()) {
    return absl::InvalidArgumentError(
        "a reaction may not also update or cancel an alert; publish the "
        "reaction and the update separately");
  }
  constexpr size_t kMaxNoteBytes = 1024;
  bool control = false;
  for (absl::string_view line : absl::StrSplit(r.note(), '\n')) {
    control = control || HasControlChars(line);
  }
  if (r.note().size() > kMaxNoteBytes || !IsValidUtf8(r.note()) || control) {
    return Invalid("reaction.note", r.note(),
                   "must be at most 1024 bytes of UTF-8 without control "
                   "characters other than newline");
  }
  return absl::OkStatus();
}

// The key record fields that need no header (alert.proto KeyRecord); the
// node == origin rule is ValidateOpened's. Which epochs an origin may still
// announce is the feed's rule (node/key_epochs.h), not a field rule.
absl::Status ValidateKeyRecord(const Alert& a) {
  const watchfloor::v1::KeyRecord& k = a.key_record();
  WF_RETURN_IF_ERROR(ValidateOrigin(k.node()));
  if (k.epoch() == 0) {
    return Invalid("key_record.epoch", "0",
                   "must be at least 1; epoch 0 is the roster entry's encryption_key_pem");
  }
  if (k.public_key().size() != certs::kX25519KeySize) {
    return Invalid("key_record.public_key", absl::StrCat(k.public_key().size(), " bytes"),
                   "must be the 32 raw bytes of an X25519 public key");
  }
  // A low-order point would make every seal to this epoch fail (or give an
  // all-zero shared secret): refused here, where it is announced.
  static const certs::EncryptionKey* probe = [] {
    auto key = certs::EncryptionKey::FromRaw(std::string(certs::kX25519KeySize, '\x2a'));
    return new certs::EncryptionKey(*std::move(key));
  }();
  absl::StatusOr<certs::EncryptionPublicKey> pub =
      certs::EncryptionPublicKey::FromRaw(k.public_key());
  if (!pub.ok()) return pub.status();
  absl::StatusOr<std::string> shared = probe->DiffieHellman(*pub);
  if (!shared.ok()) {
    return Invalid("key_record.public_key", absl::BytesToHexString(k.public_key()),
                   "is a low-order X25519 point, not a usable key");
  }
  if (!k.has_not_after()) {
    return absl::InvalidArgumentError(
        "key_record.not_after is not set; a key record says until when senders may use it");
  }
  WF_RETURN_IF_ERROR(ValidateTimestamp("key_record.not_after", k.not_after()));
  if (a.tlp() != watchfloor::v1::TLP_CLEAR) {
    return Invalid("tlp", absl::StrCat(static_cast<int>(a.tlp())),
                   "a key record is TLP CLEAR: every node must be able to seal to it");
  }
  if (!a.updates().empty() || !a.cancels().empty() || a.has_reaction()) {
    return absl::InvalidArgumentError(
        "a key record may not also update, cancel or react to an alert");
  }
  return absl::OkStatus();
}

absl::Status ValidateContent(const Alert& a) {
  if (a.severity() < watchfloor::v1::SEVERITY_INFO ||
      a.severity() > watchfloor::v1::SEVERITY_CRITICAL) {
    return Invalid("severity", absl::StrCat(static_cast<int>(a.severity())),
                   "must be one of info, low, medium, high, critical");
  }
  if (a.tlp() < watchfloor::v1::TLP_CLEAR || a.tlp() > watchfloor::v1::TLP_RED) {
    return Invalid("tlp", absl::StrCat(static_cast<int>(a.tlp())),
                   "must be one of clear, green, amber, amber+strict, red");
  }
  WF_RETURN_IF_ERROR(ValidateRecipients(a));
  if (a.has_sealed()) {
    return absl::InvalidArgumentError(
        "sealed is set on an alert with its content in clear; an alert is "
        "either sealed (only the header in clear) or not");
  }
  WF_RETURN_IF_ERROR(ValidateCategory(a.category()));
  if (a.title().empty()) {
    return absl::InvalidArgumentError("title is empty; give a one-line summary");
  }
  if (a.title().size() > kMaxTitleBytes || !IsValidUtf8(a.title()) ||
      HasControlChars(a.title())) {
    return Invalid("title", a.title(),
                   absl::StrCat("must be 1..", kMaxTitleBytes,
                                " bytes of UTF-8 without control characters"));
  }
  if (a.description().size() > kMaxDescriptionBytes ||
      !IsValidUtf8(a.description())) {
    return Invalid("description", a.description(),
                   absl::StrCat("must be at most ", kMaxDescriptionBytes,
                                " bytes of UTF-8"));
  }
  if (a.domains_size() > kMaxListEntries) {
    return absl::InvalidArgumentError(absl::StrCat(
        "domains has ", a.domains_size(), " entries; the limit is ",
        kMaxListEntries));
  }
  for (const std::string& d : a.domains()) {
    WF_RETURN_IF_ERROR(ValidateDomainName(d));
  }
  if (a.ip_prefixes_size() > kMaxListEntries) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ip_prefixes has ", a.ip_prefixes_size(), " entries; the limit is ",
        kMaxListEntries));
  }
  for (const std::string& p : a.ip_prefixes()) {
    auto parsed = ParseIpPrefix(p);
    if (!parsed.ok()) return parsed.status();
  }
  if (a.asns_size() > kMaxListEntries) {
    return absl::InvalidArgumentError(absl::StrCat(
        "asns has ", a.asns_size(), " entries; the limit is ", kMaxListEntries));
  }
  for (uint32_t asn : a.asns()) {
    if (asn == 0) return Invalid("asn", "0", "AS0 is reserved; use 1..4294967295");
  }
  if (a.labels_size() > kMaxLabels) {
    return absl::InvalidArgumentError(absl::StrCat(
        "labels has ", a.labels_size(), " entries; the limit is ", kMaxLabels));
  }
  for (const auto& l : a.labels()) {
    if (l.key().empty() || l.key().size() > 64) {
      return Invalid("label key", l.key(), "must be 1..64 chars of [a-z0-9._-]");
    }
    for (char c : l.key()) {
      if (!IsLowerAlnum(c) && c != '.' && c != '_' && c != '-') {
        return Invalid("label key", l.key(), "must be 1..64 chars of [a-z0-9._-]");
      }
    }
    if (l.value().size() > kMaxLabelValueBytes || !IsValidUtf8(l.value()) ||
        HasControlChars(l.value())) {
      return Invalid("label value", l.value(),
                     "must be at most 256 bytes of UTF-8 without control "
                     "characters");
    }
  }
  if (a.references_size() > kMaxReferences) {
    return absl::InvalidArgumentError(
        absl::StrCat("references has ", a.references_size(),
                     " entries; the limit is ", kMaxReferences));
  }
  for (const std::string& r : a.references()) {
    if (r.empty() || r.size() > kMaxReferenceBytes || !IsValidUtf8(r) ||
        HasControlChars(r)) {
      return Invalid("reference", r,
                     "must be 1..2048 bytes of UTF-8 without control characters");
    }
  }
  if (a.has_expires_at()) {
    WF_RETURN_IF_ERROR(ValidateTimestamp("expires_at", a.expires_at()));
  }
  if (!a.updates().empty() && !a.cancels().empty()) {
    return absl::InvalidArgumentError(
        "an alert may either update or cancel an earlier alert, not both");
  }
  if (!a.updates().empty() && !certs::IsHexId(a.updates())) {
    return Invalid("updates", a.updates(), "must be a 64-char lowercase hex alert id");
  }
  if (!a.cancels().empty() && !certs::IsHexId(a.cancels())) {
    return Invalid("cancels", a.cancels(), "must be a 64-char lowercase hex alert id");
  }
  if (a.has_reaction()) WF_RETURN_IF_ERROR(ValidateReaction(a));
  if (a.has_key_record()) WF_RETURN_IF_ERROR(ValidateKeyRecord(a));
  return absl::OkStatus();
}

}  // namespace

bool IsValidUtf8(absl::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    int n;
    uint32_t cp;
    if (c < 0x80) {
      n = 0;
      cp = c;
    } else if ((c & 0xe0) == 0xc0) {
      n = 1;
      cp = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      n = 2;
      cp = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      n = 3;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + n >= s.size()) return false;  // truncated sequence
    for (int k = 1; k <= n; ++k) {
      unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    // Reject overlong forms, surrogates and out-of-range code points.
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) ||
        (n == 3 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff)) {
      return false;
    }
    i += n + 1;
  }
  return true;
}

absl::Status ValidateOrigin(absl::string_view origin) {
  std::vector<absl::string_view> parts = absl::StrSplit(origin, '/');
  if (parts.size() != 2) {
    return Invalid("origin", origin, "must be member/node, e.g. nic.cz/prg1");
  }
  if (parts[0].size() > 253) {
    return Invalid("origin", origin, "member name is longer than 253 chars");
  }
  for (absl::string_view label : absl::StrSplit(parts[0], '.')) {
    if (!IsLabel(label, "", 63)) {
      return Invalid("origin", origin,
                     "member must be lowercase DNS labels of [a-z0-9-], e.g. "
                     "nic.cz");
    }
  }
  if (!IsLabel(parts[1], "", 63)) {
    return Invalid("origin", origin,
                   "node must be one lowercase label of [a-z0-9-], e.g. prg1");
  }
  return absl::OkStatus();
}

absl::Status ValidateDomainName(absl::string_view name) {
  if (name.empty() || name.size() > 253) {
    return Invalid("domain", name, "must be 1..253 chars");
  }
  for (absl::string_view label : absl::StrSplit(name, '.')) {
    if (!IsLabel(label, "_", 63)) {
      return Invalid("domain", name,
                     "must be lowercase A-label form (labels of [a-z0-9_-], "
                     "1..63 chars, no trailing dot); convert IDNs to xn-- form");
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateCategory(absl::string_view category) {
  if (category.empty() || category.size() > 128) {
    return Invalid("category", category,
                   "must be a dotted lowercase path of 1..128 chars, e.g. "
                   "dns.hijack");
  }
  int labels = 0;
  for (absl::string_view label : absl::StrSplit(category, '.')) {
    ++labels;
    if (!IsLabel(label, "", 63)) {
      return Invalid("category", category,
                     "must be dotted labels of [a-z0-9-], e.g. dns.hijack or "
                     "dnssec.validation-failure");
    }
  }
  if (labels > 8) return Invalid("category", category, "has more than 8 labels");
  return absl::OkStatus();
}

absl::StatusOr<IpPrefix> ParseIpPrefix(absl::string_view text) {
  size_t slash = text.find('/');
  if (slash == absl::string_view::npos) {
    return Invalid("ip prefix", text, "must be in CIDR form, e.g. 192.0.2.0/24");
  }
  std::string addr(text.substr(0, slash));
  absl::string_view len_text = text.substr(slash + 1);
  IpPrefix p;
  int max_len;
  if (inet_pton(AF_INET, addr.c_str(), p.addr.data()) == 1) {
    max_len = 32;
  } else if (inet_pton(AF_INET6, addr.c_str(), p.addr.data()) == 1) {
    p.v6 = true;
    max_len = 128;
  } else {
    return Invalid("ip prefix", text, "address is not IPv4 or IPv6");
  }
  int len;
  // Digits only: SimpleAtoi alone would also take "+24", " 24" and "-0".
  if (len_text.empty() || len_text.size() > 3 ||
      len_text.find_first_not_of("0123456789") != absl::string_view::npos ||
      !absl::SimpleAtoi(len_text, &len) || len < 0 || len > max_len ||
      (len_text.size() > 1 && len_text[0] == '0')) {
    return Invalid("ip prefix", text,
                   absl::StrCat("length must be 0..", max_len));
  }
  p.length = len;
  for (int bit = len; bit < max_len; ++bit) {
    if (p.addr[bit / 8] & (0x80 >> (bit % 8))) {
      return Invalid("ip prefix", text,
                     "has host bits set; zero the bits after the prefix length");
    }
  }
  return p;
}

bool PrefixesOverlap(const IpPrefix& a, const IpPrefix& b) {
  if (a.v6 != b.v6) return false;
  int len = std::min(a.length, b.length);
  for (int bit = 0; bit < len; ++bit) {
    uint8_t mask = 0x80 >> (bit % 8);
    if ((a.addr[bit / 8] & mask) != (b.addr[bit / 8] & mask)) return false;
  }
  return true;
}

namespace {

// Unknown fields would be kept by protobuf, signed and stored as opaque
// bytes no node can validate (docs/PROTOCOL.md "Unknown fields").
absl::Status RefuseUnknownFields(const Alert& alert, absl::string_view path,
                                 absl::string_view advice) {
  absl::Status st = certs::CheckNoUnknownFields(alert, path);
  if (st.ok()) return st;
  return absl::InvalidArgumentError(absl::StrCat(st.message(), "; ", advice));
}

}  // namespace

absl::Status ValidateDraft(const Alert& draft) {
  if (draft.has_key_record()) {
    return absl::InvalidArgumentError(
        "key_record is set: a node publishes its own key records "
        "(encryption_key_epochs in its config); a client may not");
  }
  return ValidateNodeDraft(draft);
}

absl::Status ValidateNodeDraft(const Alert& draft) {
  WF_RETURN_IF_ERROR(RefuseUnknownFields(
      draft, "draft",
      "this node signs only fields it knows: leave the field out, or upgrade the node"));
  if (!draft.origin().empty() || draft.sequence() != 0 ||
      !draft.previous().empty() || draft.has_issued_at()) {
    return absl::InvalidArgumentError(
        "a draft must leave origin, sequence, previous and issued_at unset; "
        "the node fills them when it signs");
  }
  size_t size = draft.ByteSizeLong();
  if (size > kMaxAlertBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "alert is ", size, " bytes; the limit is ", kMaxAlertBytes,
        " (shorten the description or split the lists)"));
  }
  return ValidateContent(draft);
}

absl::Status ValidateSigned(const Alert& alert) {
  if (IsSealedTlp(alert.tlp()) || alert.has_sealed()) {
    WF_RETURN_IF_ERROR(RefuseUnknownFields(
        alert, "alert",
        "this node stores and forwards only alerts whose every field it can validate"));
    WF_RETURN_IF_ERROR(ValidateHeader(alert));
    if (!IsSealedTlp(alert.tlp())) {
      return Invalid("tlp", absl::StrCat(static_cast<int>(alert.tlp())),
                     "a sealed alert must be TLP AMBER+STRICT or RED");
    }
    if (!alert.has_sealed()) {
      return absl::InvalidArgumentError(
          "a TLP AMBER+STRICT or RED alert must be sealed to its recipients; "
          "this one carries its content in clear");
    }
    if (alert.has_key_record()) {
      return absl::InvalidArgumentError(
          "key_record is set in a sealed alert; a key record is TLP CLEAR");
    }
    // Recipients sorted and unique, each with a wrapped key; nothing but
    // the header in clear.
    return certs::ValidateSealedShape(alert);
  }
  return ValidateOpened(alert);
}

absl::Status ValidateOpened(const Alert& alert) {
  WF_RETURN_IF_ERROR(RefuseUnknownFields(
      alert, "alert",
      "this node stores and forwards only alerts whose every field it can validate"));
  WF_RETURN_IF_ERROR(ValidateHeader(alert));
  if (alert.has_expires_at() &&
      (alert.expires_at().seconds() < alert.issued_at().seconds() ||
       (alert.expires_at().seconds() == alert.issued_at().seconds() &&
        alert.expires_at().nanos() <= alert.issued_at().nanos()))) {
    return absl::InvalidArgumentError(
        "expires_at is not after issued_at; an alert cannot expire before it "
        "is issued");
  }
  if (alert.has_key_record()) {
    const watchfloor::v1::KeyRecord& k = alert.key_record();
    if (k.node() != alert.origin()) {
      return Invalid("key_record.node", k.node(),
                     absl::StrCat("must be the alert's origin ", alert.origin(),
                                  "; a node announces only its own keys"));
    }
    // Unset is ValidateKeyRecord's to report.
    if (k.has_not_after() &&
        (k.not_after().seconds() < alert.issued_at().seconds() ||
        (k.not_after().seconds() == alert.issued_at().seconds() &&
         k.not_after().nanos() <= alert.issued_at().nanos()))) {
      return absl::InvalidArgumentError(
          "key_record.not_after is not after issued_at; the key would never be valid");
    }
  }
  return ValidateContent(alert);
}

}  // namespace watchfloor::node
