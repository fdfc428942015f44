# (a) X58-like root port (ioh3420, no ACS in QEMU) and a TI x3130 switch with an e1000e
# and an NVMe below it: the kernel puts the port, the switch ports and both devices in one group.
# QEMU: -device ioh3420,id=rp1,chassis=1,slot=1,bus=pcie.0 -device x3130-upstream,id=up1,bus=rp1
#       -device xio3130-downstream,id=dn1,bus=up1,chassis=2,slot=0 -device xio3130-downstream,id=dn2,bus=up1,chassis=3,slot=1
#       -device e1000e,bus=dn1 -device nvme,bus=dn2
run_scenario() {
    modprobe e1000e
    modprobe nvme
    report
}
