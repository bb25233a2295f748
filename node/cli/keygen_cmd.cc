#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "certs/encryption_key.h"
#include "certs/keys.h"
#include "certs/status_macros.h"
#include "node/alert_validator.h"
#include "node/cli/commands.h"

namespace watchfloor::cli {

int KeygenCommand(int argc, char** argv) {
  CommandSpec spec{
      "keygen", "", "Create a node's Ed25519 signing key and X25519 encryption key.",
      "Writes DIR/signing.key (PKCS#8 PEM, mode 0600) and DIR/signing.pub\n"
      "(SubjectPublicKeyInfo PEM), the key that signs the node's alerts, and\n"
      "DIR/encryption.key (mode 0600) and DIR/encryption.pub, the X25519 key\n"
      "that TLP:AMBER+STRICT and TLP:RED alerts are sealed to: two keys for two\n"
      "purposes. The node's config names them as signing_key_file and\n"
      "encryption_key_file; its roster entry lists the public halves as\n"
      "signing_key_pem and encryption_key_pem. Prints the keyids. Never\n"
      "overwrites an existing key: --encryption-only adds just the encryption\n"
      "key to an existing node's DIR. Every file is readable with `openssl pkey`.",
      {{"origin", "MEMBER/NODE", "the origin these keys are for, e.g. nic.cz/prg1",
        "", false, true},
       {"out", "DIR", "directory for the key files (created mode 0700 if missing)",
        "", false, true},
       {"encryption-only", "", "write only encryption.key and encryption.pub"}}};
  return RunCommand(spec, argc, argv, [](const ParsedArgs& args) -> absl::Status {
    std::string origin = args.Get("origin");
    absl::Status st = node::ValidateOrigin(origin);
    if (!st.ok()) return absl::InvalidArgumentError(absl::StrCat("usage: --origin: ", st.message()));
    std::string dir = args.Get("out");
    if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
      return absl::FailedPreconditionError(absl::StrCat(
          "cannot create directory ", dir, ": ", std::strerror(errno)));
    }
    const bool signing = !args.Has("encryption-only");
    const std::string key_path = absl::StrCat(dir, "/signing.key");
    const std::string pub_path = absl::StrCat(dir, "/signing.pub");
    const std::string enc_key_path = absl::StrCat(dir, "/encryption.key");
    const std::string enc_pub_path = absl::StrCat(dir, "/encryption.pub");
    std::vector<std::string> paths = {enc_key_path, enc_pub_path};
    if (signing) paths.insert(paths.begin(), {key_path, pub_path});
    // Check every file before writing any: a new private key next to someone
    // else's public key would be a pair that does not match.
    for (const std::string& path : paths) {
      struct stat sb;
      if (lstat(path.c_str(), &sb) == 0) {
        return absl::AlreadyExistsError(
            absl::StrCat(path, " already exists; refusing to overwrite it"));
      }
    }
    // Whatever this run wrote is removed if a later file fails: leave no
    // half set.
    std::vector<std::string> written;
    auto undo = [&written](absl::Status failure) {
      for (const std::string& p : written) unlink(p.c_str());
      return failure;
    };
    std::printf("origin  %s\n", origin.c_str());
    if (signing) {
      certs::SigningKey key = certs::SigningKey::Generate();
      WF_RETURN_IF_ERROR(key.SavePemFile(key_path));
      written.push_back(key_path);
      if (absl::Status s = key.public_key().SavePemFile(pub_path); !s.ok()) return undo(s);
      written.push_back(pub_path);
      std::printf("keyid   %s\nprivate %s (mode 0600)\npublic  %s\n",
                  key.public_key().KeyId().c_str(), key_path.c_str(), pub_path.c_str());
    }
    certs::EncryptionKey enc = certs::EncryptionKey::Generate();
    if (absl::Status s = enc.SavePemFile(enc_key_path); !s.ok()) return undo(s);
    written.push_back(enc_key_path);
    if (absl::Status s = enc.public_key().SavePemFile(enc_pub_path); !s.ok()) return undo(s);
    std::printf("encryption keyid   %s\nencryption private %s (mode 0600)\n"
                "encryption public  %s\n",
                enc.public_key().KeyId().c_str(), enc_key_path.c_str(), enc_pub_path.c_str());
    return absl::OkStatus();
  });
}

}  // namespace watchfloor::cli
