# A kernel ACS quirk at work: a two-function e1000e placed on the root bus becomes an Intel
# root-complex integrated endpoint without ACS. By the generic rules its functions would
# share a group; the kernel's pci_quirk_rciep_acs isolates them, and so must vfioctl's
# quirk database (kernel-acs-intel-rciep).
run_scenario() {
    modprobe e1000e
    report
}
