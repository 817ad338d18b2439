#!/usr/bin/env bash
# On the GPU machine (after dev/cuda/build.sh packed .cudarun/ here): rfseg serve with the
# CUDA backend, random-weight seg-nano, loaded by dev/serve/pyload.py (no wrk there) at 1, 8
# and 64 concurrent clients, fp16; the batch sizes come from /metrics. Logs under $OUT.
set -u
cd "$(dirname "$0")/../.."
. dev/cuda/device_env.sh
export OMP_WAIT_POLICY=passive
img=.cudarun/shared/fixtures/images/chelsea.png
secs=${SECS:-10}
for mb in ${MAXB:-8 32}; do
    port=$((9100 + mb))
    $BIN/rfseg serve --device cuda --precision fp16 --random-weights seg-nano:m --port $port \
        --max-batch $mb --batch-wait-ms 2 --queue 1024 --max-connections 512 --max-client-connections 0 --deadline-ms 600000 \
        >"$OUT/serve_$mb.log" 2>&1 &
    pid=$!
    for _ in $(seq 300); do python3 -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$port/healthz')" 2>/dev/null && break; sleep 0.2; done
    echo "### --max-batch $mb (seg-nano fp16, chelsea.png 451x300 base64, $secs s per row)"
    python3 dev/serve/pyload.py $port $img 3 8 >/dev/null   # warm-up: graphs for the batch sizes
    python3 dev/serve/pyload.py $port $img $secs 1 8 64
    kill -TERM $pid; wait $pid
done 2>&1 | tee "$OUT/serve_bench.md"
