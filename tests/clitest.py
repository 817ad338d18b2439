"""Shared pieces of the command-line tests (tests/cli_*.py): where the build and the
fixtures are, and a check counter that ends the test with "N passed, N failed"."""
import os
import sys

BUILD = os.environ.get("RFS_BUILD", "build")
SHARED = os.environ.get("RFS_SHARED", os.path.join(os.path.dirname(__file__), "..", "..", "shared"))
RFSEG = os.path.join(BUILD, "rfseg")
_counts = {"passed": 0, "failed": 0}


def check(cond, what):
    """Counts one assertion; prints it when it fails."""
    _counts["passed" if cond else "failed"] += 1
    if not cond:
        print("FAIL", what)


def finish():
    """Prints the summary line tests/run.sh shows and exits non-zero on any failure."""
    print("%d passed, %d failed" % (_counts["passed"], _counts["failed"]))
    sys.exit(1 if _counts["failed"] else 0)
