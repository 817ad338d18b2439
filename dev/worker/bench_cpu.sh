#!/usr/bin/env bash
# rfseg worker on this machine's CPU: jobs/s with 1, 2 and 4 worker processes sharing a
# local redis-server, for the tiny fixture model and for seg-nano (random weights).
# Each worker gets --threads max(1, CPUs / workers). Needs `make` (build/rfseg with
# hiredis), redis-server, python3-opencv (to make the JPEG every job carries).
#   dev/worker/bench_cpu.sh            # both models; N_TINY=400 N_NANO=40 by default
set -eu
cd "$(dirname "$0")/../.."
export RFS_SHARED=${RFS_SHARED:-$(cd .. && pwd)/shared}
OUT=${OUT:-/tmp/rfs-worker-bench}
mkdir -p "$OUT"
cc -O2 -std=c11 -D_GNU_SOURCE -Wall -I/usr/include/hiredis dev/worker/wbench.c -lhiredis -o "$OUT/wbench"
/usr/bin/python3 -c "import cv2, sys; cv2.imwrite(sys.argv[2], cv2.imread(sys.argv[1]), [cv2.IMWRITE_JPEG_QUALITY, 90])" \
    "$RFS_SHARED/fixtures/images/chelsea.png" "$OUT/chelsea.jpg"
export RFSEG=$PWD/build/rfseg REDIS_SERVER=${REDIS_SERVER:-$(command -v redis-server)} WBENCH=$OUT/wbench \
       IMAGE=$OUT/chelsea.jpg OUT
cpus=$(nproc)
echo "# $(date -u '+%F %H:%M UTC'), $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg); image chelsea.jpg 451x300 q90 ($(stat -c %s "$OUT/chelsea.jpg") bytes)"
for m in tiny nano; do
    if [ $m = tiny ]; then
        export MODEL_ARGS="--model $RFS_SHARED/fixtures/rfdetr/tiny-w1.pth" N=${N_TINY:-400}
    else
        export MODEL_ARGS="--random-weights seg-nano" N=${N_NANO:-40}
    fi
    echo
    echo "## $m: $MODEL_ARGS, N=$N, --max-batch ${B:-4}"
    skip=0   # the table header once
    for w in ${WORKERS:-1 2 4}; do
        t=$((cpus / w)); [ $t -ge 1 ] || t=1
        WORKERS=$w WORKER_ARGS="--threads $t" dev/worker/run_bench.sh | tail -n +$((skip + 1))
        skip=2
    done
done
