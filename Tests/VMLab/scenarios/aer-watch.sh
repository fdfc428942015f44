# vfio-aerd on the real kernel: the e1000e behind rp1 is bound to vfio-pci and registered
# for the domain "test" of libvirt's in-process test driver (no libvirtd in the lab). The
# host injects a non-fatal AER error at rp1 through the QEMU monitor; the kernel's recovery
# (pcie_do_recovery) calls vfio-pci's error_detected and sends BEGIN_RECOVERY and
# SUCCESSFUL_RECOVERY uevents, which vfio-aerd must journal (source "uevent") and act on:
# destroy "test", start it again. The port's counter must be journaled as explained.
# QEMU: -device pcie-root-port,id=rp1,... -device e1000e,bus=rp1
run_scenario() {
    modprobe e1000e
    modprobe vfio-pci
    nic=$(for d in /sys/bus/pci/devices/*; do [ "$(cat "$d/vendor"):$(cat "$d/device")" = "0x8086:0x10d3" ] && echo "${d##*/}"; done | head -1)
    vfioctl bind "$nic" > /tmp/bind.out 2>&1
    echo "VMLAB-STATUS bind $?"
    drivers | section drivers-bound
    mkdir -p /run/vfioctl/domains /etc/vfioctl
    echo "device $nic" > /run/vfioctl/domains/test
    echo "restart-backoff-seconds = 0" > /etc/vfioctl/aerd.toml
    vfio-aerd --libvirt test:///default --journal /var/lib/vfioctl/aer.db --poll-interval 0.5 2> /tmp/aerd.log &
    aerd=$!
    for _ in $(seq 1 100); do grep -q watching /tmp/aerd.log && break; sleep 0.1; done
    echo "VMLAB-MONITOR pcie_aer_inject_error rp1 POISON_TLP"
    for _ in $(seq 1 100); do
        vfioctl aer log --journal /var/lib/vfioctl/aer.db --json > /tmp/aer.json 2>/dev/null
        grep -q '"start"' /tmp/aer.json && grep -q '"explained"' /tmp/aer.json && break
        sleep 0.2
    done
    kill -TERM "$aerd"
    wait "$aerd"
    echo "VMLAB-STATUS aerd $?"
    section aer-log < /tmp/aer.json
    section aerd-log < /tmp/aerd.log
    dmesg | grep -i -e aer -e vfio | tail -20 | section dmesg
    vfioctl restore "$nic" > /dev/null 2>&1
    report
}
