#include "certs/roster.h"

#include <arpa/inet.h>

#include <set>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/ascii.h"
#include "absl/strings/strip.h"
#include "certs/dsse.h"
#include "certs/encryption_key.h"
#include "certs/proto_check.h"
#include "certs/roster_rules.h"
#include "certs/status_macros.h"
#include "certs/x509.h"

namespace watchfloor::certs {
namespace {

using watchfloor::v1::Envelope;
using watchfloor::v1::RosterMember;
using watchfloor::v1::RosterNode;

absl::Status Invalid(absl::string_view what, absl::string_view value,
                     absl::string_view rule) {
  std::string shown(value.substr(0, 80));
  if (value.size() > 80) shown += "...";
  return absl::InvalidArgumentError(
      absl::StrCat(what, " \"", shown, "\" is invalid: ", rule));
}

bool IsLabel(absl::string_view label) {
  if (label.empty() || label.size() > 63) return false;
  if (label.front() == '-' || label.back() == '-') return false;
  for (char c : label) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
    if (!ok) return false;
  }
  return true;
}

// Prefixes a field error with where it is: "member nic.cz: ca_cert_pem: ...".
absl::Status At(absl::string_view where, absl::string_view field,
                const absl::Status& status) {
  return absl::Status(status.code(),
                      absl::StrCat(where, ": ", field, ": ", status.message()));
}

// "host:port" or "[v6]:port"; port 1..65535.
absl::Status ValidateEndpoint(absl::string_view endpoint) {
  constexpr absl::string_view kRule =
      "must be host:port or [ipv6]:port with port 1..65535, e.g. "
      "prg1.nic.cz:7443";
  absl::string_view host, port;
  if (!endpoint.empty() && endpoint.front() == '[') {
    const size_t close = endpoint.find(']');
    if (close == absl::string_view::npos || close + 1 >= endpoint.size() ||
        endpoint[close + 1] != ':') {
      return Invalid("endpoint", endpoint, kRule);
    }
    host = endpoint.substr(1, close - 1);
    port = endpoint.substr(close + 2);
    const std::string h(host);
    unsigned char buf[16];
    if (inet_pton(AF_INET6, h.c_str(), buf) != 1) {
      return Invalid("endpoint", endpoint, "the bracketed host is not IPv6");
    }
  } else {
    const size_t colon = endpoint.rfind(':');
    if (colon == absl::string_view::npos) {
      return Invalid("endpoint", endpoint, kRule);
    }
    host = endpoint.substr(0, colon);
    port = endpoint.substr(colon + 1);
    if (host.empty() || host.size() > 253) {
      return Invalid("endpoint", endpoint, kRule);
    }
    for (char c : host) {
      const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                      (c >= '0' && c <= '9') || c == '.' || c == '-' ||
                      c == '_';
      if (!ok) {
        return Invalid("endpoint", endpoint,
                       "host must be a DNS name or IPv4 address (write IPv6 "
                       "as [addr]:port)");
      }
    }
  }
  int n = 0;
  if (port.empty() || port.size() > 5 ||
      port.find_first_not_of("0123456789") != absl::string_view::npos ||
      !absl::SimpleAtoi(port, &n) || n < 1 || n > 65535) {
    return Invalid("endpoint", endpoint, kRule);
  }
  return absl::OkStatus();
}

// The text is exactly one PEM block of type `label`. Roster fields are
// copied verbatim into every node, so nothing else may ride along, least of
// all a private key pasted by mistake.
absl::Status CheckOnePemBlock(absl::string_view pem, absl::string_view label) {
  if (pem.find("PRIVATE KEY") != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        "contains a PRIVATE KEY; the roster holds public keys only (use the "
        ".pub file)");
  }
  const absl::string_view trimmed = absl::StripAsciiWhitespace(pem);
  if (!absl::StartsWith(trimmed, absl::StrCat("-----BEGIN ", label, "-----")) ||
      trimmed.find("-----BEGIN", 1) != absl::string_view::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "must be exactly one PEM \"", label, "\" block"));
  }
  return absl::OkStatus();
}

std::string ShortKeyId(absl::string_view keyid) {
  if (keyid.size() <= 16) return std::string(keyid);
  return absl::StrCat(keyid.substr(0, 16), "...");
}

absl::Status CheckPayloadType(const Envelope& envelope) {
  if (envelope.payload_type() != kRosterPayloadType) {
    return absl::InvalidArgumentError(
        absl::StrCat("payloadType is \"", envelope.payload_type(),
                     "\", want \"", kRosterPayloadType, "\""));
  }
  return absl::OkStatus();
}

// Parse + ValidateRoster, for both VerifyGenesis and VerifyNext.
absl::StatusOr<watchfloor::v1::Roster> ParseAndValidate(
    const Envelope& envelope) {
  WF_ASSIGN_OR_RETURN(watchfloor::v1::Roster roster,
                      ParseRosterPayload(envelope));
  absl::Status st = ValidateRoster(roster);
  if (!st.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("roster v", roster.version(), ": ", st.message()));
  }
  return roster;
}

}  // namespace

// ------------------------------------------------------------------ names

absl::Status ValidateMemberName(absl::string_view name) {
  if (name.empty() || name.size() > 253) {
    return Invalid("name", name, "must be 1..253 chars, e.g. nic.cz");
  }
  for (absl::string_view label : absl::StrSplit(name, '.')) {
    if (!IsLabel(label)) {
      return Invalid("name", name,
                     "must be lowercase DNS labels of [a-z0-9-], e.g. nic.cz");
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateNodeName(absl::string_view name) {
  if (!IsLabel(name)) {
    return Invalid("node name", name,
                   "must be one lowercase label of [a-z0-9-], 1..63 chars, "
                   "e.g. prg1");
  }
  return absl::OkStatus();
}

absl::Status ValidateOrigin(absl::string_view origin) {
  std::vector<absl::string_view> parts = absl::StrSplit(origin, '/');
  if (parts.size() != 2) {
    return Invalid("origin", origin, "must be member/node, e.g. nic.cz/prg1");
  }
  if (!ValidateMemberName(parts[0]).ok()) {
    return Invalid("origin", origin,
                   "member must be lowercase DNS labels of [a-z0-9-], e.g. "
                   "nic.cz");
  }
  if (!IsLabel(parts[1])) {
    return Invalid("origin", origin,
                   "node must be one lowercase label of [a-z0-9-], e.g. prg1");
  }
  return absl::OkStatus();
}

// ------------------------------------------------------------- validation

absl::Status ValidateRoster(const watchfloor::v1::Roster& roster) {
  if (roster.federation().empty()) {
    return absl::InvalidArgumentError("federation is not set");
  }
  WF_RETURN_IF_ERROR(
      At("roster", "federation", ValidateMemberName(roster.federation())));
  if (roster.version() < 1) {
    return absl::InvalidArgumentError("version is 0; the first roster is 1");
  }
  if (roster.members_size() == 0) {
    return absl::InvalidArgumentError("the roster has no members");
  }
  if (roster.threshold() < 1 ||
      roster.threshold() > static_cast<uint32_t>(roster.members_size())) {
    return absl::InvalidArgumentError(
        absl::StrCat("threshold is ", roster.threshold(), "; it must be 1..",
                     roster.members_size(), " (the number of members)"));
  }
  WF_RETURN_IF_ERROR(ValidateExpiry(roster));
  std::set<std::string> names, origins, member_keys, node_keys, ca_keys, encryption_keys;
  std::map<std::string, std::string> endpoints;  // endpoint -> origin
  for (int m = 0; m < roster.members_size(); ++m) {
    const RosterMember& member = roster.members(m);
    const std::string where = member.name().empty()
                                  ? absl::StrCat("members[", m, "]")
                                  : absl::StrCat("member ", member.name());
    WF_RETURN_IF_ERROR(At(where, "name", ValidateMemberName(member.name())));
    if (!names.insert(member.name()).second) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": name: listed more than once"));
    }
    WF_RETURN_IF_ERROR(At(where, "member_key_pem",
                          CheckOnePemBlock(member.member_key_pem(), "PUBLIC KEY")));
    absl::StatusOr<PublicKey> key = PublicKey::FromPem(member.member_key_pem());
    if (!key.ok()) return At(where, "member_key_pem", key.status());
    if (!member_keys.insert(key->KeyId()).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": member_key_pem: keyid ", ShortKeyId(key->KeyId()),
          " is another member's key too; each member needs its own"));
    }
    WF_RETURN_IF_ERROR(At(where, "ca_cert_pem",
                          ValidateMemberCa(member.ca_cert_pem(), member.name())));
    WF_ASSIGN_OR_RETURN(CertInfo ca, DescribeCertificate(member.ca_cert_pem()));
    if (!ca_keys.insert(ca.public_key_sha256).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": ca_cert_pem: the CA key is another member's CA key too; "
                 "each member needs its own CA"));
    }
    for (int n = 0; n < member.nodes_size(); ++n) {
      const RosterNode& node = member.nodes(n);
      const std::string nwhere =
          node.origin().empty() ? absl::StrCat(where, ": nodes[", n, "]")
                                : absl::StrCat("node ", node.origin());
      WF_RETURN_IF_ERROR(At(nwhere, "origin", ValidateOrigin(node.origin())));
      const absl::string_view node_member =
          absl::string_view(node.origin()).substr(0, node.origin().find('/'));
      if (node_member != member.name()) {
        return absl::InvalidArgumentError(
            absl::StrCat(nwhere, ": origin: belongs to member ", node_member,
                         " but is listed under member ", member.name()));
      }
      if (!origins.insert(node.origin()).second) {
        return absl::InvalidArgumentError(
            absl::StrCat(nwhere, ": origin: listed more than once"));
      }
      WF_RETURN_IF_ERROR(At(nwhere, "signing_key_pem",
                            CheckOnePemBlock(node.signing_key_pem(), "PUBLIC KEY")));
      absl::StatusOr<PublicKey> nkey =
          PublicKey::FromPem(node.signing_key_pem());
      if (!nkey.ok()) return At(nwhere, "signing_key_pem", nkey.status());
      if (!node_keys.insert(nkey->KeyId()).second) {
        return absl::InvalidArgumentError(absl::StrCat(
            nwhere, ": signing_key_pem: keyid ", ShortKeyId(nkey->KeyId()),
            " is another node's key too; each node needs its own"));
      }
      WF_RETURN_IF_ERROR(ValidateNodeKeyHistory(node, nwhere, &node_keys));
      if (!node.encryption_key_pem().empty()) {
        WF_RETURN_IF_ERROR(At(nwhere, "encryption_key_pem",
                              CheckOnePemBlock(node.encryption_key_pem(), "PUBLIC KEY")));
        absl::StatusOr<EncryptionPublicKey> ekey =
            EncryptionPublicKey::FromPem(node.encryption_key_pem());
        if (!ekey.ok()) return At(nwhere, "encryption_key_pem", ekey.status());
        // Two nodes with one encryption key could each open what is
        // sealed to the other.
        if (!encryption_keys.insert(ekey->KeyId()).second) {
          return absl::InvalidArgumentError(absl::StrCat(
              nwhere, ": encryption_key_pem: keyid ", ShortKeyId(ekey->KeyId()),
              " is another node's encryption key too; each node needs its own "
              "(watchfloor keygen writes one)"));
        }
      }
      if (node.endpoints_size() == 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            nwhere, ": endpoints: none; give at least one host:port"));
      }
      for (int e = 0; e < node.endpoints_size(); ++e) {
        WF_RETURN_IF_ERROR(At(nwhere, absl::StrCat("endpoints[", e, "]"),
                              ValidateEndpoint(node.endpoints(e))));
        // One address reaches one node: a peer dialing it checks the node's
        // identity, so a shared endpoint fails for all but one of them.
        auto [it, fresh] = endpoints.emplace(node.endpoints(e), node.origin());
        if (!fresh) {
          return absl::InvalidArgumentError(absl::StrCat(
              nwhere, ": endpoints[", e, "]: \"", node.endpoints(e),
              "\" is already an endpoint of node ", it->second));
        }
      }
    }
  }
  // Member keys sign rosters only; a node key doubling as one would let a
  // node's (online, more exposed) key sign rosters.
  for (const std::string& k : node_keys) {
    if (member_keys.count(k) != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "keyid ", ShortKeyId(k),
          " is both a member key and a node signing key; use separate keys"));
    }
  }
  return absl::OkStatus();
}

// ------------------------------------------------------------- signatures

std::string SignatureReport::Summary() const {
  std::string s = absl::StrCat("roster v", signed_version, " has ", valid,
                               " valid member signature", valid == 1 ? "" : "s",
                               "; ", threshold, " required (",
                               rule.empty() ? absl::StrCat("threshold of v",
                                                           signer_version)
                                            : rule,
                               ")");
  std::vector<std::string> problems;
  for (const MemberSignature& m : members) {
    if (m.state == MemberSignature::State::kMissing) {
      problems.push_back(absl::StrCat("missing ", m.member, " (keyid ",
                                      ShortKeyId(m.keyid), ")"));
    } else if (m.state == MemberSignature::State::kInvalid) {
      problems.push_back(
          absl::StrCat("invalid ", m.member, " (", m.problem, ")"));
    }
  }
  if (!problems.empty()) absl::StrAppend(&s, ": ", absl::StrJoin(problems, ", "));
  if (!unknown_keyids.empty()) {
    std::vector<std::string> shortened;
    for (const std::string& k : unknown_keyids) shortened.push_back(ShortKeyId(k));
    absl::StrAppend(&s, "; ignored ", unknown_keyids.size(), " signature",
                    unknown_keyids.size() == 1 ? "" : "s",
                    " by keys not in v", signer_version, " (keyid ",
                    absl::StrJoin(shortened, ", "), ")");
  }
  return s;
}

SignatureReport CheckRosterSignatures(const Envelope& envelope,
                                      const watchfloor::v1::Roster& signers) {
  SignatureReport report;
  report.signer_version = signers.version();
  report.threshold = signers.threshold();
  {
    watchfloor::v1::Roster signed_roster;
    if (signed_roster.ParseFromString(envelope.payload())) {
      report.signed_version = signed_roster.version();
    }
  }
  std::vector<std::optional<PublicKey>> keys;
  for (const RosterMember& member : signers.members()) {
    MemberSignature m;
    m.member = member.name();
    absl::StatusOr<PublicKey> key = PublicKey::FromPem(member.member_key_pem());
    if (key.ok()) {
      m.keyid = key->KeyId();
      keys.emplace_back(*std::move(key));
    } else {
      m.state = MemberSignature::State::kInvalid;
      m.problem = "member key does not parse";
      keys.emplace_back(std::nullopt);
    }
    report.members.push_back(std::move(m));
  }
  const std::string pae = Pae(envelope.payload_type(), envelope.payload());
  auto note_unknown = [&report](const std::string& keyid) {
    for (const std::string& k : report.unknown_keyids) {
      if (k == keyid) return;
    }
    report.unknown_keyids.push_back(keyid);
  };
  for (const watchfloor::v1::Signature& sig : envelope.signatures()) {
    if (sig.keyid().empty()) {
      bool matched = false;
      for (size_t i = 0; i < keys.size() && !matched; ++i) {
        if (keys[i].has_value() &&
            report.members[i].state != MemberSignature::State::kValid &&
            keys[i]->Verify(pae, sig.sig())) {
          report.members[i].state = MemberSignature::State::kValid;
          report.members[i].problem.clear();
          matched = true;
        }
      }
      if (!matched) note_unknown("(none)");
      continue;
    }
    bool known = false;
    for (size_t i = 0; i < keys.size(); ++i) {
      MemberSignature& m = report.members[i];
      if (!keys[i].has_value() || m.keyid != sig.keyid()) continue;
      known = true;
      if (m.state == MemberSignature::State::kValid) break;  // counted once
      if (sig.sig().size() != kEd25519SignatureSize) {
        m.state = MemberSignature::State::kInvalid;
        m.problem = absl::StrCat("signature is ", sig.sig().size(),
                                 " bytes, not ", kEd25519SignatureSize);
      } else if (keys[i]->Verify(pae, sig.sig())) {
        m.state = MemberSignature::State::kValid;
        m.problem.clear();
      } else {
        m.state = MemberSignature::State::kInvalid;
        m.problem = "signature does not verify";
      }
      break;
    }
    if (!known) note_unknown(sig.keyid());
  }
  for (const MemberSignature& m : report.members) {
    if (m.state == MemberSignature::State::kValid) ++report.valid;
  }
  return report;
}

const RosterMember* FindMemberByKeyId(const watchfloor::v1::Roster& roster,
                                      absl::string_view keyid) {
  for (const RosterMember& member : roster.members()) {
    absl::StatusOr<PublicKey> key = PublicKey::FromPem(member.member_key_pem());
    if (key.ok() && key->KeyId() == keyid) return &member;
  }
  return nullptr;
}

absl::StatusOr<watchfloor::v1::Roster> ParseRosterPayload(
    const Envelope& envelope) {
  WF_RETURN_IF_ERROR(CheckPayloadType(envelope));
  watchfloor::v1::Roster roster;
  if (!roster.ParseFromString(envelope.payload())) {
    return absl::InvalidArgumentError(
        "payload is not a serialized watchfloor.v1.Roster");
  }
  // A field this build cannot read may carry a rule it would not enforce.
  if (absl::Status st = CheckNoUnknownFields(roster, "roster"); !st.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        st.message(), "; this build does not know that field: upgrade watchfloor, or "
        "sign a roster without it"));
  }
  return roster;
}

absl::StatusOr<Envelope> MakeRosterDraft(
    const watchfloor::v1::Roster& roster) {
  WF_RETURN_IF_ERROR(ValidateRoster(roster));
  Envelope envelope;
  if (!roster.SerializeToString(envelope.mutable_payload())) {
    return absl::InternalError("cannot serialize the roster");
  }
  envelope.set_payload_type(std::string(kRosterPayloadType));
  return envelope;
}

absl::StatusOr<Envelope> SignRoster(const Envelope& in_or_draft,
                                    const SigningKey& member_key) {
  WF_ASSIGN_OR_RETURN(watchfloor::v1::Roster roster,
                      ParseAndValidate(in_or_draft));
  Envelope out = in_or_draft;
  const std::string& keyid = member_key.public_key().KeyId();
  auto* sigs = out.mutable_signatures();
  for (int i = sigs->size() - 1; i >= 0; --i) {
    if (sigs->Get(i).keyid() == keyid) sigs->DeleteSubrange(i, 1);
  }
  watchfloor::v1::Signature* sig = out.add_signatures();
  sig->set_keyid(keyid);
  sig->set_sig(member_key.Sign(Pae(out.payload_type(), out.payload())));
  return out;
}

// ------------------------------------------------------------------ Roster

Roster::Roster(Envelope envelope, watchfloor::v1::Roster proto)
    : envelope_(std::move(envelope)), proto_(std::move(proto)) {
  for (int m = 0; m < proto_.members_size(); ++m) {
    const RosterMember& member = proto_.members(m);
    member_index_.emplace(member.name(), m);
    for (int n = 0; n < member.nodes_size(); ++n) {
      const RosterNode& node = member.nodes(n);
      node_index_.emplace(node.origin(), std::make_pair(m, n));
      // ValidateRoster has parsed every node key already.
      absl::StatusOr<PublicKey> key = PublicKey::FromPem(node.signing_key_pem());
      if (key.ok()) node_keys_.emplace(node.origin(), *std::move(key));
    }
  }
}

absl::StatusOr<Roster> Roster::VerifyGenesis(const Envelope& envelope) {
  WF_ASSIGN_OR_RETURN(watchfloor::v1::Roster roster,
                      ParseAndValidate(envelope));
  SignatureReport own = CheckRosterSignatures(envelope, roster);
  if (!own.met()) return absl::UnauthenticatedError(own.Summary());
  return Roster(envelope, std::move(roster));
}

absl::StatusOr<Roster> Roster::VerifyNext(const Envelope& next) const {
  WF_ASSIGN_OR_RETURN(watchfloor::v1::Roster roster, ParseAndValidate(next));
  if (roster.federation() != proto_.federation()) {
    return absl::InvalidArgumentError(
        absl::StrCat("roster v", roster.version(), " is for federation \"",
                     roster.federation(), "\", not \"", proto_.federation(),
                     "\"; the federation name never changes"));
  }
  if (roster.version() <= proto_.version()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "roster v", roster.version(), " is not newer than the current v",
        proto_.version(), "; the next roster must be v", proto_.version() + 1));
  }
  if (roster.version() != proto_.version() + 1) {
    return absl::FailedPreconditionError(absl::StrCat(
        "roster v", roster.version(), " skips versions: the current roster is v",
        proto_.version(), ", so the next must be v", proto_.version() + 1,
        "; verify the versions in between first"));
  }
  WF_RETURN_IF_ERROR(CheckKeyHistoryTransition(proto_, roster));
  SignatureReport by_current = CheckRosterSignatures(next, proto_);
  // A pre-committed key rotation needs only the node's own member.
  const std::optional<std::string> rotating =
      PreCommittedRotationMember(proto_, roster);
  if (rotating.has_value()) {
    for (const MemberSignature& m : by_current.members) {
      if (m.member == *rotating && m.state == MemberSignature::State::kValid) {
        return Roster(next, std::move(roster));
      }
    }
  }
  SignatureReport by_own = CheckRosterSignatures(next, roster);
  const uint32_t own_required = OwnSignaturesRequired(proto_, roster);
  if (own_required != roster.threshold()) {
    by_own.threshold = own_required;
    by_own.rule = absl::StrCat("v", roster.version(), " lowers the threshold from ",
                               proto_.threshold(), " to ", roster.threshold(),
                               ", so its own members must meet v", proto_.version(),
                               "'s threshold, capped at its ",
                               roster.members_size(), " members");
  }
  std::vector<std::string> failures;
  if (!by_current.met()) failures.push_back(by_current.Summary());
  if (!by_own.met()) failures.push_back(by_own.Summary());
  if (!failures.empty()) {
    std::string message = absl::StrJoin(failures, "; and ");
    if (rotating.has_value()) {
      absl::StrAppend(&message, "; or, as the pre-committed key rotation it is, a "
                                "valid signature by ", *rotating, " alone");
    }
    return absl::UnauthenticatedError(message);
  }
  return Roster(next, std::move(roster));
}

std::optional<PublicKey> Roster::NodeKeyAt(absl::string_view origin,
                                           uint64_t sequence) const {
  const RosterNode* node = Node(origin);
  if (node == nullptr) return std::nullopt;
  if (sequence >= KeyFromSequence(*node)) return NodeKey(origin);
  for (const watchfloor::v1::PreviousNodeKey& p : node->previous_keys()) {
    if (sequence >= p.first_sequence() && sequence <= p.last_sequence()) {
      absl::StatusOr<PublicKey> key = PublicKey::FromPem(p.signing_key_pem());
      if (key.ok()) return *std::move(key);
    }
  }
  return std::nullopt;
}

absl::Time Roster::expires() const { return RosterExpiry(proto_); }

std::optional<PublicKey> Roster::NodeKey(absl::string_view origin) const {
  auto it = node_keys_.find(origin);
  if (it == node_keys_.end()) return std::nullopt;
  return it->second;
}

const RosterMember* Roster::Member(absl::string_view name) const {
  auto it = member_index_.find(name);
  return it == member_index_.end() ? nullptr : &proto_.members(it->second);
}

const RosterNode* Roster::Node(absl::string_view origin) const {
  auto it = node_index_.find(origin);
  if (it == node_index_.end()) return nullptr;
  return &proto_.members(it->second.first).nodes(it->second.second);
}

std::vector<std::string> Roster::Origins() const {
  std::vector<std::string> out;
  for (const RosterMember& member : proto_.members()) {
    for (const RosterNode& node : member.nodes()) out.push_back(node.origin());
  }
  return out;
}

std::string Roster::CaBundlePem() const {
  std::string out;
  for (const RosterMember& member : proto_.members()) {
    out += member.ca_cert_pem();
    if (!out.empty() && out.back() != '\n') out += '\n';
  }
  return out;
}

}  // namespace watchfloor::certs
