// The alert content rules (node/alert_validator.h), walked as tables: each row
// names the input, the rule it breaks and the exact code it must get.
#include "node/alert_validator.h"

#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "certs/encryption_key.h"
#include "certs/seal.h"
#include "gtest/gtest.h"
#include "tests/test_util.h"

namespace watchfloor::node {
namespace {

using watchfloor::testing::SampleDraft;
using watchfloor::v1::Alert;

constexpr absl::StatusCode kOk = absl::StatusCode::kOk;
constexpr absl::StatusCode kInvalid = absl::StatusCode::kInvalidArgument;

const std::string kIdA(64, 'a');
const std::string kIdB(64, 'b');

// One mutation of a valid alert and the code it must produce.
struct ContentCase {
  std::string name;
  std::function<void(Alert&)> mutate;
  absl::StatusCode code;
};

// Content rules shared by drafts and signed alerts.
std::vector<ContentCase> ContentCases() {
  return {
      // Severity and TLP: the enum is open in proto3, so unknown numbers
      // arrive on the wire and must be refused, not passed through.
      {"severity unspecified", [](Alert& a) { a.set_severity(v1::SEVERITY_UNSPECIFIED); }, kInvalid},
      {"severity 9", [](Alert& a) { a.set_severity(static_cast<v1::Severity>(9)); }, kInvalid},
      {"severity -1", [](Alert& a) { a.set_severity(static_cast<v1::Severity>(-1)); }, kInvalid},
      {"severity info", [](Alert& a) { a.set_severity(v1::SEVERITY_INFO); }, kOk},
      {"severity critical", [](Alert& a) { a.set_severity(v1::SEVERITY_CRITICAL); }, kOk},
      {"tlp unspecified", [](Alert& a) { a.set_tlp(v1::TLP_UNSPECIFIED); }, kInvalid},
      {"tlp 9", [](Alert& a) { a.set_tlp(static_cast<v1::Tlp>(9)); }, kInvalid},
      {"tlp clear", [](Alert& a) { a.set_tlp(v1::TLP_CLEAR); }, kOk},
      {"tlp amber", [](Alert& a) { a.set_tlp(v1::TLP_AMBER); }, kOk},
      // Sealed TLPs need recipients (their own table below).
      {"tlp amber+strict without recipients", [](Alert& a) { a.set_tlp(v1::TLP_AMBER_STRICT); }, kInvalid},
      {"tlp red without recipients", [](Alert& a) { a.set_tlp(v1::TLP_RED); }, kInvalid},
      {"recipients on green", [](Alert& a) { a.add_recipients("nic.cz"); }, kInvalid},
      // Category.
      {"category empty", [](Alert& a) { a.set_category(""); }, kInvalid},
      {"category empty label", [](Alert& a) { a.set_category("dns..hijack"); }, kInvalid},
      {"category uppercase", [](Alert& a) { a.set_category("DNS.hijack"); }, kInvalid},
      {"category leading dash", [](Alert& a) { a.set_category("-x"); }, kInvalid},
      {"category 9 labels", [](Alert& a) { a.set_category("a.b.c.d.e.f.g.h.i"); }, kInvalid},
      // Title.
      {"title empty", [](Alert& a) { a.set_title(""); }, kInvalid},
      {"title 256 bytes", [](Alert& a) { a.set_title(std::string(256, 't')); }, kOk},
      {"title 257 bytes", [](Alert& a) { a.set_title(std::string(257, 't')); }, kInvalid},
      {"title newline", [](Alert& a) { a.set_title("line one\nline two"); }, kInvalid},
      {"title tab", [](Alert& a) { a.set_title("a\tb"); }, kInvalid},
      {"title DEL", [](Alert& a) { a.set_title("a\x7f" "b"); }, kInvalid},
      {"title NUL", [](Alert& a) { a.set_title(std::string("a\0b", 3)); }, kInvalid},
      {"title C1 control NEL", [](Alert& a) { a.set_title("a\xc2\x85" "b"); }, kInvalid},
      {"title invalid UTF-8 byte", [](Alert& a) { a.set_title("caf\xe9"); }, kInvalid},
      {"title truncated UTF-8", [](Alert& a) { a.set_title("caf\xc3"); }, kInvalid},
      {"title overlong UTF-8", [](Alert& a) { a.set_title("\xc0\xaf"); }, kInvalid},
      {"title UTF-16 surrogate", [](Alert& a) { a.set_title("\xed\xa0\x80"); }, kInvalid},
      {"title beyond U+10FFFF", [](Alert& a) { a.set_title("\xf4\x90\x80\x80"); }, kInvalid},
      {"title valid UTF-8", [](Alert& a) { a.set_title("Únos NS záznamů \xf0\x9f\x9a\xa8"); }, kOk},
      // Description.
      {"description 16 KiB", [](Alert& a) { a.set_description(std::string(16 * 1024, 'd')); }, kOk},
      {"description over 16 KiB", [](Alert& a) { a.set_description(std::string(16 * 1024 + 1, 'd')); }, kInvalid},
      {"description invalid UTF-8", [](Alert& a) { a.set_description("\xff"); }, kInvalid},
      {"description newlines allowed", [](Alert& a) { a.set_description("one\ntwo\n"); }, kOk},
      // Lists.
      {"domain uppercase", [](Alert& a) { a.add_domains("Example.cz"); }, kInvalid},
      {"domain trailing dot", [](Alert& a) { a.add_domains("example.cz."); }, kInvalid},
      {"257 domains", [](Alert& a) { for (int i = 0; i < 257; ++i) a.add_domains("a.cz"); }, kInvalid},
      {"prefix host bits", [](Alert& a) { a.add_ip_prefixes("192.0.2.1/24"); }, kInvalid},
      {"257 prefixes", [](Alert& a) { for (int i = 0; i < 257; ++i) a.add_ip_prefixes("192.0.2.0/24"); }, kInvalid},
      {"AS0", [](Alert& a) { a.add_asns(0); }, kInvalid},
      {"AS4294967295", [](Alert& a) { a.add_asns(4294967295u); }, kOk},
      {"257 asns", [](Alert& a) { for (int i = 0; i < 257; ++i) a.add_asns(64500); }, kInvalid},
      // Labels.
      {"label key ok", [](Alert& a) { auto* l = a.add_labels(); l->set_key("incident.id_2-x"); l->set_value("INC-2041"); }, kOk},
      {"label key empty", [](Alert& a) { a.add_labels()->set_value("v"); }, kInvalid},
      {"label key 64 chars", [](Alert& a) { a.add_labels()->set_key(std::string(64, 'k')); }, kOk},
      {"label key 65 chars", [](Alert& a) { a.add_labels()->set_key(std::string(65, 'k')); }, kInvalid},
      {"label key uppercase", [](Alert& a) { a.add_labels()->set_key("Incident"); }, kInvalid},
      {"label key space", [](Alert& a) { a.add_labels()->set_key("a b"); }, kInvalid},
      {"label key slash", [](Alert& a) { a.add_labels()->set_key("a/b"); }, kInvalid},
      {"label value 256 bytes", [](Alert& a) { auto* l = a.add_labels(); l->set_key("k"); l->set_value(std::string(256, 'v')); }, kOk},
      {"label value 257 bytes", [](Alert& a) { auto* l = a.add_labels(); l->set_key("k"); l->set_value(std::string(257, 'v')); }, kInvalid},
      {"label value control char", [](Alert& a) { auto* l = a.add_labels(); l->set_key("k"); l->set_value("a\rb"); }, kInvalid},
      {"label value invalid UTF-8", [](Alert& a) { auto* l = a.add_labels(); l->set_key("k"); l->set_value("\x80"); }, kInvalid},
      {"65 labels", [](Alert& a) { for (int i = 0; i < 65; ++i) a.add_labels()->set_key("k"); }, kInvalid},
      // References.
      {"reference ok", [](Alert& a) { a.add_references("https://www.nic.cz/incident/2041"); }, kOk},
      {"reference empty", [](Alert& a) { a.add_references(""); }, kInvalid},
      {"reference 2049 bytes", [](Alert& a) { a.add_references(std::string(2049, 'r')); }, kInvalid},
      {"reference control char", [](Alert& a) { a.add_references("https://x\n"); }, kInvalid},
      {"65 references", [](Alert& a) { for (int i = 0; i < 65; ++i) a.add_references("r"); }, kInvalid},
      // Lifecycle links.
      {"updates ok", [](Alert& a) { a.set_updates(kIdA); }, kOk},
      {"cancels ok", [](Alert& a) { a.set_cancels(kIdA); }, kOk},
      {"updates and cancels", [](Alert& a) { a.set_updates(kIdA); a.set_cancels(kIdB); }, kInvalid},
      {"updates uppercase hex", [](Alert& a) { a.set_updates(std::string(64, 'A')); }, kInvalid},
      {"updates 63 chars", [](Alert& a) { a.set_updates(std::string(63, 'a')); }, kInvalid},
      {"cancels not hex", [](Alert& a) { a.set_cancels(std::string(64, 'g')); }, kInvalid},
      // Expiry range.
      {"expires_at nanos out of range", [](Alert& a) { a.mutable_expires_at()->set_seconds(1898761600); a.mutable_expires_at()->set_nanos(1000000000); }, kInvalid},
      {"expires_at after year 9999", [](Alert& a) { a.mutable_expires_at()->set_seconds(253402300800); }, kInvalid},
  };
}

// A signed alert as a peer would send it: the draft plus the feed fields.
Alert SignedSample(uint64_t sequence = 2) {
  Alert a = SampleDraft();
  a.set_origin("nic.cz/prg1");
  a.set_sequence(sequence);
  if (sequence > 1) a.set_previous(kIdA);
  a.mutable_issued_at()->set_seconds(1798761600);
  return a;
}

TEST(ValidateDraftTest, SampleDraftIsValid) {
  EXPECT_EQ(ValidateDraft(SampleDraft()), absl::OkStatus());
}

TEST(ValidateDraftTest, ContentRulesGiveExactCodes) {
  for (const ContentCase& c : ContentCases()) {
    SCOPED_TRACE(c.name);
    Alert a = SampleDraft();
    c.mutate(a);
    EXPECT_EQ(ValidateDraft(a).code(), c.code) << ValidateDraft(a);
  }
}

TEST(ValidateSignedTest, ContentRulesGiveExactCodes) {
  for (const ContentCase& c : ContentCases()) {
    SCOPED_TRACE(c.name);
    Alert a = SignedSample();
    c.mutate(a);
    EXPECT_EQ(ValidateSigned(a).code(), c.code) << ValidateSigned(a);
  }
}

TEST(ValidateDraftTest, SealedTlpRecipientRulesGiveExactCodes) {
  struct Case {
    std::string name;
    v1::Tlp tlp;
    std::vector<std::string> recipients;
    absl::StatusCode code;
    std::string says;
  };
  const std::vector<Case> cases = {
      {"red to one member", v1::TLP_RED, {"nic.cz"}, kOk, ""},
      {"amber+strict to two, any order", v1::TLP_AMBER_STRICT, {"sk-nic.sk", "cesnet.cz"}, kOk, ""},
      {"red to nobody", v1::TLP_RED, {}, kInvalid, "needs recipients"},
      {"red to a member twice", v1::TLP_RED, {"nic.cz", "nic.cz"}, kInvalid, "listed twice"},
      {"red to an uppercase name", v1::TLP_RED, {"NIC.cz"}, kInvalid, "recipient: "},
      {"red to a node, not a member", v1::TLP_RED, {"nic.cz/prg1"}, kInvalid, "recipient: "},
      {"red to an empty name", v1::TLP_RED, {""}, kInvalid, "recipient: "},
      {"amber with recipients", v1::TLP_AMBER, {"nic.cz"}, kInvalid, "only for TLP AMBER+STRICT and RED"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Alert a = SampleDraft();
    a.set_tlp(c.tlp);
    for (const std::string& r : c.recipients) a.add_recipients(r);
    absl::Status st = ValidateDraft(a);
    EXPECT_EQ(st.code(), c.code) << st;
    EXPECT_NE(st.message().find(c.says), absl::string_view::npos) << st;
  }
  Alert many = SampleDraft();
  many.set_tlp(v1::TLP_RED);
  for (int i = 0; i <= kMaxRecipients; ++i) many.add_recipients(absl::StrCat("m", i, ".cz"));
  EXPECT_EQ(ValidateDraft(many).code(), kInvalid);
  many.mutable_recipients()->RemoveLast();
  EXPECT_EQ(ValidateDraft(many), absl::OkStatus());
  // A draft never carries a sealed part: the node seals.
  Alert sealed = SampleDraft();
  sealed.set_tlp(v1::TLP_RED);
  sealed.add_recipients("nic.cz");
  sealed.mutable_sealed()->set_nonce(std::string(12, 'n'));
  absl::Status st = ValidateDraft(sealed);
  EXPECT_EQ(st.code(), kInvalid) << st;
  EXPECT_NE(st.message().find("sealed is set"), absl::string_view::npos) << st;
}

// The signed (outer) form of a sealed alert: header in clear plus sealed,
// checked without any key; the same alert with its content in clear is
// refused, as is a sealed part on a clear TLP.
TEST(ValidateSignedTest, SealedAlertsAreCheckedForShapeWithoutKeys) {
  Alert full = SignedSample();
  full.set_tlp(v1::TLP_RED);
  full.add_recipients("cesnet.cz");
  full.add_recipients("nic.cz");
  EXPECT_EQ(ValidateOpened(full), absl::OkStatus());
  EXPECT_EQ(ValidateSigned(full).code(), kInvalid);
  EXPECT_NE(ValidateSigned(full).message().find("must be sealed"), absl::string_view::npos);

  certs::EncryptionKey k1 = certs::EncryptionKey::Generate();
  certs::EncryptionKey k2 = certs::EncryptionKey::Generate();
  absl::StatusOr<Alert> outer = certs::SealAlert(
      full, {{"cesnet.cz/n1", 0, k1.public_key()}, {"nic.cz/prg1", 0, k2.public_key()}});
  ASSERT_TRUE(outer.ok()) << outer.status();
  EXPECT_EQ(ValidateSigned(*outer), absl::OkStatus());
  EXPECT_TRUE(outer->title().empty());

  const std::vector<ContentCase> cases = {
      {"content in clear next to sealed", [](Alert& a) { a.set_title("t"); }, kInvalid},
      {"tlp lowered to amber", [](Alert& a) { a.set_tlp(v1::TLP_AMBER); }, kInvalid},
      {"recipients unsorted", [](Alert& a) { a.mutable_recipients()->SwapElements(0, 1); }, kInvalid},
      {"recipients dropped", [](Alert& a) { a.clear_recipients(); }, kInvalid},
      {"nonce 11 bytes", [](Alert& a) { a.mutable_sealed()->set_nonce(std::string(11, 'n')); }, kInvalid},
      {"no wrapped keys", [](Alert& a) { a.mutable_sealed()->clear_keys(); }, kInvalid},
      {"sealed cleared", [](Alert& a) { a.clear_sealed(); }, kInvalid},
      {"header sequence 0", [](Alert& a) { a.set_sequence(0); }, kInvalid},
      {"amber+strict is sealed too", [](Alert& a) { a.set_tlp(v1::TLP_AMBER_STRICT); }, kOk},
  };
  for (const ContentCase& c : cases) {
    SCOPED_TRACE(c.name);
    Alert a = *outer;
    c.mutate(a);
    EXPECT_EQ(ValidateSigned(a).code(), c.code) << ValidateSigned(a);
  }
}

TEST(ValidateDraftTest, NodeFilledFieldsMustBeUnset) {
  const std::vector<ContentCase> cases = {
      {"origin", [](Alert& a) { a.set_origin("nic.cz/prg1"); }, kInvalid},
      {"sequence", [](Alert& a) { a.set_sequence(1); }, kInvalid},
      {"previous", [](Alert& a) { a.set_previous(kIdA); }, kInvalid},
      {"issued_at", [](Alert& a) { a.mutable_issued_at()->set_seconds(1); }, kInvalid},
      {"issued_at zero but present", [](Alert& a) { a.mutable_issued_at(); }, kInvalid},
  };
  for (const ContentCase& c : cases) {
    SCOPED_TRACE(c.name);
    Alert a = SampleDraft();
    c.mutate(a);
    absl::Status st = ValidateDraft(a);
    EXPECT_EQ(st.code(), c.code) << st;
    EXPECT_NE(st.message().find("must leave origin, sequence, previous and issued_at unset"),
              absl::string_view::npos)
        << st;
  }
}

// Many references of 2000 bytes each: every field is within its own limit,
// but the whole alert is not.
void MakeOversized(Alert& a, size_t at_least) {
  while (a.ByteSizeLong() <= at_least) a.add_references(std::string(2000, 'r'));
}

TEST(ValidateDraftTest, AlertOver64KiBIsInvalidArgument) {
  Alert a = SampleDraft();
  MakeOversized(a, kMaxAlertBytes);
  ASSERT_LE(a.references_size(), 64);
  absl::Status st = ValidateDraft(a);
  EXPECT_EQ(st.code(), kInvalid) << st;
  EXPECT_NE(st.message().find("the limit is 65536"), absl::string_view::npos) << st;
}

TEST(ValidateSignedTest, AlertOver64KiBIsInvalidArgument) {
  // A node must never sign (or accept) more than it would accept from a peer:
  // the feed fields it adds count towards the limit.
  Alert a = SignedSample();
  MakeOversized(a, kMaxAlertBytes);
  ASSERT_LE(a.references_size(), 64);
  absl::Status st = ValidateSigned(a);
  EXPECT_EQ(st.code(), kInvalid) << st;
  EXPECT_NE(st.message().find("the limit is 65536"), absl::string_view::npos) << st;
}

TEST(ValidateSignedTest, FeedFieldRulesGiveExactCodes) {
  const std::vector<ContentCase> cases = {
      {"sequence 1, no previous", [](Alert& a) { a.set_sequence(1); a.clear_previous(); }, kOk},
      {"sequence 0", [](Alert& a) { a.set_sequence(0); a.clear_previous(); }, kInvalid},
      {"previous on sequence 1", [](Alert& a) { a.set_sequence(1); a.set_previous(kIdA); }, kInvalid},
      {"no previous on sequence 2", [](Alert& a) { a.clear_previous(); }, kInvalid},
      {"previous uppercase", [](Alert& a) { a.set_previous(std::string(64, 'A')); }, kInvalid},
      {"previous too short", [](Alert& a) { a.set_previous(std::string(62, 'a')); }, kInvalid},
      {"previous not hex", [](Alert& a) { a.set_previous(std::string(64, 'z')); }, kInvalid},
      {"origin missing", [](Alert& a) { a.clear_origin(); }, kInvalid},
      {"origin malformed", [](Alert& a) { a.set_origin("NIC.cz/prg1"); }, kInvalid},
      {"issued_at missing", [](Alert& a) { a.clear_issued_at(); }, kInvalid},
      {"issued_at nanos negative", [](Alert& a) { a.mutable_issued_at()->set_nanos(-1); }, kInvalid},
      {"issued_at before year 1", [](Alert& a) { a.mutable_issued_at()->set_seconds(-62135596801); }, kInvalid},
      {"expires_at before issued_at", [](Alert& a) { a.mutable_expires_at()->set_seconds(1798761599); }, kInvalid},
      {"expires_at equals issued_at", [](Alert& a) { *a.mutable_expires_at() = a.issued_at(); }, kInvalid},
      {"expires_at 1ns before issued_at", [](Alert& a) {
         a.mutable_issued_at()->set_nanos(5);
         a.mutable_expires_at()->set_seconds(1798761600);
         a.mutable_expires_at()->set_nanos(4);
       }, kInvalid},
      {"expires_at 1ns after issued_at", [](Alert& a) {
         a.mutable_expires_at()->set_seconds(1798761600);
         a.mutable_expires_at()->set_nanos(1);
       }, kOk},
      {"expires_at a day later", [](Alert& a) { a.mutable_expires_at()->set_seconds(1798761600 + 86400); }, kOk},
  };
  for (const ContentCase& c : cases) {
    SCOPED_TRACE(c.name);
    Alert a = SignedSample();
    c.mutate(a);
    EXPECT_EQ(ValidateSigned(a).code(), c.code) << ValidateSigned(a);
  }
}

TEST(ValidateDraftTest, ErrorMessageNamesFieldValueAndRule) {
  Alert a = SampleDraft();
  a.set_category("DNS.hijack");
  absl::Status st = ValidateDraft(a);
  ASSERT_EQ(st.code(), kInvalid);
  EXPECT_EQ(st.message(),
            "category \"DNS.hijack\" is invalid: must be dotted labels of "
            "[a-z0-9-], e.g. dns.hijack or dnssec.validation-failure");
}

struct NameCase {
  std::string input;
  absl::StatusCode code;
};

TEST(ValidateOriginTest, Table) {
  const std::vector<NameCase> cases = {
      {"nic.cz/prg1", kOk},
      {"example/node-1", kOk},
      {"a.b.c.d/x", kOk},
      {"", kInvalid},
      {"nic.cz", kInvalid},
      {"nic.cz/", kInvalid},
      {"/prg1", kInvalid},
      {"nic.cz/prg1/x", kInvalid},
      {"NIC.cz/prg1", kInvalid},
      {"nic.cz/PRG1", kInvalid},
      {"nic..cz/prg1", kInvalid},
      {".nic.cz/prg1", kInvalid},
      {"nic.cz./prg1", kInvalid},
      {"-nic.cz/prg1", kInvalid},
      {"nic.cz/prg1-", kInvalid},
      {"nic.cz/prg.1", kInvalid},
      {"nic.cz/prg_1", kInvalid},
      {"nic cz/prg1", kInvalid},
      {absl::StrCat(std::string(63, 'm'), "/n"), kOk},
      {absl::StrCat(std::string(64, 'm'), "/n"), kInvalid},
      {absl::StrCat("m/", std::string(63, 'n')), kOk},
      {absl::StrCat("m/", std::string(64, 'n')), kInvalid},
  };
  for (const NameCase& c : cases) {
    SCOPED_TRACE(c.input);
    EXPECT_EQ(ValidateOrigin(c.input).code(), c.code) << ValidateOrigin(c.input);
  }
}

// A 253-char name of 63-char labels: the longest a domain may be.
std::string LongName(size_t total) {
  std::string name;
  while (name.size() < total) {
    if (!name.empty()) name += '.';
    name += std::string(std::min<size_t>(63, total - name.size()), 'a');
  }
  return name;
}

TEST(ValidateDomainNameTest, Table) {
  ASSERT_EQ(LongName(253).size(), 253u);
  ASSERT_EQ(LongName(254).size(), 254u);
  ASSERT_EQ(LongName(254).back(), 'a');
  const std::vector<NameCase> cases = {
      {"example.cz", kOk},
      {"cz", kOk},
      {"_dmarc.example.cz", kOk},
      {"xn--bcher-kva.example", kOk},
      {"a-b.example", kOk},
      {"123.example", kOk},
      {LongName(253), kOk},
      {std::string(63, 'a') + ".cz", kOk},
      {"", kInvalid},
      {"Example.cz", kInvalid},
      {"EXAMPLE.CZ", kInvalid},
      {"example.cz.", kInvalid},
      {".", kInvalid},
      {".example.cz", kInvalid},
      {"a..b", kInvalid},
      {"-a.cz", kInvalid},
      {"a-.cz", kInvalid},
      {std::string(64, 'a') + ".cz", kInvalid},
      {LongName(254), kInvalid},
      {"ex ample.cz", kInvalid},
      {"*.example.cz", kInvalid},
      {"b\xc3\xbc" "cher.example", kInvalid},  // U-label, not A-label
      {"example.cz/path", kInvalid},
  };
  for (const NameCase& c : cases) {
    SCOPED_TRACE(c.input);
    EXPECT_EQ(ValidateDomainName(c.input).code(), c.code)
        << ValidateDomainName(c.input);
  }
}

TEST(ValidateCategoryTest, Table) {
  const std::vector<NameCase> cases = {
      {"dns.hijack", kOk},
      {"dns", kOk},
      {"dnssec.validation-failure", kOk},
      {"abuse.phishing-domain", kOk},
      {"a.b.c.d.e.f.g.h", kOk},
      {std::string(63, 'c') + "." + std::string(63, 'c'), kOk},  // 127 chars
      {"", kInvalid},
      {"dns..hijack", kInvalid},
      {".dns", kInvalid},
      {"dns.", kInvalid},
      {"DNS.hijack", kInvalid},
      {"dns.Hijack", kInvalid},
      {"-x", kInvalid},
      {"x-", kInvalid},
      {"dns.hi_jack", kInvalid},
      {"dns hijack", kInvalid},
      {"dns/hijack", kInvalid},
      {"a.b.c.d.e.f.g.h.i", kInvalid},
      {std::string(64, 'c'), kInvalid},
      {std::string(63, 'c') + "." + std::string(62, 'c') + ".c", kOk},       // 128 chars
      {std::string(63, 'c') + "." + std::string(63, 'c') + ".c", kInvalid},  // 129 chars
  };
  for (const NameCase& c : cases) {
    SCOPED_TRACE(c.input);
    EXPECT_EQ(ValidateCategory(c.input).code(), c.code) << ValidateCategory(c.input);
  }
}

TEST(ParseIpPrefixTest, ValidPrefixesParseExactly) {
  struct Valid {
    std::string text;
    bool v6;
    int length;
    std::vector<uint8_t> leading;  // the first bytes of addr
  };
  const std::vector<Valid> cases = {
      {"192.0.2.0/24", false, 24, {192, 0, 2, 0}},
      {"192.0.2.1/32", false, 32, {192, 0, 2, 1}},
      {"10.0.0.0/8", false, 8, {10, 0, 0, 0}},
      {"192.0.2.128/25", false, 25, {192, 0, 2, 128}},
      {"0.0.0.0/0", false, 0, {0, 0, 0, 0}},
      {"2001:db8::/32", true, 32, {0x20, 0x01, 0x0d, 0xb8, 0, 0}},
      {"2001:db8::1/128", true, 128, {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}},
      {"::/0", true, 0, {0, 0, 0, 0}},
  };
  for (const Valid& c : cases) {
    SCOPED_TRACE(c.text);
    absl::StatusOr<IpPrefix> p = ParseIpPrefix(c.text);
    ASSERT_TRUE(p.ok()) << p.status();
    EXPECT_EQ(p->v6, c.v6);
    EXPECT_EQ(p->length, c.length);
    for (size_t i = 0; i < c.leading.size(); ++i) {
      EXPECT_EQ(p->addr[i], c.leading[i]) << "byte " << i;
    }
  }
}

TEST(ParseIpPrefixTest, MalformedPrefixesAreInvalidArgument) {
  const std::vector<std::string> cases = {
      "192.0.2.1/24",     // host bits set
      "192.0.3.0/23",     // host bit at the end of the third byte
      "2001:db8::1/64",   // host bits set
      "192.0.2.0/33",     // too long for IPv4
      "2001:db8::/129",   // too long for IPv6
      "192.0.2.0",        // missing slash
      "2001:db8::",       // missing slash
      "192.0.2.0/",       // empty length
      "/24",              // empty address
      "192.0.2.0/01",     // leading zero
      "192.0.2.0/024",    // leading zero
      "192.0.2.0/-0",     // sign
      "192.0.2.0/+24",    // sign
      "192.0.2.0/ 24",    // whitespace
      "192.0.2.0/24 ",    // whitespace
      "192.0.2.0/2a",     // not a number
      "192.0.2.0/1000",   // too many digits
      "192.0.2.0/24/8",   // two slashes
      "300.0.2.0/24",     // octet out of range
      "192.0.2/24",       // three octets
      "example.cz/24",    // not an address
      "",
  };
  for (const std::string& text : cases) {
    SCOPED_TRACE(text);
    absl::StatusOr<IpPrefix> p = ParseIpPrefix(text);
    EXPECT_EQ(p.status().code(), kInvalid) << p.status();
  }
}

TEST(PrefixesOverlapTest, Table) {
  struct Case {
    std::string a, b;
    bool overlap;
  };
  const std::vector<Case> cases = {
      {"10.0.0.0/8", "10.1.0.0/16", true},
      {"10.1.0.0/16", "10.0.0.0/8", true},
      {"10.0.0.0/8", "11.0.0.0/8", false},
      {"192.0.2.0/24", "192.0.2.0/24", true},
      {"192.0.2.0/25", "192.0.2.128/25", false},
      {"192.0.2.0/24", "192.0.2.128/25", true},
      {"192.0.2.0/24", "192.0.2.7/32", true},
      {"192.0.2.0/24", "192.0.3.0/24", false},
      {"0.0.0.0/0", "203.0.113.0/24", true},
      {"::/0", "2001:db8::/32", true},
      {"::/0", "0.0.0.0/0", false},      // families never overlap
      {"0.0.0.0/0", "::/0", false},
      {"10.0.0.0/8", "a00::/8", false},  // same leading bits, other family
      {"2001:db8::/32", "2001:db8:1::/48", true},
      {"2001:db8::/32", "2001:db9::/32", false},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.a + " vs " + c.b);
    absl::StatusOr<IpPrefix> a = ParseIpPrefix(c.a);
    absl::StatusOr<IpPrefix> b = ParseIpPrefix(c.b);
    ASSERT_TRUE(a.ok()) << a.status();
    ASSERT_TRUE(b.ok()) << b.status();
    EXPECT_EQ(PrefixesOverlap(*a, *b), c.overlap);
  }
}


namespace key_record_tests {

// A signed key record of nic.cz/prg1, as its node publishes it.
Alert SignedKeyRecord() {
  Alert a = SignedSample();
  a.set_tlp(watchfloor::v1::TLP_CLEAR);
  a.set_category("watchfloor.key-epoch");
  a.set_title("encryption key epoch 3 of nic.cz/prg1");
  a.clear_recipients();
  watchfloor::v1::KeyRecord* k = a.mutable_key_record();
  k->set_node("nic.cz/prg1");
  k->set_epoch(3);
  k->set_public_key(certs::EncryptionKey::Generate().public_key().raw());
  k->mutable_not_after()->set_seconds(a.issued_at().seconds() + 3600);
  return a;
}

// Each malformed key record, the exact code and a piece of the message.
struct KeyRecordCase {
  std::string name;
  std::function<void(Alert&)> mutate;
  std::string message;
};

std::vector<KeyRecordCase> KeyRecordCases() {
  // A low-order X25519 point: the all-zero u-coordinate (RFC 7748 6.1).
  const std::string zero(32, '\0');
  return {
      {"epoch 0 (the roster key's)", [](Alert& a) { a.mutable_key_record()->set_epoch(0); },
       "key_record.epoch \"0\""},
      {"public key of 31 bytes",
       [](Alert& a) { a.mutable_key_record()->set_public_key(std::string(31, 'k')); },
       "key_record.public_key \"31 bytes\""},
      {"public key of 33 bytes",
       [](Alert& a) { a.mutable_key_record()->set_public_key(std::string(33, 'k')); },
       "key_record.public_key \"33 bytes\""},
      {"public key empty", [](Alert& a) { a.mutable_key_record()->clear_public_key(); },
       "key_record.public_key \"0 bytes\""},
      {"low-order public key",
       [zero](Alert& a) { a.mutable_key_record()->set_public_key(zero); },
       "low-order X25519 point"},
      {"node is another origin",
       [](Alert& a) { a.mutable_key_record()->set_node("nic.cz/brq1"); },
       "key_record.node \"nic.cz/brq1\" is invalid: must be the alert's origin"},
      {"node malformed", [](Alert& a) { a.mutable_key_record()->set_node("nic.cz"); },
       "key_record.node \"nic.cz\" is invalid: must be the alert's origin"},
      {"not_after unset", [](Alert& a) { a.mutable_key_record()->clear_not_after(); },
       "key_record.not_after is not set"},
      {"not_after at issued_at",
       [](Alert& a) { *a.mutable_key_record()->mutable_not_after() = a.issued_at(); },
       "key_record.not_after is not after issued_at"},
      {"not_after before issued_at",
       [](Alert& a) {
         a.mutable_key_record()->mutable_not_after()->set_seconds(a.issued_at().seconds() - 1);
       },
       "key_record.not_after is not after issued_at"},
      {"TLP GREEN", [](Alert& a) { a.set_tlp(watchfloor::v1::TLP_GREEN); },
       "a key record is TLP CLEAR"},
      {"also updates", [](Alert& a) { a.set_updates(kIdB); }, "may not also update"},
      {"also a reaction",
       [](Alert& a) {
         a.mutable_reaction()->set_kind(watchfloor::v1::REACTION_ACK);
         a.mutable_reaction()->set_target(kIdB);
       },
       "may not also update, cancel or react"},
  };
}

TEST(KeyRecordTest, WellFormedSignedKeyRecordIsValid) {
  EXPECT_EQ(ValidateSigned(SignedKeyRecord()), absl::OkStatus());
}

TEST(KeyRecordTest, MalformedKeyRecordsAreInvalidArgumentNamingTheRule) {
  for (const KeyRecordCase& c : KeyRecordCases()) {
    SCOPED_TRACE(c.name);
    Alert a = SignedKeyRecord();
    c.mutate(a);
    absl::Status st = ValidateSigned(a);
    EXPECT_EQ(st.code(), kInvalid) << st;
    EXPECT_NE(st.message().find(c.message), absl::string_view::npos) << st;
  }
}

TEST(KeyRecordTest, ClientDraftMayNotCarryAKeyRecordButTheNodesOwnMay) {
  Alert draft = SignedKeyRecord();
  draft.clear_origin();
  draft.clear_sequence();
  draft.clear_previous();
  draft.clear_issued_at();
  absl::Status st = ValidateDraft(draft);
  EXPECT_EQ(st.code(), kInvalid);
  EXPECT_NE(st.message().find("a node publishes its own key records"), absl::string_view::npos)
      << st;
  EXPECT_EQ(ValidateNodeDraft(draft), absl::OkStatus());
  draft.mutable_key_record()->set_epoch(0);
  EXPECT_EQ(ValidateNodeDraft(draft).code(), kInvalid);
}

TEST(KeyRecordTest, KeyRecordInASealedAlertIsInvalidArgument) {
  Alert sealed = SignedSample();
  sealed.set_tlp(watchfloor::v1::TLP_RED);
  sealed.add_recipients("nic.cz");
  certs::EncryptionKey key = certs::EncryptionKey::Generate();
  absl::StatusOr<Alert> outer = certs::SealAlert(sealed, {{"nic.cz/prg1", 0, key.public_key()}});
  ASSERT_TRUE(outer.ok()) << outer.status();
  ASSERT_EQ(ValidateSigned(*outer), absl::OkStatus());
  *outer->mutable_key_record() = SignedKeyRecord().key_record();
  absl::Status st = ValidateSigned(*outer);
  EXPECT_EQ(st.code(), kInvalid);
  EXPECT_NE(st.message().find("key_record is set in a sealed alert"), absl::string_view::npos)
      << st;
}

}  // namespace key_record_tests

}  // namespace
}  // namespace watchfloor::node
