#!/usr/bin/env bash
# grpc.health.v1.Health, watchfloor.v1.Node and watchfloor.v1.Federation as a
# reflection-only client sees them (tests/reflection_test.py): against a
# plaintext loopback node, and against a one-member federation node over
# mutual TLS with a client certificate.
#
#   bash reflection_test.sh SOURCE_DIR BIN_DIR
# Needs python3-grpcio and python3-protobuf (scripts/setup.sh) and protoc.
set -euo pipefail
root=$(cd "${1:?usage: reflection_test.sh SOURCE_DIR BIN_DIR}" && pwd)
bin_dir=$(cd "${2:-$root/build/node/cli}" && pwd)
wf="$bin_dir/watchfloor"
# Debian's python3 has the python3-grpcio modules; a pyenv python3 first on
# PATH would not.
py=${WF_PYTHON:-/usr/bin/python3}
tmp=$(mktemp -d "${TEST_TMPDIR:-/tmp}/reflection.XXXXXX")
# start_node runs inside $(...), a subshell, so the node pids go to a file
# (a shell array would be the subshell's own and the nodes outlive the test).
cleanup() {
  if [ -f "$tmp/pids" ]; then
    while read -r p; do kill "$p" 2>/dev/null || true; done < "$tmp/pids"
    while read -r p; do
      while kill -0 "$p" 2>/dev/null; do sleep 0.1; done
    done < "$tmp/pids"
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

mkdir -p "$tmp/gen"
protoc --proto_path="$root/tests/testdata/reflection" --python_out="$tmp/gen" \
  grpc/reflection/v1alpha/reflection.proto

# Starts `watchfloor node --config $1` in $2; prints its address.
start_node() {
  local conf=$1 dir=$2
  (cd "$dir" && exec "$wf" node --config "$conf" >node.log 2>&1) &
  echo $! >> "$tmp/pids"
  for _ in $(seq 1 100); do
    if grep -q "listening on" "$dir/node.log" 2>/dev/null; then
      sed -n 's/.* listening on \([^ ]*\) .*/\1/p' "$dir/node.log"
      return 0
    fi
    sleep 0.1
  done
  echo "node in $dir did not start; its log:" >&2
  cat "$dir/node.log" >&2
  return 1
}

# Plaintext: no Federation service, so Health answers NOT_FOUND for it.
mkdir -p "$tmp/plain"
"$wf" keygen --origin example.cz/dev1 --out "$tmp/plain/keys" >/dev/null
cat >"$tmp/plain/node.conf" <<CONF
origin: "example.cz/dev1"
listen_address: "127.0.0.1:0"
data_dir: "data"
signing_key_file: "keys/signing.key"
insecure_plaintext_loopback: true
CONF
addr=$(start_node node.conf "$tmp/plain")
"$py" "$root/tests/reflection_test.py" --gen "$tmp/gen" --address "$addr" \
  --origin example.cz/dev1

# A one-member federation over mutual TLS.
WATCHFLOOR="$wf" bash "$root/deploy/local-federation.sh" --members 1 --dir "$tmp/fed" \
  --mint-only >/dev/null
m="$tmp/fed/member1.example"
sed -i 's/listen_address: .*/listen_address: "127.0.0.1:0"/' "$m/node.conf"
addr=$(start_node node.conf "$m")
"$py" "$root/tests/reflection_test.py" --gen "$tmp/gen" --address "$addr" \
  --origin member1.example/n1 --federation \
  --ca "$m/ca/ca.crt" --cert "$m/client/client.crt" --key "$m/client/client.key" \
  --server-name n1.member1.example.watchfloor
echo "reflection_test ok"
