// The node's implementation of federation::FeedStore: frontier from the
// Ledger's heads, ranges from the AlertStore, ingest through the Ledger.
#ifndef WATCHFLOOR_NODE_LEDGER_FEED_STORE_H_
#define WATCHFLOOR_NODE_LEDGER_FEED_STORE_H_

#include "federation/feed_store.h"
#include "node/alert_store.h"
#include "node/ledger.h"

namespace watchfloor::node {

class LedgerFeedStore final : public federation::FeedStore {
 public:
  // Both must outlive this object.
  LedgerFeedStore(Ledger* ledger, AlertStore* store)
      : ledger_(ledger), store_(store) {}

  std::vector<federation::FrontierEntry> Frontier() override {
    std::vector<federation::FrontierEntry> out;
    for (FeedHead& h : ledger_->Heads()) {
      if (h.sequence == 0 && !h.forked) continue;
      out.push_back({std::move(h.origin), h.sequence, std::move(h.id), h.forked});
    }
    return out;
  }

  absl::StatusOr<std::vector<watchfloor::v1::Envelope>> ReadRange(
      const std::string& origin, uint64_t from, uint64_t to,
      size_t limit) override {
    std::vector<watchfloor::v1::Envelope> out;
    for (uint64_t seq = from; seq <= to && out.size() < limit; ++seq) {
      auto got = store_->GetBySequence(origin, seq);
      if (!got.ok()) return got.status();
      if (!got->has_value()) break;
      out.push_back(std::move((*got)->envelope));
    }
    return out;
  }

  void Ingest(watchfloor::v1::Envelope envelope,
              std::function<void(absl::Status)> done) override {
    ledger_->Ingest(std::move(envelope),
                    [done = std::move(done)](absl::StatusOr<IngestResult> r) {
                      done(r.status());
                    });
  }

 private:
  Ledger* const ledger_;
  AlertStore* const store_;
};

}  // namespace watchfloor::node

#endif  // WATCHFLOOR_NODE_LEDGER_FEED_STORE_H_
