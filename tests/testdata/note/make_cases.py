#!/usr/bin/env python3
"""Writes worked-example/ and tamper/ of this folder, which note_test reads.

An independent implementation of c2sp.org/signed-note, tlog-checkpoint and
tlog-cosignature (cosignature/v1) in Python with the `cryptography` package
(Debian: python3-cryptography), so the C++ code is checked against it.

Keys (Ed25519, from fixed seeds; never use them for anything real):
  log      seed 00 01 .. 1f  (the key of docs/PROTOCOL.md's worked example)
  witness  seed 20 21 .. 3f
  mallory  seed 40 41 .. 5f  (a key that is in no roster)

A tamper case is "key: value" header lines, then a line "note:", then the
note text verbatim to the end of the file. Headers: check (checkpoint:
OpenCheckpoint with key-name and public-key; cosignature: ParseNote then
VerifyCosignature), key-name, public-key (hex), expect-code (absl code name
or OK), expect-message (exact; empty for OK), expect-time (cosignature OK).
Run from anywhere: python3 make_cases.py
"""
import base64
import hashlib
import os
import struct

from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey)
from cryptography.hazmat.primitives.serialization import (
    Encoding, PublicFormat)

HERE = os.path.dirname(os.path.abspath(__file__))
DASH = "\u2014"


class Key:
    def __init__(self, seed):
        self.seed = seed
        self.sk = Ed25519PrivateKey.from_private_bytes(seed)
        self.pub = self.sk.public_key().public_bytes(Encoding.Raw,
                                                     PublicFormat.Raw)

    def sign(self, msg):
        return self.sk.sign(msg)


LOG = Key(bytes(range(0x00, 0x20)))
WITNESS = Key(bytes(range(0x20, 0x40)))
MALLORY = Key(bytes(range(0x40, 0x60)))
LOG_NAME = "watchfloor/example.cz/prg1"
WITNESS_NAME = "watchfloor/example.org/ams1"
# The alert id of docs/PROTOCOL.md's worked example: the feed
# example.cz/prg1 holds that one alert, so its tree of size 1 has it as root.
ALERT_ID = bytes.fromhex(
    "d026304edae9a5a0688943ce659762a97fa6f404fa41cf24786073393164b80f")
TIME = 1767225660  # 2026-01-01T00:01:00Z


def key_id(name, typ, pub):
    return hashlib.sha256(name.encode() + b"\n" + bytes([typ]) + pub).digest()[:4]


def vkey(name, typ, pub):
    return "%s+%s+%s" % (name, key_id(name, typ, pub).hex(),
                         base64.b64encode(bytes([typ]) + pub).decode())


def label(name, typ, pub):
    return "%s+%s" % (name, key_id(name, typ, pub).hex())


def sig_line(name, blob):
    return "%s %s %s\n" % (DASH, name, base64.b64encode(blob).decode())


def note_sig(text, name, key, kid=None):
    kid = kid if kid is not None else key_id(name, 1, key.pub)
    return sig_line(name, kid + key.sign(text.encode()))


def cosig_message(text, t):
    return "cosignature/v1\ntime %d\n%s" % (t, text)


def cosig(text, name, key, t, sign_time=None):
    sign_time = t if sign_time is None else sign_time
    return sig_line(name, key_id(name, 4, key.pub) + struct.pack(">Q", t) +
                    key.sign(cosig_message(text, sign_time).encode()))


def checkpoint(origin, size, root, size_text=None):
    return "%s\n%s\n%s\n" % (origin, size_text or str(size),
                             base64.b64encode(root).decode())


def flip_in_line(line, byte, bit):
    """Flips one bit of the decoded blob of a signature line."""
    head, b64 = line.rstrip("\n").rsplit(" ", 1)
    blob = bytearray(base64.b64decode(b64))
    blob[byte] ^= 1 << bit
    return "%s %s\n" % (head, base64.b64encode(bytes(blob)).decode())


def write(path, content):
    with open(os.path.join(HERE, path), "w", encoding="utf-8",
              newline="") as f:
        f.write(content)


# ------------------------------------------------------------ worked example
BODY = checkpoint(LOG_NAME, 1, ALERT_ID)
LOG_LINE = note_sig(BODY, LOG_NAME, LOG)
NOTE = BODY + "\n" + LOG_LINE
COSIG_LINE = cosig(BODY, WITNESS_NAME, WITNESS, TIME)
COSIGNED = NOTE + COSIG_LINE

W = "worked-example/"
write(W + "log-seed.hex", LOG.seed.hex() + "\n")
write(W + "witness-seed.hex", WITNESS.seed.hex() + "\n")
write(W + "log-vkey.txt", vkey(LOG_NAME, 1, LOG.pub) + "\n")
write(W + "witness-vkey.txt", vkey(WITNESS_NAME, 4, WITNESS.pub) + "\n")
write(W + "checkpoint.txt", BODY)
write(W + "checkpoint.note", NOTE)
write(W + "cosignature-message.txt", cosig_message(BODY, TIME))
write(W + "cosigned.note", COSIGNED)

# ------------------------------------------------------------- tamper cases
LOG_HEX, WIT_HEX = LOG.pub.hex(), WITNESS.pub.hex()
LOG_LABEL = label(LOG_NAME, 1, LOG.pub)
WIT_LABEL = label(WITNESS_NAME, 4, WITNESS.pub)


def case(name, comment, check, key_name, pub_hex, code, message, note,
         time=None):
    head = ["# " + c for c in comment.split("\n")]
    head += ["check: " + check, "key-name: " + key_name,
             "public-key: " + pub_hex, "expect-code: " + code,
             "expect-message: " + message]
    if time is not None:
        head.append("expect-time: %d" % time)
    write("tamper/" + name + ".txt", "\n".join(head) + "\nnote:\n" + note)


def log_case(name, comment, code, message, note):
    case(name, comment, "checkpoint", LOG_NAME, LOG_HEX, code, message, note)


def wit_case(name, comment, code, message, note, time=None):
    case(name, comment, "cosignature", WITNESS_NAME, WIT_HEX, code, message,
         note, time)


log_case("good-checkpoint", "The worked example's signed checkpoint.",
         "OK", "", NOTE)
wit_case("good-cosignature", "The worked example's cosigned checkpoint.",
         "OK", "", COSIGNED, TIME)
log_case("unknown-signatures-ignored",
         "Lines by keys the verifier does not know are skipped.",
         "OK", "", NOTE + note_sig(BODY, "example.com/other", MALLORY) +
         COSIG_LINE)
log_case("flipped-signature-bit",
         "Bit 0 of byte 10 of the log's Ed25519 signature flipped.",
         "UNAUTHENTICATED", "signature by %s does not verify" % LOG_LABEL,
         BODY + "\n" + flip_in_line(LOG_LINE, 4 + 10, 0))
log_case("flipped-body-bit",
         "Bit 1 of the tree size digit flipped: \"1\" (0x31) became \"3\".",
         "UNAUTHENTICATED", "signature by %s does not verify" % LOG_LABEL,
         NOTE.replace("\n1\n", "\n3\n", 1))
case("wrong-key",
     "A valid checkpoint, checked against the witness's public key under\n"
     "the log's name: no line has that key's key id.",
     "checkpoint", LOG_NAME, WIT_HEX, "UNAUTHENTICATED",
     "no signature by %s" % label(LOG_NAME, 1, WITNESS.pub), NOTE)
log_case("non-member-key",
         "Mallory, who is in no roster, signs a checkpoint under the log's\n"
         "name with its own key (so its own key id).",
         "UNAUTHENTICATED", "no signature by %s" % LOG_LABEL,
         BODY + "\n" + note_sig(BODY, LOG_NAME, MALLORY))
log_case("non-member-key-with-forged-key-id",
         "As non-member-key, but the line carries the log key's key id.",
         "UNAUTHENTICATED", "signature by %s does not verify" % LOG_LABEL,
         BODY + "\n" + note_sig(BODY, LOG_NAME, MALLORY,
                                key_id(LOG_NAME, 1, LOG.pub)))
log_case("checkpoint-for-other-origin",
         "The log's key signs a checkpoint whose origin is another log.",
         "UNAUTHENTICATED",
         "checkpoint origin %s is not %s" % (WITNESS_NAME, LOG_NAME),
         (lambda b: b + "\n" + note_sig(b, LOG_NAME, LOG))(
             checkpoint(WITNESS_NAME, 1, ALERT_ID)))
log_case("size-with-leading-zero",
         "A validly signed body whose tree size is \"01\".",
         "INVALID_ARGUMENT",
         "checkpoint tree size \"01\" is not a decimal number without "
         "leading zeros",
         (lambda b: b + "\n" + note_sig(b, LOG_NAME, LOG))(
             checkpoint(LOG_NAME, 1, ALERT_ID, "01")))
log_case("root-hash-31-bytes",
         "A validly signed body whose root hash is 31 bytes.",
         "INVALID_ARGUMENT", "checkpoint root hash is 31 bytes, want 32",
         (lambda b: b + "\n" + note_sig(b, LOG_NAME, LOG))(
             checkpoint(LOG_NAME, 1, ALERT_ID[:31])))
log_case("no-blank-line",
         "The blank line between body and signatures is missing.",
         "INVALID_ARGUMENT", "note has no blank line before its signatures",
         BODY + LOG_LINE)
log_case("hyphens-instead-of-em-dash",
         "The signature line starts with \"-- \", not U+2014 and a space.",
         "INVALID_ARGUMENT",
         "signature line 1 does not start with an em dash (U+2014) and a "
         "space",
         BODY + "\n" + LOG_LINE.replace(DASH, "--", 1))
log_case("control-character-in-body",
         "A carriage return before the first newline of the body.",
         "INVALID_ARGUMENT", "note has control character 0x0d at byte %d"
         % len(LOG_NAME),
         NOTE.replace("\n", "\r\n", 1))
log_case("signature-63-bytes",
         "The log's line carries the right key id but 63 signature bytes.",
         "INVALID_ARGUMENT", "signature by %s is 63 bytes, want 64"
         % LOG_LABEL,
         BODY + "\n" + sig_line(LOG_NAME, key_id(LOG_NAME, 1, LOG.pub) +
                                LOG.sign(BODY.encode())[:63]))
wit_case("forged-cosignature",
         "Mallory writes a cosignature line with the witness's name, key id\n"
         "and a valid layout, signed with Mallory's key.",
         "UNAUTHENTICATED", "cosignature by %s does not verify" % WIT_LABEL,
         NOTE + sig_line(WITNESS_NAME, key_id(WITNESS_NAME, 4, WITNESS.pub) +
                         struct.pack(">Q", TIME) +
                         MALLORY.sign(cosig_message(BODY, TIME).encode())))
wit_case("cosignature-over-different-body",
         "The witness's genuine cosignature of another checkpoint of the same\n"
         "log (size 2) appended to this one.",
         "UNAUTHENTICATED", "cosignature by %s does not verify" % WIT_LABEL,
         NOTE + cosig(checkpoint(LOG_NAME, 2, hashlib.sha256(b"x").digest()),
                      WITNESS_NAME, WITNESS, TIME))
wit_case("cosignature-timestamp-changed",
         "The 8-byte timestamp says one second later than what was signed.",
         "UNAUTHENTICATED", "cosignature by %s does not verify" % WIT_LABEL,
         NOTE + cosig(BODY, WITNESS_NAME, WITNESS, TIME + 1, TIME))
wit_case("note-signature-as-cosignature",
         "The witness signed the body as a plain note (type 0x01 key id),\n"
         "which is no cosignature/v1.",
         "UNAUTHENTICATED", "no cosignature by %s" % WIT_LABEL,
         NOTE + note_sig(BODY, WITNESS_NAME, WITNESS))
wit_case("truncated-cosignature",
         "The cosignature line lost its last signature byte.",
         "INVALID_ARGUMENT", "cosignature by %s is 71 bytes, want 72"
         % WIT_LABEL,
         NOTE + (lambda l: (lambda h, b: "%s %s\n" % (h, base64.b64encode(
             base64.b64decode(b)[:-1]).decode()))(*l.rstrip("\n").rsplit(
                 " ", 1)))(COSIG_LINE))
