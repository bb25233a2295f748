// Content addresses: hashes and hex, exactly as DESIGN.md defines them.
#ifndef WATCHFLOOR_CERTS_IDS_H_
#define WATCHFLOOR_CERTS_IDS_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace watchfloor::certs {

// Raw 32-byte SHA-256 of `data`.
std::string Sha256(absl::string_view data);

// Alert id: lowercase hex of SHA-256(0x00 || payload), the RFC 6962 leaf hash
// of the serialized Alert bytes.
std::string AlertId(absl::string_view payload);

// Lowercase hex encoding.
std::string HexEncode(absl::string_view bytes);

// Decodes hex (either case; an even number of digits). INVALID_ARGUMENT
// naming the first bad position otherwise. Used for seeds and test vectors.
absl::StatusOr<std::string> HexDecode(absl::string_view hex);

// True iff `s` is exactly 64 lowercase hex characters (an alert id or keyid).
bool IsHexId(absl::string_view s);

}  // namespace watchfloor::certs

#endif  // WATCHFLOOR_CERTS_IDS_H_
