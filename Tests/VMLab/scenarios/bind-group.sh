# Binding on the real kernel, in the recipe's topology (ioh3420 without ACS, x3130 switch,
# e1000e and NVMe: one IOMMU group). Bind the group to vfio-pci and check /dev/vfio/N and
# viability, restore it, then kill vfioctl -9 in the middle of a bind (after 4 writes) and
# let `vfioctl recover` put every driver back. vfio-pci is NOT loaded here: bind loads it
# through libkmod, as libvirt probes its stub driver first. While the crash's journal waits,
# another bind is refused. While bound, vfioctl must read each function's vfio-dev/vfioN.
run_scenario() {
    modprobe e1000e
    modprobe nvme
    lsmod | grep -c '^vfio_pci ' | section modules-before
    nic=$(for d in /sys/bus/pci/devices/*; do [ "$(cat "$d/vendor"):$(cat "$d/device")" = "0x8086:0x10d3" ] && echo "${d##*/}"; done | head -1)
    drivers | section drivers-before
    vfioctl bind "$nic" --json | section bind
    drivers | section drivers-bound
    # While bound: the kernel's vfio-dev/vfioN nodes, and vfioctl's reading of them.
    vfio_devs | section vfio-devs-bound
    vfioctl inspect --json | section inspect-bound
    vfioctl restore "$nic" > /tmp/restore.out 2>&1
    echo "VMLAB-STATUS restore $?"
    drivers | section drivers-restored
    VFIOCTL_TEST_STOP_AFTER_WRITES=4 vfioctl bind "$nic" > /tmp/crash.out 2>&1
    echo "VMLAB-STATUS crash $?"
    drivers | section drivers-crashed
    cat /run/vfioctl/journals/*.journal | section journal
    vfioctl bind "$nic" > /tmp/refused.out 2>&1
    echo "VMLAB-STATUS refused $?"
    section refused < /tmp/refused.out
    vfioctl recover | section recover
    drivers | section drivers-recovered
    ls /run/vfioctl/journals/*.journal > /dev/null 2>&1 && echo "journal still there" | section leftover
    report
}
