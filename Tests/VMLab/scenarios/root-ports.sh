# (b) Two generic pcie-root-ports (1b36:000c) with an e1000e each.
run_scenario() {
    modprobe e1000e
    report
}
