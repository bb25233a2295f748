#include "node/roster_key_resolver.h"

namespace watchfloor::node {

std::optional<certs::PublicKey> RosterKeyResolver::Find(absl::string_view origin) const {
  return roster()->NodeKey(origin);
}

std::optional<certs::PublicKey> RosterKeyResolver::FindAt(absl::string_view origin,
                                                          uint64_t sequence) const {
  return roster()->NodeKeyAt(origin, sequence);
}

}  // namespace watchfloor::node
