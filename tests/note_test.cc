// certs/note.h: C2SP signed notes, checkpoints and cosignatures.
//
// Reference values and their sources:
//  - golang.org/x/mod/sumdb/note note_test.go: the PeterNeumann signer and
//    verifier keys, its signed note (TestSign, byte for byte), the EnochRoot
//    key and signature (TestOpen), the key manglings of TestNewVerifier, and
//    the malformed notes of TestOpen.
//  - c2sp.org/signed-note, "Verifier keys" example: example.com/foo.
//  - transparency-dev/formats note/note_cosigv1_test.go: the vkeys
//    TEST+7997405c (type 0x01, base64 with a '+') and remora.n621.de+da77ade7
//    (type 0x04), and the cosignature/v1 timestamp 1727964367.
//  - A real checkpoint of the transparency.dev staging CT log
//    arche2025h1.staging.ct.transparency.dev with the cosignature of the
//    public witness remora.n621.de (as quoted in the tests of the Python
//    tlog_scales project): an interop check of cosignature/v1 against a
//    deployed witness.
//  - tests/testdata/note/make_cases.py: an independent Python
//    implementation that writes the worked example and the tamper cases.
#include "certs/note.h"

#include <dirent.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "certs/ids.h"
#include "certs/keys.h"
#include "certs/merkle.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace watchfloor::certs {
namespace {

using ::testing::HasSubstr;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << path;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string Unbase64(absl::string_view b64) {
  std::string out;
  EXPECT_TRUE(absl::Base64Unescape(b64, &out)) << b64;
  return out;
}

PublicKey KeyOf(absl::string_view vkey) {
  absl::StatusOr<VerifierKey> parsed = ParseNoteVerifierKey(vkey);
  EXPECT_TRUE(parsed.ok()) << parsed.status();
  if (!parsed.ok()) return *PublicKey::FromRaw(std::string(32, '\0'));
  return parsed->key;
}

// ------------------------------------------------ golang.org/x/mod vectors

constexpr absl::string_view kPeterVkey =
    "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW";
constexpr absl::string_view kPeterSkey =
    "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz";
constexpr absl::string_view kEnochVkey =
    "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop";
constexpr absl::string_view kGoText =
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n";
constexpr absl::string_view kPeterSig =
    "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZ"
    "SNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n";
constexpr absl::string_view kEnochSig =
    "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5"
    "ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n";

SigningKey PeterSigningKey() {
  // The skey's base64 is the type byte 0x01 and the 32-byte seed.
  const std::string typed = Unbase64(kPeterSkey.substr(34));
  EXPECT_EQ(typed.size(), 33u);
  return *SigningKey::FromSeed(typed.substr(1));
}

TEST(NoteKeyTest, VerifierKeysOfOtherImplementationsRoundTrip) {
  struct Case {
    absl::string_view vkey;
    absl::string_view name;
    uint8_t type;
    uint32_t key_id;
  };
  const Case cases[] = {
      {kPeterVkey, "PeterNeumann", 0x01, 0xc74f20a3},
      {kEnochVkey, "EnochRoot", 0x01, 0xaf0cfe78},
      {"example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
       "example.com/foo", 0x01, 0x530d903a},
      {"TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6", "TEST",
       0x01, 0x7997405c},
      {"remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2",
       "remora.n621.de", 0x04, 0xda77ade7},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.vkey);
    absl::StatusOr<VerifierKey> v = ParseNoteVerifierKey(c.vkey);
    ASSERT_TRUE(v.ok()) << v.status();
    EXPECT_EQ(v->name, c.name);
    EXPECT_EQ(v->type, c.type);
    EXPECT_EQ(v->key_id, c.key_id);
    EXPECT_EQ(NoteKeyId(c.name, c.type, v->key), c.key_id);
    EXPECT_EQ(NoteVerifierKey(c.name, v->key, c.type), c.vkey);
  }
  EXPECT_EQ(NoteVerifierKey("PeterNeumann", PeterSigningKey().public_key()),
            kPeterVkey);
}

TEST(NoteKeyTest, EveryManglingOfAVerifierKeyIsRejected) {
  // TestNewVerifier: every proper substring and every byte incremented.
  const std::string vkey(kPeterVkey);
  for (size_t i = 0; i <= vkey.size(); ++i) {
    for (size_t j = i + 1; j <= vkey.size(); ++j) {
      if (i == 0 && j == vkey.size()) continue;
      EXPECT_EQ(ParseNoteVerifierKey(vkey.substr(i, j - i)).status().code(),
                absl::StatusCode::kInvalidArgument)
          << vkey.substr(i, j - i);
    }
  }
  for (size_t i = 0; i < vkey.size(); ++i) {
    std::string bad = vkey;
    ++bad[i];
    EXPECT_EQ(ParseNoteVerifierKey(bad).status().code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
  // Wrong key length and unknown type, each with a matching key id.
  EXPECT_EQ(
      ParseNoteVerifierKey("PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVk"
                           "mqq/LDE4izWy10TWBADKEY==")
          .status()
          .code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseNoteVerifierKey(
                "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/"
                "LDE4izWy10TW")
                .status(),
            absl::InvalidArgumentError(
                "verifier key \"PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfs"
                "Vkmqq/LDE4izWy10TW\" has type 0x65, want 0x01 or 0x04"));
}

TEST(NoteKeyTest, KeyNamesFollowTheSignedNoteRules) {
  EXPECT_TRUE(ValidateKeyName("watchfloor/nic.cz/prg1").ok());
  EXPECT_TRUE(ValidateKeyName("quasimodo.example/salvatore").ok());
  for (absl::string_view bad :
       {"", "a b", "a+b", "tab\there", "nbsp\xc2\xa0here", "em\xe2\x80\x83space",
        "bad\xffutf8"}) {
    EXPECT_EQ(ValidateKeyName(bad).code(), absl::StatusCode::kInvalidArgument)
        << bad;
  }
}

TEST(SignNoteTest, ReproducesTheGoSumdbNoteSignatureByteForByte) {
  const std::string want = absl::StrCat(kGoText, "\n", kPeterSig);
  EXPECT_EQ(SignNote(kGoText, "PeterNeumann", PeterSigningKey()), want);
  absl::StatusOr<ParsedNote> note = ParseNote(want);
  ASSERT_TRUE(note.ok()) << note.status();
  EXPECT_EQ(note->text, kGoText);
  ASSERT_EQ(note->signatures.size(), 1u);
  EXPECT_EQ(note->signatures[0].name, "PeterNeumann");
  EXPECT_EQ(note->signatures[0].key_id, 0xc74f20a3u);
  EXPECT_TRUE(VerifyNoteSignature(*note, "PeterNeumann", KeyOf(kPeterVkey)).ok());
  EXPECT_EQ(FormatNote(*note), want);
}

TEST(SignNoteTest, VerifiesEachKnownKeyAndIgnoresUnknownOnes) {
  const std::string text = absl::StrCat(kGoText, "\n", kPeterSig, kEnochSig);
  absl::StatusOr<ParsedNote> note = ParseNote(text);
  ASSERT_TRUE(note.ok()) << note.status();
  EXPECT_TRUE(VerifyNoteSignature(*note, "PeterNeumann", KeyOf(kPeterVkey)).ok());
  EXPECT_TRUE(VerifyNoteSignature(*note, "EnochRoot", KeyOf(kEnochVkey)).ok());
  // Same key, other name: no line has that (name, key id). The vkey starts
  // with the "<name>+<key id>" that the message names.
  const std::string peter_label =
      NoteVerifierKey("Peter", KeyOf(kPeterVkey)).substr(0, 14);
  EXPECT_EQ(VerifyNoteSignature(*note, "Peter", KeyOf(kPeterVkey)),
            absl::UnauthenticatedError("no signature by " + peter_label));
  // Go's "Invalid signature" case: four characters inserted at byte 60.
  std::string bad = absl::StrCat(kGoText, "\n", kPeterSig.substr(0, 60), "ABCD",
                                 kPeterSig.substr(60));
  absl::StatusOr<ParsedNote> bad_note = ParseNote(bad);
  ASSERT_TRUE(bad_note.ok()) << bad_note.status();
  EXPECT_EQ(VerifyNoteSignature(*bad_note, "PeterNeumann", KeyOf(kPeterVkey)),
            absl::InvalidArgumentError(
                "signature by PeterNeumann+c74f20a3 is 67 bytes, want 64"));
}

TEST(SignNoteTest, VerifiesTheC2spSignedNoteExample) {
  absl::StatusOr<ParsedNote> note = ParseNote(
      "This is an example message.\n\n— example.com/foo "
      "Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZXsYjOBH3mFXmR"
      "KuwHjG1Yu72IneyaQM=\n");
  ASSERT_TRUE(note.ok()) << note.status();
  EXPECT_TRUE(VerifyNoteSignature(
                  *note, "example.com/foo",
                  KeyOf("example.com/foo+530d903a+"
                        "AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"))
                  .ok());
}

TEST(ParseNoteTest, RejectsGoSumdbNoteMalformedMessages) {
  const std::string text(kGoText);
  const std::string sig(kPeterSig);
  const std::vector<std::pair<std::string, std::string>> bad = {
      {text, "note has no blank line before its signatures"},
      {text + "\n", "note has no signature lines"},
      {text + "\n" + sig.substr(0, sig.size() - 1),
       "note does not end with a newline"},
      {"\x01" + text + "\n" + sig, "note has control character 0x01 at byte 0"},
      {"\xff" + text + "\n" + sig, "note is not valid UTF-8 at byte 0"},
      {text + "\n" + "— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInN"
                     "IuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n",
       "signature line 1 has malformed base64"},
      {text + "\n" + sig + "Unexpected line.\n",
       "signature line 2 does not start with an em dash (U+2014) and a space"},
  };
  for (const auto& [note, message] : bad) {
    EXPECT_EQ(ParseNote(note).status(), absl::InvalidArgumentError(message))
        << note;
  }
}

TEST(ParseNoteTest, AcceptsUpTo100SignaturesAndNoMore) {
  std::string note = absl::StrCat(kGoText, "\n");
  for (int i = 0; i < 100; ++i) absl::StrAppend(&note, kPeterSig);
  EXPECT_TRUE(ParseNote(note).ok());
  absl::StrAppend(&note, kPeterSig);
  EXPECT_EQ(ParseNote(note).status(),
            absl::InvalidArgumentError("note has more than 100 signatures"));
}

TEST(ParseNoteTest, SplitsAtTheLastBlankLine) {
  const SigningKey key = PeterSigningKey();
  const std::string text = "first paragraph\n\nsecond paragraph\n";
  absl::StatusOr<ParsedNote> note =
      ParseNote(SignNote(text, "PeterNeumann", key));
  ASSERT_TRUE(note.ok()) << note.status();
  EXPECT_EQ(note->text, text);
  EXPECT_TRUE(VerifyNoteSignature(*note, "PeterNeumann", key.public_key()).ok());
}

TEST(ParseNoteTest, RejectsNonCanonicalBase64) {
  // The same signature without its '=' padding.
  std::string sig(kPeterSig);
  sig.erase(sig.size() - 2, 1);
  EXPECT_EQ(ParseNote(absl::StrCat(kGoText, "\n", sig)).status(),
            absl::InvalidArgumentError("signature line 1 has malformed base64"));
}

TEST(AddSignatureTest, AppendsAVerifiableSecondSignature) {
  const SigningKey a = PeterSigningKey();
  const SigningKey b = *SigningKey::FromSeed(std::string(32, '\x07'));
  absl::StatusOr<std::string> both =
      AddSignature(SignNote(kGoText, "a.example/a", a), "b.example/b", b);
  ASSERT_TRUE(both.ok()) << both.status();
  absl::StatusOr<ParsedNote> note = ParseNote(*both);
  ASSERT_TRUE(note.ok());
  ASSERT_EQ(note->signatures.size(), 2u);
  EXPECT_TRUE(VerifyNoteSignature(*note, "a.example/a", a.public_key()).ok());
  EXPECT_TRUE(VerifyNoteSignature(*note, "b.example/b", b.public_key()).ok());
  EXPECT_EQ(AddSignature("not a note", "b", b).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(AddSignature(*both, "bad name", b).status().code(),
            absl::StatusCode::kInvalidArgument);
}

// -------------------------------------------------------------- checkpoints

TEST(CheckpointTest, FormatAndParseRoundTripWithExtensions) {
  Checkpoint cp{"watchfloor/nic.cz/prg1", 18446744073709551615u,
                HashLeaf("x"), {"ext one", "ext two"}};
  const std::string body = FormatCheckpoint(cp);
  EXPECT_EQ(body, absl::StrCat("watchfloor/nic.cz/prg1\n18446744073709551615\n",
                               absl::Base64Escape(HashLeaf("x")),
                               "\next one\next two\n"));
  absl::StatusOr<Checkpoint> parsed = ParseCheckpoint(body);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(*parsed, cp);
  Checkpoint empty{"o", 0, EmptyRoot(), {}};
  EXPECT_EQ(*ParseCheckpoint(FormatCheckpoint(empty)), empty);
}

TEST(CheckpointTest, ParsesTheC2spExampleBody) {
  absl::StatusOr<Checkpoint> cp = ParseCheckpoint(
      "example.com/behind-the-sofa\n20852163\n"
      "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n");
  ASSERT_TRUE(cp.ok()) << cp.status();
  EXPECT_EQ(cp->origin, "example.com/behind-the-sofa");
  EXPECT_EQ(cp->size, 20852163u);
  EXPECT_EQ(absl::Base64Escape(cp->root_hash),
            "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=");
}

TEST(CheckpointTest, RejectsMalformedBodiesExactly) {
  const std::string root = absl::Base64Escape(HashLeaf("x"));
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"o\n1\n", "checkpoint has 2 lines, want at least 3"},
      {"\n1\n" + root + "\n", "checkpoint origin line is empty"},
      {"o\n01\n" + root + "\n",
       "checkpoint tree size \"01\" is not a decimal number without leading "
       "zeros"},
      {"o\n-1\n" + root + "\n",
       "checkpoint tree size \"-1\" is not a decimal number without leading "
       "zeros"},
      {"o\n18446744073709551616\n" + root + "\n",
       "checkpoint tree size 18446744073709551616 does not fit in 64 bits"},
      {"o\n1\n" + root.substr(0, 43) + "\n",
       "checkpoint root hash is not canonical padded base64"},
      {"o\n1\nAAAA\n", "checkpoint root hash is 3 bytes, want 32"},
      {"o\n1\n" + root + "\n\next\n", "checkpoint extension line 1 is empty"},
      {"o\n1\n" + root, "note text does not end with a newline"},
  };
  for (const auto& [body, message] : bad) {
    EXPECT_EQ(ParseCheckpoint(body).status(),
              absl::InvalidArgumentError(message))
        << body;
  }
}

TEST(CheckpointTest, LogOriginsMapToFeedOrigins) {
  EXPECT_EQ(LogOrigin("nic.cz/prg1"), "watchfloor/nic.cz/prg1");
  EXPECT_EQ(*FeedOriginFromLogOrigin("watchfloor/nic.cz/prg1"), "nic.cz/prg1");
  for (absl::string_view bad :
       {"nic.cz/prg1", "watchfloor/nic.cz", "watchfloor//prg1",
        "watchfloor/nic.cz/", "watchfloor/nic.cz/prg1/x", "watchfloor/NIC/p",
        "example.com/watchfloor/a/b"}) {
    EXPECT_EQ(FeedOriginFromLogOrigin(bad).status().code(),
              absl::StatusCode::kInvalidArgument)
        << bad;
  }
}

// ------------------------------------------------------------- cosignatures

TEST(CosignatureTest, RoundTripReturnsTheLatestTimestamp) {
  const SigningKey log = PeterSigningKey();
  const SigningKey witness = *SigningKey::FromSeed(std::string(32, '\x42'));
  const std::string body =
      FormatCheckpoint({"watchfloor/a.example/n1", 3, HashLeaf("r"), {}});
  const std::string note =
      SignNote(body, "watchfloor/a.example/n1", log) +
      CosignatureLine(body, "watchfloor/b.example/w1", witness, 1000) +
      CosignatureLine(body, "watchfloor/b.example/w1", witness, 2000);
  absl::StatusOr<ParsedNote> parsed = ParseNote(note);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  absl::StatusOr<uint64_t> time =
      VerifyCosignature(*parsed, "watchfloor/b.example/w1", witness.public_key());
  ASSERT_TRUE(time.ok()) << time.status();
  EXPECT_EQ(*time, 2000u);
  // A cosignature is no note signature of the same key, and vice versa.
  EXPECT_EQ(VerifyNoteSignature(*parsed, "watchfloor/b.example/w1",
                                witness.public_key())
                .code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(VerifyCosignature(*parsed, "watchfloor/a.example/n1",
                              log.public_key())
                .status()
                .code(),
            absl::StatusCode::kUnauthenticated);
  absl::StatusOr<Checkpoint> cp =
      OpenCheckpoint(note, "watchfloor/a.example/n1", log.public_key());
  ASSERT_TRUE(cp.ok()) << cp.status();
  EXPECT_EQ(cp->size, 3u);
}

TEST(CosignatureTest, TimestampIsTheEightBytesAfterTheKeyId) {
  // transparency-dev/formats TestCosignatureTimestamp ("works").
  const std::string note = absl::StrCat(
      "o\n1\n", absl::Base64Escape(HashLeaf("x")),
      "\n\n— w ZGhGuQAAAABm/qTPeyKXD+R2rzyQsxPiP8mXum7qq/iF0u4vanlqJyocWODBt97w9u"
      "L+8qT7S5gxEHWWOworDcFiEBYJXORmnFBOBA==\n");
  absl::StatusOr<ParsedNote> parsed = ParseNote(note);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ASSERT_EQ(parsed->signatures[0].signature.size(), 72u);
  uint64_t t = 0;
  for (int i = 0; i < 8; ++i) {
    t = (t << 8) | static_cast<unsigned char>(parsed->signatures[0].signature[i]);
  }
  EXPECT_EQ(t, 1727964367u);
}

TEST(CosignatureTest, VerifiesARealWitnessCosignatureOfARealLog) {
  const std::string note =
      "arche2025h1.staging.ct.transparency.dev\n"
      "1432088532\n"
      "U7WM79jrzyhGZ5/GUBTpM7NzwdyfFx61t3RovgcC4Ro=\n"
      "\n"
      "— arche2025h1.staging.ct.transparency.dev "
      "zTM8sQAAAZ5W0WdjBAMARjBEAiBjW5IQf9pvsYLfQFX6hoGREPMHbdQ3urbllzalApkptQIgI"
      "pwtEroeW2BXaHAI4kJXFbon5Ch9MNL5zRNZ55lvGt0=\n"
      "— arche2025h1.staging.ct.transparency.dev "
      "ui8GwCF1+kWqZrxGdhj4aX3gcw7XUlXQQabg/27lefwhUkzbC3NygNI75MdhL1bfTW9g8Ei59"
      "RA23oHP7Ry1k3ZFWwQ=\n"
      "— transparency.dev/DEV:witness-little-garden "
      "2AQqhwAAAABqEiEgzgFIqqhbUoDwjMWE6UP8nd8/KYTzwZ2rhIgcqoXHAwVkjZr4AscylP3v7"
      "sEodkRAErumC2q44vdgJY096st5BQ==\n"
      "— witness1.smartit.nu/witness1 "
      "pIyCDwAAAABqEiEghIp82KWebrw7/oHQwlTAm3g2RKS4+eebl8eO0WH+/iEcxZ75W3u5hNI7T"
      "OQtmJbqmNWVuE0tgh0XwzdZsDsUAQ==\n"
      "— remora.n621.de "
      "2net5wAAAABqEiEgPlfF3V06o0Y+fHM+J5J9s27wgxxcOVSpZ/2g/KSiXCg9DEZI+aVCIobWX"
      "9sXTynk5XeU/zZ0WBxtqB0DrAWfBw==\n"
      "— witness.stagemole.eu "
      "Z/euoAAAAABqEiEgw0i+7g2ENfDAWHmtRzCfKTHSDwYDJA2NmKeGi9Y8FtEyOUvVr+AJmIY/2"
      "TUFucgKi7lI7cUiOvKFYe/TmN9DAg==\n";
  absl::StatusOr<ParsedNote> parsed = ParseNote(note);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->signatures.size(), 6u);
  EXPECT_EQ(FormatNote(*parsed), note);
  EXPECT_TRUE(VerifyNoteSignature(
                  *parsed, "arche2025h1.staging.ct.transparency.dev",
                  KeyOf("arche2025h1.staging.ct.transparency.dev+ba2f06c0+"
                        "AU0vHmlGCS/PdN8b2OaGmKprLI8HKM+dJ472xgFYh15f"))
                  .ok());
  absl::StatusOr<uint64_t> time = VerifyCosignature(
      *parsed, "remora.n621.de",
      KeyOf("remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2"));
  ASSERT_TRUE(time.ok()) << time.status();
  EXPECT_EQ(*time, 0x6a122120u);  // 1779573024
  absl::StatusOr<Checkpoint> cp = ParseCheckpoint(parsed->text);
  ASSERT_TRUE(cp.ok()) << cp.status();
  EXPECT_EQ(cp->size, 1432088532u);
  // The same cosignature on a body with another size does not verify.
  parsed->text = absl::StrReplaceAll(parsed->text, {{"1432088532", "42"}});
  EXPECT_EQ(VerifyCosignature(*parsed, "remora.n621.de",
                              KeyOf("remora.n621.de+da77ade7+"
                                    "BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2"))
                .status(),
            absl::UnauthenticatedError(
                "cosignature by remora.n621.de+da77ade7 does not verify"));
}

// ------------------------------------------------------------ worked example

const std::string kWorkedDir =
    std::string(WF_SOURCE_DIR) + "/tests/testdata/note/worked-example/";

std::string Trimmed(std::string s) {
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

TEST(NoteWorkedExampleTest, IsReproducedByteForByte) {
  const SigningKey log =
      *SigningKey::FromSeed(*HexDecode(Trimmed(ReadFile(kWorkedDir + "log-seed.hex"))));
  const SigningKey witness = *SigningKey::FromSeed(
      *HexDecode(Trimmed(ReadFile(kWorkedDir + "witness-seed.hex"))));
  const std::string log_name = LogOrigin("example.cz/prg1");
  const std::string witness_name = LogOrigin("example.org/ams1");
  // The log of the feed example.cz/prg1 holding PROTOCOL.md's worked-example
  // alert: one leaf, so the root is that alert id.
  const std::string root = *HexDecode(
      "d026304edae9a5a0688943ce659762a97fa6f404fa41cf24786073393164b80f");
  EXPECT_EQ(RootFromLeaves({root}), root);
  const std::string body = FormatCheckpoint({log_name, 1, root, {}});
  EXPECT_EQ(body, ReadFile(kWorkedDir + "checkpoint.txt"));
  EXPECT_EQ(NoteVerifierKey(log_name, log.public_key()) + "\n",
            ReadFile(kWorkedDir + "log-vkey.txt"));
  EXPECT_EQ(NoteVerifierKey(witness_name, witness.public_key(),
                            kNoteTypeCosignatureV1) +
                "\n",
            ReadFile(kWorkedDir + "witness-vkey.txt"));
  const std::string note = SignNote(body, log_name, log);
  EXPECT_EQ(note, ReadFile(kWorkedDir + "checkpoint.note"));
  constexpr uint64_t kTime = 1767225660;  // 2026-01-01T00:01:00Z
  EXPECT_EQ(CosignatureMessage(body, kTime),
            ReadFile(kWorkedDir + "cosignature-message.txt"));
  const std::string cosigned =
      note + CosignatureLine(body, witness_name, witness, kTime);
  EXPECT_EQ(cosigned, ReadFile(kWorkedDir + "cosigned.note"));

  absl::StatusOr<Checkpoint> cp =
      OpenCheckpoint(cosigned, log_name, log.public_key());
  ASSERT_TRUE(cp.ok()) << cp.status();
  EXPECT_EQ(cp->root_hash, root);
  absl::StatusOr<ParsedNote> parsed = ParseNote(cosigned);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(*VerifyCosignature(*parsed, witness_name, witness.public_key()),
            kTime);
}

// Every single-bit change anywhere in the cosigned worked example (body,
// names, base64, em dashes, newlines) makes the log's signature or the
// witness's cosignature fail: canonical base64 leaves no slack bits.
TEST(NoteWorkedExampleTest, EveryBitFlipOfTheCosignedCheckpointIsCaught) {
  const std::string cosigned = ReadFile(kWorkedDir + "cosigned.note");
  const PublicKey log = KeyOf(Trimmed(ReadFile(kWorkedDir + "log-vkey.txt")));
  const PublicKey witness =
      KeyOf(Trimmed(ReadFile(kWorkedDir + "witness-vkey.txt")));
  const std::string log_name = "watchfloor/example.cz/prg1";
  const std::string witness_name = "watchfloor/example.org/ams1";
  auto both_ok = [&](const std::string& note) {
    if (!OpenCheckpoint(note, log_name, log).ok()) return false;
    absl::StatusOr<ParsedNote> parsed = ParseNote(note);
    return parsed.ok() && VerifyCosignature(*parsed, witness_name, witness).ok();
  };
  ASSERT_TRUE(both_ok(cosigned));
  for (size_t i = 0; i < cosigned.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string mutant = cosigned;
      mutant[i] ^= static_cast<char>(1 << bit);
      EXPECT_FALSE(both_ok(mutant)) << "byte " << i << " bit " << bit;
    }
  }
}

// -------------------------------------------------------------- tamper cases

struct NoteCase {
  std::map<std::string, std::string> fields;
  std::string note;
};

NoteCase ReadNoteCase(const std::string& path) {
  const std::string content = ReadFile(path);
  NoteCase c;
  size_t pos = 0;
  while (pos < content.size()) {
    const size_t eol = content.find('\n', pos);
    EXPECT_NE(eol, std::string::npos) << path;
    if (eol == std::string::npos) break;
    const std::string line = content.substr(pos, eol - pos);
    pos = eol + 1;
    if (line.empty() || line[0] == '#') continue;
    if (line == "note:") {
      c.note = content.substr(pos);
      return c;
    }
    const size_t colon = line.find(':');
    EXPECT_NE(colon, std::string::npos) << path << ": " << line;
    if (colon == std::string::npos) continue;
    std::string value = line.substr(colon + 1);
    if (!value.empty() && value[0] == ' ') value.erase(0, 1);
    c.fields[line.substr(0, colon)] = value;
  }
  ADD_FAILURE() << path << " has no \"note:\" line";
  return c;
}

TEST(NoteTamperTest, EveryCaseFileFailsWithItsExactCodeAndMessage) {
  const std::string dir =
      std::string(WF_SOURCE_DIR) + "/tests/testdata/note/tamper/";
  std::vector<std::string> names;
  DIR* d = opendir(dir.c_str());
  ASSERT_NE(d, nullptr) << dir;
  while (dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    if (name.size() > 4 && name.substr(name.size() - 4) == ".txt") {
      names.push_back(name);
    }
  }
  closedir(d);
  std::sort(names.begin(), names.end());
  const std::set<std::string> have(names.begin(), names.end());
  for (const char* required :
       {"flipped-signature-bit.txt", "flipped-body-bit.txt", "wrong-key.txt",
        "non-member-key.txt", "forged-cosignature.txt",
        "cosignature-over-different-body.txt"}) {
    EXPECT_EQ(have.count(required), 1u) << required;
  }
  ASSERT_GE(names.size(), 18u);
  for (const std::string& name : names) {
    SCOPED_TRACE(name);
    NoteCase c = ReadNoteCase(dir + name);
    absl::StatusOr<std::string> raw = HexDecode(c.fields["public-key"]);
    ASSERT_TRUE(raw.ok());
    const PublicKey key = *PublicKey::FromRaw(*raw);
    const std::string& key_name = c.fields["key-name"];
    absl::Status status;
    if (c.fields["check"] == "checkpoint") {
      status = OpenCheckpoint(c.note, key_name, key).status();
    } else if (c.fields["check"] == "cosignature") {
      absl::StatusOr<ParsedNote> parsed = ParseNote(c.note);
      absl::StatusOr<uint64_t> time =
          parsed.ok() ? VerifyCosignature(*parsed, key_name, key)
                      : absl::StatusOr<uint64_t>(parsed.status());
      status = time.status();
      if (time.ok()) {
        EXPECT_EQ(absl::StrCat(*time), c.fields["expect-time"]);
      }
    } else {
      ADD_FAILURE() << "unknown check " << c.fields["check"];
      continue;
    }
    EXPECT_EQ(absl::StatusCodeToString(status.code()), c.fields["expect-code"])
        << status;
    EXPECT_EQ(status.message(), c.fields["expect-message"]);
  }
}

}  // namespace
}  // namespace watchfloor::certs
