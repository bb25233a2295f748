"""A reflection-only client, as grpcurl is: it knows no watchfloor proto.

It lists the node's services through grpc.reflection.v1alpha, fetches the
file descriptors of each, builds message classes from them, and calls every
service: Health/Check for each name (and an unknown one), Health/Watch,
Node/GetIdentity, and a Federation call that a client certificate may not
make. Run by reflection_test.sh against a real node; exits non-zero, saying
what differed, on any surprise.

  reflection_test.py --gen DIR --address HOST:PORT --origin M/N
      [--federation --ca F --cert F --key F --server-name NAME]

DIR holds grpc/reflection/v1alpha/reflection_pb2.py (protoc --python_out).
"""

import argparse
import importlib.util
import os
import sys

import grpc
from google.protobuf import descriptor_pb2
from google.protobuf import descriptor_pool
from google.protobuf import message_factory

REFLECTION = "grpc.reflection.v1alpha.ServerReflection"
HEALTH = "grpc.health.v1.Health"
NODE = "watchfloor.v1.Node"
FEDERATION = "watchfloor.v1.Federation"


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def expect(what, got, want):
    if got != want:
        fail("%s: got %r, want %r" % (what, got, want))
    print("ok   %s: %r" % (what, got))


class Reflector:
    """One ServerReflectionInfo stream per question."""

    def __init__(self, channel, pb2):
        self.pb2 = pb2
        self.call = channel.stream_stream(
            "/%s/ServerReflectionInfo" % REFLECTION,
            request_serializer=pb2.ServerReflectionRequest.SerializeToString,
            response_deserializer=pb2.ServerReflectionResponse.FromString)

    def ask(self, **kwargs):
        req = self.pb2.ServerReflectionRequest(**kwargs)
        (resp,) = list(self.call(iter([req]), timeout=10))
        if resp.HasField("error_response"):
            fail("reflection %s: error %d %s" % (kwargs, resp.error_response.error_code,
                                                 resp.error_response.error_message))
        return resp


def load_files(pool, reflector, symbol, loaded):
    """Adds the file defining `symbol` and its dependencies to `pool`."""
    resp = reflector.ask(file_containing_symbol=symbol)
    pending = {}
    for raw in resp.file_descriptor_response.file_descriptor_proto:
        fd = descriptor_pb2.FileDescriptorProto.FromString(raw)
        if fd.name not in loaded:
            pending[fd.name] = fd
    # Dependencies first: the response does not promise an order.
    while pending:
        ready = [n for n, fd in pending.items()
                 if all(d in loaded for d in fd.dependency)]
        if not ready:
            fail("reflection for %s lacks dependencies of %s" % (symbol, sorted(pending)))
        for name in ready:
            pool.Add(pending.pop(name))
            loaded.add(name)
    return pool.FindServiceByName(symbol)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gen", required=True)
    ap.add_argument("--address", required=True)
    ap.add_argument("--origin", required=True)
    ap.add_argument("--federation", action="store_true")
    ap.add_argument("--ca")
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--server-name")
    args = ap.parse_args()
    # Loaded by path: the generated package "grpc.reflection" would clash with
    # the grpc module itself.
    spec = importlib.util.spec_from_file_location(
        "reflection_pb2", os.path.join(args.gen, "grpc/reflection/v1alpha/reflection_pb2.py"))
    pb2 = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(pb2)

    if args.ca:
        read = lambda p: open(p, "rb").read()
        creds = grpc.ssl_channel_credentials(read(args.ca), read(args.key), read(args.cert))
        channel = grpc.secure_channel(
            args.address, creds, options=[("grpc.ssl_target_name_override", args.server_name)])
    else:
        channel = grpc.insecure_channel(args.address)
    reflector = Reflector(channel, pb2)

    # list
    listed = sorted(s.name for s in reflector.ask(list_services="*").list_services_response.service)
    want = sorted([HEALTH, REFLECTION, NODE] + ([FEDERATION] if args.federation else []))
    expect("list", listed, want)

    # describe every service, every method's types included
    pool = descriptor_pool.DescriptorPool()
    factory = message_factory.MessageFactory(pool)
    loaded = set()
    services = {}
    for name in listed:
        svc = load_files(pool, reflector, name, loaded)
        for m in svc.methods:
            factory.GetPrototype(m.input_type)
            factory.GetPrototype(m.output_type)
        services[name] = svc
        print("ok   describe %s: %s" % (name, ", ".join(m.name for m in svc.methods)))
    expect("Health methods", [m.name for m in services[HEALTH].methods], ["Check", "Watch"])

    def call(service, method, fields, stream=False):
        m = services[service].methods_by_name[method]
        req_cls = factory.GetPrototype(m.input_type)
        resp_cls = factory.GetPrototype(m.output_type)
        path = "/%s/%s" % (service, method)
        if stream:
            fn = channel.unary_stream(path, request_serializer=req_cls.SerializeToString,
                                      response_deserializer=resp_cls.FromString)
        else:
            fn = channel.unary_unary(path, request_serializer=req_cls.SerializeToString,
                                     response_deserializer=resp_cls.FromString)
        return fn(req_cls(**fields), timeout=10)

    def status_name(resp):
        return resp.DESCRIPTOR.fields_by_name["status"].enum_type.values_by_number[resp.status].name

    def code_of(fn):
        try:
            fn()
        except grpc.RpcError as e:
            return e.code(), e.details()
        return grpc.StatusCode.OK, ""

    # Health: the node, its services, Federation only in a federation.
    for name in ["", NODE] + ([FEDERATION] if args.federation else []):
        expect("Health/Check %r" % name, status_name(call(HEALTH, "Check", {"service": name})),
               "SERVING")
    absent = [FEDERATION] if not args.federation else []
    for name in absent + ["no.such.Service"]:
        code, details = code_of(lambda: call(HEALTH, "Check", {"service": name}))
        expect("Health/Check %r code" % name, code, grpc.StatusCode.NOT_FOUND)
        if 'unknown service "%s"' % name not in details:
            fail("Health/Check %r: message %r does not name the service" % (name, details))
    watch = call(HEALTH, "Watch", {"service": NODE}, stream=True)
    expect("Health/Watch first status", status_name(next(watch)), "SERVING")
    watch.cancel()
    unknown = call(HEALTH, "Watch", {"service": "no.such.Service"}, stream=True)
    expect("Health/Watch unknown", status_name(next(unknown)), "SERVICE_UNKNOWN")
    unknown.cancel()

    # Node
    identity = call(NODE, "GetIdentity", {})
    expect("Node/GetIdentity origin", identity.origin, args.origin)
    if len(identity.keyid) != 64:
        fail("Node/GetIdentity keyid %r is not 64 hex digits" % identity.keyid)

    # Federation: a client certificate may not gossip.
    if args.federation:
        code, details = code_of(lambda: call(FEDERATION, "ExchangeFrontier", {}))
        expect("Federation/ExchangeFrontier code", code, grpc.StatusCode.PERMISSION_DENIED)
        if "only roster nodes may gossip" not in details:
            fail("Federation/ExchangeFrontier: unexpected message %r" % details)
    print("reflection ok: %d services listed, described and called" % len(listed))


if __name__ == "__main__":
    main()
