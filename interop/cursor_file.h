// The bridge's persisted subscription cursor: one small file, replaced
// atomically (write a temporary file, fsync it, rename it over, fsync the
// directory), so that after a crash it holds either the old or the new
// cursor, never a torn one.
#ifndef WATCHFLOOR_INTEROP_CURSOR_FILE_H_
#define WATCHFLOOR_INTEROP_CURSOR_FILE_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace watchfloor::interop {

// The cursor stored at `path`; 0 if the file does not exist yet. DATA_LOSS
// naming the file if it exists but does not hold "cursor <N>\n" (it was
// edited or is from something else; the bridge must not guess).
absl::StatusOr<uint64_t> LoadCursor(const std::string& path);

// Durably replaces the cursor at `path`. INTERNAL with the errno text on I/O
// failure (the old cursor is then still in place).
absl::Status StoreCursor(const std::string& path, uint64_t cursor);

}  // namespace watchfloor::interop

#endif  // WATCHFLOOR_INTEROP_CURSOR_FILE_H_
