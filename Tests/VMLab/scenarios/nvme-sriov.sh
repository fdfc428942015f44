# (e) An NVMe with SR-IOV (sriov_max_vfs=4) on a generic root port: two VFs are created in
# the guest before inspecting, without a driver (sriov_drivers_autoprobe=0).
run_scenario() {
    modprobe nvme
    pf=$(for d in /sys/bus/pci/devices/*; do [ -f "$d/sriov_totalvfs" ] && echo "$d"; done | head -1)
    if [ -z "$pf" ]; then
        echo "no SR-IOV capable function"
        return 1
    fi
    echo "PF ${pf##*/} sriov_totalvfs $(cat "$pf/sriov_totalvfs")"
    echo 0 > "$pf/sriov_drivers_autoprobe"
    echo 2 > "$pf/sriov_numvfs" || return 1
    ls -d "$pf"/virtfn* | section virtfns
    report
}
