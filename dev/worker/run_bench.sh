#!/usr/bin/env bash
# One benchmark table of `rfseg worker`: for each worker count in WORKERS, a fresh
# redis-server, that many `rfseg worker` processes, then dev/worker/wbench pushing N jobs
# of IMAGE at once and waiting for their N results. Prints a Markdown table row per count
# (jobs/s, worker-side job latency, distinct answers, forward batch sizes from each
# worker's exit log, warm-up included).
# Used by bench_cpu.sh (this machine) and device_bench.sh (the GPU machine).
#
# Environment (all required unless a default is shown):
#   RFSEG          the rfseg binary            REDIS_SERVER  the redis-server binary
#   WBENCH         the wbench binary           IMAGE         the image every job carries
#   MODEL_ARGS     e.g. "--model tiny-w1.pth" or "--random-weights seg-nano"
#   DEVICES        devices handed to the workers in turn (default "cpu"): "cuda:0",
#                  "cuda:0 cuda:1" (worker i gets the (i mod k)-th), "cuda:all"
#   WORKER_ARGS    more worker options (--threads, --precision, --inflight, ...)
#   WORKERS        worker counts (default "1 2 4")   N  jobs per run (default 400)
#   B              --max-batch (default 4)           OUT  logs (default /tmp/rfs-worker-bench)
#   PORT           redis port (default 6390)
set -u
: "${RFSEG:?}" "${REDIS_SERVER:?}" "${WBENCH:?}" "${IMAGE:?}" "${MODEL_ARGS:?}"
DEVICES=${DEVICES:-cpu}
WORKERS=${WORKERS:-1 2 4}
N=${N:-400}
B=${B:-4}
OUT=${OUT:-/tmp/rfs-worker-bench}
PORT=${PORT:-6390}
mkdir -p "$OUT"
read -r -a devs <<<"$DEVICES"
echo "| workers | devices | jobs | seconds | jobs/s | worker ms p50 / p90 | distinct answers | forward batches: mean [size <= k: count], per worker |"
echo "|---:|---|---:|---:|---:|---|---:|---|"
for w in $WORKERS; do
    rdir=$(mktemp -d "$OUT/redis.XXXXXX")
    "$REDIS_SERVER" --port "$PORT" --bind 127.0.0.1 --dir "$rdir" --save '' --appendonly no \
        --daemonize no --logfile "$rdir/redis.log" &
    rpid=$!
    for _ in $(seq 100); do "$WBENCH" --redis "redis://127.0.0.1:$PORT" --image "$IMAGE" --n 1 --ping 1 2>/dev/null && break; sleep 0.1; done
    pids=()
    used=()
    for i in $(seq 0 $((w - 1))); do
        d=${devs[$((i % ${#devs[@]}))]}
        used+=("$d")
        # shellcheck disable=SC2086
        "$RFSEG" worker --redis "redis://127.0.0.1:$PORT" $MODEL_ARGS --device "$d" --max-batch "$B" \
            --delete-jobs --log-every 0 --consumer "bench$i" ${WORKER_ARGS:-} >"$OUT/worker_${w}_$i.log" 2>&1 &
        pids+=($!)
    done
    line=$("$WBENCH" --redis "redis://127.0.0.1:$PORT" --image "$IMAGE" --n "$N" --warmup $((w * B * 2)) \
        2>>"$OUT/wbench.log")
    kill -TERM "${pids[@]}" 2>/dev/null
    wait "${pids[@]}" 2>/dev/null
    kill -TERM $rpid; wait $rpid 2>/dev/null
    rm -rf "$rdir"
    echo "$line" >>"$OUT/wbench.log"
    batches=""
    for i in $(seq 0 $((w - 1))); do
        b=$(grep -o 'mean batch [0-9.]* \[[^]]*\]' "$OUT/worker_${w}_$i.log" | tail -1 | sed 's/mean batch //')
        batches+="${batches:+; }${b:-?}"
    done
    py() { echo "$line" | sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p"; }
    echo "| $w | $(printf '%s\n' "${used[@]}" | sort | uniq -c | awk '{printf "%s%s x%s", (NR>1?", ":""), $2, $1}') | $(py answered) | $(py seconds) | $(py jobs_per_s) | $(py worker_ms_p50) / $(py worker_ms_p90) | $(echo "$line" | sed -n 's/.*"distinct_answers":\([0-9+]*\).*/\1/p') | $batches |"
done
