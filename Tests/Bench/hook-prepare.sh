#!/usr/bin/env bash
# Times the libvirt hook's `prepare begin` for a domain with 8 PCI hostdevs (VFs of a
# generated 512-function host; goal <= 50 ms, issue 17), and the same on a 4,096-function
# host. Prints BENCH lines.
set -euo pipefail
bin=${1:-.build/release}
runs=${RUNS:-15}
work=$(mktemp -d /tmp/vfioctl-hookbench-XXXXXX)
trap 'rm -rf "$work"' EXIT
# Median milliseconds of $runs `prepare begin` runs on a generated host of $1 functions.
prepare_ms() {
    rm -rf "$work/host" "$work/state"
    "$bin/vfioctl-hostgen" synthetic --functions "$1" -o "$work/host" >/dev/null
    "$bin/vfioctl" hook libvirt --config "$work/hook.toml" bench prepare begin - <"$work/bench.xml" # must be accepted
    rm -rf "$work/state"
    : >"$work/times"
    for _ in $(seq "$runs"); do
        start=$(date +%s%N)
        "$bin/vfioctl" hook libvirt --config "$work/hook.toml" bench prepare begin - <"$work/bench.xml"
        end=$(date +%s%N)
        echo $(((end - start) / 1000)) >>"$work/times"
        rm -rf "$work/state"
    done
    sort -n "$work/times" | awk '{ v[NR] = $1 } END { printf "%.1f", v[int((NR + 1) / 2)] / 1000 }'
}

cat >"$work/hook.toml" <<TOML
root = "$work/host"
state-dir = "$work/state"
TOML
# Eight VFs of the first PF behind ACS-enabled ports (isolated groups): 0000:03:00.1-7, 0000:04:00.1.
{
    echo "<domain type='kvm'><name>bench</name><memory unit='GiB'>4</memory><os><type arch='x86_64' machine='pc-q35-7.2'>hvm</type></os><devices>"
    for address in 03:00.1 03:00.2 03:00.3 03:00.4 03:00.5 03:00.6 03:00.7 04:00.1; do
        bus=${address%%:*}; rest=${address#*:}; slot=${rest%%.*}; function=${rest#*.}
        echo "<hostdev mode='subsystem' type='pci' managed='yes'><source><address domain='0x0000' bus='0x$bus' slot='0x$slot' function='0x$function'/></source></hostdev>"
    done
    echo "</devices></domain>"
} >"$work/bench.xml"
echo "BENCH hook_prepare_8_hostdevs $(prepare_ms 512) ms"
echo "BENCH hook_prepare_8_hostdevs_4096_functions $(prepare_ms 4096) ms"
