// Who may sign for an origin. The roster will implement this when federation
// lands; until then the node knows its own key and the config's
// known_origins.
#ifndef WATCHFLOOR_NODE_KEY_RESOLVER_H_
#define WATCHFLOOR_NODE_KEY_RESOLVER_H_

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
