// Writes the seed inputs of tests/fuzz/corpus/ that are not plain copies of
// tests/testdata files (make_corpus.sh copies those, then runs this):
//   federation/      one request per Federation rpc (first byte: the rpc and
//                    caller, see federation_fixture.h), built from the audit
//                    bundles' validly signed envelopes and checkpoint notes
//   alert_validator/ serialized Alert payloads of those envelopes
//   roster/          the audit roster's payload (a serialized v1.Roster)
// Deterministic: the same bytes on every run.
//
//   build-asan/tests/fuzz/make_fuzz_seeds <source dir>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "certs/dsse.h"
#include "certs/ids.h"
#include "watchfloor/v1/alert.pb.h"
#include "watchfloor/v1/audit.pb.h"
#include "watchfloor/v1/federation.pb.h"

namespace watchfloor {
namespace {

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "make_fuzz_seeds: %s\n", what.c_str());
  std::exit(1);
}

std::string Read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) Die("cannot read " + path);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void Write(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
  if (!out) Die("cannot write " + path + " (does its directory exist?)");
}

v1::AuditBundle Bundle(const std::string& src, const char* name) {
  v1::AuditBundle b;
  if (!b.ParseFromString(Read(absl::StrCat(src, "/tests/testdata/audit/", name)))) {
    Die(absl::StrCat(name, " does not parse"));
  }
  return b;
}

// Envelopes of `origin` in `bundle`, in bundle order.
std::vector<v1::Envelope> Of(const v1::AuditBundle& bundle, const std::string& origin) {
  std::vector<v1::Envelope> out;
  for (const auto& a : bundle.alerts()) {
    v1::Alert alert;
    if (alert.ParseFromString(a.envelope().payload()) && alert.origin() == origin) {
      out.push_back(a.envelope());
    }
  }
  return out;
}

// The first byte of a federation seed: rpc + 8 * caller (0 a.cz, 1 b.cz);
// 8 is kFederationMethods (federation_fixture.h).
std::string Request(int method, int caller, const google::protobuf::Message& m) {
  return std::string(1, static_cast<char>(method + 8 * caller)) + m.SerializeAsString();
}

}  // namespace
}  // namespace watchfloor

int main(int argc, char** argv) {
  using namespace watchfloor;  // NOLINT
  if (argc != 2) Die("usage: make_fuzz_seeds <source dir>");
  const std::string src = argv[1];
  const std::string out = src + "/tests/fuzz/corpus/";
  const v1::AuditBundle good = Bundle(src, "good.wfb");
  const v1::AuditBundle chain_break = Bundle(src, "chain-break.wfb");
  const v1::AuditBundle split = Bundle(src, "split-view.wfb");
  const std::vector<v1::Envelope> a = Of(good, "a.cz/n1");
  const std::vector<v1::Envelope> b = Of(good, "b.cz/n1");
  if (a.size() != 8 || b.size() != 4) Die("good.wfb is not the documented 8 + 4 alerts");

  // Push: each origin's feed, from its own node and relayed by the other.
  for (int caller = 0; caller < 2; ++caller) {
    v1::PushRequest push;
    for (const auto& e : caller == 0 ? a : b) *push.add_envelopes() = e;
    Write(absl::StrCat(out, "federation_fuzz/push-own-feed-", caller), Request(0, caller, push));
  }
  v1::PushRequest relayed;
  for (const auto& e : a) *relayed.add_envelopes() = e;
  Write(out + "federation_fuzz/push-relayed", Request(0, 1, relayed));

  v1::IHaveRequest ihave;
  v1::FetchRequest fetch;
  for (size_t i = 0; i < a.size(); ++i) {
    v1::Alert alert;
    alert.ParseFromString(a[i].payload());
    v1::AlertRef* ref = ihave.add_refs();
    ref->set_id(certs::AlertId(a[i].payload()));
    ref->set_origin(alert.origin());
    ref->set_sequence(alert.sequence());
    fetch.add_ids(ref->id());
  }
  Write(out + "federation_fuzz/ihave", Request(1, 0, ihave));
  fetch.set_graft(true);
  Write(out + "federation_fuzz/fetch-graft", Request(2, 1, fetch));

  v1::FrontierMessage frontier;
  v1::FrontierEntry* entry = frontier.add_entries();
  entry->set_origin("a.cz/n1");
  entry->set_sequence(8);
  entry->set_id(certs::AlertId(a.back().payload()));
  frontier.set_roster_version(1);
  Write(out + "federation_fuzz/frontier", Request(3, 0, frontier));

  v1::PullRangeRequest pull;
  pull.set_origin("a.cz/n1");
  pull.set_from(1);
  pull.set_to(8);
  pull.set_limit(4);
  Write(out + "federation_fuzz/pull-range", Request(4, 1, pull));

  // Fork evidence: a.cz/n1 #5 of the good feed and of chain-break.wfb (the
  // same sequence, both validly signed, different ids).
  v1::EvidenceMessage fork;
  *fork.mutable_first() = a[4];
  *fork.mutable_second() = Of(chain_break, "a.cz/n1")[4];
  Write(out + "federation_fuzz/evidence-fork", Request(5, 1, fork));
  // Split view: split-view.wfb's two size-8 checkpoints of a.cz/n1.
  v1::EvidenceMessage split_view;
  for (const auto& c : split.checkpoints()) {
    if (c.note().find("\n8\n") == std::string::npos ||
        c.note().rfind("watchfloor/a.cz/n1\n", 0) != 0) {
      continue;
    }
    if (split_view.first_note().empty()) {
      split_view.set_first_note(c.note());
    } else {
      split_view.set_second_note(c.note());
    }
  }
  if (split_view.second_note().empty()) Die("split-view.wfb lacks two size-8 notes");
  Write(out + "federation_fuzz/evidence-split-view", Request(5, 0, split_view));

  v1::PushCheckpointsRequest checkpoints;
  for (const auto& c : good.checkpoints()) checkpoints.add_notes(c.note());
  Write(out + "federation_fuzz/checkpoints", Request(6, 0, checkpoints));

  v1::GetRosterChainRequest roster_chain;
  roster_chain.set_limit(2);
  Write(out + "federation_fuzz/get-roster-chain", Request(7, 0, roster_chain));

  for (size_t i = 0; i < 3; ++i) {
    Write(absl::StrCat(out, "alert_validator_fuzz/payload-a-", i + 1), a[i].payload());
  }
  Write(out + "alert_validator_fuzz/payload-b-1", b[0].payload());
  Write(out + "roster_fuzz/audit-roster-payload", good.roster().payload());
  return 0;
}
