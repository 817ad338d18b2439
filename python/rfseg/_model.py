"""Model, its sessions (one per thread, created on first use) and video streaming.

Ownership: a _ModelState owns the rfs_model; every _Session registers with it, and
closing the state frees the sessions first, then the model (rfseg.h: free every session
before its model). A call that uses the model holds the state (use()), so close() waits
for calls in flight and later calls fail with a clear error instead of touching freed
memory."""
import collections
import contextlib
import ctypes
import os
import threading
import time
import warnings
import weakref

import numpy as np

from . import _capi as C
from ._lib import RfsegError, check, last_error, lib
from ._result import PRESET_NAMES, Result

byref = ctypes.byref


class _ModelState:
    def __init__(self, ptr):
        self.ptr = ptr
        self.cond = threading.Condition()
        self.users = 0
        self.closed = False
        self.sessions = weakref.WeakSet()
        self.names = {}  # (preset, class id) -> name
        self.auto_orient = bool(lib.rfs_model_auto_orient(ptr))

    @contextlib.contextmanager
    def use(self, closed_msg="the model is closed"):
        with self.cond:
            if self.closed:
                raise RfsegError(C.ERR_ARG, closed_msg)
            self.users += 1
        try:
            yield self.ptr
        finally:
            with self.cond:
                self.users -= 1
                if not self.users:
                    self.cond.notify_all()

    def close_sessions(self):
        with self.cond:
            sessions = list(self.sessions)
            self.sessions.clear()
        for s in sessions:
            s.close(drain=True)

    def close(self):
        with self.cond:
            if self.closed:
                return
            self.closed = True
            while self.users:
                self.cond.wait()
        self.close_sessions()
        lib.rfs_model_free(self.ptr)
        self.ptr = None

    def class_names(self, preset, ids):
        """The names rfs_class_name gives (cached: a model's names never change)."""
        out = []
        for cid in ids.tolist():
            name = self.names.get((preset, cid))
            if name is None:
                buf = ctypes.create_string_buffer(16)
                with self.use("the model that made this result is closed") as m:
                    name = lib.rfs_class_name(m, preset, cid, buf).decode("utf-8", "replace")
                self.names[(preset, cid)] = name
            out.append(name)
        return out

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


class _Session:
    """An rfs_session with the frames and results it reuses; one thread at a time."""

    def __init__(self, state, opts):
        self.lock = threading.Lock()
        self.ptr = None
        self.max_batch = opts.max_batch
        self.frames = (C.Frame * opts.max_batch)()
        self.results = (C.Result * opts.max_batch)()
        self.images = (C.Image * opts.max_batch)()
        p = ctypes.c_void_p()
        with state.use() as m:
            check(lib.rfs_session_create(byref(p), m, byref(opts)))
            self.ptr = p.value
            with state.cond:  # registered before a close() can free the model
                state.sessions.add(self)

    def close(self, drain=False):
        with self.lock:
            if self.ptr is None:
                return
            if drain:  # batches still in flight are collected and dropped
                while lib.rfs_predict_pending(self.ptr) > 0:
                    if lib.rfs_predict_collect(self.ptr, self.results, None) != C.OK:
                        break
            lib.rfs_session_free(self.ptr)
            self.ptr = None
            for r in self.results:
                lib.rfs_result_free(byref(r))
            for f in self.frames:
                lib.rfs_frame_free(byref(f))

    def __del__(self):
        try:
            self.close(drain=True)
        except Exception:
            pass


class _Scratch:
    """Per-thread rfs_shapes and rfs_text for the JSON documents."""

    def __init__(self):
        p = ctypes.c_void_p()
        check(lib.rfs_shapes_create(byref(p)))
        self.shapes = p.value
        self.text = C.Text()

    def __del__(self):
        try:
            lib.rfs_shapes_free(self.shapes)
            lib.rfs_text_free(byref(self.text))
        except Exception:
            pass


_tls = threading.local()


def scratch():
    s = getattr(_tls, "scratch", None)
    if s is None:
        s = _tls.scratch = _Scratch()
    return s


def _load(spec, progress):
    if isinstance(spec, os.PathLike):
        spec = os.fspath(spec)
    if isinstance(spec, bytes):
        spec = os.fsdecode(spec)
    if not isinstance(spec, str):
        raise RfsegError(C.ERR_ARG, "model: expected a checkpoint path, a Roboflow package "
                         "directory, a size name or 'random:SIZE', got %s" % type(spec).__name__)
    out = ctypes.c_void_p()
    if spec.startswith("random:"):
        size, _, seed = spec[len("random:"):].partition(":")
        try:
            seed = int(seed) if seed else 1
        except ValueError:
            raise RfsegError(C.ERR_ARG, "model %r: the seed after the size must be an integer" % spec) from None
        check(lib.rfs_model_random(byref(out), size.encode(), seed))
        return out.value
    path = os.fsencode(spec)
    if not os.path.exists(spec) and lib.rfs_model_url(path):
        buf = ctypes.create_string_buffer(4096)
        cb = C.PROGRESS_FN(lambda user, done, total: progress(done, total)) if progress else C.PROGRESS_FN()
        check(lib.rfs_model_fetch(buf, len(buf), path, cb, None))
        path = buf.value
    check(lib.rfs_model_load(byref(out), path))
    return out.value


def _as_text(v):
    if isinstance(v, bool):
        return "1" if v else "0"
    return str(v)


def _image_array(item, where):
    """item as a packed HxWx3 uint8 array (no copy when its rows already are) and whether it
    is known to be RGB (a PIL image)."""
    rgb = False
    if hasattr(item, "mode") and hasattr(item, "convert") and not isinstance(item, np.ndarray):
        if item.mode != "RGB":  # a PIL image: RGB, as rfdetr converts it
            item = item.convert("RGB")
        rgb = True
    if not isinstance(item, np.ndarray):
        if not (hasattr(item, "__array__") or hasattr(item, "__array_interface__")):
            raise RfsegError(C.ERR_ARG, "%s: expected a file path, encoded image bytes or an "
                             "HxWx3 uint8 array, got %s" % (where, type(item).__name__))
        item = np.asarray(item)
    if item.dtype != np.uint8:
        raise RfsegError(C.ERR_ARG, "%s: the image array must be uint8, got %s" % (where, item.dtype))
    if item.ndim != 3 or item.shape[2] != 3:
        raise RfsegError(C.ERR_ARG, "%s: the image array must be HxWx3 (3 channels), got shape %s"
                         % (where, tuple(item.shape)))
    h, w = item.shape[:2]
    if h < 1 or w < 1:
        raise RfsegError(C.ERR_ARG, "%s: empty image, shape %s" % (where, tuple(item.shape)))
    s = item.strides
    if not (s[2] == 1 and s[1] == 3 and s[0] >= 3 * w and s[0] < 2**31):
        item = np.ascontiguousarray(item)
    return item, rgb


class Model:
    """An RF-DETR-Seg model and its sessions.

    model: a checkpoint (.pth, .ckpt, .safetensors), a Roboflow model package directory, an
    official size ("seg-nano", ...: downloaded once into ~/.cache/rfseg), or
    "random:SIZE[:SEED]" (deterministic random weights, for tests and benchmarks).
    device: "cpu", "cuda" or "cuda:N"; precision: "fp32", "fp16", "bf16" (CUDA);
    threads: CPU threads per session (0: OpenMP's default); max_batch: images per forward
    call (lists and videos are cut into batches of at most this many). Every option is
    parsed by the library (rfs_session_opts_set). progress: a callable(done, total) for
    downloads.

    One model serves any number of threads: each thread gets a session of its own on its
    first call. close() (or a with block) frees the sessions and the model; a Model no
    longer referenced frees its sessions at once, and the model with its last Result."""

    def __init__(self, model, device="cpu", precision="fp32", threads=0, max_batch=1, progress=None):
        so = lib.rfs_session_defaults()
        for key, value in (("device", device), ("precision", precision), ("threads", threads),
                           ("max_batch", max_batch)):
            check(lib.rfs_session_opts_set(byref(so), key.encode(), _as_text(value).encode()))
        self._opts = so
        self.device, self.precision = str(device), str(precision)
        self.threads, self.max_batch = so.threads, so.max_batch
        self._local = threading.local()
        self._state = _ModelState(_load(model, progress))
        self.name = os.fspath(model) if isinstance(model, (str, os.PathLike)) else str(model)
        try:
            self._session()  # this thread's session now: a bad device fails here
        except BaseException:
            self._state.close()
            raise

    # ---- lifetime
    def close(self):
        """Frees every session of this model (waiting for calls in flight) and the model."""
        st = getattr(self, "_state", None)
        if st is not None:
            st.close()

    @property
    def closed(self):
        return self._state.closed

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        # sessions now; the model itself when the last Result made from it goes too (a
        # Result needs it for to_json), or at once when there is none
        try:
            st = getattr(self, "_state", None)
            if st is not None:
                st.close_sessions()
        except Exception:
            pass

    def __repr__(self):
        return "<rfseg.Model %s %s %s%s>" % (self.name, self.device, self.precision,
                                             " closed" if self.closed else "")

    # ---- description
    @property
    def config(self):
        """The network's configuration (rfs_config) as a dict."""
        with self._state.use() as m:
            c = lib.rfs_model_config(m).contents
            out = {}
            for name, _ in C.Config._fields_:
                v = getattr(c, name)
                out[name] = v.decode() if name == "size" else (list(v)[:c.num_taps] if name == "tap_layers" else v)
            return out

    @property
    def resolution(self):
        return self.config["resolution"]

    def class_name(self, class_id, preset="roboflow"):
        """The name a preset reports for a class id (rfs_class_name)."""
        return self._state.class_names(_preset(preset), np.array([int(class_id)]))[0]

    def _session(self):
        s = getattr(self._local, "s", None)
        if s is None or s.ptr is None:
            s = _Session(self._state, self._opts)
            self._local.s = s
        return s

    # ---- prediction
    def _predict_opts(self, preset, confidence, masks, clip_boxes, class_confidence,
                      disable_static_crop, disable_grayscale):
        pid = _preset(preset)
        po = lib.rfs_predict_defaults(pid)
        keep = None
        if confidence is not None:
            check(lib.rfs_predict_opts_set(byref(po), b"confidence", _as_text(confidence).encode()))
        for key, v in (("masks", masks), ("clip_boxes", clip_boxes),
                       ("disable_static_crop", disable_static_crop),
                       ("disable_grayscale", disable_grayscale)):
            check(lib.rfs_predict_opts_set(byref(po), key.encode(), _as_text(v).encode()))
        if class_confidence is not None:
            vals = []
            for i, v in enumerate(class_confidence):
                f = ctypes.c_float()
                check(lib.rfs_parse_confidence(_as_text(v).encode(), byref(f)), "class_confidence[%d]" % i)
                vals.append(f.value)
            keep = (ctypes.c_float * max(len(vals), 1))(*vals)
            po.class_thresholds = ctypes.cast(keep, ctypes.POINTER(ctypes.c_float))
            po.n_class_thresholds = len(vals)
        return pid, po, keep

    def predict(self, images, confidence=None, preset="roboflow", *, threshold=None, bgr=False,
                masks=True, clip_boxes=False, auto_orient=True, class_confidence=None,
                disable_static_crop=False, disable_grayscale=False):
        """Detections for one image, or a list of Results for a list of images.

        images: an HxWx3 uint8 array (RGB; bgr=True for OpenCV's BGR arrays), a PIL image, a
        file path (decoded by the library exactly as Roboflow decodes it, EXIF orientation
        included unless auto_orient=False), encoded image bytes, or a list of these (a list
        returns a list; it runs in batches of at most max_batch images).
        confidence (alias threshold, as rfdetr names it): keep detections scoring above it,
        a fraction or "40%"; None: the preset's default (roboflow 0.4, rfdetr 0.5).
        preset: "roboflow", "rfdetr" (today's rfdetr predict) or "rfdetr-1.4".
        masks=False skips the masks. clip_boxes, class_confidence (a threshold per class
        id), disable_static_crop, disable_grayscale: the roboflow preset's options."""
        confidence = _confidence(confidence, threshold)
        single = not isinstance(images, (list, tuple)) and not (
            isinstance(images, np.ndarray) and images.ndim == 4)
        items = [images] if single else list(images)
        pid, po, keep = self._predict_opts(preset, confidence, masks, clip_boxes, class_confidence,
                                           disable_static_crop, disable_grayscale)
        out = []
        with self._state.use():
            dopt = C.DecodeOpts(0, int(not (auto_orient and self._state.auto_orient)), 0)
            s = self._session()
            with s.lock:
                if s.ptr is None:
                    raise RfsegError(C.ERR_ARG, "the model is closed")
                for k in range(0, len(items), s.max_batch):
                    out.extend(self._batch(s, items[k:k + s.max_batch], k, single, pid, po, masks,
                                           bgr, dopt))
        del keep
        return out[0] if single else out

    def _batch(self, s, batch, first, single, pid, po, masks, bgr, dopt):
        t0 = time.perf_counter()
        arrays, sources = [], []
        for i, item in enumerate(batch):
            where = "image" if single else "images[%d]" % (first + i)
            src = None
            if isinstance(item, (str, os.PathLike)):
                path = os.fsencode(item)
                check(lib.rfs_image_load(byref(s.frames[i]), path, byref(dopt)))
                s.images[i] = lib.rfs_frame_image(byref(s.frames[i]))
                src = os.fsdecode(path)
            elif isinstance(item, (bytes, bytearray, memoryview)):
                data = bytes(item)
                check(lib.rfs_image_decode(byref(s.frames[i]), data, len(data), byref(dopt)), where)
                s.images[i] = lib.rfs_frame_image(byref(s.frames[i]))
            else:
                a, rgb = _image_array(item, where)
                arrays.append(a)
                fmt = C.PIX_RGB8 if (rgb or not bgr) else C.PIX_BGR8
                s.images[i] = C.Image(a.shape[1], a.shape[0], a.strides[0], fmt, a.ctypes.data)
            sources.append(src)
        check(lib.rfs_predict(s.ptr, s.images, len(batch), byref(po), s.results))
        dt = time.perf_counter() - t0
        del arrays
        return [Result._from_c(s.results[i], self._state, pid, masks, sources[i], dt)
                for i in range(len(batch))]

    def predict_video(self, source, confidence=None, preset="roboflow", *, batch=None,
                      threshold=None, frames=False, bgr=False, masks=True, clip_boxes=False,
                      max_frames=None, skip_errors=False, track=False, track_buffer=30,
                      class_confidence=None):
        """Iterates over the Results of every frame of a video file or stream URL (anything
        FFmpeg opens), in order, each with its frame_id. Frames are decoded as OpenCV's
        VideoCapture decodes them and predicted in batches of `batch` (default max_batch)
        with two batches in flight (rfs_predict_submit / rfs_predict_collect): on a GPU the
        next batch runs while the caller works on this one. frames=True yields
        (frame, result) pairs, the frame an HxWx3 uint8 array (RGB; BGR with bgr=True).
        A frame that cannot be decoded raises RfsegError at its place in the sequence
        (iteration may go on after it), or is skipped with a warning with skip_errors=True.
        track=True gives the detections a tracker_id (ByteTrack as supervision's
        sv.ByteTrack with its defaults, track_buffer frames of lost-track buffer) and leaves
        out those it does not confirm, as update_with_detections does (`rfseg video
        --track`). The iterator holds a session of its own: close() it (or use a with
        block) to free it early."""
        confidence = _confidence(confidence, threshold)
        opts = self._predict_opts(preset, confidence, masks, clip_boxes, class_confidence, False, False)
        return VideoPredictions(self, source, batch, opts, masks, frames, bgr, max_frames, skip_errors,
                                track_buffer if track else None)


def _confidence(confidence, threshold):
    """confidence, or threshold (rfdetr's name for it); not both."""
    if threshold is None:
        return confidence
    if confidence is not None:
        raise RfsegError(C.ERR_ARG, "give confidence or threshold, not both")
    return threshold


def _preset(name):
    v = ctypes.c_int()
    check(lib.rfs_preset_parse(str(name).encode(), byref(v)))
    return v.value


class VideoPredictions:
    """The iterator predict_video returns; also width, height, fps, frame_count."""

    def __init__(self, model, source, batch, opts, masks, frames, bgr, max_frames, skip_errors,
                 track_buffer=None):
        self._model = model  # keeps the model open while this iterates
        self._pid, self._po, self._keep = opts
        self._masks, self._frames, self._bgr = masks, frames, bgr
        self._max = int(max_frames) if max_frames else 0
        self._skip = skip_errors
        self._video = None
        self._s = None
        self._tracker = None
        self.source = os.fsdecode(source) if isinstance(source, (str, bytes, os.PathLike)) else str(source)
        self._queue = collections.deque()
        self._inflight = collections.deque()  # (frame ids, frame copies, error after them)
        self._eof = self._finished = False
        self._index = 0
        so = C.SessionOpts.from_buffer_copy(model._opts)
        if batch is not None:
            check(lib.rfs_session_opts_set(byref(so), b"max_batch", _as_text(batch).encode()), "batch")
        self.batch = so.max_batch
        v = ctypes.c_void_p()
        check(lib.rfs_video_open(byref(v), os.fsencode(source), None))
        self._video = v.value
        self.width = lib.rfs_video_width(self._video)
        self.height = lib.rfs_video_height(self._video)
        self.fps = lib.rfs_video_fps(self._video)
        self.frame_count = lib.rfs_video_frame_count(self._video)
        try:
            if track_buffer is not None:
                to = lib.rfs_tracker_defaults()
                to.lost_buffer = int(track_buffer)
                t = ctypes.c_void_p()
                check(lib.rfs_tracker_create(byref(t), byref(to)), "track_buffer")
                self._tracker = t.value
            self._s = _Session(model._state, so)
        except BaseException:
            self.close()
            raise

    def __iter__(self):
        return self

    def __next__(self):
        while not self._queue:
            if self._finished or self._s is None:
                self.close()
                raise StopIteration
            self._advance()
        item = self._queue.popleft()
        if isinstance(item, BaseException):
            raise item
        return item

    def _frame_copy(self, f):
        a = np.ctypeslib.as_array((ctypes.c_uint8 * (f.stride * f.h)).from_address(f.data))
        a = a.reshape(f.h, f.stride)[:, :3 * f.w].reshape(f.h, f.w, 3)
        return np.ascontiguousarray(a if self._bgr else a[:, :, ::-1])

    def _advance(self):
        s = self._s
        st = self._model._state
        with st.use(), s.lock:
            if s.ptr is None:
                raise RfsegError(C.ERR_ARG, "the model is closed")
            while not self._eof and lib.rfs_predict_pending(s.ptr) < 2:
                ids, copies, err = [], [], None
                while len(ids) < s.max_batch:
                    if self._max and self._index >= self._max:
                        self._eof = True
                        break
                    f = s.frames[len(ids)]
                    done = ctypes.c_int(0)
                    status = lib.rfs_video_read(self._video, byref(f), byref(done))
                    if done.value:
                        self._eof = True
                        break
                    # the library's number, as the CLI's frame_id: after damaged data
                    # frames are numbered from their timestamps, not counted
                    fid = lib.rfs_video_frame_index(self._video) - 1
                    self._index += 1
                    if status != C.OK:
                        msg = "frame %d: %s" % (fid, last_error())
                        if self._skip:
                            warnings.warn("rfseg: skipped " + msg, RuntimeWarning, stacklevel=3)
                            continue
                        err = RfsegError(status, msg)
                        break
                    s.images[len(ids)] = lib.rfs_frame_image(byref(f))
                    if self._frames:
                        copies.append(self._frame_copy(f))
                    ids.append(fid)
                if ids:
                    check(lib.rfs_predict_submit(s.ptr, s.images, len(ids), byref(self._po)),
                          "frames %d..%d" % (ids[0], ids[-1]))
                    self._inflight.append((ids, copies, err))
                elif err is not None:  # in order: after the batches in flight
                    if self._inflight:
                        i, c, _ = self._inflight.pop()
                        self._inflight.append((i, c, err))
                    else:
                        self._queue.append(err)
                if err is not None:
                    return
            if not self._inflight:
                self._finished = True
                return
            ids, copies, err = self._inflight.popleft()
            n = ctypes.c_int(0)
            check(lib.rfs_predict_collect(s.ptr, s.results, byref(n)), "frames %d..%d" % (ids[0], ids[-1]))
            for i in range(n.value):
                if self._tracker is not None:  # in frame order, before the copy
                    check(lib.rfs_tracker_update(self._tracker, byref(s.results[i])), "frame %d" % ids[i])
                r = Result._from_c(s.results[i], st, self._pid, self._masks, self.source, None, ids[i], 0)
                self._queue.append((copies[i], r) if self._frames else r)
            if err is not None:
                self._queue.append(err)

    def close(self):
        """Frees the video reader and the session (batches in flight are dropped)."""
        if self._s is not None:
            self._s.close(drain=True)
            self._s = None
        if self._video is not None:
            lib.rfs_video_close(self._video)
            self._video = None
        if self._tracker is not None:
            lib.rfs_tracker_free(self._tracker)
            self._tracker = None
        self._finished = True
        self._queue.clear()
        self._inflight.clear()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass


__all__ = ["Model", "VideoPredictions", "PRESET_NAMES"]
