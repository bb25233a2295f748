#include "metrics/registry.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"

namespace watchfloor::metrics {
namespace {

bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

const char* TypeName(Type type) {
  switch (type) {
    case Type::kCounter:
      return "counter";
    case Type::kGauge:
      return "gauge";
    case Type::kHistogram:
      return "histogram";
  }
  return "untyped";
}

std::string EscapeHelp(absl::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

// A collector that breaks the format's rules is a bug in the node, found by
// the tests that scrape every family: stop rather than serve bad output.
[[noreturn]] void Misuse(const std::string& what) {
  std::fprintf(stderr, "metrics: %s\n", what.c_str());
  std::abort();
}

}  // namespace

bool IsValidMetricName(absl::string_view name) {
  if (name.empty()) return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    if (!(IsAlpha(c) || c == '_' || c == ':' || (i > 0 && IsDigit(c)))) return false;
  }
  return true;
}

bool IsValidLabelName(absl::string_view name) {
  if (name.empty() || name.substr(0, 2) == "__") return false;
  for (size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    if (!(IsAlpha(c) || c == '_' || (i > 0 && IsDigit(c)))) return false;
  }
  return true;
}

std::string EscapeLabelValue(absl::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string FormatValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char buf[32];
  if (value == std::floor(value) && std::fabs(value) < 9007199254740992.0) {  // 2^53
    std::snprintf(buf, sizeof(buf), "%.0f", value);
    return buf;
  }
  // The shortest form that reads back as the same double ("0.005", not
  // "0.0050000000000000001").
  for (int precision = 6; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof(buf), "%.*g", precision, value);
    if (std::strtod(buf, nullptr) == value) break;
  }
  return buf;
}

void FamilySink::Sample(absl::string_view suffix, const Labels& labels, const std::string* le,
                        double value) {
  absl::StrAppend(out_, name_, suffix);
  if (!labels.empty() || le != nullptr) {
    *out_ += '{';
    bool first = true;
    for (const auto& [k, v] : labels) {
      if (!IsValidLabelName(k) || (type_ == Type::kHistogram && k == "le")) {
        Misuse(absl::StrCat("family ", name_, ": invalid label name \"", k, "\""));
      }
      absl::StrAppend(out_, first ? "" : ",", k, "=\"", EscapeLabelValue(v), "\"");
      first = false;
    }
    if (le != nullptr) absl::StrAppend(out_, first ? "" : ",", "le=\"", *le, "\"");
    *out_ += '}';
  }
  absl::StrAppend(out_, " ", FormatValue(value), "\n");
}

void FamilySink::Add(const Labels& labels, double value) {
  if (type_ == Type::kHistogram) Misuse(absl::StrCat("histogram ", name_, " given a plain sample"));
  Sample("", labels, nullptr, value);
}

void FamilySink::AddHistogram(const Labels& labels, const Histogram::Snapshot& h) {
  if (type_ != Type::kHistogram) Misuse(absl::StrCat(name_, " is not a histogram"));
  uint64_t cumulative = 0;
  for (size_t i = 0; i < h.counts.size(); ++i) {
    cumulative += h.counts[i];
    const std::string le = i < h.upper_bounds.size() ? FormatValue(h.upper_bounds[i]) : "+Inf";
    Sample("_bucket", labels, &le, static_cast<double>(cumulative));
  }
  Sample("_sum", labels, nullptr, h.sum);
  Sample("_count", labels, nullptr, static_cast<double>(h.count));
}

absl::Status Registry::Add(std::string name, std::string help, Type type, Collector collect) {
  if (!IsValidMetricName(name)) {
    return absl::InvalidArgumentError(
        absl::StrCat("metric name \"", name, "\" is not [a-zA-Z_:][a-zA-Z0-9_:]*"));
  }
  absl::MutexLock lock(&mu_);
  for (const Family& f : families_) {
    if (f.name == name) {
      return absl::AlreadyExistsError(absl::StrCat("metric family ", name, " is already registered"));
    }
  }
  families_.push_back(Family{std::move(name), std::move(help), type, std::move(collect)});
  return absl::OkStatus();
}

std::string Registry::Render() const {
  absl::MutexLock lock(&mu_);
  std::string out;
  for (const Family& f : families_) {
    absl::StrAppend(&out, "# HELP ", f.name, " ", EscapeHelp(f.help), "\n");
    absl::StrAppend(&out, "# TYPE ", f.name, " ", TypeName(f.type), "\n");
    FamilySink sink(f.name, f.type, &out);
    f.collect(sink);
  }
  return out;
}

}  // namespace watchfloor::metrics
