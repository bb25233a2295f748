// federation_bench: propagation latency, duplicate copies and anti-entropy
// bytes of a real federation: N member nodes (NodeServer) in this process on
// 127.0.0.1, real mutual TLS between them and to their clients, real SQLite
// (WAL, synchronous=FULL) in temporary data dirs. Everything is minted here:
// member keys, member CAs, node and client certificates, node signing keys
// and a genesis roster signed by a majority of the members.
//
//  propagation  For each N in --nodes: every node gets a live Subscribe
//               stream (its member's client certificate); one sender
//               publishes open loop at --rate alerts/s, round robin at all
//               nodes through each member's own client (--publish_at=one:
//               all at node 0), --warmup alerts first (Plumtree prunes its
//               eager links meanwhile), then --seconds of measured alerts.
//               Latency of an alert: from its issued_at (stamped by the
//               origin's ledger when it signs) to its arrival on the LAST
//               node's stream; same process, same clock.
//               Duplicates: sum over nodes of Gossip::stats().received_dup
//               during the measured alerts / (alerts x (N - 1)).
//               References from the same run: publish ack latency at the
//               origin, delivery on the origin's own stream, and an mTLS
//               GetIdentity round trip idle and under the load; CPU used by
//               this process and by the machine, the share of it that
//               Ed25519 verification and signing take (counted ops x the
//               per-CPU-second rates measured here), and CPU by thread name
//               (the nodes' own threads, gRPC's, the benchmark's clients).
//  anti-entropy Two running nodes and a third member whose --origins nodes
//               exist only in the roster: their signing keys sign K alerts
//               (round robin over the origins), ingested into both nodes
//               through Ledger::Ingest. Then Gossip::AntiEntropyWith between
//               the two identical nodes, for K = 1,000 and 100,000 and for
//               1, 10 and 100 origins: bytes should follow origins, not
//               alerts. Then d = 10, 100, 1000 alerts more at one node only:
//               the other must pull exactly d envelopes for about d envelope
//               sizes plus a constant.
//
// Usage: federation_bench [--nodes=5,10] [--rate=1000] [--seconds=10]
//                         [--warmup=1000] [--runs=3] [--publish_at=all|one]
//                         [--ae_interval_ms=2000] [--ae_alerts=1000,100000]
//                         [--ae_origins=1,10,100] [--ae_diffs=10,100,1000]
//                         [--diff_origins=10] [--wait_idle=0.3]
//                         [--skip_propagation] [--skip_anti_entropy] [--dir=/tmp]
//        federation_bench --smoke   (a ~5 s check that everything works)
#include <dirent.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "bench/bench_util.h"
#include "certs/dsse.h"
#include "certs/ids.h"
#include "certs/roster.h"
#include "certs/x509.h"
#include "federation/gossip.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "node/node_server.h"
#include "watchfloor/v1/node.grpc.pb.h"

namespace watchfloor::bench {
namespace {

using watchfloor::v1::Envelope;

constexpr double kTargetP99Ms = 20.0;
// Thread names, for the CPU breakdown (CpuByThreadName).
constexpr char kNodeThreads[] = "wf-node";
constexpr char kClientThreads[] = "wf-bench-client";
constexpr double kTargetDuplicates = 0.5;

[[noreturn]] void Die(const std::string& what, const absl::Status& st) {
  std::fprintf(stderr, "error: %s: %s\n", what.c_str(), st.ToString().c_str());
  std::exit(1);
}

int64_t NowWallNs() { return absl::GetCurrentTimeNanos(); }

double Ms(SteadyClock::duration d) {
  return std::chrono::duration<double, std::milli>(d).count();
}

// A loopback port that was free a moment ago.
int PickFreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 0;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  int port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  close(fd);
  return port;
}

// ---------------------------------------------------------------- federation

// One running member: member "m<i>.bench", node "n1", client "bench".
struct Member {
  std::string name;
  std::string origin;
  std::string dir;
  int port = 0;
  certs::SigningKey member_key = certs::SigningKey::Generate();
  certs::SigningKey signing_key = certs::SigningKey::Generate();
  certs::KeyAndCert ca;
  certs::KeyAndCert node_tls;
  certs::KeyAndCert client_tls;
};

// A minted federation of `n` running members plus, optionally, a member
// "bulk.bench" whose `bulk` nodes are in the roster (so their alerts verify
// everywhere) but never run: their keys sign pre-made feeds.
class BenchFederation {
 public:
  BenchFederation(const std::string& base, int n, int bulk, uint32_t ae_interval_ms)
      : dir_(base), ae_interval_ms_(ae_interval_ms) {
    const absl::Time now = absl::Now();
    nb_ = now - absl::Hours(1);
    na_ = now + absl::Hours(24);
    for (int i = 0; i < n; ++i) {
      auto m = std::make_unique<Member>();
      m->name = absl::StrCat("m", i, ".bench");
      m->origin = m->name + "/n1";
      m->dir = dir_.Join(m->name);
      Check(Mkdir(m->dir), "mkdir");
      m->ca = Must(certs::MintMemberCa(m->name, nb_, na_), "member CA");
      m->node_tls = Must(certs::MintNodeCert(m->ca, m->name, "n1", nb_, na_), "node cert");
      m->client_tls =
          Must(certs::MintClientCert(m->ca, m->name, "bench", nb_, na_), "client cert");
      Check(m->signing_key.SavePemFile(m->dir + "/signing.key"), "signing key");
      Check(certs::SaveKeyAndCert(m->node_tls, m->dir + "/node.key", m->dir + "/node.crt"),
            "node TLS files");
      members_.push_back(std::move(m));
    }
    if (bulk > 0) {
      bulk_ca_ = Must(certs::MintMemberCa("bulk.bench", nb_, na_), "bulk CA");
      for (int j = 0; j < bulk; ++j) {
        bulk_keys_.push_back(std::make_unique<certs::SigningKey>(certs::SigningKey::Generate()));
        bulk_origins_.push_back(absl::StrCat("bulk.bench/o", j));
      }
    }
    servers_.resize(n);
  }

  ~BenchFederation() { StopAll(); }

  int size() const { return static_cast<int>(members_.size()); }
  const Member& member(int i) const { return *members_[i]; }
  node::NodeServer* server(int i) { return servers_[i].get(); }
  federation::Gossip* gossip(int i) { return servers_[i]->gossip(); }
  const certs::SigningKey& bulk_key(int j) const { return *bulk_keys_[j]; }
  const std::string& bulk_origin(int j) const { return bulk_origins_[j]; }

  // Picks ports, signs the roster, starts every node. A port taken by
  // another process meanwhile: picks again (three tries).
  void StartAll() {
    // Threads inherit their creator's name: the ledger writer and the gossip
    // threads each NodeServer::Start creates are then told apart from gRPC's
    // and the benchmark's own threads (CpuByThreadName).
    char name[16] = {0};
    pthread_getname_np(pthread_self(), name, sizeof(name));
    pthread_setname_np(pthread_self(), kNodeThreads);
    absl::Status st;
    for (int attempt = 0; attempt < 3; ++attempt) {
      StopAll();
      WriteRoster();
      st = absl::OkStatus();
      for (int i = 0; i < size() && st.ok(); ++i) {
        absl::StatusOr<std::unique_ptr<node::NodeServer>> s =
            node::NodeServer::Start(Config(i));
        if (s.ok()) {
          servers_[i] = std::move(*s);
        } else {
          st = s.status();
        }
      }
      if (st.ok()) break;
    }
    pthread_setname_np(pthread_self(), name);
    if (!st.ok()) Die("starting the federation", st);
  }

  void StopAll() {
    for (auto& s : servers_) s.reset();
  }

  // Waits until every node's start rounds have ended (Gossip::Start: a
  // node that starts pulls at once from up to 8 peers). A round still in
  // flight when the benchmark ingests the same feed into both nodes would
  // pull alerts one node holds into the other, whose own ingest of them is
  // then refused (ALREADY_EXISTS); in the d-alert phase it would pull the d
  // alerts before the measured round. A round ended when it succeeded
  // (Stats::anti_entropy_rounds) or failed (its link is unreachable: the
  // peer was not up yet; a failed start round is not retried, and nothing
  // else calls while the timer's rounds are off).
  void WaitForStartRounds() {
    // Gossip::Start's start rounds: one per peer, up to kStartRounds (8,
    // private to gossip.cc; the benchmark's anti-entropy part runs two
    // nodes, so one round each).
    constexpr int kStartRounds = 8;
    const auto deadline = SteadyClock::now() + std::chrono::seconds(60);
    const uint64_t rounds = std::min(size() - 1, kStartRounds);
    for (int i = 0; i < size(); ++i) {
      for (;;) {
        const federation::Gossip::Stats st = gossip(i)->stats();
        uint64_t ended = st.anti_entropy_rounds;
        for (const auto& [origin, peer] : st.peers) ended += peer.reachable ? 0 : 1;
        if (ended >= rounds) break;
        if (SteadyClock::now() > deadline) {
          Die("starting the federation",
              absl::DeadlineExceededError(absl::StrCat(
                  member(i).origin, "'s start rounds did not end in 60 s")));
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    }
  }

  // A channel to node i presenting member i's client certificate.
  std::shared_ptr<grpc::Channel> ClientChannel(int i) const {
    const Member& m = *members_[i];
    grpc::SslCredentialsOptions o;
    o.pem_root_certs = roster_->CaBundlePem();
    o.pem_cert_chain = m.client_tls.cert_pem;
    o.pem_private_key = m.client_tls.key_pem;
    grpc::ChannelArguments args;
    args.SetSslTargetNameOverride(certs::NodeDnsName(m.name, "n1"));
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // its own connection
    return grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", m.port),
                                     grpc::SslCredentials(o), args);
  }

 private:
  static absl::Status Mkdir(const std::string& path) {
    if (mkdir(path.c_str(), 0700) != 0) return absl::InternalError("mkdir " + path);
    return absl::OkStatus();
  }
  static void Check(const absl::Status& st, const std::string& what) {
    if (!st.ok()) Die(what, st);
  }
  template <typename T>
  static T Must(absl::StatusOr<T> v, const std::string& what) {
    if (!v.ok()) Die(what, v.status());
    return std::move(*v);
  }

  void WriteRoster() {
    watchfloor::v1::Roster r;
    r.set_federation("bench");
    r.set_version(1);
    r.mutable_issued_at()->set_seconds(absl::ToUnixSeconds(absl::Now()));
    for (auto& m : members_) {
      m->port = PickFreePort();
      auto* rm = r.add_members();
      rm->set_name(m->name);
      rm->set_member_key_pem(m->member_key.public_key().ToPem());
      rm->set_ca_cert_pem(m->ca.cert_pem);
      auto* rn = rm->add_nodes();
      rn->set_origin(m->origin);
      rn->set_signing_key_pem(m->signing_key.public_key().ToPem());
      rn->add_endpoints(absl::StrCat("127.0.0.1:", m->port));
    }
    std::vector<const certs::SigningKey*> member_keys;
    for (auto& m : members_) member_keys.push_back(&m->member_key);
    if (!bulk_keys_.empty()) {
      auto* rm = r.add_members();
      rm->set_name("bulk.bench");
      rm->set_member_key_pem(bulk_member_key_.public_key().ToPem());
      rm->set_ca_cert_pem(bulk_ca_.cert_pem);
      for (size_t j = 0; j < bulk_keys_.size(); ++j) {
        auto* rn = rm->add_nodes();
        rn->set_origin(bulk_origins_[j]);
        rn->set_signing_key_pem(bulk_keys_[j]->public_key().ToPem());
        // Never dialed in this benchmark (nothing is broadcast to them and
        // the random anti-entropy round is disabled); must be unique only.
        rn->add_endpoints(absl::StrCat("127.0.0.2:", 20000 + j));
      }
      member_keys.push_back(&bulk_member_key_);
    }
    r.set_threshold(static_cast<uint32_t>(member_keys.size() / 2 + 1));
    absl::StatusOr<Envelope> env = certs::MakeRosterDraft(r);
    for (uint32_t k = 0; env.ok() && k < r.threshold(); ++k) {
      env = certs::SignRoster(*env, *member_keys[k]);
    }
    if (!env.ok()) Die("signing the roster", env.status());
    roster_ = Must(certs::Roster::VerifyGenesis(*env), "roster");
    roster_file_ = dir_.Join("roster.json");
    std::ofstream out(roster_file_, std::ios::trunc);
    out << certs::EnvelopeToJson(*env) << "\n";
    if (!out) Die("writing " + roster_file_, absl::InternalError("write failed"));
  }

  watchfloor::v1::NodeConfig Config(int i) const {
    const Member& m = *members_[i];
    watchfloor::v1::NodeConfig c;
    c.set_origin(m.origin);
    c.set_listen_address(absl::StrCat("127.0.0.1:", m.port));
    c.set_data_dir(m.dir + "/data");
    c.set_signing_key_file(m.dir + "/signing.key");
    c.mutable_tls()->set_cert_file(m.dir + "/node.crt");
    c.mutable_tls()->set_key_file(m.dir + "/node.key");
    c.mutable_federation()->set_roster_file(roster_file_);
    c.mutable_federation()->set_anti_entropy_interval_ms(ae_interval_ms_);
    return c;
  }

  TempDir dir_;
  const uint32_t ae_interval_ms_;
  absl::Time nb_, na_;
  std::vector<std::unique_ptr<Member>> members_;
  certs::SigningKey bulk_member_key_ = certs::SigningKey::Generate();
  certs::KeyAndCert bulk_ca_;
  std::vector<std::unique_ptr<certs::SigningKey>> bulk_keys_;
  std::vector<std::string> bulk_origins_;
  std::optional<certs::Roster> roster_;
  std::string roster_file_;
  std::vector<std::unique_ptr<node::NodeServer>> servers_;
};

// ------------------------------------------------------------ measurements

// Sum over nodes of the gossip counters.
struct GossipTotals {
  uint64_t received_new = 0;
  uint64_t received_dup = 0;
  uint64_t refused = 0;
  uint64_t ihave_sent = 0;
  uint64_t fetched = 0;
  uint64_t pushed = 0;
  uint64_t ae_rounds = 0;
  uint64_t ae_bytes = 0;
  uint64_t ae_pulled = 0;
  uint64_t reordered = 0;
  uint64_t eager_links = 0;  // directed links currently eager
};

GossipTotals SumGossip(BenchFederation& fed) {
  GossipTotals t;
  for (int i = 0; i < fed.size(); ++i) {
    federation::Gossip::Stats s = fed.gossip(i)->stats();
    t.received_new += s.received_new;
    t.received_dup += s.received_dup;
    t.refused += s.refused;
    t.ihave_sent += s.ihave_sent;
    t.fetched += s.fetched;
    t.ae_rounds += s.anti_entropy_rounds;
    t.ae_bytes += s.anti_entropy_bytes;
    t.ae_pulled += s.anti_entropy_pulled;
    t.reordered += s.reordered;
    for (const auto& [origin, p] : s.peers) {
      t.pushed += p.pushed;
      if (p.eager) ++t.eager_links;
    }
  }
  return t;
}

GossipTotals operator-(const GossipTotals& a, const GossipTotals& b) {
  GossipTotals d;
  d.received_new = a.received_new - b.received_new;
  d.received_dup = a.received_dup - b.received_dup;
  d.refused = a.refused - b.refused;
  d.ihave_sent = a.ihave_sent - b.ihave_sent;
  d.fetched = a.fetched - b.fetched;
  d.pushed = a.pushed - b.pushed;
  d.ae_rounds = a.ae_rounds - b.ae_rounds;
  d.ae_bytes = a.ae_bytes - b.ae_bytes;
  d.ae_pulled = a.ae_pulled - b.ae_pulled;
  d.reordered = a.reordered - b.reordered;
  d.eager_links = a.eager_links;
  return d;
}

// CPU seconds used by this process (all threads, user + system).
double ProcessCpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
         ru.ru_stime.tv_usec / 1e6;
}

// Machine-wide busy and total jiffies from /proc/stat.
struct MachineCpu {
  double busy = 0;
  double total = 0;
};
MachineCpu ReadMachineCpu() {
  std::ifstream in("/proc/stat");
  std::string cpu;
  double user = 0, nice = 0, sys = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
  in >> cpu >> user >> nice >> sys >> idle >> iowait >> irq >> softirq >> steal;
  MachineCpu m;
  m.busy = user + nice + sys + irq + softirq + steal;
  m.total = m.busy + idle + iowait;
  return m;
}

// On a shared machine: waits (at most `timeout`) until the whole machine was
// at most `max_busy` busy (0..1) over two seconds. Returns that busy share.
double WaitForIdleMachine(double max_busy, absl::Duration timeout) {
  const absl::Time give_up = absl::Now() + timeout;
  for (;;) {
    const MachineCpu a = ReadMachineCpu();
    absl::SleepFor(absl::Seconds(2));
    const MachineCpu b = ReadMachineCpu();
    const double busy = b.total > a.total ? (b.busy - a.busy) / (b.total - a.total) : 0;
    if (busy <= max_busy || absl::Now() >= give_up) return busy;
  }
}

double ThreadCpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

// Ed25519 rates per CPU-second of one thread (so that they hold however
// busy the machine is), and the share of a core that thread got meanwhile.
struct Ed25519Rates {
  double sign = 0;
  double verify = 0;
  double core_share = 0;  // CPU time / wall time while measuring
};
Ed25519Rates MeasureEd25519(const certs::SigningKey& key, const std::string& message,
                            double seconds) {
  Ed25519Rates r;
  const std::string sig = key.Sign(message);
  const certs::PublicKey& pk = key.public_key();
  double cpu_total = 0, wall_total = 0;
  for (int which = 0; which < 2; ++which) {
    auto start = SteadyClock::now();
    const double cpu0 = ThreadCpuSeconds();
    int64_t n = 0;
    size_t sink = 0;
    do {
      for (int i = 0; i < 32; ++i) {
        sink += which == 0 ? key.Sign(message).size() : (pk.Verify(message, sig) ? 1 : 0);
      }
      n += 32;
    } while (SecondsSince(start) < seconds);
    const double cpu = ThreadCpuSeconds() - cpu0;
    if (sink == 0) std::abort();  // keeps the loop observable
    (which == 0 ? r.sign : r.verify) = n / cpu;
    cpu_total += cpu;
    wall_total += SecondsSince(start);
  }
  r.core_share = cpu_total / wall_total;
  return r;
}

// CPU seconds of every thread of this process, by thread name (comm). The
// nodes' own threads (ledger writers, gossip senders and timers) are named
// kNodeThreads (see StartAll); gRPC names its own threads; the benchmark's
// clients are kClientThreads.
std::map<std::string, double> CpuByThreadName() {
  std::map<std::string, double> out;
  const double tick = static_cast<double>(sysconf(_SC_CLK_TCK));
  DIR* dir = opendir("/proc/self/task");
  if (dir == nullptr) return out;
  while (dirent* e = readdir(dir)) {
    if (e->d_name[0] == '.') continue;
    std::ifstream in(absl::StrCat("/proc/self/task/", e->d_name, "/stat"));
    std::string line;
    if (!std::getline(in, line)) continue;
    size_t open = line.find('('), close = line.rfind(')');
    if (open == std::string::npos || close == std::string::npos) continue;
    std::string name = line.substr(open + 1, close - open - 1);
    std::vector<std::string> f = absl::StrSplit(line.substr(close + 2), ' ');
    // After the name: state is field 3 of stat(5), utime 14, stime 15.
    if (f.size() < 13) continue;
    double ticks = 0, v = 0;
    if (absl::SimpleAtod(f[11], &v)) ticks += v;
    if (absl::SimpleAtod(f[12], &v)) ticks += v;
    out[name] += ticks / tick;
  }
  closedir(dir);
  return out;
}

// A typical signed alert's PAE (what every node verifies).
std::string TypicalPae() {
  watchfloor::v1::Alert a = SampleDraft(123456);
  a.set_origin("m0.bench/n1");
  a.set_sequence(123456);
  a.set_previous(std::string(64, 'a'));
  a.mutable_issued_at()->set_seconds(1798761600);
  return certs::Pae(certs::kAlertPayloadType, a.SerializeAsString());
}

// Round trips of GetIdentity over mutual TLS (handshake done beforehand).
std::vector<double> RttMs(watchfloor::v1::Node::Stub* stub, int n,
                          std::chrono::milliseconds gap) {
  std::vector<double> out;
  for (int i = 0; i < n; ++i) {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    watchfloor::v1::GetIdentityRequest req;
    watchfloor::v1::Identity resp;
    auto t0 = SteadyClock::now();
    grpc::Status st = stub->GetIdentity(&ctx, req, &resp);
    if (st.ok()) out.push_back(Ms(SteadyClock::now() - t0));
    if (gap.count() > 0) std::this_thread::sleep_for(gap);
  }
  return out;
}

// A live Subscribe stream on one node; records (id, arrival wall ns).
class Subscriber {
 public:
  explicit Subscriber(std::shared_ptr<grpc::Channel> channel)
      : stub_(watchfloor::v1::Node::NewStub(std::move(channel))) {
    thread_ = std::thread([this] {
      pthread_setname_np(pthread_self(), kClientThreads);
      Run();
    });
  }
  ~Subscriber() { Stop(); }

  void Stop() {
    ctx_.TryCancel();
    if (thread_.joinable()) thread_.join();
  }
  int64_t count() const { return count_.load(); }
  // Valid after Stop().
  const std::vector<std::pair<std::string, int64_t>>& arrivals() const { return arrivals_; }
  const grpc::Status& status() const { return status_; }

 private:
  void Run() {
    watchfloor::v1::SubscribeRequest req;  // no filter: every alert, live
    auto reader = stub_->Subscribe(&ctx_, req);
    watchfloor::v1::SubscribeResponse resp;
    while (reader->Read(&resp)) {
      arrivals_.emplace_back(std::move(*resp.mutable_id()), NowWallNs());
      count_.fetch_add(1);
    }
    status_ = reader->Finish();
  }

  std::unique_ptr<watchfloor::v1::Node::Stub> stub_;
  grpc::ClientContext ctx_;
  std::atomic<int64_t> count_{0};
  std::vector<std::pair<std::string, int64_t>> arrivals_;
  grpc::Status status_;
  std::thread thread_;
};

struct Pcts {
  double p50 = 0, p99 = 0, max = 0;
};
Pcts Of(const std::vector<double>& v) {
  return {Percentile(v, 50), Percentile(v, 99), Max(v)};
}

struct PropagationResult {
  int nodes = 0;
  int64_t measured = 0;      // alerts in the measured window
  int64_t missing = 0;       // (alert, node) pairs never delivered
  int64_t errors = 0;        // failed publishes
  double sent_per_s = 0;
  Pcts last;                 // issued_at -> arrival at the last node
  Pcts last_from_send;       // client send -> arrival at the last node
  Pcts any_peer;             // issued_at -> arrival at each non-origin node
  Pcts local;                // issued_at -> arrival on the origin's own stream
  Pcts ack;                  // client send -> publish ack
  Pcts rtt_idle;             // mTLS GetIdentity round trip before the load
  Pcts rtt_load;             // ... during the measured window
  int64_t over_target = 0;   // alerts whose "last" exceeds the target
  int64_t over_100ms = 0;
  double duplicates = 0;     // received_dup / (alerts x (N-1))
  double new_copies = 0;     // received_new / (alerts x (N-1))
  double fetched_per_alert = 0;
  double ihave_per_alert = 0;
  double pushed_per_alert = 0;
  double ae_pulled = 0;
  double ae_rounds = 0;
  double reordered = 0;      // envelopes that came before their predecessor
  double eager_links = 0;
  double cpu_cores = 0;      // this process, cores busy on average
  double machine_busy = 0;   // whole machine, fraction of all cores
  double verify_share = 0;   // of this process's CPU
  double sign_share = 0;
  double verifies_per_alert = 0;
  double wal_syncs_per_s = 0;
  double fsync_busy = 0;     // thread-seconds in fsync per second
  // Cores used per thread name during the window, largest first.
  std::vector<std::pair<std::string, double>> cpu_by_thread;
  double send_lag_p99_ms = 0;
};

PropagationResult RunPropagation(const std::string& base, int n, double rate,
                                 double seconds, int warmup, bool at_one,
                                 uint32_t ae_interval_ms, double verify_rate,
                                 double sign_rate) {
  BenchFederation fed(base, n, 0, ae_interval_ms);
  fed.StartAll();
  std::vector<std::unique_ptr<watchfloor::v1::Node::Stub>> pubs;
  for (int i = 0; i < n; ++i) {
    pubs.push_back(watchfloor::v1::Node::NewStub(fed.ClientChannel(i)));
  }
  auto probe = watchfloor::v1::Node::NewStub(fed.ClientChannel(n - 1));
  std::vector<std::unique_ptr<Subscriber>> subs;
  for (int i = 0; i < n; ++i) subs.push_back(std::make_unique<Subscriber>(fed.ClientChannel(i)));
  for (auto& p : pubs) RttMs(p.get(), 3, std::chrono::milliseconds(0));  // handshakes
  PropagationResult r;
  r.nodes = n;
  r.rtt_idle = Of(RttMs(probe.get(), 300, std::chrono::milliseconds(1)));

  struct Sent {
    int node = 0;
    SteadyClock::time_point intended;
    double ack_ms = -1;
    int64_t issued_ns = 0;
    int64_t send_wall_ns = 0;
    std::string id;
    bool ok = false;
  };
  const int64_t measured = static_cast<int64_t>(rate * seconds);
  const int64_t total = warmup + measured;
  std::vector<Sent> sent(total);
  std::vector<double> lag_ms;
  lag_ms.reserve(total);
  std::mutex mu;
  std::condition_variable cv;
  int64_t done = 0;
  struct Call {
    grpc::ClientContext ctx;
    watchfloor::v1::PublishRequest req;
    watchfloor::v1::PublishResponse resp;
    int64_t index = 0;
  };

  std::atomic<bool> probing{false};
  std::vector<double> rtt_load;
  std::thread prober;
  GossipTotals g0;
  SyncCounts sync0;
  double cpu0 = 0;
  std::map<std::string, double> threads0;
  MachineCpu m0;
  SteadyClock::time_point t0;
  const auto period = std::chrono::duration_cast<SteadyClock::duration>(
      std::chrono::duration<double>(1.0 / rate));
  const auto start = SteadyClock::now() + std::chrono::milliseconds(20);
  for (int64_t k = 0; k < total; ++k) {
    Sent& s = sent[k];
    s.node = at_one ? 0 : static_cast<int>(k % n);
    s.intended = start + period * k;
    std::this_thread::sleep_until(s.intended);
    if (k == warmup) {
      t0 = SteadyClock::now();
      g0 = SumGossip(fed);
      sync0 = GetSyncCounts();
      cpu0 = ProcessCpuSeconds();
      threads0 = CpuByThreadName();
      m0 = ReadMachineCpu();
      probing = true;
      prober = std::thread([&] {
        pthread_setname_np(pthread_self(), kClientThreads);
        while (probing.load()) {
          std::vector<double> v = RttMs(probe.get(), 1, std::chrono::milliseconds(10));
          rtt_load.insert(rtt_load.end(), v.begin(), v.end());
        }
      });
    }
    if (k >= warmup) lag_ms.push_back(Ms(SteadyClock::now() - s.intended));
    auto* call = new Call;
    call->index = k;
    *call->req.mutable_alert() = SampleDraft(k);
    call->ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    s.send_wall_ns = NowWallNs();
    pubs[s.node]->async()->Publish(
        &call->ctx, &call->req, &call->resp, [&, call](grpc::Status st) {
          Sent& x = sent[call->index];
          x.ack_ms = Ms(SteadyClock::now() - x.intended);
          x.ok = st.ok();
          if (st.ok()) {
            x.id = call->resp.id();
            watchfloor::v1::Alert a;
            a.ParseFromString(call->resp.envelope().payload());
            x.issued_ns = a.issued_at().seconds() * 1000000000LL + a.issued_at().nanos();
          }
          delete call;
          std::lock_guard<std::mutex> lock(mu);
          if (++done == total) cv.notify_all();
        });
  }
  const double window_s = SecondsSince(t0);
  const double cpu_s = ProcessCpuSeconds() - cpu0;
  std::map<std::string, double> threads1 = CpuByThreadName();
  const MachineCpu m1 = ReadMachineCpu();
  const SyncCounts syncs = GetSyncCounts() - sync0;
  probing = false;
  if (prober.joinable()) prober.join();
  {
    std::unique_lock<std::mutex> lock(mu);
    cv.wait(lock, [&] { return done == total; });
  }
  int64_t ok_total = 0;
  for (const Sent& s : sent) ok_total += s.ok ? 1 : 0;
  r.errors = total - ok_total;
  // Every node's stream must see every alert (or we give up after 30 s).
  auto deadline = SteadyClock::now() + std::chrono::seconds(30);
  for (;;) {
    bool all = true;
    for (auto& s : subs) all = all && s->count() >= ok_total;
    if (all || SteadyClock::now() > deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // late duplicates
  const GossipTotals g = SumGossip(fed) - g0;
  for (int i = 0; i < n; ++i) {
    if (subs[i]->count() < ok_total) {
      std::printf("    node %d's stream got %lld of %lld alerts\n", i,
                  static_cast<long long>(subs[i]->count()), static_cast<long long>(ok_total));
    }
  }
  for (auto& s : subs) s->Stop();
  for (int i = 0; i < n; ++i) {
    const grpc::Status& st = subs[i]->status();
    if (!st.ok() && st.error_code() != grpc::StatusCode::CANCELLED) {
      std::printf("    node %d's stream ended early: %s\n", i, st.error_message().c_str());
    }
  }

  // Join arrivals to alerts.
  std::unordered_map<std::string, int64_t> index;
  index.reserve(total * 2);
  for (int64_t k = 0; k < total; ++k) {
    if (sent[k].ok) index[sent[k].id] = k;
  }
  std::vector<std::vector<int64_t>> arrival(total, std::vector<int64_t>(n, 0));
  for (int i = 0; i < n; ++i) {
    for (const auto& [id, t] : subs[i]->arrivals()) {
      auto it = index.find(id);
      if (it != index.end() && arrival[it->second][i] == 0) arrival[it->second][i] = t;
    }
  }
  std::vector<double> last, last_send, peer, local, ack;
  for (int64_t k = warmup; k < total; ++k) {
    const Sent& s = sent[k];
    ack.push_back(s.ack_ms);
    if (!s.ok) continue;
    int64_t latest = 0;
    bool complete = true;
    for (int i = 0; i < n; ++i) {
      int64_t t = arrival[k][i];
      if (t == 0) {
        complete = false;
        ++r.missing;
        continue;
      }
      latest = std::max(latest, t);
      double ms = (t - s.issued_ns) / 1e6;
      (i == s.node ? local : peer).push_back(ms);
    }
    if (!complete) continue;
    double ms = (latest - s.issued_ns) / 1e6;
    last.push_back(ms);
    last_send.push_back((latest - s.send_wall_ns) / 1e6);
    if (ms > kTargetP99Ms) ++r.over_target;
    if (ms > 100) ++r.over_100ms;
  }
  r.measured = measured;
  r.sent_per_s = measured / window_s;
  r.last = Of(last);
  r.last_from_send = Of(last_send);
  r.any_peer = Of(peer);
  r.local = Of(local);
  r.ack = Of(ack);
  r.rtt_load = Of(rtt_load);
  r.send_lag_p99_ms = Percentile(lag_ms, 99);
  const double copies = static_cast<double>(measured) * (n - 1);
  r.duplicates = g.received_dup / copies;
  r.new_copies = g.received_new / copies;
  r.fetched_per_alert = static_cast<double>(g.fetched) / measured;
  r.ihave_per_alert = static_cast<double>(g.ihave_sent) / measured;
  r.pushed_per_alert = static_cast<double>(g.pushed) / measured;
  r.ae_pulled = static_cast<double>(g.ae_pulled);
  r.ae_rounds = static_cast<double>(g.ae_rounds);
  r.reordered = static_cast<double>(g.reordered);
  r.eager_links = static_cast<double>(g.eager_links);
  r.cpu_cores = cpu_s / window_s;
  r.machine_busy = m1.total > m0.total ? (m1.busy - m0.busy) / (m1.total - m0.total) : 0;
  // Every envelope a node receives is verified before the dedupe check
  // (Ledger::Offer), so duplicates cost a verification too.
  const double verifies =
      static_cast<double>(g.received_new + g.received_dup + g.refused + g.ae_pulled);
  r.verifies_per_alert = verifies / measured;
  r.verify_share = cpu_s > 0 ? verifies / verify_rate / cpu_s : 0;
  r.sign_share = cpu_s > 0 ? measured / sign_rate / cpu_s : 0;
  r.wal_syncs_per_s = syncs.wal / window_s;
  r.fsync_busy = syncs.total_ms / 1000 / window_s;
  for (const auto& [name, s] : threads1) {
    auto it = threads0.find(name);
    // Threads that ended during the window are missing here; a rounding
    // error at worst (threads live as long as the federation).
    const double cores = (s - (it == threads0.end() ? 0 : it->second)) / window_s;
    if (cores > 0.005) r.cpu_by_thread.emplace_back(name, cores);
  }
  std::sort(r.cpu_by_thread.begin(), r.cpu_by_thread.end(),
            [](const auto& a, const auto& b) { return a.second > b.second; });
  return r;
}

void PrintPropagation(const PropagationResult& r, const char* label) {
  std::printf(
      "  %s N=%d: %lld alerts at %.0f/s (p99 send lag %.2f ms), %lld failed, %lld "
      "(alert,node) missing\n"
      "    to LAST node from issued_at  p50 %6.2f  p99 %6.2f  max %7.2f ms   (%lld > %.0f ms, "
      "%lld > 100 ms)\n"
      "    to LAST node from send       p50 %6.2f  p99 %6.2f  max %7.2f ms\n"
      "    to each other node           p50 %6.2f  p99 %6.2f  max %7.2f ms\n"
      "    ref: origin's own stream     p50 %6.2f  p99 %6.2f  max %7.2f ms\n"
      "    ref: publish ack at origin   p50 %6.2f  p99 %6.2f  max %7.2f ms\n"
      "    ref: mTLS RPC idle           p50 %6.2f  p99 %6.2f  max %7.2f ms\n"
      "    ref: mTLS RPC under load     p50 %6.2f  p99 %6.2f  max %7.2f ms\n"
      "    duplicates %.3f per node per alert (new copies %.3f); per alert: pushed %.2f, "
      "IHave refs %.2f, fetched %.3f; anti-entropy %.0f rounds, %.0f pulled; %.0f "
      "arrived before their predecessor; eager links at end %.0f of %d\n"
      "    CPU: this process %.2f cores (%.0f%% of %u), machine %.0f%% busy; of this "
      "process: Ed25519 verify %.0f%% (%.2f verifies/alert), sign %.0f%%; %.0f WAL "
      "syncs/s, %.2f threads in fsync\n",
      label, r.nodes, static_cast<long long>(r.measured), r.sent_per_s, r.send_lag_p99_ms,
      static_cast<long long>(r.errors), static_cast<long long>(r.missing), r.last.p50,
      r.last.p99, r.last.max, static_cast<long long>(r.over_target), kTargetP99Ms,
      static_cast<long long>(r.over_100ms), r.last_from_send.p50, r.last_from_send.p99,
      r.last_from_send.max, r.any_peer.p50, r.any_peer.p99, r.any_peer.max, r.local.p50,
      r.local.p99, r.local.max, r.ack.p50, r.ack.p99, r.ack.max, r.rtt_idle.p50,
      r.rtt_idle.p99, r.rtt_idle.max, r.rtt_load.p50, r.rtt_load.p99, r.rtt_load.max,
      r.duplicates, r.new_copies, r.pushed_per_alert, r.ihave_per_alert,
      r.fetched_per_alert, r.ae_rounds, r.ae_pulled, r.reordered, r.eager_links, r.nodes * (r.nodes - 1),
      r.cpu_cores, 100 * r.cpu_cores / std::thread::hardware_concurrency(),
      std::thread::hardware_concurrency(), 100 * r.machine_busy, 100 * r.verify_share,
      r.verifies_per_alert, 100 * r.sign_share, r.wal_syncs_per_s, r.fsync_busy);
  std::printf("    CPU by thread name (cores):");
  double named = 0;
  for (size_t i = 0; i < r.cpu_by_thread.size(); ++i) {
    named += r.cpu_by_thread[i].second;
    if (i < 8) {
      std::printf(" %s %.2f,", r.cpu_by_thread[i].first.c_str(), r.cpu_by_thread[i].second);
    }
  }
  // gRPC's thread pools start and end threads; what ended is not listed.
  std::printf(" threads that ended %.2f\n", std::max(0.0, r.cpu_cores - named));
}

// ------------------------------------------------------------ anti-entropy

// Pre-signed feeds of the bulk origins: alert k belongs to origin k % O.
class Feeds {
 public:
  Feeds(BenchFederation* fed, int origins) : fed_(fed), heads_(origins) {}

  // The next `count` envelopes, round robin over the origins.
  std::vector<Envelope> Next(int64_t count) {
    std::vector<Envelope> out;
    out.reserve(count);
    const int64_t micros = absl::ToUnixMicros(absl::Now());
    for (int64_t i = 0; i < count; ++i, ++made_) {
      const int o = static_cast<int>(made_ % static_cast<int64_t>(heads_.size()));
      Head& h = heads_[o];
      watchfloor::v1::Alert a = SampleDraft(made_);
      a.set_origin(fed_->bulk_origin(o));
      a.set_sequence(++h.sequence);
      a.set_previous(h.id);
      a.mutable_issued_at()->set_seconds(micros / 1000000);
      a.mutable_issued_at()->set_nanos(static_cast<int32_t>(micros % 1000000) * 1000);
      std::string payload = a.SerializeAsString();
      h.id = certs::AlertId(payload);
      out.push_back(certs::SignEnvelope(payload, certs::kAlertPayloadType, fed_->bulk_key(o)));
    }
    return out;
  }

 private:
  struct Head {
    uint64_t sequence = 0;
    std::string id;
  };
  BenchFederation* fed_;
  std::vector<Head> heads_;
  int64_t made_ = 0;
};

// Ingests `envs` in order through the node's ledger (verify, feed rules,
// group commit) and waits until all are durable.
void IngestAll(node::Ledger* ledger, const std::vector<Envelope>& envs) {
  std::mutex mu;
  std::condition_variable cv;
  int64_t in_flight = 0;
  absl::Status first_error;
  for (const Envelope& e : envs) {
    {
      std::unique_lock<std::mutex> lock(mu);
      cv.wait(lock, [&] { return in_flight < 4096; });
      ++in_flight;
    }
    ledger->Ingest(e, [&](absl::StatusOr<node::IngestResult> r) {
      std::lock_guard<std::mutex> lock(mu);
      if (!r.ok() && first_error.ok()) first_error = r.status();
      --in_flight;
      cv.notify_all();
    });
  }
  std::unique_lock<std::mutex> lock(mu);
  cv.wait(lock, [&] { return in_flight == 0; });
  if (!first_error.ok()) Die("ingest", first_error);
}

// Ingests into several ledgers at once, one thread each.
void IngestInto(const std::vector<node::Ledger*>& ledgers, const std::vector<Envelope>& envs) {
  std::vector<std::thread> threads;
  for (node::Ledger* l : ledgers) threads.emplace_back([l, &envs] { IngestAll(l, envs); });
  for (auto& t : threads) t.join();
}

uint64_t HeldAlerts(node::Ledger* ledger) {
  uint64_t n = 0;
  for (const node::FeedHead& h : ledger->Heads()) n += h.sequence;
  return n;
}

double MeanSize(const std::vector<Envelope>& envs) {
  if (envs.empty()) return 0;
  double sum = 0;
  for (const Envelope& e : envs) sum += e.ByteSizeLong();
  return sum / envs.size();
}

struct RoundResult {
  uint64_t bytes = 0;
  uint64_t pulled = 0;
  double ms = 0;
};

// One anti-entropy round started by node `from` with node `to`; waits until
// whatever it pulled is committed at `from`.
RoundResult Round(BenchFederation& fed, int from, int to) {
  federation::Gossip* g = fed.gossip(from);
  const uint64_t bytes0 = g->stats().anti_entropy_bytes;
  auto t0 = SteadyClock::now();
  absl::StatusOr<uint64_t> pulled = g->AntiEntropyWith(fed.member(to).origin);
  RoundResult r;
  r.ms = Ms(SteadyClock::now() - t0);
  if (!pulled.ok()) Die("anti-entropy round", pulled.status());
  r.pulled = *pulled;
  r.bytes = g->stats().anti_entropy_bytes - bytes0;
  const uint64_t want = HeldAlerts(fed.server(to)->ledger());
  auto deadline = SteadyClock::now() + std::chrono::seconds(30);
  while (HeldAlerts(fed.server(from)->ledger()) < want && SteadyClock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return r;
}

struct FrontierFigures {
  int origins = 0;
  int64_t alerts = 0;
  double envelope_bytes = 0;  // mean envelope size
  RoundResult round;
};

struct DiffFigures {
  int64_t d = 0;
  double envelope_bytes = 0;
  RoundResult round;
  bool converged = false;
};

void RunAntiEntropy(const std::string& base, const std::vector<int>& origin_counts,
                    const std::vector<int64_t>& alert_counts, const std::vector<int64_t>& diffs,
                    int diff_origins, std::vector<FrontierFigures>* same,
                    std::vector<DiffFigures>* diff) {
  for (int origins : origin_counts) {
    // Random rounds off: only the rounds this benchmark starts are counted.
    BenchFederation fed(base, 2, origins, 3600 * 1000);
    fed.StartAll();
    fed.WaitForStartRounds();
    Feeds feeds(&fed, origins);
    std::vector<node::Ledger*> both = {fed.server(0)->ledger(), fed.server(1)->ledger()};
    int64_t held = 0;
    double size_sum = 0;
    for (int64_t k : alert_counts) {
      if (k < origins || k <= held) continue;
      std::vector<Envelope> envs = feeds.Next(k - held);
      size_sum += MeanSize(envs) * envs.size();
      auto t0 = SteadyClock::now();
      IngestInto(both, envs);
      held = k;
      FrontierFigures f;
      f.origins = origins;
      f.alerts = k;
      f.envelope_bytes = size_sum / held;
      f.round = Round(fed, 1, 0);
      std::printf("  %3d origins, %7lld alerts on both (ingested in %.1f s): %6llu bytes, "
                  "%llu pulled, %.2f ms; %.1f bytes/origin; alerts themselves %.1f MB "
                  "(ratio %.2e)\n",
                  origins, static_cast<long long>(k), SecondsSince(t0),
                  static_cast<unsigned long long>(f.round.bytes),
                  static_cast<unsigned long long>(f.round.pulled), f.round.ms,
                  static_cast<double>(f.round.bytes) / origins,
                  f.envelope_bytes * k / 1e6, f.round.bytes / (f.envelope_bytes * k));
      std::fflush(stdout);
      same->push_back(f);
    }
    if (origins != diff_origins) continue;
    for (int64_t d : diffs) {
      std::vector<Envelope> envs = feeds.Next(d);
      IngestInto({fed.server(0)->ledger()}, envs);
      DiffFigures f;
      f.d = d;
      f.envelope_bytes = MeanSize(envs);
      f.round = Round(fed, 1, 0);
      f.converged = HeldAlerts(fed.server(1)->ledger()) == HeldAlerts(fed.server(0)->ledger());
      held += d;
      const double payload = f.envelope_bytes * d;
      std::printf("  %3d origins, %7lld alerts, node B %4lld behind: pulled %4llu, %7llu bytes "
                  "= %.3f x the %.0f bytes of those envelopes (+%lld bytes), %.1f ms, %s\n",
                  origins, static_cast<long long>(held - d), static_cast<long long>(d),
                  static_cast<unsigned long long>(f.round.pulled),
                  static_cast<unsigned long long>(f.round.bytes), f.round.bytes / payload,
                  payload, static_cast<long long>(f.round.bytes - payload), f.round.ms,
                  f.converged ? "converged" : "NOT converged");
      std::fflush(stdout);
      diff->push_back(f);
    }
  }
}

// ------------------------------------------------------------------- main

std::vector<int64_t> ParseList(const std::string& flag, const std::string& csv) {
  std::vector<int64_t> out;
  for (absl::string_view s : absl::StrSplit(csv, ',', absl::SkipEmpty())) {
    int64_t v = 0;
    if (!absl::SimpleAtoi(s, &v) || v <= 0) {
      std::fprintf(stderr, "error: --%s=%s: want positive integers, e.g. 5,10\n",
                   flag.c_str(), csv.c_str());
      std::exit(2);
    }
    out.push_back(v);
  }
  return out;
}

double ParseDouble(int argc, char** argv, const char* name, const char* def) {
  std::string v = FlagValue(argc, argv, name, def);
  double d = 0;
  if (!absl::SimpleAtod(v, &d) || d <= 0) {
    std::fprintf(stderr, "error: --%s=%s: want a positive number\n", name, v.c_str());
    std::exit(2);
  }
  return d;
}

template <typename F>
double MedianOf(const std::vector<PropagationResult>& rs, F f) {
  std::vector<double> v;
  for (const auto& r : rs) v.push_back(f(r));
  return Median(v);
}

int Main(int argc, char** argv) {
  const bool smoke = HasFlag(argc, argv, "smoke");
  const std::vector<int64_t> nodes =
      ParseList("nodes", smoke ? "3" : FlagValue(argc, argv, "nodes", "5,10"));
  const double rate = smoke ? 200 : ParseDouble(argc, argv, "rate", "1000");
  const double seconds = smoke ? 1 : ParseDouble(argc, argv, "seconds", "10");
  const int warmup = smoke ? 100 : static_cast<int>(ParseDouble(argc, argv, "warmup", "1000"));
  const int runs = smoke ? 1 : static_cast<int>(ParseDouble(argc, argv, "runs", "3"));
  const std::string publish_at = FlagValue(argc, argv, "publish_at", "all");
  if (publish_at != "all" && publish_at != "one") {
    std::fprintf(stderr, "error: --publish_at=%s: want all or one\n", publish_at.c_str());
    return 2;
  }
  // 0: start each propagation run at once; else wait (up to 10 min) until
  // the machine was at most this busy (0..1) over 2 s, and print it.
  double wait_idle = 0;
  if (!absl::SimpleAtod(FlagValue(argc, argv, "wait_idle", "0"), &wait_idle) || wait_idle < 0 ||
      wait_idle > 1) {
    std::fprintf(stderr, "error: --wait_idle: want a busy share from 0 to 1, e.g. 0.3\n");
    return 2;
  }
  const uint32_t ae_interval_ms =
      static_cast<uint32_t>(ParseDouble(argc, argv, "ae_interval_ms", "2000"));
  const std::vector<int64_t> ae_alerts =
      ParseList("ae_alerts", smoke ? "200" : FlagValue(argc, argv, "ae_alerts", "1000,100000"));
  const std::vector<int64_t> ae_origins64 =
      ParseList("ae_origins", smoke ? "10" : FlagValue(argc, argv, "ae_origins", "1,10,100"));
  const std::vector<int64_t> ae_diffs =
      ParseList("ae_diffs", smoke ? "10" : FlagValue(argc, argv, "ae_diffs", "10,100,1000"));
  const int diff_origins =
      static_cast<int>(ParseDouble(argc, argv, "diff_origins", "10"));
  std::vector<int> ae_origins(ae_origins64.begin(), ae_origins64.end());
  TempDir scratch(FlagValue(argc, argv, "dir", ""));
  const std::string base = scratch.path();
  // The publisher runs on this thread: count it with the clients.
  pthread_setname_np(pthread_self(), kClientThreads);

  std::printf("federation_bench%s: real nodes in-process on 127.0.0.1, mutual TLS, SQLite WAL "
              "synchronous=FULL\n", smoke ? " --smoke" : "");
  PrintMachineHeader(base);

  // References, same run.
  certs::SigningKey key = certs::SigningKey::Generate();
  const std::string pae = TypicalPae();
  const Ed25519Rates ed = MeasureEd25519(key, pae, smoke ? 0.1 : 1.0);
  const double sign_rate = ed.sign;
  const double verify_rate = ed.verify;
  std::vector<double> fsync_us = FsyncLatenciesUs(base, smoke ? 20 : 200, SyncMode::kOverwrite);
  std::printf("references: Ed25519 sign %.0f/s, verify %.0f/s per CPU-second (the measuring "
              "thread got %.0f%% of a core); fsync p50 %.2f ms, p99 %.2f ms\n",
              sign_rate, verify_rate, 100 * ed.core_share, Percentile(fsync_us, 50) / 1000,
              Percentile(fsync_us, 99) / 1000);

  bool failed = false;
  if (!HasFlag(argc, argv, "skip_propagation")) {
    std::printf("\npropagation: %.0f alerts/s for %.0f s after %d warm-up alerts, published "
                "%s, anti-entropy every %u ms, %d run(s) per N\n",
                rate, seconds, warmup,
                publish_at == "all" ? "round robin at every node (each member's client)"
                                    : "at node 0",
                ae_interval_ms, runs);
    std::fflush(stdout);
    struct Summary {
      int n;
      std::vector<PropagationResult> rs;
    };
    std::vector<Summary> summaries;
    for (int64_t n : nodes) {
      Summary s{static_cast<int>(n), {}};
      for (int run = 0; run < runs; ++run) {
        if (wait_idle > 0) {
          const double busy = WaitForIdleMachine(wait_idle, absl::Minutes(10));
          std::printf("  (machine %.0f%% busy before the run, load %.2f)\n", 100 * busy,
                      LoadAverage1());
        }
        PropagationResult r =
            RunPropagation(base, static_cast<int>(n), rate, seconds, warmup,
                           publish_at == "one", ae_interval_ms, verify_rate, sign_rate);
        PrintPropagation(r, absl::StrCat("run ", run + 1).c_str());
        std::fflush(stdout);
        if (r.errors > 0 || r.missing > 0) failed = true;
        s.rs.push_back(r);
      }
      summaries.push_back(std::move(s));
    }
    std::printf("\npropagation summary (medians over %d run(s)):\n", runs);
    std::printf("  %3s %8s %8s %8s %8s %9s %9s %9s %7s %7s %6s %8s\n", "N", "p50 ms", "p99 ms",
                "max ms", "ack p99", "own p99", "RTT p99", "p99/RTT", "dups", "cores",
                "verify", "machine");
    for (const Summary& s : summaries) {
      const double p99 = MedianOf(s.rs, [](auto& r) { return r.last.p99; });
      const double rtt99 = MedianOf(s.rs, [](auto& r) { return r.rtt_load.p99; });
      const double dups = MedianOf(s.rs, [](auto& r) { return r.duplicates; });
      std::printf("  %3d %8.2f %8.2f %8.2f %8.2f %9.2f %9.2f %9.1f %7.3f %7.2f %5.0f%% %7.0f%%\n",
                  s.n, MedianOf(s.rs, [](auto& r) { return r.last.p50; }), p99,
                  MedianOf(s.rs, [](auto& r) { return r.last.max; }),
                  MedianOf(s.rs, [](auto& r) { return r.ack.p99; }),
                  MedianOf(s.rs, [](auto& r) { return r.local.p99; }), rtt99,
                  rtt99 > 0 ? p99 / rtt99 : 0, dups,
                  MedianOf(s.rs, [](auto& r) { return r.cpu_cores; }),
                  100 * MedianOf(s.rs, [](auto& r) { return r.verify_share; }),
                  100 * MedianOf(s.rs, [](auto& r) { return r.machine_busy; }));
      std::printf("      target p99 <= %.0f ms: %s; duplicates <= %.1f: %s\n", kTargetP99Ms,
                  p99 <= kTargetP99Ms ? "met" : "MISSED", kTargetDuplicates,
                  dups <= kTargetDuplicates ? "met" : "MISSED");
    }
  }

  if (!HasFlag(argc, argv, "skip_anti_entropy")) {
    std::printf("\nanti-entropy: one round (Gossip::AntiEntropyWith) between two nodes; bytes = "
                "both frontiers + pull requests + pulled envelopes\n");
    std::fflush(stdout);
    std::vector<FrontierFigures> same;
    std::vector<DiffFigures> diff;
    RunAntiEntropy(base, ae_origins, ae_alerts, ae_diffs, diff_origins, &same, &diff);
    for (const FrontierFigures& f : same) {
      if (f.round.pulled != 0) failed = true;
    }
    for (const DiffFigures& f : diff) {
      if (f.round.pulled != static_cast<uint64_t>(f.d) || !f.converged) failed = true;
    }
  }
  if (failed) {
    std::printf("\nFAILED: publishes failed, alerts went missing, or anti-entropy pulled the "
                "wrong count\n");
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace watchfloor::bench

namespace {
constexpr char kUsage[] = R"(
federation_bench: propagation latency, duplicate copies and anti-entropy
bytes of a real federation: N member nodes (NodeServer) in this process on
127.0.0.1, real mutual TLS between them and to their clients, real SQLite
(WAL, synchronous=FULL) in temporary data dirs. Everything is minted here:
member keys, member CAs, node and client certificates, node signing keys
and a genesis roster signed by a majority of the members.

Usage: federation_bench [--nodes=5,10] [--rate=1000] [--seconds=10]
                        [--warmup=1000] [--runs=3] [--publish_at=all|one]
                        [--ae_interval_ms=2000] [--ae_alerts=1000,100000]
                        [--ae_origins=1,10,100] [--ae_diffs=10,100,1000]
                        [--diff_origins=10] [--wait_idle=0.3]
                        [--skip_propagation] [--skip_anti_entropy] [--dir=/tmp]
       federation_bench --smoke   (a ~5 s check that everything works)
)";
}  // namespace

int main(int argc, char** argv) {
  watchfloor::bench::CheckFlags(argc, argv, kUsage,
                                {"ae_alerts", "ae_diffs", "ae_interval_ms", "ae_origins",
                                 "diff_origins", "dir", "nodes", "publish_at", "rate", "runs",
                                 "seconds", "skip_anti_entropy", "skip_propagation", "smoke",
                                 "wait_idle", "warmup"});
  return watchfloor::bench::Main(argc, argv);
}
