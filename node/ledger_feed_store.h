// The node's implementation of federation::FeedStore: frontier from the
// Ledger's heads, reads from the AlertStore, ingest through the Ledger.
#ifndef WATCHFLOOR_NODE_LEDGER_FEED_STORE_H_
#define WATCHFLOOR_NODE_LEDGER_FEED_STORE_H_

#include "federation/feed_store.h"
#include "node/alert_store.h"
#include "node/corroboration.h"
#include "node/ledger.h"
#include "node/transparency.h"

namespace watchfloor::node {

class LedgerFeedStore final : public federation::FeedStore {
 public:
  // Both must outlive this object.
  LedgerFeedStore(Ledger* ledger, AlertStore* store)
      : ledger_(ledger), store_(store) {}

  std::vector<federation::FrontierEntry> Frontier() override;
  absl::StatusOr<std::vector<watchfloor::v1::Envelope>> ReadRange(
      const std::string& origin, uint64_t from, uint64_t to,
      size_t limit) override;
  absl::StatusOr<std::optional<watchfloor::v1::Envelope>> Get(
      const std::string& id) override;
  bool Has(const std::string& id) override;
  bool HoldsCopy(const watchfloor::v1::Envelope& envelope, const std::string& id,
                 const std::string& origin, uint64_t sequence) override;
  absl::Status Offer(watchfloor::v1::Envelope envelope,
                     std::function<void(absl::Status)> stored) override;
  absl::StatusOr<std::vector<federation::EvidencePair>> EvidenceFor(
      const std::string& origin) override;
  std::vector<absl::StatusOr<bool>> OfferCheckpoints(
      const std::vector<std::string>& notes) override;
  absl::Status OfferSplitView(const std::string& first_note,
                              const std::string& second_note) override;
  std::vector<absl::StatusOr<bool>> OfferCosignatures(
      const std::vector<federation::CosignatureOffer>& offers) override;
  absl::StatusOr<std::vector<federation::CosignatureOffer>> ReadCosignaturesAfter(
      uint64_t after, size_t limit) override;
  uint64_t CosignaturePosition() override;

  // Where checkpoints go; must outlive this object. Set before gossip starts.
  void set_transparency(Transparency* t) { transparency_ = t; }
  // Where co-signatures from peers are verified and merged; must outlive
  // this object. Set before gossip starts. Without it every co-signature
  // is refused FAILED_PRECONDITION.
  void set_corroboration(Corroboration* c) { corroboration_ = c; }

 private:
  Ledger* const ledger_;
  AlertStore* const store_;
  Transparency* transparency_ = nullptr;
  Corroboration* corroboration_ = nullptr;
};

}  // namespace watchfloor::node

#endif  // WATCHFLOOR_NODE_LEDGER_FEED_STORE_H_
