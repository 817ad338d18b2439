#!/usr/bin/env bash
# Runs the tests: the C test binaries ($BUILD/tests/test_*), then the Python differential
# and command-line tests (tests/diff_*.py, tests/cli_*.py, tests/serve_*.py, run with Debian's python3 that
# has cv2/numpy/PIL), or only the tests named as arguments (`tests/run.sh test_cuda`).
#
# Each program is PASS (exit 0), FAIL (non-zero exit) or SKIP: it exited 0 but could not
# run its subject here (it printed a line starting with "SKIP" and checked nothing, e.g.
# the CUDA tests without a GPU). A skip is never counted as a pass. The last line is
# "N passed, N failed", after a "K skipped" line when any were skipped; with RFS_TALLY set,
# "passed failed skipped" is also appended to that file (test.sh sums them).
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
PYTHON=${PYTHON:-/usr/bin/python3}
export RFS_SHARED=${RFS_SHARED:-$(cd .. && pwd)/shared}
export RFS_BUILD=$BUILD
pass=0; fail=0; skip=0; failed=()
run() {  # name, command...
    local name=$1; shift
    local log; log=$(mktemp)
    local t0=$SECONDS
    if "$@" >"$log" 2>&1; then
        local why; why=$(grep -m1 '^SKIP' "$log")
        if [ -n "$why" ] && grep -q '^0 passed, 0 failed' "$log"; then
            skip=$((skip+1)); printf 'SKIP %-40s %3ds  %s\n' "$name" $((SECONDS-t0)) "$why"
        else
            pass=$((pass+1)); printf 'PASS %-40s %3ds  %s\n' "$name" $((SECONDS-t0)) "$(tail -n1 "$log")"
            [ -n "$why" ] && printf '     %-40s       (part skipped: %s)\n' "" "$why"
        fi
    else
        fail=$((fail+1)); failed+=("$name"); printf 'FAIL %-40s %3ds\n' "$name" $((SECONDS-t0))
        sed 's/^/    /' "$log" | tail -n 60
    fi
    rm -f "$log"
}
if [ $# -gt 0 ]; then
    for name in "$@"; do
        case $name in
            *.py) run "$name" "$PYTHON" "tests/$name" ;;
            *) run "$name" "$BUILD/tests/$name" ;;
        esac
    done
else
    for t in "$BUILD"/tests/test_*; do
        [ -x "$t" ] || continue
        run "$(basename "$t")" "$t"
    done
    for p in tests/diff_*.py tests/cli_*.py tests/serve_*.py; do
        [ -f "$p" ] || continue
        run "$(basename "$p")" "$PYTHON" "$p"
    done
fi
[ -n "${RFS_TALLY:-}" ] && echo "$pass $fail $skip" >> "$RFS_TALLY"
[ $skip -eq 0 ] || echo "$skip skipped"
[ $fail -eq 0 ] || echo "failed: ${failed[*]}"
echo "$pass passed, $fail failed"
[ $fail -eq 0 ]
