# device_env.sh - sourced by the scripts that run on the GPU machine (from the repository
# root, after dev/cuda/build.sh packed .cudarun/ here): unpacks the binaries into $W, keeps
# the carried shared libraries only where the machine lacks the soname, and sets
# LD_LIBRARY_PATH (carried libraries, then cuBLASLt), RFS_SHARED, OUT, BIN, CL and SAN, and
# defines step(), which runs one logged, time-bounded step and adds a line to summary.
OUT=${OUT:-/tmp/rfs-out}
mkdir -p "$OUT"
W=/tmp/rfs
rm -rf $W && mkdir -p $W && tar xJf .cudarun/pack.tar.xz -C $W
for l in $W/libs/*; do
    n=$(basename "$l")
    if ldconfig -p | grep -q " $n "; then rm -f "$l"; fi
done
CUBLAS=$(ls /usr/local/cuda/lib64/libcublasLt.so.13 2>/dev/null || find / -xdev -name 'libcublasLt.so.13' 2>/dev/null | head -1)
export LD_LIBRARY_PATH=$W/libs:$(dirname "${CUBLAS:-/usr/local/cuda/lib64/x}"):${LD_LIBRARY_PATH:-}
export RFS_SHARED=$PWD/.cudarun/shared
BIN=$W/bin
CL=$W/clips
SAN=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null)
summary=()
step() { # name timeout command...
    local name=$1 t=$2; shift 2
    local t0=$SECONDS
    echo "=== $*" >>"$OUT/$name.log"
    timeout "$t" "$@" >>"$OUT/$name.log" 2>&1
    local rc=$?
    summary+=("$(printf '%-8s rc=%-3d %4ds  %s' "$name" $rc $((SECONDS - t0)) "$(tail -n 1 "$OUT/$name.log" | cut -c1-140)")")
    return $rc
}
