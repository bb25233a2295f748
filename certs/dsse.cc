#include "certs/dsse.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>

#include <initializer_list>

#include "absl/strings/str_cat.h"
#include "certs/status_macros.h"

namespace watchfloor::certs {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

// Protobuf's parse errors may append an excerpt of the input and a caret on
// further lines; a Status message stays one line.
absl::Status Malformed(absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(
      "malformed DSSE envelope JSON: ", why.substr(0, why.find('\n'))));
}

// `object` has only keys from `allowed`, each a JSON string, and every key in
// `required`; `other` (checked by the caller) is skipped. `where` names the
// object in messages.
absl::Status CheckStringMembers(
    const Struct& object, absl::string_view where,
    std::initializer_list<absl::string_view> allowed,
    std::initializer_list<absl::string_view> required,
    absl::string_view other = "") {
  for (const auto& [key, value] : object.fields()) {
    if (!other.empty() && key == other) continue;
    bool known = false;
    for (absl::string_view a : allowed) known = known || key == a;
    if (!known) {
      return Malformed(absl::StrCat("unknown member \"", key, "\" in ", where));
    }
    if (value.kind_case() != Value::kStringValue) {
      return Malformed(
          absl::StrCat("\"", key, "\" in ", where, " must be a string"));
    }
  }
  for (absl::string_view r : required) {
    if (object.fields().count(std::string(r)) == 0) {
      return Malformed(absl::StrCat(where, " lacks \"", r, "\""));
    }
  }
  return absl::OkStatus();
}

// Protobuf's JSON parser is lenient in ways DSSE is not: it takes proto field
// names ("payload_type"), null for any member, an object where an array
// belongs, and the last of duplicate keys. A generic parse first rejects all
// of those (and duplicate keys), so every implementation reading the same
// JSON sees the same envelope.
absl::Status CheckDsseShape(absl::string_view json) {
  Value root;
  const auto parsed = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), &root);
  if (!parsed.ok()) {
    return Malformed(
        absl::string_view(parsed.message().data(), parsed.message().size()));
  }
  if (root.kind_case() != Value::kStructValue) {
    return Malformed("the envelope must be a JSON object");
  }
  const Struct& top = root.struct_value();
  const auto sigs = top.fields().find("signatures");
  if (sigs == top.fields().end()) {
    return Malformed("the envelope lacks \"signatures\"");
  }
  if (sigs->second.kind_case() != Value::kListValue) {
    return Malformed("\"signatures\" must be an array");
  }
  for (const Value& sig : sigs->second.list_value().values()) {
    if (sig.kind_case() != Value::kStructValue) {
      return Malformed("each signature must be a JSON object");
    }
    WF_RETURN_IF_ERROR(CheckStringMembers(sig.struct_value(), "a signature",
                                          {"keyid", "sig"}, {"sig"}));
  }
  return CheckStringMembers(top, "the envelope", {"payload", "payloadType"},
                            {"payload", "payloadType"}, "signatures");
}

}  // namespace

std::string Pae(absl::string_view payload_type, absl::string_view payload) {
  return absl::StrCat("DSSEv1 ", payload_type.size(), " ", payload_type, " ",
                      payload.size(), " ", payload);
}

watchfloor::v1::Envelope SignEnvelope(absl::string_view payload,
                                      absl::string_view payload_type,
                                      const SigningKey& key) {
  watchfloor::v1::Envelope envelope;
  envelope.set_payload(std::string(payload));
  envelope.set_payload_type(std::string(payload_type));
  watchfloor::v1::Signature* sig = envelope.add_signatures();
  sig->set_keyid(key.public_key().KeyId());
  sig->set_sig(key.Sign(Pae(payload_type, payload)));
  return envelope;
}

absl::Status VerifyEnvelope(const watchfloor::v1::Envelope& envelope,
                            const PublicKey& key) {
  return VerifiedSignatureIndex(envelope, key).status();
}

absl::StatusOr<int> VerifiedSignatureIndex(const watchfloor::v1::Envelope& envelope,
                                           const PublicKey& key) {
  if (envelope.payload_type() != kAlertPayloadType) {
    return absl::InvalidArgumentError(
        absl::StrCat("payloadType is \"", envelope.payload_type(),
                     "\", want \"", kAlertPayloadType, "\""));
  }
  for (int i = 0; i < envelope.signatures_size(); ++i) {
    const size_t size = envelope.signatures(i).sig().size();
    if (size != kEd25519SignatureSize) {
      return absl::InvalidArgumentError(absl::StrCat("signature ", i, " is ",
                                                     size, " bytes, want ",
                                                     kEd25519SignatureSize));
    }
  }
  // PAE is built lazily: most envelopes carry exactly one signature.
  std::string pae;
  bool found = false;
  for (int i = 0; i < envelope.signatures_size(); ++i) {
    const watchfloor::v1::Signature& sig = envelope.signatures(i);
    if (sig.keyid() != key.KeyId()) continue;
    found = true;
    if (pae.empty()) pae = Pae(envelope.payload_type(), envelope.payload());
    if (key.Verify(pae, sig.sig())) return i;
  }
  if (!found) {
    return absl::UnauthenticatedError(
        absl::StrCat("no signature by key ", key.KeyId()));
  }
  return absl::UnauthenticatedError(
      absl::StrCat("signature by key ", key.KeyId(), " does not verify"));
}

std::string EnvelopeToJson(const watchfloor::v1::Envelope& envelope) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = false;
  // DSSE requires all three members even when empty.
  options.always_print_primitive_fields = true;
  std::string json;
  if (!google::protobuf::util::MessageToJsonString(envelope, &json, options)
           .ok()) {
    // Not reached with protobuf 3.21 (it even prints non-UTF-8 text fields,
    // as empty strings, which no valid envelope has); an empty string fails
    // every parser, so a caller cannot mistake it for an envelope.
    return std::string();
  }
  return json;
}

absl::StatusOr<watchfloor::v1::Envelope> EnvelopeFromJson(
    absl::string_view json) {
  WF_RETURN_IF_ERROR(CheckDsseShape(json));
  watchfloor::v1::Envelope envelope;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  const auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), &envelope,
      options);
  if (!status.ok()) {
    return Malformed(
        absl::string_view(status.message().data(), status.message().size()));
  }
  return envelope;
}

}  // namespace watchfloor::certs
