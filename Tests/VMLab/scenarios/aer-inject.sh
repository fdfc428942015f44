# Harness hook check: the guest asks the host (through the console) to inject a non-fatal
# AER error at root port rp1 with QEMU's pcie_aer_inject_error, and waits for the kernel to
# count it in aer_dev_nonfatal. Also reserves 2 MiB hugepages and loads/unloads vfio-pci,
# the other host-side steps later scenarios build on.
# QEMU: -device pcie-root-port,id=rp1,... -device e1000e,bus=rp1
run_scenario() {
    modprobe e1000e
    port=$(for d in /sys/bus/pci/devices/*; do [ -f "$d/aer_dev_nonfatal" ] && [ -d "$d/0000:01:00.0" ] && echo "$d"; done | head -1)
    [ -n "$port" ] || { echo "no AER-capable root port above 01:00.0"; return 1; }
    total() { sed -n 's/^TOTAL_ERR_NONFATAL \([0-9]*\)/\1/p' "$port/aer_dev_nonfatal"; }
    before=$(total)
    echo "VMLAB-MONITOR pcie_aer_inject_error rp1 POISON_TLP"
    after=$before
    for _ in $(seq 1 100); do
        after=$(total)
        [ "$after" != "$before" ] && break
        sleep 0.1
    done
    echo "AER ${port##*/} nonfatal $before -> $after" | section aer
    echo 16 > /proc/sys/vm/nr_hugepages
    echo "hugepages $(cat /proc/sys/vm/nr_hugepages)" | section hugepages
    modprobe vfio-pci && lsmod | grep -c '^vfio_pci ' | sed 's/^/vfio_pci loaded /' | section modules
    rmmod vfio_pci && echo "vfio_pci unloaded" | section modules-after
    report
}
