#!/usr/bin/env bash
# Mints and starts an N-member federation on loopback, one node per member:
# member keys, member CAs, node keys and certificates, a client certificate
# per member, a roster signed by a majority of members, node configs; then
# starts every node. For experiments and the quickstart.
#
#   deploy/local-federation.sh [--members N] [--dir DIR] [--base-port P] [--mint-only]
#
# Members are member1.example ... memberN.example, each with node n1 listening
# on 127.0.0.1:(P+i). Node logs go to DIR/<member>/node.log; PIDs to
# DIR/pids. Stop them with: kill $(cat DIR/pids)
set -euo pipefail

N=3
DIR=""
BASE_PORT=7500
MINT_ONLY=0
WF=${WATCHFLOOR:-watchfloor}
while [ $# -gt 0 ]; do
  case "$1" in
    --members) N=$2; shift 2 ;;
    --dir) DIR=$2; shift 2 ;;
    --base-port) BASE_PORT=$2; shift 2 ;;
    --mint-only) MINT_ONLY=1; shift ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "error: unknown argument '$1'; see $0 --help" >&2; exit 2 ;;
  esac
done
if ! [[ "$N" =~ ^[0-9]+$ ]] || [ "$N" -lt 1 ]; then
  echo "error: --members must be a positive integer, got '$N'" >&2; exit 2
fi
if ! command -v "$WF" >/dev/null; then
  echo "error: '$WF' not found; build it (scripts/setup.sh) and put build/node/cli on PATH, or set WATCHFLOOR" >&2
  exit 2
fi
[ -n "$DIR" ] || DIR=$(mktemp -d /tmp/watchfloor-federation.XXXXXX)
mkdir -p "$DIR"
cd "$DIR"
THRESHOLD=$(( N / 2 + 1 ))

{
  echo "federation: \"local\""
  echo "version: 1"
  echo "threshold: $THRESHOLD"
} > roster.spec

for i in $(seq 1 "$N"); do
  m="member$i.example"
  port=$((BASE_PORT + i))
  mkdir -p "$m"
  "$WF" roster keygen --member "$m" --out "$m/member" >/dev/null
  "$WF" certs ca --member "$m" --out "$m/ca" >/dev/null
  "$WF" keygen --origin "$m/n1" --out "$m/n1" >/dev/null
  "$WF" certs node --ca-dir "$m/ca" --origin "$m/n1" --out "$m/n1/tls" >/dev/null
  "$WF" certs client --ca-dir "$m/ca" --member "$m" --name operator --out "$m/client" >/dev/null
  cat >> roster.spec <<SPEC
members {
  name: "$m"
  member_key_pem: "@$m/member/member.pub"
  ca_cert_pem: "@$m/ca/ca.crt"
  nodes { origin: "$m/n1" signing_key_pem: "@$m/n1/signing.pub"
          encryption_key_pem: "@$m/n1/encryption.pub" endpoints: "127.0.0.1:$port" }
}
SPEC
  cat > "$m/node.conf" <<CONF
origin: "$m/n1"
listen_address: "127.0.0.1:$port"
data_dir: "data"
signing_key_file: "n1/signing.key"
encryption_key_file: "n1/encryption.key"
tls { cert_file: "n1/tls/node.crt" key_file: "n1/tls/node.key" }
federation {
  roster_file: "../roster.json"
  anti_entropy_interval_ms: 1000
}
CONF
done

"$WF" roster draft --spec roster.spec --out roster.json >/dev/null
for i in $(seq 1 "$THRESHOLD"); do
  "$WF" roster sign --in roster.json --key "member$i.example/member/member.key" --out roster.json >/dev/null
done
echo "minted $N members in $DIR (roster $THRESHOLD-of-$N, signed by member1..member$THRESHOLD)"

if [ "$MINT_ONLY" = 1 ]; then exit 0; fi
: > pids
for i in $(seq 1 "$N"); do
  m="member$i.example"
  (cd "$m" && exec "$WF" node --config node.conf > node.log 2>&1) &
  echo $! >> pids
done
for i in $(seq 1 "$N"); do
  m="member$i.example"
  for _ in $(seq 1 100); do
    grep -q "listening on" "$m/node.log" 2>/dev/null && break
    sleep 0.1
  done
  if ! grep -q "listening on" "$m/node.log"; then
    echo "error: node $m/n1 did not start; its log:" >&2; cat "$m/node.log" >&2; exit 1
  fi
  echo "node $m/n1 on 127.0.0.1:$((BASE_PORT + i))"
done
echo "stop them with: kill \$(cat $DIR/pids)"
