#!/usr/bin/python3
"""diff_rfdetr_predict: the rfdetr preset against a numpy reference of today's rfdetr predict().

The reference is written from the description of RFDETR.predict in rfdetr >= 1.9
(docs/presets.md, the rfdetr preset), not from rfseg's code:
  pre-processing  x = u8 / 255 in float32 (IEEE division); torchvision resize(antialias=
                  False) = interpolate(bilinear, align_corners=False): per axis ATen's
                  float32 source index scale * (i + 0.5) - 0.5 (scale = in / out, clamped
                  at 0), i0 = min(floor, in - 1), i1 = i0 + (i0 < in - 1), l1 = clip(src -
                  i0, 0, 1), l0 = 1 - l1; the weighted sum in float64 (rows first), rounded
                  once to float32; then (x - mean) / std in float32.
  selection       sigmoid (1 / (1 + e) in float32, e = exp(-x) in float64 rounded), flatten
                  q * K + c, stable sort by descending score (NaN first), ties by ascending
                  index, the first num_select, then score > threshold.
  boxes           cxcywh -> xyxy (w, h clamped at 0) x (W, H, W, H) in float32, then
                  clamp_min(0) and clamp(max=(W, H, W, H)).
  masks           the kept queries' logits, interpolate(bilinear, align_corners=False) to
                  (H, W) in float32 as ATen's generic kernel sums (h0 * (w0 a + w1 b) + h1 *
                  (...)), > 0.
  class names     args.class_names or the 80 COCO names; the sparse COCO ids when the names
                  are COCO's and the model has more logit slots (K - 1) than names; else
                  names[i], "__background__" for i = K - 1, "" otherwise.
Checked bit for bit (float32 bit patterns): selection and boxes on adversarial network
outputs (exact ties, NaN logits and boxes, boxes beyond the frame); the network input for the four fixture photos
(RGB and BGR input) and for random frames of awkward sizes (1 pixel, up, down, equal to R,
non-square); for both fixture models, the four photos and thresholds 0.5 and 0, the kept
detections of rfs_predict (scores, labels, queries, boxes, every mask pixel, class names)
against the reference computed from the network outputs rfseg produced; and the CLI's JSON
(`--format rle` decoded pixel for pixel, `--format polygon`) against rfs_predict. Prints the
counts; fails on any difference.
"""
import json
import os
import struct
import subprocess
import sys
import tempfile

import numpy as np
from PIL import Image

from roboflow_ref import rle_decode

BUILD = os.environ.get("RFS_BUILD", "build")
TOOL = os.path.join(BUILD, "tests", "rfdetr_tool")
SHARED = os.environ.get("RFS_SHARED", os.path.join(os.path.dirname(__file__), "..", "..", "shared"))
IMAGES = ["astronaut", "chelsea", "coffee", "rocket"]
f32, f64 = np.float32, np.float64
MEAN = np.array([0.485, 0.456, 0.406], f32)
STD = np.array([0.229, 0.224, 0.225], f32)
# rfdetr's COCO_CLASSES: category id -> name (the 80 names in id order are COCO_CLASS_NAMES)
COCO = {1: "person", 2: "bicycle", 3: "car", 4: "motorcycle", 5: "airplane", 6: "bus", 7: "train",
        8: "truck", 9: "boat", 10: "traffic light", 11: "fire hydrant", 13: "stop sign",
        14: "parking meter", 15: "bench", 16: "bird", 17: "cat", 18: "dog", 19: "horse", 20: "sheep",
        21: "cow", 22: "elephant", 23: "bear", 24: "zebra", 25: "giraffe", 27: "backpack",
        28: "umbrella", 31: "handbag", 32: "tie", 33: "suitcase", 34: "frisbee", 35: "skis",
        36: "snowboard", 37: "sports ball", 38: "kite", 39: "baseball bat", 40: "baseball glove",
        41: "skateboard", 42: "surfboard", 43: "tennis racket", 44: "bottle", 46: "wine glass",
        47: "cup", 48: "fork", 49: "knife", 50: "spoon", 51: "bowl", 52: "banana", 53: "apple",
        54: "sandwich", 55: "orange", 56: "broccoli", 57: "carrot", 58: "hot dog", 59: "pizza",
        60: "donut", 61: "cake", 62: "chair", 63: "couch", 64: "potted plant", 65: "bed",
        67: "dining table", 70: "toilet", 72: "tv", 73: "laptop", 74: "mouse", 75: "remote",
        76: "keyboard", 77: "cell phone", 78: "microwave", 79: "oven", 80: "toaster", 81: "sink",
        82: "refrigerator", 84: "book", 85: "clock", 86: "vase", 87: "scissors", 88: "teddy bear",
        89: "hair drier", 90: "toothbrush"}
COCO_CLASS_NAMES = [COCO[k] for k in sorted(COCO)]


def taps(n_in, n_out):
    """ATen upsample_bilinear2d (align_corners=False, size given) along one axis, float32."""
    scale = f32(n_in) / f32(n_out)
    i = np.arange(n_out, dtype=f32)
    src = scale * (i + f32(0.5)) - f32(0.5)
    src = np.where(src < 0, f32(0), src).astype(f32)
    i0 = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    l1 = np.clip(src - i0.astype(f32), f32(0), f32(1)).astype(f32)
    l0 = (f32(1) - l1).astype(f32)
    i1 = i0 + (i0 < n_in - 1)
    return i0, i1, l0, l1


def preprocess(rgb, R):
    """Today's predict: /255, bilinear resize without antialias (float64, rounded), normalise."""
    x = rgb.astype(f32) / f32(255)                       # (H, W, 3) float32
    h, w = x.shape[:2]
    x0, x1, xl0, xl1 = taps(w, R)
    y0, y1, yl0, yl1 = taps(h, R)
    xd = x.astype(f64)
    t = xl0.astype(f64)[None, :, None] * xd[:, x0] + xl1.astype(f64)[None, :, None] * xd[:, x1]
    out = yl0.astype(f64)[:, None, None] * t[y0] + yl1.astype(f64)[:, None, None] * t[y1]
    out = out.astype(f32)
    return ((out - MEAN) / STD).astype(f32).transpose(2, 0, 1)


def sigmoid(x):
    e = np.exp(-x.astype(f64)).astype(f32)
    return f32(1) / (f32(1) + e)


def upsample(logits, H, W):
    """interpolate(bilinear, align_corners=False) of one (h, w) map to (H, W), float32 as ATen."""
    h, w = logits.shape
    x0, x1, xl0, xl1 = taps(w, W)
    y0, y1, yl0, yl1 = taps(h, H)
    t = logits[:, x0] * xl0[None, :] + logits[:, x1] * xl1[None, :]
    return t[y0] * yl0[:, None] + t[y1] * yl1[:, None]


def class_name(i, names, K):
    num_classes = K - 1
    coco = names is None or names == COCO_CLASS_NAMES
    names = COCO_CLASS_NAMES if names is None else names
    if coco and num_classes > len(names):
        return COCO.get(i, "")
    if i == num_classes:
        return "__background__"
    return names[i] if 0 <= i < len(names) else ""


def postprocess(logits, boxes, masks, W, H, num_select, thr, names):
    nq, K = logits.shape
    p = sigmoid(logits).reshape(-1)
    idx = np.arange(p.size)
    nan = np.isnan(p)
    order = np.lexsort((idx, np.where(nan, f32(0), -p), ~nan))[: min(num_select, p.size)]
    order = order[p[order] > f32(thr)]
    q, c = order // K, order % K
    b = boxes[q]
    half_w = f32(0.5) * np.where(b[:, 2] < 0, f32(0), b[:, 2])
    half_h = f32(0.5) * np.where(b[:, 3] < 0, f32(0), b[:, 3])
    scale = np.array([W, H, W, H], f32)
    xyxy = np.stack([b[:, 0] - half_w, b[:, 1] - half_h, b[:, 0] + half_w, b[:, 1] + half_h], 1) * scale
    xyxy = np.where(xyxy < 0, f32(0), xyxy)
    xyxy = np.where(xyxy > scale, scale, xyxy).astype(f32)
    if masks is None:
        m = None
    else:
        m = np.stack([upsample(masks[i], H, W) > 0 for i in q]) if len(q) else np.zeros((0, H, W), bool)
    return p[order], c, q, xyxy, m, [class_name(int(i), names, K) for i in c]


def load_st(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    hdr = json.loads(b[8:8 + n])
    dt = {"F32": "<f4", "I32": "<i4", "U8": "u1"}
    out = {}
    for k, v in hdr.items():
        if k == "__metadata__":
            continue
        s, e = v["data_offsets"]
        out[k] = np.frombuffer(b, dt[v["dtype"]], (e - s) // np.dtype(dt[v["dtype"]]).itemsize,
                               8 + n + s).reshape(v["shape"])
    return out, hdr.get("__metadata__", {})


def same_bits(a, b):
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return False
    if a.dtype == f32:
        return np.array_equal(a.view(np.uint32), b.astype(f32).view(np.uint32))
    return np.array_equal(a, b)


def test_preprocess(rng):
    n = bad = 0
    frames = [np.asarray(Image.open(os.path.join(SHARED, "fixtures", "images", i + ".png")).convert("RGB"))
              for i in IMAGES]
    for h, w in [(1, 1), (1, 7), (5, 1), (96, 96), (144, 96), (95, 97), (300, 451), (2, 3), (1000, 23)]:
        frames.append(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
    for f in frames:
        h, w = f.shape[:2]
        for R in (96, 144, 312):
            want = preprocess(f, R)
            for bgr in (0, 1):
                pix = np.ascontiguousarray(f[:, :, ::-1] if bgr else f)
                out = subprocess.run([TOOL, "pre", str(R), str(w), str(h), str(bgr)], input=pix.tobytes(),
                                     capture_output=True, check=True).stdout
                got = np.frombuffer(out, "<f4").reshape(3, R, R)
                n += 1
                if not same_bits(got, want):
                    bad += 1
                    d = np.abs(got.astype(f64) - want)
                    print("PREPROCESS MISMATCH %dx%d -> %d bgr=%d: %d values, max %.3g" %
                          (w, h, R, bgr, int((got != want).sum()), d.max()))
    print("pre-processing vs numpy float64 reference: %d of %d bit-exact" % (n - bad, n))
    return bad


def test_predict(tmp):
    n = bad = dets = pixels = 0
    for model in ("tiny-w1", "tiny-w2"):
        path = os.path.join(SHARED, "fixtures", "rfdetr", model + ".pth")
        for img in IMAGES:
            png = os.path.join(SHARED, "fixtures", "images", img + ".png")
            rgb = np.asarray(Image.open(png).convert("RGB"))
            H, W = rgb.shape[:2]
            for thr in (0.5, 0.0):
                out = os.path.join(tmp, "%s-%s-%g.st" % (model, img, thr))
                subprocess.run([TOOL, "predict", path, png, out, str(thr)], check=True)
                t, meta = load_st(out)
                R = t["input"].shape[-1]
                names = meta["class_names"].split("\n") if len(t["scores"]) else []
                ref = postprocess(t["pred_logits"][0], t["pred_boxes"][0], t["pred_masks"][0], W, H,
                                  int(meta["num_select"]), thr, None)
                checks = {
                    "input": same_bits(t["input"][0], preprocess(rgb, R)),
                    "scores": same_bits(t["scores"], ref[0]),
                    "labels": same_bits(t["labels"], ref[1]),
                    "queries": same_bits(t["queries"], ref[2]),
                    "boxes": same_bits(t["boxes"], ref[3]),
                    "masks": same_bits(t["masks"].astype(bool), ref[4]),
                    "class names": names == ref[5],
                }
                n += 1
                dets += len(ref[0])
                pixels += int(ref[4].sum())
                if not all(checks.values()):
                    bad += 1
                    print("PREDICT MISMATCH %s %s thr %g: %s" % (model, img, thr,
                                                                 [k for k, v in checks.items() if not v]))
    print("predict vs numpy reference: %d of %d runs equal (%d detections, %d mask pixels set)" %
          (n - bad, n, dets, pixels))
    return bad


def test_select(rng):
    """Top-k, threshold and boxes alone on adversarial outputs: many exactly tied scores, NaN
    logits, scores on the threshold, boxes beyond the frame, negative or NaN sizes."""
    n = bad = ties = clamped = 0
    for trial in range(60):
        nq, K = int(rng.integers(1, 40)), int(rng.integers(1, 12))
        ns = int(rng.integers(1, nq * K + 5))
        logits = rng.choice(np.array([-2, -0.5, 0, 0.25, 1, 3], f32), (nq, K)).astype(f32)
        if trial % 3 == 0:
            logits += rng.normal(0, 1e-3, (nq, K)).astype(f32)
        if trial % 4 == 1:
            logits.reshape(-1)[rng.integers(0, nq * K, 3)] = np.nan
        boxes = rng.normal(0.5, 0.6, (nq, 4)).astype(f32)
        if trial % 5 == 2:
            boxes.reshape(-1)[rng.integers(0, nq * 4, 2)] = np.nan
        W, H = int(rng.integers(1, 2000)), int(rng.integers(1, 2000))
        thr = float(rng.choice([0.0, 0.5, float(sigmoid(np.array([0.25], f32))[0]), 0.9]))
        out = subprocess.run([TOOL, "select", str(nq), str(K), str(ns), repr(thr), str(W), str(H)],
                             input=logits.tobytes() + boxes.tobytes(), capture_output=True, check=True).stdout
        m = struct.unpack_from("<i", out)[0]
        rec = np.frombuffer(out, np.dtype([("s", "<f4"), ("l", "<i4"), ("q", "<i4"), ("b", "<f4", 4)]), m, 4)
        p = sigmoid(logits).reshape(-1)
        want = postprocess(logits, boxes, None, W, H, ns, thr, None)
        n += 1
        ties += len(p) - len(np.unique(p))
        clamped += int(np.sum((want[3] == 0) | (want[3] == np.array([W, H, W, H], f32))))
        if not (same_bits(rec["s"], want[0]) and same_bits(rec["l"], want[1]) and same_bits(rec["q"], want[2])
                and same_bits(rec["b"], want[3])):
            bad += 1
            print("SELECT MISMATCH trial %d: nq %d K %d num_select %d thr %r" % (trial, nq, K, ns, thr))
    print("selection and boxes vs numpy: %d of %d equal (%d tied scores, %d clamped coordinates)" %
          (n - bad, n, ties, clamped))
    return bad


def test_json(tmp):
    """`rfseg predict --preset rfdetr`: the JSON carries the same detections, class names and
    masks (RLE decoded pixel for pixel; polygons present) as rfs_predict."""
    rfseg = os.path.join(BUILD, "rfseg")
    n = bad = 0
    for model in ("tiny-w1", "tiny-w2"):
        path = os.path.join(SHARED, "fixtures", "rfdetr", model + ".pth")
        for img in IMAGES[:2]:
            png = os.path.join(SHARED, "fixtures", "images", img + ".png")
            out = os.path.join(tmp, "json-%s-%s.st" % (model, img))
            subprocess.run([TOOL, "predict", path, png, out, "0.3"], check=True)
            t, meta = load_st(out)
            names = meta["class_names"].split("\n") if len(t["scores"]) else []
            docs = {}
            for fmt in ("rle", "polygon"):
                p = subprocess.run([rfseg, "predict", "--model", path, "--preset", "rfdetr", "--confidence", "0.3",
                                    "--format", fmt, png], capture_output=True, text=True, check=True)
                docs[fmt] = json.loads(p.stdout)
            dets, polys = docs["rle"]["detections"], docs["polygon"]["detections"]
            ok = len(dets) == len(t["scores"]) == len(polys)
            for i, d in enumerate(dets if ok else []):
                ok &= d["class_id"] == int(t["labels"][i]) and d["class_name"] == names[i]
                ok &= f32(d["confidence"]) == t["scores"][i] and all(f32(a) == b for a, b in zip(d["xyxy"], t["boxes"][i]))
                ok &= np.array_equal(rle_decode(d["rle"]["counts"], *d["rle"]["size"]), t["masks"][i].astype(bool))
                ok &= d["mask_area"] == int(t["masks"][i].sum()) and "rle" not in polys[i]
                ok &= (len(polys[i]["points"]) > 0) == bool(t["masks"][i].any())
            n += 1
            if not ok:
                bad += 1
                print("JSON MISMATCH %s %s" % (model, img))
    print("rfseg predict --preset rfdetr JSON vs rfs_predict: %d of %d equal" % (n - bad, n))
    return bad


def test_class_names():
    """The name rule itself (the C side is unit-tested in test_presets.c with the same cases)."""
    cases = [(0, None, 91, ""), (1, None, 91, "person"), (12, None, 91, ""), (90, None, 91, "toothbrush"),
             (0, None, 6, "person"), (5, None, 6, "__background__"), (6, None, 6, "train"), (80, None, 6, ""),
             (1, ["a", "b"], 3, "b"), (2, ["a", "b"], 3, "__background__"), (3, ["a", "b"], 3, ""),
             (18, COCO_CLASS_NAMES, 91, "dog"), (18, COCO_CLASS_NAMES, 81, "sheep"), (80, COCO_CLASS_NAMES, 81, "__background__")]
    bad = [(c, class_name(*c[:3])) for c in cases if class_name(*c[:3]) != c[3]]
    for c, got in bad:
        print("CLASS NAME MISMATCH", c, got)
    return len(bad)


def main():
    rng = np.random.default_rng(1203)
    with tempfile.TemporaryDirectory() as tmp:
        bad = test_class_names() + test_select(rng) + test_preprocess(rng) + test_predict(tmp) + test_json(tmp)
    print("%s: rfdetr preset vs today's predict (%d failed)" % ("all passed" if not bad else "FAILED", bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
