"""Project macros keeping BUILD.bazel files short and in step with CMake.

Include paths: every #include is relative to the repository root
("certs/keys.h"), which Bazel provides by default (-iquote .), like CMake's
target_include_directories(... ${PROJECT_SOURCE_DIR}).
"""

def wf_cc_library(name, **kwargs):
    """A component library; mirrors add_library(<name> STATIC ...).

    Args:
      name: must equal the CMake target name (STYLE.md habit 10).
      **kwargs: cc_library attributes.
    """
    kwargs.setdefault("linkstatic", True)  # STATIC in CMake; no .so to build
    kwargs.setdefault("visibility", ["//visibility:public"])
    native.cc_library(name = name, **kwargs)

def wf_cc_test(name, srcs = None, deps = [], data = [], defines = [], **kwargs):
    """One gtest binary; mirrors wf_test(<name> SRCS ... LIBS ...) in CMake.

    Tests run with the workspace root as working directory (Bazel's default),
    so WF_SOURCE_DIR is "." and source-tree files are reachable as
    WF_SOURCE_DIR "/tests/testdata/..." as long as they are in `data` (all of
    tests/testdata/ is, by default). WF_BINARY_DIR is "." as well: a built
    binary listed in `data` (e.g. "//node:watchfloor") is found at
    WF_BINARY_DIR "/node/watchfloor", as in the CMake build tree. Tests must
    write only under $TEST_TMPDIR (or ::testing::TempDir()), never into these
    directories: under Bazel they are read-only.

    Args:
      name: the CMake test name; srcs default to [name + ".cc"].
      srcs: test sources.
      deps: project libraries under test (gtest/gmock/gtest_main are added).
      data: runtime files.
      defines: extra compile definitions (local to the test).
      **kwargs: cc_test attributes (size, timeout, tags, ...).
    """
    if srcs == None:
        srcs = [name + ".cc"]
    kwargs.setdefault("size", "medium")  # CMake: TIMEOUT 300
    native.cc_test(
        name = name,
        srcs = srcs,
        deps = deps + ["@system_libs//:gtest"],
        data = data,
        local_defines = [
            'WF_SOURCE_DIR=\\".\\"',
            'WF_BINARY_DIR=\\".\\"',
        ] + defines,
        **kwargs
    )

_PARITY_KINDS = ["cc_library", "cc_binary", "cc_test", "sh_test"]

def wf_cmake_parity_test(name = "cmake_parity_test", bazel_only = [], cmake_only = []):
    """Test that this package's targets match its CMakeLists.txt by name.

    Call it LAST in a BUILD.bazel file: it lists the cc_library, cc_binary,
    cc_test and sh_test rules defined above it (native.existing_rules()) and
    compares them with the add_library/add_executable/add_test/wf_*() names in
    CMakeLists.txt of the same directory.

    Args:
      name: of the sh_test.
      bazel_only: Bazel targets deliberately without a CMake counterpart.
      cmake_only: CMake targets deliberately without a Bazel counterpart.
    """
    names = sorted([
        r["name"]
        for r in native.existing_rules().values()
        if r["kind"] in _PARITY_KINDS and r["name"] != name
    ])
    native.sh_test(
        name = name,
        size = "small",
        srcs = ["//third_party/bazel:cmake_parity_test.sh"],
        data = ["CMakeLists.txt"],
        args = [
            "--cmakelists=$(location CMakeLists.txt)",
            "--bazel=" + ",".join(names),
            "--bazel_only=" + ",".join(bazel_only),
            "--cmake_only=" + ",".join(cmake_only),
        ],
    )
