#include "tests/sim/memory_feed_store.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "certs/dsse.h"
#include "certs/ids.h"
#include "watchfloor/v1/alert.pb.h"

namespace watchfloor::testing {

namespace v1 = ::watchfloor::v1;

MemoryFeedStore::MemoryFeedStore(Options options) : options_(std::move(options)) {}

MemoryFeedStore::~MemoryFeedStore() { DropPending(); }

void MemoryFeedStore::DropPending() {
  *alive_ = false;
  alive_ = std::make_shared<bool>(true);
  pending_.clear();
}

void MemoryFeedStore::Append(const std::string& id, const std::string& origin,
                             uint64_t sequence, v1::Envelope envelope) {
  feeds_[origin].push_back(std::move(envelope));
  by_id_.emplace(id, std::make_pair(origin, sequence));
  if (options_.on_commit) options_.on_commit(id, origin, sequence);
}

absl::Status MemoryFeedStore::Publish(const v1::Envelope& envelope) {
  v1::Alert alert;
  if (!alert.ParseFromString(envelope.payload())) {
    return absl::InvalidArgumentError("published payload is not a watchfloor.v1.Alert");
  }
  const uint64_t head = feeds_[alert.origin()].size();
  if (alert.sequence() != head + 1) {
    return absl::InvalidArgumentError(absl::StrCat("published sequence ", alert.sequence(),
                                                   " does not follow ", head, " of ",
                                                   alert.origin()));
  }
  Append(certs::AlertId(envelope.payload()), alert.origin(), alert.sequence(), envelope);
  return absl::OkStatus();
}

std::vector<federation::FrontierEntry> MemoryFeedStore::Frontier() {
  std::vector<federation::FrontierEntry> out;
  for (const auto& [origin, feed] : feeds_) {
    if (feed.empty()) continue;
    federation::FrontierEntry e;
    e.origin = origin;
    e.sequence = feed.size();
    e.id = certs::AlertId(feed.back().payload());
    out.push_back(std::move(e));
  }
  return out;
}

absl::StatusOr<std::vector<v1::Envelope>> MemoryFeedStore::ReadRange(const std::string& origin,
                                                                     uint64_t from, uint64_t to,
                                                                     size_t limit) {
  std::vector<v1::Envelope> out;
  auto it = feeds_.find(origin);
  if (it == feeds_.end() || from == 0) return out;
  for (uint64_t s = from; s <= to && s <= it->second.size() && out.size() < limit; ++s) {
    out.push_back(it->second[s - 1]);
  }
  return out;
}

absl::StatusOr<std::optional<v1::Envelope>> MemoryFeedStore::Get(const std::string& id) {
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return std::optional<v1::Envelope>();
  return std::optional<v1::Envelope>(feeds_[it->second.first][it->second.second - 1]);
}

bool MemoryFeedStore::Has(const std::string& id) {
  return by_id_.count(id) != 0 || pending_.count(id) != 0;
}

absl::Status MemoryFeedStore::Offer(v1::Envelope envelope,
                                    std::function<void(absl::Status)> stored) {
  v1::Alert alert;
  if (!alert.ParseFromString(envelope.payload())) {
    return absl::InvalidArgumentError("payload is not a watchfloor.v1.Alert");
  }
  const std::string id = certs::AlertId(envelope.payload());
  if (Has(id)) return absl::AlreadyExistsError(absl::StrCat("alert ", id, " is already stored"));
  auto key = options_.keys->find(alert.origin());
  if (key == options_.keys->end()) {
    return absl::PermissionDeniedError(
        absl::StrCat("origin ", alert.origin(), " is not a node of the roster"));
  }
  if (options_.verify) {
    absl::Status verified = certs::VerifyEnvelope(envelope, key->second);
    if (!verified.ok()) return verified;
  }
  auto feed = feeds_.find(alert.origin());
  if (alert.sequence() == 0 ||
      (feed != feeds_.end() && alert.sequence() <= feed->second.size())) {
    return absl::AlreadyExistsError(absl::StrCat("sequence ", alert.sequence(), " of ",
                                                 alert.origin(), " is already held"));
  }
  if (options_.max_pending != 0 && pending_.size() >= options_.max_pending) {
    return absl::ResourceExhaustedError(
        absl::StrCat(pending_.size(), " alerts are waiting to be stored; offer again later"));
  }
  if (options_.on_offer) options_.on_offer(id);
  Pending& p = pending_[id];
  p.origin = alert.origin();
  p.sequence = alert.sequence();
  p.envelope = std::move(envelope);
  p.stored = std::move(stored);
  options_.defer([this, id, alive = std::weak_ptr<bool>(alive_)] {
    std::shared_ptr<bool> live = alive.lock();
    if (live == nullptr || !*live) return;  // dropped, or the store is gone
    Commit(id);
  });
  return absl::OkStatus();
}

void MemoryFeedStore::Commit(const std::string& id) {
  auto it = pending_.find(id);
  if (it == pending_.end()) return;
  Pending p = std::move(it->second);
  pending_.erase(it);
  const uint64_t head = feeds_[p.origin].size();
  absl::Status verdict;
  if (p.sequence <= head) {
    verdict = absl::AlreadyExistsError(
        absl::StrCat("sequence ", p.sequence, " of ", p.origin, " is already held"));
  } else if (p.sequence != head + 1) {
    verdict = absl::FailedPreconditionError(absl::StrCat(
        "sequence ", p.sequence, " of ", p.origin, " does not follow the head ", head));
  } else {
    Append(id, p.origin, p.sequence, std::move(p.envelope));
  }
  if (p.stored) p.stored(verdict);
}

absl::StatusOr<std::vector<federation::EvidencePair>> MemoryFeedStore::EvidenceFor(
    const std::string& /*origin*/) {
  return std::vector<federation::EvidencePair>();
}

std::vector<absl::StatusOr<bool>> MemoryFeedStore::OfferCheckpoints(
    const std::vector<std::string>& notes) {
  return std::vector<absl::StatusOr<bool>>(
      notes.size(), absl::UnimplementedError("the simulator's store keeps no checkpoints"));
}

absl::Status MemoryFeedStore::OfferSplitView(const std::string& /*first_note*/,
                                             const std::string& /*second_note*/) {
  return absl::UnimplementedError("the simulator's store keeps no evidence");
}

std::vector<absl::StatusOr<bool>> MemoryFeedStore::OfferCosignatures(
    const std::vector<federation::CosignatureOffer>& offers) {
  return std::vector<absl::StatusOr<bool>>(
      offers.size(), absl::UnimplementedError("the simulator's store keeps no co-signatures"));
}

absl::StatusOr<std::vector<federation::CosignatureOffer>> MemoryFeedStore::ReadCosignaturesAfter(
    uint64_t /*after*/, size_t /*limit*/) {
  return std::vector<federation::CosignatureOffer>();
}

}  // namespace watchfloor::testing
