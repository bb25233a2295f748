#include <cstdio>
#include <iostream>
#include <string>

#include "absl/strings/str_cat.h"
#include "certs/dsse.h"
#include "certs/ids.h"
#include "certs/keys.h"
#include "certs/status_macros.h"
#include "node/alert_validator.h"
#include "node/cli/commands.h"
#include "watchfloor/v1/alert.pb.h"

namespace watchfloor::cli {
namespace {

// The verdict for one DSSE JSON line: OK with a summary, or why not.
absl::StatusOr<std::string> VerifyLine(const std::string& line,
                                       const certs::PublicKey& key,
                                       const std::string& expect_origin) {
  WF_ASSIGN_OR_RETURN(watchfloor::v1::Envelope env, certs::EnvelopeFromJson(line));
  WF_RETURN_IF_ERROR(certs::VerifyEnvelope(env, key));
  watchfloor::v1::Alert alert;
  if (!alert.ParseFromString(env.payload())) {
    return absl::InvalidArgumentError("payload is not a watchfloor.v1.Alert");
  }
  WF_RETURN_IF_ERROR(node::ValidateSigned(alert));
  if (!expect_origin.empty() && alert.origin() != expect_origin) {
    return absl::UnauthenticatedError(absl::StrCat(
        "signed by the key, but for origin ", alert.origin(), ", not ", expect_origin));
  }
  return absl::StrCat(certs::AlertId(env.payload()), " ", alert.origin(), " #",
                      alert.sequence());
}

}  // namespace

int VerifyCommand(int argc, char** argv) {
  CommandSpec spec{
      "verify", "", "Verify DSSE envelopes offline, one JSON envelope per stdin line.",
      "Checks each line's Ed25519 signature over PAE(payloadType, payload)\n"
      "against --pubkey, and that the payload is a well-formed alert. Needs\n"
      "no node. Prints 'ok' or 'FAIL' per line; exits 1 if any line fails.\n\n"
      "  watchfloor subscribe --replay-only --output dsse | \\\n"
      "    watchfloor verify --pubkey signing.pub",
      {{"pubkey", "FILE", "origin's public key (PEM SubjectPublicKeyInfo)", "", false, true},
       {"origin", "MEMBER/NODE", "also require this origin in every alert"}}};
  return RunCommand(spec, argc, argv, [](const ParsedArgs& args) -> absl::Status {
    WF_ASSIGN_OR_RETURN(certs::PublicKey key,
                        certs::PublicKey::LoadPemFile(args.Get("pubkey")));
    std::string line;
    int n = 0, failed = 0, checked = 0;
    while (std::getline(std::cin, line)) {
      ++n;
      if (line.empty()) continue;
      ++checked;
      absl::StatusOr<std::string> v = VerifyLine(line, key, args.Get("origin"));
      if (v.ok()) {
        std::printf("line %d: ok %s\n", n, v->c_str());
      } else {
        ++failed;
        std::printf("line %d: FAIL %s: %s\n", n,
                    absl::StatusCodeToString(v.status().code()).c_str(),
                    std::string(v.status().message()).c_str());
      }
    }
    std::fflush(stdout);
    if (checked == 0) {
      return absl::InvalidArgumentError("no envelopes on stdin");
    }
    if (failed > 0) {
      return absl::UnauthenticatedError(
          absl::StrCat(failed, " of ", checked, " envelopes failed verification"));
    }
    std::fprintf(stderr, "all %d envelopes verified with key %s\n", checked,
                 key.KeyId().c_str());
    return absl::OkStatus();
  });
}

}  // namespace watchfloor::cli
