// roster_bench: issue 9's two timings of a running federation changing its
// roster, on `watchfloor node` child processes over real mutual TLS on
// 127.0.0.1, real SQLite, the DEFAULT gossip intervals (anti-entropy 2 s,
// graft 150 ms, eager fanout 3). The federation and its files come from the
// tests' TestFederation (multi-process mode); versions are drafted and
// signed with the CLI (`roster draft --from`, `roster sign`) as operators do.
//
//  adoption  For each N in --nodes: N members, all running. --rounds
//            successive versions, each changing only `expires` and signed
//            by a threshold of members (a different subset each round), each
//            handed to ONE node (a different one each round) by
//            Node.SubmitRoster. Figure: from the call to the moment the LAST
//            node's Node.GetRosterStatus reports the version [target <= 2 s].
//            Reference, same federation, right after each version: one alert
//            published at that same node, until the last node's
//            Node.GetAlert finds it. Every node is watched by a thread of its
//            own polling every --poll_ms, for both, so both figures carry the
//            same polling delay.
//  catch-up  --catchup_nodes members running, a member outside the genesis
//            roster. --alerts alerts published through Node.Publish (the
//            members' own clients, --publishers concurrent callers spread
//            over the nodes) until every node stores all of them. Then a
//            version admitting the new member, submitted at one node and
//            adopted by all; the new member's node is started with that
//            version as its roster_file (its only knowledge of the
//            federation: peers and endpoints come from it), and timed from
//            its start until it stores the same alerts as the others (same
//            count, same ids, every feed contiguous). Figure: alerts/s.
//            Reference, same run: raw libsodium Ed25519 verification
//            (certs::VerifyEnvelope, the node's own verify step) of the same
//            number of envelopes of the same alert size on one thread: the
//            CPU a catching-up node cannot avoid, one verify per alert.
//
// Usage: roster_bench [--nodes=5,10] [--rounds=6] [--alerts=100000]
//                     [--catchup_nodes=3] [--publishers=12] [--poll_ms=10]
//                     [--skip_adoption] [--skip_catchup]
//        roster_bench --smoke   (3 nodes, 2 rounds, 300 alerts: a check that
//                                everything works, ~10 s)
// The `watchfloor` binary is found as the tests find it (WATCHFLOOR_BIN, else
// the build tree's node/cli/watchfloor); node logs and data live in a temp
// dir under $TEST_TMPDIR or /tmp, removed at exit.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/bench_util.h"
#include "certs/dsse.h"
#include "certs/ids.h"
#include "grpcpp/client_context.h"
#include "tests/federation_util.h"
#include "tests/interop_test_util.h"
#include "tests/test_util.h"

namespace watchfloor::bench {
namespace {

namespace v1 = ::watchfloor::v1;
using testing::FederationOptions;
using testing::ProcResult;
using testing::TestFederation;

constexpr double kTargetAdoptionS = 2.0;
constexpr absl::Duration kConverge = absl::Seconds(120);

template <typename T>
T* WithDeadline(T* ctx, int seconds = 5) {
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
  return ctx;
}

void Check(const absl::Status& st, const std::string& what) {
  if (!st.ok()) Die(absl::StrCat(what, ": ", st.ToString()));
}

double Ms(double seconds) { return seconds * 1e3; }

// A federation of child-process nodes on the default gossip intervals
// (TestFederation's own default is a 300 ms anti-entropy for tests).
FederationOptions Options(int members, int roster_members) {
  FederationOptions o;
  o.members = members;
  o.roster_members = roster_members;
  o.multi_process = true;
  o.anti_entropy_interval_ms = 0;  // unset in the config: the node's default
  return o;
}

// The roster version node i runs (0 if it does not answer).
uint64_t VersionAt(TestFederation& fed, int i) {
  v1::GetRosterStatusResponse status;
  grpc::ClientContext ctx;
  grpc::Status st =
      fed.Client(i)->GetRosterStatus(WithDeadline(&ctx), v1::GetRosterStatusRequest(), &status);
  return st.ok() ? status.version() : 0;
}

// How many peers node i has heard a frontier from (-1 if it does not answer).
int PeersReporting(TestFederation& fed, int i) {
  v1::GetRosterStatusResponse status;
  grpc::ClientContext ctx;
  grpc::Status st =
      fed.Client(i)->GetRosterStatus(WithDeadline(&ctx), v1::GetRosterStatusRequest(), &status);
  if (!st.ok()) return -1;
  int n = 0;
  for (const v1::PeerRosterStatus& p : status.peers()) n += p.version() != 0;
  return n;
}

bool HasAlert(TestFederation& fed, int i, const std::string& id) {
  v1::GetAlertRequest req;
  req.set_id(id);
  v1::GetAlertResponse resp;
  grpc::ClientContext ctx;
  return fed.Client(i)->GetAlert(WithDeadline(&ctx), req, &resp).ok();
}

// Runs `act` and measures, per node, the time from just before it until
// `done(node)` first holds, as seen by one polling thread per node (every
// `poll`). `done` may only start being asked once `act` has returned if
// `after_act` is set (e.g. it needs what `act` returned). Returns seconds
// per node; dies after kConverge.
std::vector<double> TimeUntilEveryNode(int n, absl::Duration poll, bool after_act,
                                       const std::function<void()>& act,
                                       const std::function<bool(int)>& done) {
  std::vector<double> at(n, -1);
  std::atomic<bool> go{false};
  SteadyClock::time_point start;
  std::vector<std::thread> pollers;
  for (int i = 0; i < n; ++i) {
    pollers.emplace_back([&, i] {
      while (!go.load(std::memory_order_acquire)) std::this_thread::yield();
      while (SecondsSince(start) < absl::ToDoubleSeconds(kConverge)) {
        if (done(i)) {
          at[i] = SecondsSince(start);
          return;
        }
        absl::SleepFor(poll);
      }
    });
  }
  start = SteadyClock::now();
  if (!after_act) go.store(true, std::memory_order_release);
  act();
  go.store(true, std::memory_order_release);
  for (std::thread& t : pollers) t.join();
  for (int i = 0; i < n; ++i) {
    if (at[i] < 0) Die(absl::StrCat("node ", i, " did not get there within ", absl::FormatDuration(kConverge)));
  }
  return at;
}

// ------------------------------------------------------------------ adoption

struct AdoptionFigures {
  int nodes = 0;
  std::vector<double> submit_s;     // SubmitRoster's own round trip
  std::vector<double> roster_s;     // to the last node's GetRosterStatus
  std::vector<double> alert_s;      // reference: one alert to the last node
};

AdoptionFigures RunAdoption(int n, int rounds, absl::Duration poll) {
  TestFederation fed(Options(n, 0));
  if (!fed.ok()) Die("minting the federation failed");
  Check(fed.StartAll(), "starting the nodes");
  const auto started = SteadyClock::now();
  // Warm-up: every node has heard a frontier from every peer (so every link
  // is up, as in a federation that has been running for a while), and one
  // alert has crossed to everyone (Plumtree's first pushes and prunes).
  if (!testing::WaitUntil(
          [&] {
            for (int i = 0; i < n; ++i) {
              if (PeersReporting(fed, i) != n - 1) return false;
            }
            return true;
          },
          kConverge, absl::Milliseconds(100))) {
    Die("the nodes did not all exchange frontiers");
  }
  v1::PublishResponse warm;
  if (!fed.Publish(0, SampleDraft(-1), &warm).ok()) Die("warm-up publish failed");
  if (!testing::WaitUntil(
          [&] {
            for (int i = 0; i < n; ++i) {
              if (!HasAlert(fed, i, warm.id())) return false;
            }
            return true;
          },
          kConverge, absl::Milliseconds(50))) {
    Die("the warm-up alert did not reach every node");
  }
  std::printf("  N = %d: %d nodes up, all links exchanged frontiers after %.1f s\n", n, n,
              SecondsSince(started));

  AdoptionFigures f;
  f.nodes = n;
  const int threshold = static_cast<int>(fed.roster_proto().threshold());
  std::string previous = fed.roster_file();
  for (int r = 0; r < rounds; ++r) {
    const uint64_t version = 2 + r;
    const std::string file = fed.dir().Join(absl::StrCat("roster-v", version, ".json"));
    std::vector<std::string> keys;
    for (int k = 0; k < threshold; ++k) keys.push_back(fed.member((r + k) % n).member_key_file);
    const std::string expires = absl::FormatTime(
        absl::RFC3339_sec, absl::Now() + absl::Hours(48) + absl::Minutes(r), absl::UTCTimeZone());
    ProcResult made = testing::DraftAndSignRoster(previous, file, {"--expires", expires}, keys);
    if (made.exit_code != 0) Die(absl::StrCat("drafting v", version, " failed: ", made.err));
    absl::StatusOr<v1::Envelope> env = certs::EnvelopeFromJson(testing::ReadFileOrDie(file));
    Check(env.status(), file);
    previous = file;

    const int at = r % n;
    double submit_s = 0;
    std::vector<double> roster = TimeUntilEveryNode(
        n, poll, /*after_act=*/false,
        [&] {
          v1::SubmitRosterRequest req;
          *req.add_versions() = *env;
          v1::SubmitRosterResponse resp;
          grpc::ClientContext ctx;
          const auto t = SteadyClock::now();
          grpc::Status st = fed.Client(at)->SubmitRoster(WithDeadline(&ctx), req, &resp);
          submit_s = SecondsSince(t);
          if (!st.ok()) Die(absl::StrCat("SubmitRoster v", version, ": ", st.error_message()));
        },
        [&](int i) { return VersionAt(fed, i) >= version; });

    // A failed publish (a deadline, on a loaded machine) is retried with a
    // fresh alert and a fresh clock, and reported.
    std::vector<double> alert;
    for (int attempt = 0;; ++attempt) {
      std::string id;
      grpc::Status published;
      alert = TimeUntilEveryNode(
          n, poll, /*after_act=*/true,
          [&] {
            v1::PublishResponse resp;
            published = fed.Publish(at, SampleDraft(1000 * attempt + r), &resp);
            id = resp.id();
          },
          [&](int i) { return !published.ok() || HasAlert(fed, i, id); });
      if (published.ok()) break;
      std::printf("    (reference alert at node %d: %s; publishing another)\n", at,
                  published.error_message().c_str());
      if (attempt == 2) Die("publish failed three times");
    }

    const double last_roster = Max(roster), last_alert = Max(alert);
    std::printf("    v%llu at node %d (signed by %d): SubmitRoster %.1f ms, last node %.1f ms "
                "(median node %.1f ms); one alert: last node %.1f ms\n",
                static_cast<unsigned long long>(version), at, threshold, Ms(submit_s),
                Ms(last_roster), Ms(Median(roster)), Ms(last_alert));
    f.submit_s.push_back(submit_s);
    f.roster_s.push_back(last_roster);
    f.alert_s.push_back(last_alert);
  }
  return f;
}

// ------------------------------------------------------------------ catch-up

struct CatchUpFigures {
  size_t running = 0;
  int64_t alerts = 0;
  double fill_s = 0;        // publishing until every running node stores all
  double admit_s = 0;       // SubmitRoster until every running node runs it
  double start_s = 0;       // the new node's start until it answers
  double catchup_s = 0;     // its start until it stores every alert
  std::vector<std::pair<int, double>> progress;  // (percent, seconds)
  double new_cpu_s = 0;     // the new node's CPU time until caught up
  double peers_cpu_s = 0;   // the running nodes' CPU time meanwhile
  double verify_rate = 0;   // reference: envelopes/s, one thread
};

// Publishes alerts 0..n-1 through the running nodes' Publish, `callers`
// concurrent synchronous calls spread over the nodes. Any failure is fatal:
// a retry after a deadline could store the alert twice (it is signed afresh,
// with a new sequence), and the count would no longer be `n`.
void Fill(TestFederation& fed, int nodes, int64_t n, int callers) {
  std::atomic<int64_t> next{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < callers; ++c) {
    threads.emplace_back([&, c] {
      const int node = c % nodes;
      for (int64_t k = next++; k < n; k = next++) {
        grpc::Status st = fed.Publish(node, SampleDraft(k));
        if (!st.ok()) {
          Die(absl::StrCat("publish ", k, " at node ", node, ": ", st.error_code(), " ",
                           st.error_message()));
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
}

// Ed25519 verification of `n` alert envelopes of the benchmark's size, one
// thread, as certs::VerifyEnvelope does it in the node: envelopes/s.
double VerifyRate(int64_t n) {
  const certs::SigningKey key = certs::SigningKey::Generate();
  std::vector<v1::Envelope> envs;
  envs.reserve(n);
  std::string previous;
  for (int64_t k = 0; k < n; ++k) {
    v1::Alert a = SampleDraft(k);
    a.set_origin("ref.bench/n1");
    a.set_sequence(k + 1);
    a.set_previous(previous);
    a.mutable_issued_at()->set_seconds(absl::ToUnixSeconds(absl::Now()));
    envs.push_back(certs::SignEnvelope(a.SerializeAsString(), certs::kAlertPayloadType, key));
    previous = certs::AlertId(envs.back().payload());
  }
  const auto start = SteadyClock::now();
  int64_t ok = 0;
  for (const v1::Envelope& e : envs) ok += certs::VerifyEnvelope(e, key.public_key()).ok();
  const double s = SecondsSince(start);
  if (ok != n) Die("reference: an envelope did not verify");
  return n / s;
}

CatchUpFigures RunCatchUp(int running, int64_t alerts, int callers) {
  TestFederation fed(Options(running + 1, running));
  if (!fed.ok()) Die("minting the federation failed");
  std::vector<int> old_nodes;
  for (int i = 0; i < running; ++i) {
    Check(fed.StartNode(i), "starting a node");
    old_nodes.push_back(i);
  }
  CatchUpFigures f;
  f.alerts = alerts;
  f.running = old_nodes.size();
  auto t = SteadyClock::now();
  Fill(fed, running, alerts, callers);
  const double published_s = SecondsSince(t);
  if (!testing::WaitUntil([&] { return fed.AllHaveCount(alerts, old_nodes); },
                          absl::Minutes(30), absl::Milliseconds(250))) {
    Die("the running nodes did not all store every alert");
  }
  f.fill_s = SecondsSince(t);
  std::printf("  %lld alerts published in %.1f s (%.0f /s), on all %d nodes after %.1f s\n",
              static_cast<long long>(alerts), published_s, alerts / published_s, running,
              f.fill_s);

  // The version admitting the new member (as roster_live_test's admission,
  // and docs/FEDERATION.md "Admitting a member").
  const int nu = running;
  testing::FederationMember& m = fed.member(nu);
  testing::WriteFile(m.dir + "/member.pub", m.member_key->public_key().ToPem());
  testing::WriteFile(m.dir + "/signing.pub", m.signing_key->public_key().ToPem());
  const std::string member_file = m.dir + "/new.member";
  testing::WriteFile(member_file,
                     absl::StrCat("name: \"", m.name, "\"\n", "member_key_pem: \"@member.pub\"\n",
                                  "ca_cert_pem: \"@ca.crt\"\n", "nodes {\n  origin: \"", m.origin,
                                  "\"\n", "  signing_key_pem: \"@signing.pub\"\n",
                                  "  endpoints: \"", m.endpoint(), "\"\n}\n"));
  const std::string v2 = fed.dir().Join("roster-v2.json");
  std::vector<std::string> keys;
  for (uint32_t k = 0; k < fed.roster_proto().threshold(); ++k) {
    keys.push_back(fed.member(k).member_key_file);
  }
  ProcResult made = testing::DraftAndSignRoster(fed.roster_file(), v2,
                                                {"--add-member", member_file}, keys);
  if (made.exit_code != 0) Die(absl::StrCat("drafting the admission failed: ", made.err));
  absl::StatusOr<v1::Envelope> env = certs::EnvelopeFromJson(testing::ReadFileOrDie(v2));
  Check(env.status(), v2);
  t = SteadyClock::now();
  {
    v1::SubmitRosterRequest req;
    *req.add_versions() = *env;
    v1::SubmitRosterResponse resp;
    grpc::ClientContext ctx;
    grpc::Status st = fed.Client(0)->SubmitRoster(WithDeadline(&ctx), req, &resp);
    if (!st.ok()) Die(absl::StrCat("SubmitRoster: ", st.error_message()));
  }
  if (!testing::WaitUntil(
          [&] {
            for (int i : old_nodes) {
              if (VersionAt(fed, i) != 2) return false;
            }
            return true;
          },
          kConverge, absl::Milliseconds(10))) {
    Die("the admission was not adopted everywhere");
  }
  f.admit_s = SecondsSince(t);

  fed.config(nu).mutable_federation()->set_roster_file(v2);
  double peers_cpu0 = 0;
  for (int i : old_nodes) peers_cpu0 += CpuSecondsOf(fed.pid(i));
  t = SteadyClock::now();
  Check(fed.StartNode(nu), "starting the new member's node");
  f.start_s = SecondsSince(t);
  int next_percent = 10;
  int64_t stored = 0;
  while (stored < alerts) {
    if (SecondsSince(t) > 1800) Die(absl::StrCat("catch-up stuck at ", stored, " alerts"));
    absl::SleepFor(absl::Milliseconds(100));
    stored = fed.StoredAlertCount(nu);
    while (next_percent <= 100 && stored * 100 >= alerts * next_percent) {
      f.progress.push_back({next_percent, SecondsSince(t)});
      next_percent += next_percent < 90 ? 40 : 10;  // 10, 50, 90, 100 %
    }
  }
  f.catchup_s = SecondsSince(t);
  f.new_cpu_s = CpuSecondsOf(fed.pid(nu));
  for (int i : old_nodes) f.peers_cpu_s += CpuSecondsOf(fed.pid(i));
  f.peers_cpu_s -= peers_cpu0;
  if (stored != alerts) Die(absl::StrCat("the new node stores ", stored, " alerts, not ", alerts));
  Check(fed.CheckFeedsContiguous(nu), "the new node's feeds");
  if (fed.StoredIds(nu) != fed.StoredIds(0)) Die("the new node stores other alerts than node 0");

  f.verify_rate = VerifyRate(alerts);
  return f;
}

std::vector<int> IntList(const std::string& s) {
  std::vector<int> out;
  for (absl::string_view p : absl::StrSplit(s, ',', absl::SkipEmpty())) {
    int v = 0;
    if (!absl::SimpleAtoi(p, &v) || v < 2) Die(absl::StrCat("bad node count \"", p, "\""));
    out.push_back(v);
  }
  return out;
}

int Main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // progress, also into a file
  const bool smoke = HasFlag(argc, argv, "smoke");
  const std::vector<int> sizes = IntList(FlagValue(argc, argv, "nodes", smoke ? "3" : "5,10"));
  const int rounds = std::stoi(FlagValue(argc, argv, "rounds", smoke ? "2" : "6"));
  const int64_t alerts = std::stoll(FlagValue(argc, argv, "alerts", smoke ? "300" : "100000"));
  const int running = std::stoi(FlagValue(argc, argv, "catchup_nodes", "3"));
  const int callers = std::stoi(FlagValue(argc, argv, "publishers", "12"));
  const absl::Duration poll =
      absl::Milliseconds(std::stoi(FlagValue(argc, argv, "poll_ms", "10")));
  const bool adoption = !HasFlag(argc, argv, "skip_adoption");
  const bool catchup = !HasFlag(argc, argv, "skip_catchup");

  const char* tmp = std::getenv("TEST_TMPDIR");  // where TestFederation's TempDir goes
  PrintMachineHeader(tmp != nullptr ? tmp : "/tmp");
  std::printf("roster_bench: `watchfloor node` processes (%s), mutual TLS on 127.0.0.1, default "
              "gossip intervals; polling every %lld ms\n",
              testing::WatchfloorBinary().c_str(),
              static_cast<long long>(absl::ToInt64Milliseconds(poll)));

  std::vector<AdoptionFigures> adopted;
  if (adoption) {
    std::printf("\nadoption: SubmitRoster at one node -> the last node runs it, %d versions per "
                "federation\n", rounds);
    for (int n : sizes) adopted.push_back(RunAdoption(n, rounds, poll));
  }
  std::optional<CatchUpFigures> caught;
  if (catchup) {
    std::printf("\ncatch-up: %d running nodes, %lld alerts, then a new member's node\n", running,
                static_cast<long long>(alerts));
    caught = RunCatchUp(running, alerts, callers);
  }

  std::printf("\nresults\n");
  for (const AdoptionFigures& f : adopted) {
    const double med = Median(f.roster_s), ref = Median(f.alert_s);
    std::printf("  adoption N=%-2d  last node: median %.1f ms, max %.1f ms  [target <= %.0f s: "
                "%s]  SubmitRoster median %.1f ms\n",
                f.nodes, Ms(med), Ms(Max(f.roster_s)), kTargetAdoptionS,
                Max(f.roster_s) <= kTargetAdoptionS ? "met" : "NOT met", Ms(Median(f.submit_s)));
    std::printf("    reference: one alert to the last node: median %.1f ms, max %.1f ms; "
                "ratio roster / alert = %.2f\n",
                Ms(ref), Ms(Max(f.alert_s)), ref > 0 ? med / ref : 0);
  }
  if (caught) {
    const CatchUpFigures& f = *caught;
    const double rate = f.alerts / f.catchup_s;
    std::printf("  catch-up of %lld alerts: %.1f s from start (node answering after %.2f s), "
                "%.0f alerts/s\n",
                static_cast<long long>(f.alerts), f.catchup_s, f.start_s, rate);
    std::printf("    progress:");
    for (const auto& [pct, s] : f.progress) std::printf(" %d%% %.1f s;", pct, s);
    std::printf("\n    admission adopted by the running nodes in %.1f ms\n", Ms(f.admit_s));
    std::printf("    CPU until caught up: new node %.1f s (%.0f us per alert), the %zu running "
                "nodes %.1f s; a raw verify is %.0f us\n",
                f.new_cpu_s, f.new_cpu_s / f.alerts * 1e6, f.running, f.peers_cpu_s,
                1e6 / f.verify_rate);
    std::printf("    reference: raw Ed25519 verify (VerifyEnvelope, 1 thread) of %lld envelopes: "
                "%.0f /s; ratio catch-up / verify = %.2f\n",
                static_cast<long long>(f.alerts), f.verify_rate, rate / f.verify_rate);
  }
  return 0;
}

}  // namespace
}  // namespace watchfloor::bench

namespace {
constexpr char kUsage[] = R"(
roster_bench: issue 9's two timings of a running federation changing its
roster, on `watchfloor node` child processes over real mutual TLS on
127.0.0.1, real SQLite, the DEFAULT gossip intervals (anti-entropy 2 s,
graft 150 ms, eager fanout 3). The federation and its files come from the
tests' TestFederation (multi-process mode); versions are drafted and
signed with the CLI (`roster draft --from`, `roster sign`) as operators do.

Usage: roster_bench [--nodes=5,10] [--rounds=6] [--alerts=100000]
                    [--catchup_nodes=3] [--publishers=12] [--poll_ms=10]
                    [--skip_adoption] [--skip_catchup]
       roster_bench --smoke   (3 nodes, 2 rounds, 300 alerts: a check that
                               everything works, ~10 s)
The `watchfloor` binary is found as the tests find it (WATCHFLOOR_BIN, else
the build tree's node/cli/watchfloor); node logs and data live in a temp
dir under $TEST_TMPDIR or /tmp, removed at exit.
)";
}  // namespace

int main(int argc, char** argv) {
  watchfloor::bench::CheckFlags(argc, argv, kUsage,
                                {"alerts", "catchup_nodes", "nodes", "poll_ms", "publishers",
                                 "rounds", "skip_adoption", "skip_catchup", "smoke"});
  return watchfloor::bench::Main(argc, argv);
}
