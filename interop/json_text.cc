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

// Standard padded base64 of `in`, appended (what absl::Base64Escape returns).
void AppendBase64(absl::string_view in, std::string* out) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const size_t start = out->size();
  out->resize(start + (in.size() + 2) / 3 * 4);
  char* o = out->data() + start;
  const auto* p = reinterpret_cast<const unsigned char*>(in.data());
  size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    const uint32_t v = (p[i] << 16) | (p[i + 1] << 8) | p[i + 2];
    *o++ = kAlphabet[v >> 18];
    *o++ = kAlphabet[(v >> 12) & 63];
    *o++ = kAlphabet[(v >> 6) & 63];
    *o++ = kAlphabet[v & 63];
  }
  if (i < in.size()) {
    const bool two = i + 1 < in.size();
    const uint32_t v = (p[i] << 16) | (two ? p[i + 1] << 8 : 0);
    *o++ = kAlphabet[v >> 18];
    *o++ = kAlphabet[(v >> 12) & 63];
    *o++ = two ? kAlphabet[(v >> 6) & 63] : '=';
    *o++ = '=';
  }
}

}  // namespace

void AppendFastEnvelopeJson(const watchfloor::v1::Envelope& envelope, std::string* out) {
  bool plain = Plain(envelope.payload_type());
  for (const auto& s : envelope.signatures()) plain = plain && Plain(s.keyid());
  if (!plain) {
    out->append(certs::EnvelopeToJson(envelope));
    return;
  }
  out->reserve(out->size() + envelope.payload().size() * 4 / 3 + 200);
  out->append("{\"payload\":\"");
  AppendBase64(envelope.payload(), out);
  absl::StrAppend(out, "\",\"payloadType\":\"", envelope.payload_type(), "\",\"signatures\":[");
  for (int i = 0; i < envelope.signatures_size(); ++i) {
    const auto& s = envelope.signatures(i);
    absl::StrAppend(out, i == 0 ? "" : ",", "{\"keyid\":\"", s.keyid(), "\",\"sig\":\"");
    AppendBase64(s.sig(), out);
    out->append("\"}");
  }
  out->append("]}");
}

std::string FastEnvelopeJson(const watchfloor::v1::Envelope& envelope) {
  std::string out;
  AppendFastEnvelopeJson(envelope, &out);
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
