// filter_match_bench: cost of matching one alert against many subscriptions'
// filters, FilterIndex::Match versus brute force (every Matcher::Matches), in
// the same run over the same filters and alerts.
//
// Registers --filters subscriptions of one filter each, of a realistic mix:
// mostly domain zones under ~30 TLDs (a few whole TLDs, some with a severity
// floor or a negated category), then origins, categories, ASNs, IP prefixes,
// labels and a few severity-only filters. Alerts name an origin, a category,
// 1..3 domains (half under a subscribed zone), 0..2 prefixes and 0..2 ASNs.
// Each repetition times both methods over all alerts and checks that they
// report the same matches. Prints the medians over --reps of ns per alert and
// their ratio, against the target of <= 20 us per alert with 10,000 filters.
//
// Usage: filter_match_bench [--filters=10000] [--alerts=5000] [--reps=5]
//                           [--no_brute]   (index only: for profiling)
//        filter_match_bench --smoke   (a < 5 s check that everything works)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "node/filter.h"
#include "node/filter_index.h"

namespace watchfloor::node {
namespace {

using Clock = std::chrono::steady_clock;
using v1::Alert;
using v1::Filter;

constexpr double kTargetNsPerAlert = 20000;

const char* const kTlds[] = {"cz", "sk", "at", "de", "pl", "hu", "si", "hr",
                             "nl", "be", "fr", "it", "es", "pt", "se", "no",
                             "fi", "dk", "ee", "lv", "lt", "ie", "uk", "ch",
                             "com", "net", "org", "eu", "info", "io"};
const char* const kCategories[] = {
    "dns.hijack", "dns.hijack.ns", "dns.hijack.ds", "dns.lame-delegation",
    "dns.amplification", "dnssec.validation-failure", "dnssec.expired-rrsig",
    "dnssec.key-rollover", "abuse.phishing-domain", "abuse.malware-c2",
    "abuse.spam", "abuse.botnet", "registry.compromise", "registry.transfer",
    "registrar.compromise", "bgp.hijack", "bgp.leak", "tls.misissuance",
    "tls.expired", "mail.spoofing"};
const char* const kCategoryPatterns[] = {
    "dns.*", "dnssec.*", "abuse.*", "registry.*", "bgp.*", "dns.hijack",
    "dns.hijack.*", "abuse.phishing-domain", "registry.compromise", "tls.*"};

constexpr int kSecondLevelNames = 20000;  // per TLD: d0..d19999
constexpr int kMembers = 200;

class World {
 public:
  explicit World(uint64_t seed) : rng_(seed) {}

  int N(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  bool Chance(double p) { return std::uniform_real_distribution<double>()(rng_) < p; }

  std::string Tld() { return kTlds[N(0, std::size(kTlds) - 1)]; }
  std::string SecondLevel() { return absl::StrCat("d", N(0, kSecondLevelNames - 1), ".", Tld()); }
  std::string Member() { return absl::StrCat("m", N(0, kMembers - 1), ".", Tld()); }
  std::string V4Prefix(int len) {
    uint32_t a = static_cast<uint32_t>(rng_());
    a = len == 0 ? 0 : a & ~((uint64_t{1} << (32 - len)) - 1);
    return absl::StrCat(a >> 24, ".", (a >> 16) & 255, ".", (a >> 8) & 255, ".", a & 255, "/", len);
  }
  std::string V6Prefix(int len) {  // under 2001:db8::/32, len in 32..64
    uint32_t b = static_cast<uint32_t>(rng_()) & ~((uint64_t{1} << (64 - len)) - 1);
    return absl::StrCat("2001:db8:", absl::Hex(b >> 16), ":", absl::Hex(b & 0xffff), "::/", len);
  }

  Filter RandomFilter() {
    Filter f;
    int kind = N(0, 999);
    if (kind < 620) {  // domain zones: 62%
      auto* zones = f.add_conditions()->mutable_domain();
      int n = Chance(0.7) ? 1 : N(2, 5);
      for (int i = 0; i < n; ++i) {
        std::string z = Chance(0.02) ? Tld() : SecondLevel();
        subscribed_zones_.push_back(z);
        zones->add_zones(z);
      }
      if (Chance(0.3)) f.add_conditions()->set_min_severity(static_cast<v1::Severity>(N(2, 5)));
      if (Chance(0.15)) {
        auto* c = f.add_conditions();
        c->set_negate(true);
        c->mutable_category()->add_patterns("abuse.*");
      }
    } else if (kind < 720) {  // origins: 10%
      auto* o = f.add_conditions()->mutable_origin();
      std::string m = Member();
      o->add_origins(Chance(0.5) ? m : m + "/n1");
    } else if (kind < 800) {  // categories: 8%
      auto* c = f.add_conditions()->mutable_category();
      c->add_patterns(kCategoryPatterns[N(0, std::size(kCategoryPatterns) - 1)]);
      if (Chance(0.5)) f.add_conditions()->set_min_severity(static_cast<v1::Severity>(N(3, 5)));
    } else if (kind < 870) {  // ASNs: 7%
      auto* a = f.add_conditions()->mutable_asn();
      for (int i = N(1, 3); i > 0; --i) a->add_asns(N(64496, 65534));
    } else if (kind < 965) {  // IP prefixes: 9.5%
      auto* p = f.add_conditions()->mutable_ip_prefix();
      for (int i = N(1, 2); i > 0; --i) {
        p->add_prefixes(Chance(0.7) ? V4Prefix(N(16, 24)) : V6Prefix(N(32, 48)));
      }
    } else if (kind < 995) {  // labels: 3%
      auto* l = f.add_conditions()->mutable_label()->add_labels();
      l->set_key("incident");
      if (Chance(0.5)) l->set_value(absl::StrCat("INC-", N(1, 500)));
    } else {  // severity-only: 0.5%
      f.add_conditions()->set_min_severity(Chance(0.5) ? v1::SEVERITY_CRITICAL : v1::SEVERITY_HIGH);
      if (Chance(0.5)) f.add_conditions()->set_max_tlp(v1::TLP_AMBER);
    }
    return f;
  }

  Alert RandomAlert() {
    Alert a;
    a.set_origin(Member() + "/n1");
    a.set_category(kCategories[N(0, std::size(kCategories) - 1)]);
    a.set_severity(static_cast<v1::Severity>(N(1, 5)));
    a.set_tlp(static_cast<v1::Tlp>(N(1, 3)));
    for (int i = N(1, 3); i > 0; --i) {
      std::string base = Chance(0.5) && !subscribed_zones_.empty()
                             ? subscribed_zones_[N(0, subscribed_zones_.size() - 1)]
                             : SecondLevel();
      a.add_domains(Chance(0.5) ? "www." + base : base);
    }
    for (int i = N(0, 2); i > 0; --i) {
      a.add_ip_prefixes(Chance(0.7) ? V4Prefix(N(20, 32)) : V6Prefix(N(40, 64)));
    }
    for (int i = N(0, 2); i > 0; --i) a.add_asns(N(64496, 65534));
    if (Chance(0.2)) {
      auto* l = a.add_labels();
      l->set_key("incident");
      l->set_value(absl::StrCat("INC-", N(1, 500)));
    }
    a.mutable_issued_at()->set_seconds(1714521600 + N(0, 86400));
    return a;
  }

 private:
  std::mt19937_64 rng_;
  std::vector<std::string> subscribed_zones_;
};

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

double NsPerAlert(Clock::time_point start, size_t alerts) {
  return std::chrono::duration<double, std::nano>(Clock::now() - start).count() / alerts;
}

int Run(int filter_count, int alert_count, int reps, bool brute) {
  World world(20240501);
  FilterIndex index;
  std::vector<std::shared_ptr<const Matcher>> matchers;
  matchers.reserve(filter_count);
  for (int i = 0; i < filter_count; ++i) {
    google::protobuf::RepeatedPtrField<Filter> filters;
    *filters.Add() = world.RandomFilter();
    auto m = Matcher::Compile(filters);
    if (!m.ok()) {
      std::fprintf(stderr, "generated filter does not compile: %s\n", m.status().ToString().c_str());
      return 1;
    }
    matchers.push_back(*m);
    index.Add(i, *m);
  }
  std::vector<Alert> alerts;
  for (int i = 0; i < alert_count; ++i) alerts.push_back(world.RandomAlert());

  std::vector<double> facts_ns, index_ns, brute_ns, ratio;
  size_t matches = 0;
  for (int rep = 0; rep < reps; ++rep) {
    auto start = Clock::now();
    std::vector<AlertFacts> facts;
    facts.reserve(alerts.size());
    for (const Alert& a : alerts) facts.push_back(AlertFacts::From(a));
    facts_ns.push_back(NsPerAlert(start, alerts.size()));

    std::vector<std::vector<FilterIndex::SubscriptionId>> by_index(facts.size());
    start = Clock::now();
    for (size_t i = 0; i < facts.size(); ++i) index.Match(facts[i], &by_index[i]);
    index_ns.push_back(NsPerAlert(start, facts.size()));

    std::vector<std::vector<FilterIndex::SubscriptionId>> by_brute(facts.size());
    if (!brute) {
      std::printf("rep %d: index %.0f ns/alert\n", rep + 1, index_ns.back());
      continue;
    }
    start = Clock::now();
    for (size_t i = 0; i < facts.size(); ++i) {
      for (size_t s = 0; s < matchers.size(); ++s) {
        if (matchers[s]->Matches(facts[i])) by_brute[i].push_back(s);
      }
    }
    brute_ns.push_back(NsPerAlert(start, facts.size()));
    ratio.push_back(brute_ns.back() / index_ns.back());

    matches = 0;
    for (size_t i = 0; i < facts.size(); ++i) {
      std::sort(by_index[i].begin(), by_index[i].end());
      if (by_index[i] != by_brute[i]) {
        std::fprintf(stderr, "MISMATCH on alert %zu: index %zu ids, brute force %zu\n", i,
                     by_index[i].size(), by_brute[i].size());
        return 1;
      }
      matches += by_index[i].size();
    }
    std::printf("rep %d: index %.0f ns/alert, brute force %.0f ns/alert, ratio %.1fx\n", rep + 1,
                index_ns.back(), brute_ns.back(), ratio.back());
  }

  double index_median = Median(index_ns);
  std::printf(
      "filter_match_bench: %d filters (one per subscription), %d alerts, %d reps, "
      "%.1f matching subscriptions per alert\n",
      filter_count, alert_count, reps, static_cast<double>(matches) / alert_count);
  std::printf("  AlertFacts::From      %8.0f ns/alert (median)\n", Median(facts_ns));
  std::printf("  FilterIndex::Match    %8.0f ns/alert (median)\n", index_median);
  std::printf("  brute force Matches   %8.0f ns/alert (median)\n", Median(brute_ns));
  std::printf("  brute force / index   %8.1fx (median of per-rep ratios)\n", Median(ratio));
  std::printf("  target: <= %.0f ns/alert with 10000 filters: %s\n", kTargetNsPerAlert,
              index_median <= kTargetNsPerAlert ? "met" : "MISSED");
  return 0;
}

bool Flag(const char* arg, const char* name, int* value) {
  size_t n = std::strlen(name);
  if (std::strncmp(arg, name, n) != 0 || arg[n] != '=') return false;
  if (!absl::SimpleAtoi(arg + n + 1, value) || *value <= 0) {
    std::fprintf(stderr, "error: %s needs a positive integer, got %s\n", name, arg);
    std::exit(2);
  }
  return true;
}

}  // namespace
}  // namespace watchfloor::node

int main(int argc, char** argv) {
  int filters = 10000, alerts = 5000, reps = 5;
  bool brute = true;
  for (int i = 1; i < argc; ++i) {
    using watchfloor::node::Flag;
    if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) {
      std::printf(
          "filter_match_bench: FilterIndex::Match against brute force over --filters\n"
          "subscriptions of one filter each, ns per alert (medians over --reps).\n\n"
          "usage: filter_match_bench [--filters=10000] [--alerts=5000] [--reps=5]\n"
          "                          [--no_brute]   (index only: for profiling)\n"
          "       filter_match_bench --smoke   (a < 5 s check that everything works)\n");
      return 0;
    }
    if (std::strcmp(argv[i], "--smoke") == 0) {
      filters = 1000;
      alerts = 200;
      reps = 1;
    } else if (std::strcmp(argv[i], "--no_brute") == 0) {
      brute = false;
    } else if (!Flag(argv[i], "--filters", &filters) && !Flag(argv[i], "--alerts", &alerts) &&
               !Flag(argv[i], "--reps", &reps)) {
      std::fprintf(stderr,
                   "error: unknown argument %s\nusage: filter_match_bench [--filters=10000] "
                   "[--alerts=5000] [--reps=5] [--no_brute] | --smoke\n",
                   argv[i]);
      return 2;
    }
  }
  return watchfloor::node::Run(filters, alerts, reps, brute);
}
