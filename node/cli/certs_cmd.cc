// `watchfloor certs <ca|node|client>`: mint a member's TLS CA and the node
// and client certificates it issues (docs/FEDERATION.md, "Certificates and
// identities").
#include <errno.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "certs/roster.h"
#include "certs/status_macros.h"
#include "certs/x509.h"
#include "node/cli/commands.h"

namespace watchfloor::cli {
namespace {

// Certificates start a little in the past so that a peer whose clock runs
// slightly behind accepts them at once.
constexpr absl::Duration kBackdate = absl::Minutes(5);

absl::StatusOr<int> Days(const ParsedArgs& args) {
  int days = 0;
  const std::string text = args.Get("days");
  if (!absl::SimpleAtoi(text, &days) || days < 1 || days > 36500) {
    return absl::InvalidArgumentError(absl::StrCat(
        "usage: --days \"", text, "\" must be a whole number of days, 1..36500"));
  }
  return days;
}

absl::Status MakeDir(const std::string& dir) {
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot create directory ", dir, ": ", std::strerror(errno)));
  }
  return absl::OkStatus();
}

std::string Day(absl::Time t) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%SZ", t, absl::UTCTimeZone());
}

// Loads DIR/ca.key + DIR/ca.crt and the latest not_after a leaf may have.
struct LoadedCa {
  certs::KeyAndCert kc;
  certs::CertInfo info;
};
absl::StatusOr<LoadedCa> LoadCa(const std::string& dir,
                                absl::string_view member) {
  LoadedCa ca;
  absl::StatusOr<certs::KeyAndCert> kc =
      certs::LoadKeyAndCert(dir + "/ca.key", dir + "/ca.crt");
  if (kc.status().code() == absl::StatusCode::kNotFound) {
    return absl::NotFoundError(absl::StrCat(
        kc.status().message(), "; create the CA with 'watchfloor certs ca --member ",
        member, " --out ", dir, "'"));
  }
  if (!kc.ok()) return kc.status();
  ca.kc = *std::move(kc);
  absl::Status st = certs::ValidateMemberCa(ca.kc.cert_pem, member);
  if (!st.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "CA ", dir, "/ca.crt cannot issue for member ", member, ": ",
        st.message(), "; use the CA made by 'watchfloor certs ca --member ",
        member, "'"));
  }
  WF_ASSIGN_OR_RETURN(ca.info, certs::DescribeCertificate(ca.kc.cert_pem));
  return ca;
}

// The leaf's validity: `days` from now, but never past the CA's own end
// (a leaf outliving its CA would just stop verifying then).
void LeafValidity(const LoadedCa& ca, int days, absl::Time* not_before,
                  absl::Time* not_after) {
  const absl::Time now = absl::Now();
  *not_before = std::max(now - kBackdate, ca.info.not_before);
  *not_after = now + absl::Hours(24) * days;
  if (*not_after > ca.info.not_after) {
    std::fprintf(stderr, "note: the CA expires at %s; the certificate ends then too\n",
                 Day(ca.info.not_after).c_str());
    *not_after = ca.info.not_after;
  }
}

absl::Status SaveAndReport(const certs::KeyAndCert& kc, const std::string& dir,
                           const std::string& stem) {
  const std::string key = absl::StrCat(dir, "/", stem, ".key");
  const std::string crt = absl::StrCat(dir, "/", stem, ".crt");
  WF_RETURN_IF_ERROR(certs::SaveKeyAndCert(kc, key, crt));
  WF_ASSIGN_OR_RETURN(certs::CertInfo info, certs::DescribeCertificate(kc.cert_pem));
  std::printf("subject     %s\nissuer      %s\n", info.subject.c_str(),
              info.issuer.c_str());
  for (const std::string& uri : info.uri_sans) std::printf("uri san     %s\n", uri.c_str());
  for (const std::string& dns : info.dns_sans) std::printf("dns san     %s\n", dns.c_str());
  std::printf("valid       %s .. %s\nsha256      %s\nprivate     %s (mode 0600)\n"
              "certificate %s\n",
              Day(info.not_before).c_str(), Day(info.not_after).c_str(),
              info.sha256_fingerprint.c_str(), key.c_str(), crt.c_str());
  return absl::OkStatus();
}

int Ca(int argc, char** argv) {
  CommandSpec spec{
      "certs ca", "", "Create a member's TLS certificate authority.",
      "Writes DIR/ca.key (PKCS#8 PEM, P-256, mode 0600) and DIR/ca.crt: a\n"
      "self-signed CA (CA:TRUE, pathlen 0) with subject CN=MEMBER and URI SAN\n"
      "spiffe://watchfloor/MEMBER. Never overwrites. ca.crt goes into the\n"
      "roster (ca_cert_pem: \"@DIR/ca.crt\"); keep ca.key offline.",
      {{"member", "NAME", "the member, e.g. nic.cz", "", false, true},
       {"out", "DIR", "directory for ca.key and ca.crt (created if missing)", "", false, true},
       {"days", "N", "validity in days", "3650"}}};
  return RunCommand(spec, argc, argv, [](const ParsedArgs& args) -> absl::Status {
    const std::string member = args.Get("member");
    absl::Status st = certs::ValidateMemberName(member);
    if (!st.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("usage: --member: ", st.message()));
    }
    WF_ASSIGN_OR_RETURN(int days, Days(args));
    const std::string dir = args.Get("out");
    WF_RETURN_IF_ERROR(MakeDir(dir));
    const absl::Time now = absl::Now();
    WF_ASSIGN_OR_RETURN(certs::KeyAndCert ca,
                        certs::MintMemberCa(member, now - kBackdate,
                                            now + absl::Hours(24) * days));
    return SaveAndReport(ca, dir, "ca");
  });
}

int NodeCert(int argc, char** argv) {
  CommandSpec spec{
      "certs node", "", "Issue a node's TLS certificate from its member's CA.",
      "Writes DIR/node.key (P-256, mode 0600) and DIR/node.crt with URI SAN\n"
      "spiffe://watchfloor/MEMBER/NODE, DNS SAN NODE.MEMBER.watchfloor (peers\n"
      "dial with that as the TLS target name) and EKU serverAuth+clientAuth.\n"
      "The CA in --ca-dir must be MEMBER's. Never overwrites.",
      {{"ca-dir", "DIR", "the member's CA directory (ca.key, ca.crt)", "", false, true},
       {"origin", "MEMBER/NODE", "the node, e.g. nic.cz/prg1", "", false, true},
       {"out", "DIR", "directory for node.key and node.crt (created if missing)", "",
        false, true},
       {"days", "N", "validity in days (at most the CA's)", "825"}}};
  return RunCommand(spec, argc, argv, [](const ParsedArgs& args) -> absl::Status {
    const std::string origin = args.Get("origin");
    absl::Status st = certs::ValidateOrigin(origin);
    if (!st.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("usage: --origin: ", st.message()));
    }
    WF_ASSIGN_OR_RETURN(int days, Days(args));
    const std::string member = origin.substr(0, origin.find('/'));
    const std::string node = origin.substr(origin.find('/') + 1);
    WF_ASSIGN_OR_RETURN(LoadedCa ca, LoadCa(args.Get("ca-dir"), member));
    absl::Time not_before, not_after;
    LeafValidity(ca, days, &not_before, &not_after);
    const std::string dir = args.Get("out");
    WF_RETURN_IF_ERROR(MakeDir(dir));
    WF_ASSIGN_OR_RETURN(certs::KeyAndCert kc,
                        certs::MintNodeCert(ca.kc, member, node, not_before, not_after));
    return SaveAndReport(kc, dir, "node");
  });
}

int ClientCert(int argc, char** argv) {
  CommandSpec spec{
      "certs client", "", "Issue a client certificate from a member's CA.",
      "Writes DIR/client.key (P-256, mode 0600) and DIR/client.crt with URI\n"
      "SAN spiffe://watchfloor/MEMBER/client/NAME and EKU clientAuth. Such a\n"
      "client may publish only through MEMBER's own nodes. Never overwrites.",
      {{"ca-dir", "DIR", "the member's CA directory (ca.key, ca.crt)", "", false, true},
       {"member", "NAME", "the member, e.g. nic.cz", "", false, true},
       {"name", "NAME", "the client's name, lowercase DNS labels, e.g. soc-bot", "",
        false, true},
       {"out", "DIR", "directory for client.key and client.crt (created if missing)",
        "", false, true},
       {"days", "N", "validity in days (at most the CA's)", "825"}}};
  return RunCommand(spec, argc, argv, [](const ParsedArgs& args) -> absl::Status {
    const std::string member = args.Get("member");
    const std::string name = args.Get("name");
    absl::Status st = certs::ValidateMemberName(member);
    if (!st.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("usage: --member: ", st.message()));
    }
    st = certs::ValidateMemberName(name);
    if (!st.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("usage: --name: ", st.message()));
    }
    WF_ASSIGN_OR_RETURN(int days, Days(args));
    WF_ASSIGN_OR_RETURN(LoadedCa ca, LoadCa(args.Get("ca-dir"), member));
    absl::Time not_before, not_after;
    LeafValidity(ca, days, &not_before, &not_after);
    const std::string dir = args.Get("out");
    WF_RETURN_IF_ERROR(MakeDir(dir));
    WF_ASSIGN_OR_RETURN(certs::KeyAndCert kc,
                        certs::MintClientCert(ca.kc, member, name, not_before, not_after));
    return SaveAndReport(kc, dir, "client");
  });
}

const std::vector<Subcommand>& Subcommands() {
  static const auto* subs = new std::vector<Subcommand>{
      {"ca", Ca, "create a member's TLS CA (ca.key, ca.crt)"},
      {"node", NodeCert, "issue a node certificate (node.key, node.crt)"},
      {"client", ClientCert, "issue a client certificate (client.key, client.crt)"},
  };
  return *subs;
}

}  // namespace

int CertsCommand(int argc, char** argv) {
  return DispatchSubcommand(
      "certs",
      "Mutual TLS: each member is its own CA; certificates name "
      "identities as\nspiffe://watchfloor/<member>/<node> and "
      "spiffe://watchfloor/<member>/client/<name>.",
      Subcommands(), argc, argv);
}

}  // namespace watchfloor::cli
