#!/usr/bin/env bash
# Runs on the GPU machine (the run tool), from the repository root, after
# dev/cuda/build.sh has filled .cudarun/ here. Steps, in the order given:
#   env       device, driver, clocks (read only)
#   test      build/tests/test_cuda: every op vs the CPU, fixture and random-size parity
#   sanitize  compute-sanitizer memcheck + racecheck on one frame (seg-nano, tiny-w2)
#   bench     dev/cuda/bench_cuda (BENCH_SIZES, BENCH_BATCHES, BENCH_PRECS, BENCH_ITERS)
#   cli       `rfseg bench --device cuda` for seg-nano (the user-facing command)
#   ncu       per-kernel device times of one seg-nano frame (Nsight Compute)
# Logs go to $OUT/<step>.log; a summary is printed last.
#   usage: dev/cuda/device_run.sh env test sanitize bench cli ncu
set -u
cd "$(dirname "$0")/../.."
. dev/cuda/device_env.sh
NCU=$(command -v ncu || ls /usr/local/cuda/bin/ncu 2>/dev/null)
for s in "$@"; do
    case $s in
    env)
        { nvidia-smi; nvidia-smi -q -d CLOCK | head -30; echo "cublasLt: $CUBLAS"; ls $W/libs;
          ldd $BIN/test_cuda; } >"$OUT/env.log" 2>&1
        summary+=("env: $(nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader)")
        ;;
    test)
        step test 420 env RFS_TEST_SKIP_RANDOM=${RFS_TEST_SKIP_RANDOM:-} $BIN/test_cuda
        grep -E "FAIL|check failed" "$OUT/test.log" | head -20
        ;;
    sanitize)
        # racecheck does not model cuBLAS's TMA/mbarrier (nvjet_*) kernels and reports
        # hazards inside them; our kernels are checked with those excluded
        NANO="$BIN/rfseg bench --device cuda --random-weights seg-nano --frames 1 --warmup 0"
        TINY="$BIN/rfseg bench --device cuda --model $RFS_SHARED/fixtures/rfdetr/tiny-w2.pth --frames 1 --warmup 0"
        echo "=== memcheck seg-nano fp16 eager" >>"$OUT/sanitize.log"
        step sanitize 200 env RFS_CUDA_EAGER=1 $SAN --tool memcheck --error-exitcode 3 $NANO --precision fp16
        echo "=== memcheck seg-nano fp32 graph" >>"$OUT/sanitize.log"
        step sanitize 200 $SAN --tool memcheck --error-exitcode 3 $NANO --precision fp32
        echo "=== memcheck tiny-w2 bf16 graph" >>"$OUT/sanitize.log"
        step sanitize 200 $SAN --tool memcheck --error-exitcode 3 $TINY --precision bf16
        echo "=== racecheck seg-nano fp16 eager (cuBLAS nvjet_* hazards are TMA false positives)" >>"$OUT/sanitize.log"
        step sanitize 300 env RFS_CUDA_EAGER=1 $SAN --tool racecheck --error-exitcode 3 $NANO --precision fp16
        echo "=== racecheck tiny-w2 fp32 graph" >>"$OUT/sanitize.log"
        step sanitize 200 $SAN --tool racecheck --error-exitcode 3 $TINY --precision fp32
        summary+=("racecheck hazards outside cuBLAS (nvjet): $(grep 'Race reported' "$OUT/sanitize.log" | grep -vc nvjet)")
        ;;
    bench)
        step bench 540 $BIN/bench_cuda --sizes "${BENCH_SIZES:-seg-nano}" --batches "${BENCH_BATCHES:-1,8,32}" \
            --precisions "${BENCH_PRECS:-fp16,bf16}" --iters "${BENCH_ITERS:-50}" ${BENCH_FLAGS:-}
        grep -E "^(seg|ceiling|device)" "$OUT/bench.log"
        ;;
    cli)
        for b in 1 8 32; do for p in fp16 bf16; do
            step cli 120 $BIN/rfseg bench --device cuda --random-weights seg-nano --precision $p --batch $b --frames 100 --warmup 5
        done; done
        grep -E "^\{" "$OUT/cli.log"
        ;;
    ncu)
        # per-kernel device time of one seg-nano frame, eager launches (NCU_BATCH, NCU_PREC)
        f=ncu${NCU_BATCH:-1}
        step $f 300 env RFS_CUDA_EAGER=1 $NCU --clock-control none --csv --print-units base \
            --metrics gpu__time_duration.sum,dram__throughput.avg.pct_of_peak_sustained_elapsed \
            $BIN/rfseg bench --device cuda --random-weights ${NCU_MODEL:-seg-nano} --precision ${NCU_PREC:-fp16} --batch ${NCU_BATCH:-1} --frames 1 --warmup 0
        ;;
    esac
done
echo "==== summary"
printf '%s\n' "${summary[@]}"
