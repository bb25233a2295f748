#!/usr/bin/env bash
# Runs the README's main job (scripts/quickstart.sh) as a newcomer would, minus
# the install/build step, and checks that it did what it says.
set -euo pipefail
root=$(cd "${1:?usage: quickstart_test.sh SOURCE_DIR [BIN_DIR]}" && pwd)
bin_dir=$(cd "${2:-$root/build/node/cli}" && pwd)
out=$(mktemp)
trap 'rm -f "$out"' EXIT
if ! WF_SKIP_SETUP=1 WF_BIN_DIR="$bin_dir" bash "$root/scripts/quickstart.sh" --exit-after-demo >"$out" 2>&1; then
  echo "quickstart failed; its output:"; cat "$out"; exit 1
fi
for want in "published " "sequence 3" "all 3 envelopes verified" "CRITICAL  dns.ddos" "audit OK" "bundle: 1 alerts, filter \"severity>=critical\"" \
            "roster v2 is in force" "Lame delegation of example.net seen from member4" "10/10 done"; do
  if ! grep -qF "$want" "$out"; then
    echo "quickstart output lacks '$want'; its output:"; cat "$out"; exit 1
  fi
done
# The filtered subscription shows the two high/critical alerts, not the low one.
if sed -n '/6\/10/,/7\/10/p' "$out" | grep -q "Phishing"; then
  echo "the filtered subscription showed a low-severity alert"; cat "$out"; exit 1
fi
# member4's node, started on v2 only, got member1's three alerts by
# anti-entropy: they are listed between its start and its own publish.
if [ "$(sed -n '/9\/10/,/10\/10/p' "$out" | sed -n '/history, fetched by anti-entropy/,/dns.lame-delegation/p' | grep -c "member1.example/n1")" -lt 3 ]; then
  echo "member4's node did not show member1's three alerts"; cat "$out"; exit 1
fi
echo "quickstart ok"
