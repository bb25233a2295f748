// Strict reading of protobuf bytes that strangers send: why a message does
// not parse (in words, with the field path), and whether a parsed message
// carries fields this build does not know (which would otherwise be kept,
// signed, stored and forwarded as opaque bytes; docs/PROTOCOL.md "Unknown
// fields"). Pure functions, no I/O; thread-safe.
#ifndef WATCHFLOOR_CERTS_PROTO_CHECK_H_
#define WATCHFLOOR_CERTS_PROTO_CHECK_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message.h"

namespace watchfloor::certs {

// OK if `message` and every message nested in it (recursively, repeated and
// map fields included) hold no unknown fields. Otherwise INVALID_ARGUMENT
// naming the first one found, by path from `path` (e.g. path "draft" gives
// "draft.labels[0]: unknown field 99 (varint)"). A known field number sent
// with the wrong wire type lands among the unknown fields too and is named
// as such ("... field 8 (title) has wire type varint; it is declared
// string").
absl::Status CheckNoUnknownFields(const google::protobuf::Message& message,
                                  absl::string_view path);

// Why `bytes` is not a valid encoding of `type`, in words, starting with the
// field path where the walk stopped: "alert.title: invalid UTF-8 in a
// string field", "byte 0: invalid wire type 7 (field 12)", "alert, byte 9:
// field 8 (title) declares 40 bytes but 12 remain". Empty if the walk finds
// nothing wrong (the bytes then parse, as far as protobuf 3.21's rules go:
// tags, lengths, varints, groups, packed fields, nesting depth 100, UTF-8
// of proto3 strings).
std::string DescribeParseFailure(const google::protobuf::Descriptor& type,
                                 absl::string_view bytes);

// INVALID_ARGUMENT "<what> could not be parsed as <full type name>: <why>"
// for `bytes` that do not parse as `type` (`why` from DescribeParseFailure,
// or "not a valid encoding of it" when the walk finds nothing).
absl::Status ParseFailure(const google::protobuf::Descriptor& type, absl::string_view bytes,
                          absl::string_view what);

// Parses `bytes` into `*message` (cleared first). On failure
// ParseFailure(its type, bytes, what); *message is then unspecified.
absl::Status ParseStrictly(absl::string_view bytes, absl::string_view what,
                           google::protobuf::Message* message);

// Replaces libprotobuf's log handler once per process with one that drops
// its "String field ... contains invalid UTF-8 data when parsing" errors
// (every parse in this codebase reports the failure as a Status, so the line
// is noise a stranger could repeat at will) and passes every other message
// to the handler it replaces. Idempotent; call before serving.
void InstallProtobufLogFilter();

}  // namespace watchfloor::certs

#endif  // WATCHFLOOR_CERTS_PROTO_CHECK_H_
