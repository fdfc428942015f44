# AER on assigned VFs of the seed's hardware. Guest A owns a VF of PF 1 (03:00.0, below dn1),
# B a VF of PF 2 (04:00.0, below dn2), C the e1000e on root port rp9; each function is on
# vfio-pci (driver_override, as libvirt's managed='yes' binds a hostdev) and registered in
# /run/vfioctl/domains as the hook registers it. The guests are domains of libvirt's test
# driver, defined in a node file (no libvirtd in the lab). Two phases, each with a fresh
# vfio-aerd and journal: an uncorrectable error injected at the root port rp3 must take down
# and restart A and B; one injected at downstream port dn1 only A. C keeps its domain id
# throughout, B in the second phase (the daemon logs every guest's id at start and stop).
# Third phase: a VF without a driver below dn2. The kernel cannot recover a function that has
# no driver ("can't recover (no error_detected callback)"), so recovery of everything below
# dn2 fails (FAILED_RECOVERY): B is taken down and must stay down, with the reason journaled.
# QEMU 10: seed-host plus pcie-root-port rp9 with an e1000e.
run_scenario() {
    modprobe igb
    modprobe e1000e
    modprobe vfio-pci
    # One VF per PF, each to be bound: a driverless VF would make the kernel's recovery fail.
    vfioctl sriov set 0000:03:00.0 1 --autoprobe off > /dev/null
    echo "VMLAB-STATUS vfs-a $?"
    vfioctl sriov set 0000:04:00.0 1 --autoprobe off > /dev/null
    echo "VMLAB-STATUS vfs-b $?"
    vf_a=$(readlink /sys/bus/pci/devices/0000:03:00.0/virtfn0); vf_a=${vf_a##*/}
    vf_b=$(readlink /sys/bus/pci/devices/0000:04:00.0/virtfn0); vf_b=${vf_b##*/}
    nic_c=$(functions_with_ids 0x8086:0x10d3 | head -1)
    mkdir -p /run/vfioctl/domains /etc/vfioctl
    for owner in "A $vf_a" "B $vf_b" "C $nic_c"; do
        set -- $owner
        echo vfio-pci > "/sys/bus/pci/devices/$2/driver_override"
        [ -e "/sys/bus/pci/devices/$2/driver" ] && echo "$2" > "/sys/bus/pci/devices/$2/driver/unbind"
        echo "$2" > /sys/bus/pci/drivers_probe
        echo "device $2" > "/run/vfioctl/domains/$1"
        echo "$1 $2"
    done | section owners
    drivers | section drivers-bound
    cat > /etc/vfioctl/lab-node.xml <<'XML'
<node>
  <domain type='test'><name>A</name><memory>8192</memory><os><type>hvm</type></os></domain>
  <domain type='test'><name>B</name><memory>8192</memory><os><type>hvm</type></os></domain>
  <domain type='test'><name>C</name><memory>8192</memory><os><type>hvm</type></os></domain>
</node>
XML
    echo "restart-backoff-seconds = 0" > /etc/vfioctl/aerd.toml
    inject_and_watch rp rp3 '"action" *: *"start"' 2
    inject_and_watch dn dn1 '"action" *: *"start"' 1
    vfioctl sriov set 0000:04:00.1 1 --autoprobe off > /dev/null
    echo "VMLAB-STATUS vfs-driverless $?"
    inject_and_watch failed dn2 '"action" *: *"stay-down"' 1
    dmesg | grep -i -e aer -e vfio -e igb | tail -40 | section dmesg
    report
}

# inject_and_watch PHASE PORT PATTERN COUNT: a fresh vfio-aerd, one error at PORT, wait until
# the journal holds COUNT lines matching PATTERN, a grace second for anything unwanted, stop.
inject_and_watch() {
    journal=/var/lib/vfioctl/aer-$1.db
    vfio-aerd --libvirt test:///etc/vfioctl/lab-node.xml --journal "$journal" --poll-interval 0.5 2> "/tmp/aerd-$1.log" &
    aerd=$!
    for _ in $(seq 1 300); do grep -q watching "/tmp/aerd-$1.log" && break; sleep 0.1; done
    grep -q watching "/tmp/aerd-$1.log"
    echo "VMLAB-STATUS watching-$1 $?"
    echo "VMLAB-MONITOR pcie_aer_inject_error $2 POISON_TLP"
    for _ in $(seq 1 300); do
        vfioctl aer log --journal "$journal" --json > "/tmp/aer-$1.json" 2>/dev/null
        [ "$(grep -o "$3" "/tmp/aer-$1.json" | wc -l)" -ge "$4" ] && break
        sleep 0.2
    done
    # Grace for anything unwanted (a second take-down, a restart after a failed recovery).
    sleep 3
    vfioctl aer log --journal "$journal" --json > "/tmp/aer-$1.json" 2>/dev/null
    kill -TERM "$aerd"
    wait "$aerd"
    echo "VMLAB-STATUS aerd-$1 $?"
    section "aer-log-$1" < "/tmp/aer-$1.json"
    section "aerd-log-$1" < "/tmp/aerd-$1.log"
}
