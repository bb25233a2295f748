// Loading and checking the node's config file (text-format NodeConfig).
#ifndef WATCHFLOOR_NODE_CONFIG_H_
#define WATCHFLOOR_NODE_CONFIG_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "watchfloor/v1/config.pb.h"

namespace watchfloor::node {

// limits.max_message_bytes: the default (also what NodeServer uses for 0),
// the least a federation node may set (every Federation message a peer
// sends fits in it: federation/gossip.cc pages by bytes), and the ceiling.
inline constexpr uint32_t kDefaultMaxMessageBytes = 1 << 20;
inline constexpr uint32_t kFederationMessageBytes = 1 << 20;
inline constexpr uint32_t kMaxMessageBytesCeiling = 64 << 20;

// federation.graft_rtts: at most this many round trips.
inline constexpr double kMaxGraftRtts = 100;

// encryption_key_epochs.rotation_ms and retention_ms: the allowed range.
inline constexpr uint64_t kMinKeyEpochPeriodMs = 1000;
inline constexpr uint64_t kMaxKeyEpochPeriodMs = uint64_t{366} * 24 * 3600 * 1000;

// The directory of the epoch private keys: encryption_key_epochs.key_dir, or
// encryption_key_file + ".epochs".
std::string KeyEpochDir(const watchfloor::v1::NodeConfig& config);

// Parses `text` as a text-format NodeConfig. Unknown fields and syntax errors
// are INVALID_ARGUMENT naming `source_name`, the line and column. Relative
// paths are resolved against `base_dir`. Then checks the config
// (CheckConfig).
absl::StatusOr<watchfloor::v1::NodeConfig> ParseConfig(
    absl::string_view text, absl::string_view source_name,
    absl::string_view base_dir);

// Reads and parses a config file. NOT_FOUND if it does not exist.
absl::StatusOr<watchfloor::v1::NodeConfig> LoadConfigFile(const std::string& path);

// Semantic checks: origin, listen_address, data_dir and signing_key_file set;
// TLS all-or-nothing; plaintext only with insecure_plaintext_loopback and a
// loopback listen address; limits.max_message_bytes at most
// kMaxMessageBytesCeiling, and with a federation at least
// kFederationMessageBytes; http.listen_address host:port on loopback;
// logging.level and logging.format empty or a name log::ParseLevel /
// log::ParseFormat take; encryption_key_epochs only with encryption_key_file
// and a federation, its periods within kMin/kMaxKeyEpochPeriodMs, its
// key_dir not a key file nor data_dir.
// INVALID_ARGUMENT naming the field.
absl::Status CheckConfig(const watchfloor::v1::NodeConfig& config);

// True iff "host:port" names a loopback host (127.0.0.0/8, ::1, localhost).
bool IsLoopbackAddress(absl::string_view host_port);

}  // namespace watchfloor::node

#endif  // WATCHFLOOR_NODE_CONFIG_H_
