#!/usr/bin/env bash
# Packs, on this (GPU-less) machine, what dev/python/device_check.sh needs on the GPU machine
# into the git-ignored folder .pyrun/ (name it in the run tool's `carry`): a CUDA build of
# librfseg.so.0 (from $BUILD_CUDA, default build-cuda, made there when missing, without curl
# and FFmpeg), the shared libraries it loads that the GPU machine may lack, the fixtures and
# 60 frames of the sample video as y4m (a build without FFmpeg reads y4m).
set -euo pipefail
cd "$(dirname "$0")/../.."
B=${BUILD_CUDA:-build-cuda}
O=.pyrun
X=$(git rev-parse --git-path info/exclude)
mkdir -p "$(dirname "$X")"; grep -qx '/.pyrun/' "$X" 2>/dev/null || echo '/.pyrun/' >> "$X"
if [ ! -e "$B/librfseg.so.0" ]; then
    make CUDA=1 BUILD="$B" NO_CURL=1 NO_FFMPEG=1 -j2 "$B/librfseg.so" >/tmp/rfs_py_cuda_build.log 2>&1 ||
        { tail -40 /tmp/rfs_py_cuda_build.log; exit 1; }
fi
rm -rf $O && mkdir -p $O/libs $O/shared/fixtures/rfdetr $O/shared/fixtures/images
cp -L "$B/librfseg.so.0" $O/librfseg.so.0
ldd $O/librfseg.so.0 | awk '/=> \//{print $3}' | sort -u |
  grep -v -E 'libc\.so|libm\.so|libpthread|libdl\.so|librt\.so|ld-linux|libcuda|libcublas|libcudart|libstdc\+\+|libgcc_s|libz\.so' |
  while read -r lib; do cp -L "$lib" $O/libs/; done
cp /work/shared/fixtures/rfdetr/tiny-w1.pth $O/shared/fixtures/rfdetr/
cp /work/shared/fixtures/images/*.png $O/shared/fixtures/images/
ffmpeg -v error -y -i /work/shared/videos/example_video.mp4 -frames:v 60 -pix_fmt yuv420p $O/clip426.y4m
du -sh $O
