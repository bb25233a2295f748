// Headless Chromium for tests and benchmarks: tests/page/driver.mjs run by
// Node.js (puppeteer-core pinned in tests/page/package-lock.json, installed
// by scripts/setup.sh; the browser is Debian's /usr/bin/chromium), driven one
// command at a time over its stdin/stdout. driver.mjs lists the commands.
#ifndef WATCHFLOOR_TESTS_BROWSER_DRIVER_H_
#define WATCHFLOOR_TESTS_BROWSER_DRIVER_H_

#include <sys/types.h>

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace watchfloor::testing {

class BrowserDriver {
 public:
  // Starts `node <driver_dir>/driver.mjs` in a process group of its own, its
  // stderr (and Chromium's) appended to `log_path`. FAILED_PRECONDITION
  // naming what to run if puppeteer-core is not installed in driver_dir.
  static absl::StatusOr<std::unique_ptr<BrowserDriver>> Start(const std::string& driver_dir,
                                                              const std::string& log_path);
  // Asks the driver to quit (closing Chromium), then SIGKILLs the process
  // group if it has not exited within 10 s.
  ~BrowserDriver();

  // Sends one command line and waits up to `timeout` for its reply. Returns
  // the reply after "ok" and one space ("" for a bare "ok").
  // DEADLINE_EXCEEDED for a "timeout ..." reply or no reply in time (the
  // message carries the reply), INTERNAL for "error ...", UNAVAILABLE if the
  // driver exited.
  absl::StatusOr<std::string> Command(const std::string& line,
                                      absl::Duration timeout = absl::Seconds(30));

 private:
  BrowserDriver() = default;
  absl::StatusOr<std::string> ReadLine(absl::Time deadline);

  pid_t pid_ = -1;
  int to_driver_ = -1;
  int from_driver_ = -1;
  std::string buffered_;
};

}  // namespace watchfloor::testing

#endif  // WATCHFLOOR_TESTS_BROWSER_DRIVER_H_
