"""Result: the detections of one image, copied out of the library's rfs_result (whose
storage the session reuses at its next call) into numpy arrays and one buffer of mask
rectangles; the JSON documents are made from that copy by the library itself."""
import ctypes
import json

import numpy as np

from . import _capi as C
from ._lib import RfsegError, check, lib

_DET = C.Detection
_MASK_OFF = _DET.mask.offset
# rfs_detection as a numpy record, field offsets taken from the ctypes layout
DET_DTYPE = np.dtype({
    "names": ["box", "score", "class_id", "query", "tracker_id", "x0", "y0", "w", "h", "data"],
    "formats": [("=f4", (4,)), "=f4", "=i4", "=i4", "=i4", "=i4", "=i4", "=i4", "=i4", np.uintp],
    "offsets": [_DET.box.offset, _DET.score.offset, _DET.class_id.offset, _DET.query.offset,
                _DET.tracker_id.offset, _MASK_OFF + C.Mask.x0.offset, _MASK_OFF + C.Mask.y0.offset,
                _MASK_OFF + C.Mask.w.offset, _MASK_OFF + C.Mask.h.offset,
                _MASK_OFF + C.Mask.data.offset],
    "itemsize": ctypes.sizeof(_DET),
})
PRESET_NAMES = {C.PRESET_ROBOFLOW: "roboflow", C.PRESET_RFDETR: "rfdetr", C.PRESET_RFDETR_14: "rfdetr-1.4"}


class Result:
    """Detections of one image, in descending confidence.

    Arrays (N detections): ``xyxy`` (N, 4) float32 frame pixels, ``confidence`` (N,)
    float32, ``class_id`` (N,) int64, ``class_name`` (list of N str, as the preset names
    them), ``mask`` (N, H, W) bool (None when predicted with masks=False), ``tracker_id``
    (N,) int64 or None when no tracker set one. Also ``width``, ``height``, ``preset``,
    ``source`` (the image's path, or the video), ``source_id`` and ``frame_id`` (videos),
    ``time`` (seconds the batch took, decoding included)."""

    __slots__ = ("width", "height", "preset", "xyxy", "confidence", "class_id", "class_name",
                 "tracker_id", "source", "source_id", "frame_id", "time", "_preset_id", "_query", "_rects",
                 "_has_data", "_mask_bytes", "_mask_off", "_masks", "_mask", "_state")

    @classmethod
    def _from_c(cls, r, state, preset_id, masks, source=None, time=None, frame_id=None, source_id=None):
        """Copies an rfs_result (called while the session that filled it is held)."""
        self = cls.__new__(cls)
        n = r.count
        self.width, self.height = r.width, r.height
        self._preset_id = preset_id
        self.preset = PRESET_NAMES[preset_id]
        self.source, self.time, self.frame_id, self.source_id = source, time, frame_id, source_id
        self._state = state
        self._masks = bool(masks)
        self._mask = None
        a = np.frombuffer(ctypes.string_at(r.dets, n * DET_DTYPE.itemsize) if n else b"", DET_DTYPE)
        self.xyxy = np.ascontiguousarray(a["box"], dtype=np.float32).reshape(n, 4)
        self.confidence = a["score"].astype(np.float32)
        self.class_id = a["class_id"].astype(np.int64)
        self._query = a["query"].astype(np.int32)
        trk = a["tracker_id"].astype(np.int64)
        self.tracker_id = trk if n and (trk >= 0).any() else None
        self._rects = np.stack([a["x0"], a["y0"], a["w"], a["h"]], axis=1).astype(np.int32).reshape(n, 4)
        ptrs = a["data"]
        self._has_data = ptrs != 0
        sizes = np.where(self._has_data, self._rects[:, 2].astype(np.int64) * self._rects[:, 3], 0)
        self._mask_off = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        buf = np.empty(max(int(self._mask_off[-1]), 1), np.uint8)
        base = buf.ctypes.data
        for i in range(n):
            if sizes[i]:
                ctypes.memmove(base + int(self._mask_off[i]), int(ptrs[i]), int(sizes[i]))
        self._mask_bytes = buf
        self.class_name = state.class_names(preset_id, self.class_id)
        return self

    def __getstate__(self):  # pickling keeps the arrays; to_json needs the live model
        return {k: getattr(self, k) for k in self.__slots__ if k != "_state"}

    def __setstate__(self, state):
        for k, v in state.items():
            setattr(self, k, v)
        self._state = None

    def __len__(self):
        return len(self.confidence)

    def __repr__(self):
        return "<rfseg.Result %dx%d %s: %d detections%s>" % (
            self.width, self.height, self.preset, len(self),
            "".join(", %s %.3f" % (self.class_name[i], self.confidence[i]) for i in range(min(len(self), 3))))

    @property
    def mask(self):
        """(N, H, W) bool, built from the stored mask rectangles on first use."""
        if not self._masks:
            return None
        if self._mask is None:
            n = len(self)
            m = np.zeros((n, self.height, self.width), dtype=bool)
            for i in range(n):
                x0, y0, w, h = (int(v) for v in self._rects[i])
                if w and h and self._has_data[i]:
                    o = int(self._mask_off[i])
                    m[i, y0:y0 + h, x0:x0 + w] = self._mask_bytes[o:o + w * h].reshape(h, w) != 0
            self._mask = m
        return self._mask

    def _c_result(self):
        """An rfs_result over this copy (kept alive by the returned tuple)."""
        n = len(self)
        dets = (_DET * max(n, 1))()
        if n:
            a = np.frombuffer(dets, DET_DTYPE, count=n)
            a["box"] = self.xyxy
            a["score"] = self.confidence
            a["class_id"] = self.class_id
            a["query"] = self._query
            a["tracker_id"] = self.tracker_id if self.tracker_id is not None else -1
            a["x0"], a["y0"], a["w"], a["h"] = self._rects.T
            a["data"] = np.where(self._has_data, self._mask_bytes.ctypes.data + self._mask_off[:-1], 0)
        r = C.Result(self.width, self.height, n, ctypes.cast(dets, ctypes.POINTER(_DET)), None)
        return r, dets

    def to_json(self, mask_format="polygon", inference_id=None):
        """The preset's JSON document, as `rfseg predict --preset P --format F` prints it:
        Roboflow's response for the roboflow preset, the rfdetr layout for rfdetr and
        rfdetr-1.4. mask_format: "polygon", "rle" (COCO RLE) or "none"."""
        from ._model import scratch  # per-thread rfs_shapes and rfs_text
        fmt = ctypes.c_int()
        check(lib.rfs_mask_format_parse(str(mask_format).encode(), ctypes.byref(fmt)))
        r, keep = self._c_result()
        ro = lib.rfs_response_defaults()
        ro.format = fmt.value
        ro.inference_id = inference_id.encode() if inference_id is not None else None
        ro.time = self.time if self.time is not None and self.frame_id is None else -1.0
        ro.frame_id = self.frame_id if self.frame_id is not None else -1
        # the source as the CLI names it: the rfdetr layout's "image"; Roboflow's "source"
        # (and "source_id") for video frames, as `rfseg video --jsonl`
        if self.source is not None and (self._preset_id != C.PRESET_ROBOFLOW or self.frame_id is not None):
            ro.source = self.source.encode("utf-8", "surrogateescape")
            if self.source_id is not None:
                ro.source_id = self.source_id
        if self._state is None:
            raise RfsegError(C.ERR_ARG, "to_json: this result was copied from another process "
                             "(unpickled) and has no model")
        sc = scratch()
        with self._state.use("the model that made this result is closed") as m:
            lib.rfs_text_reset(ctypes.byref(sc.text))
            fn = lib.rfs_response_roboflow if self._preset_id == C.PRESET_ROBOFLOW else lib.rfs_response_rfdetr
            check(fn(ctypes.byref(sc.text), sc.shapes, ctypes.byref(r), m, ctypes.byref(ro)))
            text = ctypes.string_at(sc.text.p, sc.text.len).decode("utf-8", "replace")
        del keep
        if self._preset_id == C.PRESET_RFDETR_14 and len(self):
            # the library names the classes of a result it did not store as today's rfdetr
            # does; rfdetr 1.4.1's names are those rfs_class_name gave this result
            doc = json.loads(text)
            for d, name in zip(doc["detections"], self.class_name):
                d["class_name"] = name
            text = json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
        return text

    def to_roboflow(self, mask_format="polygon", inference_id=None):
        """to_json() as a dict: Roboflow's response (roboflow preset), or the rfdetr layout."""
        return json.loads(self.to_json(mask_format, inference_id))

    def to_supervision(self):
        """supervision.Detections with data["class_name"], as rfdetr's predict() returns."""
        try:
            import supervision as sv
        except ImportError as e:
            raise ImportError("to_supervision() needs the supervision package") from e
        return sv.Detections(xyxy=self.xyxy.astype(np.float32), mask=self.mask,
                             confidence=self.confidence, class_id=self.class_id,
                             tracker_id=self.tracker_id,
                             data={"class_name": np.array(self.class_name, dtype=str)})
