// subscription_bench: filtered live subscriptions on a real node, in one run.
//
// The node is the real `watchfloor node` binary, run as a child process
// (plaintext loopback, SQLite in a temporary data dir), so that its VmRSS and
// per-thread CPU time (/proc/<pid>/...) are its own; the subscribers and the
// publisher are gRPC clients in this process.
//
// Workload (fixed --seed): --subscribers subscriptions of one filter each (8%
// two, ORed) — domain zones under 30 TLDs (a few whole TLDs; some with
// severity>= or !category:abuse.*), origins (member or member/node), category
// patterns with severity critical, ASNs, IP prefixes, labels, a few
// severity-only ones. Alerts come at a steady --rate: 3 of 4 published by the
// node itself (Publish), 1 of 4 signed by one of 16 peer origins and ingested
// (Ingest, the federation path), so that origin filters see several origins.
// Each alert names 1..3 domains (half of them under a subscribed zone), 0..2
// prefixes and ASNs, and matches about 9 subscriptions.
//
// Phases, measured in the same run:
//   baseline  --baseline_seconds at --rate with no subscribers: node CPU per
//             alert (the Ledger's writer thread, the hub's wake-up thread, the
//             process) and the ack latency without fan-out;
//   live      --subscribers streams (--per_connection per TCP connection),
//             --seconds at --rate: delivery latency from each alert's
//             scheduled send time to its receipt (so it includes the commit's
//             fsync), next to the publish/ingest ack latency of the same
//             alerts, and receipt minus the ack of the same alert (how much
//             later than its publisher a subscriber hears of it); every
//             delivery is checked against what the subscription's filters
//             select (none missing, none extra, no duplicates);
//   stalled   one more subscriber with no filter (it matches everything) on
//             its own connection never reads, while --stall_alerts are
//             published at --rate to it and the others; the node's VmRSS is
//             sampled every second; at the end it starts reading, and what it
//             gets (alerts held in flow control, then the status and
//             "watchfloor-resume-cursor") is reported.
// Then, with the node stopped, FilterIndex::Match is timed against brute
// force (every Matcher) over the live phase's alerts, with the run's
// subscriptions and with --index_subscriptions of the same generator.
//
// Usage: subscription_bench [--binary=build/node/cli/watchfloor]
//          [--subscribers=1000] [--per_connection=10] [--rate=1000]
//          [--seconds=10] [--baseline_seconds=5] [--stall_alerts=50000]
//          [--index_subscriptions=10000] [--seed=20240501] [--dir=/tmp]
//        subscription_bench --smoke   (a < 5 s check that everything works)
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <dirent.h>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "bench/bench_util.h"
#include "certs/dsse.h"
#include "certs/ids.h"
#include "google/protobuf/text_format.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "node/filter.h"
#include "node/filter_index.h"
#include "node/subscription_hub.h"
#include "watchfloor/v1/node.grpc.pb.h"

extern char** environ;

namespace watchfloor::bench {
namespace {

using watchfloor::v1::Alert;
using watchfloor::v1::Filter;
using Filters = google::protobuf::RepeatedPtrField<Filter>;

#ifndef WF_WATCHFLOOR_BINARY
#define WF_WATCHFLOOR_BINARY "node/cli/watchfloor"
#endif

constexpr char kOrigin[] = "bench.example/sub1";
constexpr double kTargetMatchNs = 20000;  // with 10,000 filters
constexpr double kTargetP99Ms = 10;
constexpr char kResumeKey[] = "watchfloor-resume-cursor";

const char* const kPeers[] = {
    "nic.cz/prg1",     "sk-nic.sk/bts1",  "denic.de/fra1",   "nic.at/vie1",
    "nask.pl/waw1",    "sidn.nl/ams1",    "dnsbelgium.be/bru1", "afnic.fr/par1",
    "registro.it/pis1", "iis.se/sto1",    "norid.no/osl1",   "traficom.fi/hel1",
    "internet.ee/tll1", "switch.ch/zrh1", "eurid.eu/bru2",   "nominet.uk/lon1"};
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

const SteadyClock::time_point g_epoch = SteadyClock::now();
int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(SteadyClock::now() - g_epoch)
      .count();
}

struct Rng {
  std::mt19937_64 gen;
  int N(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(gen); }
  bool Chance(double p) { return std::uniform_real_distribution<double>()(gen) < p; }
  template <typename T, size_t n>
  const T& Pick(const T (&a)[n]) { return a[N(0, n - 1)]; }
  template <typename T>
  const T& Pick(const std::vector<T>& v) { return v[N(0, v.size() - 1)]; }
};

// ---------------------------------------------------------------------------
// Workload: subscriptions and alert drafts, deterministic from the seed.

struct V4 { uint32_t addr; int len; };
struct V6 { uint32_t bits; int len; };  // bits 32..63 of 2001:db8::/32

uint32_t Mask(uint32_t a, int len) {
  return len == 0 ? 0 : a & ~((uint64_t{1} << (32 - len)) - 1);
}
std::string V4Text(V4 p) {
  uint32_t a = Mask(p.addr, p.len);
  return absl::StrCat(a >> 24, ".", (a >> 16) & 255, ".", (a >> 8) & 255, ".", a & 255, "/",
                      p.len);
}
std::string V6Text(V6 p) {  // len in 32..64
  uint32_t b = Mask(p.bits, p.len - 32);
  return absl::StrCat("2001:db8:", absl::Hex(b >> 16), ":", absl::Hex(b & 0xffff), "::/", p.len);
}
std::string MemberOf(const std::string& origin) { return origin.substr(0, origin.find('/')); }

class Workload {
 public:
  explicit Workload(uint64_t seed) : seed_(seed) {
    rng_.gen.seed(seed);
    origins_.push_back(kOrigin);
    for (const char* p : kPeers) origins_.push_back(p);
  }

  // One subscriber's filters. With `target`, alerts will be drawn to hit its
  // zones, prefixes, ASNs and labels (the run's subscribers); without, it only
  // adds to the index (the larger matching set).
  Filters Subscription(bool target) {
    Filters fs;
    *fs.Add() = OneFilter(target);
    if (rng_.Chance(0.08)) *fs.Add() = OneFilter(target);
    return fs;
  }

  // Draft number n (its title carries n). Same n, same draft.
  Alert Draft(int64_t n) const {
    Rng r;
    r.gen.seed(seed_ ^ (0x9E3779B97F4A7C15ull * static_cast<uint64_t>(n + 1)));
    Alert a;
    a.set_severity(static_cast<v1::Severity>(r.N(1, 5)));
    a.set_category(r.Pick(kCategories));
    a.set_tlp(static_cast<v1::Tlp>(r.N(1, 3)));
    a.set_title(absl::StrCat("subscription bench alert #", n));
    a.set_description("NS set changed at the registry; new servers are not operated by the holder.");
    for (int i = r.N(1, 3); i > 0; --i) {
      std::string base = r.Chance(0.5) && !zones_.empty() ? r.Pick(zones_) : SecondLevel(r);
      a.add_domains(r.Chance(0.5) ? "www." + base : base);
    }
    for (int i = r.N(0, 2); i > 0; --i) {
      bool inside = r.Chance(0.5);
      if (r.Chance(0.7)) {
        V4 p{static_cast<uint32_t>(r.gen()), r.N(20, 32)};
        if (inside && !v4_.empty()) {
          V4 s = r.Pick(v4_);
          p.len = std::max(p.len, s.len);
          p.addr = Mask(s.addr, s.len) | (p.addr & ~Mask(0xffffffffu, s.len));
        }
        a.add_ip_prefixes(V4Text(p));
      } else {
        V6 p{static_cast<uint32_t>(r.gen()), r.N(40, 64)};
        if (inside && !v6_.empty()) {
          V6 s = r.Pick(v6_);
          p.len = std::max(p.len, s.len);
          p.bits = Mask(s.bits, s.len - 32) | (p.bits & ~Mask(0xffffffffu, s.len - 32));
        }
        a.add_ip_prefixes(V6Text(p));
      }
    }
    for (int i = r.N(0, 2); i > 0; --i) {
      a.add_asns(r.Chance(0.4) && !asns_.empty() ? r.Pick(asns_) : r.N(64496, 65534));
    }
    if (r.Chance(0.2)) {
      auto* l = a.add_labels();
      l->set_key("incident");
      l->set_value(absl::StrCat("INC-", r.N(1, 300)));
    }
    if (r.Chance(0.05)) {
      auto* l = a.add_labels();
      l->set_key("campaign");
      l->set_value("hafnium");
    }
    return a;
  }

  // The alert as the node stores it, for filter facts: `origin` set.
  Alert Stored(int64_t n, const std::string& origin) const {
    Alert a = Draft(n);
    a.set_origin(origin);
    return a;
  }

 private:
  static std::string SecondLevel(Rng& r) {
    return absl::StrCat("d", r.N(0, 19999), ".", r.Pick(kTlds));
  }

  Filter OneFilter(bool target) {
    Rng& r = rng_;
    Filter f;
    auto min_severity = [&f](int s) {
      f.add_conditions()->set_min_severity(static_cast<v1::Severity>(s));
    };
    auto category = [&f](const char* pattern, bool negate) {
      auto* c = f.add_conditions();
      c->set_negate(negate);
      c->mutable_category()->add_patterns(pattern);
    };
    int k = r.N(0, 999);
    if (k < 560) {  // domain zones: 56%
      auto* d = f.add_conditions()->mutable_domain();
      for (int i = r.Chance(0.7) ? 1 : r.N(2, 4); i > 0; --i) {
        std::string z = r.Chance(0.015) ? std::string(r.Pick(kTlds)) : SecondLevel(r);
        if (target) zones_.push_back(z);
        d->add_zones(z);
      }
      if (r.Chance(0.3)) min_severity(r.N(2, 4));
      if (r.Chance(0.15)) category("abuse.*", true);
    } else if (k < 640) {  // origins: 8%, mostly with a severity floor
      const std::string& origin = r.Pick(origins_);
      f.add_conditions()->mutable_origin()->add_origins(r.Chance(0.6) ? MemberOf(origin)
                                                                      : origin);
      if (r.Chance(0.7)) {
        min_severity(r.N(4, 5));
      } else {
        category(r.Pick(kCategoryPatterns), false);
      }
    } else if (k < 680) {  // a category with severity critical: 4%
      category(r.Pick(kCategoryPatterns), false);
      min_severity(5);
    } else if (k < 770) {  // ASNs: 9%
      auto* a = f.add_conditions()->mutable_asn();
      for (int i = r.N(1, 3); i > 0; --i) {
        uint32_t asn = r.N(64496, 65534);
        if (target) asns_.push_back(asn);
        a->add_asns(asn);
      }
    } else if (k < 900) {  // IP prefixes: 13%
      auto* p = f.add_conditions()->mutable_ip_prefix();
      for (int i = r.N(1, 2); i > 0; --i) {
        if (r.Chance(0.7)) {
          V4 v{static_cast<uint32_t>(r.gen()), r.N(16, 24)};
          if (target) v4_.push_back(v);
          p->add_prefixes(V4Text(v));
        } else {
          V6 v{static_cast<uint32_t>(r.gen()), r.N(32, 48)};
          if (target) v6_.push_back(v);
          p->add_prefixes(V6Text(v));
        }
      }
    } else if (k < 965) {  // labels: 6.5%
      auto* l = f.add_conditions()->mutable_label()->add_labels();
      if (r.Chance(0.9)) {
        l->set_key("incident");
        l->set_value(absl::StrCat("INC-", r.N(1, 300)));
      } else {
        l->set_key("campaign");
      }
    } else if (k < 970) {  // severity only: 0.5%
      min_severity(5);
      f.add_conditions()->set_max_tlp(v1::TLP_CLEAR);
    } else {  // a whole TLD for one category family: 3%
      f.add_conditions()->mutable_domain()->add_zones(r.Pick(kTlds));
      category(r.Chance(0.5) ? "dns.*" : "registry.*", false);
    }
    return f;
  }

  const uint64_t seed_;
  Rng rng_;
  std::vector<std::string> origins_;
  std::vector<std::string> zones_;
  std::vector<V4> v4_;
  std::vector<V6> v6_;
  std::vector<uint32_t> asns_;
};

// ---------------------------------------------------------------------------
// The node, as a child process.


// The ledger's writer thread is the only one that syncs SQLite's files:
// sample every thread's current system call and take the one most often
// found in fsync(2)/fdatasync(2)/pwrite64(2) (x86-64 numbers 74, 75, 18).
// Returns 0 if none was seen. Samples until `until`.
int FindWriterThread(const NodeProcess& node, SteadyClock::time_point until) {
  std::map<int, int> hits;
  while (SteadyClock::now() < until) {
    for (int tid : node.Threads()) {
      int nr = node.SyscallOf(tid);
      if (nr == 74 || nr == 75 || nr == 18) ++hits[tid];
    }
    std::this_thread::sleep_for(std::chrono::microseconds(500));
  }
  int best = 0, most = 0;
  for (auto [tid, n] : hits) {
    if (n > most) {
      best = tid;
      most = n;
    }
  }
  return best;
}

struct CpuPerAlert {
  double writer_us = 0;
  double waker_us = 0;
  double process_us = 0;
};

// CPU time of the node's writer thread, wake-up thread and whole process
// between calls to Take(). A tid of 0 reads as 0.
class CpuMeter {
 public:
  CpuMeter(const NodeProcess* node, int writer, int waker)
      : node_(node), writer_(writer), waker_(waker) {
    Read(&writer_s_, &waker_s_, &process_s_);
  }
  // Per alert since the last Take (or construction), over `alerts` alerts.
  CpuPerAlert Take(double alerts) {
    double w, k, p;
    Read(&w, &k, &p);
    CpuPerAlert c{(w - writer_s_) * 1e6 / alerts, (k - waker_s_) * 1e6 / alerts,
                  (p - process_s_) * 1e6 / alerts};
    writer_s_ = w;
    waker_s_ = k;
    process_s_ = p;
    return c;
  }

 private:
  void Read(double* w, double* k, double* p) const {
    *w = writer_ != 0 ? node_->ThreadCpuSeconds(writer_) : 0;
    *k = waker_ != 0 ? node_->ThreadCpuSeconds(waker_) : 0;
    *p = node_->CpuSeconds();
  }
  const NodeProcess* const node_;
  const int writer_, waker_;
  double writer_s_ = 0, waker_s_ = 0, process_s_ = 0;
};

// ---------------------------------------------------------------------------
// Subscribers.

struct Delivery {
  int64_t at_ns;  // receipt, NowNs()
  int32_t n;      // alert number (from its title)
};

int32_t AlertNumber(const v1::SubscribeResponse& r) {
  Alert a;
  if (!a.ParseFromString(r.envelope().payload())) return -1;
  size_t hash = a.title().rfind('#');
  int32_t n = -1;
  if (hash == std::string::npos || !absl::SimpleAtoi(a.title().substr(hash + 1), &n)) return -1;
  return n;
}

// One Subscribe stream. A stalled one starts without reading; Unstall()
// makes it read everything that reaches it until the stream ends.
class Subscriber final : public grpc::ClientReadReactor<v1::SubscribeResponse> {
 public:
  Subscriber(v1::Node::Stub* stub, Filters filters, uint64_t cursor, bool stalled,
             std::atomic<int64_t>* received)
      : stub_(stub), stalled_(stalled), received_(received) {
    *req_.mutable_filters() = std::move(filters);
    req_.set_cursor(cursor);
  }

  void Start() {
    stub_->async()->Subscribe(&ctx_, &req_, this);
    if (!stalled_) StartRead(&resp_);
    StartCall();
  }
  // Call once, on a stalled subscriber, from any thread.
  void Unstall() { StartRead(&resp_); }
  void Cancel() { ctx_.TryCancel(); }

  void OnReadDone(bool ok) override {
    if (!ok) return;  // OnDone follows
    deliveries_.push_back({NowNs(), AlertNumber(resp_)});
    if (first_cursor_ == 0) first_cursor_ = resp_.cursor();
    last_cursor_ = resp_.cursor();
    bytes_ += resp_.ByteSizeLong();
    received_->fetch_add(1, std::memory_order_relaxed);
    StartRead(&resp_);
  }

  void OnDone(const grpc::Status& s) override {
    std::lock_guard<std::mutex> lock(mu_);
    status_ = s;
    for (const auto& [k, v] : ctx_.GetServerTrailingMetadata()) {
      if (k == grpc::string_ref(kResumeKey)) resume_cursor_ = std::string(v.data(), v.size());
    }
    done_ = true;
    cv_.notify_all();
  }

  bool WaitDone(double seconds) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::duration<double>(seconds), [this] { return done_; });
  }
  bool done() {
    std::lock_guard<std::mutex> lock(mu_);
    return done_;
  }

  // Valid after WaitDone() returned true.
  const std::vector<Delivery>& deliveries() const { return deliveries_; }
  uint64_t first_cursor() const { return first_cursor_; }
  uint64_t last_cursor() const { return last_cursor_; }
  int64_t bytes() const { return bytes_; }
  const grpc::Status& status() const { return status_; }
  const std::string& resume_cursor() const { return resume_cursor_; }

 private:
  v1::Node::Stub* const stub_;
  const bool stalled_;
  std::atomic<int64_t>* const received_;
  grpc::ClientContext ctx_;
  v1::SubscribeRequest req_;
  v1::SubscribeResponse resp_;
  std::vector<Delivery> deliveries_;  // touched only by the reactor's callbacks
  uint64_t first_cursor_ = 0;
  uint64_t last_cursor_ = 0;
  int64_t bytes_ = 0;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  grpc::Status status_;
  std::string resume_cursor_;
};

std::unique_ptr<v1::Node::Stub> NewStub(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // its own TCP connection
  return v1::Node::NewStub(
      grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args));
}

// ---------------------------------------------------------------------------
// The publisher: alerts at a steady rate, 3 of 4 published by the node, 1 of 4
// ingested from a peer origin (its feed chained here; one call in flight per
// peer, so that its sequences arrive in order).

struct Peer {
  std::string origin;
  certs::SigningKey key;
  uint64_t sequence = 0;
  std::string previous;
  bool busy = false;
  bool dead = false;
};

class Publisher {
 public:
  Publisher(v1::Node::Stub* stub, const Workload* workload, std::vector<Peer>* peers,
            double rate, int64_t total)
      : stub_(stub), workload_(workload), peers_(peers), rate_(rate),
        intended_ns_(total), ack_ns_(total), ok_(total), origin_(total, -1) {}

  // Sends alerts [begin, end) at the rate, from now; returns when all are
  // answered.
  void Run(int64_t begin, int64_t end) {
    const int64_t t0 = NowNs() + 1000000;
    for (int64_t n = begin; n < end; ++n) {
      intended_ns_[n] = t0 + static_cast<int64_t>((n - begin) * 1e9 / rate_);
      std::this_thread::sleep_until(g_epoch + std::chrono::nanoseconds(intended_ns_[n]));
      lag_ms_.push_back((NowNs() - intended_ns_[n]) / 1e6);
      Send(n);
    }
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return in_flight_ == 0; });
  }

  int64_t intended_ns(int64_t n) const { return intended_ns_[n]; }
  int64_t ack_ns(int64_t n) const { return ack_ns_[n].load(); }
  bool ok(int64_t n) const { return ok_[n].load(); }
  // -1: the node's own; else the index in peers.
  int origin(int64_t n) const { return origin_[n]; }
  uint64_t last_cursor() const { return last_cursor_.load(); }
  int64_t errors() const { return errors_.load(); }
  // How late the sender itself issued each call, in ms.
  const std::vector<double>& lag_ms() const { return lag_ms_; }
  std::string first_error() {
    std::lock_guard<std::mutex> lock(mu_);
    return first_error_;
  }

 private:
  struct Call {
    grpc::ClientContext ctx;
    v1::PublishRequest publish;
    v1::PublishResponse published;
    v1::IngestRequest ingest;
    v1::IngestResponse ingested;
  };

  void Send(int64_t n) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++in_flight_;
    }
    auto* call = new Call;
    call->ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    int peer = n % 4 == 3 ? TakePeer() : -1;
    origin_[n] = peer;
    if (peer < 0) {
      *call->publish.mutable_alert() = workload_->Draft(n);
      stub_->async()->Publish(&call->ctx, &call->publish, &call->published,
                              [this, call, n](grpc::Status st) {
                                Done(n, -1, call->published.cursor(), st);
                                delete call;
                              });
      return;
    }
    Peer& p = (*peers_)[peer];
    Alert a = workload_->Stored(n, p.origin);
    a.set_sequence(++p.sequence);
    a.set_previous(p.previous);
    const int64_t us = std::chrono::duration_cast<std::chrono::microseconds>(
                           std::chrono::system_clock::now().time_since_epoch()).count();
    a.mutable_issued_at()->set_seconds(us / 1000000);
    a.mutable_issued_at()->set_nanos(static_cast<int32_t>(us % 1000000) * 1000);
    std::string payload = a.SerializeAsString();
    p.previous = certs::AlertId(payload);
    *call->ingest.mutable_envelope() =
        certs::SignEnvelope(payload, certs::kAlertPayloadType, p.key);
    stub_->async()->Ingest(&call->ctx, &call->ingest, &call->ingested,
                           [this, call, n, peer](grpc::Status st) {
                             Done(n, peer, call->ingested.cursor(), st);
                             delete call;
                           });
  }

  // A peer with no ingest in flight, round robin; -1 if none.
  int TakePeer() {
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t i = 0; i < peers_->size(); ++i) {
      int p = static_cast<int>((next_peer_ + i) % peers_->size());
      Peer& peer = (*peers_)[p];
      if (!peer.busy && !peer.dead) {
        peer.busy = true;
        next_peer_ = p + 1;
        return p;
      }
    }
    return -1;
  }

  void Done(int64_t n, int peer, uint64_t cursor, const grpc::Status& st) {
    ack_ns_[n].store(NowNs());
    ok_[n].store(st.ok());
    if (st.ok()) {
      uint64_t c = last_cursor_.load();
      while (cursor > c && !last_cursor_.compare_exchange_weak(c, cursor)) {
      }
    } else {
      errors_.fetch_add(1);
    }
    std::lock_guard<std::mutex> lock(mu_);
    if (!st.ok() && first_error_.empty()) {
      first_error_ = absl::StrCat(peer < 0 ? "publish" : "ingest", " of alert ", n, ": ",
                                  st.error_message());
    }
    if (peer >= 0) {
      (*peers_)[peer].busy = false;
      if (!st.ok()) (*peers_)[peer].dead = true;  // its chain is broken now
    }
    if (--in_flight_ == 0) cv_.notify_all();
  }

  v1::Node::Stub* const stub_;
  const Workload* const workload_;
  std::vector<Peer>* const peers_;
  const double rate_;
  std::vector<int64_t> intended_ns_;
  std::vector<std::atomic<int64_t>> ack_ns_;
  std::vector<std::atomic<bool>> ok_;
  std::vector<int8_t> origin_;
  std::vector<double> lag_ms_;
  std::atomic<uint64_t> last_cursor_{0};
  std::atomic<int64_t> errors_{0};
  std::mutex mu_;
  std::condition_variable cv_;
  int64_t in_flight_ = 0;
  size_t next_peer_ = 0;
  std::string first_error_;
};

// ---------------------------------------------------------------------------
// Node memory and CPU, sampled every second on a thread.

struct Sample {
  double t_s;
  int phase;
  double rss_mib;
};

class Sampler {
 public:
  explicit Sampler(const NodeProcess* node) : node_(node), thread_([this] { Loop(); }) {}
  ~Sampler() { Stop(); }
  // Call before the node stops.
  void Stop() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
  }
  void set_phase(int p) { phase_.store(p); }
  std::vector<Sample> samples() {
    std::lock_guard<std::mutex> lock(mu_);
    return samples_;
  }

 private:
  void Loop() {
    const auto start = SteadyClock::now();
    for (int i = 1; !stop_.load(); ++i) {
      std::this_thread::sleep_until(start + std::chrono::seconds(i));
      if (stop_.load()) break;
      Sample s{SecondsSince(start), phase_.load(), node_->Memory().rss_mib};
      std::lock_guard<std::mutex> lock(mu_);
      samples_.push_back(s);
    }
  }

  const NodeProcess* const node_;
  std::atomic<bool> stop_{false};
  std::atomic<int> phase_{0};
  std::mutex mu_;
  std::vector<Sample> samples_;
  std::thread thread_;
};

// Least-squares slope of rss over t, MiB/s.
double Slope(const std::vector<Sample>& s) {
  if (s.size() < 2) return 0;
  double mt = 0, mr = 0;
  for (const Sample& x : s) {
    mt += x.t_s;
    mr += x.rss_mib;
  }
  mt /= s.size();
  mr /= s.size();
  double num = 0, den = 0;
  for (const Sample& x : s) {
    num += (x.t_s - mt) * (x.rss_mib - mr);
    den += (x.t_s - mt) * (x.t_s - mt);
  }
  return den > 0 ? num / den : 0;
}

// Waits until no delivery has arrived for `quiet_s` (at most `max_s`).
void WaitQuiet(const std::atomic<int64_t>& received, double quiet_s, double max_s) {
  const auto start = SteadyClock::now();
  int64_t last = received.load();
  auto changed = SteadyClock::now();
  while (SecondsSince(start) < max_s && SecondsSince(changed) < quiet_s) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    int64_t now = received.load();
    if (now != last) {
      last = now;
      changed = SteadyClock::now();
    }
  }
}

// ---------------------------------------------------------------------------
// Matching cost, FilterIndex vs brute force, with the node stopped.

struct MatchFigures {
  size_t subscriptions = 0;
  size_t filters = 0;
  double matches_per_alert = 0;
  double index_ns = 0;  // median over reps, per alert
  double brute_ns = 0;  // median over reps, per alert
};

MatchFigures TimeMatching(const std::vector<std::shared_ptr<const node::Matcher>>& matchers,
                          const std::vector<node::AlertFacts>& facts, int reps,
                          size_t brute_alerts) {
  node::FilterIndex index;
  for (size_t i = 0; i < matchers.size(); ++i) index.Add(i, matchers[i]);
  MatchFigures m;
  m.subscriptions = index.subscription_count();
  m.filters = index.filter_count();
  brute_alerts = std::min(brute_alerts, facts.size());
  std::vector<double> index_ns, brute_ns;
  std::vector<node::FilterIndex::SubscriptionId> ids;
  for (int rep = 0; rep < reps; ++rep) {
    size_t matches = 0;
    auto t0 = SteadyClock::now();
    for (const node::AlertFacts& f : facts) {
      ids.clear();
      index.Match(f, &ids);
      matches += ids.size();
    }
    index_ns.push_back(SecondsSince(t0) * 1e9 / facts.size());
    m.matches_per_alert = static_cast<double>(matches) / facts.size();

    std::vector<std::vector<node::FilterIndex::SubscriptionId>> brute(brute_alerts);
    t0 = SteadyClock::now();
    for (size_t a = 0; a < brute_alerts; ++a) {
      for (size_t s = 0; s < matchers.size(); ++s) {
        if (matchers[s]->Matches(facts[a])) brute[a].push_back(s);
      }
    }
    brute_ns.push_back(SecondsSince(t0) * 1e9 / std::max<size_t>(brute_alerts, 1));
    for (size_t a = 0; a < brute_alerts; ++a) {
      ids.clear();
      index.Match(facts[a], &ids);
      std::sort(ids.begin(), ids.end());
      if (ids != brute[a]) Die(absl::StrCat("FilterIndex and brute force differ on alert ", a));
    }
  }
  m.index_ns = Median(index_ns);
  m.brute_ns = Median(brute_ns);
  return m;
}

// ---------------------------------------------------------------------------

struct Latency {
  std::vector<double> ms;
  void Add(double v) { ms.push_back(v); }
  std::string Text() const {
    char buf[96];
    std::snprintf(buf, sizeof(buf), "p50 %.2f ms, p99 %.2f ms, max %.2f ms",
                  Percentile(ms, 50), Percentile(ms, 99), Max(ms));
    return buf;
  }
};

int64_t IntFlag(int argc, char** argv, const char* name, const char* def) {
  std::string v = FlagValue(argc, argv, name, def);
  int64_t n = 0;
  if (!absl::SimpleAtoi(v, &n) || n <= 0) {
    std::fprintf(stderr, "error: --%s=%s: want a positive integer\n", name, v.c_str());
    std::exit(2);
  }
  return n;
}

std::string WriteConfig(const TempDir& dir, const v1::NodeConfig& config) {
  std::string text;
  google::protobuf::TextFormat::PrintToString(config, &text);
  std::string path = dir.Join("node.conf");
  std::ofstream(path) << text;
  return path;
}

const char* Verdict(bool met) { return met ? "MET" : "MISSED"; }

int Main(int argc, char** argv) {
  const bool smoke = HasFlag(argc, argv, "smoke");
  const std::string binary = FlagValue(argc, argv, "binary", WF_WATCHFLOOR_BINARY);
  const int subscribers = static_cast<int>(IntFlag(argc, argv, "subscribers", smoke ? "50" : "1000"));
  const int per_conn = static_cast<int>(IntFlag(argc, argv, "per_connection", "10"));
  const double rate = static_cast<double>(IntFlag(argc, argv, "rate", smoke ? "400" : "1000"));
  const int64_t live_alerts =
      smoke ? 200 : static_cast<int64_t>(rate * IntFlag(argc, argv, "seconds", "10"));
  const int64_t base_alerts =
      smoke ? 100 : static_cast<int64_t>(rate * IntFlag(argc, argv, "baseline_seconds", "5"));
  const int64_t stall_alerts = smoke ? 200 : IntFlag(argc, argv, "stall_alerts", "50000");
  const int index_subs = static_cast<int>(
      IntFlag(argc, argv, "index_subscriptions", smoke ? "2000" : "10000"));
  const uint64_t seed = static_cast<uint64_t>(IntFlag(argc, argv, "seed", "20240501"));
  const double settle_s = smoke ? 0.3 : 2;

  TempDir dir(FlagValue(argc, argv, "dir", ""));
  std::printf("subscription_bench%s: `%s node` as a child process; %d filtered subscribers "
              "(%d per connection), %.0f alerts/s: baseline %lld, live %lld, stalled %lld alerts\n",
              smoke ? " --smoke" : "", binary.c_str(), subscribers, per_conn, rate,
              static_cast<long long>(base_alerts), static_cast<long long>(live_alerts),
              static_cast<long long>(stall_alerts));
  PrintMachineHeader(dir.path());

  // Node config: this node plus 16 peer origins whose alerts it ingests.
  v1::NodeConfig config = MakeNodeConfig(dir, kOrigin);
  std::vector<Peer> peers;
  for (const char* origin : kPeers) {
    Peer p{origin, certs::SigningKey::Generate(), 0, "", false, false};
    std::string path = dir.Join(absl::StrCat("peer", peers.size(), ".pub"));
    std::ofstream(path) << p.key.public_key().ToPem();
    auto* k = config.add_known_origins();
    k->set_origin(origin);
    k->set_public_key_file(path);
    peers.push_back(std::move(p));
  }
  const std::string config_path = WriteConfig(dir, config);

  Workload workload(seed);
  std::vector<Filters> subs;
  for (int i = 0; i < subscribers; ++i) subs.push_back(workload.Subscription(true));

  const int64_t total = base_alerts + live_alerts + stall_alerts;
  const int64_t live_begin = base_alerts, stall_begin = base_alerts + live_alerts;

  NodeProcess node(binary, config_path);
  Sampler sampler(&node);
  auto publish_stub = NewStub(node.address());
  Publisher publisher(publish_stub.get(), &workload, &peers, rate, total);
  std::atomic<int64_t> received{0};

  // Baseline: no subscribers. Find the writer thread meanwhile.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const MemoryFigures idle0 = node.Memory();
  int writer = 0;
  std::thread finder([&] {
    writer = FindWriterThread(node, SteadyClock::now() + std::chrono::duration_cast<
                                        SteadyClock::duration>(std::chrono::duration<double>(
                                        std::min(1.5, 0.8 * base_alerts / rate))));
  });
  publisher.Run(0, base_alerts / 2);  // warm-up half: SQLite and the WAL grow
  finder.join();
  const int waker = node.ThreadNamed("wf-hub-wake");  // 0 in nodes before it existed
  CpuMeter cpu(&node, writer, waker);
  publisher.Run(base_alerts / 2, base_alerts);
  const CpuPerAlert cpu_base = cpu.Take(base_alerts - base_alerts / 2);
  const MemoryFigures idle = node.Memory();

  // Live: the subscribers connect after the baseline's last alert.
  sampler.set_phase(1);
  std::vector<std::unique_ptr<v1::Node::Stub>> stubs;
  std::vector<std::unique_ptr<Subscriber>> live;
  for (int i = 0; i < subscribers; ++i) {
    if (i % per_conn == 0) stubs.push_back(NewStub(node.address()));
    live.push_back(std::make_unique<Subscriber>(stubs.back().get(), subs[i],
                                                publisher.last_cursor(), false, &received));
    live.back()->Start();
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(settle_s));
  const MemoryFigures connected = node.Memory();
  cpu.Take(1);
  publisher.Run(live_begin, stall_begin);
  const CpuPerAlert cpu_live = cpu.Take(live_alerts);
  WaitQuiet(received, 0.3, 5);
  const MemoryFigures after_live = node.Memory();

  // Stalled: one more subscriber, no filter, never reads.
  auto stalled_stub = NewStub(node.address());
  Subscriber stalled(stalled_stub.get(), Filters(), publisher.last_cursor(), true, &received);
  stalled.Start();
  std::this_thread::sleep_for(std::chrono::duration<double>(settle_s / 2));
  sampler.set_phase(2);
  cpu.Take(1);
  publisher.Run(stall_begin, total);
  const CpuPerAlert cpu_stall = cpu.Take(stall_alerts);
  WaitQuiet(received, 0.3, 5);
  sampler.set_phase(3);
  const MemoryFigures after_stall = node.Memory();
  const bool stalled_ended_early = stalled.done();

  // The stalled subscriber reads again: what was held for it, then the status
  // (or, if it never fell behind, until nothing more comes).
  stalled.Unstall();
  WaitQuiet(received, smoke ? 0.5 : 2, 30);
  const bool stalled_done = stalled.WaitDone(smoke ? 0.2 : 1);
  for (auto& s : live) s->Cancel();
  for (auto& s : live) {
    if (!s->WaitDone(30)) Die("a subscriber did not end within 30 s of being cancelled");
  }
  if (!stalled_done) {
    stalled.Cancel();
    stalled.WaitDone(30);
  }
  sampler.Stop();
  const std::vector<Sample> samples = sampler.samples();
  node.Stop();

  if (publisher.errors() > 0) {
    Die(absl::StrCat(publisher.errors(), " publish/ingest calls failed; first: ",
                     publisher.first_error()));
  }

  // Facts of every alert as stored, and each subscription's Matcher.
  std::vector<std::shared_ptr<const node::Matcher>> matchers;
  for (const Filters& f : subs) {
    auto m = node::Matcher::Compile(f);
    if (!m.ok()) Die("generated filter does not compile: " + m.status().ToString());
    matchers.push_back(*m);
  }
  auto facts_of = [&](int64_t n) {
    int o = publisher.origin(n);
    return node::AlertFacts::From(workload.Stored(n, o < 0 ? kOrigin : kPeers[o]));
  };

  // Deliveries vs the filters, per phase: expected from the index (which the
  // matching section checks against brute force).
  node::FilterIndex expected_index;
  for (size_t i = 0; i < matchers.size(); ++i) expected_index.Add(i, matchers[i]);
  std::vector<std::vector<int32_t>> expected(subscribers);
  std::vector<node::FilterIndex::SubscriptionId> ids;
  for (int64_t n = live_begin; n < total; ++n) {
    ids.clear();
    expected_index.Match(facts_of(n), &ids);
    for (auto id : ids) expected[id].push_back(static_cast<int32_t>(n));
  }
  Latency live_lat, stall_lat, live_after_ack, stall_after_ack;
  int64_t missing = 0, unexpected = 0, duplicates = 0, live_deliveries = 0, stall_deliveries = 0;
  int ended_early = 0;
  std::string early_status;
  for (int i = 0; i < subscribers; ++i) {
    const Subscriber& s = *live[i];
    if (s.status().error_code() != grpc::StatusCode::CANCELLED) {
      if (ended_early++ == 0) early_status = s.status().error_message();
    }
    std::vector<int32_t> got;
    for (const Delivery& d : s.deliveries()) {
      got.push_back(d.n);
      if (d.n < live_begin || d.n >= total) continue;
      double from_send = (d.at_ns - publisher.intended_ns(d.n)) / 1e6;
      double from_ack = (d.at_ns - publisher.ack_ns(d.n)) / 1e6;
      if (d.n < stall_begin) {
        live_lat.Add(from_send);
        live_after_ack.Add(from_ack);
        ++live_deliveries;
      } else {
        stall_lat.Add(from_send);
        stall_after_ack.Add(from_ack);
        ++stall_deliveries;
      }
    }
    std::sort(got.begin(), got.end());
    size_t before = got.size();
    got.erase(std::unique(got.begin(), got.end()), got.end());
    duplicates += before - got.size();
    std::vector<int32_t> diff;
    std::set_difference(expected[i].begin(), expected[i].end(), got.begin(), got.end(),
                        std::back_inserter(diff));
    missing += diff.size();
    diff.clear();
    std::set_difference(got.begin(), got.end(), expected[i].begin(), expected[i].end(),
                        std::back_inserter(diff));
    unexpected += diff.size();
  }
  Latency live_ack, stall_ack;
  for (int64_t n = live_begin; n < total; ++n) {
    (n < stall_begin ? live_ack : stall_ack).Add(
        (publisher.ack_ns(n) - publisher.intended_ns(n)) / 1e6);
  }
  Latency base_ack;
  for (int64_t n = 0; n < base_alerts; ++n) {
    base_ack.Add((publisher.ack_ns(n) - publisher.intended_ns(n)) / 1e6);
  }

  // Matching: the run's subscriptions, then --index_subscriptions of the same
  // generator, over the live phase's alerts.
  std::vector<node::AlertFacts> facts;
  for (int64_t n = live_begin; n < stall_begin; ++n) facts.push_back(facts_of(n));
  const int reps = smoke ? 1 : 5;
  MatchFigures m_run = TimeMatching(matchers, facts, reps, smoke ? 200 : 2000);
  std::vector<std::shared_ptr<const node::Matcher>> more = matchers;
  for (int i = subscribers; i < index_subs; ++i) {
    auto m = node::Matcher::Compile(workload.Subscription(false));
    if (!m.ok()) Die("generated filter does not compile: " + m.status().ToString());
    more.push_back(*m);
  }
  MatchFigures m_big = TimeMatching(more, facts, reps, smoke ? 100 : 1000);
  // The hub's other per-alert work outside its lock: payload -> AlertFacts.
  std::vector<std::string> payloads;
  for (int64_t n = live_begin; n < stall_begin; ++n) {
    int o = publisher.origin(n);
    payloads.push_back(workload.Stored(n, o < 0 ? kOrigin : kPeers[o]).SerializeAsString());
  }
  auto t0 = SteadyClock::now();
  for (const std::string& p : payloads) {
    node::StoredAlert s;
    s.envelope.set_payload(p);
    node::AlertRef r = node::MakeAlertRef(std::move(s));
    if (r->facts.category.empty()) Die("payload did not parse");
  }
  const double facts_ns = SecondsSince(t0) * 1e9 / payloads.size();

  // ------------------------------------------------------------------ report
  std::printf("\nMatching: FilterIndex::Match vs brute force (every subscription's Matcher), "
              "same filters, the %zu alerts of the live phase, median of %d reps\n",
              facts.size(), reps);
  std::printf("  %-14s %-8s %13s %15s %15s %12s\n", "subscriptions", "filters",
              "matches/alert", "index ns/alert", "brute ns/alert", "brute/index");
  for (const MatchFigures* m : {&m_run, &m_big}) {
    std::printf("  %-14zu %-8zu %13.1f %15.0f %15.0f %11.0fx\n", m->subscriptions, m->filters,
                m->matches_per_alert, m->index_ns, m->brute_ns, m->brute_ns / m->index_ns);
  }
  std::printf("  target <= %.0f ns/alert with 10,000 filters: %s (%zu filters: %.0f ns)\n",
              kTargetMatchNs, Verdict(m_big.index_ns <= kTargetMatchNs), m_big.filters,
              m_big.index_ns);
  std::printf("  the hub's other per-alert step (MakeAlertRef: parse payload, AlertFacts): "
              "%.0f ns/alert\n", facts_ns);

  std::printf("\nNode CPU per alert, us (writer = the Ledger's thread, tid %d, found in "
              "SQLite's syncs; wake-up = the hub's wf-hub-wake thread%s; process = all "
              "threads):\n", writer, waker != 0 ? "" : ", absent in this binary");
  std::printf("  %-38s %10s %10s %10s\n", "phase", "writer", "wake-up", "process");
  const std::pair<std::string, const CpuPerAlert*> rows[] = {
      {"baseline, 0 subscribers (reference)", &cpu_base},
      {absl::StrCat("live, ", subscribers, " subscribers"), &cpu_live},
      {"stalled, + 1 stalled subscriber", &cpu_stall}};
  for (const auto& [name, c] : rows) {
    std::printf("  %-38s %10.1f %10.1f %10.1f\n", name.c_str(), c->writer_us, c->waker_us,
                c->process_us);
  }
  if (writer != 0) {
    std::printf("  writer-thread fan-out (live - baseline): %+.1f us/alert, ratio live/baseline "
                "%.2f\n", cpu_live.writer_us - cpu_base.writer_us,
                cpu_live.writer_us / cpu_base.writer_us);
  } else {
    std::printf("  writer thread not identified (no readable /proc/<pid>/task/*/syscall)\n");
  }

  const double lp99 = Percentile(live_lat.ms, 99), ap99 = Percentile(live_ack.ms, 99);
  std::printf("\nDelivery, live phase: %lld alerts, %lld deliveries (%.1f per alert)\n",
              static_cast<long long>(live_alerts), static_cast<long long>(live_deliveries),
              static_cast<double>(live_deliveries) / live_alerts);
  std::printf("  checked against the filters (live + stalled phases): %lld missing, %lld "
              "unexpected, %lld duplicates; %d subscribers ended before being cancelled%s%s\n",
              static_cast<long long>(missing), static_cast<long long>(unexpected),
              static_cast<long long>(duplicates), ended_early,
              ended_early ? ", first: " : "", early_status.c_str());
  std::printf("  scheduled send -> receipt:        %s\n", live_lat.Text().c_str());
  std::printf("  reference, scheduled send -> ack: %s (same alerts)\n", live_ack.Text().c_str());
  std::printf("  ratio delivery p99 / ack p99: %.2f\n", lp99 / ap99);
  std::printf("  receipt - ack of the same alert:  p50 %.2f ms, p99 %.2f ms\n",
              Percentile(live_after_ack.ms, 50), Percentile(live_after_ack.ms, 99));
  std::printf("  baseline ack (0 subscribers):     %s\n", base_ack.Text().c_str());
  std::printf("  sender lag (all phases) p99 %.2f ms, max %.2f ms\n",
              Percentile(publisher.lag_ms(), 99),
              Max(publisher.lag_ms()));
  std::printf("  target delivery p99 <= %.0f ms: %s\n", kTargetP99Ms,
              Verdict(lp99 <= kTargetP99Ms));

  const double sp99 = Percentile(stall_lat.ms, 99);
  std::printf("\nWith one stalled subscriber: %lld alerts, the others got %lld deliveries "
              "(%.1f per alert)\n", static_cast<long long>(stall_alerts),
              static_cast<long long>(stall_deliveries),
              static_cast<double>(stall_deliveries) / stall_alerts);
  std::printf("  scheduled send -> receipt:        %s\n", stall_lat.Text().c_str());
  std::printf("  scheduled send -> ack:            %s\n", stall_ack.Text().c_str());
  std::printf("  receipt - ack of the same alert:  p50 %.2f ms, p99 %.2f ms\n",
              Percentile(stall_after_ack.ms, 50), Percentile(stall_after_ack.ms, 99));
  std::printf("  reference, live phase delivery p99 %.2f ms: ratio stalled/live p99 %.2f; "
              "delivery p99 / ack p99 %.2f here vs %.2f in the live phase\n",
              lp99, sp99 / lp99, sp99 / Percentile(stall_ack.ms, 99), lp99 / ap99);

  std::vector<Sample> stall_samples, tail;
  for (const Sample& s : samples) {
    if (s.phase == 2) stall_samples.push_back(s);
  }
  for (size_t i = stall_samples.size() / 2; i < stall_samples.size(); ++i) {
    tail.push_back(stall_samples[i]);
  }
  double stall_max = 0;
  for (const Sample& s : stall_samples) stall_max = std::max(stall_max, s.rss_mib);
  stall_max = std::max(stall_max, after_stall.rss_mib);
  const double slope = Slope(tail);
  std::printf("\nNode memory (VmRSS, MiB):\n");
  std::printf("  idle at start %.1f; after baseline (%lld alerts) %.1f (reference)\n",
              idle0.rss_mib, static_cast<long long>(base_alerts), idle.rss_mib);
  std::printf("  %d subscribers connected, idle %.1f (+%.1f KiB per subscriber); after the "
              "live phase %.1f\n", subscribers, connected.rss_mib,
              (connected.rss_mib - idle.rss_mib) * 1024 / subscribers, after_live.rss_mib);
  std::printf("  stalled phase: max %.1f, at end %.1f; ratio max / after live %.2f, "
              "max / idle %.2f\n", stall_max, after_stall.rss_mib,
              stall_max / after_live.rss_mib, stall_max / idle.rss_mib);
  std::printf("  slope over the last half of the stalled phase (%zu samples): %+.3f MiB/s "
              "(%+.2f MiB per 10,000 alerts); VmHWM at end %.1f\n", tail.size(), slope,
              slope * 10000 / rate, after_stall.hwm_mib);
  std::printf("  samples (s:MiB, phase s=stalled):");
  for (const Sample& s : samples) {
    if (s.phase >= 1) std::printf(" %.0f%s:%.1f", s.t_s, s.phase == 2 ? "s" : "", s.rss_mib);
  }
  std::printf("\n");

  std::printf("\nStalled subscriber (no filter, never read during %lld alerts):\n",
              static_cast<long long>(stall_alerts));
  std::printf("  stream %s before it read again\n",
              stalled_ended_early ? "HAD ENDED" : "was still open");
  std::printf("  on reading: %zu alerts (%.1f MiB of messages; cursors %llu..%llu), then ",
              stalled.deliveries().size(), stalled.bytes() / 1048576.0,
              static_cast<unsigned long long>(stalled.first_cursor()),
              static_cast<unsigned long long>(stalled.last_cursor()));
  if (!stalled_done) {
    std::printf("no status: it had not fallen behind, so its stream stayed open (cancelled)\n");
  } else {
    std::printf("status %d \"%s\", %s=%s (%s the last cursor received)\n",
                stalled.status().error_code(), stalled.status().error_message().c_str(),
                kResumeKey, stalled.resume_cursor().empty() ? "(none)"
                                                            : stalled.resume_cursor().c_str(),
                stalled.resume_cursor() == absl::StrCat(stalled.last_cursor()) ? "equals"
                                                                                : "DIFFERS FROM");
  }
  std::printf("\nload average at end: %.2f\n", LoadAverage1());
  if (missing + unexpected + duplicates > 0 || ended_early > 0) {
    std::fprintf(stderr, "error: deliveries do not match the filters\n");
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace watchfloor::bench

namespace {
constexpr char kUsage[] = R"(
subscription_bench: filtered live subscriptions on a real node, in one run.

Usage: subscription_bench [--binary=build/node/cli/watchfloor]
         [--subscribers=1000] [--per_connection=10] [--rate=1000]
         [--seconds=10] [--baseline_seconds=5] [--stall_alerts=50000]
         [--index_subscriptions=10000] [--seed=20240501] [--dir=/tmp]
       subscription_bench --smoke   (a < 5 s check that everything works)
)";
}  // namespace

int main(int argc, char** argv) {
  watchfloor::bench::CheckFlags(argc, argv, kUsage,
                                {"baseline_seconds", "binary", "dir", "index_subscriptions",
                                 "per_connection", "rate", "seconds", "seed", "smoke",
                                 "stall_alerts", "subscribers"});
  return watchfloor::bench::Main(argc, argv);
}
