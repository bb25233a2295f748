// certs/seal.h: sealed alerts. The worked vector and the tamper cases are
// data in tests/testdata/sealed/ (written by make_sealed_testdata.cc; see
// the README there): this test re-seals the vector byte for byte, opens it
// as every recipient, and walks every *.case file checking the exact status
// OpenSealedAlert or ValidateSealedShape returns.
#include "certs/seal.h"

#include <dirent.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "certs/encryption_key.h"
#include "certs/ids.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace watchfloor::certs {
namespace {

using watchfloor::v1::Alert;

const std::string kDir = WF_SOURCE_DIR "/tests/testdata/sealed";

std::string H(absl::string_view hex) {
  absl::StatusOr<std::string> bytes = HexDecode(hex);
  EXPECT_TRUE(bytes.ok()) << bytes.status();
  return bytes.ok() ? *bytes : std::string();
}

Alert ParseAlert(absl::string_view hex) {
  Alert a;
  EXPECT_TRUE(a.ParseFromString(H(hex))) << "not an Alert: " << hex;
  return a;
}

// "key: value" lines; '#' starts a comment line; keys may repeat.
std::multimap<std::string, std::string> ReadFields(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in.good()) << "cannot read " << path;
  std::multimap<std::string, std::string> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const size_t colon = line.find(':');
    EXPECT_NE(colon, std::string::npos) << path << ": " << line;
    if (colon == std::string::npos) continue;
    std::string value = line.substr(colon + 1);
    out.emplace(line.substr(0, colon),
                std::string(absl::StripPrefix(value, " ")));
  }
  return out;
}

std::string One(const std::multimap<std::string, std::string>& f,
                const std::string& key) {
  EXPECT_EQ(f.count(key), 1u) << key;
  auto it = f.find(key);
  return it == f.end() ? std::string() : it->second;
}

// The worked vector: its inputs as SealAlert takes them, and its outputs.
struct WorkedVector {
  Alert full;
  std::vector<std::string> nodes;
  std::vector<uint64_t> epochs;
  std::vector<EncryptionKey> keys;       // recipient private keys
  std::vector<EncryptionKey> ephemeral;  // per recipient, same order
  std::string content_key, nonce, context, inner, outer;
  std::vector<std::string> infos;
  // The second alert, sealed next with the same sender contexts (seq 1).
  Alert second_full;
  std::string second_content_key, second_nonce, second_context, second_inner,
      second_outer;

  std::vector<SealRecipient> Recipients() const {
    std::vector<SealRecipient> out;
    for (size_t i = 0; i < nodes.size(); ++i) {
      out.push_back({nodes[i], epochs[i], keys[i].public_key()});
    }
    return out;
  }
  SealSecrets Secrets() const {
    SealSecrets s{content_key, nonce, {}};
    for (const EncryptionKey& e : ephemeral) s.ephemeral.push_back(&e);
    return s;
  }
  SealSecrets SecondSecrets() const {
    SealSecrets s = Secrets();
    s.content_key = second_content_key;
    s.nonce = second_nonce;
    return s;
  }
  const EncryptionKey* KeyOf(absl::string_view node) const {
    for (size_t i = 0; i < nodes.size(); ++i) {
      if (nodes[i] == node) return &keys[i];
    }
    return nullptr;
  }
};

WorkedVector LoadVector() {
  const auto f = ReadFields(kDir + "/worked_vector.txt");
  WorkedVector v;
  v.full = ParseAlert(One(f, "full"));
  for (auto [it, end] = f.equal_range("recipient"); it != end; ++it) {
    std::vector<std::string> parts = absl::StrSplit(it->second, ' ');
    EXPECT_EQ(parts.size(), 4u) << it->second;
    if (parts.size() != 4) continue;
    uint64_t epoch = 0;
    EXPECT_TRUE(absl::SimpleAtoi(parts[1], &epoch));
    v.nodes.push_back(parts[0]);
    v.epochs.push_back(epoch);
    v.keys.push_back(*EncryptionKey::FromRaw(H(parts[2])));
    v.ephemeral.push_back(*EncryptionKey::FromRaw(H(parts[3])));
  }
  for (auto [it, end] = f.equal_range("info"); it != end; ++it) {
    v.infos.push_back(H(it->second));
  }
  v.content_key = H(One(f, "content_key"));
  v.nonce = H(One(f, "nonce"));
  v.context = H(One(f, "context"));
  v.inner = H(One(f, "inner"));
  v.outer = H(One(f, "outer"));
  v.second_full = ParseAlert(One(f, "second_full"));
  v.second_content_key = H(One(f, "second_content_key"));
  v.second_nonce = H(One(f, "second_nonce"));
  v.second_context = H(One(f, "second_context"));
  v.second_inner = H(One(f, "second_inner"));
  v.second_outer = H(One(f, "second_outer"));
  return v;
}

// ------------------------------------------------------------ the vector

TEST(SealVectorTest, SealingTheVectorGivesItsExactBytes) {
  const WorkedVector v = LoadVector();
  ASSERT_EQ(v.nodes.size(), 3u);
  WrapContexts contexts;
  absl::StatusOr<Alert> outer =
      SealAlert(v.full, v.Recipients(), v.Secrets(), contexts);
  ASSERT_TRUE(outer.ok()) << outer.status();
  EXPECT_EQ(HexEncode(outer->SerializeAsString()), HexEncode(v.outer));
  EXPECT_EQ(HexEncode(SealContext(*outer)), HexEncode(v.context));
  ASSERT_EQ(outer->sealed().keys_size(), static_cast<int>(v.infos.size()));
  for (int i = 0; i < outer->sealed().keys_size(); ++i) {
    const auto& k = outer->sealed().keys(i);
    EXPECT_EQ(HexEncode(WrapContextInfo(outer->origin(), k.node(),
                                        k.key_epoch())),
              HexEncode(v.infos[i]));
    ASSERT_TRUE(k.has_seq());
    EXPECT_EQ(k.seq(), 0u);
  }
  EXPECT_EQ(contexts.size(), 3u);
  // The next alert through the same contexts: the vector's second alert,
  // the same enc per node at seq 1, and no new context.
  absl::StatusOr<Alert> second =
      SealAlert(v.second_full, v.Recipients(), v.SecondSecrets(), contexts);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(HexEncode(second->SerializeAsString()), HexEncode(v.second_outer));
  EXPECT_EQ(HexEncode(SealContext(*second)), HexEncode(v.second_context));
  for (int i = 0; i < second->sealed().keys_size(); ++i) {
    EXPECT_EQ(second->sealed().keys(i).enc(), outer->sealed().keys(i).enc());
    EXPECT_EQ(second->sealed().keys(i).seq(), 1u);
  }
  EXPECT_EQ(contexts.size(), 3u);
}

TEST(SealVectorTest, TheSecondAlertOpensAtEveryRecipient) {
  const WorkedVector v = LoadVector();
  Alert outer;
  ASSERT_TRUE(outer.ParseFromString(v.second_outer));
  UnwrapContexts cache;
  for (size_t i = 0; i < v.nodes.size(); ++i) {
    SCOPED_TRACE(v.nodes[i]);
    const uint64_t epoch = v.epochs[i];
    const EncryptionKey* key = &v.keys[i];
    for (UnwrapContexts* c : {static_cast<UnwrapContexts*>(nullptr), &cache}) {
      absl::StatusOr<Alert> full = OpenSealedAlert(
          outer, v.nodes[i],
          [&](uint64_t e) { return e == epoch ? key : nullptr; }, c);
      ASSERT_TRUE(full.ok()) << full.status();
      EXPECT_EQ(full->sequence(), 8u);
      EXPECT_EQ(full->title(), v.second_full.title());
    }
  }
  EXPECT_EQ(cache.size(), 3u);
}

// The context encoding, spelled out byte by byte as docs/PROTOCOL.md does.
TEST(SealVectorTest, ContextIsTheDocumentedEncoding) {
  const WorkedVector v = LoadVector();
  const std::string expected = absl::StrCat(
      std::string("\0\0\0\x1a", 4), "watchfloor sealed alert v1",
      std::string("\0\0\0\x0b", 4), "nic.cz/prg1",
      std::string("\0\0\0\0\0\0\0\x07", 8),  // sequence 7
      std::string("\0\0\0\x05", 4),          // TLP_RED
      std::string("\0\0\0\x02", 4),          // two members
      std::string("\0\0\0\x09", 4), "cesnet.cz",
      std::string("\0\0\0\x07", 4), "sidn.nl");
  EXPECT_EQ(HexEncode(v.context), HexEncode(expected));
  ASSERT_EQ(expected.size(), 85u);
  EXPECT_EQ(HexEncode(v.infos[0]),
            HexEncode(absl::StrCat(std::string("\0\0\0\x19", 4),
                                   "watchfloor sealed wrap v2",
                                   std::string("\0\0\0\x0b", 4), "nic.cz/prg1",
                                   std::string("\0\0\0\x0e", 4),
                                   "cesnet.cz/prg2",
                                   std::string(8, '\0'))));
  // The single-shot info that alerts sealed before multi-shot contexts
  // used (they still open: legacy-single-shot.case).
  EXPECT_EQ(HexEncode(WrapInfo(v.context, "cesnet.cz/prg2", 0)),
            HexEncode(absl::StrCat(std::string("\0\0\0\x55", 4), expected,
                                   std::string("\0\0\0\x0e", 4),
                                   "cesnet.cz/prg2",
                                   std::string(8, '\0'))));
}

TEST(SealVectorTest, OuterCarriesOnlyTheHeaderAndTheSealedPart) {
  const WorkedVector v = LoadVector();
  Alert outer;
  ASSERT_TRUE(outer.ParseFromString(v.outer));
  EXPECT_EQ(outer.origin(), "nic.cz/prg1");
  EXPECT_EQ(outer.sequence(), 7u);
  EXPECT_EQ(outer.tlp(), watchfloor::v1::TLP_RED);
  EXPECT_THAT(outer.recipients(), ::testing::ElementsAre("cesnet.cz", "sidn.nl"));
  EXPECT_TRUE(outer.title().empty());
  EXPECT_EQ(outer.domains_size(), 0);
  Alert header = outer;
  header.clear_sealed();
  Alert expected_header = v.full;
  for (auto* f : {"severity", "category", "title", "description", "domains",
                  "ip_prefixes", "asns", "labels", "references"}) {
    expected_header.GetReflection()->ClearField(
        &expected_header, expected_header.GetDescriptor()->FindFieldByName(f));
  }
  expected_header.clear_recipients();
  expected_header.add_recipients("cesnet.cz");  // sorted by SealAlert
  expected_header.add_recipients("sidn.nl");
  EXPECT_EQ(header.SerializeAsString(), expected_header.SerializeAsString());
  // Keys sorted by (node, key_epoch).
  std::vector<std::string> order;
  for (const auto& k : outer.sealed().keys()) {
    order.push_back(absl::StrCat(k.node(), "@", k.key_epoch()));
  }
  EXPECT_THAT(order, ::testing::ElementsAre("cesnet.cz/prg2@0",
                                            "sidn.nl/ams1@0", "sidn.nl/ams2@3"));
}

TEST(SealVectorTest, EveryRecipientNodeOpensTheFullAlert) {
  const WorkedVector v = LoadVector();
  Alert outer;
  ASSERT_TRUE(outer.ParseFromString(v.outer));
  Alert expected = v.full;
  expected.clear_recipients();
  expected.add_recipients("cesnet.cz");
  expected.add_recipients("sidn.nl");
  for (size_t i = 0; i < v.nodes.size(); ++i) {
    SCOPED_TRACE(v.nodes[i]);
    const uint64_t epoch = v.epochs[i];
    const EncryptionKey* key = &v.keys[i];
    absl::StatusOr<Alert> full = OpenSealedAlert(
        outer, v.nodes[i],
        [&](uint64_t e) { return e == epoch ? key : nullptr; });
    ASSERT_TRUE(full.ok()) << full.status();
    EXPECT_EQ(full->SerializeAsString(), expected.SerializeAsString());
  }
}

// A sender context is set up again when the recipient's key for the epoch
// changes and after max_seals wraps, so a (enc, seq) pair never repeats;
// a recipient's cache drops an erased epoch's contexts.
TEST(WrapContextsTest, NewContextOnNewKeyAndAfterMaxSeals) {
  const WorkedVector v = LoadVector();
  WrapContexts contexts(/*max_seals=*/2);
  std::vector<std::string> encs;
  std::vector<uint64_t> seqs;
  for (int i = 0; i < 5; ++i) {
    absl::StatusOr<Alert> a = SealAlert(v.full, v.Recipients(), contexts);
    ASSERT_TRUE(a.ok()) << a.status();
    encs.push_back(a->sealed().keys(0).enc());
    seqs.push_back(a->sealed().keys(0).seq());
  }
  EXPECT_THAT(seqs, ::testing::ElementsAre(0, 1, 0, 1, 0));
  EXPECT_EQ(encs[0], encs[1]);
  EXPECT_NE(encs[1], encs[2]);
  EXPECT_EQ(encs[2], encs[3]);
  EXPECT_NE(encs[3], encs[4]);

  // cesnet.cz/prg2 (sorted first) gets another key for epoch 0.
  WrapContexts fresh;
  std::vector<SealRecipient> recipients = v.Recipients();
  absl::StatusOr<Alert> a = SealAlert(v.full, recipients, fresh);
  recipients[1].key = EncryptionKey::Generate().public_key();
  absl::StatusOr<Alert> b = SealAlert(v.full, recipients, fresh);
  ASSERT_TRUE(a.ok() && b.ok()) << a.status() << b.status();
  EXPECT_NE(a->sealed().keys(0).enc(), b->sealed().keys(0).enc());
  EXPECT_EQ(b->sealed().keys(0).seq(), 0u);
  EXPECT_EQ(a->sealed().keys(1).enc(), b->sealed().keys(1).enc());
  EXPECT_EQ(b->sealed().keys(1).seq(), 1u);
  EXPECT_EQ(fresh.size(), 3u);
  // sidn.nl/ams1 moves to key epoch 5: its epoch-0 context is dropped.
  recipients[0].key_epoch = 5;
  absl::StatusOr<Alert> c = SealAlert(v.full, recipients, fresh);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->sealed().keys(1).node(), "sidn.nl/ams1");
  EXPECT_EQ(c->sealed().keys(1).key_epoch(), 5u);
  EXPECT_EQ(c->sealed().keys(1).seq(), 0u);
  EXPECT_EQ(fresh.size(), 3u);
  fresh.Clear();
  EXPECT_EQ(fresh.size(), 0u);
}

TEST(UnwrapContextsTest, EraseEpochDropsItsContextsAndCapacityBounds) {
  const WorkedVector v = LoadVector();
  Alert outer;
  ASSERT_TRUE(outer.ParseFromString(v.outer));
  UnwrapContexts cache(/*capacity=*/2);
  for (size_t i = 0; i < v.nodes.size(); ++i) {
    const uint64_t epoch = v.epochs[i];
    const EncryptionKey* key = &v.keys[i];
    ASSERT_TRUE(OpenSealedAlert(
                    outer, v.nodes[i],
                    [&](uint64_t e) { return e == epoch ? key : nullptr; },
                    &cache)
                    .ok());
  }
  EXPECT_EQ(cache.size(), 2u);  // the oldest of three dropped
  cache.EraseEpoch(3);          // sidn.nl/ams2's
  EXPECT_EQ(cache.size(), 1u);
  cache.EraseEpoch(0);
  EXPECT_EQ(cache.size(), 0u);
}

// Fresh randomness: two seals of the same alert differ everywhere secret,
// and both open.
TEST(SealTest, FreshContentKeyNonceAndEphemeralKeysEachTime) {
  const WorkedVector v = LoadVector();
  absl::StatusOr<Alert> a = SealAlert(v.full, v.Recipients());
  absl::StatusOr<Alert> b = SealAlert(v.full, v.Recipients());
  ASSERT_TRUE(a.ok() && b.ok()) << a.status() << b.status();
  EXPECT_NE(a->sealed().nonce(), b->sealed().nonce());
  EXPECT_NE(a->sealed().ciphertext(), b->sealed().ciphertext());
  EXPECT_NE(a->sealed().keys(0).enc(), b->sealed().keys(0).enc());
  for (const Alert* outer : {&*a, &*b}) {
    absl::StatusOr<Alert> full = OpenSealedAlert(
        *outer, "sidn.nl/ams1",
        [&](uint64_t e) { return e == 0 ? v.KeyOf("sidn.nl/ams1") : nullptr; });
    ASSERT_TRUE(full.ok()) << full.status();
    EXPECT_EQ(full->title(), v.full.title());
  }
}

TEST(SealTest, SealRefusesBadInputs) {
  const WorkedVector v = LoadVector();
  Alert amber = v.full;
  amber.set_tlp(watchfloor::v1::TLP_AMBER);
  EXPECT_EQ(SealAlert(amber, v.Recipients()).status(),
            absl::InvalidArgumentError("only TLP_AMBER_STRICT and TLP_RED "
                                       "alerts are sealed, not TLP_AMBER"));
  std::vector<SealRecipient> stranger = v.Recipients();
  stranger[0].node = "nask.pl/waw1";
  EXPECT_EQ(SealAlert(v.full, stranger).status(),
            absl::InvalidArgumentError(
                "recipient node nask.pl/waw1 does not belong to a member in "
                "recipients (cesnet.cz, sidn.nl)"));
  std::vector<SealRecipient> twice = v.Recipients();
  twice.push_back(twice[0]);
  EXPECT_EQ(SealAlert(v.full, twice).status(),
            absl::InvalidArgumentError(
                "recipient node sidn.nl/ams1 key epoch 0 is given twice"));
  std::vector<SealRecipient> no_cesnet = v.Recipients();
  no_cesnet.erase(no_cesnet.begin() + 1);
  EXPECT_EQ(SealAlert(v.full, no_cesnet).status(),
            absl::InvalidArgumentError(
                "recipients[0] \"cesnet.cz\" has no node key in sealed.keys"));
  EXPECT_EQ(SealAlert(v.full, {}).status(),
            absl::InvalidArgumentError(
                "sealing needs 1..1024 recipient node keys, got 0"));
  SealSecrets short_key = v.Secrets();
  short_key.content_key.pop_back();
  EXPECT_EQ(SealAlert(v.full, v.Recipients(), short_key).status(),
            absl::InvalidArgumentError("content key must be 32 bytes, got 31"));
}

// docs/PROTOCOL.md prints the vector: its hex must be the data's.
TEST(SealVectorTest, ProtocolDocPrintsThisVector) {
  const WorkedVector v = LoadVector();
  std::ifstream in(WF_SOURCE_DIR "/docs/PROTOCOL.md");
  ASSERT_TRUE(in.good());
  std::string hex_lines;  // the indented hex blocks, joined
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("    ", 0) == 0 &&
        line.find_first_not_of("0123456789abcdef ") == std::string::npos) {
      hex_lines += line.substr(4);
    }
  }
  for (const std::string* bytes :
       {&v.outer, &v.inner, &v.context, &v.content_key, &v.nonce,
        &v.second_outer, &v.infos[0]}) {
    EXPECT_NE(hex_lines.find(HexEncode(*bytes)), std::string::npos)
        << HexEncode(*bytes);
  }
}

// A clear alert passes the shape check (it is not sealed), but there is
// nothing to open.
TEST(SealTest, OpeningAClearAlertIsInvalidArgument) {
  Alert clear;
  clear.set_origin("nic.cz/prg1");
  clear.set_sequence(1);
  clear.set_tlp(watchfloor::v1::TLP_AMBER);
  clear.set_title("in clear");
  EXPECT_EQ(ValidateSealedShape(clear), absl::OkStatus());
  EXPECT_EQ(OpenSealedAlert(clear, "cesnet.cz/prg2",
                            [](uint64_t) -> const EncryptionKey* { return nullptr; })
                .status(),
            absl::InvalidArgumentError("alert is not sealed (tlp TLP_AMBER)"));
}

// ------------------------------------------------------------ the cases

absl::StatusCode CodeNamed(const std::string& name) {
  static const std::map<std::string, absl::StatusCode> kCodes = {
      {"OK", absl::StatusCode::kOk},
      {"INVALID_ARGUMENT", absl::StatusCode::kInvalidArgument},
      {"PERMISSION_DENIED", absl::StatusCode::kPermissionDenied},
      {"FAILED_PRECONDITION", absl::StatusCode::kFailedPrecondition},
      {"DATA_LOSS", absl::StatusCode::kDataLoss},
  };
  auto it = kCodes.find(name);
  EXPECT_NE(it, kCodes.end()) << "unknown status " << name;
  return it == kCodes.end() ? absl::StatusCode::kUnknown : it->second;
}

std::vector<std::string> CaseFiles() {
  std::vector<std::string> out;
  DIR* dir = opendir(kDir.c_str());
  EXPECT_NE(dir, nullptr) << kDir;
  if (dir == nullptr) return out;
  while (dirent* e = readdir(dir)) {
    const std::string name = e->d_name;
    if (name.size() > 5 && name.substr(name.size() - 5) == ".case") {
      out.push_back(name);
    }
  }
  closedir(dir);
  std::sort(out.begin(), out.end());
  return out;
}

// Opens `outer` as the case's node, with that node's vector key available
// at the case's epochs ("none": no key; "wrong": another node's key at 0).
absl::StatusOr<Alert> OpenAsCase(const WorkedVector& v, const Alert& outer,
                                 const std::string& node,
                                 const std::string& keys) {
  const EncryptionKey* key = v.KeyOf(node);
  std::vector<uint64_t> epochs;
  if (keys == "wrong") {
    key = v.KeyOf(node == "sidn.nl/ams1" ? "sidn.nl/ams2" : "sidn.nl/ams1");
    epochs.push_back(0);
  } else if (keys != "none") {
    for (absl::string_view e : absl::StrSplit(keys, ',')) {
      uint64_t epoch = 0;
      EXPECT_TRUE(absl::SimpleAtoi(e, &epoch)) << keys;
      epochs.push_back(epoch);
    }
  }
  return OpenSealedAlert(outer, node, [&](uint64_t epoch) -> const EncryptionKey* {
    const bool has =
        std::find(epochs.begin(), epochs.end(), epoch) != epochs.end();
    return has ? key : nullptr;
  });
}

TEST(SealCasesTest, EveryCaseGivesItsExactStatus) {
  const WorkedVector v = LoadVector();
  const std::vector<std::string> files = CaseFiles();
  ASSERT_GE(files.size(), 30u);
  int opens = 0;
  for (const std::string& file : files) {
    SCOPED_TRACE(file);
    const auto f = ReadFields(kDir + "/" + file);
    const Alert outer = ParseAlert(One(f, "alert"));
    const absl::Status expected(CodeNamed(One(f, "status")), One(f, "message"));
    absl::Status got;
    if (One(f, "check") == "shape") {
      got = ValidateSealedShape(outer);
    } else {
      ASSERT_EQ(One(f, "check"), "open");
      absl::StatusOr<Alert> full =
          OpenAsCase(v, outer, One(f, "node"), One(f, "keys"));
      got = full.status();
      if (full.ok()) {
        EXPECT_EQ(full->title(), v.full.title());
      }
      ++opens;
      // Whatever OpenSealedAlert says, a relay's shape check passes for
      // every open case: these tamperings are only visible with a key.
      if (One(f, "status") != "INVALID_ARGUMENT") {
        EXPECT_EQ(ValidateSealedShape(outer), absl::OkStatus());
      }
    }
    EXPECT_EQ(got, expected);
  }
  EXPECT_GE(opens, 20);
}

}  // namespace
}  // namespace watchfloor::certs
