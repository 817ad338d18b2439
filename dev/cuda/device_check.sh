#!/usr/bin/env bash
# The GPU machine's checks and benchmarks of issues 8 and 10 in one call (the run tool), from
# the repository root, after dev/cuda/build.sh has filled .cudarun/ here. Steps, in the
# order given (each bounded by its own timeout; logs in $OUT/<step>.log; a summary last):
#   env     device, driver, clocks (read only)
#   test    test_cuda on the device's own code path (every op vs the CPU, fixtures, one
#           weight copy for 8 sessions, --raw-out), then RFS_CUDA_ARCH=80 and =75 (the
#           Ampere and Turing paths forced on this GPU; random sizes skipped there)
#   ptest   test_cuda_pipeline (device pipeline vs CPU pipeline bit for bit, every preset;
#           fp16/bf16 keep fp32's detections on seg-nano and seg-medium, RFS_CLIP frames),
#           then RFS_CUDA_ARCH=75
#   san     compute-sanitizer memcheck and racecheck on one frame of each code path
#   tune    the network alone, seg-nano b1/8/32 fp16/bf16, cuBLASLt heuristic vs timed choice
#   e2e     seg-nano end to end (uint8 frames -> JSON), batch 1 streaming and batch 32
#   sessions  N sessions of one model streaming batch 1 side by side (N = 1, 4, 16)
#   sizes   every seg size, network alone, batch 1/8/32, fp16
#   usage: dev/cuda/device_check.sh env test ptest san tune e2e sessions sizes
set -u
cd "$(dirname "$0")/../.."
. dev/cuda/device_env.sh
NANO="--random-weights seg-nano"
TINY="--model $RFS_SHARED/fixtures/rfdetr/tiny-w2.pth"
export RFS_CLIP=$CL/clip426.y4m
for s in "$@"; do
    case $s in
    env)
        { nvidia-smi; nvidia-smi -q -d CLOCK | head -30; nproc; lscpu | head -20; ls $W/libs; } >"$OUT/env.log" 2>&1
        summary+=("env: $(nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader), $(nproc) CPUs")
        ;;
    test)
        step test 200 $BIN/test_cuda
        step test 90 env RFS_CUDA_ARCH=80 RFS_TEST_SKIP_RANDOM=1 $BIN/test_cuda
        step test 120 env RFS_CUDA_ARCH=75 RFS_TEST_SKIP_RANDOM=1 $BIN/test_cuda
        grep -E "FAIL|check failed|code path|weights|raw-out|bf16 on" "$OUT/test.log" | head -30
        ;;
    ptest)
        step ptest 200 $BIN/test_cuda_pipeline
        step ptest 120 env RFS_CUDA_ARCH=75 $BIN/test_cuda_pipeline
        grep -E "FAIL|check failed|code path|kept by|bit-exact" "$OUT/ptest.log" | head -30
        ;;
    san)
        step san 120 $SAN --tool memcheck --error-exitcode 3 \
            $BIN/rfseg bench --device cuda $TINY --precision bf16 --batch 2 --frames 2 --warmup 1 --source $CL/clip426.y4m --decode-frames 4
        step san 120 env RFS_CUDA_ARCH=75 $SAN --tool memcheck --error-exitcode 3 \
            $BIN/rfseg bench --device cuda $TINY --precision fp16 --batch 2 --frames 2 --warmup 1 --source $CL/clip426.y4m --decode-frames 4
        step san 150 $SAN --tool racecheck \
            $BIN/rfseg bench --device cuda $TINY --precision fp16 --batch 1 --frames 1 --warmup 1 --source $CL/clip426.y4m --decode-frames 2
        step san 150 env RFS_CUDA_ARCH=75 $SAN --tool racecheck \
            $BIN/rfseg bench --device cuda $TINY --precision fp16 --batch 1 --frames 1 --warmup 1 --source $CL/clip426.y4m --decode-frames 2
        summary+=("racecheck hazards outside cuBLAS (nvjet): $(grep 'Race reported' "$OUT/san.log" | grep -vc nvjet)")
        grep -E "ERROR SUMMARY|RACECHECK SUMMARY" "$OUT/san.log" | sort | uniq -c
        ;;
    tune)
        for t in 0 1; do
            step tune 120 env RFS_CUDA_GEMM_TUNE=$t $BIN/bench_cuda --sizes seg-nano --batches 1,8,32 \
                --precisions fp16,bf16 --iters 50
        done
        grep -E "^seg" "$OUT/tune.log"
        ;;
    e2e)
        R="$BIN/rfseg bench --device cuda $NANO"
        for t in 0 1; do
            step e2e 60 env RFS_CUDA_GEMM_TUNE=$t $R --precision fp16 --batch 1 --frames 3000 --source $CL/clip312.y4m --inflight 2 --workers 4
            step e2e 60 env RFS_CUDA_GEMM_TUNE=$t $R --precision fp16 --batch 32 --frames 6400 --source $CL/clip312.y4m --inflight 2 --workers 12
        done
        ;;
    sessions)
        for n in 1 4 16; do
            step sessions 90 $BIN/rfseg bench --device cuda $NANO --precision fp16 --batch 1 --frames 600 \
                --source $CL/clip312.y4m --sessions $n
        done
        grep -E "sessions of" "$OUT/sessions.log"
        ;;
    sizes)
        step sizes 240 $BIN/bench_cuda --sizes seg-small,seg-medium,seg-large,seg-xlarge,seg-2xlarge,seg-preview \
            --batches 1,8,32 --precisions fp16 --iters 20
        grep -E "^seg" "$OUT/sizes.log"
        ;;
    esac
done
echo "==== JSON"
grep -h -E '^\{' "$OUT"/e2e.log "$OUT"/sessions.log 2>/dev/null | cut -c1-400
echo "==== summary"
printf '%s\n' "${summary[@]}"
