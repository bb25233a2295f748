#include "node/incidents.h"

#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "certs/status_macros.h"
#include "google/protobuf/util/time_util.h"

namespace watchfloor::node {
namespace {

namespace v1 = ::watchfloor::v1;
using google::protobuf::util::TimeUtil;

constexpr uint32_t kDefaultPageSize = 100;
constexpr uint32_t kMaxPageSize = 1000;
constexpr size_t kRebuildBatch = 1024;

int64_t Micros(const google::protobuf::Timestamp& ts) {
  return ts.seconds() * 1000000 + ts.nanos() / 1000;
}

const std::string& LinkOf(const v1::Alert& a) {
  return a.updates().empty() ? a.cancels() : a.updates();
}

}  // namespace

absl::Status IncidentView::Rebuild(AlertStore* store) {
  // Alerts and marks share the cursor sequence: applied merged, in order.
  uint64_t after = 0;
  std::vector<Mark> marks;
  size_t next_mark = 0;
  uint64_t marks_after = 0;
  bool marks_done = false;
  auto next_marks = [&]() -> absl::Status {
    if (next_mark < marks.size() || marks_done) return absl::OkStatus();
    WF_ASSIGN_OR_RETURN(marks, store->ReadMarksAfter(marks_after, kRebuildBatch));
    next_mark = 0;
    if (marks.empty()) marks_done = true;
    else marks_after = marks.back().cursor;
    return absl::OkStatus();
  };
  for (;;) {
    WF_ASSIGN_OR_RETURN(std::vector<StoredAlert> page,
                        store->ReadAfter(after, kRebuildBatch));
    if (page.empty()) {
      // The marks after the last alert.
      for (;;) {
        WF_RETURN_IF_ERROR(next_marks());
        if (marks_done) return absl::OkStatus();
        absl::MutexLock lock(&mu_);
        while (next_mark < marks.size()) ApplyMarkLocked(marks[next_mark++]);
      }
    }
    for (StoredAlert& s : page) {
      for (;;) {
        WF_RETURN_IF_ERROR(next_marks());
        if (marks_done || marks[next_mark].cursor > s.cursor) break;
        absl::MutexLock lock(&mu_);
        ApplyMarkLocked(marks[next_mark++]);
      }
      absl::MutexLock lock(&mu_);
      after = s.cursor;
      v1::Alert alert;
      if (!alert.ParseFromString(s.envelope.payload())) {
        return absl::DataLossError(absl::StrCat(
            "stored alert ", s.id, " (cursor ", s.cursor,
            ") does not parse; the data file is damaged"));
      }
      std::vector<std::string> cosigners = s.cosigners;
      const std::string id = s.id;
      ApplyLocked(std::make_shared<const StoredAlert>(std::move(s)), alert);
      for (const std::string& node : cosigners) AddCosigner(id, node);
    }
  }
}

void IncidentView::OnCosigned(const std::vector<Cosignature>& added) {
  absl::MutexLock lock(&mu_);
  for (const Cosignature& c : added) AddCosigner(c.alert_id, c.node);
}

void IncidentView::OnMarked(const std::vector<Mark>& marks) {
  absl::MutexLock lock(&mu_);
  for (const Mark& m : marks) ApplyMarkLocked(m);
}

void IncidentView::ApplyMarkLocked(const Mark& mark) {
  if (mark.cursor <= applied_) return;
  applied_ = mark.cursor;
  auto a = alerts_.find(mark.alert_id);
  if (a == alerts_.end() || a->second.role == Role::kReaction) return;
  const uint64_t key = a->second.incident;
  Incident& inc = incidents_.at(key);
  Recorded r;
  r.incident = key;
  r.alert = mark.alert_id;
  if (mark.kind == Mark::Kind::kCosigned) {
    // Also shown from the co-signature listener; idempotent.
    AddCosigner(mark.alert_id, mark.node);
    r.kind = IncidentChange::Kind::kCorroborated;
    r.reactor = mark.node;
    recorded_[mark.cursor].push_back(std::move(r));
    return;
  }
  // An expiry counts for the latest version only, and not after a
  // cancellation: an update or cancel stored first decided otherwise.
  if (inc.cancelled || inc.versions.back() != mark.alert_id) return;
  Unexpiring(inc, key);
  inc.expiry_marked = true;
  r.kind = IncidentChange::Kind::kExpired;
  recorded_[mark.cursor].push_back(std::move(r));
}

void IncidentView::Unexpiring(const Incident& inc, uint64_t key) {
  if (inc.expires_at.has_value()) expiring_.erase({Micros(*inc.expires_at), key});
  proposed_.erase(key);
}

void IncidentView::Expiring(const Incident& inc, uint64_t key) {
  if (inc.expires_at.has_value() && !inc.cancelled && !inc.expiry_marked) {
    expiring_.insert({Micros(*inc.expires_at), key});
  }
}

std::vector<Mark> IncidentView::DueExpiries(absl::Time now, size_t limit) {
  const int64_t now_us = absl::ToUnixMicros(now);
  std::vector<Mark> out;
  absl::MutexLock lock(&mu_);
  for (const auto& [expires_us, key] : expiring_) {
    if (expires_us > now_us || out.size() >= limit) break;
    if (!proposed_.insert(key).second) continue;
    Mark& m = out.emplace_back();
    m.kind = Mark::Kind::kExpired;
    m.alert_id = incidents_.at(key).versions.back();
  }
  return out;
}

void IncidentView::RetractExpiries(const std::vector<Mark>& marks) {
  absl::MutexLock lock(&mu_);
  for (const Mark& m : marks) {
    auto a = alerts_.find(m.alert_id);
    if (a != alerts_.end()) proposed_.erase(a->second.incident);
  }
}

void IncidentView::AddCosigner(const std::string& id, const std::string& node) {
  auto a = alerts_.find(id);
  if (a == alerts_.end() || a->second.role == Role::kReaction) return;
  Incident& inc = incidents_.at(a->second.incident);
  auto at = std::lower_bound(inc.cosigners.begin(), inc.cosigners.end(), node);
  if (at != inc.cosigners.end() && *at == node) return;
  inc.cosigners.insert(at, node);
  inc.facts.SetCosigners(inc.cosigners);
}

void IncidentView::OnCommitted(
    const std::vector<std::shared_ptr<const StoredAlert>>& alerts) {
  absl::MutexLock lock(&mu_);
  for (const auto& s : alerts) {
    v1::Alert alert;
    // Committed alerts were verified and validated from these very bytes.
    if (!alert.ParseFromString(s->envelope.payload())) continue;
    ApplyLocked(s, alert);
  }
}

std::vector<IncidentChange> IncidentView::Apply(
    std::shared_ptr<const StoredAlert> stored, const v1::Alert& alert) {
  absl::MutexLock lock(&mu_);
  return ApplyLocked(std::move(stored), alert);
}

std::vector<IncidentChange> IncidentView::ApplyLocked(
    std::shared_ptr<const StoredAlert> stored, const v1::Alert& alert) {
  if (stored->cursor <= applied_) return {};
  applied_ = stored->cursor;
  std::vector<IncidentChange> changes = ApplyOne(stored, alert);
  std::vector<Recorded>& rec = recorded_[stored->cursor];
  for (const IncidentChange& c : changes) {
    if (c.kind == IncidentChange::Kind::kIgnored) continue;
    Recorded r;
    r.kind = c.kind;
    if (!c.incident.empty()) r.incident = alerts_.at(c.incident).incident;
    if (c.alert != stored->id) r.alert = c.alert;
    r.reaction = c.reaction;
    if (c.reactor != alert.origin()) r.reactor = c.reactor;
    rec.push_back(std::move(r));
  }
  return changes;
}

std::vector<IncidentChange> IncidentView::ApplyOne(
    const std::shared_ptr<const StoredAlert>& stored, const v1::Alert& alert) {
  std::vector<IncidentChange> changes;
  const std::string& id = stored->id;

  if (alert.has_key_record()) {
    // A node's encryption key announcement (node/key_epochs.h): not an
    // incident, and nothing may link to it.
    changes.push_back({IncidentChange::Kind::kIgnored, "", id});
    return changes;
  }
  if (alert.has_reaction()) {
    alerts_[id] = AlertInfo{Role::kReaction, 0};
    Reaction r;
    r.issued_us = Micros(alert.issued_at());
    r.origin = alert.origin();
    r.id = id;
    r.reaction = alert.reaction();
    r.issued_at = alert.issued_at();
    r.domains.assign(alert.domains().begin(), alert.domains().end());
    r.ip_prefixes.assign(alert.ip_prefixes().begin(), alert.ip_prefixes().end());
    auto target = alerts_.find(r.reaction.target());
    if (target == alerts_.end()) {
      // Its target may arrive later (another origin's feed); kept until then.
      changes.push_back({IncidentChange::Kind::kReacted, "", id, r.reaction.kind(),
                         r.origin});
      orphans_[r.reaction.target()].push_back(std::move(r));
      return changes;
    }
    if (target->second.role == Role::kReaction) {
      // Refused at Publish; from elsewhere it is stored but shown nowhere.
      changes.push_back({IncidentChange::Kind::kIgnored, "", id});
      return changes;
    }
    Incident& inc = incidents_[target->second.incident];
    inc.reactions.insert(
        std::upper_bound(inc.reactions.begin(), inc.reactions.end(), r), r);
    changes.push_back({IncidentChange::Kind::kReacted, inc.id, id, r.reaction.kind(),
                       r.origin});
    return changes;
  }

  const std::string& link = LinkOf(alert);
  auto target = link.empty() ? alerts_.end() : alerts_.find(link);
  // A link counts only if it names an earlier non-reaction alert of the same
  // origin (the Publish rule). From a node that broke it, the alert opens
  // an incident of its own: the same result at every node, whatever order
  // feeds arrived in, since the origin's earlier alerts always came first.
  const bool linked = target != alerts_.end() &&
                      target->second.role != Role::kReaction &&
                      incidents_[target->second.incident].origin == alert.origin();
  if (linked) {
    const uint64_t key = target->second.incident;
    Incident& inc = incidents_[key];
    const bool cancels = !alert.cancels().empty();
    alerts_[id] = AlertInfo{cancels ? Role::kCancel : Role::kUpdate, key};
    if (inc.cancelled) {
      // Refused at Publish; from elsewhere it joins the incident's alerts
      // (reactions to it count) but changes nothing.
      changes.push_back({IncidentChange::Kind::kIgnored, inc.id, id});
    } else {
      Unexpiring(inc, key);
      inc.versions.push_back(id);
      inc.latest = stored;
      inc.facts = AlertFacts::From(alert);
      inc.facts.SetCosigners(inc.cosigners);
      inc.updated_at = alert.issued_at();
      inc.expires_at.reset();
      if (alert.has_expires_at()) inc.expires_at = alert.expires_at();
      inc.cancelled = cancels;
      inc.expiry_marked = false;
      Expiring(inc, key);
      changes.push_back({cancels ? IncidentChange::Kind::kCancelled
                                 : IncidentChange::Kind::kUpdated,
                         inc.id, id});
    }
  } else {
    const uint64_t key = stored->cursor;
    alerts_[id] = AlertInfo{Role::kRoot, key};
    Incident& inc = incidents_[key];
    inc.id = id;
    inc.origin = alert.origin();
    inc.versions.push_back(id);
    inc.latest = stored;
    inc.facts = AlertFacts::From(alert);
    inc.opened_at = alert.issued_at();
    inc.updated_at = alert.issued_at();
    if (alert.has_expires_at()) inc.expires_at = alert.expires_at();
    Expiring(inc, key);
    changes.push_back({IncidentChange::Kind::kNew, inc.id, id});
  }

  // Reactions that arrived before this alert.
  auto waiting = orphans_.find(id);
  if (waiting != orphans_.end()) {
    Incident& inc = incidents_[alerts_[id].incident];
    for (Reaction& r : waiting->second) {
      changes.push_back({IncidentChange::Kind::kReacted, inc.id, r.id, r.reaction.kind(),
                         r.origin});
      inc.reactions.insert(
          std::upper_bound(inc.reactions.begin(), inc.reactions.end(), r),
          std::move(r));
    }
    orphans_.erase(waiting);
  }
  return changes;
}

absl::Status IncidentView::CheckDraft(
    const v1::Alert& draft, const std::vector<Ledger::StagedAlert>& staged) const {
  // What an id is, in the staged alerts (later ones win) or the committed
  // view: its role, and the id of its incident (staged roots are their own).
  struct Found {
    Role role;
    std::string incident;
  };
  std::map<std::string, Found> overlay;
  std::map<std::string, std::string> cancelled_by;  // incident -> cancel id
  absl::MutexLock lock(&mu_);
  auto lookup = [&](const std::string& id) -> std::optional<Found> {
    auto o = overlay.find(id);
    if (o != overlay.end()) return o->second;
    auto it = alerts_.find(id);
    if (it == alerts_.end()) return std::nullopt;
    if (it->second.role == Role::kReaction) return Found{Role::kReaction, ""};
    const Incident& inc = incidents_.at(it->second.incident);
    return Found{it->second.role, inc.id};
  };
  auto cancellation = [&](const std::string& incident) -> std::optional<std::string> {
    auto c = cancelled_by.find(incident);
    if (c != cancelled_by.end()) return c->second;
    auto a = alerts_.find(incident);
    if (a == alerts_.end()) return std::nullopt;
    const Incident& inc = incidents_.at(a->second.incident);
    if (inc.cancelled) return inc.versions.back();
    return std::nullopt;
  };
  for (const Ledger::StagedAlert& s : staged) {
    const v1::Alert& a = *s.alert;
    if (a.has_reaction()) {
      overlay[s.id] = Found{Role::kReaction, ""};
      continue;
    }
    std::optional<Found> t;
    if (!LinkOf(a).empty()) t = lookup(LinkOf(a));
    if (t.has_value() && t->role != Role::kReaction) {
      const bool cancels = !a.cancels().empty();
      overlay[s.id] = Found{cancels ? Role::kCancel : Role::kUpdate, t->incident};
      if (cancels) cancelled_by.emplace(t->incident, s.id);
    } else {
      overlay[s.id] = Found{Role::kRoot, s.id};
    }
  }

  if (draft.has_reaction()) {
    const std::string& target = draft.reaction().target();
    std::optional<Found> t = lookup(target);
    if (!t.has_value()) {
      return absl::NotFoundError(absl::StrCat(
          "reaction.target names alert ", target,
          ", which this node does not store; check the id (watchfloor "
          "incidents lists them), or wait until the alert has reached this "
          "node"));
    }
    if (t->role == Role::kReaction) {
      return absl::InvalidArgumentError(absl::StrCat(
          "reaction.target names alert ", target,
          ", which is itself a reaction; react to the incident's alert "
          "instead"));
    }
    return absl::OkStatus();
  }
  const std::string& link = LinkOf(draft);
  if (link.empty()) return absl::OkStatus();
  const char* verb = draft.updates().empty() ? "cancels" : "updates";
  std::optional<Found> t = lookup(link);
  if (!t.has_value()) {
    // The Ledger checked this already; kept so the rule stands alone.
    return absl::InvalidArgumentError(absl::StrCat(
        verb, " names alert ", link, ", which this node does not store"));
  }
  if (t->role == Role::kReaction) {
    return absl::InvalidArgumentError(absl::StrCat(
        verb, " names alert ", link,
        ", which is a reaction; only an incident's alerts can be updated or "
        "cancelled"));
  }
  if (std::optional<std::string> c = cancellation(t->incident); c.has_value()) {
    return absl::FailedPreconditionError(absl::StrCat(
        verb, " names alert ", link, " of incident ", t->incident,
        ", which alert ", *c,
        " cancelled; a cancelled incident is closed for good: publish a new "
        "alert instead"));
  }
  return absl::OkStatus();
}

bool IncidentView::Reached(Want* want) {
  want->view->mu_.AssertReaderHeld();
  return want->view->applied_ >= want->cursor;
}

std::vector<v1::IncidentEvent> IncidentView::EventsAt(const StoredAlert& stored) const {
  std::vector<v1::IncidentEvent> out;
  Want want{this, stored.cursor};
  absl::MutexLock lock(&mu_);
  mu_.AwaitWithTimeout(absl::Condition(&IncidentView::Reached, &want), absl::Seconds(5));
  auto it = recorded_.find(stored.cursor);
  if (it == recorded_.end()) return out;
  for (const Recorded& r : it->second) {
    v1::IncidentEvent& e = out.emplace_back();
    switch (r.kind) {
      case IncidentChange::Kind::kNew: e.set_kind(v1::INCIDENT_NEW); break;
      case IncidentChange::Kind::kUpdated: e.set_kind(v1::INCIDENT_UPDATED_BY); break;
      case IncidentChange::Kind::kCancelled: e.set_kind(v1::INCIDENT_CANCELLED_BY); break;
      case IncidentChange::Kind::kCorroborated: e.set_kind(v1::INCIDENT_CORROBORATED); break;
      case IncidentChange::Kind::kExpired: e.set_kind(v1::INCIDENT_EXPIRY); break;
      default: e.set_kind(v1::INCIDENT_REACTED); break;
    }
    if (r.incident != 0) e.set_incident(incidents_.at(r.incident).id);
    e.set_alert(r.alert.empty() ? stored.id : r.alert);
    if (r.kind == IncidentChange::Kind::kReacted) {
      e.set_reaction(r.reaction);
      e.set_reactor(r.reactor.empty() ? stored.origin : r.reactor);
    }
    if (r.kind == IncidentChange::Kind::kCorroborated) e.set_cosigner(r.reactor);
  }
  return out;
}

v1::IncidentState IncidentView::StateOf(const Incident& inc, absl::Time now) const {
  if (inc.cancelled) return v1::INCIDENT_CANCELLED;
  if (inc.expires_at.has_value() &&
      absl::FromUnixMicros(Micros(*inc.expires_at)) <= now) {
    return v1::INCIDENT_EXPIRED;
  }
  return inc.versions.size() > 1 ? v1::INCIDENT_UPDATED : v1::INCIDENT_OPEN;
}

void IncidentView::Fill(const Incident& inc, uint64_t cursor, absl::Time now,
                        v1::Incident* out) const {
  out->set_id(inc.id);
  out->set_origin(inc.origin);
  out->set_state(StateOf(inc, now));
  for (const std::string& v : inc.versions) out->add_versions(v);
  out->set_latest_cursor(inc.latest->cursor);
  *out->mutable_latest() = inc.latest->envelope;
  *out->mutable_opened_at() = inc.opened_at;
  *out->mutable_updated_at() = inc.updated_at;
  if (inc.expires_at.has_value()) *out->mutable_expires_at() = *inc.expires_at;
  for (const std::string& c : inc.cosigners) out->add_cosigners(c);
  for (const Reaction& r : inc.reactions) {
    v1::IncidentReaction* o = out->add_reactions();
    o->set_id(r.id);
    o->set_origin(r.origin);
    o->set_kind(r.reaction.kind());
    o->set_target(r.reaction.target());
    o->set_note(r.reaction.note());
    *o->mutable_issued_at() = r.issued_at;
    for (const std::string& d : r.domains) o->add_domains(d);
    for (const std::string& p : r.ip_prefixes) o->add_ip_prefixes(p);
  }
  out->set_cursor(cursor);
}

absl::StatusOr<v1::ListIncidentsResponse> IncidentView::List(
    const v1::ListIncidentsRequest& request) const {
  WF_ASSIGN_OR_RETURN(std::shared_ptr<const Matcher> matcher,
                      Matcher::Compile(request.filters()));
  std::set<int> states;
  for (int s : request.states()) {
    if (!v1::IncidentState_IsValid(s) || s == v1::INCIDENT_STATE_UNSPECIFIED) {
      return absl::InvalidArgumentError(absl::StrCat(
          "states: ", s, " is not an incident state; use open, updated, "
          "cancelled or expired"));
    }
    states.insert(s);
  }
  uint64_t before = UINT64_MAX;
  if (!request.page_token().empty() &&
      (!absl::SimpleAtoi(request.page_token(), &before) || before == 0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "page_token \"", request.page_token().substr(0, 40),
        "\" was not issued by this node; pass next_page_token unchanged"));
  }
  uint32_t limit = request.page_size() == 0 ? kDefaultPageSize
                                            : std::min(request.page_size(), kMaxPageSize);
  const absl::Time now = clock_->Now();
  v1::ListIncidentsResponse out;
  absl::MutexLock lock(&mu_);
  auto it = incidents_.lower_bound(before);
  while (it != incidents_.begin()) {
    --it;
    const Incident& inc = it->second;
    if (!states.empty() && states.count(StateOf(inc, now)) == 0) continue;
    if (!matcher->Matches(inc.facts)) continue;
    if (out.incidents_size() == static_cast<int>(limit)) {
      // One more matches: the next page starts below the last one shown.
      out.set_next_page_token(absl::StrCat(out.incidents().rbegin()->cursor()));
      break;
    }
    Fill(inc, it->first, now, out.add_incidents());
  }
  return out;
}

size_t IncidentView::size() const {
  absl::MutexLock lock(&mu_);
  return incidents_.size();
}

size_t IncidentView::open() const {
  const absl::Time now = clock_->Now();
  absl::MutexLock lock(&mu_);
  size_t n = 0;
  for (const auto& [cursor, inc] : incidents_) {
    const v1::IncidentState s = StateOf(inc, now);
    n += s == v1::INCIDENT_OPEN || s == v1::INCIDENT_UPDATED;
  }
  return n;
}

}  // namespace watchfloor::node
