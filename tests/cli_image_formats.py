"""WebP and TIFF input: rfs_image_decode equals cv2.imdecode(buf, cv2.IMREAD_COLOR) (Debian's
OpenCV 4.6, built on the same libwebp and libtiff) pixel for pixel, and fails where cv2
returns None. Files are made with PIL (python3-pil) and by hand (tiled TIFFs): lossy,
lossless and alpha WebP, animated WebP; TIFF uncompressed, LZW, Deflate, PackBits, JPEG
(YCbCr), gray, bilevel, palette, RGBA, CMYK, 16-bit, float, several strips, bottom-up
orientations, big-endian, tiles, truncated data. Then predict on a WebP and a TIFF equals
predict on the same pixels as PNG.

The C side is build/tests/io_tool (image mode)."""
import io
import json
import os
import struct
import subprocess
import tempfile

os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")  # cv2's warnings about the files it refuses
import cv2  # noqa: E402
import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from clitest import BUILD, RFSEG, SHARED, check, finish

TOOL = os.path.join(BUILD, "tests", "io_tool")
MODEL = os.path.join(SHARED, "fixtures", "rfdetr", "tiny-w1.pth")
SRC = cv2.imread(os.path.join(SHARED, "fixtures", "images", "chelsea.png"))[40:140, 60:190]  # 130x100 BGR

features = subprocess.run(["make", "-s", "features"], capture_output=True, text=True,
                          cwd=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")).stdout


def decode(path):
    """io_tool's result: ('OK', BGR array) or ('ERR', message)."""
    out = subprocess.run([TOOL, "image", path], capture_output=True, timeout=60).stdout
    head, _, rest = out.partition(b"\n")
    f = head.split(b" ", 2)
    if f[0] == b"OK":
        w, h = int(f[1]), int(f[2])
        return "OK", np.frombuffer(rest[: w * h * 3], np.uint8).reshape(h, w, 3)
    return "ERR", head.decode(errors="replace")


def pil(img_bgr, mode):
    im = Image.fromarray(cv2.cvtColor(img_bgr, cv2.COLOR_BGR2RGB))
    if mode == "RGBA":
        a = np.tile(np.linspace(0, 255, im.size[0], dtype=np.uint8), (im.size[1], 1))
        im = im.convert("RGBA")
        im.putalpha(Image.fromarray(a))
    elif mode == "P":
        im = im.quantize(colors=64)
    elif mode != "RGB":
        im = im.convert(mode)
    return im


def save(im, fmt, **kw):
    b = io.BytesIO()
    im.save(b, fmt, **kw)
    return b.getvalue()


def tiled_tiff(img_bgr, tw, th, big_endian=False):
    """An uncompressed 8-bit RGB TIFF in tw x th tiles, written by hand."""
    h, w = img_bgr.shape[:2]
    rgb = img_bgr[..., ::-1]
    e = ">" if big_endian else "<"
    tiles = []
    for ty in range(0, h, th):
        for tx in range(0, w, tw):
            t = np.zeros((th, tw, 3), np.uint8)
            part = rgb[ty:ty + th, tx:tx + tw]
            t[: part.shape[0], : part.shape[1]] = part
            tiles.append(t.tobytes())
    entries = [(256, 4, 1, w), (257, 4, 1, h), (258, 3, 3, None), (259, 3, 1, 1), (262, 3, 1, 2),
               (277, 3, 1, 3), (284, 3, 1, 1), (322, 4, 1, tw), (323, 4, 1, th), (324, 4, len(tiles), None),
               (325, 4, len(tiles), None)]
    n = len(entries)
    ifd_at = 8
    data_at = ifd_at + 2 + 12 * n + 4
    bps_at = data_at
    offs_at = bps_at + 6
    cnts_at = offs_at + 4 * len(tiles)
    pix_at = cnts_at + 4 * len(tiles)
    out = (b"MM\x00\x2a" if big_endian else b"II\x2a\x00") + struct.pack(e + "I", ifd_at)
    out += struct.pack(e + "H", n)
    for tag, typ, cnt, val in entries:
        if tag == 258:
            val = bps_at
        elif tag == 324:
            val = offs_at
        elif tag == 325:
            val = cnts_at
        if typ == 3 and cnt == 1:
            out += struct.pack(e + "HHIHH", tag, typ, cnt, val, 0)
        else:
            out += struct.pack(e + "HHII", tag, typ, cnt, val)
    out += struct.pack(e + "I", 0)
    out += struct.pack(e + "HHH", 8, 8, 8)
    pos = pix_at
    for t in tiles:
        out += struct.pack(e + "I", pos)
        pos += len(t)
    for t in tiles:
        out += struct.pack(e + "I", len(t))
    return out + b"".join(tiles)


cases = []
if "RFS_HAVE_WEBP" in features:
    for q in (10, 75, 100):
        cases.append(("webp lossy q%d" % q, save(pil(SRC, "RGB"), "WEBP", quality=q)))
    cases.append(("webp lossless", save(pil(SRC, "RGB"), "WEBP", lossless=True)))
    cases.append(("webp alpha lossy", save(pil(SRC, "RGBA"), "WEBP", quality=80)))
    cases.append(("webp alpha lossless", save(pil(SRC, "RGBA"), "WEBP", lossless=True)))
    cases.append(("webp gray", save(pil(SRC, "L"), "WEBP", quality=90)))
    frames = [pil(SRC, "RGB"), pil(SRC[::-1].copy(), "RGB")]
    b = io.BytesIO()
    frames[0].save(b, "WEBP", save_all=True, append_images=frames[1:], duration=100)
    cases.append(("webp animated", b.getvalue()))
    good = cases[0][1]
    cases.append(("webp truncated", good[: len(good) // 2]))
    cases.append(("webp header only", good[:32]))
else:
    print("SKIP WebP: this build has no libwebp")
if "RFS_HAVE_TIFF" in features:
    for comp in ("raw", "tiff_lzw", "tiff_adobe_deflate", "packbits", "jpeg"):
        cases.append(("tiff rgb " + comp, save(pil(SRC, "RGB"), "TIFF", compression=comp)))
    for mode in ("L", "1", "P", "RGBA", "CMYK", "F", "LA"):
        try:
            cases.append(("tiff " + mode, save(pil(SRC, mode), "TIFF", compression="tiff_lzw")))
        except (OSError, ValueError) as e:
            print("note: PIL cannot write a %s TIFF (%s)" % (mode, e))
    g16 = (cv2.cvtColor(SRC, cv2.COLOR_BGR2GRAY).astype(np.uint16) * 257 + np.arange(130, dtype=np.uint16)[None])
    cases.append(("tiff gray 16-bit", save(Image.fromarray(g16), "TIFF", compression="tiff_lzw")))
    cases.append(("tiff gray jpeg", save(pil(SRC, "L"), "TIFF", compression="jpeg")))
    cases.append(("tiff 7 rows per strip", save(pil(SRC, "RGB"), "TIFF", tiffinfo={278: 7})))
    for orient in range(1, 9):
        cases.append(("tiff orientation %d" % orient, save(pil(SRC, "RGB"), "TIFF", tiffinfo={274: orient})))
    for tw, th in ((32, 32), (64, 48), (128, 112), (16, 16), (256, 256)):  # libtiff refuses the last two
        cases.append(("tiff tiled %dx%d" % (tw, th), tiled_tiff(SRC, tw, th)))
    cases.append(("tiff tiled 32x32 big-endian", tiled_tiff(SRC, 32, 32, big_endian=True)))
    for orient in (5, 6, 7, 8):
        cases.append(("tiff LZW 7 rows per strip orientation %d" % orient,
                      save(pil(SRC, "RGB"), "TIFF", compression="tiff_lzw", tiffinfo={274: orient, 278: 7})))
    multi = io.BytesIO()
    pil(SRC, "RGB").save(multi, "TIFF", save_all=True, append_images=[pil(SRC[::-1].copy(), "RGB")])
    cases.append(("tiff two pages", multi.getvalue()))
    good = save(pil(SRC, "RGB"), "TIFF", compression="tiff_lzw")
    cases.append(("tiff truncated", good[: len(good) // 2]))
    cases.append(("tiff header only", good[:8]))
else:
    print("SKIP TIFF: this build has no libtiff")

n_equal = n_refused = 0
with tempfile.TemporaryDirectory() as tmp:
    for name, data in cases:
        path = os.path.join(tmp, name.replace(" ", "_"))
        open(path, "wb").write(data)
        want = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        got = decode(path)
        if want is None:
            check(got[0] == "ERR", "%s: cv2 reads nothing, rfseg refuses (%s)" % (name, got[0]))
            n_refused += got[0] == "ERR"
        else:
            same = got[0] == "OK" and got[1].shape == want.shape and np.array_equal(got[1], want)
            diff = "" if got[0] != "OK" or got[1].shape != want.shape else \
                " (%d pixels differ)" % int(np.any(got[1] != want, axis=2).sum())
            check(same, "%s: equal to cv2.imdecode%s %s" % (name, diff, got[1] if got[0] == "ERR" else ""))
            n_equal += same

    # predict reads them by content, like every other format
    if cases:
        png = os.path.join(tmp, "same.png")
        cv2.imwrite(png, SRC)
        lossless = [(n, d) for n, d in cases if n in ("webp lossless", "tiff rgb raw")]
        ref = subprocess.run([RFSEG, "predict", "-m", MODEL, png], capture_output=True, text=True)
        for name, data in lossless:
            path = os.path.join(tmp, "x.img")
            open(path, "wb").write(data)
            p = subprocess.run([RFSEG, "predict", "-m", MODEL, path], capture_output=True, text=True)
            a, b = json.loads(ref.stdout), json.loads(p.stdout) if p.returncode == 0 else {"predictions": None}
            check([d["points"] for d in a["predictions"]] == [d["points"] for d in (b["predictions"] or [])],
                  "predict on the %s file equals predict on the PNG" % name)
print("%d files equal to cv2, %d refused as cv2 refuses them" % (n_equal, n_refused))
finish()
