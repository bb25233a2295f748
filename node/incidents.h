// The incident view: each incident (an alert and the later alerts of the
// same origin that update or cancel it) with its latest version, its state
// and the reactions of other members (docs/PROTOCOL.md "Incidents").
//
// Derived state only. The view is rebuilt from the store when the node
// starts (Rebuild) and then follows every commit (OnCommitted), so it holds
// exactly what the store holds, before and after a kill -9: nothing of it is
// written anywhere. Given the same stored alerts, in whatever order they
// arrived, every node derives the same incidents, versions and reactions.
#ifndef WATCHFLOOR_NODE_INCIDENTS_H_
#define WATCHFLOOR_NODE_INCIDENTS_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "node/alert_store.h"
#include "node/clock.h"
#include "node/filter.h"
#include "node/ledger.h"
#include "watchfloor/v1/alert.pb.h"
#include "watchfloor/v1/incident.pb.h"

namespace watchfloor::node {

// What one stored alert did to the view (for tests, metrics and
// subscribers). Derived from the alert and the alerts stored before it.
struct IncidentChange {
  enum class Kind { kNew, kUpdated, kCancelled, kReacted, kIgnored, kCorroborated, kExpired };
  Kind kind = Kind::kNew;
  std::string incident;  // the incident's id; empty for an orphan reaction
  std::string alert;     // the alert that caused it
  // kReacted: the reaction's kind and the reacting node.
  watchfloor::v1::ReactionKind reaction = watchfloor::v1::REACTION_KIND_UNSPECIFIED;
  std::string reactor = {};
};

class IncidentView {
 public:
  // `clock` decides expiry at List time; it must outlive the view.
  explicit IncidentView(Clock* clock) : clock_(clock) {}
  IncidentView(const IncidentView&) = delete;
  IncidentView& operator=(const IncidentView&) = delete;

  // Applies every alert and mark of `store` in cursor order. Call once, on an empty
  // view, before the Ledger commits anything. Errors: the store's, and
  // DATA_LOSS if a stored payload does not parse as an Alert.
  absl::Status Rebuild(AlertStore* store);

  // Applies committed alerts, in commit (cursor) order: the Ledger's commit
  // listener. Alerts already applied (cursor at or below the last one) are
  // skipped. Thread-safe.
  void OnCommitted(const std::vector<std::shared_ptr<const StoredAlert>>& alerts);

  // Applies co-signatures the Ledger just committed (its co-signature
  // listener): the incident of each co-signed alert shows its co-signer,
  // and filters on corroboration see it. Thread-safe.
  void OnCosigned(const std::vector<Cosignature>& added);

  // Applies committed marks (node/alert_store.h Mark), in cursor order: the
  // Ledger's mark listener. A kCosigned mark of an incident's version is a
  // "corroborated" event; a kExpired mark of an incident's latest version
  // (not cancelled) is an "expired" event. Marks already applied (cursor at
  // or below the last alert or mark applied) are skipped. Thread-safe.
  void OnMarked(const std::vector<Mark>& marks);

  // kExpired marks to write now: one per incident not cancelled whose
  // latest version's expires_at is at or before `now` and has no expiry
  // mark applied yet, earliest first, at most `limit`. Each is proposed
  // once (until its mark applies, its incident changes, or
  // RetractExpiries). Thread-safe.
  std::vector<Mark> DueExpiries(absl::Time now, size_t limit);
  // Proposes these again (their write failed). Thread-safe.
  void RetractExpiries(const std::vector<Mark>& marks);

  // Applies one stored alert whose payload is `alert`; returns what it
  // changed. Same contract as OnCommitted.
  std::vector<IncidentChange> Apply(std::shared_ptr<const StoredAlert> stored,
                                    const watchfloor::v1::Alert& alert);

  // The rules a draft of this node's origin must meet, judged against the
  // committed view plus `staged` (Ledger::LinkCheck):
  //  - updates/cancels naming a reaction: INVALID_ARGUMENT;
  //  - updates/cancels naming a version of a cancelled incident (or the
  //    cancelling alert): FAILED_PRECONDITION, naming the cancellation;
  //  - a reaction whose target is not stored: NOT_FOUND;
  //  - a reaction whose target is itself a reaction: INVALID_ARGUMENT.
  // That updates/cancels name an earlier alert of the same origin is the
  // Ledger's check (INVALID_ARGUMENT). A cycle cannot be formed: a link
  // names an alert by the hash of its payload, and that alert must be
  // stored before the linking alert is signed. Thread-safe.
  absl::Status CheckDraft(const watchfloor::v1::Alert& draft,
                          const std::vector<Ledger::StagedAlert>& staged) const;

  // The incident events (incident.proto IncidentEvent) of `stored` (by its
  // cursor): what applying it changed, recorded when it was applied, so
  // the same for a replay as for the live tail. A committed alert is applied
  // by the commit listener just after the store holds it; a reader that
  // got the row from the store first waits for that (at most 5 s, then
  // returns what is recorded). Thread-safe.
  std::vector<watchfloor::v1::IncidentEvent> EventsAt(const StoredAlert& stored) const;

  // ListIncidents (node.proto). INVALID_ARGUMENT for a bad filter, state or
  // page token. Thread-safe.
  absl::StatusOr<watchfloor::v1::ListIncidentsResponse> List(
      const watchfloor::v1::ListIncidentsRequest& request) const;

  // Incidents / incidents not cancelled or expired now. Thread-safe.
  size_t size() const;
  size_t open() const;

 private:
  enum class Role : uint8_t { kRoot, kUpdate, kCancel, kReaction };
  struct AlertInfo {
    Role role = Role::kRoot;
    uint64_t incident = 0;  // root cursor; 0 for a reaction
  };
  struct Reaction {
    int64_t issued_us = 0;
    std::string origin;
    std::string id;
    watchfloor::v1::Reaction reaction;
    google::protobuf::Timestamp issued_at;
    std::vector<std::string> domains;
    std::vector<std::string> ip_prefixes;
    bool operator<(const Reaction& o) const {
      return std::tie(issued_us, origin, id) < std::tie(o.issued_us, o.origin, o.id);
    }
  };
  struct Incident {
    std::string id;
    std::string origin;
    std::vector<std::string> versions;
    std::shared_ptr<const StoredAlert> latest;
    AlertFacts facts;  // of the latest version
    google::protobuf::Timestamp opened_at;
    google::protobuf::Timestamp updated_at;
    std::optional<google::protobuf::Timestamp> expires_at;
    bool cancelled = false;
    // An expiry mark of the latest version was applied (its "expired"
    // event happened).
    bool expiry_marked = false;
    std::vector<Reaction> reactions;  // sorted
    // Nodes ("member/node") that co-signed any version, sorted, each once.
    std::vector<std::string> cosigners;
  };

  struct Want {
    const IncidentView* view;
    uint64_t cursor;
  };
  static bool Reached(Want* want);
  std::vector<IncidentChange> ApplyOne(const std::shared_ptr<const StoredAlert>& stored,
                                       const watchfloor::v1::Alert& alert)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::vector<IncidentChange> ApplyLocked(std::shared_ptr<const StoredAlert> stored,
                                          const watchfloor::v1::Alert& alert)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  watchfloor::v1::IncidentState StateOf(const Incident& inc, absl::Time now) const;
  void Fill(const Incident& inc, uint64_t cursor, absl::Time now,
            watchfloor::v1::Incident* out) const;

  Clock* const clock_;
  mutable absl::Mutex mu_;
  uint64_t applied_ ABSL_GUARDED_BY(mu_) = 0;  // highest cursor applied
  std::unordered_map<std::string, AlertInfo> alerts_ ABSL_GUARDED_BY(mu_);
  // By the cursor of the incident's first version.
  std::map<uint64_t, Incident> incidents_ ABSL_GUARDED_BY(mu_);
  // What each applied alert changed, by its cursor; the incident by its
  // key in incidents_ (0: none).
  struct Recorded {
    IncidentChange::Kind kind;
    uint64_t incident = 0;
    std::string alert;
    watchfloor::v1::ReactionKind reaction = watchfloor::v1::REACTION_KIND_UNSPECIFIED;
    std::string reactor;
  };
  std::unordered_map<uint64_t, std::vector<Recorded>> recorded_ ABSL_GUARDED_BY(mu_);
  // Adds `node` to the incident of alert `id` (and its facts), if any.
  void AddCosigner(const std::string& id, const std::string& node)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ApplyMarkLocked(const Mark& mark) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Keeps expiring_ in step with `inc` (key `key`): call with the incident's
  // expiry before a change, then after it.
  void Unexpiring(const Incident& inc, uint64_t key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Expiring(const Incident& inc, uint64_t key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // (expires_at in µs, incident key) of each incident not cancelled whose
  // latest version expires and has no expiry mark applied yet.
  std::set<std::pair<int64_t, uint64_t>> expiring_ ABSL_GUARDED_BY(mu_);
  // Incident keys of expiring_ whose mark DueExpiries proposed.
  std::set<uint64_t> proposed_ ABSL_GUARDED_BY(mu_);

  // Reactions whose target is not stored yet, by target id.
  std::unordered_map<std::string, std::vector<Reaction>> orphans_ ABSL_GUARDED_BY(mu_);
};

}  // namespace watchfloor::node

#endif  // WATCHFLOOR_NODE_INCIDENTS_H_
