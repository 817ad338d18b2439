#!/usr/bin/env bash
# The main job: installs what rfseg needs, builds it, and runs the sample clip through the
# whole pipeline (decode, preprocess, network, selection, masks, polygons, Roboflow JSON)
# into out/example_video.jsonl and an annotated out/example_video.mp4, printing the frame
# rate reached. It uses the official seg-nano weights (downloaded once into
# ~/.cache/rfseg), or, when they cannot be downloaded, random weights (said plainly: the
# detections are then meaningless, the work and the speed are the same).
set -euo pipefail
cd "$(dirname "$0")"
scripts/install-deps.sh
make -j"$(nproc 2>/dev/null || echo 2)" build/rfseg
mkdir -p out
if build/rfseg info seg-nano >/dev/null; then
    model=(--model seg-nano)
else
    echo "demo: the official seg-nano checkpoint could not be downloaded;" >&2
    echo "demo: running with RANDOM weights instead (detections will be meaningless)." >&2
    model=(--random-weights seg-nano)
fi
build/rfseg video "${model[@]}" samples/example_video.mp4 \
    --jsonl out/example_video.jsonl --annotate out/example_video.mp4 "$@"
echo "demo: wrote out/example_video.jsonl ($(wc -l <out/example_video.jsonl) frames) and out/example_video.mp4"
