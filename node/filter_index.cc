#include "node/filter_index.h"

#include <algorithm>
#include <array>
#include <map>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"

namespace watchfloor::node {
namespace {

using Kind = CompiledCondition::Kind;
using Addr = std::array<uint8_t, 16>;

// `addr` with every bit from `length` on cleared.
Addr Masked(const Addr& addr, int length) {
  Addr out = addr;
  for (int byte = 0; byte < 16; ++byte) {
    int keep = std::clamp(length - byte * 8, 0, 8);
    out[byte] &= static_cast<uint8_t>(0xff00 >> keep);
  }
  return out;
}

// `addr` with every bit from `length` on set: the last address of the prefix.
Addr LastAddress(const Addr& addr, int length, int max_length) {
  Addr out = addr;
  for (int bit = length; bit < max_length; ++bit) {
    out[bit / 8] |= static_cast<uint8_t>(0x80 >> (bit % 8));
  }
  return out;
}

int CountLabels(absl::string_view name) {
  return 1 + static_cast<int>(std::count(name.begin(), name.end(), '.'));
}

// Expected number of alerts a key lets through, in rough relative units: a
// TLD or a category prefix is hit by many alerts, an exact origin, ASN or
// zone under a TLD by few. Only the order matters.
constexpr int kRare = 1;
constexpr int kCommon = 4;
constexpr int kVeryCommon = 16;

int PrefixCost(const IpPrefix& p) {
  int short_len = p.v6 ? 16 : 8;
  int medium_len = p.v6 ? 32 : 16;
  if (p.length < short_len) return kVeryCommon;
  if (p.length < medium_len) return kCommon;
  return kRare;
}

// The cost of filing a filter under `c`: the sum over its keys. -1 if `c`
// cannot be indexed (negated, or severity/TLP/time).
int IndexCost(const CompiledCondition& c) {
  if (c.negate) return -1;
  int cost = 0;
  switch (c.kind) {
    case Kind::kOrigin:
      cost = kRare * static_cast<int>(c.origins.size()) +
             kCommon * static_cast<int>(c.members.size());
      break;
    case Kind::kCategory:
      cost = kCommon * static_cast<int>(c.categories.size()) +
             kVeryCommon * static_cast<int>(c.category_prefixes.size());
      break;
    case Kind::kDomain:
      for (const std::string& z : c.zones) {
        cost += CountLabels(z) >= 2 ? kRare : kVeryCommon;
      }
      break;
    case Kind::kIpPrefix:
      for (const IpPrefix& p : c.prefixes) cost += PrefixCost(p);
      break;
    case Kind::kAsn:
      cost = kRare * static_cast<int>(c.asns.size());
      break;
    case Kind::kLabel:
      for (const auto& m : c.labels) cost += m.has_value ? kRare : kVeryCommon;
      break;
    case Kind::kMinSeverity:
    case Kind::kMaxTlp:
    case Kind::kIssuedAt:
    // Co-signatures arrive after the alert: a filter on them is checked
    // against the facts as they are, never filed under a key.
    case Kind::kCorroborated:
    case Kind::kCosignedBy:
      return -1;
  }
  return cost;
}

// The condition a filter is filed under: the cheapest indexable one, the
// first on ties; -1 if none (the filter goes on the "always" list).
// Deterministic, so that Remove finds the lists Add used.
int ChooseCondition(const CompiledFilter& filter) {
  int best = -1;
  int best_cost = 0;
  const auto& conditions = filter.conditions();
  for (int i = 0; i < static_cast<int>(conditions.size()); ++i) {
    int cost = IndexCost(conditions[i]);
    if (cost < 0) continue;
    if (best < 0 || cost < best_cost) {
      best = i;
      best_cost = cost;
    }
  }
  return best;
}

}  // namespace

struct FilterIndex::Impl {
  struct Sub;
  // One filed filter of one subscription.
  struct Entry {
    const CompiledFilter* filter = nullptr;  // nullptr: the Matcher is empty
    Sub* sub = nullptr;
    uint64_t checked = 0;  // generation of the last exact check
    int condition = -1;  // index of the condition it is filed under
    // The filter's positive severity floor and TLP ceiling, copied here so
    // that most non-matching candidates are refused without touching the
    // filter's own memory.
    int8_t min_severity = 0;
    int8_t max_tlp = 127;
  };
  struct Sub {
    SubscriptionId id = 0;
    std::shared_ptr<const Matcher> matcher;  // keeps the filters alive
    std::vector<std::unique_ptr<Entry>> entries;
    uint64_t matched = 0;  // generation in which it was last reported
  };
  using List = std::vector<Entry*>;
  template <typename K>
  using Map = absl::flat_hash_map<K, List>;

  // Per address family: filter prefixes by length (for "the filter prefix
  // contains the alert's": one hash lookup per length), and ordered by
  // (address, length) (for "the alert's prefix contains the filter's": one
  // range scan).
  struct Family {
    int max_length = 32;
    std::array<Map<Addr>, 129> by_length;
    std::map<std::pair<Addr, int>, List> ordered;
  };

  absl::flat_hash_map<SubscriptionId, std::unique_ptr<Sub>> subs;
  size_t filter_count = 0;
  List always;
  Map<std::string> origins, members;
  Map<std::string> categories, category_prefixes;
  Map<std::string> zones;
  Map<uint32_t> asns;
  Map<std::string> label_keys;  // key, any value
  absl::flat_hash_map<std::string, Map<std::string>> label_values;  // key, value
  Family v4, v6;
  // Bumped by every Match; `checked` and `matched` compare against it, so no
  // per-call set needs clearing. Match is serialised by the caller.
  mutable uint64_t generation = 0;

  Impl() { v6.max_length = 128; }

  // Puts `e` on the posting list of each key of its chosen condition (or on
  // `always`); Unfile takes it off again and drops emptied lists. Removal
  // scans each list: O(list length), which Add/Remove can afford.
  void File(Entry* e);
  void Unfile(Entry* e);

  void Check(Entry* e, const AlertFacts& facts, uint64_t gen,
             std::vector<SubscriptionId>* out) const {
    if (e->checked == gen) return;
    e->checked = gen;
    if (facts.severity < e->min_severity || facts.tlp > e->max_tlp) return;
    Sub* sub = e->sub;
    if (sub->matched == gen) return;
    // A key lookup found `e`, so its filed condition holds: check the rest.
    if (e->filter == nullptr || e->filter->MatchesExcept(facts, e->condition)) {
      sub->matched = gen;
      out->push_back(sub->id);
    }
  }
  template <typename M, typename K>
  void CheckKey(const M& map, const K& key, const AlertFacts& facts,
                uint64_t gen, std::vector<SubscriptionId>* out) const {
    auto it = map.find(key);
    if (it == map.end()) return;
    for (Entry* e : it->second) Check(e, facts, gen, out);
  }
  void MatchPrefix(const Family& fam, const IpPrefix& a,
                   const AlertFacts& facts, uint64_t gen,
                   std::vector<SubscriptionId>* out) const;
};

namespace {

template <typename E>
void Erase(std::vector<E*>* list, E* e) {
  auto it = std::find(list->begin(), list->end(), e);
  if (it == list->end()) return;
  *it = list->back();
  list->pop_back();
}

template <typename M, typename K, typename E>
void RemoveFrom(M* map, const K& key, E* e) {
  auto it = map->find(key);
  if (it == map->end()) return;
  Erase(&it->second, e);
  if (it->second.empty()) map->erase(it);
}

}  // namespace

void FilterIndex::Impl::File(Entry* e) {
  if (e->condition < 0) {
    always.push_back(e);
    return;
  }
  const CompiledCondition& c = e->filter->conditions()[e->condition];
  switch (c.kind) {
    case Kind::kOrigin:
      for (const auto& o : c.origins) origins[o].push_back(e);
      for (const auto& m : c.members) members[m].push_back(e);
      break;
    case Kind::kCategory:
      for (const auto& k : c.categories) categories[k].push_back(e);
      for (const auto& p : c.category_prefixes) category_prefixes[p].push_back(e);
      break;
    case Kind::kDomain:
      for (const auto& z : c.zones) zones[z].push_back(e);
      break;
    case Kind::kIpPrefix:
      for (const IpPrefix& p : c.prefixes) {
        Family& fam = p.v6 ? v6 : v4;
        fam.by_length[p.length][p.addr].push_back(e);
        fam.ordered[{p.addr, p.length}].push_back(e);
      }
      break;
    case Kind::kAsn:
      for (uint32_t asn : c.asns) asns[asn].push_back(e);
      break;
    case Kind::kLabel:
      for (const auto& m : c.labels) {
        if (m.has_value) {
          label_values[m.key][m.value].push_back(e);
        } else {
          label_keys[m.key].push_back(e);
        }
      }
      break;
    case Kind::kMinSeverity:
    case Kind::kMaxTlp:
    case Kind::kIssuedAt:
    case Kind::kCorroborated:
    case Kind::kCosignedBy:
      break;  // never chosen
  }
}

void FilterIndex::Impl::Unfile(Entry* e) {
  if (e->condition < 0) {
    Erase(&always, e);
    return;
  }
  const CompiledCondition& c = e->filter->conditions()[e->condition];
  switch (c.kind) {
    case Kind::kOrigin:
      for (const auto& o : c.origins) RemoveFrom(&origins, o, e);
      for (const auto& m : c.members) RemoveFrom(&members, m, e);
      break;
    case Kind::kCategory:
      for (const auto& k : c.categories) RemoveFrom(&categories, k, e);
      for (const auto& p : c.category_prefixes) {
        RemoveFrom(&category_prefixes, p, e);
      }
      break;
    case Kind::kDomain:
      for (const auto& z : c.zones) RemoveFrom(&zones, z, e);
      break;
    case Kind::kIpPrefix:
      for (const IpPrefix& p : c.prefixes) {
        Family& fam = p.v6 ? v6 : v4;
        RemoveFrom(&fam.by_length[p.length], p.addr, e);
        RemoveFrom(&fam.ordered, std::make_pair(p.addr, p.length), e);
      }
      break;
    case Kind::kAsn:
      for (uint32_t asn : c.asns) RemoveFrom(&asns, asn, e);
      break;
    case Kind::kLabel:
      for (const auto& m : c.labels) {
        if (!m.has_value) {
          RemoveFrom(&label_keys, m.key, e);
          continue;
        }
        auto it = label_values.find(m.key);
        if (it == label_values.end()) continue;
        RemoveFrom(&it->second, m.value, e);
        if (it->second.empty()) label_values.erase(it);
      }
      break;
    case Kind::kMinSeverity:
    case Kind::kMaxTlp:
    case Kind::kIssuedAt:
    case Kind::kCorroborated:
    case Kind::kCosignedBy:
      break;
  }
}

void FilterIndex::Impl::MatchPrefix(const Family& fam, const IpPrefix& a,
                                    const AlertFacts& facts, uint64_t gen,
                                    std::vector<SubscriptionId>* out) const {
  // Filter prefixes that contain the alert's (or equal it): one lookup per
  // length up to the alert's.
  for (int len = 0; len <= a.length; ++len) {
    const Map<Addr>& m = fam.by_length[len];
    if (m.empty()) continue;
    CheckKey(m, Masked(a.addr, len), facts, gen, out);
  }
  // Filter prefixes strictly inside the alert's: their (address, length)
  // keys lie between (first address, length + 1) and the last address.
  if (a.length >= fam.max_length) return;
  Addr last = LastAddress(a.addr, a.length, fam.max_length);
  for (auto it = fam.ordered.lower_bound({a.addr, a.length + 1});
       it != fam.ordered.end() && it->first.first <= last; ++it) {
    for (Entry* e : it->second) Check(e, facts, gen, out);
  }
}

FilterIndex::FilterIndex() : impl_(std::make_unique<Impl>()) {}
FilterIndex::~FilterIndex() = default;

void FilterIndex::Add(SubscriptionId id, std::shared_ptr<const Matcher> matcher) {
  Remove(id);  // a repeated id replaces the old registration
  auto sub = std::make_unique<Impl::Sub>();
  sub->id = id;
  sub->matcher = std::move(matcher);
  if (sub->matcher->filters().empty()) {
    auto e = std::make_unique<Impl::Entry>();
    e->sub = sub.get();
    sub->entries.push_back(std::move(e));
  }
  for (const auto& f : sub->matcher->filters()) {
    auto e = std::make_unique<Impl::Entry>();
    e->filter = f.get();
    e->sub = sub.get();
    e->condition = ChooseCondition(*f);
    for (const CompiledCondition& c : f->conditions()) {
      if (c.negate) continue;
      if (c.kind == Kind::kMinSeverity) {
        e->min_severity = std::max<int8_t>(e->min_severity, c.level);
      } else if (c.kind == Kind::kMaxTlp) {
        e->max_tlp = std::min<int8_t>(e->max_tlp, c.level);
      }
    }
    sub->entries.push_back(std::move(e));
    ++impl_->filter_count;
  }
  for (const auto& e : sub->entries) impl_->File(e.get());
  impl_->subs.emplace(id, std::move(sub));
}

void FilterIndex::Remove(SubscriptionId id) {
  auto it = impl_->subs.find(id);
  if (it == impl_->subs.end()) return;
  for (const auto& e : it->second->entries) {
    impl_->Unfile(e.get());
    if (e->filter != nullptr) --impl_->filter_count;
  }
  impl_->subs.erase(it);
}

void FilterIndex::Match(const AlertFacts& facts,
                        std::vector<SubscriptionId>* out) const {
  const Impl& x = *impl_;
  uint64_t gen = ++x.generation;
  for (Impl::Entry* e : x.always) x.Check(e, facts, gen, out);

  if (!x.origins.empty()) x.CheckKey(x.origins, facts.origin, facts, gen, out);
  if (!x.members.empty()) x.CheckKey(x.members, facts.member, facts, gen, out);

  if (!x.categories.empty()) {
    x.CheckKey(x.categories, facts.category, facts, gen, out);
  }
  if (!x.category_prefixes.empty()) {
    // "dns.x.y" is under "dns", "dns.x" and "dns.x.y".
    absl::string_view cat = facts.category;
    for (size_t dot = cat.find('.');; dot = cat.find('.', dot + 1)) {
      x.CheckKey(x.category_prefixes, cat.substr(0, dot), facts, gen, out);
      if (dot == absl::string_view::npos) break;
    }
  }

  if (!x.zones.empty()) {
    // "a.nic.cz" is under "a.nic.cz", "nic.cz" and "cz".
    for (const std::string& d : facts.domains) {
      absl::string_view name = d;
      for (size_t start = 0;;) {
        x.CheckKey(x.zones, name.substr(start), facts, gen, out);
        size_t dot = name.find('.', start);
        if (dot == absl::string_view::npos) break;
        start = dot + 1;
      }
    }
  }

  if (!x.asns.empty()) {
    for (uint32_t asn : facts.asns) x.CheckKey(x.asns, asn, facts, gen, out);
  }

  if (!x.label_keys.empty() || !x.label_values.empty()) {
    for (const auto& [key, value] : facts.labels) {
      x.CheckKey(x.label_keys, key, facts, gen, out);
      auto it = x.label_values.find(key);
      if (it != x.label_values.end()) {
        x.CheckKey(it->second, value, facts, gen, out);
      }
    }
  }

  for (const IpPrefix& p : facts.prefixes) {
    x.MatchPrefix(p.v6 ? x.v6 : x.v4, p, facts, gen, out);
  }
}

size_t FilterIndex::subscription_count() const { return impl_->subs.size(); }
size_t FilterIndex::filter_count() const { return impl_->filter_count; }

}  // namespace watchfloor::node
