# (c) A pcie-pci-bridge (1b36:000e) with two conventional e1000 behind it: DMA aliasing.
run_scenario() {
    modprobe e1000
    report
}
