import Actions
import Foundation
import HostAccess
import PCIModel
import SystemPackage
import TestSupport
import Testing

/// Every path under a root goes through RootDirectory: these are the escapes a hostile tree
/// or snapshot tries, each under both resolvers (openat2, and the component walk older
/// kernels get).
@Suite("Confinement to the root")
struct ConfinementTests {
    static let resolutions: [RootDirectory.Resolution] = [.openat2, .componentWalk]

    /// A root holding `etc/hostname` ("inside"), next to an `outside.txt` ("secret").
    func makeRoot() throws -> (directory: String, root: String) {
        let directory = try Tool.temporaryDirectory()
        let root = directory + "/root"
        try FileManager.default.createDirectory(atPath: root + "/etc", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: root + "/a/b", withIntermediateDirectories: true)
        try "inside\n".write(toFile: root + "/etc/hostname", atomically: true, encoding: .utf8)
        try "secret\n".write(toFile: directory + "/outside.txt", atomically: true, encoding: .utf8)
        return (directory, root)
    }

    func read(_ relative: String, in root: String, _ resolution: RootDirectory.Resolution) throws -> String? {
        let directory = RootDirectory(path: .init(root), resolution: resolution)
        guard let fd = try directory.openRegularFile(relative, flags: O_RDONLY) else { return nil }
        let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        return String(decoding: handle.readDataToEndOfFile(), as: UTF8.self)
    }

    @Test("absolute links, .. and relative links that climb out all resolve inside the root", arguments: resolutions)
    func links(resolution: RootDirectory.Resolution) throws {
        let (directory, root) = try makeRoot()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let fm = FileManager.default
        try fm.createSymbolicLink(atPath: root + "/a/abs", withDestinationPath: "/etc")
        try fm.createSymbolicLink(atPath: root + "/a/b/climb", withDestinationPath: "../../../../../../outside.txt")
        try fm.createSymbolicLink(atPath: root + "/a/out", withDestinationPath: directory + "/outside.txt")
        try fm.createSymbolicLink(atPath: root + "/a/loop", withDestinationPath: "loop")
        #expect(try read("a/abs/hostname", in: root, resolution) == "inside\n")
        #expect(try read("../../../etc/hostname", in: root, resolution) == "inside\n")
        #expect(try read("a/b/../../etc/hostname", in: root, resolution) == "inside\n")
        // The same text outside the root would be "secret": inside, there is no such file.
        #expect(try read("a/b/climb", in: root, resolution) == nil)
        #expect(try read("a/out", in: root, resolution) == nil)
        #expect(throws: HostAccessError.self) { _ = try read("a/loop", in: root, resolution) }
    }

    @Test("a write through a link as the last component is refused and the target is untouched", arguments: resolutions)
    func writeThroughLink(resolution: RootDirectory.Resolution) throws {
        let (directory, root) = try makeRoot()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createSymbolicLink(atPath: root + "/a/attr", withDestinationPath: "/etc/hostname")
        let fs = RootedFileSystem(root: .init(root), resolution: resolution)
        #expect {
            try HostWriter(dryRun: false).write("vfio-pci", to: "a/attr", in: fs)
        } throws: { error in
            (error as? HostAccessError)?.code == .notRegularFile && "\(error)".contains("a/attr")
        }
        #expect(try String(contentsOfFile: root + "/etc/hostname", encoding: .utf8) == "inside\n")
        #expect(try String(contentsOfFile: directory + "/outside.txt", encoding: .utf8) == "secret\n")
    }

    @Test("a FIFO is refused at once by name, for reading and writing", arguments: resolutions)
    func fifo(resolution: RootDirectory.Resolution) throws {
        let (directory, root) = try makeRoot()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(mkfifo(root + "/a/fifo", 0o644) == 0)
        let fs = RootedFileSystem(root: .init(root), resolution: resolution)
        #expect { _ = try fs.readText("a/fifo") } throws: { "\($0)".contains("a/fifo is a FIFO") }
        #expect { try HostWriter(dryRun: false).write("1", to: "a/fifo", in: fs) } throws: {
            (($0 as? HostAccessError)?.code == .notRegularFile)
        }
        let handle = try #require(try fs.openDirectory("a"))
        #expect { _ = try handle.readText("fifo") } throws: { "\($0)".contains("FIFO") }
    }

    @Test("a file over its limit is refused with the file and the limit named, not cut")
    func tooLarge() throws {
        let (directory, root) = try makeRoot()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try String(repeating: "x", count: InputLimits.attributeBytes + 1).write(
            toFile: root + "/a/big", atomically: true, encoding: .utf8)
        let fs = RootedFileSystem(root: .init(root))
        #expect { _ = try fs.readText("a/big") } throws: { error in
            (error as? HostAccessError)?.code == .tooLarge && "\(error)".contains("a/big")
                && "\(error)".contains("64 KiB")
        }
        let config = directory + "/huge.toml"
        try String(repeating: "# padding\n", count: 110_000).write(toFile: config, atomically: true, encoding: .utf8)
        #expect { _ = try readTextFile(config) } throws: { "\($0)".contains("huge.toml is larger than 1 MiB") }
    }

    @Test("an attribute that is a link out of the device directory is an error, not followed")
    func attributeLink() throws {
        let (directory, root) = try makeRoot()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try FileManager.default.createSymbolicLink(atPath: root + "/a/numa_node", withDestinationPath: "/etc/hostname")
        let handle = try #require(try RootedFileSystem(root: .init(root)).openDirectory("a"))
        #expect { _ = try handle.readText("numa_node") } throws: { "\($0)".contains("is a symbolic link") }
    }

    @Test("bind refuses a driver_override that links out of the root before journaling or writing anything")
    func bindThroughLink() throws {
        let directory = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(try Tool.hostgen(["synthetic", "--functions", "64", "-o", directory + "/host"]).status == 0)
        try "secret\n".write(toFile: directory + "/outside.txt", atomically: true, encoding: .utf8)
        let override = directory + "/host/sys/bus/pci/devices/0000:06:00.0/driver_override"
        try FileManager.default.removeItem(atPath: override)
        try FileManager.default.createSymbolicLink(atPath: override, withDestinationPath: directory + "/outside.txt")
        let result = try Tool.vfioctl(["bind", "0000:06:00.0", "--root", directory + "/host"])
        #expect(result.status != 0)
        #expect(result.standardError.contains("driver_override is missing or not a regular file"))
        #expect(result.standardError.contains("nothing was changed"))
        #expect(try String(contentsOfFile: directory + "/outside.txt", encoding: .utf8) == "secret\n")
        let journals = directory + "/host/run/vfioctl/journals"
        #expect((try? FileManager.default.contentsOfDirectory(atPath: journals))?.isEmpty ?? true)
    }

    @Test("restore refuses a driver_override that is a link, before journaling or writing anything")
    func restoreThroughLink() throws {
        let directory = try Tool.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        #expect(try Tool.hostgen(["synthetic", "--functions", "64", "-o", directory + "/host"]).status == 0)
        try "secret\n".write(toFile: directory + "/outside.txt", atomically: true, encoding: .utf8)
        let device = directory + "/host/sys/bus/pci/devices/0000:06:00.0"
        // As if bound to vfio-pci by someone else: restore would release it.
        let driver = try FileManager.default.destinationOfSymbolicLink(atPath: device + "/driver")
        try FileManager.default.removeItem(atPath: device + "/driver")
        try FileManager.default.createSymbolicLink(
            atPath: device + "/driver",
            withDestinationPath: (driver as NSString).deletingLastPathComponent + "/vfio-pci")
        try FileManager.default.removeItem(atPath: device + "/driver_override")
        try FileManager.default.createSymbolicLink(
            atPath: device + "/driver_override", withDestinationPath: directory + "/outside.txt")
        let result = try Tool.vfioctl(["restore", "0000:06:00.0", "--root", directory + "/host"])
        #expect(result.status != 0)
        #expect(result.standardError.contains("driver_override is missing or not a regular file"))
        #expect(try String(contentsOfFile: directory + "/outside.txt", encoding: .utf8) == "secret\n")
        let journals = directory + "/host/run/vfioctl/journals"
        #expect((try? FileManager.default.contentsOfDirectory(atPath: journals))?.isEmpty ?? true)
    }
}
