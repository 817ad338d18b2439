#!/usr/bin/env bash
# Builds the CPU-engine lab programs into build/dev-cpu/ (after `make`):
#   gemm_bench       OpenBLAS (today), oneDNN (if libdnnl-dev is installed), own kernels
#   gemm_bench_blis  the same with BLIS in place of OpenBLAS (if libblis-openmp-dev is)
set -eu
cd "$(dirname "$0")/../.."
make -s -j2 build/librfseg.a
OUT=build/dev-cpu
mkdir -p "$OUT"
ARCH=$(cc -dumpmachine)
CF="-std=c11 -D_GNU_SOURCE -g -O3 -march=x86-64-v2 -fopenmp -ffp-contract=off -Iinclude -Isrc -Wall -Werror=implicit-function-declaration"
OB=/usr/lib/$ARCH/openblas-openmp
DNNL=""
if [ -f /usr/include/oneapi/dnnl/dnnl.h ]; then DNNL="-DWITH_DNNL=1 -ldnnl"; fi
cc $CF ${DNNL:+-DWITH_DNNL=1} -o $OUT/gemm_bench dev/cpu/gemm_bench.c build/librfseg.a \
   -L$OB -Wl,-rpath,$OB -lopenblas ${DNNL:+-ldnnl} -lm
BL=/usr/lib/$ARCH/blis-openmp
if [ -f $BL/libblis.so ]; then
  cc $CF -DWITH_BLIS=1 -DWITH_DNNL=0 -I/usr/include/$ARCH/blis-openmp -Wno-unused-function -o $OUT/gemm_bench_blis \
     dev/cpu/gemm_bench.c build/librfseg.a -L$BL -Wl,-rpath,$BL -lblis -lm
fi
cc $CF -o $OUT/peak dev/cpu/peak.c
cc $CF -o $OUT/net_bench dev/cpu/net_bench.c build/librfseg.a $(make -s features >/dev/null; pkg-config --libs libzip libpng libjpeg libcjson) \
   -L$OB -Wl,-rpath,$OB -lopenblas -lm
cc $CF -o $OUT/attn_bench dev/cpu/attn_bench.c build/librfseg.a -L$OB -Wl,-rpath,$OB -lopenblas -lm
cc $CF -o $OUT/kern_bench dev/cpu/kern_bench.c build/librfseg.a -lm
echo "built: $(ls $OUT | tr '\n' ' ')"
# the AMX path on a C model of the tiles: every src/cpu file, gemm_amx.c built to emulate
AMXSRC="src/cpu/gemm.c src/cpu/gemm_avx2.c src/cpu/gemm_avx512.c src/cpu/attention.c src/cpu/isa.c src/util/err.c"
cc $CF -Idev/cpu -DRFS_AMX_EMULATE -c src/cpu/gemm_amx.c -o $OUT/gemm_amx_emu.o
cc $CF -Idev/cpu -o $OUT/amx_emu dev/cpu/amx_emu.c $AMXSRC $OUT/gemm_amx_emu.o \
   -I/usr/include/$ARCH/openblas-openmp -L$OB -Wl,-rpath,$OB -lopenblas -lm
