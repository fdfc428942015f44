import ArgumentParser
import HostAccess
import PCIModel
import SystemPackage

extension VFIOCtl {
    /// `vfioctl dma-check`: map a buffer through VFIO and time it.
    struct DMACheck: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "dma-check",
            abstract: "Map a buffer through a VFIO group's IOMMU domain and time map and unmap.",
            discussion: reflow(
                """
                Opens /dev/vfio/vfio and the group (type1v2), reads iova_pgsizes, maps SIZE bytes
                of memory backed by 4k, 2M or 1G pages at IOVA 0, times VFIO_IOMMU_MAP_DMA and
                UNMAP_DMA, and unmaps. The group must be bound to vfio-pci; 2M/1G backing needs
                reserved hugepages. Run as root.

                Examples:
                  vfioctl dma-check 0000:03:00.0 --backing 2M --size 256M
                  vfioctl dma-check group:12 --backing 4k --size 1G --json
                """))

        @Argument(help: "A device address or group:N.", completion: .pciTarget) var target: String
        @Option(help: "Page size backing the buffer.") var backing: DMABackingChoice = .fourKiB
        @Option(help: "Buffer size, e.g. 256M or 1G.") var size: String = "256M"
        @Option(
            help: ArgumentHelp("A directory holding sys/, proc/ and dev/ instead of the live host.", valueName: "dir"))
        var root: String?
        @OptionGroup var output: OutputOptions

        func validate() throws {
            guard let bytes = Self.bytes(size), bytes > 0 else {
                throw ValidationError("--size must look like 256M or 1G, and be at most \(Int.max >> 30)G")
            }
            if bytes % (1 << backing.pageShift) != 0 {
                throw ValidationError("--size must be a multiple of the \(backing.rawValue) backing page")
            }
        }

        func run() async throws {
            let roots = root.map { HostRoots(base: .init($0)) } ?? .live
            let group = try groupNumber(roots: roots)
            let shift = backing.pageShift
            let bytes = Self.bytes(size) ?? 0
            let container = try VFIOContainer(groupNumber: group, dev: roots.dev)
            let buffer = try DMABuffer(size: bytes, pageShift: shift)
            let progress = ProgressLine(json: output.json)
            progress.update("mapping \(size) through group \(group)'s IOMMU domain…")
            let mapSeconds = try container.map(buffer.pointer, iova: 0, size: UInt64(bytes))
            progress.update("unmapping \(size)…")
            let unmapSeconds = try container.unmap(iova: 0, size: UInt64(bytes))
            progress.finish()
            let pageSizes = (0..<64).filter { container.iovaPageSizes & (1 << UInt64($0)) != 0 }.map {
                UInt64(1) << UInt64($0)
            }
            let named = pageSizes.filter { [4 << 10, 2 << 20, 1 << 30].contains($0) }.map(IntelIOMMUCapability.sizeName)
            if output.json {
                print(
                    JSON.object([
                        ("group", .int(group)), ("backing", .string(backing.rawValue)), ("bytes", .int(bytes)),
                        ("iovaPageSizes", .string(hex(container.iovaPageSizes, width: 1))),
                        ("iovaPageSizeNames", .array(named.map(JSON.string))),
                        ("mapMicroseconds", .int(Int(mapSeconds * 1e6))),
                        ("unmapMicroseconds", .int(Int(unmapSeconds * 1e6))),
                    ]).rendered(), terminator: "")
                return
            }
            print(
                "group \(group): iova_pgsizes \(hex(container.iovaPageSizes, width: 1)) (\(named.joined(separator: " ")))"
            )
            print(
                "mapped \(size) backed by \(backing.rawValue) pages in \(Self.milliseconds(mapSeconds)), unmapped in \(Self.milliseconds(unmapSeconds))"
            )
        }

        private func groupNumber(roots: HostRoots) throws -> Int {
            let address: PCIAddress
            switch DeviceTarget(target) {
            case .group(let number): return number
            case .function(let named): address = named
            case nil: throw CLIError(DeviceTarget.problem(with: target))
            }
            let model = try SysfsHostReader(roots: roots).read(source: "host")
            guard let device = model[address] else { throw CLIError("no PCI function \(address) on this host") }
            guard let group = device.iommuGroup else {
                throw CLIError("\(address) is in no IOMMU group: the IOMMU is off or does not cover it")
            }
            return group
        }

        /// "256M" → 268435456; nil for anything that is not a size or does not fit in an Int.
        static func bytes(_ text: String) -> Int? {
            let units: [Character: Int] = ["K": 1 << 10, "M": 1 << 20, "G": 1 << 30]
            guard let last = text.uppercased().last else { return nil }
            guard let unit = units[last] else { return Int(text) }
            guard let count = Int(text.dropLast()) else { return nil }
            let (product, overflow) = count.multipliedReportingOverflow(by: unit)
            return overflow ? nil : product
        }

        static func milliseconds(_ seconds: Double) -> String {
            let ms = (seconds * 1e5).rounded() / 100
            return "\(ms) ms"
        }
    }
}
