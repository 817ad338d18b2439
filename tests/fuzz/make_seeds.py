#!/usr/bin/python3
"""make_seeds.py - writes the seed corpora of the fuzz targets added for model packages,
images, y4m, checkpoint paths and video (tests/fuzz/seeds_<name>/). The seeds are
committed; rerun this (Debian's python3 with cv2, numpy, PIL, and the ffmpeg CLI) to
regenerate them. Every seed is small (libFuzzer runs with -max_len=65536) and valid, so
mutations start from inputs that reach deep into each parser."""
import io, json, os, shutil, struct, subprocess, sys, tempfile, zlib

import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
rng = np.random.default_rng(13)


def out(target, name, data):
    d = os.path.join(HERE, "seeds_" + target)
    os.makedirs(d, exist_ok=True)
    assert len(data) <= 65536, (target, name, len(data))
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def picture(h, w):
    y, x = np.mgrid[0:h, 0:w]
    a = np.stack([x * 255 // max(w - 1, 1), y * 255 // max(h - 1, 1), (x + y) % 256], -1)
    return a.astype(np.uint8)


# ---- package -------------------------------------------------------------------------------
IMAGENET = [[0.485, 0.456, 0.406], [0.229, 0.224, 0.225]]


def package_seeds():
    base = {"image_pre_processing": {"auto-orient": {"enabled": True},
                                     "contrast": {"enabled": False, "type": "Adaptive Equalization"}},
            "network_input": {"training_input_size": {"height": 432, "width": 432},
                              "dynamic_spatial_size_supported": False, "color_mode": "rgb",
                              "resize_mode": "stretch", "input_channels": 3, "scaling_factor": 255,
                              "normalization": IMAGENET},
            "forward_pass": {"static_batch_size": 1}, "post_processing": {"type": "sigmoid"}}
    crop = json.loads(json.dumps(base))
    crop["image_pre_processing"]["static-crop"] = {"enabled": True, "x_min": 10, "y_min": 20, "x_max": 90, "y_max": 80}
    crop["image_pre_processing"]["grayscale"] = {"enabled": True}
    crop["network_input"]["resize_mode"] = "letterbox"
    crop["network_input"]["padding_value"] = 114
    rem = json.loads(json.dumps(base))
    rem["class_names_operations"] = [{"type": "class_name_removal", "class_name": "background"},
                                     {"type": "class_name_removal", "class_name": "cars-x"}]
    rem["network_input"]["resize_mode"] = "center-crop"
    names = "background\ncar\n  truck \n\ncars-x\nperson\r\nbicycle\n"
    for tag, cfg, k in (("base", base, 5), ("crop", crop, 3), ("removal", rem, 8)):
        out("package", tag, bytes([k]) + json.dumps(cfg, indent=1).encode() + b"\0" + names.encode())
    out("package", "minimal", bytes([2]) + b"{}\0a\nb\n")


# ---- images --------------------------------------------------------------------------------
def exif(orientation):
    ifd = struct.pack("<H", 1) + struct.pack("<HHIHH", 0x112, 3, 1, orientation, 0) + struct.pack("<I", 0)
    return b"Exif\0\0" + b"II*\0" + struct.pack("<I", 8) + ifd


def png_chunk(t, d):
    return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)


def image_seeds():
    a = picture(13, 17)
    def pil(im, fmt, **kw):
        b = io.BytesIO()
        im.save(b, fmt, **kw)
        return b.getvalue()
    rgb = Image.fromarray(a)
    out("image", "rgb.jpg", pil(rgb, "JPEG", quality=90))
    out("image", "gray.jpg", pil(rgb.convert("L"), "JPEG"))
    out("image", "progressive.jpg", pil(rgb, "JPEG", progressive=True))
    out("image", "cmyk.jpg", pil(rgb.convert("CMYK"), "JPEG"))
    out("image", "sub444.jpg", pil(rgb, "JPEG", subsampling=0))
    for o in (3, 6, 8):
        out("image", "exif%d.jpg" % o, pil(rgb, "JPEG", exif=exif(o)))
    out("image", "rgb.png", pil(rgb, "PNG"))
    out("image", "rgba.png", pil(Image.fromarray(np.dstack([a, a[..., :1]])), "PNG"))
    out("image", "palette.png", pil(rgb.quantize(16), "PNG"))
    out("image", "gray.png", pil(rgb.convert("L"), "PNG"))
    out("image", "bw.png", pil(rgb.convert("1"), "PNG"))
    g16 = (picture(9, 11)[..., 0].astype(np.uint16) * 257)
    out("image", "gray16.png", pil(Image.fromarray(g16), "PNG"))
    # eXIf before IDAT (orientation 6), and an interlaced RGB written by hand
    p = pil(rgb, "PNG")
    out("image", "exif6.png", p[:33] + png_chunk(b"eXIf", exif(6)[6:]) + p[33:])
    raw = b"".join(b"\0" + a[y].tobytes() for y in range(a.shape[0]))
    ihdr = struct.pack(">IIBBBBB", 17, 13, 8, 2, 0, 0, 0)
    out("image", "plain.png", b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) +
        png_chunk(b"IDAT", zlib.compress(raw)) + png_chunk(b"IEND", b""))
    import cv2
    ok, buf = cv2.imencode(".png", a, [cv2.IMWRITE_PNG_COMPRESSION, 1])
    out("image", "cv2.png", buf.tobytes())
    for mode, tag in (("RGB", "24"), ("P", "8"), ("1", "1"), ("L", "gray8")):
        im = rgb if mode == "RGB" else rgb.quantize(16) if mode == "P" else rgb.convert(mode)
        out("image", "bmp%s.bmp" % tag, pil(im, "BMP"))
    out("image", "bmp32.bmp", pil(Image.fromarray(np.dstack([a, a[..., :1]])), "BMP"))
    # 16-bit 565 with bit fields, 4-bit palette, top-down, OS/2 header (own writer)
    def bmp(w, h, bpp, rows, palette=b"", hsize=40, comp=0, masks=b"", top_down=False):
        off = 14 + hsize + len(masks) + len(palette)
        pix = b"".join(rows)
        if hsize == 12:
            info = struct.pack("<IHHHH", 12, w, h, 1, bpp)
        else:
            info = struct.pack("<IiiHHIIiiII", 40, w, -h if top_down else h, 1, bpp, comp, len(pix), 2835, 2835, 0, 0)
        return b"BM" + struct.pack("<IHHI", off + len(pix), 0, 0, off) + info + masks + palette + pix
    def pad(r):
        return r + b"\0" * (-len(r) % 4)
    w, h = 7, 5
    px565 = [pad(b"".join(struct.pack("<H", (((x * 4) & 31) << 11) | (((y * 13) & 63) << 5) | ((x + y) & 31)) for x in range(w))) for y in range(h)]
    out("image", "bmp565.bmp", bmp(w, h, 16, px565, comp=3, masks=struct.pack("<III", 0xf800, 0x7e0, 0x1f)))
    out("image", "bmp555.bmp", bmp(w, h, 16, px565))
    pal = b"".join(bytes([i * 16, 255 - i * 16, i * 7, 0]) for i in range(16))
    px4 = [pad(bytes(((x * 2 + y) % 16) << 4 | ((x * 2 + 1 + y) % 16) for x in range((w + 1) // 2))) for y in range(h)]
    out("image", "bmp4.bmp", bmp(w, h, 4, px4, palette=pal))
    px24 = [pad(a[y, :w].tobytes()) for y in range(h)]
    out("image", "topdown.bmp", bmp(w, h, 24, px24, top_down=True))
    out("image", "os2.bmp", bmp(w, h, 24, px24, hsize=12))


# ---- y4m -----------------------------------------------------------------------------------
def y4m_seeds():
    def y4m(w, h, cs, frames, extra=b"", params=b""):
        cw, ch = {"420jpeg": ((w + 1) // 2, (h + 1) // 2), "422": ((w + 1) // 2, h),
                  "444": (w, h), "mono": (0, 0)}[cs]
        hdr = b"YUV4MPEG2 W%d H%d F25:1 Ip A1:1 C%s%s\n" % (w, h, cs.encode(), extra)
        body = b""
        for _ in range(frames):
            body += b"FRAME" + params + b"\n" + rng.integers(0, 256, w * h + 2 * cw * ch, dtype=np.uint8).tobytes()
        return hdr + body
    out("y4m", "420.y4m", y4m(16, 8, "420jpeg", 2))
    out("y4m", "420odd.y4m", y4m(15, 7, "420jpeg", 2))
    out("y4m", "422.y4m", y4m(10, 6, "422", 2))
    out("y4m", "444.y4m", y4m(8, 4, "444", 2))
    out("y4m", "mono.y4m", y4m(12, 6, "mono", 3))
    out("y4m", "params.y4m", y4m(8, 8, "420jpeg", 2, b" XYSCSS=420JPEG", b" Ip XFOO=1"))
    out("y4m", "noc.y4m", y4m(8, 8, "420jpeg", 1).replace(b" C420jpeg", b""))
    return y4m


# ---- video ---------------------------------------------------------------------------------
def ffmpeg(*args):
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True)


def video_seeds(y4m):
    with tempfile.TemporaryDirectory() as t:
        src = ["-f", "lavfi", "-i", "testsrc=size=32x24:rate=10:duration=0.6"]
        cases = [("h264.mp4", ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"]),
                 ("h264_bframes.mp4", ["-c:v", "libx264", "-bf", "2", "-g", "3", "-pix_fmt", "yuv420p"]),
                 ("rot90.mp4", ["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p",
                                "-metadata:s:v:0", "rotate=90"]),
                 ("mpeg4.avi", ["-c:v", "mpeg4"]),
                 ("mjpeg.avi", ["-c:v", "mjpeg", "-pix_fmt", "yuvj422p"]),
                 ("vp8.webm", ["-c:v", "libvpx", "-b:v", "100k"]),
                 ("h264.mkv", ["-c:v", "libx264", "-preset", "ultrafast"]),
                 ("mpeg2.ts", ["-c:v", "mpeg2video"]),
                 ("anim.gif", [])]
        for name, args in cases:
            p = os.path.join(t, name)
            try:
                ffmpeg(*src, *args, p)
            except subprocess.CalledProcessError:
                print("skipped", name, "(encoder missing)")
                continue
            out("video", name, open(p, "rb").read())
    out("video", "420.y4m", y4m(16, 8, "420jpeg", 2))
    out("video", "mono.y4m", y4m(12, 6, "mono", 2))


def tensorpath_seeds():
    for n in ("small.pth", "small.safetensors", "empty.safetensors"):
        shutil.copy(os.path.join(HERE, "seeds_tensorfile", n), os.path.join(HERE, "seeds_tensorpath", n))


def main():
    os.makedirs(os.path.join(HERE, "seeds_tensorpath"), exist_ok=True)
    package_seeds()
    image_seeds()
    video_seeds(y4m_seeds())
    tensorpath_seeds()
    for t in ("package", "image", "y4m", "video", "tensorpath"):
        d = os.path.join(HERE, "seeds_" + t)
        print("%-10s %3d seeds, %6d bytes" % (t, len(os.listdir(d)), sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
