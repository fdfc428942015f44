#!/usr/bin/env bash
# The real-kernel lab: boots Debian's kernels (6.1, and 6.12 from bookworm-security) under
# QEMU (TCG) with an emulated Intel or AMD IOMMU, once per scenario and kernel, runs vfioctl
# inside as root, and checks its answers against the kernel's own. Nothing here touches this
# machine's devices, and nothing is installed: kernels and QEMU 10 are unpacked into the cache.
#
# Usage: Tests/VMLab/vmlab.sh BIN_DIR [SCENARIO[@KERNEL]...]
#   BIN_DIR holds vfioctl and vfio-aerd built with --static-swift-stdlib (see `make vmlab`);
#   KERNEL is 6.1 or 6.12 (default: both).
# Prints `VMLAB <scenario>@<kernel> PASS|FAIL|SKIP <details>` per run, `N passed, M failed,
# K skipped` and `BENCH vmlab_wall_seconds`. A run is skipped (never silently passed) only when
# its kernel or QEMU 10 could not be downloaded.
set -euo pipefail

start=$(date +%s)
here=$(cd "$(dirname "$0")" && pwd)
bin=$(cd "$1" && pwd)
shift
cache=${VMLAB_CACHE:-$here/../../.build/vmlab}
# One VM per core: TCG runs a VM's single vCPU on one host thread.
jobs=${VMLAB_JOBS:-$(nproc)}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
# shellcheck source=Tests/VMLab/fetch.sh
. "$here/fetch.sh"

# Longest first, so two workers finish together.
all_scenarios=(igb-sriov vf-aer seed-host amd-vi bind-group aer-watch dma-check sriov-set aer-inject nvme-sriov
    switch-no-acs root-ports pci-bridge multifunction rciep-quirk reset-method config-acs)
kernel_labels=(6.1 6.12)

# MARK: scenarios: which QEMU, which IOMMU, how much memory, which devices

# "QEMU IOMMU MEMORY": QEMU 7.2 (the system's) or 10 (private, for igb); intel or amd.
machine() {
    case "$1" in
    seed-host | igb-sriov | vf-aer) echo "10 intel 1024" ;;
    amd-vi) echo "10 amd 1024" ;;
    dma-check) echo "7 intel 2048" ;;
    *) echo "7 intel 1024" ;;
    esac
}

# The seed's host as QEMU can build it: X58 root port (ioh3420) at slot 3, a TI x3130 switch
# without ACS standing in for the IDT PES12N3A, and a dual-function 82576 (igb) below each
# downstream port. Function 0 points its ARI "next function" at 1: without that the kernel,
# which follows ARI once the port forwards it, never scans function 1 (Docs/vmlab.md).
seed_host="-device ioh3420,id=rp3,chassis=1,slot=3,bus=pcie.0,addr=03.0 -device x3130-upstream,id=up1,bus=rp3 \
    -device xio3130-downstream,id=dn1,bus=up1,chassis=2,slot=0 -device xio3130-downstream,id=dn2,bus=up1,chassis=3,slot=1 \
    -device igb,bus=dn1,addr=0.0,multifunction=on,x-pcie-ari-nextfn-1=on,netdev=n0 -netdev user,id=n0 \
    -device igb,bus=dn1,addr=0.1,netdev=n1 -netdev user,id=n1 \
    -device igb,bus=dn2,addr=0.0,multifunction=on,x-pcie-ari-nextfn-1=on,netdev=n2 -netdev user,id=n2 \
    -device igb,bus=dn2,addr=0.1,netdev=n3 -netdev user,id=n3"

topology() {
    case "$1" in
    switch-no-acs) echo "-device ioh3420,id=rp1,chassis=1,slot=1,bus=pcie.0 -device x3130-upstream,id=up1,bus=rp1 \
        -device xio3130-downstream,id=dn1,bus=up1,chassis=2,slot=0 -device xio3130-downstream,id=dn2,bus=up1,chassis=3,slot=1 \
        -device e1000e,bus=dn1,netdev=n0 -netdev user,id=n0 -device nvme,serial=lab1,bus=dn2" ;;
    root-ports) echo "-device pcie-root-port,id=rp1,chassis=1,slot=1,bus=pcie.0 -device pcie-root-port,id=rp2,chassis=2,slot=2,bus=pcie.0 \
        -device e1000e,bus=rp1,netdev=n0 -netdev user,id=n0 -device e1000e,bus=rp2,netdev=n1 -netdev user,id=n1" ;;
    pci-bridge) echo "-device pcie-root-port,id=rp1,chassis=1,slot=1,bus=pcie.0 -device pcie-pci-bridge,id=br1,bus=rp1 \
        -device e1000,bus=br1,addr=1,netdev=n0 -netdev user,id=n0 -device e1000,bus=br1,addr=2,netdev=n1 -netdev user,id=n1" ;;
    multifunction) echo "-device pcie-root-port,id=rp1,chassis=1,slot=1,bus=pcie.0 \
        -device e1000e,bus=rp1,addr=0.0,multifunction=on,netdev=n0 -netdev user,id=n0 \
        -device e1000e,bus=rp1,addr=0.1,netdev=n1 -netdev user,id=n1" ;;
    rciep-quirk) echo "-device e1000e,bus=pcie.0,addr=05.0,multifunction=on,netdev=n0 -netdev user,id=n0 \
        -device e1000e,bus=pcie.0,addr=05.1,netdev=n1 -netdev user,id=n1" ;;
    bind-group) topology switch-no-acs ;;
    reset-method) echo "-device pcie-root-port,id=rp1,chassis=1,slot=1,bus=pcie.0 \
        -device pci-testdev,bus=rp1,addr=0.0,multifunction=on -device pci-testdev,bus=rp1,addr=0.1 \
        -device pcie-root-port,id=rp2,chassis=2,slot=2,bus=pcie.0 -device nvme,serial=lab3,bus=rp2" ;;
    config-acs) echo "-device pcie-root-port,id=rp1,chassis=1,slot=1,bus=pcie.0,addr=01.0 -device e1000e,bus=rp1,netdev=n0 \
        -netdev user,id=n0 -device pcie-root-port,id=rp2,chassis=2,slot=2,bus=pcie.0,addr=02.0 -device x3130-upstream,id=up1,bus=rp2 \
        -device xio3130-downstream,id=dn1,bus=up1,chassis=3,slot=0 -device xio3130-downstream,id=dn2,bus=up1,chassis=4,slot=1 \
        -device e1000e,bus=dn1,netdev=n1 -netdev user,id=n1 -device nvme,serial=lab4,bus=dn2" ;;
    sriov-set) topology nvme-sriov ;;
    dma-check) echo "-device pcie-root-port,id=rp1,chassis=1,slot=1,bus=pcie.0 -device e1000e,bus=rp1,netdev=n0 -netdev user,id=n0" ;;
    aer-watch) topology aer-inject ;;
    aer-inject) echo "-device pcie-root-port,id=rp1,chassis=1,slot=1,bus=pcie.0 -device e1000e,bus=rp1,netdev=n0 -netdev user,id=n0" ;;
    nvme-sriov) echo "-device pcie-root-port,id=rp1,chassis=1,slot=1,bus=pcie.0 -device nvme-subsys,id=ss0 \
        -device nvme,serial=lab2,subsys=ss0,bus=rp1,sriov_max_vfs=4,sriov_vq_flexible=10,sriov_vi_flexible=4" ;;
    seed-host | igb-sriov) echo "$seed_host" ;;
    # Guest C's e1000e sits on a root port of its own, away from both failing ports.
    vf-aer) echo "$seed_host -device pcie-root-port,id=rp9,chassis=9,slot=9,bus=pcie.0,addr=09.0 \
        -device e1000e,bus=rp9,netdev=n9 -netdev user,id=n9" ;;
    # Both kinds of topology under AMD-Vi: isolating generic root ports, and a switch without ACS.
    amd-vi) echo "-device pcie-root-port,id=rp1,chassis=1,slot=1,bus=pcie.0 -device pcie-root-port,id=rp2,chassis=2,slot=2,bus=pcie.0 \
        -device e1000e,bus=rp1,netdev=n0 -netdev user,id=n0 -device e1000e,bus=rp2,netdev=n1 -netdev user,id=n1 \
        -device ioh3420,id=rp3,chassis=3,slot=3,bus=pcie.0 -device x3130-upstream,id=up1,bus=rp3 \
        -device xio3130-downstream,id=dn1,bus=up1,chassis=4,slot=0 -device xio3130-downstream,id=dn2,bus=up1,chassis=5,slot=1 \
        -device e1000e,bus=dn1,netdev=n2 -netdev user,id=n2 -device nvme,serial=lab3,bus=dn2" ;;
    *) return 1 ;;
    esac
}

# Kernel parameters a scenario adds. config-acs: RR and CR cleared on both root ports at boot,
# as firmware may leave them (the kernel's own enabling happens first, then this).
kernel_arguments() {
    case "$1" in
    config-acs) echo "pci=disable_acs_redir=0000:00:01.0;0000:00:02.0" ;;
    esac
}

# The IOMMU's QEMU device and kernel parameters. Intel: VT-d with interrupt remapping.
# AMD: QEMU's amd-iommu without interrupt remapping (with it, 6.12 panics under TCG: "timer
# doesn't work through Interrupt-remapped IO-APIC"); `noapic`, because under TCG with AMD-Vi
# no IO-APIC interrupt arrives and the serial console would print nothing from user space.
iommu_options() {
    case "$1" in
    intel) echo "-M q35,kernel-irqchip=split -device intel-iommu,intremap=on,caching-mode=on|intel_iommu=on" ;;
    amd) echo "-M q35 -device amd-iommu|noapic" ;;
    esac
}

# MARK: what the runs need: kernels, QEMU 10

declare -A kernel_dir kernel_version kernel_skip
for label in "${kernel_labels[@]}"; do
    if dir=$(fetch_kernel "$label" 2> "$cache/fetch-$label.err"); then
        kernel_dir[$label]=$dir
        kernel_version[$label]=${dir##*/}
    else
        kernel_skip[$label]="Linux $label could not be downloaded: $(cat "$cache/fetch-$label.err")"
    fi
done
qemu10_skip="" qemu10_broken=""
qemu10=$(fetch_qemu10 2> "$cache/fetch-qemu10.err") || case $? in
    2) qemu10_broken="QEMU 10 was downloaded but does not run: $(cat "$cache/fetch-qemu10.err")" ;;
    *) qemu10_skip="QEMU 10 could not be downloaded: $(cat "$cache/fetch-qemu10.err")" ;;
esac
for label in "${kernel_labels[@]}"; do
    [ -f "$cache/fetch-$label.err" ] && [ -s "$cache/fetch-$label.err" ] && echo "vmlab: $(cat "$cache/fetch-$label.err")" >&2
done

# MARK: one initramfs per kernel: busybox, the modules the scenarios load, vfioctl and its libraries
build_initrd() {
    local label=$1 kver=${kernel_version[$1]} root="$cache/rootfs-$1" modules="${kernel_dir[$1]}/lib/modules/${kernel_version[$1]}"
    rm -rf "$root" && mkdir -p "$root"/{bin,dev,proc,sys,tmp,lib/vfioctl,lib64,scenarios,usr/share/misc,etc/vfioctl/quirks.d}
    cp /bin/busybox "$root/bin/busybox"
    mkdir -p "$root/lib/modules/$kver"
    for path in drivers/vfio drivers/nvme/host drivers/nvme/common drivers/net/ethernet/intel drivers/pci drivers/dca drivers/i2c/algos \
        virt lib crypto block/t10-pi.ko; do
        [ -e "$modules/kernel/$path" ] || continue
        mkdir -p "$root/lib/modules/$kver/kernel/$(dirname "$path")"
        cp -r "$modules/kernel/$path" "$root/lib/modules/$kver/kernel/$path"
    done
    cp "$modules"/modules.order "$modules"/modules.builtin* "$root/lib/modules/$kver/" 2>/dev/null || true
    depmod -b "$root" "$kver"
    # GNU tar and gzip (in /usr/bin, behind busybox's) for `vfioctl snapshot create`.
    mkdir -p "$root/usr/bin"
    cp "$(command -v tar)" "$(command -v gzip)" "$root/usr/bin/"
    for program in "$bin/vfioctl" "$bin/vfio-aerd" "$root/usr/bin/tar" "$root/usr/bin/gzip"; do
        [ "${program%/*}" = "$bin" ] && cp "$program" "$root/bin/"
        ldd "$program" | awk '/=> \// { print $3 }' | while read -r lib; do cp -L "$lib" "$root/lib/vfioctl/"; done
    done
    cp -L /lib64/ld-linux-x86-64.so.2 "$root/lib64/"
    [ -f /usr/share/misc/pci.ids ] && cp /usr/share/misc/pci.ids "$root/usr/share/misc/"
    cp "$here"/quirks.d/*.toml "$root/etc/vfioctl/quirks.d/"
    cp "$here/init.sh" "$root/init" && chmod +x "$root/init"
    cp "$here"/scenarios/*.sh "$root/scenarios/"
    (cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) > "$cache/initrd-$label.gz"
    rm -rf "$root"
}
for label in "${kernel_labels[@]}"; do
    if [ -z "${kernel_skip[$label]:-}" ]; then
        # Called as a plain command: inside `&&` or `if` errexit would be off and a failed
        # depmod or cpio would surface only as guests that never finish.
        build_initrd "$label"
    fi
done

# MARK: runs

runs=()
[ $# -gt 0 ] || set -- "${all_scenarios[@]}"
for argument in "$@"; do
    if [[ $argument == *@* ]]; then runs+=("$argument"); else for label in "${kernel_labels[@]}"; do runs+=("$argument@$label"); done; fi
done

out="$cache/results"
rm -rf "$out" && mkdir -p "$out"
run_one() {
    local run=$1 name=${1%@*} label=${1#*@} devices qemu memory iommu machine_options append timeout_seconds
    devices=$(topology "$name") || { echo "unknown scenario $name" > "$out/$run.console"; return 0; }
    read -r qemu iommu memory <<< "$(machine "$name")"
    if [ -n "${kernel_skip[$label]:-}" ]; then echo "${kernel_skip[$label]}" > "$out/$run.skip"; return 0; fi
    [ -n "${kernel_version[$label]:-}" ] || { echo "unknown kernel $label (6.1 or 6.12)" > "$out/$run.console"; return 0; }
    local command=(qemu-system-x86_64)
    if [ "$qemu" = 10 ]; then
        if [ -n "$qemu10_skip" ]; then echo "$qemu10_skip" > "$out/$run.skip"; return 0; fi
        if [ -n "$qemu10_broken" ]; then echo "$qemu10_broken" > "$out/$run.console"; return 0; fi
        command=(env "QEMU_MODULE_DIR=$qemu10/usr/lib/x86_64-linux-gnu/qemu" "$qemu10/usr/bin/qemu-system-x86_64"
            -L "$qemu10/usr/share/seabios" -L "$qemu10/usr/share/qemu")
    fi
    IFS='|' read -r machine_options append <<< "$(iommu_options "$iommu")"
    append="$append $(kernel_arguments "$name")"
    timeout_seconds=$([ "$qemu" = 10 ] && echo 420 || echo 240)
    # The monitor bridge forwards VMLAB-MONITOR requests from the guest console.
    python3 "$here/monitor.py" "$out/$run.console" "$out/$run.monitor" "$timeout_seconds" > "$out/$run.bridge" 2>&1 &
    local bridge=$! start=$SECONDS
    boot() { # CONSOLE EXTRA-KERNEL-ARGUMENTS
        # shellcheck disable=SC2086 # the topology and machine options are lists of options
        timeout "$timeout_seconds" "${command[@]}" -accel tcg $machine_options -cpu max -m "$memory" -smp 1 \
            -display none -no-reboot -nodefaults -serial "file:$1" \
            -monitor "unix:$out/$run.monitor,server,nowait" \
            -kernel "${kernel_dir[$label]}/boot/vmlinuz-${kernel_version[$label]}" -initrd "$cache/initrd-$label.gz" \
            -append "console=ttyS0 $append $2 quiet panic=-1 vmlab.scenario=$name vmlab.kernel=$label" \
            $devices > "$out/$run.qemu" 2>&1 || true
    }
    boot "$out/$run.console" ""
    # A second boot with the kernel parameter vfioctl printed in the first (Linux >= 6.11 has it).
    local parameter
    parameter=$(sed -n 's/^VMLAB-CONFIG-ACS \(pci=config_acs=[^ ]*\).*/\1/p' "$out/$run.console" | tr -d '\r' | head -1)
    if [ -n "$parameter" ] && [ "$label" != 6.1 ]; then
        boot "$out/$run.after.console" "$parameter vmlab.phase=after"
    fi
    echo "$((SECONDS - start))" > "$out/$run.seconds"
    kill "$bridge" 2>/dev/null || true
}
export -f run_one topology machine iommu_options kernel_arguments
export out cache here qemu10 qemu10_skip qemu10_broken seed_host
# Associative arrays do not cross `export`: pass them as declarations.
kernel_state=$(declare -p kernel_dir kernel_version kernel_skip)
export kernel_state
printf '%s\n' "${runs[@]}" | xargs -P "$jobs" -I{} bash -c 'eval "$kernel_state"; run_one "$1"' _ {}
# Everything: downloads (cached or not), initramfs builds and the VMs.
elapsed=$(($(date +%s) - start))

# config-acs: `vfioctl diff` of the snapshots of its two boots, run here on the host.
for run in "${runs[@]}"; do
    [ "${run%@*}" = config-acs ] && [ -f "$out/$run.after.console" ] || continue
    (cd "$here" && python3 -c 'import base64, sys
from check import sections
for console, target in zip(sys.argv[1::2], sys.argv[2::2]):
    found, _ = sections(open(console, errors="replace").read())
    open(target, "wb").write(base64.b64decode(found.get("acs-snapshot", "")))' \
        "$out/$run.console" "$out/$run.before.tar.gz" "$out/$run.after.console" "$out/$run.after.tar.gz") &&
        { "$bin/vfioctl" diff "$out/$run.before.tar.gz" "$out/$run.after.tar.gz" --json > "$out/$run.diff.json" 2> "$out/$run.diff.err"
            echo $? > "$out/$run.diff.status"; } || true
done

status=0
python3 "$here/check.py" "$out" "${runs[@]}" || status=$?
echo "BENCH vmlab_wall_seconds $elapsed s"
exit $status
