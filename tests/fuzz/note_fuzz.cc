// Fuzzes C2SP signed notes, checkpoints and cosignatures (certs/note.h), as
// a node reads a peer's checkpoint and `watchfloor audit` reads a bundle's.
// The input is a note; its signatures are checked against the worked
// example's log and witness keys (tests/testdata/note/worked-example), and
// each of its lines is also tried as a verifier key and as a log origin.
//
// Invariants: ParseNote and FormatNote are inverses on every note ParseNote
// accepts; so are ParseCheckpoint and FormatCheckpoint; LogOrigin inverts
// FeedOriginFromLogOrigin; OpenCheckpoint succeeds only if ParseNote,
// VerifyNoteSignature and ParseCheckpoint do; errors use the documented
// codes.
#include <cstddef>
#include <cstdint>

#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "certs/note.h"
#include "tests/fuzz/fuzz_util.h"

namespace watchfloor::fuzz {
namespace {

const certs::VerifierKey& Vkey(const char* file) {
  auto k = certs::ParseNoteVerifierKey(
      absl::StripTrailingAsciiWhitespace(SourceFile(file)));
  WF_FUZZ_CHECK(k.ok(), k.status().ToString());
  return *new certs::VerifierKey(*std::move(k));
}
const certs::VerifierKey& LogKey() {
  static const certs::VerifierKey& k = Vkey("tests/testdata/note/worked-example/log-vkey.txt");
  return k;
}
const certs::VerifierKey& WitnessKey() {
  static const certs::VerifierKey& k =
      Vkey("tests/testdata/note/worked-example/witness-vkey.txt");
  return k;
}

void CheckCode(const absl::Status& s) {
  WF_FUZZ_CHECK(s.ok() || s.code() == absl::StatusCode::kInvalidArgument ||
                    s.code() == absl::StatusCode::kUnauthenticated,
                s.ToString());
}

void OneNote(absl::string_view input) {
  absl::StatusOr<certs::ParsedNote> note = certs::ParseNote(input);
  CheckCode(note.status());
  absl::StatusOr<certs::Checkpoint> opened =
      certs::OpenCheckpoint(input, LogKey().name, LogKey().key);
  CheckCode(opened.status());
  if (!note.ok()) {
    WF_FUZZ_CHECK(!opened.ok(), "OpenCheckpoint accepted what ParseNote refuses");
    return;
  }
  WF_FUZZ_CHECK(certs::FormatNote(*note) == input, "FormatNote(ParseNote(x)) != x");
  WF_FUZZ_CHECK(certs::ValidateNoteText(note->text).ok(), note->text);
  const absl::Status sig = certs::VerifyNoteSignature(*note, LogKey().name, LogKey().key);
  CheckCode(sig);
  absl::StatusOr<uint64_t> cosigned =
      certs::VerifyCosignature(*note, WitnessKey().name, WitnessKey().key);
  CheckCode(cosigned.status());
  absl::StatusOr<certs::Checkpoint> cp = certs::ParseCheckpoint(note->text);
  CheckCode(cp.status());
  if (cp.ok()) {
    WF_FUZZ_CHECK(certs::FormatCheckpoint(*cp) == note->text,
                  "FormatCheckpoint(ParseCheckpoint(x)) != x for " + note->text);
  }
  if (opened.ok()) {
    WF_FUZZ_CHECK(sig.ok() && cp.ok() && *cp == *opened, "OpenCheckpoint");
    WF_FUZZ_CHECK(opened->origin == LogKey().name, opened->origin);
  }
}

void OneLine(absl::string_view line) {
  absl::StatusOr<certs::VerifierKey> vkey = certs::ParseNoteVerifierKey(line);
  CheckCode(vkey.status());
  if (vkey.ok()) {
    WF_FUZZ_CHECK(certs::ValidateKeyName(vkey->name).ok(), vkey->name);
    WF_FUZZ_CHECK(certs::NoteKeyId(vkey->name, vkey->type, vkey->key) == vkey->key_id,
                  std::string(line));
  }
  absl::StatusOr<std::string> feed = certs::FeedOriginFromLogOrigin(line);
  CheckCode(feed.status());
  if (feed.ok()) WF_FUZZ_CHECK(certs::LogOrigin(*feed) == line, std::string(line));
}

}  // namespace
}  // namespace watchfloor::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  (void)watchfloor::fuzz::LogKey();
  (void)watchfloor::fuzz::WitnessKey();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input = watchfloor::fuzz::AsView(data, size);
  watchfloor::fuzz::OneNote(input);
  for (absl::string_view line : absl::StrSplit(input, '\n')) {
    watchfloor::fuzz::OneLine(line);
  }
  return 0;
}
