#!/usr/bin/env bash
# The CLI's video features on a CUDA build (for the GPU machine; the lead runs it):
# several sources batched on the device, --track, a file read live, SIGINT mid-run.
#   dev/cli/cuda_video_smoke.sh [BUILD=build-cuda] [MODEL=--random-weights seg-nano]
# Prints one line per check and exits non-zero when one fails.
set -u
cd "$(dirname "$0")/../.."
B=${BUILD:-build-cuda}
M=(${MODEL:---random-weights seg-nano})
V=${VIDEO:-samples/example_video.mp4}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0
ok() { echo "PASS $*"; }
bad() { echo "FAIL $*"; fail=1; }

# several sources, batched, tracked: every frame of each source once, ids present
"$B/rfseg" video "${M[@]}" --device cuda "$V" "$V" -n 60 --track --jsonl "$T/multi.jsonl" --annotate "$T/ann" -q \
    2>"$T/multi.err" && ok "two sources on cuda" || { bad "two sources on cuda: $(tail -3 "$T/multi.err")"; }
python3 - "$T/multi.jsonl" <<'PY' && ok "source ids, frame ids, tracker ids" || bad "JSON lines"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
pairs = sorted((d["source_id"], d["frame_id"]) for d in lines)
assert pairs == [(s, f) for s in range(2) for f in range(60)], pairs[:5]
assert all("tracker_id" in p for d in lines for p in d["predictions"])
PY
# the same on the CPU gives the same detections (the pipelines agree)
"$B/rfseg" video "${M[@]}" --device cpu "$V" -n 10 --jsonl "$T/cpu.jsonl" -q 2>/dev/null
"$B/rfseg" video "${M[@]}" --device cuda "$V" -n 10 --jsonl "$T/gpu.jsonl" -q 2>/dev/null
python3 - "$T/cpu.jsonl" "$T/gpu.jsonl" <<'PY' && ok "cuda detections equal to the cpu's on 10 frames (class, box)" || bad "cpu vs cuda"
import json, sys
a, b = ([[(p["class_id"], p["x"], p["y"], p["width"], p["height"]) for p in json.loads(l)["predictions"]]
         for l in open(f)] for f in sys.argv[1:3])
same = sum(x == y for x, y in zip(a, b))
print("  frames with identical detections: %d of %d" % (same, len(a)))
assert len(a) == len(b) == 10 and same >= 8
PY
# a file read live (paced at its frame rate): frames are dropped only if the GPU cannot keep up
"$B/rfseg" video "${M[@]}" --device cuda --live "$V" --jsonl "$T/live.jsonl" -q 2>"$T/live.err" \
    && ok "live: $(grep -o '[0-9]* frames ([^)]*)' "$T/live.err")" || bad "live: $(tail -2 "$T/live.err")"
# SIGINT mid-run: playable MP4, whole lines, exit 130
"$B/rfseg" video "${M[@]}" --device cuda "$V" --max-fps 20 --jsonl "$T/sig.jsonl" --annotate "$T/sig.mp4" -q 2>/dev/null &
pid=$!
sleep 3
kill -INT $pid
wait $pid
rc=$?
n=$(wc -l <"$T/sig.jsonl")
f=$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames -of csv=p=0 "$T/sig.mp4" 2>/dev/null)
[ "$rc" = 130 ] && [ "$n" -gt 0 ] && [ "$n" = "$f" ] && ok "SIGINT: exit 130, $n lines, $f frames" \
    || bad "SIGINT: exit $rc, $n lines, ${f:-no} frames"
exit $fail
