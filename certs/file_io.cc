#include "certs/file_io.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace watchfloor::certs {
namespace {

// Closes a file descriptor on scope exit.
class FdCloser {
 public:
  explicit FdCloser(int fd) : fd_(fd) {}
  FdCloser(const FdCloser&) = delete;
  FdCloser& operator=(const FdCloser&) = delete;
  ~FdCloser() { close(fd_); }

 private:
  int fd_;
};

std::string ParentDir(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// fsyncs the directory holding `path` so a new entry survives power loss.
// Some filesystems refuse to fsync a directory (EINVAL); the file data is
// already durable then, so that is not an error.
absl::Status SyncParentDir(const std::string& path) {
  const std::string dir = ParentDir(path);
  const int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return absl::ErrnoToStatus(errno, "cannot open " + dir);
  FdCloser closer(dfd);
  if (fsync(dfd) != 0 && errno != EINVAL) {
    return absl::ErrnoToStatus(errno, "cannot fsync " + dir);
  }
  return absl::OkStatus();
}

absl::Status WriteAllAndSync(int fd, const std::string& path,
                             absl::string_view data, mode_t mode) {
  // The umask must not change the contract's mode (0644 stays 0644).
  if (fchmod(fd, mode) != 0) {
    return absl::ErrnoToStatus(errno, "cannot chmod " + path);
  }
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return absl::ErrnoToStatus(errno, "cannot write " + path);
    done += static_cast<size_t>(n);
  }
  if (fsync(fd) != 0) return absl::ErrnoToStatus(errno, "cannot fsync " + path);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<FileContents> ReadSmallFile(const std::string& path,
                                           absl::string_view what,
                                           absl::string_view hint) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    if (errno == ENOENT) {
      return absl::NotFoundError(
          absl::StrCat(what, " ", path, " does not exist", hint));
    }
    return absl::ErrnoToStatus(errno,
                               absl::StrCat("cannot open ", what, " ", path));
  }
  FdCloser closer(fd);
  FileContents file;
  struct stat st;
  if (fstat(fd, &st) != 0) {
    return absl::ErrnoToStatus(errno,
                               absl::StrCat("cannot stat ", what, " ", path));
  }
  if (!S_ISREG(st.st_mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " ", path, " is not a regular file"));
  }
  file.mode = st.st_mode;
  // Reserve once: appending never reallocates, so no stray copies.
  std::string& out = file.data;
  out.resize(kMaxKeyFileSize + 1);
  size_t size = 0;
  absl::Status status;
  while (size < out.size()) {
    const ssize_t n = read(fd, out.data() + size, out.size() - size);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      status = absl::ErrnoToStatus(errno, "cannot read " + path);
      break;
    }
    if (n == 0) break;
    size += static_cast<size_t>(n);
  }
  if (status.ok() && size > kMaxKeyFileSize) {
    status = absl::InvalidArgumentError(absl::StrCat(
        what, " ", path, " is larger than ", kMaxKeyFileSize, " bytes"));
  }
  if (!status.ok()) {
    sodium_memzero(out.data(), out.size());
    return status;
  }
  out.resize(size);
  return file;
}

absl::Status WriteNewFile(const std::string& path, absl::string_view data,
                          mode_t mode) {
  const int fd =
      open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, mode);
  if (fd < 0) {
    if (errno == EEXIST) {
      return absl::AlreadyExistsError(
          absl::StrCat(path, " already exists; refusing to overwrite it"));
    }
    return absl::ErrnoToStatus(errno, "cannot create " + path);
  }
  absl::Status status = WriteAllAndSync(fd, path, data, mode);
  if (close(fd) != 0 && status.ok()) {
    status = absl::ErrnoToStatus(errno, "cannot close " + path);
  }
  if (!status.ok()) {
    unlink(path.c_str());
    return status;
  }
  return SyncParentDir(path);
}

std::string LooseKeyModeMessage(const std::string& path, mode_t mode) {
  const mode_t loose = mode & 077;
  const char* access = (loose & 044)   ? "readable"
                       : (loose & 022) ? "writable"
                                       : "accessible";
  const char* who = (loose & 007) ? "others" : "group members";
  return absl::StrFormat(
      "key file %s is %s by %s (mode %04o); run chmod 600 %s", path, access,
      who, mode & 07777, path);
}

}  // namespace watchfloor::certs
