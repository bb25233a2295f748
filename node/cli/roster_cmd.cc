// `watchfloor roster <keygen|draft|sign|verify|show>` (and `submit`,
// `status`: roster_node_cmds.cc): create, sign, verify
// and inspect the federation roster (docs/FEDERATION.md, "Roster").
#include <errno.h>
#include <fcntl.h>
#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/text_format.h>
#include <google/protobuf/util/time_util.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "certs/dsse.h"
#include "certs/encryption_key.h"
#include "certs/keys.h"
#include "certs/roster.h"
#include "certs/status_macros.h"
#include "certs/x509.h"
#include "certs/roster_rules.h"
#include "node/cli/commands.h"
#include "node/cli/roster_edit.h"
#include "watchfloor/v1/roster.pb.h"

namespace watchfloor::cli {
namespace {

using certs::MemberSignature;
using certs::SignatureReport;
using watchfloor::v1::Envelope;

// Rosters hold a CA certificate and keys per member; 4 MiB is far beyond any
// real one.
constexpr size_t kMaxRosterFileBytes = 4 << 20;

absl::StatusOr<std::string> ReadTextFile(const std::string& path,
                                         absl::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat("cannot read ", what, " ", path,
                                            ": ", std::strerror(errno)));
  }
  std::ostringstream out;
  out << in.rdbuf();
  if (out.str().size() > kMaxRosterFileBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, " ", path, " is larger than ", kMaxRosterFileBytes, " bytes"));
  }
  return out.str();
}

bool SameFile(const std::string& a, const std::string& b) {
  struct stat sa, sb;
  return stat(a.c_str(), &sa) == 0 && stat(b.c_str(), &sb) == 0 &&
         sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

std::string DirOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// Writes `data` to a temporary file next to `path`, fsyncs it, then moves
// it into place: rename() if `replace`, else link() (EEXIST: nothing is
// overwritten). Readers see the old file or the new one, never a mix.
absl::Status WriteFileAtomically(const std::string& path,
                                 const std::string& data, bool replace) {
  std::string tmp = path + ".tmp.XXXXXX";
  const int fd = mkstemp(tmp.data());
  if (fd < 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("cannot create a temporary "
                                                   "file next to ", path));
  }
  absl::Status st;
  if (fchmod(fd, 0644) != 0) st = absl::ErrnoToStatus(errno, "chmod " + tmp);
  size_t done = 0;
  while (st.ok() && done < data.size()) {
    const ssize_t n = write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) st = absl::ErrnoToStatus(errno, "cannot write " + tmp);
    else done += static_cast<size_t>(n);
  }
  if (st.ok() && fsync(fd) != 0) st = absl::ErrnoToStatus(errno, "fsync " + tmp);
  if (close(fd) != 0 && st.ok()) st = absl::ErrnoToStatus(errno, "close " + tmp);
  if (st.ok()) {
    if (replace) {
      if (rename(tmp.c_str(), path.c_str()) != 0) {
        st = absl::ErrnoToStatus(errno, "cannot rename to " + path);
      }
    } else if (link(tmp.c_str(), path.c_str()) != 0) {
      st = errno == EEXIST
               ? absl::AlreadyExistsError(absl::StrCat(
                     path, " already exists; refusing to overwrite it"))
               : absl::ErrnoToStatus(errno, "cannot create " + path);
    }
  }
  unlink(tmp.c_str());  // after rename this fails harmlessly (ENOENT)
  if (!st.ok()) return st;
  const std::string dir = DirOf(path);
  const int dfd = open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    fsync(dfd);
    close(dfd);
  }
  return absl::OkStatus();
}

absl::StatusOr<Envelope> LoadEnvelope(const std::string& path) {
  WF_ASSIGN_OR_RETURN(std::string json, ReadTextFile(path, "roster file"));
  absl::StatusOr<Envelope> env = certs::EnvelopeFromJson(json);
  if (!env.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("roster file ", path, ": ", env.status().message()));
  }
  return env;
}

absl::StatusOr<watchfloor::v1::Roster> PayloadOf(const Envelope& env,
                                                 const std::string& path) {
  absl::StatusOr<watchfloor::v1::Roster> roster =
      certs::ParseRosterPayload(env);
  if (!roster.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("roster file ", path, ": ", roster.status().message()));
  }
  return roster;
}

std::string Short(absl::string_view keyid) {
  return std::string(keyid.substr(0, 16));
}

const char* StateWord(MemberSignature::State s) {
  switch (s) {
    case MemberSignature::State::kValid:
      return "ok";
    case MemberSignature::State::kInvalid:
      return "INVALID";
    case MemberSignature::State::kMissing:
      break;
  }
  return "missing";
}

void PrintReport(const SignatureReport& r) {
  std::printf("signatures by members of v%llu (threshold %u): %d valid, %s\n",
              static_cast<unsigned long long>(r.signer_version), r.threshold,
              r.valid, r.met() ? "met" : "NOT MET");
  for (const MemberSignature& m : r.members) {
    std::printf("  %-8s %-24s keyid %s%s\n", StateWord(m.state),
                m.member.c_str(), Short(m.keyid).c_str(),
                m.problem.empty() ? "" : absl::StrCat(" (", m.problem, ")").c_str());
  }
  for (const std::string& k : r.unknown_keyids) {
    std::printf("  ignored  signature by a key not in v%llu: keyid %s\n",
                static_cast<unsigned long long>(r.signer_version), k.c_str());
  }
}

// Collects text-format parse errors as "FILE:LINE:COL: message".
class SpecErrors : public google::protobuf::io::ErrorCollector {
 public:
  explicit SpecErrors(std::string path) : path_(std::move(path)) {}
  void AddError(int line, int column, const std::string& message) override {
    if (!first_.empty()) return;
    first_ = absl::StrCat(path_, ":", line + 1, ":", column + 1, ": ", message);
  }
  const std::string& first() const { return first_; }

 private:
  std::string path_;
  std::string first_;
};

// Replaces an "@path" value by that file's contents (relative to `base`).
absl::Status ResolveAt(std::string* field, absl::string_view name,
                       const std::string& base) {
  if (!absl::StartsWith(*field, "@")) return absl::OkStatus();
  std::string path = field->substr(1);
  if (path.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": \"@\" needs a path, e.g. @nic.cz/member.pub"));
  }
  if (path[0] != '/') path = absl::StrCat(base, "/", path);
  absl::StatusOr<std::string> data = ReadTextFile(path, std::string(name));
  if (!data.ok()) return data.status();
  *field = *std::move(data);
  return absl::OkStatus();
}

// ------------------------------------------------------------ subcommands

int Keygen(int argc, char** argv) {
  CommandSpec spec{
      "roster keygen", "", "Create a member's Ed25519 roster-signing key.",
      "Writes DIR/member.key (PKCS#8 PEM, mode 0600) and DIR/member.pub\n"
      "(SubjectPublicKeyInfo PEM), and prints the keyid. Never overwrites.\n"
      "The key signs rosters only; keep it offline. Put the public key in the\n"
      "roster spec as  member_key_pem: \"@DIR/member.pub\".",
      {{"member", "NAME", "the member this key signs for, e.g. nic.cz", "", false, true},
       {"out", "DIR", "directory for the key files (created mode 0700 if missing)",
        "", false, true}}};
  return RunCommand(spec, argc, argv, [](const ParsedArgs& args) -> absl::Status {
    const std::string member = args.Get("member");
    absl::Status st = certs::ValidateMemberName(member);
    if (!st.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("usage: --member: ", st.message()));
    }
    const std::string dir = args.Get("out");
    if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
      return absl::FailedPreconditionError(absl::StrCat(
          "cannot create directory ", dir, ": ", std::strerror(errno)));
    }
    const std::string key_path = dir + "/member.key";
    const std::string pub_path = dir + "/member.pub";
    struct stat ignored;
    if (stat(pub_path.c_str(), &ignored) == 0) {
      return absl::AlreadyExistsError(
          absl::StrCat(pub_path, " already exists; refusing to overwrite it"));
    }
    certs::SigningKey key = certs::SigningKey::Generate();
    WF_RETURN_IF_ERROR(key.SavePemFile(key_path));
    WF_RETURN_IF_ERROR(key.public_key().SavePemFile(pub_path));
    std::printf("member  %s\nkeyid   %s\nprivate %s (mode 0600)\npublic  %s\n",
                member.c_str(), key.public_key().KeyId().c_str(),
                key_path.c_str(), pub_path.c_str());
    return absl::OkStatus();
  });
}

int Draft(int argc, char** argv) {
  CommandSpec spec{
      "roster draft", "", "Turn a roster spec into an unsigned roster file.",
      "SPEC is a text-format watchfloor.v1.Roster (proto/watchfloor/v1/\n"
      "roster.proto). Any *_pem field may be \"@PATH\" instead: the file's\n"
      "contents, PATH relative to the spec's directory. issued_at defaults to\n"
      "now. The roster is validated, then written as a DSSE JSON envelope with\n"
      "no signatures; members add theirs with 'watchfloor roster sign'.\n\n"
      "  federation: \"dns-cert\"  version: 1  threshold: 2\n"
      "  members {\n"
      "    name: \"nic.cz\"\n"
      "    member_key_pem: \"@nic.cz/member.pub\"\n"
      "    ca_cert_pem: \"@nic.cz/ca/ca.crt\"\n"
      "    nodes { origin: \"nic.cz/prg1\" signing_key_pem: \"@nic.cz/prg1/signing.pub\"\n"
      "            encryption_key_pem: \"@nic.cz/prg1/encryption.pub\"\n"
      "            endpoints: \"prg1.nic.cz:7443\" }\n"
      "  }\n"
      "  members { ... }",
      {{"spec", "FILE", "the roster spec (text format)", "", false, false},
       {"out", "FILE", "the unsigned roster to write (never overwritten)", "", false, true}}};
  spec.details +=
      "\n\nOr --from CURRENT.json plus edits (roster_edit.h): the next version,\n"
      "e.g. --from v1.json --add-member denic.de.member --threshold 3";
  for (FlagSpec& f : RosterEditFlags()) spec.flags.push_back(std::move(f));
  return RunCommand(spec, argc, argv, [](const ParsedArgs& args) -> absl::Status {
    if (args.Has("spec") == args.Has("from")) {
      return absl::InvalidArgumentError(
          "give either --spec (a whole roster) or --from (the current roster, plus edits)");
    }
    if (args.Has("from")) {
      const std::string from = args.Get("from");
      WF_ASSIGN_OR_RETURN(Envelope current_env, LoadEnvelope(from));
      WF_ASSIGN_OR_RETURN(watchfloor::v1::Roster current, PayloadOf(current_env, from));
      WF_ASSIGN_OR_RETURN(watchfloor::v1::Roster next,
                          NextRosterVersion(current, args, absl::Now()));
      absl::StatusOr<Envelope> draft = certs::MakeRosterDraft(next);
      if (!draft.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "the edited roster v", next.version(), ": ", draft.status().message()));
      }
      const std::string out = args.Get("out");
      WF_RETURN_IF_ERROR(
          WriteFileAtomically(out, certs::EnvelopeToJson(*draft) + "\n", false));
      std::printf("wrote %s: roster %s v%llu after v%llu, %d members, threshold %u, "
                  "unsigned\nnext: %u members of v%llu and %u of v%llu sign it with "
                  "'watchfloor roster sign --in %s --key MEMBER.key --out %s'\n",
                  out.c_str(), next.federation().c_str(),
                  static_cast<unsigned long long>(next.version()),
                  static_cast<unsigned long long>(current.version()), next.members_size(),
                  next.threshold(), current.threshold(),
                  static_cast<unsigned long long>(current.version()),
                  certs::OwnSignaturesRequired(current, next),
                  static_cast<unsigned long long>(next.version()), out.c_str(), out.c_str());
      return absl::OkStatus();
    }
    const std::string spec_path = args.Get("spec");
    WF_ASSIGN_OR_RETURN(std::string text, ReadTextFile(spec_path, "roster spec"));
    watchfloor::v1::Roster roster;
    google::protobuf::TextFormat::Parser parser;
    SpecErrors errors(spec_path);
    parser.RecordErrorsTo(&errors);
    if (!parser.ParseFromString(text, &roster)) {
      return absl::InvalidArgumentError(
          errors.first().empty() ? absl::StrCat("cannot parse ", spec_path)
                                 : errors.first());
    }
    const std::string base = DirOf(spec_path);
    for (auto& member : *roster.mutable_members()) {
      const std::string where = absl::StrCat("member ", member.name());
      WF_RETURN_IF_ERROR(ResolveAt(member.mutable_member_key_pem(),
                                   where + " member_key_pem", base));
      WF_RETURN_IF_ERROR(
          ResolveAt(member.mutable_ca_cert_pem(), where + " ca_cert_pem", base));
      for (auto& node : *member.mutable_nodes()) {
        WF_RETURN_IF_ERROR(ResolveAt(node.mutable_signing_key_pem(),
                                     "node " + node.origin() + " signing_key_pem",
                                     base));
        WF_RETURN_IF_ERROR(ResolveAt(node.mutable_encryption_key_pem(),
                                     "node " + node.origin() + " encryption_key_pem",
                                     base));
      }
    }
    if (!roster.has_issued_at()) {
      *roster.mutable_issued_at() = google::protobuf::util::TimeUtil::SecondsToTimestamp(
          absl::ToUnixSeconds(absl::Now()));
    }
    absl::StatusOr<Envelope> draft = certs::MakeRosterDraft(roster);
    if (!draft.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("roster spec ", spec_path, ": ", draft.status().message()));
    }
    const std::string out = args.Get("out");
    WF_RETURN_IF_ERROR(
        WriteFileAtomically(out, certs::EnvelopeToJson(*draft) + "\n", false));
    int nodes = 0;
    for (const auto& m : roster.members()) nodes += m.nodes_size();
    std::printf("wrote %s: roster %s v%llu, %d members, %d nodes, threshold %u, "
                "unsigned\nnext: each signer runs 'watchfloor roster sign --in %s "
                "--key MEMBER.key --out %s'\n",
                out.c_str(), roster.federation().c_str(),
                static_cast<unsigned long long>(roster.version()),
                roster.members_size(), nodes, roster.threshold(), out.c_str(),
                out.c_str());
    return absl::OkStatus();
  });
}

int Sign(int argc, char** argv) {
  CommandSpec spec{
      "roster sign", "", "Add a member's signature to a roster file.",
      "Signs the roster's payload bytes (DSSE, PAE) with a member key made by\n"
      "'watchfloor roster keygen', replacing an earlier signature by the same\n"
      "key. --out may be --in: the file is replaced atomically. Warns when the\n"
      "key is not a member key of this roster (for a new version it may still\n"
      "count, as a member key of the previous version).",
      {{"in", "FILE", "the roster to sign", "", false, true},
       {"key", "FILE", "the member's private key (member.key, mode 0600)", "", false, true},
       {"out", "FILE", "where to write the signed roster", "", false, true}}};
  return RunCommand(spec, argc, argv, [](const ParsedArgs& args) -> absl::Status {
    const std::string in = args.Get("in");
    const std::string out = args.Get("out");
    WF_ASSIGN_OR_RETURN(Envelope env, LoadEnvelope(in));
    WF_ASSIGN_OR_RETURN(watchfloor::v1::Roster roster, PayloadOf(env, in));
    WF_ASSIGN_OR_RETURN(certs::SigningKey key,
                        certs::SigningKey::LoadPemFile(args.Get("key")));
    const std::string& keyid = key.public_key().KeyId();
    const watchfloor::v1::RosterMember* member =
        certs::FindMemberByKeyId(roster, keyid);
    if (member == nullptr && roster.version() <= 1) {
      std::fprintf(stderr,
                   "warning: key %s is not a member key of roster v%llu; a "
                   "first roster counts only its own members' signatures, so "
                   "this one will not count\n",
                   Short(keyid).c_str(),
                   static_cast<unsigned long long>(roster.version()));
    } else if (member == nullptr) {
      std::fprintf(stderr,
                   "warning: key %s is not a member key of roster v%llu; its "
                   "signature counts only if it is a member key of v%llu "
                   "(admitting or rotating)\n",
                   Short(keyid).c_str(),
                   static_cast<unsigned long long>(roster.version()),
                   static_cast<unsigned long long>(roster.version() - 1));
    }
    absl::StatusOr<Envelope> signed_env = certs::SignRoster(env, key);
    if (!signed_env.ok()) {
      return absl::Status(signed_env.status().code(),
                          absl::StrCat("roster file ", in, ": ",
                                       signed_env.status().message()));
    }
    const bool replace = SameFile(in, out);
    WF_RETURN_IF_ERROR(WriteFileAtomically(
        out, certs::EnvelopeToJson(*signed_env) + "\n", replace));
    SignatureReport own = certs::CheckRosterSignatures(*signed_env, roster);
    std::printf("signed roster %s v%llu as %s (keyid %s)\n"
                "%d of %d members of v%llu have signed; threshold %u%s\n",
                roster.federation().c_str(),
                static_cast<unsigned long long>(roster.version()),
                member != nullptr ? member->name().c_str() : "a non-member",
                Short(keyid).c_str(), own.valid, roster.members_size(),
                static_cast<unsigned long long>(roster.version()),
                roster.threshold(), own.met() ? " (met)" : "");
    return absl::OkStatus();
  });
}

int Verify(int argc, char** argv) {
  CommandSpec spec{
      "roster verify", "", "Verify a roster's signatures.",
      "Without --previous, FILE is a trust anchor (the genesis roster, or one\n"
      "you pinned): it needs its own threshold of its own members' signatures.\n"
      "With --previous (repeatable, oldest first: the anchor, then each\n"
      "version after it), FILE must be the next version after the last one,\n"
      "signed by the previous version's threshold of its members AND by its\n"
      "own threshold. Prints each member's signature; exits 1 on failure.",
      {{"in", "FILE", "the roster to verify", "", false, true},
       {"previous", "FILE", "earlier roster(s), oldest first", "", true, false}}};
  return RunCommand(spec, argc, argv, [](const ParsedArgs& args) -> absl::Status {
    const std::string in = args.Get("in");
    WF_ASSIGN_OR_RETURN(Envelope env, LoadEnvelope(in));
    WF_ASSIGN_OR_RETURN(watchfloor::v1::Roster roster, PayloadOf(env, in));
    std::optional<certs::Roster> current;
    for (const std::string& path : args.GetAll("previous")) {
      WF_ASSIGN_OR_RETURN(Envelope prev, LoadEnvelope(path));
      absl::StatusOr<certs::Roster> next =
          current ? current->VerifyNext(prev) : certs::Roster::VerifyGenesis(prev);
      if (!next.ok()) {
        return absl::Status(next.status().code(),
                            absl::StrCat("previous roster ", path, ": ",
                                         next.status().message()));
      }
      current.emplace(*std::move(next));
    }
    int members_nodes = 0;
    for (const auto& m : roster.members()) members_nodes += m.nodes_size();
    std::printf("roster %s v%llu: %d members, %d nodes, threshold %u (%s)\n",
                roster.federation().c_str(),
                static_cast<unsigned long long>(roster.version()),
                roster.members_size(), members_nodes, roster.threshold(),
                in.c_str());
    if (current) PrintReport(certs::CheckRosterSignatures(env, current->proto()));
    PrintReport(certs::CheckRosterSignatures(env, roster));
    std::fflush(stdout);
    absl::StatusOr<certs::Roster> verified =
        current ? current->VerifyNext(env) : certs::Roster::VerifyGenesis(env);
    if (!verified.ok()) return verified.status();
    if (current) {
      std::printf("OK: roster v%llu is a valid successor of v%llu\n",
                  static_cast<unsigned long long>(verified->version()),
                  static_cast<unsigned long long>(current->version()));
    } else {
      std::printf("OK: roster v%llu is valid as a trust anchor\n",
                  static_cast<unsigned long long>(verified->version()));
    }
    return absl::OkStatus();
  });
}

int Show(int argc, char** argv) {
  CommandSpec spec{
      "roster show", "", "Print a summary of a roster file.",
      "Federation, version, threshold, members (keyid, CA), nodes (keyid,\n"
      "endpoints) and which members have signed. Does not decide whether the\n"
      "roster is trusted: use 'watchfloor roster verify' for that.",
      {{"in", "FILE", "the roster file", "", false, true}}};
  return RunCommand(spec, argc, argv, [](const ParsedArgs& args) -> absl::Status {
    const std::string in = args.Get("in");
    WF_ASSIGN_OR_RETURN(Envelope env, LoadEnvelope(in));
    WF_ASSIGN_OR_RETURN(watchfloor::v1::Roster roster, PayloadOf(env, in));
    std::printf("federation  %s\nversion     %llu\nissued at   %s\nthreshold   %u of %d members\n",
                roster.federation().c_str(),
                static_cast<unsigned long long>(roster.version()),
                roster.has_issued_at()
                    ? google::protobuf::util::TimeUtil::ToString(roster.issued_at()).c_str()
                    : "(not set)",
                roster.threshold(), roster.members_size());
    absl::Status valid = certs::ValidateRoster(roster);
    if (!valid.ok()) std::printf("INVALID     %s\n", std::string(valid.message()).c_str());
    SignatureReport own = certs::CheckRosterSignatures(env, roster);
    for (int i = 0; i < roster.members_size(); ++i) {
      const auto& m = roster.members(i);
      const MemberSignature& sig = own.members[i];
      std::printf("\nmember %s\n  member key  %s\n  signed      %s%s\n", m.name().c_str(),
                  sig.keyid.empty() ? "(unparsable)" : sig.keyid.c_str(),
                  sig.state == MemberSignature::State::kValid     ? "yes"
                  : sig.state == MemberSignature::State::kInvalid ? "INVALID"
                                                                  : "no",
                  sig.problem.empty() ? "" : absl::StrCat(" (", sig.problem, ")").c_str());
      absl::StatusOr<certs::CertInfo> ca = certs::DescribeCertificate(m.ca_cert_pem());
      if (ca.ok()) {
        std::printf("  CA          %s, sha256 %s, valid until %s\n", ca->subject.c_str(),
                    Short(ca->sha256_fingerprint).c_str(),
                    absl::FormatTime("%Y-%m-%d", ca->not_after, absl::UTCTimeZone()).c_str());
      } else {
        std::printf("  CA          (unparsable)\n");
      }
      for (const auto& n : m.nodes()) {
        absl::StatusOr<certs::PublicKey> k = certs::PublicKey::FromPem(n.signing_key_pem());
        std::string encryption = "(none: it cannot be sent sealed alerts)";
        if (!n.encryption_key_pem().empty()) {
          absl::StatusOr<certs::EncryptionPublicKey> e =
              certs::EncryptionPublicKey::FromPem(n.encryption_key_pem());
          encryption = e.ok() ? e->KeyId() : "(unparsable)";
        }
        std::printf("  node %s\n    key       %s\n    encryption %s\n    endpoints %s\n",
                    n.origin().c_str(), k.ok() ? k->KeyId().c_str() : "(unparsable)",
                    encryption.c_str(), absl::StrJoin(n.endpoints(), ", ").c_str());
      }
    }
    std::printf("\nsignatures: %d of %d members of v%llu (threshold %u%s)\n", own.valid,
                roster.members_size(), static_cast<unsigned long long>(roster.version()),
                roster.threshold(), own.met() ? ", met" : ", not met");
    for (const std::string& k : own.unknown_keyids) {
      std::printf("  also signed by keyid %s (not a member of v%llu; a previous "
                  "version's member?)\n",
                  k.c_str(), static_cast<unsigned long long>(roster.version()));
    }
    return absl::OkStatus();
  });
}

const std::vector<Subcommand>& Subcommands() {
  static const auto* subs = new std::vector<Subcommand>{
      {"keygen", Keygen, "create a member's roster-signing key"},
      {"draft", Draft, "make an unsigned roster from a text spec"},
      {"sign", Sign, "add a member's signature to a roster"},
      {"verify", Verify, "verify a roster (genesis, or next after previous)"},
      {"show", Show, "print a roster's members, nodes and signers"},
      {"submit", RosterSubmitCommand, "hand signed version(s) to a node; gossip spreads them"},
      {"status", RosterStatusCommand, "a node's roster version, expiry and each peer's"},
  };
  return *subs;
}

}  // namespace

int RosterCommand(int argc, char** argv) {
  return DispatchSubcommand(
      "roster",
      "The roster lists the federation's members, their keys, CAs "
      "and nodes,\nsigned by a threshold of members.",
      Subcommands(), argc, argv);
}

}  // namespace watchfloor::cli
