#!/usr/bin/env python3
"""Independent check of a watchfloor STIX 2.1 export (tests/interop_test.cc).

    python3 stix_validate.py FILE [FILE...]
    python3 stix_validate.py --each FILE [FILE...]   # one verdict per file

With --each, every file is judged on its own and the output is, per file,
"== FILE" then its "error: ..." lines or "ok: ..."; the exit code is 0.

FILE holds one STIX bundle, or one bundle per line (subscribe --output stix).
Checks, without any watchfloor code:
  - every object against the OASIS STIX 2.1 JSON schemas vendored in
    testdata/stix/schemas (python3-jsonschema; every $ref resolved locally,
    never over the network), marking definitions against the TLP 2.0
    extension's schema, every extension against extension.json;
  - ids: "<type>--<UUID>", unique; SCO ids are the UUIDv5 STIX 2.1 section
    2.9 prescribes; indicator/report ids are UUIDv5(watchfloor namespace,
    "alert:<alert id>"), identities UUIDv5(ns, "origin:<origin>");
  - timestamps: RFC 3339 UTC with 'Z', created/modified to the millisecond,
    modified >= created, valid_until > valid_from;
  - references: created_by_ref, object_marking_refs, object_refs and
    extension ids point at objects in the bundle (or at the TLP 2.0
    extension); TLP markings are exactly the standard TLP 2.0 objects;
  - provenance: the DSSE envelope's payload hashes (SHA-256 of 0x00 ||
    payload) to the alert id the object carries.
Prints "ok: <n> bundles, <m> objects" and exits 0, or prints every problem
as "error: ..." and exits 1.
"""
import base64
import datetime
import hashlib
import json
import os
import re
import sys
import uuid

import jsonschema

HERE = os.path.dirname(os.path.abspath(__file__))
SCHEMAS = os.path.join(HERE, "testdata", "stix", "schemas")
OASIS = "http://raw.githubusercontent.com/oasis-open/cti-stix2-json-schemas/stix2.1/schemas/"
SCO_NS = uuid.UUID("00abedb4-aa42-466c-9c01-fed23315a9b7")
WF_NS = uuid.uuid5(uuid.NAMESPACE_URL, "urn:watchfloor:interop:v1")
TLP_EXT = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"
TLP = {  # the TLP 2.0 marking definitions (cti-stix-common-objects)
    "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487": ("TLP:CLEAR", "clear"),
    "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb": ("TLP:GREEN", "green"),
    "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421": ("TLP:AMBER", "amber"),
    "marking-definition--939a9414-2ddd-4d32-a0cd-375ea402b003": ("TLP:AMBER+STRICT", "amber+strict"),
    "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1": ("TLP:RED", "red"),
}
SCHEMA_FOR = {
    "indicator": "sdos/indicator.json",
    "report": "sdos/report.json",
    "identity": "sdos/identity.json",
    "domain-name": "observables/domain-name.json",
    "ipv4-addr": "observables/ipv4-addr.json",
    "ipv6-addr": "observables/ipv6-addr.json",
    "autonomous-system": "observables/autonomous-system.json",
    "extension-definition": "common/extension-definition.json",
    "marking-definition": "tlp2/marking-definition.json",
}
SCO_CONTRIBUTING = {"domain-name": ["value"], "ipv4-addr": ["value"], "ipv6-addr": ["value"],
                    "autonomous-system": ["number"]}
ID_RE = re.compile(r"^([a-z0-9][a-z0-9-]+[a-z0-9])--([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-"
                   r"[0-9a-f]{4}-[0-9a-f]{12})$")
MILLIS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
TS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


def load_store():
    """Every vendored schema, by each URI a $ref may name it with."""
    store = {}
    for root, _, files in os.walk(SCHEMAS):
        for f in files:
            if not f.endswith(".json"):
                continue
            path = os.path.join(root, f)
            rel = os.path.relpath(path, SCHEMAS)
            with open(path) as fh:
                schema = json.load(fh)
            store[schema["$id"]] = schema
            store[OASIS + rel] = schema
            store[OASIS.replace("http://", "https://") + rel] = schema
    return store


if not hasattr(jsonschema, "Draft202012Validator") or not __import__("importlib").util.find_spec(
        "referencing"):
    class LocalOnlyResolver(jsonschema.RefResolver):
        def resolve_remote(self, uri):
            raise jsonschema.RefResolutionError(
                f"$ref {uri} is not vendored in {SCHEMAS}; vendor it (network access is off)")


def validator_for(store, rel):
    """A draft-07 validator (the 2.1 files that declare 2020-12 use draft-07
    keywords such as "definitions") whose $refs resolve only to `store`."""
    schema = store[OASIS + rel] if not rel.startswith("tlp2/") else store["tlp2.0.json"]
    try:  # jsonschema >= 4.18: the referencing library
        import referencing
        import referencing.jsonschema
        registry = referencing.Registry().with_resources(
            (uri, referencing.Resource(contents=s, specification=referencing.jsonschema.DRAFT7))
            for uri, s in store.items())
        return jsonschema.Draft7Validator(schema, registry=registry)
    except ImportError:  # Debian 12's python3-jsonschema 4.10
        resolver = LocalOnlyResolver(schema["$id"], schema, store=store)
        return jsonschema.Draft7Validator(schema, resolver=resolver)


def parse_ts(s):
    return datetime.datetime.strptime(s.replace("Z", "+0000").split(".")[0] + "+0000"
                                      if "." in s else s.replace("Z", "+0000"),
                                      "%Y-%m-%dT%H:%M:%S%z")


def check_bundle(bundle, store, errors, where):
    def err(msg):
        errors.append(f"{where}: {msg}")

    if bundle.get("type") != "bundle":
        err('top level "type" is not "bundle"')
        return 0
    m = ID_RE.match(bundle.get("id", ""))
    if not m or m.group(1) != "bundle":
        err(f'bundle id {bundle.get("id")!r} is not bundle--<UUID>')
    objects = bundle.get("objects")
    if not isinstance(objects, list) or not objects:
        err('"objects" must be a non-empty list')
        return 0
    if set(bundle) - {"type", "id", "objects"}:
        err(f"bundle has unexpected properties {sorted(set(bundle) - {'type', 'id', 'objects'})}")
    ids = {}
    for o in objects:
        if o.get("id") in ids:
            err(f'id {o.get("id")} occurs twice')
        ids[o.get("id")] = o
    ext_validator = validator_for(store, "common/extension.json")
    for o in objects:
        oid = o.get("id", "?")
        t = o.get("type")
        if t not in SCHEMA_FOR:
            err(f"{oid}: type {t!r} is not one watchfloor emits")
            continue
        for e in validator_for(store, SCHEMA_FOR[t]).iter_errors(o):
            err(f"{oid}: schema {SCHEMA_FOR[t]}: {e.message} at {list(e.absolute_path)}")
        m = ID_RE.match(oid)
        if not m or m.group(1) != t:
            err(f"{oid}: id is not {t}--<UUID>")
            continue
        u = uuid.UUID(m.group(2))
        for ext_id, ext in (o.get("extensions") or {}).items():
            if t != "marking-definition":
                for e in ext_validator.iter_errors(ext):
                    err(f"{oid}: extension {ext_id}: {e.message}")
                if ext_id not in ids:
                    err(f"{oid}: extension {ext_id} has no extension-definition in the bundle")
        if t in SCO_CONTRIBUTING:
            contributing = {k: o[k] for k in SCO_CONTRIBUTING[t] if k in o}
            canon = json.dumps(contributing, separators=(",", ":"), sort_keys=True,
                               ensure_ascii=False)
            if u != uuid.uuid5(SCO_NS, canon):
                err(f"{oid}: not the STIX 2.1 deterministic id UUIDv5(SCO ns, {canon})")
            continue
        if t == "marking-definition":
            if oid not in TLP:
                err(f"{oid}: not a TLP 2.0 marking-definition id")
            else:
                name, word = TLP[oid]
                want = {"type": "marking-definition", "spec_version": "2.1", "id": oid,
                        "created": "2022-10-01T00:00:00.000Z", "name": name,
                        "extensions": {TLP_EXT: {"extension_type": "property-extension",
                                                 "tlp_2_0": word}}}
                if o != want:
                    err(f"{oid}: differs from the standard TLP 2.0 object {want}")
            continue
        # SDOs and the extension definition.
        for field in ("created", "modified"):
            if not MILLIS_RE.match(o.get(field, "")):
                err(f"{oid}: {field} {o.get(field)!r} is not RFC 3339 UTC to the millisecond")
        for field in ("valid_from", "valid_until", "published"):
            if field in o and not TS_RE.match(o[field]):
                err(f"{oid}: {field} {o[field]!r} is not RFC 3339 UTC with Z")
        try:
            if parse_ts(o["modified"]) < parse_ts(o["created"]):
                err(f"{oid}: modified is before created")
            if "valid_until" in o and parse_ts(o["valid_until"]) <= parse_ts(o["valid_from"]):
                err(f"{oid}: valid_until is not after valid_from")
        except (KeyError, ValueError) as e:
            err(f"{oid}: bad timestamp: {e}")
        refs = [o["created_by_ref"]] if "created_by_ref" in o else []
        refs += o.get("object_marking_refs", []) + o.get("object_refs", [])
        for r in refs:
            if r not in ids:
                err(f"{oid}: refers to {r}, which is not in the bundle")
        if "created_by_ref" in o and not o["created_by_ref"].startswith("identity--"):
            err(f"{oid}: created_by_ref is not an identity")
        if t == "identity" and o.get("name") != "watchfloor":
            if u != uuid.uuid5(WF_NS, "origin:" + o.get("name", "")):
                err(f"{oid}: not UUIDv5(watchfloor ns, 'origin:{o.get('name')}')")
        if t in ("indicator", "report"):
            prov = [e for k, e in (o.get("extensions") or {}).items() if "alert_id" in e]
            if len(prov) != 1:
                err(f"{oid}: carries no watchfloor provenance extension")
                continue
            p = prov[0]
            if u != uuid.uuid5(WF_NS, "alert:" + p["alert_id"]):
                err(f"{oid}: not UUIDv5(watchfloor ns, 'alert:{p['alert_id']}')")
            env = p.get("dsse_envelope", {})
            try:
                payload = base64.b64decode(env["payload"], validate=True)
            except Exception as e:  # noqa: BLE001 - report any decoding problem
                err(f"{oid}: dsse_envelope payload is not base64: {e}")
                continue
            if hashlib.sha256(b"\x00" + payload).hexdigest() != p["alert_id"]:
                err(f"{oid}: dsse_envelope payload does not hash to alert_id {p['alert_id']}")
            if env.get("payloadType") != "application/vnd.watchfloor.alert.v1+protobuf":
                err(f"{oid}: dsse_envelope payloadType is {env.get('payloadType')!r}")
            if not env.get("signatures"):
                err(f"{oid}: dsse_envelope has no signatures")
            if o.get("created_by_ref") != "identity--" + str(uuid.uuid5(WF_NS, "origin:" + p["origin"])):
                err(f"{oid}: created_by_ref is not the identity of origin {p['origin']}")
    return len(objects)


def main(paths):
    if paths and paths[0] == "--each":
        for path in paths[1:]:
            print("==", path)
            run([path])
        return 0
    return run(paths)


def run(paths):
    store = STORE
    errors, bundles, objects = [], 0, 0
    for path in paths:
        with open(path) as fh:
            text = fh.read()
        docs = [text] if text.lstrip().startswith("{") and "\n{" not in text.strip() else \
            [line for line in text.splitlines() if line.strip()]
        for i, doc in enumerate(docs, 1):
            where = f"{path}:{i}" if len(docs) > 1 else path
            try:
                bundle = json.loads(doc)
            except ValueError as e:
                errors.append(f"{where}: not JSON: {e}")
                continue
            bundles += 1
            objects += check_bundle(bundle, store, errors, where)
    for e in errors:
        print("error:", e)
    if errors:
        return 1
    print(f"ok: {bundles} bundles, {objects} objects")
    return 0


STORE = load_store()

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
