import PCIModel
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// Builds a `HostModel` from `lspci -xxx`/`-xxxx` output (with or without `-vvv` text), as
/// forums and bug reports share it. libpci's dump method reads the hex lines; this reader
/// adds what the text says ("Kernel driver in use:") and derives topology from bridge bus
/// numbers. A dump carries no kernel IOMMU groups: only predicted ones.
public struct LspciDumpReader {
    public let path: String
    /// Keep each function's raw bytes in `HostModel.configBytes` (to write a snapshot).
    public var keepConfigBytes = false

    public init(path: String, keepConfigBytes: Bool = false) {
        self.path = path
        self.keepConfigBytes = keepConfigBytes
    }

    public func read() throws(HostAccessError) -> HostModel {
        let text = try readDumpText()
        let library = try PCILibrary(dumpFile: path)
        let functions = library.functions()
        guard !functions.isEmpty else {
            throw HostAccessError(
                .invalidInput,
                "\(path) holds no device: expected `lspci -xxx` output (a line like `00:1f.2 SATA controller: …` followed by hex lines `00: 86 80 …`)",
                path: path)
        }
        let drivers = Self.driversInUse(text)
        var anomalies: [String] = []
        var devices: [PCIDevice] = []
        var kept: [PCIAddress: [UInt8]] = [:]
        for (address, handle) in functions {
            let bytes: [UInt8]
            do {
                bytes = try library.readConfig(handle, address: address)
            } catch {
                anomalies.append("\(path): \(error.message)")
                continue
            }
            let config = DecodedConfig(ConfigSpace(bytes))
            if keepConfigBytes { kept[address] = bytes }
            devices.append(
                PCIDevice(
                    address: address, config: config,
                    name: library.deviceName(vendorID: config.vendorID, deviceID: config.deviceID),
                    driver: drivers[address]))
        }
        HostModel.assignParentsFromBusRanges(&devices)
        return HostModel(
            source: "lspci dump \(path)", devices: devices, kernelGroups: nil, facts: HostFacts(), anomalies: anomalies,
            configBytes: kept)
    }

    private func readDumpText() throws(HostAccessError) -> String {
        let file = RootedFileSystem(root: "/")
        guard let bytes = try file.readBytes(absolutePath(path), limit: 64 << 20)
        else {
            throw HostAccessError(.notFound, "no lspci dump at \(path)", path: path)
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// "Kernel driver in use: NAME" lines of `lspci -k`/`-vvv` output, per device header line.
    static func driversInUse(_ text: String) -> [PCIAddress: String] {
        var result: [PCIAddress: String] = [:]
        var current: PCIAddress?
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if let first = line.first, first.isHexDigit, let space = line.firstIndex(of: " "),
                let address = PCIAddress(line[..<space])
            {
                current = address
            } else if let current, let range = line.firstRange(of: "Kernel driver in use: ") {
                result[current] = String(line[range.upperBound...]).trimmingCharacters(in: " \t")
            }
        }
        return result
    }
}

extension StringProtocol {
    func trimmingCharacters(in set: String) -> String {
        var slice = Substring(self)
        while let first = slice.first, set.contains(first) { slice.removeFirst() }
        while let last = slice.last, set.contains(last) { slice.removeLast() }
        return String(slice)
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
