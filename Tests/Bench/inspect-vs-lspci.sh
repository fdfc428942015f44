#!/usr/bin/env bash
# Times `vfioctl inspect --json` against `lspci -vvv` on the same generated host (full 4 KiB
# config spaces, switches with and without ACS, SR-IOV PFs with VFs), three ways:
#   - both pinned to one core (taskset -c 0): what the work costs, whatever the machine;
#   - unpinned: what a user waits for;
#   - CPU time (user + sys) of the unpinned runs;
# and the read floor: `cat` of every config file once, the least any tool reading them pays.
# Then `--lspci-dump` of a 10,000-device `lspci -vvv -xxx` dump.
# Prints `BENCH <name> <value> <unit>` lines; goals (issue 17) on 4,096 functions: 1-core
# ratio <= 0.5, unpinned <= 0.33, CPU <= 0.5, inspect peak < 40 MB. FUNCTIONS=65536 also
# measures 4,096 and prints the scaling (goal <= 17) and the big host's peak (< 200 MB).
set -euo pipefail
bin=${1:-.build/release}
runs=${RUNS:-9}
functions=${FUNCTIONS:-4096}
dump_devices=${DUMP_DEVICES:-10000}
work=$(mktemp -d /tmp/vfioctl-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
maximum() { sort -n | tail -1; }
ms() { awk "BEGIN { printf \"%.1f\", $1 / 1000 }"; }
ratio() { awk "BEGIN { printf \"%.3f\", $1 / $2 }"; }
mb() { awk "BEGIN { printf \"%.1f\", $1 / 1024 }"; }

# One run of "$@", output discarded: "wall_us cpu_us peak_kb" (GNU time for CPU and RSS).
measure() {
    local start end
    start=$(date +%s%N)
    /usr/bin/time -f "%U %S %M" -o "$work/time" "$@" >/dev/null 2>"$work/stderr"
    end=$(date +%s%N)
    read -r user sys peak <"$work/time"
    echo "$(((end - start) / 1000)) $(awk "BEGIN { printf \"%d\", ($user + $sys) * 1e6 }") $peak"
}

# Medians of $runs runs of inspect and lspci on the host at $1, pinned (prefix $2) or not.
# Sets inspect_wall, inspect_cpu, inspect_kb, lspci_wall, lspci_cpu, lspci_kb.
compare() {
    local host=$1 runs=$2
    shift 2
    local inspect=("$bin/vfioctl" inspect --root "$host" --json)
    local lspci=(lspci -vvv -A linux-sysfs -O "sysfs.path=$host/sys/bus/pci")
    "$@" "${inspect[@]}" >/dev/null
    "$@" "${lspci[@]}" >/dev/null 2>&1 # warm the page cache
    : >"$work/inspect.txt"
    : >"$work/lspci.txt"
    for _ in $(seq "$runs"); do
        measure "$@" "${inspect[@]}" >>"$work/inspect.txt"
        measure "$@" "${lspci[@]}" >>"$work/lspci.txt"
    done
    inspect_wall=$(cut -d' ' -f1 "$work/inspect.txt" | median)
    inspect_cpu=$(cut -d' ' -f2 "$work/inspect.txt" | median)
    inspect_kb=$(cut -d' ' -f3 "$work/inspect.txt" | maximum)
    lspci_wall=$(cut -d' ' -f1 "$work/lspci.txt" | median)
    lspci_cpu=$(cut -d' ' -f2 "$work/lspci.txt" | median)
    lspci_kb=$(cut -d' ' -f3 "$work/lspci.txt" | maximum)
}

# The read floor: every config file read once by cat (one process, like the tools).
read_floor() {
    local host=$1 runs=$2
    : >"$work/floor.txt"
    for _ in $(seq "$runs"); do
        measure sh -c "printf '%s\0' '$host'/sys/bus/pci/devices/*/config | xargs -0 cat" >>"$work/floor.txt"
    done
    cut -d' ' -f1 "$work/floor.txt" | median
}

generate() { "$bin/vfioctl-hostgen" synthetic --functions "$1" -o "$2" >/dev/null; }

generate 4096 "$work/host"
echo "BENCH host_functions $(ls "$work/host/sys/bus/pci/devices" | wc -l) functions"
echo "BENCH read_floor_ms $(ms "$(read_floor "$work/host" "$runs")") ms"

compare "$work/host" "$runs" taskset -c 0
echo "BENCH inspect_json_1core_median $(ms "$inspect_wall") ms"
echo "BENCH lspci_vvv_1core_median $(ms "$lspci_wall") ms"
echo "BENCH inspect_vs_lspci_ratio_1core $(ratio "$inspect_wall" "$lspci_wall") ratio"
inspect_1core_4096=$inspect_wall

compare "$work/host" "$runs" env
echo "BENCH inspect_json_median $(ms "$inspect_wall") ms"
echo "BENCH lspci_vvv_median $(ms "$lspci_wall") ms"
echo "BENCH inspect_vs_lspci_ratio $(ratio "$inspect_wall" "$lspci_wall") ratio"
echo "BENCH inspect_cpu_median $(ms "$inspect_cpu") ms"
echo "BENCH lspci_cpu_median $(ms "$lspci_cpu") ms"
echo "BENCH inspect_vs_lspci_cpu_ratio $(ratio "$inspect_cpu" "$lspci_cpu") ratio"
echo "BENCH inspect_peak_rss $(mb "$inspect_kb") MB"
echo "BENCH lspci_peak_rss $(mb "$lspci_kb") MB"

if [ "$functions" != 4096 ]; then
    rm -rf "$work/host"
    generate "$functions" "$work/big"
    big_runs=$(((runs + 2) / 3))
    compare "$work/big" "$big_runs" taskset -c 0
    echo "BENCH host_functions $(ls "$work/big/sys/bus/pci/devices" | wc -l) functions"
    echo "BENCH read_floor_${functions}_ms $(ms "$(read_floor "$work/big" "$big_runs")") ms"
    echo "BENCH inspect_json_1core_${functions}_median $(ms "$inspect_wall") ms"
    echo "BENCH lspci_vvv_1core_${functions}_median $(ms "$lspci_wall") ms"
    echo "BENCH inspect_vs_lspci_ratio_1core_${functions} $(ratio "$inspect_wall" "$lspci_wall") ratio"
    echo "BENCH inspect_scaling_${functions}_vs_4096 $(ratio "$inspect_wall" "$inspect_1core_4096") ratio"
    echo "BENCH inspect_peak_rss_${functions} $(mb "$inspect_kb") MB"
    rm -rf "$work/big"
fi

# An lspci dump as users share them (`lspci -vvv -xxx`), of $dump_devices functions.
generate "$dump_devices" "$work/dumphost"
lspci -vvv -xxx -A linux-sysfs -O "sysfs.path=$work/dumphost/sys/bus/pci" >"$work/dump.txt" 2>/dev/null
rm -rf "$work/dumphost"
"$bin/vfioctl" inspect --lspci-dump "$work/dump.txt" --json >/dev/null
: >"$work/dump-times.txt"
for _ in $(seq "$(((runs + 2) / 3))"); do
    measure "$bin/vfioctl" inspect --lspci-dump "$work/dump.txt" --json >>"$work/dump-times.txt"
done
echo "BENCH lspci_dump_functions $(grep -cE '^([0-9a-f]{4}:)?[0-9a-f]{2}:[0-9a-f]{2}\.[0-7] ' "$work/dump.txt") functions"
echo "BENCH lspci_dump_size $(mb "$(($(stat -c %s "$work/dump.txt") / 1024))") MB"
echo "BENCH inspect_lspci_dump_median $(ms "$(cut -d' ' -f1 "$work/dump-times.txt" | median)") ms"
echo "BENCH inspect_lspci_dump_peak_rss $(mb "$(cut -d' ' -f3 "$work/dump-times.txt" | maximum)") MB"
