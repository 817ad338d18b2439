#!/usr/bin/env bash
# Builds, on this (GPU-less) machine, everything dev/cuda/device_run.sh needs on the GPU
# machine, into the git-ignored folder .cudarun/ (named in the run tool's `carry`):
#   pack.tar.xz   bin/ (rfseg, test_cuda, test_model_parity, bench_cuda: CUDA build without
#                 curl and FFmpeg) and libs/ (this machine's shared libraries that the GPU
#                 machine may lack: OpenBLAS & co.; device_run.sh keeps only missing sonames)
#   shared/fixtures/rfdetr/   the fixture models and references (RFS_SHARED points here)
set -euo pipefail
cd "$(dirname "$0")/../.."
B=build-cuda
OUTD=.cudarun
mkdir -p .git/info; grep -qx '/.cudarun/' .git/info/exclude 2>/dev/null || echo '/.cudarun/' >> .git/info/exclude
rm -f $B/rfseg; make CUDA=1 BUILD=build-cuda NO_CURL=1 NO_FFMPEG=1 -j2 build-cuda/rfseg build-cuda/tests/test_cuda build-cuda/tests/test_model_parity >/tmp/rfs_cuda_build.log 2>&1 || { tail -40 /tmp/rfs_cuda_build.log; exit 1; }
rm -rf $OUTD && mkdir -p $OUTD/bin $OUTD/shared/fixtures/rfdetr $OUTD/libs
# link the bench tool with the same libraries as the CLI (taken from its link line)
LIBS=$(grep "^cc -o $B/rfseg " /tmp/rfs_cuda_build.log | sed 's/.*librfseg\.a//' || true)
[ -n "$LIBS" ] || LIBS=$(grep -o "librfseg\.a .*" /tmp/rfs_cuda_build.log | head -1 | sed 's/librfseg\.a//')
cc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -Wno-unused-parameter -fopenmp -Iinclude -Isrc \
   -I/usr/local/cuda/include -o $B/bench_cuda dev/cuda/bench_cuda.c $B/librfseg.a $LIBS
cp $B/rfseg $B/tests/test_cuda $B/tests/test_model_parity $B/bench_cuda $OUTD/bin/
strip --strip-debug $OUTD/bin/* || true
cp /work/shared/fixtures/rfdetr/tiny-w*.pth /work/shared/fixtures/rfdetr/tiny-w*.ref.safetensors $OUTD/shared/fixtures/rfdetr/
# every non-CUDA, non-glibc library the binaries load, copied from this machine
for bin in $OUTD/bin/*; do ldd "$bin"; done | awk '/=> \//{print $3}' | sort -u |
  grep -v -E 'libc\.so|libm\.so|libpthread|libdl\.so|librt\.so|ld-linux|libcuda|libcublas|libcudart|libstdc\+\+|libgcc_s|libz\.so|libcrypto' |
  while read -r lib; do cp -L "$lib" $OUTD/libs/; done
(cd $OUTD && tar cf - libs bin | xz -T2 -6 > pack.tar.xz && rm -rf libs bin)
du -sh $OUTD $OUTD/*
