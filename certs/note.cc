#include "certs/note.h"

#include <cassert>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "certs/ids.h"
#include "certs/status_macros.h"

namespace watchfloor::certs {
namespace {

// U+2014 EM DASH and a space: the start of every signature line.
constexpr absl::string_view kSigLinePrefix = "\xe2\x80\x94 ";
constexpr absl::string_view kCosignatureHeader = "cosignature/v1\n";
constexpr size_t kKeyIdSize = 4;
constexpr size_t kTimestampSize = 8;

std::string BigEndian(uint64_t v, size_t bytes) {
  std::string out(bytes, '\0');
  for (size_t i = 0; i < bytes; ++i) {
    out[bytes - 1 - i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  return out;
}

uint64_t ReadBigEndian(absl::string_view bytes) {
  uint64_t v = 0;
  for (unsigned char b : bytes) v = (v << 8) | b;
  return v;
}

std::string KeyIdHex(uint32_t id) { return HexEncode(BigEndian(id, 4)); }

std::string KeyLabel(absl::string_view name, uint32_t id) {
  return absl::StrCat(name, "+", KeyIdHex(id));
}

// Decodes one UTF-8 code point at s[*i], advancing *i. -1 if malformed
// (overlong forms, surrogates and values past U+10FFFF included).
int32_t DecodeUtf8(absl::string_view s, size_t* i) {
  const unsigned char c = s[*i];
  if (c < 0x80) {
    ++*i;
    return c;
  }
  int len;
  int32_t cp;
  int32_t min;
  if ((c & 0xe0) == 0xc0) {
    len = 2, cp = c & 0x1f, min = 0x80;
  } else if ((c & 0xf0) == 0xe0) {
    len = 3, cp = c & 0x0f, min = 0x800;
  } else if ((c & 0xf8) == 0xf0) {
    len = 4, cp = c & 0x07, min = 0x10000;
  } else {
    return -1;
  }
  if (*i + len > s.size()) return -1;
  for (int k = 1; k < len; ++k) {
    const unsigned char cc = s[*i + k];
    if ((cc & 0xc0) != 0x80) return -1;
    cp = (cp << 6) | (cc & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return -1;
  *i += len;
  return cp;
}

// Unicode White_Space, as Go's unicode.IsSpace (which sumdb/note uses).
bool IsUnicodeSpace(int32_t cp) {
  return (cp >= 0x09 && cp <= 0x0d) || cp == 0x20 || cp == 0x85 ||
         cp == 0xa0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) ||
         cp == 0x2028 || cp == 0x2029 || cp == 0x202f || cp == 0x205f ||
         cp == 0x3000;
}

// Valid UTF-8 and no control characters below U+0020 other than "\n".
absl::Status ValidateNoteBytes(absl::string_view what, absl::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const size_t at = i;
    const int32_t cp = DecodeUtf8(s, &i);
    if (cp < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " is not valid UTF-8 at byte ", at));
    }
    if (cp < 0x20 && cp != '\n') {
      return absl::InvalidArgumentError(absl::StrCat(
          what, " has control character 0x", HexEncode(std::string(1, static_cast<char>(cp))),
          " at byte ", at));
    }
  }
  return absl::OkStatus();
}

// Standard base64 with padding, and nothing but its canonical form: so a
// parsed note formats back to the same bytes.
bool DecodeCanonicalBase64(absl::string_view b64, std::string* out) {
  if (!absl::Base64Unescape(b64, out)) return false;
  return absl::Base64Escape(*out) == b64;
}

std::string SignatureLine(absl::string_view name, uint32_t key_id,
                          absl::string_view signature) {
  return absl::StrCat(kSigLinePrefix, name, " ",
                      absl::Base64Escape(
                          absl::StrCat(BigEndian(key_id, 4), signature)),
                      "\n");
}

bool IsOriginPartChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
         c == '-';
}

}  // namespace

// ------------------------------------------------------------ key ids, vkeys

uint32_t NoteKeyId(absl::string_view name, uint8_t type,
                   const PublicKey& key) {
  const std::string digest = Sha256(
      absl::StrCat(name, "\n", std::string(1, static_cast<char>(type)),
                   key.raw()));
  return static_cast<uint32_t>(ReadBigEndian(digest.substr(0, kKeyIdSize)));
}

absl::Status ValidateKeyName(absl::string_view name) {
  if (name.empty()) return absl::InvalidArgumentError("key name is empty");
  for (size_t i = 0; i < name.size();) {
    const int32_t cp = DecodeUtf8(name, &i);
    if (cp < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("key name \"", name, "\" is not valid UTF-8"));
    }
    if (IsUnicodeSpace(cp) || cp == '+') {
      return absl::InvalidArgumentError(absl::StrCat(
          "key name \"", name, "\" contains white space or '+'"));
    }
    if (cp < 0x20) {
      return absl::InvalidArgumentError(absl::StrCat(
          "key name \"", name, "\" contains a control character"));
    }
  }
  return absl::OkStatus();
}

std::string NoteVerifierKey(absl::string_view name, const PublicKey& key,
                            uint8_t type) {
  assert(ValidateKeyName(name).ok());
  return absl::StrCat(
      name, "+", KeyIdHex(NoteKeyId(name, type, key)), "+",
      absl::Base64Escape(
          absl::StrCat(std::string(1, static_cast<char>(type)), key.raw())));
}

absl::StatusOr<VerifierKey> ParseNoteVerifierKey(absl::string_view vkey) {
  // name '+' 8 hex '+' base64; the base64 may itself contain '+'.
  const size_t plus1 = vkey.find('+');
  if (plus1 == absl::string_view::npos || plus1 + 10 > vkey.size() ||
      vkey[plus1 + 9] != '+') {
    return absl::InvalidArgumentError(absl::StrCat(
        "verifier key \"", vkey,
        "\" is not <name>+<8 hex key id>+<base64 key>"));
  }
  const absl::string_view name = vkey.substr(0, plus1);
  WF_RETURN_IF_ERROR(ValidateKeyName(name));
  absl::StatusOr<std::string> id_bytes =
      HexDecode(vkey.substr(plus1 + 1, 8));
  if (!id_bytes.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "verifier key \"", vkey, "\" has a malformed key id"));
  }
  std::string typed_key;
  if (!DecodeCanonicalBase64(vkey.substr(plus1 + 10), &typed_key)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "verifier key \"", vkey, "\" has malformed base64"));
  }
  if (typed_key.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("verifier key \"", vkey, "\" has no key"));
  }
  const uint8_t type = static_cast<uint8_t>(typed_key[0]);
  if (type != kNoteTypeEd25519 && type != kNoteTypeCosignatureV1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "verifier key \"", vkey, "\" has type 0x",
        HexEncode(typed_key.substr(0, 1)), ", want 0x01 or 0x04"));
  }
  absl::StatusOr<PublicKey> key = PublicKey::FromRaw(typed_key.substr(1));
  if (!key.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "verifier key \"", vkey, "\" has a key of ", typed_key.size() - 1,
        " bytes, want 32"));
  }
  const uint32_t id = static_cast<uint32_t>(ReadBigEndian(*id_bytes));
  if (id != NoteKeyId(name, type, *key)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "verifier key \"", vkey, "\" has key id ", KeyIdHex(id),
        " but its name, type and key give ",
        KeyIdHex(NoteKeyId(name, type, *key))));
  }
  return VerifierKey{std::string(name), type, id, *std::move(key)};
}

// ------------------------------------------------------------- signed notes

absl::Status ValidateNoteText(absl::string_view text) {
  if (text.empty()) return absl::InvalidArgumentError("note text is empty");
  if (text.back() != '\n') {
    return absl::InvalidArgumentError(
        "note text does not end with a newline");
  }
  return ValidateNoteBytes("note text", text);
}

std::string NoteSignatureLine(absl::string_view text,
                              absl::string_view key_name,
                              const SigningKey& key) {
  assert(ValidateNoteText(text).ok());
  assert(ValidateKeyName(key_name).ok());
  return SignatureLine(
      key_name, NoteKeyId(key_name, kNoteTypeEd25519, key.public_key()),
      key.Sign(text));
}

std::string SignNote(absl::string_view text, absl::string_view key_name,
                     const SigningKey& key) {
  return absl::StrCat(text, "\n", NoteSignatureLine(text, key_name, key));
}

absl::StatusOr<std::string> AddSignature(absl::string_view note,
                                         absl::string_view key_name,
                                         const SigningKey& key) {
  WF_ASSIGN_OR_RETURN(ParsedNote parsed, ParseNote(note));
  WF_RETURN_IF_ERROR(ValidateKeyName(key_name));
  return absl::StrCat(note, NoteSignatureLine(parsed.text, key_name, key));
}

absl::StatusOr<ParsedNote> ParseNote(absl::string_view note) {
  WF_RETURN_IF_ERROR(ValidateNoteBytes("note", note));
  if (note.empty() || note.back() != '\n') {
    return absl::InvalidArgumentError("note does not end with a newline");
  }
  const size_t split = note.rfind("\n\n");
  if (split == absl::string_view::npos) {
    return absl::InvalidArgumentError(
        "note has no blank line before its signatures");
  }
  ParsedNote parsed;
  parsed.text = std::string(note.substr(0, split + 1));
  absl::string_view block = note.substr(split + 2);
  if (block.empty()) {
    return absl::InvalidArgumentError("note has no signature lines");
  }
  block.remove_suffix(1);  // the final "\n"
  size_t number = 0;
  for (absl::string_view line : absl::StrSplit(block, '\n')) {
    ++number;
    if (number > kMaxNoteSignatures) {
      return absl::InvalidArgumentError(absl::StrCat(
          "note has more than ", kMaxNoteSignatures, " signatures"));
    }
    if (!absl::ConsumePrefix(&line, kSigLinePrefix)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "signature line ", number,
          " does not start with an em dash (U+2014) and a space"));
    }
    const size_t space = line.find(' ');
    if (space == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          "signature line ", number, " is not \"— <name> <base64>\""));
    }
    NoteSignature sig;
    sig.name = std::string(line.substr(0, space));
    absl::Status name_ok = ValidateKeyName(sig.name);
    if (!name_ok.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "signature line ", number, ": ", name_ok.message()));
    }
    std::string blob;
    if (!DecodeCanonicalBase64(line.substr(space + 1), &blob)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "signature line ", number, " has malformed base64"));
    }
    if (blob.size() <= kKeyIdSize) {
      return absl::InvalidArgumentError(absl::StrCat(
          "signature line ", number, " has ", blob.size(),
          " bytes, want a 4-byte key id and a signature"));
    }
    sig.key_id =
        static_cast<uint32_t>(ReadBigEndian(blob.substr(0, kKeyIdSize)));
    sig.signature = blob.substr(kKeyIdSize);
    parsed.signatures.push_back(std::move(sig));
  }
  return parsed;
}

std::string FormatNote(const ParsedNote& note) {
  std::string out = absl::StrCat(note.text, "\n");
  for (const NoteSignature& sig : note.signatures) {
    absl::StrAppend(&out, SignatureLine(sig.name, sig.key_id, sig.signature));
  }
  return out;
}

absl::Status VerifyNoteSignature(const ParsedNote& note,
                                 absl::string_view key_name,
                                 const PublicKey& key) {
  const uint32_t id = NoteKeyId(key_name, kNoteTypeEd25519, key);
  bool found = false;
  for (const NoteSignature& sig : note.signatures) {
    if (sig.name != key_name || sig.key_id != id) continue;
    found = true;
    if (sig.signature.size() != kEd25519SignatureSize) {
      return absl::InvalidArgumentError(
          absl::StrCat("signature by ", KeyLabel(key_name, id), " is ",
                       sig.signature.size(), " bytes, want 64"));
    }
    if (!key.Verify(note.text, sig.signature)) {
      return absl::UnauthenticatedError(absl::StrCat(
          "signature by ", KeyLabel(key_name, id), " does not verify"));
    }
  }
  if (!found) {
    return absl::UnauthenticatedError(
        absl::StrCat("no signature by ", KeyLabel(key_name, id)));
  }
  return absl::OkStatus();
}

// -------------------------------------------------------------- checkpoints

std::string FormatCheckpoint(const Checkpoint& checkpoint) {
  assert(checkpoint.root_hash.size() == 32);
  std::string out =
      absl::StrCat(checkpoint.origin, "\n", checkpoint.size, "\n",
                   absl::Base64Escape(checkpoint.root_hash), "\n");
  for (const std::string& line : checkpoint.extensions) {
    absl::StrAppend(&out, line, "\n");
  }
  return out;
}

absl::StatusOr<Checkpoint> ParseCheckpoint(absl::string_view text) {
  WF_RETURN_IF_ERROR(ValidateNoteText(text));
  text.remove_suffix(1);
  std::vector<absl::string_view> lines = absl::StrSplit(text, '\n');
  if (lines.size() < 3) {
    return absl::InvalidArgumentError(absl::StrCat(
        "checkpoint has ", lines.size(), " lines, want at least 3"));
  }
  Checkpoint cp;
  if (lines[0].empty()) {
    return absl::InvalidArgumentError("checkpoint origin line is empty");
  }
  cp.origin = std::string(lines[0]);
  const absl::string_view size = lines[1];
  bool digits = !size.empty() && size.size() <= 20 &&
                (size == "0" || size[0] != '0');
  for (char c : size) digits = digits && c >= '0' && c <= '9';
  if (!digits) {
    return absl::InvalidArgumentError(absl::StrCat(
        "checkpoint tree size \"", size,
        "\" is not a decimal number without leading zeros"));
  }
  uint64_t value = 0;
  for (char c : size) {
    const uint64_t digit = static_cast<uint64_t>(c - '0');
    if (value > (UINT64_MAX - digit) / 10) {
      return absl::InvalidArgumentError(absl::StrCat(
          "checkpoint tree size ", size, " does not fit in 64 bits"));
    }
    value = value * 10 + digit;
  }
  cp.size = value;
  if (!DecodeCanonicalBase64(lines[2], &cp.root_hash)) {
    return absl::InvalidArgumentError(
        "checkpoint root hash is not canonical padded base64");
  }
  if (cp.root_hash.size() != 32) {
    return absl::InvalidArgumentError(absl::StrCat(
        "checkpoint root hash is ", cp.root_hash.size(), " bytes, want 32"));
  }
  for (size_t i = 3; i < lines.size(); ++i) {
    if (lines[i].empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("checkpoint extension line ", i - 2, " is empty"));
    }
    cp.extensions.emplace_back(lines[i]);
  }
  return cp;
}

std::string LogOrigin(absl::string_view feed_origin) {
  return absl::StrCat(kLogOriginPrefix, feed_origin);
}

absl::StatusOr<std::string> FeedOriginFromLogOrigin(
    absl::string_view log_origin) {
  absl::string_view rest = log_origin;
  const size_t slash = rest.find('/', kLogOriginPrefix.size());
  bool ok = absl::ConsumePrefix(&rest, kLogOriginPrefix) &&
            slash != absl::string_view::npos;
  if (ok) {
    const size_t cut = slash - kLogOriginPrefix.size();
    const absl::string_view member = rest.substr(0, cut);
    const absl::string_view node = rest.substr(cut + 1);
    ok = !member.empty() && !node.empty();
    for (char c : member) ok = ok && IsOriginPartChar(c);
    for (char c : node) ok = ok && IsOriginPartChar(c);
  }
  if (!ok) {
    return absl::InvalidArgumentError(absl::StrCat(
        "log origin \"", log_origin, "\" is not watchfloor/<member>/<node>"));
  }
  return std::string(rest);
}

absl::StatusOr<Checkpoint> OpenCheckpoint(absl::string_view note,
                                          absl::string_view key_name,
                                          const PublicKey& key) {
  WF_ASSIGN_OR_RETURN(ParsedNote parsed, ParseNote(note));
  WF_RETURN_IF_ERROR(VerifyNoteSignature(parsed, key_name, key));
  WF_ASSIGN_OR_RETURN(Checkpoint cp, ParseCheckpoint(parsed.text));
  if (cp.origin != key_name) {
    return absl::UnauthenticatedError(absl::StrCat(
        "checkpoint origin ", cp.origin, " is not ", key_name));
  }
  return cp;
}

// ------------------------------------------------------------- cosignatures

std::string CosignatureMessage(absl::string_view text, uint64_t time) {
  return absl::StrCat(kCosignatureHeader, "time ", time, "\n", text);
}

std::string CosignatureLine(absl::string_view text,
                            absl::string_view witness_name,
                            const SigningKey& key, uint64_t time) {
  assert(ValidateNoteText(text).ok());
  assert(ValidateKeyName(witness_name).ok());
  assert(time < (uint64_t{1} << 63));
  return SignatureLine(
      witness_name,
      NoteKeyId(witness_name, kNoteTypeCosignatureV1, key.public_key()),
      absl::StrCat(BigEndian(time, kTimestampSize),
                   key.Sign(CosignatureMessage(text, time))));
}

absl::StatusOr<uint64_t> VerifyCosignature(const ParsedNote& note,
                                           absl::string_view witness_name,
                                           const PublicKey& key) {
  const uint32_t id = NoteKeyId(witness_name, kNoteTypeCosignatureV1, key);
  const std::string label = KeyLabel(witness_name, id);
  bool found = false;
  uint64_t latest = 0;
  for (const NoteSignature& sig : note.signatures) {
    if (sig.name != witness_name || sig.key_id != id) continue;
    if (sig.signature.size() != kTimestampSize + kEd25519SignatureSize) {
      return absl::InvalidArgumentError(
          absl::StrCat("cosignature by ", label, " is ", sig.signature.size(),
                       " bytes, want 72"));
    }
    const uint64_t time =
        ReadBigEndian(absl::string_view(sig.signature).substr(0, 8));
    if (time >= (uint64_t{1} << 63)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "cosignature by ", label, " has timestamp ", time, " >= 2^63"));
    }
    if (!key.Verify(CosignatureMessage(note.text, time),
                    absl::string_view(sig.signature).substr(kTimestampSize))) {
      return absl::UnauthenticatedError(
          absl::StrCat("cosignature by ", label, " does not verify"));
    }
    if (!found || time > latest) latest = time;
    found = true;
  }
  if (!found) {
    return absl::UnauthenticatedError(
        absl::StrCat("no cosignature by ", label));
  }
  return latest;
}

}  // namespace watchfloor::certs
