// Library watchfloor_interop_test_util, linked by interop_test,
// nats_bridge_test, roster_submit_test, roster_live_test and
// bench/roster_bench: running a program and capturing its output, drafting
// and signing a roster version with the CLI, and a child process to SIGKILL.
#ifndef WATCHFLOOR_TESTS_INTEROP_TEST_UTIL_H_
#define WATCHFLOOR_TESTS_INTEROP_TEST_UTIL_H_

#include <sys/types.h>

#include <ostream>
#include <string>
#include <vector>

namespace watchfloor::testing {

struct ProcResult {
  int exit_code = -1;  // 128+signal if killed
  std::string out;
  std::string err;
};
std::ostream& operator<<(std::ostream& os, const ProcResult& r);

// Runs argv (argv[0] looked up in PATH) and returns what it printed. Kills it
// (and fails the test) after `timeout_s`.
ProcResult RunProcess(const std::vector<std::string>& argv, int timeout_s = 60);

// `watchfloor args...`.
ProcResult RunWatchfloor(std::vector<std::string> args);

// As operators make a roster version: `watchfloor roster draft --from FROM
// <edits> --out OUT`, then `roster sign --in OUT --key K --out OUT` for each
// member key file K. Returns the first command that failed, else the last.
ProcResult DraftAndSignRoster(const std::string& from, const std::string& out,
                              const std::vector<std::string>& edits,
                              const std::vector<std::string>& member_key_files);

// A background child with stdout and stderr sent to `log_path`.
class ChildProcess {
 public:
  ChildProcess(const std::vector<std::string>& argv, const std::string& log_path);
  ~ChildProcess();  // SIGKILLs it if still running
  pid_t pid() const { return pid_; }
  // Sends `sig` and waits; returns the exit code (128+signal if killed).
  int Signal(int sig);
  bool Running();

 private:
  pid_t pid_ = -1;
};

}  // namespace watchfloor::testing

#endif  // WATCHFLOOR_TESTS_INTEROP_TEST_UTIL_H_
