// The roster: the federation's signed list of members, their keys, CAs and
// nodes (proto/watchfloor/v1/roster.proto), and its TUF-style rotation rules.
//
// A roster travels as a DSSE envelope whose payload is a serialized
// v1.Roster and whose payloadType is kRosterPayloadType; each signature is by
// one member key (keyid = that key's KeyId()). Trust starts at an anchor
// roster verified against its own members (VerifyGenesis) and moves forward
// one version at a time (VerifyNext): version N+1 needs `threshold` valid
// signatures by version N's member keys AND its own threshold of its own
// member keys, so any `threshold` members can admit or remove a member and
// no single party can.
//
// Everything here is pure: bytes and keys in, Status out; no I/O, no clocks.
// docs/FEDERATION.md ("Roster") describes the format and the CLI workflow.
#ifndef WATCHFLOOR_CERTS_ROSTER_H_
#define WATCHFLOOR_CERTS_ROSTER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "certs/keys.h"
#include "watchfloor/v1/alert.pb.h"
#include "watchfloor/v1/roster.pb.h"

namespace watchfloor::certs {

inline constexpr absl::string_view kRosterPayloadType =
    "application/vnd.watchfloor.roster.v1+protobuf";

// ------------------------------------------------------------------ names
// The same rules as node::ValidateOrigin (DESIGN.md "Identity"); certs/ must
// not depend on node/, so they live here too. INVALID_ARGUMENT naming the
// value and the rule.

// A member (or federation) name: lowercase DNS labels of [a-z0-9-], each
// 1..63 chars without leading/trailing '-', joined by '.', at most 253
// chars. E.g. "nic.cz".
absl::Status ValidateMemberName(absl::string_view name);
// A node name: one such label, e.g. "prg1".
absl::Status ValidateNodeName(absl::string_view name);
// "member/node", e.g. "nic.cz/prg1".
absl::Status ValidateOrigin(absl::string_view origin);

// ------------------------------------------------------------- validation

// Checks one roster's content, without signatures:
//  - federation is a valid name; version >= 1; at least one member;
//    1 <= threshold <= number of members;
//  - member names valid and unique; member_key_pem an Ed25519 public key,
//    distinct across members;
//  - ca_cert_pem a self-signed X.509 CA certificate (basicConstraints
//    CA:TRUE; keyUsage, if present, includes keyCertSign) that names the
//    member: its URI SAN is spiffe://watchfloor/<member>, or, if it has no
//    spiffe://watchfloor/ URI SAN, its subject CN is <member>. No two members
//    share a CA key (a shared CA could vouch for either member's nodes);
//  - each node's origin is valid, "<member>/<node>" with <member> the
//    enclosing member, unique across the roster; signing_key_pem an Ed25519
//    public key, distinct across all nodes and from every member key (member
//    keys sign rosters only); at least one endpoint, each "host:port" or
//    "[v6addr]:port" with port 1..65535, each listed once in the whole
//    roster (one address reaches one node);
//  - encryption_key_pem, when set, an X25519 public key (not Ed25519),
//    distinct across all nodes;
//  - every *_pem field is exactly one PEM block of its kind; one holding a
//    PRIVATE KEY is refused with a message that says so.
// INVALID_ARGUMENT naming the member or node and the field, e.g.
// `member nic.cz: ca_cert_pem: ...` or `node nic.cz/prg1: endpoints[0] ...`.
// Does not look at clocks: certificate validity periods are checked when a
// peer presents a certificate (certs/x509.h).
absl::Status ValidateRoster(const watchfloor::v1::Roster& roster);

// ------------------------------------------------------------- signatures

// One member's part in a signature check.
struct MemberSignature {
  enum class State { kValid, kMissing, kInvalid };
  std::string member;
  std::string keyid;  // the member key's keyid (full hex)
  State state = State::kMissing;
  // Why an invalid signature is invalid, e.g. "signature does not verify".
  std::string problem;
};

// The outcome of checking an envelope's signatures against the member keys
// of one roster (the "signer roster": the previous version for a rotation,
// the roster itself for its own threshold).
struct SignatureReport {
  uint64_t signed_version = 0;  // version in the envelope's payload
  uint64_t signer_version = 0;  // version of the signer roster
  uint32_t threshold = 0;       // the signer roster's threshold
  int valid = 0;                // distinct members with a valid signature
  std::vector<MemberSignature> members;  // in signer-roster order
  // keyids of signatures by keys that are not member keys of the signer
  // roster: ignored, reported. "(none)" for a signature without a keyid that
  // matched no member key. Each listed once.
  std::vector<std::string> unknown_keyids;

  // Why `threshold` is required, when it is not simply the signer roster's
  // threshold (a version that lowers the threshold); empty otherwise.
  std::string rule;

  bool met() const { return valid >= static_cast<int>(threshold); }
  // One line for an error message, e.g. "roster v2 has 1 valid member
  // signature; 2 required (threshold of v1): missing nic.sk (keyid
  // 1a2b3c4d5e6f7a8b...), invalid cesnet.cz (signature does not verify)".
  // Mentions ignored unknown keys at the end.
  std::string Summary() const;
};

// Checks every signature of `envelope` over PAE(payloadType, payload)
// against the member keys of `signers`. A signature counts for the member
// whose key's KeyId() equals its keyid (a signature without a keyid is tried
// against every member key). A member counts once however many of its
// signatures verify; one valid signature outweighs invalid ones by the same
// member. Never fails: a member key that does not parse makes that member
// kInvalid. `signed_version` is read from the payload if it parses (else 0).
// Pure; the caller checks payloadType.
SignatureReport CheckRosterSignatures(const watchfloor::v1::Envelope& envelope,
                                      const watchfloor::v1::Roster& signers);

// The member of `roster` whose member key has this keyid, or nullptr. The
// pointer is into `roster`.
const watchfloor::v1::RosterMember* FindMemberByKeyId(
    const watchfloor::v1::Roster& roster, absl::string_view keyid);

// Parses an envelope's payload as a Roster. INVALID_ARGUMENT if the
// payloadType is not kRosterPayloadType or the payload does not parse. Does
// not validate or check signatures (for display and tooling).
absl::StatusOr<watchfloor::v1::Roster> ParseRosterPayload(
    const watchfloor::v1::Envelope& envelope);

// An unsigned envelope (no signatures) for `roster`, after ValidateRoster.
// The payload is `roster` serialized once; from then on every signer signs
// those exact bytes, and nobody re-serializes.
absl::StatusOr<watchfloor::v1::Envelope> MakeRosterDraft(
    const watchfloor::v1::Roster& roster);

// Adds `key`'s signature to the envelope, replacing any earlier signature
// with the same keyid. The payload must be a roster passing ValidateRoster
// (INVALID_ARGUMENT otherwise). Any key is accepted: for a rotation the
// signer may be a member of the previous version only, which this function
// cannot know (the CLI warns when the key is not a member key of the draft).
absl::StatusOr<watchfloor::v1::Envelope> SignRoster(
    const watchfloor::v1::Envelope& in_or_draft, const SigningKey& member_key);

// ------------------------------------------------------------------ Roster

// A verified roster: immutable, cheap to share by const reference, safe to
// read from many threads. Only VerifyGenesis and VerifyNext make one, so
// holding a Roster means its signatures met the rules.
class Roster {
 public:
  // Verifies a trust anchor against its own members: valid iff the payload
  // type is kRosterPayloadType, the payload parses and passes ValidateRoster,
  // and at least `threshold` distinct member keys of this same roster signed
  // it. Used for a federation's first roster (v1) and for the roster a node
  // pinned in its configuration or persisted before a restart (any version:
  // an anchor is trusted because the operator chose it, not because of its
  // predecessors).
  // Errors: INVALID_ARGUMENT (payload type, parse, ValidateRoster);
  // UNAUTHENTICATED with SignatureReport::Summary() if the threshold is not
  // met.
  static absl::StatusOr<Roster> VerifyGenesis(
      const watchfloor::v1::Envelope& envelope);

  // Verifies the roster that follows this one (TUF root rotation):
  // INVALID_ARGUMENT if the payload type, parse or ValidateRoster fails, or
  // if its federation differs from this one's; FAILED_PRECONDITION unless
  // its version is exactly version() + 1 (older/equal: "not newer"; higher:
  // "skips", fetch the versions in between first); UNAUTHENTICATED unless it
  // has >= this roster's threshold valid signatures by this roster's member
  // keys AND >= its own threshold by its own member keys (the message gives
  // both summaries that fall short). Signatures by other keys are ignored.
  // Further rules (certs/roster_rules.h): a member counts once however many
  // signatures it adds; a signature counts towards version N's threshold iff
  // its key is a member key of N, and towards N+1's iff it is one of N+1
  // (so a member removed by N+1 counts for N only, and one removed earlier
  // for neither); a version lowering the threshold needs N's threshold
  // (capped at its member count) of its own members (OwnSignaturesRequired);
  // a node's key history is append-only (CheckKeyHistoryTransition,
  // INVALID_ARGUMENT); a pre-committed key rotation is valid with the
  // node's member's signature alone (PreCommittedRotationMember). Expiry is
  // not checked here: an expired version may still link a chain to a newer
  // one; adopting checks CheckNotExpired on the newest.
  absl::StatusOr<Roster> VerifyNext(
      const watchfloor::v1::Envelope& next) const;

  const watchfloor::v1::Roster& proto() const { return proto_; }
  uint64_t version() const { return proto_.version(); }
  const std::string& federation() const { return proto_.federation(); }
  // The envelope exactly as verified (payload bytes and all signatures), to
  // persist or gossip.
  const watchfloor::v1::Envelope& envelope() const { return envelope_; }

  // The Ed25519 alert-signing key of the node `origin`, or nullopt.
  std::optional<PublicKey> NodeKey(absl::string_view origin) const;
  // The key that signs sequence `sequence` of `origin`'s feed: the current
  // key from its key_from_sequence on, before that the previous key whose
  // range holds it. nullopt for an unknown origin (or a sequence no key
  // covers, which a valid roster does not have).
  std::optional<PublicKey> NodeKeyAt(absl::string_view origin,
                                     uint64_t sequence) const;
  // When this version expires (RosterExpiry: InfiniteFuture if unset).
  absl::Time expires() const;
  // The member called `name`, or nullptr. Points into proto(); valid as long
  // as this Roster.
  const watchfloor::v1::RosterMember* Member(absl::string_view name) const;
  // The node with this origin, or nullptr. Points into proto().
  const watchfloor::v1::RosterNode* Node(absl::string_view origin) const;
  // Every node's origin, in roster order (the peers to dial).
  std::vector<std::string> Origins() const;
  // The member CAs' PEM certificates concatenated, in roster order: the TLS
  // trust bundle (pem_root_certs).
  std::string CaBundlePem() const;

 private:
  Roster(watchfloor::v1::Envelope envelope, watchfloor::v1::Roster proto);

  watchfloor::v1::Envelope envelope_;
  watchfloor::v1::Roster proto_;
  // Indexes into proto_ (not pointers, so the default copy stays valid).
  std::map<std::string, int, std::less<>> member_index_;
  std::map<std::string, std::pair<int, int>, std::less<>> node_index_;
  std::map<std::string, PublicKey, std::less<>> node_keys_;
};

}  // namespace watchfloor::certs

#endif  // WATCHFLOOR_CERTS_ROSTER_H_
