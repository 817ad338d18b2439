"""The Python package on a CUDA session (run by dev/python/device_check.sh on the GPU
machine): CUDA results against the CPU's for the fixtures (same detections; boxes within
1 px, masks IoU >= 0.99, as the network's float arithmetic differs between backends), lists
in batches and 4 threads against single calls on CUDA (equal), predict_video over a y4m
clip (every frame in order), and the time per call from Python against the library's own
stage times. Prints PASS/FAIL lines and a summary."""
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "python"))
import rfseg  # noqa: E402
import numpy as np  # noqa: E402

SH = os.environ.get("RFS_SHARED", ".pyrun/shared")
MODEL = os.path.join(SH, "fixtures", "rfdetr", "tiny-w1.pth")
IMAGES = [os.path.join(SH, "fixtures", "images", n + ".png") for n in ("astronaut", "chelsea", "coffee", "rocket")]
CLIP = sys.argv[1] if len(sys.argv) > 1 else ".pyrun/clip426.y4m"
DEV = os.environ.get("GPU_CHECK_DEVICE", "cuda")  # "cpu": a dry run of this script anywhere
ITERS = 100 if DEV != "cpu" else 3
counts = {"pass": 0, "fail": 0}


def check(ok, what):
    counts["pass" if ok else "fail"] += 1
    print("%s %s" % ("PASS" if ok else "FAIL", what), flush=True)


def same(a, b):
    return (len(a) == len(b) and np.array_equal(a.xyxy, b.xyxy) and np.array_equal(a.confidence, b.confidence)
            and np.array_equal(a.class_id, b.class_id) and np.array_equal(a.mask, b.mask))


def close(cpu, gpu):
    """Largest box difference and smallest mask IoU over matched detections."""
    if len(cpu) != len(gpu) or not np.array_equal(cpu.class_id, gpu.class_id):
        return None
    if not len(cpu):
        return 0.0, 1.0
    db = float(np.abs(cpu.xyxy - gpu.xyxy).max())
    inter = (cpu.mask & gpu.mask).sum(axis=(1, 2))
    union = (cpu.mask | gpu.mask).sum(axis=(1, 2))
    iou = float(np.min(np.where(union > 0, inter / np.maximum(union, 1), 1.0)))
    return db, iou


print("library", rfseg.library_path, "cuda devices", rfseg.cuda_device_count())
check(DEV == "cpu" or rfseg.cuda_device_count() >= 1, "a CUDA device")
cpu = rfseg.Model(MODEL)
gpu = rfseg.Model(MODEL, device=DEV)
gpu4 = rfseg.Model(MODEL, device=DEV if DEV == "cpu" else "cuda:0", max_batch=4)
for preset in ("roboflow", "rfdetr", "rfdetr-1.4"):
    singles = [gpu.predict(p, preset=preset) for p in IMAGES]
    for p, g in zip(IMAGES, singles):
        c = cpu.predict(p, preset=preset)
        d = close(c, g)
        check(d is not None and d[0] <= 1.0 and d[1] >= 0.99,
              "%s %s: cuda vs cpu: %s detections, max box diff %s px, min mask IoU %s"
              % (os.path.basename(p), preset, (len(c), len(g)), d and d[0], d and d[1]))
    batched = gpu4.predict(IMAGES, preset=preset)
    check(all(same(a, b) for a, b in zip(singles, batched)), "%s: a list in one batch of 4 == singles" % preset)
    check(all(a.to_json("rle") and b.to_json("polygon") for a, b in zip(singles, batched)), "%s: JSON" % preset)

# one CUDA model, 4 threads (a session each, one copy of the weights on the device)
ref = [gpu.predict(p) for p in IMAGES]
errors, ok = [], [True]


def work():
    try:
        for _ in range(5):
            for i, p in enumerate(IMAGES):
                ok[0] &= same(gpu.predict(p), ref[i])
    except Exception as e:
        errors.append(repr(e))


ths = [threading.Thread(target=work) for _ in range(4)]
[t.start() for t in ths]
[t.join() for t in ths]
check(not errors and ok[0], "4 threads on one CUDA model == one thread %s" % errors[:1])

# predict_video, two batches in flight
for b in (1, 8):
    t0 = time.perf_counter()
    ids = [r.frame_id for r in gpu.predict_video(CLIP, batch=b)]
    dt = time.perf_counter() - t0
    check(ids == list(range(len(ids))) and len(ids) == 60, "predict_video batch %d: %d frames in order, %.1f frames/s"
          % (b, len(ids), len(ids) / dt))

# time per call from Python: the full-size nano (random weights), fp16
m = rfseg.Model("random:seg-nano", device=DEV, precision="fp16" if DEV != "cpu" else "fp32", max_batch=8)
img = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
for _ in range(ITERS // 10 + 1):
    m.predict(img, confidence=0.0)
t0 = time.perf_counter()
for _ in range(ITERS):
    r = m.predict(img)
dt = (time.perf_counter() - t0) / ITERS
print("seg-nano %s %s 640x480 via Python: %.2f ms per predict (%d detections)" % (DEV, m.precision, dt * 1e3, len(r)))
t0 = time.perf_counter()
n = sum(1 for _ in m.predict_video(CLIP, batch=8, max_frames=60 if DEV != "cpu" else 8))
print("seg-nano %s predict_video batch 8: %.1f frames/s" % (m.precision, n / (time.perf_counter() - t0)))
for x in (cpu, gpu, gpu4, m):
    x.close()
print("%d passed, %d failed" % (counts["pass"], counts["fail"]))
sys.exit(1 if counts["fail"] else 0)
