#include "tests/browser_driver.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace watchfloor::testing {

absl::StatusOr<std::unique_ptr<BrowserDriver>> BrowserDriver::Start(const std::string& driver_dir,
                                                                    const std::string& log_path) {
  struct stat st;
  if (stat((driver_dir + "/node_modules/puppeteer-core").c_str(), &st) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "puppeteer-core is not installed in ", driver_dir,
        "; run scripts/setup.sh (npm ci in tests/page)"));
  }
  // A driver that died must show as an error reply, not kill the caller.
  signal(SIGPIPE, SIG_IGN);
  int in[2], out[2];
  if (pipe2(in, O_CLOEXEC) != 0 || pipe2(out, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe: ", strerror(errno)));
  }
  const std::string script = driver_dir + "/driver.mjs";
  pid_t pid = fork();
  if (pid < 0) return absl::InternalError(absl::StrCat("fork: ", strerror(errno)));
  if (pid == 0) {
    setpgid(0, 0);
    int log = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    dup2(in[0], STDIN_FILENO);
    dup2(out[1], STDOUT_FILENO);
    dup2(log, STDERR_FILENO);
    // Debian installs node in /usr/bin, which a test's PATH may leave out.
    const char* node = access("/usr/bin/node", X_OK) == 0 ? "/usr/bin/node" : "node";
    execlp(node, node, script.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  setpgid(pid, pid);
  close(in[0]);
  close(out[1]);
  std::unique_ptr<BrowserDriver> d(new BrowserDriver());
  d->pid_ = pid;
  d->to_driver_ = in[1];
  d->from_driver_ = out[0];
  return d;
}

BrowserDriver::~BrowserDriver() {
  if (pid_ <= 0) return;
  const std::string quit = "quit\n";
  (void)!write(to_driver_, quit.data(), quit.size());
  close(to_driver_);
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  int status = 0;
  while (waitpid(pid_, &status, WNOHANG) == 0) {
    if (absl::Now() > give_up) {
      kill(-pid_, SIGKILL);
      waitpid(pid_, &status, 0);
      break;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  // Chromium's helpers are in the driver's group too; none may outlive it.
  kill(-pid_, SIGKILL);
  close(from_driver_);
}

absl::StatusOr<std::string> BrowserDriver::ReadLine(absl::Time deadline) {
  for (;;) {
    size_t nl = buffered_.find('\n');
    if (nl != std::string::npos) {
      std::string line = buffered_.substr(0, nl);
      buffered_.erase(0, nl + 1);
      return line;
    }
    const int64_t ms = absl::ToInt64Milliseconds(deadline - absl::Now());
    if (ms <= 0) return absl::DeadlineExceededError("no reply from the browser driver in time");
    struct pollfd p = {from_driver_, POLLIN, 0};
    int r = poll(&p, 1, static_cast<int>(ms));
    if (r < 0 && errno == EINTR) continue;
    if (r == 0) continue;
    char buf[4096];
    ssize_t n = read(from_driver_, buf, sizeof(buf));
    if (n <= 0) return absl::UnavailableError("the browser driver exited; see its log");
    buffered_.append(buf, static_cast<size_t>(n));
  }
}

absl::StatusOr<std::string> BrowserDriver::Command(const std::string& line,
                                                   absl::Duration timeout) {
  const std::string out = line + "\n";
  if (write(to_driver_, out.data(), out.size()) != static_cast<ssize_t>(out.size())) {
    return absl::UnavailableError("cannot write to the browser driver");
  }
  absl::StatusOr<std::string> reply = ReadLine(absl::Now() + timeout);
  if (!reply.ok()) return reply.status();
  if (*reply == "ok") return std::string();
  if (absl::StartsWith(*reply, "ok ")) return reply->substr(3);
  if (absl::StartsWith(*reply, "timeout")) {
    return absl::DeadlineExceededError(absl::StrCat(line, ": ", *reply));
  }
  return absl::InternalError(absl::StrCat(line, ": ", *reply));
}

}  // namespace watchfloor::testing
