# SR-IOV on the real kernel: the emulated NVMe's VFs 0 → 2 → 4 → 0 with vfioctl, changing
# 2 → 4 directly (vfioctl passes through 0), and a refusal to remove a VF bound to vfio-pci.
run_scenario() {
    modprobe nvme
    modprobe vfio-pci
    pf=$(for d in /sys/bus/pci/devices/*; do [ -f "$d/sriov_totalvfs" ] && echo "${d##*/}"; done | head -1)
    vfioctl sriov set "$pf" 2 --autoprobe off --json | section sriov-2
    vfioctl sriov set "$pf" 4 --json | section sriov-4
    vf=$(readlink /sys/bus/pci/devices/$pf/virtfn0); vf=${vf##*/}
    vfioctl bind "$vf" > /dev/null 2>&1
    vfioctl sriov set "$pf" 0 > /tmp/refused.out 2>&1
    echo "VMLAB-STATUS refused $?"
    section refused < /tmp/refused.out
    vfioctl restore "$vf" > /dev/null 2>&1
    vfioctl sriov set "$pf" 0 --json | section sriov-0
    report
}
