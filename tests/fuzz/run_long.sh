#!/usr/bin/env bash
# Nightly-style long fuzzing: each libFuzzer target in turn (one process at a time, under
# nice) for SECONDS (default 3600), growing build-fuzz/corpus_<name>/ from the committed
# seeds. A target that finds a problem is restarted for the rest of its time (the
# reproducer stays in build-fuzz/artifacts/); a summary with libFuzzer's figures (runs,
# exec/s, cov = edges covered, ft = features, corpus size) goes to
# build-fuzz/long/summary.txt, one log per target beside it.
#
#   tests/fuzz/run_long.sh [SECONDS_PER_TARGET] [NAME...]      (NICE=15 by default)
#
# Run the targets with `make fuzz` first, or let this script build them. Each binary is
# copied before it runs, so rebuilding build-fuzz/ meanwhile does not disturb a run.
# Exit status: 0 when every target ran its time clean, 1 when any found a problem.
set -u
cd "$(dirname "$0")/../.."
secs=${1:-3600}
shift $(( $# > 0 ? 1 : 0 ))
case $secs in ''|*[!0-9]*) echo "usage: $0 [seconds] [name...]" >&2; exit 2;; esac
nice_level=${NICE:-15}
names=("$@")
if [ ${#names[@]} -eq 0 ]; then
    for src in tests/fuzz/fuzz_*.c; do n=${src#tests/fuzz/fuzz_}; names+=("${n%.c}"); done
fi
for name in "${names[@]}"; do
    [ -x "build-fuzz/fuzz_$name" ] || { nice -n "$nice_level" make -s fuzz || exit 2; break; }
done
mkdir -p build-fuzz/long/bin build-fuzz/artifacts
summary=build-fuzz/long/summary.txt
[ -f "$summary" ] || printf '%-12s %7s %12s %8s %7s %7s %7s %s\n' target seconds runs exec/s cov ft corpus problems >"$summary"
status=0
for name in "${names[@]}"; do
    cp "build-fuzz/fuzz_$name" "build-fuzz/long/bin/fuzz_$name"
    bin=build-fuzz/long/bin/fuzz_$name
    corpus=build-fuzz/corpus_$name
    mkdir -p "$corpus"
    dirs=("$corpus")
    [ -d "tests/fuzz/seeds_$name" ] && dirs+=("tests/fuzz/seeds_$name")
    dict=()
    [ -f "tests/fuzz/fuzz_$name.dict" ] && dict=(-dict="tests/fuzz/fuzz_$name.dict")
    log=build-fuzz/long/$name.log
    : >"$log"
    start=$SECONDS runs=0 problems=0
    while left=$((secs - (SECONDS - start))); [ "$left" -gt 5 ]; do
        nice -n "$nice_level" "$bin" -max_total_time="$left" -timeout=10 -rss_limit_mb=2048 \
            -max_len=65536 -artifact_prefix="build-fuzz/artifacts/$name-" -print_final_stats=1 \
            "${dict[@]}" "${dirs[@]}" >>"$log" 2>&1
        rc=$?
        r=$(grep 'stat::number_of_executed_units' "$log" | tail -n1 | awk '{print $2}')
        runs=$((runs + ${r:-0}))
        sed -i 's/stat::number_of_executed_units/stat::counted_units/' "$log"
        [ $rc -eq 0 ] && break
        problems=$((problems + 1))
        [ $problems -ge 5 ] && break
    done
    el=$((SECONDS - start))
    last=$(grep -E '^#[0-9]+' "$log" | grep -E 'cov: [0-9]+' | tail -n1)
    cov=$(sed -n 's/.*cov: \([0-9]*\).*/\1/p' <<<"$last")
    ft=$(sed -n 's/.*ft: \([0-9]*\).*/\1/p' <<<"$last")
    printf '%-12s %7d %12d %8d %7s %7s %7d %d\n' "$name" "$el" "$runs" $((runs / (el > 0 ? el : 1))) \
        "${cov:-?}" "${ft:-?}" "$(ls "$corpus" | wc -l)" "$problems" >>"$summary"
    [ $problems -eq 0 ] || status=1
done
cat "$summary"
exit $status
