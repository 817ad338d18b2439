#!/usr/bin/env bash
# Runs every test: the C test binaries (build/tests/test_*), then the Python differential
# and command-line tests (tests/diff_*.py, tests/cli_*.py, tests/serve_*.py, run with Debian's python3 that
# has cv2/numpy/PIL). Prints one
# line per test program and a final "N passed, N failed"; exits non-zero on any failure.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
PYTHON=${PYTHON:-/usr/bin/python3}
export RFS_SHARED=${RFS_SHARED:-$(cd .. && pwd)/shared}
export RFS_BUILD=$BUILD
pass=0; fail=0; failed=()
run() {  # name, command...
    local name=$1; shift
    local log; log=$(mktemp)
    local t0=$SECONDS
    if "$@" >"$log" 2>&1; then
        pass=$((pass+1))
        # a test that could not run its subject here (no GPU) says why on a SKIP line
        local what; what=$(grep -m1 '^SKIP' "$log" || tail -n1 "$log")
        printf 'PASS %-40s %3ds  %s\n' "$name" $((SECONDS-t0)) "$what"
    else
        fail=$((fail+1)); failed+=("$name"); printf 'FAIL %-40s %3ds\n' "$name" $((SECONDS-t0))
        sed 's/^/    /' "$log" | tail -n 60
    fi
    rm -f "$log"
}
for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    run "$(basename "$t")" "$t"
done
for p in tests/diff_*.py tests/cli_*.py tests/serve_*.py; do
    [ -f "$p" ] || continue
    run "$(basename "$p")" "$PYTHON" "$p"
done
echo "$pass passed, $fail failed"
[ $fail -eq 0 ] || { echo "failed: ${failed[*]}"; exit 1; }
