#!/usr/bin/python3
"""diff_rle_json: the text pieces of the Roboflow response against Python.

1. COCO RLE (rfs_rle_counts + rfs_rle_string): against a transcription of pycocotools'
   rleEncode (Fortran order, first run = zeros) and rleToString (delta against the count two
   before from index 3 on, 5-bit chunks + 48, 0x20 continuation), which is what
   `pycocotools.mask.encode(np.asfortranarray(m))["counts"]` returns; every string is also
   decoded back (rleFrString transcription) and compared with the mask; the JSON form
   (rfs_rle_string_json) must equal json.dumps of the string. pycocotools itself is not
   installed here.
2. rfs_fmt_double against Python's repr(float): random 64-bit patterns, random float32 values
   widened to double, uniform and log-uniform doubles, integers, halves, float32
   confidences, powers of two and ten with their neighbours, boundaries of the fixed /
   exponent notation, subnormals, signed zeros, inf, nan. rfs_fmt_json_double: null for
   non-finite values.
3. rfs_json_escape against json.dumps(s, ensure_ascii=False) (same escaping rules as orjson
   for valid strings: only '"', '\\' and control characters, lowercase \\u00xx).
4. rfs_uuid4: format, version and variant bits, uniqueness, nibble uniformity.
Prints counts and fails on any difference.
"""
import json
import math
import os
import re
import struct
import subprocess
import sys

import numpy as np

BUILD = os.environ.get("RFS_BUILD", "build")
TOOL = os.path.join(BUILD, "tests", "cvdiff")


def run(args, data):
    return subprocess.run([TOOL] + args, input=data, capture_output=True, check=True).stdout


# ---- pycocotools, transcribed -------------------------------------------------------------

def coco_counts(mask):
    flat = np.asfortranarray(mask).reshape(-1, order="F")
    cnts, p, c = [], 0, 0
    # rleEncode: runs alternate starting with value 0
    change = np.flatnonzero(np.diff(flat.astype(np.int8))) + 1
    edges = np.concatenate([[0], change, [flat.size]])
    runs = np.diff(edges).tolist()
    if flat.size and flat[0] != 0:
        runs = [0] + runs
    return runs


def coco_string(cnts):
    out = []
    for i, x in enumerate(cnts):
        if i > 2:
            x -= cnts[i - 2]
        more = True
        while more:
            c = x & 0x1F
            x >>= 5
            more = (x != -1) if (c & 0x10) else (x != 0)
            if more:
                c |= 0x20
            out.append(chr(c + 48))
    return "".join(out)


def coco_parse(s):
    cnts, p = [], 0
    while p < len(s):
        x, k, more = 0, 0, True
        while more:
            c = ord(s[p]) - 48
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and (c & 0x10):
                x |= -1 << (5 * k)
        if len(cnts) > 2:
            x += cnts[-2]
        cnts.append(x)
    return cnts


def coco_decode(cnts, h, w):
    flat = np.zeros(h * w, np.uint8)
    pos, v = 0, 0
    for c in cnts:
        flat[pos:pos + c] = v
        pos += c
        v ^= 1
    assert pos == h * w
    return flat.reshape((h, w), order="F")


def test_rle(rng):
    masks = []
    for i in range(1500):
        H, W = int(rng.integers(1, 120)), int(rng.integers(1, 160))
        kind = i % 8
        m = np.zeros((H, W), np.uint8)
        if kind == 0:
            pass  # empty
        elif kind == 1:
            m[:] = 1  # full
        elif kind == 2:  # a rectangle, often touching borders
            y0, x0 = int(rng.integers(0, H)), int(rng.integers(0, W))
            m[y0:int(rng.integers(y0 + 1, H + 1)), x0:int(rng.integers(x0 + 1, W + 1))] = 1
        elif kind == 3:  # full-height columns: runs continue across columns
            m[:, int(rng.integers(0, W)):] = 1
            m[int(rng.integers(0, H)):, :int(rng.integers(0, W + 1))] = 1
        elif kind == 4:
            m[:] = rng.random((H, W)) < rng.uniform(0.05, 0.95)
        elif kind == 5:  # single pixel
            m[int(rng.integers(0, H)), int(rng.integers(0, W))] = 1
        else:  # blobs
            yy, xx = np.mgrid[0:H, 0:W]
            for _ in range(int(rng.integers(1, 4))):
                cy, cx = rng.uniform(-5, H + 5), rng.uniform(-5, W + 5)
                r = rng.uniform(1, max(H, W) / 2)
                m |= ((yy - cy) ** 2 + (xx - cx) ** 2 < r * r).astype(np.uint8)
        masks.append(m)
    masks.append(np.ones((1, 1), np.uint8))
    masks.append(np.zeros((1, 1), np.uint8))
    big = np.zeros((1080, 1920), np.uint8)
    big[100:900, 0:1920] = 1
    big[:, 1900:] = 1
    masks.append(big)
    for d in (0.5, 0.05):  # many transitions: the event buffer has to grow
        masks.append((rng.random((500, 700)) < d).astype(np.uint8))
    payload = bytearray()
    for m in masks:
        H, W = m.shape
        ys, xs = np.nonzero(m)
        if len(ys):
            y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
            if rng.random() < 0.3:  # a looser rectangle
                y0, x0 = int(rng.integers(0, y0 + 1)), int(rng.integers(0, x0 + 1))
        else:
            y0 = y1 = x0 = x1 = 0
        sub = np.ascontiguousarray(m[y0:y1, x0:x1])
        if len(ys) and rng.random() < 0.2:
            sub = sub * np.uint8(rng.integers(1, 256))
        payload += struct.pack("<6i", W, H, int(x0), int(y0), int(x1 - x0), int(y1 - y0))
        payload += sub.tobytes()
    out = run(["rle"], bytes(payload))
    off = ok = bad = 0
    for m in masks:
        (n,) = struct.unpack_from("<i", out, off)
        s = out[off + 4:off + 4 + n].decode("ascii")
        off += 4 + n
        (n,) = struct.unpack_from("<i", out, off)
        sj = out[off + 4:off + 4 + n].decode("ascii")
        off += 4 + n
        cnts = coco_counts(m)
        ref = coco_string(cnts)
        back = coco_decode(coco_parse(s), *m.shape)
        if s == ref and np.array_equal(back, m) and coco_parse(ref) == cnts and \
                sj == json.dumps(ref)[1:-1]:
            ok += 1
        else:
            bad += 1
            if bad <= 5:
                print(f"RLE MISMATCH {m.shape}: mine {s[:60]!r} ref {ref[:60]!r}")
    assert off == len(out)
    print(f"rle: {ok} passed, {bad} failed")
    return bad


# ---- float repr -----------------------------------------------------------------------------

def double_cases(rng):
    v = []
    bits = rng.integers(0, 2**63, 600_000, dtype=np.uint64) * np.uint64(2) + \
        rng.integers(0, 2, 600_000, dtype=np.uint64)
    v.append(bits.view(np.float64))
    f32 = rng.integers(0, 2**32, 1_000_000, dtype=np.uint64).astype(np.uint32).view(np.float32)
    v.append(f32[np.isfinite(f32)].astype(np.float64))
    v.append(rng.random(300_000))
    v.append(np.exp(rng.uniform(-30, 45, 300_000)) * rng.choice([-1, 1], 300_000))
    v.append(rng.random(200_000).astype(np.float32).astype(np.float64))  # confidences
    v.append(np.round(rng.uniform(-5000, 5000, 100_000) * 2) / 2)  # halves, box centres
    v.append(rng.integers(-2**53, 2**53, 50_000).astype(np.float64))
    v.append(rng.integers(0, 2**62, 50_000).astype(np.float64))
    e = []
    for k in range(-1074, 1024):
        p = math.ldexp(1.0, k)
        e += [p, math.nextafter(p, 0), math.nextafter(p, math.inf)]
    for k in range(-330, 310):
        try:
            p = float(f"1e{k}")
        except OverflowError:
            continue
        for x in (p, math.nextafter(p, 0), math.nextafter(p, math.inf), 5 * p, 9.5 * p,
                  0.5 * p, 123456789012345678 * p):
            if math.isfinite(x):
                e.append(x)
    e += [0.0, -0.0, math.inf, -math.inf, math.nan, 5e-324, 2.2250738585072014e-308,
          1.7976931348623157e308, 1e16, 9999999999999998.0, 1e-4, 9.999999999999999e-05,
          0.0001, 1e-5, 63.0, 0.9527000188827515, 2**53, 2**53 + 2, 2**54, 0.1, 0.2, 0.3,
          1 / 3, 2 / 3, 123.456, 1e22, 1e23, 8.41e21, 5e-324 * 3, 4.35e-309]
    e += [x for x in list(e) if isinstance(x, float)]
    v.append(np.array(e, np.float64))
    v.append(-np.array(e, np.float64))
    return np.concatenate(v)


def test_fmt(rng):
    vals = double_cases(rng)
    out = run(["fmt"], vals.astype("<f8").tobytes()).decode().split("\n")[:-1]
    assert len(out) == len(vals)
    bad = 0
    for x, s in zip(vals.tolist(), out):
        if s != repr(x):
            bad += 1
            if bad <= 10:
                print(f"FMT MISMATCH {x!r} (bits {struct.unpack('<Q', struct.pack('<d', x))[0]:016x}): mine {s!r}")
    print(f"fmt_double: {len(vals) - bad} passed, {bad} failed")
    spec = [1.5, math.inf, -math.inf, math.nan, -0.0]
    js = run(["fmtjson"], np.array(spec, "<f8").tobytes()).decode().split("\n")[:-1]
    want = ["1.5", "null", "null", "null", "-0.0"]
    if js != want:
        print("FMT JSON MISMATCH", js, want)
        bad += 1
    return bad


# ---- strings --------------------------------------------------------------------------------

def test_escape(rng):
    alphabet = [chr(c) for c in range(0, 0x80)] + ["é", "ß", "中", "文", "€", "\u2028", "\u00a0",
                                                  "\U0001F600", "\U0010FFFF", "\ufffd", "\x7f"]
    strs = ["", "person", "traffic light", 'a"b', "a\\b", "\x00\x01\x0b\x1f", "/"]
    for _ in range(3000):
        n = int(rng.integers(0, 40))
        strs.append("".join(alphabet[int(i)] for i in rng.integers(0, len(alphabet), n)))
    payload = bytearray()
    for s in strs:
        b = s.encode("utf-8")
        payload += struct.pack("<i", len(b)) + b
    out = run(["escape"], bytes(payload))
    off = bad = 0
    for s in strs:
        (n,) = struct.unpack_from("<i", out, off)
        got = out[off + 4:off + 4 + n].decode("utf-8")
        off += 4 + n
        want = json.dumps(s, ensure_ascii=False)[1:-1]
        if got != want:
            bad += 1
            if bad <= 5:
                print(f"ESCAPE MISMATCH {s!r}: mine {got!r} want {want!r}")
    print(f"json_escape: {len(strs) - bad} passed, {bad} failed")
    return bad


def test_uuid():
    n = 200_000
    out = run(["uuid", str(n)], b"").decode().split("\n")[:-1]
    pat = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
    bad = sum(1 for u in out if not pat.match(u))
    bad += (len(set(out)) != n) + (len(out) != n)
    # every free nibble position uniform (chi-square, generous bound)
    hexs = np.array([list(u.replace("-", "")) for u in out[:50_000]])
    for pos in range(32):
        if pos in (12, 16):
            continue
        cnt = np.array([(hexs[:, pos] == c).sum() for c in "0123456789abcdef"])
        chi = ((cnt - len(hexs) / 16) ** 2 / (len(hexs) / 16)).sum()
        if chi > 60:  # 15 dof: p < 1e-6
            print(f"UUID nibble {pos} not uniform: chi2 {chi:.1f}")
            bad += 1
    print(f"uuid4: {n} generated, {bad} problems")
    return bad


def main():
    rng = np.random.default_rng(99)
    bad = test_rle(rng) + test_fmt(rng) + test_escape(rng) + test_uuid()
    print(f"{'all' if not bad else 'NOT all'} passed: rle, fmt_double, json_escape, uuid4 ({bad} failed)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
