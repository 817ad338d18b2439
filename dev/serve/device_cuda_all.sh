#!/usr/bin/env bash
# On a multi-GPU machine (nvidia-h100-x2 or larger, after dev/cuda/build.sh packed .cudarun/
# here): rfseg serve --device cuda:all (one session per GPU, all draining the model's one
# queue) against --device cuda:0, random-weight seg-nano fp16, loaded by dev/serve/pyload.py
# at 8 and 64 clients; then answers of both compared for the same image (they must be equal:
# every GPU runs the same pipeline). Logs under $OUT.
set -u
cd "$(dirname "$0")/../.."
. dev/cuda/device_env.sh
export OMP_WAIT_POLICY=passive
img=.cudarun/shared/fixtures/images/chelsea.png
secs=${SECS:-10}
nvidia-smi -L
for dev in cuda:0 cuda:all; do
    port=9200
    $BIN/rfseg serve --device $dev --precision fp16 --random-weights seg-nano:m --port $port \
        --max-batch 16 --batch-wait-ms 2 --queue 1024 --max-connections 512 --max-client-connections 0 \
        --deadline-ms 600000 >"$OUT/serve_${dev/:/_}.log" 2>&1 &
    pid=$!
    for _ in $(seq 300); do python3 -c "import urllib.request as u; u.urlopen('http://127.0.0.1:$port/healthz')" 2>/dev/null && break; sleep 0.2; done
    echo "### --device $dev"
    python3 -c "import urllib.request as u, json; print('sessions per model:', json.load(u.urlopen('http://127.0.0.1:$port/info'))['sessions_per_model'])"
    python3 dev/serve/pyload.py $port $img 3 8 >/dev/null   # warm-up
    python3 dev/serve/pyload.py $port $img $secs 8 64
    python3 - "$port" "$img" >"$OUT/answer_${dev/:/_}.json" <<'PY'
import base64, json, re, sys, urllib.request
port, img = sys.argv[1], sys.argv[2]
body = json.dumps({"model_id": "m", "image": {"type": "base64", "value": base64.b64encode(open(img, "rb").read()).decode()}}).encode()
for _ in range(8):  # several requests, so that every GPU answers at least once
    r = urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/infer/instance_segmentation", body, {"Content-Type": "application/json"}))
    t = re.sub(r'"(detection_id|inference_id)":"[^"]*"', '', r.read().decode())
    print(re.sub(r'"time":[^,]*,', '', t))
PY
    kill -TERM $pid; wait $pid
done 2>&1 | tee "$OUT/cuda_all.md"
if [ "$(sort -u "$OUT"/answer_cuda_0.json "$OUT"/answer_cuda_all.json | wc -l)" = 1 ]; then
    echo "PASS: every answer of cuda:0 and cuda:all is the same" | tee -a "$OUT/cuda_all.md"
else
    echo "FAIL: the answers differ" | tee -a "$OUT/cuda_all.md"
fi
