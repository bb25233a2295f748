// incident_bench: what the incident view (node/incidents.h) costs, next to
// references measured in the same run (issue 13).
//
// Builds a store of --alerts alerts from 20 origins: incidents (a sixth of
// them cancelled again, so that --open stay open), updates of random open
// incidents, and reactions of other origins to random versions. Then:
//  1. reference: SqliteAlertStore::Append of those alerts in group-commit
//     batches of 1,000 (one fsync each), per alert, wall and CPU time;
//  2. Rebuild of the view from that store (what a node does at start);
//  3. per alert: IncidentView::OnCommitted of --ops further updates, one
//     commit of 1 alert each (payload parse included), in thread CPU time
//     (the machine is shared), vs the insert's CPU time and reference 2:
//     one Ed25519 verify of an alert envelope (every ingested alert pays it);
//  4. per reaction: the same for --ops reactions;
//  5. ListIncidents with a filter: a broad one (category:dns.* severity>=high,
//     one page of 100) and a selective one (domain:d7.cz, scans every
//     incident), each median of --reps, against the target of 10 ms.
//
// Usage: incident_bench [--alerts=100000] [--open=10000] [--ops=10000] [--reps=50]
//        incident_bench --smoke   (a < 5 s check that everything works)
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "bench/bench_util.h"
#include "certs/dsse.h"
#include "certs/ids.h"
#include "certs/keys.h"
#include "node/clock.h"
#include "node/filter_parser.h"
#include "node/incidents.h"
#include "node/sqlite_alert_store.h"

namespace watchfloor::bench {
namespace {

namespace v1 = ::watchfloor::v1;
using node::IncidentView;
using node::StoredAlert;

constexpr double kTargetListMs = 10;
constexpr int kOrigins = 20;
const char* const kCategories[] = {"dns.hijack", "dnssec.validation-failure",
                                   "abuse.phishing-domain", "dns.lame-delegation",
                                   "bgp.hijack"};

// CPU time of the calling thread: the machine is shared, so wall time per
// operation would count the time this thread waited for a CPU.
double ThreadCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

struct Made {
  std::shared_ptr<StoredAlert> stored;
  v1::Alert alert;
};

class Maker {
 public:
  explicit Maker(const certs::SigningKey& key) : key_(key) {}
  Made Make(int origin, const std::function<void(v1::Alert&)>& edit) {
    v1::Alert a = SampleDraft(n_++);
    a.set_origin(absl::StrCat("m", origin, ".test/n1"));
    a.set_sequence(++seq_[origin]);
    a.set_previous(prev_[origin]);
    a.mutable_issued_at()->set_seconds(1796000000 + n_);
    a.set_category(kCategories[n_ % 5]);
    a.clear_domains();
    a.add_domains(absl::StrCat("d", n_ % 5000, ".cz"));
    a.set_severity(static_cast<v1::Severity>(1 + n_ % 5));
    edit(a);
    std::string payload = a.SerializeAsString();
    auto s = std::make_shared<StoredAlert>();
    s->id = certs::AlertId(payload);
    s->origin = a.origin();
    s->sequence = a.sequence();
    s->envelope = certs::SignEnvelope(payload, certs::kAlertPayloadType, key_);
    s->cursor = ++cursor_;
    prev_[origin] = s->id;
    return {s, a};
  }

 private:
  const certs::SigningKey& key_;
  int64_t n_ = 0;
  uint64_t cursor_ = 0;
  uint64_t seq_[kOrigins] = {};
  std::string prev_[kOrigins];
};

struct Incident {
  int origin;
  std::string latest;
};

int Run(int argc, char** argv) {
  const bool smoke = HasFlag(argc, argv, "smoke");
  int64_t alerts = 100000, open = 10000, ops = 10000, reps = 50;
  if (smoke) {
    alerts = 3000;
    open = 300;
    ops = 300;
    reps = 5;
  }
  if (!absl::SimpleAtoi(FlagValue(argc, argv, "alerts", absl::StrCat(alerts)), &alerts) ||
      !absl::SimpleAtoi(FlagValue(argc, argv, "open", absl::StrCat(open)), &open) ||
      !absl::SimpleAtoi(FlagValue(argc, argv, "ops", absl::StrCat(ops)), &ops) ||
      !absl::SimpleAtoi(FlagValue(argc, argv, "reps", absl::StrCat(reps)), &reps) ||
      open < 1 || alerts < open * 2 || ops < 1 || reps < 1) {
    std::fprintf(stderr, "usage: incident_bench [--alerts=N >= 2*open] [--open=N] "
                         "[--ops=N] [--reps=N] | --smoke\n");
    return 2;
  }
  TempDir dir;
  PrintMachineHeader(dir.path());
  const certs::SigningKey key = certs::SigningKey::Generate();
  Maker maker(key);
  std::mt19937_64 rng(13);

  // The store's alerts: roots, cancels, updates, reactions.
  const int64_t cancelled = open / 5;
  const int64_t roots = open + cancelled;
  const int64_t rest = alerts - roots - cancelled;
  const int64_t updates = rest * 2 / 3;
  std::vector<Made> all;
  std::vector<Incident> incidents;
  all.reserve(alerts);
  for (int64_t i = 0; i < roots; ++i) {
    const int origin = static_cast<int>(i % kOrigins);
    all.push_back(maker.Make(origin, [](v1::Alert&) {}));
    incidents.push_back({origin, all.back().stored->id});
  }
  for (int64_t i = 0; i < cancelled; ++i) {  // the last ones
    Incident& inc = incidents[roots - 1 - i];
    all.push_back(maker.Make(inc.origin, [&](v1::Alert& a) { a.set_cancels(inc.latest); }));
  }
  auto random_open = [&]() -> Incident& { return incidents[rng() % open]; };
  auto add_update = [&]() {
    Incident& inc = random_open();
    Made m = maker.Make(inc.origin, [&](v1::Alert& a) { a.set_updates(inc.latest); });
    inc.latest = m.stored->id;
    return m;
  };
  auto add_reaction = [&]() {
    Incident& inc = random_open();
    const int reactor = static_cast<int>((inc.origin + 1 + rng() % (kOrigins - 1)) % kOrigins);
    return maker.Make(reactor, [&](v1::Alert& a) {
      a.mutable_reaction()->set_kind(static_cast<v1::ReactionKind>(1 + rng() % 4));
      a.mutable_reaction()->set_target(inc.latest);
      a.mutable_reaction()->set_note("seen from our resolvers");
    });
  };
  for (int64_t i = 0; i < updates; ++i) all.push_back(add_update());
  while (static_cast<int64_t>(all.size()) < alerts) all.push_back(add_reaction());

  // 1. Reference: the store's insert cost per alert, group-committed.
  absl::StatusOr<std::unique_ptr<node::SqliteAlertStore>> store =
      node::SqliteAlertStore::Open(dir.path(), "bench.test/n1");
  if (!store.ok()) {
    std::fprintf(stderr, "open store: %s\n", std::string(store.status().message()).c_str());
    return 1;
  }
  auto t0 = SteadyClock::now();
  double c0 = ThreadCpuSeconds();
  for (size_t i = 0; i < all.size(); i += 1000) {
    std::vector<node::NewAlert> batch;
    for (size_t j = i; j < std::min(all.size(), i + 1000); ++j) {
      const StoredAlert& s = *all[j].stored;
      node::NewAlert& na = batch.emplace_back();
      na.id = s.id;
      na.origin = s.origin;
      na.sequence = s.sequence;
      na.previous = all[j].alert.previous();
      na.issued_at_ms = all[j].alert.issued_at().seconds() * 1000;
      s.envelope.SerializeToString(&na.envelope);
    }
    absl::StatusOr<std::vector<uint64_t>> cursors = (*store)->Append(batch, {});
    if (!cursors.ok()) {
      std::fprintf(stderr, "append: %s\n", std::string(cursors.status().message()).c_str());
      return 1;
    }
  }
  const double insert_us = SecondsSince(t0) * 1e6 / static_cast<double>(all.size());
  const double insert_cpu_us =
      (ThreadCpuSeconds() - c0) * 1e6 / static_cast<double>(all.size());

  // 2. Rebuild from the store.
  node::FakeClock clock(absl::FromUnixSeconds(1796000000));
  IncidentView view(&clock);
  t0 = SteadyClock::now();
  c0 = ThreadCpuSeconds();
  if (absl::Status st = view.Rebuild(store->get()); !st.ok()) {
    std::fprintf(stderr, "rebuild: %s\n", std::string(st.message()).c_str());
    return 1;
  }
  const double rebuild_s = SecondsSince(t0);
  const double rebuild_cpu_s = ThreadCpuSeconds() - c0;
  const size_t open_now = view.open();

  // 3./4. Per alert and per reaction, one commit each, as the Ledger's
  // listener sees them (a committed batch of one).
  auto per_op_us = [&](const std::function<Made()>& make) {
    std::vector<Made> batch;
    for (int64_t i = 0; i < ops; ++i) batch.push_back(make());
    const double start = ThreadCpuSeconds();
    for (const Made& m : batch) view.OnCommitted({m.stored});
    return (ThreadCpuSeconds() - start) * 1e6 / static_cast<double>(ops);
  };
  const double update_us = per_op_us(add_update);
  const double reaction_us = per_op_us(add_reaction);

  // Reference 2: one Ed25519 verify of an alert envelope.
  const StoredAlert& sample = *all.back().stored;
  c0 = ThreadCpuSeconds();
  int verified = 0;
  for (int64_t i = 0; i < ops; ++i) {
    verified += certs::VerifyEnvelope(sample.envelope, key.public_key()).ok();
  }
  const double verify_us = (ThreadCpuSeconds() - c0) * 1e6 / static_cast<double>(ops);
  if (verified != ops) {
    std::fprintf(stderr, "verify failed\n");
    return 1;
  }

  // 5. ListIncidents with a filter.
  auto list_ms = [&](const std::string& text, int* shown) {
    v1::ListIncidentsRequest req;
    absl::StatusOr<v1::Filter> f = node::ParseFilter(text);
    if (!f.ok()) return -1.0;
    *req.add_filters() = *f;
    req.add_states(v1::INCIDENT_OPEN);
    req.add_states(v1::INCIDENT_UPDATED);
    std::vector<double> ms;
    for (int64_t r = 0; r < reps; ++r) {
      auto start = SteadyClock::now();
      absl::StatusOr<v1::ListIncidentsResponse> page = view.List(req);
      ms.push_back(SecondsSince(start) * 1e3);  // wall: what a caller waits
      if (!page.ok()) return -1.0;
      *shown = page->incidents_size();
    }
    return Median(ms);
  };
  int broad_n = 0, narrow_n = 0;
  const double broad_ms = list_ms("category:dns.* severity>=high", &broad_n);
  const double narrow_ms = list_ms("domain:d7.cz", &narrow_n);
  if (broad_ms < 0 || narrow_ms < 0) {
    std::fprintf(stderr, "list failed\n");
    return 1;
  }

  std::printf("store: %zu alerts (%lld incidents, %lld cancelled, %lld updates, %lld reactions); "
              "%zu open incidents after the store\n",
              all.size(), static_cast<long long>(roots), static_cast<long long>(cancelled),
              static_cast<long long>(updates),
              static_cast<long long>(alerts - roots - cancelled - updates), open_now);
  std::printf("reference: store insert   %8.2f us/alert wall, %.2f us CPU (SQLite, batches of "
              "1000, fsync each)\n",
              insert_us, insert_cpu_us);
  std::printf("reference: Ed25519 verify %8.2f us CPU/alert envelope\n", verify_us);
  std::printf("view rebuild from store   %8.3f s wall, %.3f s CPU (%.2f us CPU/alert)\n",
              rebuild_s, rebuild_cpu_s, rebuild_cpu_s * 1e6 / static_cast<double>(all.size()));
  std::printf("view update per alert     %8.2f us CPU  = %.3f x insert CPU, %.3f x verify\n",
              update_us, update_us / insert_cpu_us, update_us / verify_us);
  std::printf("view update per reaction  %8.2f us CPU  = %.3f x insert CPU, %.3f x verify\n",
              reaction_us, reaction_us / insert_cpu_us, reaction_us / verify_us);
  std::printf("ListIncidents 'category:dns.* severity>=high' open|updated: %.3f ms median wall "
              "(%d shown, page of 100)  target %.0f ms: %s\n",
              broad_ms, broad_n, kTargetListMs, broad_ms <= kTargetListMs ? "met" : "MISSED");
  std::printf("ListIncidents 'domain:d7.cz' open|updated (scans all): %.3f ms median wall "
              "(%d shown)  target %.0f ms: %s\n",
              narrow_ms, narrow_n, kTargetListMs, narrow_ms <= kTargetListMs ? "met" : "MISSED");
  if (smoke && (view.size() != static_cast<size_t>(roots) || broad_n == 0)) {
    std::fprintf(stderr, "smoke: unexpected view (%zu incidents)\n", view.size());
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace watchfloor::bench

int main(int argc, char** argv) { return watchfloor::bench::Run(argc, argv); }
