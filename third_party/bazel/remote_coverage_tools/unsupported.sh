#!/bin/sh
echo "error: 'bazel coverage' is not supported in this offline build;" \
     "build with CMake for coverage reports" >&2
exit 1
