#include "node/node_server.h"

#include <sys/stat.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <sstream>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "certs/status_macros.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "watchfloor/v1/federation.grpc.pb.h"
#include "watchfloor/v1/node.grpc.pb.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/tls_certificate_provider.h"
#include "grpcpp/security/tls_certificate_verifier.h"
#include "grpcpp/security/tls_credentials_options.h"
#include "certs/dsse.h"
#include "certs/x509.h"
#include "log/log.h"
#include "node/config.h"
#include "node/handshake_verifier.h"
#include "node/roster_key_resolver.h"
#include "node/roster_store.h"
#include "grpcpp/resource_quota.h"

namespace watchfloor::node {
namespace {

constexpr int kDefaultMaxConcurrentStreams = 100;
constexpr int kDefaultMaxMetadataBytes = 16 << 10;
constexpr int kDefaultHandshakeTimeoutMs = 10000;
constexpr size_t kDefaultMaxSubscribers = 4096;
// The gRPC resource quota's floor: what all connections' transport buffers
// may hold at once (see Start).
constexpr size_t kTransportMemoryFloor = 32 << 20;

template <typename T>
T OrDefault(T v, T def) {
  return v == 0 ? def : v;
}

// limits.max_message_bytes or its default; CheckConfig keeps it within an int.
int MaxMessageBytes(const watchfloor::v1::NodeConfig& config) {
  return static_cast<int>(
      OrDefault<uint32_t>(config.limits().max_message_bytes(), kDefaultMaxMessageBytes));
}

absl::StatusOr<std::string> ReadFile(const std::string& path, const char* what) {
  std::ifstream in(path);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat(what, " ", path, " cannot be read; check the path"));
  }
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

std::string OctalMode(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

// A private key file readable by group or others is refused.
absl::Status CheckPrivateFileMode(const std::string& path) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    return absl::NotFoundError(
        absl::StrCat("key file ", path, " cannot be read; check the path"));
  }
  if ((st.st_mode & 077) != 0) {
    return absl::PermissionDeniedError(absl::StrCat(
        "key file ", path, " is readable by others (mode ",
        OctalMode(st.st_mode), "); run chmod 600 ", path));
  }
  return absl::OkStatus();
}

// How a certificate's SPIFFE identity reads in an error message.
std::string DescribeIdentity(const certs::PeerIdentity& id) {
  return id.is_client ? absl::StrCat("a client certificate (", id.spiffe_id, ")")
                      : absl::StrCat("the certificate of ", id.origin(), " (", id.spiffe_id, ")");
}

// The node's TLS key and certificate: the key private, the two a pair, and
// the certificate naming this node. Checked before anything listens or
// dials: a mismatched pair otherwise surfaces as a failed bind, and another
// node's certificate would have this node speak to peers as that node.
// With a federation the certificate must carry this node's SPIFFE ID; without
// one, only a SPIFFE ID naming someone else is refused (plain certificates
// from an outside CA are fine there).
absl::Status CheckTlsFiles(const watchfloor::v1::NodeConfig& config) {
  const auto& t = config.tls();
  WF_RETURN_IF_ERROR(CheckPrivateFileMode(t.key_file()));
  WF_ASSIGN_OR_RETURN(std::string cert, ReadFile(t.cert_file(), "tls cert_file"));
  WF_ASSIGN_OR_RETURN(std::string key, ReadFile(t.key_file(), "tls key_file"));
  absl::Status pair = certs::CheckKeyMatchesCertificate(key, cert);
  if (!pair.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "tls key_file ", t.key_file(), " does not belong to tls cert_file ", t.cert_file(),
        " (", pair.message(), "); configure the key written together with that certificate"));
  }
  absl::StatusOr<certs::CertInfo> info = certs::DescribeCertificate(cert);
  if (!info.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("tls cert_file ", t.cert_file(), ": ", info.status().message()));
  }
  std::vector<certs::PeerIdentity> ids;
  for (const std::string& uri : info->uri_sans) {
    if (!absl::StartsWith(uri, certs::kSpiffePrefix)) continue;
    absl::StatusOr<certs::PeerIdentity> id = certs::ParseSpiffeId(uri);
    if (!id.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tls cert_file ", t.cert_file(), " carries an invalid SPIFFE ID: ", id.status().message()));
    }
    ids.push_back(*id);
  }
  const std::string fix = absl::StrCat("; use the certificate and key minted for ", config.origin(),
                                       " (watchfloor certs node --origin ", config.origin(), ")");
  for (const certs::PeerIdentity& id : ids) {
    if (id.is_client || id.origin() != config.origin()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "tls cert_file ", t.cert_file(), " is ", DescribeIdentity(id),
          ", but this node's origin is ", config.origin(), fix));
    }
  }
  if (config.has_federation() && ids.size() != 1) {
    return absl::FailedPreconditionError(absl::StrCat(
        "tls cert_file ", t.cert_file(), " must carry exactly one spiffe://watchfloor/ URI SAN naming ",
        config.origin(), ", has ", ids.size(), fix));
  }
  return absl::OkStatus();
}

// `roster_ca` is the roster's CA bundle, used when no client_ca_file is set.
// Sets `*trust` to what the handshake verifier checks client certificates
// against (node/handshake_verifier.h), for the node to swap at run time.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> Credentials(
    const watchfloor::v1::NodeConfig& config, const std::string& roster_ca, Clock* clock,
    std::shared_ptr<HandshakeTrust>* trust) {
  if (config.insecure_plaintext_loopback()) {
    return grpc::InsecureServerCredentials();
  }
  const auto& t = config.tls();
  // CheckTlsFiles has vetted the pair (mode, match, identity).
  WF_ASSIGN_OR_RETURN(std::string cert, ReadFile(t.cert_file(), "tls cert_file"));
  WF_ASSIGN_OR_RETURN(std::string key, ReadFile(t.key_file(), "tls key_file"));
  std::string ca = roster_ca;
  std::string ca_source = "the roster's CA bundle";
  if (!t.client_ca_file().empty()) {
    WF_ASSIGN_OR_RETURN(ca, ReadFile(t.client_ca_file(), "tls client_ca_file"));
    ca_source = absl::StrCat("tls client_ca_file ", t.client_ca_file());
  }
  absl::StatusOr<std::shared_ptr<const certs::TrustBundle>> bundle =
      certs::TrustBundle::FromPem(ca);
  if (!bundle.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        ca_source, ": ", bundle.status().message(),
        "; it must hold the PEM certificates of the CAs whose clients may connect"));
  }
  *trust = std::make_shared<HandshakeTrust>(*std::move(bundle), clock);
  return MutualTlsServerCredentials(key, cert, *trust);
}

// Accepts a dialed peer's certificate only if certs::VerifyPeerCertificate
// maps it, against the CA of the member it names, to the very node dialed
// (certs/x509.h: the DNS name check alone would let any member's CA vouch
// for any node). `roster` and `clock` must outlive the channel.
class PeerIdentityVerifier final
    : public grpc::experimental::ExternalCertificateVerifier {
 public:
  PeerIdentityVerifier(const RosterManager* roster, std::string origin, Clock* clock)
      : roster_(roster), origin_(std::move(origin)), clock_(clock) {}

  bool Verify(grpc::experimental::TlsCustomVerificationCheckRequest* request,
              std::function<void(grpc::Status)> /*callback*/,
              grpc::Status* sync_status) override {
    grpc::string_ref pem = request->peer_cert();
    absl::StatusOr<certs::PeerIdentity> id = certs::VerifyPeerCertificate(
        absl::string_view(pem.data(), pem.size()), *roster_->current(), clock_->Now());
    if (!id.ok()) {
      *sync_status = grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                                  std::string(id.status().message()));
    } else if (id->origin() != origin_) {
      *sync_status = grpc::Status(
          grpc::StatusCode::UNAUTHENTICATED,
          absl::StrCat("dialed ", origin_, " but its certificate names ", id->spiffe_id));
    } else {
      *sync_status = grpc::Status::OK;
    }
    return true;  // decided synchronously
  }
  void Cancel(grpc::experimental::TlsCustomVerificationCheckRequest*) override {}

 private:
  const RosterManager* const roster_;  // the roster in force at each handshake
  const std::string origin_;
  Clock* const clock_;
};

}  // namespace

NodeServer::NodeServer(watchfloor::v1::NodeConfig config, certs::SigningKey key)
    : config_(std::move(config)), key_(std::move(key)) {}

absl::Status NodeServer::LoadRoster() {
  const std::string& path = config_.federation().roster_file();
  WF_ASSIGN_OR_RETURN(std::string json, ReadFile(path, "roster_file"));
  absl::StatusOr<watchfloor::v1::Envelope> env = certs::EnvelopeFromJson(json);
  if (!env.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "roster ", path, " is not a DSSE JSON envelope: ", env.status().message()));
  }
  absl::StatusOr<certs::Roster> anchor = certs::Roster::VerifyGenesis(*env);
  if (!anchor.ok()) {
    return absl::Status(anchor.status().code(),
                        absl::StrCat("roster ", path, ": ", anchor.status().message(),
                                     "; collect the missing signatures with "
                                     "'watchfloor roster sign'"));
  }
  // The newest version this node adopted before a restart, if it chains
  // from the configured anchor (node/roster_store.h).
  roster_store_ = std::make_unique<RosterStore>(config_.data_dir());
  WF_ASSIGN_OR_RETURN(std::vector<certs::Roster> chain, roster_store_->Load(*anchor));
  const certs::Roster* roster = &chain.back();
  const watchfloor::v1::RosterNode* me = roster->Node(config_.origin());
  if (me == nullptr) {
    return absl::FailedPreconditionError(absl::StrCat(
        "roster ", path, " (v", roster->version(), ") does not list this node ",
        config_.origin(), "; add it to the roster or fix origin"));
  }
  absl::StatusOr<certs::PublicKey> listed = certs::PublicKey::FromPem(me->signing_key_pem());
  if (!listed.ok() || !node_keys_->Holds(*listed)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "roster ", path, " (v", roster->version(), ") lists a different signing key for ",
        config_.origin(), " (keyid ", listed.ok() ? listed->KeyId() : "?", ") than ",
        config_.signing_key_file(), " (keyid ", key_.public_key().KeyId(), ")",
        config_.next_signing_key_file().empty() ? ""
                                                : absl::StrCat(" or next_signing_key_file ",
                                                               config_.next_signing_key_file()),
        "; use the key the roster names"));
  }
  node_keys_->SetRoster(roster);  // logs a key rotation
  roster_manager_ = std::make_unique<RosterManager>(std::move(chain), roster_store_.get(), clock_);
  // A node keeps running on an expired roster, and says so (freeze attack).
  const std::string warning = roster_manager_->ExpiryWarning();
  if (!warning.empty()) {
    log::Warn("node", "roster_expired",
              {{"roster_version", roster_manager_->version()},
               {"reason", absl::StripPrefix(warning, "WARNING: ")}});
  }
  return absl::OkStatus();
}

absl::Status NodeServer::LoadEncryptionKey() {
  const std::string& path = config_.encryption_key_file();
  if (!path.empty()) {
    WF_ASSIGN_OR_RETURN(certs::EncryptionKey key, certs::EncryptionKey::LoadPemFile(path));
    const certs::Roster* in_force = roster();
    const watchfloor::v1::RosterNode* me =
        in_force == nullptr ? nullptr : in_force->Node(config_.origin());
    if (me != nullptr && !me->encryption_key_pem().empty()) {
      absl::StatusOr<certs::EncryptionPublicKey> listed =
          certs::EncryptionPublicKey::FromPem(me->encryption_key_pem());
      if (!listed.ok() || *listed != key.public_key()) {
        return absl::FailedPreconditionError(absl::StrCat(
            "roster v", in_force->version(), " lists a different encryption key for ",
            config_.origin(), " (keyid ", listed.ok() ? listed->KeyId() : "?", ") than ",
            path, " (keyid ", key.public_key().KeyId(),
            "); use the key the roster names, or have the roster updated"));
      }
    } else if (in_force != nullptr) {
      log::Warn("node", "encryption_key_not_in_roster",
                {{"roster_version", in_force->version()},
                 {"reason", absl::StrCat("roster lists no encryption_key_pem for ",
                                         config_.origin(),
                                         "; nobody can seal alerts to this node until it does")}});
    }
    encryption_keys_.Add(0, std::move(key));
  }
  sealed_reader_ = std::make_unique<SealedReader>(config_.origin(), &encryption_keys_);
  key_epochs_ = std::make_unique<KeyEpochs>(clock_);
  if (roster_manager_ != nullptr) {
    const RosterManager* manager = roster_manager_.get();
    const KeyEpochs* epochs = key_epochs_.get();
    sealer_ = std::make_unique<Sealer>(
        config_.origin(), [manager] { return manager->current(); },
        [epochs](const std::string& node) { return epochs->Current(node); });
  }
  return absl::OkStatus();
}

std::vector<federation::Peer> NodeServer::Peers(const certs::Roster& roster) const {
  std::map<std::string, std::string> overrides;
  for (const auto& d : config_.federation().dial_overrides()) overrides[d.origin()] = d.address();
  std::vector<federation::Peer> peers;
  for (const std::string& origin : roster.Origins()) {
    if (origin == config_.origin()) continue;
    const watchfloor::v1::RosterNode* n = roster.Node(origin);
    auto it = overrides.find(origin);
    // The channel trusts the peer's own member CA, from the roster whose
    // peer set this is (not RosterManager::current(), which moves to an
    // adopted version only after every listener ran: a link to a member
    // just admitted, made in between, would never trust its certificate).
    const watchfloor::v1::RosterMember* m =
        roster.Member(absl::string_view(origin).substr(0, origin.find('/')));
    peers.push_back({origin, it != overrides.end() ? it->second : n->endpoints(0),
                     m != nullptr ? m->ca_cert_pem() : std::string()});
  }
  return peers;
}

void NodeServer::ApplyPeers() {
  while (true) {
    const certs::Roster* roster = nullptr;
    {
      absl::MutexLock lock(&peers_mu_);
      peers_mu_.Await(absl::Condition(
          +[](NodeServer* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s->peers_mu_) {
            return s->pending_peers_ != nullptr || s->peers_stop_;
          },
          this));
      if (peers_stop_) return;
      roster = pending_peers_;
      pending_peers_ = nullptr;
    }
    gossip_->SetPeers(Peers(*roster));
  }
}

absl::Status NodeServer::StartGossip() {
  const auto& fc = config_.federation();
  std::string member = config_.origin().substr(0, config_.origin().find('/'));
  WF_ASSIGN_OR_RETURN(std::string cert, ReadFile(config_.tls().cert_file(), "tls cert_file"));
  WF_ASSIGN_OR_RETURN(std::string key, ReadFile(config_.tls().key_file(), "tls key_file"));
  std::vector<federation::Peer> peers = Peers(*roster());
  const RosterManager* manager_for_tls = roster_manager_.get();
  Clock* clock = clock_;
  const int max_msg = MaxMessageBytes(config_);
  auto channels = [cert, key, manager_for_tls, clock, max_msg](const federation::Peer& peer) {
    // TLS with the peer's member CA as the only root (Peers: from the roster
    // whose peer set is applied; a member's new CA remakes the link), the
    // node's own certificate, and the peer's certificate bound to the node
    // dialed (PeerIdentityVerifier): SslCredentials would accept any roster
    // CA's certificate that carries the peer's DNS name.
    auto provider = std::make_shared<grpc::experimental::StaticDataCertificateProvider>(
        peer.trust_roots_pem,
        std::vector<grpc::experimental::IdentityKeyCertPair>{{key, cert}});
    grpc::experimental::TlsChannelCredentialsOptions opts;
    opts.set_certificate_provider(provider);
    opts.watch_root_certs();
    opts.watch_identity_key_cert_pairs();
    opts.set_verify_server_certs(true);
    opts.set_certificate_verifier(
        grpc::experimental::ExternalCertificateVerifier::Create<PeerIdentityVerifier>(
            manager_for_tls, peer.origin, clock));
    grpc::ChannelArguments args;
    size_t slash = peer.origin.find('/');
    args.SetSslTargetNameOverride(
        certs::NodeDnsName(peer.origin.substr(0, slash), peer.origin.substr(slash + 1)));
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 5000);
    args.SetMaxReceiveMessageSize(max_msg);
    args.SetMaxSendMessageSize(max_msg);
    return grpc::CreateCustomChannel(peer.endpoint, grpc::experimental::TlsCredentials(opts),
                                     args);
  };
  federation::Gossip::Options opts;
  if (fc.eager_fanout() != 0) opts.eager_fanout = fc.eager_fanout();
  if (fc.anti_entropy_interval_ms() != 0) {
    opts.anti_entropy_interval = absl::Milliseconds(fc.anti_entropy_interval_ms());
  }
  if (fc.graft_timeout_ms() != 0) opts.graft_timeout = absl::Milliseconds(fc.graft_timeout_ms());
  if (fc.has_graft_rtts()) opts.graft_rtts = fc.graft_rtts();
  feed_store_ = std::make_unique<LedgerFeedStore>(ledger_.get(), store_.get());
  gossip_ = std::make_unique<federation::Gossip>(config_.origin(), feed_store_.get(),
                                                 std::move(peers), channels, opts);
  federation::Gossip* gossip = gossip_.get();
  // Roster versions ride on every frontier exchange; a newer one a peer
  // reports is fetched and adopted through the manager, and an adopted one
  // is announced to every peer at once (docs/FEDERATION.md "Governance").
  RosterManager* manager = roster_manager_.get();
  federation::Gossip::RosterHooks hooks;
  hooks.version = [manager] { return manager->version(); };
  hooks.chain_after = [manager](uint64_t after, size_t max) {
    return manager->EnvelopesAfter(after, max);
  };
  hooks.adopt = [manager](const std::vector<watchfloor::v1::Envelope>& versions) {
    return manager->Adopt(versions);
  };
  gossip_->SetRosterHooks(std::move(hooks));
  // Everything that reads the roster switches to an adopted version at once,
  // on the adopting thread (quick pointer swaps); the peer set changes on
  // the node's own thread (ApplyPeers), because Gossip::SetPeers joins the
  // removed links' workers and may not run on the threads that adopt.
  manager->AddListener([this](const certs::Roster& adopted) {
    log::Info("node", "roster_adopted", {{"roster_version", adopted.version()}});
    // First: the next alert this node publishes is signed per the version
    // (logs a key rotation).
    node_keys_->SetRoster(&adopted);
    roster_resolver_->SetRoster(&adopted);
    authz_->SetRoster(&adopted);
    transparency_->SetRoster(&adopted);
    if (handshake_trust_ != nullptr && config_.tls().client_ca_file().empty()) {
      absl::StatusOr<std::shared_ptr<const certs::TrustBundle>> bundle =
          certs::TrustBundle::FromPem(adopted.CaBundlePem());
      if (bundle.ok()) {
        handshake_trust_->Set(*std::move(bundle));
      } else {
        log::Error("node", "roster_ca_bundle_refused",
                   {{"roster_version", adopted.version()},
                    {"reason", bundle.status().message()}});
      }
    }
    {
      absl::MutexLock lock(&peers_mu_);
      pending_peers_ = &adopted;
    }
  });
  manager->AddAnnouncer([gossip](const certs::Roster&) { gossip->AnnounceRoster(); });
  peer_updater_ = std::thread([this] { ApplyPeers(); });
  ledger_->SetEvidenceListener([gossip](const Evidence& e) {
    federation::EvidencePair pair;
    if (e.kind == "split-view") {
      pair.first_note = e.stored_envelope;
      pair.second_note = e.conflict_envelope;
      gossip->BroadcastEvidence(pair);
    } else if (pair.first.ParseFromString(e.stored_envelope) &&
               pair.second.ParseFromString(e.conflict_envelope)) {
      gossip->BroadcastEvidence(pair);
    }
  });
  feed_store_->set_transparency(transparency_.get());
  feed_store_->set_corroboration(corroboration_.get());
  transparency_->SetBroadcast(
      [gossip](const std::string& note) { gossip->BroadcastCheckpoint(note); });
  transparency_->SetEvidenceBroadcast([gossip](const std::string& a, const std::string& b) {
    federation::EvidencePair pair;
    pair.first_note = a;
    pair.second_note = b;
    gossip->BroadcastEvidence(pair);
  });
  Authorizer* authz = authz_.get();
  federation_service_ = std::make_unique<federation::FederationService>(
      gossip, [authz](const grpc::ServerContext& ctx) {
        return authz->AuthenticatePeer(ctx);
      });
  (void)member;
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<NodeServer>> NodeServer::Start(
    const watchfloor::v1::NodeConfig& config, Clock* clock) {
  WF_ASSIGN_OR_RETURN(certs::SigningKey key,
                      certs::SigningKey::LoadPemFile(config.signing_key_file()));
  if (!config.insecure_plaintext_loopback()) WF_RETURN_IF_ERROR(CheckTlsFiles(config));
  std::unique_ptr<NodeServer> s(new NodeServer(config, std::move(key)));
  s->node_keys_ =
      std::make_unique<NodeKeys>(config.origin(), &s->key_, config.next_signing_key_file());
  WF_RETURN_IF_ERROR(s->node_keys_->LoadNext());
  s->clock_ = clock;
  const std::string member = config.origin().substr(0, config.origin().find('/'));

  if (config.has_federation()) {
    WF_RETURN_IF_ERROR(s->LoadRoster());
    const certs::Roster* roster = s->roster();
    auto resolver = std::make_unique<RosterKeyResolver>(roster);
    s->roster_resolver_ = resolver.get();
    s->resolver_ = std::move(resolver);
    s->authz_ = std::make_unique<Authorizer>(Authorizer::Mode::kRoster, member,
                                             roster, clock);
  } else {
    std::map<std::string, certs::PublicKey> keys;
    keys.emplace(config.origin(), s->key_.public_key());
    for (const auto& k : config.known_origins()) {
      WF_ASSIGN_OR_RETURN(certs::PublicKey pk,
                          certs::PublicKey::LoadPemFile(k.public_key_file()));
      if (!keys.emplace(k.origin(), pk).second) {
        return absl::InvalidArgumentError(absl::StrCat(
            "config: origin ", k.origin(), " is listed twice (known_origins "
            "may not repeat this node's own origin either)"));
      }
    }
    s->resolver_ = std::make_unique<StaticKeyResolver>(std::move(keys));
    s->authz_ = std::make_unique<Authorizer>(
        config.insecure_plaintext_loopback() ? Authorizer::Mode::kPlaintextLoopback
                                             : Authorizer::Mode::kTls,
        member, nullptr, clock);
  }

  WF_RETURN_IF_ERROR(s->LoadEncryptionKey());

  WF_ASSIGN_OR_RETURN(s->store_,
                      SqliteAlertStore::Open(config.data_dir(), config.origin()));
  WF_ASSIGN_OR_RETURN(uint64_t last_cursor, s->store_->LastCursor());
  s->hub_ = std::make_unique<SubscriptionHub>(s->store_.get(), last_cursor);
  s->hub_->SetSealedReader(s->sealed_reader_.get());
  WF_ASSIGN_OR_RETURN(uint64_t last_mark_cursor, s->store_->LastMarkCursor());
  s->hub_->SetLastMarkCursor(last_mark_cursor);
  SubscriptionHub* hub = s->hub_.get();
  // Derived from the store, so rebuilt from it before anything commits.
  s->incidents_ = std::make_unique<IncidentView>(clock);
  WF_RETURN_IF_ERROR(s->incidents_->Rebuild(s->store_.get()));
  IncidentView* incidents = s->incidents_.get();
  WF_RETURN_IF_ERROR(s->key_epochs_->Rebuild(s->store_.get()));
  KeyEpochs* key_epochs = s->key_epochs_.get();
  WF_ASSIGN_OR_RETURN(
      s->ledger_,
      Ledger::Open(s->store_.get(), &s->key_, config.origin(),
                   s->resolver_.get(), clock,
                   [hub, incidents, key_epochs](const std::vector<StoredRef>& a) {
                     // Before the hub: a subscriber woken by a key record
                     // may seal to it at once.
                     key_epochs->OnCommitted(a);
                     incidents->OnCommitted(a);
                     hub->OnCommitted(a);
                   }));
  // Co-signature and expiry marks: incident events, in the cursor sequence.
  s->ledger_->SetMarkListener([hub, incidents](const std::vector<Mark>& marks) {
    incidents->OnMarked(marks);
    hub->OnMarked(marks);
  });
  s->expiry_marker_ = std::make_unique<ExpiryMarker>(incidents, s->ledger_.get(), clock);
  s->ledger_->SetStagedCheck([key_epochs](const watchfloor::v1::Alert& alert,
                                          const std::vector<Ledger::StagedAlert>& staged) {
    return key_epochs->CheckStaged(alert, staged);
  });
  s->ledger_->SetLinkCheck(
      [incidents](const watchfloor::v1::Alert& draft,
                  const std::vector<Ledger::StagedAlert>& staged) {
        return incidents->CheckDraft(draft, staged);
      });
  {
    Transparency::Options topts;
    const auto& tc = config.transparency();
    if (tc.checkpoint_interval_ms() != 0) {
      topts.checkpoint_interval = absl::Milliseconds(tc.checkpoint_interval_ms());
    }
    if (tc.resend_interval_ms() != 0) {
      topts.resend_interval = absl::Milliseconds(tc.resend_interval_ms());
    }
    s->transparency_ = std::make_unique<Transparency>(
        config.origin(), &s->key_, s->roster(),
        s->ledger_.get(), s->store_.get(), clock, topts);
    s->transparency_->SetSigningKeys(s->node_keys_.get());
  }
  s->ledger_->SetSigningKeys(s->node_keys_.get());
  s->ledger_->SetSealer(s->sealer_.get());
  if (config.has_federation()) {
    s->corroboration_ = std::make_unique<Corroboration>(
        config.origin(), s->ledger_.get(), s->store_.get(), s->roster_resolver_,
        s->node_keys_.get());
  }
  if (config.has_federation()) WF_RETURN_IF_ERROR(s->StartGossip());
  if (config.has_encryption_key_epochs()) {
    const auto& e = config.encryption_key_epochs();
    EpochKeyRotator::Options ropts;
    ropts.rotation = absl::Milliseconds(e.rotation_ms());
    ropts.retention = absl::Milliseconds(e.retention_ms());
    ropts.dir = KeyEpochDir(config);
    // encryption_key_epochs implies a federation (CheckConfig).
    federation::Gossip* gossip = s->gossip_.get();
    ropts.published = [gossip](const watchfloor::v1::Envelope& envelope) {
      gossip->Broadcast(envelope);
    };
    WF_ASSIGN_OR_RETURN(s->rotator_,
                        EpochKeyRotator::Start(std::move(ropts), config.origin(),
                                               s->key_epochs_.get(), &s->encryption_keys_,
                                               s->ledger_.get(), clock));
  }
  {
    // Every co-signature made new by a commit: shown to the incident view
    // (its "corroborated" events) and gossiped, whoever made it.
    federation::Gossip* g = s->gossip_.get();
    s->ledger_->SetCosignatureListener([g, incidents](const std::vector<Cosignature>& added) {
      incidents->OnCosigned(added);
      if (g == nullptr) return;
      std::vector<federation::CosignatureOffer> offers;
      offers.reserve(added.size());
      for (const Cosignature& c : added) {
        federation::CosignatureOffer& o = offers.emplace_back();
        o.alert_id = c.alert_id;
        o.signature = c.signature;
      }
      g->BroadcastCosignatures(offers);
    });
  }

  const auto& lim = config.limits();
  federation::Gossip* gossip = s->gossip_.get();
  s->service_ = std::make_unique<NodeService>(
      s->ledger_.get(), hub, s->store_.get(), &s->key_.public_key(),
      OrDefault<size_t>(lim.max_subscribers(), kDefaultMaxSubscribers),
      s->authz_.get(),
      gossip == nullptr ? NodeService::AcceptedHook()
                        : [gossip](const watchfloor::v1::Envelope& e) {
                            gossip->Broadcast(e);
                          });

  s->service_->SetTransparency(s->transparency_.get(), s->roster());
  s->service_->SetSigningKeys(s->node_keys_.get());
  s->service_->SetSealedReader(s->sealed_reader_.get());
  s->service_->SetIncidents(s->incidents_.get());
  s->service_->SetCorroboration(s->corroboration_.get());
  if (s->roster_manager_ != nullptr) {
    s->service_->SetRoster(s->roster_manager_.get(), [gossip] {
      std::vector<watchfloor::v1::PeerRosterStatus> out;
      for (const auto& [origin, p] : gossip->stats().peers) {
        watchfloor::v1::PeerRosterStatus& status = out.emplace_back();
        status.set_origin(origin);
        status.set_version(p.roster_version);
        if (p.roster_version != 0) {
          const int64_t ns = absl::ToUnixNanos(p.roster_reported);
          status.mutable_reported_at()->set_seconds(ns / 1000000000);
          status.mutable_reported_at()->set_nanos(static_cast<int32_t>(ns % 1000000000));
        }
      }
      return out;
    });
  }
  // Before anything can reach it: peers' checkpoints are judged against the
  // checkpoints and evidence it loads.
  WF_RETURN_IF_ERROR(s->transparency_->Start());

  WF_ASSIGN_OR_RETURN(auto creds,
                      Credentials(config,
                                  s->roster() != nullptr ? s->roster()->CaBundlePem()
                                                         : std::string(),
                                  clock, &s->handshake_trust_));
  // Our own Health service (node/health_service.h) instead of gRPC's
  // built-in one, which reflection cannot describe.
  grpc::EnableDefaultHealthCheckService(false);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  std::vector<std::string> health_names = {watchfloor::v1::Node::service_full_name()};
  if (s->federation_service_ != nullptr) {
    health_names.push_back(watchfloor::v1::Federation::service_full_name());
  }
  s->health_ = std::make_unique<HealthService>(health_names);
  grpc::ServerBuilder builder;
  builder.AddListeningPort(config.listen_address(), creds, &s->port_);
  builder.RegisterService(s->service_.get());
  if (s->federation_service_ != nullptr) {
    builder.RegisterService(s->federation_service_.get());
  }
  builder.RegisterService(s->health_.get());
  // The documented limit, federation or not: peers page their messages to
  // fit kFederationMessageBytes, which CheckConfig keeps within it.
  const int max_msg = MaxMessageBytes(config);
  builder.SetMaxReceiveMessageSize(max_msg);
  builder.SetMaxSendMessageSize(max_msg);
  builder.AddChannelArgument(
      GRPC_ARG_MAX_CONCURRENT_STREAMS,
      OrDefault<int>(lim.max_concurrent_streams(), kDefaultMaxConcurrentStreams));
  builder.AddChannelArgument(
      GRPC_ARG_MAX_METADATA_SIZE,
      OrDefault<int>(lim.max_metadata_bytes(), kDefaultMaxMetadataBytes));
  builder.AddChannelArgument(
      GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS,
      OrDefault<int>(lim.handshake_timeout_ms(), kDefaultHandshakeTimeoutMs));
  // Pings from clients at most every 10 s; abusive pingers are dropped.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 2);
  // gRPC sets SO_REUSEPORT by default, which lets a second node bind the same
  // port and silently take half the connections. A busy port must be an error.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // What a caller can make the node buffer. gRPC 1.51 checks a message's
  // size only once all of it has arrived, so eight parallel 64 MiB requests
  // were held whole (RSS +465 MiB, docs/CONFIG.md "Message size"). The
  // resource quota bounds the transport's buffers: past it, gRPC resets the
  // streams holding them (RESOURCE_EXHAUSTED). Without BDP probing the
  // receive windows stay at their defaults instead of growing to megabytes
  // per connection. A floor of four maximum-size messages keeps legitimate
  // large messages (limits.max_message_bytes up to 64 MiB) possible.
  builder.AddChannelArgument(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  grpc::ResourceQuota quota("watchfloor-node");
  quota.Resize(std::max<size_t>(kTransportMemoryFloor, 4 * static_cast<size_t>(max_msg)));
  builder.SetResourceQuota(quota);
  s->server_ = builder.BuildAndStart();
  if (s->server_ == nullptr || s->port_ == 0) {
    return absl::UnavailableError(absl::StrCat(
        "cannot listen on ", config.listen_address(),
        "; is another process using the port, or is the address not local?"));
  }
  for (const std::string& name : health_names) {
    (void)s->health_->SetStatus(name, grpc::health::v1::HealthCheckResponse::SERVING);
  }
  (void)s->health_->SetStatus("", grpc::health::v1::HealthCheckResponse::SERVING);
  // A store failure that retries did not clear stops every write until a
  // restart (Ledger::health): say so, so that clients and orchestration go
  // elsewhere. Checked once more after registering, for a failure between.
  HealthService* health = s->health_.get();
  auto not_serving = [health, health_names](const absl::Status& failure) {
    log::Error("node", "not_serving",
               {{"code", absl::StatusCodeToString(failure.code())},
                {"reason", absl::StrCat("the store failed: ", failure.message())}});
    for (const std::string& name : health_names) {
      (void)health->SetStatus(name, grpc::health::v1::HealthCheckResponse::NOT_SERVING);
    }
    (void)health->SetStatus("", grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  };
  s->ledger_->SetFailureListener(not_serving);
  if (absl::Status h = s->ledger_->health(); !h.ok()) not_serving(h);
  if (s->gossip_ != nullptr) s->gossip_->Start();
  WF_RETURN_IF_ERROR(s->StartOperations());
  return s;
}

std::string NodeServer::address() const {
  const std::string& listen = config_.listen_address();
  return absl::StrCat(listen.substr(0, listen.rfind(':')), ":", port_);
}

void NodeServer::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) return;
    shut_down_ = true;
  }
  // NOT_SERVING, and Watch streams end now instead of holding the shutdown.
  health_->Shutdown();
  // Live subscribers end now (UNAVAILABLE with a resume cursor) instead of
  // holding the shutdown for its grace period.
  hub_->Close();
  server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(2));
}

void NodeServer::Wait() { server_->Wait(); }

NodeServer::~NodeServer() {
  // The HTTP listener and the health monitor read everything below.
  http_.reset();
  health_monitor_.reset();
  // No new epoch keys from here on (its rounds publish through the ledger).
  rotator_.reset();
  expiry_marker_.reset();
  // Order matters: stop taking calls (in-flight publishes still complete,
  // the ledger is running), stop gossip, then drain the ledger while
  // everything its callbacks touch is still alive.
  if (server_ != nullptr) {
    Shutdown();
    server_->Wait();
  }
  if (peer_updater_.joinable()) {
    {
      absl::MutexLock lock(&peers_mu_);
      peers_stop_ = true;
    }
    peer_updater_.join();
  }
  if (transparency_ != nullptr) transparency_->Stop();
  if (gossip_ != nullptr) gossip_->Stop();
  if (ledger_ != nullptr) {
    ledger_->SetEvidenceListener(nullptr);
    ledger_->SetFailureListener(nullptr);
    ledger_->SetCosignatureListener(nullptr);
    ledger_->SetMarkListener(nullptr);
  }
  ledger_.reset();
}

}  // namespace watchfloor::node
