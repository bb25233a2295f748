// The node's config file (node/config.h) and the startup checks a node makes
// before it serves (NodeServer::Start, through TestNode): every refusal has
// its own code and leaves the data directory as it was.
#include "node/config.h"

#include <grp.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "node/sqlite_alert_store.h"
#include "tests/test_util.h"

namespace watchfloor::node {
namespace {

using watchfloor::testing::ReadFileOrDie;
using watchfloor::testing::SampleDraft;
using watchfloor::testing::TempDir;
using watchfloor::testing::TestNode;
using watchfloor::testing::WriteFile;
using watchfloor::v1::NodeConfig;

constexpr char kMinimal[] = R"pb(
origin: "nic.cz/prg1"
listen_address: "127.0.0.1:7400"
data_dir: "/var/lib/watchfloor"
signing_key_file: "/etc/watchfloor/node.key"
insecure_plaintext_loopback: true
)pb";

// kMinimal with the line of `field` replaced by `field: value`.
std::string With(absl::string_view field, absl::string_view value) {
  std::string out;
  for (absl::string_view line : absl::StrSplit(kMinimal, '\n')) {
    if (absl::StartsWith(line, absl::StrCat(field, ":"))) {
      absl::StrAppend(&out, field, ": ", value, "\n");
    } else {
      absl::StrAppend(&out, line, "\n");
    }
  }
  return out;
}

bool Contains(const absl::Status& st, absl::string_view part) {
  return absl::StrContains(st.message(), part);
}

TEST(ParseConfigTest, MinimalPlaintextLoopbackConfigParses) {
  absl::StatusOr<NodeConfig> c = ParseConfig(kMinimal, "node.conf", "/etc/watchfloor");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->origin(), "nic.cz/prg1");
  EXPECT_EQ(c->listen_address(), "127.0.0.1:7400");
  EXPECT_EQ(c->data_dir(), "/var/lib/watchfloor");
  EXPECT_EQ(c->signing_key_file(), "/etc/watchfloor/node.key");
  EXPECT_TRUE(c->insecure_plaintext_loopback());
}

TEST(ParseConfigTest, UnknownFieldIsInvalidArgumentNamingFileAndLine) {
  const std::string text = absl::StrCat(kMinimal, "colour: \"blue\"\n");
  absl::StatusOr<NodeConfig> c = ParseConfig(text, "node.conf", "/etc/watchfloor");
  ASSERT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << c.status();
  // kMinimal starts with a newline, so "colour" is on line 7.
  EXPECT_TRUE(Contains(c.status(), "node.conf")) << c.status();
  EXPECT_TRUE(Contains(c.status(), "line 7")) << c.status();
  EXPECT_TRUE(Contains(c.status(), "colour")) << c.status();
}

TEST(ParseConfigTest, UnknownNestedFieldIsInvalidArgumentNamingLine) {
  const std::string text = absl::StrCat(kMinimal, "limits {\n  max_subscriber: 3\n}\n");
  absl::StatusOr<NodeConfig> c = ParseConfig(text, "node.conf", "");
  ASSERT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << c.status();
  EXPECT_TRUE(Contains(c.status(), "line 8")) << c.status();
  EXPECT_TRUE(Contains(c.status(), "max_subscriber")) << c.status();
}

TEST(ParseConfigTest, SyntaxErrorIsInvalidArgumentNamingLine) {
  const std::string text = "origin: \"nic.cz/prg1\"\nlisten_address \"127.0.0.1:1\n";
  absl::StatusOr<NodeConfig> c = ParseConfig(text, "node.conf", "");
  ASSERT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << c.status();
  EXPECT_TRUE(Contains(c.status(), "node.conf")) << c.status();
  EXPECT_TRUE(Contains(c.status(), "line 2")) << c.status();
}

TEST(ParseConfigTest, WrongValueTypeIsInvalidArgument) {
  const std::string text = absl::StrCat(kMinimal, "limits { max_subscribers: -1 }\n");
  absl::StatusOr<NodeConfig> c = ParseConfig(text, "node.conf", "");
  ASSERT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << c.status();
  EXPECT_TRUE(Contains(c.status(), "line 7")) << c.status();
}

TEST(ParseConfigTest, EachMissingRequiredFieldIsInvalidArgumentNamingIt) {
  for (const char* field : {"origin", "listen_address", "data_dir", "signing_key_file"}) {
    SCOPED_TRACE(field);
    absl::StatusOr<NodeConfig> full = ParseConfig(kMinimal, "node.conf", "");
    ASSERT_TRUE(full.ok()) << full.status();
    NodeConfig c = *full;
    const auto* f = NodeConfig::descriptor()->FindFieldByName(field);
    ASSERT_NE(f, nullptr);
    c.GetReflection()->ClearField(&c, f);
    absl::Status st = CheckConfig(c);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
    EXPECT_EQ(st.message(), absl::StrCat("config: ", field, " is required"));
  }
}

TEST(ParseConfigTest, MalformedOriginIsInvalidArgument) {
  absl::StatusOr<NodeConfig> c = ParseConfig(
      With("origin", "\"NIC.cz/prg1\""), "node.conf", "");
  ASSERT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << c.status();
  EXPECT_TRUE(Contains(c.status(), "NIC.cz/prg1")) << c.status();
}

TEST(ParseConfigTest, ListenAddressWithoutPortIsInvalidArgument) {
  absl::StatusOr<NodeConfig> c = ParseConfig(
      With("listen_address", "\"127.0.0.1\""), "node.conf", "");
  ASSERT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << c.status();
  EXPECT_TRUE(Contains(c.status(), "must be host:port")) << c.status();
}

TEST(ParseConfigTest, KnownOriginNeedsValidOriginAndKeyFile) {
  absl::StatusOr<NodeConfig> bad_origin = ParseConfig(
      absl::StrCat(kMinimal, "known_origins { origin: \"x\" public_key_file: \"k.pem\" }\n"),
      "node.conf", "");
  EXPECT_EQ(bad_origin.status().code(), absl::StatusCode::kInvalidArgument)
      << bad_origin.status();
  absl::StatusOr<NodeConfig> no_key = ParseConfig(
      absl::StrCat(kMinimal, "known_origins { origin: \"nic.sk/bts1\" }\n"),
      "node.conf", "");
  ASSERT_EQ(no_key.status().code(), absl::StatusCode::kInvalidArgument)
      << no_key.status();
  EXPECT_TRUE(Contains(no_key.status(), "nic.sk/bts1 has no public_key_file"))
      << no_key.status();
}

TEST(ParseConfigTest, PartialTlsIsInvalidArgument) {
  const std::vector<std::string> partial = {
      "tls { cert_file: \"c.pem\" }",
      "tls { key_file: \"k.pem\" }",
      "tls { client_ca_file: \"ca.pem\" }",
      "tls { cert_file: \"c.pem\" key_file: \"k.pem\" }",
      "tls { key_file: \"k.pem\" client_ca_file: \"ca.pem\" }",
  };
  for (const std::string& tls : partial) {
    SCOPED_TRACE(tls);
    absl::StatusOr<NodeConfig> c = ParseConfig(
        absl::StrCat("origin: \"nic.cz/prg1\" listen_address: \"10.0.0.1:7400\" "
                     "data_dir: \"d\" signing_key_file: \"k\" ",
                     tls),
        "node.conf", "");
    ASSERT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << c.status();
    EXPECT_TRUE(Contains(c.status(),
                         "tls needs cert_file, key_file and client_ca_file together"))
        << c.status();
  }
}

TEST(ParseConfigTest, FullTlsOnAnyAddressParses) {
  absl::StatusOr<NodeConfig> c = ParseConfig(
      "origin: \"nic.cz/prg1\" listen_address: \"0.0.0.0:7400\" "
      "data_dir: \"d\" signing_key_file: \"k\" "
      "tls { cert_file: \"c.pem\" key_file: \"k.pem\" client_ca_file: \"ca.pem\" }",
      "node.conf", "");
  EXPECT_TRUE(c.ok()) << c.status();
}

TEST(ParseConfigTest, TlsAndPlaintextTogetherIsInvalidArgument) {
  absl::StatusOr<NodeConfig> c = ParseConfig(
      absl::StrCat(kMinimal,
                   "tls { cert_file: \"c.pem\" key_file: \"k.pem\" client_ca_file: \"ca.pem\" }"),
      "node.conf", "");
  ASSERT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << c.status();
  EXPECT_TRUE(Contains(c.status(), "not both")) << c.status();
}

TEST(ParseConfigTest, NoTlsAndNoPlaintextFlagIsInvalidArgument) {
  absl::StatusOr<NodeConfig> c = ParseConfig(
      "origin: \"nic.cz/prg1\" listen_address: \"127.0.0.1:7400\" "
      "data_dir: \"d\" signing_key_file: \"k\"",
      "node.conf", "");
  ASSERT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << c.status();
  EXPECT_TRUE(Contains(c.status(), "tls is required")) << c.status();
}

TEST(ParseConfigTest, PlaintextOnNonLoopbackAddressIsRefused) {
  for (const char* addr : {"0.0.0.0:7400", "10.0.0.1:7400", "[::]:7400",
                           "[2001:db8::1]:7400", "node.example:7400"}) {
    SCOPED_TRACE(addr);
    absl::StatusOr<NodeConfig> c = ParseConfig(
        With("listen_address", absl::StrCat("\"", addr, "\"")), "node.conf", "");
    ASSERT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << c.status();
    EXPECT_TRUE(Contains(c.status(), "which is not a loopback address")) << c.status();
    EXPECT_TRUE(Contains(c.status(), addr)) << c.status();
  }
}

TEST(ParseConfigTest, NextSigningKeyFileNeedsAFederationAndAnotherFile) {
  absl::StatusOr<NodeConfig> alone = ParseConfig(
      absl::StrCat(kMinimal, "next_signing_key_file: \"/etc/watchfloor/next.key\"\n"),
      "node.conf", "");
  ASSERT_EQ(alone.status().code(), absl::StatusCode::kInvalidArgument) << alone.status();
  EXPECT_EQ(alone.status().message(),
            "node.conf: config: next_signing_key_file needs a federation: the roster says from "
            "which feed sequence the next key signs; remove it, or add a federation section");

  absl::StatusOr<NodeConfig> same = ParseConfig(
      absl::StrCat(kMinimal,
                   "next_signing_key_file: \"/etc/watchfloor/node.key\"\n"
                   "federation { roster_file: \"/etc/watchfloor/roster.json\" }\n"),
      "node.conf", "");
  ASSERT_EQ(same.status().code(), absl::StatusCode::kInvalidArgument) << same.status();
  EXPECT_EQ(same.status().message(),
            "node.conf: config: next_signing_key_file is the same file as signing_key_file "
            "(/etc/watchfloor/node.key); give the new key's file");
}

// A federation node with `federation_fields` in its federation section,
// plus `extra`.
std::string Federated(absl::string_view federation_fields, absl::string_view extra) {
  return absl::StrCat(R"pb(
origin: "nic.cz/prg1"
listen_address: "127.0.0.1:7400"
data_dir: "/var/lib/watchfloor"
signing_key_file: "node.key"
tls { cert_file: "node.crt" key_file: "tls.key" }
federation { roster_file: "roster.json" )pb", federation_fields, " }\n", extra, "\n");
}

// A federation node with an encryption key, plus `extra`.
std::string FederatedWithEncryption(absl::string_view extra) { return Federated("", extra); }

TEST(ParseConfigTest, KeyEpochsParseWithRelativePathsAndDefaultDirectory) {
  absl::StatusOr<NodeConfig> c = ParseConfig(
      FederatedWithEncryption("encryption_key_file: \"encryption.key\"\n"
                              "encryption_key_epochs { rotation_ms: 86400000 retention_ms: 1000 }"),
      "node.conf", "/etc/watchfloor");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->encryption_key_file(), "/etc/watchfloor/encryption.key");
  EXPECT_EQ(KeyEpochDir(*c), "/etc/watchfloor/encryption.key.epochs");
  c = ParseConfig(FederatedWithEncryption("encryption_key_file: \"encryption.key\"\n"
                                          "encryption_key_epochs { rotation_ms: 1000 "
                                          "retention_ms: 31622400000 key_dir: \"epochs\" }"),
                  "node.conf", "/etc/watchfloor");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(KeyEpochDir(*c), "/etc/watchfloor/epochs");
}

TEST(ParseConfigTest, KeyEpochRefusalsAreInvalidArgumentNamingTheField) {
  const std::string needs =
      "node.conf: config: encryption_key_epochs needs encryption_key_file and a federation: "
      "epoch keys are announced to the roster's nodes and fall back to the roster's "
      "encryption key; add both, or remove encryption_key_epochs";
  const std::string range_tail =
      " is out of range: give 1000 .. 31622400000 milliseconds (1 second .. 366 days), e.g. "
      "86400000 for one day";
  struct Case {
    std::string name;
    std::string text;
    std::string message;
  };
  const std::string enc = "encryption_key_file: \"/k/encryption.key\"\n";
  const std::vector<Case> cases = {
      {"no encryption_key_file",
       FederatedWithEncryption("encryption_key_epochs { rotation_ms: 1000 retention_ms: 1000 }"),
       needs},
      {"no federation",
       absl::StrCat(kMinimal, enc,
                    "encryption_key_epochs { rotation_ms: 1000 retention_ms: 1000 }\n"),
       needs},
      {"rotation unset", FederatedWithEncryption(enc + "encryption_key_epochs { retention_ms: 1000 }"),
       "node.conf: config: encryption_key_epochs.rotation_ms 0" + range_tail},
      {"rotation below a second",
       FederatedWithEncryption(enc + "encryption_key_epochs { rotation_ms: 999 retention_ms: 1000 }"),
       "node.conf: config: encryption_key_epochs.rotation_ms 999" + range_tail},
      {"retention unset", FederatedWithEncryption(enc + "encryption_key_epochs { rotation_ms: 1000 }"),
       "node.conf: config: encryption_key_epochs.retention_ms 0" + range_tail},
      {"retention above 366 days",
       FederatedWithEncryption(
           enc + "encryption_key_epochs { rotation_ms: 1000 retention_ms: 31622400001 }"),
       "node.conf: config: encryption_key_epochs.retention_ms 31622400001" + range_tail},
      {"key_dir is the encryption key",
       FederatedWithEncryption(enc +
                               "encryption_key_epochs { rotation_ms: 1000 retention_ms: 1000 "
                               "key_dir: \"/k/encryption.key\" }"),
       "node.conf: config: encryption_key_epochs.key_dir /k/encryption.key is a key file or "
       "the data directory; give a directory of its own (or leave it out for "
       "/k/encryption.key.epochs)"},
      {"key_dir is data_dir",
       FederatedWithEncryption(enc +
                               "encryption_key_epochs { rotation_ms: 1000 retention_ms: 1000 "
                               "key_dir: \"/var/lib/watchfloor\" }"),
       "node.conf: config: encryption_key_epochs.key_dir /var/lib/watchfloor is a key file or "
       "the data directory; give a directory of its own (or leave it out for "
       "/k/encryption.key.epochs)"},
      {"unknown field",
       FederatedWithEncryption(enc + "encryption_key_epochs { rotation: 1000 }"),
       "config node.conf: line 9, column 33: Message type \"watchfloor.v1.EncryptionKeyEpochs\" "
       "has no field named \"rotation\".; see docs/CONFIG.md for the fields a node config takes"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<NodeConfig> got = ParseConfig(c.text, "node.conf", "/etc/watchfloor");
    ASSERT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument) << got.status();
    EXPECT_EQ(std::string(got.status().message()), c.message);
  }
}

// federation.graft_rtts: 0 .. 100 round trips, NaN and infinities refused.
TEST(ParseConfigTest, GraftRttsIsARangeOfRoundTrips) {
  auto with = [](absl::string_view k) { return Federated(absl::StrCat("graft_rtts: ", k), ""); };
  for (const char* ok : {"0", "3", "2.5", "100"}) {
    absl::StatusOr<NodeConfig> c = ParseConfig(with(ok), "node.conf", "/etc/watchfloor");
    ASSERT_TRUE(c.ok()) << ok << ": " << c.status();
    EXPECT_TRUE(c->federation().has_graft_rtts());
  }
  absl::StatusOr<NodeConfig> unset =
      ParseConfig(FederatedWithEncryption(""), "node.conf", "/etc/watchfloor");
  ASSERT_TRUE(unset.ok()) << unset.status();
  EXPECT_FALSE(unset->federation().has_graft_rtts());
  for (const char* bad : {"-1", "100.5", "nan", "inf"}) {
    SCOPED_TRACE(bad);
    absl::StatusOr<NodeConfig> c = ParseConfig(with(bad), "node.conf", "/etc/watchfloor");
    ASSERT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << c.status();
    EXPECT_EQ(std::string(c.status().message()),
              absl::StrCat("node.conf: config: federation.graft_rtts ",
                           std::string(bad) == "100.5" ? "100.5" : bad,
                           " is outside 0..100: it multiplies the median round trip to the "
                           "peers to give the wait before an announced alert is fetched; 0 "
                           "keeps graft_timeout_ms fixed, leave it out for 3"));
  }
}

TEST(ParseConfigTest, EncryptionKeyFileIsOptionalAndNeverASigningKeyFile) {
  absl::StatusOr<NodeConfig> ok = ParseConfig(
      absl::StrCat(kMinimal, "encryption_key_file: \"/etc/watchfloor/encryption.key\"\n"),
      "node.conf", "");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->encryption_key_file(), "/etc/watchfloor/encryption.key");
  absl::StatusOr<NodeConfig> same = ParseConfig(
      absl::StrCat(kMinimal, "encryption_key_file: \"/etc/watchfloor/node.key\"\n"),
      "node.conf", "");
  ASSERT_EQ(same.status().code(), absl::StatusCode::kInvalidArgument) << same.status();
  EXPECT_EQ(same.status().message(),
            "node.conf: config: encryption_key_file is the same file as a signing key "
            "(/etc/watchfloor/node.key); a node's X25519 encryption key is a key of its own: "
            "give the encryption.key that 'watchfloor keygen' wrote");
}

// Off loopback the HTTP listener is HTTPS for roster identities: a node
// outside a federation may only listen on loopback, decided at parse time.
TEST(ParseConfigTest, HttpListenerOnNonLoopbackAddressIsRefusedOutsideAFederation) {
  for (const char* addr : {"0.0.0.0:9400", "10.0.0.1:9400", "[::]:9400", "node.example:9400"}) {
    SCOPED_TRACE(addr);
    absl::StatusOr<NodeConfig> c = ParseConfig(
        absl::StrCat(kMinimal, "http { listen_address: \"", addr, "\" }\n"), "node.conf", "");
    EXPECT_EQ(c.status(),
              absl::InvalidArgumentError(absl::StrCat(
                  "node.conf: config: http.listen_address ", addr,
" is not a loopback address; off loopback the HTTP listener serves HTTPS to "
                  "members' client certificates, checked against the roster, so it needs a "
                  "federation node (federation and tls set); otherwise use 127.0.0.1, [::1] or "
                  "localhost (or reach it through an SSH tunnel)")));
  }
}

TEST(ParseConfigTest, HttpListenerNeedsHostAndPort) {
  EXPECT_EQ(ParseConfig(absl::StrCat(kMinimal, "http { }\n"), "node.conf", "").status(),
            absl::InvalidArgumentError(
                "node.conf: config: http.listen_address is required when http is set; leave "
                "http out to run without the HTTP listener"));
  EXPECT_EQ(ParseConfig(absl::StrCat(kMinimal, "http { listen_address: \"127.0.0.1\" }\n"),
                        "node.conf", "")
                .status(),
            absl::InvalidArgumentError("node.conf: config: http.listen_address \"127.0.0.1\" "
                                       "must be host:port, e.g. 127.0.0.1:9400"));
}

TEST(ParseConfigTest, HttpListenerOnLoopbackParses) {
  for (const char* addr : {"127.0.0.1:9400", "[::1]:0", "localhost:9400"}) {
    absl::StatusOr<NodeConfig> c = ParseConfig(
        absl::StrCat(kMinimal, "http { listen_address: \"", addr, "\" }\n"), "node.conf", "");
    ASSERT_TRUE(c.ok()) << c.status();
    EXPECT_EQ(c->http().listen_address(), addr);
  }
  absl::StatusOr<NodeConfig> off = ParseConfig(kMinimal, "node.conf", "");
  ASSERT_TRUE(off.ok());
  EXPECT_FALSE(off->has_http());
}

TEST(ParseConfigTest, LoggingTakesTheLevelAndFormatNamesOnly) {
  absl::StatusOr<NodeConfig> c = ParseConfig(
      absl::StrCat(kMinimal, "logging { level: \"warn\" format: \"logfmt\" }\n"), "node.conf",
      "");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->logging().level(), "warn");
  EXPECT_EQ(c->logging().format(), "logfmt");
  EXPECT_EQ(ParseConfig(absl::StrCat(kMinimal, "logging { level: \"Info\" }\n"), "node.conf", "")
                .status(),
            absl::InvalidArgumentError("node.conf: config: logging.level: log level \"Info\" is "
                                       "not one of debug, info, warn, error"));
  EXPECT_EQ(ParseConfig(absl::StrCat(kMinimal, "logging { format: \"text\" }\n"), "node.conf", "")
                .status(),
            absl::InvalidArgumentError("node.conf: config: logging.format: log format \"text\" "
                                       "is not one of json, logfmt"));
  EXPECT_EQ(ParseConfig(absl::StrCat(kMinimal, "logging { colour: true }\n"), "node.conf", "")
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(IsLoopbackAddressTest, Table) {
  struct Case {
    const char* host_port;
    bool loopback;
  };
  const Case cases[] = {
      {"127.0.0.1:7400", true},
      {"127.1.2.3:7400", true},
      {"127.255.255.255:1", true},
      {"[::1]:7400", true},
      {"localhost:7400", true},
      {"0.0.0.0:7400", false},
      {"10.0.0.1:7400", false},
      {"128.0.0.1:7400", false},
      {"[::]:7400", false},
      {"[2001:db8::1]:7400", false},
      {"[::ffff:10.0.0.1]:7400", false},
      {"localhost.example:7400", false},
      {"mylocalhost:7400", false},
      {"[::1:7400", false},  // unterminated bracket
      {":7400", false},
      {"", false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.host_port);
    EXPECT_EQ(IsLoopbackAddress(c.host_port), c.loopback);
  }
}

TEST(ParseConfigTest, RelativePathsAreResolvedAgainstTheConfigDirectory) {
  absl::StatusOr<NodeConfig> c = ParseConfig(
      "origin: \"nic.cz/prg1\" listen_address: \"127.0.0.1:7400\" "
      "data_dir: \"data\" signing_key_file: \"keys/node.key\" "
      "known_origins { origin: \"nic.sk/bts1\" public_key_file: \"peers/bts1.pem\" } "
      "known_origins { origin: \"nic.at/vie1\" public_key_file: \"/abs/vie1.pem\" } "
      "tls { cert_file: \"tls/node.crt\" key_file: \"/abs/tls.key\" client_ca_file: \"ca.pem\" }",
      "node.conf", "/etc/watchfloor");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->data_dir(), "/etc/watchfloor/data");
  EXPECT_EQ(c->signing_key_file(), "/etc/watchfloor/keys/node.key");
  EXPECT_EQ(c->known_origins(0).public_key_file(), "/etc/watchfloor/peers/bts1.pem");
  EXPECT_EQ(c->known_origins(1).public_key_file(), "/abs/vie1.pem");
  EXPECT_EQ(c->tls().cert_file(), "/etc/watchfloor/tls/node.crt");
  EXPECT_EQ(c->tls().key_file(), "/abs/tls.key");
  EXPECT_EQ(c->tls().client_ca_file(), "/etc/watchfloor/ca.pem");
}

TEST(LoadConfigFileTest, ReadsFileAndResolvesAgainstItsDirectory) {
  TempDir dir;
  WriteFile(dir.Join("node.conf"),
            "origin: \"nic.cz/prg1\" listen_address: \"[::1]:7400\" "
            "data_dir: \"data\" signing_key_file: \"node.key\" "
            "insecure_plaintext_loopback: true\n");
  absl::StatusOr<NodeConfig> c = LoadConfigFile(dir.Join("node.conf"));
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->data_dir(), dir.Join("data"));
  EXPECT_EQ(c->signing_key_file(), dir.Join("node.key"));
}

TEST(LoadConfigFileTest, MissingFileIsNotFound) {
  TempDir dir;
  absl::StatusOr<NodeConfig> c = LoadConfigFile(dir.Join("absent.conf"));
  ASSERT_EQ(c.status().code(), absl::StatusCode::kNotFound) << c.status();
  EXPECT_TRUE(Contains(c.status(), dir.Join("absent.conf"))) << c.status();
}

TEST(LoadConfigFileTest, ErrorsNameTheFilePath) {
  TempDir dir;
  WriteFile(dir.Join("node.conf"), "bogus: 1\n");
  absl::StatusOr<NodeConfig> c = LoadConfigFile(dir.Join("node.conf"));
  ASSERT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument) << c.status();
  EXPECT_TRUE(Contains(c.status(), dir.Join("node.conf"))) << c.status();
  EXPECT_TRUE(Contains(c.status(), "line 1")) << c.status();
}

// --- Startup: NodeServer::Start refuses to serve from a bad environment. ---

std::string DbPath(TestNode& node) {
  return node.config().data_dir() + "/" + SqliteAlertStore::kFileName;
}

TEST(NodeStartTest, FreshNodeStartsAndServes) {
  TestNode node;
  ASSERT_EQ(node.Start(), absl::OkStatus());
  EXPECT_GT(node.server()->port(), 0);
  EXPECT_EQ(node.StoredAlertCount(), 0);
}

TEST(NodeStartTest, MissingSigningKeyIsNotFound) {
  TestNode node;
  node.config().set_signing_key_file(node.dir().Join("absent.key"));
  absl::Status st = node.Start();
  ASSERT_EQ(st.code(), absl::StatusCode::kNotFound) << st;
  EXPECT_TRUE(Contains(st, node.dir().Join("absent.key"))) << st;
  EXPECT_EQ(node.server(), nullptr);
}

TEST(NodeStartTest, GroupReadableSigningKeyIsPermissionDeniedWithChmodHint) {
  TestNode node;
  ASSERT_EQ(chmod(node.config().signing_key_file().c_str(), 0644), 0);
  absl::Status st = node.Start();
  ASSERT_EQ(st.code(), absl::StatusCode::kPermissionDenied) << st;
  EXPECT_TRUE(Contains(st, "0644")) << st;
  EXPECT_TRUE(Contains(st, absl::StrCat("chmod 600 ", node.config().signing_key_file())))
      << st;
  // Refused before anything was created.
  struct stat sb;
  EXPECT_NE(stat(node.config().data_dir().c_str(), &sb), 0);
}

TEST(NodeStartTest, SigningKeyThatIsNotAKeyIsInvalidArgument) {
  TestNode node;
  ASSERT_EQ(unlink(node.config().signing_key_file().c_str()), 0);
  WriteFile(node.config().signing_key_file(), "not a key\n", 0600);
  absl::Status st = node.Start();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
}

TEST(NodeStartTest, MissingKnownOriginKeyIsNotFound) {
  TestNode node;
  auto* k = node.config().add_known_origins();
  k->set_origin("nic.sk/bts1");
  k->set_public_key_file(node.dir().Join("bts1.pem"));
  absl::Status st = node.Start();
  ASSERT_EQ(st.code(), absl::StatusCode::kNotFound) << st;
  EXPECT_TRUE(Contains(st, node.dir().Join("bts1.pem"))) << st;
}

TEST(NodeStartTest, KnownOriginRepeatingOwnOriginIsInvalidArgument) {
  TestNode node;
  ASSERT_EQ(node.key().public_key().SavePemFile(node.dir().Join("own.pem")),
            absl::OkStatus());
  auto* k = node.config().add_known_origins();
  k->set_origin(node.config().origin());
  k->set_public_key_file(node.dir().Join("own.pem"));
  absl::Status st = node.Start();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
}

TEST(NodeStartTest, GarbageDataFileIsDataLossAndLeftUnchanged) {
  TestNode node;
  ASSERT_EQ(mkdir(node.config().data_dir().c_str(), 0700), 0);
  std::string garbage;
  for (int i = 0; i < 8192; ++i) garbage.push_back(static_cast<char>((i * 131 + 7) & 0xff));
  WriteFile(DbPath(node), garbage, 0600);
  absl::Status st = node.Start();
  ASSERT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
  EXPECT_TRUE(Contains(st, DbPath(node))) << st;
  EXPECT_EQ(ReadFileOrDie(DbPath(node)), garbage);
}

TEST(NodeStartTest, CorruptPageInRealDatabaseIsDataLossAndLeftUnchanged) {
  TestNode node;
  ASSERT_EQ(node.Start(), absl::OkStatus());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(node.server()->ledger()->PublishSync(SampleDraft(i)).ok());
  }
  node.Stop();
  std::string db = ReadFileOrDie(DbPath(node));
  ASSERT_GE(db.size(), 3 * 4096u);
  // Page 2 onwards holds the tables' b-trees; scribble over one page.
  for (size_t i = 4096; i < 8192; ++i) db[i] = static_cast<char>(0xa5);
  WriteFile(DbPath(node), db, 0600);
  absl::Status st = node.Start();
  ASSERT_EQ(st.code(), absl::StatusCode::kDataLoss) << st;
  EXPECT_EQ(ReadFileOrDie(DbPath(node)), db);
}

TEST(NodeStartTest, DataDirOfAnotherOriginIsFailedPrecondition) {
  TestNode node("example.cz/prg1");
  ASSERT_EQ(node.Start(), absl::OkStatus());
  ASSERT_TRUE(node.server()->ledger()->PublishSync(SampleDraft()).ok());
  node.Stop();
  const std::string before = ReadFileOrDie(DbPath(node));
  node.config().set_origin("example.cz/brq1");
  absl::Status st = node.Start();
  ASSERT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << st;
  EXPECT_TRUE(Contains(st, "belongs to origin example.cz/prg1")) << st;
  EXPECT_EQ(ReadFileOrDie(DbPath(node)), before);
  // The rightful origin still opens it, with its alert.
  node.config().set_origin("example.cz/prg1");
  ASSERT_EQ(node.Start(), absl::OkStatus());
  EXPECT_EQ(node.StoredAlertCount(), 1);
}

TEST(NodeStartTest, DataDirThatIsAFileIsFailedPrecondition) {
  TestNode node;
  WriteFile(node.config().data_dir(), "i am a file", 0600);
  absl::Status st = node.Start();
  ASSERT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << st;
  EXPECT_EQ(ReadFileOrDie(node.config().data_dir()), "i am a file");
}

TEST(NodeStartTest, PortInUseIsUnavailable) {
  TestNode first;
  ASSERT_EQ(first.Start(), absl::OkStatus());
  TestNode second;
  second.config().set_listen_address(first.server()->address());
  absl::Status st = second.Start();
  EXPECT_EQ(st.code(), absl::StatusCode::kUnavailable) << st;
}

// Read-only data directories. The tests run as root, and root ignores
// permission bits, so a chmod alone proves nothing. Instead a forked child
// drops to uid/gid 65534 ("nobody") before it opens the store, and reports the
// status code as its exit status. (A read-only bind mount would need
// CAP_SYS_ADMIN, which containers rarely grant; fork+setuid works wherever we
// are root, and as a non-root user the 0555 mode is enough by itself.) The
// child calls nothing but the store, so forking a process that may already
// run gRPC threads is safe enough: glibc's malloc is fork-safe and the store
// takes no locks that another thread could hold.
int OpenStoreAsNobody(const std::string& data_dir, const std::string& origin) {
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    if (geteuid() == 0) {
      if (setgroups(0, nullptr) != 0 || setgid(65534) != 0 || setuid(65534) != 0) {
        _exit(250);
      }
    }
    if (geteuid() == 0) _exit(251);  // still root: the test would prove nothing
    // The parent must be reachable, or a refusal would prove nothing either.
    std::string parent = data_dir.substr(0, data_dir.rfind('/'));
    if (access(parent.c_str(), X_OK) != 0) _exit(252);
    absl::StatusOr<std::unique_ptr<SqliteAlertStore>> s =
        SqliteAlertStore::Open(data_dir, origin);
    _exit(static_cast<int>(s.status().code()));
  }
  int status = 0;
  if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
  return WEXITSTATUS(status);
}

TEST(NodeStartTest, ReadOnlyDataDirIsFailedPreconditionAndCreatesNothing) {
  TempDir dir("/tmp");  // reachable by nobody, unlike $TEST_TMPDIR
  ASSERT_EQ(chmod(dir.path().c_str(), 0755), 0);  // let nobody traverse it
  const std::string data = dir.Join("data");
  ASSERT_EQ(mkdir(data.c_str(), 0555), 0);
  ASSERT_EQ(chmod(data.c_str(), 0555), 0);  // umask-proof
  EXPECT_EQ(OpenStoreAsNobody(data, "nic.cz/prg1"),
            static_cast<int>(absl::StatusCode::kFailedPrecondition));
  struct stat sb;
  EXPECT_NE(stat((data + "/" + SqliteAlertStore::kFileName).c_str(), &sb), 0);
}

TEST(NodeStartTest, UncreatableDataDirIsFailedPrecondition) {
  TempDir dir("/tmp");  // reachable by nobody, unlike $TEST_TMPDIR
  ASSERT_EQ(chmod(dir.path().c_str(), 0555), 0);
  const std::string data = dir.Join("data");
  EXPECT_EQ(OpenStoreAsNobody(data, "nic.cz/prg1"),
            static_cast<int>(absl::StatusCode::kFailedPrecondition));
  struct stat sb;
  EXPECT_NE(stat(data.c_str(), &sb), 0);
}

TEST(NodeStartTest, ReadOnlyDataFileIsFailedPreconditionAndLeftUnchanged) {
  // The directory is writable by nobody, but the database file (created by
  // this process) is not.
  TempDir dir("/tmp");  // reachable by nobody, unlike $TEST_TMPDIR
  ASSERT_EQ(chmod(dir.path().c_str(), 0755), 0);
  const std::string data = dir.Join("data");
  {
    absl::StatusOr<std::unique_ptr<SqliteAlertStore>> s =
        SqliteAlertStore::Open(data, "nic.cz/prg1");
    ASSERT_TRUE(s.ok()) << s.status();
  }
  ASSERT_EQ(chmod(data.c_str(), 0777), 0);
  const std::string db = data + "/" + SqliteAlertStore::kFileName;
  ASSERT_EQ(chmod(db.c_str(), 0444), 0);
  const std::string before = ReadFileOrDie(db);
  EXPECT_EQ(OpenStoreAsNobody(data, "nic.cz/prg1"),
            static_cast<int>(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ(ReadFileOrDie(db), before);
}

// The example configs shipped in deploy/ must stay valid configs.
TEST(DeployExamplesTest, ShippedConfigsParse) {
  for (const char* name :
       {"deploy/dev-node.conf", "deploy/node.conf.example",
        "deploy/multi-host/nic.cz.conf", "deploy/multi-host/nic.sk.conf",
        "deploy/multi-host/cesnet.cz.conf"}) {
    std::string path = std::string(WF_SOURCE_DIR) + "/" + name;
    absl::StatusOr<NodeConfig> c = LoadConfigFile(path);
    EXPECT_TRUE(c.ok()) << name << ": " << c.status();
  }
}

}  // namespace
}  // namespace watchfloor::node
