#!/usr/bin/env bash
# Benchmark of rfseg serve (not a test): requests/s and latency p50/p99 at 1, 8 and 64
# concurrent clients (wrk, keep-alive connections, one thread) on loopback, CPU backend,
# for the tiny fixture model and --random-weights seg-nano, with the batch sizes the server
# chose (from /metrics). A fresh server per row; one warm-up request first.
#
#   dev/serve/bench.sh [SECONDS_TINY (20)] [SECONDS_NANO (60)] [IMAGE (chelsea.png)]
#   MODELS="tiny" CLIENTS="8" dev/serve/bench.sh      (a subset of the rows)
#
# Prints a markdown table. OMP_WAIT_POLICY=passive unless set (docs/serve.md says why).
set -u
cd "$(dirname "$0")/../.."
t_tiny=${1:-20}; t_nano=${2:-60}
export RFS_SHARED=${RFS_SHARED:-$(cd .. && pwd)/shared}
img=${3:-$RFS_SHARED/fixtures/images/chelsea.png}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
BUILD=${BUILD:-build}
serve=("$BUILD/rfseg" serve)
tmp=$(mktemp -d)
pid=
trap 'kill $pid 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
/usr/bin/python3 -c 'import base64, json, sys
json.dump({"model_id": "m", "image": {"type": "base64", "value": base64.b64encode(open(sys.argv[1], "rb").read()).decode()}}, open(sys.argv[2], "w"))' "$img" "$tmp/body.json"
cat >"$tmp/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open(os.getenv("RFS_BODY"), "rb"); wrk.body = f:read("*a"); f:close()
LUA
metric() { curl -s "http://127.0.0.1:$port/metrics" | awk -v k="$1" '$1 == k {print $2}'; }
echo "| model | clients | requests/s | p50 ms | p99 ms | mean batch | batches of 1 / 2 / <=4 / <=8 | errors | load before -> after |"
echo "|---|---|---|---|---|---|---|---|---|"
for model in ${MODELS:-tiny seg-nano}; do
    if [ $model = tiny ]; then margs=(--model "$RFS_SHARED/fixtures/rfdetr/tiny-w1.pth:m"); secs=$t_tiny
    else margs=(--random-weights seg-nano:m); secs=$t_nano; fi
    for c in ${CLIENTS:-1 8 64}; do
        port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
        "${serve[@]}" "${margs[@]}" --port "$port" --max-batch 8 --batch-wait-ms 5 --queue 256 --max-client-connections 0 \
            --deadline-ms 600000 --max-connections 256 2>"$tmp/server.log" &
        pid=$!
        for _ in $(seq 600); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
        curl -s -o /dev/null -X POST --data-binary @"$tmp/body.json" "http://127.0.0.1:$port/infer/instance_segmentation"
        b0=$(metric rfseg_batch_size_count); f0=$(metric rfseg_batch_size_sum)
        h0=($(curl -s "http://127.0.0.1:$port/metrics" | awk -F'[ "]' '/^rfseg_batch_size_bucket/ {print $(NF)}'))
        la0=$(cut -d' ' -f1 /proc/loadavg)
        RFS_BODY=$tmp/body.json wrk -t1 -c$c -d${secs}s --timeout 600s --latency -s "$tmp/post.lua" \
            "http://127.0.0.1:$port/infer/instance_segmentation" >"$tmp/wrk.txt"
        la1=$(cut -d' ' -f1 /proc/loadavg)
        b1=$(metric rfseg_batch_size_count); f1=$(metric rfseg_batch_size_sum)
        h1=($(curl -s "http://127.0.0.1:$port/metrics" | awk -F'[ "]' '/^rfseg_batch_size_bucket/ {print $(NF)}'))
        rps=$(awk '/^Requests\/sec/ {print $2}' "$tmp/wrk.txt")
        p50=$(awk '$1 == "50%" {print $2}' "$tmp/wrk.txt"); p99=$(awk '$1 == "99%" {print $2}' "$tmp/wrk.txt")
        ms() { awk -v v="$1" 'BEGIN { u = v; sub(/[0-9.]+/, "", u); x = v + 0;
               if (u == "us") x /= 1000; else if (u == "s") x *= 1000; else if (u == "m") x *= 60000; printf "%.0f", x }'; }
        errs=$(grep -E 'Socket errors|Non-2xx' "$tmp/wrk.txt" | tr -s ' ' | tr '\n' ' ')
        nb=$((b1 - b0)); nf=$((f1 - f0))
        mean=$(awk -v f=$nf -v b=$nb 'BEGIN { if (b) printf "%.2f", f / b; else print "-" }')
        dist="$((h1[0]-h0[0])) / $((h1[1]-h0[1] - (h1[0]-h0[0]))) / $((h1[2]-h0[2] - (h1[1]-h0[1]))) / $((h1[3]-h0[3] - (h1[2]-h0[2])))"
        echo "| $model | $c | $rps | $(ms $p50) | $(ms $p99) | $mean | $dist | ${errs:-none} | $la0 -> $la1 |"
        kill -TERM $pid; wait $pid; pid=
    done
done
