// The node's side of sealed alerts (TLP:AMBER+STRICT and TLP:RED,
// alert.proto Sealed; the cryptography is certs/seal.h):
//  - Sealer, at the origin: turns a filled-in alert into the sealed outer
//    alert the node signs, addressed to every node of every recipient member
//    with the encryption keys of the roster in force;
//  - SealedReader, at every node: knows whether the node's member is a
//    recipient of a sealed alert and opens it with the node's own
//    encryption keys.
// Relaying needs neither: a relay verifies the signature and the shape
// (node/alert_validator.h) and never opens anything.
#ifndef WATCHFLOOR_NODE_SEALING_H_
#define WATCHFLOOR_NODE_SEALING_H_

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "certs/encryption_key.h"
#include "certs/roster.h"
#include "certs/seal.h"
#include "watchfloor/v1/alert.pb.h"

namespace watchfloor::node {

// The member part of "member/node".
inline absl::string_view MemberOfOrigin(absl::string_view origin) {
  return origin.substr(0, origin.find('/'));
}

// True iff `member` is one of the alert's recipients (any TLP; a clear
// alert has none).
bool IsRecipient(const watchfloor::v1::Alert& alert, absl::string_view member);

class Sealer {
 public:
  // The roster in force, or nullptr outside a federation; called once per
  // Seal, from the Ledger's writer thread, so it must be thread-safe and
  // what it returns must stay valid (RosterManager::current()).
  using RosterSource = std::function<const certs::Roster*()>;
  // A recipient node's epoch key to seal to instead of its roster entry's
  // key (epoch 0).
  struct EpochKey {
    uint64_t epoch = 0;  // >= 1
    certs::EncryptionPublicKey key;
  };
  // For a recipient node "member/node", the epoch key in force now, or
  // nullopt for its roster key (node/key_epochs.h KeyEpochs::Current).
  // Called from the Ledger's writer thread; must be thread-safe.
  using EpochKeySource =
      std::function<std::optional<EpochKey>(const std::string& node)>;

  // `origin` is this node, "member/node". Without `epoch_keys` every node
  // is sealed to with its roster key.
  Sealer(std::string origin, RosterSource roster, EpochKeySource epoch_keys = nullptr)
      : origin_(std::move(origin)),
        roster_(std::move(roster)),
        epoch_keys_(std::move(epoch_keys)) {}

  // Seals `full`: a sealed-TLP alert whose header the Ledger has filled
  // (origin, sequence, previous, issued_at) and that passed ValidateOpened.
  // Adds this node's own member to the recipients (so that its own clients
  // can read what they published), sorts them, and wraps the content key
  // for every node of every recipient member, each with the key the
  // EpochKeySource gives for it, else the encryption_key_pem of its roster
  // entry (key_epoch 0), through this sealer's long-lived HPKE contexts
  // (certs::WrapContexts: one X25519 setup per recipient key, then one
  // AES-256-GCM per alert). Returns the outer
  // alert to sign. Errors, with nothing sealed:
  //   FAILED_PRECONDITION no roster (a node outside a federation cannot
  //                       seal), or a recipient member's node has no
  //                       encryption_key_pem in the roster (the message
  //                       names the node and what to do);
  //   INVALID_ARGUMENT    a recipient is not a member of the roster in force.
  // Thread-safe.
  absl::StatusOr<watchfloor::v1::Alert> Seal(watchfloor::v1::Alert full) const;

 private:
  const std::string origin_;
  const RosterSource roster_;
  const EpochKeySource epoch_keys_;
  // Thread-safe itself; mutable because sealing advances its sequences.
  mutable certs::WrapContexts contexts_;
};

// The node's private encryption keys, by key epoch: epoch 0 is the key of
// the node's roster entry (NodeConfig.encryption_key_file). Thread-safe.
class EncryptionKeyRing {
 public:
  EncryptionKeyRing() = default;
  // Makes `key` the key of `epoch`, replacing any earlier one.
  void Add(uint64_t epoch, certs::EncryptionKey key);
  // Forgets the private key of `epoch` (its bytes are wiped) and every
  // recipient context set up with it. Alerts sealed only to that epoch can
  // no longer be opened here.
  void Erase(uint64_t epoch);
  // The key of `epoch` or nullptr. The pointer stays valid until Erase of
  // that epoch (callers use it within one OpenSealedAlert).
  std::shared_ptr<const certs::EncryptionKey> Get(uint64_t epoch) const;
  bool empty() const;
  // The recipient HPKE contexts set up with these keys (a cache; Erase
  // drops an epoch's).
  certs::UnwrapContexts* contexts() const { return &contexts_; }

 private:
  mutable certs::UnwrapContexts contexts_;
  mutable absl::Mutex mu_;
  std::map<uint64_t, std::shared_ptr<const certs::EncryptionKey>> keys_
      ABSL_GUARDED_BY(mu_);
};

class SealedReader {
 public:
  // `origin` is this node, "member/node". `keys` must outlive the reader;
  // an empty ring is a node without encryption_key_file.
  SealedReader(std::string origin, const EncryptionKeyRing* keys)
      : origin_(std::move(origin)), member_(MemberOfOrigin(origin_)), keys_(keys) {}

  const std::string& origin() const { return origin_; }
  const std::string& member() const { return member_; }

  // True iff `outer` is sealed and this node's member is a recipient: an
  // alert this node should be able to open for its member's clients.
  bool ShouldOpen(const watchfloor::v1::Alert& outer) const;

  // Opens `outer` (a stored, hence verified, sealed alert) as this node:
  // the whole alert (header + content), which passed ValidateOpened.
  // Errors:
  //   FAILED_PRECONDITION this node holds no encryption key at all
  //                       (encryption_key_file not set; the message says
  //                       so), or none for the epoch(s) it was sealed to
  //                       (erased after retention);
  //   PERMISSION_DENIED   no key is wrapped for this node (not a recipient,
  //                       or a node added to its member after the alert);
  //   DATA_LOSS           the content does not authenticate or is not a
  //                       valid alert (its origin sealed something broken);
  //   INVALID_ARGUMENT    malformed sealed part.
  // Thread-safe; costs two AES-GCM operations, plus one X25519 the first
  // time a sender context (enc) is seen.
  absl::StatusOr<watchfloor::v1::Alert> Open(
      const watchfloor::v1::Alert& outer) const;

 private:
  const std::string origin_;
  const std::string member_;
  const EncryptionKeyRing* const keys_;
};

}  // namespace watchfloor::node

#endif  // WATCHFLOOR_NODE_SEALING_H_
