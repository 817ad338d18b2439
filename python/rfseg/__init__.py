"""rfseg: RF-DETR instance segmentation through librfseg (C), from Python.

    import rfseg
    model = rfseg.Model("rf-detr-seg-nano.pth")          # or "seg-nano", device="cuda"
    result = model.predict("photo.jpg")                  # or an RGB numpy array, or a list
    print(result.xyxy, result.confidence, result.class_name)
    detections = result.to_supervision()                 # supervision.Detections

Results carry numpy arrays (xyxy, confidence, class_id, mask, tracker_id) and the class
names; to_json() / to_roboflow() give the JSON Roboflow's server (or rfdetr, by preset)
would. The library is found through $RFSEG_LIBRARY, a copy bundled with the package, the
checkout's build/ directory, or the system (docs/python.md)."""
from . import _capi
from ._lib import RfsegError, lib as _lib, library_path
from ._model import Model, VideoPredictions
from ._result import Result

__version__ = "0.2.0"

OK = _capi.OK
ERR_ARG = _capi.ERR_ARG
ERR_IO = _capi.ERR_IO
ERR_FORMAT = _capi.ERR_FORMAT
ERR_UNSUPPORTED = _capi.ERR_UNSUPPORTED
ERR_NOMEM = _capi.ERR_NOMEM
ERR_LIMIT = _capi.ERR_LIMIT
ERR_BACKEND = _capi.ERR_BACKEND
ERR_NETWORK = _capi.ERR_NETWORK

PRESETS = ("roboflow", "rfdetr", "rfdetr-1.4")


def sizes():
    """The official model sizes, in the library's order ("seg-preview", "seg-nano", ...)."""
    names, p = [], _lib.rfs_model_size_names()
    i = 0
    while p[i] is not None:
        names.append(p[i].decode())
        i += 1
    return names


def cuda_device_count():
    """CUDA devices this librfseg can use (0 without a CUDA build, driver or device)."""
    return _lib.rfs_device_count(1)


_log_fn = None


def set_logging(level="warning"):
    """Forwards the library's log messages (FFmpeg warnings, ...) at or above level
    ("debug", "info", "warning", "error") to Python's logging as the "rfseg" logger;
    None stops forwarding (the default: the library logs nowhere)."""
    global _log_fn
    import logging
    levels = {"debug": 0, "info": 1, "warning": 2, "error": 3}
    if level is None:
        _lib.rfs_set_log(_capi.LOG_FN(), None, 3)
        _log_fn = None
        return
    if level not in levels:
        raise RfsegError(ERR_ARG, "logging level %r: expected one of %s" % (level, ", ".join(levels)))
    logger = logging.getLogger("rfseg")
    py = (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR)

    def forward(user, lvl, msg):
        try:
            logger.log(py[min(max(lvl, 0), 3)], msg.decode("utf-8", "replace") if msg else "")
        except Exception:
            pass

    fn = _capi.LOG_FN(forward)
    _lib.rfs_set_log(fn, None, levels[level])
    _log_fn = fn  # the C side keeps the pointer: keep the callback alive


__all__ = ["Model", "Result", "VideoPredictions", "RfsegError", "sizes", "cuda_device_count",
           "set_logging", "library_path", "PRESETS", "__version__"]
