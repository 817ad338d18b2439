#!/usr/bin/env bash
# Packs, on this machine, what dev/worker/device_bench.sh needs on the GPU machine (which
# has no Redis packages and no network), into .cudarun/worker.tar.xz next to
# dev/cuda/build.sh's pack (run that first: its CUDA build of rfseg includes the worker
# when hiredis is installed here, and it carries libhiredis with the other libraries):
#   redis/redis-server   Debian's redis-server 7.0 (the binary behind /usr/bin/redis-server,
#                        renamed: it picks its mode from its name)
#   redis/libs/          the shared libraries it loads that are not glibc's (the GPU side
#                        keeps only the sonames the machine lacks)
#   wbench               the load generator (dev/worker/wbench.c, linked with hiredis)
#   libs/                libhiredis for wbench
#   chelsea.jpg          the image every job carries (451x300, JPEG quality 90)
# Then, with the run tool (carry [".cudarun"]):  dev/worker/device_bench.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -f .cudarun/pack.tar.xz ] || { echo "run dev/cuda/build.sh first (.cudarun/pack.tar.xz)"; exit 1; }
tar xJf .cudarun/pack.tar.xz -O bin/rfseg > /tmp/rfs-pack-rfseg && chmod +x /tmp/rfs-pack-rfseg
if ! ldd /tmp/rfs-pack-rfseg | grep -q libhiredis; then
    echo "the packed rfseg has no worker (was hiredis installed when dev/cuda/build.sh ran?)"; exit 1
fi
T=$(mktemp -d)
mkdir -p "$T/redis/libs" "$T/libs"
cp -L /usr/bin/redis-server "$T/redis/redis-server"
ldd /usr/bin/redis-server | awk '/=> \//{print $3}' |
    grep -v -E 'libc\.so|libm\.so|libpthread|libdl\.so|librt\.so|ld-linux' |
    while read -r lib; do cp -L "$lib" "$T/redis/libs/"; done
cc -O2 -std=c11 -D_GNU_SOURCE -Wall -I/usr/include/hiredis dev/worker/wbench.c -lhiredis -o "$T/wbench"
cp -L "$(ldd "$T/wbench" | awk '/libhiredis/{print $3}')" "$T/libs/"
/usr/bin/python3 -c "import cv2, sys; cv2.imwrite(sys.argv[2], cv2.imread(sys.argv[1]), [cv2.IMWRITE_JPEG_QUALITY, 90])" \
    "${RFS_SHARED:-/work/shared}/fixtures/images/chelsea.png" "$T/chelsea.jpg"
(cd "$T" && tar cf - redis libs wbench chelsea.jpg | xz -T2 -6) > .cudarun/worker.tar.xz
echo "redis-server needs (carried in redis/libs, used only where the GPU machine lacks them):"
ls "$T/redis/libs"
rm -rf "$T" /tmp/rfs-pack-rfseg
du -h .cudarun/worker.tar.xz
