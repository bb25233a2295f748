// The incident view (node/incidents.h) on its own: lifecycle chains and
// states, reactions (also before their target), the Publish rules it
// judges, ListIncidents' filters and pages, and that the same alerts in
// another arrival order give the same incidents.
#include "node/incidents.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "certs/dsse.h"
#include "certs/ids.h"
#include "certs/keys.h"
#include "gtest/gtest.h"
#include "node/alert_validator.h"
#include "node/filter_parser.h"
#include "tests/test_util.h"

namespace watchfloor::node {
namespace {

namespace v1 = ::watchfloor::v1;
using Kind = IncidentChange::Kind;

const absl::Time kStart = absl::FromUnixSeconds(1796000000);

// Alerts of a few origins, with real ids (the hash of the payload) and
// cursors in the order they are stored.
class Feeds {
 public:
  // An alert of `origin` issued `at_s` seconds after kStart, shaped by `edit`.
  std::shared_ptr<const StoredAlert> Make(const std::string& origin, int at_s,
                                          const std::function<void(v1::Alert&)>& edit = {}) {
    v1::Alert a = testing::SampleDraft(static_cast<int>(alerts_.size()));
    a.set_origin(origin);
    a.set_sequence(++sequence_[origin]);
    a.mutable_issued_at()->set_seconds(absl::ToUnixSeconds(kStart) + at_s);
    if (edit) edit(a);
    auto s = std::make_shared<StoredAlert>();
    a.SerializeToString(s->envelope.mutable_payload());
    s->id = certs::AlertId(s->envelope.payload());
    s->origin = origin;
    s->sequence = a.sequence();
    alerts_.push_back({s, a});
    return s;
  }
  // Applies every alert made so far, in `order` (indices), with cursors
  // 1, 2, ... in that order.
  void ApplyTo(IncidentView& view, const std::vector<int>& order) const {
    uint64_t cursor = 0;
    for (int i : order) {
      auto s = std::make_shared<StoredAlert>(*alerts_[i].first);
      s->cursor = ++cursor;
      view.Apply(s, alerts_[i].second);
    }
  }
  std::vector<IncidentChange> ApplyNext(IncidentView& view, int i) {
    auto s = std::make_shared<StoredAlert>(*alerts_[i].first);
    s->cursor = ++cursor_;
    return view.Apply(s, alerts_[i].second);
  }
  std::vector<IncidentChange> ApplyAt(IncidentView& view, int i, uint64_t cursor) {
    auto s = std::make_shared<StoredAlert>(*alerts_[i].first);
    s->cursor = cursor;
    return view.Apply(s, alerts_[i].second);
  }
  const v1::Alert& alert(int i) const { return alerts_[i].second; }

 private:
  std::map<std::string, uint64_t> sequence_;
  std::vector<std::pair<std::shared_ptr<StoredAlert>, v1::Alert>> alerts_;
  uint64_t cursor_ = 0;
};

std::function<void(v1::Alert&)> Updates(const std::string& id) {
  return [id](v1::Alert& a) { a.set_updates(id); };
}
std::function<void(v1::Alert&)> Cancels(const std::string& id) {
  return [id](v1::Alert& a) { a.set_cancels(id); };
}
std::function<void(v1::Alert&)> Reacts(v1::ReactionKind kind, const std::string& target,
                                       const std::string& note = "") {
  return [=](v1::Alert& a) {
    a.mutable_reaction()->set_kind(kind);
    a.mutable_reaction()->set_target(target);
    a.mutable_reaction()->set_note(note);
  };
}

v1::ListIncidentsResponse ListAll(const IncidentView& view, const std::string& filter = "") {
  v1::ListIncidentsRequest req;
  if (!filter.empty()) {
    absl::StatusOr<v1::Filter> f = ParseFilter(filter);
    EXPECT_TRUE(f.ok()) << f.status();
    *req.add_filters() = *f;
  }
  req.set_page_size(1000);
  absl::StatusOr<v1::ListIncidentsResponse> r = view.List(req);
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : v1::ListIncidentsResponse();
}

TEST(IncidentViewTest, UpdatesAndCancelFormOneIncidentWhoseStateFollowsTheLatestVersion) {
  FakeClock clock(kStart);
  IncidentView view(&clock);
  Feeds feeds;
  auto first = feeds.Make("a.test/n1", 1);
  auto update = feeds.Make("a.test/n1", 2, Updates(first->id));
  auto cancel = feeds.Make("a.test/n1", 3, Cancels(update->id));

  std::vector<IncidentChange> c = feeds.ApplyNext(view, 0);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].kind, Kind::kNew);
  EXPECT_EQ(ListAll(view).incidents(0).state(), v1::INCIDENT_OPEN);

  c = feeds.ApplyNext(view, 1);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].kind, Kind::kUpdated);
  EXPECT_EQ(c[0].incident, first->id);
  v1::Incident inc = ListAll(view).incidents(0);
  EXPECT_EQ(inc.state(), v1::INCIDENT_UPDATED);
  EXPECT_EQ(inc.id(), first->id);
  ASSERT_EQ(inc.versions_size(), 2);
  EXPECT_EQ(inc.versions(1), update->id);
  EXPECT_EQ(inc.latest_cursor(), 2u);
  EXPECT_EQ(inc.updated_at().seconds(), absl::ToUnixSeconds(kStart) + 2);

  c = feeds.ApplyNext(view, 2);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].kind, Kind::kCancelled);
  inc = ListAll(view).incidents(0);
  EXPECT_EQ(inc.state(), v1::INCIDENT_CANCELLED);
  EXPECT_EQ(inc.versions_size(), 3);
  EXPECT_EQ(view.size(), 1u);
  EXPECT_EQ(view.open(), 0u);
}

TEST(IncidentViewTest, LatestExpiryDecidesExpiredAgainstTheClockAndAnUpdateReopens) {
  FakeClock clock(kStart);
  IncidentView view(&clock);
  Feeds feeds;
  auto first = feeds.Make("a.test/n1", 1, [](v1::Alert& a) {
    a.mutable_expires_at()->set_seconds(absl::ToUnixSeconds(kStart) + 60);
  });
  feeds.Make("a.test/n1", 90, [&](v1::Alert& a) {
    a.set_updates(first->id);
    a.mutable_expires_at()->set_seconds(absl::ToUnixSeconds(kStart) + 600);
  });
  feeds.ApplyNext(view, 0);
  EXPECT_EQ(ListAll(view).incidents(0).state(), v1::INCIDENT_OPEN);
  clock.Advance(absl::Seconds(60));  // exactly at expires_at: expired
  EXPECT_EQ(ListAll(view).incidents(0).state(), v1::INCIDENT_EXPIRED);
  EXPECT_EQ(view.open(), 0u);
  feeds.ApplyNext(view, 1);
  EXPECT_EQ(ListAll(view).incidents(0).state(), v1::INCIDENT_UPDATED);
  EXPECT_EQ(ListAll(view).incidents(0).expires_at().seconds(),
            absl::ToUnixSeconds(kStart) + 600);
  clock.Advance(absl::Seconds(600));
  EXPECT_EQ(ListAll(view).incidents(0).state(), v1::INCIDENT_EXPIRED);
}

Mark MarkAt(uint64_t cursor, Mark::Kind kind, const std::string& alert_id,
            const std::string& node = "") {
  Mark m;
  m.cursor = cursor;
  m.kind = kind;
  m.alert_id = alert_id;
  m.node = node;
  return m;
}

// The events recorded at `cursor`, as "kind incident alert cosigner".
std::vector<std::string> EventsAtCursor(const IncidentView& view, uint64_t cursor) {
  StoredAlert at;
  at.cursor = cursor;
  std::vector<std::string> out;
  for (const v1::IncidentEvent& e : view.EventsAt(at)) {
    out.push_back(absl::StrCat(v1::IncidentEventKind_Name(e.kind()), " ", e.incident(), " ",
                               e.alert(), " ", e.cosigner()));
  }
  return out;
}

// Co-signature and expiry marks become "corroborated" and "expired" events
// at their own cursors; the view proposes an expiry mark once the clock
// passes the latest version's expires_at, and not for a version an update
// or cancel replaced first.
TEST(IncidentViewTest, MarksAreCorroboratedAndExpiredEventsAndExpiriesAreProposedWhenDue) {
  FakeClock clock(kStart);
  IncidentView view(&clock);
  Feeds feeds;
  const int64_t t0 = absl::ToUnixSeconds(kStart);
  auto first = feeds.Make("a.test/n1", 1, [&](v1::Alert& a) {
    a.mutable_expires_at()->set_seconds(t0 + 60);
  });
  auto update = feeds.Make("a.test/n1", 2, [&](v1::Alert& a) {
    a.set_updates(first->id);
    a.mutable_expires_at()->set_seconds(t0 + 120);
  });
  auto other = feeds.Make("b.test/n1", 3, [&](v1::Alert& a) {
    a.mutable_expires_at()->set_seconds(t0 + 30);
  });
  auto cancel_other = feeds.Make("b.test/n1", 4, Cancels(other->id));
  auto ack = feeds.Make("b.test/n1", 5, Reacts(v1::REACTION_ACK, first->id));

  feeds.ApplyAt(view, 0, 1);  // first
  feeds.ApplyAt(view, 2, 2);  // other
  EXPECT_TRUE(view.DueExpiries(clock.Now(), 10).empty());
  clock.Advance(absl::Seconds(30));
  std::vector<Mark> due = view.DueExpiries(clock.Now(), 10);
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].kind, Mark::Kind::kExpired);
  EXPECT_EQ(due[0].alert_id, other->id);
  // Each is proposed once; a retracted one (its write failed) again.
  EXPECT_TRUE(view.DueExpiries(clock.Now(), 10).empty());
  clock.Advance(absl::Seconds(30));
  due = view.DueExpiries(clock.Now(), 10);
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].alert_id, first->id);
  view.RetractExpiries(due);
  view.RetractExpiries({MarkAt(0, Mark::Kind::kExpired, other->id)});
  due = view.DueExpiries(clock.Now(), 10);
  ASSERT_EQ(due.size(), 2u);  // earliest first
  EXPECT_EQ(due[0].alert_id, other->id);
  EXPECT_EQ(due[1].alert_id, first->id);
  view.RetractExpiries(due);
  EXPECT_EQ(view.DueExpiries(clock.Now(), 1).size(), 1u);

  // A co-signature of `first`, then its expiry, then the update re-opens
  // it with a later expiry; `other` is cancelled before its expiry mark,
  // which then changes nothing; a co-signature of a reaction changes
  // nothing either.
  view.OnMarked({MarkAt(3, Mark::Kind::kCosigned, first->id, "c.test/n1"),
                 MarkAt(4, Mark::Kind::kExpired, first->id)});
  feeds.ApplyAt(view, 1, 5);  // update
  feeds.ApplyAt(view, 3, 6);  // cancel_other
  feeds.ApplyAt(view, 4, 7);  // ack
  view.OnMarked({MarkAt(8, Mark::Kind::kExpired, other->id),
                 MarkAt(9, Mark::Kind::kCosigned, ack->id, "c.test/n1"),
                 MarkAt(10, Mark::Kind::kExpired, first->id)});
  EXPECT_EQ(EventsAtCursor(view, 3),
            std::vector<std::string>{absl::StrCat("INCIDENT_CORROBORATED ", first->id, " ",
                                                  first->id, " c.test/n1")});
  EXPECT_EQ(EventsAtCursor(view, 4),
            std::vector<std::string>{
                absl::StrCat("INCIDENT_EXPIRY ", first->id, " ", first->id, " ")});
  EXPECT_TRUE(EventsAtCursor(view, 8).empty());   // cancelled first
  EXPECT_TRUE(EventsAtCursor(view, 9).empty());   // a reaction is no incident
  EXPECT_TRUE(EventsAtCursor(view, 10).empty());  // no longer the latest version
  ASSERT_EQ(ListAll(view).incidents_size(), 2);
  EXPECT_EQ(ListAll(view, "cosigned-by:c.test").incidents_size(), 1);

  // Nothing is due until the update's own expiry; then exactly it.
  EXPECT_TRUE(view.DueExpiries(clock.Now(), 10).empty());
  clock.Advance(absl::Seconds(60));
  due = view.DueExpiries(clock.Now(), 10);
  ASSERT_EQ(due.size(), 1u);
  EXPECT_EQ(due[0].alert_id, update->id);
  view.OnMarked({MarkAt(11, Mark::Kind::kExpired, update->id)});
  EXPECT_EQ(EventsAtCursor(view, 11),
            std::vector<std::string>{
                absl::StrCat("INCIDENT_EXPIRY ", first->id, " ", update->id, " ")});
  EXPECT_TRUE(view.DueExpiries(clock.Now(), 10).empty());
  // A mark at or below what was applied is skipped.
  view.OnMarked({MarkAt(11, Mark::Kind::kCosigned, update->id, "d.test/n1")});
  EXPECT_EQ(EventsAtCursor(view, 11).size(), 1u);
}

TEST(IncidentViewTest, ReactionsAreShownInIssueOrderWhateverOrderTheyArrivedIn) {
  Feeds feeds;
  auto first = feeds.Make("a.test/n1", 1);                                      // 0
  feeds.Make("b.test/n1", 5, Reacts(v1::REACTION_CLAIM, first->id, "ours"));   // 1
  feeds.Make("c.test/n1", 3, Reacts(v1::REACTION_SIGHTING, first->id));        // 2
  auto update = feeds.Make("a.test/n1", 4, Updates(first->id));                 // 3
  feeds.Make("c.test/n1", 7, Reacts(v1::REACTION_CLAIM, update->id, "too"));   // 4
  feeds.Make("b.test/n1", 9, Reacts(v1::REACTION_RESOLVED, update->id));       // 5

  FakeClock clock(kStart);
  IncidentView in_order(&clock), reactions_first(&clock);
  feeds.ApplyTo(in_order, {0, 1, 2, 3, 4, 5});
  // b's and c's feeds reach this node before a's: every reaction waits.
  feeds.ApplyTo(reactions_first, {1, 5, 2, 4, 0, 3});

  for (IncidentView* view : {&in_order, &reactions_first}) {
    v1::ListIncidentsResponse r = ListAll(*view);
    ASSERT_EQ(r.incidents_size(), 1);
    const v1::Incident& inc = r.incidents(0);
    EXPECT_EQ(inc.id(), first->id);
    EXPECT_EQ(inc.state(), v1::INCIDENT_UPDATED);
    ASSERT_EQ(inc.reactions_size(), 4);
    EXPECT_EQ(inc.reactions(0).kind(), v1::REACTION_SIGHTING);
    EXPECT_EQ(inc.reactions(0).origin(), "c.test/n1");
    EXPECT_EQ(inc.reactions(1).kind(), v1::REACTION_CLAIM);
    EXPECT_EQ(inc.reactions(1).origin(), "b.test/n1");
    EXPECT_EQ(inc.reactions(1).note(), "ours");
    EXPECT_EQ(inc.reactions(1).target(), first->id);
    EXPECT_EQ(inc.reactions(2).kind(), v1::REACTION_CLAIM);  // a second claim: shown
    EXPECT_EQ(inc.reactions(2).origin(), "c.test/n1");
    EXPECT_EQ(inc.reactions(2).target(), update->id);
    EXPECT_EQ(inc.reactions(3).kind(), v1::REACTION_RESOLVED);
    EXPECT_EQ(inc.reactions(3).issued_at().seconds(), absl::ToUnixSeconds(kStart) + 9);
  }
}

TEST(IncidentViewTest, ALinkToAnotherOriginsAlertOpensAnIncidentOfItsOwn) {
  FakeClock clock(kStart);
  IncidentView view(&clock);
  Feeds feeds;
  auto first = feeds.Make("a.test/n1", 1);
  feeds.Make("b.test/n1", 2, Updates(first->id));  // refused at b's Publish
  feeds.Make("b.test/n1", 3, Cancels(std::string(64, 'e')));  // names nothing
  feeds.ApplyTo(view, {0, 1, 2});
  v1::ListIncidentsResponse r = ListAll(view);
  ASSERT_EQ(r.incidents_size(), 3);
  for (const v1::Incident& inc : r.incidents()) {
    EXPECT_EQ(inc.versions_size(), 1);
    EXPECT_EQ(inc.state(), v1::INCIDENT_OPEN);
  }
}

TEST(IncidentViewTest, AnUpdateAfterTheCancelFromElsewhereChangesNothing) {
  FakeClock clock(kStart);
  IncidentView view(&clock);
  Feeds feeds;
  auto first = feeds.Make("a.test/n1", 1);
  auto cancel = feeds.Make("a.test/n1", 2, Cancels(first->id));
  feeds.Make("a.test/n1", 3, Updates(first->id));  // refused at a's Publish
  feeds.ApplyNext(view, 0);
  feeds.ApplyNext(view, 1);
  std::vector<IncidentChange> c = feeds.ApplyNext(view, 2);
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[0].kind, Kind::kIgnored);
  v1::Incident inc = ListAll(view).incidents(0);
  EXPECT_EQ(inc.state(), v1::INCIDENT_CANCELLED);
  ASSERT_EQ(inc.versions_size(), 2);
  EXPECT_EQ(inc.versions(1), cancel->id);
}

// CheckDraft: every refusal with its exact code, against committed alerts
// and against alerts staged earlier in the same transaction.
TEST(IncidentViewTest, DraftRulesRefuseBadLinksWithTheirCodes) {
  FakeClock clock(kStart);
  IncidentView view(&clock);
  Feeds feeds;
  auto first = feeds.Make("a.test/n1", 1);
  auto cancel = feeds.Make("a.test/n1", 2, Cancels(first->id));
  auto other = feeds.Make("a.test/n1", 3);
  auto reaction = feeds.Make("b.test/n1", 4, Reacts(v1::REACTION_ACK, other->id));
  feeds.ApplyTo(view, {0, 1, 2, 3});

  auto draft = [](const std::function<void(v1::Alert&)>& edit) {
    v1::Alert a = testing::SampleDraft(99);
    edit(a);
    return a;
  };
  const std::vector<Ledger::StagedAlert> none;
  EXPECT_EQ(view.CheckDraft(draft(Updates(first->id)), none).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(view.CheckDraft(draft(Updates(cancel->id)), none).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(view.CheckDraft(draft(Cancels(first->id)), none).code(),
            absl::StatusCode::kFailedPrecondition);
  absl::Status st = view.CheckDraft(draft(Updates(first->id)), none);
  EXPECT_NE(st.message().find(cancel->id), std::string::npos) << st;
  EXPECT_EQ(view.CheckDraft(draft(Updates(reaction->id)), none).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(view.CheckDraft(draft(Reacts(v1::REACTION_ACK, std::string(64, 'f'))), none).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(view.CheckDraft(draft(Reacts(v1::REACTION_ACK, reaction->id)), none).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(view.CheckDraft(draft(Updates(other->id)), none).ok());
  EXPECT_TRUE(view.CheckDraft(draft(Reacts(v1::REACTION_CLAIM, first->id)), none).ok());

  // Staged in the same transaction: a cancel of `other`, then a reaction to
  // an alert staged just before.
  v1::Alert staged_cancel = draft(Cancels(other->id));
  v1::Alert staged_new = draft([](v1::Alert&) {});
  std::vector<Ledger::StagedAlert> staged = {{std::string(64, '1'), &staged_cancel},
                                             {std::string(64, '2'), &staged_new}};
  EXPECT_EQ(view.CheckDraft(draft(Updates(other->id)), staged).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(view.CheckDraft(draft(Updates(std::string(64, '1'))), staged).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(view.CheckDraft(draft(Updates(std::string(64, '2'))), staged).ok());
  EXPECT_TRUE(view.CheckDraft(draft(Reacts(v1::REACTION_ACK, std::string(64, '2'))), staged).ok());
}

TEST(IncidentViewTest, ListFiltersTheLatestVersionByStateAndPagesNewestFirst) {
  FakeClock clock(kStart);
  IncidentView view(&clock);
  Feeds feeds;
  std::vector<int> order;
  for (int i = 0; i < 10; ++i) {
    feeds.Make("a.test/n1", i, [i](v1::Alert& a) {
      a.set_category(i % 2 == 0 ? "dns.hijack" : "abuse.phishing-domain");
    });
    order.push_back(i);
  }
  // The first (dns.hijack) incident's update moves it to abuse.*.
  auto first_id = certs::AlertId(feeds.alert(0).SerializeAsString());
  feeds.Make("a.test/n1", 20, [&](v1::Alert& a) {
    a.set_updates(first_id);
    a.set_category("abuse.botnet");
  });
  order.push_back(10);
  feeds.ApplyTo(view, order);

  v1::ListIncidentsResponse dns = ListAll(view, "category:dns.*");
  ASSERT_EQ(dns.incidents_size(), 4);  // 8, 6, 4, 2: not 0 any more
  EXPECT_EQ(dns.incidents(0).cursor(), 9u);
  EXPECT_EQ(dns.incidents(3).cursor(), 3u);
  EXPECT_EQ(ListAll(view, "category:abuse.*").incidents_size(), 6);

  v1::ListIncidentsRequest req;
  req.add_states(v1::INCIDENT_UPDATED);
  absl::StatusOr<v1::ListIncidentsResponse> updated = view.List(req);
  ASSERT_TRUE(updated.ok());
  ASSERT_EQ(updated->incidents_size(), 1);
  EXPECT_EQ(updated->incidents(0).id(), first_id);

  // Pages of 3: 10 incidents in 4 pages, none twice, none lost, stable
  // when a new incident arrives between pages.
  req.Clear();
  req.set_page_size(3);
  std::vector<uint64_t> seen;
  for (int page = 0;; ++page) {
    absl::StatusOr<v1::ListIncidentsResponse> r = view.List(req);
    ASSERT_TRUE(r.ok()) << r.status();
    for (const auto& inc : r->incidents()) seen.push_back(inc.cursor());
    if (page == 0) {
      feeds.Make("a.test/n1", 30);
      ASSERT_EQ(feeds.ApplyAt(view, 11, 100).size(), 1u);
    }
    if (r->next_page_token().empty()) break;
    req.set_page_token(r->next_page_token());
  }
  EXPECT_EQ(seen, (std::vector<uint64_t>{10, 9, 8, 7, 6, 5, 4, 3, 2, 1}));
}

TEST(IncidentViewTest, BadStateOrPageTokenIsInvalidArgument) {
  FakeClock clock(kStart);
  IncidentView view(&clock);
  v1::ListIncidentsRequest req;
  req.set_page_token("xyz");
  EXPECT_EQ(view.List(req).status().code(), absl::StatusCode::kInvalidArgument);
  req.Clear();
  req.add_states(static_cast<v1::IncidentState>(9));
  EXPECT_EQ(view.List(req).status().code(), absl::StatusCode::kInvalidArgument);
  req.Clear();
  req.add_filters()->add_conditions()->set_min_severity(v1::SEVERITY_UNSPECIFIED);
  EXPECT_EQ(view.List(req).status().code(), absl::StatusCode::kInvalidArgument);
}


// The reaction test vector (docs/PROTOCOL.md "Reactions"): a sighting of the
// protocol vector's alert, signed with the protocol vector's key, in
// tests/testdata/reaction_vector/. Recomputed here byte for byte;
// WF_REGENERATE_VECTOR=1 rewrites the files.
std::string ReadVectorFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

std::string Hex(absl::string_view bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

TEST(ReactionVectorTest, RecomputedVectorMatchesCheckedInFilesAndVerifies) {
  const std::string dir = std::string(WF_SOURCE_DIR) + "/tests/testdata/";
  std::string seed;
  const std::string seed_hex = ReadVectorFile(dir + "protocol_vector/seed.hex");
  for (size_t i = 0; i + 1 < 64 + 1; i += 2) {
    seed.push_back(static_cast<char>(std::stoi(seed_hex.substr(i, 2), nullptr, 16)));
  }
  absl::StatusOr<certs::SigningKey> key = certs::SigningKey::FromSeed(seed);
  ASSERT_TRUE(key.ok()) << key.status();
  std::string target = ReadVectorFile(dir + "protocol_vector/id.txt");
  target.resize(64);

  v1::Alert a;
  a.set_origin("example.sk/bts1");
  a.set_sequence(1);
  a.mutable_issued_at()->set_seconds(1767225900);  // 2026-01-01T00:05:00Z
  a.set_severity(v1::SEVERITY_HIGH);
  a.set_category("dns.hijack");
  a.set_tlp(v1::TLP_GREEN);
  a.set_title("sighting: NS records of example.cz changed");
  a.add_domains("example.sk");
  a.mutable_reaction()->set_kind(v1::REACTION_SIGHTING);
  a.mutable_reaction()->set_target(target);
  a.mutable_reaction()->set_note("same NS change for example.sk");
  ASSERT_TRUE(ValidateSigned(a).ok()) << ValidateSigned(a);
  std::string payload;
  ASSERT_TRUE(a.SerializeToString(&payload));
  v1::Envelope env = certs::SignEnvelope(payload, certs::kAlertPayloadType, *key);
  EXPECT_TRUE(certs::VerifyEnvelope(env, key->public_key()).ok());

  const std::vector<std::pair<std::string, std::string>> files = {
      {"payload.hex", Hex(payload) + "\n"},
      {"sig.hex", Hex(env.signatures(0).sig()) + "\n"},
      {"id.txt", certs::AlertId(payload) + "\n"},
      {"envelope.json", certs::EnvelopeToJson(env) + "\n"},
  };
  const char* regen = getenv("WF_REGENERATE_VECTOR");
  for (const auto& [name, content] : files) {
    const std::string path = dir + "reaction_vector/" + name;
    if (regen != nullptr && std::string(regen) == "1") {
      std::filesystem::create_directories(dir + "reaction_vector");
      std::ofstream(path, std::ios::binary) << content;
    }
    EXPECT_EQ(ReadVectorFile(path), content) << name;
  }
}

}  // namespace
}  // namespace watchfloor::node
