#if canImport(Glibc)
    import Glibc
#endif

/// The parsers of untrusted input that `make fuzz` runs under libFuzzer, one per
/// `FUZZ_TARGET` value. Each takes the raw input bytes; a crash, a sanitizer report or a
/// failed `FuzzCheck` is a finding.
enum FuzzTarget: String, CaseIterable {
    case configSpace = "config-space"
    case lspciDump = "lspci-dump"
    case toml
    case domainXML = "domain-xml"
    case uevent
    case snapshot
    case iomem

    /// The target `FUZZ_TARGET` names; the process stops with the list when it names none.
    static let selected: FuzzTarget = {
        let name = getenv("FUZZ_TARGET").map { String(cString: $0) } ?? ""
        guard let target = FuzzTarget(rawValue: name) else {
            let known = allCases.map(\.rawValue).joined(separator: ", ")
            writeError("vfioctl-fuzz: set FUZZ_TARGET to one of: \(known) (got \"\(name)\")\n")
            exit(2)
        }
        return target
    }()

    func run(_ bytes: [UInt8]) {
        switch self {
        case .configSpace: ConfigSpaceFuzz.run(bytes)
        case .lspciDump: LspciDumpFuzz.run(bytes)
        case .toml: TOMLFuzz.run(bytes)
        case .domainXML: DomainXMLFuzz.run(bytes)
        case .uevent: UeventFuzz.run(bytes)
        case .snapshot: SnapshotFuzz.run(bytes)
        case .iomem: IOMemoryFuzz.run(bytes)
        }
    }
}

/// A property every input must keep; a violation stops the run as a finding.
func fuzzCheck(_ condition: Bool, _ message: @autoclosure () -> String) {
    guard !condition else { return }
    writeError("vfioctl-fuzz: check failed: \(message())\n")
    abort()
}

/// Writes `text` to standard error (fd 2) unbuffered: the process may abort right after.
func writeError(_ text: String) {
    var text = text
    text.withUTF8 { bytes in _ = write(2, bytes.baseAddress, bytes.count) }
}

/// libFuzzer's entry point: one input, for the selected target.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? []
    FuzzTarget.selected.run(bytes)
    return 0
}
