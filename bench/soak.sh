#!/usr/bin/env bash
# Kill -9 soak of one `watchfloor node` (issue 8, point 11). See --help.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: bench/soak.sh [--cycles N] [--bin PATH] [--full-every N] [--max-kill-delay-ms N]
                     [--dir DIR] [--keep]

Runs one watchfloor node (plaintext, 127.0.0.1 only) on one data directory
and SIGKILLs it N times, at a random moment after it starts listening, while
a publisher loop keeps publishing through it and records every acknowledged
alert (id and sequence). After every restart it checks, against the node:
  - every alert acknowledged so far is there, with the acknowledged sequence
    (the newest acknowledged one also with 'watchfloor get');
  - the feed is contiguous: sequences 1..n without a gap, each 'previous' the
    id of the alert before, and the node's head is not behind what it served;
  - every signature verifies ('watchfloor verify --pubkey --origin').
Alerts new since the last check are checked every cycle; the whole feed is
re-read from cursor 0 and re-verified every --full-every cycles and at the
end. Stops at the first problem (exit 1, keeps the directory) or after N
cycles, then prints one summary line:
  soak: cycles=N acknowledged=A lost=0 feed=F verified=F signature_checks=C seconds=S
(feed: alerts in the feed at the end, all verified in the final full pass;
signature_checks: envelope verifications over the whole run).

flags:
  --cycles N               kill/restart cycles (default 1000)
  --bin PATH               the watchfloor binary (default build/node/cli/watchfloor)
  --full-every N           full re-verification every N cycles (default 50)
  --max-kill-delay-ms N    kill at a random delay 0..N ms after listening (default 200)
  --dir DIR                work here (must not exist; default a fresh mktemp dir)
  --keep                   keep the work directory
  --help                   show this help

Reproduce the figure in docs/PERFORMANCE.md ("Kill -9 soak"):
  nice bench/soak.sh --cycles 1000
EOF
}

die_usage() { echo "error: $*" >&2; echo "run 'bench/soak.sh --help'" >&2; exit 2; }

cycles=1000 full_every=50 max_delay_ms=200 bin= dir= keep=0
while (($#)); do
  case $1 in
    --help|-h) usage; exit 0 ;;
    --cycles|--bin|--full-every|--max-kill-delay-ms|--dir)
      (($# >= 2)) || die_usage "$1 needs a value"
      case $1 in
        --cycles) cycles=$2 ;;
        --bin) bin=$2 ;;
        --full-every) full_every=$2 ;;
        --max-kill-delay-ms) max_delay_ms=$2 ;;
        --dir) dir=$2 ;;
      esac
      shift 2 ;;
    --keep) keep=1; shift ;;
    *) die_usage "unknown argument '$1'" ;;
  esac
done
for n in cycles full_every max_delay_ms; do
  [[ ${!n} =~ ^[0-9]+$ ]] || die_usage "--${n//_/-} '${!n}' is not a non-negative integer"
done
((cycles >= 1)) || die_usage "--cycles must be at least 1"
((full_every >= 1)) || die_usage "--full-every must be at least 1"

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
bin=${bin:-$repo/build/node/cli/watchfloor}
[[ -x $bin ]] || die_usage "no watchfloor binary at $bin; build it (cmake --build build --target watchfloor) or pass --bin"
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
if [[ -n $dir ]]; then
  [[ ! -e $dir ]] || die_usage "--dir $dir exists; give a new path"
  mkdir -p "$dir"
else
  dir=$(mktemp -d "${TEST_TMPDIR:-${TMPDIR:-/tmp}}/watchfloor-soak.XXXXXX")
fi
dir=$(cd "$dir" && pwd)

readonly origin=soak.example/n1
node_pid= pub_pid= failed=0
cleanup() {
  touch "$dir/stop" 2>/dev/null || true
  [[ -n $pub_pid ]] && { kill "$pub_pid" 2>/dev/null || true; wait "$pub_pid" 2>/dev/null || true; }
  [[ -n $node_pid ]] && { kill -9 "$node_pid" 2>/dev/null || true; wait "$node_pid" 2>/dev/null || true; }
  if ((failed || keep)); then
    echo "soak: work directory kept: $dir (node.out, acks, feed)" >&2
  else
    rm -rf "$dir"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
  failed=1
  echo "soak: FAILED in cycle $cycle: $*" >&2
  echo "soak: cycles=$((cycle - 1)) acknowledged=$acked lost=$lost FAILED" >&2
  exit 1
}

"$bin" keygen --origin "$origin" --out "$dir/keys" >/dev/null
touch "$dir/acks" "$dir/feed"

# The first start listens on port 0; later starts reuse the port it got, so
# the publisher keeps one address.
port=0 starts=0 port_moves=0
write_config() {
  cat >"$dir/node.conf" <<EOF
origin: "$origin"
listen_address: "127.0.0.1:$port"
data_dir: "$dir/data"
signing_key_file: "$dir/keys/signing.key"
insecure_plaintext_loopback: true
EOF
}

# Sleeps $1 seconds without a process: a read that times out on a pipe that
# nobody writes (this shell holds both ends). The loops below run thousands
# of times; a `sleep` process each would cost more than the work.
exec {tick}<> <(:)
nap() { read -r -t "$1" -u "$tick" _ || true; }

# Starts the node and returns once it listens: its first line says
# "... listening on 127.0.0.1:PORT ...". Each start's output replaces the
# last one's in node.out.
start_node() {
  write_config
  # Emptied here, not by the child's redirection: that runs after the fork,
  # and until then this shell would read the last start's "listening on".
  : >"$dir/node.out"
  "$bin" node --config "$dir/node.conf" >>"$dir/node.out" 2>&1 &
  node_pid=$!
  starts=$((starts + 1))
  local waited=0 first=
  until [[ $first == *" listening on "* ]]; do
    if ! kill -0 "$node_pid" 2>/dev/null; then
      # Someone else (another test on this machine) took the port while the
      # node was down: take a new one, and the publisher follows.
      if [[ $(<"$dir/node.out") == *"cannot listen on"* ]] && ((port_moves++ < 3)); then
        wait "$node_pid" 2>/dev/null || true
        port=0
        start_node
        return
      fi
      fail "node exited at start: $(<"$dir/node.out")"
    fi
    ((waited++ < 4000)) || fail "node did not listen within 20 s: $(<"$dir/node.out")"
    nap 0.005
    { IFS= read -r first <"$dir/node.out"; } 2>/dev/null || true
  done
  if ((port == 0)); then
    [[ $first =~ listening\ on\ 127\.0\.0\.1:([0-9]+) ]] ||
      fail "cannot read the node's port from: $first"
    port=${BASH_REMATCH[1]}
    echo "127.0.0.1:$port" >"$dir/address"
  fi
}

# Publishes until $dir/stop exists. Each acknowledged alert is one line
# "ack <id> <sequence> end", written with one append after the ack: a reader
# that sees "end" sees the whole line.
publisher() {
  local n=0 out
  local -a words
  until [[ -e $dir/stop ]]; do
    [[ -s $dir/address ]] || { nap 0.01; continue; }
    n=$((n + 1))
    # Three labels, not in sorted order: they must come back as given.
    if out=$("$bin" publish --node "$(<"$dir/address")" --severity high --category soak.kill9 \
          --tlp green --title "soak alert $n" --domain example.cz --label "zeta=$n" \
          --label "alpha=x" --label "mid=y" 2>/dev/null); then
      read -r -a words <<<"$out"  # published <id> sequence <n> cursor <c>
      echo "ack ${words[1]} ${words[3]} end" >>"$dir/acks"
    else
      nap 0.02  # the node is down (or was killed mid-call): not acknowledged
    fi
  done
}

# Reads the feed after cursor $1 as JSON and appends "cursor id sequence
# previous" lines to file $2, checking that they continue the chain whose last
# alert is $3 (id, "-" for none) / $4 (sequence). Sets rf_cursor, rf_id,
# rf_seq to the new last alert.
read_feed() {
  local after=$1 out=$2 last_id=$3 last_seq=$4
  "$bin" subscribe --node "127.0.0.1:$port" --replay-only --cursor "$after" --output json \
      >"$dir/new.json" 2>"$dir/err" || fail "subscribe: $(<"$dir/err")"
  # Each line is {"cursor":C,"id":"ID","alert":{"origin":"O","sequence":"N",
  # "previous":"P",...} in proto3 JSON field order (no previous for #1).
  awk -v id="$last_id" -v seq="$last_seq" -v after="$after" -v out="$out" '
    function bad(why) { print "bad " why; failed = 1; exit }
    {
      if (!match($0, /^\{"cursor":[0-9]+,"id":"[0-9a-f]+","alert":\{"origin":"[^"]*","sequence":"[0-9]+"/))
        bad("unparsable line " NR ": " substr($0, 1, 200))
      split(substr($0, 1, RLENGTH), q, "\"")
      c = q[3]; gsub(/[^0-9]/, "", c)
      rest = substr($0, RLENGTH + 1)
      p = substr(rest, 1, 13) == ",\"previous\":\"" ? substr(rest, 14, 64) : ""
      if (c + 0 <= after + 0) bad("cursor " c " is not after " after)
      if (q[16] != seq + 1) bad("gap: sequence " q[16] " follows " seq)
      if (q[16] > 1 && p != id) bad("broken chain: #" q[16] " previous " p " is not #" seq " " id)
      if (q[16] == 1 && p != "") bad("#1 has a previous")
      print c, q[6], q[16], p >> out
      id = q[6]; seq = q[16]; after = c
    }
    END { if (!failed) print "ok", after, id, seq }' "$dir/new.json" >"$dir/chain"
  local verdict
  read -r verdict rf_cursor rf_id rf_seq <"$dir/chain" || verdict=empty
  [[ $verdict == ok ]] || fail "feed after cursor $after: $(<"$dir/chain")"
}

# Verifies the first $2 envelopes of the feed with the node's public key, and
# that the verified ids and sequences are exactly those of file $1 ("cursor
# id sequence previous" lines from cursor 0). Adds them to checks.
verify_feed() {
  local feed=$1 n=$2
  ((n > 0)) || return 0
  "$bin" subscribe --node "127.0.0.1:$port" --replay-only --count "$n" --output dsse \
      >"$dir/all.dsse" 2>"$dir/err" || fail "subscribe dsse: $(<"$dir/err")"
  "$bin" verify --pubkey "$dir/keys/signing.pub" --origin "$origin" <"$dir/all.dsse" \
      >"$dir/verify" 2>"$dir/err" || fail "verify: $(grep -m3 FAIL "$dir/verify") $(<"$dir/err")"
  # "line N: ok ID ORIGIN #SEQ" must match the feed's "CURSOR ID SEQ PREV".
  awk -v feed="$feed" '
    { if ((getline l < feed) <= 0) { print "more envelopes than alerts"; exit 1 }
      split(l, f, " ")
      if ($3 != "ok" || $4 != f[2] || $6 != "#" f[3]) { print "line " NR ": " $0 " vs " l; exit 1 } }
    END { if ((getline l < feed) > 0) { print "fewer envelopes than alerts"; exit 1 } }' \
      "$dir/verify" >"$dir/err" || fail "the verified envelopes are not the alerts read as JSON: $(<"$dir/err")"
  checks=$((checks + n))
}

# Every ack among the first $1 lines of acks must be in feed file $2 with its
# sequence. Sets acked, lost and newest (the id of the last of those acks).
check_acks() {
  local lines=$1 feed=$2
  awk -v feed="$feed" -v lines="$lines" '
    BEGIN { while ((getline l < feed) > 0) { split(l, f, " "); seq[f[2]] = f[3] } }
    NR > lines + 0 { exit }
    / end$/ {
      n++; newest = $2
      if (!($2 in seq) || seq[$2] != $3) { lost++; if (lost <= 3) why = why " " $2 " #" $3 }
    }
    END { print n + 0, lost + 0, (newest == "" ? "-" : newest), why }' "$dir/acks" >"$dir/ackcheck"
  local why
  read -r acked lost newest why <"$dir/ackcheck"
  ((lost == 0)) || fail "$lost acknowledged alert(s) missing:$why"
}

# Checks against the running node: every cycle the alerts new since the last
# check (chain) and every ack; with $1 = 1 the whole feed from cursor 0, the
# node's head, and every signature.
check_node() {
  local full=$1
  # The acks so far, counted before reading the feed: each was stored before
  # the read. (mapfile: no process; a last line still being written is a
  # publish acknowledged before now, so it is stored too.)
  local -a snapshot
  mapfile -t snapshot <"$dir/acks"
  local ack_lines=${#snapshot[@]}
  if ((full)); then
    local node_head
    node_head=$("$bin" identity --node "127.0.0.1:$port" 2>"$dir/err" | awk '$1 == "head" { print $2 }') ||
      fail "identity: $(<"$dir/err")"
    ((node_head >= last_seq)) || fail "node head #$node_head is behind #$last_seq, which it served before"
    : >"$dir/full.feed"
    read_feed 0 "$dir/full.feed" - 0
    # Everything served before must be served again, identically.
    head -n "$(wc -l <"$dir/feed")" "$dir/full.feed" | cmp -s - "$dir/feed" ||
      fail "full re-read differs from the alerts served before"
    mv "$dir/full.feed" "$dir/feed"
    verify_feed "$dir/feed" "$rf_seq"
    full_verified=$rf_seq
  else
    read_feed "$last_cursor" "$dir/feed" "$last_id" "$last_seq"
  fi
  last_cursor=$rf_cursor last_id=$rf_id last_seq=$rf_seq
  check_acks "$ack_lines" "$dir/feed"
  # The newest acknowledged alert, the likeliest to be lost, straight from the node.
  if [[ $newest != - ]]; then
    "$bin" get --node "127.0.0.1:$port" "$newest" --output dsse >/dev/null 2>"$dir/err" ||
      fail "get $newest (acknowledged): $(<"$dir/err")"
  fi
}

last_cursor=0 last_id=- last_seq=0 checks=0 full_verified=0 acked=0 lost=0 newest=- cycle=0
start=$SECONDS
start_node
publisher &
pub_pid=$!
for ((cycle = 1; cycle <= cycles; cycle++)); do
  # The node runs, the publisher publishes: kill at a random moment.
  delay_ms=$((RANDOM % (max_delay_ms + 1)))
  printf -v delay '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000))
  nap "$delay"
  kill -9 "$node_pid"
  wait "$node_pid" 2>/dev/null || true
  node_pid=
  start_node
  check_node $((cycle % full_every == 0))
  if ((cycle % 50 == 0)); then
    echo "soak: cycle $cycle: acknowledged=$acked feed=$last_seq seconds=$((SECONDS - start))" >&2
  fi
done
cycle=$cycles
# Stop publishing, then the final check covers every ack, in a full re-read.
touch "$dir/stop"
wait "$pub_pid" 2>/dev/null || true
pub_pid=
check_node 1
kill -TERM "$node_pid"
wait "$node_pid" 2>/dev/null || true
node_pid=
seconds=$((SECONDS - start))
echo "soak: cycles=$cycles acknowledged=$acked lost=$lost feed=$last_seq verified=$full_verified signature_checks=$checks seconds=$seconds"
