# Seed 000's host as QEMU 10 can build it: an ioh3420 root port (X58 class, 8086:3420) at
# slot 3, a TI x3130 switch without ACS standing in for the IDT PES12N3A, and below each
# downstream port a dual-function 82576 (igb, 8086:10c9) on the real igb driver. Everything
# is one IOMMU group; the lab's quirks.d entry makes the seed's reload quirk match.
run_scenario() {
    modprobe igb
    for pf in $(functions_with_ids 0x8086:0x10c9); do
        echo "$pf sriov_totalvfs $(cat /sys/bus/pci/devices/$pf/sriov_totalvfs)"
    done | section totalvfs
    report
}
