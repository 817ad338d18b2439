"""The public API is the only way in: librfseg.so exports exactly the functions that
include/rfseg.h declares (RFS_API), carries its SONAME, installs under any prefix with a
pkg-config file whose programs run without LD_LIBRARY_PATH (shared) and link statically
(--static); the examples in examples/ (built by make against the shared library) run and
agree with `rfseg predict`."""
import json
import os
import re
import subprocess
import tempfile

from clitest import BUILD, RFSEG, SHARED, check, finish

ROOT = os.path.join(os.path.dirname(__file__), "..")
MODEL = os.path.join(SHARED, "fixtures", "rfdetr", "tiny-w1.pth")
IMG = os.path.join(SHARED, "fixtures", "images", "astronaut.png")
IMG2 = os.path.join(SHARED, "fixtures", "images", "coffee.png")
VIDEO = os.path.join(SHARED, "videos", "example_video.mp4")
ENV = dict(os.environ, OMP_NUM_THREADS="1")
ENV.pop("LD_LIBRARY_PATH", None)


def run(args, env=None):
    return subprocess.run(args, capture_output=True, text=True, env=env or ENV, timeout=600)


def strip_ids(doc):
    """A response without what differs from run to run (UUIDs, time)."""
    doc.pop("inference_id", None)
    doc.pop("time", None)
    for p in doc.get("predictions", []):
        p.pop("detection_id", None)
    return doc


# ---- exported symbols == declared functions
header = open(os.path.join(ROOT, "include", "rfseg.h")).read()
declared = set(re.findall(r"^RFS_API [^(;]*?\**\b(rfs_\w+)\(", header, re.M))
so = os.path.join(BUILD, "librfseg.so")
p = run(["nm", "-D", "--defined-only", so])
exported, other = set(), []
for line in p.stdout.splitlines():
    f = line.split()
    if len(f) == 3 and f[1] == "T":
        exported.add(f[2])
    elif len(f) == 3:
        other.append(f[2])
check(p.returncode == 0 and len(declared) > 60, "nm read %s; header declares %d functions" % (so, len(declared)))
check(exported == declared, "exported == declared: extra %s, missing %s"
      % (sorted(exported - declared)[:10], sorted(declared - exported)[:10]))
check(not other, "no exported data symbols: %s" % other[:10])
p = run(["readelf", "-d", so])
check("Library soname: [librfseg.so.0]" in p.stdout, "SONAME librfseg.so.0")

# ---- install under a temporary prefix; build a program with pkg-config, shared and static
with tempfile.TemporaryDirectory() as prefix:
    p = run(["make", "-s", "-C", ROOT, "install", "PREFIX=" + prefix, "BUILD=" + os.path.abspath(BUILD)])
    check(p.returncode == 0, "make install PREFIX=tmp: %s" % p.stderr[-400:])
    pc = dict(ENV, PKG_CONFIG_PATH=os.path.join(prefix, "lib", "pkgconfig"))
    flags = run(["pkg-config", "--cflags", "--libs", "rfseg"], env=pc)
    sflags = run(["pkg-config", "--static", "--cflags", "--libs", "rfseg"], env=pc)
    check(flags.returncode == 0 and sflags.returncode == 0, "pkg-config finds rfseg")
    src = os.path.join(ROOT, "examples", "image_to_json.c")
    exe = os.path.join(prefix, "ij_shared")
    p = run(["cc", "-std=c11", "-o", exe, src] + flags.stdout.split())
    check(p.returncode == 0, "a program builds with pkg-config --cflags --libs: %s" % p.stderr[-300:])
    p = run([exe, MODEL, IMG])
    check(p.returncode == 0 and p.stdout.startswith("{"), "it runs without LD_LIBRARY_PATH: %s" % p.stderr[-300:])
    p = run(["ldd", exe])
    check(os.path.join(prefix, "lib", "librfseg.so.0") in p.stdout, "it loads the installed librfseg.so.0")
    exe_s = os.path.join(prefix, "ij_static")
    sl = [f for f in sflags.stdout.split() if f != "-lrfseg"]
    p = run(["cc", "-std=c11", "-o", exe_s, src, os.path.join(prefix, "lib", "librfseg.a")] + sl)
    check(p.returncode == 0, "a static link with pkg-config --static: %s" % p.stderr[-300:])
    p2 = run([exe_s, MODEL, IMG])
    check(p2.returncode == 0 and p2.stdout.startswith("{"), "the static program runs")
    man = os.path.join(prefix, "share", "man", "man1", "rfseg.1")
    if os.path.exists(os.path.join(ROOT, "docs", "rfseg.1")):
        check(os.path.exists(man), "make install installs the man page")

# ---- the examples agree with the CLI
p = run([os.path.join(BUILD, "examples", "image_to_json"), MODEL, IMG, IMG2])
q = run([RFSEG, "predict", "--model", MODEL, IMG, IMG2])
ours = [strip_ids(json.loads(l)) for l in p.stdout.splitlines()]
cli = [strip_ids(json.loads(l)) for l in q.stdout.splitlines()]
for d, img in zip(cli, (IMG, IMG2)):  # with several images the CLI names each line's image
    check(d.pop("source", None) == img, "rfseg predict names the image of each line")
check(p.returncode == 0 and len(ours) == 2 and ours == cli, "image_to_json equals rfseg predict")

p = run([os.path.join(BUILD, "examples", "shared_model"), MODEL, IMG, "4"])
counts = re.findall(r"ok, (\d+) detections", p.stdout)
check(p.returncode == 0 and len(counts) == 4 and len(set(counts)) == 1,
      "shared_model: 4 threads, one model, the same detections (%s)" % counts)
check(int(counts[0]) == len(cli[0]["predictions"]) if counts else False,
      "shared_model's count equals rfseg predict's")

if os.path.exists(VIDEO):
    p = run([os.path.join(BUILD, "examples", "video_stream"), MODEL, VIDEO, "cpu", "3"])
    lines = p.stdout.splitlines()
    ids = [int(re.match(r"frame (\d+):", l).group(1)) for l in lines if l.startswith("frame ")]
    check(p.returncode == 0 and ids == list(range(len(ids))) and len(ids) > 400,
          "video_stream: every frame once, in order (%d frames)" % len(ids))
finish()
