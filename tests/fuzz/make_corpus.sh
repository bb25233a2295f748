#!/usr/bin/env bash
# Rewrites tests/fuzz/corpus/ (the seed corpora, committed) from the test
# data: copies of tests/testdata files where a target reads them as they are,
# and the generated seeds of make_fuzz_seeds.cc. Run it after changing test
# data, then commit the result:
#
#   tests/fuzz/make_corpus.sh BUILD_DIR     (a build with WATCHFLOOR_FUZZ=ON)
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:?usage: tests/fuzz/make_corpus.sh BUILD_DIR}
c=tests/fuzz/corpus
t=tests/testdata
rm -rf "$c"
mkdir -p "$c"/{dsse,alert_validator,filter_parser,roster,note,merkle,audit_bundle,config,federation}_fuzz

cp $t/cli/good.dsse $t/protocol_vector/envelope.json "$c/dsse_fuzz/"
for f in $t/cli/tamper/*.dsse; do cp "$f" "$c/dsse_fuzz/tamper-$(basename "$f" | tr '@' '-')"; done
cp $t/protocol_vector/payload.bin "$c/alert_validator_fuzz/vector-payload.bin"
cp $t/roster/*.json "$c/roster_fuzz/"
cp $t/audit/roster.json "$c/roster_fuzz/audit-roster.json"
cp $t/merkle/*.txt "$c/merkle_fuzz/"
cp $t/audit/*.wfb "$c/audit_bundle_fuzz/"
cp deploy/*.conf deploy/node.conf.example deploy/multi-host/*.conf "$c/config_fuzz/"
cp $t/note/worked-example/*.note $t/note/worked-example/checkpoint.txt "$c/note_fuzz/"
# A tamper case is headers, "note:", then the note to the end of the file.
for f in $t/note/tamper/*.txt; do
  sed '1,/^note:$/d' "$f" >"$c/note_fuzz/tamper-$(basename "$f" .txt)"
done
# The examples of docs/FILTERS.md, one filter per file.
i=0
while IFS= read -r filter; do
  i=$((i + 1))
  printf '%s' "$filter" >"$c/filter_parser_fuzz/example-$i"
done <<'FILTERS'
domain:cz,sk severity>=high !category:abuse.*
origin:nic.cz
prefix:192.0.2.0/24
asn:64500
origin:nic.cz/prg1
category:dns.*,registry.compromise
domain:háček.cz
prefix:2001:db8::/32 !asn:64500
tlp<=amber severity>=medium
label:incident=INC-2041
label:note="two words",team
issued>=2024-05-01T00:00:00Z issued<2024-06-01T00:00:00Z
issued:2024-05-01..2024-06-01
!issued:2024-05-01..2024-06-01
tlp<=amber+strict
domain:cz sevrity>=high
domain:cz label:note="open
FILTERS
"$build/tests/fuzz/make_fuzz_seeds" "$PWD"
du -sh "$c"
