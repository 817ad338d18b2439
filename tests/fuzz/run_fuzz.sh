#!/usr/bin/env bash
# Builds the libFuzzer targets (make fuzz) and runs each tests/fuzz/fuzz_<name>.c for a
# bounded time, starting from tests/fuzz/seeds_<name>/ (read only) plus the inputs found
# by earlier runs in build-fuzz/corpus_<name>/, with tests/fuzz/fuzz_<name>.dict if present.
# The CI budget: 30 s for each of the 7 targets, 3.5 minutes of fuzzing in all (plus about
# 2 minutes to build them on 2 cores); tests/fuzz/run_long.sh is the nightly-style run.
#
#   tests/fuzz/run_fuzz.sh [SECONDS_PER_TARGET (default 30)] [NAME...]
#
# Exit status: 0 when every target ran clean, or when clang's libFuzzer is not installed
# (a "skipped" line says so); 1 when a target found a crash, leak, timeout or memory blow-up
# (the reproducer is in build-fuzz/artifacts/: run build-fuzz/fuzz_<name> FILE to replay it);
# 2 when the targets do not build.
set -u
cd "$(dirname "$0")/../.."
secs=${1:-30}
shift $(( $# > 0 ? 1 : 0 ))
case $secs in ''|*[!0-9]*) echo "usage: $0 [seconds] [name...]" >&2; exit 2;; esac

probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
echo 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { return 0; }' >"$probe/p.c"
if ! command -v clang >/dev/null 2>&1 || ! clang -fsanitize=fuzzer,address,undefined "$probe/p.c" -o "$probe/p" >/dev/null 2>&1; then
    echo "skipped: clang with libFuzzer (-fsanitize=fuzzer) is not available"
    exit 0
fi

make -s -j"$(nproc 2>/dev/null || echo 2)" fuzz || { echo "FAIL: the fuzz targets do not build"; exit 2; }

names=("$@")
if [ ${#names[@]} -eq 0 ]; then
    for src in tests/fuzz/fuzz_*.c; do n=${src#tests/fuzz/fuzz_}; names+=("${n%.c}"); done
fi
mkdir -p build-fuzz/artifacts
failed=()
for name in "${names[@]}"; do
    bin=build-fuzz/fuzz_$name
    corpus=build-fuzz/corpus_$name
    mkdir -p "$corpus"
    dirs=("$corpus")
    [ -d "tests/fuzz/seeds_$name" ] && dirs+=("tests/fuzz/seeds_$name")
    opts=(-max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -max_len=65536
          -artifact_prefix="build-fuzz/artifacts/$name-" -print_final_stats=1)
    [ -f "tests/fuzz/fuzz_$name.dict" ] && opts+=(-dict="tests/fuzz/fuzz_$name.dict")
    log=build-fuzz/fuzz_$name.log
    echo "fuzzing $name for ${secs}s (log: $log)"
    if "$bin" "${opts[@]}" "${dirs[@]}" >"$log" 2>&1; then
        echo "ok   $name: $(grep -m1 'stat::number_of_executed_units' "$log" | awk '{print $2}') runs, corpus $(ls "$corpus" | wc -l) inputs"
    else
        failed+=("$name")
        echo "FAIL $name:"
        grep -E 'ERROR|SUMMARY|Test unit written|artifact' "$log" | head -20 | sed 's/^/    /'
    fi
done
[ ${#failed[@]} -eq 0 ] || { echo "fuzzing found problems in: ${failed[*]}"; exit 1; }
echo "all fuzz targets ran clean"
