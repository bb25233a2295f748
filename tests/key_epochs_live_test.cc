// Forward secrecy by key epochs (node/key_epochs.h, node/key_epoch_rotator.h)
// on a real two-member federation (in-process nodes, mutual TLS, SQLite):
// a node rotates its encryption key on a short schedule, alerts are sealed
// to its newest epoch, and once an epoch's retention has passed its private
// key is gone from memory and disk, for good: an alert sealed to it no
// longer opens (FAILED_PRECONDITION naming the epoch) while a newer one
// does, also after a restart. And the key records a node accepts: only its
// own, with growing epochs.
#include <sys/stat.h>

#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "certs/dsse.h"
#include "certs/encryption_key.h"
#include "certs/ids.h"
#include "gtest/gtest.h"
#include "node/config.h"
#include "node/key_epoch_rotator.h"
#include "node/key_epochs.h"
#include "tests/federation_util.h"
#include "tests/test_util.h"

namespace watchfloor::testing {
namespace {

namespace v1 = ::watchfloor::v1;

constexpr absl::Duration kConverge = absl::Seconds(30);
constexpr char kSecret[] = "SECRET-epoch-sealed registrar takeover";

grpc::ClientContext* WithDeadline(grpc::ClientContext* ctx) {
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  return ctx;
}

v1::Alert RedDraft(const std::string& to, const std::string& title) {
  v1::Alert a;
  a.set_severity(v1::SEVERITY_HIGH);
  a.set_category("dns.hijack");
  a.set_tlp(v1::TLP_RED);
  a.set_title(title);
  a.add_recipients(to);
  return a;
}

grpc::Status Get(TestFederation& fed, int node, const std::string& id,
                 v1::GetAlertResponse* out) {
  v1::GetAlertRequest req;
  req.set_id(id);
  grpc::ClientContext ctx;
  return fed.Client(node, node)->GetAlert(WithDeadline(&ctx), req, out);
}

// The key epoch `outer` wraps its content key to for `node`.
uint64_t EpochFor(const v1::Alert& outer, const std::string& node) {
  for (const v1::WrappedKey& k : outer.sealed().keys()) {
    if (k.node() == node) return k.key_epoch();
  }
  ADD_FAILURE() << "no wrapped key for " << node;
  return 0;
}

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

class KeyEpochsLiveTest : public ::testing::Test {
 protected:
  static FederationOptions Options() {
    FederationOptions o;
    o.members = 2;
    return o;
  }
  KeyEpochsLiveTest() : fed_(Options()) {}

  void SetUp() override { ASSERT_TRUE(fed_.ok()); }

  // Rotation every kRotation, kept kRetention past not_after (2 x kRotation
  // after its record): an epoch's key lives kRotation * 2 + kRetention.
  static constexpr absl::Duration kRotation = absl::Milliseconds(1500);
  static constexpr absl::Duration kRetention = absl::Milliseconds(2000);

  void EnableEpochs(int i) {
    v1::EncryptionKeyEpochs* e = fed_.config(i).mutable_encryption_key_epochs();
    e->set_rotation_ms(absl::ToInt64Milliseconds(kRotation));
    e->set_retention_ms(absl::ToInt64Milliseconds(kRetention));
  }

  TestFederation fed_;
};

TEST_F(KeyEpochsLiveTest, ErasedEpochNoLongerOpensWhileNewerOnesDoEvenAfterRestart) {
  EnableEpochs(0);
  EnableEpochs(1);
  absl::Status st = fed_.StartAll();
  ASSERT_TRUE(st.ok()) << st;
  const std::string n1 = fed_.origin(1);
  const std::string dir1 = node::KeyEpochDir(fed_.config(1));

  // The first epoch was announced before the node served; node 0 learns it
  // by gossip.
  node::EpochKeyRotator* rot1 = fed_.server(1)->key_rotator();
  ASSERT_NE(rot1, nullptr);
  ASSERT_FALSE(rot1->held().empty());
  ASSERT_TRUE(WaitUntil([&] { return fed_.server(0)->key_epochs()->Current(n1).has_value(); },
                        kConverge));

  // Alert A, sealed to node 1's current epoch (>= 1, not the roster key).
  v1::PublishResponse a;
  grpc::Status gs = fed_.Publish(0, RedDraft(fed_.member(1).name, kSecret), &a);
  ASSERT_TRUE(gs.ok()) << gs.error_message();
  const v1::Alert outer_a = AlertOf(a.envelope());
  const uint64_t epoch_a = EpochFor(outer_a, n1);
  ASSERT_GE(epoch_a, 1u);
  EXPECT_GE(EpochFor(outer_a, fed_.origin(0)), 1u);  // its own node too
  const std::string file_a = node::EpochKeyRotator::KeyPath(dir1, epoch_a);
  ASSERT_TRUE(fed_.WaitForIds({a.id()}, kConverge));
  {
    v1::GetAlertResponse got;
    gs = Get(fed_, 1, a.id(), &got);
    ASSERT_TRUE(gs.ok()) << gs.error_message();
    EXPECT_EQ(got.opened().title(), kSecret);
  }
  EXPECT_TRUE(Exists(file_a));

  // Retention passes: epoch_a's key leaves the ring and the disk.
  ASSERT_TRUE(WaitUntil([&] { return rot1->held().count(epoch_a) == 0; },
                        kRotation * 2 + kRetention + absl::Seconds(10)));
  EXPECT_FALSE(Exists(file_a));
  EXPECT_FALSE(Exists(file_a + ".tmp"));

  // Alert B, sealed now: to a newer epoch, which opens.
  v1::PublishResponse b;
  gs = fed_.Publish(0, RedDraft(fed_.member(1).name, "newer epoch"), &b);
  ASSERT_TRUE(gs.ok()) << gs.error_message();
  const uint64_t epoch_b = EpochFor(AlertOf(b.envelope()), n1);
  ASSERT_GT(epoch_b, epoch_a);
  ASSERT_TRUE(fed_.WaitForIds({b.id()}, kConverge));

  auto expect_a_gone_b_opens = [&] {
    v1::GetAlertResponse got;
    grpc::Status old = Get(fed_, 1, a.id(), &got);
    EXPECT_EQ(old.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << old.error_message();
    EXPECT_TRUE(absl::StrContains(old.error_message(), absl::StrCat("key epoch ", epoch_a)))
        << old.error_message();
    EXPECT_FALSE(absl::StrContains(old.error_message(), kSecret));
    v1::GetAlertResponse fresh;
    grpc::Status now = Get(fed_, 1, b.id(), &fresh);
    EXPECT_TRUE(now.ok()) << now.error_message();
    EXPECT_EQ(fresh.opened().title(), "newer epoch");
  };
  expect_a_gone_b_opens();

  // Erasure touches no stored byte: node 1 still holds A exactly as
  // signed, and it still verifies (relays and audits never open it).
  {
    absl::StatusOr<std::optional<node::StoredAlert>> stored =
        fed_.server(1)->store()->Get(a.id());
    ASSERT_TRUE(stored.ok() && stored->has_value());
    EXPECT_EQ((*stored)->envelope.SerializeAsString(), a.envelope().SerializeAsString());
    EXPECT_TRUE(
        certs::VerifyEnvelope((*stored)->envelope, fed_.member(0).signing_key->public_key())
            .ok());
  }

  // A restart loads what is on disk: not the erased epoch.
  fed_.StopNode(1);
  EXPECT_FALSE(Exists(file_a));
  st = fed_.StartNode(1);
  ASSERT_TRUE(st.ok()) << st;
  rot1 = fed_.server(1)->key_rotator();
  EXPECT_EQ(rot1->held().count(epoch_a), 0u);
  EXPECT_FALSE(Exists(file_a));
  expect_a_gone_b_opens();
  // Every held epoch has a key file of mode 0600.
  for (uint64_t e : rot1->held()) {
    struct stat sb;
    ASSERT_EQ(stat(node::EpochKeyRotator::KeyPath(dir1, e).c_str(), &sb), 0) << e;
    EXPECT_EQ(sb.st_mode & 0777, 0600u) << e;
  }
}

// A node refuses, from any origin's feed, a key record whose epoch does not
// grow, or that names another node: exact status, nothing stored, the feed
// head where it was; the records it accepted are what its Sealer uses.
class KeyRecordIngestTest : public KeyEpochsLiveTest {
 protected:
  // The next alert of node 0's feed (which node 0 never runs to publish
  // itself), carrying a key record, signed with node 0's key.
  v1::Envelope Record(uint64_t sequence, const std::string& previous, uint64_t epoch,
                      const std::string& node, const std::string& public_key) {
    v1::Alert a;
    a.set_origin(fed_.origin(0));
    a.set_sequence(sequence);
    a.set_previous(previous);
    const absl::Time now = absl::Now();
    a.mutable_issued_at()->set_seconds(absl::ToUnixSeconds(now));
    a.set_severity(v1::SEVERITY_INFO);
    a.set_tlp(v1::TLP_CLEAR);
    a.set_category(node::kKeyRecordCategory);
    a.set_title(absl::StrCat("encryption key epoch ", epoch));
    v1::KeyRecord* k = a.mutable_key_record();
    k->set_node(node);
    k->set_epoch(epoch);
    k->set_public_key(public_key);
    k->mutable_not_after()->set_seconds(absl::ToUnixSeconds(now + absl::Hours(1)));
    return certs::SignEnvelope(a.SerializeAsString(), certs::kAlertPayloadType,
                               *fed_.member(0).signing_key);
  }
};

TEST_F(KeyRecordIngestTest, NonGrowingEpochOrForeignNodeIsInvalidArgumentAndNothingStored) {
  absl::Status st = fed_.StartNode(1);
  ASSERT_TRUE(st.ok()) << st;
  node::Ledger* ledger = fed_.server(1)->ledger();
  const std::string n0 = fed_.origin(0);
  const std::string key5 = certs::EncryptionKey::Generate().public_key().raw();

  v1::Envelope first = Record(1, "", 5, n0, key5);
  absl::StatusOr<node::IngestResult> ok = ledger->IngestSync(first);
  ASSERT_TRUE(ok.ok()) << ok.status();
  const std::string head = certs::AlertId(first.payload());
  const node::KeyEpochs* epochs = fed_.server(1)->key_epochs();
  ASSERT_TRUE(epochs->Current(n0).has_value());
  EXPECT_EQ(epochs->Current(n0)->epoch, 5u);
  EXPECT_EQ(epochs->Current(n0)->key.raw(), key5);

  auto feed_head = [&]() -> node::FeedHead {
    for (const node::FeedHead& h : ledger->Heads()) {
      if (h.origin == n0) return h;
    }
    return node::FeedHead();
  };
  struct Case {
    std::string name;
    v1::Envelope envelope;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"same epoch again", Record(2, head, 5, n0, key5),
       absl::StrCat("key_record.epoch 5 of ", n0, " is not above its epoch 5 announced before")},
      {"older epoch", Record(2, head, 4, n0, certs::EncryptionKey::Generate().public_key().raw()),
       absl::StrCat("key_record.epoch 4 of ", n0, " is not above its epoch 5 announced before")},
      {"another node's key", Record(2, head, 6, fed_.origin(1), key5),
       absl::StrCat("key_record.node \"", fed_.origin(1), "\" is invalid: must be the alert's origin")},
      {"31-byte key", Record(2, head, 6, n0, key5.substr(1)),
       "key_record.public_key \"31 bytes\" is invalid"},
      {"epoch 0", Record(2, head, 0, n0, key5), "key_record.epoch \"0\" is invalid"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    absl::StatusOr<node::IngestResult> r = ledger->IngestSync(c.envelope);
    ASSERT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << r.status();
    EXPECT_TRUE(absl::StrContains(r.status().message(), c.message)) << r.status();
    EXPECT_EQ(feed_head().sequence, 1u);
    EXPECT_EQ(feed_head().id, head);
    absl::StatusOr<std::optional<node::StoredAlert>> stored =
        fed_.server(1)->store()->GetBySequence(n0, 2);
    ASSERT_TRUE(stored.ok()) << stored.status();
    EXPECT_FALSE(stored->has_value());
    EXPECT_EQ(epochs->Current(n0)->epoch, 5u);
  }

  // The next epoch is taken, and the Sealer moves to it.
  const std::string key6 = certs::EncryptionKey::Generate().public_key().raw();
  ok = ledger->IngestSync(Record(2, head, 6, n0, key6));
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(epochs->Current(n0)->epoch, 6u);
  EXPECT_EQ(epochs->Current(n0)->key.raw(), key6);
}

// A client may not publish a key record: only the node announces its keys
// (a client's key would otherwise receive what is sealed to the node).
TEST_F(KeyRecordIngestTest, ClientPublishingAKeyRecordIsInvalidArgumentAndNothingStored) {
  absl::Status st = fed_.StartNode(1);
  ASSERT_TRUE(st.ok()) << st;
  v1::Alert draft = SampleDraft(1);
  draft.set_tlp(v1::TLP_CLEAR);
  v1::KeyRecord* k = draft.mutable_key_record();
  k->set_node(fed_.origin(1));
  k->set_epoch(7);
  k->set_public_key(certs::EncryptionKey::Generate().public_key().raw());
  k->mutable_not_after()->set_seconds(absl::ToUnixSeconds(absl::Now() + absl::Hours(1)));
  v1::PublishResponse r;
  grpc::Status gs = fed_.Publish(1, draft, &r);
  EXPECT_EQ(gs.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StrContains(gs.error_message(), "a node publishes its own key records"))
      << gs.error_message();
  EXPECT_EQ(fed_.server(1)->ledger()->OwnHead().sequence, 0u);
  EXPECT_FALSE(fed_.server(1)->key_epochs()->Current(fed_.origin(1)).has_value());
}

}  // namespace
}  // namespace watchfloor::testing
