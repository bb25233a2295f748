#include "interop/names.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

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

std::string OriginFromSubjectTokens(absl::string_view member_token,
                                    absl::string_view node_token) {
  return absl::StrCat(absl::StrReplaceAll(member_token, {{"_", "."}}), "/", node_token);
}

}  // namespace watchfloor::interop
