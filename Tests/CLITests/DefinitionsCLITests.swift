import Foundation
import FoundationXML
import TestSupport
import Testing

/// `vfioctl xml` and `vfioctl kubevirt` as a user runs them. The XML is read back with
/// Foundation's XMLDocument (libxml2), a parser that is not vfioctl's own.
@Suite("vfioctl xml and kubevirt from the command line")
struct DefinitionsCLITests {
    static func snapshot(_ name: String) -> String { Fixtures.directory + "/snapshots/\(name).tar.gz" }

    /// The hostdevs' source addresses and managed attributes, parsed by libxml2.
    static func hostdevs(_ fragment: String) throws -> [(address: String, managed: String)] {
        let document = try XMLDocument(xmlString: "<devices>\(fragment)</devices>", options: [])
        return try document.nodes(forXPath: "/devices/hostdev").map { node in
            let element = try #require(node as? XMLElement)
            #expect(element.attribute(forName: "mode")?.stringValue == "subsystem")
            #expect(element.attribute(forName: "type")?.stringValue == "pci")
            let source = try #require(try element.nodes(forXPath: "source/address").first as? XMLElement)
            let parts = ["domain", "bus", "slot", "function"].map {
                source.attribute(forName: $0)?.stringValue?.replacingOccurrences(of: "0x", with: "") ?? "?"
            }
            return (
                "\(parts[0]):\(parts[1]):\(parts[2]).\(parts[3])",
                element.attribute(forName: "managed")?.stringValue ?? ""
            )
        }
    }

    /// The group's members as the snapshot's own `iommu_group` links (of each function's
    /// directory under `sys/devices`) name them, listed by tar.
    static func kernelGroupMembers(_ snapshot: String, group: Int) throws -> Set<String> {
        let listing = try Tool.run("/usr/bin/tar", ["tvzf", snapshot])
        var members = Set<String>()
        for line in listing.standardOutput.split(separator: "\n") where line.hasSuffix("/kernel/iommu_groups/\(group)")
        {
            guard let range = line.range(of: "/iommu_group -> ") else { continue }
            if let address = line[..<range.lowerBound].split(separator: "/").last { members.insert(String(address)) }
        }
        return members
    }

    @Test("seed host: the four 82576 functions, well-formed, managed='yes' (igb-bound)")
    func seed() throws {
        let result = try Tool.vfioctl(["xml", "0000:04:00.0", "--snapshot", Self.snapshot("seed-host")])
        #expect(result.status == 0, "\(result.standardError)")
        let hostdevs = try Self.hostdevs(result.standardOutput)
        #expect(hostdevs.map(\.address) == ["0000:04:00.0", "0000:04:00.1", "0000:05:00.0", "0000:05:00.1"])
        #expect(hostdevs.allSatisfy { $0.managed == "yes" })
        let no = try Tool.vfioctl(["xml", "group:1", "--managed", "no", "--snapshot", Self.snapshot("seed-host")])
        #expect(try Self.hostdevs(no.standardOutput).allSatisfy { $0.managed == "no" })
    }

    @Test("lab host: group:3's hostdevs are the kernel's group 3 without its bridges")
    func kernelGroup() throws {
        let snapshot = Self.snapshot("lab-amd-vi-6.12")
        let members = try Self.kernelGroupMembers(snapshot, group: 3)
        #expect(members.count == 6)
        let result = try Tool.vfioctl(["xml", "group:3", "--snapshot", snapshot, "--guest-bus", "0"])
        #expect(result.status == 0, "\(result.standardError)")
        let addresses = try Self.hostdevs(result.standardOutput).map(\.address)
        #expect(Set(addresses).isSubset(of: members) && addresses == ["0000:05:00.0", "0000:06:00.0"])
        // The other four members are the bridges the comment names.
        let bridges = members.subtracting(addresses).sorted()
        #expect(result.standardOutput.contains("get no <hostdev>: " + bridges.joined(separator: ", ")))
        #expect(
            result.standardOutput.contains(
                "<address type='pci' domain='0x0000' bus='0x00' slot='0x10' function='0x0'/>"))
    }

    @Test("an lspci dump: the predicted group, one guest slot for the card, multifunction on its function 0 only")
    func lspciDumpPlacement() throws {
        let result = try Tool.vfioctl([
            "xml", "06:00.1", "--lspci-dump", Fixtures.dump("tree-asus-p6t6"), "--guest-bus", "0", "--guest-slot", "7",
        ])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(try Self.hostdevs(result.standardOutput).map(\.address) == ["0000:06:00.0", "0000:06:00.1"])
        let document = try XMLDocument(xmlString: "<devices>\(result.standardOutput)</devices>", options: [])
        let guest = try document.nodes(forXPath: "/devices/hostdev/address").compactMap { $0 as? XMLElement }
        #expect(guest.map { $0.attribute(forName: "slot")?.stringValue } == ["0x07", "0x07"])
        #expect(guest.map { $0.attribute(forName: "function")?.stringValue } == ["0x0", "0x1"])
        #expect(guest.map { $0.attribute(forName: "multifunction")?.stringValue } == ["on", nil])
        #expect(result.standardOutput.contains("predicted IOMMU group p3"))
    }

    @Test("errors name what is wrong and exit non-zero, without output")
    func errors() throws {
        let snapshot = Self.snapshot("lab-amd-vi-6.12")
        for (arguments, message) in [
            (["group:9"], "has no IOMMU group 9 (its groups: 0-6)"),
            (["0000:0a:00.0"], "no PCI function 0000:0a:00.0"),
            (["group:1"], "holds only bridges (0000:00:02.0)"),
            (["00:01.0"], "0000:00:01.0 is in no IOMMU group"),
            (["group:x"], "expected group:N with N a number"),
            (["group:3", "--guest-slot", "4"], "--guest-slot needs --guest-bus"),
            (["group:3", "--guest-bus", "0", "--guest-slot", "0x20"], "a PCI slot number is 0 to 31"),
            (["group:3", "--managed", "maybe"], "maybe"),
        ] {
            let result = try Tool.vfioctl(["xml"] + arguments + ["--snapshot", snapshot])
            #expect(result.status != 0 && result.standardOutput.isEmpty, "\(arguments)")
            #expect(result.standardError.contains(message), "\(arguments): \(result.standardError)")
        }
    }

    @Test("a group the host runs on is refused; --force writes it, still well-formed")
    func blocked() throws {
        let root = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        #expect(try Tool.run("/usr/bin/tar", ["xzf", Self.snapshot("seed-host"), "-C", root]).status == 0)
        // The default route leaves through 05:00.1's interface (proc/net/route, class/net).
        try FileManager.default.createDirectory(atPath: root + "/sys/class/net", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: root + "/proc/net", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(
            atPath: root + "/sys/class/net/enp5s0f1",
            withDestinationPath:
                "../../devices/pci0000:00/0000:00:03.0/0000:02:00.0/0000:03:04.0/0000:05:00.1/net/enp5s0f1")
        try
            "Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT\nenp5s0f1\t00000000\t0102A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
            .write(toFile: root + "/proc/net/route", atomically: true, encoding: .utf8)
        let refused = try Tool.vfioctl(["xml", "04:00.0", "--root", root])
        #expect(refused.status != 0 && refused.standardOutput.isEmpty)
        #expect(refused.standardError.contains("cannot be given to a guest"))
        #expect(refused.standardError.contains("the default route leaves through enp5s0f1"))
        let forced = try Tool.vfioctl(["xml", "04:00.0", "--root", root, "--force"])
        #expect(forced.status == 0)
        #expect(try Self.hostdevs(forced.standardOutput).count == 4)
        #expect(forced.standardOutput.contains("verdict blocked"))
    }

    @Test("comments quoting a hostile source path stay well-formed")
    func hostilePath() throws {
        let directory = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = directory + "/a--b<c>&'d-.tar.gz"
        try FileManager.default.copyItem(atPath: Self.snapshot("seed-host"), toPath: path)
        let result = try Tool.vfioctl(["xml", "group:1", "--snapshot", path])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(try Self.hostdevs(result.standardOutput).count == 4)
    }

    @Test("kubevirt --json: the lab's 82574L entry, valid names, the left-out models with why")
    func kubevirtJSON() throws {
        let result = try Tool.vfioctl(["kubevirt", "--json", "--snapshot", Self.snapshot("lab-amd-vi-6.12")])
        #expect(result.status == 0, "\(result.standardError)")
        let json = try #require(
            try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String: Any])
        #expect(json["schemaVersion"] as? Int == 1)
        let entries = try #require(json["pciHostDevices"] as? [[String: Any]])
        #expect(entries.map { $0["pciVendorSelector"] as? String } == ["8086:10d3"])
        #expect(entries.first?["resourceName"] as? String == "intel.com/82574L_GIGABIT_NETWORK_CONNECTION_10D3")
        let functions = try #require(entries.first?["functions"] as? [[String: Any]])
        #expect(functions.map { $0["group"] as? Int } == [5, 6])
        // The snapshot's own links: groups 5 and 6 hold exactly these functions.
        let snapshot = Self.snapshot("lab-amd-vi-6.12")
        #expect(try Self.kernelGroupMembers(snapshot, group: 5) == ["0000:01:00.0"])
        #expect(try Self.kernelGroupMembers(snapshot, group: 6) == ["0000:02:00.0"])
        #expect(functions.map { $0["address"] as? String } == ["0000:01:00.0", "0000:02:00.0"])
        let skipped = try #require(json["skipped"] as? [[String: Any]])
        #expect(
            Set(skipped.compactMap { $0["pciVendorSelector"] as? String }) == [
                "1022:1419", "1b36:0010", "8086:2922", "8086:2930",
            ])
    }

    @Test("kubevirt YAML on the seed host: an empty list and the 82576 left out, with why")
    func kubevirtSeed() throws {
        let result = try Tool.vfioctl(["kubevirt", "--snapshot", Self.snapshot("seed-host")])
        #expect(result.status == 0, "\(result.standardError)")
        #expect(result.standardOutput.contains("permittedHostDevices:\n  # no device model"))
        #expect(result.standardOutput.contains("  pciHostDevices: []\n"))
        #expect(result.standardOutput.contains("# not listed: 8086:10c9"))
        #expect(result.standardOutput.contains("shares predicted IOMMU group p1"))
    }
}
