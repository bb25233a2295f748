#include "certs/roster_rules.h"

#include <algorithm>
#include <map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "certs/keys.h"
#include "google/protobuf/util/time_util.h"

namespace watchfloor::certs {
namespace {

using watchfloor::v1::PreviousNodeKey;
using watchfloor::v1::RosterNode;

std::string Short(absl::string_view keyid) {
  if (keyid.size() <= 16) return std::string(keyid);
  return absl::StrCat(keyid.substr(0, 16), "...");
}

std::string KeyIdOf(absl::string_view pem) {
  absl::StatusOr<PublicKey> key = PublicKey::FromPem(pem);
  return key.ok() ? key->KeyId() : std::string();
}

bool IsLowerHex64(absl::string_view s) {
  if (s.size() != 64) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

absl::Time ToTime(const google::protobuf::Timestamp& ts) {
  return absl::FromUnixSeconds(ts.seconds()) + absl::Nanoseconds(ts.nanos());
}

// origin -> node, for the nodes of `roster`.
std::map<std::string, const RosterNode*> NodesByOrigin(
    const watchfloor::v1::Roster& roster) {
  std::map<std::string, const RosterNode*> out;
  for (const auto& member : roster.members()) {
    for (const RosterNode& node : member.nodes()) out[node.origin()] = &node;
  }
  return out;
}

std::string Ranges(const RosterNode& node) {
  std::string out;
  for (const PreviousNodeKey& p : node.previous_keys()) {
    absl::StrAppend(&out, out.empty() ? "" : ", ", Short(KeyIdOf(p.signing_key_pem())),
                    " ", p.first_sequence(), "..", p.last_sequence());
  }
  return out.empty() ? "none" : out;
}

bool SameHistory(const RosterNode& a, const RosterNode& b) {
  if (KeyFromSequence(a) != KeyFromSequence(b)) return false;
  if (a.previous_keys_size() != b.previous_keys_size()) return false;
  for (int i = 0; i < a.previous_keys_size(); ++i) {
    const PreviousNodeKey& x = a.previous_keys(i);
    const PreviousNodeKey& y = b.previous_keys(i);
    if (KeyIdOf(x.signing_key_pem()) != KeyIdOf(y.signing_key_pem()) ||
        x.first_sequence() != y.first_sequence() ||
        x.last_sequence() != y.last_sequence()) {
      return false;
    }
  }
  return true;
}

}  // namespace

uint64_t KeyFromSequence(const RosterNode& node) {
  return std::max<uint64_t>(1, node.key_from_sequence());
}

absl::Status ValidateNodeKeyHistory(const RosterNode& node, absl::string_view where,
                                    std::set<std::string>* node_keyids) {
  uint64_t expected_first = 1;
  std::set<std::string> own;
  own.insert(KeyIdOf(node.signing_key_pem()));
  for (int i = 0; i < node.previous_keys_size(); ++i) {
    const PreviousNodeKey& p = node.previous_keys(i);
    const std::string at = absl::StrCat(where, ": previous_keys[", i, "]");
    if (p.signing_key_pem().find("PRIVATE KEY") != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          at, ": signing_key_pem: contains a PRIVATE KEY; the roster holds "
              "public keys only (use the .pub file)"));
    }
    absl::StatusOr<PublicKey> key = PublicKey::FromPem(p.signing_key_pem());
    if (!key.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(at, ": signing_key_pem: ", key.status().message()));
    }
    if (!node_keyids->insert(key->KeyId()).second || !own.insert(key->KeyId()).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          at, ": signing_key_pem: keyid ", Short(key->KeyId()),
          " is in use elsewhere in the roster; a replaced key never signs again"));
    }
    if (p.first_sequence() != expected_first) {
      return absl::InvalidArgumentError(absl::StrCat(
          at, ": first_sequence is ", p.first_sequence(), "; expected ", expected_first,
          " (the ranges run contiguously from sequence 1)"));
    }
    if (p.last_sequence() < p.first_sequence()) {
      return absl::InvalidArgumentError(absl::StrCat(
          at, ": last_sequence ", p.last_sequence(), " is below first_sequence ",
          p.first_sequence(), "; omit a key that signed nothing"));
    }
    expected_first = p.last_sequence() + 1;
  }
  if (KeyFromSequence(node) != expected_first) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": key_from_sequence is ", node.key_from_sequence(), "; expected ",
        expected_first,
        node.previous_keys_size() == 0
            ? " (without previous_keys the key signs from sequence 1; list the "
              "keys that signed the earlier sequences)"
            : " (the sequence after the last previous key's range)"));
  }
  if (!node.next_key_sha256().empty()) {
    if (!IsLowerHex64(node.next_key_sha256())) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": next_key_sha256 \"", node.next_key_sha256().substr(0, 80),
          "\" is not 64 lowercase hex digits (the keyid of the next key, as "
          "'watchfloor keygen' prints it)"));
    }
    if (own.count(node.next_key_sha256()) != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": next_key_sha256 names a key this node has already used; "
                 "pre-commit a fresh key"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateExpiry(const watchfloor::v1::Roster& roster) {
  if (!roster.has_expires()) return absl::OkStatus();
  if (roster.has_issued_at() && ToTime(roster.expires()) <= ToTime(roster.issued_at())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "expires ", google::protobuf::util::TimeUtil::ToString(roster.expires()),
        " is not after issued_at ",
        google::protobuf::util::TimeUtil::ToString(roster.issued_at())));
  }
  return absl::OkStatus();
}

absl::Status CheckKeyHistoryTransition(const watchfloor::v1::Roster& prev,
                                       const watchfloor::v1::Roster& next) {
  const auto before = NodesByOrigin(prev);
  // Every key a node of prev has used: none may sign again for anyone.
  std::set<std::string> retired;
  for (const auto& [origin, node] : before) {
    for (const PreviousNodeKey& p : node->previous_keys()) {
      retired.insert(KeyIdOf(p.signing_key_pem()));
    }
  }
  for (const auto& [origin, node] : NodesByOrigin(next)) {
    const std::string where = absl::StrCat("roster v", next.version(), ": node ", origin);
    const std::string key = KeyIdOf(node->signing_key_pem());
    if (retired.count(key) != 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": signing_key_pem: keyid ", Short(key), " was replaced in v",
          prev.version(), " or earlier; a replaced key never signs again"));
    }
    auto it = before.find(origin);
    if (it == before.end()) continue;
    const RosterNode& old = *it->second;
    if (KeyIdOf(old.signing_key_pem()) == key) {
      if (!SameHistory(old, *node)) {
        return absl::InvalidArgumentError(absl::StrCat(
            where, ": key_from_sequence or previous_keys differ from v", prev.version(),
            " although signing_key_pem is unchanged; a key's history never changes "
            "(v", prev.version(), ": from ", KeyFromSequence(old), ", previous ",
            Ranges(old), ")"));
      }
      continue;
    }
    // Rotated: the history gains the replaced key with the range it signed.
    RosterNode expected = old;
    const uint64_t old_from = KeyFromSequence(old);
    const uint64_t new_from = KeyFromSequence(*node);
    if (new_from < old_from) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": key_from_sequence ", new_from, " is before v", prev.version(),
          "'s ", old_from, "; the new key must start at or after the old one's start"));
    }
    if (new_from > old_from) {
      PreviousNodeKey* p = expected.add_previous_keys();
      p->set_signing_key_pem(old.signing_key_pem());
      p->set_first_sequence(old_from);
      p->set_last_sequence(new_from - 1);
    }
    expected.set_key_from_sequence(new_from);
    if (!SameHistory(expected, *node)) {
      return absl::InvalidArgumentError(absl::StrCat(
          where, ": the signing key is rotated from sequence ", new_from,
          ", so previous_keys must be v", prev.version(), "'s plus the replaced key for ",
          old_from, "..", new_from - 1, " (", Ranges(expected), "), not ", Ranges(*node)));
    }
  }
  return absl::OkStatus();
}

std::optional<std::string> PreCommittedRotationMember(
    const watchfloor::v1::Roster& prev, const watchfloor::v1::Roster& next) {
  for (int m = 0; m < prev.members_size(); ++m) {
    for (int n = 0; n < prev.members(m).nodes_size(); ++n) {
      const RosterNode& old = prev.members(m).nodes(n);
      if (old.next_key_sha256().empty()) continue;
      if (m >= next.members_size() || n >= next.members(m).nodes_size()) continue;
      const RosterNode& now = next.members(m).nodes(n);
      if (now.origin() != old.origin() ||
          KeyIdOf(now.signing_key_pem()) != old.next_key_sha256()) {
        continue;
      }
      // Everything else must be as in prev.
      watchfloor::v1::Roster same = prev;
      RosterNode* s = same.mutable_members(m)->mutable_nodes(n);
      s->set_signing_key_pem(now.signing_key_pem());
      s->set_key_from_sequence(now.key_from_sequence());
      *s->mutable_previous_keys() = now.previous_keys();
      s->set_next_key_sha256(now.next_key_sha256());
      same.set_version(next.version());
      *same.mutable_issued_at() = next.issued_at();
      if (!next.has_issued_at()) same.clear_issued_at();
      if (same.SerializeAsString() == next.SerializeAsString()) {
        return prev.members(m).name();
      }
      return std::nullopt;  // a rotation plus other changes
    }
  }
  return std::nullopt;
}

uint32_t OwnSignaturesRequired(const watchfloor::v1::Roster& prev,
                               const watchfloor::v1::Roster& next) {
  if (next.threshold() >= prev.threshold()) return next.threshold();
  return std::min<uint32_t>(prev.threshold(),
                            static_cast<uint32_t>(next.members_size()));
}

absl::Time RosterExpiry(const watchfloor::v1::Roster& roster) {
  return roster.has_expires() ? ToTime(roster.expires()) : absl::InfiniteFuture();
}

absl::Status CheckNotExpired(const watchfloor::v1::Roster& roster, absl::Time now) {
  const absl::Time expiry = RosterExpiry(roster);
  if (expiry == absl::InfiniteFuture() || expiry > now) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "roster v", roster.version(), " expired at ",
      absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", expiry, absl::UTCTimeZone()),
      " (now ", absl::FormatTime("%Y-%m-%dT%H:%M:%SZ", now, absl::UTCTimeZone()),
      "); the members must sign a newer version with a later expires "
      "('watchfloor roster draft --expires')"));
}

}  // namespace watchfloor::certs
