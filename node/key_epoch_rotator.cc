#include "node/key_epoch_rotator.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/notification.h"
#include "certs/encryption_key.h"
#include "certs/status_macros.h"
#include "log/log.h"

namespace watchfloor::node {
namespace {

namespace v1 = watchfloor::v1;

absl::Status ErrnoError(absl::string_view what, const std::string& path) {
  const int err = errno;
  return absl::ErrnoToStatus(err, absl::StrCat(what, " ", path));
}

absl::Status SyncDir(const std::string& dir) {
  int fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return ErrnoError("cannot open directory", dir);
  int rc = fsync(fd);
  int err = errno;
  close(fd);
  errno = err;
  return rc == 0 ? absl::OkStatus() : ErrnoError("cannot fsync directory", dir);
}

// Overwrites `path` with zeros, fsyncs it, unlinks it and fsyncs `dir`. A
// missing file is already erased.
absl::Status Shred(const std::string& dir, const std::string& path) {
  int fd = open(path.c_str(), O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    if (errno == ENOENT) return absl::OkStatus();
    return ErrnoError("cannot open key file to erase it:", path);
  }
  struct stat st;
  bool ok = fstat(fd, &st) == 0;
  const std::vector<char> zeros(4096, 0);
  for (off_t done = 0; ok && done < st.st_size;) {
    const size_t n = static_cast<size_t>(std::min<off_t>(st.st_size - done, zeros.size()));
    ssize_t w = pwrite(fd, zeros.data(), n, done);
    if (w < 0 && errno == EINTR) continue;
    ok = w > 0;
    if (ok) done += w;
  }
  ok = ok && fsync(fd) == 0;
  int err = errno;
  close(fd);
  if (!ok) {
    errno = err;
    return ErrnoError("cannot overwrite key file", path);
  }
  if (unlink(path.c_str()) != 0) return ErrnoError("cannot unlink key file", path);
  return SyncDir(dir);
}

// The epoch of "epoch-<n>.key", or 0.
uint64_t EpochOfName(absl::string_view name) {
  uint64_t n = 0;
  if (!absl::ConsumePrefix(&name, "epoch-") || !absl::ConsumeSuffix(&name, ".key") ||
      name.empty() || name.find_first_not_of("0123456789") != absl::string_view::npos ||
      !absl::SimpleAtoi(name, &n)) {
    return 0;
  }
  return n;
}

}  // namespace

std::string EpochKeyRotator::KeyPath(const std::string& dir, uint64_t epoch) {
  return absl::StrCat(dir, "/epoch-", epoch, ".key");
}

EpochKeyRotator::EpochKeyRotator(Options options, std::string origin, const KeyEpochs* epochs,
                                 EncryptionKeyRing* ring, Ledger* ledger, Clock* clock)
    : options_(std::move(options)),
      origin_(std::move(origin)),
      epochs_(epochs),
      ring_(ring),
      ledger_(ledger),
      clock_(clock) {}

absl::StatusOr<std::unique_ptr<EpochKeyRotator>> EpochKeyRotator::Start(
    Options options, std::string origin, const KeyEpochs* epochs, EncryptionKeyRing* ring,
    Ledger* ledger, Clock* clock) {
  std::unique_ptr<EpochKeyRotator> r(
      new EpochKeyRotator(std::move(options), std::move(origin), epochs, ring, ledger, clock));
  WF_RETURN_IF_ERROR(r->Load());
  WF_RETURN_IF_ERROR(r->RunOnce().status());
  r->thread_ = std::thread([p = r.get()] { p->Loop(); });
  return r;
}

EpochKeyRotator::~EpochKeyRotator() {
  {
    absl::MutexLock lock(&stop_mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

absl::Status EpochKeyRotator::Load() {
  const std::string& dir = options_.dir;
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return ErrnoError("cannot create the epoch key directory (encryption_key_epochs.key_dir)",
                      dir);
  }
  struct stat st;
  if (stat(dir.c_str(), &st) != 0) return ErrnoError("cannot stat", dir);
  if (!S_ISDIR(st.st_mode)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "epoch key directory ", dir, " is not a directory; point "
        "encryption_key_epochs.key_dir at a directory of its own"));
  }
  if ((st.st_mode & 077) != 0) {
    return absl::PermissionDeniedError(absl::StrCat(
        "epoch key directory ", dir, " is accessible by others (mode 0",
        (st.st_mode >> 6) & 7, (st.st_mode >> 3) & 7, st.st_mode & 7, "); run chmod 700 ",
        dir));
  }
  std::vector<std::string> names;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return ErrnoError("cannot read directory", dir);
  while (struct dirent* e = readdir(d)) names.emplace_back(e->d_name);
  closedir(d);
  std::sort(names.begin(), names.end());

  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  for (const std::string& name : names) {
    const std::string path = absl::StrCat(dir, "/", name);
    if (absl::EndsWith(name, ".key.tmp")) {
      // A write a crash interrupted; its record was never published.
      WF_RETURN_IF_ERROR(Shred(dir, path));
      continue;
    }
    const uint64_t epoch = EpochOfName(name);
    if (epoch == 0) continue;
    highest_ = std::max(highest_, epoch);
    std::optional<KeyRecordInfo> record = epochs_->Record(origin_, epoch);
    if (!record.has_value() || record->not_after + options_.retention <= now) {
      WF_RETURN_IF_ERROR(Shred(dir, path));
      log::Info("node", "key_epoch_erased",
                {{"epoch", epoch},
                 {"reason", record.has_value() ? "retention passed while the node was down"
                                               : "never announced (no key record)"}});
      continue;
    }
    WF_ASSIGN_OR_RETURN(certs::EncryptionKey key, certs::EncryptionKey::LoadPemFile(path));
    if (key.public_key() != record->key) {
      return absl::FailedPreconditionError(absl::StrCat(
          "epoch key file ", path, " (keyid ", key.public_key().KeyId(),
          ") is not the key of this node's key record for epoch ", epoch, " (keyid ",
          record->key.KeyId(), "); the key directory belongs to another node or data_dir"));
    }
    ring_->Add(epoch, std::move(key));
    held_.insert(epoch);
  }
  return absl::OkStatus();
}

absl::Status EpochKeyRotator::Erase(uint64_t epoch) {
  ring_->Erase(epoch);
  held_.erase(epoch);
  return Shred(options_.dir, KeyPath(options_.dir, epoch));
}

absl::Status EpochKeyRotator::Rotate(absl::Time now) {
  std::vector<KeyRecordInfo> records = epochs_->Records(origin_);
  const uint64_t epoch =
      std::max(highest_, records.empty() ? uint64_t{0} : records.back().epoch) + 1;
  certs::EncryptionKey key = certs::EncryptionKey::Generate();
  const std::string path = KeyPath(options_.dir, epoch);
  const std::string tmp = absl::StrCat(path, ".tmp");
  highest_ = epoch;
  WF_RETURN_IF_ERROR(key.SavePemFile(tmp));  // O_EXCL, mode 0600, fsync
  if (rename(tmp.c_str(), path.c_str()) != 0) {
    absl::Status st = ErrnoError("cannot rename epoch key file", tmp);
    Shred(options_.dir, tmp).IgnoreError();
    return st;
  }
  if (absl::Status st = SyncDir(options_.dir); !st.ok()) {
    Shred(options_.dir, path).IgnoreError();
    return st;
  }
  v1::Alert draft;
  draft.set_severity(v1::SEVERITY_INFO);
  draft.set_tlp(v1::TLP_CLEAR);
  draft.set_category(kKeyRecordCategory);
  draft.set_title(absl::StrCat("encryption key epoch ", epoch, " of ", origin_));
  v1::KeyRecord* record = draft.mutable_key_record();
  record->set_node(origin_);
  record->set_epoch(epoch);
  record->set_public_key(key.public_key().raw());
  const int64_t not_after = absl::ToUnixMicros(now + 2 * options_.rotation);
  record->mutable_not_after()->set_seconds(not_after / 1000000);
  record->mutable_not_after()->set_nanos(static_cast<int32_t>(not_after % 1000000) * 1000);
  const std::string keyid = key.public_key().KeyId();
  // In the ring before the record commits: a sender may seal to it as soon
  // as it does.
  ring_->Add(epoch, std::move(key));
  held_.insert(epoch);
  absl::Notification done;
  absl::StatusOr<PublishResult> published;
  ledger_->PublishNodeDraft(std::move(draft), [&](absl::StatusOr<PublishResult> r) {
    published = std::move(r);
    done.Notify();
  });
  done.WaitForNotification();
  if (!published.ok()) {
    Erase(epoch).IgnoreError();
    return absl::Status(published.status().code(),
                        absl::StrCat("publishing the key record of epoch ", epoch,
                                     " failed: ", published.status().message()));
  }
  if (options_.published) options_.published(published->envelope);
  log::Info("node", "key_epoch_rotated", {{"epoch", epoch}, {"keyid", keyid}});
  return absl::OkStatus();
}

absl::StatusOr<absl::Time> EpochKeyRotator::RunOnce() {
  absl::MutexLock lock(&mu_);
  const absl::Time now = clock_->Now();
  absl::Time next = now + options_.rotation;
  for (uint64_t epoch : std::vector<uint64_t>(held_.begin(), held_.end())) {
    std::optional<KeyRecordInfo> record = epochs_->Record(origin_, epoch);
    // Every held epoch has a record (Load, Rotate); without one, erase.
    const absl::Time due =
        record.has_value() ? record->not_after + options_.retention : absl::InfinitePast();
    if (due <= now) {
      WF_RETURN_IF_ERROR(Erase(epoch));
      log::Info("node", "key_epoch_erased", {{"epoch", epoch}, {"reason", "retention passed"}});
    } else {
      next = std::min(next, due);
    }
  }
  std::vector<KeyRecordInfo> records = epochs_->Records(origin_);
  const bool current = !records.empty() && held_.count(records.back().epoch) != 0 &&
                       records.back().not_before + options_.rotation > now;
  if (!current) {
    WF_RETURN_IF_ERROR(Rotate(now));
  } else {
    next = std::min(next, records.back().not_before + options_.rotation);
  }
  return next;
}

std::set<uint64_t> EpochKeyRotator::held() const {
  absl::MutexLock lock(&mu_);
  return held_;
}

void EpochKeyRotator::Loop() {
  absl::Time next = clock_->Now();
  for (;;) {
    absl::Duration wait =
        std::clamp(next - clock_->Now(), absl::Milliseconds(5), options_.max_sleep);
    {
      absl::MutexLock lock(&stop_mu_);
      if (stop_mu_.AwaitWithTimeout(absl::Condition(&stopping_), wait)) return;
    }
    absl::StatusOr<absl::Time> r = RunOnce();
    if (r.ok()) {
      next = *r;
    } else {
      log::Warn("node", "key_epoch_round_failed", {{"reason", r.status().message()}});
      next = clock_->Now() + std::min(options_.rotation, absl::Seconds(10));
    }
  }
}

}  // namespace watchfloor::node
