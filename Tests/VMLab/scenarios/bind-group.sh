# Binding on the real kernel, in the recipe's topology (ioh3420 without ACS, x3130 switch,
# e1000e and NVMe: one IOMMU group). Bind the group to vfio-pci and check /dev/vfio/N and
# viability, restore it, then kill vfioctl -9 in the middle of a bind (after 4 writes) and
# let `vfioctl recover` put every driver back.
run_scenario() {
    modprobe e1000e
    modprobe nvme
    modprobe vfio-pci
    nic=$(for d in /sys/bus/pci/devices/*; do [ "$(cat "$d/vendor"):$(cat "$d/device")" = "0x8086:0x10d3" ] && echo "${d##*/}"; done | head -1)
    drivers | section drivers-before
    vfioctl bind "$nic" --json | section bind
    drivers | section drivers-bound
    vfioctl restore "$nic" > /tmp/restore.out 2>&1
    echo "VMLAB-STATUS restore $?"
    drivers | section drivers-restored
    VFIOCTL_TEST_STOP_AFTER_WRITES=4 vfioctl bind "$nic" > /tmp/crash.out 2>&1
    echo "VMLAB-STATUS crash $?"
    drivers | section drivers-crashed
    section journal < /run/vfioctl/journal
    vfioctl recover | section recover
    drivers | section drivers-recovered
    [ -e /run/vfioctl/journal ] && echo "journal still there" | section leftover
    report
}
