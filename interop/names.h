// Names shared by the interop formats: severity and TLP words, and the NATS
// subject of an alert. Pure functions.
#ifndef WATCHFLOOR_INTEROP_NAMES_H_
#define WATCHFLOOR_INTEROP_NAMES_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "watchfloor/v1/alert.pb.h"

namespace watchfloor::interop {

// "info", "low", "medium", "high", "critical" ("unspecified" for 0).
std::string SeverityWord(watchfloor::v1::Severity s);
// "clear", "green", "amber", "amber+strict", "red" ("unspecified" for 0), as
// in TLP 2.0 and MISP's tlp: tags.
std::string TlpWord(watchfloor::v1::Tlp t);

// The NATS subject of an alert: "watchfloor.<member>.<node>.<category>",
// where the member's dots become '_' (NATS uses '.' to separate tokens, and
// '_' never occurs in an origin, so the mapping is reversible) and the
// category keeps its dots, so that wildcards work per level:
//   nic.cz/prg1, dns.hijack -> watchfloor.nic_cz.prg1.dns.hijack
//   watchfloor.nic_cz.*.>       every alert of nic.cz's nodes
//   watchfloor.*.*.dns.>        every dns.* alert
// `origin` and `category` must be valid (node/alert_validator.h); the node
// guarantees that for every stored alert.
std::string NatsSubject(absl::string_view origin, absl::string_view category);

// NatsSubject of a serialized watchfloor.v1.Alert, reading only its origin
// (1) and category (6) and skipping every other field without decoding it:
// the NATS bridge needs nothing else, and a full parse per alert was a
// visible part of its CPU. The last occurrence of a field wins, as in a full
// parse, and an origin or category of another wire type is skipped as an
// unknown field, as a full parse does. INVALID_ARGUMENT ("malformed alert:
// ...") if `payload` is not well-formed protobuf wire data.
absl::StatusOr<std::string> NatsSubjectOfPayload(absl::string_view payload);

// The inverse for the origin part: "nic_cz", "prg1" -> "nic.cz/prg1".
std::string OriginFromSubjectTokens(absl::string_view member_token,
                                    absl::string_view node_token);

}  // namespace watchfloor::interop

#endif  // WATCHFLOOR_INTEROP_NAMES_H_
