#include "node/corroboration.h"

#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "certs/proto_check.h"
#include "certs/status_macros.h"
#include "watchfloor/v1/alert.pb.h"

namespace watchfloor::node {
namespace {

bool IsAlertId(const std::string& id) {
  return id.size() == 64 && std::all_of(id.begin(), id.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

}  // namespace

int Corroboration::CountMembers(const std::string& origin,
                                const std::vector<std::string>& cosigners) {
  const std::string own = certs::MemberOf(origin);
  std::set<std::string> members;
  for (const std::string& c : cosigners) {
    std::string m = certs::MemberOf(c);
    if (m != own) members.insert(std::move(m));
  }
  return static_cast<int>(members.size());
}

absl::StatusOr<Corroboration::Prepared> Corroboration::Prepare(const std::string& id) const {
  if (!IsAlertId(id)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "alert id \"", id.substr(0, 80), "\" is not 64 lowercase hex characters; copy it from "
        "`watchfloor incidents` or a subscription"));
  }
  const certs::Roster* roster = roster_ == nullptr ? nullptr : roster_->roster();
  if (roster == nullptr) {
    return absl::FailedPreconditionError(
        "this node is not in a federation: corroboration is by members of a roster");
  }
  WF_ASSIGN_OR_RETURN(std::optional<StoredAlert> stored, store_->Get(id));
  if (!stored.has_value()) {
    return absl::NotFoundError(absl::StrCat("alert ", id, " is not stored at ", self_,
                                            "; wait for it to arrive, or check the id"));
  }
  const std::string member = certs::MemberOf(self_);
  if (certs::MemberOf(stored->origin) == member) {
    return absl::FailedPreconditionError(absl::StrCat(
        "alert ", id, " was published by ", stored->origin, ", a node of this node's own member ",
        member, ": corroboration is by other members"));
  }
  watchfloor::v1::Alert alert;
  WF_RETURN_IF_ERROR(certs::ParseStrictly(stored->envelope.payload(), "stored payload", &alert));
  if (alert.has_sealed()) {
    const auto& r = alert.recipients();
    if (std::find(r.begin(), r.end(), member) == r.end()) {
      return absl::PermissionDeniedError(absl::StrCat(
          "alert ", id, " is sealed to ", absl::StrJoin(r, ", "), "; member ", member,
          " cannot read it, so it cannot confirm it"));
    }
  }
  const certs::SigningKey* key = keys_->Current();
  if (key == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "this node does not hold the signing key roster v", roster->version(),
        " names for ", self_, "; install it (next_signing_key_file) first"));
  }
  Cosignature c;
  c.alert_id = id;
  c.node = self_;
  c.signature = certs::Cosign(stored->envelope, *key);
  // The same check every peer makes: what this node stores, it could also
  // have received.
  WF_RETURN_IF_ERROR(certs::VerifyCosignature(*roster, stored->envelope.payload_type(),
                                              stored->envelope.payload(), stored->origin,
                                              c.signature)
                         .status());
  Prepared p;
  p.alert = std::move(*stored);
  p.cosignature = std::move(c);
  return p;
}

std::vector<absl::StatusOr<bool>> Corroboration::Merge(const std::vector<Cosignature>& offers) {
  std::vector<absl::StatusOr<bool>> out(offers.size(), absl::StatusOr<bool>(false));
  const certs::Roster* roster = roster_ == nullptr ? nullptr : roster_->roster();
  std::map<std::string, std::optional<StoredAlert>> alerts;  // one read per alert
  std::vector<Cosignature> valid;
  std::vector<size_t> where;
  for (size_t i = 0; i < offers.size(); ++i) {
    const Cosignature& c = offers[i];
    if (roster == nullptr) {
      out[i] = absl::FailedPreconditionError("this node is not in a federation");
      continue;
    }
    if (!IsAlertId(c.alert_id)) {
      out[i] = absl::InvalidArgumentError(absl::StrCat(
          "co-signed alert id \"", c.alert_id.substr(0, 80), "\" is not 64 lowercase hex"));
      continue;
    }
    auto it = alerts.find(c.alert_id);
    if (it == alerts.end()) {
      absl::StatusOr<std::optional<StoredAlert>> got = store_->Get(c.alert_id);
      if (!got.ok()) {
        out[i] = got.status();
        continue;
      }
      it = alerts.emplace(c.alert_id, std::move(*got)).first;
    }
    if (!it->second.has_value()) {
      out[i] = absl::NotFoundError(absl::StrCat("alert ", c.alert_id, " is not stored here"));
      continue;
    }
    const StoredAlert& a = *it->second;
    absl::StatusOr<certs::Cosigner> who = certs::VerifyCosignature(
        *roster, a.envelope.payload_type(), a.envelope.payload(), a.origin, c.signature);
    if (!who.ok()) {
      out[i] = who.status();
      continue;
    }
    Cosignature v = c;
    v.node = who->node;  // from the roster, never from the sender
    valid.push_back(std::move(v));
    where.push_back(i);
  }
  if (valid.empty()) return out;
  absl::StatusOr<std::vector<bool>> added = ledger_->StoreCosignaturesSync(std::move(valid));
  for (size_t k = 0; k < where.size(); ++k) {
    out[where[k]] = added.ok() ? absl::StatusOr<bool>((*added)[k])
                               : absl::StatusOr<bool>(added.status());
  }
  return out;
}

}  // namespace watchfloor::node
