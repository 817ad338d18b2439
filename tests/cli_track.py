"""Tracking: `rfseg video --track` gives the tracker ids of supervision's ByteTrack.

The reference is tests/track_ref.py, a numpy ByteTrack written from the algorithm's
description (supervision's sv.ByteTrack: its thresholds, buffer, Kalman filter, and
scipy's linear_sum_assignment tie rules). Checked:
  1. the optimal assignment (rfs_assign through build/tests/track_tool) against the
     reference, and against scipy itself where python3-scipy is installed;
  2. ids on random scenes (moving boxes, drop-outs, clutter, every score band);
  3. ids on the sample clip's detections (the random-weights fixture model): `rfseg video`
     without --track gives every detection, the reference tracks them, and `--track`
     must give the same detections with the same ids (also with --track-buffer 5);
  4. an object missing for fewer frames than the buffer keeps its id; missing longer, it
     gets a new one."""
import json
import os
import subprocess
import sys

os.environ.setdefault("OMP_NUM_THREADS", "1")  # numpy's BLAS: threads only slow 4x4 solves down
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
import numpy as np  # noqa: E402

from clitest import BUILD, RFSEG, SHARED, check, finish

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from track_ref import ByteTrackRef, lsa  # noqa: E402

MODEL = os.path.join(SHARED, "fixtures", "rfdetr", "tiny-w1.pth")
VIDEO = os.path.join(SHARED, "videos", "example_video.mp4")
TOOL = os.path.join(BUILD, "tests", "track_tool")
ENV = dict(os.environ, OMP_NUM_THREADS="1")
rng = np.random.default_rng(12)


def tool(frames, *args):
    """Runs the C tracker on [(boxes (N, 4) float32, scores (N,) float32)]: ids per frame."""
    text = "".join(" ".join("%r %r %r %r %r" % (float(b[0]), float(b[1]), float(b[2]), float(b[3]), float(s))
                            for b, s in zip(B, S)) + "\n" for B, S in frames)
    p = subprocess.run([TOOL] + list(args), input=text, capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        return None
    return [[int(x) for x in l.split()] for l in p.stdout.split("\n")[: len(frames)]]


def reference(frames, **kw):
    t = ByteTrackRef(**kw)
    return [t.update(B, S) for B, S in frames]


# ---- 1. assignment ---------------------------------------------------------------------------
mats = []
for _ in range(150):
    r, c = rng.integers(0, 9, 2)
    kind = rng.integers(0, 3)
    if kind == 0:
        m = rng.random((r, c))
    elif kind == 1:  # ties: small integers
        m = rng.integers(0, 3, (r, c)).astype(float)
    else:  # clamped as ByteTrack does: many equal entries
        m = np.minimum(rng.random((r, c)), 0.8001)
    mats.append(m)
text = "".join("%d %d %s\n" % (m.shape[0], m.shape[1], " ".join(repr(float(x)) for x in m.ravel())) for m in mats)
p = subprocess.run([TOOL, "--assign"], input=text, capture_output=True, text=True)
got = [[int(x) for x in l.split()] for l in p.stdout.split("\n")[: len(mats)]]
try:
    from scipy.optimize import linear_sum_assignment
except ImportError:
    linear_sum_assignment = None
bad = bad_scipy = 0
for m, g in zip(mats, got):
    want = [-1] * m.shape[0]
    for r, c in zip(*lsa(m)):
        want[r] = int(c)
    bad += g != want
    if linear_sum_assignment is not None:
        sc = [-1] * m.shape[0]
        for r, c in zip(*linear_sum_assignment(m)):
            sc[r] = int(c)
        bad_scipy += sc != want
check(p.returncode == 0 and bad == 0, "rfs_assign equals the reference on %d matrices (%d differ)" % (len(mats), bad))
if linear_sum_assignment is not None:
    check(bad_scipy == 0, "the reference's assignment equals scipy's (%d differ)" % bad_scipy)
else:
    print("note: python3-scipy not installed; the assignment is checked against the reference only")


# ---- 2. random scenes ------------------------------------------------------------------------------
def scene(nf=100, nobj=8, integer=False):
    pos = rng.uniform(0, 400, (nobj, 2))
    vel = rng.normal(0, 3, (nobj, 2))
    size = rng.uniform(20, 80, (nobj, 2))
    frames = []
    for _ in range(nf):
        pos += vel
        boxes, scores = [], []
        for k in range(nobj):
            if rng.random() < 0.15:
                continue
            c = pos[k] + rng.normal(0, 1.5, 2)
            s = size[k] * rng.uniform(0.95, 1.05, 2)
            boxes.append([c[0] - s[0] / 2, c[1] - s[1] / 2, c[0] + s[0] / 2, c[1] + s[1] / 2])
            scores.append(rng.uniform(0.05, 1.0))
        for _ in range(rng.integers(0, 3)):
            c = rng.uniform(0, 400, 2)
            s = rng.uniform(10, 60, 2)
            boxes.append([c[0], c[1], c[0] + s[0], c[1] + s[1]])
            scores.append(rng.uniform(0.05, 0.6))
        b = np.asarray(boxes, np.float64).reshape(-1, 4)
        frames.append((np.asarray(np.round(b) if integer else b, np.float32), np.asarray(scores, np.float32)))
    return frames


n_frames = n_bad = n_ids = 0
for i in range(8):
    fr = scene(integer=i % 2 == 1)
    c, r = tool(fr), reference(fr)
    n_frames += len(fr)
    n_bad += sum(a != b for a, b in zip(c or [], r)) + (0 if c else len(fr))
    n_ids = max([n_ids] + [x for f in r for x in f])
check(n_bad == 0, "random scenes: ids equal the reference on %d frames (%d differ)" % (n_frames, n_bad))
check(n_ids > 20, "random scenes make many tracks (%d ids)" % n_ids)


# ---- 3. the sample clip ---------------------------------------------------------------------------------
def run_video(*extra):
    p = subprocess.run([RFSEG, "video", "-m", MODEL, VIDEO, "-n", "90", "--jsonl", "-", "-q"] + list(extra),
                       capture_output=True, text=True, env=ENV, timeout=300)
    return p.returncode, [json.loads(l) for l in p.stdout.splitlines()]


def as_frames(docs):
    out = []
    for d in docs:
        b = [[p["x"] - p["width"] / 2, p["y"] - p["height"] / 2, p["x"] + p["width"] / 2, p["y"] + p["height"] / 2]
             for p in d["predictions"]]
        out.append((np.asarray(b, np.float32).reshape(-1, 4), np.asarray([p["confidence"] for p in d["predictions"]],
                                                                           np.float32)))
    return out


rc, plain = run_video()
frames = as_frames(plain)
check(rc == 0 and len(plain) == 90, "90 frames of detections")
for extra, kw in (([], {}), (["--track-buffer", "5"], {"buffer": 5})):
    rc, tracked = run_video("--track", *extra)
    ref = reference(frames, **kw)
    same = 0
    for k, (d, p, ids) in enumerate(zip(tracked, plain, ref)):
        want = [(q["x"], q["y"], q["width"], q["height"], q["confidence"], i) for q, i in zip(p["predictions"], ids)
                if i != -1]
        got = [(q["x"], q["y"], q["width"], q["height"], q["confidence"], q.get("tracker_id")) for q in d["predictions"]]
        same += got == want
    n_det = sum(len(d["predictions"]) for d in tracked)
    check(rc == 0 and len(tracked) == 90 and same == 90,
          "clip%s: tracked detections and ids equal the reference on %d of 90 frames" % (" ".join([""] + extra), same))
    check(n_det > 500 and len({q["tracker_id"] for d in tracked for q in d["predictions"]}) > 10,
          "clip: %d tracked detections, several tracks" % n_det)
    keys = [list(q)[:10] for d in tracked for q in d["predictions"]][:1]
    check(keys and keys[0][6:8] == ["class_id", "tracker_id"], "tracker_id follows class_id, as Roboflow writes it")
# the C tracker on the same detections as the CLI sees them
c = tool(frames)
check(c == reference(frames), "track_tool equals the reference on the clip's detections")


# ---- 4. gaps shorter and longer than the buffer --------------------------------------------------------
def gap_scene(gap_a, gap_b, nf=120):
    """Three objects moving right; B is missing for gap_a frames from frame 20, C for gap_b."""
    frames = []
    for f in range(nf):
        boxes, scores = [], []
        for k, (y, gap) in enumerate(((20, 0), (150, gap_a), (300, gap_b))):
            if gap and 20 <= f < 20 + gap:
                continue
            x = 10 + 2.0 * f + 40 * k
            boxes.append([x, y, x + 50, y + 80])
            scores.append(0.9)
        frames.append((np.asarray(boxes, np.float32), np.asarray(scores, np.float32)))
    return frames


fr = gap_scene(20, 40)
c, r = tool(fr), reference(fr)
check(c == r, "gap scene: ids equal the reference")
first, last = r[0], r[-1]
check(first == [1, 2, 3], "three tracks from the first frame (%s)" % first)
check(last[0] == 1 and last[1] == 2, "a 20-frame gap (< buffer 30) keeps the id (%s)" % last)
check(last[2] not in (1, 2, 3), "a 40-frame gap (> buffer 30) gives a new id (%s)" % last)
c = tool(fr, "--buffer", "10")
r = reference(fr, buffer=10)
check(c == r and r[-1][1] not in (1, 2, 3), "with buffer 10 the 20-frame gap gives a new id too (%s)" % r[-1])

finish()
