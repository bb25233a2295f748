#include "interop/names.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/wire_format_lite.h"

namespace watchfloor::interop {

std::string SeverityWord(watchfloor::v1::Severity s) {
  switch (s) {
    case watchfloor::v1::SEVERITY_INFO: return "info";
    case watchfloor::v1::SEVERITY_LOW: return "low";
    case watchfloor::v1::SEVERITY_MEDIUM: return "medium";
    case watchfloor::v1::SEVERITY_HIGH: return "high";
    case watchfloor::v1::SEVERITY_CRITICAL: return "critical";
    default: return "unspecified";
  }
}

std::string TlpWord(watchfloor::v1::Tlp t) {
  switch (t) {
    case watchfloor::v1::TLP_CLEAR: return "clear";
    case watchfloor::v1::TLP_GREEN: return "green";
    case watchfloor::v1::TLP_AMBER: return "amber";
    case watchfloor::v1::TLP_AMBER_STRICT: return "amber+strict";
    case watchfloor::v1::TLP_RED: return "red";
    default: return "unspecified";
  }
}

std::string NatsSubject(absl::string_view origin, absl::string_view category) {
  const size_t slash = origin.find('/');
  std::string member = absl::StrReplaceAll(origin.substr(0, slash), {{".", "_"}});
  absl::string_view node =
      slash == absl::string_view::npos ? absl::string_view() : origin.substr(slash + 1);
  return absl::StrCat("watchfloor.", member, ".", node, ".", category);
}

absl::StatusOr<std::string> NatsSubjectOfPayload(absl::string_view payload) {
  using google::protobuf::internal::WireFormatLite;
  constexpr int kOrigin = watchfloor::v1::Alert::kOriginFieldNumber;
  constexpr int kCategory = watchfloor::v1::Alert::kCategoryFieldNumber;
  google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(payload.data()),
                                            static_cast<int>(payload.size()));
  absl::string_view origin, category;
  while (true) {
    const uint32_t tag = in.ReadTag();
    if (tag == 0) break;
    const int field = WireFormatLite::GetTagFieldNumber(tag);
    if (field == 0) return absl::InvalidArgumentError("malformed alert: field number 0");
    // With another wire type the field is unknown to a full parse too, and
    // skipped like one.
    if ((field == kOrigin || field == kCategory) &&
        WireFormatLite::GetTagWireType(tag) == WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
      uint32_t len;
      if (!in.ReadVarint32(&len) || len > payload.size() ||
          in.CurrentPosition() + static_cast<int>(len) > static_cast<int>(payload.size())) {
        return absl::InvalidArgumentError("malformed alert: truncated field");
      }
      (field == kOrigin ? origin : category) = payload.substr(in.CurrentPosition(), len);
      in.Skip(static_cast<int>(len));  // cannot fail: checked above
      continue;
    }
    if (!WireFormatLite::SkipField(&in, tag)) {
      return absl::InvalidArgumentError(absl::StrCat("malformed alert: bad field ", field));
    }
  }
  if (!in.ConsumedEntireMessage() || in.CurrentPosition() != static_cast<int>(payload.size())) {
    return absl::InvalidArgumentError("malformed alert: trailing bytes");
  }
  return NatsSubject(origin, category);
}

std::string OriginFromSubjectTokens(absl::string_view member_token,
                                    absl::string_view node_token) {
  return absl::StrCat(absl::StrReplaceAll(member_token, {{"_", "."}}), "/", node_token);
}

}  // namespace watchfloor::interop
