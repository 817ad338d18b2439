"""The loaded library and its errors: RfsegError carries the rfs_status and the text of
rfs_last_error(), which the library keeps per thread, so check() reads it on the calling
thread right after the call that failed."""
import os

from . import _capi as C

# Idle OpenMP threads spin by default and take the cores other work needs (rfseg's CLI
# sets the same for itself); libgomp reads this once, when it is loaded.
os.environ.setdefault("OMP_WAIT_POLICY", "passive")
lib, library_path = C.load()


class RfsegError(Exception):
    """A failure reported by librfseg (or a bad argument found before calling it).

    status: the rfs_status code (rfseg.ERR_ARG, ...); status_name: "RFS_ERR_ARG", ...;
    message: the library's message, which names the file, option or limit."""

    def __init__(self, status, message):
        self.status = int(status)
        self.status_name = C.STATUS_NAMES.get(self.status, "rfs_status %d" % self.status)
        self.message = message
        super().__init__("%s [%s]" % (message, self.status_name))


RfsegError.__module__ = "rfseg"


def last_error():
    msg = lib.rfs_last_error()
    return msg.decode("utf-8", "replace") if msg else ""


def check(status, context=None):
    """Raises RfsegError for a failed call; call it right after the call, on its thread."""
    if status != C.OK:
        msg = last_error() or "failed"
        raise RfsegError(status, "%s: %s" % (context, msg) if context else msg)
