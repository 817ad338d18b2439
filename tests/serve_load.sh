#!/usr/bin/env bash
# Bounded load and leak test of rfseg serve over loopback with wrk (not part of `make test`:
# it takes minutes on a 2-core machine). CPU backend, the tiny fixture model.
#
#   tests/serve_load.sh [LOAD_SECONDS (20)] [LEAK_REQUESTS (10000)] [CONNECTIONS (8)]
#
# 1. load: wrk with CONNECTIONS connections for LOAD_SECONDS: every answer must be 200 and
#    there must be no socket errors (connect, read, write, timeout).
# 2. leak: the server's RSS after a warm-up (the load phase) and after LEAK_REQUESTS more
#    requests; it must not grow by more than 16 MiB (memory flat: freed per request).
# Prints the wrk reports, the batch sizes the server chose, and PASS/FAIL.
# Needs wrk and curl. OMP_WAIT_POLICY=passive unless set: idle OpenMP threads must not
# spin on the cores the HTTP threads need (see docs/serve.md).
set -u
cd "$(dirname "$0")/.."
secs=${1:-20}; leak_n=${2:-10000}; conns=${3:-8}
export RFS_SHARED=${RFS_SHARED:-$(cd .. && pwd)/shared}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
BUILD=${BUILD:-build}
command -v wrk >/dev/null || { echo "FAIL: wrk not installed"; exit 2; }
serve=("$BUILD/rfseg" serve)

tmp=$(mktemp -d)
wrk_pid=
trap 'kill $wrk_pid $pid 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
/usr/bin/python3 - "$RFS_SHARED/fixtures/images/chelsea.png" "$tmp/body.json" <<'PY'
import base64, io, json, sys
from PIL import Image
im = Image.open(sys.argv[1]).convert("RGB").resize((160, 107))
b = io.BytesIO(); im.save(b, "JPEG", quality=90)
json.dump({"model_id": "tiny", "image": {"type": "base64", "value": base64.b64encode(b.getvalue()).decode()}},
          open(sys.argv[2], "w"))
PY
cat >"$tmp/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open(os.getenv("RFS_BODY"), "rb"); wrk.body = f:read("*a"); f:close()
LUA
port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"${serve[@]}" --model "$RFS_SHARED/fixtures/rfdetr/tiny-w1.pth:tiny" --port "$port" --max-batch 8 \
    --batch-wait-ms 5 --queue 64 2>"$tmp/server.log" &
pid=$!
for _ in $(seq 300); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
url=http://127.0.0.1:$port/infer/instance_segmentation
rss() { awk '/VmRSS/ {print $2}' /proc/$pid/status; }
fail=0
check() { # wrk report file
    if grep -qE 'Socket errors|Non-2xx' "$1"; then echo "FAIL: $(grep -E 'Socket errors|Non-2xx' "$1")"; fail=1; fi
}
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== load: $conns connections, ${secs}s"
RFS_BODY=$tmp/body.json wrk -t1 -c"$conns" -d"${secs}s" --timeout 30s --latency -s "$tmp/post.lua" "$url" | tee "$tmp/load.txt"
check "$tmp/load.txt"
rss0=$(rss)
echo "== leak: $leak_n requests on $conns connections (RSS before: $rss0 KiB)"
answered() { curl -s "http://127.0.0.1:$port/metrics" | awk '/^rfseg_requests_total/ {n += $2} END {print n + 0}'; }
target=$(( $(answered) + leak_n ))
RFS_BODY=$tmp/body.json wrk -t1 -c"$conns" -d24h --timeout 30s -s "$tmp/post.lua" "$url" >"$tmp/leak.txt" &
wrk_pid=$!
t0=$SECONDS
while [ "$(answered)" -lt "$target" ] && kill -0 $wrk_pid 2>/dev/null; do sleep 1; done
kill -INT $wrk_pid; wait $wrk_pid   # wrk stops on SIGINT and prints its report
cat "$tmp/leak.txt"
echo "(${leak_n}+ requests in $((SECONDS - t0)) s)"
check "$tmp/leak.txt"
rss1=$(rss)
echo "RSS after: $rss1 KiB (growth $((rss1 - rss0)) KiB)"
[ $((rss1 - rss0)) -le 16384 ] || { echo "FAIL: RSS grew by $((rss1 - rss0)) KiB"; fail=1; }
curl -s "http://127.0.0.1:$port/metrics" | grep -E '^rfseg_(requests_total|batch_size_(sum|count)|frames_total|requests_dropped_total)'
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
kill -TERM $pid; wait $pid; st=$?
[ $st -eq 0 ] || { echo "FAIL: server exit status $st"; fail=1; }
[ $fail -eq 0 ] && echo "PASS serve load/leak" || echo "FAIL serve load/leak"
exit $fail
