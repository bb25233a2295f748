// Small POSIX file helpers for key files: durable create-only writes and
// bounded reads that report the file mode. Internal to certs/.
#ifndef WATCHFLOOR_CERTS_FILE_IO_H_
#define WATCHFLOOR_CERTS_FILE_IO_H_

#include <sys/types.h>

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace watchfloor::certs {

// Key and certificate files are a few KiB; anything bigger is not one.
inline constexpr size_t kMaxKeyFileSize = 64 * 1024;

struct FileContents {
  std::string data;
  mode_t mode = 0;  // st_mode of the file that was read (fstat, same fd)
};

// Reads the regular file at `path`. Errors: NOT_FOUND if it does not exist
// (message: "<what> <path> does not exist<hint>"); INVALID_ARGUMENT if it is
// not a regular file or is larger than kMaxKeyFileSize; otherwise the errno
// mapped by absl::ErrnoToStatus. The read buffer never reallocates and is
// wiped on error, so secrets are not left behind in freed memory; the caller
// wipes `data` when done with a secret.
absl::StatusOr<FileContents> ReadSmallFile(const std::string& path,
                                           absl::string_view what,
                                           absl::string_view hint);

// Creates `path` with exactly `mode` (O_CREAT|O_EXCL: ALREADY_EXISTS if it
// exists, so nothing is ever overwritten), writes `data`, fsyncs the file and
// its directory. On failure a partially written file is removed.
absl::Status WriteNewFile(const std::string& path, absl::string_view data,
                          mode_t mode);

// The PERMISSION_DENIED message for a private key file whose mode has
// group/other bits: "key file <path> is readable by others (mode 0644); run
// chmod 600 <path>".
std::string LooseKeyModeMessage(const std::string& path, mode_t mode);

}  // namespace watchfloor::certs

#endif  // WATCHFLOOR_CERTS_FILE_IO_H_
