#!/usr/bin/env bash
# The main job: installs what is missing, builds watchfloor, mints a
# three-member federation on loopback (member keys, CAs, node keys and
# certificates, a 2-of-3 roster), starts the three nodes, publishes sample
# alerts at one member, shows them arriving at another, verifies them
# offline, audits an export, admits a fourth member while the federation
# runs, and says what it does at each step. Then it leaves the federation
# running until Ctrl-C.
#
#   scripts/quickstart.sh                    demo, then keep running until Ctrl-C
#   scripts/quickstart.sh --exit-after-demo  stop the nodes after the demo (scripts)
#   scripts/quickstart.sh --keep             keep the temporary directory afterwards
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

STAY=1
KEEP=0
for arg in "$@"; do
  case "$arg" in
    --exit-after-demo) STAY=0 ;;
    --keep) KEEP=1 ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "error: unknown argument '$arg'; see scripts/quickstart.sh --help" >&2; exit 2 ;;
  esac
done

if [ -t 1 ]; then BOLD=$'\033[1m'; PLAIN=$'\033[0m'; else BOLD=""; PLAIN=""; fi
step() { printf '\n%s==> %s%s\n' "$BOLD" "$*" "$PLAIN"; }
run() { printf '$'; printf ' %q' "$@"; printf '\n'; "$@"; }

step "1/10 installing what is missing and building (scripts/setup.sh)"
if [ "${WF_SKIP_SETUP:-0}" = 1 ]; then
  echo "skipped (WF_SKIP_SETUP=1)"
else
  WF_BUILD_TARGET=watchfloor scripts/setup.sh
fi
export PATH="${WF_BIN_DIR:-$ROOT/build/node/cli}:$PATH"

WORK=$(mktemp -d /tmp/watchfloor-quickstart.XXXXXX)
cleanup() {
  if [ -f "$WORK/pids" ]; then
    kill -TERM $(cat "$WORK/pids") 2>/dev/null || true
    for p in $(cat "$WORK/pids"); do
      while kill -0 "$p" 2>/dev/null; do sleep 0.1; done
    done
  fi
  if [ "$KEEP" = 1 ]; then
    echo "kept $WORK (node logs: $WORK/member*/node.log)"
  else
    rm -rf "$WORK"
  fi
}
trap cleanup EXIT
trap 'echo; echo "stopping the federation"; exit 0' INT TERM

# Four free loopback ports (three nodes, and the fourth member's), consecutive
# from a random base.
BASE=$(python3 -c 'import random,socket
for _ in range(200):
    b=random.randrange(20000,60000)
    ok=True
    for p in range(b+1,b+5):
        s=socket.socket()
        try: s.bind(("127.0.0.1",p))
        except OSError: ok=False
        s.close()
    if ok: print(b); break')

step "2/10 minting a three-member federation in $WORK"
echo "Each member gets a roster-signing key, its own TLS CA, a node with an"
echo "Ed25519 alert-signing key and a node certificate, and a client certificate."
echo "A majority (2 of 3) signs the roster; there is no headquarters."
run deploy/local-federation.sh --members 3 --dir "$WORK" --base-port "$BASE" --mint-only
cd "$WORK"
run watchfloor roster verify --in roster.json

step "3/10 starting the three nodes (mutual TLS, gossip over the roster)"
: > pids
for i in 1 2 3; do
  (cd "member$i.example" && exec watchfloor node --config node.conf > node.log 2>&1) &
  echo $! >> pids
done
for i in 1 2 3; do
  for _ in $(seq 1 100); do grep -q "listening on" "member$i.example/node.log" 2>/dev/null && break; sleep 0.1; done
  if ! grep -q "listening on" "member$i.example/node.log"; then
    echo "error: node member$i.example/n1 did not start; its log:" >&2
    cat "member$i.example/node.log" >&2; exit 1
  fi
  head -n 1 "member$i.example/node.log"
done

# Client flags: each member's operator talks to its own member's node.
client() {
  local i=$1
  echo --node "127.0.0.1:$((BASE + i))" \
    --tls-cert "member$i.example/client/client.crt" \
    --tls-key "member$i.example/client/client.key" \
    --tls-ca "member$i.example/ca/ca.crt" \
    --node-origin "member$i.example/n1"
}

step "4/10 publishing three alerts at member1 (acknowledged once durable)"
run watchfloor publish $(client 1) --severity high --category dns.hijack --tlp green \
  --title "NS records of example.cz changed to an unknown provider" \
  --domain example.cz --prefix 192.0.2.0/24 --asn 64500 --label incident=INC-1
cat > ddos.json <<'JSON'
{"severity": "critical", "category": "dns.ddos", "tlp": "amber",
 "title": "Random-subdomain flood against .sk authoritative servers",
 "description": "About 2 Mqps of NXDOMAIN queries from a botnet since 09:40 UTC.",
 "domains": ["sk"], "ip_prefixes": ["2001:db8::/32", "198.51.100.0/24"],
 "asns": [64501, 64502], "labels": {"incident": "INC-2"}}
JSON
run watchfloor publish $(client 1) --json ddos.json
run watchfloor publish $(client 1) --severity low --category abuse.phishing-domain --tlp clear \
  --title "Phishing domain registered under .cz" --domain paypa1-login.cz

step "5/10 the alerts arrive at member2 by gossip"
for _ in $(seq 1 100); do
  n=$(watchfloor subscribe $(client 2) --replay-only --output json 2>/dev/null | wc -l)
  [ "$n" -ge 3 ] && break
  sleep 0.1
done
run watchfloor subscribe $(client 2) --replay-only

step "6/10 a filtered subscription at member3: zones under .cz or .sk, severity high or worse"
run watchfloor subscribe $(client 3) --replay-only --filter 'domain:cz,sk severity>=high'

step "7/10 verifying member2's copies offline against the key the roster lists for member1's node"
watchfloor subscribe $(client 2) --replay-only --output dsse > alerts.dsse.jsonl
printf '$ watchfloor verify --pubkey member1.example/n1/signing.pub --origin member1.example/n1 < alerts.dsse.jsonl\n'
watchfloor verify --pubkey member1.example/n1/signing.pub --origin member1.example/n1 < alerts.dsse.jsonl
echo "An auditor can check the same envelopes with openssl alone: see docs/PROTOCOL.md."

step "8/10 auditing: member3 exports a bundle, checked offline against the roster"
echo "Each node signs checkpoints of its feed's Merkle log; the other members check"
echo "them against their own copies and cosign. The bundle holds the alerts, an"
echo "inclusion proof of each, the cosigned checkpoints and the roster; the audit"
echo "needs only the watchfloor binary and the roster you trust."
# The first checkpoints are signed within a second and cosigned soon after.
for _ in $(seq 1 100); do
  rm -f bundle.wfb
  if watchfloor export $(client 3) --out bundle.wfb 2>/dev/null | grep -q ": 3 alerts" &&
     watchfloor audit bundle.wfb --roster roster.json >/dev/null 2>&1; then
    break
  fi
  sleep 0.2
done
rm -f bundle.wfb
run watchfloor export $(client 3) --out bundle.wfb
run watchfloor audit bundle.wfb --roster roster.json
echo "The same check against a live node (it exports, the audit runs here):"
run watchfloor audit $(client 2) --roster roster.json --filter 'severity>=critical'

step "9/10 admitting member4.example while the federation runs (no node restarts)"
echo "The new member mints its keys and CA and hands the others a member entry."
echo "Members 1 and 2 (a threshold of v1) sign roster v2 admitting it; any one node"
echo "takes v2 and gossip spreads it; the new node starts on v2 and fetches every"
echo "feed's history from its peers (docs/FEDERATION.md \"Governance\")."
M4=member4.example
mkdir -p "$M4"
watchfloor roster keygen --member "$M4" --out "$M4/member" >/dev/null
watchfloor certs ca --member "$M4" --out "$M4/ca" >/dev/null
watchfloor keygen --origin "$M4/n1" --out "$M4/n1" >/dev/null
watchfloor certs node --ca-dir "$M4/ca" --origin "$M4/n1" --out "$M4/n1/tls" >/dev/null
watchfloor certs client --ca-dir "$M4/ca" --member "$M4" --name operator --out "$M4/client" >/dev/null
echo "(minted $M4's member key, TLS CA, node key, node and client certificates)"
cat > "$M4/member.txt" <<SPEC
name: "$M4"
member_key_pem: "@member/member.pub"
ca_cert_pem: "@ca/ca.crt"
nodes { origin: "$M4/n1" signing_key_pem: "@n1/signing.pub" endpoints: "127.0.0.1:$((BASE + 4))" }
SPEC
run cat "$M4/member.txt"
run watchfloor roster draft --from roster.json --add-member "$M4/member.txt" --out roster-v2.json
run watchfloor roster sign --in roster-v2.json --key member1.example/member/member.key --out roster-v2.json
run watchfloor roster sign --in roster-v2.json --key member2.example/member/member.key --out roster-v2.json
run watchfloor roster verify --previous roster.json --in roster-v2.json
run watchfloor roster submit $(client 1) roster-v2.json
for _ in $(seq 1 100); do
  v2=0
  for i in 2 3; do
    watchfloor roster status $(client "$i") 2>/dev/null | grep -qE "^version +2$" && v2=$((v2 + 1))
  done
  [ "$v2" = 2 ] && break
  sleep 0.1
done
run watchfloor roster status $(client 3)
sed -e "s/member3.example/$M4/g" -e "s/:$((BASE + 3))\"/:$((BASE + 4))\"/" \
    -e 's|roster_file: "../roster.json"|roster_file: "../roster-v2.json"|' \
    member3.example/node.conf > "$M4/node.conf"
run cat "$M4/node.conf"
(cd "$M4" && exec watchfloor node --config node.conf > node.log 2>&1) &
echo $! >> pids
for _ in $(seq 1 100); do grep -q "listening on" "$M4/node.log" 2>/dev/null && break; sleep 0.1; done
if ! grep -q "listening on" "$M4/node.log"; then
  echo "error: node $M4/n1 did not start; its log:" >&2; cat "$M4/node.log" >&2; exit 1
fi
head -n 1 "$M4/node.log"
for _ in $(seq 1 150); do
  n=$(watchfloor subscribe $(client 4) --replay-only --output json 2>/dev/null | wc -l)
  [ "$n" -ge 3 ] && break
  sleep 0.2
done
echo "member1's history, fetched by anti-entropy:"
run watchfloor subscribe $(client 4) --replay-only
run watchfloor publish $(client 4) --severity medium --category dns.lame-delegation --tlp green \
  --title "Lame delegation of example.net seen from member4" --domain example.net
for _ in $(seq 1 100); do
  watchfloor subscribe $(client 1) --replay-only --output json 2>/dev/null | grep -q '"member4.example/n1"' && break
  sleep 0.1
done
echo "member4's alert at member1:"
run watchfloor subscribe $(client 1) --replay-only --filter "origin:$M4"

if [ "$STAY" = 1 ]; then
  step "10/10 the federation keeps running; press Ctrl-C to stop it"
  echo "Try, in another terminal (from $WORK):"
  echo "  $ROOT/build/node/cli/watchfloor subscribe $(client 3)"
  echo "  $ROOT/build/node/cli/watchfloor publish $(client 2) --severity medium --category dns.ddos --tlp green --title test --domain example.org"
  while true; do sleep 3600 & wait $!; done
else
  step "10/10 done: stopping the nodes (run without --exit-after-demo to keep them running)"
fi
