#!/usr/bin/env bash
# The main job: installs what is missing, builds watchfloor, starts a node on
# loopback with a fresh key and a temporary data directory, publishes sample
# alerts, streams them back, verifies their signatures offline, and says what
# it does at each step.
#
#   scripts/quickstart.sh           run the demo, then stop the node
#   scripts/quickstart.sh --stay    keep the node running until Ctrl-C
#   scripts/quickstart.sh --keep    keep the temporary directory afterwards
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

STAY=0
KEEP=0
for arg in "$@"; do
  case "$arg" in
    --stay) STAY=1 ;;
    --keep) KEEP=1 ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "error: unknown argument '$arg'; see scripts/quickstart.sh --help" >&2; exit 2 ;;
  esac
done

if [ -t 1 ]; then BOLD=$'\033[1m'; PLAIN=$'\033[0m'; else BOLD=""; PLAIN=""; fi
step() { printf '\n%s==> %s%s\n' "$BOLD" "$*" "$PLAIN"; }
run() { printf '$'; printf ' %q' "$@"; printf '\n'; "$@"; }

step "1/7 installing what is missing and building (scripts/setup.sh)"
WF_BUILD_TARGET=watchfloor scripts/setup.sh
export PATH="$ROOT/build/node/cli:$PATH"
WF=watchfloor

WORK=$(mktemp -d /tmp/watchfloor-quickstart.XXXXXX)
NODE_PID=""
cleanup() {
  if [ -n "$NODE_PID" ] && kill -0 "$NODE_PID" 2>/dev/null; then
    kill -TERM "$NODE_PID" 2>/dev/null || true
    wait "$NODE_PID" 2>/dev/null || true
  fi
  if [ "$KEEP" = 1 ]; then
    echo "kept $WORK (node log: $WORK/node.log)"
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
cd "$WORK"

step "2/7 generating an Ed25519 signing key for origin example.cz/prg1"
run "$WF" keygen --origin example.cz/prg1 --out keys

step "3/7 writing a node config (plaintext is allowed only on loopback)"
cat > node.conf <<CONF
origin: "example.cz/prg1"
listen_address: "127.0.0.1:0"
data_dir: "data"
signing_key_file: "keys/signing.key"
insecure_plaintext_loopback: true
CONF
cat node.conf

step "4/7 starting the node (data in $WORK/data)"
"$WF" node --config node.conf > node.log 2>&1 &
NODE_PID=$!
ADDR=""
for _ in $(seq 1 100); do
  ADDR=$(sed -n 's/.* listening on \([^ ]*\) .*/\1/p' node.log | head -n1)
  [ -n "$ADDR" ] && break
  if ! kill -0 "$NODE_PID" 2>/dev/null; then
    echo "error: the node exited; its log:" >&2; cat node.log >&2; exit 1
  fi
  sleep 0.1
done
if [ -z "$ADDR" ]; then echo "error: the node did not start; log:" >&2; cat node.log >&2; exit 1; fi
cat node.log
run "$WF" identity --node "$ADDR"

step "5/7 publishing three sample alerts; each is acknowledged only once durable"
run "$WF" publish --node "$ADDR" --severity high --category dns.hijack --tlp green \
  --title "NS records of example.cz changed to an unknown provider" \
  --domain example.cz --prefix 192.0.2.0/24 --asn 64500 --label incident=INC-1
cat > ddos.json <<'JSON'
{"severity": "critical", "category": "dns.ddos", "tlp": "amber",
 "title": "Random-subdomain flood against .cz authoritative servers",
 "description": "About 2 Mqps of NXDOMAIN queries from a botnet since 09:40 UTC.",
 "domains": ["cz"], "ip_prefixes": ["2001:db8::/32", "198.51.100.0/24"],
 "asns": [64501, 64502], "labels": {"incident": "INC-2"}}
JSON
run "$WF" publish --node "$ADDR" --json ddos.json
FIRST=$("$WF" subscribe --node "$ADDR" --replay-only --output json --count 1 | sed 's/.*"id":"\([0-9a-f]*\)".*/\1/')
run "$WF" publish --node "$ADDR" --severity medium --category dns.hijack --tlp green \
  --title "example.cz NS records restored" --domain example.cz --updates "$FIRST"

step "6/7 streaming them back from the node (history, then it would follow live)"
run "$WF" subscribe --node "$ADDR" --replay-only

step "7/7 verifying every envelope offline against the node's public key"
"$WF" subscribe --node "$ADDR" --replay-only --output dsse > alerts.dsse.jsonl
printf '$ watchfloor verify --pubkey keys/signing.pub < alerts.dsse.jsonl\n'
"$WF" verify --pubkey keys/signing.pub < alerts.dsse.jsonl
echo
echo "An auditor can check the same envelopes with openssl alone: see docs/PROTOCOL.md."

if [ "$STAY" = 1 ]; then
  step "the node keeps running at $ADDR; press Ctrl-C to stop it"
  echo "try: $ROOT/build/node/cli/watchfloor subscribe --node $ADDR     (in another terminal)"
  wait "$NODE_PID" || true
else
  step "done: stopping the node (run with --stay to keep it running)"
fi
