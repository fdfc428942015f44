# AMD-Vi: QEMU's amd-iommu (an IVHD unit that is itself PCI function 1022:1419, class 0806)
# over both kinds of topology: generic root ports with an e1000e each (isolated), and an
# ioh3420 with an x3130 switch, an e1000e and an NVMe below it (one group). vfioctl must read
# and predict the kernel's groups, leave the IOMMU's own function out of them, and report
# the unit (ivhd0) from sysfs with what it could not read.
# The NVMe stays without its driver: groups do not depend on drivers, and on 6.1 under AMD-Vi
# with `noapic` its Identify Controller times out after a minute.
run_scenario() {
    modprobe e1000e
    for unit in /sys/class/iommu/*; do
        echo "${unit##*/} cap=$(cat "$unit/amd-iommu/cap" 2>/dev/null) features=$(cat "$unit/amd-iommu/features" 2>/dev/null)"
    done | section iommu-sysfs
    # The kernel's own reading of the unit, the reference for vfioctl's.
    dmesg | grep 'AMD-Vi' | section amd-vi-dmesg
    vfioctl iommu --json > /tmp/iommu.json 2> /tmp/iommu.err
    echo "VMLAB-STATUS iommu $?"
    section iommu < /tmp/iommu.json
    vfioctl iommu | section iommu-text
    # A snapshot of this real host, for unit tests on real bytes (Tests/Fixtures/snapshots).
    if PATH=/usr/bin:$PATH vfioctl snapshot create -o /tmp/amd-vi.tar.gz > /tmp/snapshot.out 2>&1; then
        base64 /tmp/amd-vi.tar.gz | section snapshot
    else
        section snapshot-error < /tmp/snapshot.out
    fi
    report
}
