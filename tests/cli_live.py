"""Live streams stay live: a local ffmpeg process streams the sample clip at real time
(-re, 30 frames/s) over tcp:// on 127.0.0.1 to `rfseg video`, which processes at most 5
frames/s (slower than the stream). Live (the default for network streams), each JSON line
arrives within a few frames of the stream and the frames in between are counted as
dropped; with --no-live every frame is processed, in order, falling further behind.

A JSON line for frame k arriving at time t is late by (t - k/30 - c) * 30 frames, where c
is the stream's start plus the smallest delivery latency, estimated as the minimum of
t - k/30 over the run's lines."""
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time

from clitest import RFSEG, SHARED, check, finish

RFSEG = os.path.abspath(RFSEG)
MODEL = os.path.join(SHARED, "fixtures", "rfdetr", "tiny-w1.pth")
VIDEO = os.path.join(SHARED, "videos", "example_video.mp4")
ENV = dict(os.environ, OMP_NUM_THREADS="1")
FPS = 30.0


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def listening(port):
    """Whether something listens on 127.0.0.1:port (from /proc/net/tcp, without connecting)."""
    try:
        for line in open("/proc/net/tcp").read().splitlines()[1:]:
            f = line.split()
            if f[1].endswith(":%04X" % port) and f[3] == "0A":
                return True
    except OSError:
        pass
    return False


def stream(seconds, args):
    """Starts ffmpeg sending `seconds` of the clip at real time, runs rfseg on it, and returns
    (rc, [(arrival time, frame_id)], rfseg stderr)."""
    port = free_port()
    ff = subprocess.Popen(["ffmpeg", "-v", "error", "-re", "-i", VIDEO, "-t", str(seconds), "-c", "copy",
                           "-f", "mpegts", "tcp://127.0.0.1:%d?listen=1" % port],
                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while not listening(port) and time.monotonic() < deadline:
        time.sleep(0.02)
    p = subprocess.Popen([RFSEG, "video", "-m", MODEL, "tcp://127.0.0.1:%d" % port, "--jsonl", "-", "-q"] + args,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
    arrivals = []
    err = []
    t = threading.Thread(target=lambda: err.append(p.stderr.read().decode()), daemon=True)
    t.start()
    for line in p.stdout:
        arrivals.append((time.monotonic(), json.loads(line)["frame_id"]))
    p.wait(timeout=60)
    t.join(timeout=10)
    ff.kill()
    ff.wait()
    return p.returncode, arrivals, err[0] if err else ""


def lags(arrivals):
    c = min(t - k / FPS for t, k in arrivals)
    return [(t - k / FPS - c) * FPS for t, k in arrivals]


if shutil.which("ffmpeg") is None:
    print("SKIP cli_live: no ffmpeg command (scripts/install-deps.sh --test installs it)")
    finish()

# live (the default for tcp://): 4 s of stream at 30 frames/s, processed at 5 frames/s
rc, arr, err = stream(4, ["--max-fps", "5"])
ids = [k for _, k in arr]
lag = lags(arr)
m = re.search(r"(\d+) frames \((\d+) errors, (\d+) dropped to stay live\)", err)
check(rc == 0, "live run exits 0 (%d): %s" % (rc, err[-300:]))
check(len(ids) >= 10, "live: %d frames processed" % len(ids))
check(ids == sorted(set(ids)), "live: frame ids increase")
check(ids and ids[-1] >= 4 * FPS - 20, "live: reached the end of the stream (last frame %s)" % (ids[-1:] or None))
check(max(lag) <= 8, "live: every line within a few frames of the stream (worst %.1f frames; %s)" %
      (max(lag), " ".join("%.1f" % x for x in lag)))
check(m is not None and int(m.group(3)) > 60, "live: the dropped frames are counted: %s" % (m.group(0) if m else err[-200:]))
if m:
    check(int(m.group(1)) + int(m.group(3)) >= ids[-1] + 1 - 5,
          "live: processed + dropped covers the stream (%s + %s vs %d)" % (m.group(1), m.group(3), ids[-1] + 1))

# --no-live: every frame, in order, at 10 frames/s, so it falls behind the 30 frames/s stream
rc, arr, err = stream(3, ["--no-live", "--max-fps", "10", "--max-frames", "30"])
ids = [k for _, k in arr]
lag = lags(arr)
check(rc == 0, "no-live run exits 0 (%d): %s" % (rc, err[-300:]))
check(ids == list(range(30)), "--no-live: every frame 0..29 processed (%s)" % ids[:40])
check(lag and lag[-1] > 20, "--no-live: falls behind the stream (last line %.0f frames late)" % (lag[-1] if lag else -1))
check("dropped" not in err, "--no-live: nothing dropped")

finish()
