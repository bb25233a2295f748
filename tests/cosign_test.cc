// Co-signatures (certs/cosign.h, docs/PROTOCOL.md section 23): the worked
// test vector of a co-signed envelope, recomputed byte for byte from
// tests/testdata/cosign_vector/, and the order nodes serve signatures in.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/escaping.h"
#include "certs/cosign.h"
#include "certs/dsse.h"
#include "certs/ids.h"
#include "gtest/gtest.h"

namespace watchfloor::certs {
namespace {

namespace v1 = ::watchfloor::v1;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

SigningKey KeyFromSeedFile(const std::string& path) {
  std::string hex = ReadFile(path);
  hex.resize(64);
  absl::StatusOr<SigningKey> key = SigningKey::FromSeed(absl::HexStringToBytes(hex));
  EXPECT_TRUE(key.ok()) << key.status();
  return *std::move(key);
}

// The worked example's alert (protocol_vector), signed by its origin
// example.cz/prg1, co-signed by the node example.sk/bts2 whose key is
// cosign_vector/cosigner_seed.hex.
TEST(CosignVectorTest, RecomputedVectorMatchesCheckedInFilesAndVerifies) {
  const std::string dir = std::string(WF_SOURCE_DIR) + "/tests/testdata/";
  const SigningKey origin = KeyFromSeedFile(dir + "protocol_vector/seed.hex");
  const SigningKey cosigner = KeyFromSeedFile(dir + "cosign_vector/cosigner_seed.hex");
  absl::StatusOr<v1::Envelope> signed_env =
      EnvelopeFromJson(ReadFile(dir + "protocol_vector/envelope.json"));
  ASSERT_TRUE(signed_env.ok()) << signed_env.status();
  ASSERT_TRUE(VerifyEnvelope(*signed_env, origin.public_key()).ok());

  const v1::Signature cosig = Cosign(*signed_env, cosigner);
  EXPECT_EQ(cosig.keyid(), cosigner.public_key().KeyId());
  EXPECT_TRUE(cosigner.public_key().Verify(Pae(signed_env->payload_type(), signed_env->payload()),
                                           cosig.sig()));
  const v1::Envelope cosigned =
      MergeCosignatures(*signed_env, origin.public_key().KeyId(), {cosig});
  ASSERT_EQ(cosigned.signatures_size(), 2);
  // Both signatures verify over the same PAE; the id is the payload's, as
  // before.
  EXPECT_TRUE(VerifyEnvelope(cosigned, origin.public_key()).ok());
  EXPECT_TRUE(VerifyEnvelope(cosigned, cosigner.public_key()).ok());
  std::string id = ReadFile(dir + "protocol_vector/id.txt");
  id.resize(64);
  EXPECT_EQ(AlertId(cosigned.payload()), id);

  const std::vector<std::pair<std::string, std::string>> files = {
      {"cosigner_public.pem", cosigner.public_key().ToPem()},
      {"cosigner_keyid.txt", cosigner.public_key().KeyId() + "\n"},
      {"cosig.hex", absl::BytesToHexString(cosig.sig()) + "\n"},
      {"envelope.json", EnvelopeToJson(cosigned) + "\n"},
  };
  const char* regen = getenv("WF_REGENERATE_VECTOR");
  for (const auto& [name, content] : files) {
    const std::string path = dir + "cosign_vector/" + name;
    if (regen != nullptr && std::string(regen) == "1") {
      std::ofstream(path, std::ios::binary) << content;
    }
    EXPECT_EQ(ReadFile(path), content) << name;
  }
  // The checked-in envelope parses back to the same message.
  absl::StatusOr<v1::Envelope> parsed = EnvelopeFromJson(ReadFile(dir + "cosign_vector/envelope.json"));
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->SerializeAsString(), cosigned.SerializeAsString());
}

// What a node serves: the origin's signature first, then co-signatures by
// keyid, each keyid once, whatever order they were merged in; signatures
// neither the origin's nor offered as co-signatures are dropped.
TEST(MergeCosignaturesTest, OriginFirstThenByKeyidEachOnce) {
  const SigningKey origin = SigningKey::Generate();
  v1::Envelope env = SignEnvelope("payload", kAlertPayloadType, origin);
  v1::Signature junk;
  junk.set_keyid(std::string(64, 'f'));
  junk.set_sig(std::string(64, '\0'));
  *env.add_signatures() = junk;
  std::vector<v1::Signature> cosigs;
  std::vector<std::string> keyids;
  for (int i = 0; i < 3; ++i) {
    SigningKey k = SigningKey::Generate();
    cosigs.push_back(Cosign(env, k));
    keyids.push_back(k.public_key().KeyId());
  }
  cosigs.push_back(cosigs[1]);  // a duplicate
  std::reverse(cosigs.begin(), cosigs.end());
  const v1::Envelope out = MergeCosignatures(env, origin.public_key().KeyId(), cosigs);
  std::sort(keyids.begin(), keyids.end());
  ASSERT_EQ(out.signatures_size(), 4);
  EXPECT_EQ(out.signatures(0).keyid(), origin.public_key().KeyId());
  for (int i = 0; i < 3; ++i) EXPECT_EQ(out.signatures(i + 1).keyid(), keyids[i]);
  EXPECT_EQ(out.payload(), env.payload());
}

TEST(MemberOfTest, IsTheNameBeforeTheSlash) {
  EXPECT_EQ(MemberOf("nic.cz/prg1"), "nic.cz");
  EXPECT_EQ(MemberOf("nic.cz"), "nic.cz");
}

}  // namespace
}  // namespace watchfloor::certs
