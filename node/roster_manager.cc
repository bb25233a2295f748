#include "node/roster_manager.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "certs/roster_chain.h"
#include "certs/roster_rules.h"

namespace watchfloor::node {

RosterManager::RosterManager(std::vector<certs::Roster> chain, RosterStore* store,
                             Clock* clock)
    : clock_(clock), store_(store) {
  absl::MutexLock lock(&mu_);
  for (certs::Roster& r : chain) chain_.push_back(std::move(r));
  current_.store(&chain_.back());
}

std::vector<watchfloor::v1::Envelope> RosterManager::EnvelopesAfter(
    uint64_t after_version, size_t max) const {
  std::vector<watchfloor::v1::Envelope> out;
  absl::MutexLock lock(&mu_);
  for (const certs::Roster& r : chain_) {
    if (out.size() >= max) break;
    if (r.version() > after_version) out.push_back(r.envelope());
  }
  return out;
}

std::vector<certs::Roster> RosterManager::Chain() const {
  absl::MutexLock lock(&mu_);
  return std::vector<certs::Roster>(chain_.begin(), chain_.end());
}

absl::StatusOr<uint64_t> RosterManager::Adopt(
    const std::vector<watchfloor::v1::Envelope>& envelopes) {
  absl::MutexLock adopting(&adopt_mu_);
  const certs::Roster& current = *current_.load();
  auto refuse = [this](absl::Status st) {
    absl::MutexLock lock(&mu_);
    ++stats_.refused;
    return st;
  };
  std::vector<watchfloor::v1::Envelope> newer;
  for (const watchfloor::v1::Envelope& env : envelopes) {
    absl::StatusOr<watchfloor::v1::Roster> r = certs::ParseRosterPayload(env);
    if (!r.ok()) return refuse(r.status());
    if (r->version() > current.version()) newer.push_back(env);
  }
  if (newer.empty()) {
    if (envelopes.empty()) {
      return refuse(absl::InvalidArgumentError("no roster versions given to adopt"));
    }
    if (envelopes.back().payload() == current.envelope().payload()) {
      return absl::AlreadyExistsError(
          absl::StrCat("roster v", current.version(), " is already in force here"));
    }
    // Older or a different same version: VerifyNext explains the rollback.
    return refuse(current.VerifyNext(envelopes.back()).status());
  }
  absl::StatusOr<std::vector<certs::Roster>> verified = certs::VerifyChain(current, newer);
  if (!verified.ok()) return refuse(verified.status());
  absl::Status fresh = certs::CheckNotExpired(verified->back().proto(), clock_->Now());
  if (!fresh.ok()) {
    return refuse(absl::FailedPreconditionError(
        absl::StrCat("refusing to adopt: ", fresh.message())));
  }
  std::vector<certs::Roster> longer;
  std::vector<Listener> listeners;
  std::vector<Listener> announcers;
  {
    absl::MutexLock lock(&mu_);
    longer.assign(chain_.begin(), chain_.end());
    listeners = listeners_;
    announcers = announcers_;
  }
  for (const certs::Roster& r : *verified) longer.push_back(r);
  absl::Status saved = store_->Save(longer);
  if (!saved.ok()) return refuse(saved);
  const certs::Roster* newest = nullptr;
  {
    absl::MutexLock lock(&mu_);
    for (certs::Roster& r : *verified) chain_.push_back(std::move(r));
    newest = &chain_.back();
    stats_.adopted += verified->size();
  }
  // Everything that judges by the roster switches first; only then is the
  // version in force (current(), `roster status`) and announced, so nothing
  // is judged under the old version once a peer can see the new one.
  for (const Listener& l : listeners) l(*newest);
  current_.store(newest);
  for (const Listener& a : announcers) a(*newest);
  return newest->version();
}

void RosterManager::AddListener(Listener listener) {
  absl::MutexLock lock(&mu_);
  listeners_.push_back(std::move(listener));
}

void RosterManager::AddAnnouncer(Listener announcer) {
  absl::MutexLock lock(&mu_);
  announcers_.push_back(std::move(announcer));
}

std::string RosterManager::ExpiryWarning() const {
  absl::Status st = certs::CheckNotExpired(current()->proto(), clock_->Now());
  if (st.ok()) return std::string();
  return absl::StrCat("WARNING: ", st.message(),
                      "; this node keeps running on it until a newer version arrives");
}

RosterManager::Stats RosterManager::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

}  // namespace watchfloor::node
