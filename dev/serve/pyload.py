"""Load generator for machines without wrk (the GPU machine): C concurrent keep-alive
clients POST one /infer/instance_segmentation body for S seconds; prints requests/s,
latency p50/p99, errors and the batch sizes the server chose (from /metrics).

    python3 dev/serve/pyload.py PORT IMAGE SECONDS CLIENTS [CLIENTS...]"""
import base64
import http.client
import json
import sys
import threading
import time

port, image, secs = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
body = json.dumps({"model_id": "m", "image": {"type": "base64",
                                              "value": base64.b64encode(open(image, "rb").read()).decode()}})


def metrics():
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request("GET", "/metrics")
    text = c.getresponse().read().decode()
    vals = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            k, v = line.rsplit(" ", 1)
            vals[k] = float(v)
    return vals


def client(stop, lat, errs):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    while time.time() < stop:
        t0 = time.perf_counter()
        try:
            c.request("POST", "/infer/instance_segmentation", body, {"Content-Type": "application/json"})
            r = c.getresponse()
            r.read()
            if r.status != 200:
                errs.append(r.status)
            else:
                lat.append(time.perf_counter() - t0)
        except Exception as e:  # noqa: BLE001
            errs.append(str(e))
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)


print("| clients | requests/s | p50 ms | p99 ms | mean batch | errors |")
print("|---|---|---|---|---|---|")
for n in map(int, sys.argv[4:]):
    m0 = metrics()
    lat, errs = [], []
    stop = time.time() + secs
    ts = [threading.Thread(target=client, args=(stop, lat, errs)) for _ in range(n)]
    t0 = time.time()
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    wall = time.time() - t0
    m1 = metrics()
    lat.sort()
    b = m1.get("rfseg_batch_size_count", 0) - m0.get("rfseg_batch_size_count", 0)
    f = m1.get("rfseg_batch_size_sum", 0) - m0.get("rfseg_batch_size_sum", 0)
    p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1e3 if lat else float("nan")
    print("| %d | %.1f | %.2f | %.2f | %.2f | %d |" % (n, len(lat) / wall, p(0.5), p(0.99), f / b if b else 0, len(errs)))
    sys.stdout.flush()
