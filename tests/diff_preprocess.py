#!/usr/bin/python3
"""diff_preprocess: the two network-input presets.

1. rfdetr (rfs_preprocess_rfdetr): the four fixture photos (PIL, RGB) against the official
   preprocessing stored in the fixtures (IMAGE/input of tiny-w1, 96x96, and tiny-w2,
   144x144): max abs error <= 1e-5. The same frames given as BGR must give the same tensor.
2. roboflow (rfs_preprocess_roboflow): cv2.resize(bgr, (R, R)) (INTER_LINEAR), BGR->RGB,
   x = float32(u8) * float32(1/255), (x - mean) / std in float32, evaluated with numpy,
   must match bit for bit; on the fixture photos and random frames, for several R; the RGB
   entry point (rfs_preprocess_roboflow_rgb) on the same frames given as RGB likewise.
3. roboflow letterbox and center-crop (docs/roboflow.md 1.4, transcribed from the
   upstream numpy handlers: geometry with Python's int()/(//) rounding, cv2.resize, float
   canvas with the raw padding value / zero uint8 canvas), bit for bit, and the static-crop
   rectangle (int(pct / 100 * size)).
Prints the counts and fails on any violation.
"""
import json
import os
import struct
import subprocess
import sys

import cv2
import numpy as np
from PIL import Image

BUILD = os.environ.get("RFS_BUILD", "build")
TOOL = os.path.join(BUILD, "tests", "cvdiff")
SHARED = os.environ.get("RFS_SHARED", os.path.join(os.path.dirname(__file__), "..", "..", "shared"))
IMAGES = ["astronaut", "chelsea", "coffee", "rocket"]


def load_st(path, keys):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    hdr = json.loads(b[8:8 + n])
    out = {}
    for k in keys:
        v = hdr[k]
        assert v["dtype"] == "F32"
        s, e = v["data_offsets"]
        out[k] = np.frombuffer(b, "<f4", (e - s) // 4, 8 + n + s).reshape(v["shape"])
    return out


def tool(args, pix):
    out = subprocess.run([TOOL] + [str(a) for a in args], input=np.ascontiguousarray(pix).tobytes(),
                         capture_output=True, check=True).stdout
    return np.frombuffer(out, "<f4")


def roboflow_ref(bgr, R):
    rs = cv2.resize(bgr, (R, R))
    rgb = rs[:, :, ::-1].astype(np.float32)
    x = rgb * np.float32(1.0 / 255.0)
    mean = np.array([0.485, 0.456, 0.406], np.float32)
    std = np.array([0.229, 0.224, 0.225], np.float32)
    return ((x - mean) / std).transpose(2, 0, 1)


def normalise(canvas_bgr_f32):
    x = canvas_bgr_f32[:, :, ::-1] * np.float32(1.0 / 255.0)
    mean = np.array([0.485, 0.456, 0.406], np.float32)
    std = np.array([0.229, 0.224, 0.225], np.float32)
    return ((x - mean) / std).transpose(2, 0, 1)


def letterbox_ref(img, R, pad):
    H, W = img.shape[:2]
    scale = min(R / W, R / H)
    nw, nh = int(W * scale), int(H * scale)
    top, left = int((R - nh) / 2), int((R - nw) / 2)
    canvas = np.full((R, R, 3), np.float32(pad), np.float32)
    canvas[top:top + nh, left:left + nw] = cv2.resize(img, (nw, nh))
    return (nw, nh, left, top, R - left - nw, R - top - nh), normalise(canvas)


def center_crop_ref(img, R):
    H, W = img.shape[:2]
    canvas = np.zeros((R, R, 3), np.uint8)
    cx, cy = max(R - W, 0), max(R - H, 0)
    cl, ct = cx // 2, cy // 2
    cr, cb = cx - cl, cy - ct
    ix, iy = max(W - R, 0), max(H - R, 0)
    il, it = ix // 2, iy // 2
    ir, ib = ix - il, iy - it
    canvas[ct:R - cb, cl:R - cr] = img[it:H - ib, il:W - ir]
    pads = (cl if R > W else -il, ct if R > H else -it, cr if R > W else -ir, cb if R > H else -ib)
    return pads, normalise(canvas.astype(np.float32))


def test_modes(rng, frames):
    n = bad = 0
    for f in frames:
        h, w = f.shape[:2]
        for R in (312, 96, 640):
            pad = float(rng.choice([0, 114, 255]))
            out = subprocess.run([TOOL, "letterbox", str(R), str(w), str(h), str(pad)],
                                 input=f.tobytes(), capture_output=True, check=True).stdout
            geo = struct.unpack_from("<6i", out)
            got = np.frombuffer(out, "<f4", offset=24).reshape(3, R, R)
            wgeo, want = letterbox_ref(f, R, pad)
            n += 1
            if tuple(geo) != wgeo or not np.array_equal(got.view(np.uint32), want.view(np.uint32)):
                bad += 1
                print(f"LETTERBOX MISMATCH {w}x{h} -> {R}: geometry {geo} vs {wgeo}")
            out = subprocess.run([TOOL, "centercrop", str(R), str(w), str(h)],
                                 input=f.tobytes(), capture_output=True, check=True).stdout
            pads = struct.unpack_from("<4i", out)
            got = np.frombuffer(out, "<f4", offset=16).reshape(3, R, R)
            wpads, want = center_crop_ref(f, R)
            n += 1
            if tuple(pads) != wpads or not np.array_equal(got.view(np.uint32), want.view(np.uint32)):
                bad += 1
                print(f"CENTER CROP MISMATCH {w}x{h} -> {R}: pads {pads} vs {wpads}")
    for _ in range(300):
        w, h = (int(v) for v in rng.integers(1, 3000, 2))
        p = sorted(int(v) for v in rng.integers(0, 101, 2)), sorted(int(v) for v in rng.integers(0, 101, 2))
        out = subprocess.run([TOOL, "staticcrop", str(w), str(h), str(p[0][0]), str(p[1][0]),
                              str(p[0][1]), str(p[1][1])], capture_output=True, check=True).stdout
        x0, y0, x1, y1 = (int(v) for v in out.split())
        xs = int(p[0][0] / 100 * w), int(p[0][1] / 100 * w)
        ys = int(p[1][0] / 100 * h), int(p[1][1] / 100 * h)
        ref = np.zeros((h, w), np.uint8)[ys[0]:ys[1], xs[0]:xs[1]]
        n += 1
        if (x0, y0) != (xs[0], ys[0]) or (x1 - x0, y1 - y0) != (ref.shape[1], ref.shape[0]):
            bad += 1
            print(f"STATIC CROP MISMATCH {w}x{h} {p}: {x0, y0, x1, y1}")
    print(f"letterbox / center-crop / static crop: {n - bad} of {n} exact")
    return bad


def main():
    bad = 0
    worst = 0.0
    n_rf = 0
    for model, R in (("tiny-w1", 96), ("tiny-w2", 144)):
        path = os.path.join(SHARED, "fixtures", "rfdetr", model + ".ref.safetensors")
        ref = load_st(path, [i + "/input" for i in IMAGES])
        for img in IMAGES:
            rgb = np.asarray(Image.open(os.path.join(SHARED, "fixtures", "images", img + ".png")))
            assert rgb.ndim == 3 and rgb.shape[2] == 3, rgb.shape
            h, w = rgb.shape[:2]
            want = ref[img + "/input"][0]
            for bgr in (0, 1):
                pix = rgb[:, :, ::-1] if bgr else rgb
                got = tool(["rfdetr", R, w, h, bgr], pix).reshape(3, R, R)
                err = float(np.abs(got - want).max())
                worst = max(worst, err)
                n_rf += 1
                if err > 1e-5:
                    bad += 1
                    print(f"RFDETR MISMATCH {model} {img} bgr={bgr}: max abs err {err:.3g}")
    print(f"rfdetr preprocess vs fixtures: {n_rf - bad} of {n_rf} within 1e-5 (worst {worst:.2e})")

    rng = np.random.default_rng(11)
    frames = [np.ascontiguousarray(np.asarray(Image.open(
        os.path.join(SHARED, "fixtures", "images", i + ".png")))[:, :, ::-1]) for i in IMAGES]
    for _ in range(8):
        h, w = int(rng.integers(1, 700)), int(rng.integers(1, 900))
        frames.append(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
    n = rb = 0
    for f in frames:
        for R in (312, 96, 144, 432):
            h, w = f.shape[:2]
            got = tool(["roboflow", R, w, h], f).reshape(3, R, R)
            got_rgb = tool(["roboflow", R, w, h, "rgb"], np.ascontiguousarray(f[:, :, ::-1])).reshape(3, R, R)
            want = roboflow_ref(f, R)
            n += 1
            if not np.array_equal(got.view(np.uint32), want.view(np.uint32)) or \
                    not np.array_equal(got_rgb.view(np.uint32), want.view(np.uint32)):
                rb += 1
                print(f"ROBOFLOW MISMATCH {w}x{h} -> {R}: max abs {np.abs(got - want).max()}, "
                      f"rgb input {np.abs(got_rgb - want).max()}")
    print(f"roboflow preprocess vs cv2 + numpy float32: {n - rb} of {n} bit-exact")
    bad += rb
    bad += test_modes(rng, frames)
    print(f"{'all' if not bad else 'NOT all'} passed: preprocess rfdetr/roboflow ({bad} failed)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
