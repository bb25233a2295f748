// DSSE v1 envelopes (secure-systems-lab/dsse): PAE, signing, verification and
// the standard JSON form. Pure functions; no I/O, no clocks.
#ifndef WATCHFLOOR_CERTS_DSSE_H_
#define WATCHFLOOR_CERTS_DSSE_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "certs/keys.h"
#include "watchfloor/v1/alert.pb.h"

namespace watchfloor::certs {

inline constexpr absl::string_view kAlertPayloadType =
    "application/vnd.watchfloor.alert.v1+protobuf";

// PAE(type, payload) = "DSSEv1" SP LEN(type) SP type SP LEN(payload) SP
// payload, LEN in ASCII decimal without leading zeros.
std::string Pae(absl::string_view payload_type, absl::string_view payload);

// An envelope with one signature by `key` over PAE(payload_type, payload).
watchfloor::v1::Envelope SignEnvelope(absl::string_view payload,
                                      absl::string_view payload_type,
                                      const SigningKey& key);

// OK iff the envelope carries a signature with keyid == key.KeyId() that
// verifies over PAE(envelope.payload_type, envelope.payload).
// Errors: INVALID_ARGUMENT if payload_type is not kAlertPayloadType or a
// signature is not 64 bytes; UNAUTHENTICATED if no signature carries the
// key's keyid ("no signature by key <keyid>") or if that signature does not
// verify ("signature by key <keyid> does not verify").
absl::Status VerifyEnvelope(const watchfloor::v1::Envelope& envelope,
                            const PublicKey& key);

// As VerifyEnvelope, and the index in envelope.signatures of the first
// signature by `key` that verifies (the one to keep: another signature
// with the same keyid verified nothing).
absl::StatusOr<int> VerifiedSignatureIndex(const watchfloor::v1::Envelope& envelope,
                                           const PublicKey& key);

// One-line standard DSSE JSON: {"payload":"<b64>","payloadType":"...",
// "signatures":[{"keyid":"...","sig":"<b64>"}]} (standard base64 with
// padding, no whitespace).
std::string EnvelopeToJson(const watchfloor::v1::Envelope& envelope);

// Parses DSSE JSON. INVALID_ARGUMENT with a precise message on malformed
// JSON, unknown fields, or bad base64. Strict about shape: exactly the DSSE
// member names (not proto names like "payload_type"), payload, payloadType
// and signatures present, every signature an object with a "sig" (keyid is
// optional, as in DSSE), no nulls, no duplicate keys. Base64 may be standard
// or URL-safe, padded or not, as DSSE allows.
absl::StatusOr<watchfloor::v1::Envelope> EnvelopeFromJson(
    absl::string_view json);

}  // namespace watchfloor::certs

#endif  // WATCHFLOOR_CERTS_DSSE_H_
