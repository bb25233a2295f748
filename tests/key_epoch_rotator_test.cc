// The rotation and erasure of a node's epoch keys (node/key_epoch_rotator.h)
// on a fake clock, with the real Ledger, SQLite store, key records
// (node/key_epochs.h) and key files: each epoch is announced on schedule,
// erased from the ring and the disk when its retention passes, and a
// restart keeps only announced, unexpired keys. Every refusal at load has
// its own code and leaves the key files as they were.
#include "node/key_epoch_rotator.h"

#include <sys/stat.h>

#include <atomic>
#include <memory>
#include <set>
#include <string>

#include "absl/strings/match.h"
#include "certs/encryption_key.h"
#include "certs/keys.h"
#include "gtest/gtest.h"
#include "node/key_epochs.h"
#include "node/key_resolver.h"
#include "node/ledger.h"
#include "node/sqlite_alert_store.h"
#include "tests/test_util.h"

namespace watchfloor::node {
namespace {

using testing::TempDir;
using testing::WriteFile;

constexpr char kOrigin[] = "example.cz/prg1";
constexpr absl::Duration kRotation = absl::Seconds(10);
constexpr absl::Duration kRetention = absl::Seconds(5);

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

int ModeOf(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 ? static_cast<int>(st.st_mode & 0777) : -1;
}

class KeyEpochRotatorTest : public ::testing::Test {
 protected:
  KeyEpochRotatorTest()
      : clock_(absl::FromUnixSeconds(1798761600)),
        key_(certs::SigningKey::Generate()),
        resolver_({{kOrigin, key_.public_key()}}) {}

  void SetUp() override {
    absl::StatusOr<std::unique_ptr<SqliteAlertStore>> store =
        SqliteAlertStore::Open(dir_.Join("data"), kOrigin);
    ASSERT_TRUE(store.ok()) << store.status();
    store_ = *std::move(store);
    epochs_ = std::make_unique<KeyEpochs>(&clock_);
    ASSERT_EQ(epochs_->Rebuild(store_.get()), absl::OkStatus());
    KeyEpochs* epochs = epochs_.get();
    absl::StatusOr<std::unique_ptr<Ledger>> ledger = Ledger::Open(
        store_.get(), &key_, kOrigin, &resolver_, &clock_,
        [epochs](const std::vector<std::shared_ptr<const StoredAlert>>& a) {
          epochs->OnCommitted(a);
        });
    ASSERT_TRUE(ledger.ok()) << ledger.status();
    ledger_ = *std::move(ledger);
    ledger_->SetStagedCheck([epochs](const watchfloor::v1::Alert& a,
                                     const std::vector<Ledger::StagedAlert>& staged) {
      return epochs->CheckStaged(a, staged);
    });
  }

  void TearDown() override { rotator_.reset(); }

  EpochKeyRotator::Options Options() {
    EpochKeyRotator::Options o;
    o.rotation = kRotation;
    o.retention = kRetention;
    o.dir = dir_.Join("epochs");
    o.max_sleep = absl::Milliseconds(10);
    o.published = [this](const watchfloor::v1::Envelope& e) {
      watchfloor::v1::Alert a;
      if (a.ParseFromString(e.payload()) && a.has_key_record()) ++published_;
    };
    return o;
  }

  // (Re)starts the rotator on a fresh ring, as a node restart does.
  absl::Status Start() {
    rotator_.reset();
    ring_ = std::make_unique<EncryptionKeyRing>();
    absl::StatusOr<std::unique_ptr<EpochKeyRotator>> r =
        EpochKeyRotator::Start(Options(), kOrigin, epochs_.get(), ring_.get(), ledger_.get(),
                               &clock_);
    if (!r.ok()) return r.status();
    rotator_ = *std::move(r);
    return absl::OkStatus();
  }

  std::string Path(uint64_t epoch) const {
    return EpochKeyRotator::KeyPath(dir_.Join("epochs"), epoch);
  }

  std::set<uint64_t> Announced() const {
    std::set<uint64_t> out;
    for (const KeyRecordInfo& r : epochs_->Records(kOrigin)) out.insert(r.epoch);
    return out;
  }

  TempDir dir_;
  FakeClock clock_;
  certs::SigningKey key_;
  StaticKeyResolver resolver_;
  std::unique_ptr<SqliteAlertStore> store_;
  std::unique_ptr<KeyEpochs> epochs_;
  std::unique_ptr<Ledger> ledger_;
  std::unique_ptr<EncryptionKeyRing> ring_;
  std::unique_ptr<EpochKeyRotator> rotator_;
  std::atomic<int> published_{0};  // key record envelopes handed to `published`
};

TEST_F(KeyEpochRotatorTest, AnnouncesEachEpochOnScheduleAndErasesItAfterRetention) {
  const absl::Time t0 = clock_.Now();
  ASSERT_EQ(Start(), absl::OkStatus());
  // The first epoch: on disk (0600, in a 0700 directory), in the ring, and
  // announced in the node's own feed, valid for two rotations.
  EXPECT_EQ(rotator_->held(), (std::set<uint64_t>{1}));
  EXPECT_EQ(ModeOf(dir_.Join("epochs")), 0700);
  EXPECT_EQ(ModeOf(Path(1)), 0600);
  ASSERT_NE(ring_->Get(1), nullptr);
  std::optional<KeyRecordInfo> r1 = epochs_->Record(kOrigin, 1);
  ASSERT_TRUE(r1.has_value());
  EXPECT_EQ(r1->key, ring_->Get(1)->public_key());
  EXPECT_EQ(r1->not_after, t0 + 2 * kRotation);
  EXPECT_EQ(ledger_->OwnHead().sequence, 1u);
  EXPECT_EQ(epochs_->Current(kOrigin)->epoch, 1u);
  EXPECT_EQ(published_.load(), 1);  // for gossip, once committed

  // Not yet due: nothing new.
  clock_.Advance(kRotation - absl::Seconds(1));
  ASSERT_TRUE(rotator_->RunOnce().ok());
  EXPECT_EQ(Announced(), (std::set<uint64_t>{1}));
  // Due: epoch 2, and senders move to it.
  clock_.Advance(absl::Seconds(1));
  ASSERT_TRUE(rotator_->RunOnce().ok());
  EXPECT_EQ(Announced(), (std::set<uint64_t>{1, 2}));
  EXPECT_EQ(rotator_->held(), (std::set<uint64_t>{1, 2}));
  EXPECT_EQ(epochs_->Current(kOrigin)->epoch, 2u);

  // Epoch 1 is no longer sealed to after not_after (t0 + 20 s) but kept
  // for the retention: erased at t0 + 25 s, not a moment before.
  clock_.Advance(kRotation * 2 + kRetention - absl::Seconds(10) - absl::Milliseconds(1));
  ASSERT_TRUE(rotator_->RunOnce().ok());
  EXPECT_EQ(rotator_->held().count(1), 1u);
  EXPECT_NE(ring_->Get(1), nullptr);
  EXPECT_TRUE(Exists(Path(1)));
  clock_.Advance(absl::Milliseconds(1));
  ASSERT_TRUE(rotator_->RunOnce().ok());
  EXPECT_EQ(rotator_->held(), (std::set<uint64_t>{2, 3}));
  EXPECT_EQ(ring_->Get(1), nullptr);
  EXPECT_FALSE(Exists(Path(1)));
  EXPECT_NE(ring_->Get(2), nullptr);
  EXPECT_TRUE(Exists(Path(2)));
  // The record stays: the feed is history; only the private key is gone.
  EXPECT_EQ(Announced(), (std::set<uint64_t>{1, 2, 3}));
  EXPECT_EQ(published_.load(), 3);
}

TEST_F(KeyEpochRotatorTest, RestartKeepsOnlyAnnouncedUnexpiredKeysAndErasesLeftovers) {
  ASSERT_EQ(Start(), absl::OkStatus());
  const std::string pem1 = testing::ReadFileOrDie(Path(1));
  rotator_.reset();
  // A crash between writing a key and announcing it, and one mid-write.
  ASSERT_EQ(certs::EncryptionKey::Generate().SavePemFile(Path(7)), absl::OkStatus());
  WriteFile(Path(8) + ".tmp", "-----BEGIN PRIVATE KEY-----\n", 0600);

  ASSERT_EQ(Start(), absl::OkStatus());
  EXPECT_FALSE(Exists(Path(7)));
  EXPECT_FALSE(Exists(Path(8) + ".tmp"));
  EXPECT_EQ(ring_->Get(7), nullptr);
  // Epoch 1 is still current: loaded, not replaced.
  EXPECT_EQ(rotator_->held(), (std::set<uint64_t>{1}));
  ASSERT_NE(ring_->Get(1), nullptr);
  EXPECT_EQ(ring_->Get(1)->public_key(), epochs_->Record(kOrigin, 1)->key);
  EXPECT_EQ(testing::ReadFileOrDie(Path(1)), pem1);
  EXPECT_EQ(Announced(), (std::set<uint64_t>{1}));

  // Down past epoch 1's retention: erased at load, before anything is
  // served, and the next epoch above every announced one (7 never was)
  // is announced.
  rotator_.reset();
  clock_.Advance(kRotation * 2 + kRetention);
  ASSERT_EQ(Start(), absl::OkStatus());
  EXPECT_FALSE(Exists(Path(1)));
  EXPECT_EQ(ring_->Get(1), nullptr);
  EXPECT_EQ(rotator_->held(), (std::set<uint64_t>{2}));
  EXPECT_EQ(epochs_->Current(kOrigin)->epoch, 2u);
  EXPECT_EQ(Announced(), (std::set<uint64_t>{1, 2}));
}

TEST_F(KeyEpochRotatorTest, LoadRefusalsHaveExactCodesAndTouchNoKeyFile) {
  ASSERT_EQ(Start(), absl::OkStatus());
  rotator_.reset();
  const std::string dir = dir_.Join("epochs");

  // The directory open to others.
  ASSERT_EQ(chmod(dir.c_str(), 0750), 0);
  absl::Status st = Start();
  EXPECT_EQ(st.code(), absl::StatusCode::kPermissionDenied) << st;
  EXPECT_TRUE(absl::StrContains(st.message(), "(mode 0750); run chmod 700 " + dir)) << st;
  ASSERT_EQ(chmod(dir.c_str(), 0700), 0);

  // An epoch key readable by others.
  ASSERT_EQ(chmod(Path(1).c_str(), 0644), 0);
  st = Start();
  EXPECT_EQ(st.code(), absl::StatusCode::kPermissionDenied) << st;
  EXPECT_TRUE(absl::StrContains(st.message(), "chmod 600 " + Path(1))) << st;
  ASSERT_EQ(chmod(Path(1).c_str(), 0600), 0);

  // A different key under epoch 1's name (another node's directory).
  ASSERT_EQ(unlink(Path(1).c_str()), 0);
  ASSERT_EQ(certs::EncryptionKey::Generate().SavePemFile(Path(1)), absl::OkStatus());
  const std::string other = testing::ReadFileOrDie(Path(1));
  st = Start();
  EXPECT_EQ(st.code(), absl::StatusCode::kFailedPrecondition) << st;
  EXPECT_TRUE(absl::StrContains(st.message(), "is not the key of this node's key record for epoch 1"))
      << st;
  EXPECT_EQ(testing::ReadFileOrDie(Path(1)), other);  // refused, not erased

  // Not a directory.
  ASSERT_EQ(unlink(Path(1).c_str()), 0);
  ASSERT_EQ(rmdir(dir.c_str()), 0);
  WriteFile(dir, "not a directory", 0600);
  st = Start();
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << st;
  EXPECT_TRUE(absl::StrContains(st.message(), "is not a directory")) << st;
  EXPECT_EQ(testing::ReadFileOrDie(dir), "not a directory");
  EXPECT_EQ(Announced(), (std::set<uint64_t>{1}));  // nothing announced by a refused start
}

}  // namespace
}  // namespace watchfloor::node
