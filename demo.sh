#!/usr/bin/env bash
# The main job: installs what rfseg needs, builds it, and segments the sample image with
# the official seg-nano weights (downloaded once into ~/.cache/rfseg), or, when they cannot
# be downloaded, with random weights (said plainly: the output is then meaningless).
set -euo pipefail
cd "$(dirname "$0")"
scripts/install-deps.sh
make -j"$(nproc 2>/dev/null || echo 2)" build/rfseg
img=samples/astronaut.jpg
if build/rfseg info seg-nano >/dev/null; then
    model=(--model seg-nano)
else
    echo "demo: the official seg-nano checkpoint could not be downloaded;" >&2
    echo "demo: running with RANDOM weights instead (detections will be meaningless)." >&2
    model=(--random-weights seg-nano)
fi
build/rfseg predict "${model[@]}" --preset rfdetr "$img"
