#!/bin/bash
# Regenerates the DSSE lines in this folder from scratch, with protoc and
# openssl only (no watchfloor code), signed by the protocol test vector key
# (tests/testdata/protocol_vector/private.pem). Ed25519 is deterministic and
# every field is fixed, so a rerun reproduces the same bytes.
#
#   good.dsse                 alerts #1..#3 of example.cz/prg1, a valid feed
#   tamper/<case>@<CODE>.dsse one bad envelope each; `watchfloor verify`
#                             must print "FAIL <CODE>: ..." for it
#
# Usage: tests/testdata/cli/make_dsse_cases.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../../.." && pwd)
key=$root/tests/testdata/protocol_vector/private.pem
type=application/vnd.watchfloor.alert.v1+protobuf
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

keyid=$(openssl pkey -in "$key" -pubout -outform DER | sha256sum | cut -d' ' -f1)

# alert SEQ PREVIOUS > binary watchfloor.v1.Alert
alert() {
  {
    echo 'origin: "example.cz/prg1"'
    echo "sequence: $1"
    [ -n "$2" ] && echo "previous: \"$2\""
    echo "issued_at { seconds: $((1798761600 + 60 * $1)) }"
    echo 'severity: SEVERITY_HIGH category: "dns.hijack" tlp: TLP_GREEN'
    echo "title: \"NS records of example.cz changed #$1\""
    echo 'domains: "example.cz" ip_prefixes: "192.0.2.0/24" asns: 64500'
  } | protoc -I"$root/proto" -I/usr/include --encode=watchfloor.v1.Alert \
      "$root/proto/watchfloor/v1/alert.proto"
}

# sign PAYLOAD_FILE TYPE > base64 Ed25519 signature over PAE(TYPE, payload)
sign() {
  { printf 'DSSEv1 %d %s %d ' "${#2}" "$2" "$(stat -c %s "$1")"; cat "$1"; } > "$tmp/pae"
  openssl pkeyutl -sign -inkey "$key" -rawin -in "$tmp/pae" | base64 -w0
}

# envelope PAYLOAD_B64 TYPE KEYID SIG_B64 > one DSSE JSON line
envelope() {
  printf '{"payload":"%s","payloadType":"%s","signatures":[{"keyid":"%s","sig":"%s"}]}\n' \
    "$1" "$2" "$3" "$4"
}

# signed PAYLOAD_FILE [TYPE] > a correctly signed DSSE line
signed() {
  local t=${2:-$type}
  envelope "$(base64 -w0 < "$1")" "$t" "$keyid" "$(sign "$1" "$t")"
}

alert_id() { { printf '\0'; cat "$1"; } | sha256sum | cut -d' ' -f1; }

# flip S I: S with the base64 character at index I replaced by another one
flip() {
  local c=${1:$2:1} r=A
  [ "$c" = A ] && r=B
  printf '%s' "${1:0:$2}$r${1:$(($2 + 1))}"
}

prev=""
: > "$here/good.dsse"
for seq in 1 2 3; do
  alert "$seq" "$prev" > "$tmp/a$seq"
  signed "$tmp/a$seq" >> "$here/good.dsse"
  prev=$(alert_id "$tmp/a$seq")
done

# The tamper cases start from alert #2.
p2=$(base64 -w0 < "$tmp/a2")
s2=$(sign "$tmp/a2" "$type")
out=$here/tamper
rm -f "$out"/*.dsse
mkdir -p "$out"
envelope "$(flip "$p2" 20)" "$type" "$keyid" "$s2" > "$out/payload-char-flipped@UNAUTHENTICATED.dsse"
envelope "$p2" "$type" "$keyid" "$(flip "$s2" 10)" > "$out/sig-char-flipped@UNAUTHENTICATED.dsse"
envelope "$p2" "$type" "$(printf '0%.0s' {1..64})" "$s2" > "$out/keyid-of-another-key@UNAUTHENTICATED.dsse"
printf '{"payload":"%s","payloadType":"%s","signatures":[]}\n' "$p2" "$type" \
  > "$out/no-signatures@UNAUTHENTICATED.dsse"
signed "$tmp/a2" "application/json" > "$out/other-payload-type-validly-signed@INVALID_ARGUMENT.dsse"
envelope "$p2" "$type" "$keyid" "$(printf '%s' "$s2" | base64 -d | head -c 63 | base64 -w0)" \
  > "$out/sig-63-bytes@INVALID_ARGUMENT.dsse"
printf '{"payload":"%s","payload_type":"%s","signatures":[{"keyid":"%s","sig":"%s"}]}\n' \
  "$p2" "$type" "$keyid" "$s2" > "$out/proto-field-name-payload_type@INVALID_ARGUMENT.dsse"
printf '%s\n' "${p2}" > "$out/not-json@INVALID_ARGUMENT.dsse"
printf '\377\377\377\377' > "$tmp/garbage"
signed "$tmp/garbage" > "$out/signed-payload-not-an-alert@INVALID_ARGUMENT.dsse"
alert 0 "" > "$tmp/a0"
signed "$tmp/a0" > "$out/signed-alert-sequence-0@INVALID_ARGUMENT.dsse"
echo "wrote $here/good.dsse and $(ls "$out" | wc -l) tamper cases"
