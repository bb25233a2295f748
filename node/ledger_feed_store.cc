#include "node/ledger_feed_store.h"

#include <utility>

#include "certs/status_macros.h"

namespace watchfloor::node {

std::vector<federation::FrontierEntry> LedgerFeedStore::Frontier() {
  std::vector<federation::FrontierEntry> out;
  for (FeedHead& h : ledger_->Heads()) {
    if (h.sequence == 0 && !h.forked) continue;
    out.push_back({std::move(h.origin), h.sequence, std::move(h.id), h.forked});
  }
  return out;
}

absl::StatusOr<std::vector<watchfloor::v1::Envelope>> LedgerFeedStore::ReadRange(
    const std::string& origin, uint64_t from, uint64_t to, size_t limit) {
  absl::StatusOr<std::vector<StoredAlert>> rows =
      store_->ReadRange(origin, from, to, limit);
  if (!rows.ok()) return rows.status();
  std::vector<watchfloor::v1::Envelope> out;
  out.reserve(rows->size());
  for (StoredAlert& a : *rows) out.push_back(std::move(a.envelope));
  return out;
}

absl::StatusOr<std::optional<watchfloor::v1::Envelope>> LedgerFeedStore::Get(
    const std::string& id) {
  absl::StatusOr<std::optional<StoredAlert>> got = store_->Get(id);
  if (!got.ok()) return got.status();
  if (!got->has_value()) return std::optional<watchfloor::v1::Envelope>();
  return std::optional<watchfloor::v1::Envelope>(std::move((*got)->envelope));
}

bool LedgerFeedStore::Has(const std::string& id) {
  if (ledger_->InFlight(id)) return true;
  absl::StatusOr<std::optional<StoredAlert>> got = store_->Get(id);
  return got.ok() && got->has_value();
}

bool LedgerFeedStore::HoldsCopy(const watchfloor::v1::Envelope& envelope,
                                const std::string& id, const std::string& origin,
                                uint64_t sequence) {
  // A new alert is past its origin's head: no store read on that path.
  if (origin.empty() || sequence == 0 || sequence > ledger_->HeadSequence(origin)) return false;
  const int n = envelope.signatures_size();
  if (n == 0) return false;
  absl::StatusOr<std::optional<StoredAlert>> got = store_->Get(id);
  if (!got.ok() || !got->has_value() || (*got)->envelope.signatures_size() < n) return false;
  // The stored envelope is the origin's, then the co-signatures by keyid:
  // the copy must equal its first n signatures, with nothing unknown added
  // (serialized bytes compared, unknown fields included).
  watchfloor::v1::Envelope stored = std::move((*got)->envelope);
  stored.mutable_signatures()->DeleteSubrange(n, stored.signatures_size() - n);
  return stored.SerializeAsString() == envelope.SerializeAsString();
}

absl::Status LedgerFeedStore::Offer(watchfloor::v1::Envelope envelope,
                                    std::function<void(absl::Status)> stored) {
  return ledger_->Offer(std::move(envelope),
                        [stored = std::move(stored)](absl::StatusOr<IngestResult> r) {
                          stored(r.status());
                        });
}

absl::StatusOr<std::vector<federation::EvidencePair>> LedgerFeedStore::EvidenceFor(
    const std::string& origin) {
  absl::StatusOr<std::vector<Evidence>> all = store_->ListEvidence();
  if (!all.ok()) return all.status();
  std::vector<federation::EvidencePair> out;
  for (const Evidence& e : *all) {
    if (e.origin != origin || e.kind == "split-view") continue;
    federation::EvidencePair p;
    if (!p.first.ParseFromString(e.stored_envelope) ||
        !p.second.ParseFromString(e.conflict_envelope)) {
      continue;
    }
    out.push_back(std::move(p));
  }
  return out;
}

std::vector<absl::StatusOr<bool>> LedgerFeedStore::OfferCheckpoints(
    const std::vector<std::string>& notes) {
  std::vector<absl::StatusOr<bool>> out;
  out.reserve(notes.size());
  for (const std::string& note : notes) {
    out.push_back(transparency_ != nullptr ? transparency_->Receive(note)
                                           : absl::StatusOr<bool>(false));
  }
  return out;
}

std::vector<absl::StatusOr<bool>> LedgerFeedStore::OfferCosignatures(
    const std::vector<federation::CosignatureOffer>& offers) {
  if (corroboration_ == nullptr) {
    return std::vector<absl::StatusOr<bool>>(
        offers.size(), absl::FailedPreconditionError("this node merges no co-signatures"));
  }
  std::vector<Cosignature> in;
  in.reserve(offers.size());
  for (const federation::CosignatureOffer& o : offers) {
    Cosignature c;
    c.alert_id = o.alert_id;
    c.signature = o.signature;
    in.push_back(std::move(c));
  }
  return corroboration_->Merge(in);
}

absl::StatusOr<std::vector<federation::CosignatureOffer>> LedgerFeedStore::ReadCosignaturesAfter(
    uint64_t after, size_t limit) {
  WF_ASSIGN_OR_RETURN(std::vector<Cosignature> rows, store_->ReadCosignaturesAfter(after, limit));
  std::vector<federation::CosignatureOffer> out;
  out.reserve(rows.size());
  for (Cosignature& c : rows) {
    federation::CosignatureOffer o;
    o.alert_id = std::move(c.alert_id);
    o.signature = std::move(c.signature);
    o.position = c.position;
    out.push_back(std::move(o));
  }
  return out;
}

uint64_t LedgerFeedStore::CosignaturePosition() {
  absl::StatusOr<uint64_t> p = store_->LastCosignaturePosition();
  return p.ok() ? *p : 0;
}

absl::Status LedgerFeedStore::OfferSplitView(const std::string& first_note,
                                             const std::string& second_note) {
  if (transparency_ == nullptr) {
    return absl::UnimplementedError("this node keeps no transparency logs");
  }
  return transparency_->ReceiveSplitView(first_note, second_note);
}

}  // namespace watchfloor::node
