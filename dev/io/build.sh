#!/bin/sh
# Builds io_tool against only the io objects (the shared library may be broken by work in
# progress elsewhere). Usage: dev/io/build.sh [BUILD]
set -e
B=${1:-build}
cd "$(dirname "$0")/../.."
make -s BUILD=$B $B/src/io/image.o $B/src/io/video.o $B/src/io/y4m.o $B/src/util/err.o
[ -f src/pipeline/annotate.c ] && make -s BUILD=$B $B/src/pipeline/annotate.o
FL=$(make -s -f Makefile features 2>/dev/null | sed 's/features: //')
CF="-std=c11 -D_GNU_SOURCE -g -O2 -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow -Wvla -Iinclude -Isrc -Itests $FL $(pkg-config --cflags libpng libjpeg libavformat libavcodec libswscale libavutil)"
LIBS="$(pkg-config --libs libpng libjpeg libavformat libavcodec libswscale libavutil) -lm -lpthread"
OBJ="$B/src/io/image.o $B/src/io/video.o $B/src/io/y4m.o $B/src/util/err.o"
mkdir -p $B/tests
cc $CF $EXTRA -o $B/tests/io_tool tests/tools/io_tool.c $OBJ $LIBS
[ -f tests/test_image_io.c ] && cc $CF $EXTRA -o $B/tests/test_image_io tests/test_image_io.c $OBJ $( [ -f $B/src/pipeline/annotate.o ] && echo $B/src/pipeline/annotate.o) $LIBS
echo built
