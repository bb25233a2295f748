// certs/proto_check.h: the words a node uses for bytes that do not parse,
// its agreement with protobuf on which bytes parse at all, and the unknown
// field check (with the validators, roster and bundle readers that use it).
#include "certs/proto_check.h"

#include <random>
#include <string>

#include "absl/strings/str_cat.h"
#include "certs/audit.h"
#include "certs/roster.h"
#include "gtest/gtest.h"
#include "node/alert_validator.h"
#include "node/config.h"
#include "tests/federation_util.h"
#include "tests/test_util.h"
#include "watchfloor/v1/audit.pb.h"
#include "watchfloor/v1/federation.pb.h"
#include "watchfloor/v1/node.pb.h"
#include "watchfloor/v1/roster.pb.h"

namespace watchfloor::certs {
namespace {

namespace v1 = ::watchfloor::v1;
using testing::SampleDraft;

std::string Describe(const google::protobuf::Message& type, const std::string& bytes) {
  return DescribeParseFailure(*type.GetDescriptor(), bytes);
}

v1::PublishRequest SamplePublish() {
  v1::PublishRequest r;
  *r.mutable_alert() = SampleDraft(1);
  return r;
}

// ------------------------------------------------------------ parse failures

TEST(DescribeParseFailureTest, InvalidWireTypeNamesByteAndField) {
  EXPECT_EQ(Describe(v1::PublishRequest(), "\x0f"), "byte 0: invalid wire type 7 (field 1)");
  EXPECT_EQ(Describe(v1::PublishRequest(), std::string("\x08\x01\x16", 3)),
            "byte 2: invalid wire type 6 (field 2)");
}

TEST(DescribeParseFailureTest, TruncatedMessageSaysHowManyBytesAreMissing) {
  const std::string full = SamplePublish().SerializeAsString();
  const size_t inner = SamplePublish().alert().ByteSizeLong();
  const std::string cut = full.substr(0, full.size() - 3);
  EXPECT_EQ(Describe(v1::PublishRequest(), cut),
            absl::StrCat("byte 0: field 1 (alert) declares ", inner, " bytes but ", inner - 3,
                         " remain"));
  EXPECT_FALSE(v1::PublishRequest().ParseFromString(cut));
}

TEST(DescribeParseFailureTest, InvalidUtf8NamesTheNestedStringField) {
  v1::PublishRequest r = SamplePublish();
  r.mutable_alert()->set_title("caf\xc3");  // a truncated two-byte sequence
  const std::string bytes = r.SerializePartialAsString();
  EXPECT_EQ(Describe(v1::PublishRequest(), bytes), "alert.title: invalid UTF-8 in a string field");
  EXPECT_FALSE(v1::PublishRequest().ParseFromString(bytes));

  v1::SubscribeRequest s;
  s.add_filters();
  s.add_filters()->add_conditions()->mutable_origin()->add_origins("a\xff");
  EXPECT_EQ(Describe(v1::SubscribeRequest(), s.SerializePartialAsString()),
            "filters[1].conditions[0].origin.origins[0]: invalid UTF-8 in a string field");
}

TEST(DescribeParseFailureTest, AStringWhereAMessageBelongsFailsInsideTheNestedMessage) {
  // GetAlertRequest{id: "hello"} read as a PublishRequest: "hello" is not
  // an Alert ('l' is an end-group tag of field 13).
  v1::GetAlertRequest wrong;
  wrong.set_id("hello");
  EXPECT_EQ(Describe(v1::PublishRequest(), wrong.SerializeAsString()),
            "alert, byte 2: an end-group tag of field 13 without its start-group");
}

TEST(DescribeParseFailureTest, UnknownFieldsAndGroupsParse) {
  // Field 99 as varint, a length-delimited unknown, and a group 98 with a
  // varint inside: all valid wire format.
  const std::string bytes("\x98\x06\x01\x9a\x06\x02hi\x93\x06\x08\x05\x94\x06", 14);
  EXPECT_EQ(Describe(v1::GetIdentityRequest(), bytes), "");
  EXPECT_TRUE(v1::GetIdentityRequest().ParseFromString(bytes));
  EXPECT_EQ(Describe(v1::GetIdentityRequest(), "\x0c"),
            "byte 0: an end-group tag of field 1 without its start-group");
  EXPECT_EQ(Describe(v1::GetIdentityRequest(), "\x93\x06\x08\x05"),
            "byte 0: field 98: the group has no end-group tag");
}

TEST(DescribeParseFailureTest, ParseStrictlyNamesWhatAndType) {
  v1::Alert alert;
  absl::Status st = ParseStrictly("\x0f", "envelope payload", &alert);
  EXPECT_EQ(st, absl::InvalidArgumentError(
                    "envelope payload could not be parsed as watchfloor.v1.Alert: byte 0: "
                    "invalid wire type 7 (field 1)"));
  EXPECT_EQ(ParseStrictly(SampleDraft(2).SerializeAsString(), "payload", &alert),
            absl::OkStatus());
  EXPECT_EQ(alert.title(), SampleDraft(2).title());
}

// The walk and protobuf agree on which bytes parse: random mutations of
// valid messages (bit flips, cuts, inserted bytes) of several types.
TEST(DescribeParseFailureTest, AgreesWithProtobufOnMutatedMessages) {
  certs::InstallProtobufLogFilter();  // the UTF-8 failures would log otherwise
  v1::SubscribeRequest sub;
  sub.set_cursor(300);
  sub.add_filters()->add_conditions()->mutable_label()->add_labels()->set_key("k");
  sub.mutable_filters(0)->add_conditions()->mutable_asn()->add_asns(65000);
  v1::PushRequest push;
  v1::Envelope* e = push.add_envelopes();
  e->set_payload(SampleDraft(3).SerializeAsString());
  e->set_payload_type("application/vnd.watchfloor.alert+protobuf");
  e->add_signatures()->set_sig(std::string(64, '\x9c'));
  const std::vector<const google::protobuf::Message*> samples = {&sub, &push};
  std::mt19937 rng(20261202);
  int failures = 0;
  for (const google::protobuf::Message* sample : samples) {
    const std::string valid = sample->SerializeAsString();
    for (int i = 0; i < 3000; ++i) {
      std::string b = valid;
      const int edits = 1 + static_cast<int>(rng() % 3);
      for (int k = 0; k < edits && !b.empty(); ++k) {
        const size_t at = rng() % b.size();
        switch (rng() % 3) {
          case 0: b[at] = static_cast<char>(b[at] ^ (1 << (rng() % 8))); break;
          case 1: b.resize(at); break;
          default: b.insert(at, 1, static_cast<char>(rng())); break;
        }
      }
      std::unique_ptr<google::protobuf::Message> m(sample->New());
      const bool parses = m->ParseFromString(b);
      const std::string why = DescribeParseFailure(*sample->GetDescriptor(), b);
      EXPECT_EQ(parses, why.empty()) << sample->GetTypeName() << " case " << i << ": " << why;
      if (!parses) ++failures;
    }
  }
  EXPECT_GT(failures, 1000);  // the mutations do reach the failure paths
}

// ------------------------------------------------------------ unknown fields

TEST(CheckNoUnknownFieldsTest, NamesTopLevelAndNestedFieldsByPath) {
  v1::Alert a = SampleDraft(1);
  EXPECT_EQ(CheckNoUnknownFields(a, "draft"), absl::OkStatus());
  a.GetReflection()->MutableUnknownFields(&a)->AddVarint(99, 1);
  EXPECT_EQ(CheckNoUnknownFields(a, "draft"),
            absl::InvalidArgumentError("draft: unknown field 99 (varint)"));

  v1::Alert nested = SampleDraft(1);
  nested.add_labels()->set_key("a");
  v1::Label* l = nested.add_labels();
  l->set_key("b");
  l->GetReflection()->MutableUnknownFields(l)->AddLengthDelimited(7, "x");
  EXPECT_EQ(CheckNoUnknownFields(nested, "draft"),
            absl::InvalidArgumentError(absl::StrCat(
                "draft.labels[", nested.labels_size() - 1,
                "]: unknown field 7 (length-delimited)")));

  v1::Alert ts = SampleDraft(1);
  ts.mutable_expires_at()->set_seconds(5);
  ts.mutable_expires_at()->GetReflection()->MutableUnknownFields(ts.mutable_expires_at())
      ->AddFixed32(5, 1);
  EXPECT_EQ(CheckNoUnknownFields(ts, "alert"),
            absl::InvalidArgumentError("alert.expires_at: unknown field 5 (fixed32)"));
}

TEST(CheckNoUnknownFieldsTest, KnownFieldWithTheWrongWireTypeIsNamed) {
  v1::Alert a;
  ASSERT_TRUE(a.ParseFromString(std::string("\x40\x01", 2)));  // field 8 as varint
  EXPECT_EQ(CheckNoUnknownFields(a, "draft"),
            absl::InvalidArgumentError(
                "draft: field 8 (title) has wire type varint; it is declared string"));
}

TEST(UnknownFieldsTest, DraftWithAnUnknownFieldIsRefusedNamingIt) {
  v1::Alert a = SampleDraft(1);
  v1::Label* label = a.add_labels();
  label->set_key("kind");
  label->GetReflection()->MutableUnknownFields(label)->AddVarint(99, 1);
  EXPECT_EQ(node::ValidateDraft(a),
            absl::InvalidArgumentError(
                "draft.labels[0]: unknown field 99 (varint); this node signs only fields it "
                "knows: leave the field out, or upgrade the node"));
}

TEST(UnknownFieldsTest, RosterWithAnUnknownFieldIsRefusedBeforeItsSignaturesCount) {
  testing::TestFederation fed(testing::FederationOptions{});
  ASSERT_TRUE(fed.ok());
  v1::Roster roster = fed.roster_proto();
  ASSERT_GT(roster.members_size(), 0);
  v1::RosterMember* m = roster.mutable_members(0);
  m->GetReflection()->MutableUnknownFields(m)->AddVarint(99, 1);
  v1::Envelope env;
  env.set_payload_type(std::string(kRosterPayloadType));
  ASSERT_TRUE(roster.SerializeToString(env.mutable_payload()));
  const absl::Status want = absl::InvalidArgumentError(
      "roster.members[0]: unknown field 99 (varint); this build does not know that field: "
      "upgrade watchfloor, or sign a roster without it");
  EXPECT_EQ(ParseRosterPayload(env).status(), want);
  EXPECT_EQ(Roster::VerifyGenesis(env).status(), want);
  EXPECT_EQ(SignRoster(env, *fed.member(0).member_key).status(), want);
}

TEST(UnknownFieldsTest, BundleWithAnUnknownFieldIsNotAudited) {
  v1::AuditBundle bundle;
  ASSERT_TRUE(bundle.ParseFromString(testing::ReadFileOrDie(
      std::string(WF_SOURCE_DIR) + "/tests/testdata/audit/good.wfb")));
  ASSERT_TRUE(Audit(bundle, AuditOptions()).ok());
  ASSERT_GT(bundle.alerts_size(), 2);
  v1::Envelope* env = bundle.mutable_alerts(2)->mutable_envelope();
  env->GetReflection()->MutableUnknownFields(env)->AddVarint(9, 1);
  EXPECT_EQ(Audit(bundle, AuditOptions()).status(),
            absl::InvalidArgumentError(
                "bundle.alerts[2].envelope: unknown field 9 (varint); this auditor does not "
                "know that field: upgrade watchfloor"));
}

TEST(UnknownFieldsTest, ConfigWithAnUnknownFieldIsRefusedNamingIt) {
  absl::StatusOr<v1::NodeConfig> config =
      node::ParseConfig("origin: \"example.cz/prg1\"\nno_such_option: 1\n", "node.conf", "/");
  ASSERT_FALSE(config.ok());
  EXPECT_EQ(config.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(config.status().message().find("no_such_option"), std::string::npos)
      << config.status();
}

}  // namespace
}  // namespace watchfloor::certs
