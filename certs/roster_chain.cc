#include "certs/roster_chain.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "certs/roster_rules.h"

namespace watchfloor::certs {

absl::StatusOr<std::vector<Roster>> VerifyChain(
    const Roster& anchor, const std::vector<watchfloor::v1::Envelope>& next) {
  std::vector<Roster> out;
  out.reserve(next.size());
  const Roster* prev = &anchor;
  for (const watchfloor::v1::Envelope& env : next) {
    absl::StatusOr<Roster> verified = prev->VerifyNext(env);
    if (!verified.ok()) {
      return absl::Status(verified.status().code(),
                          absl::StrCat("roster chain link v", prev->version() + 1, ": ",
                                       verified.status().message()));
    }
    out.push_back(*std::move(verified));
    prev = &out.back();
  }
  return out;
}

absl::StatusOr<Roster> VerifyAdoption(
    const Roster& current, const std::vector<watchfloor::v1::Envelope>& next,
    absl::Time now) {
  if (next.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "no roster versions after v", current.version(), " to adopt"));
  }
  absl::StatusOr<std::vector<Roster>> chain = VerifyChain(current, next);
  if (!chain.ok()) return chain.status();
  Roster newest = std::move(chain->back());
  absl::Status fresh = CheckNotExpired(newest.proto(), now);
  if (!fresh.ok()) {
    return absl::FailedPreconditionError(
        absl::StrCat("refusing to adopt: ", fresh.message()));
  }
  return newest;
}

}  // namespace watchfloor::certs
