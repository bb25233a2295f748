// certs/encryption_key.h: X25519 keys, their PEM files and file modes.
#include "certs/encryption_key.h"

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "certs/ids.h"
#include "certs/keys.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace watchfloor::certs {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

std::string H(absl::string_view hex) {
  absl::StatusOr<std::string> bytes = HexDecode(hex);
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  return bytes.ok() ? *bytes : std::string();
}

mode_t FileMode(const std::string& path) {
  struct stat st;
  EXPECT_EQ(stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

// A fresh directory per test, removed with its contents at the end.
class ScopedTempDir {
 public:
  ScopedTempDir() {
    std::string tmpl = testing::TempDir() + "/encryption_key_test.XXXXXX";
    EXPECT_NE(mkdtemp(tmpl.data()), nullptr) << tmpl;
    path_ = tmpl;
  }
  ScopedTempDir(const ScopedTempDir&) = delete;
  ScopedTempDir& operator=(const ScopedTempDir&) = delete;
  ~ScopedTempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// RFC 7748 section 6.1: Alice's and Bob's keys and their shared secret.
constexpr char kAlicePrivate[] =
    "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a";
constexpr char kAlicePublic[] =
    "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";
constexpr char kBobPrivate[] =
    "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb";
constexpr char kBobPublic[] =
    "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f";
constexpr char kShared[] =
    "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";

TEST(EncryptionKeyTest, Rfc7748DiffieHellmanVector) {
  const EncryptionKey alice = *EncryptionKey::FromRaw(H(kAlicePrivate));
  const EncryptionKey bob = *EncryptionKey::FromRaw(H(kBobPrivate));
  EXPECT_EQ(HexEncode(alice.public_key().raw()), kAlicePublic);
  EXPECT_EQ(HexEncode(bob.public_key().raw()), kBobPublic);
  EXPECT_EQ(HexEncode(*alice.DiffieHellman(bob.public_key())), kShared);
  EXPECT_EQ(HexEncode(*bob.DiffieHellman(alice.public_key())), kShared);
  EXPECT_EQ(HexEncode(alice.ExportRaw()), kAlicePrivate);
}

TEST(EncryptionKeyTest, GenerateGivesDistinctWorkingKeys) {
  const EncryptionKey a = EncryptionKey::Generate();
  const EncryptionKey b = EncryptionKey::Generate();
  EXPECT_NE(a.public_key(), b.public_key());
  EXPECT_EQ(*a.DiffieHellman(b.public_key()), *b.DiffieHellman(a.public_key()));
}

TEST(EncryptionKeyTest, PemRoundTripAndKeyId) {
  const EncryptionKey key = *EncryptionKey::FromRaw(H(kAlicePrivate));
  const std::string pem = key.ToPem();
  EXPECT_THAT(pem, StartsWith("-----BEGIN PRIVATE KEY-----\n"));
  absl::StatusOr<EncryptionKey> back = EncryptionKey::FromPem(pem);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->ExportRaw(), key.ExportRaw());
  const std::string pub_pem = key.public_key().ToPem();
  EXPECT_THAT(pub_pem, StartsWith("-----BEGIN PUBLIC KEY-----\n"));
  absl::StatusOr<EncryptionPublicKey> pub = EncryptionPublicKey::FromPem(pub_pem);
  ASSERT_TRUE(pub.ok()) << pub.status();
  EXPECT_EQ(*pub, key.public_key());
  // SPKI DER of X25519 (RFC 8410): 302a300506032b656e032100 || key, and
  // exactly the DER inside OpenSSL's PEM.
  EXPECT_EQ(HexEncode(key.public_key().SpkiDer()),
            absl::StrCat("302a300506032b656e032100", kAlicePublic));
  std::string body;
  for (absl::string_view line : absl::StrSplit(pub_pem, '\n')) {
    if (!line.empty() && line[0] != '-') absl::StrAppend(&body, line);
  }
  std::string der;
  ASSERT_TRUE(absl::Base64Unescape(body, &der));
  EXPECT_EQ(HexEncode(der), HexEncode(key.public_key().SpkiDer()));
  EXPECT_EQ(key.public_key().KeyId(), HexEncode(Sha256(key.public_key().SpkiDer())));
}

TEST(EncryptionKeyTest, WrongSizesAreInvalidArgument) {
  EXPECT_EQ(EncryptionKey::FromRaw(std::string(31, 'x')).status(),
            absl::InvalidArgumentError(
                "X25519 private key must be 32 bytes, got 31"));
  EXPECT_EQ(EncryptionPublicKey::FromRaw(std::string(33, 'x')).status(),
            absl::InvalidArgumentError(
                "X25519 public key must be 32 bytes, got 33"));
}

// No key reuse: an Ed25519 signing key file given as an encryption key is
// refused, and the message says what happened.
TEST(EncryptionKeyTest, Ed25519KeyIsRefusedByName) {
  const SigningKey signing = SigningKey::Generate();
  absl::StatusOr<EncryptionKey> key = EncryptionKey::FromPem(signing.ToPem());
  EXPECT_EQ(key.status(),
            absl::InvalidArgumentError(
                "private key is an Ed25519 signing key, not an X25519 "
                "encryption key (the signing key and the encryption key are "
                "separate keys)"));
  absl::StatusOr<EncryptionPublicKey> pub =
      EncryptionPublicKey::FromPem(signing.public_key().ToPem());
  EXPECT_EQ(pub.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(pub.status().message()), HasSubstr("Ed25519 signing key"));
  // And the other way round: SigningKey refuses an X25519 file.
  const EncryptionKey enc = EncryptionKey::Generate();
  EXPECT_EQ(SigningKey::FromPem(enc.ToPem()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(EncryptionKeyTest, GarbagePemIsInvalidArgument) {
  absl::StatusOr<EncryptionKey> key = EncryptionKey::FromPem("not a key");
  EXPECT_EQ(key.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(key.status().message()),
              StartsWith("not an unencrypted PEM PKCS#8 private key"));
}

TEST(EncryptionKeyFileTest, SaveIs0600AndLoadsBack) {
  const ScopedTempDir tmp;
  const std::string path = tmp.path() + "/node.enc.key";
  const EncryptionKey key = EncryptionKey::Generate();
  ASSERT_TRUE(key.SavePemFile(path).ok());
  EXPECT_EQ(FileMode(path), 0600);
  absl::StatusOr<EncryptionKey> back = EncryptionKey::LoadPemFile(path);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->public_key(), key.public_key());
  const std::string pub_path = tmp.path() + "/node.enc.pub";
  ASSERT_TRUE(key.public_key().SavePemFile(pub_path).ok());
  EXPECT_EQ(FileMode(pub_path), 0644);
  EXPECT_EQ(*EncryptionPublicKey::LoadPemFile(pub_path), key.public_key());
}

TEST(EncryptionKeyFileTest, NeverOverwrites) {
  const ScopedTempDir tmp;
  const std::string path = tmp.path() + "/node.enc.key";
  ASSERT_TRUE(EncryptionKey::Generate().SavePemFile(path).ok());
  const std::string before = ReadFile(path);
  EXPECT_EQ(EncryptionKey::Generate().SavePemFile(path).code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(ReadFile(path), before);
}

TEST(EncryptionKeyFileTest, LooseModeIsPermissionDenied) {
  const ScopedTempDir tmp;
  const std::string path = tmp.path() + "/node.enc.key";
  ASSERT_TRUE(EncryptionKey::Generate().SavePemFile(path).ok());
  ASSERT_EQ(chmod(path.c_str(), 0640), 0);
  EXPECT_EQ(EncryptionKey::LoadPemFile(path).status(),
            absl::PermissionDeniedError(absl::StrCat(
                "key file ", path,
                " is readable by group members (mode 0640); run chmod 600 ",
                path)));
}

TEST(EncryptionKeyFileTest, MissingIsNotFound) {
  const ScopedTempDir tmp;
  const std::string path = tmp.path() + "/absent.key";
  absl::StatusOr<EncryptionKey> key = EncryptionKey::LoadPemFile(path);
  EXPECT_EQ(key.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(key.status().message()), HasSubstr(path));
}

TEST(EncryptionKeyFileTest, SigningKeyFileIsInvalidArgumentNamingThePath) {
  const ScopedTempDir tmp;
  const std::string path = tmp.path() + "/node.key";
  ASSERT_TRUE(SigningKey::Generate().SavePemFile(path).ok());
  absl::StatusOr<EncryptionKey> key = EncryptionKey::LoadPemFile(path);
  EXPECT_EQ(key.status(),
            absl::InvalidArgumentError(absl::StrCat(
                "key file ", path,
                ": private key is an Ed25519 signing key, not an X25519 "
                "encryption key (the signing key and the encryption key are "
                "separate keys)")));
}

// `openssl pkey` reads what we write (the files are standard PKCS#8/SPKI).
TEST(EncryptionKeyFileTest, OpensslCliReadsTheFiles) {
  const ScopedTempDir tmp;
  const std::string path = tmp.path() + "/node.enc.key";
  const EncryptionKey key = *EncryptionKey::FromRaw(H(kAlicePrivate));
  ASSERT_TRUE(key.SavePemFile(path).ok());
  const std::string out = tmp.path() + "/pub.pem";
  const std::string cmd =
      absl::StrCat("openssl pkey -in ", path, " -pubout -out ", out);
  ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
  EXPECT_EQ(ReadFile(out), key.public_key().ToPem());
}

}  // namespace
}  // namespace watchfloor::certs
