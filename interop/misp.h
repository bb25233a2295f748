// MISP event JSON (docs/INTEROP.md "MISP"): export of alerts as MISP events,
// and import of MISP events as alert drafts for a node to sign and publish.
// Pure functions; thread-safe.
#ifndef WATCHFLOOR_INTEROP_MISP_H_
#define WATCHFLOOR_INTEROP_MISP_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "interop/alert_record.h"
#include "watchfloor/v1/alert.pb.h"

namespace watchfloor::interop {

// Labels an import sets so that an export gives back the same MISP
// attributes: the prefixes that were ip-src (not ip-dst) attributes, the
// names that were hostname (not domain) attributes, space-separated, and the
// event's MISP uuid.
inline constexpr char kMispIpSrcLabel[] = "misp.ip-src";
inline constexpr char kMispHostnameLabel[] = "misp.hostname";
inline constexpr char kMispEventUuidLabel[] = "misp.event-uuid";

// {"Event": {...}} for one alert: uuid, info, date, timestamp,
// threat_level_id, analysis, distribution, Orgc, Tag (tlp:, watchfloor:
// machine tags) and Attribute (domain, hostname, ip-src, ip-dst, AS, link,
// text), each attribute with a deterministic uuid.
std::string MispEventJson(const AlertRecord& record);

// {"response": [{"Event": ...}, ...]}: the form MISP's REST search returns
// and its import accepts. One line.
std::string MispExport(const std::vector<AlertRecord>& records);

struct MispImportOptions {
  // Import events even if they hold attributes of a type watchfloor cannot
  // carry; each is then reported in MispImportedEvent::skipped.
  bool skip_unknown = false;
  // Category for events without a watchfloor:category tag ("" = such an
  // event is an error).
  std::string default_category;
};

struct MispImportedEvent {
  std::string name;  // "event 1 (\"<info>\")", for messages
  watchfloor::v1::Alert draft;
  // What was not carried over, one line each, e.g.
  // "attribute 4 type \"md5\" value \"d41d...\" skipped (no watchfloor field)".
  std::vector<std::string> skipped;
};

// Parses MISP JSON: one {"Event": {...}}, a list of them, or
// {"response": [...]}. INVALID_ARGUMENT naming the event (and attribute) on
// malformed input, a missing info, TLP or category, an unparseable value,
// and, unless options.skip_unknown, on attributes of unknown types (all of
// them listed, with what to do). The drafts are not validated against the
// node's rules: run node::ValidateDraft on each before publishing any.
absl::StatusOr<std::vector<MispImportedEvent>> ParseMispEvents(absl::string_view json,
                                                               const MispImportOptions& options);

}  // namespace watchfloor::interop

#endif  // WATCHFLOOR_INTEROP_MISP_H_
