#!/usr/bin/env bash
# On the GPU machine, after dev/python/pack.sh packed .pyrun/ here: the Python package on a
# CUDA session (dev/python/gpu_check.py). The machine's python3 (with numpy) runs it;
# carried libraries are used only where the machine lacks the soname.
set -u
cd "$(dirname "$0")/../.."
for l in .pyrun/libs/*; do
    n=$(basename "$l")
    if ldconfig -p | grep -q " $n "; then rm -f "$l"; fi
done
CUBLAS=$(ls /usr/local/cuda/lib64/libcublasLt.so.* 2>/dev/null | head -1)
export LD_LIBRARY_PATH=$PWD/.pyrun/libs:$(dirname "${CUBLAS:-/usr/local/cuda/lib64/x}"):${LD_LIBRARY_PATH:-}
export RFSEG_LIBRARY=$PWD/.pyrun/librfseg.so.0 RFS_SHARED=$PWD/.pyrun/shared OMP_WAIT_POLICY=passive
nvidia-smi -L
python3 dev/python/gpu_check.py .pyrun/clip426.y4m 2>&1 | tee "${OUT:-/tmp}/gpu_check.log"
