#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "certs/keys.h"
#include "certs/status_macros.h"
#include "node/alert_validator.h"
#include "node/cli/commands.h"

namespace watchfloor::cli {

int KeygenCommand(int argc, char** argv) {
  CommandSpec spec{
      "keygen", "", "Create a node's Ed25519 signing key.",
      "Writes DIR/signing.key (PKCS#8 PEM, mode 0600) and DIR/signing.pub\n"
      "(SubjectPublicKeyInfo PEM), and prints the keyid. Never overwrites an\n"
      "existing key. Both files are readable with `openssl pkey`.",
      {{"origin", "MEMBER/NODE", "the origin this key will sign for, e.g. nic.cz/prg1",
        "", false, true},
       {"out", "DIR", "directory for the key files (created mode 0700 if missing)",
        "", false, true}}};
  return RunCommand(spec, argc, argv, [](const ParsedArgs& args) -> absl::Status {
    std::string origin = args.Get("origin");
    absl::Status st = node::ValidateOrigin(origin);
    if (!st.ok()) return absl::InvalidArgumentError(absl::StrCat("usage: --origin: ", st.message()));
    std::string dir = args.Get("out");
    if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
      return absl::FailedPreconditionError(absl::StrCat(
          "cannot create directory ", dir, ": ", std::strerror(errno)));
    }
    certs::SigningKey key = certs::SigningKey::Generate();
    std::string key_path = absl::StrCat(dir, "/signing.key");
    std::string pub_path = absl::StrCat(dir, "/signing.pub");
    // Check both before writing either: a new private key next to someone
    // else's signing.pub would be a pair that does not match.
    for (const std::string& path : {key_path, pub_path}) {
      struct stat st;
      if (lstat(path.c_str(), &st) == 0) {
        return absl::AlreadyExistsError(
            absl::StrCat(path, " already exists; refusing to overwrite it"));
      }
    }
    WF_RETURN_IF_ERROR(key.SavePemFile(key_path));
    absl::Status pub_st = key.public_key().SavePemFile(pub_path);
    if (!pub_st.ok()) {
      unlink(key_path.c_str());  // ours, just created: leave no half pair
      return pub_st;
    }
    std::printf("origin  %s\nkeyid   %s\nprivate %s (mode 0600)\npublic  %s\n",
                origin.c_str(), key.public_key().KeyId().c_str(),
                key_path.c_str(), pub_path.c_str());
    return absl::OkStatus();
  });
}

}  // namespace watchfloor::cli
