// Offline audit of a bundle (proto/watchfloor/v1/audit.proto AuditBundle):
// who published each alert, that it was not altered, where it sits in its
// origin's log, and that the origin showed one history to its witnesses.
//
// Audit() is pure (bytes and keys in, a report out; no I/O, no clock). It
// fails with a Status only when the bundle cannot be audited at all: wrong
// format string, or a roster that is not trusted. Everything else a bundle
// can get wrong is a finding in the report, so one run shows every problem.
//
// Every finding carries one of the stable tokens below (machine-readable,
// also printed by `watchfloor audit`), an origin ("" for bundle-level
// findings) and a message for people.
#ifndef WATCHFLOOR_CERTS_AUDIT_H_
#define WATCHFLOOR_CERTS_AUDIT_H_

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "certs/roster.h"
#include "watchfloor/v1/audit.pb.h"

namespace watchfloor::certs {

inline constexpr absl::string_view kBundleFormat = "watchfloor-bundle/v1";

// ------------------------------------------------------------------ tokens
// An alert whose envelope is not signed by its origin's roster key (bad
// signature, flipped payload bit, another key, origin not in the roster,
// wrong payloadType).
inline constexpr absl::string_view kSignatureFailure = "signature_failure";
// Consecutive sequences both present (and validly signed) whose `previous`
// is not the id of the earlier one, or a sequence 1 with a `previous`.
inline constexpr absl::string_view kChainBreak = "chain_break";
// A validly signed alert whose inclusion proof does not lead to the root of
// its origin's largest checkpoint (wrong length, wrong leaf, another tree
// size), or that no checkpoint covers.
inline constexpr absl::string_view kInclusionFailure = "inclusion_failure";
// An origin's alerts not in strictly ascending sequence order (a repeated
// sequence included).
inline constexpr absl::string_view kOutOfOrder = "out_of_order";
// A sequence in 1..checkpoint size absent from a complete origin (every
// origin of a bundle without a filter; with a filter, only under
// AuditOptions::require_complete).
inline constexpr absl::string_view kMissing = "missing";
// A checkpoint note that does not parse, is not signed by the roster key of
// the origin its body names, or names an origin not in the roster.
inline constexpr absl::string_view kCheckpointInvalid = "checkpoint_invalid";
// Two validly signed checkpoints of one origin that cannot both be true:
// the same size with different roots, or a consistency proof to the largest
// that does not match the roots. With AuditOptions::since, also the older
// bundle's checkpoint against this one's.
inline constexpr absl::string_view kSplitView = "split_view";
// A smaller checkpoint without a well-formed consistency proof to the
// largest (e.g. a truncated proof): consistency is unproven, not disproven.
// With AuditOptions::since, also an older bundle's checkpoint with no (or a
// malformed) SinceProof, one this bundle is cut before, or an origin this
// bundle has no checkpoint of.
inline constexpr absl::string_view kInconsistent = "inconsistent";
// A cosignature/v1 line under a roster node's witness name and with that
// node's key id that does not verify (or is malformed).
inline constexpr absl::string_view kForgedCosignature = "forged_cosignature";
// Fewer distinct other members than the quorum cosigned the largest
// checkpoint (or the origin has no valid checkpoint to cosign).
inline constexpr absl::string_view kQuorumNotMet = "quorum_not_met";
// Bundle level: an alert whose payload is not a watchfloor.v1.Alert, so it
// cannot be attributed to an origin.
inline constexpr absl::string_view kMalformedAlert = "malformed_alert";
// Alerts of an origin (once per origin, however many) that cannot be placed
// in its log because the bundle has no valid checkpoint of it; also an
// origin the signed claims cut at a checkpoint the bundle does not carry.
inline constexpr absl::string_view kNoCheckpoint = "no_checkpoint";
// Bundle level: no signed export claims (AuditBundle.claims empty): the
// filter, complete origins, export time and cuts are unauthenticated.
// Bundles exported before claims existed get it too: export them again.
inline constexpr absl::string_view kClaimsUnsigned = "claims_unsigned";
// Bundle level: a claims envelope that is not signed by the roster key of
// the exporter it names (bad signature, unknown exporter, wrong
// payloadType, payload that does not parse). The claims are then ignored.
inline constexpr absl::string_view kClaimsInvalid = "claims_invalid";
// The bundle disagrees with its validly signed claims: filter, complete
// origins, export time or roster version (bundle level); an origin's cut
// (size and root of its largest valid checkpoint) or, in a filtered bundle,
// its alert count (per origin); a checkpointed origin the claims omit.
inline constexpr absl::string_view kClaimsMismatch = "claims_mismatch";

// A co-signature on an alert's envelope (docs/PROTOCOL.md section 23) that
// is not valid under the bundle roster: a key that is no roster node's, a
// signature that does not verify, or one by the alert origin's own member.
// The alert itself still counts as signed (its origin's signature is
// checked apart); only the corroboration is refused.
inline constexpr absl::string_view kForgedAlertCosignature = "forged_alert_cosignature";

// The DSSE payloadType of AuditBundle.claims (payload: ExportClaims).
inline constexpr absl::string_view kExportClaimsPayloadType =
    "application/vnd.watchfloor.export-claims.v1+protobuf";

struct AuditFinding {
  std::string token;    // one of the k* tokens above
  std::string origin;   // feed origin "<member>/<node>", "" for bundle level
  std::string message;  // for people, e.g. "alert #3 (id 1a2b...): ..."
};

// ------------------------------------------------------------------ options

struct AuditOptions {
  // The roster the auditor trusts (--roster), or nullptr. The bundle's
  // roster chain (roster_chain, then roster) must be consecutive versions,
  // each VerifyNext of the one before. With an anchor the chain must pass
  // through it (the same payload at its version; the anchor's own envelope
  // is what links it to its neighbours) or start at its direct successor;
  // without, the chain's first roster must meet its own threshold
  // (VerifyGenesis) and the report's trust fingerprint is what the auditor
  // compares out of band. Must outlive Audit().
  const Roster* anchor = nullptr;
  // With a filter, make every sequence of 1..cut the bundle does not show a
  // `missing` finding (--require-complete). Without a filter it always is.
  bool require_complete = false;
  // An older bundle (--since), or nullptr: each of its origins' largest
  // checkpoint (verified by that origin's key in any roster of the chain)
  // must be consistent with this bundle's cut, proven by a SinceProof.
  // Must outlive Audit().
  const watchfloor::v1::AuditBundle* since = nullptr;
  // Witnesses required on each origin's largest checkpoint: distinct roster
  // members other than the origin's member with a valid cosignature. -1:
  // a majority of the other members, (members - 1) / 2 + 1.
  int quorum = -1;
  // Threads that verify alert signatures and inclusion proofs (the calling
  // thread is one of them). Values < 1 count as 1.
  int threads = 2;
};

// ------------------------------------------------------------------ report

// One alert of an origin that other members corroborated: their valid
// co-signatures under the bundle roster.
struct AlertCorroboration {
  uint64_t sequence = 0;
  std::string id;                    // lowercase hex alert id
  std::vector<std::string> members;  // distinct co-signing members, sorted
  std::vector<std::string> nodes;    // their nodes, sorted
};

// What the audit found for one feed origin.
struct OriginAudit {
  std::string origin;               // "<member>/<node>"
  bool in_roster = false;
  // The roster version that removed this origin's node (0: it is in the
  // bundle's roster). Its alerts are checked with the keys it had before.
  uint64_t removed_in = 0;
  // Every sequence 1..checkpoint_size must be in the bundle: the bundle
  // has no filter (or require_complete).
  bool complete = false;
  uint64_t alerts_checked = 0;      // alerts of this origin in the bundle
  uint64_t signature_failures = 0;
  uint64_t chain_breaks = 0;
  uint64_t inclusion_failures = 0;
  uint64_t out_of_order = 0;
  uint64_t missing = 0;             // complete origins only
  // Sequences 1..checkpoint_size the bundle does not show (any origin):
  // for a filtered bundle, what the filter left out, not proven to match
  // nothing.
  uint64_t not_shown = 0;
  uint64_t since_size = 0;          // the --since bundle's cut (0: none)
  bool since_consistent = false;    // proven consistent with it
  int checkpoints = 0;              // checkpoint notes naming this origin
  int invalid_checkpoints = 0;
  uint64_t checkpoint_size = 0;     // of the largest valid checkpoint
  std::string checkpoint_root;      // its root, raw 32 bytes ("" if none)
  bool consistent = true;           // no split view, no unproven checkpoint
  std::vector<std::string> witnesses;  // members counted for the quorum
  // Validly signed alerts with at least one valid co-signature, ascending
  // by sequence; forged_cosignatures counts the invalid ones (findings
  // kForgedAlertCosignature).
  std::vector<AlertCorroboration> corroborated;
  uint64_t forged_cosignatures = 0;
  int quorum = 0;
  bool quorum_met = false;
  std::vector<AuditFinding> problems;

  bool checkpoint_valid() const {
    return !checkpoint_root.empty() && invalid_checkpoints == 0;
  }
  bool ok() const { return problems.empty(); }
};

struct AuditReport {
  std::string federation;
  uint64_t roster_version = 0;
  // Lowercase hex SHA-256 of the bundle roster's payload (the signed roster
  // bytes): compare it out of band when auditing without --roster.
  std::string roster_fingerprint;
  bool anchored = false;  // checked against AuditOptions::anchor
  // Versions of the verified roster chain, oldest first (last: the roster
  // above), and the fingerprint of the roster trust rests on: the anchor,
  // or without one the chain's first.
  std::vector<uint64_t> chain_versions;
  std::string trust_fingerprint;
  // The exporter's claims: "" when they are missing or invalid.
  std::string exporter;
  bool claims_valid = false;
  bool require_complete = false;
  bool since = false;     // audited against an older bundle
  std::string filter;     // as exported (the signed one when claims are valid)
  int64_t exported_at_ms = 0;
  uint64_t alerts = 0;    // alerts in the bundle
  std::vector<OriginAudit> origins;    // sorted by origin
  std::vector<AuditFinding> problems;  // bundle-level findings

  bool ok() const;
  // Every finding's token, bundle-level and per origin.
  std::set<std::string> Tokens() const;
  // All findings, bundle-level first, then per origin in origin order.
  std::vector<AuditFinding> Findings() const;
  // Plain statements of what the audit proved (for origins without
  // findings) and what it did not (filtered gaps, unsigned claims, an
  // unanchored roster, anything after the cut), one per line.
  std::vector<std::string> Proven() const;
  std::vector<std::string> NotProven() const;
  // The human summary: roster (and chain) lines, one block per origin with
  // its counts and OK / FAILED and its findings, "proven:" and "not
  // proven:" lists, then one final "audit OK" or "audit FAILED" line. Ends
  // in "\n".
  std::string Summary() const;
  // The same as one JSON object (docs/PROTOCOL.md section 13), ending in
  // "\n". Hashes are lowercase hex.
  std::string Json() const;
};

// Audits `bundle`. Findings go into the report; a Status only when there is
// nothing to audit against:
//   INVALID_ARGUMENT   format (of the bundle or of options.since) is not
//                      kBundleFormat ("bundle format is ..."); a roster
//                      envelope is malformed or fails ValidateRoster; with
//                      an anchor, the bundle roster is of another federation.
//   UNAUTHENTICATED    the first roster's signatures do not meet its own
//                      threshold (no anchor), or a link of the chain (or the
//                      link from the anchor) does not verify; or the chain
//                      has the anchor's version with other contents.
//   FAILED_PRECONDITION  the chain skips a version; with an anchor, the
//                      bundle roster is older than the anchor, or the chain
//                      starts more than one version after it (it does not
//                      reach the trusted version).
// Thread-safe; starts and joins up to options.threads - 1 threads.
absl::StatusOr<AuditReport> Audit(const watchfloor::v1::AuditBundle& bundle,
                                  const AuditOptions& options);

}  // namespace watchfloor::certs

#endif  // WATCHFLOOR_CERTS_AUDIT_H_
