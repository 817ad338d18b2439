#!/usr/bin/python3
"""diff_video_damage.py - frame numbers across damaged data, against the real cv2.

The sample clip (example_video.mp4: H.264 with B-frames, keyframes every 91 frames) is
damaged by zeroing a region of its media data. cv2.VideoCapture reads such a file up to the
first packet the decoder rejects and stops (or, where the decoder conceals the damage,
returns damaged frames silently); rfseg reports damaged frames as errors and goes on.
ffprobe's packet table tells which packets the zeroed bytes hit. Checked, for several
damaged regions and decoder thread counts (tests/tools/video_ids prints every frame with the
number rfs_video_frame_index gives it):

  - every frame decoded entirely before the first damaged packet (decode order) is there
    under its own number and equals cv2's frame of that number from the same damaged file
    (cv2's count, CAP_PROP_POS_FRAMES - 1), or the clean clip's where cv2 stopped first;
  - every frame from the first keyframe after the damage to the end is there under its own
    number and equals cv2's frame of that number (the same bytes: cv2 on the damaged file
    where it got that far, else on the clean clip), so no frame is shifted and the last
    numbers are not lost;
  - no frame anywhere equals the clean clip's frame of another number, numbers increase,
    at least one error is reported, and the end index is the clip's 431 frames.
"""
import os, subprocess, sys, tempfile

import cv2
import numpy as np

SHARED = os.environ.get("RFS_SHARED", os.path.join(os.path.dirname(__file__), "..", "..", "shared"))
BUILD = os.environ.get("RFS_BUILD", "build")
TOOL = os.path.join(BUILD, "tests", "video_ids")
VIDEO = os.path.join(SHARED, "videos", "example_video.mp4")
failures = []
passed = 0


def fail(msg):
    failures.append(msg)
    print("FAIL " + msg)


def rfseg_frames(path, *flags):
    out = subprocess.run([TOOL, *flags, path], capture_output=True, check=True).stdout
    pos, recs, end = 0, [], None
    while pos < len(out):
        nl = out.index(b"\n", pos)
        line = out[pos:nl].decode(errors="replace").split(" ", 3)
        pos = nl + 1
        if line[0] == "F":
            i, w, h = int(line[1]), int(line[2]), int(line[3])
            recs.append(("F", i, np.frombuffer(out[pos:pos + w * h * 3], np.uint8).reshape(h, w, 3)))
            pos += w * h * 3
        elif line[0] == "E":
            recs.append(("E", int(line[1]), line[3] if len(line) > 3 else ""))
        elif line[0] == "END":
            end = int(line[1])
        elif line[0] == "ERR":
            raise RuntimeError(" ".join(line))
    return recs, end


def cv2_frames(path, start=None):
    cap = cv2.VideoCapture(path, cv2.CAP_FFMPEG)
    if start is not None:
        cap.set(cv2.CAP_PROP_POS_FRAMES, start)
    frames = {}
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames[int(cap.get(cv2.CAP_PROP_POS_FRAMES)) - 1] = f
    return frames


def packets(path):
    """(pts, dts, pos, size, keyframe) of every video packet."""
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v", "-show_entries",
                          "packet=pts,dts,pos,size,flags", "-of", "csv=p=0", path],
                         capture_output=True, text=True, check=True).stdout
    rows = []
    for line in out.split():
        pts, dts, size, pos, flags = line.split(",")[:5]
        rows.append((int(pts), int(dts), int(pos), int(size), "K" in flags))
    return rows


def check(label, path, lo, hi, orig, pkts, flags):
    global passed
    recs, end = rfseg_frames(path, *flags)
    good = [(r[1], r[2]) for r in recs if r[0] == "F"]
    errors = [r for r in recs if r[0] == "E"]
    ids = [i for i, _ in good]
    mine = dict(good)
    cv = cv2_frames(path)
    hit = [p for p in pkts if p[2] < hi and p[2] + p[3] > lo]
    first_dts, last_dts = min(p[1] for p in hit), max(p[1] for p in hit)
    before = sorted(p[0] for p in pkts if p[1] < first_dts)
    key = min((p for p in pkts if p[4] and p[1] > last_dts), default=None)
    after = list(range(key[0], len(orig))) if key else []
    bad = 0
    def expect(k, what):
        nonlocal bad
        ref = cv.get(k, orig[k])
        if k not in mine or not np.array_equal(mine[k], ref):
            fail("%s: frame %d %s %s" % (label, k, what, "missing" if k not in mine else "differs from cv2's"))
            bad += 1
            return False
        return True
    if ids != sorted(set(ids)):
        fail("%s: frame numbers not increasing" % label)
        bad += 1
    # A frame lost must be reported; damage the decoder conceals (every frame delivered,
    # as small damage may be, depending on the frame threads' timing) need not be.
    if not errors and len(good) < len(orig):
        fail("%s: frames lost without an error reported" % label)
        bad += 1
    if end != len(orig):
        fail("%s: end index %s, the clip has %d frames" % (label, end, len(orig)))
        bad += 1
    for k in before:
        if not expect(k, "before the damage"):
            break
    for k in after:
        if not expect(k, "after the damage"):
            break
    lookup = {f.tobytes(): j for j, f in orig.items()}
    for i, f in good:
        j = lookup.get(f.tobytes())
        if j is not None and j != i:
            fail("%s: frame numbered %d is the clip's frame %d" % (label, i, j))
            bad += 1
            break
    lost = sorted(set(range(len(orig))) - set(ids))
    print("  %-40s %2d packets hit; cv2 %3d frames; rfseg %3d frames, %2d errors, %2d numbers unused (%s); "
          "%3d before and %3d after the damage equal cv2's" %
          (label, len(hit), len(cv), len(good), len(errors), len(lost),
           "%d..%d" % (lost[0], lost[-1]) if lost else "-", len(before), len(after)))
    if not bad:
        passed += 1


def main():
    for p in (TOOL, VIDEO):
        if not os.path.exists(p):
            print("missing %s" % p)
            return 1
    data = open(VIDEO, "rb").read()
    orig = cv2_frames(VIDEO)
    pkts = packets(VIDEO)
    if len(orig) != 431 or len(pkts) != 431:
        fail("cv2 reads %d frames, ffprobe lists %d packets of the clean clip" % (len(orig), len(pkts)))
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        # (offset as a fraction of the file, bytes zeroed)
        for frac, size in ((0.5, 16384), (0.45, 4096), (0.6, 65536), (0.3, 1024), (0.8, 300)):
            d = bytearray(data)
            at = int(len(d) * frac)
            d[at:at + size] = bytes(size)
            path = os.path.join(tmp, "damaged_%d_%d.mp4" % (at, size))
            open(path, "wb").write(bytes(d))
            for flags in ((), ("--threads", "1")):
                check("zeroed %d bytes at %d%s" % (size, at, " threads=1" if flags else ""), path, at, at + size,
                      orig, pkts, flags)
    print("%d passed, %d failed" % (passed, len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
