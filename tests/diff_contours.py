#!/usr/bin/python3
"""diff_contours: rfs_contour_external / rfs_contour_longest against the real
cv2.findContours(mask, RETR_EXTERNAL, CHAIN_APPROX_SIMPLE) and Roboflow's mask2poly choice
(np.argmax over the contour lengths), bit-exact.

Every case is a frame-size mask; the C side receives it in rectangle form (the tight bounding
box, or a looser rectangle with empty margins) and must return frame coordinates. Compared:
the full list of external contours in OpenCV's order (so the tracer itself is proven), and the
selected polygon. Families (fixed seed): blobs, blobs with holes, components inside holes
(several nesting levels, thick and 1-pixel rings), thin and diagonal lines, single pixels,
masks touching every border, full masks, several identical components (equal point counts),
checkerboards of several periods, random noise at several densities, random walks, sizes from
1x1 to 200x300. Prints the number of cases that matched and fails on any difference.
"""
import os
import struct
import subprocess
import sys

import cv2
import numpy as np

BUILD = os.environ.get("RFS_BUILD", "build")
TOOL = os.path.join(BUILD, "tests", "cvdiff")


def blob(rng, h, w, n=None):
    m = np.zeros((h, w), np.uint8)
    for _ in range(n or int(rng.integers(1, 5))):
        c = (int(rng.integers(-w // 4, w + w // 4)), int(rng.integers(-h // 4, h + h // 4)))
        ax = (int(rng.integers(1, max(2, w // 2))), int(rng.integers(1, max(2, h // 2))))
        cv2.ellipse(m, c, ax, float(rng.uniform(0, 180)), 0, 360, 1, -1)
    return m


def smooth_noise(rng, h, w):
    k = int(rng.integers(1, 8)) * 2 + 1
    n = rng.random((h, w)).astype(np.float32)
    n = cv2.GaussianBlur(n, (k, k), 0)
    return (n > np.quantile(n, rng.uniform(0.3, 0.8))).astype(np.uint8)


def holes(rng, h, w):
    m = blob(rng, h, w)
    for _ in range(int(rng.integers(1, 6))):
        c = (int(rng.integers(0, w)), int(rng.integers(0, h)))
        cv2.circle(m, c, int(rng.integers(1, max(2, min(h, w) // 4))), 0, -1)
    return m


def nested(rng, h, w):
    m = np.zeros((h, w), np.uint8)
    cx, cy = w // 2, h // 2
    r = min(h, w) // 2 - 1
    val, thick = 1, int(rng.integers(1, 4))
    while r > 0:
        cv2.circle(m, (cx + int(rng.integers(-1, 2)), cy), r, val, thick if val else -1)
        if val == 0:
            cv2.circle(m, (cx, cy), r, 0, -1)
        r -= int(rng.integers(1, 5))
        val ^= 1 if rng.random() < 0.8 else 0
        thick = int(rng.integers(1, 4))
    # a few extra components inside and outside
    for _ in range(int(rng.integers(0, 4))):
        m[int(rng.integers(0, h)), int(rng.integers(0, w))] = 1
    return m


def rect_rings(rng, h, w):
    m = np.zeros((h, w), np.uint8)
    k = 0
    while 2 * k < min(h, w):
        t = int(rng.integers(1, 3))
        if k % 2 == 0 or rng.random() < 0.3:
            m[k:h - k, k:w - k] = 1
            m[k + t:h - k - t, k + t:w - k - t] = 0 if h - 2 * (k + t) > 0 else m[k + t:h - k - t, k + t:w - k - t]
        k += t + int(rng.integers(1, 3))
    return m


def lines(rng, h, w, diagonal=False):
    m = np.zeros((h, w), np.uint8)
    for _ in range(int(rng.integers(1, 6))):
        p = (int(rng.integers(-5, w + 5)), int(rng.integers(-5, h + 5)))
        if diagonal:
            L = int(rng.integers(1, max(h, w) + 1))
            sx, sy = int(rng.choice([-1, 1])), int(rng.choice([-1, 1]))
            q = (p[0] + sx * L, p[1] + sy * L)
        else:
            q = (int(rng.integers(-5, w + 5)), int(rng.integers(-5, h + 5)))
        cv2.line(m, p, q, 1, int(rng.choice([1, 1, 1, 2])), int(rng.choice([4, 8])))
    return m


def pixels(rng, h, w):
    m = np.zeros((h, w), np.uint8)
    k = int(rng.integers(1, max(2, h * w // 20 + 2)))
    m[rng.integers(0, h, k), rng.integers(0, w, k)] = 1
    return m


def border(rng, h, w):
    m = blob(rng, h, w, 3)
    for side in range(4):
        if rng.random() < 0.7:
            a = int(rng.integers(0, max(1, (w if side < 2 else h) - 1)))
            b = a + int(rng.integers(1, 30))
            if side == 0: m[0, a:b] = 1
            if side == 1: m[h - 1, a:b] = 1
            if side == 2: m[a:b, 0] = 1
            if side == 3: m[a:b, w - 1] = 1
    return m


def full(rng, h, w):
    m = np.ones((h, w), np.uint8)
    if rng.random() < 0.5:
        y0, x0 = int(rng.integers(0, h)), int(rng.integers(0, w))
        m[:] = 0
        m[y0:, x0:] = 1
    return m


def copies(rng, h, w):
    m = np.zeros((h, w), np.uint8)
    s = int(rng.integers(1, 7))
    shape = (rng.random((s, s)) < 0.7).astype(np.uint8)
    if rng.random() < 0.5:
        shape[:] = 1
    for _ in range(int(rng.integers(2, 8))):
        y, x = int(rng.integers(0, max(1, h - s))), int(rng.integers(0, max(1, w - s)))
        m[y:y + s, x:x + s] |= shape[:h - y, :w - x]
    return m


def checker(rng, h, w):
    p = int(rng.integers(1, 5))
    y, x = np.mgrid[0:h, 0:w]
    m = (((y // p) + (x // p)) % 2).astype(np.uint8)
    if rng.random() < 0.5:
        m[: h // 3] = 0
    return m


def noise(rng, h, w):
    d = float(rng.choice([0.02, 0.1, 0.3, 0.5, 0.7, 0.9]))
    return (rng.random((h, w)) < d).astype(np.uint8)


def walk(rng, h, w):
    m = np.zeros((h, w), np.uint8)
    y, x = int(rng.integers(0, h)), int(rng.integers(0, w))
    for _ in range(int(rng.integers(1, 4 * (h + w)))):
        m[y, x] = 1
        y = min(h - 1, max(0, y + int(rng.integers(-1, 2))))
        x = min(w - 1, max(0, x + int(rng.integers(-1, 2))))
    return m


FAMILIES = [blob, smooth_noise, holes, nested, rect_rings, lines,
            lambda r, h, w: lines(r, h, w, True), pixels, border, full, copies, checker,
            noise, walk]
NAMES = ["blob", "smooth", "holes", "nested", "rings", "lines", "diagonal", "pixels", "border",
         "full", "copies", "checker", "noise", "walk"]


def size(rng):
    u = rng.random()
    if u < 0.1:
        return int(rng.integers(1, 4)), int(rng.integers(1, 4))
    if u < 0.4:
        return int(rng.integers(1, 24)), int(rng.integers(1, 24))
    if u < 0.9:
        return int(rng.integers(4, 90)), int(rng.integers(4, 120))
    return int(rng.integers(100, 201)), int(rng.integers(100, 301))


def rect_of(m, rng):
    ys, xs = np.nonzero(m)
    if len(ys) == 0:
        return 0, 0, 0, 0
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    if rng.random() < 0.3:  # a looser rectangle with empty margins
        y0 = int(rng.integers(0, y0 + 1)); x0 = int(rng.integers(0, x0 + 1))
        y1 = int(rng.integers(y1, m.shape[0] + 1)); x1 = int(rng.integers(x1, m.shape[1] + 1))
    return int(x0), int(y0), int(x1 - x0), int(y1 - y0)


def main():
    rng = np.random.default_rng(7)
    masks, fams = [], []
    per = 170
    for fi, f in enumerate(FAMILIES):
        for _ in range(per):
            h, w = size(rng)
            masks.append(np.ascontiguousarray(f(rng, h, w).astype(np.uint8) & 1))
            fams.append(fi)
    for _ in range(20):  # empty masks
        masks.append(np.zeros(size(rng), np.uint8)); fams.append(-1)
    for fi in (0, 1, 2, 12):  # a few large frames (buffers grow)
        masks.append(np.ascontiguousarray(FAMILIES[fi](rng, 540, 960).astype(np.uint8) & 1))
        fams.append(fi)
    payload = bytearray()
    rects = []
    for m in masks:
        x0, y0, w, h = rect_of(m, rng)
        rects.append((x0, y0, w, h))
        sub = m[y0:y0 + h, x0:x0 + w]
        if rng.random() < 0.2:  # nonzero values other than 1 count as set
            sub = sub * np.uint8(rng.integers(1, 256))
        payload += struct.pack("<4i", x0, y0, w, h) + np.ascontiguousarray(sub).tobytes()
    res = subprocess.run([TOOL, "contours"], input=bytes(payload), capture_output=True, check=True)
    out = np.frombuffer(res.stdout, "<i4")
    off = 0
    ok = bad = 0
    fam_ok = {}
    stats = {"contours": 0, "ties": 0, "multi": 0}
    for m, fi in zip(masks, fams):
        n = int(out[off]); off += 1
        lens = out[off:off + n].tolist(); off += n
        tot = sum(lens)
        pts = out[off:off + 2 * tot].reshape(-1, 2); off += 2 * tot
        nb = int(out[off]); off += 1
        best = out[off:off + 2 * nb].reshape(-1, 2); off += 2 * nb
        mine, k = [], 0
        for L in lens:
            mine.append(pts[k:k + L]); k += L
        ref, _ = cv2.findContours(m.copy(), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        ref = [c.reshape(-1, 2) for c in ref]
        ref_best = ref[int(np.argmax([len(c) for c in ref]))] if ref else np.zeros((0, 2), int)
        stats["contours"] += len(ref)
        stats["multi"] += len(ref) > 1
        if ref:
            L = [len(c) for c in ref]
            stats["ties"] += L.count(max(L)) > 1
        good = len(mine) == len(ref) and all(np.array_equal(a, b) for a, b in zip(mine, ref)) \
            and np.array_equal(best, ref_best)
        name = NAMES[fi] if fi >= 0 else "empty"
        fam_ok.setdefault(name, [0, 0])[0 if good else 1] += 1
        if good:
            ok += 1
        else:
            bad += 1
            if bad <= 5:
                print(f"MISMATCH family {name} size {m.shape}: mine {len(mine)} contours "
                      f"{[len(c) for c in mine]}, cv2 {len(ref)} {[len(c) for c in ref]}")
                if m.size <= 400:
                    print(m)
                    print("mine", [c.tolist() for c in mine])
                    print("cv2 ", [c.tolist() for c in ref])
    assert off == len(out), "tool output length mismatch"
    print("per family (ok, bad):", fam_ok)
    print(f"{stats['contours']} external contours in total; {stats['multi']} masks with several; "
          f"{stats['ties']} with tied longest contours")
    print(f"{ok} passed, {bad} failed (cv2.findContours RETR_EXTERNAL CHAIN_APPROX_SIMPLE + "
          f"argmax, OpenCV {cv2.__version__})")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
