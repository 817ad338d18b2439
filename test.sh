#!/usr/bin/env bash
# The test command: installs the build and test dependencies (Debian packages), builds
# with warnings as errors, runs every test (`make test`), compiles the CUDA backend where
# nvcc exists, then runs the sanitizer build of the tests that read untrusted input and a
# bounded fuzzing run.
set -euo pipefail
cd "$(dirname "$0")"
scripts/install-deps.sh --test
jobs=$(nproc 2>/dev/null || echo 2)
make -j"$jobs"
make test
# The CUDA backend is compiled wherever nvcc exists; its tests skip the GPU part, saying
# so, on a machine without a GPU.
if [ -x /usr/local/cuda/bin/nvcc ] || command -v nvcc >/dev/null 2>&1; then
    make -j"$jobs" cuda
    build-cuda/tests/test_cuda
else
    echo "test.sh: no nvcc on this machine: the CUDA backend is not compiled"
fi
tests/sanitize.sh
