// Name-based UUIDs (RFC 4122 version 5, SHA-1), for deterministic STIX and
// MISP ids. Pure functions.
#ifndef WATCHFLOOR_INTEROP_UUID_H_
#define WATCHFLOOR_INTEROP_UUID_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace watchfloor::interop {

// RFC 4122 NAMESPACE_URL, 6ba7b811-9dad-11d1-80b4-00c04fd430c8.
inline constexpr absl::string_view kNamespaceUrl = "6ba7b811-9dad-11d1-80b4-00c04fd430c8";
// The STIX 2.1 namespace for cyber-observable ids (STIX 2.1 section 2.9),
// 00abedb4-aa42-466c-9c01-fed23315a9b7.
inline constexpr absl::string_view kStixScoNamespace = "00abedb4-aa42-466c-9c01-fed23315a9b7";
// The watchfloor namespace: UUIDv5(NAMESPACE_URL, "urn:watchfloor:interop:v1"),
// 8e7573c7-fd6b-5fca-b508-fda4faf14a42 (docs/INTEROP.md). Every watchfloor-made STIX/MISP id is
// UUIDv5(this, "<kind>:<key>").
std::string WatchfloorNamespace();

// UUIDv5 of `name` in `namespace_uuid` (canonical lowercase text form).
// INVALID_ARGUMENT if `namespace_uuid` is not a canonical UUID.
absl::StatusOr<std::string> Uuid5(absl::string_view namespace_uuid, absl::string_view name);

// Uuid5 with a namespace known to be valid (the constants above).
std::string Uuid5OrDie(absl::string_view namespace_uuid, absl::string_view name);

// Raw 20-byte SHA-1 (FIPS 180-4). Used only for UUIDv5, where RFC 4122
// prescribes it; not for anything that needs collision resistance.
std::string Sha1(absl::string_view data);

}  // namespace watchfloor::interop

#endif  // WATCHFLOOR_INTEROP_UUID_H_
