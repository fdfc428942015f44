import Dispatch
import Exposition

#if canImport(Glibc)
    import Glibc
#endif

/// A minimal HTTP/1.0 responder on 127.0.0.1:PORT for Prometheus: every request gets the
/// current metrics (`GET /metrics` or anything else; Prometheus only asks for one page).
/// Loopback only, by design: the metrics name guests. One request at a time, on its own queue.
final class MetricsServer: @unchecked Sendable {
    private let fd: Int32
    let port: UInt16

    /// Binds and listens; `port` 0 picks a free one (see `port`).
    init(port: UInt16) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else {
            throw DaemonSetupError(description: "metrics: socket: \(String(cString: strerror(errno)))")
        }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard bound == 0, listen(fd, 8) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw DaemonSetupError(
                description: "metrics: cannot listen on 127.0.0.1:\(port): \(reason) (choose another --metrics-port)")
        }
        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        self.fd = fd
        self.port = UInt16(bigEndian: actual.sin_port)
    }

    /// Serves forever; `page` is asked for the body of each response.
    func start(page: @escaping @Sendable () -> String) {
        DispatchQueue(label: "vfio-aerd.metrics").async { [fd] in
            while true {
                let client = accept(fd, nil, nil)
                guard client >= 0 else { continue }
                // Read the request head (bounded), then answer; the content does not matter.
                var request = [UInt8](repeating: 0, count: 2048)
                var timeout = timeval(tv_sec: 2, tv_usec: 0)
                setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
                _ = request.withUnsafeMutableBytes { recv(client, $0.baseAddress, $0.count, 0) }
                let body = Array(page().utf8)
                let head =
                    "HTTP/1.0 200 OK\r\nContent-Type: \(ExpositionText.contentType)\r\nContent-Length: \(body.count)\r\nConnection: close\r\n\r\n"
                let response = Array(head.utf8) + body
                var sent = 0
                while sent < response.count {
                    let n = response[sent...].withUnsafeBytes {
                        send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL))
                    }
                    if n <= 0 { break }
                    sent += n
                }
                close(client)
            }
        }
    }
}
