#!/usr/bin/env bash
# The real-kernel lab: boots Debian's 6.1 kernel under QEMU (TCG) with an emulated Intel
# IOMMU, once per PCIe topology, runs vfioctl inside as root, and checks its answers against
# the kernel's own /sys/kernel/iommu_groups. Nothing here touches this machine's devices.
#
# Usage: Tests/VMLab/vmlab.sh BIN_DIR [SCENARIO...]
#   BIN_DIR holds vfioctl and vfio-aerd built with --static-swift-stdlib (see `make vmlab`).
# Prints `VMLAB <scenario> PASS|FAIL <details>` per scenario and `N passed, M failed`.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
bin=$(cd "$1" && pwd)
shift
scenarios=("$@")
[ ${#scenarios[@]} -gt 0 ] || scenarios=(switch-no-acs root-ports pci-bridge multifunction rciep-quirk nvme-sriov aer-inject dma-check bind-group sriov-set igb-reload aer-watch)
cache=${VMLAB_CACHE:-$here/../../.build/vmlab}
jobs=${VMLAB_JOBS:-2}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)

# MARK: kernel (Debian's package, unpacked, never installed)
kernel_package=$(apt-cache depends linux-image-amd64 | sed -n 's/.*Depends: \(linux-image-[0-9][^ ]*\).*/\1/p' | head -1)
[ -n "$kernel_package" ] || { echo "vmlab: apt-cache names no linux-image for linux-image-amd64 (run apt-get update)" >&2; exit 1; }
kver=${kernel_package#linux-image-}
if [ ! -f "$cache/kernel/boot/vmlinuz-$kver" ]; then
    (cd "$cache" && rm -f linux-image-*.deb && apt-get download "$kernel_package" >/dev/null 2>&1) \
        || { echo "vmlab: apt-get download $kernel_package failed" >&2; exit 1; }
    rm -rf "$cache/kernel" && dpkg -x "$cache"/linux-image-*.deb "$cache/kernel"
fi

# MARK: initramfs: busybox, the modules the scenarios load, vfioctl and its libraries
root="$cache/rootfs"
rm -rf "$root" && mkdir -p "$root"/{bin,dev,proc,sys,tmp,lib/vfioctl,lib64,scenarios,usr/share/misc}
cp /bin/busybox "$root/bin/busybox"
modules="$cache/kernel/lib/modules/$kver"
mkdir -p "$root/lib/modules/$kver"
for path in drivers/vfio drivers/nvme/host drivers/net/ethernet/intel drivers/pci drivers/dca drivers/i2c/algos \
    virt lib crypto block/t10-pi.ko; do
    [ -e "$modules/kernel/$path" ] || continue
    mkdir -p "$root/lib/modules/$kver/kernel/$(dirname "$path")"
    cp -r "$modules/kernel/$path" "$root/lib/modules/$kver/kernel/$path"
done
cp "$modules"/modules.order "$modules"/modules.builtin* "$root/lib/modules/$kver/" 2>/dev/null || true
depmod -b "$root" "$kver"
for tool in vfioctl vfio-aerd; do
    cp "$bin/$tool" "$root/bin/$tool"
    ldd "$bin/$tool" | awk '/=> \// { print $3 }' | while read -r lib; do cp -L "$lib" "$root/lib/vfioctl/"; done
done
cp -L /lib64/ld-linux-x86-64.so.2 "$root/lib64/"
[ -f /usr/share/misc/pci.ids ] && cp /usr/share/misc/pci.ids "$root/usr/share/misc/"
cp "$here/init.sh" "$root/init" && chmod +x "$root/init"
cp "$here"/scenarios/*.sh "$root/scenarios/"
(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1) > "$cache/initrd.gz"

# MARK: topologies (QEMU device options per scenario)
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
    sriov-set) topology nvme-sriov ;;
    igb-reload) topology root-ports ;;
    dma-check) echo "-device pcie-root-port,id=rp1,chassis=1,slot=1,bus=pcie.0 -device e1000e,bus=rp1,netdev=n0 -netdev user,id=n0" ;;
    aer-watch) topology aer-inject ;;
    aer-inject) echo "-device pcie-root-port,id=rp1,chassis=1,slot=1,bus=pcie.0 -device e1000e,bus=rp1,netdev=n0 -netdev user,id=n0" ;;
    nvme-sriov) echo "-device pcie-root-port,id=rp1,chassis=1,slot=1,bus=pcie.0 -device nvme-subsys,id=ss0 \
        -device nvme,serial=lab2,subsys=ss0,bus=rp1,sriov_max_vfs=4,sriov_vq_flexible=10,sriov_vi_flexible=4" ;;
    *) return 1 ;;
    esac
}

# Guest memory: dma-check pins 256 MiB twice and reserves hugepages.
memory() {
    case "$1" in
    dma-check) echo 2048 ;;
    *) echo 1024 ;;
    esac
}

out="$cache/results"
rm -rf "$out" && mkdir -p "$out"
run_one() {
    local name=$1
    local devices
    devices=$(topology "$name") || { echo "unknown scenario $name" > "$out/$name.console"; return 0; }
    # The monitor bridge forwards VMLAB-MONITOR requests from the guest console.
    python3 "$here/monitor.py" "$out/$name.console" "$out/$name.monitor" 240 > "$out/$name.bridge" 2>&1 &
    local bridge=$!
    # shellcheck disable=SC2086 # the topology is a list of options
    timeout 240 qemu-system-x86_64 -accel tcg -M q35,kernel-irqchip=split -cpu max -m "$(memory "$name")" -smp 1 \
        -display none -no-reboot -nodefaults -serial "file:$out/$name.console" \
        -monitor "unix:$out/$name.monitor,server,nowait" \
        -kernel "$cache/kernel/boot/vmlinuz-$kver" -initrd "$cache/initrd.gz" \
        -append "console=ttyS0 intel_iommu=on quiet panic=-1 vmlab.scenario=$name" \
        -device intel-iommu,intremap=on,caching-mode=on $devices > "$out/$name.qemu" 2>&1 || true
    kill "$bridge" 2>/dev/null || true
}
export -f run_one topology memory
export out cache kver here
start=$(date +%s)
printf '%s\n' "${scenarios[@]}" | xargs -P "$jobs" -I{} bash -c 'run_one {}'
elapsed=$(( $(date +%s) - start ))

python3 "$here/check.py" "$out" "${scenarios[@]}"
status=$?
echo "BENCH vmlab_wall_seconds $elapsed s"
exit $status
