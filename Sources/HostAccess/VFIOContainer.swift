import CVFIO
import PCIModel
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// A VFIO type1v2 container with one group attached (`/dev/vfio/vfio`, `/dev/vfio/N`), for
/// mapping guest-like memory through the IOMMU and measuring it. Closes both on deinit.
public final class VFIOContainer {
    private let container: Int32
    private let group: Int32
    public let groupNumber: Int
    /// `iova_pgsizes`: the IOMMU page sizes the kernel will use for mappings.
    public let iovaPageSizes: UInt64

    /// Opens the container and the group, checks the API version, type1v2 and that the
    /// group is viable (every member bound to vfio-pci), and sets the IOMMU model.
    public init(groupNumber: Int, dev: RootedFileSystem) throws(HostAccessError) {
        self.groupNumber = groupNumber
        let containerPath = try dev.resolve("vfio/vfio")
        guard let container = try dev.openCharacterDevice("vfio/vfio", flags: O_RDWR) else {
            throw HostAccessError(
                .notFound, "cannot open \(containerPath): it does not exist; load vfio-pci (modprobe vfio-pci)",
                path: containerPath.string, syscall: "open", errno: .noSuchFileOrDirectory)
        }
        let groupPath = try dev.resolve("vfio/\(groupNumber)")
        let group: Int32
        do throws(HostAccessError) {
            guard let opened = try dev.openCharacterDevice("vfio/\(groupNumber)", flags: O_RDWR) else {
                throw HostAccessError(
                    .notFound,
                    "cannot open \(groupPath): it does not exist; bind the whole IOMMU group \(groupNumber) to vfio-pci first",
                    path: groupPath.string, syscall: "open", errno: .noSuchFileOrDirectory)
            }
            group = opened
        } catch {
            close(container)
            throw error
        }
        self.container = container
        self.group = group
        func fail(_ what: String) -> HostAccessError {
            HostAccessError(.ioError, "\(what) failed on group \(groupNumber): \(Errno(rawValue: errno))")
        }
        guard cvfio_get_api_version(container) == cvfio_api_version() else {
            iovaPageSizes = 0
            throw HostAccessError(.ioError, "VFIO API version mismatch on \(containerPath)")
        }
        guard cvfio_check_type1v2(container) == 1 else {
            iovaPageSizes = 0
            throw HostAccessError(
                .ioError, "the kernel's VFIO offers no type1v2 IOMMU model: load it with modprobe vfio_iommu_type1")
        }
        var viable: Int32 = 0
        guard cvfio_group_viable(group, &viable) == 0 else {
            iovaPageSizes = 0
            throw fail("VFIO_GROUP_GET_STATUS")
        }
        guard viable == 1 else {
            iovaPageSizes = 0
            throw HostAccessError(
                .invalidInput,
                "IOMMU group \(groupNumber) is not viable: a member is still bound to a host driver; bind the whole group to vfio-pci"
            )
        }
        guard cvfio_group_set_container(group, container) == 0 else {
            iovaPageSizes = 0
            throw fail("VFIO_GROUP_SET_CONTAINER")
        }
        guard cvfio_set_type1v2(container) == 0 else {
            iovaPageSizes = 0
            throw fail("VFIO_SET_IOMMU")
        }
        var sizes: UInt64 = 0
        guard cvfio_iova_page_sizes(container, &sizes) == 0 else {
            iovaPageSizes = 0
            throw fail("VFIO_IOMMU_GET_INFO")
        }
        iovaPageSizes = sizes
    }

    deinit {
        close(group)
        close(container)
    }

    /// Maps `size` bytes at `vaddr` to `iova` (read/write); returns the seconds it took.
    public func map(_ vaddr: UnsafeMutableRawPointer, iova: UInt64, size: UInt64) throws(HostAccessError) -> Double {
        try timed("VFIO_IOMMU_MAP_DMA") { cvfio_map_dma(container, vaddr, iova, size) }
    }

    public func unmap(iova: UInt64, size: UInt64) throws(HostAccessError) -> Double {
        try timed("VFIO_IOMMU_UNMAP_DMA") { cvfio_unmap_dma(container, iova, size) }
    }

    private func timed(_ what: String, _ call: () -> Int32) throws(HostAccessError) -> Double {
        let start = MonotonicClock.seconds()
        let result = call()
        let seconds = MonotonicClock.seconds() - start
        guard result >= 0 else {
            throw HostAccessError(.ioError, "\(what) failed on group \(groupNumber): \(Errno(rawValue: errno))")
        }
        return seconds
    }
}

/// An anonymous buffer backed by pages of the given size (hugetlb for 2M/1G), touched at
/// allocation (MAP_POPULATE); unmapped on deinit.
public final class DMABuffer {
    public let pointer: UnsafeMutableRawPointer
    public let size: Int

    public init(size: Int, pageShift: Int) throws(HostAccessError) {
        let address = mmap(nil, size, PROT_READ | PROT_WRITE, cvfio_mmap_flags(Int32(pageShift)), -1, 0)
        guard let address, address != MAP_FAILED else {
            let hint =
                pageShift > 12
                ? "; reserve \(size >> pageShift) pages first (vfioctl hugepages reserve --size \(pageShift == 21 ? "2M" : "1G") --count \(size >> pageShift))"
                : ""
            throw HostAccessError(
                .ioError,
                "mmap of \(size) bytes with \(1 << pageShift)-byte pages failed: \(Errno(rawValue: errno))\(hint)")
        }
        pointer = address
        self.size = size
    }

    deinit { munmap(pointer, size) }
}

/// `VFIO_GROUP_GET_STATUS` on `/dev/vfio/N` without attaching a container: nil when the
/// group device cannot be opened.
public func vfioGroupIsViable(group: Int, dev: RootedFileSystem) -> Bool? {
    guard let opened = try? dev.openCharacterDevice("vfio/\(group)", flags: O_RDWR), let fd = Optional(opened) else {
        return nil
    }
    defer { close(fd) }
    var viable: Int32 = 0
    guard cvfio_group_viable(fd, &viable) == 0 else { return nil }
    return viable == 1
}
