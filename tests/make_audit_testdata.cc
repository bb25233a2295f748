// Writes tests/testdata/audit/: a small federation's audit bundles, one clean
// (good.wfb) and one per tamper case, each with a <case>.expect naming the
// finding `watchfloor audit` must report. Everything is derived from fixed
// seeds and fixed times, so the output is the same byte for byte on every
// run; audit_test walks the directory.
//
//   build/tests/make_audit_testdata <source dir>
//       rewrites <source dir>/tests/testdata/audit/ (commit the result)
//   build/tests/make_audit_testdata --large N FILE
//       writes a clean bundle of N alerts of one origin (for timing audits)
//
// The member CA certificates are taken from tests/testdata/roster/genesis.json
// (a roster needs real X.509 CAs, and minting one draws a fresh key).
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "certs/audit.h"
#include "certs/dsse.h"
#include "certs/ids.h"
#include "certs/keys.h"
#include "certs/merkle.h"
#include "certs/note.h"
#include "certs/roster.h"
#include "watchfloor/v1/audit.pb.h"

namespace watchfloor {
namespace {

using certs::SigningKey;
using v1::AuditBundle;
using v1::Envelope;

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "make_audit_testdata: %s\n", what.c_str());
  std::exit(1);
}

template <typename T>
T Must(absl::StatusOr<T> v, const std::string& what) {
  if (!v.ok()) Die(absl::StrCat(what, ": ", v.status().ToString()));
  return *std::move(v);
}

// Seeds are SHA-256 of a label, so every key is reproducible from its name.
SigningKey KeyFor(const std::string& label) {
  return Must(SigningKey::FromSeed(certs::Sha256("watchfloor audit testdata " + label)),
              "seed");
}

struct Party {
  std::string member;  // a.cz
  std::string origin;  // a.cz/n1
  SigningKey member_key;
  SigningKey node_key;
};

const std::vector<Party>& Parties() {
  static const std::vector<Party>* parties = [] {
    auto* out = new std::vector<Party>;
    for (const char* m : {"a.cz", "b.cz", "c.cz"}) {
      out->push_back(Party{m, absl::StrCat(m, "/n1"), KeyFor(absl::StrCat("member ", m)),
                           KeyFor(absl::StrCat("node ", m, "/n1"))});
    }
    return out;
  }();
  return *parties;
}
const Party& A() { return Parties()[0]; }
const Party& B() { return Parties()[1]; }
const Party& C() { return Parties()[2]; }
const SigningKey& Outsider() {
  static const SigningKey* key = new SigningKey(KeyFor("outsider"));
  return *key;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) Die("cannot read " + path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteFile(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
  if (!out) Die("cannot write " + path);
}

// a.cz/n1's node key in roster version `version` (v1: its Party key; the
// rotated chain gives it a new key in v2 and v3).
const SigningKey& NodeKeyOfA(uint64_t version) {
  static const SigningKey* v2 = new SigningKey(KeyFor("node a.cz/n1 v2"));
  static const SigningKey* v3 = new SigningKey(KeyFor("node a.cz/n1 v3"));
  return version >= 3 ? *v3 : version == 2 ? *v2 : A().node_key;
}

// The 2-of-3 roster "audit-example" at `version`, signed by a.cz and b.cz
// (whose member keys never change, so each version also meets the previous
// one's threshold): v1 is roster.json; v2 and v3 rotate a.cz/n1's node key.
// With `a_key_from` > 1 (v2 only), a.cz/n1's key history is stated: its v2
// key signs from sequence a_key_from on, its v1 key 1..a_key_from-1.
Envelope MakeRoster(const std::string& genesis_json, uint64_t version = 1,
                    uint64_t a_key_from = 0) {
  const v1::Roster ca_source = Must(
      certs::ParseRosterPayload(Must(certs::EnvelopeFromJson(genesis_json), "genesis.json")),
      "genesis.json payload");
  v1::Roster roster;
  roster.set_federation("audit-example");
  roster.set_version(version);
  roster.set_threshold(2);
  roster.mutable_issued_at()->set_seconds(1798761600 + 86400 * (version - 1));  // 2027-01-01
  for (const Party& p : Parties()) {
    v1::RosterMember* m = roster.add_members();
    m->set_name(p.member);
    m->set_member_key_pem(p.member_key.public_key().ToPem());
    for (const auto& src : ca_source.members()) {
      if (src.name() == p.member) m->set_ca_cert_pem(src.ca_cert_pem());
    }
    v1::RosterNode* n = m->add_nodes();
    n->set_origin(p.origin);
    const SigningKey& node_key = &p == &A() ? NodeKeyOfA(version) : p.node_key;
    n->set_signing_key_pem(node_key.public_key().ToPem());
    if (&p == &A() && a_key_from > 1) {
      n->set_key_from_sequence(a_key_from);
      v1::PreviousNodeKey* prev = n->add_previous_keys();
      prev->set_signing_key_pem(NodeKeyOfA(1).public_key().ToPem());
      prev->set_first_sequence(1);
      prev->set_last_sequence(a_key_from - 1);
    }
    n->add_endpoints(absl::StrCat("n1.", p.member, ":7443"));
  }
  Envelope env = Must(certs::MakeRosterDraft(roster), "roster draft");
  env = Must(certs::SignRoster(env, A().member_key), "sign roster");
  env = Must(certs::SignRoster(env, B().member_key), "sign roster");
  Must(certs::Roster::VerifyGenesis(env), "generated roster");
  return env;
}

// The rosters v1..v3, set once by main's mode.
std::vector<Envelope>* g_chain = nullptr;
// v2 with a.cz/n1's key history stated (from sequence 5).
Envelope* g_history_v2 = nullptr;

// One origin's feed: the signed envelopes and the Merkle tree over their ids.
struct Feed {
  const Party* party;
  std::vector<Envelope> envelopes;
  certs::MerkleTree tree;
  // Signs the feed's checkpoints (the origin's key in the newest roster).
  const SigningKey* checkpoint_key;
};

using Mutation = std::function<void(v1::Alert&)>;
// The key that signs alert `seq` (default: the party's node key).
using KeyForSeq = std::function<const SigningKey&(int seq)>;

Feed BuildFeed(const Party& party, int n, const Mutation& mutate = nullptr,
               const KeyForSeq& key_for = nullptr) {
  Feed feed{&party, {}, {}, &party.node_key};
  std::string previous;
  for (int seq = 1; seq <= n; ++seq) {
    v1::Alert a;
    a.set_origin(party.origin);
    a.set_sequence(seq);
    a.set_previous(previous);
    a.mutable_issued_at()->set_seconds(1798765200 + 60 * seq);
    a.set_severity(v1::SEVERITY_HIGH);
    a.set_category("dns.hijack");
    a.set_tlp(v1::TLP_GREEN);
    a.set_title(absl::StrCat("audit example ", party.origin, " #", seq));
    a.add_domains(absl::StrCat("example", seq, ".cz"));
    if (mutate) mutate(a);
    const std::string payload = a.SerializeAsString();
    feed.envelopes.push_back(certs::SignEnvelope(payload, certs::kAlertPayloadType,
                                                 key_for ? key_for(seq) : party.node_key));
    feed.tree.Append(certs::HashLeaf(payload));
    previous = certs::AlertId(payload);
  }
  return feed;
}

// The checkpoint of `feed` at `size`, signed by its origin, cosigned by
// `witnesses` at `time` (a.cz/n1 with its key in roster `a_version`).
std::string CheckpointNote(const Feed& feed, uint64_t size,
                           const std::vector<const Party*>& witnesses, uint64_t time = 1798770000,
                           uint64_t a_version = 1) {
  const std::string log = certs::LogOrigin(feed.party->origin);
  const std::string body = certs::FormatCheckpoint(
      {log, size, Must(feed.tree.RootAt(size), "root"), {}});
  std::string note = certs::SignNote(body, log, *feed.checkpoint_key);
  for (const Party* w : witnesses) {
    const SigningKey& key = w == &A() ? NodeKeyOfA(a_version) : w->node_key;
    note += certs::CosignatureLine(body, certs::LogOrigin(w->origin), key, time);
  }
  return note;
}

void AddAlert(AuditBundle& bundle, const Feed& feed, int seq, uint64_t tree_size) {
  v1::BundledAlert* a = bundle.add_alerts();
  *a->mutable_envelope() = feed.envelopes[seq - 1];
  a->set_tree_size(tree_size);
  if (static_cast<uint64_t>(seq) <= tree_size) {
    for (std::string& h : Must(feed.tree.InclusionProof(seq - 1, tree_size), "proof")) {
      a->add_inclusion_proof(h);
    }
  }
}

// The roster every bundle carries; set once by main's mode.
Envelope* g_roster = nullptr;

// Signs `bundle`'s claims as its exporter c.cz/n1 would: where each origin
// is cut (its largest checkpoint), how many of its alerts the bundle holds,
// the filter, complete origins, export time and roster version. Called on
// a bundle as exported; tamper cases change the bundle afterwards.
void SignClaims(AuditBundle& bundle) {
  v1::ExportClaims claims;
  claims.set_exporter(C().origin);
  claims.set_roster_version(Must(certs::ParseRosterPayload(bundle.roster()), "roster").version());
  claims.set_filter(bundle.filter());
  std::vector<std::string> complete(bundle.complete_origins().begin(),
                                    bundle.complete_origins().end());
  std::sort(complete.begin(), complete.end());
  for (const std::string& o : complete) claims.add_complete_origins(o);
  claims.set_exported_at_ms(bundle.exported_at_ms());
  std::map<std::string, certs::Checkpoint> cuts;
  for (const v1::BundledCheckpoint& cp : bundle.checkpoints()) {
    const certs::Checkpoint body = Must(
        certs::ParseCheckpoint(Must(certs::ParseNote(cp.note()), "note").text), "checkpoint");
    const std::string origin = Must(certs::FeedOriginFromLogOrigin(body.origin), "origin");
    auto [it, inserted] = cuts.emplace(origin, body);
    if (!inserted && body.size > it->second.size) it->second = body;
  }
  std::map<std::string, uint64_t> counts;
  for (const v1::BundledAlert& a : bundle.alerts()) {
    v1::Alert alert;
    if (!alert.ParseFromString(a.envelope().payload())) Die("alert payload");
    ++counts[alert.origin()];
  }
  for (const auto& [origin, cp] : cuts) {
    v1::OriginCut* cut = claims.add_origins();
    cut->set_origin(origin);
    cut->set_tree_size(cp.size);
    cut->set_root_hash(cp.root_hash);
    cut->set_alerts(counts[origin]);
  }
  *bundle.mutable_claims() = certs::SignEnvelope(
      claims.SerializeAsString(), certs::kExportClaimsPayloadType, C().node_key);
}

// a.cz/n1: 8 alerts, checkpoints of size 5 and 8 (both cosigned by b and c
// unless `witnesses_8` says otherwise). b.cz/n1: 4 alerts, one checkpoint of
// size 4 cosigned by a and c. Both origins complete.
AuditBundle MakeBundle(const Feed& a, const Feed& b,
                       std::vector<const Party*> witnesses_8 = {&B(), &C()},
                       uint64_t a_version = 1) {
  AuditBundle bundle;
  bundle.set_format(std::string(certs::kBundleFormat));
  *bundle.mutable_roster() = *g_roster;
  bundle.set_exported_at_ms(1798800000000);
  v1::BundledCheckpoint* cp5 = bundle.add_checkpoints();
  cp5->set_note(CheckpointNote(a, 5, {&B(), &C()}, 1798769000));
  for (std::string& h : Must(a.tree.ConsistencyProof(5, 8), "consistency")) {
    cp5->add_consistency_proof(h);
  }
  bundle.add_checkpoints()->set_note(CheckpointNote(a, 8, witnesses_8));
  bundle.add_checkpoints()->set_note(CheckpointNote(b, 4, {&A(), &C()}, 1798770000, a_version));
  for (int seq = 1; seq <= 8; ++seq) AddAlert(bundle, a, seq, 8);
  for (int seq = 1; seq <= 4; ++seq) AddAlert(bundle, b, seq, 4);
  bundle.add_complete_origins(A().origin);
  bundle.add_complete_origins(B().origin);
  SignClaims(bundle);
  return bundle;
}

// The bundle file: the alerts in a second serialized AuditBundle after the
// rest, as a streaming exporter writes it (the concatenation merges).
std::string BundleFile(const AuditBundle& bundle) {
  AuditBundle head = bundle;
  head.clear_alerts();
  AuditBundle tail;
  *tail.mutable_alerts() = bundle.alerts();
  return head.SerializeAsString() + tail.SerializeAsString();
}

struct Case {
  std::string name;
  std::string token;    // expected finding token, "ok" for none
  std::string origin;
  std::string message;  // substring of the finding's message
  std::string what;     // for the README
  AuditBundle bundle;
  // Further tokens the audit must report, and the number of findings in all.
  std::vector<std::string> also;
  size_t count = 1;
  std::string since;   // audit with --since <since>.wfb
  std::string anchor;  // audit with --roster <anchor>
  std::string error;   // the audit cannot run: this status code (token unused)
};

// The cosignature line `line` with its signature replaced by `forger`'s over
// the same message: the right witness name and key id, the wrong key.
std::string ForgeCosignature(const std::string& line, const std::string& body,
                             const SigningKey& forger) {
  const size_t space = line.rfind(' ');
  std::string blob;
  if (!absl::Base64Unescape(line.substr(space + 1, line.size() - space - 2), &blob) ||
      blob.size() != 76) {
    Die("cosignature line");
  }
  uint64_t time = 0;
  for (int i = 4; i < 12; ++i) time = time << 8 | static_cast<unsigned char>(blob[i]);
  blob = blob.substr(0, 12) + forger.Sign(certs::CosignatureMessage(body, time));
  return absl::StrCat(line.substr(0, space + 1), absl::Base64Escape(blob), "\n");
}

using AddCase = std::function<void(std::string, std::string, std::string, std::string,
                                   const std::function<void(AuditBundle&)>&)>;

// The cases of signed claims, omissions, roster chains and auditing over
// time. `add` copies `good`, tampers with it and appends the case; the
// fields a case needs beyond one finding are set on cases.back().
void CasesForIssue15(const Feed& a, const Feed& b, const AuditBundle& good,
                     std::vector<Case>& cases, const AddCase& add) {
  auto last = [&cases]() -> Case& { return cases.back(); };
  // ------------------------------------------------------------- claims
  add("claims-stripped", "claims_unsigned", "carries no signed export claims",
      "the signed claims removed (as in a bundle exported before claims were signed)",
      [](AuditBundle& x) { x.clear_claims(); });
  last().origin = "";
  add("claims-filter-altered", "claims_mismatch", "filter: the bundle says \"severity>=critical\"",
      "the unsigned filter set to severity>=critical, so the bundle looks filtered",
      [](AuditBundle& x) { x.set_filter("severity>=critical"); });
  last().origin = "";
  add("claims-exported-at-altered", "claims_mismatch", "exported_at_ms: the bundle says",
      "the unsigned export time moved one day later",
      [](AuditBundle& x) { x.set_exported_at_ms(x.exported_at_ms() + 86400000); });
  last().origin = "";
  add("claims-signature-flipped", "claims_invalid", "does not verify",
      "bit 0 of byte 9 of the claims signature flipped", [](AuditBundle& x) {
        (*x.mutable_claims()->mutable_signatures(0)->mutable_sig())[9] ^= 0x01;
      });
  last().origin = "";
  add("claims-by-outsider", "claims_invalid", "no signature by the roster key of c.cz/n1",
      "the claims, cut at a.cz/n1 size 5, re-signed by a key that is not in the roster",
      [](AuditBundle& x) {
        v1::ExportClaims claims;
        if (!claims.ParseFromString(x.claims().payload())) Die("claims");
        claims.mutable_origins(0)->set_tree_size(5);
        *x.mutable_claims() = certs::SignEnvelope(
            claims.SerializeAsString(), certs::kExportClaimsPayloadType, Outsider());
      });
  last().origin = "";
  add("claims-cut-earlier", "claims_mismatch", "cut the log at size 8",
      "a.cz/n1 cut at its size-5 checkpoint (the size-8 one and #6-#8 left out, proofs "
      "redone for size 5) under claims that cut it at 8",
      [&a](AuditBundle& x) {
        x.mutable_checkpoints()->DeleteSubrange(1, 1);
        x.mutable_checkpoints(0)->clear_consistency_proof();
        x.mutable_alerts()->DeleteSubrange(5, 3);
        for (int seq = 1; seq <= 5; ++seq) {
          v1::BundledAlert* alert = x.mutable_alerts(seq - 1);
          alert->set_tree_size(5);
          alert->clear_inclusion_proof();
          for (std::string& h : Must(a.tree.InclusionProof(seq - 1, 5), "proof")) {
            alert->add_inclusion_proof(h);
          }
        }
      });
  // -------------------------------------------------------------- omissions
  add("dropped-alert-complete-origins-cleared", "missing", "sequence 6",
      "a.cz/n1 #6 left out and complete_origins cleared (the outside check's repro)",
      [](AuditBundle& x) {
        x.mutable_alerts()->DeleteSubrange(5, 1);
        x.clear_complete_origins();
      });
  last().also = {"claims_mismatch"};
  last().count = 2;
  add("all-checkpoints-removed", "no_checkpoint", "cannot be placed in its log",
      "every checkpoint removed: one finding per origin, not one per alert",
      [](AuditBundle& x) { x.clear_checkpoints(); });
  last().count = 2;
  // A filtered export: a.cz/n1 #2, #4, #6, #8; b.cz/n1 none.
  AuditBundle filtered = good;
  filtered.clear_alerts();
  filtered.clear_complete_origins();
  filtered.set_filter("domain:example2.cz OR domain:example4.cz OR domain:example6.cz OR "
                      "domain:example8.cz");
  for (int seq = 2; seq <= 8; seq += 2) AddAlert(filtered, a, seq, 8);
  SignClaims(filtered);
  add("filtered", "ok", "",
      "a filtered export (a.cz/n1 #2, #4, #6, #8): clean; the report shows 4 of 8 not shown",
      [&filtered](AuditBundle& x) { x = filtered; });
  add("filtered-dropped-alert", "claims_mismatch", "count 4 alert(s) of a.cz/n1",
      "a.cz/n1 #4 left out of the filtered export", [&filtered](AuditBundle& x) {
        x = filtered;
        x.mutable_alerts()->DeleteSubrange(1, 1);
      });
  // ---------------------------------------------------------- roster chain
  // a.cz/n1's #1-#4 signed under its v1 key, #5-#8 under v2, its
  // checkpoints under v3; the bundle carries v1 and v2 before v3.
  const Feed rotated_a = [] {
    Feed f = BuildFeed(A(), 8, nullptr,
                       [](int seq) -> const SigningKey& { return NodeKeyOfA(seq <= 4 ? 1 : 2); });
    f.checkpoint_key = &NodeKeyOfA(3);
    return f;
  }();
  AuditBundle rotated = MakeBundle(rotated_a, b, {&B(), &C()}, 3);
  *rotated.mutable_roster() = (*g_chain)[2];
  *rotated.add_roster_chain() = (*g_chain)[0];
  *rotated.add_roster_chain() = (*g_chain)[1];
  SignClaims(rotated);
  add("rotated-chain", "ok", "",
      "roster chain v1 -> v2 -> v3: a.cz/n1's alerts signed under its v1 and v2 keys, its "
      "checkpoints under v3",
      [&rotated](AuditBundle& x) { x = rotated; });
  add("rotated-chain-broken-link", "", "the roster after v1 does not follow from it",
      "v2 in the chain with one of its two signatures removed", [&rotated](AuditBundle& x) {
        x = rotated;
        x.mutable_roster_chain(1)->mutable_signatures()->RemoveLast();
      });
  last().error = "UNAUTHENTICATED";
  add("rotated-chain-skipped-version", "", "skips versions",
      "the chain carries v1 and v3 but not v2", [&rotated](AuditBundle& x) {
        x = rotated;
        x.mutable_roster_chain()->DeleteSubrange(1, 1);
      });
  last().error = "FAILED_PRECONDITION";
  add("rotated-chain-not-reaching-anchor", "", "does not reach the anchor roster v1",
      "the chain is v3 alone (v2 left out), audited with --roster roster.json (v1)",
      [&rotated](AuditBundle& x) {
        x = rotated;
        x.clear_roster_chain();
      });
  last().error = "FAILED_PRECONDITION";
  last().anchor = "roster.json";
  // v2 states a.cz/n1's key history (v1 key 1..4, v2 key from 5): each key
  // signs only its own range, and a checkpoint is signed by the key of its
  // last entry or a later one.
  auto history_bundle = [&b](const KeyForSeq& key_for, const SigningKey& checkpoint_key) {
    Feed f = BuildFeed(A(), 8, nullptr, key_for);
    f.checkpoint_key = &checkpoint_key;
    AuditBundle x = MakeBundle(f, b, {&B(), &C()}, 2);
    *x.mutable_roster() = *g_history_v2;
    *x.add_roster_chain() = (*g_chain)[0];
    SignClaims(x);
    return x;
  };
  auto by_range = [](int seq) -> const SigningKey& { return NodeKeyOfA(seq <= 4 ? 1 : 2); };
  add("key-history", "ok", "",
      "v1 -> v2 where v2 states a.cz/n1's key history (v1 key for 1..4, v2 key from 5); "
      "alerts signed accordingly, checkpoints by the v2 key",
      [&](AuditBundle& x) { x = history_bundle(by_range, NodeKeyOfA(2)); });
  add("key-history-retired-key", "signature_failure", "the key of a.cz/n1 for sequences 1..4",
      "as key-history, but a.cz/n1 #6 is signed by its v1 key, retired after #4",
      [&](AuditBundle& x) {
        x = history_bundle(
            [&](int seq) -> const SigningKey& { return seq == 6 ? NodeKeyOfA(1) : by_range(seq); },
            NodeKeyOfA(2));
      });
  add("key-history-retired-checkpoint-key", "checkpoint_invalid", "no signature by",
      "as key-history, but a.cz/n1's checkpoints (sizes 5 and 8) are signed by its v1 key, "
      "which signs only up to #4",
      [&](AuditBundle& x) { x = history_bundle(by_range, NodeKeyOfA(1)); });
  last().also = {"no_checkpoint"};
  last().count = 3;
  // ------------------------------------------------------- auditing over time
  // since-old: the same federation earlier, a.cz/n1 cut at 5.
  AuditBundle old = good;
  old.mutable_checkpoints()->DeleteSubrange(1, 1);
  old.mutable_checkpoints(0)->clear_consistency_proof();
  old.clear_alerts();
  old.set_exported_at_ms(1798790000000);
  for (int seq = 1; seq <= 5; ++seq) AddAlert(old, a, seq, 5);
  for (int seq = 1; seq <= 4; ++seq) AddAlert(old, b, seq, 4);
  SignClaims(old);
  add("since-old", "ok", "", "an earlier bundle: a.cz/n1 cut at 5, b.cz/n1 at 4",
      [&old](AuditBundle& x) { x = old; });
  auto since_proof = [](AuditBundle& x, const Feed& feed, uint64_t from, uint64_t to) {
    v1::SinceProof* p = x.add_since_proofs();
    p->set_origin(feed.party->origin);
    p->set_from_size(from);
    p->set_to_size(to);
    for (std::string& h : Must(feed.tree.ConsistencyProof(from, to), "consistency")) {
      p->add_proof(h);
    }
  };
  add("since-consistent", "ok", "",
      "good.wfb with the consistency proof from since-old's a.cz/n1 size 5 to 8; audited "
      "--since since-old.wfb",
      [&](AuditBundle& x) { since_proof(x, a, 5, 8); });
  last().since = "since-old";
  add("since-missing-proof", "inconsistent", "no consistency proof from the --since bundle",
      "good.wfb without consistency proofs, audited --since since-old.wfb",
      [](AuditBundle&) {});
  last().since = "since-old";
  add("since-forked", "split_view", "is not a prefix of this bundle's",
      "a later bundle from a split view (a.cz/n1's #3 onwards differ, all validly signed, "
      "logged and cosigned) with its own proof from 5 to 8; audited --since since-old.wfb",
      [&](AuditBundle& x) {
        const Feed fork = BuildFeed(A(), 8, [](v1::Alert& alert) {
          if (alert.sequence() == 3) alert.set_title("a different third alert");
        });
        x = MakeBundle(fork, b);
        since_proof(x, fork, 5, 8);
      });
  last().since = "since-old";
}

std::vector<Case> Cases() {
  const Feed a = BuildFeed(A(), 8);
  const Feed b = BuildFeed(B(), 4);
  const AuditBundle good = MakeBundle(a, b);
  std::vector<Case> cases;
  auto add = [&](std::string name, std::string token, std::string message, std::string what,
                 const std::function<void(AuditBundle&)>& tamper) {
    AuditBundle bundle = good;
    tamper(bundle);
    Case c;
    c.name = std::move(name);
    c.origin = token == "ok" ? "" : A().origin;
    c.token = std::move(token);
    c.message = std::move(message);
    c.what = std::move(what);
    c.bundle = std::move(bundle);
    cases.push_back(std::move(c));
  };
  // alerts(i) is a.cz/n1 #i+1 for i < 8.
  add("good", "ok", "", "a clean bundle: two origins, cosigned checkpoints", [](AuditBundle&) {});
  add("flipped-signature-bit", "signature_failure", "does not verify",
      "bit 0 of byte 5 of the signature of a.cz/n1 #2 flipped", [](AuditBundle& x) {
        std::string* sig = x.mutable_alerts(1)->mutable_envelope()->mutable_signatures(0)
                               ->mutable_sig();
        (*sig)[5] ^= 0x01;
      });
  add("flipped-payload-bit", "signature_failure", "does not verify",
      "bit 0 of the first title byte of a.cz/n1 #3 flipped (still a valid Alert)",
      [](AuditBundle& x) {
        std::string* payload = x.mutable_alerts(2)->mutable_envelope()->mutable_payload();
        const size_t at = payload->find("audit example");
        if (at == std::string::npos) Die("title not in payload");
        (*payload)[at] ^= 0x01;
      });
  add("wrong-key", "signature_failure", "no signature by the roster key of a.cz/n1",
      "a.cz/n1 #4 re-signed by a key that is not in the roster", [](AuditBundle& x) {
        Envelope* env = x.mutable_alerts(3)->mutable_envelope();
        *env = certs::SignEnvelope(env->payload(), env->payload_type(), Outsider());
      });
  add("reordered-feed", "out_of_order", "alert #4", "a.cz/n1 #4 and #5 swapped in the bundle",
      [](AuditBundle& x) { x.mutable_alerts()->SwapElements(3, 4); });
  add("missing-alert", "missing", "sequence 6", "a.cz/n1 #6 left out of a complete origin",
      [](AuditBundle& x) { x.mutable_alerts()->DeleteSubrange(5, 1); });
  add("extra-alert", "inclusion_failure", "not covered by any checkpoint",
      "a.cz/n1 #9, validly signed and chained, but beyond the size-8 checkpoint",
      [](AuditBundle& x) {
        const Feed longer = BuildFeed(A(), 9);
        AuditBundle extra;
        AddAlert(extra, longer, 9, 8);
        x.mutable_alerts()->Add()->Swap(extra.mutable_alerts(0));
      });
  add("truncated-proof", "inclusion_failure", "inclusion proof has 2 hashes, want 3",
      "the last hash of a.cz/n1 #3's inclusion proof removed", [](AuditBundle& x) {
        x.mutable_alerts(2)->mutable_inclusion_proof()->RemoveLast();
      });
  add("wrong-leaf", "inclusion_failure", "inclusion proof does not match root",
      "a.cz/n1 #3 carries #5's inclusion proof", [](AuditBundle& x) {
        *x.mutable_alerts(2)->mutable_inclusion_proof() = x.alerts(4).inclusion_proof();
      });
  add("proof-for-different-size", "inclusion_failure", "is for tree size 6",
      "a.cz/n1 #3 carries a correct proof, but in the tree of size 6 (no checkpoint of 6)",
      [&a](AuditBundle& x) {
        v1::BundledAlert* alert = x.mutable_alerts(2);
        alert->set_tree_size(6);
        alert->clear_inclusion_proof();
        for (std::string& h : Must(a.tree.InclusionProof(2, 6), "proof")) {
          alert->add_inclusion_proof(h);
        }
      });
  add("checkpoint-non-member", "checkpoint_invalid", "no signature by watchfloor/a.cz/n1",
      "an extra, true a.cz/n1 checkpoint of size 6, signed under a.cz/n1's name by a key "
      "that is not in the roster",
      [&a](AuditBundle& x) {
        const std::string log = certs::LogOrigin(A().origin);
        const std::string body =
            certs::FormatCheckpoint({log, 6, Must(a.tree.RootAt(6), "root"), {}});
        v1::BundledCheckpoint* cp = x.add_checkpoints();
        cp->set_note(certs::SignNote(body, log, Outsider()));
        for (std::string& h : Must(a.tree.ConsistencyProof(6, 8), "consistency")) {
          cp->add_consistency_proof(h);
        }
      });
  add("forged-cosignature", "forged_cosignature",
      "cosignature by watchfloor/b.cz/n1+",
      "an extra cosignature line on a.cz/n1's size-8 checkpoint with b.cz/n1's witness name "
      "and key id, signed by another key",
      [](AuditBundle& x) {
        std::string* note = x.mutable_checkpoints(1)->mutable_note();
        const std::string body = note->substr(0, note->find("\n\n") + 1);
        const std::string line = certs::CosignatureLine(
            body, certs::LogOrigin(B().origin), B().node_key, 1798771000);
        *note += ForgeCosignature(line, body, Outsider());
      });
  add("split-view", "split_view", "same tree size but different roots",
      "a second a.cz/n1 checkpoint of size 8, validly signed by a.cz/n1, over a history "
      "whose #8 differs",
      [](AuditBundle& x) {
        const Feed fork = BuildFeed(A(), 8, [](v1::Alert& alert) {
          if (alert.sequence() == 8) alert.set_title("a different eighth alert");
        });
        x.add_checkpoints()->set_note(CheckpointNote(fork, 8, {&C()}));
      });
  add("split-view-inconsistent", "split_view", "is not consistent with checkpoint",
      "a validly signed a.cz/n1 checkpoint of size 6 over a history whose #6 differs, "
      "with the true consistency proof from 6 to 8",
      [&a](AuditBundle& x) {
        const Feed fork = BuildFeed(A(), 6, [](v1::Alert& alert) {
          if (alert.sequence() == 6) alert.set_title("a different sixth alert");
        });
        v1::BundledCheckpoint* cp = x.add_checkpoints();
        cp->set_note(CheckpointNote(fork, 6, {&B()}));
        for (std::string& h : Must(a.tree.ConsistencyProof(6, 8), "consistency")) {
          cp->add_consistency_proof(h);
        }
      });
  add("truncated-consistency-proof", "inconsistent", "consistency proof has",
      "the last hash of the size-5 checkpoint's consistency proof to 8 removed",
      [](AuditBundle& x) { x.mutable_checkpoints(0)->mutable_consistency_proof()->RemoveLast(); });
  add("quorum-not-met", "quorum_not_met", "quorum is 2",
      "a.cz/n1's size-8 checkpoint cosigned by b.cz only (the default quorum is 2 of the 2 "
      "other members); audits clean with --quorum 1",
      [&a, &b](AuditBundle& x) { x = MakeBundle(a, b, {&B()}); });
  add("chain-break", "chain_break", "alert #5 has previous",
      "a.cz/n1 #5 names #3 as its previous; validly signed and logged as such",
      [&b](AuditBundle& x) {
        std::string id3;
        const Feed broken = BuildFeed(A(), 8, [&id3](v1::Alert& alert) {
          if (alert.sequence() == 4) id3 = alert.previous();
          if (alert.sequence() == 5) alert.set_previous(id3);
        });
        x = MakeBundle(broken, b);
      });
  CasesForIssue15(a, b, good, cases, add);
  return cases;
}

std::string Readme(const std::vector<Case>& cases) {
  std::string out =
      "# Audit bundle tamper cases\n\n"
      "Generated by `tests/make_audit_testdata.cc` (fixed seeds and times: byte-for-byte\n"
      "reproducible); do not edit by hand. Regenerate with\n\n"
      "    build/tests/make_audit_testdata .\n\n"
      "- `roster.json`: the 2-of-3 roster `audit-example` v1 (members a.cz, b.cz, c.cz; one\n"
      "  node `n1` each) that every bundle carries; pass it as `--roster` to anchor it.\n"
      "- `<case>.wfb`: an AuditBundle file (two serialized AuditBundle messages, the\n"
      "  second holding the alerts). The clean bundle has a.cz/n1 with 8 alerts and\n"
      "  checkpoints of size 5 and 8, b.cz/n1 with 4 alerts and a checkpoint of size 4;\n"
      "  every checkpoint is cosigned by the two other nodes; both origins are complete;\n"
      "  the claims are signed by the exporter c.cz/n1.\n"
      "- `<case>.expect`: `token` lines (every finding token `watchfloor audit` must\n"
      "  report, and no other; the first names the finding `origin` and `message` (a\n"
      "  substring) describe), `count` (number of findings). `token ok` means the\n"
      "  bundle audits clean. `error CODE` instead: the bundle cannot be audited (exit\n"
      "  2) and Audit() fails with that status code and `message`. `since NAME`: audit\n"
      "  with `--since NAME.wfb`; `anchor FILE`: with `--roster FILE`.\n\n"
      "| case | token | tamper |\n|---|---|---|\n";
  for (const Case& c : cases) {
    std::string token = c.error.empty() ? absl::StrCat("`", c.token, "`")
                                        : absl::StrCat("error `", c.error, "`");
    for (const std::string& t : c.also) absl::StrAppend(&token, ", `", t, "`");
    absl::StrAppend(&out, "| `", c.name, "` | ", token, " | ", c.what, " |\n");
  }
  return out;
}

int WriteTestdata(const std::string& source_dir) {
  const std::string genesis = ReadFile(source_dir + "/tests/testdata/roster/genesis.json");
  static Envelope roster = MakeRoster(genesis);
  g_roster = &roster;
  static std::vector<Envelope> chain = {roster, MakeRoster(genesis, 2), MakeRoster(genesis, 3)};
  g_chain = &chain;
  static Envelope history_v2 = MakeRoster(genesis, 2, /*a_key_from=*/5);
  g_history_v2 = &history_v2;
  const std::string dir = source_dir + "/tests/testdata/audit";
  WriteFile(dir + "/roster.json", certs::EnvelopeToJson(roster) + "\n");
  const std::vector<Case> cases = Cases();
  for (const Case& c : cases) {
    WriteFile(dir + "/" + c.name + ".wfb", BundleFile(c.bundle));
    std::string expect;
    if (!c.error.empty()) {
      absl::StrAppend(&expect, "error ", c.error, "\nmessage ", c.message, "\n");
    } else {
      absl::StrAppend(&expect, "token ", c.token, "\n");
      for (const std::string& t : c.also) absl::StrAppend(&expect, "token ", t, "\n");
      if (c.token != "ok") {
        absl::StrAppend(&expect, "origin ", c.origin, "\ncount ", c.count, "\nmessage ",
                        c.message, "\n");
      }
    }
    if (!c.since.empty()) absl::StrAppend(&expect, "since ", c.since, "\n");
    if (!c.anchor.empty()) absl::StrAppend(&expect, "anchor ", c.anchor, "\n");
    WriteFile(dir + "/" + c.name + ".expect", expect);
  }
  WriteFile(dir + "/README.md", Readme(cases));
  std::printf("wrote %zu cases to %s\n", cases.size(), dir.c_str());
  return 0;
}

int WriteLarge(const std::string& source_dir, int n, const std::string& path) {
  static Envelope roster =
      MakeRoster(ReadFile(source_dir + "/tests/testdata/roster/genesis.json"));
  g_roster = &roster;
  const Feed a = BuildFeed(A(), n);
  AuditBundle bundle;
  bundle.set_format(std::string(certs::kBundleFormat));
  *bundle.mutable_roster() = roster;
  bundle.add_checkpoints()->set_note(CheckpointNote(a, n, {&B(), &C()}));
  for (int seq = 1; seq <= n; ++seq) AddAlert(bundle, a, seq, n);
  bundle.add_complete_origins(A().origin);
  SignClaims(bundle);
  WriteFile(path, BundleFile(bundle));
  std::printf("wrote %d alerts to %s\n", n, path.c_str());
  return 0;
}

}  // namespace
}  // namespace watchfloor

int main(int argc, char** argv) {
  if (argc == 2) return watchfloor::WriteTestdata(argv[1]);
  if (argc == 5 && std::string(argv[2]) == "--large") {
    return watchfloor::WriteLarge(argv[1], std::atoi(argv[3]), argv[4]);
  }
  std::fprintf(stderr,
               "usage: make_audit_testdata SOURCE_DIR\n"
               "       make_audit_testdata SOURCE_DIR --large N FILE\n");
  return 2;
}
