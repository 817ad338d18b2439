#!/usr/bin/env bash
# Builds the CPU-engine lab programs into build/dev-cpu/ (after `make`):
#   gemm_bench       GEMM engines side by side: OpenBLAS (the old path), oneDNN (when
#                    libdnnl-dev is installed), the engine's kernels
#   gemm_bench_blis  the same with BLIS in place of OpenBLAS (when libblis-openmp-dev is)
#   attn_bench       attention: the old op against the engine's, per path
#   kern_bench       one micro-kernel call repeated (the kernels' ceiling)
#   net_bench        the whole network, per stage (thread CPU time with one thread)
#   peak             FMA / dpbf16 throughput of one core
#   bf16_trace       every traced intermediate of a bf16 session against a fixture reference
#   amx_emu          the AMX path on a C model of the tiles
set -eu
cd "$(dirname "$0")/../.."
make -s -j"$(nproc)" build/librfseg.a
OUT=build/dev-cpu
mkdir -p "$OUT"
ARCH=$(cc -dumpmachine)
CF="-std=c11 -D_GNU_SOURCE -g -O3 -march=x86-64-v2 -fopenmp -ffp-contract=off -Iinclude -Isrc -Wall -Werror=implicit-function-declaration"
OB=/usr/lib/$ARCH/openblas-openmp
if [ -f $OB/libopenblas.so ]; then
  BLAS="-I/usr/include/$ARCH/openblas-openmp -L$OB -Wl,-rpath,$OB -lopenblas"
else
  BLAS="$(pkg-config --cflags --libs openblas 2>/dev/null || echo -lopenblas)"
fi
LIBS="$(pkg-config --libs libzip libpng libjpeg libcjson) $(pkg-config --libs libcurl 2>/dev/null || true) -lm"
DNNL=""
if [ -f /usr/include/oneapi/dnnl/dnnl.h ]; then DNNL="-DWITH_DNNL=1 -ldnnl"; fi
cc $CF ${DNNL:+-DWITH_DNNL=1} -o $OUT/gemm_bench dev/cpu/gemm_bench.c build/librfseg.a $BLAS ${DNNL:+-ldnnl} -lm
BL=/usr/lib/$ARCH/blis-openmp
if [ -f $BL/libblis.so ]; then
  cc $CF -DWITH_BLIS=1 -I/usr/include/$ARCH/blis-openmp -Wno-unused-function -o $OUT/gemm_bench_blis \
     dev/cpu/gemm_bench.c build/librfseg.a -L$BL -Wl,-rpath,$BL -lblis -lm
fi
cc $CF -o $OUT/peak dev/cpu/peak.c
cc $CF -o $OUT/net_bench dev/cpu/net_bench.c build/librfseg.a $LIBS
cc $CF -o $OUT/bf16_trace dev/cpu/bf16_trace.c build/librfseg.a $LIBS
cc $CF -o $OUT/attn_bench dev/cpu/attn_bench.c build/librfseg.a $BLAS -lm
cc $CF -o $OUT/kern_bench dev/cpu/kern_bench.c build/librfseg.a -lm
# the AMX path on a C model of the tiles: the engine's files, gemm_amx.c built to emulate
cc $CF -Idev/cpu -DRFS_AMX_EMULATE -c src/cpu/gemm_amx.c -o $OUT/gemm_amx_emu.o
cc $CF -Idev/cpu -o $OUT/amx_emu dev/cpu/amx_emu.c src/cpu/gemm.c src/cpu/gemm_avx2.c \
   src/cpu/gemm_avx512.c src/cpu/attention.c src/cpu/isa.c src/util/err.c $OUT/gemm_amx_emu.o -lm
echo "built: $(ls $OUT | grep -v '\.o$' | tr '\n' ' ')"
