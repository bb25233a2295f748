// `watchfloor audit`: checks an audit bundle (proto/watchfloor/v1/audit.proto)
// offline with certs/audit.h. Needs no node, no key, no network.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "certs/audit.h"
#include "certs/dsse.h"
#include "certs/roster.h"
#include "node/cli/client.h"
#include "node/cli/commands.h"
#include "node/cli/filter_flags.h"
#include "watchfloor/v1/audit.pb.h"

namespace watchfloor::cli {

// What `watchfloor audit` was asked for, after flag parsing. The live path
// (--node) fills the same struct and calls AuditBundleAndReport too.
struct AuditFlags {
  std::string bundle_path;  // for messages: the file, or "node <addr>"
  std::optional<certs::Roster> anchor;  // --roster, verified
  int quorum = -1;  // -1: the default majority
  bool json = false;
  int threads = 1;
  bool require_complete = false;
  std::optional<watchfloor::v1::AuditBundle> since;  // --since, parsed
};

// Audits `bundle` and prints the summary (or JSON) to stdout. Returns kExitOk
// if everything checks, kExitFailure on any finding, kExitUsage if it is not
// a bundle or cannot be audited at all (untrusted or unreadable roster
// chain: message on stderr; docs/PROTOCOL.md section 13).
int AuditBundleAndReport(const watchfloor::v1::AuditBundle& bundle, const AuditFlags& flags);

namespace {

int UsageError(const std::string& message) {
  std::fprintf(stderr, "error: %s\n", message.c_str());
  return kExitUsage;
}

// The whole regular file, or nullopt with the reason in *error. One read of
// the known size: a bundle of 100,000 alerts is ~90 MB.
std::optional<std::string> ReadWholeFile(const std::string& path, std::string* error) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *error = std::strerror(errno);
    return std::nullopt;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    *error = S_ISDIR(st.st_mode) ? "it is a directory" : "not a regular file";
    close(fd);
    return std::nullopt;
  }
  std::string data(static_cast<size_t>(st.st_size), '\0');
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = read(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      *error = n < 0 ? std::strerror(errno) : "file shrank while reading";
      close(fd);
      return std::nullopt;
    }
    done += static_cast<size_t>(n);
  }
  close(fd);
  return data;
}

}  // namespace

int AuditBundleAndReport(const watchfloor::v1::AuditBundle& bundle, const AuditFlags& flags) {
  if (bundle.format() != certs::kBundleFormat) {
    return UsageError(absl::StrCat(
        flags.bundle_path, " is not an audit bundle: format is \"", bundle.format(),
        "\", want \"", certs::kBundleFormat, "\"; pass a file written by 'watchfloor export'"));
  }
  certs::AuditOptions options;
  options.anchor = flags.anchor ? &*flags.anchor : nullptr;
  options.quorum = flags.quorum;
  options.threads = flags.threads;
  options.require_complete = flags.require_complete;
  options.since = flags.since ? &*flags.since : nullptr;
  absl::StatusOr<certs::AuditReport> report = certs::Audit(bundle, options);
  if (!report.ok()) {
    std::fprintf(stderr,
                 "error: %s cannot be audited: %s\n"
                 "The bundle's roster is not trusted, so none of its keys are. %s\n",
                 flags.bundle_path.c_str(), std::string(report.status().message()).c_str(),
                 flags.anchor ? "Check that --roster is a roster of this federation that the "
                                "bundle's roster chain reaches."
                              : "Audit against the roster you trust with --roster FILE.");
    return kExitUsage;
  }
  const std::string out = flags.json ? report->Json() : report->Summary();
  std::fwrite(out.data(), 1, out.size(), stdout);
  std::fflush(stdout);
  return report->ok() ? kExitOk : kExitFailure;
}

int AuditCommand(int argc, char** argv) {
  CommandSpec spec{
      "audit", "BUNDLE_FILE",
      "Check an audit bundle offline: signatures, chains, inclusion, checkpoints, witnesses.",
      "BUNDLE_FILE is a bundle written by 'watchfloor export' (one or more\n"
      "serialized watchfloor.v1.AuditBundle messages, concatenated). For each\n"
      "origin it reports alerts checked, signature failures, chain breaks,\n"
      "inclusion failures, order, missing sequences (complete origins),\n"
      "checkpoint consistency and whether the witness quorum was met.\n\n"
      "The bundle carries the roster chain from an older version to the one\n"
      "that signed its checkpoints; --roster must be a version on it (or the\n"
      "one before its first). Without --roster the chain's first roster must\n"
      "meet its own threshold, and its fingerprint is printed for you to\n"
      "compare out of band.\n\n"
      "The exporter's claims (filter, where each log is cut, counts) must be\n"
      "signed by its node key. Without a filter every sequence up to each\n"
      "checkpoint must be present; with one the report says how many entries\n"
      "the bundle does not show. The report ends with what was and was not\n"
      "proven.\n\n"
      "  watchfloor audit new.wfb --since old.wfb --roster roster.json\n"
      "checks that each log in new.wfb only grew since old.wfb (new.wfb must\n"
      "be exported with --since-checkpoint old.wfb).\n\n"
      "Exit codes: 0 everything checks, 1 any finding (or, with --node, the\n"
      "node failed), 2 usage error, unreadable bundle, or a bundle that\n"
      "cannot be audited (untrusted or unreadable roster chain).",
      {{"roster", "FILE",
        "the roster you trust (DSSE JSON, as 'watchfloor roster' writes); the bundle's "
        "roster must be it or its next version"},
       {"quorum", "N",
        "witness members required on each origin's latest checkpoint (default: a majority "
        "of the other members)"},
       {"json", "", "print the report as JSON instead of the summary"},
       {"require-complete", "",
        "with a filtered bundle, report every entry up to a checkpoint that it does not "
        "show as missing"},
       {"since", "FILE",
        "an older bundle: check that every log only grew since it (consistency proofs "
        "from 'watchfloor export --since-checkpoint FILE'; with --node, asked for)"},
       {"threads", "N", "verification threads (default: the number of CPUs)"},
       {"filter", "EXPR",
        "with --node: audit only alerts matching EXPR (docs/FILTERS.md); filters OR", "",
        true}},
      0,
      1};
  // --node (and the TLS flags) audit a live node: it exports a bundle over
  // the connection and the audit runs here, trusting nothing the node says.
  for (FlagSpec& f : ConnectionFlags()) {
    if (f.name == "node") {
      f.help = "audit a live node: fetch a bundle from it (Node.Export) and check it here";
      f.default_value.clear();
    }
    spec.flags.push_back(std::move(f));
  }
  absl::StatusOr<ParsedArgs> parsed = ParseArgs(spec, argc, argv);
  if (!parsed.ok()) return UsageError(std::string(parsed.status().message()));
  const ParsedArgs& args = *parsed;
  if (args.help()) {
    std::fputs(Usage(spec).c_str(), stdout);
    return kExitOk;
  }

  AuditFlags flags;
  flags.json = args.Has("json");
  flags.require_complete = args.Has("require-complete");
  if (args.Has("since")) {
    const std::string path = args.Get("since");
    std::string why;
    std::optional<std::string> data = ReadWholeFile(path, &why);
    if (!data) return UsageError(absl::StrCat("cannot read --since bundle ", path, ": ", why));
    flags.since.emplace();
    if (!flags.since->ParseFromString(*data) || flags.since->format() != certs::kBundleFormat) {
      return UsageError(absl::StrCat("--since ", path,
                                     " is not an audit bundle; pass an older file written by "
                                     "'watchfloor export'"));
    }
  }
  const unsigned cpus = std::thread::hardware_concurrency();
  flags.threads = cpus == 0 ? 1 : static_cast<int>(cpus);
  if (args.Has("threads")) {
    if (!absl::SimpleAtoi(args.Get("threads"), &flags.threads) || flags.threads < 1 ||
        flags.threads > 256) {
      return UsageError(absl::StrCat("--threads ", args.Get("threads"),
                                     " is not a number from 1 to 256"));
    }
  }
  if (args.Has("quorum")) {
    if (!absl::SimpleAtoi(args.Get("quorum"), &flags.quorum) || flags.quorum < 0) {
      return UsageError(absl::StrCat("--quorum ", args.Get("quorum"),
                                     " is not a number of witness members (0 or more)"));
    }
  }
  if (args.Has("roster")) {
    const std::string path = args.Get("roster");
    std::string why;
    std::optional<std::string> json = ReadWholeFile(path, &why);
    if (!json) {
      return UsageError(absl::StrCat("cannot read roster file ", path, ": ", why));
    }
    absl::StatusOr<watchfloor::v1::Envelope> env = certs::EnvelopeFromJson(*json);
    if (!env.ok()) {
      return UsageError(absl::StrCat("roster file ", path, " is not a DSSE roster envelope: ",
                                     env.status().message(),
                                     "; pass the file 'watchfloor roster sign' wrote"));
    }
    absl::StatusOr<certs::Roster> anchor = certs::Roster::VerifyGenesis(*env);
    if (!anchor.ok()) {
      return UsageError(absl::StrCat("roster file ", path, " is not a valid roster: ",
                                     anchor.status().message(),
                                     "; check it with 'watchfloor roster verify --in ", path,
                                     "'"));
    }
    flags.anchor.emplace(*std::move(anchor));
  }

  if (args.Has("node")) {
    if (!args.positional().empty()) {
      return UsageError("give either BUNDLE_FILE or --node, not both");
    }
    flags.bundle_path = absl::StrCat("node ", args.Get("node"));
    // Checked before dialing, as the node would check them.
    if (absl::StatusOr<google::protobuf::RepeatedPtrField<watchfloor::v1::Filter>> f =
            ParseFilterFlags(args.GetAll("filter"));
        !f.ok()) {
      return UsageError(std::string(f.status().message().substr(7)));  // minus "usage: "
    }
    // With --since, ask the node for consistency proofs from its checkpoints.
    std::vector<watchfloor::v1::ExportSince> since;
    if (flags.since) {
      std::vector<std::string> notes;
      for (const auto& cp : flags.since->checkpoints()) notes.push_back(cp.note());
      absl::StatusOr<std::vector<watchfloor::v1::ExportSince>> sizes =
          SinceSizesOf(notes, absl::StrCat("--since ", args.Get("since")));
      if (!sizes.ok()) return UsageError(std::string(sizes.status().message()));
      since = *std::move(sizes);
    }
    // Whatever the node answers is its failure (exit 1), not a usage error.
    absl::StatusOr<std::string> data = FetchBundle(args, args.GetAll("filter"), since);
    if (!data.ok()) {
      return PrintError(absl::Status(
          data.status().code(), absl::StrCat("exporting from ", flags.bundle_path, ": ",
                                             data.status().message())));
    }
    watchfloor::v1::AuditBundle bundle;
    if (!bundle.ParseFromString(*data)) {
      return PrintError(absl::DataLossError(absl::StrCat(
          flags.bundle_path, " sent a bundle that does not parse; try again")));
    }
    return AuditBundleAndReport(bundle, flags);
  }
  if (args.Has("filter")) {
    return UsageError("--filter applies to --node; a bundle file was filtered when exported");
  }

  if (args.positional().empty()) {
    return UsageError("missing BUNDLE_FILE; see 'watchfloor audit --help'");
  }
  flags.bundle_path = args.positional()[0];
  std::string why;
  std::optional<std::string> data = ReadWholeFile(flags.bundle_path, &why);
  if (!data) {
    return UsageError(absl::StrCat("cannot read bundle ", flags.bundle_path, ": ", why));
  }
  watchfloor::v1::AuditBundle bundle;
  if (!bundle.ParseFromString(*data)) {
    return UsageError(absl::StrCat(
        "bundle ", flags.bundle_path, " (", data->size(),
        " bytes) is not a serialized watchfloor.v1.AuditBundle; is it truncated, or "
        "another file? Export it again with 'watchfloor export'"));
  }
  data.reset();  // the bytes live on in `bundle`; do not hold them twice
  return AuditBundleAndReport(bundle, flags);
}

}  // namespace watchfloor::cli
