// STIX 2.1 export (docs/INTEROP.md "STIX 2.1"): each alert becomes an
// `indicator` (when it names domains, prefixes or ASNs, with one observable
// object per value) or a `report` (when it names none), created by an
// `identity` for its origin, marked with the standard TLP 2.0
// marking-definition, and carrying its DSSE envelope in the watchfloor
// provenance extension so that a receiver can still verify the signature.
//
// Every id is deterministic: indicator/report ids are UUIDv5 of the alert id
// in the watchfloor namespace, observable ids follow STIX 2.1's own UUIDv5
// rule, so exporting the same alerts twice gives the same bytes. Pure
// functions; thread-safe.
#ifndef WATCHFLOOR_INTEROP_STIX_H_
#define WATCHFLOOR_INTEROP_STIX_H_

#include <string>
#include <vector>

#include "interop/alert_record.h"

namespace watchfloor::interop {

// The STIX 2.1 TLP 2.0 marking-definition ids (cti-stix-common-objects,
// extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d).
inline constexpr char kTlp2ExtensionId[] =
    "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d";
inline constexpr char kTlpClearMarking[] = "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487";
inline constexpr char kTlpGreenMarking[] = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb";
inline constexpr char kTlpAmberMarking[] = "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421";
inline constexpr char kTlpAmberStrictMarking[] =
    "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003";
inline constexpr char kTlpRedMarking[] = "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1";

// "extension-definition--<UUIDv5(watchfloor ns, "extension:dsse-provenance:v1")>".
std::string ProvenanceExtensionId();
// "indicator--<UUIDv5(watchfloor ns, "alert:" + id)>" or "report--..." with
// the same UUID, depending on whether the alert names observables.
std::string StixObjectId(const watchfloor::v1::Alert& alert, const std::string& alert_id);

// One STIX 2.1 bundle (a single line of JSON) holding every alert of
// `alerts`, in order, with the identities, observables and marking
// definitions they reference (each once). An empty `alerts` gives a bundle
// with only the extension definition and the watchfloor identity.
std::string StixBundle(const std::vector<AlertRecord>& alerts);

}  // namespace watchfloor::interop

#endif  // WATCHFLOOR_INTEROP_STIX_H_
