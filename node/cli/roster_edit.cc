#include "node/cli/roster_edit.h"

#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/text_format.h>
#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <fstream>
#include <sstream>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "certs/keys.h"
#include "certs/roster_rules.h"
#include "certs/status_macros.h"

namespace watchfloor::cli {
namespace {

using watchfloor::v1::Roster;
using watchfloor::v1::RosterMember;
using watchfloor::v1::RosterNode;

absl::StatusOr<std::string> ReadFile(const std::string& path, absl::string_view what) {
  std::ifstream in(path);
  if (!in) {
    return absl::NotFoundError(absl::StrCat(what, " ", path, " cannot be read; check the path"));
  }
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

std::string DirOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? "." : path.substr(0, slash);
}

absl::Status ResolveAt(std::string* field, absl::string_view what, const std::string& base) {
  if (field->empty() || (*field)[0] != '@') return absl::OkStatus();
  std::string path = field->substr(1);
  if (!path.empty() && path[0] != '/') path = absl::StrCat(base, "/", path);
  WF_ASSIGN_OR_RETURN(*field, ReadFile(path, what));
  return absl::OkStatus();
}

// Splits "ORIGIN=REST" of flag `flag`.
absl::StatusOr<std::pair<std::string, std::string>> OriginAnd(absl::string_view flag,
                                                              absl::string_view value,
                                                              absl::string_view form) {
  const size_t eq = value.find('=');
  if (eq == absl::string_view::npos || eq == 0 || eq + 1 == value.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--", flag, " \"", value, "\" is malformed; write ", form));
  }
  return std::make_pair(std::string(value.substr(0, eq)), std::string(value.substr(eq + 1)));
}

RosterNode* FindNode(Roster& roster, absl::string_view origin) {
  for (RosterMember& m : *roster.mutable_members()) {
    for (RosterNode& n : *m.mutable_nodes()) {
      if (n.origin() == origin) return &n;
    }
  }
  return nullptr;
}

absl::Status UnknownNode(absl::string_view flag, absl::string_view origin,
                         const Roster& current) {
  return absl::InvalidArgumentError(absl::StrCat(
      "--", flag, ": node ", origin, " is not in roster v", current.version(),
      "; 'watchfloor roster show' lists the nodes"));
}

}  // namespace

std::vector<FlagSpec> RosterEditFlags() {
  return {
      {"from", "FILE", "make the next version of this (current) roster", "", false, false},
      {"add-member", "FILE",
       "a text-format RosterMember to admit (*_pem fields may be @PATH)", "", true, false},
      {"remove-member", "NAME", "a member to remove, with its nodes", "", true, false},
      {"remove-node", "ORIGIN", "a node to remove", "", true, false},
      {"endpoints", "ORIGIN=HOST:PORT[,HOST:PORT]", "replace a node's endpoints", "", true,
       false},
      {"rotate-node-key", "ORIGIN=PUBFILE@SEQ",
       "new signing key of a node, signing from feed sequence SEQ on", "", true, false},
      {"commit-next-key", "ORIGIN=PUBFILE",
       "pre-commit a node's next signing key (its keyid goes in the roster)", "", true,
       false},
      {"encryption-key", "ORIGIN=PUBFILE",
       "set a node's X25519 encryption key (encryption.pub from keygen)", "", true, false},
      {"threshold", "N", "the new threshold", "", false, false},
      {"expires", "TIME", "when the new version expires, e.g. 2027-06-30T00:00:00Z", "",
       false, false},
  };
}

absl::StatusOr<Roster> NextRosterVersion(const Roster& current, const ParsedArgs& args,
                                         absl::Time now) {
  Roster next = current;
  next.set_version(current.version() + 1);
  *next.mutable_issued_at() =
      google::protobuf::util::TimeUtil::SecondsToTimestamp(absl::ToUnixSeconds(now));
  for (const std::string& name : args.GetAll("remove-member")) {
    auto* members = next.mutable_members();
    auto it = std::find_if(members->begin(), members->end(),
                           [&](const RosterMember& m) { return m.name() == name; });
    if (it == members->end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--remove-member: ", name, " is not a member of roster v", current.version()));
    }
    members->erase(it);
  }
  for (const std::string& origin : args.GetAll("remove-node")) {
    bool found = false;
    for (RosterMember& m : *next.mutable_members()) {
      auto* nodes = m.mutable_nodes();
      auto it = std::find_if(nodes->begin(), nodes->end(),
                             [&](const RosterNode& n) { return n.origin() == origin; });
      if (it != nodes->end()) {
        nodes->erase(it);
        found = true;
      }
    }
    if (!found) return UnknownNode("remove-node", origin, current);
  }
  for (const std::string& file : args.GetAll("add-member")) {
    WF_ASSIGN_OR_RETURN(std::string text, ReadFile(file, "--add-member file"));
    RosterMember member;
    if (!google::protobuf::TextFormat::ParseFromString(text, &member)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--add-member ", file, " is not a text-format watchfloor.v1.RosterMember"));
    }
    const std::string base = DirOf(file);
    const std::string where = absl::StrCat("--add-member ", file, ": member ", member.name());
    WF_RETURN_IF_ERROR(ResolveAt(member.mutable_member_key_pem(), where + " member_key_pem", base));
    WF_RETURN_IF_ERROR(ResolveAt(member.mutable_ca_cert_pem(), where + " ca_cert_pem", base));
    for (RosterNode& n : *member.mutable_nodes()) {
      WF_RETURN_IF_ERROR(ResolveAt(n.mutable_signing_key_pem(),
                                   absl::StrCat(where, " node ", n.origin()), base));
      WF_RETURN_IF_ERROR(ResolveAt(n.mutable_encryption_key_pem(),
                                   absl::StrCat(where, " node ", n.origin(),
                                                " encryption_key_pem"),
                                   base));
    }
    *next.add_members() = std::move(member);
  }
  for (const std::string& value : args.GetAll("endpoints")) {
    WF_ASSIGN_OR_RETURN(auto parts, OriginAnd("endpoints", value,
                                              "ORIGIN=HOST:PORT[,HOST:PORT]"));
    RosterNode* node = FindNode(next, parts.first);
    if (node == nullptr) return UnknownNode("endpoints", parts.first, current);
    node->clear_endpoints();
    for (absl::string_view e : absl::StrSplit(parts.second, ',')) node->add_endpoints(std::string(e));
  }
  for (const std::string& value : args.GetAll("encryption-key")) {
    WF_ASSIGN_OR_RETURN(auto parts, OriginAnd("encryption-key", value, "ORIGIN=PUBFILE"));
    RosterNode* node = FindNode(next, parts.first);
    if (node == nullptr) return UnknownNode("encryption-key", parts.first, current);
    WF_ASSIGN_OR_RETURN(std::string pem,
                        ReadFile(parts.second, "--encryption-key key file"));
    node->set_encryption_key_pem(pem);
  }
  for (const std::string& value : args.GetAll("rotate-node-key")) {
    WF_ASSIGN_OR_RETURN(auto parts, OriginAnd("rotate-node-key", value, "ORIGIN=PUBFILE@SEQ"));
    const size_t at = parts.second.rfind('@');
    uint64_t from = 0;
    if (at == std::string::npos || !absl::SimpleAtoi(parts.second.substr(at + 1), &from) ||
        from == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--rotate-node-key \"", value, "\" needs @SEQ, the first feed sequence (>= 1) "
          "the new key signs, e.g. ", parts.first, "=signing.pub@1001"));
    }
    RosterNode* node = FindNode(next, parts.first);
    if (node == nullptr) return UnknownNode("rotate-node-key", parts.first, current);
    WF_ASSIGN_OR_RETURN(std::string pem,
                        ReadFile(parts.second.substr(0, at), "--rotate-node-key key file"));
    const uint64_t old_from = certs::KeyFromSequence(*node);
    if (from < old_from) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--rotate-node-key: ", parts.first, "'s current key signs from sequence ", old_from,
          "; the new key cannot start before that (", from, ")"));
    }
    if (from > old_from) {
      watchfloor::v1::PreviousNodeKey* p = node->add_previous_keys();
      p->set_signing_key_pem(node->signing_key_pem());
      p->set_first_sequence(old_from);
      p->set_last_sequence(from - 1);
    }
    node->set_signing_key_pem(pem);
    node->set_key_from_sequence(from);
    node->clear_next_key_sha256();
  }
  for (const std::string& value : args.GetAll("commit-next-key")) {
    WF_ASSIGN_OR_RETURN(auto parts, OriginAnd("commit-next-key", value, "ORIGIN=PUBFILE"));
    RosterNode* node = FindNode(next, parts.first);
    if (node == nullptr) return UnknownNode("commit-next-key", parts.first, current);
    WF_ASSIGN_OR_RETURN(std::string pem, ReadFile(parts.second, "--commit-next-key key file"));
    absl::StatusOr<certs::PublicKey> key = certs::PublicKey::FromPem(pem);
    if (!key.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--commit-next-key ", parts.second, ": ", key.status().message()));
    }
    node->set_next_key_sha256(key->KeyId());
  }
  if (args.Has("threshold")) {
    uint32_t t = 0;
    if (!absl::SimpleAtoi(args.Get("threshold"), &t)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--threshold \"", args.Get("threshold"), "\" is not a number"));
    }
    next.set_threshold(t);
  }
  if (args.Has("expires")) {
    absl::Time t;
    std::string err;
    if (!absl::ParseTime(absl::RFC3339_full, args.Get("expires"), &t, &err)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "--expires \"", args.Get("expires"), "\" is not an RFC 3339 time (", err,
          "), e.g. 2027-06-30T00:00:00Z"));
    }
    *next.mutable_expires() =
        google::protobuf::util::TimeUtil::SecondsToTimestamp(absl::ToUnixSeconds(t));
  }
  return next;
}

}  // namespace watchfloor::cli
