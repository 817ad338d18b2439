#!/usr/bin/env bash
# The test command: installs the build and test dependencies (Debian packages), builds
# with warnings as errors, runs every test (`make test`), then the sanitizer build of the
# tests that read untrusted input, and a bounded fuzzing run.
set -euo pipefail
cd "$(dirname "$0")"
scripts/install-deps.sh --test
jobs=$(nproc 2>/dev/null || echo 2)
make -j"$jobs"
make test
if [ -x tests/sanitize.sh ]; then tests/sanitize.sh; fi
