// Watch-floor coordination (issue 13) on real 3-member federations over
// mutual TLS on loopback: an incident's lifecycle and the reactions of the
// other members reach every member's incident view in the same form; every
// Publish refusal has its exact status and stores nothing; the view of a
// node killed with SIGKILL is rebuilt as it was; the CLI's `react` and
// `incidents` against a running node.
#include <map>
#include <set>
#include <thread>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "tests/federation_util.h"
#include "tests/interop_test_util.h"
#include "tests/test_util.h"

namespace watchfloor::testing {
namespace {

namespace v1 = ::watchfloor::v1;
constexpr absl::Duration kConverge = absl::Seconds(30);

FederationOptions Three(bool multi_process = false) {
  FederationOptions o;
  o.members = 3;
  o.multi_process = multi_process;
  return o;
}

grpc::ClientContext* WithDeadline(grpc::ClientContext* ctx) {
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  return ctx;
}

v1::Alert Reaction(v1::ReactionKind kind, const std::string& target,
                   const std::string& note = "") {
  v1::Alert a = SampleDraft(50);
  a.set_title("reaction");
  a.mutable_reaction()->set_kind(kind);
  a.mutable_reaction()->set_target(target);
  a.mutable_reaction()->set_note(note);
  return a;
}

v1::Alert Linked(bool cancel, const std::string& target, int n = 1) {
  v1::Alert a = SampleDraft(n);
  if (cancel) {
    a.set_cancels(target);
  } else {
    a.set_updates(target);
  }
  return a;
}

absl::StatusOr<v1::ListIncidentsResponse> List(TestFederation& fed, int node,
                                               v1::ListIncidentsRequest req = {}) {
  grpc::ClientContext ctx;
  v1::ListIncidentsResponse resp;
  grpc::Status st = fed.Client(node)->ListIncidents(WithDeadline(&ctx), req, &resp);
  if (!st.ok()) {
    return absl::Status(static_cast<absl::StatusCode>(st.error_code()), st.error_message());
  }
  return resp;
}

// An incident without its node-local parts (cursors), for comparing the
// views of two nodes.
std::string Portable(v1::Incident inc) {
  inc.clear_cursor();
  inc.clear_latest_cursor();
  return inc.SerializeAsString();
}

std::string Publish(TestFederation& fed, int node, const v1::Alert& draft) {
  v1::PublishResponse r;
  grpc::Status st = fed.Publish(node, draft, &r);
  EXPECT_TRUE(st.ok()) << st.error_code() << " " << st.error_message();
  return r.id();
}

TEST(IncidentsFederationTest, LifecycleAndReactionsReachEveryMembersViewInTheSameForm) {
  TestFederation fed(Three());
  ASSERT_TRUE(fed.ok());
  ASSERT_TRUE(fed.StartAll().ok());

  const std::string first = Publish(fed, 0, SampleDraft(1));
  ASSERT_TRUE(fed.WaitForIds({first}, kConverge));
  const std::string ack = Publish(fed, 1, Reaction(v1::REACTION_ACK, first));
  const std::string update = Publish(fed, 0, Linked(false, first, 2));
  ASSERT_TRUE(fed.WaitForIds({update}, kConverge));
  v1::Alert sighting = Reaction(v1::REACTION_SIGHTING, update, "we see it from AS64501");
  sighting.clear_domains();
  sighting.add_domains("example.sk");
  const std::string seen = Publish(fed, 2, sighting);
  const std::string claim1 = Publish(fed, 1, Reaction(v1::REACTION_CLAIM, first));
  const std::string claim2 = Publish(fed, 2, Reaction(v1::REACTION_CLAIM, update, "taking over"));
  const std::string resolved = Publish(fed, 2, Reaction(v1::REACTION_RESOLVED, update));
  ASSERT_TRUE(fed.WaitForIds({ack, seen, claim1, claim2, resolved}, kConverge));

  std::string reference;
  for (int i = 0; i < 3; ++i) {
    SCOPED_TRACE(fed.origin(i));
    absl::StatusOr<v1::ListIncidentsResponse> r = List(fed, i);
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(r->incidents_size(), 1);
    const v1::Incident& inc = r->incidents(0);
    EXPECT_EQ(inc.id(), first);
    EXPECT_EQ(inc.origin(), fed.origin(0));
    EXPECT_EQ(inc.state(), v1::INCIDENT_UPDATED);
    ASSERT_EQ(inc.versions_size(), 2);
    EXPECT_EQ(inc.versions(1), update);
    ASSERT_EQ(inc.reactions_size(), 5);
    // In issue order, each with who, how and when.
    EXPECT_EQ(inc.reactions(0).id(), ack);
    EXPECT_EQ(inc.reactions(0).origin(), fed.origin(1));
    EXPECT_EQ(inc.reactions(0).kind(), v1::REACTION_ACK);
    EXPECT_EQ(inc.reactions(1).id(), seen);
    EXPECT_EQ(inc.reactions(1).kind(), v1::REACTION_SIGHTING);
    EXPECT_EQ(inc.reactions(1).note(), "we see it from AS64501");
    ASSERT_EQ(inc.reactions(1).domains_size(), 1);
    EXPECT_EQ(inc.reactions(1).domains(0), "example.sk");
    EXPECT_EQ(inc.reactions(2).kind(), v1::REACTION_CLAIM);
    EXPECT_EQ(inc.reactions(2).origin(), fed.origin(1));
    EXPECT_EQ(inc.reactions(3).kind(), v1::REACTION_CLAIM);
    EXPECT_EQ(inc.reactions(3).origin(), fed.origin(2));
    EXPECT_EQ(inc.reactions(4).kind(), v1::REACTION_RESOLVED);
    EXPECT_GT(inc.reactions(4).issued_at().seconds(), 0);
    if (i == 0) reference = Portable(inc);
    EXPECT_EQ(Portable(inc), reference);
  }

  // Filters match the latest version; states narrow.
  v1::ListIncidentsRequest dns;
  dns.add_filters()->add_conditions()->mutable_category()->add_patterns("dns.*");
  EXPECT_EQ(List(fed, 2, dns)->incidents_size(), 1);
  v1::ListIncidentsRequest abuse;
  abuse.add_filters()->add_conditions()->mutable_category()->add_patterns("abuse.*");
  EXPECT_EQ(List(fed, 2, abuse)->incidents_size(), 0);

  const std::string cancel = Publish(fed, 0, Linked(true, update, 3));
  ASSERT_TRUE(fed.WaitForIds({cancel}, kConverge));
  for (int i = 0; i < 3; ++i) {
    SCOPED_TRACE(fed.origin(i));
    absl::StatusOr<v1::ListIncidentsResponse> r = List(fed, i);
    ASSERT_TRUE(r.ok()) << r.status();
    ASSERT_EQ(r->incidents_size(), 1);
    EXPECT_EQ(r->incidents(0).state(), v1::INCIDENT_CANCELLED);
    EXPECT_EQ(r->incidents(0).versions(2), cancel);
    v1::ListIncidentsRequest open;
    open.add_states(v1::INCIDENT_OPEN);
    open.add_states(v1::INCIDENT_UPDATED);
    EXPECT_EQ(List(fed, i, open)->incidents_size(), 0);
  }
}

// Incident events on Subscribe: a live subscriber started before anything
// was published gets, message by message, exactly what a replay afterwards
// gets, and resuming from a cursor in the middle gets the rest.
TEST(IncidentsFederationTest, SubscribersSeeIncidentEventsLiveAndInReplayAlike) {
  TestFederation fed(Three());
  ASSERT_TRUE(fed.ok());
  ASSERT_TRUE(fed.StartAll().ok());
  using Seen = std::vector<std::pair<uint64_t, std::string>>;  // cursor, events
  auto collect = [&](uint64_t cursor, bool replay_only, size_t count,
                     grpc::ClientContext* ctx) {
    v1::SubscribeRequest req;
    req.set_cursor(cursor);
    req.set_replay_only(replay_only);
    req.set_incident_events(true);
    Seen seen;
    auto reader = fed.Client(2)->Subscribe(ctx, req);
    v1::SubscribeResponse msg;
    while (seen.size() < count && reader->Read(&msg)) {
      std::string events;
      for (const auto& e : msg.events()) events += e.SerializeAsString() + "|";
      seen.emplace_back(msg.cursor(), events);
    }
    ctx->TryCancel();
    reader->Finish();
    return seen;
  };
  Seen live;
  grpc::ClientContext live_ctx;
  live_ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  std::thread subscriber([&] { live = collect(0, false, 6, &live_ctx); });

  // A reaction from member 1 and the alert it targets from member 0 may
  // reach node 2 in either order; the events say which.
  const std::string first = Publish(fed, 0, SampleDraft(1));
  ASSERT_TRUE(fed.WaitForIds({first}, kConverge));
  const std::string ack = Publish(fed, 1, Reaction(v1::REACTION_ACK, first));
  const std::string update = Publish(fed, 0, Linked(false, first, 2));
  ASSERT_TRUE(fed.WaitForIds({update}, kConverge));
  const std::string claim = Publish(fed, 2, Reaction(v1::REACTION_CLAIM, update));
  const std::string other = Publish(fed, 1, SampleDraft(3));
  const std::string cancel = Publish(fed, 0, Linked(true, update, 4));
  ASSERT_TRUE(fed.WaitForIds({ack, claim, other, cancel}, kConverge, {2}));
  subscriber.join();

  grpc::ClientContext replay_ctx;
  WithDeadline(&replay_ctx);
  Seen replay = collect(0, true, 100, &replay_ctx);
  ASSERT_EQ(replay.size(), 6u);
  EXPECT_EQ(live, replay);

  // Decode node 2's view of the story.
  std::vector<v1::IncidentEvent> all;
  for (const auto& [cursor, events] : replay) {
    for (absl::string_view e : absl::StrSplit(events, '|', absl::SkipEmpty())) {
      ASSERT_TRUE(all.emplace_back().ParseFromString(std::string(e)));
    }
  }
  std::map<v1::IncidentEventKind, int> kinds;
  for (const auto& e : all) {
    ++kinds[e.kind()];
    if (e.kind() == v1::INCIDENT_REACTED) {
      EXPECT_EQ(e.incident(), first);
      EXPECT_TRUE(e.alert() == ack || e.alert() == claim);
    }
    if (e.kind() == v1::INCIDENT_CANCELLED_BY) {
      EXPECT_EQ(e.incident(), first);
      EXPECT_EQ(e.alert(), cancel);
    }
  }
  EXPECT_EQ(kinds[v1::INCIDENT_NEW], 2);  // first, other
  EXPECT_EQ(kinds[v1::INCIDENT_UPDATED_BY], 1);
  EXPECT_EQ(kinds[v1::INCIDENT_CANCELLED_BY], 1);
  EXPECT_EQ(kinds[v1::INCIDENT_REACTED], 2);

  // Resume after the third message: the last three, the same.
  grpc::ClientContext resume_ctx;
  WithDeadline(&resume_ctx);
  Seen rest = collect(replay[2].first, true, 100, &resume_ctx);
  EXPECT_EQ(rest, Seen(replay.begin() + 3, replay.end()));

  // Without incident_events, no events.
  v1::SubscribeRequest plain;
  plain.set_replay_only(true);
  grpc::ClientContext plain_ctx;
  auto reader = fed.Client(2)->Subscribe(WithDeadline(&plain_ctx), plain);
  v1::SubscribeResponse msg;
  int n = 0;
  while (reader->Read(&msg)) {
    EXPECT_EQ(msg.events_size(), 0);
    ++n;
  }
  EXPECT_TRUE(reader->Finish().ok());
  EXPECT_EQ(n, 6);
}

// Each refusal at Publish: the exact status, a message that names the
// problem, and no alert stored at the publishing node or anywhere else.
TEST(IncidentsFederationTest, PublishRefusesBadLinksAndReactionsAndStoresNothing) {
  TestFederation fed(Three());
  ASSERT_TRUE(fed.ok());
  ASSERT_TRUE(fed.StartAll().ok());
  const std::string own = Publish(fed, 0, SampleDraft(1));
  const std::string foreign = Publish(fed, 1, SampleDraft(2));
  ASSERT_TRUE(fed.WaitForIds({own, foreign}, kConverge));
  const std::string reaction = Publish(fed, 1, Reaction(v1::REACTION_ACK, own));
  const std::string cancel = Publish(fed, 0, Linked(true, own));
  ASSERT_TRUE(fed.WaitForIds({reaction, cancel}, kConverge));
  ASSERT_TRUE(fed.AllHaveCount(4));

  struct Case {
    const char* name;
    int node;
    v1::Alert draft;
    grpc::StatusCode code;
    std::string says;
  };
  v1::Alert no_kind = Reaction(v1::REACTION_ACK, own);
  no_kind.mutable_reaction()->clear_kind();
  v1::Alert long_note = Reaction(v1::REACTION_ACK, own, std::string(1025, 'x'));
  v1::Alert both = Reaction(v1::REACTION_ACK, own);
  both.set_updates(own);
  const std::string unknown(64, 'a');
  const std::vector<Case> cases = {
      {"update of another origin's alert", 0, Linked(false, foreign),
       grpc::StatusCode::INVALID_ARGUMENT, "not in this node's feed"},
      {"update of an unknown alert", 0, Linked(false, unknown),
       grpc::StatusCode::INVALID_ARGUMENT, "not in this node's feed"},
      {"update of a cancelled incident", 0, Linked(false, own),
       grpc::StatusCode::FAILED_PRECONDITION, cancel},
      {"second cancel", 0, Linked(true, own),
       grpc::StatusCode::FAILED_PRECONDITION, "cancelled"},
      {"update of the cancelling alert", 0, Linked(false, cancel),
       grpc::StatusCode::FAILED_PRECONDITION, "closed for good"},
      {"update of own reaction", 1, Linked(false, reaction),
       grpc::StatusCode::INVALID_ARGUMENT, "is a reaction"},
      {"reaction to an unknown alert", 2, Reaction(v1::REACTION_SIGHTING, unknown),
       grpc::StatusCode::NOT_FOUND, "does not store"},
      {"reaction to a reaction", 2, Reaction(v1::REACTION_ACK, reaction),
       grpc::StatusCode::INVALID_ARGUMENT, "itself a reaction"},
      {"reaction without a kind", 2, no_kind, grpc::StatusCode::INVALID_ARGUMENT,
       "reaction.kind"},
      {"reaction note too long", 2, long_note, grpc::StatusCode::INVALID_ARGUMENT,
       "reaction.note"},
      {"reaction that also updates", 2, both, grpc::StatusCode::INVALID_ARGUMENT,
       "may not also update"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    v1::PublishResponse r;
    grpc::Status st = fed.Publish(c.node, c.draft, &r);
    EXPECT_EQ(st.error_code(), c.code) << st.error_message();
    EXPECT_TRUE(absl::StrContains(st.error_message(), c.says)) << st.error_message();
    EXPECT_EQ(fed.StoredAlertCount(c.node), 4);
  }
  // Nothing reached anyone either; the feeds are as they were.
  v1::PublishResponse marker;
  ASSERT_TRUE(fed.Publish(2, SampleDraft(9), &marker).ok());
  ASSERT_TRUE(fed.WaitForIds({marker.id()}, kConverge));
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(fed.StoredAlertCount(i), 5) << fed.origin(i);
    EXPECT_TRUE(fed.CheckFeedsContiguous(i).ok());
  }
}

// The view is derived, never written: after SIGKILL the restarted node
// rebuilds it from its store, equal to what it served before. The CLI's
// `react` and `incidents` run against the real node processes.
TEST(IncidentsFederationTest, ViewSurvivesKillNineAndTheCliReactsAndLists) {
  TestFederation fed(Three(/*multi_process=*/true));
  ASSERT_TRUE(fed.ok());
  ASSERT_TRUE(fed.StartAll().ok());
  auto dial = [&](int i) -> std::vector<std::string> {
    FederationMember& m = fed.member(i);
    return {"--node",    m.endpoint(),      "--tls-cert",    m.client_cert_file,
            "--tls-key", m.client_key_file, "--tls-ca",      m.ca_cert_file,
            "--node-origin", m.origin};
  };
  auto run = [&](int i, std::vector<std::string> args) {
    for (const std::string& d : dial(i)) args.push_back(d);
    return RunWatchfloor(args);
  };

  const std::string first = Publish(fed, 0, SampleDraft(1));
  ASSERT_TRUE(fed.WaitForIds({first}, kConverge));
  ProcResult r = run(1, {"react", first, "--claim", "--note", "on it"});
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_TRUE(absl::StartsWith(r.out, absl::StrCat("reacted claim to ", first))) << r;
  r = run(2, {"react", first, "--sighting", "--domain", "example.sk", "--prefix",
              "198.51.100.0/24"});
  ASSERT_EQ(r.exit_code, 0) << r;
  const std::string update = Publish(fed, 0, Linked(false, first, 2));
  // Usage and refusals, as an operator sees them.
  r = run(1, {"react", first});
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_TRUE(absl::StrContains(r.err, "exactly one of --ack, --sighting, --claim or --resolved")) << r;
  r = run(1, {"react", std::string(64, 'b'), "--ack"});
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_TRUE(absl::StrContains(r.err, "is not stored at this node")) << r;
  r = run(1, {"react", first, "--sighting", "--domain", "Example..cz"});
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_TRUE(absl::StrContains(r.err, "Example..cz")) << r;
  r = run(1, {"incidents", "--state", "closed"});
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_TRUE(absl::StrContains(r.err, "--state \"closed\" is unknown")) << r;
  ASSERT_TRUE(WaitUntil([&] { return fed.AllHaveCount(4); }, kConverge));

  r = run(1, {"incidents", "--filter", "category:dns.*"});
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_TRUE(absl::StrContains(r.out, absl::StrCat("incident ", first, "  updated  ",
                                                    fed.origin(0))))
      << r;
  EXPECT_TRUE(absl::StrContains(r.out, absl::StrCat("claim by ", fed.origin(1)))) << r;
  EXPECT_TRUE(absl::StrContains(r.out, "\"on it\"")) << r;
  EXPECT_TRUE(absl::StrContains(r.out, absl::StrCat("sighting by ", fed.origin(2)))) << r;
  EXPECT_TRUE(absl::StrContains(r.out, "domains example.sk  prefixes 198.51.100.0/24")) << r;
  EXPECT_TRUE(absl::StrContains(r.out, absl::StrCat("versions: 2 (latest ", update, ")"))) << r;
  r = run(1, {"incidents", "--filter", "category:abuse.*"});
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_EQ(r.out, "no incidents\n");

  absl::StatusOr<v1::ListIncidentsResponse> before = List(fed, 1);
  ASSERT_TRUE(before.ok()) << before.status();
  fed.KillNode(1);
  ASSERT_TRUE(fed.StartNode(1).ok()) << fed.LogTail(1);
  absl::StatusOr<v1::ListIncidentsResponse> after = List(fed, 1);
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_EQ(after->SerializeAsString(), before->SerializeAsString());
  ASSERT_EQ(after->incidents_size(), 1);
  EXPECT_EQ(after->incidents(0).reactions_size(), 2);
}

}  // namespace
}  // namespace watchfloor::testing
