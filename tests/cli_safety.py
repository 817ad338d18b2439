"""Outputs are never lost or destroyed: existing files and directories survive every
refused or failing command, --overwrite replaces, outputs never collide and keep their
extension's format; write errors (a full device, a file size limit) stop the run with a
message and a non-zero exit, leaving only whole JSON lines; SIGINT/SIGTERM finish the
frames in flight and leave a playable MP4 and whole JSON lines (exit 130/143); a killed
run keeps its finished lines; no temporary file is left behind."""
import glob
import json
import os
import signal
import stat
import subprocess
import tempfile
import time

import cv2

from clitest import RFSEG, SHARED, check, finish

RFSEG = os.path.abspath(RFSEG)
MODEL = os.path.join(SHARED, "fixtures", "rfdetr", "tiny-w1.pth")
IMGS = os.path.join(SHARED, "fixtures", "images")
AST = os.path.join(IMGS, "astronaut.png")
VIDEO = os.path.join(SHARED, "videos", "example_video.mp4")
ENV = dict(os.environ, OMP_NUM_THREADS="1")


def run(args, **kw):
    kw.setdefault("timeout", 120)
    return subprocess.run([RFSEG] + args, capture_output=True, text=True, env=ENV, **kw)


def snapshot(path):
    st = os.stat(path)
    data = open(path, "rb").read() if os.path.isfile(path) else sorted(os.listdir(path))
    return (stat.S_IFMT(st.st_mode), st.st_mode & 0o777, st.st_mtime_ns, data)


def parses(path):
    """(lines, all parse): every line of a JSON Lines file."""
    if not os.path.exists(path):
        return 0, False
    raw = open(path, "rb").read()
    lines = raw.split(b"\n")
    ok = raw.endswith(b"\n") or raw == b""
    for l in lines[:-1]:
        try:
            json.loads(l)
        except ValueError:
            ok = False
    return len(lines) - 1, ok


def wait_lines(path, n, limit=60):
    """Waits until a growing file has n newlines (the run is under way)."""
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if os.path.exists(path) and open(path, "rb").read().count(b"\n") >= n:
            return
        time.sleep(0.05)


def mp4_frames(path):
    p = subprocess.run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
                        "stream=nb_read_frames", "-of", "csv=p=0", path], capture_output=True, text=True)
    return int(p.stdout.strip()) if p.returncode == 0 and p.stdout.strip().isdigit() else -1


with tempfile.TemporaryDirectory() as tmp:
    def T(*parts):
        return os.path.join(tmp, *parts)

    # ---- precious files and directories survive every refused or failing command -----------
    precious = T("precious.jsonl")
    open(precious, "w").write("keep me\n")
    ro = T("readonly.mp4")
    open(ro, "wb").write(b"old video")
    os.chmod(ro, 0o444)
    webm = T("old.webm")
    open(webm, "wb").write(b"old webm")
    empty_dir = T("empty_dir")
    os.mkdir(empty_dir)
    png = T("old.png")
    open(png, "wb").write(b"old png")
    st_file = T("model.safetensors")
    open(st_file, "wb").write(b"old model")
    keep = {p: snapshot(p) for p in (precious, ro, webm, empty_dir, png, st_file)}
    refused = [
        (["predict", "-m", MODEL, AST, "--jsonl", precious], "exists"),
        (["predict", "-m", MODEL, AST, "--annotate", png], "exists"),
        (["predict", "-m", MODEL, AST, "--raw-out", st_file], "exists"),
        (["predict", "-m", MODEL, AST, "--jsonl", empty_dir, "--overwrite"], "directory"),
        (["predict", "-m", MODEL, AST, AST, "--annotate", T("multi.png")], "directory"),
        (["video", "-m", MODEL, VIDEO, "--jsonl", precious], "exists"),
        (["video", "-m", MODEL, VIDEO, "--annotate", webm], ".mp4"),
        (["video", "-m", MODEL, VIDEO, "--annotate", webm, "--overwrite"], ".mp4"),
        (["video", "-m", MODEL, VIDEO, "--annotate", ro, "--overwrite"], "not writable"),
        (["video", "-m", MODEL, VIDEO, "--jsonl", empty_dir], "directory"),
        (["video", "-m", MODEL, VIDEO, VIDEO, "--annotate", T("two.mp4"), "--jsonl", "-"], "directory"),
        (["video", "-m", MODEL, VIDEO], "nothing would be written"),
        (["video", "-m", MODEL, VIDEO, "--jsonl", "/dev/full"], "not a regular file"),
        (["convert", MODEL, st_file], "exists"),
        (["convert", MODEL, empty_dir, "--overwrite"], "directory"),
    ]
    for args, needle in refused:
        p = run(args)
        check(p.returncode == 2 and needle in p.stderr, "refused before any work (%s): rc %d, %s" %
              (" ".join(a.replace(tmp, "") for a in args[3:]), p.returncode, p.stderr.strip()[-160:]))
    # runs that fail after the checks (bad model, unreadable source) touch nothing either
    bad = T("bad.pth")
    open(bad, "wb").write(b"PK\x03\x04 not a checkpoint")
    for args in (["predict", "-m", bad, AST, "--jsonl", precious, "--overwrite"],
                 ["video", "-m", MODEL, T("missing.mp4"), "--jsonl", precious, "--overwrite"],
                 ["video", "-m", bad, VIDEO, "--annotate", empty_dir, "--overwrite"],
                 ["convert", bad, st_file, "--overwrite"]):
        p = run(args)
        check(p.returncode == 1, "failing run exits 1: %s" % p.stderr.strip()[-160:])
    for path, snap in keep.items():
        check(os.path.exists(path) and snapshot(path) == snap, "%s survived unchanged" % os.path.basename(path))
    check(not os.path.exists(T("multi.png")), "no directory named multi.png")

    # ---- an existing directory receives files; --overwrite replaces --------------------------
    p = run(["video", "-m", MODEL, VIDEO, "-n", "3", "--annotate", empty_dir, "-q"])
    check(p.returncode == 0 and os.listdir(empty_dir) == ["example_video.mp4"], "video --annotate DIR writes into it")
    p = run(["video", "-m", MODEL, VIDEO, "-n", "3", "--annotate", empty_dir, "-q"])
    check(p.returncode == 2 and "exists" in p.stderr, "and refuses to replace what is there")
    p = run(["predict", "-m", MODEL, AST, "--jsonl", precious, "--overwrite"])
    check(p.returncode == 0 and json.loads(open(precious).readline())["image"]["width"] == 512,
          "--overwrite replaces a JSONL file")

    # ---- annotated images never collide and keep their extension's format ---------------------
    jpg = T("src", "astronaut.jpg")
    os.makedirs(T("src"))
    cv2.imwrite(jpg, cv2.imread(AST))
    out = T("ann")
    p = run(["predict", "-m", MODEL, "--annotate", out, AST, jpg, AST, os.path.join(IMGS, "coffee.png")])
    names = sorted(os.listdir(out)) if os.path.isdir(out) else []
    check(p.returncode == 0 and names == ["astronaut-1.png", "astronaut.jpg", "astronaut.png", "coffee.png"],
          "one file per image, collisions numbered: %s" % names)
    for n in names:
        head = open(os.path.join(out, n), "rb").read(4)
        want = b"\xff\xd8\xff" if n.endswith(".jpg") else b"\x89PNG"
        check(head.startswith(want), "%s holds %s data" % (n, "JPEG" if n.endswith(".jpg") else "PNG"))
    p = run(["predict", "-m", MODEL, "-c", "0.85", "--annotate", T("one.jpg"), AST])
    img = cv2.imread(T("one.jpg"))
    check(p.returncode == 0 and open(T("one.jpg"), "rb").read(3) == b"\xff\xd8\xff" and img is not None and
          img.shape == (512, 512, 3), "--annotate one.jpg is a JPEG of the image's size")

    # ---- write errors: a full device, a file size limit -----------------------------------------
    with open("/dev/full", "w") as full:
        p = subprocess.run([RFSEG, "predict", "-m", MODEL, AST], stdout=full, stderr=subprocess.PIPE, text=True, env=ENV)
        check(p.returncode == 1 and "No space left" in p.stderr, "predict > /dev/full: exit 1 with a message")
        p = subprocess.run([RFSEG, "video", "-m", MODEL, VIDEO, "--jsonl", "-", "-q"], stdout=full,
                           stderr=subprocess.PIPE, text=True, env=ENV, timeout=60)
        check(p.returncode == 1 and "No space left" in p.stderr,
              "video --jsonl - > /dev/full: exit 1 with a message: " + p.stderr.strip()[-200:])
        p = subprocess.run([RFSEG, "video", "-m", MODEL, VIDEO, "--jsonl", "/dev/stdout", "-q", "-n", "3"],
                           stdout=full, stderr=subprocess.PIPE, text=True, env=ENV, timeout=60)
        check(p.returncode == 1 and "No space left" in p.stderr, "--jsonl /dev/stdout (= /dev/full): exit 1")
        p = subprocess.run([RFSEG, "info", MODEL], stdout=full, stderr=subprocess.PIPE, text=True, env=ENV)
        check(p.returncode == 1 and "No space left" in p.stderr, "info > /dev/full: exit 1")
    limited = T("limited.jsonl")
    sh = 'ulimit -f 1024; trap "" XFSZ; exec "$@"'
    p = subprocess.run(["sh", "-c", sh, "sh", RFSEG, "video", "-m", MODEL, VIDEO, "--jsonl", limited, "-q"],
                       capture_output=True, text=True, env=ENV, timeout=120)
    n, ok = parses(limited)
    check(p.returncode == 1 and "File too large" in p.stderr, "ulimit -f: exit 1 with a message: " + p.stderr[-200:])
    check(n > 0 and ok, "ulimit -f: the JSONL holds %d whole lines, no partial one" % n)
    p = subprocess.run(["sh", "-c", sh, "sh", RFSEG, "video", "-m", MODEL, VIDEO, "--annotate", T("limited.mp4"), "-q"],
                       capture_output=True, text=True, env=ENV, timeout=120)
    check(p.returncode == 1 and not os.path.exists(T("limited.mp4")), "ulimit -f on the MP4: exit 1, no file")

    # ---- SIGINT / SIGTERM: frames in flight finished, outputs closed, 130 / 143 ---------------
    for sig, code in ((signal.SIGINT, 130), (signal.SIGTERM, 143)):
        jl, mp4 = T("sig%d.jsonl" % code), T("sig%d.mp4" % code)
        proc = subprocess.Popen([RFSEG, "video", "-m", MODEL, VIDEO, "--jsonl", jl, "--annotate", mp4, "-q",
                                 "--max-fps", "15"], stderr=subprocess.PIPE, text=True, env=ENV)
        wait_lines(jl, 8)
        proc.send_signal(sig)
        err = proc.communicate(timeout=60)[1]
        n, ok = parses(jl)
        frames = mp4_frames(mp4)
        check(proc.returncode == code, "%s: exit %d (got %d)" % (sig.name, code, proc.returncode))
        check(n > 5 and ok, "%s: %d JSON lines, every one whole" % (sig.name, n))
        check(frames == n, "%s: the MP4 plays with the %d frames done (ffprobe: %d)" % (sig.name, n, frames))
        check("frames (0 errors" in err and "stopped by " + sig.name in err, "%s: summary printed" % sig.name)
        ids = [json.loads(l)["frame_id"] for l in open(jl)] if ok else []
        check(ids == list(range(n)), "%s: frame ids 0..%d" % (sig.name, n - 1))
    # SIGKILL: whatever was finished is there, in whole lines
    jl = T("killed.jsonl")
    proc = subprocess.Popen([RFSEG, "video", "-m", MODEL, VIDEO, "--jsonl", jl, "-q", "--max-fps", "20"],
                            stderr=subprocess.DEVNULL, env=ENV)
    wait_lines(jl, 8)
    time.sleep(0.3)
    proc.kill()
    proc.wait()
    n, ok = parses(jl)
    check(n > 5 and ok, "SIGKILL: %d finished lines kept, every one whole" % n)

    leftovers = glob.glob(T("**", ".rfseg-*"), recursive=True)
    check(not leftovers, "no temporary files left: %s" % leftovers)

finish()
