#include "node/key_epochs.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "certs/status_macros.h"

namespace watchfloor::node {
namespace {

namespace v1 = watchfloor::v1;

constexpr size_t kRebuildBatch = 1024;

absl::Time ToTime(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

}  // namespace

absl::Status KeyEpochs::Rebuild(AlertStore* store) {
  uint64_t after = 0;
  for (;;) {
    WF_ASSIGN_OR_RETURN(std::vector<StoredAlert> page, store->ReadAfter(after, kRebuildBatch));
    if (page.empty()) return absl::OkStatus();
    absl::MutexLock lock(&mu_);
    for (const StoredAlert& s : page) {
      after = s.cursor;
      v1::Alert alert;
      if (!alert.ParseFromString(s.envelope.payload())) {
        return absl::DataLossError(absl::StrCat("stored alert ", s.id, " (cursor ", s.cursor,
                                                ") does not parse; the data file is damaged"));
      }
      ApplyLocked(s.cursor, s.id, alert);
    }
  }
}

void KeyEpochs::OnCommitted(const std::vector<std::shared_ptr<const StoredAlert>>& alerts) {
  absl::MutexLock lock(&mu_);
  for (const auto& s : alerts) {
    v1::Alert alert;
    // Committed alerts were verified and validated from these very bytes.
    if (!alert.ParseFromString(s->envelope.payload())) continue;
    ApplyLocked(s->cursor, s->id, alert);
  }
}

void KeyEpochs::ApplyLocked(uint64_t cursor, const std::string& id, const v1::Alert& alert) {
  if (cursor <= applied_) return;
  applied_ = cursor;
  if (!alert.has_key_record()) return;
  const v1::KeyRecord& k = alert.key_record();
  // Validated when stored (ValidateSigned); a failure here is not input.
  absl::StatusOr<certs::EncryptionPublicKey> key =
      certs::EncryptionPublicKey::FromRaw(k.public_key());
  if (!key.ok()) return;
  records_[k.node()].insert_or_assign(
      k.epoch(), KeyRecordInfo{k.epoch(), *std::move(key), ToTime(alert.issued_at()),
                               ToTime(k.not_after()), id});
}

absl::Status KeyEpochs::CheckStaged(const v1::Alert& alert,
                                    const std::vector<Ledger::StagedAlert>& staged) const {
  if (!alert.has_key_record()) return absl::OkStatus();
  uint64_t newest = 0;
  for (const Ledger::StagedAlert& s : staged) {
    if (s.alert->origin() == alert.origin() && s.alert->has_key_record()) {
      newest = std::max(newest, s.alert->key_record().epoch());
    }
  }
  {
    absl::MutexLock lock(&mu_);
    auto it = records_.find(alert.origin());
    if (it != records_.end() && !it->second.empty()) {
      newest = std::max(newest, it->second.rbegin()->first);
    }
  }
  if (alert.key_record().epoch() <= newest) {
    return absl::InvalidArgumentError(absl::StrCat(
        "key_record.epoch ", alert.key_record().epoch(), " of ", alert.origin(),
        " is not above its epoch ", newest,
        " announced before; key epochs only grow (an old epoch's key may have been erased)"));
  }
  return absl::OkStatus();
}

std::optional<Sealer::EpochKey> KeyEpochs::Current(const std::string& node) const {
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  auto it = records_.find(node);
  if (it == records_.end()) return std::nullopt;
  for (auto r = it->second.rbegin(); r != it->second.rend(); ++r) {
    if (now < r->second.not_after) return Sealer::EpochKey{r->first, r->second.key};
  }
  return std::nullopt;
}

std::vector<KeyRecordInfo> KeyEpochs::Records(const std::string& node) const {
  std::vector<KeyRecordInfo> out;
  absl::MutexLock lock(&mu_);
  auto it = records_.find(node);
  if (it == records_.end()) return out;
  for (const auto& [epoch, info] : it->second) out.push_back(info);
  return out;
}

std::optional<KeyRecordInfo> KeyEpochs::Record(const std::string& node, uint64_t epoch) const {
  absl::MutexLock lock(&mu_);
  auto it = records_.find(node);
  if (it == records_.end()) return std::nullopt;
  auto r = it->second.find(epoch);
  if (r == it->second.end()) return std::nullopt;
  return r->second;
}

}  // namespace watchfloor::node
