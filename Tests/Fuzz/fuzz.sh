#!/usr/bin/env bash
# Runs each libFuzzer target of vfioctl-fuzz for SECONDS, starting from the seed corpus in
# Tests/Fuzz/corpus/<target> (read only) and what earlier runs found (.build-fuzz/runs).
# Prints `FUZZ <target> <executions> execs <crashes> crashes` per target; exits 1 when any
# target crashed (its inputs are kept under .build-fuzz/runs/<target>/artifacts).
# Usage: Tests/Fuzz/fuzz.sh BINARY SECONDS TARGET...
set -uo pipefail
binary=$1
seconds=$2
shift 2
seeds=$(cd "$(dirname "$0")" && pwd)/corpus
runs=.build-fuzz/runs
# The Swift runtime's backtracer would keep a crashed process (and our pipe) open.
export SWIFT_BACKTRACE=enable=no
status=0
for target in "$@"; do
    dir=$runs/$target
    rm -rf "$dir/artifacts"
    mkdir -p "$dir/corpus" "$dir/artifacts"
    # libFuzzer's default input size is the largest seed's; one real lspci dump is 291 KB,
    # and 16 KiB already holds a function with its whole extended config space (13.6 KB of
    # hex). Quirk files are small; 4 KiB holds several quirks with every kind of match.
    case $target in
        lspci-dump) max_len=(-max_len=16384) ;;
        toml) max_len=(-max_len=4096) ;;
        *) max_len=() ;;
    esac
    FUZZ_TARGET=$target "$binary" "${max_len[@]}" -max_total_time="$seconds" -print_final_stats=1 -timeout=10 \
        -rss_limit_mb=4096 -artifact_prefix="$dir/artifacts/" "$dir/corpus" "$seeds/$target" >"$dir/log" 2>&1
    code=$?
    executions=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\)$/\1/p' "$dir/log" | tail -1)
    if [ -z "$executions" ]; then
        # Killed before the final stats: the last progress line's count.
        executions=$(sed -n 's/^#\([0-9]*\).*/\1/p' "$dir/log" | tail -1)
    fi
    crashes=$(find "$dir/artifacts" -type f | wc -l)
    if [ "$code" -ne 0 ] && [ "$crashes" -eq 0 ]; then crashes=1; fi
    echo "FUZZ $target ${executions:-0} execs $crashes crashes"
    if [ "$crashes" -ne 0 ]; then
        status=1
        echo "  exit status $code; inputs: $(find "$dir/artifacts" -type f | tr '\n' ' ')" >&2
        grep -m 5 -E 'ERROR|check failed|Fatal error|SUMMARY' "$dir/log" | sed 's/^/  /' >&2
    fi
done
exit $status
