#!/usr/bin/env bash
# Times `vfioctl inspect --json` against `lspci -vvv` on the same generated 4,096-function
# host (full 4 KiB config spaces, switches with and without ACS, SR-IOV PFs with VFs).
# Prints `BENCH <name> <value> <unit>` lines. Goal (issue 2): ratio <= 0.5, peak < 40 MB.
set -euo pipefail
bin=${1:-.build/release}
runs=${RUNS:-7}
functions=${FUNCTIONS:-4096}
work=$(mktemp -d /tmp/vfioctl-bench-XXXXXX)
trap 'rm -rf "$work"' EXIT

"$bin/vfioctl-hostgen" synthetic --functions "$functions" -o "$work/host" >/dev/null
inspect=("$bin/vfioctl" inspect --root "$work/host" --json)
lspci=(lspci -vvv -A linux-sysfs -O "sysfs.path=$work/host/sys/bus/pci")

# One run: wall seconds (ns clock) and peak RSS in KB (GNU time), output discarded.
measure() {
    local start end
    start=$(date +%s%N)
    /usr/bin/time -f "%M" -o "$work/rss" "$@" >/dev/null 2>"$work/stderr"
    end=$(date +%s%N)
    echo "$(( (end - start) / 1000 )) $(cat "$work/rss")"
}

median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

"${inspect[@]}" >/dev/null; "${lspci[@]}" >/dev/null 2>&1   # warm the page cache
: >"$work/inspect.txt"; : >"$work/lspci.txt"
for _ in $(seq "$runs"); do
    measure "${inspect[@]}" >>"$work/inspect.txt"
    measure "${lspci[@]}" >>"$work/lspci.txt"
done
inspect_us=$(cut -d' ' -f1 "$work/inspect.txt" | median)
lspci_us=$(cut -d' ' -f1 "$work/lspci.txt" | median)
inspect_kb=$(cut -d' ' -f2 "$work/inspect.txt" | sort -n | tail -1)
lspci_kb=$(cut -d' ' -f2 "$work/lspci.txt" | sort -n | tail -1)
devices=$(ls "$work/host/sys/bus/pci/devices" | wc -l)

echo "BENCH host_functions $devices functions"
echo "BENCH inspect_json_median $(awk "BEGIN { printf \"%.1f\", $inspect_us / 1000 }") ms"
echo "BENCH lspci_vvv_median $(awk "BEGIN { printf \"%.1f\", $lspci_us / 1000 }") ms"
echo "BENCH inspect_vs_lspci_ratio $(awk "BEGIN { printf \"%.3f\", $inspect_us / $lspci_us }") ratio"
echo "BENCH inspect_peak_rss $(awk "BEGIN { printf \"%.1f\", $inspect_kb / 1024 }") MB"
echo "BENCH lspci_peak_rss $(awk "BEGIN { printf \"%.1f\", $lspci_kb / 1024 }") MB"
