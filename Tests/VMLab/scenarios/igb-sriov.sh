# SR-IOV on the seed's hardware with the real igb driver: `igb-reload --max-vfs 8 --sequence
# auto` must choose the IDT workaround (the lab's quirk matches), clamp 8 to 7 and say why, and
# list the VFs (8086:10ca) the driver creates, with their groups. igbvf is loaded first, as on
# a host where udev loaded it for the VFs, so the workaround's `rmmod igbvf` really runs (the
# lab has no udev to load it again, so the final VFs stay without a driver). Then
# `sriov set` to 0 and back to 7 on every PF, `apply` of a [[sriov]] entry for a PF set to 0
# (twice: the second changes nothing), and the plain sequence down to 3 VFs.
# QEMU 10: the seed-host topology.
run_scenario() {
    modprobe igb
    modprobe igbvf
    vfioctl sriov igb-reload --max-vfs 8 --sequence auto --dry-run > /tmp/dry.out 2>&1
    echo "VMLAB-STATUS dry $?"
    section dry < /tmp/dry.out
    vfioctl sriov igb-reload --max-vfs 8 --sequence auto --json > /tmp/auto.json 2> /tmp/auto.err
    echo "VMLAB-STATUS auto $?"
    section auto < /tmp/auto.json
    section auto-stderr < /tmp/auto.err
    for pf in $(functions_with_ids 0x8086:0x10c9); do
        for vf in /sys/bus/pci/devices/$pf/virtfn*; do
            [ -e "$vf" ] || continue
            target=$(readlink "$vf")
            echo "$pf ${target##*/} $(cat "$vf/vendor"):$(cat "$vf/device")"
        done
    done | section kernel-vfs
    for pf in $(functions_with_ids 0x8086:0x10c9); do
        vfioctl sriov set "$pf" 0 --json > "/tmp/set0-$pf.json" 2> /tmp/set.err
        echo "VMLAB-STATUS set0-$pf $?"
        section "set-0-$pf" < "/tmp/set0-$pf.json"
        vfioctl sriov set "$pf" 7 --json > "/tmp/set7-$pf.json" 2> /tmp/set.err
        echo "VMLAB-STATUS set7-$pf $?"
        section "set-7-$pf" < "/tmp/set7-$pf.json"
    done
    vfioctl sriov set 0000:04:00.0 0 > /dev/null 2>&1
    printf '[[sriov]]\npf = "0000:04:00.0"\nvfs = 7\n' > /tmp/desired.toml
    vfioctl apply /tmp/desired.toml --json > /tmp/apply1.json 2> /tmp/apply.err
    echo "VMLAB-STATUS apply1 $?"
    section apply-1 < /tmp/apply1.json
    vfioctl apply /tmp/desired.toml --json > /tmp/apply2.json 2> /tmp/apply.err
    echo "VMLAB-STATUS apply2 $?"
    section apply-2 < /tmp/apply2.json
    vfioctl sriov status 0000:04:00.0 --json | section status-applied
    vfioctl sriov igb-reload --max-vfs 3 --sequence plain --json > /tmp/plain.json 2> /tmp/plain.err
    echo "VMLAB-STATUS plain $?"
    section plain < /tmp/plain.json
    # A snapshot of this real host, for unit tests on real bytes (Tests/Fixtures/snapshots).
    if PATH=/usr/bin:$PATH vfioctl snapshot create -o /tmp/igb-sriov.tar.gz > /tmp/snapshot.out 2>&1; then
        base64 /tmp/igb-sriov.tar.gz | section snapshot
    else
        section snapshot-error < /tmp/snapshot.out
    fi
    report
}
