"""Builds the rfseg package; the build bundles librfseg.so.0 into it when one is found:
$RFSEG_LIBRARY, else the checkout's build/librfseg.so.0 (after `make`). Without one the
package looks for the library at import time (docs/python.md)."""
import os
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))


def library():
    for path in (os.environ.get("RFSEG_LIBRARY"), os.path.join(HERE, "..", "build", "librfseg.so.0")):
        if path and os.path.isfile(path):
            return os.path.realpath(path)
    return None


class BuildPy(build_py):
    def run(self):
        super().run()
        lib = library()
        if lib:
            dest = os.path.join(self.build_lib, "rfseg", "librfseg.so.0")
            self.announce("bundling %s as %s" % (lib, dest), level=2)
            shutil.copyfile(lib, dest)
            os.chmod(dest, 0o755)


cmdclass = {"build_py": BuildPy}
try:  # a bundled shared library makes the wheel platform-specific
    from wheel.bdist_wheel import bdist_wheel

    class BdistWheel(bdist_wheel):
        def finalize_options(self):
            super().finalize_options()
            if library():
                self.root_is_pure = False

        def get_tag(self):
            python, abi, plat = super().get_tag()
            if library():
                python, abi = "py3", "none"
            return python, abi, plat

    cmdclass["bdist_wheel"] = BdistWheel
except ImportError:
    pass

setup(cmdclass=cmdclass)
