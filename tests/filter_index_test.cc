// FilterIndex (node/filter_index.h) must report exactly the subscriptions
// whose Matcher matches, each once. Checked on hand-picked cases and
// differentially against brute force over thousands of random filters.
#include "node/filter_index.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <iostream>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "google/protobuf/text_format.h"
#include "gtest/gtest.h"
#include "node/filter.h"

namespace watchfloor::node {
namespace {

using google::protobuf::RepeatedPtrField;
using watchfloor::v1::Alert;
using watchfloor::v1::Filter;
using Ids = std::vector<FilterIndex::SubscriptionId>;

std::shared_ptr<const Matcher> Compile(const std::vector<std::string>& texts) {
  RepeatedPtrField<Filter> filters;
  for (const std::string& t : texts) {
    EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(t, filters.Add())) << t;
  }
  auto m = Matcher::Compile(filters);
  EXPECT_TRUE(m.ok()) << m.status();
  return *m;
}

Ids MatchSorted(const FilterIndex& index, const AlertFacts& facts) {
  Ids out;
  index.Match(facts, &out);
  std::sort(out.begin(), out.end());
  return out;
}

AlertFacts Facts(std::vector<std::string> domains, std::vector<std::string> prefixes = {},
                 std::vector<uint32_t> asns = {}) {
  Alert a;
  a.set_origin("nic.cz/prg1");
  a.set_category("dns.hijack");
  a.set_severity(v1::SEVERITY_HIGH);
  a.set_tlp(v1::TLP_GREEN);
  for (auto& d : domains) a.add_domains(d);
  for (auto& p : prefixes) a.add_ip_prefixes(p);
  for (uint32_t asn : asns) a.add_asns(asn);
  return AlertFacts::From(a);
}

TEST(FilterIndexTest, SubscriptionMatchedByTwoFiltersIsReportedOnce) {
  FilterIndex index;
  index.Add(1, Compile({"conditions { domain { zones: 'cz' } }",
                        "conditions { asn { asns: 64500 } }"}));
  // One filter filed under two keys that the same alert hits.
  index.Add(2, Compile({"conditions { domain { zones: ['cz', 'nic.cz'] } }"}));
  EXPECT_EQ(MatchSorted(index, Facts({"www.nic.cz", "example.cz"}, {}, {64500})),
            (Ids{1, 2}));
  EXPECT_EQ(MatchSorted(index, Facts({"example.org"}, {}, {64500})), (Ids{1}));
  EXPECT_EQ(MatchSorted(index, Facts({"example.org"})), (Ids{}));
  EXPECT_EQ(index.subscription_count(), 2u);
  EXPECT_EQ(index.filter_count(), 3u);
}

TEST(FilterIndexTest, MatchAppendsToOut) {
  FilterIndex index;
  index.Add(7, Compile({}));
  Ids out = {42};
  index.Match(Facts({}), &out);
  EXPECT_EQ(out, (Ids{42, 7}));
}

TEST(FilterIndexTest, UnindexableFiltersAreStillMatched) {
  FilterIndex index;
  index.Add(1, Compile({}));                                              // no filters
  index.Add(2, Compile({""}));                                            // empty filter
  index.Add(3, Compile({"conditions { min_severity: SEVERITY_CRITICAL }"}));
  index.Add(4, Compile({"conditions { negate: true domain { zones: 'cz' } }"}));
  index.Add(5, Compile({"conditions { negate: true domain { zones: 'cz' } } "
                        "conditions { min_severity: SEVERITY_HIGH }"}));
  EXPECT_EQ(MatchSorted(index, Facts({"nic.cz"})), (Ids{1, 2}));
  EXPECT_EQ(MatchSorted(index, Facts({})), (Ids{1, 2, 4, 5}));
  EXPECT_EQ(index.filter_count(), 4u);  // subscription 1 has none
}

TEST(FilterIndexTest, PrefixesOverlapEitherWayAndNeverAcrossFamilies) {
  FilterIndex index;
  index.Add(1, Compile({"conditions { ip_prefix { prefixes: '192.0.2.0/24' } }"}));
  index.Add(2, Compile({"conditions { ip_prefix { prefixes: '192.0.2.128/25' } }"}));
  index.Add(3, Compile({"conditions { ip_prefix { prefixes: '0.0.0.0/0' } }"}));
  index.Add(4, Compile({"conditions { ip_prefix { prefixes: '2001:db8::/32' } }"}));
  index.Add(5, Compile({"conditions { ip_prefix { prefixes: '::/0' } }"}));
  index.Add(6, Compile({"conditions { ip_prefix { prefixes: '192.0.3.0/24' } }"}));
  index.Add(7, Compile({"conditions { ip_prefix { prefixes: '192.0.2.255/32' } }"}));
  EXPECT_EQ(MatchSorted(index, Facts({}, {"192.0.2.0/24"})), (Ids{1, 2, 3, 7}));
  EXPECT_EQ(MatchSorted(index, Facts({}, {"192.0.2.0/25"})), (Ids{1, 3}));
  EXPECT_EQ(MatchSorted(index, Facts({}, {"192.0.2.255/32"})), (Ids{1, 2, 3, 7}));
  EXPECT_EQ(MatchSorted(index, Facts({}, {"192.0.0.0/22"})), (Ids{1, 2, 3, 6, 7}));
  EXPECT_EQ(MatchSorted(index, Facts({}, {"0.0.0.0/0"})), (Ids{1, 2, 3, 6, 7}));
  EXPECT_EQ(MatchSorted(index, Facts({}, {"::/0"})), (Ids{4, 5}));
  EXPECT_EQ(MatchSorted(index, Facts({}, {"2001:db8:ffff::/48"})), (Ids{4, 5}));
  EXPECT_EQ(MatchSorted(index, Facts({}, {"2001:db9::/32"})), (Ids{5}));
  EXPECT_EQ(MatchSorted(index, Facts({}, {"193.0.0.0/8"})), (Ids{3}));
}

TEST(FilterIndexTest, ZonesAreLookedUpOnLabelBoundaries) {
  FilterIndex index;
  index.Add(1, Compile({"conditions { domain { zones: 'cz' } }"}));
  index.Add(2, Compile({"conditions { domain { zones: 'nic.cz' } }"}));
  index.Add(3, Compile({"conditions { domain { zones: 'HÁČEK.CZ.' } }"}));
  EXPECT_EQ(MatchSorted(index, Facts({"www.nic.cz"})), (Ids{1, 2}));
  EXPECT_EQ(MatchSorted(index, Facts({"xnic.cz"})), (Ids{1}));
  EXPECT_EQ(MatchSorted(index, Facts({"xcz"})), (Ids{}));
  EXPECT_EQ(MatchSorted(index, Facts({"mail.xn--hek-ela4t.cz"})), (Ids{1, 3}));
}

TEST(FilterIndexTest, CategoryPrefixesStopAtDots) {
  FilterIndex index;
  index.Add(1, Compile({"conditions { category { patterns: 'dns.*' } }"}));
  index.Add(2, Compile({"conditions { category { patterns: 'dns.hijack' } }"}));
  index.Add(3, Compile({"conditions { category { patterns: 'dns.hijack.*' } }"}));
  auto facts = [](const std::string& category) {
    AlertFacts f = Facts({});
    f.category = category;
    return f;
  };
  EXPECT_EQ(MatchSorted(index, facts("dns")), (Ids{1}));
  EXPECT_EQ(MatchSorted(index, facts("dns.hijack")), (Ids{1, 2, 3}));
  EXPECT_EQ(MatchSorted(index, facts("dns.hijack.ns")), (Ids{1, 3}));
  EXPECT_EQ(MatchSorted(index, facts("dnssec")), (Ids{}));
  EXPECT_EQ(MatchSorted(index, facts("dnssec.x")), (Ids{}));
}

TEST(FilterIndexTest, RemoveAndReAdd) {
  FilterIndex index;
  index.Add(1, Compile({"conditions { domain { zones: 'cz' } }"}));
  index.Add(2, Compile({"conditions { domain { zones: 'cz' } }"}));
  index.Remove(99);  // unknown: no-op
  EXPECT_EQ(MatchSorted(index, Facts({"nic.cz"})), (Ids{1, 2}));
  index.Remove(1);
  EXPECT_EQ(MatchSorted(index, Facts({"nic.cz"})), (Ids{2}));
  index.Remove(1);
  EXPECT_EQ(index.subscription_count(), 1u);
  // Adding an id again replaces its filters.
  index.Add(2, Compile({"conditions { domain { zones: 'sk' } }"}));
  EXPECT_EQ(MatchSorted(index, Facts({"nic.cz"})), (Ids{}));
  EXPECT_EQ(MatchSorted(index, Facts({"nic.sk"})), (Ids{2}));
  EXPECT_EQ(index.subscription_count(), 1u);
  EXPECT_EQ(index.filter_count(), 1u);
  index.Remove(2);
  EXPECT_EQ(index.subscription_count(), 0u);
  EXPECT_EQ(index.filter_count(), 0u);
  EXPECT_EQ(MatchSorted(index, Facts({"nic.sk"})), (Ids{}));
}

// Random filters and alerts over small vocabularies, so that keys collide
// often and every kind of condition both matches and fails.
class RandomWorld {
 public:
  explicit RandomWorld(uint64_t seed) : rng_(seed) {}

  int N(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  template <typename T>
  const T& Pick(const std::vector<T>& v) {
    return v[std::uniform_int_distribution<size_t>(0, v.size() - 1)(rng_)];
  }

  std::string Domain() {
    std::string d = Pick(tlds_);
    int labels = N(1, 3);
    for (int i = 1; i < labels; ++i) d = Pick(labels_) + "." + d;
    return d;
  }
  // A suffix of a random domain: 1..3 labels.
  std::string Zone() {
    std::string d = Domain();
    int drop = N(0, 2);
    for (int i = 0; i < drop; ++i) {
      size_t dot = d.find('.');
      if (dot == std::string::npos) break;
      d = d.substr(dot + 1);
    }
    return d;
  }
  std::string Prefix() {
    if (N(0, 2) == 0) {
      // IPv6 under 2001:db8:: with varied lengths.
      int len = Pick(std::vector<int>{0, 16, 32, 40, 44, 48, 48, 56, 64, 64, 128});
      std::array<uint8_t, 16> a{};
      a[0] = 0x20;
      a[1] = 0x01;
      a[2] = 0x0d;
      a[3] = 0xb8;
      a[4] = static_cast<uint8_t>(N(0, 3) << 4);
      a[5] = static_cast<uint8_t>(N(0, 3));
      a[15] = static_cast<uint8_t>(N(0, 1));
      char buf[64];
      Mask(a.data(), 16, len);
      inet_ntop(AF_INET6, a.data(), buf, sizeof(buf));
      return absl::StrCat(buf, "/", len);
    }
    int len = Pick(std::vector<int>{0, 8, 12, 16, 20, 22, 24, 24, 24, 25, 28, 30, 32, 32});
    uint8_t a[4] = {10, static_cast<uint8_t>(N(0, 3) << 4), static_cast<uint8_t>(N(0, 7)),
                    static_cast<uint8_t>(N(0, 3) * 64 + N(0, 1))};
    Mask(a, 4, len);
    return absl::StrCat(a[0], ".", a[1], ".", a[2], ".", a[3], "/", len);
  }
  static void Mask(uint8_t* a, int bytes, int len) {
    for (int bit = len; bit < bytes * 8; ++bit) a[bit / 8] &= ~(0x80 >> (bit % 8));
  }
  std::string Origin() { return Pick(members_) + "/" + Pick(nodes_); }

  Filter RandomFilter() {
    Filter f;
    int conditions = N(0, 39) == 0 ? 0 : Pick(std::vector<int>{1, 1, 2, 2, 2, 3});
    for (int i = 0; i < conditions; ++i) {
      v1::Condition* c = f.add_conditions();
      c->set_negate(N(0, 5) == 0);
      int entries = Pick(std::vector<int>{1, 1, 1, 2, 3});
      // Mostly indexable kinds, as real subscriptions are.
      switch (Pick(std::vector<int>{0, 0, 1, 1, 2, 3, 4, 4, 4, 4, 5, 5, 5, 6, 6, 7, 7, 8})) {
        case 0:
          for (int k = 0; k < entries; ++k) {
            c->mutable_origin()->add_origins(N(0, 1) ? Pick(members_) : Origin());
          }
          break;
        case 1:
          for (int k = 0; k < entries; ++k) c->mutable_category()->add_patterns(Pick(patterns_));
          break;
        case 2:
          c->set_min_severity(static_cast<v1::Severity>(N(1, 5)));
          break;
        case 3:
          c->set_max_tlp(static_cast<v1::Tlp>(N(1, 5)));
          break;
        case 4:
          for (int k = 0; k < entries; ++k) c->mutable_domain()->add_zones(Zone());
          break;
        case 5:
          for (int k = 0; k < entries; ++k) c->mutable_ip_prefix()->add_prefixes(Prefix());
          break;
        case 6:
          for (int k = 0; k < entries; ++k) c->mutable_asn()->add_asns(N(1, 30));
          break;
        case 7:
          for (int k = 0; k < entries; ++k) {
            v1::LabelMatch* m = c->mutable_label()->add_labels();
            m->set_key(Pick(label_keys_));
            if (N(0, 1)) m->set_value(Pick(label_values_));
          }
          break;
        case 8: {
          int shape = N(0, 2);
          int64_t since = N(0, 90);
          if (shape != 1) c->mutable_issued_at()->mutable_since()->set_seconds(since);
          if (shape != 0) c->mutable_issued_at()->mutable_until()->set_seconds(since + N(1, 30));
          break;
        }
      }
    }
    return f;
  }

  std::shared_ptr<const Matcher> RandomMatcher() {
    RepeatedPtrField<Filter> filters;
    int n = N(0, 99) == 0 ? 0 : Pick(std::vector<int>{1, 1, 1, 2, 2, 3});
    for (int i = 0; i < n; ++i) *filters.Add() = RandomFilter();
    auto m = Matcher::Compile(filters);
    EXPECT_TRUE(m.ok()) << m.status();
    return *m;
  }

  AlertFacts RandomAlert() {
    Alert a;
    a.set_origin(Origin());
    a.set_category(Pick(categories_));
    a.set_severity(static_cast<v1::Severity>(N(1, 5)));
    a.set_tlp(static_cast<v1::Tlp>(N(1, 5)));
    for (int i = N(0, 3); i > 0; --i) a.add_domains(Domain());
    for (int i = N(0, 3); i > 0; --i) a.add_ip_prefixes(Prefix());
    for (int i = N(0, 2); i > 0; --i) a.add_asns(N(1, 30));
    for (int i = N(0, 2); i > 0; --i) {
      auto* l = a.add_labels();
      l->set_key(Pick(label_keys_));
      l->set_value(Pick(label_values_));
    }
    a.mutable_issued_at()->set_seconds(N(0, 120));
    return AlertFacts::From(a);
  }

 private:
  std::mt19937_64 rng_;
  std::vector<std::string> tlds_ = {"cz", "sk", "com", "xcz", "org", "net", "de", "at"};
  std::vector<std::string> labels_ = {"nic", "example", "a", "xnic", "www", "b", "mail"};
  std::vector<std::string> members_ = {"nic.cz", "sk-nic.sk", "cz", "a.nic.cz"};
  std::vector<std::string> nodes_ = {"prg1", "brq1"};
  std::vector<std::string> categories_ = {"dns",    "dns.hijack", "dns.hijack.ns", "dnssec",
                                          "dnssec.x", "abuse",    "abuse.phishing"};
  std::vector<std::string> patterns_ = {"dns",     "dns.hijack", "dnssec", "abuse.phishing",
                                        "dns.*",   "dns.hijack.*", "dnssec.*", "abuse.*"};
  std::vector<std::string> label_keys_ = {"a", "b", "c"};
  std::vector<std::string> label_values_ = {"x", "y", ""};
};

// Brute force: every subscription's Matcher.
Ids BruteForce(const std::map<FilterIndex::SubscriptionId, std::shared_ptr<const Matcher>>& subs,
               const AlertFacts& facts) {
  Ids out;
  for (const auto& [id, m] : subs) {
    if (m->Matches(facts)) out.push_back(id);
  }
  return out;
}

TEST(FilterIndexTest, RandomizedAgreesWithBruteForce) {
  RandomWorld world(0x5eed2024);
  FilterIndex index;
  std::map<FilterIndex::SubscriptionId, std::shared_ptr<const Matcher>> subs;
  size_t filters = 0;
  for (FilterIndex::SubscriptionId id = 1; id <= 2000; ++id) {
    auto m = world.RandomMatcher();
    filters += m->filters().size();
    subs[id] = m;
    index.Add(id, m);
  }
  ASSERT_GE(filters, 3000u);
  EXPECT_EQ(index.filter_count(), filters);
  EXPECT_EQ(index.subscription_count(), subs.size());

  std::vector<AlertFacts> alerts;
  for (int i = 0; i < 2000; ++i) alerts.push_back(world.RandomAlert());

  auto check_all = [&](const char* phase) {
    SCOPED_TRACE(phase);
    size_t total = 0;
    for (size_t i = 0; i < alerts.size(); ++i) {
      Ids got = MatchSorted(index, alerts[i]);
      Ids want = BruteForce(subs, alerts[i]);
      ASSERT_EQ(got, want) << "alert " << i;  // also: no duplicates
      total += want.size();
    }
    // The data must exercise both outcomes: neither nothing nor everything.
    EXPECT_GT(total, alerts.size() * subs.size() / 50) << phase;
    EXPECT_LT(total, alerts.size() * subs.size() * 4 / 10) << phase;
    std::cout << phase << ": " << subs.size() << " subscriptions, "
              << static_cast<double>(total) / alerts.size()
              << " matches per alert on average\n";
  };
  check_all("after Add");

  // Remove every third subscription, replace every fifth, add some new.
  for (FilterIndex::SubscriptionId id = 1; id <= 2000; ++id) {
    if (id % 3 == 0) {
      index.Remove(id);
      subs.erase(id);
    } else if (id % 5 == 0) {
      auto m = world.RandomMatcher();
      index.Add(id, m);
      subs[id] = m;
    }
  }
  for (FilterIndex::SubscriptionId id = 5000; id < 5300; ++id) {
    auto m = world.RandomMatcher();
    index.Add(id, m);
    subs[id] = m;
  }
  EXPECT_EQ(index.subscription_count(), subs.size());
  check_all("after Remove/replace/Add");

  // Removing everything leaves an index that matches nothing.
  for (const auto& [id, m] : subs) index.Remove(id);
  subs.clear();
  EXPECT_EQ(index.filter_count(), 0u);
  for (const AlertFacts& a : alerts) EXPECT_EQ(MatchSorted(index, a), Ids{});
}

}  // namespace
}  // namespace watchfloor::node
