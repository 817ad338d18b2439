#!/usr/bin/env bash
# device_bench.sh - the CPU engine on the GPU machine's CPU, in one call (about 4-6 min):
# builds with make there, checks the kernels on every ISA path the CPU has (AMX included)
# and the fixture parity, then times `rfseg bench --device cpu` (the network alone on a
# full-size random model): seg-nano fp32 at 16 threads and at 2 (two distinct cores via
# taskset), thread scaling 1/2/4/8/16, bf16 at 16 and 2 threads, seg-small and seg-medium;
# per-stage times from build/dev-cpu/net_bench; a compact table last.
#
#   usage (repository root): dev/cpu/device_bench.sh            logs in $OUT (/tmp/rfs-cpu)
#   env: LD_LIBRARY_PATH is used as given; THREADS (default: all CPUs, at most 16);
#        FRAMES (timed frames per run, default 20; 1-2 threads use FRAMES/4)
#        STEPS (default "env build test peak gemm nano scale bf16 sizes stages")
set -u
cd "$(dirname "$0")/../.."
OUT=${OUT:-/tmp/rfs-cpu}
mkdir -p "$OUT"
NCPU=$(nproc)
THREADS=${THREADS:-$((NCPU < 16 ? NCPU : 16))}
FRAMES=${FRAMES:-20}
SLOW=$(((FRAMES + 3) / 4))
STEPS=${STEPS:-env build test peak gemm nano scale bf16 sizes stages}
for d in "${RFS_SHARED:-}" shared .cudarun/shared ../shared; do
    if [ -n "$d" ] && [ -d "$d/fixtures" ]; then export RFS_SHARED=$(cd "$d" && pwd); break; fi
done
T0=$SECONDS
rows=()

# n CPUs on distinct physical cores first (then their siblings), as a taskset list
cpus() {
    local n=$1
    lscpu -p=CPU,CORE,SOCKET 2>/dev/null | grep -v '^#' | sort -t, -k3,3n -k2,2n -k1,1n |
        awk -F, '!seen[$3","$2]++ {print $1} ' >"$OUT/.first"
    lscpu -p=CPU,CORE,SOCKET 2>/dev/null | grep -v '^#' | sort -t, -k3,3n -k2,2n -k1,1n |
        awk -F, 'seen[$3","$2]++ {print $1}' >>"$OUT/.first"
    if [ ! -s "$OUT/.first" ]; then seq 0 $((NCPU - 1)) >"$OUT/.first"; fi
    head -n "$n" "$OUT/.first" | paste -sd, -
}

# bench LABEL THREADS FRAMES [env VAR=..] -- rfseg bench args; records p50 in the table
bench() {
    local label=$1 t=$2 f=$3; shift 3
    local envs=()
    while [ $# -gt 0 ] && [ "$1" != "--" ]; do envs+=("$1"); shift; done
    shift
    local list; list=$(cpus "$t")
    local log="$OUT/bench.log"
    echo "=== $label: threads $t on cpus $list ${envs[*]:-} rfseg bench $*" >>"$log"
    local line
    line=$(env "${envs[@]}" timeout 120 taskset -c "$list" build/rfseg bench --device cpu --threads "$t" \
        --frames "$f" "$@" 2>>"$log" | tee -a "$log" | grep '^{' | tail -1)
    local p50; p50=$(echo "$line" | sed -n 's/.*"p50":\([0-9.]*\).*/\1/p')
    rows+=("$(printf '%-44s %7s ms' "$label" "${p50:-FAIL}")")
    echo "$(printf '%-44s %7s ms' "$label" "${p50:-FAIL}")"
}

for s in $STEPS; do
    case $s in
    env)
        { lscpu; echo; grep -m1 'model name' /proc/cpuinfo; echo "nproc $NCPU";
          grep -o -w 'avx2\|avx512f\|avx512_bf16\|amx_tile\|amx_bf16\|amx_int8' /proc/cpuinfo | sort | uniq -c;
          free -g; uptime; echo "RFS_SHARED=${RFS_SHARED:-none}"; echo "LD_LIBRARY_PATH=${LD_LIBRARY_PATH:-}"; } >"$OUT/env.log" 2>&1
        echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2), $NCPU cpus," \
             "$(lscpu | grep -E '^(Thread|Core|Socket)' | tr -s ' ' | paste -sd' ' -)"
        echo "flags: $(grep -o -w 'avx512f\|avx512_bf16\|amx_tile\|amx_bf16' /proc/cpuinfo | sort -u | paste -sd' ' -)"
        ;;
    build)
        { make -j"$NCPU" && dev/cpu/build.sh; } >"$OUT/build.log" 2>&1
        echo "build: rc=$? ($(tail -n 1 "$OUT/build.log"))"
        ldd build/rfseg | grep -E 'blas|dnnl|blis|gomp' | tee -a "$OUT/build.log"
        ;;
    test)
        timeout 240 build/tests/test_cpu_kernels >"$OUT/test.log" 2>&1
        echo "test_cpu_kernels: rc=$? $(grep -E 'detected|worst|passed' "$OUT/test.log" | paste -sd';' -)"
        [ -n "${RFS_SHARED:-}" ] || echo "  (network_every_path needs the fixtures: set RFS_SHARED)"
        grep -E "FAIL|check failed" "$OUT/test.log" | head -10
        if [ -n "${RFS_SHARED:-}" ]; then
            for isa in "" avx2; do
                RFS_CPU_ISA=$isa timeout 120 build/tests/test_model_parity >"$OUT/parity$isa.log" 2>&1
                echo "test_model_parity ${isa:-native}: rc=$? $(tail -n 1 "$OUT/parity$isa.log")"
            done
        else
            echo "test_model_parity: no fixtures here (set RFS_SHARED)"
        fi
        ;;
    peak)
        timeout 60 taskset -c "$(cpus 1)" build/dev-cpu/peak >"$OUT/peak.log" 2>&1
        echo "peak (1 core): $(tail -n 1 "$OUT/peak.log")"
        ;;
    gemm)
        timeout 120 taskset -c "$(cpus 1)" build/dev-cpu/gemm_bench 1 7 >"$OUT/gemm.log" 2>"$OUT/gemm.err"
        echo "gemm engines, 1 thread (GFLOP/s):"; cat "$OUT/gemm.log"
        ;;
    nano)
        bench "seg-nano fp32 ${THREADS}t passive" "$THREADS" "$FRAMES" -- --random-weights seg-nano
        bench "seg-nano fp32 ${THREADS}t active" "$THREADS" "$FRAMES" OMP_WAIT_POLICY=active -- --random-weights seg-nano
        bench "seg-nano fp32 2t passive" 2 "$SLOW" -- --random-weights seg-nano
        bench "seg-nano fp32 2t active" 2 "$SLOW" OMP_WAIT_POLICY=active -- --random-weights seg-nano
        ;;
    scale)
        for t in 1 2 4 8 16; do
            [ "$t" -le "$NCPU" ] || continue
            f=$FRAMES; [ "$t" -le 2 ] && f=$SLOW
            bench "scaling seg-nano fp32 ${t}t active" "$t" "$f" OMP_WAIT_POLICY=active -- --random-weights seg-nano
        done
        ;;
    bf16)
        bench "seg-nano bf16 ${THREADS}t active" "$THREADS" "$FRAMES" OMP_WAIT_POLICY=active -- --random-weights seg-nano --precision bf16
        bench "seg-nano bf16 ${THREADS}t passive" "$THREADS" "$FRAMES" -- --random-weights seg-nano --precision bf16
        bench "seg-nano bf16 2t active" 2 "$SLOW" OMP_WAIT_POLICY=active -- --random-weights seg-nano --precision bf16
        bench "seg-nano bf16 ${THREADS}t active, no AMX" "$THREADS" "$FRAMES" OMP_WAIT_POLICY=active RFS_CPU_ISA=avx512bf16 -- --random-weights seg-nano --precision bf16
        bench "seg-nano fp32 ${THREADS}t active, AVX2 only" "$THREADS" "$FRAMES" OMP_WAIT_POLICY=active RFS_CPU_ISA=avx2 -- --random-weights seg-nano
        ;;
    sizes)
        for m in seg-small seg-medium; do
            bench "$m fp32 ${THREADS}t active" "$THREADS" "$SLOW" OMP_WAIT_POLICY=active -- --random-weights $m
            bench "$m bf16 ${THREADS}t active" "$THREADS" "$SLOW" OMP_WAIT_POLICY=active -- --random-weights $m --precision bf16
        done
        bench "seg-medium fp32 2t active" 2 2 OMP_WAIT_POLICY=active -- --random-weights seg-medium
        ;;
    stages)
        for p in fp32 bf16; do
            OMP_WAIT_POLICY=active timeout 120 taskset -c "$(cpus "$THREADS")" build/dev-cpu/net_bench seg-nano "$THREADS" "$FRAMES" $p >>"$OUT/stages.log" 2>&1
            OMP_WAIT_POLICY=active timeout 120 taskset -c "$(cpus 2)" build/dev-cpu/net_bench seg-nano 2 "$SLOW" $p >>"$OUT/stages.log" 2>&1
        done
        echo "per stage (wall, ms):"; sed 's/^/  /' "$OUT/stages.log"
        ;;
    esac
done

echo
echo "== summary (median network latency, batch 1; $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), $((SECONDS - T0)) s)"
for r in "${rows[@]}"; do echo "$r"; done
