#!/usr/bin/env bash
# Issue 4 phase 2 on the GPU machine (the run tool), from the repository root, after
# dev/cuda/build.sh has filled .cudarun/ here. Steps, in the order given:
#   env    device, driver, clocks (read only)
#   ptest  build/tests/test_cuda_pipeline: device pipeline vs CPU pipeline, bit for bit
#   e2e    `rfseg bench --source`: seg-nano end to end (uint8 frames in memory -> JSON with
#          polygons), batch 1 streaming (2 and 1 in flight) and batch 32, fp16 and bf16,
#          312x312 and the clip's native 426x240, the rfdetr preset once
#   cpu    `rfseg bench --device cpu` on the machine's cores (16 and 8 threads)
#   san    compute-sanitizer memcheck on the full pipeline (tiny-w2 batch 2 on both lanes
#          with the mask-overflow path; seg-nano batch 1)
#   test   build/tests/test_cuda (phase 1; RFS_TEST_SKIP_RANDOM=1): the network unchanged
# Logs go to $OUT/<step>.log; a summary and the JSON lines are printed last.
#   usage: dev/cuda/pipeline_run.sh env ptest e2e cpu san test
set -u
cd "$(dirname "$0")/../.."
. dev/cuda/device_env.sh
NANO="--random-weights seg-nano"
for s in "$@"; do
    case $s in
    env)
        { nvidia-smi; nvidia-smi -q -d CLOCK | head -30; nproc; lscpu | head -20; ls $W/libs; } >"$OUT/env.log" 2>&1
        summary+=("env: $(nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm --format=csv,noheader), $(nproc) CPUs")
        ;;
    ptest)
        step ptest 240 $BIN/test_cuda_pipeline
        grep -E "FAIL|check failed" "$OUT/ptest.log" | head -20
        ;;
    e2e)
        R="$BIN/rfseg bench --device cuda $NANO"
        step e2e 90 $R --precision fp16 --batch 1 --frames 4000 --source $CL/clip312.y4m --inflight 2 --workers 4
        step e2e 90 $R --precision fp16 --batch 1 --frames 2000 --source $CL/clip312.y4m --inflight 1 --workers 4
        step e2e 90 $R --precision fp16 --batch 32 --frames 6400 --source $CL/clip312.y4m --inflight 2 --workers 12
        step e2e 90 $R --precision bf16 --batch 1 --frames 4000 --source $CL/clip312.y4m --inflight 2 --workers 4
        step e2e 90 $R --precision bf16 --batch 32 --frames 6400 --source $CL/clip312.y4m --inflight 2 --workers 12
        step e2e 90 $R --precision fp16 --batch 1 --frames 3000 --source $CL/clip426.y4m --inflight 2 --workers 4
        step e2e 90 $R --precision fp16 --batch 32 --frames 6400 --source $CL/clip426.y4m --inflight 2 --workers 12
        step e2e 90 $R --precision fp16 --batch 8 --frames 4000 --source $CL/clip312.y4m --inflight 2 --workers 8
        step e2e 90 $R --precision fp16 --batch 16 --frames 6400 --source $CL/clip312.y4m --inflight 2 --workers 12
        step e2e 90 $R --precision fp16 --batch 32 --frames 3200 --source $CL/clip312.y4m --inflight 1 --workers 12
        step e2e 90 $R --precision fp16 --batch 1 --frames 2000 --source $CL/clip312.y4m --inflight 2 --workers 4 --preset rfdetr
        step e2e 90 $R --precision fp16 --batch 1 --frames 2000 --source $CL/clip312.y4m --inflight 2 --workers 0
        ;;
    cpu)
        step cpu 150 $BIN/rfseg bench --device cpu $NANO --frames 20 --threads 16
        step cpu 150 $BIN/rfseg bench --device cpu $NANO --frames 20 --threads 8
        ;;
    san)
        TINY="--model $RFS_SHARED/fixtures/rfdetr/tiny-w2.pth"
        step san 200 env RFS_CUDA_MASK_WORDS=64 $SAN --tool memcheck --error-exitcode 3 \
            $BIN/rfseg bench --device cuda $TINY --precision bf16 --batch 2 --frames 4 --warmup 2 --source $CL/clip426.y4m --decode-frames 4
        step san 300 $SAN --tool memcheck --error-exitcode 3 \
            $BIN/rfseg bench --device cuda $NANO --precision fp16 --batch 1 --frames 1 --warmup 2 --source $CL/clip312.y4m --decode-frames 2
        grep -E "ERROR SUMMARY|Invalid|error" "$OUT/san.log" | head -20
        ;;
    race)
        # racecheck of the whole-frame pipeline (pre-processing, network, selection, masks,
        # copy-out) on one frame; cuBLAS's own TMA/mbarrier kernels (nvjet_*) are not
        # modelled by racecheck, so hazards are counted outside them
        TINY="--model $RFS_SHARED/fixtures/rfdetr/tiny-w2.pth"
        step race 300 $SAN --tool racecheck --error-exitcode 3 \
            $BIN/rfseg bench --device cuda $TINY --precision fp32 --batch 2 --frames 1 --warmup 1 --source $CL/clip426.y4m --decode-frames 2
        step race 400 $SAN --tool racecheck \
            $BIN/rfseg bench --device cuda $NANO --precision fp16 --batch 1 --frames 1 --warmup 1 --source $CL/clip312.y4m --decode-frames 2
        summary+=("racecheck hazards outside cuBLAS (nvjet): $(grep 'Race reported' "$OUT/race.log" | grep -vc nvjet)")
        grep -E "RACECHECK SUMMARY|Race reported" "$OUT/race.log" | sort | uniq -c | head -20
        ;;
    test)
        step test 300 env RFS_TEST_SKIP_RANDOM=1 $BIN/test_cuda
        grep -E "FAIL|check failed" "$OUT/test.log" | head -20
        ;;
    esac
done
echo "==== JSON"
grep -h -E '^\{' "$OUT"/e2e.log "$OUT"/cpu.log 2>/dev/null
echo "==== summary"
printf '%s\n' "${summary[@]}"
