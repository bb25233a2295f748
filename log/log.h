// Structured logs: one line per event, JSON (default) or logfmt, to stderr.
//
// Every line carries, in this order, `time` (RFC 3339, UTC, milliseconds),
// `level`, `component` (which part of the node: "node", "gossip", "grpc",
// ...), `event` (a stable snake_case name an operator can alert on), then the
// event's fields. docs/OPERATIONS.md ("Logs") lists every event and its
// fields; a new event goes there too.
//
//   log::Warn("node", "request_refused",
//             {{"rpc", "watchfloor.v1.Node/Publish"}, {"peer", peer}, {"code", "INVALID_ARGUMENT"}});
//
// What may go into a field: names, addresses, counts, status codes and
// messages. Never key material, file contents, or an alert's body: a field
// value is written as given.
//
// Thread-safe. A line is formatted first and then written with a single
// write(2) under a mutex, so lines of concurrent callers never interleave
// within this process (and, for lines up to PIPE_BUF bytes, not with other
// writers of the same pipe either).
#ifndef WATCHFLOOR_LOG_LOG_H_
#define WATCHFLOOR_LOG_LOG_H_

#include <cstdint>
#include <initializer_list>
#include <string>
#include <type_traits>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace watchfloor::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };
enum class Format { kJson, kLogfmt };

// "debug", "info", "warn", "error" / "json", "logfmt".
absl::string_view LevelName(Level level);
absl::string_view FormatName(Format format);
// The inverse of LevelName / FormatName. INVALID_ARGUMENT naming the allowed
// values for anything else (case matters: "WARN" is refused).
absl::StatusOr<Level> ParseLevel(absl::string_view name);
absl::StatusOr<Format> ParseFormat(absl::string_view name);

// One key and its value. Keys are snake_case constants chosen by the caller;
// a key equal to one of the four fixed keys is written as "field_<key>" so
// that a line never has two values for one key. Integers and booleans are
// written as JSON numbers and booleans (bare in logfmt), everything else as
// a string, escaped.
class Field {
 public:
  Field(absl::string_view key, absl::string_view value)
      : key_(key), value_(value), kind_(Kind::kString) {}
  Field(absl::string_view key, const std::string& value) : Field(key, absl::string_view(value)) {}
  Field(absl::string_view key, const char* value) : Field(key, absl::string_view(value)) {}
  Field(absl::string_view key, bool value)
      : key_(key), value_(value ? "true" : "false"), kind_(Kind::kBare) {}
  template <typename Int, typename = std::enable_if_t<std::is_integral_v<Int> &&
                                                      !std::is_same_v<Int, bool> &&
                                                      !std::is_same_v<Int, char>>>
  Field(absl::string_view key, Int value)
      : key_(key), value_(std::to_string(value)), kind_(Kind::kBare) {}

  absl::string_view key() const { return key_; }
  absl::string_view value() const { return value_; }
  // True for numbers and booleans: written without quotes.
  bool bare() const { return kind_ == Kind::kBare; }

 private:
  enum class Kind { kString, kBare };
  std::string key_;
  std::string value_;
  Kind kind_;
};

using Fields = std::initializer_list<Field>;

// String values longer than this many bytes are cut (at a UTF-8 character
// boundary) and end in "...": a peer's message cannot make a line unbounded.
inline constexpr size_t kMaxValueBytes = 2048;

// The line for one event, newline included: a pure function of its inputs
// (tests call it directly). Invalid UTF-8 in a key or value becomes U+FFFD;
// control characters are escaped (JSON: \n, \t, \u001b, ...; logfmt: the
// value is quoted and escaped the same way).
std::string FormatLine(Format format, absl::Time time, Level level, absl::string_view component,
                       absl::string_view event, Fields fields);

// Process-wide settings, initially {kInfo, kJson, fd 2}. Configure is meant
// to be called once at start-up, before other threads log; it is thread-safe
// all the same. `fd` must stay open while anything may log.
struct Options {
  Level min_level = Level::kInfo;
  Format format = Format::kJson;
  int fd = 2;
};
void Configure(const Options& options);
Options CurrentOptions();

// True if an event at `level` would be written: lets a caller skip building
// costly fields.
bool Enabled(Level level);

// Writes one line if `level` is at least the configured minimum. Errors
// writing (a closed stderr) are ignored: logging never fails the caller.
void Write(Level level, absl::string_view component, absl::string_view event, Fields fields = {});

inline void Debug(absl::string_view component, absl::string_view event, Fields fields = {}) {
  Write(Level::kDebug, component, event, fields);
}
inline void Info(absl::string_view component, absl::string_view event, Fields fields = {}) {
  Write(Level::kInfo, component, event, fields);
}
inline void Warn(absl::string_view component, absl::string_view event, Fields fields = {}) {
  Write(Level::kWarn, component, event, fields);
}
inline void Error(absl::string_view component, absl::string_view event, Fields fields = {}) {
  Write(Level::kError, component, event, fields);
}

}  // namespace watchfloor::log

#endif  // WATCHFLOOR_LOG_LOG_H_
