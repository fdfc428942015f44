# What-if against the real kernel. Two generic root ports (ACS SV TB RR CR UF) at 00:01.0 and
# 00:02.0, an e1000e below the first and a TI x3130 switch (no ACS) with an e1000e and an NVMe
# below the second. The first boot has `pci=disable_acs_redir=` on both ports: RR and CR are
# off, as firmware may leave them, and each port shares a group with everything below it.
# vfioctl's what-if with --assume-acs on both ports must print the exact pci=config_acs=
# parameter; the harness boots again (Linux >= 6.11) with that parameter added, and the
# kernel's groups then must equal what vfioctl predicted in the first boot, and `vfioctl diff`
# of the two boots' snapshots must name exactly the two split groups and the control words.
# QEMU: -device pcie-root-port,id=rp1,addr=01.0 -device e1000e,bus=rp1
#       -device pcie-root-port,id=rp2,addr=02.0 -device x3130-upstream,bus=rp2
#       -device xio3130-downstream ×2 -device e1000e -device nvme
run_scenario() {
    modprobe e1000e
    modprobe nvme
    report
    # Snapshots of both boots: the harness runs `vfioctl diff` on them.
    if PATH=/usr/bin:$PATH vfioctl snapshot create -o /tmp/acs.tar.gz > /tmp/snapshot.out 2>&1; then
        base64 /tmp/acs.tar.gz | section acs-snapshot
    else
        section acs-snapshot-error < /tmp/snapshot.out
    fi
    grep -q 'vmlab.phase=after' /proc/cmdline && return 0
    vfioctl inspect --json --assume-acs 0000:00:01.0 --assume-acs 0000:00:02.0 > /tmp/whatif.json 2> /tmp/whatif.err
    echo "VMLAB-STATUS whatif $?"
    section whatif < /tmp/whatif.json
    section whatif-stderr < /tmp/whatif.err
    echo "VMLAB-CONFIG-ACS $(sed -n 's/.*"parameter": "\(pci=config_acs=[^"]*\)".*/\1/p' /tmp/whatif.json | head -1)"
    nvme=$(functions_with_ids 0x1b36:0x0010 | head -1)
    vfioctl advise --json "$nvme" > /tmp/advise.json 2> /tmp/advise.err
    echo "VMLAB-STATUS advise $?"
    section advise < /tmp/advise.json
    section advise-stderr < /tmp/advise.err
    # A port whose hardware has no ACS: vfioctl refuses to pretend.
    port=$(functions_with_ids 0x104c:0x8233 | head -1)
    vfioctl inspect --assume-acs "$port" > /dev/null 2> /tmp/refuse.err
    echo "VMLAB-STATUS refuse $?"
    section refuse < /tmp/refuse.err
}
