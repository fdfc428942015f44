import HostAccess
import PCIModel

/// The lspci-dump reader: `LspciDumpScan` (vfioctl's check of the lines) and then the whole
/// `LspciDumpReader.read(contents:)`, through libpci's dump method. Whatever the scan
/// accepts libpci must read to the same functions and bytes: the scan is the gate that
/// keeps libpci's own parser from misreading (or writing outside its buffer).
enum LspciDumpFuzz {
    static let path = "fuzz-input.txt"

    static func run(_ bytes: [UInt8]) {
        let scan: LspciDumpScan
        do {
            scan = try LspciDumpScan(bytes, path: path, keepBytes: true)
        } catch {
            fuzzCheck(error.message.hasPrefix(path + ":"), "scan error without file:line: \(error.message)")
            return
        }
        let addresses = scan.functions.map(\.address)
        fuzzCheck(Set(addresses).count == addresses.count, "repeated address passed the scan")
        guard !scan.functions.isEmpty else { return }
        let model: HostModel
        do {
            model = try LspciDumpReader(path: path, keepConfigBytes: true, lookUpNames: false).read(contents: bytes)
        } catch {
            fuzzCheck(false, "the scan passed but the reader failed: \(error.message)")
            return
        }
        for function in scan.functions {
            // PCILibrary.readConfig reads the longest prefix in 16-byte steps, 64 bytes at least.
            let readable = min(function.length / 16 * 16, 4096)
            let read = model.configBytes[function.address]
            if readable < 64 {
                fuzzCheck(read == nil, "\(function.address): \(read?.count ?? 0) bytes read from \(function.length)")
                continue
            }
            fuzzCheck(
                read == Array((function.bytes ?? []).prefix(readable)),
                "\(function.address): libpci's bytes differ from the scan's (\(read?.count ?? 0) vs \(readable))")
            fuzzCheck(model[function.address]?.driver == function.driver, "\(function.address): driver")
        }
    }
}
