// Who may sign for an origin: in a federation the roster
// (node/roster_key_resolver.h), outside one the node's own key and the
// config's known_origins (StaticKeyResolver).
#ifndef WATCHFLOOR_NODE_KEY_RESOLVER_H_
#define WATCHFLOOR_NODE_KEY_RESOLVER_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/string_view.h"
#include "certs/keys.h"

namespace watchfloor::node {

class KeyResolver {
 public:
  virtual ~KeyResolver() = default;
  // The signing key of `origin`, or nullopt if the origin is unknown.
  // Thread-safe.
  virtual std::optional<certs::PublicKey> Find(absl::string_view origin) const = 0;
  // The key that signs sequence `sequence` of `origin`'s feed, or nullopt if
  // the origin is unknown or no key of it signs that sequence. Differs from
  // Find only for a node whose key was rotated (docs/FEDERATION.md "Node key
  // rotation"): sequences before the switch belong to the retired key,
  // sequences from it on to the current one only. The Ledger verifies every
  // envelope with this. Thread-safe.
  virtual std::optional<certs::PublicKey> FindAt(absl::string_view origin,
                                                 uint64_t /*sequence*/) const {
    return Find(origin);
  }
};

// A fixed origin -> key map. Immutable after construction, so thread-safe.
class StaticKeyResolver final : public KeyResolver {
 public:
  explicit StaticKeyResolver(std::map<std::string, certs::PublicKey> keys)
      : keys_(std::move(keys)) {}
  std::optional<certs::PublicKey> Find(absl::string_view origin) const override {
    auto it = keys_.find(std::string(origin));
    if (it == keys_.end()) return std::nullopt;
    return it->second;
  }

 private:
  const std::map<std::string, certs::PublicKey> keys_;
};

}  // namespace watchfloor::node

#endif  // WATCHFLOOR_NODE_KEY_RESOLVER_H_
