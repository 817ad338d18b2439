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
    p = subprocess.run([RFSEG] + args, capture_output=True, text=True, timeout=timeout, errors="replace")
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

    # ---- the option parser and the confidence syntax: every malformed form refused (exit 2)
    for bad_opt in (["--"], ["---"], ["--=x"], ["--model="], ["-"], ["-m"], ["--" + "x" * 5000],
                    ["--confidence", "\xff\xfe"], ["-c", ""], ["--max-megapixels", "1e3"],
                    ["--max-megapixels", " 5"], ["--max-megapixels", "99999999999999999999"]):
        rc, out, err = run(["predict"] + bad_opt)
        check(rc == 2 and err.strip() and not out, "predict %r: usage error (rc %d)" % (bad_opt[0][:20], rc))
    for conf in ("", "%", ".%", "nan", "inf", "-inf", "0.4 ", "40%%", "-5%", "40 %", "100.0001%", "1.0000001",
                 "4O%", "0.4.5", "." * 100, "9" * 100 + "%", "1e400", "40"):
        rc, out, err = run(["predict", "--model", MODEL, "--confidence", conf, GOOD])
        check(rc == 2 and "confidence" in err and not out, "--confidence %r refused (rc %d)" % (conf[:20], rc))
    for conf in ("0", "1", "0%", "100%", "0.5%", "00.40", "40.%"):
        rc, out, err = run(["predict", "--model", MODEL, "--confidence", conf, GOOD])
        check(rc == 0 and out.strip(), "--confidence %r accepted (rc %d: %s)" % (conf, rc, err.strip()[-100:]))

    # ---- predict's operands: directories, patterns, stdin, URLs
    loop = os.path.join(tmp, "loopdir")
    os.makedirs(os.path.join(loop, "sub"))
    os.symlink("..", os.path.join(loop, "sub", "up"))  # a symbolic-link loop
    open(os.path.join(loop, "sub", "x.png"), "wb").write(good)
    open(os.path.join(loop, "fake.png"), "wb").write(b"not a png")
    rc, out, err = run(["predict", "--model", MODEL, "-r", loop])
    lines = [json.loads(l) for l in out.splitlines()]
    check(rc == 1 and len(lines) == 1 and "fake.png" in err, "a link loop is listed once; a bad file in a directory is named")
    for pattern in ("[", "***", os.path.join(tmp, "[z-a]*"), os.path.join(tmp, "*", "*", "*", "*.png")):
        rc, out, err = run(["predict", "--model", MODEL, pattern, GOOD])
        check(rc in (0, 1) and len(out.splitlines()) >= 1 and "Traceback" not in err, "pattern %r: no crash" % pattern)
    for data in (b"", os.urandom(10), good[:100], png_header(100000, 100000), b"BM" + os.urandom(60)):
        p = subprocess.run([RFSEG, "predict", "--model", MODEL, "-"], input=data, capture_output=True, timeout=60)
        check(p.returncode == 1 and p.stderr and not p.stdout, "stdin of %d bad bytes: error" % len(data))
    for url in ("http://127.0.0.1:1/x.png", "http://", "https://[::1/x.png", "http://127.0.0.1:1/" + "a" * 10000):
        rc, out, err = run(["predict", "--model", MODEL, "--allow-urls", url, GOOD])
        check(rc == 1 and len(out.splitlines()) == 1 and "could not fetch" in err, "URL %r: could not fetch" % url[:40])
    for url in ("ftp://127.0.0.1/x.png", "file:///etc/passwd"):
        rc, out, err = run(["predict", "--model", MODEL, "--allow-urls", url])
        check(rc in (1, 2) and not out, "%s is not fetched" % url)

    # ---- video sources: each bad one refused with its name, quickly
    fifo_free = [("-", b"garbage" * 100), ("pipe:0", b"")]
    for src, data in fifo_free:
        p = subprocess.run([RFSEG, "video", "--model", MODEL, src, "--jsonl", "-"], input=data,
                           capture_output=True, timeout=60)
        check(p.returncode != 0 and src.encode() in p.stderr and not p.stdout, "video from stdin %r: error" % src)
    for src in ("tcp://127.0.0.1:1", "http://127.0.0.1:1/x.mp4", "rtsp://127.0.0.1:1/x", "/dev/video99", "99",
                "pipe:abc", "nosuchproto://x", tmp, "udp://256.0.0.1:5"):
        rc, out, err = run(["video", "--model", MODEL, src, "--jsonl", os.path.join(tmp, "v.jsonl"), "--overwrite"],
                           timeout=60)
        check(rc == 1 and "rfseg video:" in err and "Traceback" not in err, "video source %r refused (rc %d: %s)" %
              (src, rc, err.strip()[-120:]))
    rc, out, err = run(["video", "--model", MODEL, "-", "pipe:0", "--jsonl", "-"])
    check(rc == 2, "stdin twice as a video source: usage error")
    rc, out, err = run(["video", "--model", MODEL, "rtsp://user:secret@127.0.0.1:1/x", "--jsonl", "-"], timeout=60)
    check(rc == 1 and "secret" not in err, "a source's password is not printed")

finish()
