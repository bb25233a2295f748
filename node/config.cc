#include "node/config.h"

#include <arpa/inet.h>

#include <fstream>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "certs/status_macros.h"
#include "google/protobuf/io/tokenizer.h"
#include "google/protobuf/text_format.h"
#include "log/log.h"
#include "node/alert_validator.h"

namespace watchfloor::node {
namespace {

class Collector final : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, int column, const std::string& message) override {
    if (first_.empty()) {
      first_ = absl::StrCat("line ", line + 1, ", column ", column + 1, ": ",
                            message);
    }
  }
  const std::string& first() const { return first_; }

 private:
  std::string first_;
};

std::string Resolve(absl::string_view base_dir, const std::string& path) {
  if (path.empty() || path[0] == '/' || base_dir.empty()) return path;
  return absl::StrCat(base_dir, "/", path);
}

}  // namespace

bool IsLoopbackAddress(absl::string_view host_port) {
  std::string host;
  if (absl::StartsWith(host_port, "[")) {
    size_t end = host_port.find(']');
    if (end == absl::string_view::npos) return false;
    host = std::string(host_port.substr(1, end - 1));
  } else {
    size_t colon = host_port.rfind(':');
    host = std::string(host_port.substr(0, colon));
  }
  if (host == "localhost") return true;
  unsigned char buf[16];
  if (inet_pton(AF_INET, host.c_str(), buf) == 1) return buf[0] == 127;
  if (inet_pton(AF_INET6, host.c_str(), buf) == 1) {
    static const unsigned char kLoop6[16] = {0, 0, 0, 0, 0, 0, 0, 0,
                                             0, 0, 0, 0, 0, 0, 0, 1};
    return std::equal(buf, buf + 16, kLoop6);
  }
  return false;
}

namespace {

// encryption_key_epochs (config.proto EncryptionKeyEpochs).
absl::Status CheckKeyEpochs(const watchfloor::v1::NodeConfig& c) {
  const watchfloor::v1::EncryptionKeyEpochs& e = c.encryption_key_epochs();
  if (c.encryption_key_file().empty() || !c.has_federation()) {
    return absl::InvalidArgumentError(
        "config: encryption_key_epochs needs encryption_key_file and a federation: "
        "epoch keys are announced to the roster's nodes and fall back to the "
        "roster's encryption key; add both, or remove encryption_key_epochs");
  }
  const std::pair<const char*, uint64_t> periods[] = {
      {"rotation_ms", e.rotation_ms()}, {"retention_ms", e.retention_ms()}};
  for (const auto& [name, ms] : periods) {
    if (ms < kMinKeyEpochPeriodMs || ms > kMaxKeyEpochPeriodMs) {
      return absl::InvalidArgumentError(absl::StrCat(
          "config: encryption_key_epochs.", name, " ", ms, " is out of range: give ",
          kMinKeyEpochPeriodMs, " .. ", kMaxKeyEpochPeriodMs,
          " milliseconds (1 second .. 366 days), e.g. 86400000 for one day"));
    }
  }
  const std::string& dir = e.key_dir();
  if (!dir.empty() && (dir == c.encryption_key_file() || dir == c.signing_key_file() ||
                       dir == c.data_dir())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "config: encryption_key_epochs.key_dir ", dir,
        " is a key file or the data directory; give a directory of its own "
        "(or leave it out for ", c.encryption_key_file(), ".epochs)"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckConfig(const watchfloor::v1::NodeConfig& c) {
  auto missing = [](absl::string_view field) {
    return absl::InvalidArgumentError(
        absl::StrCat("config: ", field, " is required"));
  };
  if (c.origin().empty()) return missing("origin");
  absl::Status st = ValidateOrigin(c.origin());
  if (!st.ok()) return absl::InvalidArgumentError(absl::StrCat("config: ", st.message()));
  if (c.listen_address().empty()) return missing("listen_address");
  if (c.listen_address().find(':') == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat(
        "config: listen_address \"", c.listen_address(),
        "\" must be host:port, e.g. 127.0.0.1:7400"));
  }
  if (c.has_http()) {
    const std::string& http = c.http().listen_address();
    if (http.empty()) {
      return absl::InvalidArgumentError(
          "config: http.listen_address is required when http is set; leave http out to "
          "run without the HTTP listener");
    }
    if (http.find(':') == std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          "config: http.listen_address \"", http, "\" must be host:port, e.g. 127.0.0.1:9400"));
    }
    // Off loopback the listener serves HTTPS to certificates the roster
    // vouches for, so it needs a roster and the node's TLS identity.
    if (!IsLoopbackAddress(http) && (!c.has_federation() || c.tls().cert_file().empty())) {
      return absl::InvalidArgumentError(absl::StrCat(
          "config: http.listen_address ", http,
          " is not a loopback address; off loopback the HTTP listener serves HTTPS to "
          "members' client certificates, checked against the roster, so it needs a "
          "federation node (federation and tls set); otherwise use 127.0.0.1, [::1] or "
          "localhost (or reach it through an SSH tunnel)"));
    }
  }
  if (!c.logging().level().empty()) {
    absl::StatusOr<log::Level> level = log::ParseLevel(c.logging().level());
    if (!level.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("config: logging.level: ", level.status().message()));
    }
  }
  if (!c.logging().format().empty()) {
    absl::StatusOr<log::Format> format = log::ParseFormat(c.logging().format());
    if (!format.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("config: logging.format: ", format.status().message()));
    }
  }
  if (c.data_dir().empty()) return missing("data_dir");
  if (c.signing_key_file().empty()) return missing("signing_key_file");
  for (const auto& k : c.known_origins()) {
    st = ValidateOrigin(k.origin());
    if (!st.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("config: known_origins: ", st.message()));
    }
    if (k.public_key_file().empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "config: known_origins ", k.origin(), " has no public_key_file"));
    }
  }
  const auto& t = c.tls();
  const bool federated = c.has_federation();
  if (!c.next_signing_key_file().empty()) {
    if (!federated) {
      return absl::InvalidArgumentError(
          "config: next_signing_key_file needs a federation: the roster says from which "
          "feed sequence the next key signs; remove it, or add a federation section");
    }
    if (c.next_signing_key_file() == c.signing_key_file()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "config: next_signing_key_file is the same file as signing_key_file (",
          c.signing_key_file(), "); give the new key's file"));
    }
  }
  if (!c.encryption_key_file().empty() &&
      (c.encryption_key_file() == c.signing_key_file() ||
       c.encryption_key_file() == c.next_signing_key_file())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "config: encryption_key_file is the same file as a signing key (",
        c.encryption_key_file(), "); a node's X25519 encryption key is a key of its own: "
        "give the encryption.key that 'watchfloor keygen' wrote"));
  }
  if (c.has_encryption_key_epochs()) {
    WF_RETURN_IF_ERROR(CheckKeyEpochs(c));
  }
  const uint32_t max_msg = c.limits().max_message_bytes();
  if (max_msg > kMaxMessageBytesCeiling) {
    return absl::InvalidArgumentError(absl::StrCat(
        "config: limits.max_message_bytes ", max_msg, " is above the ceiling of ",
        kMaxMessageBytesCeiling, " (64 MiB): it is what any caller may make the node buffer "
        "per request; leave it out for the 1 MiB default"));
  }
  if (federated && max_msg != 0 && max_msg < kFederationMessageBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "config: limits.max_message_bytes ", max_msg, " is below ", kFederationMessageBytes,
        " (1 MiB), the largest message federation peers send (docs/FEDERATION.md); "
        "raise it or leave it out"));
  }
  if (federated) {
    if (c.federation().roster_file().empty()) return missing("federation.roster_file");
    if (!c.known_origins().empty()) {
      return absl::InvalidArgumentError(
          "config: known_origins is not allowed with federation; the roster "
          "names every origin");
    }
    if (c.insecure_plaintext_loopback() || t.cert_file().empty()) {
      return absl::InvalidArgumentError(
          "config: a federation node needs tls (cert_file and key_file); "
          "peers talk mutual TLS only");
    }
    if (c.federation().has_graft_rtts()) {
      const double k = c.federation().graft_rtts();
      if (!(k >= 0 && k <= kMaxGraftRtts)) {  // also NaN
        return absl::InvalidArgumentError(absl::StrCat(
            "config: federation.graft_rtts ", k, " is outside 0..", kMaxGraftRtts,
            ": it multiplies the median round trip to the peers to give the wait before "
            "an announced alert is fetched; 0 keeps graft_timeout_ms fixed, leave it out "
            "for 3"));
      }
    }
    for (const auto& d : c.federation().dial_overrides()) {
      st = ValidateOrigin(d.origin());
      if (!st.ok() || d.address().find(':') == std::string::npos) {
        return absl::InvalidArgumentError(absl::StrCat(
            "config: dial_overrides needs origin member/node and address "
            "host:port, got \"", d.origin(), "\" -> \"", d.address(), "\""));
      }
    }
  }
  int tls_fields = !t.cert_file().empty() + !t.key_file().empty() +
                   (federated || !t.client_ca_file().empty());
  if (tls_fields != 0 && tls_fields != 3) {
    return absl::InvalidArgumentError(
        federated ? "config: tls needs cert_file and key_file together"
                  : "config: tls needs cert_file, key_file and client_ca_file "
                    "together");
  }
  if (tls_fields == 3 && c.insecure_plaintext_loopback()) {
    return absl::InvalidArgumentError(
        "config: set either tls or insecure_plaintext_loopback, not both");
  }
  if (tls_fields == 0) {
    if (!c.insecure_plaintext_loopback()) {
      return absl::InvalidArgumentError(
          "config: tls is required (mutual TLS); for local development only, "
          "set insecure_plaintext_loopback: true with a loopback "
          "listen_address");
    }
    if (!IsLoopbackAddress(c.listen_address())) {
      return absl::InvalidArgumentError(absl::StrCat(
          "config: insecure_plaintext_loopback refuses listen_address ",
          c.listen_address(),
          ", which is not a loopback address; use 127.0.0.1 or [::1], or "
          "configure tls"));
    }
  }
  return absl::OkStatus();
}

std::string KeyEpochDir(const watchfloor::v1::NodeConfig& config) {
  const std::string& dir = config.encryption_key_epochs().key_dir();
  return dir.empty() ? absl::StrCat(config.encryption_key_file(), ".epochs") : dir;
}

absl::StatusOr<watchfloor::v1::NodeConfig> ParseConfig(
    absl::string_view text, absl::string_view source_name,
    absl::string_view base_dir) {
  watchfloor::v1::NodeConfig config;
  google::protobuf::TextFormat::Parser parser;
  Collector errors;
  parser.RecordErrorsTo(&errors);
  if (!parser.ParseFromString(std::string(text), &config)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "config ", source_name, ": ", errors.first(),
        "; see docs/CONFIG.md for the fields a node config takes"));
  }
  config.set_data_dir(Resolve(base_dir, config.data_dir()));
  config.set_signing_key_file(Resolve(base_dir, config.signing_key_file()));
  if (!config.next_signing_key_file().empty()) {
    config.set_next_signing_key_file(Resolve(base_dir, config.next_signing_key_file()));
  }
  for (auto& k : *config.mutable_known_origins()) {
    k.set_public_key_file(Resolve(base_dir, k.public_key_file()));
  }
  auto* t = config.mutable_tls();
  if (!t->cert_file().empty()) t->set_cert_file(Resolve(base_dir, t->cert_file()));
  if (!t->key_file().empty()) t->set_key_file(Resolve(base_dir, t->key_file()));
  if (!t->client_ca_file().empty()) {
    t->set_client_ca_file(Resolve(base_dir, t->client_ca_file()));
  }
  if (!config.encryption_key_file().empty()) {
    config.set_encryption_key_file(Resolve(base_dir, config.encryption_key_file()));
  }
  if (!config.encryption_key_epochs().key_dir().empty()) {
    auto* e = config.mutable_encryption_key_epochs();
    e->set_key_dir(Resolve(base_dir, e->key_dir()));
  }
  if (config.has_federation()) {
    auto* f = config.mutable_federation();
    f->set_roster_file(Resolve(base_dir, f->roster_file()));
  }
  absl::Status st = CheckConfig(config);
  if (!st.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source_name, ": ", st.message()));
  }
  return config;
}

absl::StatusOr<watchfloor::v1::NodeConfig> LoadConfigFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    return absl::NotFoundError(absl::StrCat(
        "config file ", path, " cannot be read; check the path"));
  }
  std::stringstream buf;
  buf << in.rdbuf();
  size_t slash = path.rfind('/');
  std::string dir = slash == std::string::npos ? "." : path.substr(0, slash);
  if (dir.empty()) dir = "/";
  return ParseConfig(buf.str(), path, dir);
}

}  // namespace watchfloor::node
