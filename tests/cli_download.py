"""`--model SIZE`: download into the cache with libcurl, verify that it loads, reuse it;
a failed or corrupt download leaves nothing in the cache and says how to pass a file.
Served from a local HTTP server (RFSEG_MODEL_URL_BASE), so no network is needed."""
import http.server
import os
import shutil
import subprocess
import tempfile
import threading

from clitest import RFSEG, SHARED, check, finish
with tempfile.TemporaryDirectory() as tmp:
    www, cache = os.path.join(tmp, "www"), os.path.join(tmp, "cache")
    os.makedirs(www)
    # seg-nano's remote name, holding the tiny fixture checkpoint (a valid RF-DETR-Seg file)
    shutil.copy(os.path.join(SHARED, "fixtures", "rfdetr", "tiny-w1.pth"), os.path.join(www, "rf-detr-seg-n-ft.pth"))
    open(os.path.join(www, "rf-detr-seg-s-ft.pth"), "wb").write(b"PK\x03\x04 not a checkpoint" * 100)
    hits = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **k):
            super().__init__(*a, directory=www, **k)

        def log_message(self, *a):
            hits.append(self.path)

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    env = dict(os.environ, XDG_CACHE_HOME=cache, OMP_NUM_THREADS="1",
               RFSEG_MODEL_URL_BASE="http://127.0.0.1:%d" % srv.server_address[1])

    def run(*args):
        return subprocess.run([RFSEG] + list(args), capture_output=True, text=True, env=env, timeout=120)

    p = run("info", "seg-nano")
    cached = os.path.join(cache, "rfseg", "rf-detr-seg-nano.pt")
    check(p.returncode == 0 and "resolution        96" in p.stdout, "downloaded and loaded: " + p.stderr[-200:])
    check(os.path.exists(cached) and os.path.getsize(cached) == os.path.getsize(os.path.join(www, "rf-detr-seg-n-ft.pth")),
          "stored in the cache under the official local name")
    n = len(hits)
    p = run("info", "nano")
    check(p.returncode == 0 and len(hits) == n, "second use served from the cache, no request")
    p = run("info", "seg-small")
    check(p.returncode != 0 and "does not load" in p.stderr, "a corrupt download is refused: " + p.stderr[-200:])
    check(not os.path.exists(os.path.join(cache, "rfseg", "rf-detr-seg-small.pt")) and
          not os.path.exists(os.path.join(cache, "rfseg", "rf-detr-seg-small.pt.part")), "and not cached")
    p = run("info", "seg-medium")  # 404
    check(p.returncode != 0 and "--model /path/to/rf-detr-seg-medium.pt" in p.stderr, "a failed download says how to pass a file")
    srv.shutdown()

finish()
