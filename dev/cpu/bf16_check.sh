#!/usr/bin/env bash
# bf16_check.sh - tests/test_cpu_bf16 with the full-size random models too (seg-nano,
# seg-medium): bf16 against fp32 on detections; the output goes to dev/cpu/logs/.
#   usage: dev/cpu/bf16_check.sh   (after make; RFS_SHARED set or ../shared)
set -u
cd "$(dirname "$0")/../.."
export RFS_SHARED=${RFS_SHARED:-$(cd .. && pwd)/shared}
log=dev/cpu/logs/bf16_check-$(uname -n | cut -c1-12).log
{ date -u; grep -m1 'model name' /proc/cpuinfo; uptime;
  RFS_CPU_TEST_FULL=1 build/tests/test_cpu_bf16; } 2>&1 | tee "$log"
