#!/usr/bin/env bash
# Checks the worked sealed-alert vector (tests/testdata/sealed/worked_vector.txt)
# with no watchfloor code: check_vector.py runs an RFC 9180 key schedule of
# its own on Debian's python3-cryptography (X25519, HMAC-SHA256, AES-GCM),
# first against RFC 9180 Appendix A.1.1, then opens both alerts of the
# vector as every recipient, exactly as docs/PROTOCOL.md section 18 says.
#
# usage: sealed_vector_test.sh <project source dir>
set -euo pipefail

src=${1:?usage: $0 <project source dir>}
exec /usr/bin/python3 "$src/tests/testdata/sealed/check_vector.py" \
  "$src/tests/testdata/sealed/worked_vector.txt"
