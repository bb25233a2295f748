// Validation of alert content. Pure functions: no I/O, no clocks.
//
// Every failure is INVALID_ARGUMENT with a message that names the field, the
// offending value and the rule.
#ifndef WATCHFLOOR_NODE_ALERT_VALIDATOR_H_
#define WATCHFLOOR_NODE_ALERT_VALIDATOR_H_

#include <array>
#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "certs/seal.h"
#include "watchfloor/v1/alert.pb.h"

namespace watchfloor::node {

// The largest serialized Alert a node signs or accepts.
inline constexpr size_t kMaxAlertBytes = 64 * 1024;
// The most members one sealed alert may name as recipients.
inline constexpr int kMaxRecipients = certs::kMaxSealedRecipients;

// TLP AMBER+STRICT and RED: the labels whose content is sealed to named
// recipients (alert.proto Sealed).
using certs::IsSealedTlp;

// "member/node": two names of 1..63 chars of [a-z0-9-] (dots allowed in the
// member, e.g. "nic.cz"), no leading/trailing '-' or '.'.
absl::Status ValidateOrigin(absl::string_view origin);

// True if `s` is well-formed UTF-8 (no overlong forms, surrogates or code
// points past U+10FFFF): what protobuf demands of every string field.
bool IsValidUtf8(absl::string_view s);

// A domain name in lowercase A-label form without a trailing dot: labels of
// 1..63 chars of [a-z0-9_-], no leading/trailing '-', total <= 253.
absl::Status ValidateDomainName(absl::string_view name);

// A dotted lowercase category such as "dns.hijack".
absl::Status ValidateCategory(absl::string_view category);

// A parsed CIDR prefix. IPv4 is stored in the first 4 bytes.
struct IpPrefix {
  bool v6 = false;
  std::array<uint8_t, 16> addr{};
  int length = 0;
};

// Parses "192.0.2.0/24" or "2001:db8::/32". Host bits must be zero.
absl::StatusOr<IpPrefix> ParseIpPrefix(absl::string_view text);

// True iff the two prefixes share at least one address (same family, and one
// contains the other).
bool PrefixesOverlap(const IpPrefix& a, const IpPrefix& b);

// Both refuse an alert that carries a field this build does not know, at any
// depth ("draft.labels[0]: unknown field 99 (varint); ..."): it would be
// signed, stored and forwarded as bytes nobody validated.

// Validates a publisher's draft: origin, sequence, previous and issued_at must
// be unset (the node fills them); everything else as for a signed alert. A
// TLP AMBER+STRICT or RED draft carries its content in clear (the node seals
// it) and names 1..kMaxRecipients distinct members in recipients, in any
// order; any other TLP names none. `sealed` must be unset.
// A draft may not set key_record (INVALID_ARGUMENT): only the node itself
// announces its encryption keys.
absl::Status ValidateDraft(const watchfloor::v1::Alert& draft);
// ValidateDraft for the node's own drafts: also accepts key_record (epoch
// >= 1, a 32-byte X25519 public key that is not a low-order point,
// not_after set; the alert TLP CLEAR without updates, cancels or reaction).
absl::Status ValidateNodeDraft(const watchfloor::v1::Alert& draft);

// Validates a complete, signed alert as received through Ingest and as
// stored: origin, sequence >= 1, previous empty iff sequence == 1 (else a
// hex id), issued_at set, then
//  - TLP CLEAR/GREEN/AMBER: the content rules of ValidateDraft, no
//    recipients, no sealed;
//  - TLP AMBER+STRICT/RED: sealed, with recipients sorted and each once, and
//    the shape rules of certs::ValidateSealedShape (nothing but the header
//    in clear). The ciphertext is never opened here: relaying nodes cannot.
absl::Status ValidateSigned(const watchfloor::v1::Alert& alert);

// Validates an alert with its content in clear and its header filled: a
// clear-TLP alert as ValidateSigned, or a sealed-TLP alert before sealing
// (the origin node) or after opening (a recipient node): header rules plus
// the content rules, recipients in any order, no `sealed`; a key record's
// node must be the origin and its not_after after issued_at.
absl::Status ValidateOpened(const watchfloor::v1::Alert& alert);

}  // namespace watchfloor::node

#endif  // WATCHFLOOR_NODE_ALERT_VALIDATOR_H_
