#include "log/log.h"

#include <errno.h>
#include <unistd.h>

#include <atomic>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace watchfloor::log {
namespace {

constexpr absl::string_view kReplacement = "\xEF\xBF\xBD";  // U+FFFD

// The length of the valid UTF-8 sequence starting at s[i], or 0 if there is
// none (overlong forms, surrogates and code points above U+10FFFF are
// invalid, as RFC 3629 says).
size_t Utf8Length(absl::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const unsigned char c = b(0);
  if (c < 0x80) return 1;
  size_t n;
  unsigned char lo = 0x80, hi = 0xBF;  // bounds of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  if (b(1) < lo || b(1) > hi) return 0;
  for (size_t k = 2; k < n; ++k) {
    if (b(k) < 0x80 || b(k) > 0xBF) return 0;
  }
  return n;
}

// Appends `s` escaped for the inside of a JSON string (also what logfmt's
// quoted values use): ", \ and control characters escaped, invalid UTF-8
// replaced. Cut after kMaxValueBytes bytes of input.
void AppendEscaped(absl::string_view s, std::string* out) {
  bool cut = false;
  if (s.size() > kMaxValueBytes) {
    s = s.substr(0, kMaxValueBytes);
    cut = true;
  }
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      const size_t n = Utf8Length(s, i);
      if (n == 0) {
        // At the cut, a character split in two is dropped, not replaced.
        if (!(cut && s.size() - i < 4 && c >= 0xC2)) out->append(kReplacement.data(),
                                                                  kReplacement.size());
        ++i;
      } else {
        out->append(s.data() + i, n);
        i += n;
      }
      continue;
    }
    switch (c) {
      case '"': out->append("\\\""); break;
      case '\\': out->append("\\\\"); break;
      case '\n': out->append("\\n"); break;
      case '\r': out->append("\\r"); break;
      case '\t': out->append("\\t"); break;
      default:
        if (c < 0x20 || c == 0x7F) {
          static const char kHex[] = "0123456789abcdef";
          out->append("\\u00");
          out->push_back(kHex[c >> 4]);
          out->push_back(kHex[c & 0xF]);
        } else {
          out->push_back(static_cast<char>(c));
        }
    }
    ++i;
  }
  if (cut) out->append("...");
}

// Keys: [A-Za-z0-9_.-]; anything else becomes '_' (keys are constants, this
// only keeps a mistake from breaking the line).
std::string CleanKey(absl::string_view key) {
  std::string k(key);
  if (k.empty()) k = "_";
  for (char& c : k) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
    if (!ok) c = '_';
  }
  if (k == "time" || k == "level" || k == "component" || k == "event") k = "field_" + k;
  return k;
}

// logfmt leaves a value bare only if it is a non-empty run of printable
// ASCII without space, '=' or '"'.
bool LogfmtBare(absl::string_view v) {
  if (v.empty()) return false;
  for (char ch : v) {
    const unsigned char c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c >= 0x7F || c == '=' || c == '"' || c == '\\') return false;
  }
  return v.size() <= kMaxValueBytes;
}

void AppendPair(Format format, absl::string_view key, absl::string_view value, bool bare,
                bool first, std::string* out) {
  if (format == Format::kJson) {
    if (!first) out->push_back(',');
    out->push_back('"');
    out->append(key.data(), key.size());
    out->append("\":");
    if (bare) {
      out->append(value.data(), value.size());
    } else {
      out->push_back('"');
      AppendEscaped(value, out);
      out->push_back('"');
    }
    return;
  }
  if (!first) out->push_back(' ');
  out->append(key.data(), key.size());
  out->push_back('=');
  if (bare || LogfmtBare(value)) {
    out->append(value.data(), value.size());
  } else {
    out->push_back('"');
    AppendEscaped(value, out);
    out->push_back('"');
  }
}

struct State {
  std::atomic<int> min_level{static_cast<int>(Level::kInfo)};
  absl::Mutex mu;
  Format format ABSL_GUARDED_BY(mu) = Format::kJson;
  int fd ABSL_GUARDED_BY(mu) = 2;
};

State& GlobalState() {
  static State* state = new State();  // never destroyed: threads may log at exit
  return *state;
}

}  // namespace

absl::string_view LevelName(Level level) {
  switch (level) {
    case Level::kDebug: return "debug";
    case Level::kInfo: return "info";
    case Level::kWarn: return "warn";
    case Level::kError: return "error";
  }
  return "error";
}

absl::string_view FormatName(Format format) {
  return format == Format::kJson ? "json" : "logfmt";
}

absl::StatusOr<Level> ParseLevel(absl::string_view name) {
  for (Level l : {Level::kDebug, Level::kInfo, Level::kWarn, Level::kError}) {
    if (name == LevelName(l)) return l;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "log level \"", name, "\" is not one of debug, info, warn, error"));
}

absl::StatusOr<Format> ParseFormat(absl::string_view name) {
  for (Format f : {Format::kJson, Format::kLogfmt}) {
    if (name == FormatName(f)) return f;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("log format \"", name, "\" is not one of json, logfmt"));
}

std::string FormatLine(Format format, absl::Time time, Level level, absl::string_view component,
                       absl::string_view event, Fields fields) {
  std::string out;
  out.reserve(160);
  if (format == Format::kJson) out.push_back('{');
  AppendPair(format, "time", absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", time, absl::UTCTimeZone()),
             /*bare=*/false, /*first=*/true, &out);
  AppendPair(format, "level", LevelName(level), false, false, &out);
  AppendPair(format, "component", component, false, false, &out);
  AppendPair(format, "event", event, false, false, &out);
  for (const Field& f : fields) {
    AppendPair(format, CleanKey(f.key()), f.value(), f.bare(), false, &out);
  }
  if (format == Format::kJson) out.push_back('}');
  out.push_back('\n');
  return out;
}

void Configure(const Options& options) {
  State& s = GlobalState();
  absl::MutexLock lock(&s.mu);
  s.format = options.format;
  s.fd = options.fd;
  s.min_level.store(static_cast<int>(options.min_level), std::memory_order_relaxed);
}

Options CurrentOptions() {
  State& s = GlobalState();
  absl::MutexLock lock(&s.mu);
  return Options{static_cast<Level>(s.min_level.load(std::memory_order_relaxed)), s.format,
                 s.fd};
}

bool Enabled(Level level) {
  return static_cast<int>(level) >=
         GlobalState().min_level.load(std::memory_order_relaxed);
}

void Write(Level level, absl::string_view component, absl::string_view event, Fields fields) {
  if (!Enabled(level)) return;
  State& s = GlobalState();
  const absl::Time now = absl::Now();
  Format format;
  {
    absl::MutexLock lock(&s.mu);
    format = s.format;
  }
  const std::string line = FormatLine(format, now, level, component, event, fields);
  absl::MutexLock lock(&s.mu);
  // One write(2) per line; a short write (a full pipe, a signal) continues
  // where it stopped, still under the lock.
  size_t done = 0;
  while (done < line.size()) {
    const ssize_t n = ::write(s.fd, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

}  // namespace watchfloor::log
