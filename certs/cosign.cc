#include "certs/cosign.h"

#include <algorithm>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "certs/dsse.h"

namespace watchfloor::certs {

std::string MemberOf(absl::string_view origin) {
  return std::string(origin.substr(0, origin.find('/')));
}

absl::StatusOr<Cosigner> VerifyCosignature(const Roster& roster,
                                           absl::string_view payload_type,
                                           absl::string_view payload,
                                           absl::string_view alert_origin,
                                           const watchfloor::v1::Signature& sig) {
  if (payload_type != kAlertPayloadType) {
    return absl::InvalidArgumentError(absl::StrCat(
        "payloadType is \"", payload_type.substr(0, 80), "\", want \"",
        kAlertPayloadType, "\""));
  }
  if (sig.sig().size() != kEd25519SignatureSize) {
    return absl::InvalidArgumentError(absl::StrCat(
        "co-signature is ", sig.sig().size(), " bytes, want ", kEd25519SignatureSize));
  }
  // Rosters are small (tens of nodes): a scan is cheaper than an index
  // that would have to follow every roster version.
  for (const std::string& node : roster.Origins()) {
    std::optional<PublicKey> key = roster.NodeKey(node);
    if (!key.has_value() || key->KeyId() != sig.keyid()) continue;
    Cosigner who{node, MemberOf(node)};
    if (who.member == MemberOf(alert_origin)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "co-signature by ", node, " of member ", who.member,
          ", the member that published the alert: a member does not corroborate itself"));
    }
    if (!key->Verify(Pae(payload_type, payload), sig.sig())) {
      return absl::UnauthenticatedError(absl::StrCat(
          "co-signature by key ", sig.keyid(), " (", node, ") does not verify"));
    }
    return who;
  }
  return absl::UnauthenticatedError(absl::StrCat(
      "co-signature key ", sig.keyid().substr(0, 64),
      " is not a member node key in roster v", roster.version()));
}

watchfloor::v1::Signature Cosign(const watchfloor::v1::Envelope& envelope,
                                 const SigningKey& key) {
  watchfloor::v1::Signature s;
  s.set_keyid(key.public_key().KeyId());
  s.set_sig(key.Sign(Pae(envelope.payload_type(), envelope.payload())));
  return s;
}

watchfloor::v1::Envelope MergeCosignatures(
    const watchfloor::v1::Envelope& envelope, absl::string_view origin_keyid,
    std::vector<watchfloor::v1::Signature> cosignatures) {
  watchfloor::v1::Envelope out;
  out.set_payload(envelope.payload());
  out.set_payload_type(envelope.payload_type());
  for (const auto& s : envelope.signatures()) {
    if (s.keyid() == origin_keyid) *out.add_signatures() = s;
  }
  std::stable_sort(cosignatures.begin(), cosignatures.end(),
                   [](const auto& a, const auto& b) { return a.keyid() < b.keyid(); });
  std::set<std::string> seen{std::string(origin_keyid)};
  for (auto& s : cosignatures) {
    if (!seen.insert(s.keyid()).second) continue;
    *out.add_signatures() = std::move(s);
  }
  return out;
}

}  // namespace watchfloor::certs
