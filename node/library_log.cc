#include "node/library_log.h"

#include <mutex>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/stubs/logging.h"
#include "grpc/support/log.h"
#include "log/log.h"

namespace watchfloor::node {
namespace {

std::string Source(const char* file, int line) {
  if (file == nullptr) return "";
  absl::string_view f(file);
  // The path inside the library's source tree says enough.
  const size_t slash = f.rfind('/');
  if (slash != absl::string_view::npos) f.remove_prefix(slash + 1);
  return absl::StrCat(f, ":", line);
}

void GrpcLog(gpr_log_func_args* args) {
  log::Level level = log::Level::kWarn;
  if (args->severity == GPR_LOG_SEVERITY_DEBUG) level = log::Level::kDebug;
  if (args->severity == GPR_LOG_SEVERITY_INFO) level = log::Level::kInfo;
  if (!log::Enabled(level)) return;
  log::Write(level, "grpc", "grpc_log",
             {{"message", args->message == nullptr ? "" : args->message},
              {"source", Source(args->file, args->line)}});
}

void ProtobufLog(google::protobuf::LogLevel severity, const char* file, int line,
                 const std::string& message) {
  log::Level level = log::Level::kError;
  if (severity == google::protobuf::LOGLEVEL_INFO) level = log::Level::kInfo;
  if (severity == google::protobuf::LOGLEVEL_WARNING) level = log::Level::kWarn;
  if (absl::StrContains(message, "invalid UTF-8 data when parsing a protocol buffer")) {
    level = log::Level::kDebug;
  }
  if (!log::Enabled(level)) return;
  log::Write(level, "protobuf", "protobuf_log",
             {{"message", message}, {"source", Source(file, line)}});
}

}  // namespace

void RouteLibraryLogs() {
  static std::once_flag once;
  std::call_once(once, [] {
    gpr_set_log_function(&GrpcLog);
    google::protobuf::SetLogHandler(&ProtobufLog);
  });
}

}  // namespace watchfloor::node
