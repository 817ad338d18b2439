#!/usr/bin/env python3
"""diff_decode.py - rfseg's image and video readers against the real OpenCV.

Oracle: Debian's python3-opencv 4.6 (same libjpeg-turbo, libpng and FFmpeg libraries as
rfseg links). Every comparison is bit-exact unless stated:

  images  JPEG (qualities, 4:2:0/4:2:2/4:4:4, gray, CMYK, progressive, restart markers,
          every EXIF orientation and OpenCV's EXIF parsing quirks), PNG (8/16-bit RGB, RGBA,
          gray, gray+alpha, palette with and without tRNS, 1/2/4-bit, Adam7 interlaced,
          eXIf before/after IDAT), BMP (1/4/8-bit palettes, 16-bit 555/565, 24, 32,
          top-down, OS/2 and V5 headers), random sizes down to 1x1, the fixture photos;
          == cv2.imdecode(buf, IMREAD_COLOR) (and IMREAD_IGNORE_ORIENTATION, RGB output)
  video   all 431 frames of example_video.mp4 == cv2.VideoCapture, plus other codecs,
          odd sizes and rotation tags; the FFmpeg-less y4m reader == cv2 on 4:2:0/4:2:2/mono
          y4m; the MP4 and y4m writers (round trip); unreadable and truncated videos give
          errors, never a crash.

The C side is build/tests/io_tool (tests/tools/io_tool.c).
"""
import collections
import os
import struct
import subprocess
import sys
import tempfile
import zlib

import cv2
import numpy as np
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("RFS_BUILD", "build")
TOOL = os.path.join(ROOT, BUILD, "tests", "io_tool")
SHARED = os.environ.get("RFS_SHARED", os.path.join(ROOT, "..", "shared"))
VIDEO = os.path.join(SHARED, "videos", "example_video.mp4")

rng = np.random.default_rng(20240611)
passed = collections.Counter()
failures = []


def fail(msg):
    failures.append(msg)
    print("FAIL", msg)


# ---- the C side ---------------------------------------------------------------------------


def read_records(stream):
    """Parses io_tool's output: ('OK'|'F', array) or ('ERR'|'E', status, msg) or ('INFO', ...)."""
    out = []
    while True:
        line = stream.readline()
        if not line:
            return out
        parts = line.rstrip(b"\n").split(b" ", 3)
        tag = parts[0].decode()
        if tag in ("OK", "F"):
            w, h = int(parts[1]), int(parts[2])
            data = stream.read(w * h * 3)
            out.append((tag, np.frombuffer(data, np.uint8).reshape(h, w, 3)))
        elif tag in ("ERR", "E"):
            out.append((tag, int(parts[1]), b" ".join(parts[2:]).decode(errors="replace")))
        elif tag == "INFO":
            f = line.split()
            out.append(("INFO", int(f[1]), int(f[2]), float(f[3]), int(f[4]), int(f[5])))
        elif tag == "END":
            out.append(("END",))
        else:
            out.append(("?", line))


def decode_c(paths, *flags):
    res = []
    for i in range(0, len(paths), 200):
        p = subprocess.run([TOOL, "image", *flags, *paths[i:i + 200]], capture_output=True)
        if p.returncode != 0:
            fail("io_tool image exited with %d: %s" % (p.returncode, p.stderr[-500:]))
            return None
        import io
        res += read_records(io.BytesIO(p.stdout))
    return res


# ---- image makers -------------------------------------------------------------------------


def content(h, w, c=3, kind=None):
    """A test picture: smooth gradients with edges, or noise (the worst case for codecs)."""
    kind = kind or rng.choice(["smooth", "noise"])
    if kind == "noise":
        return rng.integers(0, 256, (h, w, c), dtype=np.uint8)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    chans = []
    for k in range(c):
        a, b, ph = rng.uniform(0.01, 0.3, 2).tolist() + [rng.uniform(0, 6)]
        v = 127 + 100 * np.sin(xx * a + yy * b + ph) + rng.normal(0, 6, (h, w))
        v[(xx // 7 + yy // 5) % 3 == 0] += 40 * (k - 1)
        chans.append(v)
    return np.clip(np.stack(chans, -1), 0, 255).astype(np.uint8)


def rand_size():
    r = rng.random()
    if r < 0.15:
        return tuple(rng.choice([1, 2, 3], 2).tolist())
    if r < 0.3:
        return (1, int(rng.integers(1, 70))) if rng.random() < 0.5 else (int(rng.integers(1, 70)), 1)
    if r < 0.9:
        return int(rng.integers(2, 90)), int(rng.integers(2, 90))
    return int(rng.integers(200, 700)), int(rng.integers(200, 700))


def pil_bytes(im, fmt, **kw):
    import io
    b = io.BytesIO()
    im.save(b, fmt, **kw)
    return b.getvalue()


def png_chunk(t, d):
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)


def png_raw(arr, ctype, depth, interlace=False, palette=None, extra_before=b"", extra_after=b""):
    """A PNG written here (PIL cannot write Adam7): arr is (h, w, samples) uint8/uint16."""
    h, w = arr.shape[:2]
    a = arr.reshape(h, w, -1)
    be = a.astype(">u2").view(np.uint8).reshape(h, w, -1) if depth == 16 else a

    def rows(sub):
        if depth < 8:  # pack samples MSB first
            per = 8 // depth
            out = []
            for r in sub[..., 0]:
                pad = (-len(r)) % per
                r = np.concatenate([r, np.zeros(pad, np.uint8)]).reshape(-1, per)
                sh = np.array([depth * (per - 1 - i) for i in range(per)], np.uint8)
                out.append(((r << sh).sum(axis=1)).astype(np.uint8).tobytes())
            return out
        return [r.tobytes() for r in sub.reshape(sub.shape[0], -1)]

    if interlace:
        data = b""
        for x0, y0, dx, dy in [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]:
            sub = be[y0::dy, x0::dx]
            if sub.shape[0] and sub.shape[1]:
                data += b"".join(b"\0" + r for r in rows(sub))
    else:
        data = b"".join(b"\0" + r for r in rows(be))
    out = b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, depth, ctype, 0, 0, int(interlace)))
    out += extra_before
    if palette is not None:
        out += png_chunk(b"PLTE", palette)
    out += png_chunk(b"IDAT", zlib.compress(data)) + extra_after + png_chunk(b"IEND", b"")
    return out


def tiff_ifd(entries, le=True):
    e = "<" if le else ">"
    b = (b"II" if le else b"MM") + struct.pack(e + "HI", 42, 8) + struct.pack(e + "H", len(entries))
    for tag, typ, cnt, val in entries:
        b += struct.pack(e + "HHI", tag, typ, cnt) + val
    return b + struct.pack(e + "I", 0)


def short_val(v, le=True):
    return struct.pack(("<" if le else ">") + "HH", v, 0)


def jpeg_with_app1(jpg, *payloads):
    segs = b"".join(b"\xff\xe1" + struct.pack(">H", len(p) + 2) + p for p in payloads)
    return jpg[:2] + segs + jpg[2:]


def bmp_raw(arr_idx_or_px, bpp, palette=None, comp=0, masks=None, top_down=False, hsize=40, clrused=None):
    """A BMP written here: arr is (h, w) indices for bpp <= 8, (h, w) uint16 for 16, (h, w, 3|4)."""
    a = arr_idx_or_px
    h, w = a.shape[:2]
    pitch = ((w * bpp + 7) // 8 + 3) & ~3
    rows = []
    for y in range(h):
        r = a[y]
        if bpp <= 8:
            per = 8 // bpp
            r = np.concatenate([r.astype(np.uint8), np.zeros((-w) % per, np.uint8)]).reshape(-1, per)
            sh = np.array([bpp * (per - 1 - i) for i in range(per)], np.uint8)
            rb = (r << sh).sum(axis=1).astype(np.uint8).tobytes()
        elif bpp == 16:
            rb = r.astype("<u2").tobytes()
        else:
            rb = r.astype(np.uint8).tobytes()
        rows.append(rb + b"\0" * (pitch - len(rb)))
    if not top_down:
        rows = rows[::-1]
    pal = b""
    if palette is not None:
        pal = palette
    if masks is not None:
        pal = struct.pack("<III", *masks)
    if hsize == 12:
        info = struct.pack("<IHHHH", 12, w, h, 1, bpp)
    else:
        n_used = clrused if clrused is not None else 0
        info = struct.pack("<IiiHHIIiiII", hsize, w, -h if top_down else h, 1, bpp, comp, pitch * h, 2835, 2835, n_used, 0)
        info += b"\0" * (hsize - 40)
    off = 14 + len(info) + len(pal)
    pix = b"".join(rows)
    return b"BM" + struct.pack("<IHHI", off + len(pix), 0, 0, off) + info + pal + pix


# ---- image cases ----------------------------------------------------------------------------


def image_cases():
    """Yields (name, bytes)."""
    # PNG through cv2 and PIL
    for i in range(40):
        h, w = rand_size()
        kind = i % 8
        if kind == 0:
            yield "png_bgr", cv2.imencode(".png", content(h, w))[1].tobytes()
        elif kind == 1:
            yield "png_bgra", cv2.imencode(".png", content(h, w, 4))[1].tobytes()
        elif kind == 2:
            yield "png_gray", cv2.imencode(".png", content(h, w, 1)[..., 0])[1].tobytes()
        elif kind == 3:
            yield "png_16", cv2.imencode(".png", rng.integers(0, 65536, (h, w, 3), dtype=np.uint16))[1].tobytes()
        elif kind == 4:
            yield "png_16gray", cv2.imencode(".png", rng.integers(0, 65536, (h, w), dtype=np.uint16))[1].tobytes()
        elif kind == 5:
            yield "png_16bgra", cv2.imencode(".png", rng.integers(0, 65536, (h, w, 4), dtype=np.uint16))[1].tobytes()
        elif kind == 6:
            im = Image.fromarray(content(h, w)).convert("P", palette=Image.ADAPTIVE, colors=int(rng.integers(2, 256)))
            yield "png_pal", pil_bytes(im, "PNG")
        else:
            im = Image.fromarray(content(h, w)).convert("P", palette=Image.ADAPTIVE, colors=16)
            yield "png_pal_trns", pil_bytes(im, "PNG", transparency=int(rng.integers(0, 16)))
    for i in range(12):
        h, w = rand_size()
        yield "png_la", pil_bytes(Image.fromarray(content(h, w, 2), "LA"), "PNG")
        yield "png_rgb_trns", pil_bytes(Image.fromarray(content(h, w)), "PNG", transparency=(1, 2, 3))
    # hand-written PNGs: bit depths, interlacing
    for i in range(30):
        h, w = rand_size()
        il = bool(i % 2)
        d = [1, 2, 4, 8, 16][i % 5]
        if d == 16:
            yield "png_il16", png_raw(rng.integers(0, 65536, (h, w, 3)).astype(np.uint16), 2, 16, il)
        else:
            yield "png_gray%d" % d, png_raw(rng.integers(0, 1 << d, (h, w, 1)).astype(np.uint8), 0, d, il)
            n = 1 << d
            pal = rng.integers(0, 256, 3 * n, dtype=np.uint8).tobytes()
            yield "png_pal%d" % d, png_raw(rng.integers(0, n, (h, w, 1)).astype(np.uint8), 3, d, il, palette=pal)
        yield "png_il_rgba", png_raw(content(h, w, 4), 6, 8, il)
        yield "png_il_rgb", png_raw(content(h, w), 2, 8, il)
    # JPEG through PIL: quality x subsampling x progressive, gray, CMYK
    for i in range(60):
        h, w = rand_size()
        q = int(rng.choice([5, 30, 50, 75, 90, 95, 100]))
        sub = int(rng.integers(0, 3))
        prog = bool(rng.random() < 0.35)
        im = Image.fromarray(content(h, w)[..., ::-1].copy())
        yield "jpg_q%d_s%d%s" % (q, sub, "_prog" if prog else ""), pil_bytes(
            im, "JPEG", quality=q, subsampling=sub, progressive=prog, optimize=bool(i % 3 == 0))
    for i in range(10):
        h, w = rand_size()
        yield "jpg_gray", pil_bytes(Image.fromarray(content(h, w, 1)[..., 0]), "JPEG", quality=int(rng.integers(30, 100)), progressive=bool(i % 2))
        yield "jpg_cmyk", pil_bytes(Image.fromarray(content(h, w, 4), "CMYK"), "JPEG", quality=90)
    # stray bytes before a marker: libjpeg warns, cv2 and rfseg decode
    j = cv2.imencode(".jpg", content(30, 41))[1].tobytes()
    k = j.index(b"\xff\xda")
    yield "jpg_extraneous", j[:k] + b"\x12\x34\x56" + j[k:]
    # JPEG through cv2: restart markers, progressive, optimized
    for i in range(12):
        h, w = rand_size()
        params = [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(40, 101)), cv2.IMWRITE_JPEG_RST_INTERVAL, int(rng.integers(0, 4)),
                  cv2.IMWRITE_JPEG_PROGRESSIVE, i % 2, cv2.IMWRITE_JPEG_OPTIMIZE, (i // 2) % 2]
        yield "jpg_cv2", cv2.imencode(".jpg", content(h, w), params)[1].tobytes()
    # EXIF orientation: every value, both byte orders, odd sizes; OpenCV's parsing rules
    for o in range(0, 10):
        for le in (True, False):
            h, w = int(rng.integers(1, 40)), int(rng.integers(1, 40))
            jpg = cv2.imencode(".jpg", content(h, w), [cv2.IMWRITE_JPEG_QUALITY, 92])[1].tobytes()
            yield "exif%d_%s" % (o, "le" if le else "be"), jpeg_with_app1(jpg, b"Exif\0\0" + tiff_ifd([(0x112, 3, 1, short_val(o, le))], le))
    base = cv2.imencode(".jpg", content(23, 37), [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
    o6 = (0x112, 3, 1, short_val(6))
    yield "exif_xmp_first", jpeg_with_app1(base, b"http://ns.adobe.com/xap/1.0/\0<x/>", b"Exif\0\0" + tiff_ifd([o6]))
    yield "exif_no_header", jpeg_with_app1(base, b"ABCDEF" + tiff_ifd([o6]))
    yield "exif_two_orient", jpeg_with_app1(base, b"Exif\0\0" + tiff_ifd([o6, (0x112, 3, 1, short_val(3))]))
    yield "exif_bad_before", jpeg_with_app1(base, b"Exif\0\0" + tiff_ifd([(0x11A, 5, 1, struct.pack("<I", 9999)), o6]))
    yield "exif_bad_after", jpeg_with_app1(base, b"Exif\0\0" + tiff_ifd([o6, (0x11A, 5, 1, struct.pack("<I", 9999))]))
    yield "exif_good_rational", jpeg_with_app1(base, b"Exif\0\0" + tiff_ifd([(0x11A, 5, 1, struct.pack("<I", 8)), o6]))
    yield "exif_bad_string", jpeg_with_app1(base, b"Exif\0\0" + tiff_ifd([(0x10F, 2, 40, struct.pack("<I", 5000)), o6]))
    yield "exif_short_string", jpeg_with_app1(base, b"Exif\0\0" + tiff_ifd([(0x10F, 2, 4, b"abc\0"), o6]))
    yield "exif_long_type", jpeg_with_app1(base, b"Exif\0\0" + tiff_ifd([(0x112, 4, 1, struct.pack("<I", 8))]))
    yield "exif_ifd_oob", jpeg_with_app1(base, b"Exif\0\0II*\0" + struct.pack("<I", 99999))
    yield "exif_truncated", jpeg_with_app1(base, b"Exif\0\0" + tiff_ifd([o6])[:-8])
    yield "exif_tiny", jpeg_with_app1(base, b"Exif\0\0I")
    yield "exif_xx_order", jpeg_with_app1(base, b"Exif\0\0" + b"XX" + tiff_ifd([o6], False)[2:])
    yield "exif_app2_first", base[:2] + b"\xff\xe2\x00\x04ab" + jpeg_with_app1(base, b"Exif\0\0" + tiff_ifd([o6]))[2:]
    # PNG eXIf before and after IDAT
    for o in (2, 3, 5, 6, 7, 8):
        arr = content(int(rng.integers(1, 30)), int(rng.integers(1, 30)))
        ex = png_chunk(b"eXIf", tiff_ifd([(0x112, 3, 1, short_val(o))]))
        yield "png_exif_pre%d" % o, png_raw(arr[..., ::-1], 2, 8, extra_before=ex)
        yield "png_exif_post%d" % o, png_raw(arr[..., ::-1], 2, 8, extra_after=ex)
    arr = content(9, 14)
    yield "png_exif_both", png_raw(arr, 2, 8, extra_before=png_chunk(b"eXIf", tiff_ifd([(0x100, 3, 1, short_val(3))])),
                                   extra_after=png_chunk(b"eXIf", tiff_ifd([o6])))
    # BMP: cv2, PIL and hand-written
    for i in range(10):
        h, w = rand_size()
        yield "bmp_cv2_24", cv2.imencode(".bmp", content(h, w))[1].tobytes()
        yield "bmp_cv2_8", cv2.imencode(".bmp", content(h, w, 1)[..., 0])[1].tobytes()
        yield "bmp_pil_1", pil_bytes(Image.fromarray(content(h, w, 1)[..., 0]).convert("1"), "BMP")
        yield "bmp_pil_p", pil_bytes(Image.fromarray(content(h, w)).convert("P", palette=Image.ADAPTIVE, colors=200), "BMP")
        yield "bmp_pil_rgba", pil_bytes(Image.fromarray(content(h, w, 4), "RGBA"), "BMP")
    for i in range(8):
        h, w = rand_size()
        for bpp in (1, 4, 8):
            n = 1 << bpp
            used = int(rng.integers(1, n + 1)) if i % 2 else 0
            cnt = used or n
            pal = rng.integers(0, 256, 4 * cnt, dtype=np.uint8).tobytes()
            yield "bmp%d" % bpp, bmp_raw(rng.integers(0, n, (h, w)), bpp, pal, clrused=used, top_down=bool(i % 3 == 0))
        px16 = rng.integers(0, 65536, (h, w)).astype(np.uint16)
        yield "bmp555", bmp_raw(px16, 16)
        yield "bmp565", bmp_raw(px16, 16, comp=3, masks=(0xF800, 0x7E0, 0x1F))
        yield "bmp555bf", bmp_raw(px16, 16, comp=3, masks=(0x7C00, 0x3E0, 0x1F), top_down=True)
        yield "bmp32", bmp_raw(content(h, w, 4), 32)
        yield "bmp32bf", bmp_raw(content(h, w, 4), 32, comp=3, masks=(0xFF0000, 0xFF00, 0xFF))
        yield "bmp24_td", bmp_raw(content(h, w), 24, top_down=True)
        yield "bmp24_v5", bmp_raw(content(h, w), 24, hsize=124)
        yield "bmp_os2_24", bmp_raw(content(h, w), 24, hsize=12)
        pal3 = rng.integers(0, 256, 3 * 256, dtype=np.uint8).tobytes()
        yield "bmp_os2_8", bmp_raw(rng.integers(0, 256, (h, w)), 8, pal3, hsize=12)
    # damaged files cv2 rejects (rfseg must reject them too)
    png = cv2.imencode(".png", content(40, 50))[1].tobytes()
    for cut in (8, 20, 33, 60, len(png) // 2, len(png) - 12, len(png) - 1):
        yield "bad_png_cut%d" % cut, png[:cut]
    bmp = cv2.imencode(".bmp", content(20, 30))[1].tobytes()
    for cut in (2, 20, 53, len(bmp) - 1):
        yield "bad_bmp_cut%d" % cut, bmp[:cut]
    yield "bad_bmp_clrused", bmp_raw(rng.integers(0, 256, (5, 5)), 8, bytes(1200), clrused=300)
    yield "bad_bmp_masks", bmp_raw(rng.integers(0, 65536, (5, 5)).astype(np.uint16), 16, comp=3, masks=(0xF00, 0xF0, 0xF))
    yield "bad_bmp_hsize", bmp[:14] + struct.pack("<I", 20) + bmp[18:]
    jpg = cv2.imencode(".jpg", content(40, 50))[1].tobytes()
    for cut in (3, 10, 100, 300):
        yield "bad_jpg_header_cut%d" % cut, jpg[:cut]
    # the fixture photos, re-encoded as JPEG too
    for name in ("astronaut", "chelsea", "coffee", "rocket"):
        path = os.path.join(SHARED, "fixtures", "images", name + ".png")
        data = open(path, "rb").read()
        yield "fixture_" + name, data
        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        yield "fixture_jpg_" + name, cv2.imencode(".jpg", img)[1].tobytes()


def test_images(tmp):
    cases = list(image_cases())
    paths = []
    for i, (name, data) in enumerate(cases):
        p = os.path.join(tmp, "%04d_%s" % (i, name))  # no extension: formats are sniffed
        open(p, "wb").write(data)
        paths.append(p)
    runs = [("", cv2.IMREAD_COLOR, False, ()), ("no-orient", cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION, False, ("--no-orient",)),
            ("rgb", cv2.IMREAD_COLOR, True, ("--rgb",))]
    for label, flags, rgb, args in runs:
        res = decode_c(paths, *args)
        if res is None:
            return
        if len(res) != len(cases):
            fail("image %s: %d results for %d files" % (label, len(res), len(cases)))
            return
        for (name, data), p, r in zip(cases, paths, res):
            ref = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
            if ref is None:
                if r[0] != "ERR":
                    fail("%s [%s]: cv2 rejects it, rfseg decoded it" % (p, label))
                else:
                    passed["image rejected like cv2"] += 1
                continue
            if r[0] != "OK":
                fail("%s [%s]: rfseg error %s" % (p, label, r[1:]))
                continue
            if rgb:
                ref = ref[..., ::-1]
            got = r[1]
            if got.shape != ref.shape:
                fail("%s [%s]: shape %s, cv2 %s" % (p, label, got.shape, ref.shape))
            elif not np.array_equal(got, ref):
                d = np.abs(got.astype(int) - ref)
                fail("%s [%s]: %d pixels differ (max %d)" % (p, label, (d.max(axis=2) > 0).sum(), d.max()))
            else:
                passed["image == cv2.imdecode"] += 1


# ---- video ------------------------------------------------------------------------------------


def video_c(path, *flags):
    p = subprocess.Popen([TOOL, "video", *flags, path], stdout=subprocess.PIPE)
    return p, p.stdout


def compare_video(path, label, *flags, expect_frames=None):
    """rfseg's frames of path == cv2.VideoCapture's, frame for frame."""
    p, out = video_c(path, *flags)
    info = read_records_one(out)
    if info[0] != "INFO":
        fail("%s: open failed: %s" % (label, info))
        p.wait()
        return
    cap = cv2.VideoCapture(path)
    cw, ch = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    if (info[1], info[2]) != (cw, ch) or abs(info[3] - cap.get(cv2.CAP_PROP_FPS)) > 1e-6 or info[4] != int(cap.get(cv2.CAP_PROP_FRAME_COUNT)):
        fail("%s: info %s, cv2 %dx%d fps %g count %d" % (label, info, cw, ch, cap.get(cv2.CAP_PROP_FPS), cap.get(cv2.CAP_PROP_FRAME_COUNT)))
    n = bad = 0
    while True:
        r = read_records_one(out)
        if r[0] == "END":
            break
        if r[0] != "F":
            fail("%s: frame %d: %s" % (label, n, r))
            bad += 1
            n += 1
            continue
        ok, ref = cap.read()
        if not ok:
            fail("%s: rfseg has frame %d, cv2 ended" % (label, n))
            bad += 1
            break
        if ref.shape != r[1].shape or not np.array_equal(ref, r[1]):
            if bad < 3:
                fail("%s: frame %d differs" % (label, n))
            bad += 1
        n += 1
    ok, _ = cap.read()
    if ok:
        fail("%s: cv2 has more than rfseg's %d frames" % (label, n))
    p.wait()
    if expect_frames is not None and n != expect_frames:
        fail("%s: %d frames, expected %d" % (label, n, expect_frames))
    if not bad:
        passed["video frames == cv2.VideoCapture"] += n
        passed["videos == cv2.VideoCapture"] += 1
    print("  %-28s %4d frames, %d differ" % (label, n, bad))


def read_records_one(out):
    line = out.readline()
    if not line:
        return ("EOF",)
    parts = line.rstrip(b"\n").split(b" ", 3)
    tag = parts[0].decode()
    if tag == "F":
        w, h = int(parts[1]), int(parts[2])
        return ("F", np.frombuffer(out.read(w * h * 3), np.uint8).reshape(h, w, 3))
    if tag == "INFO":
        f = line.split()
        return ("INFO", int(f[1]), int(f[2]), float(f[3]), int(f[4]), int(f[5]))
    if tag in ("E", "ERR"):
        return (tag, int(parts[1]), b" ".join(parts[2:]).decode(errors="replace"))
    return (tag,)


def ffmpeg(*args):
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True)


def all_records(path, *flags):
    import io
    p = subprocess.run([TOOL, "video", *flags, path], capture_output=True)
    return p.returncode, read_records(io.BytesIO(p.stdout))


def test_video(tmp):
    if not os.path.exists(VIDEO):
        fail("missing fixture %s" % VIDEO)
        return
    compare_video(VIDEO, "example_video.mp4", expect_frames=431)
    compare_video(VIDEO, "example_video.mp4 threads=1", "--threads", "1", expect_frames=431)
    j = lambda n: os.path.join(tmp, n)
    ffmpeg("-i", VIDEO, "-frames:v", "20", "-c:v", "mjpeg", "-vf", "scale=425:241", "-pix_fmt", "yuvj444p", j("odd.avi"))
    ffmpeg("-i", VIDEO, "-frames:v", "20", "-c:v", "mpeg4", j("mpeg4.avi"))
    ffmpeg("-i", VIDEO, "-frames:v", "20", "-c:v", "libx264", "-vf", "scale=1280:720", j("hd.mp4"))
    for rot in (90, 180, 270):
        ffmpeg("-i", VIDEO, "-frames:v", "10", "-c", "copy", "-metadata:s:v:0", "rotate=%d" % rot, j("rot%d.mp4" % rot))
    for n in ("odd.avi", "mpeg4.avi", "hd.mp4", "rot90.mp4", "rot180.mp4", "rot270.mp4"):
        compare_video(j(n), n)
    # y4m: through FFmpeg and through the FFmpeg-less reader
    ffmpeg("-i", VIDEO, "-frames:v", "90", j("ex420.y4m"))
    ffmpeg("-i", VIDEO, "-frames:v", "10", "-pix_fmt", "yuv422p", j("ex422.y4m"))
    ffmpeg("-i", VIDEO, "-frames:v", "10", "-pix_fmt", "gray", j("exmono.y4m"))
    noise = rng.integers(0, 256, (4, 64 * 48 * 3 // 2), dtype=np.uint8)  # every Y/U/V value
    with open(j("noise.y4m"), "wb") as f:
        f.write(b"YUV4MPEG2 W64 H48 F25:1 Ip A1:1 C420jpeg\n")
        for fr in noise:
            f.write(b"FRAME\n" + fr.tobytes())
    for n in ("ex420.y4m", "ex422.y4m", "exmono.y4m", "noise.y4m"):
        compare_video(j(n), n + " (y4m reader)", "--y4m")
        compare_video(j(n), n + " (FFmpeg)")
    # 4:4:4 y4m: swscale filters chroma there; the y4m reader is close, not exact
    ffmpeg("-i", VIDEO, "-frames:v", "5", "-pix_fmt", "yuv444p", j("ex444.y4m"))
    rc, recs = all_records(j("ex444.y4m"), "--y4m")
    cap = cv2.VideoCapture(j("ex444.y4m"))
    worst = max(np.abs(r[1].astype(int) - cap.read()[1]).max() for r in recs if r[0] == "F")
    if worst > 3:
        fail("y4m 4:4:4 differs from cv2 by %d levels (documented bound 3)" % worst)
    else:
        passed["y4m 4:4:4 within 3 levels of cv2"] += 1

    # writers: MP4 readable by cv2 with every frame, close to the source; y4m round trip
    import io
    p = subprocess.run([TOOL, "transcode", VIDEO, j("out.mp4")], capture_output=True)
    if p.returncode != 0 or not p.stdout.startswith(b"WROTE 431"):
        fail("mp4 writer: %s %s" % (p.stdout[-200:], p.stderr[-300:]))
    else:
        a, b = cv2.VideoCapture(VIDEO), cv2.VideoCapture(j("out.mp4"))
        n, psnr = 0, []
        while True:
            ok1, f1 = a.read()
            ok2, f2 = b.read()
            if not ok1 or not ok2:
                break
            mse = np.mean((f1.astype(float) - f2) ** 2)
            psnr.append(10 * np.log10(255 ** 2 / max(mse, 1e-9)))
            n += 1
        if n != 431 or min(psnr) < 30:
            fail("mp4 writer: %d frames read back, min PSNR %.1f dB" % (n, min(psnr) if psnr else 0))
        else:
            passed["mp4 writer round trip (431 frames, PSNR >= 30 dB)"] += 1
            print("  mp4 writer: 431 frames, PSNR min %.1f mean %.1f dB" % (min(psnr), np.mean(psnr)))
    for kind, cmd in (("420", "transcode"), ("444", "y4m444")):
        out = j("rt%s.y4m" % kind)
        p = subprocess.run([TOOL, cmd, j("ex420.y4m"), out], capture_output=True)
        if p.returncode != 0:
            fail("y4m writer %s: %s" % (kind, p.stdout[-200:]))
            continue
        rc, recs = all_records(out, "--y4m")
        src = [r[1] for r in all_records(j("ex420.y4m"), "--y4m")[1] if r[0] == "F"]
        got = [r[1] for r in recs if r[0] == "F"]
        errs = [np.abs(x.astype(int) - y).mean() for x, y in zip(src, got)]
        if len(got) != len(src) or max(errs) > (4 if kind == "420" else 1.5):
            fail("y4m writer %s: %d/%d frames, mean abs error %.2f" % (kind, len(got), len(src), max(errs) if errs else -1))
        else:
            passed["y4m writer round trip"] += 1
        if kind == "420":  # what the writer wrote decodes the same through cv2
            compare_video(out, "written rt420.y4m", "--y4m")

    # unreadable videos: a clear error, never a crash, a hang or a frame from nowhere
    data = open(VIDEO, "rb").read()
    open(j("garbage.mp4"), "wb").write(rng.integers(0, 256, 100000, dtype=np.uint8).tobytes())
    open(j("empty.mp4"), "wb").write(b"")
    open(j("bad.y4m"), "wb").write(b"YUV4MPEG2 W0 H10\nFRAME\n")
    open(j("short.y4m"), "wb").write(open(j("ex420.y4m"), "rb").read()[:200000])
    bad = [("garbage.mp4", ()), ("empty.mp4", ()), ("missing.mp4", ()), ("bad.y4m", ("--y4m",)), ("short.y4m", ("--y4m",))]
    for cut in (100, 5000, 40000, 200000, 400000, len(data) - 1000):
        open(j("cut%d.mp4" % cut), "wb").write(data[:cut])
        bad.append(("cut%d.mp4" % cut, ()))
    corrupt = bytearray(data)
    for k in range(60):
        pos = int(rng.integers(60000, len(data)))
        corrupt[pos:pos + 40] = rng.integers(0, 256, 40, dtype=np.uint8).tobytes()
    open(j("corrupt.mp4"), "wb").write(bytes(corrupt))
    bad.append(("corrupt.mp4", ()))
    for name, flags in bad:
        rc, recs = all_records(j(name), *flags)
        tags = collections.Counter(r[0] for r in recs)
        errors = tags["ERR"] + tags["E"]
        if rc != 0:
            fail("%s: io_tool exited with %d" % (name, rc))
        elif errors == 0:
            fail("%s: no error reported (%s)" % (name, dict(tags)))
        else:
            passed["bad video reported"] += 1
            msg = next(r for r in recs if r[0] in ("ERR", "E"))
            print("  %-14s %s, first error: %s" % (name, dict(tags), msg[2][:100]))


def main():
    if not os.path.exists(TOOL):
        print("missing %s (make builds it from tests/tools/io_tool.c)" % TOOL)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        test_images(tmp)
        test_video(tmp)
    for k, v in passed.items():
        print("  %-50s %d" % (k, v))
    print("%d passed, %d failed" % (sum(passed.values()), len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
