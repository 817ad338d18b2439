"""roboflow_ref: an independent numpy + cv2 post-processor for Roboflow's R1 response.

Written from docs/roboflow.md (sections 2.2, 3, 4) and the antialiased
resize of docs/network.md section 2, not from rfseg's C code. Input: the raw network
outputs that `rfseg predict --raw-out OUT.safetensors` writes (`input` 1x3xRxR,
`pred_logits` 1xQxK, `pred_boxes` 1xQx4 normalised cxcywh, `pred_masks` 1xQx(R/4)x(R/4))
and the original frame size. Output: the dict of
`InstanceSegmentationInferenceResponse.model_dump(by_alias=True, exclude_none=True)` with
placeholders for the three fields that differ per run (inference_id, time, detection_id).

A bare checkpoint gets the stretch resize mode, no static crop and no class remapping. For
Roboflow model packages (docs/roboflow.md 1.2-1.4, 2.2 steps 3-7, 5.3) the pre-processing
is given by a `PackageConfig` (static crop, grayscale, stretch / letterbox / center-crop,
padding value) and `preprocess_package` returns the network input together with the
`Meta` (PreProcessingMetadata) through which boxes and masks are mapped back; class names
and `class_names_operations` removals go through `prepare_class_remapping`. Where the
document leaves a detail open (center-crop offsets) the comment says where it comes from.
Used by tests/diff_roboflow.py and tests/diff_packages.py; Debian's python3 (numpy, cv2).
"""
import json
import struct

import cv2
import numpy as np

f32 = np.float32

# inference_models/models/rfdetr/default_labels.py::COCO_LABELS: 91 entries, "background" at
# ids 0, 12, 26, 29, 30, 45, 66, 68, 69, 71, 83 (docs/roboflow.md 5.3). A checkpoint
# without class names gets these.
COCO_LABELS = [
    "background", "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train",
    "truck", "boat", "traffic light", "fire hydrant", "background", "stop sign",
    "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow", "elephant",
    "bear", "zebra", "giraffe", "background", "backpack", "umbrella", "background",
    "background", "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball",
    "kite", "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket",
    "bottle", "background", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana",
    "apple", "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake",
    "chair", "couch", "potted plant", "bed", "background", "dining table", "background",
    "background", "toilet", "background", "tv", "laptop", "mouse", "remote", "keyboard",
    "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "background", "book",
    "clock", "vase", "scissors", "teddy bear", "hair drier", "toothbrush",
]
assert len(COCO_LABELS) == 91
assert [i for i, n in enumerate(COCO_LABELS) if n == "background"] == [0, 12, 26, 29, 30, 45, 66, 68, 69, 71, 83]

# Placeholders for the per-run fields; the test substitutes rfseg's values after checking them.
ID_PLACEHOLDER = "<uuid4>"
TIME_PLACEHOLDER = "<time>"

MEAN = np.array([0.485, 0.456, 0.406], dtype=f32)
STD = np.array([0.229, 0.224, 0.225], dtype=f32)


def read_safetensors(path):
    """{name: float32 array} and the metadata dict of a safetensors file (F32 tensors only)."""
    with open(path, "rb") as fh:
        data = fh.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", {})
    out = {}
    for name, info in header.items():
        if info["dtype"] != "F32":
            raise ValueError("%s: dtype %s, expected F32" % (name, info["dtype"]))
        a, b = info["data_offsets"]
        arr = np.frombuffer(data, dtype="<f4", count=(b - a) // 4, offset=8 + n + a)
        out[name] = arr.reshape(info["shape"]).astype(f32)
    return out, meta


# ---- pre-processing (1.3, 1.4) -----------------------------------------------------------------

def normalise_r1(hwc_bgr):
    """HxWx3 BGR values (uint8, or the float32 letterbox canvas) -> 3xHxW network input: channel
    flip to RGB, x * float32(1/255) (CUDA divides by a scalar as a multiplication by its
    reciprocal, 1.3 step 4), then (x - mean) / std in float32 (step 5)."""
    rgb = hwc_bgr[:, :, ::-1].astype(f32)
    x = rgb * f32(1.0 / 255.0)
    y = (x - MEAN) / STD
    return np.ascontiguousarray(y.transpose(2, 0, 1))


def preprocess_r1(bgr, R):
    """cv2 INTER_LINEAR stretch, BGR->RGB, x u8 * float32(1/255), (x - mean) / std: 3xRxR."""
    return normalise_r1(cv2.resize(bgr, (R, R), interpolation=cv2.INTER_LINEAR))


class Meta:
    """PreProcessingMetadata (1.3): pads (left, top, right, bottom; negative when center-crop
    crops), original_size and size_after_pre_processing as (W, H), inference_size (W_t, H_t),
    scale_width / scale_height (Python floats), the static-crop offset (x, y)."""

    def __init__(self, pads, original_size, size_after, inference_size, scale_w, scale_h, offset):
        self.pad_left, self.pad_top, self.pad_right, self.pad_bottom = pads
        self.original_size = original_size
        self.size_after = size_after
        self.inference_size = inference_size
        self.scale_width, self.scale_height = scale_w, scale_h
        self.offset = offset

    def __repr__(self):
        return ("Meta(pads=%s, original=%s, after=%s, inference=%s, scale=(%r, %r), offset=%s)"
                % ((self.pad_left, self.pad_top, self.pad_right, self.pad_bottom), self.original_size,
                   self.size_after, self.inference_size, self.scale_width, self.scale_height, self.offset))


def stretch_meta(W, H, R):
    """The metadata of a bare checkpoint's frame: stretch, no static crop."""
    return Meta((0, 0, 0, 0), (W, H), (W, H), (R, R), R / W, R / H, (0, 0))


class PackageConfig:
    """What an inference_config.json says about pre-processing (5.3): resize_mode ("stretch",
    "letterbox", "center-crop"), padding_value (None: absent), static_crop (None or the four
    percentages x_min, y_min, x_max, y_max), grayscale."""

    def __init__(self, resize_mode="stretch", padding_value=None, static_crop=None, grayscale=False):
        self.resize_mode = resize_mode
        self.padding_value = padding_value
        self.static_crop = static_crop
        self.grayscale = grayscale


def static_crop_rect(W, H, pct):
    """apply_static_crop_to_numpy_image (1.4): x_min = int(x_min_pct / 100 * W) etc., in
    Python floats (so 29 / 100 * 400 = 115.99999999999999 gives 115)."""
    x0p, y0p, x1p, y1p = pct
    return (int(x0p / 100 * W), int(y0p / 100 * H), int(x1p / 100 * W), int(y1p / 100 * H))


def grayscale3(bgr):
    """cv2.cvtColor(BGR2GRAY), stacked to three channels (1.4)."""
    g = cv2.cvtColor(np.ascontiguousarray(bgr), cv2.COLOR_BGR2GRAY)
    return np.stack([g] * 3, axis=2)


def preprocess_package(bgr, R, cfg):
    """R1's numpy path for one BGR uint8 frame (1.1, 1.3, 1.4): static crop, grayscale, then
    the resize mode's handler for a square R x R network input. Returns (3xRxR float32 input,
    Meta)."""
    H0, W0 = bgr.shape[:2]
    img, offset = bgr, (0, 0)
    if cfg.static_crop is not None:
        x0, y0, x1, y1 = static_crop_rect(W0, H0, cfg.static_crop)
        img = bgr[y0:y1, x0:x1]  # numpy slicing, as upstream
        offset = (x0, y0)
    if cfg.grayscale:
        img = grayscale3(img)
    H, W = img.shape[:2]
    if W < 1 or H < 1:
        raise ValueError("static crop leaves nothing of a %dx%d frame" % (W0, H0))
    if cfg.resize_mode == "stretch":
        x = normalise_r1(cv2.resize(img, (R, R), interpolation=cv2.INTER_LINEAR))
        return x, Meta((0, 0, 0, 0), (W0, H0), (W, H), (R, R), R / W, R / H, offset)
    if cfg.resize_mode == "letterbox":
        # s = min(W_t/W, H_t/H); new size int(W*s), int(H*s); pads int((T - new)/2), the rest
        # on the right / bottom; float32 canvas filled with `padding_value or 0`.
        s = min(R / W, R / H)
        new_w, new_h = int(W * s), int(H * s)
        pad_top, pad_left = int((R - new_h) / 2), int((R - new_w) / 2)
        small = cv2.resize(img, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
        canvas = np.full((R, R, 3), cfg.padding_value or 0, dtype=f32)
        canvas[pad_top:pad_top + new_h, pad_left:pad_left + new_w] = small
        pads = (pad_left, pad_top, R - pad_left - new_w, R - pad_top - new_h)
        return normalise_r1(canvas), Meta(pads, (W0, H0), (W, H), (R, R), s, s, offset)
    if cfg.resize_mode == "center-crop":
        # 1.4: uint8 zero canvas, the frame centred on it, cropped where larger (pads then
        # reported negative), scale 1.0. The split of an odd difference is not in the document;
        # it is handle_numpy_input_preparation_with_center_crop's: floor(d / 2) on the left /
        # top, the rest on the right / bottom, per axis.
        def axis(n):
            if R > n:
                a = (R - n) // 2
                return (a, R - n - a), (0, n), (a, R - n - a)      # canvas pads, source window, reported
            c = (n - R) // 2
            return (0, 0), (c, c + R), (-c, -(n - R - c))
        (cl, cr), (sx0, sx1), (rl, rr) = axis(W)
        (ct, cb), (sy0, sy1), (rt, rb) = axis(H)
        canvas = np.zeros((R, R, 3), dtype=np.uint8)
        canvas[ct:R - cb, cl:R - cr] = img[sy0:sy1, sx0:sx1]
        return normalise_r1(canvas), Meta((rl, rt, rr, rb), (W0, H0), (W, H), (R, R), 1.0, 1.0, offset)
    raise ValueError("resize mode %r" % cfg.resize_mode)


# ---- selection (2.2 steps 1-5) --------------------------------------------------------------

def sigmoid_f32(x):
    """1 / (1 + expf(-x)) in float32 with a correctly rounded expf (exp in double, rounded)."""
    e = np.exp(-x.astype(np.float64)).astype(f32)
    return f32(1.0) / (f32(1.0) + e)


def prepare_class_remapping(class_names, removed):
    """class_names_operations (2.2 step 3, 5.3): every name in `removed` is dropped; returns (the
    remaining names, remaining class ids, class_mapping) with class_mapping[id] = id - (number
    of removed ids below it), -1 for removed ids."""
    removed = set(removed)
    names, remaining, mapping, n_removed = [], [], [], 0
    for cid, name in enumerate(class_names):
        if name in removed:
            n_removed += 1
            mapping.append(-1)
            continue
        remaining.append(cid)
        mapping.append(cid - n_removed)
        names.append(name)
    return names, remaining, mapping


def select_r1(logits, threshold, n_class_names, remap=None):
    """logits QxK float32 -> list of (query, class_id, p float32), descending by p.

    argmax per query over the sigmoid scores (first maximum). Without remapping, drop class
    ids >= len(class_names); with remap = (remaining ids, class_mapping), keep a query only if
    its argmax id is a remaining one (a removed argmax drops the query, it is not re-ranked)
    and report class_mapping[id]. Keep p > float32(threshold), sort descending. torch.sort
    leaves ties unspecified; here they keep query order (stable) and are counted by the caller.
    """
    p = sigmoid_f32(logits)
    cls = np.argmax(p, axis=1)
    conf = p[np.arange(p.shape[0]), cls]
    thr = f32(float(threshold))  # a Python float request value, compared in float32
    if remap is None:
        keep = [q for q in range(p.shape[0]) if cls[q] < n_class_names and conf[q] > thr]
        new_id = {q: int(cls[q]) for q in keep}
    else:
        remaining, mapping = set(remap[0]), remap[1]
        keep = [q for q in range(p.shape[0]) if int(cls[q]) in remaining and conf[q] > thr]
        new_id = {q: mapping[int(cls[q])] for q in keep}
    order = sorted(keep, key=lambda q: -float(conf[q]))  # sorted() is stable
    return [(q, new_id[q], conf[q]) for q in order]


# ---- boxes (2.2 step 6, no clamp) ---------------------------------------------------------------

def box_r1(cxcywh, meta):
    """Normalised cxcywh (float32) -> int xyxy in frame pixels, R1 float32 arithmetic:
    xyxy * (W_t, H_t, W_t, H_t) (an int64 tensor: the product stays float32), minus
    (pad_left, pad_top, ...) (int64, exact in float32), divided by float32(scale_width /
    scale_height), plus the static-crop offset, .round() (half to even), .int()."""
    cx, cy, w, h = (f32(v) for v in cxcywh)
    half = f32(0.5)
    xyxy = [cx - half * w, cy - half * h, cx + half * w, cy + half * h]
    size = [f32(meta.inference_size[0]), f32(meta.inference_size[1])]
    pad = [f32(meta.pad_left), f32(meta.pad_top)]
    scale = [f32(meta.scale_width), f32(meta.scale_height)]
    off = [f32(meta.offset[0]), f32(meta.offset[1])]
    out = []
    for k in range(4):
        a = k & 1
        v = f32(xyxy[k] * size[a])
        v = f32(v - pad[a])
        v = f32(v / scale[a])
        v = f32(v + off[a])
        out.append(int(np.rint(v)))  # .round(): half to even, then .int()
    return out


def mask_padding_removal(masks, meta):
    """(N, mh, mw) mask logits -> the part that covers the (cropped) frame (2.2 step 7):
    mask_pad = Python round(mask_scale * pad) (half to even) with mask_scale = mh / H_t
    (rows) or mw / W_t (columns); negative pads (center-crop of a larger frame) add that
    many rows / columns of logit 0."""
    n, mh, mw = masks.shape
    sh, sw = mh / meta.inference_size[1], mw / meta.inference_size[0]
    top, bottom = round(sh * meta.pad_top), round(sh * meta.pad_bottom)
    left, right = round(sw * meta.pad_left), round(sw * meta.pad_right)
    if min(top, bottom, left, right) < 0:
        masks = np.pad(masks, ((0, 0), (-min(top, 0), -min(bottom, 0)), (-min(left, 0), -min(right, 0))),
                       mode="constant", constant_values=0)
        top, bottom, left, right = max(top, 0), max(bottom, 0), max(left, 0), max(right, 0)
    return masks[:, top:masks.shape[1] - bottom, left:masks.shape[2] - right]


# ---- masks (2.2 step 7): antialiased bilinear resize, float32 ----------------------------------

def _aa_taps(n_in, n_out):
    """torch's antialiased bilinear taps per output index, float32 throughout:
    scale = in/out; support = max(scale, 1); invscale = 1/scale when scale >= 1 else 1;
    center = scale*(i + 0.5); xmin = max(trunc(center - support + 0.5), 0);
    xmax = min(trunc(center + support + 0.5), in); w_j = tri((j + (xmin - center) + 0.5) *
    invscale) for j < xmax - xmin, tri(t) = max(0, 1 - |t|), divided by their sequential sum.
    Returns (index, weight) arrays of shape (n_out, T); absent taps have weight 0 and index
    xmin, which adds an exact zero (only the sign of a zero result can change)."""
    scale = f32(n_in) / f32(n_out)
    support = scale if scale >= 1.0 else f32(1.0)  # bilinear: interp_size / 2 = 1
    invscale = f32(1.0) / scale if scale >= 1.0 else f32(1.0)
    center = scale * (np.arange(n_out, dtype=f32) + f32(0.5))
    xmin = np.maximum((center - support + f32(0.5)).astype(np.int64), 0)  # truncation
    xmax = np.minimum((center + support + f32(0.5)).astype(np.int64), n_in)
    size = xmax - xmin
    T = int(size.max())
    j = np.arange(T, dtype=f32)[None, :]
    t = np.abs((j + (xmin.astype(f32) - center)[:, None] + f32(0.5)) * invscale)
    w = np.where(t < f32(1.0), f32(1.0) - t, f32(0.0)).astype(f32)
    w[np.arange(T)[None, :] >= size[:, None]] = f32(0.0)
    total = np.zeros(n_out, dtype=f32)
    for k in range(T):  # sequential float32 sum
        total = total + w[:, k]
    w = np.where(total[:, None] != f32(0.0), w / np.where(total == 0, f32(1.0), total)[:, None], w).astype(f32)
    idx = np.minimum(xmin[:, None] + np.arange(T)[None, :], n_in - 1)
    idx = np.where(np.arange(T)[None, :] < size[:, None], idx, xmin[:, None])
    return idx, w


def _interp_axis(src, idx, wt, axis):
    """out = s0*w0, then out += sj*wj for each further tap, float32, no fused multiply-add."""
    shape = [1] * src.ndim
    shape[axis] = idx.shape[0]
    out = None
    for j in range(idx.shape[1]):
        term = np.take(src, idx[:, j], axis=axis) * wt[:, j].reshape(shape)
        out = term if out is None else out + term
    return out


class MaskResizer:
    """torchvision F.resize(masks, [H, W], BILINEAR) on float tensors = interpolate(bilinear,
    align_corners=False, antialias=True): horizontal pass, then vertical, float32."""

    def __init__(self, w_in, h_in, W, H):
        self.x = _aa_taps(w_in, W)
        self.y = _aa_taps(h_in, H)

    def __call__(self, logits):
        """(N, h_in, w_in) float32 -> (N, H, W) float32 interpolated logits."""
        tmp = _interp_axis(logits.astype(f32), *self.x, axis=2)
        return _interp_axis(tmp, *self.y, axis=1)


# ---- mask -> polygon (3.1) and COCO RLE (2.2 step 8) ----------------------------------------

def mask2poly(mask):
    """Roboflow's mask2poly: findContours(EXTERNAL, SIMPLE), the contour with the most points
    (np.argmax: first wins), float32 (n, 2); an empty mask gives 0 points."""
    if not mask.any():
        return np.zeros((0, 2), dtype=f32)
    contours = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)[0]
    if not contours:
        return np.zeros((0, 2), dtype=f32)
    best = int(np.argmax(np.array([len(c) for c in contours])))
    return np.array(contours[best]).reshape(-1, 2).astype(f32)


def rle_counts(mask):
    """Run lengths of the column-major flattened mask, first run = zeros (may be 0)."""
    flat = np.asarray(mask, dtype=bool).reshape(-1, order="F")
    if flat.size == 0:
        return []
    edges = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    bounds = np.concatenate(([0], edges, [flat.size]))
    runs = np.diff(bounds).tolist()
    if flat[0]:
        runs.insert(0, 0)
    return runs


def rle_string(counts):
    """pycocotools' compressed counts string (rleToString): from the fourth count on, each
    count is stored as the difference to the count two places before; each value is written
    as little-endian 5-bit groups, 0x20 marks 'more groups follow', the last group's 0x10 bit
    is the sign, and every group is offset by 48 into printable ASCII."""
    x = np.asarray(counts, dtype=np.int64).copy()
    if x.size > 3:
        x[3:] -= np.asarray(counts, dtype=np.int64)[1:-2]
    groups = []
    active = np.ones(x.size, dtype=bool)
    while active.any():
        c = x & 0x1F
        x = x >> 5  # arithmetic shift
        more = np.where((c & 0x10) != 0, x != -1, x != 0)
        c = np.where(more, c | 0x20, c)
        groups.append(np.where(active, c + 48, -1))
        active &= more
    if not groups:
        return ""
    chars = np.stack(groups, axis=1).reshape(-1)  # value by value, groups in order
    return chars[chars >= 0].astype(np.uint8).tobytes().decode("ascii")



def rle_decode(s, h, w):
    """pycocotools' compressed counts string (rleFrString) -> bool (h, w) mask: the counts
    are column-major runs from zeros; every pixel must be covered."""
    cnts, p = [], 0
    while p < len(s):
        x, k, more = 0, 0, True
        while more:
            c = ord(s[p]) - 48
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and (c & 0x10):
                x |= -1 << (5 * k)
        if len(cnts) > 2:
            x += cnts[-2]
        cnts.append(x)
    flat = np.zeros(h * w, bool)
    pos, v = 0, False
    for c in cnts:
        flat[pos:pos + c] = v
        pos += c
        v = not v
    assert pos == h * w, "RLE covers %d of %d pixels" % (pos, h * w)
    return flat.reshape((h, w), order="F")

# ---- the response (4.2, 4.3) -------------------------------------------------------------------

def class_name(names, cid):
    return names[cid] if 0 <= cid < len(names) else str(cid)


class Reference:
    """Post-processes one raw-out file for one frame; masks are cached per query so that
    several thresholds, formats and class lists reuse them.

    W, H: the original frame size. class_names: the model's names (None: COCO_LABELS, what a
    checkpoint without names gets). removed: None when the package has no
    class_names_operations, else the class names it removes. meta: the frame's Meta (None:
    stretch without static crop, a bare checkpoint)."""

    def __init__(self, raw, W, H, class_names=None, meta=None, removed=None):
        self.logits = raw["pred_logits"][0]
        self.boxes = raw["pred_boxes"][0]
        self.masks = raw["pred_masks"][0]
        self.R = raw["input"].shape[-1]
        self.W, self.H = W, H
        self.meta = meta if meta is not None else stretch_meta(W, H, self.R)
        assert self.meta.original_size == (W, H)
        self._resizer = None
        self._window = None
        self._mask = {}
        self.stats = {"ties": 0, "empty_masks": 0, "argmax_logit_vs_prob": 0}
        self.set_classes(class_names, removed)
        p = sigmoid_f32(self.logits)
        self.stats["argmax_logit_vs_prob"] = int((np.argmax(p, 1) != np.argmax(self.logits, 1)).sum())

    def set_classes(self, class_names=None, removed=None):
        """Switches the class list (the raw outputs and masks stay)."""
        names = COCO_LABELS if class_names is None else list(class_names)
        if removed is None:
            self.names, self.remap = names, None
        else:
            self.names, remaining, mapping = prepare_class_remapping(names, removed)
            self.remap = (remaining, mapping)

    def prepare_masks(self, queries):
        """Resizes (in one batch) and binarises the masks of the queries not cached yet: padding
        removal, antialiased resize to the size after pre-processing (the static crop), > 0,
        pasted into a zero mask of the original frame size at the static-crop offset."""
        todo = sorted(set(q for q in queries if q not in self._mask))
        if not todo:
            return
        Wa, Ha = self.meta.size_after
        ox, oy = self.meta.offset
        if self._window is None:
            self._window = mask_padding_removal(self.masks, self.meta)
            h_in, w_in = self._window.shape[1:]
            if h_in < 1 or w_in < 1:
                raise ValueError("no mask area left after padding removal (%s)" % self.meta)
            self._resizer = MaskResizer(w_in, h_in, Wa, Ha)
        for k in range(0, len(todo), 16):
            part = todo[k:k + 16]
            binary = self._resizer(self._window[part]) > f32(0.0)
            for q, m in zip(part, binary):
                if (Wa, Ha) != (self.W, self.H) or ox or oy:
                    canvas = np.zeros((self.H, self.W), dtype=bool)
                    canvas[oy:oy + Ha, ox:ox + Wa] = m
                    m = canvas
                self._mask[q] = m

    def mask(self, q):
        self.prepare_masks([q])
        return self._mask[q]

    def selection(self, threshold):
        return select_r1(self.logits, threshold, len(self.names), self.remap)

    def count_removed(self, threshold):
        """With class_names_operations: the queries dropped because their argmax class is not
        a remaining one (removed, or beyond the names), and among them those with a remaining
        class above the threshold (which a re-ranking would have kept)."""
        if self.remap is None:
            return 0, 0
        p = sigmoid_f32(self.logits)
        remaining = set(self.remap[0])
        thr = f32(float(threshold))
        n = above = 0
        for q in range(p.shape[0]):
            c = int(np.argmax(p[q]))
            if c in remaining:
                continue
            n += 1
            above += any(p[q, k] > thr for k in remaining if k < p.shape[1])
        return n, above

    def response(self, threshold, fmt="polygon"):
        sel = self.selection(threshold)
        self.prepare_masks([q for q, _, _ in sel])
        confs = [float(c) for _, _, c in sel]
        self.stats["ties"] += len(confs) - len(set(confs))
        preds = []
        for q, cid, conf in sel:
            x1, y1, x2, y2 = box_r1(self.boxes[q], self.meta)
            m = self.mask(q)
            if not m.any():
                self.stats["empty_masks"] += 1
            d = {
                "x": (float(x1) + float(x2)) / 2.0,
                "y": (float(y1) + float(y2)) / 2.0,
                "width": float(x2 - x1),
                "height": float(y2 - y1),
                "confidence": float(f32(conf)),
                "class": class_name(self.names, cid),
                "class_id": int(cid),
                "detection_id": ID_PLACEHOLDER,
            }
            if fmt == "rle":
                d["rle"] = {"size": [self.H, self.W], "counts": rle_string(rle_counts(m))}
                d["mask_format"] = "rle"
            else:
                pts = mask2poly(m)
                d["points"] = [{"x": float(px), "y": float(py)} for px, py in pts]
                d["mask_format"] = "polygon"
            preds.append(d)
        return {
            "inference_id": ID_PLACEHOLDER,
            "time": TIME_PLACEHOLDER,
            "image": {"width": int(self.W), "height": int(self.H)},
            "predictions": preds,
        }
