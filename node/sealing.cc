#include "node/sealing.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "certs/status_macros.h"
#include "node/alert_validator.h"

namespace watchfloor::node {

using watchfloor::v1::Alert;

bool IsRecipient(const Alert& alert, absl::string_view member) {
  return std::find(alert.recipients().begin(), alert.recipients().end(), member) !=
         alert.recipients().end();
}

absl::StatusOr<Alert> Sealer::Seal(Alert full) const {
  const certs::Roster* roster = roster_ ? roster_() : nullptr;
  if (roster == nullptr) {
    return absl::FailedPreconditionError(
        "TLP AMBER+STRICT and RED alerts are sealed to roster members' "
        "encryption keys, and this node is not in a federation; publish at "
        "AMBER or lower, or run the node with a federation roster");
  }
  std::vector<std::string> members(full.recipients().begin(), full.recipients().end());
  const std::string own(MemberOfOrigin(origin_));
  if (std::find(members.begin(), members.end(), own) == members.end()) {
    members.push_back(own);
  }
  std::sort(members.begin(), members.end());
  members.erase(std::unique(members.begin(), members.end()), members.end());
  full.clear_recipients();
  std::vector<certs::SealRecipient> recipients;
  for (const std::string& name : members) {
    const watchfloor::v1::RosterMember* member = roster->Member(name);
    if (member == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "recipient ", name, " is not a member of federation ", roster->federation(),
          " (roster v", roster->version(), "); name members as the roster does "
          "('watchfloor roster show')"));
    }
    if (member->nodes_size() == 0) {
      return absl::FailedPreconditionError(absl::StrCat(
          "recipient ", name, " has no nodes in roster v", roster->version(),
          "; nothing could read the alert there"));
    }
    for (const watchfloor::v1::RosterNode& node : member->nodes()) {
      if (node.encryption_key_pem().empty()) {
        return absl::FailedPreconditionError(absl::StrCat(
            "node ", node.origin(), " of recipient ", name,
            " has no encryption key in roster v", roster->version(),
            "; it could not read the alert. Its member must add the node's "
            "encryption.pub (watchfloor keygen) to the roster as encryption_key_pem"));
      }
      absl::StatusOr<certs::EncryptionPublicKey> key =
          certs::EncryptionPublicKey::FromPem(node.encryption_key_pem());
      // ValidateRoster checked it; a failure here is a bug, not input.
      if (!key.ok()) return key.status();
      std::optional<EpochKey> epoch_key =
          epoch_keys_ ? epoch_keys_(node.origin()) : std::nullopt;
      if (epoch_key.has_value()) {
        recipients.push_back({node.origin(), epoch_key->epoch, std::move(epoch_key->key)});
      } else {
        recipients.push_back({node.origin(), 0, *std::move(key)});
      }
    }
    full.add_recipients(name);
  }
  return certs::SealAlert(full, recipients, contexts_);
}

void EncryptionKeyRing::Add(uint64_t epoch, certs::EncryptionKey key) {
  auto shared = std::make_shared<const certs::EncryptionKey>(std::move(key));
  absl::MutexLock lock(&mu_);
  keys_[epoch] = std::move(shared);
}

void EncryptionKeyRing::Erase(uint64_t epoch) {
  std::shared_ptr<const certs::EncryptionKey> dropped;
  {
    absl::MutexLock lock(&mu_);
    auto it = keys_.find(epoch);
    if (it != keys_.end()) {
      dropped = std::move(it->second);
      keys_.erase(it);
    }
  }
  contexts_.EraseEpoch(epoch);
}

std::shared_ptr<const certs::EncryptionKey> EncryptionKeyRing::Get(uint64_t epoch) const {
  absl::MutexLock lock(&mu_);
  auto it = keys_.find(epoch);
  return it == keys_.end() ? nullptr : it->second;
}

bool EncryptionKeyRing::empty() const {
  absl::MutexLock lock(&mu_);
  return keys_.empty();
}

bool SealedReader::ShouldOpen(const Alert& outer) const {
  return outer.has_sealed() && IsRecipient(outer, member_);
}

absl::StatusOr<Alert> SealedReader::Open(const Alert& outer) const {
  if (keys_ == nullptr || keys_->empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "alert is sealed to member ", member_, ", but node ", origin_,
        " has no encryption key: set encryption_key_file in its config to the "
        "key whose public half is its roster entry's encryption_key_pem, and "
        "restart it"));
  }
  // Held for the duration of the open, so an Erase meanwhile cannot free a
  // key in use.
  std::vector<std::shared_ptr<const certs::EncryptionKey>> held;
  absl::StatusOr<Alert> opened = certs::OpenSealedAlert(
      outer, origin_, [&](uint64_t epoch) -> const certs::EncryptionKey* {
        std::shared_ptr<const certs::EncryptionKey> k = keys_->Get(epoch);
        if (k == nullptr) return nullptr;
        held.push_back(k);
        return k.get();
      },
      keys_->contexts());
  if (!opened.ok()) return opened.status();
  absl::Status valid = ValidateOpened(*opened);
  if (!valid.ok()) {
    return absl::DataLossError(absl::StrCat(
        "the sealed content of this alert is not a valid alert (its origin ",
        outer.origin(), " sealed it so): ", valid.message()));
  }
  return opened;
}

}  // namespace watchfloor::node
