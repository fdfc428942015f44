import PCIModel

/// The `resourceName` of a KubeVirt `pciHostDevices` entry: a Kubernetes extended resource
/// name, `<vendor-domain>/<NAME>` (KubeVirt's examples: `nvidia.com/GP106GL_QUADRO_P2000`).
///
/// The vendor's domain comes from the ids (a short table; `vendor-vvvv.pci` for other vendors),
/// the name from this machine's pci.ids when it is given one, so a hwdata update can rename a
/// model (`vfioctl kubevirt --resource-names ids` leaves it out): the pci.ids device name upper-cased with every run of other characters than `A-Z0-9` turned into one
/// `_`, followed by `_DDDD` (the device id: pci.ids gives several ids the same name, such as
/// the 82576's 10c9 and 10e6). Without a pci.ids name: `PCI_VVVV_DDDD`.
public struct KubeVirtResourceName: Sendable, Equatable, CustomStringConvertible {
    /// The prefix: a DNS subdomain.
    public let domain: String
    /// The part after `/`: at most 63 characters, `[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?`.
    public let name: String

    public var description: String { domain + "/" + name }

    /// The longest name part Kubernetes accepts (a qualified name's name segment).
    public static let maximumNameLength = 63
    /// The longest prefix (a DNS-1123 subdomain).
    public static let maximumDomainLength = 253

    /// A vendor's domain and the vendor name pci.ids puts in front of its device names.
    static let vendors: [UInt16: (domain: String, pciIDsName: String)] = [
        0x8086: ("intel.com", "Intel Corporation"),
        0x10de: ("nvidia.com", "NVIDIA Corporation"),
        0x15b3: ("nvidia.com", "Mellanox Technologies"),
        0x1002: ("amd.com", "Advanced Micro Devices, Inc. [AMD/ATI]"),
        0x1022: ("amd.com", "Advanced Micro Devices, Inc. [AMD]"),
        0x14e4: ("broadcom.com", "Broadcom Inc. and subsidiaries"),
        0x1af4: ("redhat.com", "Red Hat, Inc."),
        0x1b36: ("redhat.com", "Red Hat, Inc."),
        0x144d: ("samsung.com", "Samsung Electronics Co Ltd"),
        0x1077: ("marvell.com", "QLogic Corp."),
    ]

    /// `pciIDsName` is the model's name as libpci gives it ("Vendor Device"), nil when unknown.
    public init(vendorID: UInt16, deviceID: UInt16, pciIDsName: String?) {
        let vendor = Self.vendors[vendorID]
        domain = vendor?.domain ?? "vendor-\(hex(vendorID, width: 4)).pci"
        var deviceName = pciIDsName ?? ""
        if let prefix = vendor?.pciIDsName, deviceName.hasPrefix(prefix + " ") {
            deviceName.removeFirst(prefix.count + 1)
        }
        let suffix = "_" + hex(deviceID, width: 4).uppercased()
        var words = Self.underscored(deviceName)
        if words.count > Self.maximumNameLength - suffix.count {
            words = String(words.prefix(Self.maximumNameLength - suffix.count))
            while words.hasSuffix("_") { words.removeLast() }
        }
        name = words.isEmpty ? "PCI_" + hex(vendorID, width: 4).uppercased() + suffix : words + suffix
    }

    /// Upper case, runs of characters other than A-Z and 0-9 as one `_`, none at either end.
    static func underscored(_ text: String) -> String {
        var result = ""
        for scalar in text.uppercased().unicodeScalars {
            if ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar) {
                result.unicodeScalars.append(scalar)
            } else if !result.isEmpty, !result.hasSuffix("_") {
                result += "_"
            }
        }
        while result.hasSuffix("_") { result.removeLast() }
        return result
    }

    // MARK: - Validation

    /// What is wrong with `text` as a Kubernetes extended resource name (a qualified name
    /// `prefix/name`: the prefix a DNS-1123 subdomain outside `kubernetes.io`, the name at most
    /// 63 characters of `[-A-Za-z0-9_.]` beginning and ending alphanumeric); empty when nothing.
    public static func problems(with text: String) -> [String] {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2 else { return ["\(text): expected exactly one / between a domain and a name"] }
        var problems: [String] = []
        let (domain, name) = (String(parts[0]), String(parts[1]))
        if domain.isEmpty || domain.count > maximumDomainLength {
            problems.append("domain \(domain): must be 1 to \(maximumDomainLength) characters")
        }
        for label in domain.split(separator: ".", omittingEmptySubsequences: false) where !isDNSLabel(label) {
            problems.append(
                "domain \(domain): label \"\(label)\" is not 1 to 63 of a-z, 0-9 and - beginning and ending alphanumeric"
            )
        }
        if domain == "kubernetes.io" || domain.hasSuffix(".kubernetes.io") {
            problems.append("domain \(domain): kubernetes.io is reserved for Kubernetes' own resources")
        }
        if name.isEmpty || name.count > maximumNameLength {
            problems.append("name \(name): must be 1 to \(maximumNameLength) characters")
        }
        let inner = name.unicodeScalars.allSatisfy { isAlphanumeric($0) || "-_.".unicodeScalars.contains($0) }
        if !inner || !(name.unicodeScalars.first.map(isAlphanumeric) ?? false)
            || !(name.unicodeScalars.last.map(isAlphanumeric) ?? false)
        {
            problems.append("name \(name): only A-Z, a-z, 0-9, -, _ and ., beginning and ending alphanumeric")
        }
        return problems
    }

    private static func isDNSLabel(_ label: Substring) -> Bool {
        let scalars = label.unicodeScalars
        guard (1...63).contains(scalars.count), let first = scalars.first, let last = scalars.last else { return false }
        let lower = { (s: Unicode.Scalar) in ("a"..."z").contains(s) || ("0"..."9").contains(s) }
        return lower(first) && lower(last) && scalars.allSatisfy { lower($0) || $0 == "-" }
    }

    private static func isAlphanumeric(_ scalar: Unicode.Scalar) -> Bool {
        ("A"..."Z").contains(scalar) || ("a"..."z").contains(scalar) || ("0"..."9").contains(scalar)
    }
}
