#!/usr/bin/env bash
# On the GPU machine (the run tool, carry [".cudarun"], after dev/cuda/build.sh and
# dev/worker/pack_gpu.sh filled .cudarun/ here): `rfseg worker` throughput with the CUDA
# backend, random-weight seg-nano fp16, jobs of chelsea.jpg pushed by dev/worker/wbench
# through a local redis-server carried from the dev machine.
#   dev/worker/device_bench.sh           1, 2 and 4 workers sharing GPU 0
#   MODE=multi dev/worker/device_bench.sh  every GPU: one worker with --device cuda:all,
#                                        then one worker per GPU (--device cuda:N)
# Knobs: N (jobs per run, 4000), B (--max-batch, 32), WORKERS, PREC (fp16), WORKER_ARGS.
# Tables on stdout and in $OUT/worker_bench.md; logs under $OUT.
set -u
cd "$(dirname "$0")/../.."
. dev/cuda/device_env.sh
export OMP_WAIT_POLICY=passive
R=/tmp/rfs-worker
rm -rf $R && mkdir -p $R && tar xJf .cudarun/worker.tar.xz -C $R
for l in $R/redis/libs/* $R/libs/*; do   # the machine's own copy wins where it has one
    n=$(basename "$l")
    if ldconfig -p | grep -q " $n "; then rm -f "$l"; fi
done
export LD_LIBRARY_PATH=$R/redis/libs:$R/libs:$LD_LIBRARY_PATH
export RFSEG=$BIN/rfseg REDIS_SERVER=$R/redis/redis-server WBENCH=$R/wbench IMAGE=$R/chelsea.jpg OUT
export MODEL_ARGS="--random-weights seg-nano" N=${N:-4000} B=${B:-32}
export WORKER_ARGS="--precision ${PREC:-fp16} ${WORKER_ARGS:-}"
"$REDIS_SERVER" --version || { echo "the carried redis-server does not start here"; ldd "$REDIS_SERVER"; exit 1; }
ngpu=$(nvidia-smi -L | wc -l)
{
echo "# $(nvidia-smi --query-gpu=name --format=csv,noheader | head -1) x$ngpu, $(nproc) CPUs; seg-nano (random weights) ${PREC:-fp16}, --max-batch $B, N=$N jobs of chelsea.jpg 451x300 ($(stat -c %s $IMAGE) bytes)"
if [ "${MODE:-single}" = multi ]; then
    echo; echo "## one worker, --device cuda:all"
    WORKERS=1 DEVICES=cuda:all dev/worker/run_bench.sh
    echo; echo "## one worker per GPU"
    WORKERS=$ngpu DEVICES="$(seq -s ' ' -f 'cuda:%g' 0 $((ngpu - 1)))" dev/worker/run_bench.sh
else
    echo; echo "## workers sharing GPU 0"
    WORKERS=${WORKERS:-1 2 4} DEVICES=cuda:0 dev/worker/run_bench.sh
fi
} 2>&1 | tee "$OUT/worker_bench.md"
