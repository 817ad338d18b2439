#!/usr/bin/env bash
# Replays fuzz inputs under valgrind with the ordinary build (no sanitizers): each target
# in tests/fuzz/fuzz_<name>.c is linked with replay.c and build/librfseg.a, then run on
# its seeds and on up to MAX (default 300) inputs of build-fuzz/corpus_<name>/.
#
#   tests/fuzz/valgrind_replay.sh [NAME...]        (after `make`)
#
# Exit status 1 when valgrind reports an error or a leak in any target.
set -u
cd "$(dirname "$0")/../.."
command -v valgrind >/dev/null || { echo "skipped: valgrind is not installed"; exit 0; }
[ -f build/librfseg.a ] || make -s lib || exit 2
max=${MAX:-300}
pc() { pkg-config --exists "$@" 2>/dev/null && pkg-config --libs "$@"; }
libs="$(pc libzip libpng libjpeg libcjson) $(pc libcurl) $(pc libavformat libavcodec libswscale libavutil) $(pc libmicrohttpd)"
blas=/usr/lib/$(cc -dumpmachine)/openblas-openmp
[ -d "$blas" ] && libs="$libs -L$blas -Wl,-rpath,$blas"
libs="$libs -lopenblas -fopenmp -lm -lpthread"
defs=$(make -s features | sed 's/^features: //')
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
    for src in tests/fuzz/fuzz_*.c; do n=${src#tests/fuzz/fuzz_}; names+=("${n%.c}"); done
fi
mkdir -p build-fuzz/replay
fail=0
for name in "${names[@]}"; do
    bin=build-fuzz/replay/replay_$name
    # shellcheck disable=SC2086
    cc -std=c11 -D_GNU_SOURCE -g -O1 $defs -Iinclude -Isrc -Itests/fuzz $(pkg-config --cflags libzip libcjson 2>/dev/null) \
        "tests/fuzz/fuzz_$name.c" tests/fuzz/replay.c build/librfseg.a $libs -o "$bin" || { fail=1; continue; }
    inputs=("tests/fuzz/seeds_$name")
    if [ -d "build-fuzz/corpus_$name" ]; then
        mapfile -t some < <(ls "build-fuzz/corpus_$name" | head -n "$max" | sed "s|^|build-fuzz/corpus_$name/|")
        inputs+=("${some[@]}")
    fi
    log=build-fuzz/replay/$name.valgrind.log
    if valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite "$bin" "${inputs[@]}" >"$log" 2>&1; then
        echo "ok   $name: $(tail -n1 "$log")"
    else
        echo "FAIL $name (see $log)"; grep -m5 -E '==[0-9]+== ' "$log"; fail=1
    fi
done
exit $fail
