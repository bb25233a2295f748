#include "node/node_metrics.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/time/time.h"
#include "certs/roster.h"
#include "certs/roster_rules.h"

namespace watchfloor::node {
namespace {

using metrics::FamilySink;
using metrics::Labels;
using metrics::Type;

// Registry::Add for a list of families, keeping the first error.
class Families {
 public:
  explicit Families(metrics::Registry* registry) : registry_(registry) {}
  void Add(const char* name, const char* help, Type type, metrics::Collector collect) {
    if (status_.ok()) status_ = registry_->Add(name, help, type, std::move(collect));
  }
  absl::Status status() const { return status_; }

 private:
  metrics::Registry* const registry_;
  absl::Status status_;
};

double Bool(bool b) { return b ? 1 : 0; }

// Unix seconds of `t`; 0 for InfinitePast (never), +Inf for InfiniteFuture.
double UnixSeconds(absl::Time t) {
  if (t == absl::InfinitePast()) return 0;
  if (t == absl::InfiniteFuture()) return absl::ToDoubleSeconds(absl::InfiniteDuration());
  return absl::ToDoubleSeconds(t - absl::UnixEpoch());
}

// Resident set size from /proc/self/statm (pages), or -1.
double ResidentBytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return -1;
  unsigned long size = 0, resident = 0;
  const int n = std::fscanf(f, "%lu %lu", &size, &resident);
  std::fclose(f);
  if (n != 2) return -1;
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE));
}

// Entries of /proc/self/fd, less the one reading it, or -1.
double OpenFds() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  double n = 0;
  while (const dirent* e = readdir(dir)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(dir);
  return n - 1;
}

void AddRefused(FamilySink& sink, const char* op, const metrics::Counter* by_code) {
  for (int code = 0; code < Ledger::kStatusCodes; ++code) {
    const uint64_t n = by_code[code].value();
    if (n == 0) continue;
    sink.Add({{"op", op},
              {"reason", absl::AsciiStrToLower(
                             absl::StatusCodeToString(static_cast<absl::StatusCode>(code)))}},
             static_cast<double>(n));
  }
}

void RegisterLedger(Families& f, const Ledger* ledger) {
  f.Add("watchfloor_alerts_published_total",
        "Alerts this node published (signed and committed).", Type::kCounter,
        [ledger](FamilySink& s) { s.Add({}, static_cast<double>(ledger->metrics().published.value())); });
  f.Add("watchfloor_alerts_ingested_total",
        "Alerts of other origins committed (Ingest and gossip).", Type::kCounter,
        [ledger](FamilySink& s) { s.Add({}, static_cast<double>(ledger->metrics().ingested.value())); });
  f.Add("watchfloor_alerts_refused_total",
        "Publish and ingest calls refused, by op and status code (already_exists includes "
        "duplicates gossip offers while their first copy is being stored; a copy of a "
        "committed alert counts only in watchfloor_gossip_duplicates_total).",
        Type::kCounter, [ledger](FamilySink& s) {
          AddRefused(s, "publish", ledger->metrics().refused_publish);
          AddRefused(s, "ingest", ledger->metrics().refused_ingest);
        });
  f.Add("watchfloor_publish_latency_seconds",
        "From the publish call to its durable commit, of published alerts.", Type::kHistogram,
        [ledger](FamilySink& s) { s.AddHistogram({}, ledger->metrics().publish_seconds.snapshot()); });
  f.Add("watchfloor_ingest_latency_seconds",
        "From the ingest call (or gossip offer) to its durable commit, of ingested alerts.",
        Type::kHistogram,
        [ledger](FamilySink& s) { s.AddHistogram({}, ledger->metrics().ingest_seconds.snapshot()); });
  f.Add("watchfloor_store_commit_batch_size",
        "Operations (alerts, checkpoints) per group-commit transaction.", Type::kHistogram,
        [ledger](FamilySink& s) { s.AddHistogram({}, ledger->metrics().batch_ops.snapshot()); });
  f.Add("watchfloor_store_commit_seconds",
        "Time of one group-commit transaction in the store: write, fsync, retries.",
        Type::kHistogram,
        [ledger](FamilySink& s) { s.AddHistogram({}, ledger->metrics().commit_seconds.snapshot()); });
  f.Add("watchfloor_store_writable",
        "1 while the store takes writes; 0 after a failure that stops writing until restart.",
        Type::kGauge, [ledger](FamilySink& s) { s.Add({}, Bool(ledger->healthy())); });
  f.Add("watchfloor_feed_head_sequence",
        "The last committed sequence of each feed this node holds.", Type::kGauge,
        [ledger](FamilySink& s) {
          for (const FeedHead& h : ledger->Heads()) {
            s.Add({{"origin", h.origin}}, static_cast<double>(h.sequence));
          }
        });
  f.Add("watchfloor_feed_forked",
        "1 for a feed frozen by fork evidence.", Type::kGauge, [ledger](FamilySink& s) {
          for (const FeedHead& h : ledger->Heads()) {
            if (h.forked) s.Add({{"origin", h.origin}}, 1);
          }
        });
}

void RegisterGossip(Families& f, const federation::Gossip* gossip, const Ledger* ledger) {
  using PeerValue = double (*)(const federation::Gossip::PeerStats&);
  auto per_peer = [&f, gossip](const char* name, const char* help, Type type, PeerValue value) {
    f.Add(name, help, type, [gossip, value](FamilySink& s) {
      for (const auto& [peer, p] : gossip->stats().peers) s.Add({{"peer", peer}}, value(p));
    });
  };
  per_peer("watchfloor_gossip_pushed_total", "Envelopes pushed to the peer (eager gossip).",
           Type::kCounter, [](const auto& p) { return static_cast<double>(p.pushed); });
  per_peer("watchfloor_gossip_received_new_total",
           "Envelopes from the peer (pushed or fetched) that were new here.", Type::kCounter,
           [](const auto& p) { return static_cast<double>(p.received_new); });
  per_peer("watchfloor_gossip_duplicates_total",
           "Envelopes from the peer that this node already had.", Type::kCounter,
           [](const auto& p) { return static_cast<double>(p.received_dup); });
  per_peer("watchfloor_gossip_pulled_total",
           "New envelopes this node asked the peer for: grafts (Fetch) and anti-entropy pulls.",
           Type::kCounter, [](const auto& p) { return static_cast<double>(p.pulled); });
  per_peer("watchfloor_gossip_dropped_total",
           "Items for the peer dropped because its queue's byte budget was full.",
           Type::kCounter, [](const auto& p) { return static_cast<double>(p.dropped); });
  per_peer("watchfloor_gossip_queued_bytes", "Bytes queued for the peer and held on its behalf.",
           Type::kGauge, [](const auto& p) { return static_cast<double>(p.queued_bytes); });
  per_peer("watchfloor_gossip_peer_up",
           "1 while the last call to the peer succeeded (0: in backoff after a failure).",
           Type::kGauge, [](const auto& p) { return Bool(p.reachable); });
  per_peer("watchfloor_gossip_peer_score",
           "The peer's score (docs/FEDERATION.md \"Peer scoring\"): below -10 it is kept lazy, "
           "below -100 its pushes are refused unverified.",
           Type::kGauge, [](const auto& p) { return p.score; });
  per_peer("watchfloor_gossip_peer_eager", "1 if the peer is pushed to eagerly, 0 if lazily.",
           Type::kGauge, [](const auto& p) { return Bool(p.eager); });
  per_peer("watchfloor_gossip_last_contact_seconds",
           "Unix time of the last successful call between this node and the peer, either way; "
           "0 if none yet.",
           Type::kGauge, [](const auto& p) { return UnixSeconds(p.last_contact); });
  per_peer("watchfloor_gossip_peer_rtt_seconds",
           "The smoothed round trip of this node's calls to the peer that succeeded (0: none "
           "yet).",
           Type::kGauge, [](const auto& p) { return absl::ToDoubleSeconds(p.rtt); });
  per_peer("watchfloor_gossip_peer_roster_version",
           "The roster version the peer last reported (0: none yet).", Type::kGauge,
           [](const auto& p) { return static_cast<double>(p.roster_version); });
  f.Add("watchfloor_gossip_bytes_total",
        "Serialized Federation messages exchanged with the peer, by direction.", Type::kCounter,
        [gossip](FamilySink& s) {
          for (const auto& [peer, p] : gossip->stats().peers) {
            s.Add({{"peer", peer}, {"direction", "sent"}}, static_cast<double>(p.bytes_sent));
            s.Add({{"peer", peer}, {"direction", "received"}},
                  static_cast<double>(p.bytes_received));
          }
        });
  f.Add("watchfloor_gossip_refused_total",
        "Invalid input from the peer, by reason (an envelope's status code, bad_range, "
        "unparsable_request, bad_checkpoint, bad_evidence, roster_chain).",
        Type::kCounter, [gossip](FamilySink& s) {
          for (const auto& [peer, p] : gossip->stats().peers) {
            for (const auto& [reason, n] : p.refused_by_reason) {
              s.Add({{"peer", peer}, {"reason", reason}}, static_cast<double>(n));
            }
          }
        });
  f.Add("watchfloor_gossip_graft_timeout_seconds",
        "How long an announced alert may stay missing before it is fetched, now: "
        "federation.graft_rtts times the median peer round trip, at least graft_timeout_ms.",
        Type::kGauge, [gossip](FamilySink& s) {
          s.Add({}, absl::ToDoubleSeconds(gossip->stats().graft_timeout));
        });
  f.Add("watchfloor_gossip_anti_entropy_rounds_total", "Frontier exchanges this node started.",
        Type::kCounter, [gossip](FamilySink& s) {
          s.Add({}, static_cast<double>(gossip->stats().anti_entropy_rounds));
        });
  f.Add("watchfloor_frontier_lag",
        "How many alerts of each origin a peer's frontier showed that this node has not "
        "committed yet (0 when caught up).",
        Type::kGauge, [gossip, ledger](FamilySink& s) {
          std::map<std::string, uint64_t> seen = gossip->stats().peer_frontier;
          std::map<std::string, uint64_t> heads;
          for (const FeedHead& h : ledger->Heads()) heads[h.origin] = h.sequence;
          // Every feed this node holds has a sample from its first alert on,
          // not only from the first frontier exchange that mentioned it.
          for (const auto& head : heads) seen.emplace(head.first, 0);
          for (const auto& [origin, sequence] : seen) {
            const uint64_t have = heads.count(origin) ? heads[origin] : 0;
            s.Add({{"origin", origin}}, static_cast<double>(sequence > have ? sequence - have : 0));
          }
        });
}

void RegisterRoster(Families& f, const RosterManager* roster, Clock* clock) {
  f.Add("watchfloor_roster_version", "The version of the roster in force.", Type::kGauge,
        [roster](FamilySink& s) { s.Add({}, static_cast<double>(roster->version())); });
  f.Add("watchfloor_roster_expiry_seconds",
        "Unix time at which the roster in force expires (+Inf: it does not).", Type::kGauge,
        [roster](FamilySink& s) { s.Add({}, UnixSeconds(roster->current()->expires())); });
  f.Add("watchfloor_roster_expired",
        "1 while the roster in force has expired (the node keeps running on it, not ready).",
        Type::kGauge, [roster, clock](FamilySink& s) {
          s.Add({}, Bool(!certs::CheckNotExpired(roster->current()->proto(), clock->Now()).ok()));
        });
  f.Add("watchfloor_roster_adopted_total", "Roster versions adopted since start.",
        Type::kCounter,
        [roster](FamilySink& s) { s.Add({}, static_cast<double>(roster->stats().adopted)); });
  f.Add("watchfloor_roster_refused_total",
        "Roster versions refused since start (verification, expiry).", Type::kCounter,
        [roster](FamilySink& s) { s.Add({}, static_cast<double>(roster->stats().refused)); });
}

void RegisterTransparency(Families& f, const Transparency* t) {
  using Value = uint64_t (*)(const Transparency::Stats&);
  auto one = [&f, t](const char* name, const char* help, Value value) {
    f.Add(name, help, Type::kCounter,
          [t, value](FamilySink& s) { s.Add({}, static_cast<double>(value(t->stats()))); });
  };
  one("watchfloor_checkpoints_signed_total", "Checkpoints of this node's own feed signed.",
      [](const auto& s) { return s.signed_checkpoints; });
  one("watchfloor_checkpoints_cosigned_total", "Peers' checkpoints this node cosigned.",
      [](const auto& s) { return s.cosigned; });
  one("watchfloor_cosignatures_merged_total",
      "Peers' cosignatures merged into this node's checkpoints.",
      [](const auto& s) { return s.cosignatures_merged; });
  one("watchfloor_checkpoints_refused_total",
      "Checkpoint notes and cosignatures that failed verification.",
      [](const auto& s) { return s.refused; });
  one("watchfloor_split_views_total",
      "Split views detected: two checkpoints of one log that cannot both be true.",
      [](const auto& s) { return s.split_views; });
}

void RegisterSubscribers(Families& f, const SubscriptionHub* hub) {
  f.Add("watchfloor_subscribers", "Subscribe streams open (replaying or live).", Type::kGauge,
        [hub](FamilySink& s) { s.Add({}, static_cast<double>(hub->subscriber_count())); });
  f.Add("watchfloor_subscribers_live", "Subscribers past their replay, fed on each commit.",
        Type::kGauge, [hub](FamilySink& s) { s.Add({}, static_cast<double>(hub->queue_stats().live)); });
  f.Add("watchfloor_subscriber_queued_alerts",
        "Alerts queued for live subscribers and not yet sent, all together.", Type::kGauge,
        [hub](FamilySink& s) { s.Add({}, static_cast<double>(hub->queue_stats().queued)); });
  f.Add("watchfloor_subscriber_queue_max",
        "The longest live subscriber queue, in alerts (past the limit the subscriber is told "
        "it fell behind).",
        Type::kGauge,
        [hub](FamilySink& s) { s.Add({}, static_cast<double>(hub->queue_stats().deepest)); });
  f.Add("watchfloor_subscriber_queue_limit", "Alerts a live subscriber's queue may hold.",
        Type::kGauge, [hub](FamilySink& s) { s.Add({}, static_cast<double>(hub->max_queue())); });
}

}  // namespace

absl::Status RegisterNodeMetrics(const MetricSources& src, metrics::Registry* registry) {
  Families f(registry);
  auto ready = src.ready;
  f.Add("watchfloor_ready",
        "1 while the node is ready (/readyz 200, gRPC health SERVING): store writable, roster "
        "not expired.",
        Type::kGauge, [ready](FamilySink& s) { s.Add({}, Bool(ready().ok())); });
  RegisterLedger(f, src.ledger);
  if (src.gossip != nullptr) RegisterGossip(f, src.gossip, src.ledger);
  if (src.roster != nullptr) RegisterRoster(f, src.roster, src.clock);
  RegisterTransparency(f, src.transparency);
  RegisterSubscribers(f, src.hub);
  const NodeService* service = src.service;
  f.Add("watchfloor_unparsable_requests_total",
        "Node service requests that did not parse (answered INVALID_ARGUMENT).", Type::kCounter,
        [service](FamilySink& s) { s.Add({}, static_cast<double>(service->unparsable_requests())); });
  f.Add("process_resident_memory_bytes", "Resident memory of the node process.", Type::kGauge,
        [](FamilySink& s) { s.Add({}, ResidentBytes()); });
  f.Add("process_open_fds", "Open file descriptors of the node process.", Type::kGauge,
        [](FamilySink& s) { s.Add({}, OpenFds()); });
  f.Add("process_max_fds", "The node process's limit on open file descriptors.", Type::kGauge,
        [](FamilySink& s) {
          struct rlimit lim;
          s.Add({}, getrlimit(RLIMIT_NOFILE, &lim) == 0 ? static_cast<double>(lim.rlim_cur) : -1);
        });
  return f.status();
}

}  // namespace watchfloor::node
