import PCIModel

/// Config-space decoding (`DecodedConfig(ConfigSpace(bytes))`): the input is one function's
/// config space as read from sysfs `config` or a dump. Decoding never traps, and every
/// capability it reports lies inside the readable bytes.
enum ConfigSpaceFuzz {
    static func run(_ bytes: [UInt8]) {
        let config = ConfigSpace(bytes)
        let decoded = DecodedConfig(config)
        fuzzCheck(decoded.readableLength == min(bytes.count, 4096), "readable length \(decoded.readableLength)")
        var standardOffsets = Set<Int>()
        for capability in decoded.capabilities {
            fuzzCheck(capability.offset >= 0x40 && capability.offset + 2 <= config.count, "cap at \(capability.offset)")
            fuzzCheck(standardOffsets.insert(capability.offset).inserted, "cap \(capability.offset) listed twice")
        }
        var extendedOffsets = Set<Int>()
        for capability in decoded.extendedCapabilities {
            fuzzCheck(
                capability.offset >= 0x100 && capability.offset + 4 <= config.count,
                "extended cap at \(capability.offset)")
            fuzzCheck(extendedOffsets.insert(capability.offset).inserted, "extended cap \(capability.offset) twice")
        }
        if decoded.express == nil { fuzzCheck(decoded.extendedCapabilities.isEmpty, "extended caps without PCIe") }
        // What the analyses read from a decoded function must not trap either.
        _ = (decoded.isBridge, decoded.baseClass, decoded.express?.portType, decoded.express?.supportsFLR)
        _ = (decoded.acs?.capability, decoded.sriov?.totalVFs, decoded.msix?.tableSize, decoded.msi?.vectorsCapable)
        fuzzCheck(decoded == DecodedConfig(ConfigSpace(bytes)), "decoding is not deterministic")
    }
}
