# The igb reload sequences through libkmod on the real kernel: the module loads without
# 82576 hardware, so each step runs for real and the log shows the seed's order.
run_scenario() {
    modprobe igb
    vfioctl sriov igb-reload --max-vfs 8 --sequence idt-workaround > /tmp/idt.out 2>&1
    echo "VMLAB-STATUS idt $?"
    section idt < /tmp/idt.out
    vfioctl sriov igb-reload --max-vfs 3 --sequence plain > /tmp/plain.out 2>&1
    echo "VMLAB-STATUS plain $?"
    section plain < /tmp/plain.out
    cat /sys/module/igb/parameters/max_vfs 2>/dev/null | section max-vfs
    lsmod | grep -c '^igb ' | section igb-loaded
    report
}
