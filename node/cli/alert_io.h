// Turning user input into alert drafts, and alerts into text for people.
#ifndef WATCHFLOOR_NODE_CLI_ALERT_IO_H_
#define WATCHFLOOR_NODE_CLI_ALERT_IO_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "node/cli/flags.h"
#include "watchfloor/v1/alert.pb.h"
#include "watchfloor/v1/incident.pb.h"

namespace watchfloor::cli {

// "high" / "HIGH" / "SEVERITY_HIGH" -> SEVERITY_HIGH. INVALID_ARGUMENT lists
// the accepted names.
absl::StatusOr<watchfloor::v1::Severity> ParseSeverity(absl::string_view s);
// "green" / "TLP:GREEN" / "amber+strict" / "TLP_AMBER_STRICT" -> Tlp.
absl::StatusOr<watchfloor::v1::Tlp> ParseTlp(absl::string_view s);
std::string SeverityName(watchfloor::v1::Severity s);  // "high"
std::string TlpName(watchfloor::v1::Tlp t);            // "AMBER+STRICT"

// A draft from a JSON object such as
//   {"severity": "high", "category": "dns.hijack", "tlp": "green",
//    "title": "...", "description": "...", "domains": ["example.cz"],
//    "ip_prefixes": ["192.0.2.0/24"], "asns": [64500],
//    "labels": {"incident": "INC-1"}, "references": ["https://..."],
//    "expires_at": "2026-12-01T00:00:00Z", "updates": "<id>",
//    "recipients": ["m2.example"]}
// "labels" may also be the proto3 JSON list [{"key": ..., "value": ...}].
// Labels keep the order of the document (alert.proto: serialization order is
// the order the publisher gave). Malformed JSON, a key given twice and
// unknown keys are INVALID_ARGUMENT naming the key. Pure; any thread.
absl::StatusOr<watchfloor::v1::Alert> DraftFromJson(absl::string_view json);

// A draft from the publish flags (--severity, --domain, ...); --label flags
// keep their command-line order. INVALID_ARGUMENT naming the flag.
absl::StatusOr<watchfloor::v1::Alert> DraftFromFlags(const ParsedArgs& args);

// The node's own draft checks (node/alert_validator.h ValidateDraft: every
// documented field rule and limit, recipients included), run before dialing
// so that the CLI and the node refuse the same drafts with the same words.
// Whether the recipients are roster members is the node's to check.
// INVALID_ARGUMENT as ValidateDraft words it.
absl::Status CheckDraft(const watchfloor::v1::Alert& draft);

// Human-readable, multi-line.
std::string FormatAlertText(uint64_t cursor, const std::string& id,
                            const watchfloor::v1::Alert& alert);
// One-line JSON: {"cursor":..,"id":"..","alert":{...proto3 JSON...}}.
std::string FormatAlertJson(uint64_t cursor, const std::string& id,
                            const watchfloor::v1::Alert& alert);

// One incident event of `subscribe --incident-events`: in text
// "    event new incident <id>" (reactions add "ack by <origin>"), in json
// {"incident_event": {...}} on its own line.
std::string FormatIncidentEvent(const std::string& output,
                                const watchfloor::v1::IncidentEvent& event);

}  // namespace watchfloor::cli

#endif  // WATCHFLOOR_NODE_CLI_ALERT_IO_H_
