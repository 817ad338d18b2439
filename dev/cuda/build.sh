#!/usr/bin/env bash
# Builds, on this (GPU-less) machine, everything the GPU-machine scripts need, into the
# git-ignored folder .cudarun/ (named in the run tool's `carry`):
#   pack.tar.xz   bin/ (rfseg, the CUDA and CPU tests, bench_cuda, and the CPU lab's
#                 net_bench / peak / gemm_bench when dev/cpu/build.sh can make them), built
#                 in build-dev/ with the CUDA backend and without the optional libraries the
#                 GPU machine lacks (curl, FFmpeg, WebP, TIFF; hiredis stays, for the worker, and is carried), and machine code
#                 for the GPU machine's Hopper only (sm_90a: the Turing and Ampere code
#                 paths are chosen at run time, RFS_CUDA_ARCH, so they run there too; one
#                 architecture keeps the binaries small enough to carry); libs/ (this
#                 machine's shared libraries that the GPU machine may lack; device_env.sh
#                 keeps only missing sonames); clips/ (60 frames of the sample video as y4m,
#                 312x312 and native 426x240: the end-to-end benchmarks' sources)
#   shared/fixtures/rfdetr/, shared/fixtures/images/   the fixtures (RFS_SHARED points here)
set -euo pipefail
cd "$(dirname "$0")/../.."
B=build-dev
OUTD=.cudarun
FEATURES="CUDA=1 BUILD=$B NO_CURL=1 NO_FFMPEG=1 NO_AVDEVICE=1 NO_WEBP=1 NO_TIFF=1"
ARCH90="-gencode arch=compute_90a,code=sm_90a"
mkdir -p .git/info; grep -qx '/.cudarun/' .git/info/exclude 2>/dev/null || echo '/.cudarun/' >> .git/info/exclude
rm -f $B/rfseg
TESTS="$B/tests/test_cuda $B/tests/test_cuda_pipeline $B/tests/test_model_parity $B/tests/test_cpu_kernels \
       $B/tests/test_cpu_bf16 $B/tests/test_sessions"
make $FEATURES CUDA_ARCH="$ARCH90" -j2 $B/rfseg $TESTS >/tmp/rfs_cuda_build.log 2>&1 || { tail -40 /tmp/rfs_cuda_build.log; exit 1; }
rm -rf $OUTD && mkdir -p $OUTD/bin $OUTD/shared/fixtures/rfdetr $OUTD/shared/fixtures/images $OUTD/libs $OUTD/clips
# the bench tool, linked with the same libraries as the CLI (taken from its link line)
LIBS=$(grep "^cc .*-o $B/rfseg " /tmp/rfs_cuda_build.log | sed 's/.*librfseg\.a//' || true)
[ -n "$LIBS" ] || LIBS=$(make $FEATURES -s -p 2>/dev/null | sed -n 's/^DEP_LIBS *:\?= *//p' | head -1)
cc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -Wno-unused-parameter -fopenmp -Iinclude -Isrc \
   -I/usr/local/cuda/include -o $B/bench_cuda dev/cuda/bench_cuda.c $B/librfseg.a $LIBS -fopenmp -lm -lpthread
cp $B/rfseg $TESTS $B/bench_cuda $OUTD/bin/
# the CPU lab's per-stage and ceiling tools, when they build (dev/cpu/build.sh, plain build/)
if dev/cpu/build.sh >/tmp/rfs_cpu_lab.log 2>&1; then
    for t in net_bench peak; do [ -x build/dev-cpu/$t ] && cp build/dev-cpu/$t $OUTD/bin/; done
fi
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
