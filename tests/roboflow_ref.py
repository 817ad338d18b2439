"""roboflow_ref: an independent numpy + cv2 post-processor for Roboflow's R1 response.

Written from ../shared/docs/roboflow-pipeline.md (sections 2.2, 3, 4) and the antialiased
resize of rfdetr-seg-model.md section 2, not from rfseg's C code. Input: the raw network
outputs that `rfseg predict --raw-out OUT.safetensors` writes (`input` 1x3xRxR,
`pred_logits` 1xQxK, `pred_boxes` 1xQx4 normalised cxcywh, `pred_masks` 1xQx(R/4)x(R/4))
and the original frame size. Output: the dict of
`InstanceSegmentationInferenceResponse.model_dump(by_alias=True, exclude_none=True)` with
placeholders for the three fields that differ per run (inference_id, time, detection_id).

Only the stretch resize mode without static crop or class remapping is covered (that is
what a bare checkpoint gets). Used by tests/diff_roboflow.py; Debian's python3 (numpy, cv2).
"""
import json
import struct

import cv2
import numpy as np

f32 = np.float32

# inference_models/models/rfdetr/default_labels.py::COCO_LABELS: 91 entries, "background" at
# ids 0, 12, 26, 29, 30, 45, 66, 68, 69, 71, 83 (roboflow-pipeline.md 5.3). A checkpoint
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


# ---- pre-processing (1.3), only to check that `input` is what R1 feeds the network --------

def preprocess_r1(bgr, R):
    """cv2 INTER_LINEAR stretch, BGR->RGB, x u8 * float32(1/255), (x - mean) / std: 3xRxR."""
    small = cv2.resize(bgr, (R, R), interpolation=cv2.INTER_LINEAR)
    rgb = small[:, :, ::-1].astype(f32)
    x = rgb * f32(1.0 / 255.0)
    y = (x - MEAN) / STD
    return np.ascontiguousarray(y.transpose(2, 0, 1))


# ---- selection (2.2 steps 1-5) --------------------------------------------------------------

def sigmoid_f32(x):
    """1 / (1 + expf(-x)) in float32 with a correctly rounded expf (exp in double, rounded)."""
    e = np.exp(-x.astype(np.float64)).astype(f32)
    return f32(1.0) / (f32(1.0) + e)


def select_r1(logits, threshold, n_class_names):
    """logits QxK float32 -> list of (query, class_id, p float32), descending by p.

    argmax per query over the sigmoid scores (first maximum), drop class ids >=
    len(class_names) (no remapping), keep p > float32(threshold), sort descending. torch.sort
    leaves ties unspecified; here they keep query order (stable) and are counted by the caller.
    """
    p = sigmoid_f32(logits)
    cls = np.argmax(p, axis=1)
    conf = p[np.arange(p.shape[0]), cls]
    thr = f32(float(threshold))  # a Python float request value, compared in float32
    keep = [q for q in range(p.shape[0]) if cls[q] < n_class_names and conf[q] > thr]
    order = sorted(keep, key=lambda q: -float(conf[q]))  # sorted() is stable
    return [(q, int(cls[q]), conf[q]) for q in order]


# ---- boxes (2.2 step 6, stretch, no clamp) --------------------------------------------------

def box_r1(cxcywh, R, W, H):
    """Normalised cxcywh (float32) -> int xyxy in frame pixels, R1 float32 arithmetic."""
    cx, cy, w, h = (f32(v) for v in cxcywh)
    half = f32(0.5)
    xyxy = [cx - half * w, cy - half * h, cx + half * w, cy + half * h]
    fR = f32(R)  # (W, H, W, H) int64 tensor of the inference size; the product stays float32
    sw, sh = f32(R / W), f32(R / H)  # Python float scale_width / scale_height, as float32
    scale = [sw, sh, sw, sh]
    out = []
    for k in range(4):
        v = f32(xyxy[k] * fR) - f32(0)  # minus pad 0
        v = f32(v / scale[k])
        out.append(int(np.rint(v)))  # .round(): half to even, then .int()
    return out


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

    def __init__(self, side_in, W, H):
        self.x = _aa_taps(side_in, W)
        self.y = _aa_taps(side_in, H)

    def __call__(self, logits):
        """(N, s, s) float32 -> (N, H, W) float32 interpolated logits."""
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


# ---- the response (4.2, 4.3) -------------------------------------------------------------------

def class_name(names, cid):
    return names[cid] if 0 <= cid < len(names) else str(cid)


class Reference:
    """Post-processes one raw-out file for one frame size; masks are cached per query so that
    several thresholds and formats reuse them."""

    def __init__(self, raw, W, H, class_names=None):
        self.logits = raw["pred_logits"][0]
        self.boxes = raw["pred_boxes"][0]
        self.masks = raw["pred_masks"][0]
        self.R = raw["input"].shape[-1]
        self.W, self.H = W, H
        self.names = COCO_LABELS if class_names is None else list(class_names)
        self._resizer = None
        self._mask = {}
        self.stats = {"ties": 0, "empty_masks": 0, "argmax_logit_vs_prob": 0}
        p = sigmoid_f32(self.logits)
        self.stats["argmax_logit_vs_prob"] = int((np.argmax(p, 1) != np.argmax(self.logits, 1)).sum())

    def prepare_masks(self, queries):
        """Resizes (in one batch) and binarises the masks of the queries not cached yet."""
        todo = sorted(set(q for q in queries if q not in self._mask))
        if not todo:
            return
        if self._resizer is None:
            self._resizer = MaskResizer(self.masks.shape[-1], self.W, self.H)
        for k in range(0, len(todo), 16):
            part = todo[k:k + 16]
            binary = self._resizer(self.masks[part]) > f32(0.0)
            for q, m in zip(part, binary):
                self._mask[q] = m

    def mask(self, q):
        self.prepare_masks([q])
        return self._mask[q]

    def selection(self, threshold):
        return select_r1(self.logits, threshold, len(self.names))

    def response(self, threshold, fmt="polygon"):
        sel = self.selection(threshold)
        self.prepare_masks([q for q, _, _ in sel])
        confs = [float(c) for _, _, c in sel]
        self.stats["ties"] += len(confs) - len(set(confs))
        preds = []
        for q, cid, conf in sel:
            x1, y1, x2, y2 = box_r1(self.boxes[q], self.R, self.W, self.H)
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
