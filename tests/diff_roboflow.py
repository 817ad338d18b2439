#!/usr/bin/python3
"""diff_roboflow: `rfseg predict --preset roboflow` JSON against an independent reference.

Models: the fixtures tiny-w1 and tiny-w2 (checkpoints without class names, so Roboflow's
names are COCO's 91 labels with "background" at the gaps), and two variants of tiny-w1 made
here from `rfseg convert` output: "k100" (100 class logits: many COCO ids, "background" ones,
and ids >= 91 that must be dropped) and "tied" (step 5). Frames: the four fixture PNGs, 20
frames of example_video.mp4 (cv2.VideoCapture, saved as PNG, which is lossless) and four
small frames that make the mask resize shrink in one or both axes.

1. `rfseg predict --model M --preset roboflow --confidence T1 --raw-out RAW IMG`, one image
   per call. tests/roboflow_ref.py post-processes RAW as R1 of roboflow-pipeline.md does
   (sigmoid, argmax per query, strict > threshold in float32, descending sort, float32 box
   math with round-half-even, antialiased bilinear mask resize in float32, > 0, findContours
   + most points / COCO RLE, the response dict) and rfseg's JSON must equal it except for
   inference_id, time and detection_id. RAW's `input` must equal the R1 pre-processing of
   the frame done here with cv2 (so the raw tensors belong to that frame).
2. Multi-image calls reusing step 1's raw tensors: T1 in RLE and a threshold that keeps
   nothing, on every frame, and the default threshold (no --confidence: 0.4), which keeps
   almost every query of these models, on a subset, in both formats.
3. A threshold equal to a detection's exact float32 score: that detection is dropped.
4. A threshold string on which decimal -> double -> float32 (the request's Python float,
   compared in float32) and decimal -> float32 differ: the first is the reference.
5. Two class logits that differ while their float32 sigmoids are equal: R1's argmax runs
   over the sigmoid scores (torch.max, first maximal index wins).

Every line is checked with Python's json module: no duplicate keys, key order, types (int vs
float), UUID4 inference_id / detection_id (all distinct), and the text must be exactly
json.dumps(obj, separators=(",", ":"), ensure_ascii=False): compact, every float printed as
Python's repr prints it. Deterministic (fixed frames, fixed random weights), no network.
T1 is chosen from the score distributions of these random-weight models so that several
detections survive (tiny-w1 scores lie in 0.61..0.96, tiny-w2 in 0.20..0.72).
"""
import concurrent.futures
import glob
import json
import os
import re
import resource
import subprocess
import struct
import sys
import tempfile
import time
from decimal import Decimal, getcontext

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import roboflow_ref as ref  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
SHARED = os.environ.get("RFS_SHARED", os.path.join(ROOT, "..", "shared"))
BUILD = os.environ.get("RFS_BUILD", "build")
RFSEG = os.path.join(ROOT, BUILD, "rfseg") if not os.path.isabs(BUILD) else os.path.join(BUILD, "rfseg")

VIDEO_STEP = 22          # frames 0, 22, ..., 418 of the 431
SMALL_SIZES = [(20, 14), (50, 30), (30, 100), (7, 5)]   # (W, H): shrink / mixed mask resizes
NONE_THRESHOLD = "0.99"  # above every score of these random-weight models
DEFAULT_SUBSET = ("video_000.png", "video_220.png", "small_20x14.png", "small_7x5.png")
K100_VIDEO = ("video_110.png", "video_330.png")
UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
TOP_KEYS = ["inference_id", "time", "image", "predictions"]
PRED_KEYS = ["x", "y", "width", "height", "confidence", "class", "class_id", "detection_id"]

failures = []
counts = {"lines": 0, "detections": 0, "floats": 0, "points": 0, "rle": 0, "empty_frames": 0,
          "calls": 0}
seen_ids = set()
class_ids_seen = {}


def fail(msg):
    failures.append(msg)
    if len(failures) <= 40:
        print("FAIL", msg)


# ---- running rfseg ----------------------------------------------------------------------------

def rfseg(args):
    env = dict(os.environ, OMP_NUM_THREADS="1")  # no spinning thread teams on a shared machine
    for attempt in range(10):
        try:
            return subprocess.run([RFSEG, "predict", "--preset", "roboflow"] + args, cwd=ROOT, env=env,
                                  capture_output=True, text=True)
        except OSError:  # the binary is being relinked by a concurrent build
            if attempt == 9:
                raise
            time.sleep(1)


# ---- JSON checks --------------------------------------------------------------------------------

def parse_line(line, where):
    """json.loads with order kept, duplicate keys refused, and the float literals recorded."""
    floats = []

    def pairs(kv):
        d = dict(kv)
        if len(d) != len(kv):
            raise ValueError("duplicate key in %s" % [k for k, _ in kv])
        return d

    def pfloat(s):
        floats.append(s)
        return float(s)

    def pconst(s):
        raise ValueError("non-finite constant %s" % s)

    obj = json.loads(line, object_pairs_hook=pairs, parse_float=pfloat, parse_constant=pconst)
    for s in floats:
        if repr(float(s)) != s:
            fail("%s: float literal %r prints as %r in Python" % (where, s, repr(float(s))))
    counts["floats"] += len(floats)
    again = json.dumps(obj, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    if again != line:
        i = next((k for k in range(min(len(again), len(line))) if again[k] != line[k]), min(len(again), len(line)))
        fail("%s: text is not the compact Python serialisation at char %d: got ...%r... expected ...%r..."
             % (where, i, line[max(0, i - 30):i + 30], again[max(0, i - 30):i + 30]))
    return obj


def is_float(v):
    return type(v) is float


def is_int(v):
    return type(v) is int


def check_uuid(v, what, where):
    if not isinstance(v, str) or not UUID4.match(v):
        fail("%s: %s %r is not a lowercase UUID4 string" % (where, what, v))
        return
    if v in seen_ids:
        fail("%s: %s %s repeated" % (where, what, v))
    seen_ids.add(v)


def check_schema(obj, fmt, where):
    if list(obj) != TOP_KEYS:
        fail("%s: top-level keys %s, expected %s" % (where, list(obj), TOP_KEYS))
        return False
    check_uuid(obj["inference_id"], "inference_id", where)
    if not is_float(obj["time"]) or obj["time"] < 0:
        fail("%s: time %r is not a non-negative float" % (where, obj["time"]))
    img = obj["image"]
    if not isinstance(img, dict) or list(img) != ["width", "height"] or not all(is_int(v) for v in img.values()):
        fail("%s: image %r is not {width: int, height: int}" % (where, img))
    if not isinstance(obj["predictions"], list):
        fail("%s: predictions is not a list" % where)
        return False
    mkey = "rle" if fmt == "rle" else "points"
    for i, d in enumerate(obj["predictions"]):
        w = "%s prediction %d" % (where, i)
        keys = PRED_KEYS + [mkey, "mask_format"]
        if not isinstance(d, dict) or list(d) != keys:
            fail("%s: keys %s, expected %s" % (w, list(d) if isinstance(d, dict) else d, keys))
            continue
        for k in ("x", "y", "width", "height", "confidence"):
            if not is_float(d[k]):
                fail("%s: %s %r is not a float" % (w, k, d[k]))
        if not isinstance(d["class"], str):
            fail("%s: class %r is not a string" % (w, d["class"]))
        if not is_int(d["class_id"]):
            fail("%s: class_id %r is not an int" % (w, d["class_id"]))
        check_uuid(d["detection_id"], "detection_id", w)
        if d["mask_format"] != fmt:
            fail("%s: mask_format %r, expected %r" % (w, d["mask_format"], fmt))
        if fmt == "rle":
            r = d["rle"]
            if (not isinstance(r, dict) or list(r) != ["size", "counts"] or not isinstance(r["size"], list)
                    or len(r["size"]) != 2 or not all(is_int(v) for v in r["size"])
                    or not isinstance(r["counts"], str)):
                fail("%s: rle %r is not {size: [int, int], counts: str}" % (w, r))
        else:
            pts = d["points"]
            if not isinstance(pts, list):
                fail("%s: points is not a list" % w)
                continue
            for p in pts:
                if type(p) is not dict or len(p) != 2 or type(p.get("x")) is not float or type(p.get("y")) is not float or list(p) != ["x", "y"]:
                    fail("%s: point %r is not {x: float, y: float}" % (w, p))
                    break
    return True


def strip_run_fields(obj):
    out = dict(obj)
    out["inference_id"] = ref.ID_PLACEHOLDER
    out["time"] = ref.TIME_PLACEHOLDER
    preds = []
    for d in obj["predictions"]:
        d = dict(d)
        d["detection_id"] = ref.ID_PLACEHOLDER
        preds.append(d)
    out["predictions"] = preds
    return out


def canonical_ties(resp):
    """The response with equal-confidence predictions in a canonical order."""
    out = dict(resp)
    out["predictions"] = sorted(resp["predictions"], key=lambda d: (-d["confidence"], json.dumps(d)))
    return out


def describe_diff(got, exp):
    """First difference between two response dicts, for the failure message."""
    if got["image"] != exp["image"]:
        return "image %r, expected %r" % (got["image"], exp["image"])
    gp, ep = got["predictions"], exp["predictions"]
    if len(gp) != len(ep):
        return "%d predictions, expected %d (got confidences %s, expected %s)" % (
            len(gp), len(ep), [d.get("confidence") for d in gp][:12], [d["confidence"] for d in ep][:12])
    for i, (g, e) in enumerate(zip(gp, ep)):
        for k in e:
            if k not in g:
                return "prediction %d: key %s missing" % (i, k)
            if json.dumps(g[k]) != json.dumps(e[k]):
                gv, ev = g[k], e[k]
                if k == "points":
                    n = next((j for j in range(min(len(gv), len(ev))) if gv[j] != ev[j]), min(len(gv), len(ev)))
                    return ("prediction %d (confidence %r): points differ at index %d of %d/%d: got %s, expected %s"
                            % (i, e["confidence"], n, len(gv), len(ev), gv[n:n + 3], ev[n:n + 3]))
                if k == "rle":
                    a, b = gv.get("counts", ""), ev["counts"]
                    n = next((j for j in range(min(len(a), len(b))) if a[j] != b[j]), min(len(a), len(b)))
                    return ("prediction %d (confidence %r): rle differs (size %r/%r) at counts char %d of %d/%d"
                            % (i, e["confidence"], gv.get("size"), ev["size"], n, len(a), len(b)))
                return "prediction %d: %s = %r (class_id %r), expected %r (class_id %r)" % (
                    i, k, gv, g.get("class_id"), ev, e["class_id"])
        if list(g) != list(e):
            return "prediction %d: key order %s, expected %s" % (i, list(g), list(e))
    return "key order or types differ"


COUNTS_STR = re.compile(r'("counts":")([0-o]*)(")')
unescaped = {"lines": 0, "first": None}


def compare(line, fmt, expected, where):
    counts["lines"] += 1
    try:
        obj = parse_line(line, where)
    except ValueError as e:
        # COCO RLE strings use the characters '0'..'o', which include the backslash: JSON
        # needs it escaped. When that is the only problem, note it once and go on comparing.
        fixed = COUNTS_STR.sub(lambda m: m.group(1) + m.group(2).replace("\\", "\\\\") + m.group(3), line)
        try:
            obj = parse_line(fixed, where) if fixed != line else None
        except ValueError:
            obj = None
        if obj is None:
            fail("%s: not valid JSON: %s: %.200s" % (where, e, line))
            return
        unescaped["lines"] += 1
        if unescaped["first"] is None:
            k = line.index("\\")
            unescaped["first"] = "%s: %s ...%s..." % (where, e, line[max(0, k - 40):k + 20])
    if not check_schema(obj, fmt, where):
        return
    for d in obj["predictions"]:
        class_ids_seen.setdefault(d.get("class_id"), d.get("class"))
    got = strip_run_fields(obj)
    confs = [d["confidence"] for d in expected["predictions"]]
    if len(set(confs)) != len(confs):  # torch.sort leaves the order of equal scores open
        got, expected = canonical_ties(got), canonical_ties(expected)
    if json.dumps(got) != json.dumps(expected):
        fail("%s: %s" % (where, describe_diff(got, expected)))
        return
    n = len(expected["predictions"])
    counts["detections"] += n
    counts["empty_frames"] += n == 0
    for d in expected["predictions"]:
        if fmt == "rle":
            counts["rle"] += 1
        else:
            counts["points"] += len(d["points"])


def double_rounding_threshold(score):
    """A decimal string next to the float32 `score` on which decimal -> double -> float32 (a
    Python float request value compared in float32, roboflow-pipeline.md 2.2 step 4) and
    decimal -> float32 directly (strtof) give different float32 thresholds: a decimal just
    beside the midpoint m between score and the float32 below it, within a quarter of a
    double ulp so that it reads as m in double, where round-half-even then picks the even
    neighbour; strtof rounds the exact decimal to the other one. Returns (string, the float32
    threshold Python sees)."""
    getcontext().prec = 80
    b = np.float32(score)
    a = np.nextafter(b, np.float32(0))
    m = (float(a) + float(b)) / 2  # exact in double
    quarter = Decimal(float(np.spacing(m))) / 4
    # m rounds (half to even) to whichever of a, b is even; go to the other side of m
    even_is_b = (int(b.view(np.uint32)) & 1) == 0
    text = str(Decimal(m) - quarter if even_is_b else Decimal(m) + quarter)
    assert float(text) == m
    return text, np.float32(float(text))


def read_st(path):
    """(metadata, {name: float32 array}) of a safetensors file, in file order."""
    with open(path, "rb") as fh:
        blob = fh.read()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    meta = header.pop("__metadata__", {})
    tensors = {}
    for name, info in header.items():
        a, b = info["data_offsets"]
        tensors[name] = np.frombuffer(blob[8 + n + a:8 + n + b], dtype="<f4").reshape(info["shape"]).copy()
    return meta, tensors


def write_st(path, meta, tensors):
    header = {"__metadata__": meta}
    off, chunks = 0, []
    for name, arr in tensors.items():
        data = np.ascontiguousarray(arr, dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(arr.shape), "data_offsets": [off, off + len(data)]}
        off += len(data)
        chunks.append(data)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as fh:
        fh.write(struct.pack("<Q", len(text)) + text + b"".join(chunks))


def derived_models(tmp):
    """Two variants of tiny-w1 (converted with `rfseg convert`, then edited here):

    - k100: 100 class logits (new random rows, fixed seed, for both class heads), no class
      names: Roboflow names come from COCO_LABELS, so argmax ids at the "background" gaps
      print "background" and ids 91..99 (>= len(class_names)) are dropped. The background
      ids and 91..99 get a bias boost so that they win often.
    - tied: classes 1 and 2 of the final class head with zero weight rows and biases 2.2 and
      the next float32 above it: every query's logits for them are exactly those two values,
      which differ, while their float32 sigmoids are equal (0.90024954). R1 takes the max
      over the sigmoid scores and torch.max returns the first maximal index: class 1.
    Returns {name: path} (empty on failure)."""
    src = os.path.join(SHARED, "fixtures", "rfdetr", "tiny-w1.pth")
    conv = os.path.join(tmp, "tiny-w1.safetensors")
    p = subprocess.run([RFSEG, "convert", src, conv], cwd=ROOT, capture_output=True, text=True,
                       env=dict(os.environ, OMP_NUM_THREADS="1"))
    if p.returncode != 0:
        fail("rfseg convert %s: exit %d: %s" % (src, p.returncode, p.stderr.strip()[-300:]))
        return {}
    meta, tensors = read_st(conv)
    out = {}

    rng = np.random.default_rng(20240611)
    k100 = dict(tensors)
    boost = np.zeros(100, dtype=np.float32)
    boost[[i for i, n in enumerate(ref.COCO_LABELS) if n == "background"] + list(range(91, 100))] = 0.8
    for head in ("class_embed", "transformer.enc_out_class_embed.0"):
        w, b = tensors[head + ".weight"], tensors[head + ".bias"]
        k100[head + ".weight"] = (rng.standard_normal((100, w.shape[1])) * w.std()).astype(np.float32)
        k100[head + ".bias"] = (rng.standard_normal(100) * 0.5 + b.mean() + boost).astype(np.float32)
    out["k100"] = os.path.join(tmp, "tiny-w1-k100.safetensors")
    write_st(out["k100"], meta, k100)

    b2 = np.float32(2.2)
    b2n = np.nextafter(b2, np.float32(3))
    pair = ref.sigmoid_f32(np.array([b2, b2n], dtype=np.float32))
    assert b2n != b2 and pair[0] == pair[1]
    tied = dict(tensors)
    tied["class_embed.weight"] = tensors["class_embed.weight"].copy()
    tied["class_embed.weight"][1:3] = 0
    tied["class_embed.bias"] = tensors["class_embed.bias"].copy()
    tied["class_embed.bias"][1:3] = [b2, b2n]
    out["tied"] = os.path.join(tmp, "tiny-w1-tied.safetensors")
    write_st(out["tied"], meta, tied)
    return out


# ---- frames -------------------------------------------------------------------------------------

def make_frames(tmp):
    """[(path, bgr)]: fixture PNGs, video frames and small frames, all lossless PNG."""
    frames = []
    fixtures = sorted(glob.glob(os.path.join(SHARED, "fixtures", "images", "*.png")))
    if len(fixtures) != 4:
        fail("expected 4 fixture images in %s, found %d" % (os.path.join(SHARED, "fixtures", "images"), len(fixtures)))
    for p in fixtures:
        img = cv2.imread(p, cv2.IMREAD_COLOR)
        if img is None:
            fail("cannot read %s" % p)
            continue
        frames.append((p, img))
    video = os.path.join(SHARED, "videos", "example_video.mp4")
    cap = cv2.VideoCapture(video)
    i = n_video = 0
    while True:
        ok, img = cap.read()
        if not ok:
            break
        if i % VIDEO_STEP == 0:
            p = os.path.join(tmp, "video_%03d.png" % i)
            cv2.imwrite(p, img)
            frames.append((p, img))
            n_video += 1
        i += 1
    cap.release()
    if i != 431 or n_video != 20:
        fail("%s: read %d frames (%d kept), expected 431 (20)" % (video, i, n_video))
    if frames:
        base = frames[0][1]
        for W, H in SMALL_SIZES:
            img = cv2.resize(base, (W, H), interpolation=cv2.INTER_AREA)
            p = os.path.join(tmp, "small_%dx%d.png" % (W, H))
            cv2.imwrite(p, img)
            frames.append((p, img))
    return frames


# ---- main ---------------------------------------------------------------------------------------

def check_call(p, n_lines, where):
    """rfseg's stdout lines, or None (a failure) when it exited non-zero or printed otherwise."""
    counts["calls"] += 1
    lines = p.stdout.splitlines()
    if p.returncode != 0 or len(lines) != n_lines:
        fail("%s: rfseg exit %d, %d lines for %d images, stderr %s"
             % (where, p.returncode, len(lines), n_lines, p.stderr.strip()[-300:]))
        return None
    if n_lines > 1:  # with several images every line names its image ("source"), not Roboflow's key
        src = re.compile(r',"source":"(?:[^"\\]|\\.)*"')
        if not all(src.search(l) for l in lines):
            fail("%s: a line of a multi-image call lacks \"source\"" % where)
        lines = [src.sub("", l, count=1) for l in lines]
    return lines


def load_reference(raw, img, where):
    """Reference for a raw-out file; also checks its `input` against R1's pre-processing."""
    try:
        tensors, _ = ref.read_safetensors(raw)
    except (OSError, ValueError, KeyError) as e:
        fail("%s: raw-out %s unreadable: %s" % (where, raw, e))
        return None
    want = ref.preprocess_r1(img, tensors["input"].shape[-1]).view(np.uint32)
    got = tensors["input"][0].view(np.uint32)
    if not np.array_equal(want, got):
        fail("%s: raw input differs from the R1 pre-processing (cv2 INTER_LINEAR, *float32(1/255), "
             "normalise) in %d of %d values" % (where, int((want != got).sum()), want.size))
    return ref.Reference(tensors, img.shape[1], img.shape[0])


def main():
    fixture_models = [os.path.join(SHARED, "fixtures", "rfdetr", n) for n in ("tiny-w1.pth", "tiny-w2.pth")]
    for path in fixture_models:
        if not os.path.isfile(path):
            fail("missing fixture %s" % path)
    if not os.access(RFSEG, os.X_OK):
        fail("missing %s (run make)" % RFSEG)
    if failures:
        return 1
    with tempfile.TemporaryDirectory(prefix="diff_roboflow_") as tmp:
        frames = make_frames(tmp)
        names = [os.path.basename(p) for p, _ in frames]
        every = list(range(len(frames)))
        fixture_idx = [i for i, (p, _) in enumerate(frames) if not p.startswith(tmp)]
        # the default threshold keeps nearly every query of these models, with large ragged
        # masks: it runs on the fixtures, two video frames and two small frames
        some = fixture_idx + [i for i, n in enumerate(names) if n in DEFAULT_SUBSET]
        derived = derived_models(tmp)
        specs = []
        # (step 3 / 4 frames: chelsea and video_264 / video_022 and astronaut, whose second
        # score has an odd / even float32 mantissa, the two sides of the double rounding)
        for path, t1, strict, dround in zip(fixture_models, ("0.85", "0.5"), ([1], [16]), ([5], [0])):
            specs.append(dict(
                name=os.path.basename(path)[:-4], margs=["--model", path], t1=t1, frames=every,
                combos=[(t1, "rle", every), (None, "polygon", some), (None, "rle", some),
                        (NONE_THRESHOLD, "polygon", every)],
                strict=strict, dround=dround))
        if "k100" in derived:
            k_frames = fixture_idx + [i for i, n in enumerate(names) if n in K100_VIDEO]
            specs.append(dict(name="tiny-w1-k100", margs=["--model", derived["k100"]], t1="0.0",
                              frames=k_frames, combos=[("0.6", "rle", k_frames)], strict=[], dround=[]))

        pool = concurrent.futures.ThreadPoolExecutor(max_workers=2)
        # step 1: one image per call, with --raw-out
        step1 = []
        for si, sp in enumerate(specs):
            for fi in sp["frames"]:
                raw = os.path.join(tmp, "raw_%d_%d.safetensors" % (si, fi))
                args = sp["margs"] + ["--confidence", sp["t1"], "--format", "polygon", "--raw-out", raw, frames[fi][0]]
                step1.append((si, fi, raw, pool.submit(rfseg, args)))
        # step 5 (submitted early): the tied-class model on one frame
        tied_raw = os.path.join(tmp, "raw_tied.safetensors")
        tied_fut = None
        if "tied" in derived:
            tied_fut = pool.submit(rfseg, ["--model", derived["tied"], "--confidence", "0.5",
                                           "--raw-out", tied_raw, frames[1][0]])
        # step 2: multi-image calls for the other (threshold, format) pairs
        step2 = []
        for si, sp in enumerate(specs):
            for thr, fmt, use in sp["combos"]:
                args = sp["margs"] + (["--confidence", thr] if thr else []) + ["--format", fmt]
                step2.append((si, thr, fmt, use, pool.submit(rfseg, args + [frames[fi][0] for fi in use])))

        refs = {}
        for si, fi, raw, fut in step1:
            sp = specs[si]
            where = "%s %s T=%s polygon" % (sp["name"], names[fi], sp["t1"])
            lines = check_call(fut.result(), 1, where)
            if lines is None:
                continue
            r = load_reference(raw, frames[fi][1], where)
            if r is None:
                continue
            refs[(si, fi)] = r
            compare(lines[0], "polygon", r.response(sp["t1"], "polygon"), where)

        # steps 3 and 4 need the step 1 scores
        step34 = []
        for si, sp in enumerate(specs):
            for fi in sp["strict"]:
                r = refs.get((si, fi))
                sel = r.selection(sp["t1"]) if r else []
                if len(sel) >= 2:  # a threshold equal to the median kept score
                    text, fmt = repr(float(sel[len(sel) // 2][2])), ("rle" if fi % 2 else "polygon")
                    step34.append((si, fi, text, fmt, "exact score", pool.submit(
                        rfseg, sp["margs"] + ["--confidence", text, "--format", fmt, frames[fi][0]])))
            for fi in sp["dround"]:
                r = refs.get((si, fi))
                sel = r.selection(sp["t1"]) if r else []
                if sel:
                    text, _ = double_rounding_threshold(sel[min(1, len(sel) - 1)][2])
                    step34.append((si, fi, text, "polygon", "double-rounded threshold", pool.submit(
                        rfseg, sp["margs"] + ["--confidence", text, frames[fi][0]])))

        for si, thr, fmt, use, fut in step2:
            sp = specs[si]
            where = "%s T=%s %s (multi-image)" % (sp["name"], thr or "default", fmt)
            lines = check_call(fut.result(), len(use), where)
            if lines is None:
                continue
            for fi, line in zip(use, lines):
                r = refs.get((si, fi))
                if r is None:
                    continue
                exp = r.response(thr if thr else "0.4", fmt)
                if thr == NONE_THRESHOLD and exp["predictions"]:
                    fail("%s: threshold %s was meant to keep nothing" % (where, thr))
                compare(line, fmt, exp, "%s %s" % (where, names[fi]))

        for si, fi, text, fmt, what, fut in step34:
            where = "%s %s T=%s (%s) %s" % (specs[si]["name"], names[fi], text, what, fmt)
            lines = check_call(fut.result(), 1, where)
            if lines is None:
                continue
            exp = refs[(si, fi)].response(text, fmt)
            if what == "exact score" and any(d["confidence"] == float(text) for d in exp["predictions"]):
                fail("%s: reference kept a detection whose score equals the threshold" % where)
            compare(lines[0], fmt, exp, where)

        if tied_fut is not None:
            where = "tiny-w1 with tied classes 1/2 %s T=0.5" % names[1]
            lines = check_call(tied_fut.result(), 1, where)
            r = load_reference(tied_raw, frames[1][1], where) if lines else None
            if r is not None:
                if r.stats["argmax_logit_vs_prob"] == 0:
                    fail("%s: no query of the patched model has a sigmoid argmax != logit argmax" % where)
                compare(lines[0], "polygon", r.response("0.5", "polygon"), where)
        pool.shutdown()

        stats = {"ties": 0, "empty_masks": 0, "argmax_logit_vs_prob": 0}
        for r in refs.values():
            for k in stats:
                stats[k] += r.stats[k]
        dropped = sum(1 for (si, fi), r in refs.items() if specs[si]["name"] == "tiny-w1-k100"
                      for c in np.argmax(ref.sigmoid_f32(r.logits), 1) if c >= len(ref.COCO_LABELS))
    if unescaped["lines"]:
        fail("%d JSON lines have an RLE counts string with an unescaped backslash (invalid JSON; "
             "pycocotools' alphabet '0'..'o' includes '\\', which JSON writes as \"\\\\\"); first: %s"
             % (unescaped["lines"], unescaped["first"]))
    if stats["ties"]:
        print("note: %d equal confidences among kept detections (torch.sort leaves their order open; "
              "compared in a canonical order)" % stats["ties"])
    print("class ids seen: %s" % ", ".join("%d %s" % kv for kv in sorted(class_ids_seen.items())))
    print("queries dropped as class id >= 91 (k100 model): %d; queries whose sigmoid argmax differs from "
          "the logit argmax (fixture frames): %d; detections with an empty mask: %d"
          % (dropped, stats["argmax_logit_vs_prob"], stats["empty_masks"]))
    summary = ("%d rfseg calls, %d frames, %d JSON lines (%d with no detections), %d detections, "
               "%d polygon points, %d RLE masks, %d float literals"
               % (counts["calls"], len(frames), counts["lines"], counts["empty_frames"], counts["detections"],
                  counts["points"], counts["rle"], counts["floats"]))
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    summary += "; CPU s: python %.1f, rfseg %.1f" % (me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime)
    if failures:
        print("%d failures; %s" % (len(failures), summary))
        return 1
    print("all equal: %s" % summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
