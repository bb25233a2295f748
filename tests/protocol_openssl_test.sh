#!/usr/bin/env bash
# Verifies the worked protocol test vector (tests/testdata/protocol_vector)
# with standard tools only: openssl, base64, od, sha256sum, python3 (for JSON).
# These are the auditor's commands from docs/PROTOCOL.md; no watchfloor code
# runs here, so this proves the format is checkable without our code.
#
# usage: protocol_openssl_test.sh <project source dir>
set -euo pipefail

src=${1:?usage: $0 <project source dir>}
vec="$src/tests/testdata/protocol_vector"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

fail() {
  echo "FAIL: $*" >&2
  exit 1
}
pass() { echo "ok: $*"; }
hex() { od -An -v -tx1 "$1" | tr -d ' \n'; }
firstline() { head -n1 "$1" | tr -d '\r\n'; }

[[ -d $vec ]] || fail "no test vector at $vec"
command -v openssl >/dev/null || fail "openssl not found"

# 1. Take the envelope apart (one JSON object; python3 only parses JSON).
field() {
  python3 -c '
import json, sys
env = json.load(open(sys.argv[1]))
assert set(env) == {"payload", "payloadType", "signatures"}, sorted(env)
assert len(env["signatures"]) == 1, "expected exactly one signature"
sig = env["signatures"][0]
print({"payload": env["payload"], "payloadType": env["payloadType"],
       "keyid": sig["keyid"], "sig": sig["sig"]}[sys.argv[2]])
' "$vec/envelope.json" "$1"
}
payload_type=$(field payloadType) || fail "envelope.json is not DSSE JSON"
keyid=$(field keyid)
field payload | base64 -d >"$work/payload.bin" ||
  fail "payload is not standard base64"
field sig | base64 -d >"$work/sig.bin" || fail "sig is not standard base64"

[[ $payload_type == "application/vnd.watchfloor.alert.v1+protobuf" ]] ||
  fail "payloadType is '$payload_type'"
cmp -s "$work/payload.bin" "$vec/payload.bin" ||
  fail "envelope payload differs from payload.bin"
[[ $(hex "$work/sig.bin") == "$(firstline "$vec/sig.hex")" ]] ||
  fail "envelope sig differs from sig.hex"
[[ $(stat -c %s "$work/sig.bin") == 64 ]] || fail "signature is not 64 bytes"
pass "envelope.json decodes to payload.bin and sig.hex"

# 2. Rebuild PAE(payloadType, payload) =
#    "DSSEv1" SP LEN(type) SP type SP LEN(payload) SP payload.
pae() { # pae <payload file> <out file>
  printf 'DSSEv1 %d %s %d ' "${#payload_type}" "$payload_type" \
    "$(stat -c %s "$1")" >"$2"
  cat "$1" >>"$2"
}
pae "$work/payload.bin" "$work/pae.bin"
[[ $(hex "$work/pae.bin") == "$(firstline "$vec/pae.hex")" ]] ||
  fail "rebuilt PAE differs from pae.hex"
pass "PAE rebuilt with printf matches pae.hex"

# 3. The Ed25519 signature verifies over PAE with the origin's public key.
openssl pkeyutl -verify -pubin -inkey "$vec/public.pem" -rawin \
  -in "$work/pae.bin" -sigfile "$work/sig.bin" >"$work/verify.out" 2>&1 ||
  fail "openssl pkeyutl -verify rejected the signature: $(cat "$work/verify.out")"
pass "openssl verifies the signature: $(cat "$work/verify.out")"

# 4. keyid = SHA-256 of the DER SubjectPublicKeyInfo.
der_keyid=$(openssl pkey -pubin -in "$vec/public.pem" -outform DER |
  sha256sum | cut -d' ' -f1)
[[ $der_keyid == "$keyid" ]] ||
  fail "keyid in envelope is $keyid, sha256 of the DER SPKI is $der_keyid"
[[ $der_keyid == "$(firstline "$vec/keyid.txt")" ]] ||
  fail "keyid.txt differs from sha256 of the DER SPKI ($der_keyid)"
pass "keyid is sha256(DER SPKI) = $keyid"

# 5. Alert id = SHA-256(0x00 || payload).
id=$( (printf '\000'; cat "$work/payload.bin") | sha256sum | cut -d' ' -f1)
[[ $id == "$(firstline "$vec/id.txt")" ]] ||
  fail "sha256(0x00 || payload) is $id, id.txt says $(firstline "$vec/id.txt")"
pass "alert id is sha256(0x00 || payload) = $id"

# 6. A single flipped payload bit must break verification.
cp "$work/payload.bin" "$work/tampered.bin"
# Byte 45 is the title's first letter "N" (0x4e); 0x4f ("O") flips one bit.
[[ $(od -An -v -tx1 -j 45 -N1 "$work/payload.bin" | tr -d ' ') == 4e ]] ||
  fail "payload byte 45 is not the title's 'N'"
printf '\x4f' | dd of="$work/tampered.bin" bs=1 seek=45 conv=notrunc status=none
cmp -s "$work/payload.bin" "$work/tampered.bin" && fail "tampering had no effect"
pae "$work/tampered.bin" "$work/tampered_pae.bin"
if openssl pkeyutl -verify -pubin -inkey "$vec/public.pem" -rawin \
  -in "$work/tampered_pae.bin" -sigfile "$work/sig.bin" >/dev/null 2>&1; then
  fail "openssl accepted the signature over a tampered payload"
fi
pass "a flipped payload bit fails verification"

# 7. The private key is PKCS#8 that openssl reads, and it is the same key:
#    its public half is public.pem and, Ed25519 being deterministic, it signs
#    PAE to exactly sig.hex.
openssl pkey -in "$vec/private.pem" -noout ||
  fail "openssl pkey cannot read private.pem"
head -n1 "$vec/private.pem" | grep -qx -- '-----BEGIN PRIVATE KEY-----' ||
  fail "private.pem is not PKCS#8 (BEGIN PRIVATE KEY)"
openssl pkey -in "$vec/private.pem" -pubout | cmp -s - "$vec/public.pem" ||
  fail "the public half of private.pem is not public.pem"
openssl pkeyutl -sign -inkey "$vec/private.pem" -rawin -in "$work/pae.bin" \
  -out "$work/resigned.bin" || fail "openssl pkeyutl -sign failed"
cmp -s "$work/resigned.bin" "$work/sig.bin" ||
  fail "openssl's signature with private.pem differs from sig.hex"
# The seed is the last 32 bytes of the 48-byte PKCS#8 DER.
seed=$(openssl pkey -in "$vec/private.pem" -outform DER | tail -c 32 |
  od -An -v -tx1 | tr -d ' \n')
[[ $seed == "$(firstline "$vec/seed.hex")" ]] ||
  fail "private.pem holds seed $seed, seed.hex differs"
pass "private.pem is PKCS#8 of seed.hex and signs PAE to sig.hex"

# 8. The reaction vector (docs/PROTOCOL.md section 19): the same commands,
#    the same key. A reaction is an alert like any other.
rvec="$src/tests/testdata/reaction_vector"
[[ -d $rvec ]] || fail "no reaction vector at $rvec"
payload_type=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["payloadType"])' "$rvec/envelope.json")
python3 -c 'import json,sys,base64; e=json.load(open(sys.argv[1])); sys.stdout.buffer.write(base64.b64decode(e["payload"]))' \
  "$rvec/envelope.json" >"$work/r_payload.bin"
python3 -c 'import json,sys,base64; e=json.load(open(sys.argv[1])); sys.stdout.buffer.write(base64.b64decode(e["signatures"][0]["sig"]))' \
  "$rvec/envelope.json" >"$work/r_sig.bin"
[[ $(hex "$work/r_payload.bin") == "$(firstline "$rvec/payload.hex")" ]] ||
  fail "reaction envelope payload differs from payload.hex"
[[ $(hex "$work/r_sig.bin") == "$(firstline "$rvec/sig.hex")" ]] ||
  fail "reaction envelope sig differs from sig.hex"
pae "$work/r_payload.bin" "$work/r_pae.bin"
openssl pkeyutl -verify -pubin -inkey "$vec/public.pem" -rawin \
  -in "$work/r_pae.bin" -sigfile "$work/r_sig.bin" >"$work/r_verify.out" 2>&1 ||
  fail "openssl rejected the reaction's signature: $(cat "$work/r_verify.out")"
rid=$( (printf '\000'; cat "$work/r_payload.bin") | sha256sum | cut -d' ' -f1)
[[ $rid == "$(firstline "$rvec/id.txt")" ]] ||
  fail "reaction id is $rid, id.txt says $(firstline "$rvec/id.txt")"
# Its target (inside field 30) is the worked example's id.
grep -q "$(firstline "$vec/id.txt")" "$work/r_payload.bin" ||
  fail "the reaction does not name the worked example's id"
pass "reaction vector: openssl verifies it, id $rid, target is the worked example"

# 9. The co-signed envelope (docs/PROTOCOL.md section 23): both signatures
#    cover the same PAE; the origin's with public.pem, the co-signature with
#    cosigner_public.pem, whose keyid is the entry's keyid. Same id.
cvec="$src/tests/testdata/cosign_vector"
[[ -d $cvec ]] || fail "no co-sign vector at $cvec"
field() {  # field <n> <member>: member of signatures[n] (sig base64-decoded)
  python3 -c 'import json,sys,base64
e=json.load(open(sys.argv[1])); s=e["signatures"][int(sys.argv[2])][sys.argv[3]]
sys.stdout.buffer.write(base64.b64decode(s) if sys.argv[3]=="sig" else s.encode())' "$cvec/envelope.json" "$1" "$2"
}
python3 -c 'import json,sys,base64; e=json.load(open(sys.argv[1])); sys.stdout.buffer.write(base64.b64decode(e["payload"]))' \
  "$cvec/envelope.json" >"$work/c_payload.bin"
cmp -s "$work/c_payload.bin" "$work/payload.bin" || fail "co-signed payload differs from the worked example's"
field 0 sig >"$work/c_sig0.bin"
field 1 sig >"$work/c_sig1.bin"
cmp -s "$work/c_sig0.bin" "$work/sig.bin" || fail "co-signed envelope's first signature is not the origin's"
[[ $(hex "$work/c_sig1.bin") == "$(firstline "$cvec/cosig.hex")" ]] || fail "co-signature differs from cosig.hex"
pae "$work/c_payload.bin" "$work/c_pae.bin"
openssl pkeyutl -verify -pubin -inkey "$vec/public.pem" -rawin \
  -in "$work/c_pae.bin" -sigfile "$work/c_sig0.bin" >/dev/null 2>&1 || fail "origin signature rejected"
openssl pkeyutl -verify -pubin -inkey "$cvec/cosigner_public.pem" -rawin \
  -in "$work/c_pae.bin" -sigfile "$work/c_sig1.bin" >"$work/c_verify.out" 2>&1 ||
  fail "openssl rejected the co-signature: $(cat "$work/c_verify.out")"
ckeyid=$(openssl pkey -pubin -in "$cvec/cosigner_public.pem" -outform DER | sha256sum | cut -d' ' -f1)
[[ $ckeyid == "$(field 1 keyid)" && $ckeyid == "$(firstline "$cvec/cosigner_keyid.txt")" ]] ||
  fail "co-signer keyid $ckeyid differs from the envelope's or cosigner_keyid.txt"
pass "co-sign vector: openssl verifies both signatures over one PAE, co-signer keyid $ckeyid"

echo "PASS: protocol test vector verified with openssl alone"
