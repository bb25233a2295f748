#include "interop/cursor_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace watchfloor::interop {
namespace {

absl::Status IoError(absl::string_view what, const std::string& path) {
  return absl::InternalError(absl::StrCat("cannot ", what, " ", path, ": ", std::strerror(errno)));
}

std::string DirOf(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

absl::StatusOr<uint64_t> LoadCursor(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    if (access(path.c_str(), F_OK) != 0 && errno == ENOENT) return 0;
    return IoError("read", path);
  }
  std::stringstream buf;
  buf << in.rdbuf();
  const std::string content = buf.str();  // text views it: keep it alive
  absl::string_view text = content;
  uint64_t cursor = 0;
  if (!absl::ConsumePrefix(&text, "cursor ") || !absl::ConsumeSuffix(&text, "\n") ||
      !absl::SimpleAtoi(text, &cursor)) {
    return absl::DataLossError(absl::StrCat(
        "cursor file ", path, " does not hold \"cursor <N>\"; restore it, or delete it to "
        "start from the beginning of the node's store (JetStream drops the duplicates that "
        "are still inside its duplicate window)"));
  }
  return cursor;
}

absl::Status StoreCursor(const std::string& path, uint64_t cursor) {
  const std::string tmp = absl::StrCat(path, ".tmp");
  const std::string text = absl::StrCat("cursor ", cursor, "\n");
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return IoError("create", tmp);
  bool ok = write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
            fsync(fd) == 0;
  close(fd);
  if (!ok) return IoError("write", tmp);
  if (rename(tmp.c_str(), path.c_str()) != 0) return IoError("rename onto", path);
  int dir = open(DirOf(path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return IoError("open the directory of", path);
  ok = fsync(dir) == 0;
  close(dir);
  if (!ok) return IoError("fsync the directory of", path);
  return absl::OkStatus();
}

}  // namespace watchfloor::interop
