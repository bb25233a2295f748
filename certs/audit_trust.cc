// Trusting an audit bundle: its roster chain and its exporter's claims.
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "certs/audit.h"
#include "certs/audit_internal.h"
#include "certs/dsse.h"
#include "certs/ids.h"
#include "certs/status_macros.h"

namespace watchfloor::certs::audit_internal {
namespace {

using watchfloor::v1::AuditBundle;
using watchfloor::v1::Envelope;

absl::Status Prefixed(const absl::Status& st, absl::string_view prefix) {
  return absl::Status(st.code(), absl::StrCat(prefix, st.message()));
}

// Appends `next`, verified as the successor of chain->back().
absl::Status Extend(std::vector<Roster>* chain, const Envelope& next) {
  const Roster& prev = chain->back();
  absl::StatusOr<Roster> verified = prev.VerifyNext(next);
  if (!verified.ok()) {
    return Prefixed(verified.status(),
                    absl::StrCat("bundle roster chain: the roster after v", prev.version(),
                                 " does not follow from it: "));
  }
  chain->push_back(*std::move(verified));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<Roster>> TrustChain(const AuditBundle& bundle, const Roster* anchor) {
  std::vector<const Envelope*> envs;
  for (const Envelope& e : bundle.roster_chain()) envs.push_back(&e);
  envs.push_back(&bundle.roster());
  std::vector<watchfloor::v1::Roster> protos;
  for (const Envelope* e : envs) {
    absl::StatusOr<watchfloor::v1::Roster> proto = ParseRosterPayload(*e);
    if (!proto.ok()) {
      return Prefixed(proto.status(),
                      envs.size() == 1 ? "bundle roster: "
                                       : absl::StrCat("bundle roster chain[", protos.size(), "]: "));
    }
    protos.push_back(*std::move(proto));
  }
  const watchfloor::v1::Roster& last = protos.back();

  std::vector<Roster> chain;
  size_t next = 1;  // the first envelope not yet in `chain`
  if (anchor == nullptr) {
    absl::StatusOr<Roster> first = Roster::VerifyGenesis(*envs[0]);
    if (!first.ok()) {
      return Prefixed(first.status(), envs.size() == 1
                                          ? "bundle roster: "
                                          : "bundle roster chain: its first roster: ");
    }
    chain.push_back(*std::move(first));
  } else {
    if (last.federation() != anchor->federation()) {
      return absl::InvalidArgumentError(
          absl::StrCat("bundle roster is for federation ", last.federation(),
                       ", the anchor roster for ", anchor->federation()));
    }
    if (last.version() < anchor->version()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "bundle roster v", last.version(), " is older than the anchor roster v",
          anchor->version()));
    }
    std::optional<size_t> at;
    for (size_t i = 0; i < protos.size(); ++i) {
      if (protos[i].version() == anchor->version()) at = i;
    }
    if (at) {
      if (envs[*at]->payload() != anchor->envelope().payload()) {
        return absl::UnauthenticatedError(absl::StrCat(
            "bundle roster v", anchor->version(), " differs from the anchor roster v",
            anchor->version(), " of the same version"));
      }
      if (*at > 0) {
        // Versions before the anchor (their keys signed older alerts): the
        // first must meet its own threshold and the links must lead to the
        // anchor as the auditor holds it, so the anchor's own signatures
        // vouch for its predecessor.
        absl::StatusOr<Roster> first = Roster::VerifyGenesis(*envs[0]);
        if (!first.ok()) {
          return Prefixed(first.status(), "bundle roster chain: its first roster: ");
        }
        chain.push_back(*std::move(first));
        for (size_t i = 1; i < *at; ++i) WF_RETURN_IF_ERROR(Extend(&chain, *envs[i]));
        WF_RETURN_IF_ERROR(Extend(&chain, anchor->envelope()));
      } else {
        chain.push_back(*anchor);
      }
      next = *at + 1;
    } else {
      if (protos[0].version() != anchor->version() + 1) {
        return absl::FailedPreconditionError(absl::StrCat(
            "bundle roster chain starts at v", protos[0].version(), " (ends at v",
            last.version(), ") and does not reach the anchor roster v", anchor->version(),
            ": the bundle must carry every version after the one you trust; export it "
            "from a node that holds them, or audit with a newer --roster"));
      }
      absl::StatusOr<Roster> first = anchor->VerifyNext(*envs[0]);
      if (!first.ok()) {
        return Prefixed(first.status(),
                        absl::StrCat("bundle roster does not chain from the anchor roster v",
                                     anchor->version(), ": "));
      }
      // The anchor heads the chain: its keys signed alerts as much as any.
      chain.push_back(*anchor);
      chain.push_back(*std::move(first));
      next = 1;
    }
  }
  for (size_t i = next; i < envs.size(); ++i) WF_RETURN_IF_ERROR(Extend(&chain, *envs[i]));
  return chain;
}

absl::StatusOr<watchfloor::v1::ExportClaims> OpenClaims(const Envelope& envelope,
                                                        const Roster& roster) {
  if (envelope.payload_type() != kExportClaimsPayloadType) {
    return absl::InvalidArgumentError(absl::StrCat("claims payloadType is \"",
                                                   envelope.payload_type(), "\", want \"",
                                                   kExportClaimsPayloadType, "\""));
  }
  watchfloor::v1::ExportClaims claims;
  if (!claims.ParseFromString(envelope.payload())) {
    return absl::InvalidArgumentError("claims payload is not a watchfloor.v1.ExportClaims");
  }
  std::optional<PublicKey> key = roster.NodeKey(claims.exporter());
  if (!key) {
    return absl::NotFoundError(absl::StrCat("claims name exporter \"", claims.exporter(),
                                            "\", which is not a node of roster v",
                                            roster.version()));
  }
  const std::string pae = Pae(envelope.payload_type(), envelope.payload());
  bool found = false;
  for (const watchfloor::v1::Signature& sig : envelope.signatures()) {
    if (sig.keyid() != key->KeyId()) continue;
    found = true;
    if (key->Verify(pae, sig.sig())) return claims;
  }
  return absl::UnauthenticatedError(absl::StrCat(
      found ? "the signature by the roster key of " : "no signature by the roster key of ",
      claims.exporter(), " (keyid ", key->KeyId().substr(0, 16), "...)",
      found ? " does not verify" : ""));
}

}  // namespace watchfloor::certs::audit_internal
