#!/usr/bin/python3
"""diff_packages: Roboflow model packages through `rfseg predict`, against tests/roboflow_ref.py.

A package is a directory with weights.pth, class_names.txt and inference_config.json
(docs/roboflow.md 5.3). Packages are built here from the fixtures tiny-w1 (R 96, 6 logits,
24x24 masks) and tiny-w2 (R 144, 8 logits, 36x36 masks), and from "mix", a tiny-w1 whose final
class head is replaced (fixed seed) so that the argmax class differs between queries (in the
fixtures one class wins every query).

Positive packages: 18 pre-processing set-ups ("geos"): every resize mode (stretch, letterbox,
center-crop; also the aliases fit-longer-edge -> stretch and letterbox-reflect-edges ->
letterbox) x static crop on / off x grayscale on / off on tiny-w1, a few more on tiny-w2 and
mix; padding values 114, 127, 0, null and absent; static crops with a non-zero offset, one whose
percentages hit int(pct / 100 * n) != pct * n // 100, and one with a zero offset. Each geo
is combined with several class lists (`VARIANTS`): plain names, the placeholder
"background_class83422" at index 0 and removed, at other indices and removed (for the
fixtures the index of the class that wins every query, so every query is dropped unless
rfseg re-ranks), more names than logits with two removals, the placeholder kept (no
class_names_operations), a removal of a name that is not there.

Frames (lossless PNG): the four fixtures, two example_video.mp4 frames, and made-up sizes that
make letterbox and center-crop pad and crop in both directions and round pads both ways:
61x37, 47x30 (int(47 * 96/47) = 95), 200x41, 45x151, 96x96, 97x95, 116x108 (center-crop pads
-10 and -6: -2.5 and -1.5 mask cells), 294x200, 519x300 (int(519 * 144/519) = 143), 143x145,
7x5, 100x200, 333x211 and a one-channel PNG.

1. Per geo and frame, `rfseg predict --model PKG --raw-out RAW IMG` (class list and mask
   format rotating over the frames): RAW's `input` must equal, bit for bit, the reference
   pre-processing of the frame (static crop, grayscale, resize mode, normalisation), and the
   JSON must equal the reference post-processing of RAW's outputs mapped back through the
   frame's metadata (pads, scale, static-crop offset) with the package's class list, except
   inference_id, time and detection_id, with all of diff_roboflow.py's JSON checks.
2. Per geo, a multi-image call with a package that removes the placeholder, on all the geo's
   frames, against the reference from step 1's raw tensors. Steps 1 and 2 together compare,
   for every resize mode x static crop x grayscale, both mask formats with and without a
   removed class on frames with detections (checked, and printed as a table).
3. Packages rfseg must refuse (contrast, bgr networks, other normalisation or scaling, a
   training_input_size other than the checkpoint's resolution, unknown resize_mode, the
   two-step resize, input_channels != 3, unknown class_names_operations, malformed or
   non-object JSON, no / unreadable weights, no class names, incomplete static crop): exit
   status 1 or 2, nothing on stdout, one message on stderr naming the problem.

Deterministic, no network; OMP_NUM_THREADS=1 for rfseg; two rfseg processes at a time.
"""
import concurrent.futures
import json
import os
import resource
import subprocess
import sys
import tempfile

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import roboflow_ref as ref  # noqa: E402
import diff_roboflow as dr  # noqa: E402  (rfseg runner, JSON checks, safetensors helpers)

SHARED, RFSEG, ROOT = dr.SHARED, dr.RFSEG, dr.ROOT
BG = "background_class83422"
IMAGENET = [[0.485, 0.456, 0.406], [0.229, 0.224, 0.225]]
CROP_A = (10, 5, 90, 95)
CROP_B = (41, 29, 82, 57)     # int(29/100*400) = 115, int(57/100*300) = 170, int(41/100*600) = 245 ...
CROP_Z = (0, 0, 69, 58)       # zero offset: masks still have the original frame's size (2.2 step 7)

# made-up frames: name -> (W, H, source). Sources: fixture names, "video0" / "video1".
SYNTH = {
    "s61x37": (61, 37, "video0"), "s47x30": (47, 30, "chelsea"), "w200x41": (200, 41, "coffee"),
    "t45x151": (45, 151, "rocket"), "e96x96": (96, 96, "astronaut"), "o97x95": (97, 95, "video1"),
    "l294x200": (294, 200, "chelsea"), "l519x300": (519, 300, "coffee"),
    "o143x145": (143, 145, "astronaut"), "t7x5": (7, 5, "video0"), "p100x200": (100, 200, "rocket"),
    "n116x108": (116, 108, "chelsea"),
    "l333x211": (333, 211, "video1"),
}
GRAY_FRAME = "g61x45"         # written as a one-channel PNG (decoders give B = G = R)
FIXTURES = ["astronaut", "chelsea", "coffee", "rocket"]
VIDEO_FRAMES = {"video0": 0, "video1": 220}

# class lists: (names, removed or None (no class_names_operations), threshold override, line end)
VARIANTS_K6 = {
    "plain": (["cat", "dog", "traffic light", 'o"k', "caf\u00e9"], None, None, "\n"),
    "bg0": ([BG, "cat", "dog", "traffic light", "caf\u00e9"], [BG], None, "\n"),
    "bgmid": (["cat", BG, "dog", BG, "eel"], [BG], "0.3", "\n"),   # index 1 wins in tiny-w1
    "bg0full": ([BG, "cat", "dog", "bird", "back\\slash", "eel"], [BG], None, "\r\n"),
    "bgkept": ([BG, "cat", "dog", "bird", "eel"], None, None, "\n"),
    "long2": (["cat", "dog", "bird", BG, "eel", "fox", "gnu", "hen"], [BG, "cat"], None, "\n"),
    "noop": (["cat", "dog", "bird", "eel", "fox"], [BG], None, "\n"),
}
VARIANTS_K8 = {
    "plain": (["c0", "c1", "c2", "c3", "c4", "c5", "c6"], None, None, "\n"),
    "bg0": ([BG, "c1", "c2", "c3", "c4", "c5", "c6"], [BG], None, "\n"),
    "bgmid": (["c0", "c1", "c2", "c3", "c4", BG, "c6"], [BG], "0.15", "\n"),  # index 5 wins in tiny-w2
    "bg0full": ([BG, "c1", "c2", "c3", "c4", "c5", "c6", "c7"], [BG], None, "\r\n"),
    "bgkept": ([BG, "c1", "c2", "c3", "c4", "c5", "c6"], None, None, "\n"),
    "long2": (["c0", "c1", BG, "c3", "c4", "c5", "c6", "c7", "c8", BG], [BG, "c4"], None, "\n"),
    "noop": (["c0", "c1", "c2", "c3", "c4", "c5", "c6"], [BG], None, "\n"),
}
NOT_REMOVING = ("plain", "bgkept", "noop")
RICH_REMOVING = ("bg0", "bg0full", "long2")   # removals that leave detections
RAW_ROTATION = ("plain", "bg0", "bgkept", "bgmid", "noop", "bg0full", "long2")

# model: (checkpoint key, R, default threshold, variants)
MODELS = {"w1": (96, "0.5", VARIANTS_K6), "w2": (144, "0.4", VARIANTS_K8), "mix": (96, "0.45", VARIANTS_K6)}

G = GRAY_FRAME
# geos: (model, resize_mode as written, padding_value ("absent" = no key, None = null), static crop,
#        grayscale, frames ("FIX" / "VID": a fixture / video frame chosen by the geo's index),
#        flags: "crop_off_key" / "gray_off_key" write the entry with enabled false)
GEOS = [
    ("w1", "stretch", "absent", None, False, ["FIX", "VID", "p100x200", "t7x5"], ()),
    ("w1", "stretch", "absent", CROP_A, True, ["FIX", "p100x200", "l333x211", G], ()),
    ("w1", "fit-longer-edge", "absent", CROP_B, False, ["FIX", "p100x200", "l333x211", "t7x5"],
     ("gray_off_key",)),
    ("w1", "stretch", "absent", None, True, ["FIX", G, "t7x5", "p100x200"], ("crop_off_key",)),
    ("w1", "letterbox", 114, None, False, ["s61x37", "FIX", "s47x30", "l294x200"], ()),
    ("w1", "letterbox-reflect-edges", None, CROP_A, False, ["s61x37", "FIX", "w200x41", "t7x5"],
     ("gray_off_key",)),
    ("w1", "letterbox", 0, None, True, ["s61x37", "FIX", "w200x41", "s47x30"], ("crop_off_key",)),
    ("w1", "letterbox", 127, CROP_B, True, ["s61x37", "FIX", "t45x151", "t7x5"], ()),
    ("w1", "center-crop", "absent", None, False, ["s61x37", "FIX", "e96x96", "t7x5", "n116x108"], ()),
    ("w1", "center-crop", 114, CROP_A, False, ["FIX", "n116x108", "w200x41", "o97x95"], ()),
    ("w1", "center-crop", "absent", None, True, ["s61x37", "FIX", "t45x151", G], ("crop_off_key",)),
    ("w1", "center-crop", "absent", CROP_Z, True, ["FIX", "n116x108", "t45x151", "o97x95"], ()),
    ("w2", "letterbox", 114, CROP_A, True, ["FIX", "l519x300", "o143x145", "s61x37"], ()),
    ("w2", "center-crop", "absent", CROP_B, False, ["FIX", "VID", "o143x145", "w200x41"], ()),
    ("w2", "stretch", "absent", CROP_Z, False, ["FIX", "p100x200", "l333x211", "VID"], ()),
    ("mix", "letterbox", 114, CROP_A, False, ["FIX", "VID", "s61x37", "t45x151"], ()),
    ("mix", "center-crop", "absent", None, True, ["FIX", "s61x37", "w200x41", "o97x95"], ()),
    ("mix", "stretch", "absent", None, False, ["FIX", "VID", "p100x200", "t7x5"], ()),
]
CANONICAL_MODE = {"stretch": "stretch", "fit-longer-edge": "stretch", "letterbox": "letterbox",
                  "letterbox-reflect-edges": "letterbox", "center-crop": "center-crop"}

fail = dr.fail
coverage = {}       # (mode, crop, gray, removal, fmt) -> [lines, detections, passing lines with detections]
extra = {"input_checks": 0, "input_values": 0, "input_bad": 0, "input_bad_gray": 0, "input_gray": 0,
         "removed_argmax": 0, "removed_second_above": 0, "negative": 0, "pad_halves": set(), "neg_pads": 0,
         "lb_short": 0, "pct_rounding": 0}


# ---- frames -----------------------------------------------------------------------------------

def make_frames(tmp):
    """{name: (path, bgr as cv2.imread(IMREAD_COLOR) returns it)}."""
    frames, src = {}, {}
    for n in FIXTURES:
        p = os.path.join(SHARED, "fixtures", "images", n + ".png")
        img = cv2.imread(p, cv2.IMREAD_COLOR)
        if img is None:
            fail("cannot read fixture %s" % p)
            continue
        frames[n] = src[n] = (p, img)
    cap = cv2.VideoCapture(os.path.join(SHARED, "videos", "example_video.mp4"))
    want = {v: k for k, v in VIDEO_FRAMES.items()}
    i = 0
    while len(src) < len(FIXTURES) + len(VIDEO_FRAMES):
        ok, img = cap.read()
        if not ok:
            fail("example_video.mp4: only %d frames read" % i)
            break
        if i in want:
            p = os.path.join(tmp, "%s.png" % want[i])
            cv2.imwrite(p, img)
            frames[want[i]] = src[want[i]] = (p, img)
        i += 1
    cap.release()
    for name, (W, H, s) in SYNTH.items():
        if s not in src:
            continue
        img = cv2.resize(src[s][1], (W, H), interpolation=cv2.INTER_AREA)
        p = os.path.join(tmp, name + ".png")
        cv2.imwrite(p, img)
        frames[name] = (p, img)
    if "video0" in src:
        g = cv2.cvtColor(cv2.resize(src["video0"][1], (61, 45), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2GRAY)
        p = os.path.join(tmp, GRAY_FRAME + ".png")
        cv2.imwrite(p, g)
        frames[GRAY_FRAME] = (p, cv2.imread(p, cv2.IMREAD_COLOR))
    return frames


# ---- models and packages ------------------------------------------------------------------------

def make_models(tmp):
    """{key: checkpoint path}: the two fixtures and "mix" (tiny-w1, `rfseg convert`ed, with a
    new final class head: random rows at the scale of the old ones, equal biases)."""
    out = {"w1": os.path.join(SHARED, "fixtures", "rfdetr", "tiny-w1.pth"),
           "w2": os.path.join(SHARED, "fixtures", "rfdetr", "tiny-w2.pth")}
    conv = os.path.join(tmp, "tiny-w1.safetensors")
    p = subprocess.run([RFSEG, "convert", out["w1"], conv], cwd=ROOT, capture_output=True, text=True,
                       env=dict(os.environ, OMP_NUM_THREADS="1"))
    if p.returncode != 0:
        fail("rfseg convert: exit %d: %s" % (p.returncode, p.stderr.strip()[-300:]))
        return out
    meta, t = dr.read_st(conv)
    rng = np.random.default_rng(7031)
    w, b = t["class_embed.weight"], t["class_embed.bias"]
    t = dict(t)
    t["class_embed.weight"] = (rng.standard_normal(w.shape) * w.std() * 3).astype(np.float32)
    t["class_embed.bias"] = np.full(b.shape, np.float32(b.max() - 0.3), dtype=np.float32)
    out["mix"] = os.path.join(tmp, "tiny-w1-mix.safetensors")
    dr.write_st(out["mix"], meta, t)
    return out


def inference_config(geo, R, removed):
    _, mode, pad, crop, gray, _, flags = geo
    pre = {"auto-orient": {"enabled": True}}
    if crop is not None:
        pre["static-crop"] = {"enabled": True, "x_min": crop[0], "y_min": crop[1], "x_max": crop[2], "y_max": crop[3]}
    elif "crop_off_key" in flags:
        pre["static-crop"] = {"enabled": False, "x_min": 30, "y_min": 30, "x_max": 60, "y_max": 60}
    if gray:
        pre["grayscale"] = {"enabled": True}
    elif "gray_off_key" in flags:
        pre["grayscale"] = {"enabled": False}
    pre["contrast"] = {"enabled": False, "type": "Adaptive Equalization"}
    net = {"training_input_size": {"height": R, "width": R}, "dynamic_spatial_size_supported": False,
           "color_mode": "rgb", "resize_mode": mode, "input_channels": 3, "scaling_factor": 255,
           "normalization": IMAGENET}
    if pad != "absent":
        net["padding_value"] = pad
    cfg = {"image_pre_processing": pre, "network_input": net, "forward_pass": {"static_batch_size": 1},
           "post_processing": {"type": "sigmoid"}}
    if removed is not None:
        cfg["class_names_operations"] = [{"type": "class_name_removal", "class_name": n} for n in removed]
    return cfg


def write_package(path, weights, cfg, names, eol="\n"):
    os.makedirs(path)
    if weights is not None:
        os.symlink(weights, os.path.join(path, "weights.pth"))
    if names is not None:
        with open(os.path.join(path, "class_names.txt"), "w", encoding="utf-8", newline="") as fh:
            fh.write(eol.join(names) + eol)
    if cfg is not None:
        with open(os.path.join(path, "inference_config.json"), "w", encoding="utf-8") as fh:
            fh.write(cfg if isinstance(cfg, str) else json.dumps(cfg, indent=1, ensure_ascii=False))


def ref_config(geo):
    _, mode, pad, crop, gray, _, _ = geo
    return ref.PackageConfig(CANONICAL_MODE[mode], None if pad == "absent" else pad, crop, gray)


# ---- negative packages ----------------------------------------------------------------------------

def negative_cases(w1, R):
    """[(name, weights or None, config (dict or text), class names, [keywords stderr must contain])]."""
    base = inference_config(("w1", "stretch", "absent", None, False, [], ()), R, [BG])
    names = [BG, "cat", "dog", "bird", "eel"]

    def mod(fn):
        c = json.loads(json.dumps(base))
        fn(c)
        return c

    def setnet(k, v):
        return mod(lambda c: c["network_input"].__setitem__(k, v))

    return [
        ("contrast adaptive", w1, mod(lambda c: c["image_pre_processing"].__setitem__(
            "contrast", {"enabled": True, "type": "Adaptive Equalization"})), names, ["contrast"]),
        ("color_mode bgr", w1, setnet("color_mode", "bgr"), names, ["color_mode", "bgr"]),
        ("normalization 0.5", w1, setnet("normalization", [[0.5, 0.5, 0.5], [0.5, 0.5, 0.5]]), names,
         ["normalization"]),
        ("normalization one row", w1, setnet("normalization", [IMAGENET[0]]), names, ["normalization"]),
        ("scaling_factor 1", w1, setnet("scaling_factor", 1), names, ["scaling_factor"]),
        ("training_input_size 128", w1, setnet("training_input_size", {"height": 128, "width": 128}), names,
         ["training_input_size"]),
        ("training_input_size 96x144", w1, setnet("training_input_size", {"height": R, "width": 144}), names,
         ["training_input_size"]),
        ("resize_mode fit-shorter-edge", w1, setnet("resize_mode", "fit-shorter-edge"), names, ["resize_mode"]),
        ("two-step resize", w1, mod(lambda c: c["network_input"].update(
            resize_mode="letterbox", dataset_version_resize_dimensions={"height": 60, "width": 100})), names,
         ["dataset_version_resize_dimensions"]),
        ("input_channels 1", w1, setnet("input_channels", 1), names, ["input_channels"]),
        ("class_names_operations rename", w1, mod(lambda c: c.__setitem__(
            "class_names_operations", [{"type": "class_name_rename", "class_name": BG}])), names,
         ["class_names_operations"]),
        ("static-crop without x_max", w1, mod(lambda c: c["image_pre_processing"].__setitem__(
            "static-crop", {"enabled": True, "x_min": 10, "y_min": 10, "y_max": 90})), names, ["static-crop"]),
        ("malformed JSON", w1, json.dumps(base)[:-7], names, ["inference_config.json"]),
        ("JSON array", w1, "[1, 2, 3]", names, ["inference_config.json"]),
        ("missing weights", None, base, names, ["weights"]),
        ("weights not a checkpoint", "garbage", base, names, ["weights.pth"]),
        ("empty class_names.txt", w1, base, [], ["class_names.txt"]),
    ]


def run_negative(tmp, w1, R, frame_path, pool):
    futs = []
    for i, (name, weights, cfg, names, keys) in enumerate(negative_cases(w1, R)):
        path = os.path.join(tmp, "neg_%02d" % i)
        if weights == "garbage":
            write_package(path, None, cfg, names)
            with open(os.path.join(path, "weights.pth"), "wb") as fh:
                fh.write(b"PK\x03\x04 this is not a checkpoint" * 8)
        else:
            write_package(path, weights, cfg, names)
        if not names:
            with open(os.path.join(path, "class_names.txt"), "w") as fh:
                fh.write("\n\n")
        futs.append((name, path, keys, pool.submit(dr.rfseg, ["--model", path, "--confidence", "0.5", frame_path])))
    return futs


def check_negative(futs):
    msgs = []
    for name, path, keys, fut in futs:
        p = fut.result()
        dr.counts["calls"] += 1
        extra["negative"] += 1
        err = p.stderr.strip()
        where = "negative package '%s'" % name
        if p.returncode not in (1, 2):
            fail("%s: exit status %d, expected 1 or 2 (stderr %r)" % (where, p.returncode, err[-300:]))
        if p.stdout.strip():
            fail("%s: printed %d bytes on stdout: %.200r" % (where, len(p.stdout), p.stdout))
        if not err:
            fail("%s: no message on stderr" % where)
            continue
        lines = err.splitlines()
        if len(lines) != 1:
            fail("%s: %d lines on stderr, expected one message: %r" % (where, len(lines), err[-400:]))
        low = err.lower()
        missing = [k for k in keys if k.lower() not in low]
        if missing:
            fail("%s: message does not name %s: %r" % (where, missing, err[-300:]))
        if os.path.basename(path) not in err:
            fail("%s: message does not name the package (%s): %r" % (where, path, err[-300:]))
        msgs.append("  %-30s %s" % (name, lines[-1].replace(os.path.dirname(path) + os.sep, "")[:160]))
    return msgs


# ---- main ---------------------------------------------------------------------------------------

def combo_key(geo, variant_removes, fmt):
    _, mode, _, crop, gray, _, _ = geo
    return (CANONICAL_MODE[mode], crop is not None, bool(gray), variant_removes, fmt)


def note_geometry(geo, meta, R, masks_side):
    """Statistics: pads that hit a .5 when scaled to the mask grid, negative pads, letterbox
    sizes one short of R (int(W * R / W) = R - 1), static crops where int(pct / 100 * n)
    differs from pct * n // 100."""
    s = masks_side / R
    for p in (meta.pad_left, meta.pad_top, meta.pad_right, meta.pad_bottom):
        if (s * p) % 1 == 0.5:
            extra["pad_halves"].add(p)
        extra["neg_pads"] += p < 0
    if CANONICAL_MODE[geo[1]] == "letterbox":
        extra["lb_short"] += (meta.pad_left + meta.pad_right == 1) or (meta.pad_top + meta.pad_bottom == 1)
    if geo[3] is not None:
        W, H = meta.original_size
        extra["pct_rounding"] += any(int(p / 100 * n) != p * n // 100 for p, n in zip(geo[3], (W, H, W, H)))


def input_mismatch(where, meta, got, want):
    """Reports a network input that differs from the reference, with the values de-normalised
    to the 0..255 scale (x * std + mean) * 255 so that an off-by-one pixel shows as such."""
    bad = np.argwhere(want.view(np.uint32) != got.view(np.uint32))
    c, y, x = (int(v) for v in bad[0])

    def level(v):
        return float(v) * float(ref.STD[c]) * 255 + float(ref.MEAN[c]) * 255

    fail("%s: network input differs from the reference pre-processing (%s) in %d of %d values (%d pixels); "
         "first at (c, y, x) = (%d, %d, %d): got %r (level %.2f), expected %r (level %.2f)"
         % (where, meta, len(bad), want.size, len({(int(a), int(b)) for _, a, b in bad}), c, y, x,
            float(got[c, y, x]), level(got[c, y, x]), float(want[c, y, x]), level(want[c, y, x])))


def tally(geo, names, removed, r, fmt, T, exp, ok):
    """Counts a compared line for the coverage table and the removal statistics."""
    rem = removed is not None and any(n in removed for n in names)
    c = coverage.setdefault(combo_key(geo, rem, fmt), [0, 0, 0])
    c[0] += 1
    c[1] += len(exp["predictions"])
    c[2] += ok and len(exp["predictions"]) > 0
    n, above = r.count_removed(T)
    extra["removed_argmax"] += n
    extra["removed_second_above"] += above



def main():
    for key in ("w1", "w2"):
        p = os.path.join(SHARED, "fixtures", "rfdetr", "tiny-%s.pth" % key)
        if not os.path.isfile(p):
            fail("missing fixture %s" % p)
    if not os.access(RFSEG, os.X_OK):
        fail("missing %s (run make)" % RFSEG)
    if dr.failures:
        return 1
    with tempfile.TemporaryDirectory(prefix="diff_packages_") as tmp:
        frames = make_frames(tmp)
        ckpt = make_models(tmp)
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=2)
        neg = run_negative(tmp, ckpt["w1"], MODELS["w1"][0], frames["chelsea"][0], pool)

        # packages: one directory per (geo, class list) used
        pkgs = {}

        def package(gi, vname):
            if (gi, vname) not in pkgs:
                geo = GEOS[gi]
                R, _, variants = MODELS[geo[0]]
                names, removed, _, eol = variants[vname]
                path = os.path.join(tmp, "pkg_%02d_%s" % (gi, vname))
                write_package(path, ckpt[geo[0]], inference_config(geo, R, removed), names, eol)
                pkgs[(gi, vname)] = path
            return pkgs[(gi, vname)]

        def threshold(geo, vname):
            return MODELS[geo[0]][2][vname][2] or MODELS[geo[0]][1]

        geo_frames = []
        for gi, geo in enumerate(GEOS):
            if geo[0] not in ckpt:
                continue
            fl = []
            for f in geo[5]:
                if f == "FIX":
                    f = FIXTURES[gi % len(FIXTURES)]
                elif f == "VID":
                    f = sorted(VIDEO_FRAMES)[gi % len(VIDEO_FRAMES)]
                if f in frames:
                    fl.append(f)
            geo_frames.append((gi, fl))

        # step 1: one image per call with --raw-out. Per geo: two class lists that remove
        # nothing (one per format), the one that removes the class winning in the fixtures, a
        # removal that leaves detections in the format step 2 does not use, then rotating.
        step1 = []
        for gi, fl in geo_frames:
            geo = GEOS[gi]
            for j, f in enumerate(fl):
                fmt = ("polygon", "rle")[(gi + j) % 2]
                if j < 2:
                    vname = NOT_REMOVING[(gi + j) % len(NOT_REMOVING)]
                elif j == 2:
                    vname = "bgmid"
                elif j == 3:
                    vname = RICH_REMOVING[gi % len(RICH_REMOVING)]
                    fmt = ("polygon", "rle")[gi % 2]
                else:
                    vname = RAW_ROTATION[(gi + j) % len(RAW_ROTATION)]
                raw = os.path.join(tmp, "raw_%02d_%s.safetensors" % (gi, f))
                T = threshold(geo, vname)
                args = ["--model", package(gi, vname), "--confidence", T, "--format", fmt, "--raw-out", raw,
                        frames[f][0]]
                step1.append((gi, f, vname, fmt, T, raw, pool.submit(dr.rfseg, args)))
        # step 2: one multi-image call per geo with a removing class list, in the other format
        step2 = []
        for gi, fl in geo_frames:
            geo = GEOS[gi]
            for fmt in (("rle", "polygon")[gi % 2],):
                vname = RICH_REMOVING[(gi + 1) % len(RICH_REMOVING)]
                T = threshold(geo, vname)
                args = ["--model", package(gi, vname), "--confidence", T, "--format", fmt] + [frames[f][0] for f in fl]
                step2.append((gi, fl, vname, fmt, T, pool.submit(dr.rfseg, args)))

        refs = {}
        for gi, f, vname, fmt, T, raw, fut in step1:
            geo = GEOS[gi]
            R, _, variants = MODELS[geo[0]]
            names, removed, _, _ = variants[vname]
            where = "geo %d (%s %s pad=%s crop=%s gray=%s) %s [%s] T=%s %s" % (
                gi, geo[0], geo[1], geo[2], geo[3], geo[4], f, vname, T, fmt)
            lines = dr.check_call(fut.result(), 1, where)
            if lines is None:
                continue
            try:
                tensors, _ = ref.read_safetensors(raw)
            except (OSError, ValueError, KeyError) as e:
                fail("%s: raw-out unreadable: %s" % (where, e))
                continue
            bgr = frames[f][1]
            try:
                want, meta = ref.preprocess_package(bgr, R, ref_config(geo))
            except ValueError as e:
                fail("%s: test set-up: %s" % (where, e))
                continue
            got = tensors["input"][0]
            extra["input_checks"] += 1
            extra["input_gray"] += bool(geo[4])
            extra["input_values"] += want.size
            if got.shape != want.shape:
                fail("%s: network input of shape %s, expected %s" % (where, got.shape, want.shape))
                continue
            if not np.array_equal(want.view(np.uint32), got.view(np.uint32)):
                input_mismatch(where, meta, got, want)
                extra["input_bad"] += 1
                extra["input_bad_gray"] += bool(geo[4])
            # the JSON is compared in any case: post-processing is checked on rfseg's own outputs
            note_geometry(geo, meta, R, tensors["pred_masks"].shape[-1])
            r = ref.Reference(tensors, bgr.shape[1], bgr.shape[0], names, meta, removed)
            refs[(gi, f)] = r
            exp = r.response(T, fmt)
            before = len(dr.failures)
            dr.compare(lines[0], fmt, exp, where + " " + repr(meta))
            tally(geo, names, removed, r, fmt, T, exp, ok=len(dr.failures) == before)

        for gi, fl, vname, fmt, T, fut in step2:
            geo = GEOS[gi]
            names, removed, _, _ = MODELS[geo[0]][2][vname]
            where = "geo %d (%s %s pad=%s crop=%s gray=%s) [%s] T=%s %s (multi-image)" % (
                gi, geo[0], geo[1], geo[2], geo[3], geo[4], vname, T, fmt)
            lines = dr.check_call(fut.result(), len(fl), where)
            if lines is None:
                continue
            for f, line in zip(fl, lines):
                r = refs.get((gi, f))
                if r is None:
                    continue
                r.set_classes(names, removed)
                exp = r.response(T, fmt)
                before = len(dr.failures)
                dr.compare(line, fmt, exp, "%s %s %r" % (where, f, r.meta))
                tally(geo, names, removed, r, fmt, T, exp, ok=len(dr.failures) == before)

        neg_msgs = check_negative(neg)
        pool.shutdown()
        n_pkgs = len(pkgs)

    # coverage: every resize mode x static crop x grayscale x removal x format was compared
    missing = []
    for mode in ("stretch", "letterbox", "center-crop"):
        for crop in (False, True):
            for gray in (False, True):
                for rem in (False, True):
                    for fmt in ("polygon", "rle"):
                        c = coverage.get((mode, crop, gray, rem, fmt), [0, 0, 0])
                        if c[2] == 0:
                            missing.append("%s crop=%s gray=%s removal=%s %s (%d lines)" % (
                                mode, crop, gray, rem, fmt, c[0]))
    if missing:
        fail("combinations without a passing comparison with detections: %s" % "; ".join(missing))
    if extra["removed_second_above"] == 0:
        fail("no query whose removed argmax class hides a remaining class above the threshold")
    if dr.unescaped["lines"]:
        fail("%d JSON lines with an unescaped backslash; first: %s" % (dr.unescaped["lines"], dr.unescaped["first"]))

    print("refusals:")
    print("\n".join(neg_msgs))
    print("combinations (mode, static crop, grayscale, removal, format): lines/detections")
    for k in sorted(coverage):
        print("  %-11s crop=%-5s gray=%-5s removal=%-5s %-7s %3d / %4d" % (k + tuple(coverage[k][:2])))
    print("queries dropped because their argmax class was removed: %d (%d of them with a remaining class "
          "above the threshold); pads (pixels) that land on .5 of a mask cell: %s; negative pads: %d; "
          "letterbox frames one pixel short of R: %d; static crops where int(pct/100*n) != pct*n//100: %d"
          % (extra["removed_argmax"], extra["removed_second_above"], sorted(extra["pad_halves"]), extra["neg_pads"],
             extra["lb_short"], extra["pct_rounding"]))
    if extra["input_bad"]:
        print("network inputs that differ from the reference: %d of %d (%d of them with grayscale; %d grayscale "
              "inputs in all)" % (extra["input_bad"], extra["input_checks"], extra["input_bad_gray"],
                                  extra["input_gray"]))
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    summary = ("%d packages (+%d refused), %d rfseg calls, %d network inputs checked (%d values), %d JSON lines "
               "(%d with no detections), %d detections, %d polygon points, %d RLE masks; CPU s: python %.1f, rfseg %.1f"
               % (n_pkgs, extra["negative"], dr.counts["calls"], extra["input_checks"], extra["input_values"],
                  dr.counts["lines"], dr.counts["empty_frames"], dr.counts["detections"], dr.counts["points"],
                  dr.counts["rle"], me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime))
    if dr.failures:
        print("%d failures; %s" % (len(dr.failures), summary))
        return 1
    print("all equal: %s" % summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
