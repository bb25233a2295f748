// C2SP signed notes, transparency log checkpoints and Ed25519 cosignatures
// (c2sp.org/signed-note, c2sp.org/tlog-checkpoint, c2sp.org/tlog-cosignature
// "cosignature/v1"). Pure functions: no I/O, no clock (the cosignature time
// is a parameter). docs/PROTOCOL.md "Transparency log" has the byte-level
// rules and a worked example.
//
// A signed note is
//   <text ending in "\n">
//   "\n"
//   one or more lines "— <key name> <base64(key id || signature)>\n"
// where "— " is U+2014 EM DASH (e2 80 94) and a space. The key id is the
// first 4 bytes of SHA-256(key name || 0x0A || type || public key), with
// type 0x01 for note signatures and 0x04 for cosignatures.
//
// Error codes (STYLE.md habit 4):
//   INVALID_ARGUMENT  malformed text, checkpoint body, vkey or signature
//                     line, or a signature by the expected key of the wrong
//                     length;
//   UNAUTHENTICATED   no signature by the expected key, or one that does not
//                     verify, or a checkpoint for another origin.
#ifndef WATCHFLOOR_CERTS_NOTE_H_
#define WATCHFLOOR_CERTS_NOTE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "certs/keys.h"

namespace watchfloor::certs {

// Signature type bytes of c2sp.org/signed-note.
inline constexpr uint8_t kNoteTypeEd25519 = 0x01;
inline constexpr uint8_t kNoteTypeCosignatureV1 = 0x04;

// Verifiers reject notes with more signature lines than this (the spec asks
// for at least 16; Go's sumdb/note allows 100).
inline constexpr size_t kMaxNoteSignatures = 100;

// The "watchfloor/" prefix of every watchfloor log origin.
inline constexpr absl::string_view kLogOriginPrefix = "watchfloor/";

// ------------------------------------------------------------ key ids, vkeys

// SHA-256(name || 0x0A || type || public key)[:4], big-endian.
uint32_t NoteKeyId(absl::string_view name, uint8_t type,
                   const PublicKey& key);

// OK iff `name` is a valid key name: non-empty UTF-8 without Unicode white
// space or '+'. INVALID_ARGUMENT naming the rule otherwise.
absl::Status ValidateKeyName(absl::string_view name);

// "<name>+<8 lowercase hex key id>+<base64(type || 32-byte key)>".
// Precondition: ValidateKeyName(name).ok().
std::string NoteVerifierKey(absl::string_view name, const PublicKey& key,
                            uint8_t type = kNoteTypeEd25519);

// A parsed vkey. (No default constructor: PublicKey has none.)
struct VerifierKey {
  std::string name;
  uint8_t type;
  uint32_t key_id;
  PublicKey key;
};

// Parses a vkey of type 0x01 or 0x04 (Ed25519 keys). INVALID_ARGUMENT if it
// is malformed, of another type, or its key id is not the one derived from
// name, type and key.
absl::StatusOr<VerifierKey> ParseNoteVerifierKey(absl::string_view vkey);

// ------------------------------------------------------------- signed notes

// One signature line: key name, key id, and the bytes after the key id
// (Ed25519: 64-byte signature; cosignature/v1: 8-byte timestamp || 64).
struct NoteSignature {
  std::string name;
  uint32_t key_id = 0;
  std::string signature;

  friend bool operator==(const NoteSignature& a, const NoteSignature& b) {
    return a.name == b.name && a.key_id == b.key_id &&
           a.signature == b.signature;
  }
};

struct ParsedNote {
  std::string text;  // the signed body, with its final "\n"
  std::vector<NoteSignature> signatures;  // in note order
};

// OK iff `text` can be a note text: non-empty, ends in "\n", valid UTF-8,
// no ASCII control characters but "\n". INVALID_ARGUMENT otherwise.
absl::Status ValidateNoteText(absl::string_view text);

// "— <key_name> <base64(key id || Ed25519(key, text))>\n" with the type 0x01
// key id. Preconditions: ValidateNoteText(text).ok() and
// ValidateKeyName(key_name).ok() (checked with assert).
std::string NoteSignatureLine(absl::string_view text,
                              absl::string_view key_name,
                              const SigningKey& key);

// The whole note: text, "\n", one signature line. Same preconditions as
// NoteSignatureLine. Deterministic (Ed25519 is).
std::string SignNote(absl::string_view text, absl::string_view key_name,
                     const SigningKey& key);

// `note` with one more type 0x01 signature line by `key` appended after the
// existing ones. INVALID_ARGUMENT if `note` does not parse or key_name is
// invalid.
absl::StatusOr<std::string> AddSignature(absl::string_view note,
                                         absl::string_view key_name,
                                         const SigningKey& key);

// Splits a note at its last blank line and parses the signature lines.
// INVALID_ARGUMENT on: invalid UTF-8 or control characters, no final "\n",
// no blank line, no signature lines, a line that is not "— <name> <base64>"
// (name valid, base64 standard and canonical with padding, at least 5
// bytes), or more than kMaxNoteSignatures lines. Signatures are not checked.
absl::StatusOr<ParsedNote> ParseNote(absl::string_view note);

// The note text of `note` (ParseNote's inverse).
std::string FormatNote(const ParsedNote& note);

// OK iff the note carries a signature line with `key_name` and the type
// 0x01 key id of (key_name, key), and every such line verifies over
// note.text. UNAUTHENTICATED "no signature by <name>+<key id>" or
// "signature by <name>+<key id> does not verify"; INVALID_ARGUMENT
// "signature by <name>+<key id> is <n> bytes, want 64".
absl::Status VerifyNoteSignature(const ParsedNote& note,
                                 absl::string_view key_name,
                                 const PublicKey& key);

// -------------------------------------------------------------- checkpoints

// A c2sp.org/tlog-checkpoint body.
struct Checkpoint {
  std::string origin;     // first line, non-empty
  uint64_t size = 0;      // tree size
  std::string root_hash;  // raw 32 bytes
  std::vector<std::string> extensions;  // further lines, each non-empty

  friend bool operator==(const Checkpoint& a, const Checkpoint& b) {
    return a.origin == b.origin && a.size == b.size &&
           a.root_hash == b.root_hash && a.extensions == b.extensions;
  }
};

// "<origin>\n<size>\n<base64 root>\n" then one line per extension.
// Preconditions: origin and extensions non-empty lines without "\n", root
// 32 bytes (checked with assert).
std::string FormatCheckpoint(const Checkpoint& checkpoint);

// Parses a checkpoint body (a note text). INVALID_ARGUMENT unless it is at
// least three "\n"-terminated lines: a non-empty origin, a decimal size
// without leading zeros ("0" for empty) that fits 64 bits, and the canonical
// padded base64 of a 32-byte root hash; extension lines must be non-empty.
absl::StatusOr<Checkpoint> ParseCheckpoint(absl::string_view text);

// The checkpoint origin of a watchfloor feed: "watchfloor/<member>/<node>"
// for the feed origin "<member>/<node>" (e.g. "watchfloor/nic.cz/prg1").
// The node's note key name, and its witness name, are this same string.
std::string LogOrigin(absl::string_view feed_origin);

// The feed origin "<member>/<node>" of a log origin. INVALID_ARGUMENT unless
// it is "watchfloor/" followed by two non-empty parts of [a-z0-9.-] joined
// by one "/". (The full member/node name rules are the roster's.)
absl::StatusOr<std::string> FeedOriginFromLogOrigin(
    absl::string_view log_origin);

// ParseNote + VerifyNoteSignature(key_name, key) + ParseCheckpoint, and the
// checkpoint's origin line must equal key_name (UNAUTHENTICATED
// "checkpoint origin <o> is not <key_name>"): the log's key only vouches for
// its own log. Errors as those functions.
absl::StatusOr<Checkpoint> OpenCheckpoint(absl::string_view note,
                                          absl::string_view key_name,
                                          const PublicKey& key);

// ------------------------------------------------------------- cosignatures

// "cosignature/v1\ntime <time>\n" followed by `text` (the whole checkpoint
// body): the message a cosignature/v1 signs.
std::string CosignatureMessage(absl::string_view text, uint64_t time);

// "— <witness_name> <base64(key id || time (8 bytes, big-endian) ||
// Ed25519(key, CosignatureMessage(text, time)))>\n" with the type 0x04 key
// id. Append it to a signed checkpoint note to cosign it. Preconditions:
// ValidateNoteText(text), ValidateKeyName(witness_name), time < 2^63
// (checked with assert).
std::string CosignatureLine(absl::string_view text,
                            absl::string_view witness_name,
                            const SigningKey& key, uint64_t time);

// The timestamp of the cosignature/v1 by (witness_name, key) on note.text.
// Every line with that name and the type 0x04 key id must verify; if there
// are several, the latest timestamp is returned. UNAUTHENTICATED "no
// cosignature by <name>+<key id>" or "cosignature by <name>+<key id> does
// not verify"; INVALID_ARGUMENT "cosignature by <name>+<key id> is <n>
// bytes, want 72" or "cosignature by <name>+<key id> has timestamp <t> >=
// 2^63".
absl::StatusOr<uint64_t> VerifyCosignature(const ParsedNote& note,
                                           absl::string_view witness_name,
                                           const PublicKey& key);

}  // namespace watchfloor::certs

#endif  // WATCHFLOOR_CERTS_NOTE_H_
