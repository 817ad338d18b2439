"""What the commands read: predict takes files, directories (--recursive), glob patterns,
`-` (standard input) and, with --allow-urls, http(s) URLs (a local server here); video
takes several sources at once (operands and --source), batched, each line naming its
source, and standard input (`-`, pipe:0). Results equal those of the same images read
as plain files."""
import http.server
import json
import os
import shutil
import subprocess
import tempfile
import threading

from clitest import RFSEG, SHARED, check, finish

RFSEG = os.path.abspath(RFSEG)
MODEL = os.path.join(SHARED, "fixtures", "rfdetr", "tiny-w1.pth")
IMGS = os.path.join(SHARED, "fixtures", "images")
VIDEO = os.path.join(SHARED, "videos", "example_video.mp4")
ENV = dict(os.environ, OMP_NUM_THREADS="1")


def run(args, **kw):
    kw.setdefault("timeout", 120)
    return subprocess.run([RFSEG] + args, capture_output=True, env=ENV, **kw)


def lines(p):
    return [json.loads(l) for l in p.stdout.decode().splitlines() if l.strip()]


def dets(doc):
    return [(d["x"], d["y"], d["width"], d["height"], d["class_id"], d["confidence"]) for d in doc["predictions"]]


with tempfile.TemporaryDirectory() as tmp:
    def T(*parts):
        return os.path.join(tmp, *parts)

    # ---- predict: directories, globs ------------------------------------------------------------
    os.makedirs(T("imgs", "sub"))
    shutil.copy(os.path.join(IMGS, "chelsea.png"), T("imgs", "b.png"))
    shutil.copy(os.path.join(IMGS, "coffee.png"), T("imgs", "a.png"))
    shutil.copy(os.path.join(IMGS, "rocket.png"), T("imgs", "sub", "c.png"))
    shutil.copy(os.path.join(IMGS, "rocket.png"), T("imgs", ".hidden.png"))
    open(T("imgs", "notes.txt"), "w").write("not an image")
    os.makedirs(T("empty"))
    ref = {n: lines(run(["predict", "-m", MODEL, os.path.join(IMGS, f)]))[0]
           for n, f in (("a", "coffee.png"), ("b", "chelsea.png"), ("c", "rocket.png"))}

    p = run(["predict", "-m", MODEL, T("imgs")])
    got = lines(p)
    check(p.returncode == 0 and [d.get("source") for d in got] == [T("imgs", "a.png"), T("imgs", "b.png")],
          "a directory: its images by name, no subdirectory, no hidden file, no text file")
    check([dets(d) for d in got] == [dets(ref["a"]), dets(ref["b"])], "directory results equal the files'")
    p = run(["predict", "-m", MODEL, "--recursive", T("imgs") + "/"])
    got = lines(p)
    check(p.returncode == 0 and [os.path.relpath(d["source"], T("imgs")) for d in got] == ["a.png", "b.png", "sub/c.png"],
          "--recursive: subdirectories too: %s" % [d.get("source") for d in got])
    check(len(got) == 3 and dets(got[2]) == dets(ref["c"]), "the subdirectory's image equals the file's")
    p = run(["predict", "-m", MODEL, T("imgs", "*.png"), T("imgs", "sub", "*.jpg"), os.path.join(IMGS, "rocket.png")])
    got = lines(p)
    err = p.stderr.decode()
    check(p.returncode == 1 and [os.path.basename(d["source"]) for d in got] == ["a.png", "b.png", "rocket.png"],
          "a glob pattern expands; one matching nothing is an error, the rest goes on")
    check("no file matches" in err and "*.jpg" in err, "the empty pattern is named")
    p = run(["predict", "-m", MODEL, T("empty")])
    check(p.returncode == 2 and "no images" in p.stderr.decode(), "an empty directory alone: exit 2 with a message")

    # ---- predict: standard input ---------------------------------------------------------------------
    data = open(os.path.join(IMGS, "chelsea.png"), "rb").read()
    p = run(["predict", "-m", MODEL, "-"], input=data)
    got = lines(p)
    check(p.returncode == 0 and len(got) == 1 and dets(got[0]) == dets(ref["b"]), "`-` reads an image from stdin")
    p = run(["predict", "-m", MODEL, "-", os.path.join(IMGS, "coffee.png")], input=data)
    got = lines(p)
    check(p.returncode == 0 and [d["source"] for d in got] == ["-", os.path.join(IMGS, "coffee.png")],
          "stdin among files is named '-'")
    p = run(["predict", "-m", MODEL, "-", "-"], input=data)
    check(p.returncode == 2, "`-` twice is a usage error")
    p = run(["predict", "-m", MODEL, "-"], input=b"")
    check(p.returncode == 1 and "empty" in p.stderr.decode(), "empty stdin: error")
    p = run(["predict", "-m", MODEL, "-"], input=os.urandom(5000))
    check(p.returncode == 1 and p.stderr and not p.stdout, "garbage on stdin: error")

    # ---- predict: URLs -------------------------------------------------------------------------------
    www = T("www")
    os.makedirs(www)
    shutil.copy(os.path.join(IMGS, "chelsea.png"), os.path.join(www, "cat.png"))
    open(os.path.join(www, "big.png"), "wb").write(b"\x89PNG" + b"\0" * (17 << 20))

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **k):
            super().__init__(*a, directory=www, **k)

        def log_message(self, *a):
            pass

        def send_error(self, code, message=None, explain=None):  # a body a client must not echo
            self.send_response(code)
            self.end_headers()
            self.wfile.write(b"SECRET-INTERNAL-PAGE")

    class Server(http.server.ThreadingHTTPServer):
        def handle_error(self, request, client_address):  # clients that hang up early are expected
            pass

    srv = Server(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    base = "http://127.0.0.1:%d" % srv.server_address[1]
    p = run(["predict", "-m", MODEL, base + "/cat.png"])
    check(p.returncode == 2 and "--allow-urls" in p.stderr.decode(), "a URL without --allow-urls: refused")
    p = run(["predict", "-m", MODEL, "--allow-urls", base + "/cat.png"])
    got = lines(p)
    check(p.returncode == 0 and len(got) == 1 and dets(got[0]) == dets(ref["b"]), "a URL with --allow-urls")
    p = run(["predict", "-m", MODEL, "--allow-urls", base + "/missing.png", base + "/big.png",
             "http://user:pw@127.0.0.1:%d/cat.png" % srv.server_address[1]])
    err, got = p.stderr.decode(), lines(p)
    check(p.returncode == 1 and "could not fetch: HTTP status 404" in err, "404: could not fetch")
    check("larger than" in err, "over 16 MiB: refused")
    check("SECRET" not in err, "the server's bytes are not echoed")
    check(len(got) == 1 and "pw" not in got[0]["source"] and "pw" not in err, "credentials not shown")
    srv.shutdown()

    # ---- video: several sources -----------------------------------------------------------------------
    single = lines(run(["video", "-m", MODEL, VIDEO, "-n", "4", "--jsonl", "-", "-q"]))
    p = run(["video", "-m", MODEL, VIDEO, "--source", VIDEO, "-s", VIDEO, "-n", "4", "--jsonl", "-", "-q"])
    got = lines(p)
    check(p.returncode == 0 and len(got) == 12, "three sources x 4 frames: 12 lines (%d)" % len(got))
    for sid in range(3):
        mine = [d for d in got if d["source_id"] == sid]
        check([d["frame_id"] for d in mine] == [0, 1, 2, 3] and all(d["source"] == VIDEO for d in mine),
              "source %d: frame ids 0..3, named" % sid)
        check([dets(d) for d in mine] == [dets(d) for d in single], "source %d: results equal a single run" % sid)
    check(all(list(d)[:4] == ["inference_id", "source", "source_id", "frame_id"] for d in got), "key order")
    p = run(["video", "-m", MODEL, VIDEO, VIDEO, "-n", "3", "--batch", "4", "--jsonl", "-", "-q"])
    got = lines(p)
    check(p.returncode == 0 and sorted((d["source_id"], d["frame_id"]) for d in got) ==
          [(s, f) for s in range(2) for f in range(3)], "--batch 4 over two sources: every frame once")
    ann = T("multi")
    p = run(["video", "-m", MODEL, VIDEO, VIDEO, "-n", "3", "--annotate", ann, "-q"])
    check(p.returncode == 0 and sorted(os.listdir(ann)) == ["example_video-1.mp4", "example_video.mp4"],
          "two sources --annotate DIR: one video each, names not colliding")

    # ---- video: standard input ---------------------------------------------------------------------------
    ts = T("clip.ts")
    have_ffmpeg = shutil.which("ffmpeg") is not None
    if have_ffmpeg:
        subprocess.run(["ffmpeg", "-v", "error", "-i", VIDEO, "-frames:v", "12", "-c:v", "libx264", "-f", "mpegts", ts],
                       check=True)
        from_file = lines(run(["video", "-m", MODEL, ts, "--jsonl", "-", "-q"]))
        for src in ("-", "pipe:0"):
            with open(ts, "rb") as f:
                p = run(["video", "-m", MODEL, src, "--jsonl", "-", "-q"], stdin=f)
            got = lines(p)
            check(p.returncode == 0 and len(got) == 12 and len(from_file) == 12, "%s: 12 frames from stdin" % src)
            check([dets(d) for d in got] == [dets(d) for d in from_file], "%s: equal to reading the file" % src)
            check(all(d["source"] == src for d in got), "%s: named as given" % src)
    else:
        print("SKIP video from stdin: no ffmpeg command to make an MPEG-TS")

finish()
