import HostAccess

/// Renders DOT text to SVG with Graphviz's `dot -Tsvg` (Debian package `graphviz`), found on
/// PATH and run with the DOT text on its stdin.
enum GraphvizSVG {
    /// What went wrong running `dot`: not installed (with the package to install) or failed.
    enum Failure: Error, CustomStringConvertible {
        case notInstalled
        case failed(status: Int32)
        case system(String)

        var description: String {
            switch self {
            case .notInstalled:
                "Graphviz's `dot` is not on PATH: install graphviz (apt-get install graphviz), or use --format dot"
            case .failed(let status):
                "`dot -Tsvg` exited with status \(status); check the DOT text with `vfioctl inspect --format dot`"
            case .system(let message): "cannot run `dot -Tsvg`: \(message)"
            }
        }
    }

    /// The SVG document `dot -Tsvg` makes of `dot`.
    static func render(_ dot: String) throws(Failure) -> String {
        let result: (status: Int32, output: [UInt8])
        do {
            result = try ChildProcess.filter(["dot", "-Tsvg"], input: Array(dot.utf8))
        } catch {
            if error.code == .notFound { throw .notInstalled }
            throw .system(error.description)
        }
        // posix_spawnp reports a missing program as the child's exit status 127.
        if result.status == 127 && result.output.isEmpty { throw .notInstalled }
        guard result.status == 0 else { throw .failed(status: result.status) }
        return String(decoding: result.output, as: UTF8.self)
    }

    /// The `<svg …>…</svg>` element alone, without the XML declaration, DOCTYPE and comments
    /// before it: what an HTML page inlines.
    static func inlineElement(_ svg: String) -> String {
        guard let start = svg.firstRange(of: "<svg") else { return svg }
        return String(svg[start.lowerBound...])
    }
}
