"""`--model SIZE`: download into the cache with libcurl, verify the official MD5 and that it
loads, reuse it; a failed, altered or corrupt download leaves nothing in the cache and the
offline advice names the real file at the URL. Served from a local HTTP server
(RFSEG_MODEL_URL_BASE), so no network is needed.

The official files cannot be served here, so the server holds the tiny fixture checkpoint
under the official names: with the official digests (the default) every such download must
be refused; a mirror may declare its own digests (RFSEG_MODEL_MD5), and then the same file
is accepted, while a file that differs from the declared digest is still refused."""
import hashlib
import http.server
import os
import shutil
import subprocess
import tempfile
import threading

from clitest import RFSEG, SHARED, check, finish

# rfdetr's assets/model_weights.py: the file at https://storage.googleapis.com/rfdetr/ and its MD5
OFFICIAL = {
    "seg-preview": ("rf-detr-seg-preview.pt", "e35820c28fb86080558123e47a5e49ca"),
    "seg-nano": ("rf-detr-seg-n-ft.pth", "9995497791d0ff1664a1d9ddee9cfd20"),
    "seg-small": ("rf-detr-seg-s-ft.pth", "0a2a3006381d0c42853907e700eadd08"),
    "seg-medium": ("rf-detr-seg-m-ft.pth", "a49af1562c3719227ad43d0ca53b4c7a"),
    "seg-large": ("rf-detr-seg-l-ft.pth", "275f7b094909544ed2841c94a677d07e"),
    "seg-xlarge": ("rf-detr-seg-xl-ft.pth", "3693b35d0eea86ebb3e0444f4a611fba"),
    "seg-2xlarge": ("rf-detr-seg-2xl-ft.pth", "040bc3412af840fa8a47e0ff69b552ba"),
}

with tempfile.TemporaryDirectory() as tmp:
    www, cache = os.path.join(tmp, "www"), os.path.join(tmp, "cache")
    os.makedirs(www)
    fixture = os.path.join(SHARED, "fixtures", "rfdetr", "tiny-w1.pth")
    fixture_md5 = hashlib.md5(open(fixture, "rb").read()).hexdigest()
    # every official remote name holds the tiny fixture checkpoint (a valid RF-DETR-Seg file) ...
    for remote, _ in OFFICIAL.values():
        shutil.copy(fixture, os.path.join(www, remote))
    # ... but seg-small's is not a checkpoint, and seg-medium's is missing (404)
    open(os.path.join(www, "rf-detr-seg-s-ft.pth"), "wb").write(b"PK\x03\x04 not a checkpoint" * 100)
    small_md5 = hashlib.md5(open(os.path.join(www, "rf-detr-seg-s-ft.pth"), "rb").read()).hexdigest()
    os.remove(os.path.join(www, "rf-detr-seg-m-ft.pth"))
    hits = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **k):
            super().__init__(*a, directory=www, **k)

        def log_message(self, *a):
            hits.append(self.path)

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    base_env = dict(os.environ, XDG_CACHE_HOME=cache, OMP_NUM_THREADS="1",
                    RFSEG_MODEL_URL_BASE="http://127.0.0.1:%d" % srv.server_address[1])
    base_env.pop("RFSEG_MODEL_MD5", None)

    def run(*args, md5=None):
        env = dict(base_env, RFSEG_MODEL_MD5=md5) if md5 else base_env
        return subprocess.run([RFSEG] + list(args), capture_output=True, text=True, env=env, timeout=120)

    def cached(local):
        d = os.path.join(cache, "rfseg")
        return os.path.exists(os.path.join(d, local)) or os.path.exists(os.path.join(d, local + ".part"))

    # the official digests: a file that is not the official checkpoint is refused, whatever it holds
    for size in ("seg-nano", "seg-xlarge", "seg-2xlarge", "seg-preview"):
        remote, md5 = OFFICIAL[size]
        p = run("info", size)
        check(p.returncode != 0 and "MD5 %s, not the official %s" % (fixture_md5, md5) in p.stderr,
              "%s: a download without the official MD5 is refused: %s" % (size, p.stderr[-300:]))
    check(not os.listdir(os.path.join(cache, "rfseg")), "and nothing is cached")

    # a mirror's own digest for seg-nano (upper case accepted): downloaded, verified, loaded, cached
    p = run("info", "seg-nano", md5="seg-nano=" + fixture_md5.upper())
    local = os.path.join(cache, "rfseg", "rf-detr-seg-nano.pt")
    check(p.returncode == 0 and "resolution        96" in p.stdout, "declared digest: downloaded and loaded: " + p.stderr[-200:])
    check(os.path.exists(local) and os.path.getsize(local) == os.path.getsize(fixture),
          "stored in the cache under rfdetr's local name")
    n = len(hits)
    p = run("info", "nano")
    check(p.returncode == 0 and len(hits) == n, "second use served from the cache, no request")
    # a declared digest the file does not have is refused too; a digest for another size does not apply
    p = run("info", "seg-large", md5="seg-large=" + "0" * 32)
    check(p.returncode != 0 and "not the official " + "0" * 32 in p.stderr and not cached("rf-detr-seg-large.pt"),
          "a download that differs from the declared digest is refused: " + p.stderr[-200:])
    p = run("info", "seg-large", md5="seg-nano=" + fixture_md5)
    check(p.returncode != 0 and OFFICIAL["seg-large"][1] in p.stderr, "a digest declared for another size does not apply")
    # the digest matches but the file is no checkpoint: refused after the MD5 check
    p = run("info", "seg-small", md5="seg-small=" + small_md5)
    check(p.returncode != 0 and "does not load" in p.stderr, "a corrupt download is refused: " + p.stderr[-200:])
    check(not cached("rf-detr-seg-small.pt"), "and not cached")
    # a failed download names the real file at the URL and its digest
    remote, md5 = OFFICIAL["seg-medium"]
    p = run("info", "seg-medium")
    check(p.returncode != 0 and "--model /path/to/%s" % remote in p.stderr and "/%s " % remote in p.stderr
          and md5 in p.stderr, "a failed download says which file to fetch and pass: " + p.stderr[-300:])
    # without a mirror the official URL is fetched (here through a dead proxy: no network used)
    env = dict(base_env, RFSEG_MODEL_URL_BASE="")
    p = subprocess.run([RFSEG, "info", "seg-preview"], capture_output=True, text=True,
                       env=dict(env, XDG_CACHE_HOME=os.path.join(tmp, "cache2"), https_proxy="http://127.0.0.1:9",
                                HTTPS_PROXY="http://127.0.0.1:9"), timeout=120)
    check(p.returncode != 0 and "storage.googleapis.com/rfdetr/rf-detr-seg-preview.pt" in p.stderr,
          "the official URL is used without a mirror: " + p.stderr[-200:])
    srv.shutdown()

finish()
