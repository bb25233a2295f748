#!/usr/bin/env bash
# Installs what watchfloor needs from Debian 12 (only what is missing) and
# builds it with CMake into build/. Idempotent; safe to run again.
#
#   scripts/setup.sh            install + build
#   WF_SKIP_BUILD=1 scripts/setup.sh   install only
#   WF_BUILD_TARGET=watchfloor scripts/setup.sh   build just the binary
set -euo pipefail
cd "$(dirname "$0")/.."
# ccache keys on paths relative to the checkout, so every clone on this
# machine (CI's included) reuses what any other clone compiled.
export CCACHE_BASEDIR="$PWD" CCACHE_NOHASHDIR=1

PACKAGES=(
  build-essential cmake ninja-build pkg-config ccache mold git
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libssl-dev openssl libsodium-dev libidn2-dev libsqlite3-dev sqlite3
  libgtest-dev libgmock-dev libbenchmark-dev
  bazel-bootstrap python3 procps
  python3-grpcio python3-protobuf  # tests/reflection_test.sh: a reflection-only client
  clang-14 libclang-rt-14-dev llvm-14
  python3-jsonschema nats-server
  libcpp-httplib-dev        # the node's HTTP listener (/metrics, /healthz, /readyz)
  python3-prometheus-client # tests/metrics_parse.py: the exposition format's reference parser
  python3-cryptography      # tests/sealed_vector_test.sh: an independent RFC 9180 check of the sealed vector
  chromium                  # tests/watch_page_test, bench/page_latency_bench: the page in a real browser
)
# Node.js runs the independent NATS client of the bridge test (tests/nats)
# and the browser driver of the page test (tests/page);
# Debian's nodejs/npm unless a Node.js is already installed.
if ! command -v npm >/dev/null 2>&1; then PACKAGES+=(nodejs npm); fi

say() { printf '==> %s\n' "$*"; }

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done
if ((${#missing[@]})); then
  say "installing Debian packages: ${missing[*]}"
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  say "all Debian packages present"
fi

# The pinned nats.js client (tests/nats/package-lock.json), from the npm registry.
if [ ! -d tests/nats/node_modules/nats ]; then
  say "installing the NATS test client (npm ci in tests/nats)"
  npm ci --prefix tests/nats --no-audit --no-fund --loglevel=error
fi
# The pinned puppeteer-core (tests/page/package-lock.json) drives Debian's
# chromium; it must not download a browser of its own.
if [ ! -d tests/page/node_modules/puppeteer-core ]; then
  say "installing the browser test driver (npm ci in tests/page)"
  PUPPETEER_SKIP_DOWNLOAD=1 npm ci --prefix tests/page --no-audit --no-fund --loglevel=error
fi

if [ "${WF_SKIP_BUILD:-0}" = 1 ]; then exit 0; fi

JOBS="${WF_JOBS:-$(nproc)}"
if [ ! -f build/build.ninja ]; then
  say "configuring CMake (build/)"
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
TARGET="${WF_BUILD_TARGET:-all}"
say "building target '$TARGET' with $JOBS jobs (ccache keeps rebuilds short)"
cmake --build build -j "$JOBS" --target "$TARGET"
