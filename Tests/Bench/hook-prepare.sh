#!/usr/bin/env bash
# Times the libvirt hook's `prepare begin` for a domain with 8 PCI hostdevs (VFs of a
# generated 512-function host) against the 150 ms goal. Prints BENCH lines.
set -euo pipefail
bin=${1:-.build/release}
runs=${RUNS:-15}
work=$(mktemp -d /tmp/vfioctl-hookbench-XXXXXX)
trap 'rm -rf "$work"' EXIT
"$bin/vfioctl-hostgen" synthetic --functions 512 -o "$work/host" >/dev/null
cat > "$work/hook.toml" <<TOML
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
} > "$work/bench.xml"
"$bin/vfioctl" hook libvirt --config "$work/hook.toml" bench prepare begin - < "$work/bench.xml"   # must be accepted
: > "$work/times"
for _ in $(seq "$runs"); do
    start=$(date +%s%N)
    "$bin/vfioctl" hook libvirt --config "$work/hook.toml" bench prepare begin - < "$work/bench.xml"
    end=$(date +%s%N)
    echo $(( (end - start) / 1000 )) >> "$work/times"
    rm -rf "$work/state"
done
median=$(sort -n "$work/times" | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }')
echo "BENCH hook_prepare_8_hostdevs $(awk "BEGIN { printf \"%.1f\", $median / 1000 }") ms"
