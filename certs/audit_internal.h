// Pieces of the offline audit (certs/audit.h) kept apart from the report
// logic: trusting the bundle's roster chain and opening the exporter's
// signed claims. Pure: bytes and keys in, Status out. Not a public API.
#ifndef WATCHFLOOR_CERTS_AUDIT_INTERNAL_H_
#define WATCHFLOOR_CERTS_AUDIT_INTERNAL_H_

#include <vector>

#include "absl/status/statusor.h"
#include "certs/roster.h"
#include "watchfloor/v1/audit.pb.h"

namespace watchfloor::certs::audit_internal {

// The bundle's verified roster chain, oldest first; the last is the roster
// that signed the checkpoints (bundle.roster). Rules and error codes: see
// AuditOptions::anchor and Audit() in certs/audit.h. Every message starts
// with "bundle roster".
absl::StatusOr<std::vector<Roster>> TrustChain(const watchfloor::v1::AuditBundle& bundle,
                                               const Roster* anchor);

// The exporter's claims, if `envelope` is a kExportClaimsPayloadType DSSE
// envelope whose payload parses as ExportClaims and that carries a valid
// signature by the roster key of the node the claims name as exporter.
// INVALID_ARGUMENT (payloadType, parse), NOT_FOUND (exporter not in
// `roster`), UNAUTHENTICATED (no signature by that key, or it does not
// verify); the message says which.
absl::StatusOr<watchfloor::v1::ExportClaims> OpenClaims(
    const watchfloor::v1::Envelope& envelope, const Roster& roster);

}  // namespace watchfloor::certs::audit_internal

#endif  // WATCHFLOOR_CERTS_AUDIT_INTERNAL_H_
