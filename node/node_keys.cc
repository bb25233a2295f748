#include "node/node_keys.h"

#include <sys/stat.h>

#include <cerrno>
#include <limits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "certs/roster_rules.h"
#include "log/log.h"

namespace watchfloor::node {

NodeKeys::NodeKeys(std::string origin, const certs::SigningKey* key, std::string next_path)
    : origin_(std::move(origin)), key_(key), next_path_(std::move(next_path)) {
  auto plan = std::make_shared<Plan>();
  plan->spans.push_back(
      Span{1, std::numeric_limits<uint64_t>::max(), key, key->public_key().KeyId()});
  plan->current = key;
  plan->current_keyid = key->public_key().KeyId();
  plan_ = std::move(plan);
}

absl::Status NodeKeys::LoadNext() {
  if (next_path_.empty()) return absl::OkStatus();
  {
    absl::MutexLock lock(&mu_);
    if (next_ != nullptr) return absl::OkStatus();
  }
  struct stat st;
  if (::stat(next_path_.c_str(), &st) != 0 && errno == ENOENT) return absl::OkStatus();
  absl::StatusOr<certs::SigningKey> next = certs::SigningKey::LoadPemFile(next_path_);
  if (!next.ok()) {
    return absl::Status(next.status().code(),
                        absl::StrCat("next_signing_key_file: ", next.status().message()));
  }
  if (next->public_key() == key_->public_key()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "next_signing_key_file ", next_path_, " holds the same key as signing_key_file (keyid ",
        key_->public_key().KeyId(), "); put the new key there"));
  }
  absl::MutexLock lock(&mu_);
  if (next_ == nullptr) next_ = std::make_unique<const certs::SigningKey>(*std::move(next));
  return absl::OkStatus();
}

const certs::SigningKey* NodeKeys::Find(const certs::PublicKey& key) const {
  if (key_->public_key() == key) return key_;
  absl::MutexLock lock(&mu_);
  if (next_ != nullptr && next_->public_key() == key) return next_.get();
  return nullptr;
}

bool NodeKeys::Holds(const certs::PublicKey& key) const { return Find(key) != nullptr; }

std::string NodeKeys::SetRoster(const certs::Roster* roster) {
  const watchfloor::v1::RosterNode* me = roster->Node(origin_);
  if (me == nullptr) return "";  // removed: it signs nothing the others take
  auto plan = std::make_shared<Plan>();
  plan->version = roster->version();
  absl::StatusOr<certs::PublicKey> now = certs::PublicKey::FromPem(me->signing_key_pem());
  if (!now.ok()) return "";  // not reached: a verified roster's keys parse
  const uint64_t from = certs::KeyFromSequence(*me);
  std::string load_error;
  if (Find(*now) == nullptr) {
    // The operator may have put the new key in place since start.
    absl::Status loaded = LoadNext();
    if (!loaded.ok()) load_error = absl::StrCat(" (", loaded.message(), ")");
  }
  plan->current = Find(*now);
  plan->current_keyid = now->KeyId();
  plan->spans.push_back(
      Span{from, std::numeric_limits<uint64_t>::max(), plan->current, now->KeyId()});
  for (const watchfloor::v1::PreviousNodeKey& p : me->previous_keys()) {
    absl::StatusOr<certs::PublicKey> old = certs::PublicKey::FromPem(p.signing_key_pem());
    if (!old.ok()) continue;
    plan->spans.push_back(Span{p.first_sequence(), p.last_sequence(), Find(*old), old->KeyId()});
  }
  std::shared_ptr<const Plan> before;
  {
    absl::MutexLock lock(&mu_);
    before = std::move(plan_);
    plan_ = plan;
    roster_ = roster;
  }
  if (before->current_keyid == plan->current_keyid) return "";
  if (plan->current == nullptr) {
    std::string message = absl::StrCat(
        "roster v", plan->version, " rotates this node's signing key to keyid ",
        plan->current_keyid, " from feed sequence ", from, ", which this node does not hold",
        next_path_.empty() ? " (no next_signing_key_file is configured)"
                           : absl::StrCat(" (next_signing_key_file ", next_path_, ")"),
        load_error, ": it refuses to publish sequence ", from,
        " and later, and signs no checkpoint or cosignature, until it has that key");
    log::Error("node", "signing_key_missing",
               {{"roster_version", plan->version}, {"keyid", plan->current_keyid},
                {"from_sequence", from}, {"next_signing_key_file", next_path_},
                {"message", message}});
    return message;
  }
  std::string message = absl::StrCat(
      "roster v", plan->version, " rotates this node's signing key to keyid ",
      plan->current_keyid, " (next_signing_key_file) from feed sequence ", from,
      "; it signs its checkpoints and cosignatures with it from now on");
  log::Info("node", "signing_key_rotated",
            {{"roster_version", plan->version}, {"keyid", plan->current_keyid},
             {"from_sequence", from}, {"message", message}});
  return message;
}

std::shared_ptr<const NodeKeys::Plan> NodeKeys::plan() const {
  absl::MutexLock lock(&mu_);
  return plan_;
}

bool NodeKeys::Refresh() {
  const certs::Roster* roster;
  {
    absl::MutexLock lock(&mu_);
    if (next_path_.empty() || next_ != nullptr || roster_ == nullptr) return false;
    roster = roster_;
  }
  if (!LoadNext().ok()) return false;
  {
    absl::MutexLock lock(&mu_);
    if (next_ == nullptr) return false;
  }
  SetRoster(roster);  // logs the rotation
  return true;
}

absl::StatusOr<const certs::SigningKey*> NodeKeys::ForSequence(uint64_t sequence) {
  auto find = [sequence](const Plan& p) -> const Span* {
    for (const Span& s : p.spans) {
      if (sequence >= s.first && sequence <= s.last) return &s;
    }
    return nullptr;
  };
  std::shared_ptr<const Plan> p = plan();
  const Span* span = find(*p);
  if (span != nullptr && span->key == nullptr && Refresh()) {
    p = plan();
    span = find(*p);
  }
  if (span == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "roster v", p->version, " names no key for sequence ", sequence, " of ", origin_));
  }
  if (span->key == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "roster v", p->version, " has sequence ", sequence, " of ", origin_,
        " signed by keyid ", span->keyid, ", which this node does not hold; put that key in "
        "the node's next_signing_key_file (docs/FEDERATION.md \"Node key rotation\")"));
  }
  return span->key;
}

const certs::SigningKey* NodeKeys::Current() {
  const certs::SigningKey* key = plan()->current;
  if (key == nullptr && Refresh()) key = plan()->current;
  return key;
}

}  // namespace watchfloor::node
