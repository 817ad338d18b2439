#!/bin/sh
# dev/rev-cpu/build.sh LIB OUT: builds bitcheck.c against the static library LIB.
cc -std=c11 -D_GNU_SOURCE -O2 -fopenmp -Iinclude -Isrc -o "$2" dev/rev-cpu/bitcheck.c "$1" \
  -lzip -lpng16 -ljpeg -lcjson -lcurl -lcrypto -lavformat -lavcodec -lswscale -lavutil \
  -lavdevice -lwebp -ltiff -lmicrohttpd -lhiredis -fopenmp -lm -lpthread
