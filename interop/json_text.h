// Small helpers for writing JSON text by hand, in a fixed key order, so that
// exports are byte-for-byte reproducible (protobuf's Struct printer orders
// keys by hash map). Pure functions.
#ifndef WATCHFLOOR_INTEROP_JSON_TEXT_H_
#define WATCHFLOOR_INTEROP_JSON_TEXT_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "google/protobuf/timestamp.pb.h"
#include "watchfloor/v1/alert.pb.h"

namespace watchfloor::interop {

// `s` as a JSON string literal with quotes: ", \ and control characters
// escaped (\u00XX); other bytes (UTF-8) pass through.
std::string JsonQuote(absl::string_view s);

// A JSON object built member by member in call order. Values are raw JSON
// text (use JsonQuote for strings).
class JsonObject {
 public:
  JsonObject& Raw(absl::string_view key, absl::string_view json);
  JsonObject& Str(absl::string_view key, absl::string_view value);
  JsonObject& Num(absl::string_view key, long long value);
  std::string Build() const { return "{" + body_ + "}"; }

 private:
  std::string body_;
};

// "[a,b,...]" from raw JSON values.
std::string JsonArray(const std::vector<std::string>& values);
// "["a","b",...]" from strings.
std::string JsonStringArray(const std::vector<std::string>& values);

// The standard DSSE JSON of `envelope`, byte-for-byte what
// certs::EnvelopeToJson prints (proto3 JSON: fields in number order,
// standard padded base64, no whitespace), without protobuf's reflective JSON
// printer, which costs tens of microseconds per envelope: the NATS bridge
// prints one per alert. Falls back to certs::EnvelopeToJson when a string
// field holds anything but [A-Za-z0-9+/._-], where escaping rules could
// differ.
std::string FastEnvelopeJson(const watchfloor::v1::Envelope& envelope);
// The same text appended to `*out`, without temporaries (the bridge writes it
// straight into a NATS frame).
void AppendFastEnvelopeJson(const watchfloor::v1::Envelope& envelope, std::string* out);

// RFC 3339 UTC with exactly millisecond precision and 'Z', as STIX requires
// for created/modified: "2026-12-01T10:00:00.123Z" (sub-millisecond digits
// are truncated).
std::string StixTimestamp(const google::protobuf::Timestamp& ts);

}  // namespace watchfloor::interop

#endif  // WATCHFLOOR_INTEROP_JSON_TEXT_H_
