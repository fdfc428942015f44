# Reset methods on the real kernel. rp1 holds a two-function pci-testdev (no capabilities:
# no FLR, no PM), so the kernel gave function 0 a `bus` method while it was still alone on
# the bus and function 1 nothing; rp2 holds an NVMe alone on its bus ("flr bus").
# vfioctl must name function 1 as what function 0's bus reset also resets, set the NVMe's
# methods and put them back with `default`, change nothing with --dry-run, and report the
# kernel's EINVAL when function 0's stale `bus` no longer probes, leaving no journal behind
# (the kernel kept the old list, so there is nothing to undo).
# QEMU: -device pcie-root-port,id=rp1,... -device pci-testdev,bus=rp1,addr=0.0,multifunction=on
#       -device pci-testdev,bus=rp1,addr=0.1 -device pcie-root-port,id=rp2,... -device nvme,bus=rp2
run_scenario() {
    modprobe nvme
    nvme=$(functions_with_ids 0x1b36:0x0010 | head -1)
    testdev=$(functions_with_ids 0x1b36:0x0005 | head -1)
    echo "$nvme $testdev" | section addresses
    kernel_resets | section resets-before
    vfioctl inspect --json "$testdev" | section inspect-testdev
    vfioctl reset-method "$nvme" flr --json > /tmp/set.json 2> /tmp/set.err
    echo "VMLAB-STATUS set $?"
    section set < /tmp/set.json
    section set-stderr < /tmp/set.err
    cat "/sys/bus/pci/devices/$nvme/reset_method" | section nvme-after-set
    vfioctl inspect --json "$nvme" | section inspect-nvme-set
    vfioctl reset-method "$nvme" default --dry-run > /dev/null 2>&1
    echo "VMLAB-STATUS dry-run $?"
    cat "/sys/bus/pci/devices/$nvme/reset_method" | section nvme-after-dry-run
    vfioctl reset-method "$nvme" default > /dev/null 2> /tmp/default.err
    echo "VMLAB-STATUS default $?"
    cat "/sys/bus/pci/devices/$nvme/reset_method" | section nvme-after-default
    vfioctl reset-method "$testdev" bus > /tmp/stale.out 2>&1
    echo "VMLAB-STATUS stale $?"
    section stale < /tmp/stale.out
    cat "/sys/bus/pci/devices/$testdev/reset_method" | section testdev-after-stale
    ls /run/vfioctl/journals/*.journal > /dev/null 2>&1 && echo "journal left behind" | section leftover
    report
}
