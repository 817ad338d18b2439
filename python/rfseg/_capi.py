"""The C API of librfseg (include/rfseg.h) through ctypes: finding and loading the library,
the structures the package passes across, and the prototypes of the functions it calls.

Nothing here holds state beyond the loaded library; ownership and threads are handled by
the modules above."""
import ctypes
import ctypes.util
import os

# ---- statuses (rfs_status) ----------------------------------------------------------------
OK = 0
ERR_ARG = 1
ERR_IO = 2
ERR_FORMAT = 3
ERR_UNSUPPORTED = 4
ERR_NOMEM = 5
ERR_LIMIT = 6
ERR_BACKEND = 7
ERR_NETWORK = 8
STATUS_NAMES = {
    OK: "RFS_OK", ERR_ARG: "RFS_ERR_ARG", ERR_IO: "RFS_ERR_IO", ERR_FORMAT: "RFS_ERR_FORMAT",
    ERR_UNSUPPORTED: "RFS_ERR_UNSUPPORTED", ERR_NOMEM: "RFS_ERR_NOMEM",
    ERR_LIMIT: "RFS_ERR_LIMIT", ERR_BACKEND: "RFS_ERR_BACKEND", ERR_NETWORK: "RFS_ERR_NETWORK",
}

PIX_RGB8 = 0
PIX_BGR8 = 1
PRESET_ROBOFLOW = 0
PRESET_RFDETR = 1
PRESET_RFDETR_14 = 2
MASK_POLYGON = 0
MASK_RLE = 1
MASK_NONE = 2

c_int, c_float, c_double = ctypes.c_int, ctypes.c_float, ctypes.c_double
c_char_p, c_void_p, c_size_t = ctypes.c_char_p, ctypes.c_void_p, ctypes.c_size_t
POINTER = ctypes.POINTER


# ---- structures, field for field as in rfseg.h ----------------------------------------------
class Config(ctypes.Structure):
    _fields_ = [("size", ctypes.c_char * 32)] + [(n, c_int) for n in (
        "resolution", "patch_size", "grid", "pos_grid", "num_windows", "vit_dim", "vit_heads",
        "vit_layers", "vit_mlp", "num_taps")] + [("tap_layers", c_int * 8)] + [(n, c_int) for n in (
        "hidden_dim", "proj_blocks", "dec_layers", "sa_heads", "ca_heads", "dec_points",
        "dim_feedforward", "num_queries", "num_select", "num_classes", "query_rows", "mask_side",
        "seg_mlp")]


class SessionOpts(ctypes.Structure):
    _fields_ = [("backend", c_int), ("precision", c_int), ("max_batch", c_int),
                ("threads", c_int), ("device", c_int)]


class Image(ctypes.Structure):
    _fields_ = [("width", c_int), ("height", c_int), ("stride", c_int), ("format", c_int),
                ("data", c_void_p)]


class Frame(ctypes.Structure):
    _fields_ = [("w", c_int), ("h", c_int), ("stride", c_int), ("fmt", c_int),
                ("data", c_void_p), ("cap", c_size_t)]


class DecodeOpts(ctypes.Structure):
    _fields_ = [("rgb", c_int), ("no_auto_orient", c_int), ("max_pixels", ctypes.c_uint64)]


INTERRUPT_FN = ctypes.CFUNCTYPE(c_int, c_void_p)


class VideoOpts(ctypes.Structure):
    _fields_ = [("threads", c_int), ("no_auto_rotate", c_int), ("rgb", c_int),
                ("max_pixels", ctypes.c_uint64), ("low_delay", c_int), ("timeout_ms", c_int),
                ("interrupt", INTERRUPT_FN), ("interrupt_user", c_void_p)]


class PredictOpts(ctypes.Structure):
    _fields_ = [("preset", c_int), ("threshold", c_float),
                ("class_thresholds", POINTER(c_float)), ("n_class_thresholds", c_int),
                ("want_masks", c_int), ("clip_boxes", c_int), ("disable_static_crop", c_int),
                ("disable_grayscale", c_int)]


class Mask(ctypes.Structure):
    _fields_ = [("x0", c_int), ("y0", c_int), ("w", c_int), ("h", c_int), ("data", c_void_p)]


class Detection(ctypes.Structure):
    _fields_ = [("box", c_float * 4), ("score", c_float), ("class_id", c_int), ("query", c_int),
                ("tracker_id", c_int), ("mask", Mask)]


class Result(ctypes.Structure):
    _fields_ = [("width", c_int), ("height", c_int), ("count", c_int),
                ("dets", POINTER(Detection)), ("store", c_void_p)]


class Text(ctypes.Structure):
    _fields_ = [("p", c_void_p), ("len", c_size_t), ("cap", c_size_t), ("oom", c_int)]


class ResponseOpts(ctypes.Structure):
    _fields_ = [("format", c_int), ("inference_id", c_char_p), ("time", c_double),
                ("frame_id", ctypes.c_longlong), ("source", c_char_p),
                ("source_id", ctypes.c_longlong), ("class_filter", POINTER(c_char_p)),
                ("n_class_filter", c_int)]


class TrackerOpts(ctypes.Structure):
    _fields_ = [("activation_threshold", c_float), ("lost_buffer", c_int),
                ("matching_threshold", c_float), ("frame_rate", c_double),
                ("min_consecutive_frames", c_int), ("keep_unmatched", c_int)]


# the C name of each structure (tests compare the layouts with the compiler's)
C_NAMES = {Config: "rfs_config", SessionOpts: "rfs_session_opts", Image: "rfs_image",
           Frame: "rfs_frame", DecodeOpts: "rfs_decode_opts", VideoOpts: "rfs_video_opts",
           PredictOpts: "rfs_predict_opts", Mask: "rfs_mask", Detection: "rfs_detection",
           Result: "rfs_result", Text: "rfs_text", ResponseOpts: "rfs_response_opts",
           TrackerOpts: "rfs_tracker_opts"}


PROGRESS_FN = ctypes.CFUNCTYPE(None, c_void_p, ctypes.c_uint64, ctypes.c_uint64)
LOG_FN = ctypes.CFUNCTYPE(None, c_void_p, c_int, c_char_p)

_P = c_void_p  # opaque handles: rfs_model *, rfs_session *, rfs_video *, rfs_shapes *
_PROTOTYPES = {
    # name: (restype, argtypes)
    "rfs_last_error": (c_char_p, []),
    "rfs_clear_error": (None, []),
    "rfs_status_name": (c_char_p, [c_int]),
    "rfs_set_log": (None, [LOG_FN, c_void_p, c_int]),
    "rfs_model_load": (c_int, [POINTER(_P), c_char_p]),
    "rfs_model_size_names": (POINTER(c_char_p), []),
    "rfs_model_random": (c_int, [POINTER(_P), c_char_p, ctypes.c_uint64]),
    "rfs_model_config": (POINTER(Config), [_P]),
    "rfs_model_auto_orient": (c_int, [_P]),
    "rfs_model_param_count": (c_size_t, [_P]),
    "rfs_model_free": (None, [_P]),
    "rfs_model_fetch": (c_int, [ctypes.c_char_p, c_size_t, c_char_p, PROGRESS_FN, c_void_p]),
    "rfs_model_url": (c_char_p, [c_char_p]),
    "rfs_session_defaults": (SessionOpts, []),
    "rfs_session_opts_set": (c_int, [POINTER(SessionOpts), c_char_p, c_char_p]),
    "rfs_device_count": (c_int, [c_int]),
    "rfs_session_create": (c_int, [POINTER(_P), _P, POINTER(SessionOpts)]),
    "rfs_session_free": (None, [_P]),
    "rfs_frame_free": (None, [POINTER(Frame)]),
    "rfs_frame_image": (Image, [POINTER(Frame)]),
    "rfs_image_decode": (c_int, [POINTER(Frame), c_char_p, c_size_t, POINTER(DecodeOpts)]),
    "rfs_image_load": (c_int, [POINTER(Frame), c_char_p, POINTER(DecodeOpts)]),
    "rfs_video_open": (c_int, [POINTER(_P), c_char_p, POINTER(VideoOpts)]),
    "rfs_video_read": (c_int, [_P, POINTER(Frame), POINTER(c_int)]),
    "rfs_video_width": (c_int, [_P]),
    "rfs_video_height": (c_int, [_P]),
    "rfs_video_fps": (c_double, [_P]),
    "rfs_video_frame_count": (ctypes.c_int64, [_P]),
    "rfs_video_frame_index": (ctypes.c_int64, [_P]),
    "rfs_video_close": (None, [_P]),
    "rfs_predict_defaults": (PredictOpts, [c_int]),
    "rfs_predict_opts_set": (c_int, [POINTER(PredictOpts), c_char_p, c_char_p]),
    "rfs_parse_confidence": (c_int, [c_char_p, POINTER(c_float)]),
    "rfs_preset_parse": (c_int, [c_char_p, POINTER(c_int)]),
    "rfs_preset_name": (c_char_p, [c_int]),
    "rfs_result_free": (None, [POINTER(Result)]),
    "rfs_predict": (c_int, [_P, POINTER(Image), c_int, POINTER(PredictOpts), POINTER(Result)]),
    "rfs_predict_submit": (c_int, [_P, POINTER(Image), c_int, POINTER(PredictOpts)]),
    "rfs_predict_collect": (c_int, [_P, POINTER(Result), POINTER(c_int)]),
    "rfs_predict_pending": (c_int, [_P]),
    "rfs_text_free": (None, [POINTER(Text)]),
    "rfs_text_reset": (None, [POINTER(Text)]),
    "rfs_mask_format_parse": (c_int, [c_char_p, POINTER(c_int)]),
    "rfs_shapes_create": (c_int, [POINTER(_P)]),
    "rfs_shapes_free": (None, [_P]),
    "rfs_response_defaults": (ResponseOpts, []),
    "rfs_response_roboflow": (c_int, [POINTER(Text), _P, POINTER(Result), _P, POINTER(ResponseOpts)]),
    "rfs_response_rfdetr": (c_int, [POINTER(Text), _P, POINTER(Result), _P, POINTER(ResponseOpts)]),
    "rfs_class_name": (c_char_p, [_P, c_int, c_int, ctypes.c_char_p]),
    "rfs_tracker_defaults": (TrackerOpts, []),
    "rfs_tracker_create": (c_int, [POINTER(_P), POINTER(TrackerOpts)]),
    "rfs_tracker_update": (c_int, [_P, POINTER(Result)]),
    "rfs_tracker_free": (None, [_P]),
}

SONAME = "librfseg.so.0"


def candidates():
    """Where the library is looked for, in order: $RFSEG_LIBRARY, a copy bundled in this
    package, the build/ directory of the checkout this package sits in, the system."""
    out = []
    env = os.environ.get("RFSEG_LIBRARY")
    if env:
        out.append(("RFSEG_LIBRARY", env))
    here = os.path.dirname(os.path.abspath(__file__))
    out.append(("bundled", os.path.join(here, SONAME)))
    root = os.path.dirname(os.path.dirname(here))  # python/rfseg -> the checkout
    if os.path.isfile(os.path.join(root, "include", "rfseg.h")):
        out.append(("checkout", os.path.join(root, "build", SONAME)))
    found = ctypes.util.find_library("rfseg")
    if found:
        out.append(("system", found))
    out.append(("system", SONAME))
    return out


def load():
    """Loads librfseg and declares its prototypes; returns (CDLL, path)."""
    tried = []
    for origin, path in candidates():
        if origin in ("bundled", "checkout") and not os.path.exists(path):
            continue
        try:
            lib = ctypes.CDLL(path)
        except OSError as e:
            if origin == "RFSEG_LIBRARY":  # an explicit choice that fails is an error
                raise ImportError("rfseg: RFSEG_LIBRARY=%s cannot be loaded: %s" % (path, e)) from None
            tried.append("%s (%s)" % (path, e))
            continue
        missing = [n for n in _PROTOTYPES if not hasattr(lib, n)]
        if missing:
            raise ImportError("rfseg: %s lacks %s: an older librfseg than this package"
                              % (path, ", ".join(missing[:5])))
        for name, (restype, argtypes) in _PROTOTYPES.items():
            f = getattr(lib, name)
            f.restype = restype
            f.argtypes = argtypes
        return lib, path
    raise ImportError("rfseg: librfseg.so.0 not found; build it (`make` in the rfseg checkout), "
                      "set RFSEG_LIBRARY to its path, or install it (`make install`). Tried: "
                      + "; ".join(tried))
