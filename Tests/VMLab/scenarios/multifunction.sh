# (d) A two-function e1000e (multifunction=on, addr 0.0 and 0.1) on a generic root port.
run_scenario() {
    modprobe e1000e
    report
}
