// An index over many subscriptions' filters, so that each alert is tested
// only against candidate filters instead of every subscription.
//
// Each filter is filed under one positive, indexable condition (origin,
// category, domain zone, ASN, IP prefix, label); filters with none (only
// severity/TLP/time or only negations, or empty) go on a short "always"
// list. Match() looks up the alert's keys, then checks each candidate's whole
// filter exactly, so the result is the same as testing every Matcher.
// docs/FILTERS.md describes the structures; docs/PERFORMANCE.md the cost.
#ifndef WATCHFLOOR_NODE_FILTER_INDEX_H_
#define WATCHFLOOR_NODE_FILTER_INDEX_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "node/filter.h"

namespace watchfloor::node {

class FilterIndex {
 public:
  using SubscriptionId = uint64_t;

  FilterIndex();
  ~FilterIndex();

  // Registers a subscription; the index keeps `matcher` (non-null) alive
  // until Remove. `id` should be unique among registered ones; adding an id
  // again replaces its registration.
  // Not thread-safe: the caller serialises Add/Remove/Match — all of them,
  // because Match updates per-entry scratch counters (it is const only in
  // what it reports).
  void Add(SubscriptionId id, std::shared_ptr<const Matcher> matcher);
  // Unregisters; a no-op for unknown ids. Costs O(length of each posting
  // list the subscription's filters are on).
  void Remove(SubscriptionId id);
  // Appends to `out` the id of every registered subscription whose Matcher
  // matches `facts`, each once, in no particular order. Exactly the ids for
  // which Matcher::Matches(facts) is true (tests/filter_index_test.cc).
  void Match(const AlertFacts& facts, std::vector<SubscriptionId>* out) const;

  size_t subscription_count() const;
  size_t filter_count() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace watchfloor::node

#endif  // WATCHFLOOR_NODE_FILTER_INDEX_H_
