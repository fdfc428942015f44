import Analysis
import Definitions
import Foundation
import PCIModel
import TestSupport
import Testing

@Suite("vfioctl kubevirt: permittedHostDevices entries and their resource names")
struct KubeVirtTests {
    @Test("KubeVirt's documented example model gets its documented name, with the device id")
    func documentedExample() {
        // KubeVirt's user guide: pciVendorSelector "10DE:1EB8" / resourceName "nvidia.com/TU104GL_Tesla_T4";
        // "nvidia.com/GP106GL_QUADRO_P2000" for the Quadro P2000 (pci.ids: 10de:1c30 "GP106GL [Quadro P2000]").
        let name = KubeVirtResourceName(
            vendorID: 0x10de, deviceID: 0x1c30, pciIDsName: "NVIDIA Corporation GP106GL [Quadro P2000]")
        #expect(name.description == "nvidia.com/GP106GL_QUADRO_P2000_1C30")
        let intel = KubeVirtResourceName(
            vendorID: 0x8086, deviceID: 0x10c9, pciIDsName: "Intel Corporation 82576 Gigabit Network Connection")
        #expect(intel.description == "intel.com/82576_GIGABIT_NETWORK_CONNECTION_10C9")
        let unknown = KubeVirtResourceName(vendorID: 0x1234, deviceID: 0xabcd, pciIDsName: nil)
        #expect(unknown.description == "vendor-1234.pci/PCI_1234_ABCD")
    }

    @Test("the validator refuses what Kubernetes refuses")
    func validator() {
        #expect(KubeVirtResourceName.problems(with: "intel.com/82576_GIGABIT_10C9").isEmpty)
        #expect(KubeVirtResourceName.problems(with: "nvidia.com/TU104GL_Tesla_T4").isEmpty)
        for bad in [
            "kubernetes.io/GPU", "gpu.kubernetes.io/X", "Intel.com/X", "intel.com/_X", "intel.com/X_", "intel.com/X Y",
            "intel.com/", "/X", "a/b/c", "intel..com/X", "-intel.com/X",
            "intel.com/" + String(repeating: "A", count: 64),
        ] {
            #expect(!KubeVirtResourceName.problems(with: bad).isEmpty, "\(bad)")
        }
        #expect(KubeVirtResourceName.problems(with: "intel.com/" + String(repeating: "A", count: 63)).isEmpty)
    }

    @Test("every model in this machine's pci.ids gets a valid name, and no two models the same one")
    func everyPCIIDsModel() throws {
        let text = try String(contentsOfFile: "/usr/share/misc/pci.ids", encoding: .utf8)
        var vendor: (id: UInt16, name: String)?
        var seen: [String: String] = [:]
        var count = 0
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) where !line.hasPrefix("#") {
            if line.hasPrefix("C ") { break }  // the class list follows the vendors
            if !line.hasPrefix("\t"), line.count > 6, let id = UInt16(line.prefix(4), radix: 16) {
                vendor = (id, String(line.dropFirst(6)))
            } else if line.hasPrefix("\t"), !line.hasPrefix("\t\t"), let vendor,
                let device = UInt16(line.dropFirst().prefix(4), radix: 16)
            {
                let full = vendor.name + " " + String(line.dropFirst(7))
                let name = KubeVirtResourceName(vendorID: vendor.id, deviceID: device, pciIDsName: full)
                let problems = KubeVirtResourceName.problems(with: name.description)
                #expect(problems.isEmpty, "\(full): \(problems)")
                let ids = hex(vendor.id, width: 4) + ":" + hex(device, width: 4)
                if let other = seen[name.description] {
                    Issue.record("\(ids) and \(other) both get \(name)")
                }
                seen[name.description] = ids
                count += 1
            }
        }
        #expect(count > 10_000)
    }

    @Test("names past 63 characters are cut at a word and stay valid")
    func longName() {
        let name = KubeVirtResourceName(
            vendorID: 0x8086, deviceID: 0x1234,
            pciIDsName:
                "Intel Corporation Xeon E7 v4/Xeon E5 v4/Xeon E3 v4/Xeon D Power Control Unit — extra words here")
        #expect(name.name.count <= 63 && name.name.hasSuffix("_1234") && !name.name.contains("__"))
        #expect(KubeVirtResourceName.problems(with: name.description).isEmpty)
    }

    @Test("lab AMD-Vi host: the 82574L backed by its two lone functions; shared and group-less models left out")
    func labHost() throws {
        let host = try DefinitionHost.snapshot("lab-amd-vi-6.12")
        let devices = KubeVirtDevices(report: host.report)
        #expect(devices.entries.map(\.pciVendorSelector) == ["8086:10d3"])
        let entry = try #require(devices.entries.first)
        // Kernel groups 5 and 6 each hold only their NIC; 05:00.0 shares group 3 with the NVMe.
        #expect(entry.functions.map(\.address.description) == ["0000:01:00.0", "0000:02:00.0"])
        #expect(entry.functions.map(\.group) == [.kernel(5), .kernel(6)])
        #expect(entry.excluded.map(\.address.description) == ["0000:05:00.0"])
        #expect(entry.excluded.first?.why.contains("shares IOMMU group 3 with 0000:06:00.0") == true)
        #expect(KubeVirtResourceName.problems(with: entry.resourceName.description).isEmpty)
        let skipped = Dictionary(devices.skipped.map { ($0.pciVendorSelector, $0) }, uniquingKeysWith: { a, _ in a })
        #expect(skipped["1b36:0010"]?.functions.first?.why.contains("shares IOMMU group 3") == true)
        #expect(skipped["1022:1419"]?.functions.first?.why.contains("in no IOMMU group") == true)
        // Host bridges, ISA bridges and ports are never offered, not even as skipped.
        let all = Set(devices.entries.map(\.pciVendorSelector) + devices.skipped.map(\.pciVendorSelector))
        for device in host.model.devices where device.config.baseClass == 0x06 {
            #expect(!all.contains(device.ids), "\(device.address)")
        }
        let yaml = devices.yaml()
        #expect(yaml.contains("  pciHostDevices:\n"))
        #expect(
            yaml.contains(
                "    - pciVendorSelector: \"8086:10d3\"\n      resourceName: \"intel.com/82574L_GIGABIT_NETWORK_CONNECTION_10D3\"\n"
            ))
    }

    @Test("seed host: every 82576 function shares the predicted group, so the list is empty and says why")
    func seedHost() throws {
        let devices = KubeVirtDevices(report: try DefinitionHost.snapshot("seed-host").report)
        #expect(devices.entries.isEmpty)
        #expect(devices.skipped.map(\.pciVendorSelector) == ["8086:10c9"])
        #expect(devices.skipped.first?.functions.count == 4)
        #expect(devices.yaml().contains("  pciHostDevices: []\n"))
    }

    @Test("--resource-names ids: PCI_VVVV_DDDD whatever pci.ids says; the pci.ids name stays in the comment")
    func namesFromIDs() throws {
        let host = try DefinitionHost.snapshot("lab-amd-vi-6.12")
        let devices = KubeVirtDevices(report: host.report, names: .ids)
        #expect(devices.entries.map(\.resourceName.description) == ["intel.com/PCI_8086_10D3"])
        #expect(devices.yaml().contains("# 8086:10d3 Intel Corporation 82574L Gigabit Network Connection"))
    }

    @Test(
        "host text in a YAML comment cannot end it: NEL, LS, PS and controls become spaces (PyYAML reads one document)")
    func hostileSourceInComments() throws {
        var model = try DefinitionHost.snapshot("lab-amd-vi-6.12").model
        model.source = "inj\u{2028}pwned: {a: 1}\u{85}# \r\nalso: 2\u{2029}x: \u{FFFE}"
        let yaml = KubeVirtDevices(report: try DefinitionHost(model).report).yaml()
        for scalar in ["\u{2028}", "\u{2029}", "\u{85}", "\r", "\u{FFFE}"] {
            #expect(!yaml.unicodeScalars.contains(scalar.unicodeScalars.first!), "\(scalar.debugDescription)")
        }
        let directory = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try yaml.write(toFile: directory + "/k.yaml", atomically: true, encoding: .utf8)
        let parsed = try Tool.run(
            "/usr/bin/python3",
            ["-c", "import sys, yaml; d = yaml.safe_load(open(sys.argv[1])); print(sorted(d))", directory + "/k.yaml"])
        #expect(parsed.status == 0, "\(parsed.standardError)")
        #expect(parsed.standardOutput == "['permittedHostDevices']\n", "\(parsed.standardOutput)")
    }

    @Test("a lone function that is blocked backs no entry")
    func blockedLoneFunction() throws {
        let model = try DefinitionHost.snapshot("lab-amd-vi-6.12").model.withFacts {
            $0.hostDependencies.append(
                HostDependency(address: PCIAddress("0000:01:00.0")!, kind: .rootFilesystem, detail: "/ is on sda1"))
        }
        let devices = KubeVirtDevices(report: try DefinitionHost(model).report)
        let entry = try #require(devices.entries.first { $0.pciVendorSelector == "8086:10d3" })
        #expect(entry.functions.map(\.address.description) == ["0000:02:00.0"])
        #expect(
            entry.excluded.contains {
                $0.address.description == "0000:01:00.0" && $0.why.hasPrefix("blocked: [host-dependency]")
            })
    }
}

@Suite("XML text escaping")
struct XMLTextTests {
    @Test("attributes and comments stay well-formed whatever they quote")
    func escaping() {
        #expect(XMLText.attribute("a<b>&'\"\n") == "a&lt;b&gt;&amp;&apos;&quot;&#10;")
        let comment = XMLText.comment("a--b---c -")
        #expect(!comment.contains("--") && !comment.hasSuffix("-"))
        #expect(XMLText.comment("one\ntwo") == "one two")
        // U+FFFE and U+FFFF are not XML characters (XML 1.0 §2.2): libxml2 refuses the document.
        #expect(XMLText.comment("a\u{FFFE}b\u{FFFF}") == "a?b?")
        #expect(XMLText.attribute("\u{FFFF}") == "?")
    }
}
