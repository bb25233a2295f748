#include "federation/link_queue.h"

#include <algorithm>
#include <utility>

namespace watchfloor::federation {

size_t LinkQueue::CostOf(const Push& push) {
  return push.envelope.ByteSizeLong() + push.id.size() + push.origin.size() +
         kItemOverhead;
}

size_t LinkQueue::CostOf(const watchfloor::v1::AlertRef& ref) {
  return ref.ByteSizeLong() + kItemOverhead;
}

size_t LinkQueue::CostOf(const EvidencePair& evidence) {
  return evidence.first.ByteSizeLong() + evidence.second.ByteSizeLong() +
         evidence.first_note.size() + evidence.second_note.size() + kItemOverhead;
}

bool LinkQueue::Charge(size_t bytes) {
  if (bytes > max_bytes_ - bytes_) {
    ++dropped_;
    return false;
  }
  bytes_ += bytes;
  return true;
}

bool LinkQueue::AddPush(Push push, bool front) {
  if (alert_ids_.count(push.id) != 0) return false;
  if (!Charge(CostOf(push))) return false;
  alert_ids_.insert(push.id);
  if (front) {
    pushes_.push_front(std::move(push));
  } else {
    pushes_.push_back(std::move(push));
  }
  return true;
}

bool LinkQueue::AddIHave(watchfloor::v1::AlertRef ref) {
  if (alert_ids_.count(ref.id()) != 0) return false;
  if (!Charge(CostOf(ref))) return false;
  alert_ids_.insert(ref.id());
  ihaves_.push_back(std::move(ref));
  return true;
}

bool LinkQueue::AddFetch(const std::string& id) {
  if (fetches_.count(id) != 0) return false;
  if (!Charge(id.size() + kItemOverhead)) return false;
  fetches_.insert(id);
  return true;
}

bool LinkQueue::AddEvidence(const EvidencePair& evidence) {
  auto same = [&evidence](const EvidencePair& q) {
    return q.first_note == evidence.first_note && q.second_note == evidence.second_note &&
           q.first.payload() == evidence.first.payload() &&
           q.second.payload() == evidence.second.payload();
  };
  if (std::any_of(evidence_.begin(), evidence_.end(), same)) return false;
  if (evidence_.size() >= kMaxEvidence) {
    ++dropped_;
    return false;
  }
  if (!Charge(CostOf(evidence))) return false;
  evidence_.push_back(evidence);
  return true;
}

bool LinkQueue::AddCheckpoint(const std::string& log, const std::string& note,
                              bool replace) {
  auto it = checkpoints_.find(log);
  if (it != checkpoints_.end() && (!replace || it->second == note)) return false;
  const size_t old_cost =
      it == checkpoints_.end() ? 0 : log.size() + it->second.size() + kItemOverhead;
  // The old note's bytes come back whether or not the new one fits: past the
  // budget, the log's newest note is dropped rather than an older one sent.
  bytes_ -= old_cost;
  if (it != checkpoints_.end()) checkpoints_.erase(it);
  if (!Charge(log.size() + note.size() + kItemOverhead)) return false;
  checkpoints_[log] = note;
  return true;
}

size_t LinkQueue::CostOf(const CosignatureOffer& c) {
  return c.alert_id.size() + c.signature.ByteSizeLong() + kItemOverhead;
}

bool LinkQueue::AddCosignature(const CosignatureOffer& c) {
  std::pair<std::string, std::string> key{c.alert_id, c.signature.keyid()};
  if (cosignatures_.count(key) != 0) return false;
  if (!Charge(CostOf(c))) return false;
  cosignatures_.emplace(std::move(key), c);
  return true;
}

std::vector<CosignatureOffer> LinkQueue::TakeCosignatures() {
  std::vector<CosignatureOffer> out;
  out.reserve(cosignatures_.size());
  for (auto& [key, c] : cosignatures_) {
    bytes_ -= CostOf(c);
    out.push_back(std::move(c));
  }
  cosignatures_.clear();
  return out;
}

bool LinkQueue::Hold(size_t bytes) { return Charge(bytes); }

void LinkQueue::Release(size_t bytes) { bytes_ -= std::min(bytes, bytes_); }

void LinkQueue::PushesToIHaves(const std::string& origin) {
  std::deque<Push> kept;
  for (Push& p : pushes_) {
    if (!origin.empty() && p.origin != origin) {
      kept.push_back(std::move(p));
      continue;
    }
    bytes_ -= CostOf(p);
    watchfloor::v1::AlertRef ref;
    ref.set_id(std::move(p.id));
    ref.set_origin(std::move(p.origin));
    ref.set_sequence(p.sequence);
    // Smaller than the push it replaces, so it fits where the push did.
    bytes_ += CostOf(ref);
    ihaves_.push_back(std::move(ref));
  }
  pushes_.swap(kept);
}

std::vector<LinkQueue::Push> LinkQueue::TakePushes(size_t max, size_t max_bytes) {
  std::vector<Push> out;
  size_t wire_bytes = 0;
  while (!pushes_.empty() && out.size() < max) {
    Push& p = pushes_.front();
    wire_bytes += p.envelope.ByteSizeLong();
    if (wire_bytes > max_bytes && !out.empty()) break;
    bytes_ -= CostOf(p);
    alert_ids_.erase(p.id);
    out.push_back(std::move(p));
    pushes_.pop_front();
  }
  return out;
}

std::vector<watchfloor::v1::AlertRef> LinkQueue::TakeIHaves() {
  std::vector<watchfloor::v1::AlertRef> out;
  out.swap(ihaves_);
  for (const auto& ref : out) {
    bytes_ -= CostOf(ref);
    alert_ids_.erase(ref.id());
  }
  return out;
}

std::vector<std::string> LinkQueue::TakeFetches() {
  std::vector<std::string> out(fetches_.begin(), fetches_.end());
  for (const std::string& id : out) bytes_ -= id.size() + kItemOverhead;
  fetches_.clear();
  return out;
}

std::vector<EvidencePair> LinkQueue::TakeEvidence() {
  std::vector<EvidencePair> out;
  out.swap(evidence_);
  for (const EvidencePair& e : out) bytes_ -= CostOf(e);
  return out;
}

std::map<std::string, std::string> LinkQueue::TakeCheckpoints() {
  std::map<std::string, std::string> out;
  out.swap(checkpoints_);
  for (const auto& [log, note] : out) bytes_ -= log.size() + note.size() + kItemOverhead;
  return out;
}

}  // namespace watchfloor::federation
