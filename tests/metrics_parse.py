#!/usr/bin/env python3
"""Parses a Prometheus text exposition (format 0.0.4) with the reference
parser of python3-prometheus-client and prints every sample, one per line:

    name{label="value",...} value

labels sorted by name, values escaped as in the format (\\\\, \\", \\n),
integral values without a fraction, else repr(). Exits 1, naming the fault,
if the parser refuses the text or if the text breaks a rule the parser lets
pass: every line a comment or exactly one sample, one HELP and one TYPE per
family before its samples, histogram buckets cumulative with le="+Inf" equal
to _count.

usage: metrics_parse.py URL|FILE     (URL: http://...; read with urllib)
"""
import math
import sys
import urllib.request

from prometheus_client.parser import text_string_to_metric_families


def fail(msg):
    print("metrics_parse.py: " + msg, file=sys.stderr)
    sys.exit(1)


def escape(v):
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def fmt(v):
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if math.isnan(v):
        return "NaN"
    if v == int(v) and abs(v) < 2**53:
        return str(int(v))
    return repr(v)


def main():
    if len(sys.argv) != 2:
        fail("usage: metrics_parse.py URL|FILE")
    src = sys.argv[1]
    if src.startswith("http://"):
        with urllib.request.urlopen(src, timeout=10) as r:
            ctype = r.headers.get("Content-Type", "")
            if not ctype.startswith("text/plain; version=0.0.4"):
                fail("Content-Type is %r, not text/plain; version=0.0.4" % ctype)
            text = r.read().decode("utf-8")
    else:
        with open(src, encoding="utf-8") as f:
            text = f.read()
    if text and not text.endswith("\n"):
        fail("the exposition does not end in a newline")

    # Rules about comments the parser does not enforce.
    helps, types, sample_lines = set(), {}, 0
    for n, line in enumerate(text.split("\n")[:-1], 1):
        if line.startswith("# HELP "):
            name = line.split(" ")[2]
            if name in helps:
                fail("line %d: a second HELP for %s" % (n, name))
            helps.add(name)
        elif line.startswith("# TYPE "):
            parts = line.split(" ")
            if len(parts) != 4 or parts[3] not in ("counter", "gauge", "histogram"):
                fail("line %d: bad TYPE line %r" % (n, line))
            if parts[2] in types:
                fail("line %d: a second TYPE for %s" % (n, parts[2]))
            if parts[2] not in helps:
                fail("line %d: TYPE before HELP for %s" % (n, parts[2]))
            types[parts[2]] = parts[3]
        elif line.startswith("#") or not line.strip():
            fail("line %d: unexpected line %r" % (n, line))
        else:
            sample_lines += 1

    try:
        families = list(text_string_to_metric_families(text))
    except Exception as e:  # the parser raises ValueError and others
        fail("the parser refused the text: %s" % e)

    out, parsed = [], 0
    for fam in families:
        buckets = {}
        counts = {}
        for s in fam.samples:
            parsed += 1
            labels = ",".join('%s="%s"' % (k, escape(v)) for k, v in sorted(s.labels.items()))
            out.append("%s{%s} %s" % (s.name, labels, fmt(s.value)) if labels
                       else "%s %s" % (s.name, fmt(s.value)))
            if fam.type == "histogram":
                key = tuple(sorted((k, v) for k, v in s.labels.items() if k != "le"))
                if s.name.endswith("_bucket"):
                    buckets.setdefault(key, []).append((float(s.labels["le"]), s.value))
                elif s.name.endswith("_count"):
                    counts[key] = s.value
        for key, bs in buckets.items():
            if bs[-1][0] != math.inf:
                fail("%s%s: the last bucket is not le=\"+Inf\"" % (fam.name, key))
            for (le1, c1), (le2, c2) in zip(bs, bs[1:]):
                if le2 <= le1 or c2 < c1:
                    fail("%s%s: buckets not ascending and cumulative at le=%s" % (fam.name, key, le2))
            if counts.get(key) != bs[-1][1]:
                fail("%s%s: _count %s != +Inf bucket %s" % (fam.name, key, counts.get(key), bs[-1][1]))
    if parsed != sample_lines:
        fail("%d sample lines but the parser read %d samples" % (sample_lines, parsed))
    print("\n".join(out))


main()
