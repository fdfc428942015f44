# VT-d large pages on the real kernel: QEMU's intel-iommu advertises 2M and 1G superpages.
# Bind the e1000e to vfio-pci (driver_override), reserve 2 MiB hugepages with vfioctl, map
# 256 MiB through VFIO backed by 4 KiB and by 2 MiB pages, and time both.
run_scenario() {
    modprobe e1000e
    modprobe vfio-pci
    modprobe vfio_iommu_type1
    dev=0000:01:00.0
    echo vfio-pci > /sys/bus/pci/devices/$dev/driver_override
    echo $dev > /sys/bus/pci/devices/$dev/driver/unbind
    echo $dev > /sys/bus/pci/drivers_probe
    vfioctl iommu --json | section iommu
    vfioctl hugepages reserve --size 2M --count 160 --json | section hugepages
    # More 1 GiB pages than a 2 GiB guest can have: the kernel gives fewer, vfioctl says so
    # (exit 3), then the pool is given back.
    vfioctl hugepages reserve --size 1G --count 4 --json > /tmp/short.json
    echo "VMLAB-STATUS short $?"
    section hugepages-short < /tmp/short.json
    vfioctl hugepages release --size 1G --count 4 --json | section hugepages-release
    vfioctl dma-check $dev --backing 4k --size 256M --json | section dma-4k
    vfioctl dma-check $dev --backing 2M --size 256M --json | section dma-2m
    report
}
