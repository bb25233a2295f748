#include "interop/json_text.h"

#include <ctime>

#include "certs/dsse.h"

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace watchfloor::interop {

std::string JsonQuote(absl::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          absl::StrAppendFormat(&out, "\\u%04x", c);
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += "\"";
  return out;
}

JsonObject& JsonObject::Raw(absl::string_view key, absl::string_view json) {
  if (!body_.empty()) body_ += ",";
  absl::StrAppend(&body_, JsonQuote(key), ":", json);
  return *this;
}

JsonObject& JsonObject::Str(absl::string_view key, absl::string_view value) {
  return Raw(key, JsonQuote(value));
}

JsonObject& JsonObject::Num(absl::string_view key, long long value) {
  return Raw(key, absl::StrCat(value));
}

std::string JsonArray(const std::vector<std::string>& values) {
  return absl::StrCat("[", absl::StrJoin(values, ","), "]");
}

std::string JsonStringArray(const std::vector<std::string>& values) {
  std::vector<std::string> quoted;
  quoted.reserve(values.size());
  for (const std::string& v : values) quoted.push_back(JsonQuote(v));
  return JsonArray(quoted);
}

namespace {

bool Plain(absl::string_view s) {
  for (char ch : s) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(ch)) && ch != '+' && ch != '/' &&
        ch != '.' && ch != '_' && ch != '-') {
      return false;
    }
  }
  return true;
}

}  // namespace

std::string FastEnvelopeJson(const watchfloor::v1::Envelope& envelope) {
  if (!Plain(envelope.payload_type())) return certs::EnvelopeToJson(envelope);
  for (const auto& s : envelope.signatures()) {
    if (!Plain(s.keyid())) return certs::EnvelopeToJson(envelope);
  }
  std::string out;
  out.reserve(envelope.payload().size() * 4 / 3 + 200);
  absl::StrAppend(&out, "{\"payload\":\"", absl::Base64Escape(envelope.payload()),
                  "\",\"payloadType\":\"", envelope.payload_type(), "\",\"signatures\":[");
  for (int i = 0; i < envelope.signatures_size(); ++i) {
    const auto& s = envelope.signatures(i);
    absl::StrAppend(&out, i == 0 ? "" : ",", "{\"keyid\":\"", s.keyid(), "\",\"sig\":\"",
                    absl::Base64Escape(s.sig()), "\"}");
  }
  out += "]}";
  return out;
}

std::string StixTimestamp(const google::protobuf::Timestamp& ts) {
  time_t secs = static_cast<time_t>(ts.seconds());
  struct tm tm;
  gmtime_r(&secs, &tm);
  return absl::StrFormat("%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                         ts.nanos() / 1000000);
}

}  // namespace watchfloor::interop
