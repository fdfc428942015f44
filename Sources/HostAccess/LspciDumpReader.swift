import CPCI
import PCIModel
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// Builds a `HostModel` from `lspci -xxx`/`-xxxx` output (with or without `-vvv` text), as
/// forums and bug reports share it. `LspciDumpScan` checks the lines first; libpci's dump
/// method then reads the checked hex lines; this reader adds what the text says ("Kernel
/// driver in use:") and derives topology from bridge bus numbers. A dump carries no kernel
/// IOMMU groups: only predicted ones.
///
/// Limits: a dump file of at most `maximumFileSize` (64 MiB) naming at most
/// `LspciDumpScan.maximumFunctions` (65,536) functions; hex lines of at most 253 bytes.
public struct LspciDumpReader {
    /// The largest dump read. `lspci -vvvxxxx` gives about 17 KiB per PCIe function (cap-pcie-2),
    /// so this holds some 3,900 of them; `-vvvxxx` (256 bytes each) far more.
    public static let maximumFileSize = 64 << 20

    public let path: String
    /// Keep each function's raw bytes in `HostModel.configBytes` (to write a snapshot).
    public var keepConfigBytes = false
    /// Name devices from pci.ids (libpci loads the whole file on the first name); false
    /// leaves `PCIDevice.name` nil.
    public var lookUpNames = true

    public init(path: String, keepConfigBytes: Bool = false, lookUpNames: Bool = true) {
        self.path = path
        self.keepConfigBytes = keepConfigBytes
        self.lookUpNames = lookUpNames
    }

    /// Reads the dump file at `path`.
    public func read() throws(HostAccessError) -> HostModel {
        try read(contents: readDumpBytes())
    }

    /// Reads `contents` as the dump at `path` (named in messages). libpci gets the checked
    /// lines through an unlinked temporary file, never the original path, so what it reads
    /// is what was checked even if the file changes meanwhile.
    public func read(contents: [UInt8]) throws(HostAccessError) -> HostModel {
        let scan = try LspciDumpScan(contents, path: path)
        guard !scan.functions.isEmpty else {
            throw HostAccessError(
                .invalidInput,
                "\(path) holds no device: expected `lspci -xxx` output (a line like `00:1f.2 SATA controller: …` followed by hex lines `00: 86 80 …`)",
                path: path)
        }
        let library = try checkedLibrary(scan)
        var anomalies = scan.anomalies
        var devices: [PCIDevice] = []
        var kept: [PCIAddress: [UInt8]] = [:]
        for (address, handle) in library.functions {
            let bytes: [UInt8]
            do {
                bytes = try library.pci.readConfig(handle, address: address)
            } catch {
                anomalies.append("\(path): \(error.message)")
                continue
            }
            let config = DecodedConfig(ConfigSpace(bytes))
            if keepConfigBytes { kept[address] = bytes }
            devices.append(
                PCIDevice(
                    address: address, config: config,
                    name: lookUpNames
                        ? library.pci.deviceName(vendorID: config.vendorID, deviceID: config.deviceID) : nil,
                    driver: library.drivers[address]))
        }
        HostModel.assignParentsFromBusRanges(&devices)
        return HostModel(
            source: "lspci dump \(path)", devices: devices, kernelGroups: nil, facts: HostFacts(), anomalies: anomalies,
            configBytes: kept)
    }

    /// libpci on the scanned lines, with its functions checked against the scan's.
    private func checkedLibrary(_ scan: LspciDumpScan) throws(HostAccessError) -> (
        pci: PCILibrary, functions: [(PCIAddress, UnsafeMutablePointer<pci_dev>)], drivers: [PCIAddress: String]
    ) {
        guard let file = tmpfile() else {
            throw .system(Errno(rawValue: errno), "tmpfile", path: "a temporary copy of \(path)")
        }
        defer { fclose(file) }
        let written = scan.libpciText.withUnsafeBytes { fwrite($0.baseAddress, 1, $0.count, file) }
        guard written == scan.libpciText.count, fflush(file) == 0 else {
            throw .system(Errno(rawValue: errno), "write", path: "a temporary copy of \(path)")
        }
        let library: PCILibrary
        do {
            library = try PCILibrary(dumpFile: "/dev/fd/\(fileno(file))")
        } catch {
            throw HostAccessError(
                .libpci, "libpci could not read the checked lines of \(path): \(error.message)", path: path)
        }
        // libpci (3.9) links each new function in front: reversed, its list is in file order.
        let functions = Array(library.functions().reversed())
        guard functions.map(\.0).sorted() == scan.functions.map(\.address).sorted() else {
            throw HostAccessError(
                .libpci,
                "libpci read \(functions.count) functions from \(path) where its header lines name \(scan.functions.count)",
                path: path)
        }
        var drivers: [PCIAddress: String] = [:]
        for function in scan.functions { drivers[function.address] = function.driver }
        return (library, functions, drivers)
    }

    private func readDumpBytes() throws(HostAccessError) -> [UInt8] {
        let file = RootedFileSystem(root: "/")
        // One byte past the limit tells a file at the limit from a larger one.
        guard let bytes = try file.readBytes(absolutePath(path), limit: Self.maximumFileSize + 1) else {
            throw HostAccessError(.notFound, "no lspci dump at \(path)", path: path)
        }
        guard bytes.count <= Self.maximumFileSize else {
            throw HostAccessError(
                .invalidInput,
                "\(path) is larger than \(Self.maximumFileSize >> 20) MiB, the most vfioctl reads as an lspci dump",
                path: path)
        }
        return bytes
    }
}

/// `path` made absolute against the working directory (relative paths given on the command line).
public func absolutePath(_ path: String) -> String {
    path.hasPrefix("/") ? path : currentDirectory() + "/" + path
}

func currentDirectory() -> String {
    var buffer = [CChar](repeating: 0, count: 4096)
    guard getcwd(&buffer, buffer.count) != nil else { return "." }
    return String(nulTerminated: buffer)
}

extension String {
    /// Text of a NUL-terminated C buffer.
    init(nulTerminated buffer: [CChar]) {
        self = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
