// interop/: STIX 2.1 and MISP formats, ids, subjects and the cursor file,
// and the CLI around them (export --format stix|misp, subscribe --output
// stix, import --format misp) against a real node. STIX output is checked by
// an independent validator (stix_validate.py: the OASIS JSON schemas with
// python3-jsonschema, plus the spec's id and timestamp rules); its tamper
// cases live in testdata/stix/invalid.
#include <dirent.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "certs/dsse.h"
#include "certs/ids.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/client_context.h"
#include "gtest/gtest.h"
#include "interop/cursor_file.h"
#include "interop/json_text.h"
#include "interop/misp.h"
#include "interop/names.h"
#include "interop/nats_client.h"
#include "interop/stix.h"
#include "interop/uuid.h"
#include "tests/interop_test_util.h"
#include "tests/test_util.h"

namespace watchfloor::interop {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
using watchfloor::testing::ProcResult;
using watchfloor::testing::RunProcess;
using watchfloor::testing::RunWatchfloor;
using watchfloor::testing::TempDir;
using watchfloor::testing::TestNode;

const std::string kTestdata = WF_SOURCE_DIR "/tests/testdata";
const std::string kValidator = WF_SOURCE_DIR "/tests/stix_validate.py";

google::protobuf::Value ParseJson(const std::string& json) {
  google::protobuf::Value v;
  auto st = google::protobuf::util::JsonStringToMessage(json, &v);
  EXPECT_TRUE(st.ok()) << st.message() << "\n" << json.substr(0, 300);
  return v;
}

const google::protobuf::Value& Get(const google::protobuf::Value& v, const std::string& key) {
  static const google::protobuf::Value kNull;
  auto it = v.struct_value().fields().find(key);
  return it == v.struct_value().fields().end() ? kNull : it->second;
}

// ---- pure parts ----

TEST(UuidTest, Sha1AndUuid5MatchPublishedVectors) {
  EXPECT_EQ(certs::HexEncode(Sha1("abc")), "a9993e364706816aba3e25717850c26c9cd0d89d");
  EXPECT_EQ(certs::HexEncode(Sha1(std::string(1000, 'a'))),
            "291e9a6c66994949b57ba5e650361e98fc36b1ba");
  // Python: uuid.uuid5(uuid.NAMESPACE_DNS, "python.org").
  EXPECT_EQ(*Uuid5("6ba7b810-9dad-11d1-80b4-00c04fd430c8", "python.org"),
            "886313e1-3b8a-5372-9b90-0c9aee199e5d");
  // docs/INTEROP.md: UUIDv5(NAMESPACE_URL, "urn:watchfloor:interop:v1").
  EXPECT_EQ(WatchfloorNamespace(), "8e7573c7-fd6b-5fca-b508-fda4faf14a42");
}

TEST(UuidTest, MalformedNamespaceIsInvalidArgument) {
  for (const char* bad : {"", "6ba7b810-9dad-11d1-80b4-00c04fd430c", "6ba7b8109dad-11d1-80b4-00c04fd430c8x",
                          "6ba7b810-9dad-11d1-80b4-00c04fd430cg"}) {
    absl::StatusOr<std::string> u = Uuid5(bad, "x");
    EXPECT_EQ(u.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(std::string(u.status().message()), HasSubstr("is not a UUID")) << bad;
  }
}

TEST(FastEnvelopeJsonTest, MatchesTheProtobufPrinterByteForByte) {
  certs::SigningKey key = certs::SigningKey::Generate();
  for (int n = 0; n < 50; ++n) {
    std::string payload = watchfloor::testing::SampleDraft(n).SerializeAsString();
    payload.resize(payload.size() - static_cast<size_t>(n % 3));  // every base64 padding
    watchfloor::v1::Envelope env = certs::SignEnvelope(payload, certs::kAlertPayloadType, key);
    if (n % 5 == 0) *env.add_signatures() = env.signatures(0);
    if (n % 7 == 0) env.mutable_signatures(0)->clear_keyid();
    EXPECT_EQ(FastEnvelopeJson(env), certs::EnvelopeToJson(env)) << n;
  }
  watchfloor::v1::Envelope odd;
  odd.set_payload("x");
  odd.set_payload_type("a\"b<c>");
  EXPECT_EQ(FastEnvelopeJson(odd), certs::EnvelopeToJson(odd));
}

TEST(NatsSubjectTest, OriginDotsBecomeUnderscoresAndCategoryKeepsItsLevels) {
  EXPECT_EQ(NatsSubject("nic.cz/prg1", "dns.hijack"), "watchfloor.nic_cz.prg1.dns.hijack");
  EXPECT_EQ(NatsSubject("xn--bcher-kva.de/n-1", "abuse.phishing-domain"),
            "watchfloor.xn--bcher-kva_de.n-1.abuse.phishing-domain");
  EXPECT_EQ(OriginFromSubjectTokens("nic_cz", "prg1"), "nic.cz/prg1");
}

TEST(FastEnvelopeJsonTest, AppendKeepsWhatTheBufferHeld) {
  certs::SigningKey key = certs::SigningKey::Generate();
  watchfloor::v1::Envelope env = certs::SignEnvelope(
      watchfloor::testing::SampleDraft(1).SerializeAsString(), certs::kAlertPayloadType, key);
  std::string out = "HPUB x 1 2\r\n";
  AppendFastEnvelopeJson(env, &out);
  EXPECT_EQ(out, "HPUB x 1 2\r\n" + certs::EnvelopeToJson(env));
  watchfloor::v1::Envelope empty;  // empty payload: base64 of nothing
  EXPECT_EQ(FastEnvelopeJson(empty), certs::EnvelopeToJson(empty));
}

TEST(NatsSubjectTest, FromThePayloadEqualsFromTheParsedAlert) {
  for (int n = 0; n < 20; ++n) {
    watchfloor::v1::Alert alert = watchfloor::testing::SampleDraft(n);
    alert.set_origin(n % 2 ? "nic.cz/prg1" : "example.org/a-b");
    alert.set_category(n % 3 ? "dns.hijack" : "dns.ns.lame");
    absl::StatusOr<std::string> s = NatsSubjectOfPayload(alert.SerializeAsString());
    ASSERT_TRUE(s.ok()) << s.status();
    EXPECT_EQ(*s, NatsSubject(alert.origin(), alert.category())) << n;
  }
  // A repeated field: the last occurrence wins, as in a full parse.
  watchfloor::v1::Alert first, second;
  first.set_origin("a.example/n1");
  first.set_category("dns.first");
  second.set_origin("b.example/n2");
  watchfloor::v1::Alert merged;
  ASSERT_TRUE(merged.ParseFromString(first.SerializeAsString() + second.SerializeAsString()));
  EXPECT_EQ(*NatsSubjectOfPayload(first.SerializeAsString() + second.SerializeAsString()),
            NatsSubject(merged.origin(), merged.category()));
  EXPECT_EQ(NatsSubject(merged.origin(), merged.category()), "watchfloor.b_example.n2.dns.first");
  // An origin with the wrong wire type is an unknown field to a full parse.
  const std::string varint_origin = std::string("\x08\x01", 2) + first.SerializeAsString();
  const std::string also = std::string("\x0a\x01x", 3) + std::string("\x08\x01", 2);
  for (const std::string& payload : {varint_origin, also}) {
    watchfloor::v1::Alert parsed;
    ASSERT_TRUE(parsed.ParseFromString(payload));
    EXPECT_EQ(*NatsSubjectOfPayload(payload), NatsSubject(parsed.origin(), parsed.category()));
  }
}

TEST(NatsSubjectTest, MalformedPayloadIsInvalidArgument) {
  const std::string good = watchfloor::testing::SampleDraft(3).SerializeAsString();
  const std::map<std::string, std::string> bad = {
      {"truncated", good.substr(0, good.size() - 1)},
      {"length past the end", std::string("\x0a\x05" "ab", 4)},
      {"field number 0", std::string("\x02\x00", 2)},
      {"lone end-group", std::string("\x0c", 1)},
  };
  for (const auto& [name, payload] : bad) {
    watchfloor::v1::Alert alert;
    EXPECT_FALSE(alert.ParseFromString(payload)) << name;  // a full parse refuses it too
    absl::StatusOr<std::string> s = NatsSubjectOfPayload(payload);
    EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument) << name;
    EXPECT_THAT(std::string(s.status().message()), StartsWith("malformed alert")) << name;
  }
}

TEST(NatsFrameTest, HpubCarriesTheMsgIdHeaderAndExactLengths) {
  std::string frame = "x";
  AppendPublishFrame("watchfloor.a.b.c", "_INBOX.1.ack.7", "abc", "{}", &frame);
  // Header block "NATS/1.0\r\nNats-Msg-Id: abc\r\n\r\n" is 30 bytes; 32 with the payload.
  EXPECT_EQ(frame,
            "xHPUB watchfloor.a.b.c _INBOX.1.ack.7 30 32\r\nNATS/1.0\r\nNats-Msg-Id: abc\r\n\r\n"
            "{}\r\n");
  frame.clear();
  AppendPublishFrame("s", "", "", "hello", &frame);
  EXPECT_EQ(frame, "PUB s 5\r\nhello\r\n");
  frame.clear();
  AppendPublishFrame("s", "r", "", "", &frame);
  EXPECT_EQ(frame, "PUB s r 0\r\n\r\n");
}

TEST(NatsUrlTest, AcceptsHostPortAndRefusesWhatItCannotSpeak) {
  absl::StatusOr<NatsUrl> u = ParseNatsUrl("nats://127.0.0.1:4333");
  ASSERT_TRUE(u.ok());
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, 4333);
  EXPECT_EQ(ParseNatsUrl("localhost")->port, 4222);
  for (const char* bad : {"tls://h:4222", "nats://user:pw@h:4222", "nats://h:0", "nats://h:x",
                          "nats://"}) {
    absl::StatusOr<NatsUrl> b = ParseNatsUrl(bad);
    EXPECT_EQ(b.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(b.status().message(),
              absl::StrCat("--url \"", bad,
                           "\" is not a NATS URL like nats://127.0.0.1:4222 (TLS and credentials "
                           "are not supported)"));
  }
}

TEST(CursorFileTest, MissingIsZeroStoredIsReadBackCorruptIsDataLoss) {
  TempDir dir;
  const std::string path = dir.Join("c");
  EXPECT_EQ(*LoadCursor(path), 0u);
  ASSERT_TRUE(StoreCursor(path, 41).ok());
  ASSERT_TRUE(StoreCursor(path, 42).ok());
  EXPECT_EQ(*LoadCursor(path), 42u);
  EXPECT_EQ(watchfloor::testing::ReadFileOrDie(path), "cursor 42\n");
  watchfloor::testing::WriteFile(path, "cursor 4x\n");
  absl::StatusOr<uint64_t> c = LoadCursor(path);
  EXPECT_EQ(c.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(c.status().message()),
              StartsWith(absl::StrCat("cursor file ", path, " does not hold \"cursor <N>\"")));
  EXPECT_EQ(StoreCursor(dir.Join("no/such/dir/c"), 1).code(), absl::StatusCode::kInternal);
}

TEST(MispParseTest, UnknownAttributeTypesAreListedNotDropped) {
  const std::string json = watchfloor::testing::ReadFileOrDie(kTestdata + "/misp/unknown-type.json");
  absl::StatusOr<std::vector<MispImportedEvent>> events = ParseMispEvents(json, {});
  EXPECT_EQ(events.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(events.status().message(),
            "MISP JSON: event 1 (\"Malware sample seen\"): cannot carry attribute 2 of type "
            "\"md5\" (value \"d41d8cd98f00b204e9800998ecf8427e\"); attribute 3 of type "
            "\"email-src\" (value \"a@bad.example\"). Nothing was published. Remove them, or "
            "rerun with --skip-unknown to publish the event without them");
  MispImportOptions skip;
  skip.skip_unknown = true;
  events = ParseMispEvents(json, skip);
  ASSERT_TRUE(events.ok()) << events.status();
  ASSERT_EQ(events->size(), 1u);
  EXPECT_THAT((*events)[0].skipped,
              ::testing::ElementsAre(
                  "attribute 2 of type \"md5\" (value \"d41d8cd98f00b204e9800998ecf8427e\")",
                  "attribute 3 of type \"email-src\" (value \"a@bad.example\")"));
  EXPECT_THAT((*events)[0].draft.domains(), ::testing::ElementsAre("bad.example"));
}

TEST(MispParseTest, MalformedInputNamesWhatIsWrong) {
  struct Case {
    std::string json, message;
  } cases[] = {
      {"[", "MISP JSON does not parse: "},
      {"[]", "MISP JSON holds no events; nothing to import"},
      {"{\"x\": 1}", "MISP JSON: event 1: is not an object of the form {\"Event\": {...}}"},
      {"{\"Event\": {\"Tag\": []}}",
       "MISP JSON: event 1: has no \"info\" (the title); every event needs one"},
      {"{\"Event\": {\"info\": \"t\", \"Tag\": [{\"name\": \"tlp:purple\"}]}}",
       "MISP JSON: event 1 (\"t\"): tag \"tlp:purple\" is not a TLP 2.0 label; use clear (or "
       "white), green, amber, amber+strict or red"},
      {"{\"Event\": {\"info\": \"t\", \"Tag\": [{\"name\": \"tlp:green\"}]}}",
       "MISP JSON: event 1 (\"t\"): has no watchfloor:category tag; add one such as {\"name\": "
       "\"watchfloor:category=\\\"dns.hijack\\\"\"} or give --category"},
      {"{\"Event\": {\"info\": \"t\", \"Tag\": [{\"name\": \"tlp:green\"}, {\"name\": "
       "\"watchfloor:category=\\\"a.b\\\"\"}], \"Attribute\": [{\"type\": \"AS\", \"value\": "
       "\"ASx\"}]}}",
       "MISP JSON: event 1 (\"t\"): attribute 1 AS value \"ASx\" is not an AS number such as "
       "AS64500"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<std::vector<MispImportedEvent>> events = ParseMispEvents(c.json, {});
    EXPECT_EQ(events.status().code(), absl::StatusCode::kInvalidArgument) << c.json;
    EXPECT_THAT(std::string(events.status().message()), StartsWith(c.message)) << c.json;
  }
}

// ---- against a node ----

class InteropCliTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(node_.Start().ok()); }

  std::string Addr() { return absl::StrCat("127.0.0.1:", node_.server()->port()); }

  std::vector<std::string> Publish(const std::vector<watchfloor::v1::Alert>& drafts) {
    auto stub = node_.NewStub();
    std::vector<std::string> ids;
    for (const auto& d : drafts) {
      grpc::ClientContext ctx;
      watchfloor::v1::PublishRequest req;
      *req.mutable_alert() = d;
      watchfloor::v1::PublishResponse resp;
      grpc::Status st = stub->Publish(&ctx, req, &resp);
      EXPECT_TRUE(st.ok()) << st.error_message();
      ids.push_back(resp.id());
    }
    return ids;
  }

  // Three alerts: observables of every kind with a reference and an expiry;
  // one without observables (a report); one TLP:CLEAR with an IPv6 prefix.
  std::vector<std::string> PublishSamples() {
    watchfloor::v1::Alert a = watchfloor::testing::SampleDraft(1);
    a.add_ip_prefixes("2001:db8::/32");
    a.add_references("https://example.org/advisory/1");
    a.add_references("INC-2041 ticket");
    a.mutable_expires_at()->set_seconds(4102444800);  // 2100-01-01
    watchfloor::v1::Alert b = watchfloor::testing::SampleDraft(2);
    b.clear_domains();
    b.clear_ip_prefixes();
    b.clear_asns();
    b.set_description("no observables: a report");
    watchfloor::v1::Alert c = watchfloor::testing::SampleDraft(3);
    c.set_tlp(watchfloor::v1::TLP_CLEAR);
    c.clear_ip_prefixes();
    c.add_ip_prefixes("2001:db8:1::/48");
    return Publish({a, b, c});
  }

  TestNode node_{"nic.cz/prg1"};
  TempDir dir_;
};

TEST_F(InteropCliTest, ExportStixPassesTheOasisSchemasAndTheSpecRules) {
  const std::vector<std::string> ids = PublishSamples();
  const std::string out = dir_.Join("alerts.stix.json");
  ProcResult r = RunWatchfloor({"export", "--node", Addr(), "--format", "stix", "--out", out});
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_EQ(r.out, absl::StrCat("wrote ", out, ": 3 alerts as a STIX 2.1 bundle\n"));
  ProcResult v = RunProcess({"python3", kValidator, out});
  EXPECT_EQ(v.exit_code, 0) << v;
  // 2 identities, extension definition, 2 markings, 3 alert objects,
  // domain x2 (sample domains differ), ipv4, ipv6 x2, AS: counted by the validator.
  EXPECT_THAT(v.out, StartsWith("ok: 1 bundles, "));

  // Deterministic: a second export is byte-for-byte the same.
  const std::string again = dir_.Join("again.json");
  ASSERT_EQ(RunWatchfloor({"export", "--node", Addr(), "--format", "stix", "--out", again})
                .exit_code, 0);
  const std::string text = watchfloor::testing::ReadFileOrDie(out);
  EXPECT_EQ(text, watchfloor::testing::ReadFileOrDie(again));

  // Each alert object carries its envelope, and it verifies with the node's key.
  google::protobuf::Value bundle = ParseJson(text);
  int alerts = 0;
  for (const auto& o : Get(bundle, "objects").list_value().values()) {
    const std::string type = Get(o, "type").string_value();
    if (type != "indicator" && type != "report") continue;
    ++alerts;
    const auto& ext = Get(Get(o, "extensions"), ProvenanceExtensionId());
    const std::string id = Get(ext, "alert_id").string_value();
    EXPECT_EQ(Get(o, "id").string_value(),
              absl::StrCat(type, "--", Uuid5OrDie(WatchfloorNamespace(), "alert:" + id)));
    std::string env_json;
    ASSERT_TRUE(google::protobuf::util::MessageToJsonString(Get(ext, "dsse_envelope"), &env_json).ok());
    absl::StatusOr<watchfloor::v1::Envelope> env = certs::EnvelopeFromJson(env_json);
    ASSERT_TRUE(env.ok()) << env.status();
    EXPECT_TRUE(certs::VerifyEnvelope(*env, node_.key().public_key()).ok());
    EXPECT_EQ(certs::AlertId(env->payload()), id);
    EXPECT_NE(std::find(ids.begin(), ids.end(), id), ids.end());
    EXPECT_EQ(type == "report", id == ids[1]) << "only the alert without observables is a report";
  }
  EXPECT_EQ(alerts, 3);
  // The standard TLP 2.0 ids, never invented ones.
  EXPECT_THAT(text, HasSubstr(absl::StrCat("\"object_marking_refs\":[\"", kTlpGreenMarking, "\"]")));
  EXPECT_THAT(text, HasSubstr(absl::StrCat("\"object_marking_refs\":[\"", kTlpClearMarking, "\"]")));
}

TEST_F(InteropCliTest, SubscribeOutputStixPrintsOneValidBundlePerAlert) {
  PublishSamples();
  ProcResult r = RunWatchfloor({"subscribe", "--node", Addr(), "--replay-only", "--output", "stix"});
  ASSERT_EQ(r.exit_code, 0) << r;
  std::vector<std::string> lines = absl::StrSplit(r.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 3u);
  const std::string file = dir_.Join("lines.jsonl");
  watchfloor::testing::WriteFile(file, r.out);
  ProcResult v = RunProcess({"python3", kValidator, file});
  EXPECT_EQ(v.exit_code, 0) << v;
  EXPECT_THAT(v.out, StartsWith("ok: 3 bundles, "));
}

TEST(StixValidatorTest, EveryTamperCaseIsRejectedWithItsReason) {
  const std::string dir = kTestdata + "/stix/invalid";
  std::vector<std::string> argv = {"python3", kValidator, "--each",
                                   kTestdata + "/stix/valid-two-alerts.json"};
  std::vector<std::string> cases;
  DIR* d = opendir(dir.c_str());
  ASSERT_NE(d, nullptr);
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (!absl::EndsWith(name, ".json")) continue;
    cases.push_back(dir + "/" + name.substr(0, name.size() - 5));
    argv.push_back(cases.back() + ".json");
  }
  closedir(d);
  ASSERT_GE(cases.size(), 8u);
  ProcResult r = RunProcess(argv);
  ASSERT_EQ(r.exit_code, 0) << r;
  // "== FILE\n" then that file's verdict lines.
  std::map<std::string, std::string> verdicts;
  std::string current;
  for (absl::string_view line : absl::StrSplit(r.out, '\n', absl::SkipEmpty())) {
    if (absl::ConsumePrefix(&line, "== ")) {
      current = std::string(line);
    } else {
      absl::StrAppend(&verdicts[current], line, "\n");
    }
  }
  EXPECT_THAT(verdicts[kTestdata + "/stix/valid-two-alerts.json"], StartsWith("ok: 1 bundles, 11 objects"));
  for (const std::string& base : cases) {
    const std::string expect(absl::StripTrailingAsciiWhitespace(
        watchfloor::testing::ReadFileOrDie(base + ".expect")));
    const std::string& verdict = verdicts[base + ".json"];
    EXPECT_THAT(verdict, StartsWith("error: ")) << base;
    EXPECT_THAT(verdict, HasSubstr(expect)) << base;
  }
}

TEST_F(InteropCliTest, ExportUnknownFormatIsAUsageError) {
  ProcResult r = RunWatchfloor({"export", "--node", Addr(), "--format", "csv", "--out", "-"});
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_EQ(r.err, "error: --format \"csv\" is unknown; use wfb, stix or misp\n");
  r = RunWatchfloor({"subscribe", "--node", Addr(), "--output", "misp"});
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_EQ(r.err, "error: --output \"misp\" is unknown; use text, json, dsse or stix\n");
}

// (type, value) of every attribute of every event, per event, sorted.
std::vector<std::set<std::pair<std::string, std::string>>> MispAttributes(const std::string& json,
                                                                          std::vector<std::string>* infos,
                                                                          std::vector<std::string>* uuids) {
  google::protobuf::Value root = ParseJson(json);
  std::vector<std::set<std::pair<std::string, std::string>>> out;
  for (const auto& w : Get(root, "response").list_value().values()) {
    const auto& ev = Get(w, "Event");
    infos->push_back(Get(ev, "info").string_value());
    uuids->push_back(Get(ev, "uuid").string_value());
    std::set<std::pair<std::string, std::string>> attrs;
    for (const auto& a : Get(ev, "Attribute").list_value().values()) {
      attrs.insert({Get(a, "type").string_value(), Get(a, "value").string_value()});
    }
    for (const auto& t : Get(ev, "Tag").list_value().values()) {
      const std::string& name = Get(t, "name").string_value();
      if (absl::StartsWith(name, "tlp:") || absl::StartsWith(name, "watchfloor:category=")) {
        attrs.insert({"tag", name});
      }
    }
    out.push_back(std::move(attrs));
  }
  return out;
}

TEST_F(InteropCliTest, MispImportThenExportGivesBackTheSameAttributes) {
  const std::string in = kTestdata + "/misp/two-events.json";
  ProcResult r = RunWatchfloor({"import", "--node", Addr(), "--format", "misp", in});
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_THAT(r.out, HasSubstr("event 1 (\"NS records of example.cz changed\"): published "));
  EXPECT_THAT(r.out, HasSubstr("event 2 (\"Phishing domain under .sk\"): published "));
  EXPECT_EQ(node_.StoredAlertCount(), 2);
  ProcResult e = RunWatchfloor({"export", "--node", Addr(), "--format", "misp", "--out", "-"});
  ASSERT_EQ(e.exit_code, 0) << e;

  std::vector<std::string> in_infos, out_infos, in_uuids, out_uuids;
  auto want = MispAttributes(watchfloor::testing::ReadFileOrDie(in), &in_infos, &in_uuids);
  auto got = MispAttributes(e.out, &out_infos, &out_uuids);
  EXPECT_EQ(got, want);
  EXPECT_EQ(out_infos, in_infos);
  EXPECT_EQ(out_uuids, in_uuids);
  EXPECT_EQ(want[0].size(), 10u);  // 8 attributes, the TLP and the category tag

  // Severity: threat_level_id 1 -> high; the watchfloor:severity tag wins over 3.
  EXPECT_THAT(e.out, HasSubstr("\"threat_level_id\":\"1\""));
  EXPECT_THAT(e.out, HasSubstr("{\"name\":\"watchfloor:severity=\\\"medium\\\"\"}"));
}

TEST_F(InteropCliTest, MispImportWithUnknownTypesPublishesNothing) {
  ProcResult r = RunWatchfloor(
      {"import", "--node", Addr(), "--format", "misp", kTestdata + "/misp/unknown-type.json"});
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_EQ(r.err, absl::StrCat("error: ", kTestdata,
                                "/misp/unknown-type.json: MISP JSON: event 1 (\"Malware sample "
                                "seen\"): cannot carry attribute 2 of type \"md5\" (value "
                                "\"d41d8cd98f00b204e9800998ecf8427e\"); attribute 3 of type "
                                "\"email-src\" (value \"a@bad.example\"). Nothing was published. "
                                "Remove them, or rerun with --skip-unknown to publish the event "
                                "without them\n"));
  EXPECT_EQ(node_.StoredAlertCount(), 0);
}

TEST_F(InteropCliTest, MispImportSkipUnknownPublishesAndReportsEachSkippedAttribute) {
  ProcResult r = RunWatchfloor({"import", "--node", Addr(), "--format", "misp", "--skip-unknown",
                                kTestdata + "/misp/unknown-type.json"});
  ASSERT_EQ(r.exit_code, 0) << r;
  EXPECT_EQ(r.err,
            "warning: event 1 (\"Malware sample seen\"): attribute 2 of type \"md5\" (value "
            "\"d41d8cd98f00b204e9800998ecf8427e\") not imported\n"
            "warning: event 1 (\"Malware sample seen\"): attribute 3 of type \"email-src\" "
            "(value \"a@bad.example\") not imported\n");
  EXPECT_EQ(node_.StoredAlertCount(), 1);
}

TEST_F(InteropCliTest, MispImportChecksEveryEventBeforePublishingAny) {
  ProcResult r = RunWatchfloor({"import", "--node", Addr(), "--format", "misp",
                                kTestdata + "/misp/second-event-without-tlp.json"});
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_THAT(r.err, HasSubstr("event 2 (\"second, no TLP\"): has no tlp: tag; add one such as "
                               "{\"name\": \"tlp:green\"}\n"));
  EXPECT_EQ(node_.StoredAlertCount(), 0);

  r = RunWatchfloor({"import", "--node", Addr(), "--format", "misp",
                     kTestdata + "/misp/bad-domain.json"});
  EXPECT_EQ(r.exit_code, 1) << r;
  EXPECT_THAT(r.err, HasSubstr("bad-domain.json: event 1 (\"an invalid domain\"): "));
  EXPECT_THAT(r.err, HasSubstr("exa mple.cz"));
  EXPECT_THAT(r.err, HasSubstr("; nothing was published\n"));
  EXPECT_EQ(node_.StoredAlertCount(), 0);

  r = RunWatchfloor({"import", "--node", Addr(), "--format", "stix", kTestdata + "/misp/bad-domain.json"});
  EXPECT_EQ(r.exit_code, 2) << r;
  EXPECT_EQ(r.err, "error: --format \"stix\" is unknown; use misp\n");
  EXPECT_EQ(node_.StoredAlertCount(), 0);
}

}  // namespace
}  // namespace watchfloor::interop
