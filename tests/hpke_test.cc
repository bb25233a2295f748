// certs/hpke.h against published RFC 9180 test vectors, byte for byte.
//
// The vectors are data: tests/testdata/hpke/rfc9180_x25519_base.json (its
// "comment" says where each value comes from): RFC 9180 Appendix A.1.1
// (DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM, base mode) and the
// CFRG test-vectors.json entry for the same KEM and KDF with AES-256-GCM,
// the AEAD watchfloor uses. Every value is recomputed from ikmE/ikmR: key
// pairs, enc, shared_secret, the key schedule, every encryption and export;
// each ciphertext is opened again.
#include "certs/hpke.h"

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "certs/encryption_key.h"
#include "certs/ids.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"

namespace watchfloor::certs::hpke {
namespace {

using ::google::protobuf::Struct;
using ::google::protobuf::Value;
using ::testing::HasSubstr;

std::string H(absl::string_view hex) {
  absl::StatusOr<std::string> bytes = HexDecode(hex);
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  return bytes.ok() ? *bytes : std::string();
}

// One test vector, with hex fields decoded on access.
class Vector {
 public:
  explicit Vector(const Struct& s) : s_(s) {}
  std::string Name() const { return Field("name").string_value(); }
  int Int(const std::string& key) const {
    return static_cast<int>(Field(key).number_value());
  }
  std::string Bytes(const std::string& key) const {
    return H(Field(key).string_value());
  }
  bool Has(const std::string& key) const {
    return s_.fields().count(key) > 0;
  }
  const Value& Field(const std::string& key) const {
    auto it = s_.fields().find(key);
    EXPECT_NE(it, s_.fields().end()) << "vector lacks " << key;
    return it == s_.fields().end() ? Value::default_instance() : it->second;
  }
  std::vector<Vector> List(const std::string& key) const {
    std::vector<Vector> out;
    for (const Value& v : Field(key).list_value().values()) {
      out.emplace_back(v.struct_value());
    }
    return out;
  }
  Aead aead() const { return static_cast<Aead>(Int("aead_id")); }

 private:
  Struct s_;
};

std::vector<Vector> LoadVectors() {
  const std::string path =
      WF_SOURCE_DIR "/tests/testdata/hpke/rfc9180_x25519_base.json";
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot read " << path;
  std::ostringstream text;
  text << in.rdbuf();
  Struct root;
  const auto status =
      google::protobuf::util::JsonStringToMessage(text.str(), &root);
  EXPECT_TRUE(status.ok()) << path << ": " << status.ToString();
  return Vector(root).List("vectors");
}

class HpkeVectorTest : public ::testing::TestWithParam<int> {
 protected:
  void SetUp() override {
    vectors_ = LoadVectors();
    ASSERT_EQ(vectors_.size(), 2u);
  }
  const Vector& v() const { return vectors_[GetParam()]; }

  std::vector<Vector> vectors_;
};

TEST_P(HpkeVectorTest, SuiteIsBaseModeX25519HkdfSha256) {
  EXPECT_EQ(v().Int("mode"), 0);
  EXPECT_EQ(v().Int("kem_id"), kKemX25519HkdfSha256);
  EXPECT_EQ(v().Int("kdf_id"), kKdfHkdfSha256);
}

TEST_P(HpkeVectorTest, DeriveKeyPairGivesTheVectorsKeys) {
  absl::StatusOr<EncryptionKey> e = DeriveKeyPair(v().Bytes("ikmE"));
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(HexEncode(e->ExportRaw()), HexEncode(v().Bytes("skEm")));
  EXPECT_EQ(HexEncode(e->public_key().raw()), HexEncode(v().Bytes("pkEm")));
  absl::StatusOr<EncryptionKey> r = DeriveKeyPair(v().Bytes("ikmR"));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(HexEncode(r->ExportRaw()), HexEncode(v().Bytes("skRm")));
  EXPECT_EQ(HexEncode(r->public_key().raw()), HexEncode(v().Bytes("pkRm")));
}

TEST_P(HpkeVectorTest, EncapAndDecapGiveEncAndSharedSecret) {
  const EncryptionKey skE = *EncryptionKey::FromRaw(v().Bytes("skEm"));
  const EncryptionKey skR = *EncryptionKey::FromRaw(v().Bytes("skRm"));
  absl::StatusOr<Encapsulation> e = Encap(skR.public_key(), &skE);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ(HexEncode(e->enc), HexEncode(v().Bytes("enc")));
  EXPECT_EQ(HexEncode(e->shared_secret), HexEncode(v().Bytes("shared_secret")));
  absl::StatusOr<std::string> d = Decap(v().Bytes("enc"), skR);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(HexEncode(*d), HexEncode(v().Bytes("shared_secret")));
}

TEST_P(HpkeVectorTest, KeyScheduleMatches) {
  absl::StatusOr<Context> c = Context::FromSharedSecret(
      v().Bytes("shared_secret"), v().Bytes("info"), v().aead());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(HexEncode(c->key_schedule_context()),
            HexEncode(v().Bytes("key_schedule_context")));
  EXPECT_EQ(HexEncode(c->secret()), HexEncode(v().Bytes("secret")));
  EXPECT_EQ(HexEncode(c->key()), HexEncode(v().Bytes("key")));
  EXPECT_EQ(HexEncode(c->base_nonce()), HexEncode(v().Bytes("base_nonce")));
  EXPECT_EQ(HexEncode(c->exporter_secret()),
            HexEncode(v().Bytes("exporter_secret")));
}

// The sender context from skEm, every listed encryption at its sequence
// number; then the recipient context opens each one.
TEST_P(HpkeVectorTest, EveryEncryptionMatchesAndOpens) {
  const EncryptionKey skE = *EncryptionKey::FromRaw(v().Bytes("skEm"));
  const EncryptionKey skR = *EncryptionKey::FromRaw(v().Bytes("skRm"));
  std::string enc;
  absl::StatusOr<Context> sender = Context::SetupBaseS(
      skR.public_key(), v().Bytes("info"), v().aead(), &skE, &enc);
  ASSERT_TRUE(sender.ok()) << sender.status();
  EXPECT_EQ(HexEncode(enc), HexEncode(v().Bytes("enc")));
  absl::StatusOr<Context> receiver =
      Context::SetupBaseR(enc, skR, v().Bytes("info"), v().aead());
  ASSERT_TRUE(receiver.ok()) << receiver.status();
  const std::vector<Vector> encryptions = v().List("encryptions");
  ASSERT_GE(encryptions.size(), 5u);
  for (const Vector& e : encryptions) {
    const uint64_t seq = static_cast<uint64_t>(e.Int("seq"));
    SCOPED_TRACE(absl::StrCat("seq ", seq));
    if (e.Has("nonce")) {
      EXPECT_EQ(HexEncode(sender->NonceAt(seq)), HexEncode(e.Bytes("nonce")));
    }
    absl::StatusOr<std::string> ct =
        sender->SealAt(seq, e.Bytes("aad"), e.Bytes("pt"));
    ASSERT_TRUE(ct.ok()) << ct.status();
    EXPECT_EQ(HexEncode(*ct), HexEncode(e.Bytes("ct")));
    absl::StatusOr<std::string> pt =
        receiver->OpenAt(seq, e.Bytes("aad"), e.Bytes("ct"));
    ASSERT_TRUE(pt.ok()) << pt.status();
    EXPECT_EQ(*pt, e.Bytes("pt"));
  }
}

// Seal()/Open() advance the sequence number: the first two listed
// encryptions are seq 0 and 1.
TEST_P(HpkeVectorTest, SequentialSealAdvancesTheSequenceNumber) {
  const EncryptionKey skE = *EncryptionKey::FromRaw(v().Bytes("skEm"));
  const EncryptionKey skR = *EncryptionKey::FromRaw(v().Bytes("skRm"));
  absl::StatusOr<Context> sender = Context::SetupBaseS(
      skR.public_key(), v().Bytes("info"), v().aead(), &skE);
  ASSERT_TRUE(sender.ok()) << sender.status();
  const std::vector<Vector> encryptions = v().List("encryptions");
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(encryptions[i].Int("seq"), i);
    absl::StatusOr<std::string> ct =
        sender->Seal(encryptions[i].Bytes("aad"), encryptions[i].Bytes("pt"));
    ASSERT_TRUE(ct.ok()) << ct.status();
    EXPECT_EQ(HexEncode(*ct), HexEncode(encryptions[i].Bytes("ct")));
  }
  EXPECT_EQ(sender->seq(), 2u);
}

TEST_P(HpkeVectorTest, ExportsMatch) {
  absl::StatusOr<Context> c = Context::FromSharedSecret(
      v().Bytes("shared_secret"), v().Bytes("info"), v().aead());
  ASSERT_TRUE(c.ok()) << c.status();
  for (const Vector& x : v().List("exports")) {
    absl::StatusOr<std::string> value =
        c->Export(x.Bytes("exporter_context"), x.Int("L"));
    ASSERT_TRUE(value.ok()) << value.status();
    EXPECT_EQ(HexEncode(*value), HexEncode(x.Bytes("exported_value")));
  }
}

// Single-shot SealBase with the vector's ephemeral key gives the vector's
// first encryption; OpenBase opens it.
TEST_P(HpkeVectorTest, SingleShotMatchesTheFirstEncryption) {
  const EncryptionKey skE = *EncryptionKey::FromRaw(v().Bytes("skEm"));
  const EncryptionKey skR = *EncryptionKey::FromRaw(v().Bytes("skRm"));
  const Vector first = v().List("encryptions")[0];
  absl::StatusOr<Sealed> s = SealBase(skR.public_key(), v().Bytes("info"),
                                      first.Bytes("aad"), first.Bytes("pt"),
                                      v().aead(), &skE);
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(HexEncode(s->enc), HexEncode(v().Bytes("enc")));
  EXPECT_EQ(HexEncode(s->ciphertext), HexEncode(first.Bytes("ct")));
  absl::StatusOr<std::string> pt =
      OpenBase(skR, s->enc, v().Bytes("info"), first.Bytes("aad"),
               s->ciphertext, v().aead());
  ASSERT_TRUE(pt.ok()) << pt.status();
  EXPECT_EQ(*pt, first.Bytes("pt"));
}

INSTANTIATE_TEST_SUITE_P(Rfc9180, HpkeVectorTest, ::testing::Values(0, 1),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return info.param == 0 ? std::string("Aes128Gcm")
                                                  : std::string("Aes256Gcm");
                         });

// ------------------------------------------------------------ rejections

class HpkeRejectTest : public ::testing::Test {
 protected:
  const EncryptionKey skR_ = EncryptionKey::Generate();
};

TEST_F(HpkeRejectTest, RoundTripWithFreshEphemeralKeys) {
  absl::StatusOr<Sealed> a =
      SealBase(skR_.public_key(), "info", "aad", "hello", Aead::kAes256Gcm);
  absl::StatusOr<Sealed> b =
      SealBase(skR_.public_key(), "info", "aad", "hello", Aead::kAes256Gcm);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->enc, b->enc);  // a fresh ephemeral key each time
  EXPECT_EQ(*OpenBase(skR_, a->enc, "info", "aad", a->ciphertext,
                      Aead::kAes256Gcm),
            "hello");
}

TEST_F(HpkeRejectTest, AlteredCiphertextInfoAadOrKeyIsDataLoss) {
  absl::StatusOr<Sealed> s =
      SealBase(skR_.public_key(), "info", "aad", "hello", Aead::kAes256Gcm);
  ASSERT_TRUE(s.ok());
  const absl::Status kBad =
      absl::DataLossError("HPKE ciphertext does not authenticate");
  std::string flipped = s->ciphertext;
  flipped[0] ^= 1;
  EXPECT_EQ(OpenBase(skR_, s->enc, "info", "aad", flipped, Aead::kAes256Gcm)
                .status(),
            kBad);
  EXPECT_EQ(OpenBase(skR_, s->enc, "inf0", "aad", s->ciphertext,
                     Aead::kAes256Gcm)
                .status(),
            kBad);
  EXPECT_EQ(OpenBase(skR_, s->enc, "info", "aaD", s->ciphertext,
                     Aead::kAes256Gcm)
                .status(),
            kBad);
  const EncryptionKey other = EncryptionKey::Generate();
  EXPECT_EQ(OpenBase(other, s->enc, "info", "aad", s->ciphertext,
                     Aead::kAes256Gcm)
                .status(),
            kBad);
  // Same bytes, other AEAD: a different key schedule (suite_id differs).
  EXPECT_EQ(OpenBase(skR_, s->enc, "info", "aad", s->ciphertext,
                     Aead::kAes128Gcm)
                .status(),
            kBad);
}

TEST_F(HpkeRejectTest, WrongSizesAreInvalidArgument) {
  EXPECT_EQ(OpenBase(skR_, std::string(31, 'x'), "", "",
                     std::string(48, 'x'), Aead::kAes256Gcm)
                .status(),
            absl::InvalidArgumentError("HPKE enc must be 32 bytes, got 31"));
  const std::string enc = EncryptionKey::Generate().public_key().raw();
  EXPECT_EQ(OpenBase(skR_, enc, "", "", std::string(15, 'x'),
                     Aead::kAes256Gcm)
                .status(),
            absl::InvalidArgumentError(
                "HPKE ciphertext is 15 bytes, shorter than the 16-byte tag"));
  EXPECT_EQ(AeadSeal(Aead::kAes256Gcm, std::string(16, 'k'),
                     std::string(12, 'n'), "", "")
                .status(),
            absl::InvalidArgumentError("AEAD key must be 32 bytes, got 16"));
  EXPECT_EQ(AeadSeal(Aead::kAes256Gcm, std::string(32, 'k'),
                     std::string(8, 'n'), "", "")
                .status(),
            absl::InvalidArgumentError("AEAD nonce must be 12 bytes, got 8"));
  EXPECT_EQ(DeriveKeyPair(std::string(31, 'i')).status(),
            absl::InvalidArgumentError(
                "DeriveKeyPair ikm must be at least 32 bytes, got 31"));
}

// RFC 9180 7.1.4 / RFC 7748 6.1: a small-order public key makes the DH
// output all zero; both Encap (sender) and Decap (recipient) refuse it.
TEST_F(HpkeRejectTest, AllZeroSharedSecretIsRefused) {
  // u = 0 and u = 1 are points of small order on Curve25519.
  for (const std::string& u :
       {std::string(32, '\0'), std::string("\x01") + std::string(31, '\0')}) {
    const EncryptionPublicKey bad = *EncryptionPublicKey::FromRaw(u);
    absl::StatusOr<Encapsulation> e = Encap(bad);
    EXPECT_EQ(e.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(e.status().message()), HasSubstr("all-zero shared secret"));
    absl::StatusOr<std::string> d = Decap(u, skR_);
    EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(d.status().message()), HasSubstr("all-zero shared secret"));
  }
}

TEST_F(HpkeRejectTest, ExportLengthIsBounded) {
  absl::StatusOr<Context> c =
      Context::FromSharedSecret(std::string(32, 's'), "", Aead::kAes256Gcm);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->Export("", 255 * 32 + 1).status(),
            absl::InvalidArgumentError("HPKE export length 8161 exceeds 8160"));
  EXPECT_EQ(c->Export(std::string(1001, 'c'), 32).status(),
            absl::InvalidArgumentError(
                "HPKE exporter context is 1001 bytes; the limit is 1000"));
  EXPECT_TRUE(c->Export(std::string(1000, 'c'), 32).ok());
}

}  // namespace
}  // namespace watchfloor::certs::hpke
