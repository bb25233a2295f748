"""C++ code generation for .proto files with the system protoc.

Mirrors proto/CMakeLists.txt: each .proto is compiled by /usr/bin/protoc (plus
/usr/bin/grpc_cpp_plugin for files that declare services), through a genrule,
into <package>/<path relative to the proto root>.pb.{h,cc}. We deliberately
avoid proto_library/cc_proto_library: under Bazel those would build protobuf
and gRPC from source.
"""

def wf_cc_proto_library(name, srcs, grpc_srcs = [], deps = [], visibility = None, **kwargs):
    """cc_library of generated protobuf (and gRPC) C++ code.

    Args:
      name: name of the cc_library.
      srcs: .proto files, relative to this package, which is the proto root:
        "watchfloor/v1/alert.proto" is imported as such by other protos and its
        header is included as "watchfloor/v1/alert.pb.h".
      grpc_srcs: the subset of srcs that declare services; these also get
        .grpc.pb.{h,cc}.
      deps: extra deps of the cc_library (system libraries come by default).
      visibility: of the cc_library.
      **kwargs: passed to the cc_library.
    """
    pkg = native.package_name()
    proto_root = pkg if pkg else "."
    hdrs = []
    cc_srcs = []
    for src in srcs:
        if not src.endswith(".proto"):
            fail("wf_cc_proto_library: {} is not a .proto file".format(src))
        base = src[:-len(".proto")]
        outs = [base + ".pb.h", base + ".pb.cc"]
        args = ["--cpp_out=$(RULEDIR)"]
        tools = ["@system_libs//:protoc"]
        if src in grpc_srcs:
            outs += [base + ".grpc.pb.h", base + ".grpc.pb.cc"]
            args += [
                "--grpc_out=$(RULEDIR)",
                "--plugin=protoc-gen-grpc=$(location @system_libs//:grpc_cpp_plugin)",
            ]
            tools.append("@system_libs//:grpc_cpp_plugin")
        native.genrule(
            name = name + "_gen_" + base.replace("/", "_"),
            # All protos are inputs so that imports resolve inside the sandbox.
            srcs = srcs,
            outs = outs,
            cmd = " ".join([
                "$(location @system_libs//:protoc)",
                "--proto_path=" + proto_root,
            ] + args + ["$(location {})".format(src)]),
            tools = tools,
            message = "protoc " + src,
        )
        hdrs += [o for o in outs if o.endswith(".h")]
        cc_srcs += [o for o in outs if o.endswith(".cc")]

    for src in grpc_srcs:
        if src not in srcs:
            fail("wf_cc_proto_library: grpc_srcs entry {} is not in srcs".format(src))

    native.cc_library(
        name = name,
        srcs = cc_srcs,
        hdrs = hdrs,
        # Generated headers live in bazel-bin/<pkg>/...; "." makes them
        # includable relative to the proto root, as in CMake's gen/ dir.
        includes = ["."],
        # Generated code: warnings are not ours to fix (CMake uses -w too).
        copts = ["-w"],
        linkstatic = True,  # STATIC in CMake; no .so to build
        deps = deps + [
            "@system_libs//:protobuf",
            "@system_libs//:grpcpp",
        ],
        visibility = visibility,
        **kwargs
    )
