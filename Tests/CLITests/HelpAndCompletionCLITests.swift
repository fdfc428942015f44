import Foundation
import TestSupport
import Testing

/// `--help` wraps prose to the terminal (no break mid-sentence where the source had one), and
/// the completion scripts complete PCI addresses and `group:N` from this host (read-only).
@Suite("--help and shell completions")
struct HelpAndCompletionCLITests {
    static let commands: [[String]] = [
        [], ["inspect"], ["advise"], ["diff"], ["apply"], ["bind"], ["restore"], ["recover"], ["early-bind"],
        ["reset-method"], ["snapshot", "create"], ["quirks", "match"], ["iommu"], ["dma-check"],
        ["hugepages", "reserve"], ["sriov", "set"], ["sriov", "igb-reload"], ["hook", "libvirt"], ["aer", "log"],
    ]

    @Test("no help text line continues a sentence or an example the previous line broke", arguments: commands)
    func reflowed(_ command: [String]) throws {
        let result = try Tool.vfioctl(command + ["--help"])
        #expect(result.status == 0, "\(command): \(result.standardError)")
        let lines = result.standardOutput.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        for (previous, line) in zip(lines, lines.dropFirst()) {
            // An example (indented) followed by an unindented fragment: the example was wrapped.
            let wrappedExample =
                previous.hasPrefix("  ") && !line.isEmpty && !line.hasPrefix(" ")
                && !line.hasSuffix(":") && line.first?.isLowercase == true
            // Prose broken after a very short line: the source's own line break survived.
            let brokenProse =
                !previous.hasPrefix(" ") && previous.count > 0 && previous.count < 40
                && !previous.hasSuffix(":") && !previous.hasSuffix(".") && line.first?.isLowercase == true
            #expect(!wrappedExample && !brokenProse, "\(command): «\(previous)» / «\(line)»")
        }
    }

    @Test("bash completes this host's PCI addresses and group:N for bind")
    func bashCompletion() throws {
        let script = try Tool.vfioctl(["--generate-completion-script", "bash"])
        #expect(script.status == 0 && script.standardOutput.contains("---completion bind"))
        let directory = try Tool.temporaryDirectory()
        try script.standardOutput.write(toFile: directory + "/vfioctl.bash", atomically: true, encoding: .utf8)
        let shell = """
            source \(directory)/vfioctl.bash
            PATH=\(Tool.buildDirectory):$PATH
            COMP_WORDS=(vfioctl bind ""); COMP_CWORD=2; COMP_LINE="vfioctl bind "; COMP_POINT=${#COMP_LINE}
            _vfioctl
            printf '%s\\n' "${COMPREPLY[@]}"
            """
        let result = try Tool.run("/bin/bash", ["-c", shell])
        let offered = Set(result.standardOutput.split(separator: "\n").map(String.init))
        let devices = Set(((try? FileManager.default.contentsOfDirectory(atPath: "/sys/bus/pci/devices")) ?? []))
        let groups = Set(
            ((try? FileManager.default.contentsOfDirectory(atPath: "/sys/kernel/iommu_groups")) ?? []).map {
                "group:\($0)"
            })
        #expect(offered == devices.union(groups), "bash offered \(offered.sorted())")
        for shell in ["zsh", "fish"] {
            let other = try Tool.vfioctl(["--generate-completion-script", shell])
            #expect(other.status == 0 && other.standardOutput.contains("---completion"), "\(shell)")
        }
    }
}
