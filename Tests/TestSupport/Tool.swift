import Foundation
import HostAccess

/// Runs built executables (vfioctl, lspci) the way a user would, and captures their output.
public enum Tool {
    public struct Result {
        public var status: Int32
        public var standardOutput: String
        public var standardError: String

        public init(status: Int32, standardOutput: String, standardError: String) {
            self.status = status
            self.standardOutput = standardOutput
            self.standardError = standardError
        }
    }

    /// The package's build directory for this configuration (`swift test` builds debug).
    public static let buildDirectory: String = {
        if let override = ProcessInfo.processInfo.environment["VFIOCTL_BUILD_DIR"] { return override }
        var parts = #filePath.split(separator: "/", omittingEmptySubsequences: false)
        parts.removeLast(3)
        return parts.joined(separator: "/") + "/.build/debug"
    }()

    public static func vfioctl(
        _ arguments: [String], environment: [String: String] = [:], workingDirectory: String? = nil
    ) throws -> Result {
        try run(buildDirectory + "/vfioctl", arguments, environment: environment, workingDirectory: workingDirectory)
    }

    public static func hostgen(_ arguments: [String]) throws -> Result {
        try run(buildDirectory + "/vfioctl-hostgen", arguments)
    }

    /// A helper that could not do its part (a socket, a generated tree), with what went wrong.
    public struct Failed: Error, CustomStringConvertible {
        public var description: String
        public init(description: String) { self.description = description }
    }

    /// Writes the seed host (`vfioctl-hostgen seed` from the real dumps) as a tree at `path`.
    public static func seedTree(at path: String) throws {
        let result = try hostgen(["seed", "--dumps", Fixtures.directory + "/pciutils", "-o", path])
        guard result.status == 0 else {
            throw Tool.Failed(
                description: "vfioctl-hostgen seed -o \(path) exited \(result.status): \(result.standardError)")
        }
    }

    /// Runs `executable`; `environment` entries are added to (or replace) this process's.
    public static func run(
        _ executable: String, _ arguments: [String], environment: [String: String] = [:],
        workingDirectory: String? = nil
    ) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let workingDirectory { process.currentDirectoryURL = URL(fileURLWithPath: workingDirectory) }
        if !environment.isEmpty {
            process.environment = ProcessInfo.processInfo.environment.merging(environment) { _, new in new }
        }
        let output = Pipe()
        let error = Pipe()
        process.standardOutput = output
        process.standardError = error
        try process.run()
        // Read both pipes to the end before waiting, so a large report cannot block the child.
        let group = DispatchGroup()
        nonisolated(unsafe) var errorData = Data()
        group.enter()
        DispatchQueue.global().async {
            errorData = error.fileHandleForReading.readDataToEndOfFile()
            group.leave()
        }
        let outputData = output.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        return Result(
            status: process.terminationStatus, standardOutput: String(decoding: outputData, as: UTF8.self),
            standardError: String(decoding: errorData, as: UTF8.self))
    }

    /// A fresh directory under /tmp for one test.
    public static func temporaryDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "vfioctl-test-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }
}

/// A unix datagram client: sends text to vfio-aerd's `--inject-socket`.
public enum Datagram {
    public static func send(_ text: String, to path: String) throws {
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        guard fd >= 0 else { throw Tool.Failed(description: "socket: errno \(errno)") }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        guard let socketAddress = UnixSocketAddress(path: path) else {
            throw Tool.Failed(description: "\(path) is too long for a socket path")
        }
        let sent = socketAddress.withSockaddr { address, length in
            bytes.withUnsafeBytes { sendto(fd, $0.baseAddress, bytes.count, 0, address, length) }
        }
        guard sent == bytes.count else { throw Tool.Failed(description: "sendto \(path): errno \(errno)") }
    }
}

/// A loopback HTTP/1.0 GET, enough to scrape vfio-aerd's metrics.
public enum LoopbackHTTP {
    public static func get(port: UInt16, path: String = "/metrics") throws -> String {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Tool.Failed(description: "socket: errno \(errno)") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else { throw Tool.Failed(description: "connect 127.0.0.1:\(port): errno \(errno)") }
        let request = Array("GET \(path) HTTP/1.0\r\n\r\n".utf8)
        _ = request.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, 0) }
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            response += buffer[0..<n]
        }
        return String(decoding: response, as: UTF8.self)
    }
}

/// A bound unix datagram socket that collects what is sent to it: systemd's side of
/// `NOTIFY_SOCKET`, for checking a daemon's READY/WATCHDOG/STOPPING messages.
public final class DatagramReceiver {
    public let path: String
    private let fd: Int32

    public init(path: String) throws {
        guard let address = UnixSocketAddress(path: path) else {
            throw Tool.Failed(description: "\(path) is too long for a socket path")
        }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        let bound = address.withSockaddr { bind(fd, $0, $1) }
        guard fd >= 0, bound == 0 else { throw Tool.Failed(description: "bind \(path): errno \(errno)") }
        self.fd = fd
        self.path = path
    }

    deinit { close(fd) }

    /// Messages received until `done` holds for them or `seconds` pass.
    public func receive(seconds: Double, until done: ([String]) -> Bool) -> [String] {
        var messages: [String] = []
        let deadline = Date().addingTimeInterval(seconds)
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !done(messages), Date() < deadline {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 100) > 0 else { continue }
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 { messages.append(String(decoding: buffer[0..<n], as: UTF8.self)) }
        }
        return messages
    }
}
