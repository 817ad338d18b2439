"""The Python package (python/rfseg) against the command line and the C library's contract:
its results equal `rfseg predict --format rle` for the fixture images under every preset
(boxes, scores, classes, names, every mask pixel against the RLE), whatever the input
kind (path, encoded bytes, RGB or BGR array, PIL image, list in batches); one model used
from 4 threads gives the single thread's results; bad input and bad options raise
RfsegError with the library's status and message; 1000 calls leave the RSS where it was
after warm-up; predict_video yields every frame of the sample clip in order, each frame
equal to OpenCV's and each result equal to predict() on that frame; `pip install ./python`
works offline and bundles the library."""
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

from clitest import BUILD, RFSEG, SHARED, check, finish

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
# One OpenMP thread everywhere (the CLI and the package's sessions): CPU results may differ
# in the last bits between thread counts. Set before anything loads libgomp.
os.environ["OMP_NUM_THREADS"] = "1"
os.environ["RFSEG_LIBRARY"] = os.path.abspath(os.path.join(BUILD, "librfseg.so.0"))
if "libasan" in subprocess.run(["ldd", os.environ["RFSEG_LIBRARY"]], capture_output=True, text=True).stdout:
    print("SKIP the Python package: %s is built with AddressSanitizer, which python3 cannot load"
          % os.environ["RFSEG_LIBRARY"])
    finish()
sys.path.insert(0, os.path.join(ROOT, "python"))
import rfseg  # noqa: E402  (before numpy: rfseg sets OMP_WAIT_POLICY before libgomp loads)
from roboflow_ref import rle_decode  # noqa: E402  (numpy and cv2, after rfseg)

import json  # noqa: E402
import re  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

MODEL = os.path.join(SHARED, "fixtures", "rfdetr", "tiny-w1.pth")
IMAGES = [os.path.join(SHARED, "fixtures", "images", n + ".png")
          for n in ("astronaut", "chelsea", "coffee", "rocket")]
VIDEO = os.path.join(SHARED, "videos", "example_video.mp4")
ENV = dict(os.environ)
T0 = time.time()


def section(name):
    print("%5.1fs %s" % (time.time() - T0, name), flush=True)


def strip(doc, source=False):
    """A document without what differs from run to run (UUIDs, time), and without the
    Roboflow document's "source" (the CLI names the image when it was given several)."""
    doc.pop("inference_id", None)
    doc.pop("time", None)
    if source:
        doc.pop("source", None)
    for p in doc.get("predictions", []):
        p.pop("detection_id", None)
    return doc


def same(a, b):
    """Two Results with the same detections (arrays, names, every mask pixel)."""
    return (len(a) == len(b) and (a.width, a.height) == (b.width, b.height)
            and np.array_equal(a.xyxy, b.xyxy) and np.array_equal(a.confidence, b.confidence)
            and np.array_equal(a.class_id, b.class_id) and a.class_name == b.class_name
            and np.array_equal(a.mask, b.mask))


def cli_docs(preset, confidence=None):
    args = [RFSEG, "predict", "--model", MODEL, "--preset", preset, "--format", "rle"]
    if confidence is not None:  # the CLI takes fractions only
        args += ["--confidence", str(float(confidence.rstrip("%")) / 100 if isinstance(confidence, str) else confidence)]
    p = subprocess.run(args + IMAGES, capture_output=True, text=True, env=ENV, timeout=300)
    check(p.returncode == 0, "rfseg predict --preset %s: %s" % (preset, p.stderr[-300:]))
    return p.stdout.splitlines()


def check_against_cli(model, preset, confidence, lines):
    """Every input kind gives the CLI's detections; the arrays match the JSON exactly."""
    kw = {} if confidence is None else {"confidence": confidence}
    check(len(lines) == len(IMAGES), "the CLI printed one document per image")
    for path, line in zip(IMAGES, lines):
        doc = json.loads(line)
        name = "%s %s conf=%s" % (os.path.basename(path), preset, confidence)
        r = model.predict(path, preset=preset, **kw)
        if preset != "roboflow":  # no UUIDs nor times in the rfdetr layout: the same text
            check(r.to_json("rle") == line, "%s: to_json('rle') is the CLI's line" % name)
        # the JSON document, from the package's copy of the result
        check(strip(r.to_roboflow("rle")) == strip(dict(doc), True), "%s: to_roboflow('rle') == CLI" % name)
        check(strip(json.loads(r.to_json("rle"))) == strip(dict(doc), True), "%s: to_json == CLI" % name)
        dets = doc["predictions"] if preset == "roboflow" else doc["detections"]
        check(len(r) == len(dets) and r.xyxy.shape == (len(dets), 4) and r.xyxy.dtype == np.float32
              and r.confidence.dtype == np.float32 and r.mask.shape == (len(dets), r.height, r.width)
              and r.mask.dtype == np.bool_ and len(r.class_name) == len(dets), "%s: shapes" % name)
        check(len(dets) > 0 and (r.width, r.height) == ((doc["image"]["width"], doc["image"]["height"])
              if preset == "roboflow" else (doc["width"], doc["height"])), "%s: size, detections" % name)
        for i, d in enumerate(dets):
            x0, y0, x1, y1 = (float(v) for v in r.xyxy[i])
            if preset == "roboflow":
                box_ok = (d["x"], d["y"], d["width"], d["height"]) == ((x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0)
                cls_ok = d["class_id"] == r.class_id[i] and d["class"] == r.class_name[i]
            else:
                box_ok = np.array_equal(np.float32(d["xyxy"]), r.xyxy[i])
                cls_ok = d["class_id"] == r.class_id[i] and d["class_name"] == r.class_name[i]
            rle = d["rle"]
            mask_ok = rle["size"] == [r.height, r.width] and np.array_equal(
                rle_decode(rle["counts"], r.height, r.width), r.mask[i])
            check(box_ok, "%s det %d: box %s vs %s" % (name, i, r.xyxy[i], d))
            check(np.float32(d["confidence"]) == r.confidence[i], "%s det %d: confidence" % (name, i))
            check(cls_ok, "%s det %d: class %s %s" % (name, i, r.class_id[i], r.class_name[i]))
            check(mask_ok, "%s det %d: mask pixel-equal to the RLE" % (name, i))
        # the other input kinds: the same detections
        bgr = cv2.imread(path)
        others = {"bgr array": model.predict(bgr, preset=preset, bgr=True, **kw),
                  "rgb array": model.predict(np.ascontiguousarray(bgr[:, :, ::-1]), preset=preset, **kw),
                  "rgb view": model.predict(bgr[:, :, ::-1], preset=preset, **kw),
                  "bytes": model.predict(open(path, "rb").read(), preset=preset, **kw)}
        try:
            from PIL import Image
            others["PIL"] = model.predict(Image.open(path), preset=preset, **kw)
        except ImportError:
            print("SKIP PIL input: PIL is not installed")
        for kind, o in others.items():
            check(same(r, o), "%s: %s input gives the path's detections" % (name, kind))


def test_cli_equal():
    section("results == rfseg predict --format rle")
    model = rfseg.Model(MODEL, threads=1)
    check(model.config["resolution"] == 96 and model.config["num_classes"] == 6, "config read")
    for preset, conf in (("roboflow", None), ("roboflow", 0.0), ("rfdetr", None), ("rfdetr", "0%"),
                         ("rfdetr-1.4", None)):
        check_against_cli(model, preset, conf, cli_docs(preset, conf))
    # a list returns a list; batches of max_batch give the single image's results
    singles = [model.predict(p) for p in IMAGES]
    batched = rfseg.Model(MODEL, threads=1, max_batch=3)
    for m in (model, batched):
        out = m.predict(IMAGES)
        check(isinstance(out, list) and len(out) == 4 and all(same(a, b) for a, b in zip(singles, out)),
              "predict(list) on max_batch=%d: a list of the single results" % m.max_batch)
    mixed = batched.predict((IMAGES[0], cv2.imread(IMAGES[1])[:, :, ::-1], open(IMAGES[2], "rb").read()))
    check(isinstance(mixed, list) and all(same(a, b) for a, b in zip(singles, mixed)), "a mixed tuple")
    stack = batched.predict(np.stack([cv2.imread(IMAGES[0])] * 2), bgr=True)
    check(isinstance(stack, list) and len(stack) == 2 and same(stack[0], singles[0]) and same(stack[1], singles[0]),
          "an NxHxWx3 array is a list of N images")
    check(model.predict([]) == [], "an empty list gives []")
    r = model.predict(IMAGES[0], threshold=0.9)
    check(len(r) and (r.confidence > np.float32(0.9)).all() and len(r) < len(singles[0]), "threshold= alias")
    r = model.predict(IMAGES[0], masks=False)
    check(r.mask is None and np.array_equal(r.xyxy, singles[0].xyxy), "masks=False: same boxes, no mask")
    check(r.tracker_id is None and "person" in repr(singles[0]), "tracker_id None, repr")
    check(model.class_name(1) == singles[0].class_name[0] == "person", "Model.class_name")
    import pickle
    copy = pickle.loads(pickle.dumps(singles[0]))
    check(same(copy, singles[0]) and copy.source == IMAGES[0], "a Result pickles with its arrays")
    batched.close()
    return model, singles


def test_supervision(model):
    section("to_supervision")
    try:
        import supervision as sv
    except ImportError:
        print("SKIP to_supervision: the supervision package is not installed")
        return
    r = model.predict(IMAGES[0], preset="rfdetr")
    d = r.to_supervision()
    check(isinstance(d, sv.Detections) and len(d) == len(r) and np.array_equal(d.xyxy, r.xyxy)
          and np.array_equal(d.mask, r.mask) and np.array_equal(d.class_id, r.class_id)
          and list(d.data["class_name"]) == r.class_name, "sv.Detections with data['class_name']")


def test_threads(singles_by_preset):
    section("4 threads, one model")
    model = rfseg.Model(MODEL, threads=1)
    errors, results = [], {}

    def work(t):
        try:
            out = []
            for rnd in range(2):
                for preset in ("roboflow", "rfdetr"):
                    for i, p in enumerate(IMAGES):
                        src = p if (t + i + rnd) % 2 else cv2.imread(p)
                        r = model.predict(src, preset=preset, bgr=not isinstance(src, str))
                        out.append((preset, i, r))
            results[t] = out
        except Exception as e:  # reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    check(not errors, "no thread failed: %s" % errors[:2])
    ok = len(results) == 4 and all(same(r, singles_by_preset[preset][i])
                                   for out in results.values() for preset, i, r in out)
    check(ok, "every thread's results equal the single thread's")
    check(len(results) == 4 and sum(len(v) for v in results.values()) == 64, "64 predictions")
    # a thread's session goes with the thread: 12 short-lived threads leave the main one's
    live = []
    for _ in range(12):
        th = threading.Thread(target=lambda: live.append(len(model.predict(IMAGES[1]))))
        th.start()
        th.join()
    check(live == [len(singles_by_preset["roboflow"][1])] * 12, "12 more threads predicted")
    check(len(model._state.sessions) == 1, "sessions of ended threads are freed (%d live)"
          % len(model._state.sessions))
    sessions = list(model._state.sessions)
    model.close()
    check(sessions and all(x.ptr is None for x in sessions), "close() frees every session")


def expect_error(what, fn, status, text=None):
    try:
        fn()
    except rfseg.RfsegError as e:
        check(e.status == status and (text is None or text in str(e)),
              "%s: RfsegError status %s (want %s), message %r" % (what, e.status_name, status, str(e)))
        return e
    except Exception as e:
        check(False, "%s: %r instead of RfsegError" % (what, e))
        return None
    check(False, "%s: no error" % what)
    return None


def test_errors(model, singles):
    section("bad input")
    tmp = tempfile.mkdtemp()
    try:
        missing = os.path.join(tmp, "missing.png")
        expect_error("missing file", lambda: model.predict(missing), rfseg.ERR_IO, missing)
        bad = os.path.join(tmp, "corrupt.png")
        data = open(IMAGES[0], "rb").read()
        with open(bad, "wb") as f:
            f.write(data[:200] + bytes(range(256)) * 8)
        expect_error("corrupt PNG file", lambda: model.predict(bad), rfseg.ERR_FORMAT, bad)
        expect_error("unknown bytes", lambda: model.predict(b"not an image at all"), rfseg.ERR_UNSUPPORTED,
                     "unknown image format")
        expect_error("truncated PNG bytes", lambda: model.predict(data[:len(data) // 2]), rfseg.ERR_FORMAT)
        img = cv2.imread(IMAGES[0])
        expect_error("float32 array", lambda: model.predict(img.astype(np.float32)), rfseg.ERR_ARG, "uint8")
        expect_error("HxW array", lambda: model.predict(img[:, :, 0]), rfseg.ERR_ARG, "HxWx3")
        expect_error("HxWx4 array", lambda: model.predict(np.zeros((8, 8, 4), np.uint8)), rfseg.ERR_ARG, "HxWx3")
        expect_error("empty array", lambda: model.predict(np.zeros((0, 8, 3), np.uint8)), rfseg.ERR_ARG, "empty")
        expect_error("an int", lambda: model.predict(42), rfseg.ERR_ARG, "got int")
        expect_error("bad item in a list", lambda: model.predict([IMAGES[0], img.astype(np.int16)]),
                     rfseg.ERR_ARG, "images[1]")
        expect_error("missing file in a list", lambda: model.predict([IMAGES[0], missing]), rfseg.ERR_IO, missing)
        expect_error("preset", lambda: model.predict(img, preset="yolo"), rfseg.ERR_ARG, "yolo")
        expect_error("confidence 1.5", lambda: model.predict(img, confidence=1.5), rfseg.ERR_ARG, "1.5")
        expect_error("confidence text", lambda: model.predict(img, confidence="high"), rfseg.ERR_ARG, "high")
        expect_error("both thresholds", lambda: model.predict(img, confidence=0.1, threshold=0.2), rfseg.ERR_ARG)
        expect_error("mask format", lambda: singles[0].to_json("svg"), rfseg.ERR_ARG, "svg")
        expect_error("device", lambda: rfseg.Model(MODEL, device="tpu"), rfseg.ERR_ARG, "tpu")
        expect_error("precision", lambda: rfseg.Model(MODEL, precision="fp64"), rfseg.ERR_ARG, "fp64")
        expect_error("threads", lambda: rfseg.Model(MODEL, threads=-1), rfseg.ERR_ARG, "threads")
        expect_error("max_batch", lambda: rfseg.Model(MODEL, max_batch=0), rfseg.ERR_ARG, "max_batch")
        expect_error("missing model", lambda: rfseg.Model(missing), rfseg.ERR_IO, missing)
        expect_error("corrupt model", lambda: rfseg.Model(bad), rfseg.ERR_FORMAT)
        expect_error("random size", lambda: rfseg.Model("random:seg-bogus"), rfseg.ERR_ARG, "seg-bogus")
        expect_error("missing video", lambda: model.predict_video(missing), rfseg.ERR_IO)
        if rfseg.cuda_device_count() == 0:  # this build has no CUDA backend, or no GPU is here
            try:
                rfseg.Model(MODEL, device="cuda")
                check(False, "device='cuda' without a GPU: no error")
            except rfseg.RfsegError as e:
                check(e.status in (rfseg.ERR_UNSUPPORTED, rfseg.ERR_BACKEND) and "CUDA" in str(e).upper(),
                      "device='cuda' without a GPU: %s" % e)
        # an official size that cannot be downloaded: the library's error, nothing cached
        os.environ["RFSEG_MODEL_URL_BASE"] = "http://127.0.0.1:9"
        os.environ["XDG_CACHE_HOME"] = tmp
        try:
            expect_error("download refused", lambda: rfseg.Model("seg-nano"), rfseg.ERR_NETWORK)
        finally:
            del os.environ["RFSEG_MODEL_URL_BASE"]
            del os.environ["XDG_CACHE_HOME"]
        left = [f for _, _, fs in os.walk(tmp) for f in fs if f.endswith((".pth", ".pt"))]
        check(not left, "no checkpoint left in the cache after the failed download: %s" % left)
        # the model still works after every error, and the error text was this thread's
        check(same(model.predict(IMAGES[0]), singles[0]), "the model works after the errors")
        # a closed model: a clear error; results keep their arrays
        m2 = rfseg.Model(MODEL, threads=1)
        kept = m2.predict(IMAGES[0])
        with m2:
            pass
        check(m2.closed, "with-block closes")
        expect_error("predict after close", lambda: m2.predict(IMAGES[0]), rfseg.ERR_ARG, "closed")
        expect_error("to_json after close", lambda: kept.to_json(), rfseg.ERR_ARG, "closed")
        check(same(kept, singles[0]), "a result outlives its model's close()")
        m2.close()  # twice: nothing
        # a Model nobody holds: its sessions go at once, the model with its last Result
        import weakref
        r = rfseg.Model(MODEL, threads=1).predict(IMAGES[0], preset="rfdetr")
        check(r._state.ptr is not None and not r._state.sessions and r.to_json() is not None,
              "a dropped Model's result still makes its JSON; its sessions are freed")
        ref = weakref.ref(r._state)
        del r
        check(ref() is None, "the model goes with its last Result")
    finally:
        shutil.rmtree(tmp)


def rss_kb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def test_leak(model):
    section("1000 calls")
    bgr = np.ascontiguousarray(cv2.imread(IMAGES[0])[100:164, 200:264])
    enc = cv2.imencode(".png", bgr)[1].tobytes()
    marks = {}
    r = None
    for i in range(1000):
        k = i % 4
        if k == 0:
            r = model.predict(bgr, bgr=True)
        elif k == 1:
            r = model.predict(enc, preset="rfdetr")
        elif k == 2:
            r = model.predict([bgr, bgr[:, ::-1]], preset="rfdetr-1.4")[1]
            r.mask
        else:
            r.to_json("rle")
            r.to_json("polygon")
            try:
                model.predict("/nonexistent/rfseg.png")
            except rfseg.RfsegError:
                pass
        if i in (99, 999):
            marks[i] = rss_kb()
    grew = marks[999] - marks[99]
    print("RSS after 100 calls %d kB, after 1000 %d kB (%+d kB)" % (marks[99], marks[999], grew))
    # a leak of the smallest C object per call (a 64x64 mask, 4 kB) would add 3.6 MB
    check(grew < 512, "RSS grows by less than 512 kB from call 100 to 1000 (grew %d kB)" % grew)


def test_video(model):
    section("predict_video")
    cap = cv2.VideoCapture(VIDEO)
    ref = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        ref.append(f)
    check(len(ref) == 431, "OpenCV reads the 431 frames of the clip (%d)" % len(ref))
    stream = model.predict_video(VIDEO, batch=4, frames=True, bgr=True)
    check((stream.width, stream.height, stream.fps, stream.batch) == (426, 240, 30.0, 4), "video properties")
    n, order_ok, frames_ok, picks = 0, True, True, {}
    for frame, r in stream:
        order_ok &= r.frame_id == n and (r.width, r.height) == (426, 240)
        frames_ok &= n < len(ref) and np.array_equal(frame, ref[n])
        if n in (0, 1, 2, 3, 4, 217, 430):
            picks[n] = r
        n += 1
    check(n == 431 and order_ok, "every frame, in order (%d)" % n)
    check(frames_ok, "each frame equals OpenCV's")
    check(all(same(r, model.predict(ref[i], bgr=True)) for i, r in picks.items()),
          "results of frames 0-4, 217, 430 equal predict() on those frames")
    # the JSON of each frame, with and without tracking, is `rfseg video --jsonl`'s line
    for track in (False, True):
        args = [RFSEG, "video", "--model", MODEL, VIDEO, "--max-frames", "60", "--jsonl", "-"]
        p = subprocess.run(args + (["--track"] if track else []), capture_output=True, text=True,
                           env=ENV, timeout=300)
        lines = p.stdout.splitlines()
        check(p.returncode == 0 and len(lines) == 60, "rfseg video --jsonl%s: %s"
              % (" --track" if track else "", p.stderr[-300:]))
        ours = [strip(r.to_roboflow()) for r in model.predict_video(VIDEO, max_frames=60, track=track)]
        check(len(ours) == 60 and ours == [strip(json.loads(x)) for x in lines],
              "predict_video(track=%s): every frame's to_roboflow() == the CLI's line" % track)
        if track:
            check(all("tracker_id" in d for o in ours for d in o["predictions"]) and
                  sum(len(o["predictions"]) for o in ours) > 100, "tracked: every detection has a tracker_id")
    # RGB frames by default; early close; max_frames
    with model.predict_video(VIDEO, frames=True, max_frames=3) as s:
        got = list(s)
    check(len(got) == 3 and np.array_equal(got[2][0], ref[2][:, :, ::-1]), "max_frames=3, RGB frames")
    s = model.predict_video(VIDEO, batch=2)
    first = [next(s) for _ in range(5)]
    s.close()
    check([r.frame_id for r in first] == list(range(5)) and list(s) == [], "close() mid-stream ends it")
    check(same(first[4], picks[4]), "batch 2 gives batch 4's result")


def test_pip():
    section("pip install ./python")
    import importlib.util
    missing = [m for m in ("pip", "setuptools", "wheel") if importlib.util.find_spec(m) is None]
    if missing:
        print("SKIP pip install: no %s here (Debian: python3-pip python3-setuptools python3-wheel)"
              % ", ".join(missing))
        return
    tmp = tempfile.mkdtemp()
    try:
        src = os.path.join(tmp, "src")
        shutil.copytree(os.path.join(ROOT, "python"), src,
                        ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__", "*.so*"))
        target = os.path.join(tmp, "site")
        p = subprocess.run([sys.executable, "-m", "pip", "install", "--no-build-isolation", "--no-deps",
                            "--no-index", "--quiet", "--target", target, src],
                           capture_output=True, text=True, env=ENV, timeout=300, cwd=tmp)
        check(p.returncode == 0, "pip install --target: %s" % (p.stdout + p.stderr)[-600:])
        bundled = os.path.join(target, "rfseg", "librfseg.so.0")
        check(os.path.isfile(bundled), "the library is bundled in the installed package")
        env = {k: v for k, v in ENV.items() if k != "RFSEG_LIBRARY"}
        env["PYTHONPATH"] = target
        code = ("import rfseg, sys; m = rfseg.Model(sys.argv[1], threads=1); r = m.predict(sys.argv[2]); "
                "print(rfseg.library_path); print(len(r), r.class_name[0])")
        p = subprocess.run([sys.executable, "-c", code, MODEL, IMAGES[0]], capture_output=True, text=True,
                           env=env, timeout=120, cwd=tmp)
        lines = p.stdout.splitlines()
        check(p.returncode == 0 and lines and lines[0] == bundled,
              "the installed package loads its bundled library: %s %s" % (p.stdout, p.stderr[-300:]))
        check(len(lines) == 2 and lines[1] == "20 person", "and predicts: %s" % lines[1:])
    finally:
        shutil.rmtree(tmp)


def test_abi():
    """The package's ctypes structures have the compiler's layout of rfseg.h, and every
    function it declares takes as many arguments as the header says."""
    section("ctypes layouts == rfseg.h")
    from rfseg import _capi
    lines, expect = [], []
    for cls, cname in _capi.C_NAMES.items():
        lines.append('printf("%%zu\\n", sizeof(%s));' % cname)
        expect.append(("sizeof " + cname, ctypes_sizeof(cls)))
        for field in cls._fields_:
            lines.append('printf("%%zu\\n", offsetof(%s, %s));' % (cname, field[0]))
            expect.append(("%s.%s" % (cname, field[0]), getattr(cls, field[0]).offset))
    src = "#include <rfseg.h>\n#include <stddef.h>\n#include <stdio.h>\nint main(void) {\n%s\nreturn 0;\n}\n" % "\n".join(lines)
    tmp = tempfile.mkdtemp()
    try:
        c, exe = os.path.join(tmp, "layout.c"), os.path.join(tmp, "layout")
        with open(c, "w") as f:
            f.write(src)
        p = subprocess.run(["cc", "-std=c11", "-I" + os.path.join(ROOT, "include"), "-o", exe, c],
                           capture_output=True, text=True)
        check(p.returncode == 0, "the layout program compiles: %s" % p.stderr[-300:])
        got = subprocess.run([exe], capture_output=True, text=True).stdout.split() if p.returncode == 0 else []
        bad = [(what, want, have) for (what, want), have in zip(expect, got) if str(want) != have]
        check(len(got) == len(expect) and not bad, "%d sizes and offsets equal: %s" % (len(expect), bad[:5]))
    finally:
        shutil.rmtree(tmp)
    header = open(os.path.join(ROOT, "include", "rfseg.h")).read()
    decl = {m.group(1): m.group(2) for m in re.finditer(r"RFS_API [^;(]*?\b(rfs_\w+)\(([^;]*?)\);", header, re.S)}
    wrong = []
    for name, (_, argtypes) in _capi._PROTOTYPES.items():
        params = decl.get(name)
        n = None if params is None else (0 if params.strip() == "void" else params.count(",") + 1)
        if n != len(argtypes):
            wrong.append((name, n, len(argtypes)))
    check(not wrong, "%d prototypes: the header's argument counts (name, header, package): %s"
          % (len(_capi._PROTOTYPES), wrong))


def ctypes_sizeof(cls):
    import ctypes
    return ctypes.sizeof(cls)


def main():
    check(rfseg.library_path == os.environ["RFSEG_LIBRARY"], "RFSEG_LIBRARY chosen: %s" % rfseg.library_path)
    test_abi()
    model, singles = test_cli_equal()
    test_supervision(model)
    by_preset = {"roboflow": singles, "rfdetr": [model.predict(p, preset="rfdetr") for p in IMAGES]}
    test_threads(by_preset)
    test_errors(model, singles)
    test_video(model)
    test_leak(model)
    test_pip()
    model.close()
    section("done")
    finish()


if __name__ == "__main__":
    main()
