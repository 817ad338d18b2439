#!/usr/bin/env bash
# Installs rfseg's build and test dependencies from Debian's packages.
#   scripts/install-deps.sh          build dependencies
#   scripts/install-deps.sh --test   also the test oracles and tools (OpenCV, numpy, PIL,
#                                    clang's libFuzzer, valgrind, wrk, curl, redis-server)
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
SUDO=
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
pkgs=(build-essential pkg-config ca-certificates
      libzip-dev libpng-dev libjpeg62-turbo-dev libcurl4-openssl-dev libssl-dev
      libavformat-dev libavcodec-dev libswscale-dev libavutil-dev libavdevice-dev
      libwebp-dev libtiff-dev libmicrohttpd-dev libcjson-dev libhiredis-dev)
if [ "${1:-}" = "--test" ]; then
    pkgs+=(python3 python3-opencv python3-numpy python3-pil python3-scipy clang libclang-rt-dev valgrind curl wrk ffmpeg redis-server)
fi
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    $SUDO apt-get update
    $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
fi
