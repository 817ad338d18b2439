#!/usr/bin/env bash
# The test command: installs the build and test dependencies (Debian packages), builds
# with warnings as errors, runs every test (`make test`), compiles the CUDA backend where
# nvcc exists and runs its tests (they skip, saying so, without a GPU), then the sanitizer
# build of the tests that read untrusted input and a bounded fuzzing run.
#
# Every test program, sanitizer run and fuzz target counts once: passed, failed or
# skipped (never counted as passed). The last line is the total, "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")"
scripts/install-deps.sh --test || { echo "test.sh: dependencies could not be installed"; echo "0 passed, 1 failed"; exit 1; }
jobs=$(nproc 2>/dev/null || echo 2)
tally=$(mktemp)
log=$(mktemp)
trap 'rm -f "$tally" "$log"' EXIT
builds=0
make -j"$jobs" || builds=1
if [ $builds -eq 0 ]; then
    RFS_TALLY=$tally make test
    # the CPU kernels' slower instruction-set paths, forced (the machine's best ran above)
    for isa in avx2 baseline; do
        echo "parity with RFS_CPU_ISA=$isa:"
        RFS_CPU_ISA=$isa RFS_TALLY=$tally tests/run.sh test_model_parity test_presets
    done
else
    echo "0 1 0" >> "$tally"   # the build is a failure of its own
fi
# The CUDA backend is compiled wherever nvcc exists; its tests skip, saying so, without a GPU.
if [ -x /usr/local/cuda/bin/nvcc ] || command -v nvcc >/dev/null 2>&1; then
    if make -j"$jobs" cuda; then
        RFS_TALLY=$tally BUILD=build-cuda tests/run.sh test_cuda test_cuda_pipeline
    else
        echo "0 1 0" >> "$tally"
    fi
else
    echo "test.sh: no nvcc on this machine: the CUDA backend is not compiled"
fi
# Sanitizers and fuzzing: one line per program or target ("PASS asan X" / "FAIL asan X",
# "ok   name: ..." / "FAIL name:", "skipped: ..." when libFuzzer is missing).
tests/sanitize.sh 2>&1 | tee "$log"
p=$(grep -c -E '^(PASS asan |ok   )' "$log")
f=$(grep -c -E '^FAIL' "$log")
s=$(grep -c -E '^skipped:' "$log")
echo "$p $f $s" >> "$tally"
awk '{p += $1; f += $2; s += $3} END {
    if (s) printf "%d skipped\n", s
    printf "%d passed, %d failed\n", p, f
    exit f ? 1 : 0 }' "$tally"
