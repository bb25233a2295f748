// Who is calling, and what they may do, from the mutual-TLS peer
// certificate (DESIGN.md, Trust): peers of the federation may gossip; a
// member's own clients may publish through that member's node; any
// authenticated member identity may read.
#ifndef WATCHFLOOR_NODE_AUTHZ_H_
#define WATCHFLOOR_NODE_AUTHZ_H_

#include <atomic>
#include <map>
#include <string>

#include "absl/synchronization/mutex.h"
#include "absl/status/statusor.h"
#include "certs/roster.h"
#include "certs/x509.h"
#include "grpcpp/server_context.h"
#include "log/rate_limiter.h"
#include "node/clock.h"

namespace watchfloor::node {

class Authorizer {
 public:
  enum class Mode {
    kPlaintextLoopback,  // development: everyone on loopback may do anything
    kTls,                // TLS with a client CA file: SAN names the identity
    kRoster,             // federation: identities verified against the roster
  };

  // `roster` (kRoster only) and `clock` must outlive the Authorizer.
  Authorizer(Mode mode, std::string own_member, const certs::Roster* roster,
             Clock* clock)
      : mode_(mode), own_member_(std::move(own_member)), roster_(roster),
        clock_(clock) {}

  // kRoster only: makes `roster` (not null; it must outlive the Authorizer,
  // as RosterManager's versions do) the one every identity is checked
  // against, and forgets every identity verified against an earlier one, so
  // a removed member's certificate is refused on its next rpc rather than
  // when its cache entry would have expired. An rpc already being checked
  // finishes with the roster it started with. Thread-safe; callable from a
  // RosterManager listener.
  void SetRoster(const certs::Roster* roster);

  // The caller's identity. UNAUTHENTICATED if there is no usable
  // certificate or (kRoster) it breaks a roster rule. In plaintext mode,
  // an empty identity.
  absl::StatusOr<certs::PeerIdentity> Identify(
      const grpc::ServerContextBase& ctx) const;

  // kRoster only: the identity of a leaf certificate `pem`, verified against
  // the roster in force (cached as for Identify). UNAUTHENTICATED if it
  // breaks a roster rule; FAILED_PRECONDITION in the other modes.
  absl::StatusOr<certs::PeerIdentity> IdentifyCertificate(absl::string_view pem) const;

  // The reader rule of CheckReader for a certificate presented outside gRPC
  // (the watch-floor page over HTTPS): the identity, or why it may not read.
  // Logs nothing.
  absl::StatusOr<certs::PeerIdentity> CheckReaderCertificate(absl::string_view pem) const;

  // Publish and Ingest: a client certificate of this node's own member.
  // PERMISSION_DENIED for anyone else. Refusals are logged (see above), as
  // in CheckReader and AuthenticatePeer.
  absl::Status CheckPublisher(const grpc::ServerContextBase& ctx) const;

  // Subscribe, GetAlert, GetIdentity: any authenticated identity.
  absl::Status CheckReader(const grpc::ServerContextBase& ctx) const;

  // The Federation service: a node of the roster; returns its origin.
  // PERMISSION_DENIED for a client certificate.
  absl::StatusOr<std::string> AuthenticatePeer(
      const grpc::ServerContextBase& ctx) const;

 private:
  // Logs the refusal of a `kind` call ("publish", "read", "federation")
  // from the peer of `ctx` (event call_refused; at most 20 lines a second,
  // then one calls_refused_not_logged line counting the rest), and returns
  // `status`.
  absl::Status Refuse(const grpc::ServerContextBase& ctx, absl::string_view kind,
                      absl::Status status) const;

  const Mode mode_;
  const std::string own_member_;
  // The roster in force (kRoster), swapped by SetRoster.
  std::atomic<const certs::Roster*> roster_;
  Clock* const clock_;

  // Verified identities by leaf certificate, re-verified after kCacheTtl:
  // verifying a chain costs far more than a gossip push. An entry counts only
  // while `roster` is the roster in force: an Identify that raced SetRoster
  // may store a verdict reached under the old roster after SetRoster cleared
  // the cache, and must not have it used.
  struct Cached {
    certs::PeerIdentity identity;
    absl::Time verified_at;
    const certs::Roster* roster;
  };
  mutable absl::Mutex cache_mu_;
  mutable std::map<std::string, Cached> cache_ ABSL_GUARDED_BY(cache_mu_);
  // call_refused lines a second: a caller with a valid certificate can make
  // refusals as fast as it can send calls.
  mutable log::RateLimiter refusal_log_{20};
};

}  // namespace watchfloor::node

#endif  // WATCHFLOOR_NODE_AUTHZ_H_
