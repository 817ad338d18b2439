#!/usr/bin/env bash
# The tests that read untrusted input (checkpoints, images, video, requests, options),
# rebuilt with AddressSanitizer + UBSan (make asan, in build-asan/), then a bounded fuzzing
# run of every libFuzzer target. Exits non-zero on any sanitizer report or failure.
set -u
cd "$(dirname "$0")/.."
export RFS_SHARED=${RFS_SHARED:-$(cd .. && pwd)/shared}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
make -s -j"$(nproc 2>/dev/null || echo 2)" asan || { echo "FAIL: asan build"; exit 1; }
fail=0
for t in test_tensorfile test_image_io test_model_load test_model_parity test_pipeline_units test_cpu_ops test_cpu_kernels test_cpu_bf16 test_serve test_serve_hostile test_sessions test_worker; do
    bin=build-asan/tests/$t
    [ -x "$bin" ] || continue
    if "$bin" >/tmp/rfs_asan_$t.log 2>&1; then
        echo "PASS asan $t: $(tail -n1 /tmp/rfs_asan_$t.log)"
    else
        echo "FAIL asan $t"; tail -n 40 /tmp/rfs_asan_$t.log; fail=1
    fi
done
tests/fuzz/run_fuzz.sh "${FUZZ_SECONDS:-30}" || fail=1
exit $fail
