// audit_bench: offline audit of a 100,000-alert bundle (certs::Audit, what
// `watchfloor audit` runs) against the raw Ed25519 verify rate of the same
// signatures, measured in the same run.
//
// The bundle: a 3-member roster (members a/b/c.bench.example, one node each,
// freshly minted CAs and keys, threshold 2), --alerts alerts split round
// robin over the three origins' feeds (chained, sequences 1..n), each
// origin's Merkle tree (certs::MerkleTree) with one checkpoint of its whole
// feed cosigned by the two other nodes, every alert with its inclusion proof
// to it, every origin complete. Serialized as `watchfloor export` writes it
// (head message, then the alerts in a second message).
//
// Per repetition (--runs, interleaved so every figure sees the same load):
//   audit N threads   parse the bundle bytes into an AuditBundle, then
//                     certs::Audit(bundle, {anchor: the roster, threads: N})
//                     for N = 2 and 1; the report must be clean;
//   raw verify        certs::PublicKey::Verify (libsodium
//                     crypto_sign_verify_detached, what certs uses) over the
//                     same alerts' DSSE PAE bytes (built beforehand) and
//                     signatures, on 1 thread and on 2 threads (halves).
// Rates are alerts per second; the target's ratio is audit(2) / raw(2).
// Then, once, the real binary end to end: the bundle and roster written to a
// temp dir and `watchfloor audit FILE --roster ROSTER --threads 2` timed
// (wall and the child's CPU), as an auditor runs it.
//
// Usage: audit_bench [--alerts=100000] [--runs=5] [--binary=PATH] [--dir=/tmp]
//        audit_bench --smoke   (a < 5 s check that everything works)
#include <fcntl.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/bench_util.h"
#include "certs/audit.h"
#include "certs/dsse.h"
#include "certs/ids.h"
#include "certs/keys.h"
#include "certs/merkle.h"
#include "certs/note.h"
#include "certs/roster.h"
#include "certs/x509.h"
#include "watchfloor/v1/audit.pb.h"

#ifndef WF_WATCHFLOOR_BINARY
#define WF_WATCHFLOOR_BINARY "node/cli/watchfloor"
#endif

namespace watchfloor::bench {
namespace {

constexpr double kTargetRatio = 0.8;

template <typename T>
T Must(absl::StatusOr<T> v, const std::string& what) {
  if (!v.ok()) Die(absl::StrCat(what, ": ", v.status().ToString()));
  return *std::move(v);
}

int64_t IntFlag(int argc, char** argv, const std::string& name, const std::string& def) {
  int64_t n = 0;
  const std::string v = FlagValue(argc, argv, name, def);
  if (!absl::SimpleAtoi(v, &n) || n < 1) Die(absl::StrCat("--", name, "=", v, " is not a positive number"));
  return n;
}

struct Party {
  std::string member;
  std::string origin;
  certs::SigningKey member_key;
  certs::SigningKey node_key;
};

// The signed 3-member roster (threshold 2, signed by all three).
v1::Envelope MakeRoster(const std::vector<Party>& parties) {
  v1::Roster roster;
  roster.set_federation("audit-bench");
  roster.set_version(1);
  roster.set_threshold(2);
  roster.mutable_issued_at()->set_seconds(absl::ToUnixSeconds(absl::Now()));
  for (const Party& p : parties) {
    v1::RosterMember* m = roster.add_members();
    m->set_name(p.member);
    m->set_member_key_pem(p.member_key.public_key().ToPem());
    const certs::KeyAndCert ca = Must(
        certs::MintMemberCa(p.member, absl::Now() - absl::Hours(1), absl::Now() + absl::Hours(24)),
        "mint CA");
    m->set_ca_cert_pem(ca.cert_pem);
    v1::RosterNode* n = m->add_nodes();
    n->set_origin(p.origin);
    n->set_signing_key_pem(p.node_key.public_key().ToPem());
    n->add_endpoints(absl::StrCat("n1.", p.member, ":7443"));
  }
  v1::Envelope env = Must(certs::MakeRosterDraft(roster), "roster draft");
  for (const Party& p : parties) env = Must(certs::SignRoster(env, p.member_key), "sign roster");
  Must(certs::Roster::VerifyGenesis(env), "generated roster");
  return env;
}

// What the raw reference verifies: the PAE bytes and signature of every
// alert, and its signer's key.
struct RawItem {
  std::string pae;
  std::string sig;
  const certs::PublicKey* key;
};

struct Fixture {
  std::vector<Party> parties;
  v1::Envelope roster;
  std::string bundle_bytes;  // the bundle file
  std::vector<RawItem> raw;
};

Fixture Build(int64_t alerts) {
  Fixture f;
  for (const char* m : {"a.bench.example", "b.bench.example", "c.bench.example"}) {
    f.parties.push_back(Party{m, absl::StrCat(m, "/n1"), certs::SigningKey::Generate(),
                              certs::SigningKey::Generate()});
  }
  f.roster = MakeRoster(f.parties);
  const size_t np = f.parties.size();
  std::vector<std::vector<v1::Envelope>> feeds(np);
  std::vector<certs::MerkleTree> trees(np);
  std::vector<std::string> previous(np);
  for (int64_t i = 0; i < alerts; ++i) {
    const size_t p = static_cast<size_t>(i) % np;
    v1::Alert a = SampleDraft(i);
    a.set_origin(f.parties[p].origin);
    a.set_sequence(feeds[p].size() + 1);
    a.set_previous(previous[p]);
    a.mutable_issued_at()->set_seconds(1798765200 + i);
    const std::string payload = a.SerializeAsString();
    feeds[p].push_back(
        certs::SignEnvelope(payload, certs::kAlertPayloadType, f.parties[p].node_key));
    trees[p].Append(certs::HashLeaf(payload));
    previous[p] = certs::AlertId(payload);
  }
  v1::AuditBundle head;
  head.set_format(std::string(certs::kBundleFormat));
  *head.mutable_roster() = f.roster;
  head.set_exported_at_ms(absl::ToUnixMillis(absl::Now()));
  v1::AuditBundle tail;
  const uint64_t time = absl::ToUnixSeconds(absl::Now());
  // The exporter's signed claims (c.bench.example/n1), as Node.Export sends.
  v1::ExportClaims claims;
  claims.set_exporter(f.parties[np - 1].origin);
  claims.set_roster_version(Must(certs::ParseRosterPayload(f.roster), "roster").version());
  claims.set_exported_at_ms(head.exported_at_ms());
  for (size_t p = 0; p < np; ++p) {
    const uint64_t size = trees[p].size();
    if (size == 0) continue;
    const std::string log = certs::LogOrigin(f.parties[p].origin);
    const std::string body = certs::FormatCheckpoint({log, size, trees[p].Root(), {}});
    std::string note = certs::SignNote(body, log, f.parties[p].node_key);
    for (size_t w = 0; w < np; ++w) {
      if (w == p) continue;
      note += certs::CosignatureLine(body, certs::LogOrigin(f.parties[w].origin),
                                     f.parties[w].node_key, time);
    }
    head.add_checkpoints()->set_note(note);
    head.add_complete_origins(f.parties[p].origin);
    claims.add_complete_origins(f.parties[p].origin);
    v1::OriginCut* cut = claims.add_origins();
    cut->set_origin(f.parties[p].origin);
    cut->set_tree_size(size);
    cut->set_root_hash(trees[p].Root());
    cut->set_alerts(size);
    for (uint64_t s = 1; s <= size; ++s) {
      v1::BundledAlert* ba = tail.add_alerts();
      *ba->mutable_envelope() = feeds[p][s - 1];
      ba->set_tree_size(size);
      for (std::string& h : Must(trees[p].InclusionProof(s - 1, size), "inclusion proof")) {
        ba->add_inclusion_proof(std::move(h));
      }
      f.raw.push_back(RawItem{certs::Pae(feeds[p][s - 1].payload_type(),
                                         feeds[p][s - 1].payload()),
                              feeds[p][s - 1].signatures(0).sig(),
                              &f.parties[p].node_key.public_key()});
    }
  }
  *head.mutable_claims() = certs::SignEnvelope(
      claims.SerializeAsString(), certs::kExportClaimsPayloadType, f.parties[np - 1].node_key);
  f.bundle_bytes = head.SerializeAsString() + tail.SerializeAsString();
  return f;
}

// Alerts per second of parse + certs::Audit on `threads` threads; the
// parse's share of the time in *parse_share.
double AuditRate(const Fixture& f, const certs::Roster& anchor, int threads,
                 double* parse_share) {
  const auto start = SteadyClock::now();
  v1::AuditBundle bundle;
  if (!bundle.ParseFromString(f.bundle_bytes)) Die("bundle does not parse");
  const double parse_s = SecondsSince(start);
  certs::AuditOptions options;
  options.anchor = &anchor;
  options.threads = threads;
  const certs::AuditReport report = Must(certs::Audit(bundle, options), "audit");
  const double s = SecondsSince(start);
  if (!report.ok() || report.alerts != f.raw.size()) {
    Die(absl::StrCat("the bundle did not audit clean:\n", report.Summary()));
  }
  *parse_share = parse_s / s;
  return f.raw.size() / s;
}

// Median nanoseconds of certs::HashChildren over two 32-byte hashes: one
// step of inclusion-proof verification (batches of 1,000).
double HashChildrenNs() {
  std::string h(32, 'x');
  const std::string sibling(32, 'y');
  std::vector<double> ns;
  for (int b = 0; b < 200; ++b) {
    const auto t = SteadyClock::now();
    for (int i = 0; i < 1000; ++i) h = certs::HashChildren(h, sibling);
    ns.push_back(SecondsSince(t) * 1e9 / 1000);
  }
  return Median(ns);
}

// Alerts per second of raw libsodium verification on `threads` threads
// (contiguous shares).
double RawRate(const Fixture& f, int threads) {
  std::atomic<int64_t> failures{0};
  auto work = [&](size_t begin, size_t end) {
    int64_t bad = 0;
    for (size_t i = begin; i < end; ++i) {
      if (!f.raw[i].key->Verify(f.raw[i].pae, f.raw[i].sig)) ++bad;
    }
    failures += bad;
  };
  const size_t n = f.raw.size();
  const auto start = SteadyClock::now();
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(work, n * t / threads, n * (t + 1) / threads);
  work(0, n / threads);
  for (std::thread& t : pool) t.join();
  const double s = SecondsSince(start);
  if (failures.load() != 0) Die("a raw verification failed");
  return n / s;
}

void WriteFile(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
  if (!out) Die("cannot write " + path);
}

struct ChildRun {
  double wall_s = 0;
  double cpu_s = 0;  // user + system of the child
  int exit_code = -1;
};

// Runs `args` with stdout to `out_path`, waits, and times it.
ChildRun RunChild(const std::vector<std::string>& args, const std::string& out_path) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, out_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::vector<std::string> copy = args;
  std::vector<char*> argv;
  for (std::string& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  const auto start = SteadyClock::now();
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, args[0].c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    Die(absl::StrCat("cannot run ", args[0], ": ", std::strerror(rc),
                     "; build it (cmake --build build --target watchfloor) or pass --binary=PATH"));
  }
  int status = 0;
  struct rusage ru {};
  wait4(pid, &status, 0, &ru);
  ChildRun r;
  r.wall_s = SecondsSince(start);
  r.cpu_s = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
            ru.ru_stime.tv_usec / 1e6;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

const char* Verdict(bool met) { return met ? "MET" : "MISSED"; }

int Main(int argc, char** argv) {
  const bool smoke = HasFlag(argc, argv, "smoke");
  const int64_t alerts = smoke ? 2000 : IntFlag(argc, argv, "alerts", "100000");
  const int runs = smoke ? 1 : static_cast<int>(IntFlag(argc, argv, "runs", "5"));
  const std::string binary = FlagValue(argc, argv, "binary", WF_WATCHFLOOR_BINARY);
  TempDir dir(FlagValue(argc, argv, "dir", ""));
  PrintMachineHeader(dir.path());

  const auto build_start = SteadyClock::now();
  const Fixture f = Build(alerts);
  const certs::Roster anchor = Must(certs::Roster::VerifyGenesis(f.roster), "roster");
  const double proof_hashes = [&] {
    v1::AuditBundle b;
    b.ParseFromString(f.bundle_bytes);
    double h = 0;
    for (const auto& a : b.alerts()) h += a.inclusion_proof_size();
    return h / b.alerts_size();
  }();
  std::printf("bundle: %lld alerts of 3 origins, %.1f MiB, %.2f proof hashes per alert; built in %.1f s\n",
              static_cast<long long>(alerts), f.bundle_bytes.size() / 1048576.0, proof_hashes,
              SecondsSince(build_start));

  std::vector<double> audit2, audit1, raw1, raw2, ratio2, ratio1, parse2;
  double share2 = 0, share1 = 0;
  std::printf("\n%-4s %14s %14s %14s %14s %10s %10s\n", "run", "audit 2 thr/s", "audit 1 thr/s",
              "raw 2 thr/s", "raw 1 thr/s", "a2/raw2", "a2/raw1");
  for (int r = 0; r < runs; ++r) {
    // Alternate the order so neither figure always goes first.
    double a2, a1, v2, v1;
    if (r % 2 == 0) {
      a2 = AuditRate(f, anchor, 2, &share2);
      v2 = RawRate(f, 2);
      a1 = AuditRate(f, anchor, 1, &share1);
      v1 = RawRate(f, 1);
    } else {
      v1 = RawRate(f, 1);
      a1 = AuditRate(f, anchor, 1, &share1);
      v2 = RawRate(f, 2);
      a2 = AuditRate(f, anchor, 2, &share2);
    }
    audit2.push_back(a2);
    parse2.push_back(share2);
    audit1.push_back(a1);
    raw2.push_back(v2);
    raw1.push_back(v1);
    ratio2.push_back(a2 / v2);
    ratio1.push_back(a2 / v1);
    std::printf("%-4d %14.0f %14.0f %14.0f %14.0f %10.3f %10.3f\n", r + 1, a2, a1, v2, v1,
                a2 / v2, a2 / v1);
  }
  const double m_ratio2 = Median(ratio2);
  std::printf("\nmedians of %d runs (alerts/s):\n", runs);
  std::printf("  audit, parse + certs::Audit, 2 threads   %10.0f\n", Median(audit2));
  std::printf("  audit, parse + certs::Audit, 1 thread    %10.0f  (2 threads: %.2f x)\n",
              Median(audit1), Median(audit2) / Median(audit1));
  std::printf("  reference: raw libsodium verify, 2 thr   %10.0f\n", Median(raw2));
  std::printf("  reference: raw libsodium verify, 1 thr   %10.0f  (2 threads: %.2f x)\n",
              Median(raw1), Median(raw2) / Median(raw1));
  std::printf("  audit(2) / raw(2) = %.3f (median of per-run ratios)  target >= %.1f: %s\n",
              m_ratio2, kTargetRatio, Verdict(m_ratio2 >= kTargetRatio));
  std::printf("  audit(2) / raw(1) = %.3f;  audit(1) / raw(1) = %.3f\n", Median(ratio1),
              Median(audit1) / Median(raw1));
  // Where the rest goes: the bundle parse (single-threaded, before Audit)
  // and the inclusion proofs' hashing, next to one verify.
  const double hash_ns = HashChildrenNs();
  const double verify_us = 1e6 / Median(raw1);
  std::printf("  breakdown: bundle parse is %.1f %% of the 2-thread audit time; one "
              "certs::HashChildren %.0f ns x %.2f proof hashes = %.1f us per alert = %.1f %% of "
              "one raw verify (%.1f us)\n",
              Median(parse2) * 100, hash_ns, proof_hashes, hash_ns * proof_hashes / 1000,
              hash_ns * proof_hashes / 1000 / verify_us * 100, verify_us);

  // The real binary, end to end.
  const std::string bundle_path = dir.Join("bundle.wfb");
  const std::string roster_path = dir.Join("roster.json");
  WriteFile(bundle_path, f.bundle_bytes);
  WriteFile(roster_path, certs::EnvelopeToJson(f.roster) + "\n");
  const ChildRun child = RunChild(
      {binary, "audit", bundle_path, "--roster", roster_path, "--threads", "2"},
      dir.Join("audit.out"));
  if (child.exit_code != 0) {
    std::ifstream in(dir.Join("audit.out"));
    std::string out((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    Die(absl::StrCat("watchfloor audit exited ", child.exit_code, "; its output:\n", out));
  }
  const double e2e_rate = alerts / child.wall_s;
  std::printf("\nend to end: %s audit FILE --roster ROSTER --threads 2\n", binary.c_str());
  std::printf("  wall %.2f s (%.0f alerts/s, incl. process start, file read, roster check),"
              " CPU %.2f s (%.2f CPUs busy), exit 0\n",
              child.wall_s, e2e_rate, child.cpu_s, child.cpu_s / child.wall_s);
  std::printf("  vs raw verify 2 threads (median): %.3f;  vs raw 1 thread: %.3f\n",
              e2e_rate / Median(raw2), e2e_rate / Median(raw1));
  std::printf("load average at end %.2f\n", LoadAverage1());
  return 0;
}

}  // namespace
}  // namespace watchfloor::bench

namespace {
constexpr char kUsage[] = R"(
audit_bench: offline audit of a 100,000-alert bundle (certs::Audit, what
`watchfloor audit` runs) against the raw Ed25519 verify rate of the same
signatures, measured in the same run.

Usage: audit_bench [--alerts=100000] [--runs=5] [--binary=PATH] [--dir=/tmp]
       audit_bench --smoke   (a < 5 s check that everything works)
)";
}  // namespace

int main(int argc, char** argv) {
  watchfloor::bench::CheckFlags(argc, argv, kUsage, {"alerts", "binary", "dir", "runs", "smoke"});
  return watchfloor::bench::Main(argc, argv);
}
