"""What the commands write besides JSON: annotated PNGs (predict --annotate), annotated
MP4s and JSON Lines (video --annotate --jsonl), raw tensors (--raw-out), converted models.
Checked with cv2 (Debian's python3-opencv) and json."""
import json
import os
import subprocess
import tempfile

import cv2
import numpy as np

from clitest import RFSEG, SHARED, check, finish
MODEL = os.path.join(SHARED, "fixtures", "rfdetr", "tiny-w1.pth")
IMG = os.path.join(SHARED, "fixtures", "images", "astronaut.png")
VIDEO = os.path.join(SHARED, "videos", "example_video.mp4")
ENV = dict(os.environ, OMP_NUM_THREADS="1")
def run(args):
    return subprocess.run([RFSEG] + args, capture_output=True, text=True, env=ENV, timeout=300)


with tempfile.TemporaryDirectory() as tmp:
    png = os.path.join(tmp, "a.png")
    p = run(["predict", "--model", MODEL, "--confidence", "0.85", "--annotate", png, IMG])
    doc = json.loads(p.stdout)
    check(p.returncode == 0 and doc["predictions"], "predict with detections")
    out = cv2.imread(png)
    src = cv2.imread(IMG)
    check(out is not None and out.shape == src.shape, "annotated PNG has the frame's size")
    if out is not None:
        changed = np.any(out != src, axis=2)
        check(changed.mean() > 0.01, "annotation drew something (%.3f of pixels)" % changed.mean())
        # every box edge is drawn: the pixel on the left edge of each box differs
        for d in doc["predictions"]:
            x0 = int(d["x"] - d["width"] / 2)
            y = int(d["y"])
            if 0 <= x0 < src.shape[1]:
                check(np.any(out[y, x0] != src[y, x0]), "box edge drawn at (%d, %d)" % (x0, y))
    # several images: a directory of PNGs named after them
    d = os.path.join(tmp, "ann")
    p = run(["predict", "--model", MODEL, "--annotate", d, IMG,
             os.path.join(SHARED, "fixtures", "images", "coffee.png")])
    check(p.returncode == 0 and sorted(os.listdir(d)) == ["astronaut.png", "coffee.png"],
          "one PNG per image in the directory")

    jl, mp4 = os.path.join(tmp, "v.jsonl"), os.path.join(tmp, "v.mp4")
    p = run(["video", "--model", MODEL, VIDEO, "--max-frames", "30", "--jsonl", jl,
             "--annotate", mp4, "--quiet"])
    check(p.returncode == 0, "video exits 0: " + p.stderr[-300:])
    lines = [json.loads(l) for l in open(jl)]
    check([l["frame_id"] for l in lines] == list(range(30)), "30 JSON lines with frame_id 0..29")
    check(all(list(l)[:4] == ["inference_id", "source", "source_id", "frame_id"] for l in lines), "key order")
    cap = cv2.VideoCapture(mp4)
    n = 0
    ref = cv2.VideoCapture(VIDEO)
    diff = []
    while True:
        ok, f = cap.read()
        ok2, g = ref.read()
        if not ok:
            break
        n += 1
        diff.append(np.abs(f.astype(int) - g.astype(int)).mean())
    check(n == 30, "annotated MP4 has 30 frames (got %d)" % n)
    check(min(diff) > 0.5, "every annotated frame differs from the source (masks drawn)")
    check("frames/s" in p.stderr and "ms per frame" in p.stderr, "summary with per-stage times")

    st = os.path.join(tmp, "m.safetensors")
    p = run(["convert", MODEL, st])
    p2 = run(["predict", "--model", st, "--preset", "rfdetr", IMG])
    p3 = run(["predict", "--model", MODEL, "--preset", "rfdetr", IMG])
    check(p.returncode == 0 and p2.stdout == p3.stdout.replace(MODEL, st) or
          json.loads(p2.stdout)["detections"] == json.loads(p3.stdout)["detections"],
          "a converted model predicts the same")

finish()
