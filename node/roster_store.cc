#include "node/roster_store.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "certs/dsse.h"
#include "certs/roster_chain.h"

namespace watchfloor::node {
namespace {

absl::Status Errno(absl::string_view what, const std::string& path) {
  const int err = errno;
  return absl::ErrnoToStatus(err, absl::StrCat(what, " ", path));
}

absl::Status WriteAll(int fd, absl::string_view data, const std::string& path) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return Errno("cannot write", path);
    }
    data.remove_prefix(static_cast<size_t>(n));
  }
  return absl::OkStatus();
}

}  // namespace

RosterStore::RosterStore(std::string data_dir) : data_dir_(std::move(data_dir)) {}

std::string RosterStore::path() const { return absl::StrCat(data_dir_, "/", kFileName); }

absl::StatusOr<std::vector<certs::Roster>> RosterStore::Load(
    const certs::Roster& anchor) const {
  const std::string file = path();
  ::unlink(absl::StrCat(file, ".tmp").c_str());  // an interrupted Save
  std::vector<certs::Roster> chain{anchor};
  std::ifstream in(file);
  if (!in) {
    if (errno == ENOENT) return chain;
    return Errno("cannot read the roster chain", file);
  }
  std::stringstream buf;
  buf << in.rdbuf();
  const std::string text = buf.str();
  auto corrupt = [&file](absl::string_view what) {
    return absl::DataLossError(absl::StrCat(
        "roster chain ", file, ": ", what,
        "; move the file away to start from the configured roster_file"));
  };
  std::vector<watchfloor::v1::Envelope> newer;
  int line_no = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    ++line_no;
    absl::StatusOr<watchfloor::v1::Envelope> env = certs::EnvelopeFromJson(line);
    if (!env.ok()) {
      return corrupt(absl::StrCat("line ", line_no, " is not a DSSE JSON envelope: ",
                                  env.status().message()));
    }
    absl::StatusOr<watchfloor::v1::Roster> roster = certs::ParseRosterPayload(*env);
    if (!roster.ok()) {
      return corrupt(absl::StrCat("line ", line_no, ": ", roster.status().message()));
    }
    if (roster->version() < anchor.version()) continue;
    if (roster->version() == anchor.version()) {
      if (env->payload() != anchor.envelope().payload()) {
        return corrupt(absl::StrCat("line ", line_no, " holds another roster v",
                                    anchor.version(), " than roster_file"));
      }
      continue;
    }
    newer.push_back(*std::move(env));
  }
  absl::StatusOr<std::vector<certs::Roster>> verified = certs::VerifyChain(anchor, newer);
  if (!verified.ok()) {
    return corrupt(absl::StrCat("it does not chain from roster_file v", anchor.version(),
                                ": ", verified.status().message()));
  }
  for (certs::Roster& r : *verified) chain.push_back(std::move(r));
  return chain;
}

absl::Status RosterStore::Save(const std::vector<certs::Roster>& chain) const {
  std::string text;
  for (const certs::Roster& r : chain) {
    absl::StrAppend(&text, certs::EnvelopeToJson(r.envelope()), "\n");
  }
  const std::string file = path();
  const std::string tmp = absl::StrCat(file, ".tmp");
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Errno("cannot create", tmp);
  absl::Status st = WriteAll(fd, text, tmp);
  if (st.ok() && ::fsync(fd) != 0) st = Errno("cannot fsync", tmp);
  if (::close(fd) != 0 && st.ok()) st = Errno("cannot close", tmp);
  if (st.ok() && ::rename(tmp.c_str(), file.c_str()) != 0) {
    st = Errno("cannot rename over", file);
  }
  if (!st.ok()) {
    ::unlink(tmp.c_str());
    return st;
  }
  // The rename is durable only once the directory is.
  const int dir = ::open(data_dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return Errno("cannot open the data directory", data_dir_);
  st = ::fsync(dir) == 0 ? absl::OkStatus() : Errno("cannot fsync", data_dir_);
  ::close(dir);
  return st;
}

}  // namespace watchfloor::node
