"""Bad input through the command line: each bad image, video or option gets a clear error
for that input, processing goes on with the next one, nothing crashes or hangs.

Run by tests/run.sh with Debian's python3; RFS_BUILD (default build) names the build."""
import json
import os
import struct
import subprocess
import tempfile
import zlib

from clitest import RFSEG, SHARED, check, finish
MODEL = os.path.join(SHARED, "fixtures", "rfdetr", "tiny-w1.pth")
GOOD = os.path.join(SHARED, "fixtures", "images", "chelsea.png")
def run(args, timeout=120):
    p = subprocess.run([RFSEG] + args, capture_output=True, text=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr


def png_header(w, h):
    """A PNG signature and IHDR claiming w x h, then nothing."""
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return (b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk +
            struct.pack(">I", zlib.crc32(chunk) & 0xFFFFFFFF))


with tempfile.TemporaryDirectory() as tmp:
    good = open(GOOD, "rb").read()
    bad = {
        "garbage.jpg": os.urandom(3000),
        "empty.png": b"",
        "truncated.png": good[: len(good) // 3],
        "truncated.jpg": b"\xff\xd8\xff\xe0" + os.urandom(100),
        "huge.png": png_header(100000, 100000),
        "zero.png": png_header(0, 10),
        "text.bmp": b"BM" + b"not really a bitmap" * 10,
    }
    paths = []
    for name, data in bad.items():
        path = os.path.join(tmp, name)
        open(path, "wb").write(data)
        paths.append(path)
    paths.append(os.path.join(tmp, "missing.png"))
    paths.append(tmp)  # a directory
    # good images first, between and last: every good one must produce its JSON line
    order = [GOOD] + paths[:4] + [GOOD] + paths[4:] + [GOOD]
    rc, out, err = run(["predict", "--model", MODEL, "--confidence", "0.5"] + order)
    lines = [l for l in out.splitlines() if l.strip()]
    check(rc == 1, "predict with bad images exits 1 (got %d)" % rc)
    check(len(lines) == 3, "3 JSON lines for the 3 good images (got %d)" % len(lines))
    for l in lines:
        doc = json.loads(l)
        check(doc["image"] == {"width": 451, "height": 300}, "good image size in the response")
    for path in paths:
        check(os.path.basename(path) in err, "error names %s" % os.path.basename(path))
    check("limit" in err.lower() and "100000" in err, "the 100000x100000 header is refused by its size")
    check("Traceback" not in err and "Segmentation" not in err, "no crash")

    # options
    for args, what in [
        (["predict", "--model", MODEL, "--confidence", "1.5", GOOD], "confidence out of range"),
        (["predict", "--model", MODEL, "--format", "svg", GOOD], "unknown mask format"),
        (["predict", "--model", MODEL, "--preset", "yolo", GOOD], "unknown preset"),
        (["predict", "--model", MODEL], "no images"),
        (["predict", "--model", os.path.join(tmp, "nope.pth"), GOOD], "missing model"),
        (["predict", "--model", bad_path, GOOD] if (bad_path := paths[0]) else [], "garbage model"),
        (["info", "--random-weights", "seg-giant"], "unknown size"),
        (["bench", "--random-weights", "seg-nano", "--batch", "0"], "batch 0"),
    ]:
        rc, out, err = run(args)
        check(rc != 0 and err.strip() and not out.strip(), "%s: non-zero exit with a message (rc %d)" % (what, rc))

    # video: unreadable files fail cleanly; a good one runs
    for name, data in [("garbage.mp4", os.urandom(5000)), ("empty.mp4", b"")]:
        path = os.path.join(tmp, name)
        open(path, "wb").write(data)
        rc, out, err = run(["video", "--model", MODEL, path, "--jsonl", os.path.join(tmp, "o.jsonl")])
        check(rc != 0 and name in err, "video %s refused with a message" % name)
    video = os.path.join(SHARED, "videos", "example_video.mp4")
    trunc = os.path.join(tmp, "truncated.mp4")
    open(trunc, "wb").write(open(video, "rb").read()[:200000])
    jl = os.path.join(tmp, "t.jsonl")
    rc, out, err = run(["video", "--model", MODEL, trunc, "--jsonl", jl, "--quiet"])
    frames = [json.loads(l) for l in open(jl)] if os.path.exists(jl) else []
    check(len(frames) > 10, "a truncated video still gives its decodable frames (%d)" % len(frames))
    check(all(f["frame_id"] == i for i, f in enumerate(frames)), "frame ids count from 0")
    check("truncated" in err or rc != 0, "the truncation is reported")

finish()
