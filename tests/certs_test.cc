// Tests for certs/: key files, ids, DSSE envelopes, and the worked protocol
// test vector in tests/testdata/protocol_vector (see docs/PROTOCOL.md).
//
// To regenerate the vector after an intentional protocol change:
//   WF_REGENERATE_VECTOR=1 build/tests/certs_test --gtest_filter='Protocol*'
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "certs/dsse.h"
#include "certs/ids.h"
#include "certs/keys.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "watchfloor/v1/alert.pb.h"

namespace watchfloor::certs {
namespace {

using ::testing::HasSubstr;

// ------------------------------------------------------------ test helpers

std::string Unhex(absl::string_view hex) {
  absl::StatusOr<std::string> bytes = HexDecode(hex);
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  return bytes.ok() ? *bytes : std::string();
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot read " << path;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

void WriteFile(const std::string& path, absl::string_view data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
  ASSERT_TRUE(out.good()) << "cannot write " << path;
}

mode_t FileMode(const std::string& path) {
  struct stat st;
  EXPECT_EQ(stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

// A fresh directory per test (ctest runs test cases in parallel), removed
// with its contents when the test ends.
class ScopedTempDir {
 public:
  ScopedTempDir() {
    std::string tmpl = testing::TempDir() + "/certs_test.XXXXXX";
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

// A key whose seed is 0x00..0x1f: the protocol vector's key.
SigningKey VectorKey() {
  std::string seed;
  for (int i = 0; i < 32; ++i) seed.push_back(static_cast<char>(i));
  return *SigningKey::FromSeed(seed);
}

// Foreign key types, made with `openssl genpkey`; all must be refused.
constexpr char kRsaPrivatePem[] = R"(-----BEGIN PRIVATE KEY-----
MIIBVAIBADANBgkqhkiG9w0BAQEFAASCAT4wggE6AgEAAkEArho/92VeoLPmneIx
4KTknRRa4JNF5cdRCn38SZgdBvWrrtnN+vUCVN4FfY15nN+Zraj5SYPUmJyRY+y3
8npxPQIDAQABAkBqlWVdljBVH21qcIRqa2gNhd2QqHhdECVbz/74KuhyTkZ5/InV
uEEljW7pw4+/KDz2r5RfH9KVbjltIHDTT6u9AiEA5UsaKSGsJBsFLSgABgMFs3Ll
8ves8xQxWmUdASXxexsCIQDCYYJGiLVnk/8JdTrMk0KPqB380Hgv1RQUt0wgDnny
hwIgJHE7Ry5C3botqG+jEVGJpmusgGE866VZ8rP/WB9fseECICRJI5KbLpH5VKCl
W6aYztIWZhKtr+Ht+uOrG/DYAve9AiEAuyMQenLUAFbcW1OO7/R85jAbz/ya+0x2
flRHRiqpCi4=
-----END PRIVATE KEY-----
)";
constexpr char kP256PrivatePem[] = R"(-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg2Hu+sQv+wrR/o0O0
koSVjDvGiF5lZTWweE658FgRc3ehRANCAASvxS+ZFJPE4vgZsimb1CHmHKG2mTCP
v13ky2c7ncup6I4+MYHUH/nuVSU/H3nOKSHUgxFwTX+JpsLn5nNT2dp9
-----END PRIVATE KEY-----
)";
constexpr char kP256PublicPem[] = R"(-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEr8UvmRSTxOL4GbIpm9Qh5hyhtpkw
j79d5MtnO53LqeiOPjGB1B/57lUlPx95zikh1IMRcE1/iabC5+ZzU9nafQ==
-----END PUBLIC KEY-----
)";
// X25519 keys have the same 32-byte size as Ed25519: only the type differs.
constexpr char kX25519PrivatePem[] = R"(-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VuBCIEIEjNKo7mV7LashRQmgO4/mbAxn06jEvffob1pyxK/pdP
-----END PRIVATE KEY-----
)";
constexpr char kX25519PublicPem[] = R"(-----BEGIN PUBLIC KEY-----
MCowBQYDK2VuAyEARmtsDZORCMnOMNgaxmy0xWBeKU6QGa8qNWyLoPOmI10=
-----END PUBLIC KEY-----
)";
// An Ed25519 key encrypted with password "x": refused, never prompted for.
constexpr char kEncryptedEd25519Pem[] = R"(-----BEGIN ENCRYPTED PRIVATE KEY-----
MIGbMFcGCSqGSIb3DQEFDTBKMCkGCSqGSIb3DQEFDDAcBAixgZJFY4f6sQICCAAw
DAYIKoZIhvcNAgkFADAdBglghkgBZQMEAQIEENY1Jpl+ZVQGWQjgSXcT2/sEQMt7
rxNtIZy13cjIQp4hwMIBL7HI9QJ+scw+fLh8P2Kt+eAEqwNAMVvt6CZvy3t1KPbq
tXDeuuVcwsMySJ//MeU=
-----END ENCRYPTED PRIVATE KEY-----
)";

// -------------------------------------------------------------- key files

TEST(KeysTest, SavedKeyLoadsBackAndSignsTheSame) {
  const ScopedTempDir tmp;
  const std::string& dir = tmp.path();
  SigningKey key = SigningKey::Generate();
  ASSERT_TRUE(key.SavePemFile(dir + "/node.key").ok());
  ASSERT_TRUE(key.public_key().SavePemFile(dir + "/node.pub").ok());

  absl::StatusOr<SigningKey> loaded =
      SigningKey::LoadPemFile(dir + "/node.key");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->public_key(), key.public_key());
  EXPECT_EQ(loaded->Sign("m"), key.Sign("m"));

  absl::StatusOr<PublicKey> pub = PublicKey::LoadPemFile(dir + "/node.pub");
  ASSERT_TRUE(pub.ok()) << pub.status();
  EXPECT_EQ(*pub, key.public_key());
  EXPECT_EQ(pub->KeyId(), key.public_key().KeyId());
}

TEST(KeysTest, PrivateKeyFileIsCreatedOwnerOnly) {
  const ScopedTempDir tmp;
  const std::string& dir = tmp.path();
  const mode_t old_umask = umask(0);  // 0600 must not depend on the umask.
  absl::Status status = SigningKey::Generate().SavePemFile(dir + "/node.key");
  umask(old_umask);
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(FileMode(dir + "/node.key"), 0600u);
  EXPECT_TRUE(absl::StartsWith(ReadFile(dir + "/node.key"),
                               "-----BEGIN PRIVATE KEY-----\n"));
}

TEST(KeysTest, PublicKeyFileIsWorldReadable) {
  const ScopedTempDir tmp;
  const std::string& dir = tmp.path();
  const mode_t old_umask = umask(077);
  absl::Status status =
      SigningKey::Generate().public_key().SavePemFile(dir + "/node.pub");
  umask(old_umask);
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(FileMode(dir + "/node.pub"), 0644u);
  EXPECT_TRUE(absl::StartsWith(ReadFile(dir + "/node.pub"),
                               "-----BEGIN PUBLIC KEY-----\n"));
}

struct LooseMode {
  mode_t mode;
  const char* expected_phrase;
};

class LooseKeyFileModeTest : public testing::TestWithParam<LooseMode> {};

TEST_P(LooseKeyFileModeTest, KeyFileAccessibleByOthersIsRefused) {
  const ScopedTempDir tmp;
  const std::string& dir = tmp.path();
  const std::string path = dir + "/node.key";
  ASSERT_TRUE(SigningKey::Generate().SavePemFile(path).ok());
  ASSERT_EQ(chmod(path.c_str(), GetParam().mode), 0);

  absl::StatusOr<SigningKey> key = SigningKey::LoadPemFile(path);
  EXPECT_EQ(key.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(key.status().message(), HasSubstr("chmod 600 " + path));
  EXPECT_THAT(key.status().message(), HasSubstr(GetParam().expected_phrase));
}

INSTANTIATE_TEST_SUITE_P(
    Modes, LooseKeyFileModeTest,
    testing::Values(LooseMode{0644, "is readable by others (mode 0644)"},
                    LooseMode{0640, "is readable by group members (mode 0640)"},
                    LooseMode{0620, "is writable by group members (mode 0620)"},
                    LooseMode{0604, "is readable by others (mode 0604)"},
                    LooseMode{0601, "is accessible by others (mode 0601)"}),
    [](const testing::TestParamInfo<LooseMode>& info) {
      return absl::StrCat("Mode0", info.param.mode >> 6,
                          (info.param.mode >> 3) & 7, info.param.mode & 7);
    });

TEST(KeysTest, WorldReadableKeyFileIsRefusedWithExactMessage) {
  const ScopedTempDir tmp;
  const std::string& dir = tmp.path();
  const std::string path = dir + "/node.key";
  ASSERT_TRUE(SigningKey::Generate().SavePemFile(path).ok());
  ASSERT_EQ(chmod(path.c_str(), 0644), 0);
  EXPECT_EQ(SigningKey::LoadPemFile(path).status(),
            absl::PermissionDeniedError(absl::StrCat(
                "key file ", path,
                " is readable by others (mode 0644); run chmod 600 ", path)));
}

TEST(KeysTest, OwnerReadOnlyKeyFileIsAccepted) {
  const ScopedTempDir tmp;
  const std::string& dir = tmp.path();
  const std::string path = dir + "/node.key";
  ASSERT_TRUE(SigningKey::Generate().SavePemFile(path).ok());
  ASSERT_EQ(chmod(path.c_str(), 0400), 0);
  EXPECT_TRUE(SigningKey::LoadPemFile(path).ok());
}

TEST(KeysTest, MissingKeyFileIsNotFoundAndSuggestsKeygen) {
  const ScopedTempDir tmp;
  const std::string path = tmp.path() + "/absent.key";
  absl::StatusOr<SigningKey> key = SigningKey::LoadPemFile(path);
  EXPECT_EQ(key.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(key.status().message(), HasSubstr(path));
  EXPECT_THAT(key.status().message(), HasSubstr("watchfloor keygen"));
}

TEST(KeysTest, MissingPublicKeyFileIsNotFound) {
  const ScopedTempDir tmp;
  const std::string path = tmp.path() + "/absent.pub";
  absl::StatusOr<PublicKey> key = PublicKey::LoadPemFile(path);
  EXPECT_EQ(key.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(key.status().message(), HasSubstr(path));
}

TEST(KeysTest, SavePemFileNeverOverwritesAKey) {
  const ScopedTempDir tmp;
  const std::string path = tmp.path() + "/node.key";
  SigningKey first = SigningKey::Generate();
  ASSERT_TRUE(first.SavePemFile(path).ok());
  const std::string before = ReadFile(path);

  absl::Status status = SigningKey::Generate().SavePemFile(path);
  EXPECT_EQ(status.code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(status.message(), HasSubstr(path));
  EXPECT_EQ(ReadFile(path), before);
}

TEST(KeysTest, PublicKeySavePemFileNeverOverwrites) {
  const ScopedTempDir tmp;
  const std::string path = tmp.path() + "/node.pub";
  WriteFile(path, "keep me");
  EXPECT_EQ(SigningKey::Generate().public_key().SavePemFile(path).code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(ReadFile(path), "keep me");
}

TEST(KeysTest, GarbagePemIsInvalidArgument) {
  for (absl::string_view pem :
       {absl::string_view(""), absl::string_view("not a key"),
        absl::string_view("-----BEGIN PRIVATE KEY-----\nAAAA\n"
                          "-----END PRIVATE KEY-----\n")}) {
    EXPECT_EQ(SigningKey::FromPem(pem).status().code(),
              absl::StatusCode::kInvalidArgument)
        << pem;
    EXPECT_EQ(PublicKey::FromPem(pem).status().code(),
              absl::StatusCode::kInvalidArgument)
        << pem;
  }
}

TEST(KeysTest, GarbageKeyFileIsInvalidArgumentNamingThePath) {
  const ScopedTempDir tmp;
  const std::string path = tmp.path() + "/node.key";
  WriteFile(path, "garbage\n");
  ASSERT_EQ(chmod(path.c_str(), 0600), 0);
  absl::StatusOr<SigningKey> key = SigningKey::LoadPemFile(path);
  EXPECT_EQ(key.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(key.status().message(), HasSubstr(path));
}

TEST(KeysTest, NonEd25519PrivateKeysAreInvalidArgument) {
  for (const char* pem : {kRsaPrivatePem, kP256PrivatePem, kX25519PrivatePem}) {
    absl::StatusOr<SigningKey> key = SigningKey::FromPem(pem);
    EXPECT_EQ(key.status().code(), absl::StatusCode::kInvalidArgument) << pem;
    EXPECT_THAT(key.status().message(), HasSubstr("not an Ed25519 key"));
  }
}

TEST(KeysTest, RsaKeyFileIsInvalidArgument) {
  const ScopedTempDir tmp;
  const std::string path = tmp.path() + "/rsa.key";
  WriteFile(path, kRsaPrivatePem);
  ASSERT_EQ(chmod(path.c_str(), 0600), 0);
  absl::StatusOr<SigningKey> key = SigningKey::LoadPemFile(path);
  EXPECT_EQ(key.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(key.status().message(), HasSubstr("RSA"));
}

TEST(KeysTest, NonEd25519PublicKeysAreInvalidArgument) {
  for (const char* pem : {kP256PublicPem, kX25519PublicPem}) {
    EXPECT_EQ(PublicKey::FromPem(pem).status().code(),
              absl::StatusCode::kInvalidArgument)
        << pem;
  }
}

TEST(KeysTest, EncryptedPrivateKeyIsRefusedWithoutPrompting) {
  EXPECT_EQ(SigningKey::FromPem(kEncryptedEd25519Pem).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(KeysTest, WrongSizedRawInputIsInvalidArgument) {
  EXPECT_EQ(SigningKey::FromSeed(std::string(31, 'a')).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PublicKey::FromRaw(std::string(33, 'a')).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PublicKey::FromSpkiDer("\x30\x00").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(KeysTest, SpkiDerHasTrailingBytesRefused) {
  const std::string der = VectorKey().public_key().SpkiDer() + "x";
  EXPECT_EQ(PublicKey::FromSpkiDer(der).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// RFC 8032 section 7.1, TEST 1: empty message.
TEST(KeysTest, Rfc8032TestVector1) {
  absl::StatusOr<SigningKey> key = SigningKey::FromSeed(Unhex(
      "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"));
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(HexEncode(key->public_key().raw()),
            "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
  const std::string sig = key->Sign("");
  EXPECT_EQ(HexEncode(sig),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
            "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b");
  EXPECT_TRUE(key->public_key().Verify("", sig));
  EXPECT_FALSE(key->public_key().Verify("x", sig));
  EXPECT_FALSE(key->public_key().Verify("", sig.substr(0, 63)));
}

TEST(KeysTest, PemAndDerRoundTrip) {
  SigningKey key = SigningKey::Generate();
  absl::StatusOr<SigningKey> from_pem = SigningKey::FromPem(key.ToPem());
  ASSERT_TRUE(from_pem.ok()) << from_pem.status();
  EXPECT_EQ(from_pem->public_key(), key.public_key());

  const PublicKey& pub = key.public_key();
  EXPECT_EQ(*PublicKey::FromPem(pub.ToPem()), pub);
  EXPECT_EQ(*PublicKey::FromSpkiDer(pub.SpkiDer()), pub);
  EXPECT_EQ(*PublicKey::FromRaw(pub.raw()), pub);
}

TEST(KeysTest, SpkiDerIsTheFixedEd25519Prefix) {
  const SigningKey key = VectorKey();
  const PublicKey& pub = key.public_key();
  EXPECT_EQ(pub.SpkiDer(), Unhex("302a300506032b6570032100") + pub.raw());
  EXPECT_EQ(pub.KeyId(), HexEncode(Sha256(pub.SpkiDer())));
  EXPECT_TRUE(IsHexId(pub.KeyId()));
}

TEST(KeysTest, MovedKeyStillSigns) {
  SigningKey key = VectorKey();
  const std::string sig = key.Sign("m");
  SigningKey moved = std::move(key);
  EXPECT_EQ(moved.Sign("m"), sig);
  SigningKey assigned = SigningKey::Generate();
  assigned = std::move(moved);
  EXPECT_EQ(assigned.Sign("m"), sig);
}

// ------------------------------------------------------------------- ids

TEST(IdsTest, Sha256KnownAnswer) {
  EXPECT_EQ(HexEncode(Sha256("abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(IdsTest, AlertIdIsRfc6962LeafHash) {
  // SHA-256 of the single byte 0x00: RFC 6962's hash of an empty leaf.
  EXPECT_EQ(AlertId(""),
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");
  EXPECT_EQ(AlertId("abc"), HexEncode(Sha256(std::string("\0abc", 4))));
  EXPECT_NE(AlertId("abc"), HexEncode(Sha256("abc")));
}

TEST(IdsTest, HexEncodeIsLowercaseAndDecodes) {
  const std::string bytes("\x00\x01\xab\xff", 4);
  EXPECT_EQ(HexEncode(bytes), "0001abff");
  EXPECT_EQ(*HexDecode("0001abff"), bytes);
  EXPECT_EQ(*HexDecode("0001ABFF"), bytes);
  EXPECT_EQ(*HexDecode(""), "");
}

TEST(IdsTest, HexDecodeRejectsMalformedInput) {
  EXPECT_EQ(HexDecode("abc").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(HexDecode("zz").status(),
            absl::InvalidArgumentError("invalid hex digit at position 0"));
  EXPECT_EQ(HexDecode("0g").status(),
            absl::InvalidArgumentError("invalid hex digit at position 1"));
}

TEST(IdsTest, IsHexIdAcceptsOnly64LowercaseHexDigits) {
  const std::string id(64, 'a');
  EXPECT_TRUE(IsHexId(id));
  EXPECT_TRUE(IsHexId(AlertId("x")));
  EXPECT_FALSE(IsHexId(""));
  EXPECT_FALSE(IsHexId(id.substr(1)));
  EXPECT_FALSE(IsHexId(id + "a"));
  EXPECT_FALSE(IsHexId(std::string(63, 'a') + "A"));
  EXPECT_FALSE(IsHexId(std::string(63, 'a') + "g"));
  EXPECT_FALSE(IsHexId(std::string(63, 'a') + " "));
}

// ------------------------------------------------------------------ DSSE

TEST(DsseTest, PaeMatchesTheDsseSpecExample) {
  EXPECT_EQ(Pae("http://example.com/HelloWorld", "hello world"),
            "DSSEv1 29 http://example.com/HelloWorld 11 hello world");
}

TEST(DsseTest, PaeOfEmptyInputsKeepsAllSeparators) {
  EXPECT_EQ(Pae("", ""), "DSSEv1 0  0 ");
  EXPECT_EQ(Pae("t", std::string("\0", 1)), std::string("DSSEv1 1 t 1 \0", 14));
}

TEST(DsseTest, SignedEnvelopeVerifies) {
  SigningKey key = SigningKey::Generate();
  watchfloor::v1::Envelope env =
      SignEnvelope("payload", kAlertPayloadType, key);
  ASSERT_EQ(env.signatures_size(), 1);
  EXPECT_EQ(env.signatures(0).keyid(), key.public_key().KeyId());
  EXPECT_TRUE(key.public_key().Verify(Pae(kAlertPayloadType, "payload"),
                                      env.signatures(0).sig()));
  EXPECT_TRUE(VerifyEnvelope(env, key.public_key()).ok());
}

// One named tamper case: how the envelope is damaged and the exact result.
struct TamperCase {
  const char* name;
  void (*tamper)(watchfloor::v1::Envelope* env);
  absl::StatusCode code;
  const char* message_part;
};

const TamperCase kTamperCases[] = {
    {"payload-byte-flipped",
     [](watchfloor::v1::Envelope* e) { (*e->mutable_payload())[0] ^= 1; },
     absl::StatusCode::kUnauthenticated, "does not verify"},
    {"payload-appended",
     [](watchfloor::v1::Envelope* e) { e->mutable_payload()->append("x"); },
     absl::StatusCode::kUnauthenticated, "does not verify"},
    {"sig-byte-flipped",
     [](watchfloor::v1::Envelope* e) {
       (*e->mutable_signatures(0)->mutable_sig())[10] ^= 0x80;
     },
     absl::StatusCode::kUnauthenticated, "does not verify"},
    {"sig-truncated",
     [](watchfloor::v1::Envelope* e) {
       e->mutable_signatures(0)->mutable_sig()->pop_back();
     },
     absl::StatusCode::kInvalidArgument, "is 63 bytes, want 64"},
    {"signatures-missing",
     [](watchfloor::v1::Envelope* e) { e->clear_signatures(); },
     absl::StatusCode::kUnauthenticated, "no signature by key"},
    {"keyid-changed",
     [](watchfloor::v1::Envelope* e) {
       e->mutable_signatures(0)->set_keyid(std::string(64, '0'));
     },
     absl::StatusCode::kUnauthenticated, "no signature by key"},
    {"payload-type-changed",
     [](watchfloor::v1::Envelope* e) {
       e->set_payload_type("application/vnd.in-toto+json");
     },
     absl::StatusCode::kInvalidArgument, "payloadType"},
    {"payload-type-case-changed",
     [](watchfloor::v1::Envelope* e) {
       e->set_payload_type("application/vnd.watchfloor.alert.v1+PROTOBUF");
     },
     absl::StatusCode::kInvalidArgument, "payloadType"},
};

TEST(DsseTest, TamperedEnvelopesFailWithTheirExactCode) {
  const SigningKey key = VectorKey();
  for (const TamperCase& c : kTamperCases) {
    watchfloor::v1::Envelope env =
        SignEnvelope("alert bytes", kAlertPayloadType, key);
    c.tamper(&env);
    const absl::Status status = VerifyEnvelope(env, key.public_key());
    EXPECT_EQ(status.code(), c.code) << c.name << ": " << status;
    EXPECT_THAT(status.message(), HasSubstr(c.message_part)) << c.name;
  }
}

TEST(DsseTest, WrongKeyIsUnauthenticatedNamingTheKey) {
  const SigningKey signer = SigningKey::Generate();
  const SigningKey other = SigningKey::Generate();
  watchfloor::v1::Envelope env = SignEnvelope("p", kAlertPayloadType, signer);
  EXPECT_EQ(VerifyEnvelope(env, other.public_key()),
            absl::UnauthenticatedError("no signature by key " +
                                       other.public_key().KeyId()));
}

TEST(DsseTest, SignatureUnderTheRightKeyidByAnotherKeyDoesNotVerify) {
  const SigningKey signer = SigningKey::Generate();
  const SigningKey victim = SigningKey::Generate();
  watchfloor::v1::Envelope env = SignEnvelope("p", kAlertPayloadType, signer);
  env.mutable_signatures(0)->set_keyid(victim.public_key().KeyId());
  EXPECT_EQ(VerifyEnvelope(env, victim.public_key()),
            absl::UnauthenticatedError("signature by key " +
                                       victim.public_key().KeyId() +
                                       " does not verify"));
}

TEST(DsseTest, CosignedEnvelopeVerifiesForEachSigner) {
  const SigningKey a = SigningKey::Generate();
  const SigningKey b = SigningKey::Generate();
  watchfloor::v1::Envelope env = SignEnvelope("p", kAlertPayloadType, a);
  *env.add_signatures() = SignEnvelope("p", kAlertPayloadType, b).signatures(0);
  EXPECT_TRUE(VerifyEnvelope(env, a.public_key()).ok());
  EXPECT_TRUE(VerifyEnvelope(env, b.public_key()).ok());
}

TEST(DsseTest, JsonIsStandardDsseOnOneLine) {
  watchfloor::v1::Envelope env;
  env.set_payload("a");  // base64 "YQ==": padding must be kept
  env.set_payload_type(std::string(kAlertPayloadType));
  env.add_signatures()->set_keyid("k");
  env.mutable_signatures(0)->set_sig("\xfb\xff");  // "+/8=": standard alphabet
  EXPECT_EQ(EnvelopeToJson(env),
            R"({"payload":"YQ==","payloadType":")"
            R"(application/vnd.watchfloor.alert.v1+protobuf",)"
            R"("signatures":[{"keyid":"k","sig":"+/8="}]})");
}

TEST(DsseTest, JsonOfEmptyEnvelopeStillHasAllDsseMembers) {
  EXPECT_EQ(EnvelopeToJson(watchfloor::v1::Envelope()),
            R"({"payload":"","payloadType":"","signatures":[]})");
}

TEST(DsseTest, JsonRoundTripKeepsEveryByte) {
  const SigningKey key = SigningKey::Generate();
  std::string payload;
  for (int i = 0; i < 256; ++i) payload.push_back(static_cast<char>(i));
  watchfloor::v1::Envelope env = SignEnvelope(payload, kAlertPayloadType, key);
  absl::StatusOr<watchfloor::v1::Envelope> parsed =
      EnvelopeFromJson(EnvelopeToJson(env));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->SerializeAsString(), env.SerializeAsString());
  EXPECT_TRUE(VerifyEnvelope(*parsed, key.public_key()).ok());
}

TEST(DsseTest, JsonWithWhitespaceIsAccepted) {
  absl::StatusOr<watchfloor::v1::Envelope> env = EnvelopeFromJson(
      "{ \"payload\" : \"YQ==\",\n \"payloadType\": \"t\", "
      "\"signatures\": [ { \"keyid\": \"k\", \"sig\": \"+/8=\" } ] }");
  ASSERT_TRUE(env.ok()) << env.status();
  EXPECT_EQ(env->payload(), "a");
  EXPECT_EQ(env->signatures(0).sig(), "\xfb\xff");
}

// A valid envelope, then one damage per case; every case must be refused.
constexpr char kGoodJson[] =
    R"({"payload":"YQ==","payloadType":"t","signatures":[{"keyid":"k","sig":"+/8="}]})";

TEST(DsseTest, MinimalValidJsonParses) {
  EXPECT_TRUE(EnvelopeFromJson(kGoodJson).ok());
  // DSSE makes keyid optional; VerifyEnvelope then finds no signature by key.
  EXPECT_TRUE(
      EnvelopeFromJson(R"({"payload":"","payloadType":"","signatures":[]})")
          .ok());
  EXPECT_TRUE(
      EnvelopeFromJson(
          R"({"payload":"","payloadType":"","signatures":[{"sig":""}]})")
          .ok());
}

TEST(DsseTest, JsonAcceptsUrlSafeAndUnpaddedBase64AsDsseAllows) {
  absl::StatusOr<watchfloor::v1::Envelope> env = EnvelopeFromJson(
      R"({"payload":"YQ","payloadType":"t","signatures":[{"sig":"-_8"}]})");
  ASSERT_TRUE(env.ok()) << env.status();
  EXPECT_EQ(env->payload(), "a");
  EXPECT_EQ(env->signatures(0).sig(), "\xfb\xff");
}

TEST(DsseTest, MalformedJsonIsInvalidArgument) {
  const std::pair<const char*, const char*> kCases[] = {
      {"empty", ""},
      {"truncated", "{"},
      {"not-json", "not json"},
      {"array", "[]"},
      {"trailing-garbage",
       R"({"payload":"","payloadType":"","signatures":[]} x)"},
      {"unknown-member",
       R"({"payload":"","payloadType":"","signatures":[],"extra":1})"},
      {"unknown-signature-member",
       R"({"payload":"","payloadType":"","signatures":[{"sig":"","v":2}]})"},
      {"proto-field-name",
       R"({"payload":"","payload_type":"","signatures":[]})"},
      {"duplicate-payload",
       R"({"payload":"YQ==","payload":"Yg==","payloadType":"","signatures":[]})"},
      {"missing-payload", R"({"payloadType":"","signatures":[]})"},
      {"missing-payload-type", R"({"payload":"","signatures":[]})"},
      {"missing-signatures", R"({"payload":"","payloadType":""})"},
      {"missing-sig", R"({"payload":"","payloadType":"","signatures":[{}]})"},
      {"null-payload", R"({"payload":null,"payloadType":"","signatures":[]})"},
      {"number-payload", R"({"payload":5,"payloadType":"","signatures":[]})"},
      {"signatures-object",
       R"({"payload":"","payloadType":"","signatures":{"sig":""}})"},
      {"signature-null",
       R"({"payload":"","payloadType":"","signatures":[null]})"},
      {"bad-base64-payload",
       R"({"payload":"!!!!","payloadType":"","signatures":[]})"},
      {"bad-base64-padding",
       R"({"payload":"YQ===","payloadType":"","signatures":[]})"},
      {"bad-base64-sig",
       R"({"payload":"","payloadType":"","signatures":[{"sig":"%%%%"}]})"},
  };
  for (const auto& [name, json] : kCases) {
    absl::StatusOr<watchfloor::v1::Envelope> env = EnvelopeFromJson(json);
    EXPECT_EQ(env.status().code(), absl::StatusCode::kInvalidArgument)
        << name << " accepted: " << json;
    EXPECT_THAT(env.status().message(),
                HasSubstr("malformed DSSE envelope JSON"))
        << name;
  }
}

// ------------------------------------------------- protocol test vector

// The fixed alert of docs/PROTOCOL.md's worked example.
watchfloor::v1::Alert VectorAlert() {
  watchfloor::v1::Alert alert;
  alert.set_origin("example.cz/prg1");
  alert.set_sequence(1);
  alert.set_previous("");
  alert.mutable_issued_at()->set_seconds(1767225600);  // 2026-01-01T00:00:00Z
  alert.set_severity(watchfloor::v1::SEVERITY_HIGH);
  alert.set_category("dns.hijack");
  alert.set_tlp(watchfloor::v1::TLP_GREEN);
  alert.set_title("NS records of example.cz changed");
  alert.add_domains("example.cz");
  alert.add_ip_prefixes("192.0.2.0/24");
  alert.add_asns(64500);
  return alert;
}

// File name → exact content, all derived from the seed and VectorAlert().
std::vector<std::pair<std::string, std::string>> VectorFiles() {
  const SigningKey key = VectorKey();
  std::string seed;
  for (int i = 0; i < 32; ++i) seed.push_back(static_cast<char>(i));
  std::string payload;
  EXPECT_TRUE(VectorAlert().SerializeToString(&payload));
  const watchfloor::v1::Envelope env =
      SignEnvelope(payload, kAlertPayloadType, key);
  return {
      {"seed.hex", HexEncode(seed) + "\n"},
      {"private.pem", key.ToPem()},
      {"public.pem", key.public_key().ToPem()},
      {"keyid.txt", key.public_key().KeyId() + "\n"},
      {"payload.bin", payload},
      {"pae.hex", HexEncode(Pae(kAlertPayloadType, payload)) + "\n"},
      {"sig.hex", HexEncode(env.signatures(0).sig()) + "\n"},
      {"id.txt", AlertId(payload) + "\n"},
      {"envelope.json", EnvelopeToJson(env) + "\n"},
  };
}

const std::string kVectorDir =
    std::string(WF_SOURCE_DIR) + "/tests/testdata/protocol_vector/";

TEST(ProtocolVectorTest, RecomputedVectorMatchesCheckedInFilesByteForByte) {
  const char* regen = getenv("WF_REGENERATE_VECTOR");
  const bool regenerate = regen != nullptr && std::string(regen) == "1";
  for (const auto& [name, content] : VectorFiles()) {
    if (regenerate) {
      WriteFile(kVectorDir + name, content);
      std::cout << "wrote " << kVectorDir << name << "\n";
    }
    EXPECT_EQ(ReadFile(kVectorDir + name), content) << name;
  }
}

TEST(ProtocolVectorTest, SeedFileGivesTheCheckedInKeys) {
  const std::string seed_hex = ReadFile(kVectorDir + "seed.hex");
  absl::StatusOr<SigningKey> key =
      SigningKey::FromSeed(Unhex(seed_hex.substr(0, 64)));
  ASSERT_TRUE(key.ok()) << key.status();
  absl::StatusOr<SigningKey> from_pem =
      SigningKey::FromPem(ReadFile(kVectorDir + "private.pem"));
  ASSERT_TRUE(from_pem.ok()) << from_pem.status();
  EXPECT_EQ(from_pem->public_key(), key->public_key());
  EXPECT_EQ(*PublicKey::FromPem(ReadFile(kVectorDir + "public.pem")),
            key->public_key());
}

TEST(ProtocolVectorTest, CheckedInEnvelopeVerifiesAndHasTheCheckedInId) {
  absl::StatusOr<watchfloor::v1::Envelope> env =
      EnvelopeFromJson(ReadFile(kVectorDir + "envelope.json"));
  ASSERT_TRUE(env.ok()) << env.status();
  absl::StatusOr<PublicKey> pub =
      PublicKey::FromPem(ReadFile(kVectorDir + "public.pem"));
  ASSERT_TRUE(pub.ok()) << pub.status();
  EXPECT_TRUE(VerifyEnvelope(*env, *pub).ok());
  EXPECT_EQ(AlertId(env->payload()) + "\n", ReadFile(kVectorDir + "id.txt"));

  // The payload parses back to the very alert it was made from.
  watchfloor::v1::Alert alert;
  ASSERT_TRUE(alert.ParseFromString(env->payload()));
  EXPECT_EQ(alert.SerializeAsString(), VectorAlert().SerializeAsString());
}

TEST(ProtocolVectorTest, CheckedInPrivateKeyLoadsFromAnOwnerOnlyCopy) {
  // Git does not keep modes: copy the key to a 0600 file, as an operator would.
  const ScopedTempDir tmp;
  const std::string path = tmp.path() + "/node.key";
  WriteFile(path, ReadFile(kVectorDir + "private.pem"));
  ASSERT_EQ(chmod(path.c_str(), 0600), 0);
  absl::StatusOr<SigningKey> key = SigningKey::LoadPemFile(path);
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(key->public_key(), VectorKey().public_key());
}

}  // namespace
}  // namespace watchfloor::certs
