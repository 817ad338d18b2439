#!/usr/bin/python3
"""diff_resize: rfs_resize_linear_u8c3 against the real cv2.resize (INTER_LINEAR, uint8, 3
channels), bit-exact.

Cases (fixed seed): random up/down/mixed sizes, exact 2x (INTER_AREA redirect), exact 3x and
4x downscales, exact integer upscales, same size (copy), 1-pixel sides in the source and the
destination, very non-square shapes, the Roboflow 312x312 and fixture 96/144 targets from
common frame sizes; content random noise, flat, gradients and extremes (0/255 checkers).
Prints the number of cases that matched and fails on any difference.
"""
import os
import struct
import subprocess
import sys

import cv2
import numpy as np

BUILD = os.environ.get("RFS_BUILD", "build")
TOOL = os.path.join(BUILD, "tests", "cvdiff")


def content(rng, h, w, kind):
    if kind == 0:
        return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    if kind == 1:
        return np.full((h, w, 3), rng.integers(0, 256), np.uint8)
    if kind == 2:
        y, x = np.mgrid[0:h, 0:w]
        g = (x * 255 // max(w - 1, 1) + y * 7) % 256
        return np.stack([g, 255 - g, (g * 3) % 256], -1).astype(np.uint8)
    c = ((np.arange(h)[:, None] + np.arange(w)[None, :]) % 2) * 255
    return np.repeat(c[:, :, None], 3, 2).astype(np.uint8)


def cases(rng):
    out = []
    for _ in range(140):  # random sizes, any direction
        sw, sh = (int(v) for v in rng.integers(1, 400, 2))
        dw, dh = (int(v) for v in rng.integers(1, 400, 2))
        out.append((sw, sh, dw, dh))
    for _ in range(30):  # exact integer downscales 2x (area), 3x, 4x, mixed
        f = int(rng.choice([2, 2, 3, 4]))
        g = f if rng.random() < 0.7 else int(rng.choice([2, 3, 4]))
        dw, dh = (int(v) for v in rng.integers(1, 120, 2))
        out.append((dw * f, dh * g, dw, dh))
    for _ in range(15):  # exact integer upscales
        f = int(rng.choice([2, 3, 4]))
        sw, sh = (int(v) for v in rng.integers(1, 60, 2))
        out.append((sw, sh, sw * f, sh * f))
    for _ in range(10):  # same size
        sw, sh = (int(v) for v in rng.integers(1, 300, 2))
        out.append((sw, sh, sw, sh))
    for _ in range(25):  # 1-pixel sides
        a, b = (int(v) for v in rng.integers(1, 300, 2))
        out.append(rng.choice([(1, a, b, 7), (a, 1, 5, b), (a, b, 1, 9), (a, b, 11, 1),
                               (1, 1, a, b), (a, b, 1, 1), (1, a, 1, b)]).tolist())
    for _ in range(10):  # very non-square
        out.append((int(rng.integers(300, 2000)), int(rng.integers(1, 8)),
                    int(rng.integers(1, 50)), int(rng.integers(20, 300))))
    for sw, sh in [(1920, 1080), (1280, 720), (426, 240), (640, 480), (451, 300), (512, 512),
                   (600, 400), (640, 427), (624, 624), (156, 156)]:
        for r in (312, 96, 144):
            out.append((sw, sh, r, r))
    return [tuple(int(v) for v in c) for c in out]


def main():
    rng = np.random.default_rng(20240611)
    cs = cases(rng)
    imgs = [content(rng, sh, sw, int(rng.integers(0, 4))) for sw, sh, _, _ in cs]
    payload = bytearray()
    for (sw, sh, dw, dh), img in zip(cs, imgs):
        payload += struct.pack("<4i", sw, sh, dw, dh) + np.ascontiguousarray(img).tobytes()
    res = subprocess.run([TOOL, "resize"], input=bytes(payload), capture_output=True, check=True)
    data, off = res.stdout, 0
    ok = bad = 0
    kinds = {"up": 0, "down": 0, "2x": 0, "same": 0, "1px": 0, "mixed": 0}
    for (sw, sh, dw, dh), img in zip(cs, imgs):
        n = dw * dh * 3
        mine = np.frombuffer(data[off:off + n], np.uint8).reshape(dh, dw, 3)
        off += n
        ref = cv2.resize(img, (dw, dh))  # default INTER_LINEAR
        if (sw, sh) == (dw, dh):
            kinds["same"] += 1
        elif sw == 2 * dw and sh == 2 * dh:
            kinds["2x"] += 1
        elif 1 in (sw, sh, dw, dh):
            kinds["1px"] += 1
        elif dw >= sw and dh >= sh:
            kinds["up"] += 1
        elif dw <= sw and dh <= sh:
            kinds["down"] += 1
        else:
            kinds["mixed"] += 1
        if np.array_equal(mine, ref):
            ok += 1
        else:
            bad += 1
            d = np.argwhere(mine != ref)
            if bad <= 10:
                y, x, c = d[0]
                print(f"MISMATCH {sw}x{sh} -> {dw}x{dh}: {len(d)} values differ, first at "
                      f"y={y} x={x} c={c}: mine {mine[y, x, c]} cv2 {ref[y, x, c]}")
    assert off == len(data), "tool output length mismatch"
    print("kinds:", kinds)
    print(f"{ok} passed, {bad} failed (cv2.resize INTER_LINEAR uint8 3ch, OpenCV {cv2.__version__})")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
