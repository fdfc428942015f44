#!/bin/busybox sh
# /init of the lab's initramfs: mount the kernel's file systems, load the scenario's
# modules, run /scenarios/NAME.sh (NAME from vmlab.scenario= on the kernel command line),
# print its results on the serial console between markers, and power off.
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /tmp /run /etc
export PATH=/bin:/sbin:/usr/bin
export LD_LIBRARY_PATH=/lib/vfioctl

scenario=$(sed -n 's/.*vmlab\.scenario=\([^ ]*\).*/\1/p' /proc/cmdline)

# Markers the host-side checker looks for; everything between BEGIN and END is data.
section() { echo "VMLAB-BEGIN $1"; cat; echo "VMLAB-END $1"; }

# The kernel's own groups, one "GROUP ADDRESS" line per device (the reference).
kernel_groups() {
    for group in /sys/kernel/iommu_groups/*; do
        [ -d "$group" ] || continue
        for device in "$group"/devices/*; do
            [ -e "$device" ] && echo "${group##*/} ${device##*/}"
        done
    done
}

# Which driver each function has, as the kernel says.
drivers() {
    for device in /sys/bus/pci/devices/*; do
        driver=$(readlink "$device/driver" 2>/dev/null)
        echo "${device##*/} ${driver##*/}"
    done
}

# The kernel's reset methods (`reset_method`, Linux >= 5.15), one "ADDRESS METHOD..." line each.
kernel_resets() {
    for device in /sys/bus/pci/devices/*; do
        [ -f "$device/reset_method" ] && echo "${device##*/} $(cat "$device/reset_method")"
    done
}

# VFIO device nodes in sysfs (`vfio-dev/vfioN`, functions on vfio-pci), "ADDRESS vfioN".
vfio_devs() {
    for device in /sys/bus/pci/devices/*; do
        for node in "$device"/vfio-dev/vfio*; do
            [ -e "$node" ] && echo "${device##*/} ${node##*/}"
        done
    done
}

# Each group's default domain type (`kernel/iommu_groups/N/type`), "GROUP TYPE".
group_types() {
    for group in /sys/kernel/iommu_groups/*; do
        [ -f "$group/type" ] && echo "${group##*/} $(cat "$group/type")"
    done
}

# The PCIe port driver's services, "PORT SERVICE-DRIVER" per `ADDR:pcieNNN` child ("-": no driver).
port_services() {
    for device in /sys/bus/pci/devices/*; do
        for service in "$device"/"${device##*/}":pcie*; do
            [ -d "$service" ] || continue
            driver=$(readlink "$service/driver" 2>/dev/null) || driver=-
            echo "${device##*/} ${driver##*/}"
        done
    done
}

# Functions whose vendor:device is $1 (as sysfs has it: 0x8086:0x10c9), one address a line.
functions_with_ids() {
    for device in /sys/bus/pci/devices/*; do
        [ "$(cat "$device/vendor"):$(cat "$device/device")" = "$1" ] && echo "${device##*/}"
    done
}

# Common steps a scenario can use: inspect as JSON and the kernel's groups, drivers, reset
# methods and VFIO device nodes.
report() {
    vfioctl inspect --json > /tmp/inspect.json 2> /tmp/inspect.err
    echo "VMLAB-STATUS inspect $?"
    section inspect < /tmp/inspect.json
    section inspect-stderr < /tmp/inspect.err
    kernel_groups | section kernel-groups
    drivers | section drivers
    kernel_resets | section kernel-resets
    vfio_devs | section vfio-devs
    group_types | section group-types
    port_services | section port-services
}

echo "VMLAB-SCENARIO $scenario"
echo "VMLAB-KERNEL $(uname -r)"
if [ -f "/scenarios/$scenario.sh" ]; then
    . "/scenarios/$scenario.sh"
    run_scenario 2>&1
    echo "VMLAB-STATUS scenario $?"
else
    echo "VMLAB-STATUS scenario 127 no /scenarios/$scenario.sh"
fi
echo "VMLAB-DONE"
sync
poweroff -f
