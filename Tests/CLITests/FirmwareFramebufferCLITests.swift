import Foundation
import HostAccess
import PCIModel
import SystemPackage
import TestSupport
import Testing

/// The boot GPU (real config bytes of an AMD Fiji from pciutils' `cap-rebar` dump) in a tree
/// whose `/proc/iomem`, `class/graphics` and `class/vtconsole` say what holds its memory, in
/// the layout the kernel prints (kernel/resource.c r_show; drivers/video/fbdev/core/fbsysfs.c).
@Suite("The boot GPU: what holds its memory")
struct FirmwareFramebufferCLITests {
    static let gpu = "0000:09:00.0"

    static func iomem(holder: String, child: String?) -> String {
        var text = """
            00000000-00000fff : Reserved
            00001000-0009ffff : System RAM
            e0000000-f01fffff : PCI Bus 0000:00
              e0000000-efffffff : \(gpu)
                e0000000-e07e8fff : \(holder)

            """
        if let child { text += "      e0000000-e07e8fff : \(child)\n" }
        return text + "  f0000000-f01fffff : \(gpu)\nfee00000-fee00fff : Local APIC\n"
    }

    /// Writes the GPU as the boot display with `iomem` and a console bound to fb0.
    static func tree(at root: String, iomem: String?, framebuffer: (name: String, device: String)?, cmdline: String)
        throws
    {
        var model = try Fixtures.model(dump: "cap-rebar")
        let bytes = model.configBytes
        var devices = model.devices
        devices[0].isBootVGA = true
        model = HostModel(
            source: "test", devices: devices, kernelGroups: [1: [devices[0].address]], facts: HostFacts(),
            configBytes: bytes)
        try SysfsTreeWriter(base: FilePath(root)).write(model)
        let fm = FileManager.default
        let sys = root + "/sys"
        try
            "0x00000000e0000000 0x00000000efffffff 0x000000000014220c\n0x0000000000000000 0x0000000000000000 0x0000000000000000\n0x00000000f0000000 0x00000000f01fffff 0x000000000014220c\n"
            .write(toFile: sys + "/bus/pci/devices/\(gpu)/resource", atomically: true, encoding: .utf8)
        try fm.createDirectory(atPath: root + "/proc", withIntermediateDirectories: true)
        try cmdline.write(toFile: root + "/proc/cmdline", atomically: true, encoding: .utf8)
        if let iomem { try iomem.write(toFile: root + "/proc/iomem", atomically: true, encoding: .utf8) }
        if let framebuffer {
            try fm.createDirectory(atPath: sys + "/class/graphics/fb0", withIntermediateDirectories: true)
            try (framebuffer.name + "\n").write(
                toFile: sys + "/class/graphics/fb0/name", atomically: true, encoding: .utf8)
            try fm.createSymbolicLink(
                atPath: sys + "/class/graphics/fb0/device",
                withDestinationPath: "../../../devices/platform/\(framebuffer.device)")
        }
        try fm.createDirectory(atPath: sys + "/class/vtconsole/vtcon1", withIntermediateDirectories: true)
        try "(M) frame buffer device\n".write(
            toFile: sys + "/class/vtconsole/vtcon1/name", atomically: true, encoding: .utf8)
        try "1\n".write(toFile: sys + "/class/vtconsole/vtcon1/bind", atomically: true, encoding: .utf8)
    }

    static func reasons(_ json: String, code: String) throws -> [[String: Any]] {
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        let devices = try #require(object["devices"] as? [[String: Any]])
        let device = try #require(devices.first { $0["address"] as? String == Self.gpu })
        return (device["reasons"] as? [[String: Any]] ?? []).filter { $0["code"] as? String == code }
    }

    @Test("BOOTFB under simpledrm in BAR 0: blocked, names the range, fb0, the console and the parameter")
    func simpledrm() throws {
        let root = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try Self.tree(
            at: root, iomem: Self.iomem(holder: "BOOTFB", child: "simpledrm"),
            framebuffer: ("simpledrmdrmfb", "simple-framebuffer.0"), cmdline: "root=/dev/sda1 quiet\n")
        let result = try Tool.vfioctl(["inspect", "--root", root, "--json"])
        #expect(result.status == 0, "\(result.standardError)")
        let reason = try #require(try Self.reasons(result.standardOutput, code: "firmware-framebuffer").first)
        let message = try #require(reason["message"] as? String)
        #expect(reason["severity"] as? String == "blocked")
        #expect(message.contains("BOOTFB [mem 0xe0000000-0xe07e8fff] in BAR 0"))
        #expect(message.contains("simpledrm [mem 0xe0000000-0xe07e8fff] in BAR 0"))
        #expect(message.contains("fb0 \"simpledrmdrmfb\" on simple-framebuffer.0"))
        #expect(message.contains("the console (fbcon)"))
        #expect(message.contains("BAR 0: can't reserve"))
        #expect(message.contains("initcall_blacklist=sysfb_init"))
        #expect(!message.contains("f0000000"), "BAR 2 holds nothing but the device's own entry")
        let object = try #require(
            try JSONSerialization.jsonObject(with: Data(result.standardOutput.utf8)) as? [String: Any])
        let host = try #require(object["host"] as? [String: Any])
        let held = try #require((host["firmwareFramebuffers"] as? [[String: Any]])?.first)
        #expect(held["releasingParameters"] as? [String] == ["initcall_blacklist=sysfb_init"])
        #expect((held["regions"] as? [[String: Any]])?.map { $0["holder"] as? String } == ["BOOTFB", "simpledrm"])
        #expect(held["consoleOnFramebuffer"] as? Bool == true)
        let text = try Tool.vfioctl(["inspect", "--root", root])
        #expect(text.standardOutput.contains("can't reserve"))
    }

    @Test("efifb asks for video=efifb:off; once the command line has it and nothing is held, no reason")
    func efifbAndReleased() throws {
        let root = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try Self.tree(
            at: root, iomem: Self.iomem(holder: "efifb", child: nil), framebuffer: ("EFI VGA", "efi-framebuffer.0"),
            cmdline: "quiet\n")
        let held = try Tool.vfioctl(["inspect", "--root", root, "--json"])
        let message = try #require(
            try Self.reasons(held.standardOutput, code: "firmware-framebuffer").first?["message"] as? String)
        #expect(message.contains("video=efifb:off") && !message.contains("initcall_blacklist"))
        #expect(message.contains("fb0 \"EFI VGA\" on efi-framebuffer.0"))

        let released = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: released) }
        let plain = Self.iomem(holder: "BOOTFB", child: nil).replacingOccurrences(
            of: "    e0000000-e07e8fff : BOOTFB\n", with: "")
        try Self.tree(at: released, iomem: plain, framebuffer: nil, cmdline: "initcall_blacklist=sysfb_init\n")
        let free = try Tool.vfioctl(["inspect", "--root", released, "--json"])
        #expect(free.status == 0)
        #expect(try Self.reasons(free.standardOutput, code: "firmware-framebuffer").isEmpty)
    }

    @Test("a snapshot of the tree carries iomem, fb and console files: the replay says the same")
    func snapshotCarriesIt() throws {
        let root = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try Self.tree(
            at: root + "/host", iomem: Self.iomem(holder: "BOOTFB", child: "simpledrm"),
            framebuffer: ("simpledrmdrmfb", "simple-framebuffer.0"), cmdline: "quiet\n")
        let created = try Tool.vfioctl(["snapshot", "create", "--root", root + "/host", "-o", root + "/s.tar.gz"])
        #expect(created.status == 0, "\(created.standardError)")
        let direct = try Tool.vfioctl(["inspect", "--root", root + "/host", "--json"])
        let replayed = try Tool.vfioctl(["inspect", "--snapshot", root + "/s.tar.gz", "--json"])
        let strip: (String) -> String = {
            $0.split(separator: "\n").filter { !$0.contains("\"source\"") }.joined(separator: "\n")
        }
        #expect(strip(direct.standardOutput) == strip(replayed.standardOutput))
        #expect(try Self.reasons(replayed.standardOutput, code: "firmware-framebuffer").count == 1)
    }

    @Test("a terminal escape in a /proc/iomem name reaches neither the text output nor an error raw")
    func escapes() throws {
        let root = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try Self.tree(
            at: root, iomem: Self.iomem(holder: "\u{1b}]0;pwned\u{07}\u{1b}[2J", child: nil), framebuffer: nil,
            cmdline: "quiet\n")
        let text = try Tool.vfioctl(["inspect", "--root", root])
        #expect(text.status == 0, "\(text.standardError)")
        #expect(text.standardOutput.contains("?]0;pwned??[2J"), "\(text.standardOutput)")
        #expect(!text.standardOutput.unicodeScalars.contains { $0.value == 0x1b || $0.value == 0x07 })
    }

    @Test("hostile /proc/iomem: deep indentation, garbage and a FIFO neither crash nor invent holders")
    func hostileIOMem() throws {
        let root = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        var deep = "e0000000-efffffff : \(Self.gpu)\n"
        // 3,000 levels (9 MB, under the 16 MiB table limit), then 100,000 lines of garbage.
        for level in 1..<3_000 { deep += String(repeating: " ", count: 2 * level) + "e0000000-e0000fff : x\n" }
        deep += String(repeating: "\u{1}\u{2}garbage : : -\nzzzz-yyyy : BOOTFB\n", count: 50_000)
        try Self.tree(at: root, iomem: deep, framebuffer: nil, cmdline: "quiet\n")
        let result = try Tool.vfioctl(["inspect", "--root", root, "--json"])
        #expect(result.status == 0, "\(result.standardError)")
        let message = try #require(
            try Self.reasons(result.standardOutput, code: "firmware-framebuffer").first?["message"] as? String)
        #expect(!message.contains("BOOTFB"), "an unparsable line is not a holder")

        try FileManager.default.removeItem(atPath: root + "/proc/iomem")
        #expect(mkfifo(root + "/proc/iomem", 0o600) == 0)
        let fifo = try Tool.vfioctl(["inspect", "--root", root, "--json"])
        #expect(fifo.status == 0)
        #expect(fifo.standardOutput.contains("firmware framebuffers could not be read"))
    }
}

/// A DPC root port (generated registers, PCIe Base §7.9.14) above an endpoint, written as a
/// tree with the kernel's port-service children (`ADDR:pcieNNN/driver`).
@Suite("DPC in inspect")
struct DPCInspectTests {
    static func tree(at root: String, control: UInt16, status: UInt16, services: Set<PCIExpressPortService>?) throws {
        var port = Hosts.rootPort(secondary: 1, acs: nil)
        port.addAER()
        port.addDPC(capability: 0x10bf, control: control, status: status, source: 0x0100)
        let nic = Hosts.endpoint()
        var portDevice = Hosts.device("0000:00:1c.0", port, driver: "pcieport", group: 1)
        portDevice.portServices = services
        let devices = [portDevice, Hosts.device("0000:01:00.0", nic, driver: "e1000e", group: 2)]
        var model = Hosts.model(devices, kernelGroups: [1: [devices[0].address], 2: [devices[1].address]])
        model = HostModel(
            source: "test", devices: model.devices, kernelGroups: model.kernelGroups, facts: HostFacts(),
            configBytes: [devices[0].address: port.bytes, devices[1].address: nic.bytes])
        try SysfsTreeWriter(base: FilePath(root)).write(model)
    }

    static func device(_ json: String, _ address: String) throws -> [String: Any] {
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        return try #require((object["devices"] as? [[String: Any]])?.first { $0["address"] as? String == address })
    }

    @Test("the port's DPC registers, its services and the endpoint's containing port")
    func containment() throws {
        let root = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try Self.tree(at: root, control: 0x0009, status: 0, services: [.aer, .dpc, .pme])
        let result = try Tool.vfioctl(["inspect", "--root", root, "--json"])
        #expect(result.status == 0, "\(result.standardError)")
        let port = try Self.device(result.standardOutput, "0000:00:1c.0")
        let dpc = try #require(port["dpc"] as? [String: Any])
        #expect(dpc["trigger"] as? String == "fatal" && dpc["triggered"] as? Bool == false)
        #expect(port["portServices"] as? [String] == ["aer", "dpc", "pcie_pme"])
        let nic = try Self.device(result.standardOutput, "0000:01:00.0")
        #expect(nic["containedBy"] as? String == "0000:00:1c.0")
        let reasons = nic["reasons"] as? [[String: Any]] ?? []
        let contained = try #require(reasons.first { $0["code"] as? String == "dpc-containment" })
        #expect((contained["message"] as? String)?.contains("the kernel's dpc service recovers it") == true)
    }

    @Test("trigger off: no containment; trigger on without a dpc service: firmware (EDR); triggered: caveat")
    func variants() throws {
        for (control, status, services, expectation) in [
            (UInt16(0x0000), UInt16(0), Set<PCIExpressPortService>([.aer]), "none"),
            (0x0002, 0, [.aer], "firmware"), (0x0001, 0x0005, [.aer, .dpc], "triggered"),
        ] {
            let root = try Tool.temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: root) }
            try Self.tree(at: root, control: control, status: status, services: services)
            let result = try Tool.vfioctl(["inspect", "--root", root, "--json"])
            let nic = try Self.device(result.standardOutput, "0000:01:00.0")
            let reasons = (nic["reasons"] as? [[String: Any]] ?? []).map {
                ($0["code"] as? String ?? "", $0["message"] as? String ?? "", $0["severity"] as? String ?? "")
            }
            switch expectation {
            case "none":
                #expect(nic["containedBy"] is NSNull)
                #expect(!reasons.contains { $0.0.hasPrefix("dpc") })
            case "firmware":
                #expect(
                    reasons.contains {
                        $0.0 == "dpc-containment" && $0.1.contains("ACPI EDR") && $0.1.contains("ERR_NONFATAL")
                    })
            default:
                #expect(
                    reasons.contains {
                        $0.0 == "dpc-triggered" && $0.2 == "caveats" && $0.1.contains("ERR_FATAL received")
                    })
            }
        }
    }
}
