// seal_bench: the CPU cost of sealing a TLP:RED alert to 1, 10 and 60
// recipient nodes (certs::SealAlert: one AES-256-GCM of the inner alert, one
// HPKE wrap of the content key per node) and of opening it at one recipient
// (certs::OpenSealedAlert), next to the plain Ed25519 signing and
// verification of the same alert (certs::SignEnvelope / VerifyEnvelope),
// measured in the same run, single-threaded.
//
// Two rows per recipient count:
//   warm  what a node pays per alert in steady state: its sender contexts
//         (certs::WrapContexts, one per recipient node and key epoch) and
//         the recipient's context cache (certs::UnwrapContexts) are set up,
//         so a wrap is one AES-256-GCM of 32 bytes;
//   cold  the first alert to recipients whose contexts are not set up yet
//         (a node's first sealed alert after a start or a key change; the
//         cost of every alert before multi-shot contexts): two X25519
//         scalar multiplications per recipient node to seal, one to open.
//
// "Publish CPU" is what the origin spends on one alert today: serialize and
// sign. Sealing adds SealAlert in front of it (the sealed outer alert is then
// signed like any other), so the figure reported is
//   seal overhead = SealAlert cost / sign cost   ("adds X x to publish CPU")
// and likewise open cost / verify cost for a recipient. Also printed, to
// explain the per-recipient slope: one X25519 key generation (the HPKE
// ephemeral key: one scalar multiplication) and one X25519 derive.
//
// Times are this thread's CPU time (CLOCK_THREAD_CPUTIME_ID), per call,
// averaged over --iters calls (seal: --iters / recipients calls); every
// repetition measures every operation once, interleaved, and the medians
// over --reps repetitions are printed, the ratios as medians of the
// per-repetition ratios (so both sides of a ratio saw the same load).
//
// Usage: seal_bench [--recipients=1,10,60] [--reps=9] [--iters=400]
//        seal_bench --smoke   (a < 1 s check that everything works)
//        seal_bench --help
#include <time.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "bench/bench_util.h"
#include "certs/dsse.h"
#include "certs/encryption_key.h"
#include "certs/keys.h"
#include "certs/seal.h"
#include "google/protobuf/util/time_util.h"

namespace watchfloor::bench {
namespace {

using watchfloor::v1::Alert;

constexpr char kUsage[] = R"(
seal_bench: the CPU cost of sealing a TLP:RED alert to N recipient nodes
(certs::SealAlert) and of opening it at one (certs::OpenSealedAlert), next to
Ed25519 SignEnvelope / VerifyEnvelope of the same alert in the same run;
thread CPU time, medians over --reps interleaved repetitions.

Usage: seal_bench [--recipients=1,10,60] [--reps=9] [--iters=400]
       seal_bench --smoke   (a < 1 s check that everything works)
)";

template <typename T>
T Must(absl::StatusOr<T> v, const std::string& what) {
  if (!v.ok()) Die(absl::StrCat(what, ": ", v.status().ToString()));
  return *std::move(v);
}

int IntFlag(int argc, char** argv, const std::string& name, int def) {
  int v = 0;
  const std::string s = FlagValue(argc, argv, name, std::to_string(def));
  if (!absl::SimpleAtoi(s, &v) || v < 1) Die("--" + name + " must be >= 1");
  return v;
}

// This thread's CPU time in seconds: the machine is shared, and CPU time is
// what the figure is about (wall time would count other processes' turns).
double ThreadCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

// Mean CPU microseconds per call of `op` over `iters` calls.
double CpuUsPerCall(int iters, const std::function<void()>& op) {
  const double start = ThreadCpuSeconds();
  for (int i = 0; i < iters; ++i) op();
  return (ThreadCpuSeconds() - start) * 1e6 / iters;
}

// The benchmark alert: SampleDraft's content with a RED header addressed
// to `members` member names.
Alert RedAlert(int members) {
  Alert a = SampleDraft(1);
  a.set_origin("bench.example/n1");
  a.set_sequence(42);
  a.set_previous(std::string(64, 'a'));
  *a.mutable_issued_at() =
      google::protobuf::util::TimeUtil::SecondsToTimestamp(1796284800);
  a.set_tlp(watchfloor::v1::TLP_RED);
  for (int m = 0; m < members; ++m) {
    a.add_recipients(absl::StrCat("m", m, ".example"));
  }
  return a;
}

// One recipient count's fixture: the alert, the recipients' keys, one
// sealed copy to open, and the node that opens it.
struct Fixture {
  int n = 0;
  Alert full;
  std::vector<certs::EncryptionKey> keys;
  std::vector<certs::SealRecipient> recipients;
  Alert sealed;
  std::string node;
  const certs::EncryptionKey* node_key = nullptr;
  // The sender's contexts and the recipient's cache, set up once.
  std::unique_ptr<certs::WrapContexts> contexts =
      std::make_unique<certs::WrapContexts>();
  std::unique_ptr<certs::UnwrapContexts> cache =
      std::make_unique<certs::UnwrapContexts>();
};

Fixture MakeFixture(int n) {
  Fixture f;
  f.n = n;
  f.full = RedAlert(n);
  for (int m = 0; m < n; ++m) {
    f.keys.push_back(certs::EncryptionKey::Generate());
    f.recipients.push_back(
        {absl::StrCat("m", m, ".example/n1"), 0, f.keys.back().public_key()});
  }
  f.sealed = Must(certs::SealAlert(f.full, f.recipients, *f.contexts), "seal");
  // Open as the last node in key order (it scans past all the others).
  f.node = f.sealed.sealed().keys(n - 1).node();
  for (int m = 0; m < n; ++m) {
    if (f.recipients[m].node == f.node) f.node_key = &f.keys[m];
  }
  return f;
}

// Steady state: the fixture's sender contexts.
void SealWarm(const Fixture& f) {
  Must(certs::SealAlert(f.full, f.recipients, *f.contexts), "seal");
}

// Fresh contexts for this alert only.
void SealCold(const Fixture& f) {
  Must(certs::SealAlert(f.full, f.recipients), "seal");
}

void Open(const Fixture& f, certs::UnwrapContexts* cache) {
  Must(certs::OpenSealedAlert(f.sealed, f.node,
                              [&](uint64_t) { return f.node_key; }, cache),
       "open");
}

}  // namespace
}  // namespace watchfloor::bench

int main(int argc, char** argv) {
  using namespace watchfloor::bench;
  using watchfloor::certs::EncryptionKey;
  CheckFlags(argc, argv, kUsage, {"iters", "recipients", "reps", "smoke"});
  const bool smoke = HasFlag(argc, argv, "smoke");
  const int reps = smoke ? 2 : IntFlag(argc, argv, "reps", 9);
  const int iters = smoke ? 20 : IntFlag(argc, argv, "iters", 400);
  std::vector<int> counts;
  for (absl::string_view s : absl::StrSplit(
           smoke ? "1,10" : FlagValue(argc, argv, "recipients", "1,10,60"),
           ',')) {
    int n = 0;
    if (!absl::SimpleAtoi(s, &n) || n < 1 ||
        n > watchfloor::certs::kMaxSealedRecipients) {
      Die(absl::StrCat("--recipients: each count must be 1..",
                       watchfloor::certs::kMaxSealedRecipients));
    }
    counts.push_back(n);
  }
  PrintMachineHeader("/tmp");
  std::printf("reps %d x iters %d; medians, microseconds per alert\n\n", reps,
              iters);

  // References: sign and verify the same (clear) alert, and the two X25519
  // operations each wrapped key costs.
  const watchfloor::certs::SigningKey signer =
      watchfloor::certs::SigningKey::Generate();
  const std::string payload = RedAlert(10).SerializeAsString();
  const auto envelope = watchfloor::certs::SignEnvelope(
      payload, watchfloor::certs::kAlertPayloadType, signer);
  const auto sign = [&] {
    watchfloor::certs::SignEnvelope(payload,
                                    watchfloor::certs::kAlertPayloadType,
                                    signer);
  };
  const auto verify = [&] {
    if (!watchfloor::certs::VerifyEnvelope(envelope, signer.public_key()).ok()) {
      Die("verify failed");
    }
  };
  const EncryptionKey a = EncryptionKey::Generate();
  const EncryptionKey b = EncryptionKey::Generate();
  const auto keygen = [] { EncryptionKey::Generate(); };
  const auto derive = [&] { Must(a.DiffieHellman(b.public_key()), "derive"); };
  std::vector<Fixture> fixtures;
  for (int n : counts) fixtures.push_back(MakeFixture(n));

  // Interleaved: every repetition measures everything once, so the ratios
  // compare operations under the same machine load; medians of each.
  std::vector<double> sign_us, verify_us, keygen_us, derive_us;
  // [fixture][0 = warm, 1 = cold]
  using Samples = std::vector<std::vector<std::vector<double>>>;
  const auto samples = [&] {
    return Samples(counts.size(), std::vector<std::vector<double>>(2));
  };
  Samples seal_us = samples(), open_us = samples(), seal_ratio = samples(),
          open_ratio = samples();
  sign();  // warm-up: OpenSSL's first fetches, per-thread contexts
  for (const Fixture& f : fixtures) {
    SealWarm(f);
    SealCold(f);
    Open(f, f.cache.get());
    Open(f, nullptr);
  }
  for (int r = 0; r < reps; ++r) {
    const double s = CpuUsPerCall(iters, sign);
    const double v = CpuUsPerCall(iters, verify);
    sign_us.push_back(s);
    verify_us.push_back(v);
    keygen_us.push_back(CpuUsPerCall(iters, keygen));
    derive_us.push_back(CpuUsPerCall(iters, derive));
    for (size_t i = 0; i < fixtures.size(); ++i) {
      const Fixture& f = fixtures[i];
      // Fewer cold calls for big recipient counts: about the same time per row.
      const int k = std::max(1, iters / f.n);
      const double seal[2] = {CpuUsPerCall(iters, [&] { SealWarm(f); }),
                              CpuUsPerCall(k, [&] { SealCold(f); })};
      const double open[2] = {
          CpuUsPerCall(iters, [&] { Open(f, f.cache.get()); }),
          CpuUsPerCall(iters, [&] { Open(f, nullptr); })};
      for (int w = 0; w < 2; ++w) {
        seal_us[i][w].push_back(seal[w]);
        open_us[i][w].push_back(open[w]);
        seal_ratio[i][w].push_back(seal[w] / s);
        open_ratio[i][w].push_back(open[w] / v);
      }
    }
  }
  std::printf("reference  Ed25519 sign %.1f us   verify %.1f us   "
              "(SignEnvelope/VerifyEnvelope, %zu-byte alert)\n",
              Median(sign_us), Median(verify_us), payload.size());
  std::printf("reference  X25519 keygen %.1f us   derive %.1f us   "
              "(one scalar multiplication each)\n\n",
              Median(keygen_us), Median(derive_us));
  std::printf("%10s %5s %10s %12s %10s %12s %12s %14s\n", "recipients",
              "ctx", "seal us", "seal/sign", "open us", "open/verify",
              "outer bytes", "seal us/node");
  for (size_t i = 0; i < fixtures.size(); ++i) {
    const int n = fixtures[i].n;
    for (int w = 0; w < 2; ++w) {
      std::printf("%10d %5s %10.1f %11.2fx %10.1f %11.2fx %12zu %14.1f\n", n,
                  w == 0 ? "warm" : "cold", Median(seal_us[i][w]),
                  Median(seal_ratio[i][w]), Median(open_us[i][w]),
                  Median(open_ratio[i][w]), fixtures[i].sealed.ByteSizeLong(),
                  Median(seal_us[i][w]) / n);
    }
    if (n == 10) {
      const double x = Median(seal_ratio[i][0]);
      std::printf("  -> sealing to 10 recipients adds %.2fx to publish CPU in "
                  "steady state (publish = one sign; sealed publish = seal + "
                  "sign = %.2fx a sign); target <= 1.5x: %s. The first alert "
                  "after a start or key change: %.1fx\n",
                  x, x + 1, x <= 1.5 ? "met" : "MISSED",
                  Median(seal_ratio[i][1]));
    }
  }
  return 0;
}
