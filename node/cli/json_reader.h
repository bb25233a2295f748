// A small RFC 8259 JSON reader for the CLI's alert drafts. Unlike
// google.protobuf.Struct, whose objects are maps, it keeps an object's
// members in the order the document gives them: `publish --json` turns
// {"labels": {"b": "1", "a": "2"}} into labels b, a, and alert.proto says
// the labels are signed in the order the publisher gave.
#ifndef WATCHFLOOR_NODE_CLI_JSON_READER_H_
#define WATCHFLOOR_NODE_CLI_JSON_READER_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace watchfloor::cli {

struct JsonValue {
  enum class Kind { kNull, kBool, kNumber, kString, kArray, kObject };
  Kind kind = Kind::kNull;
  bool boolean = false;
  // kString: the decoded UTF-8 text. kNumber: the number as written in the
  // document (e.g. "64500", "1e3"), for the caller to interpret exactly.
  std::string text;
  std::vector<JsonValue> items;  // kArray
  // kObject: the members in document order; each name occurs once.
  std::vector<std::pair<std::string, JsonValue>> members;
};

// "object", "string", ... for messages.
const char* JsonKindName(JsonValue::Kind kind);

// Parses one JSON document (surrounding whitespace allowed). Pure; any thread.
// INVALID_ARGUMENT with the line and column and what was expected on malformed
// JSON, invalid UTF-8 or escapes, nesting deeper than 64, or an object that
// names a member twice (the message names it).
absl::StatusOr<JsonValue> ParseJson(absl::string_view text);

}  // namespace watchfloor::cli

#endif  // WATCHFLOOR_NODE_CLI_JSON_READER_H_
