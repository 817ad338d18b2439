#!/usr/bin/env bash
# Builds, on this (GPU-less) machine, everything dev/cuda/device_run.sh needs on the GPU
# machine, into the git-ignored folder .cudarun/ (named in the run tool's `carry`):
#   pack.tar.xz   bin/ (rfseg, test_cuda, test_cuda_pipeline, test_model_parity, bench_cuda:
#                 CUDA build without curl and FFmpeg), libs/ (this machine's shared
#                 libraries that the GPU machine may lack: OpenBLAS & co.; device_run.sh
#                 keeps only missing sonames) and clips/ (60 frames of the sample video as
#                 y4m, 312x312 and native 426x240: the end-to-end benchmark's sources)
#   shared/fixtures/rfdetr/, shared/fixtures/images/   the fixtures (RFS_SHARED points here)
set -euo pipefail
cd "$(dirname "$0")/../.."
B=build-cuda
OUTD=.cudarun
mkdir -p .git/info; grep -qx '/.cudarun/' .git/info/exclude 2>/dev/null || echo '/.cudarun/' >> .git/info/exclude
rm -f $B/rfseg; make CUDA=1 BUILD=build-cuda NO_CURL=1 NO_FFMPEG=1 -j2 build-cuda/rfseg build-cuda/tests/test_cuda build-cuda/tests/test_cuda_pipeline build-cuda/tests/test_model_parity >/tmp/rfs_cuda_build.log 2>&1 || { tail -40 /tmp/rfs_cuda_build.log; exit 1; }
rm -rf $OUTD && mkdir -p $OUTD/bin $OUTD/shared/fixtures/rfdetr $OUTD/shared/fixtures/images $OUTD/libs $OUTD/clips
# link the bench tool with the same libraries as the CLI (taken from its link line)
LIBS=$(grep "^cc -o $B/rfseg " /tmp/rfs_cuda_build.log | sed 's/.*librfseg\.a//' || true)
[ -n "$LIBS" ] || LIBS=$(grep -o "librfseg\.a .*" /tmp/rfs_cuda_build.log | head -1 | sed 's/librfseg\.a//')
cc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -Wno-unused-parameter -fopenmp -Iinclude -Isrc \
   -I/usr/local/cuda/include -o $B/bench_cuda dev/cuda/bench_cuda.c $B/librfseg.a $LIBS
cp $B/rfseg $B/tests/test_cuda $B/tests/test_cuda_pipeline $B/tests/test_model_parity $B/bench_cuda $OUTD/bin/
strip --strip-debug $OUTD/bin/* || true
cp /work/shared/fixtures/rfdetr/tiny-w*.pth /work/shared/fixtures/rfdetr/tiny-w*.ref.safetensors $OUTD/shared/fixtures/rfdetr/
cp /work/shared/fixtures/images/*.png $OUTD/shared/fixtures/images/
V=/work/shared/videos/example_video.mp4
ffmpeg -v error -y -i $V -frames:v 60 -vf scale=312:312 -pix_fmt yuv420p $OUTD/clips/clip312.y4m
ffmpeg -v error -y -i $V -frames:v 60 -pix_fmt yuv420p $OUTD/clips/clip426.y4m
# every non-CUDA, non-glibc library the binaries load, copied from this machine
for bin in $OUTD/bin/*; do ldd "$bin"; done | awk '/=> \//{print $3}' | sort -u |
  grep -v -E 'libc\.so|libm\.so|libpthread|libdl\.so|librt\.so|ld-linux|libcuda|libcublas|libcudart|libstdc\+\+|libgcc_s|libz\.so|libcrypto' |
  while read -r lib; do cp -L "$lib" $OUTD/libs/; done
(cd $OUTD && tar cf - libs bin clips | xz -T2 -6 > pack.tar.xz && rm -rf libs bin clips)
du -sh $OUTD $OUTD/*
