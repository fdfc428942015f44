import Analysis
import ArgumentParser
import Exposition
import HostAccess
import HostExport
import PCIModel
import QuirkDB
import WhatIf

#if canImport(Glibc)
    import Glibc
#endif

extension VFIOCtl {
    /// `vfioctl inspect`: every device's assignability, with reasons.
    struct Inspect: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Say for every PCI device whether it can be assigned to a VM, and why.",
            discussion: reflow(
                """
                Verdicts: assignable, caveats (possible, read the reasons), unknown (not enough
                information, e.g. config space read without root), blocked.

                Examples:
                  vfioctl inspect
                  vfioctl inspect 0000:03:00.0 --tree
                  vfioctl inspect --snapshot seed-host.tar.gz --json | jq '.devices[].verdict'
                  vfioctl inspect --lspci-dump forum-post.txt
                  vfioctl inspect --snapshot old.tar.gz --kernel 6.12   # after an upgrade?
                  vfioctl inspect --format svg > host.svg        # the PCIe tree and its groups
                  vfioctl inspect --format html > report.html    # one self-contained page
                  vfioctl inspect --format prom --output /var/lib/prometheus/node-exporter/vfioctl.prom
                  vfioctl inspect --format nfd --output /etc/kubernetes/node-feature-discovery/features.d/vfioctl

                Formats: text (default), tree (= --tree), json (= --json), dot (Graphviz source),
                svg (needs Graphviz's `dot`: apt-get install graphviz), html (the picture, groups,
                reasons, host checks and quirks in one file; a note replaces the picture without
                Graphviz), prom (Prometheus metrics for node_exporter's textfile collector; the
                vfioctl-metrics.timer refreshes them), nfd (node labels for node-feature-discovery's
                local source). --output FILE replaces FILE atomically (prom and nfd), so the
                collector or nfd-worker never reads half a file.

                The prediction applies the quirks of the source's kernel (its osrelease); quirks
                scoped with `kernel = …` (Docs/quirks.md) follow --kernel instead when given.

                What if: --assume-acs PORT[=FLAGS], --assume-quirk ID and --assume-no-quirk ID predict
                the groups as if that were so, show them before and after, and say what makes each
                assumption real (the exact pci=config_acs= parameter for ports that advertise ACS).
                  vfioctl inspect --assume-acs 00:03.0 --assume-acs 00:07.0 0000:06:00.0
                  vfioctl inspect --assume-no-quirk kernel-acs-intel-pch-root-ports --json
                """))

        @OptionGroup var source: SourceOptions
        @OptionGroup var output: OutputOptions
        @OptionGroup(title: "What if") var whatIf: WhatIfOptions

        @Flag(name: .long, help: "Show the PCI hierarchy with ACS state and groups (= --format tree).")
        var tree = false

        @Option(
            name: .long,
            help: ArgumentHelp(
                "Output format: text, tree, json, dot, svg, html, prom or nfd (see Formats above).",
                valueName: "format"))
        var format: InspectFormat?

        @Option(
            name: .customLong("output"),
            help: ArgumentHelp(
                "With --format prom or nfd: replace this file atomically instead of printing.", valueName: "file"))
        var outputFile: String?

        /// The format asked for by --format, --json or --tree; two that disagree are refused.
        var chosenFormat: InspectFormat {
            format ?? (output.json ? .json : tree ? .tree : .text)
        }

        func validate() throws {
            if output.json && tree { throw ValidationError("--json and --tree exclude each other; pick one --format") }
            if let format, output.json && format != .json || tree && format != .tree {
                throw ValidationError(
                    "--format \(format.rawValue) conflicts with \(output.json ? "--json" : "--tree"); drop one of them")
            }
            if outputFile != nil, ![.prom, .nfd].contains(chosenFormat) {
                throw ValidationError(
                    "--output replaces a file for --format prom or nfd; redirect the other formats' output instead")
            }
            if outputFile?.isEmpty == true { throw ValidationError("--output needs a file name") }
            if !addresses.isEmpty, [.dot, .svg, .html, .prom, .nfd].contains(chosenFormat) {
                throw ValidationError(
                    "--format \(chosenFormat.rawValue) pictures the whole host; drop the addresses (or use text, tree, json)"
                )
            }
            if !whatIf.assumptions.isEmpty, ![.text, .json].contains(chosenFormat) {
                throw ValidationError(
                    "\(tree ? "--tree" : "--format \(chosenFormat.rawValue)") does not combine with --assume-…; use text or --json"
                )
            }
        }

        @Option(
            name: .long,
            help: ArgumentHelp(
                "Predict with the quirks of this kernel release (M.N[.P]) instead of the source's own.",
                valueName: "version"),
            transform: { text in
                guard let version = KernelConstraint.strictVersion(Substring(text)) else {
                    throw ValidationError("--kernel takes a version M.N or M.N.P, such as 6.1 or 5.10.200, not \(text)")
                }
                return version
            })
        var kernel: KernelVersion?

        @Argument(
            help: ArgumentHelp("Only these functions (DDDD:BB:DD.F or BB:DD.F).", valueName: "address"),
            completion: .pciAddress)
        var addresses: [PCIAddress] = []

        func run() async throws {
            let (model, snapshot) = try source.load()
            for address in addresses where model[address] == nil {
                throw CLIError(
                    "no PCI function \(address) in \(model.source); `vfioctl inspect` without an address lists them all"
                )
            }
            let database = try loadQuirkDatabase(base: source.quirkBase(snapshot: snapshot))
            if !whatIf.assumptions.isEmpty {
                let prediction: WhatIfPrediction
                do {
                    prediction = try WhatIfPrediction(
                        model: model, database: database.scoped(toKernel: kernel), assumptions: whatIf.assumptions)
                } catch {
                    throw CLIError(error.description)
                }
                var seen = Set<PCIAddress>()
                let unique = addresses.filter { seen.insert($0).inserted }
                let out = WhatIfOutput(prediction: prediction, selected: unique.isEmpty ? nil : unique)
                print(chosenFormat == .json ? out.json().rendered() : out.text(style: .standardOutput), terminator: "")
                withExtendedLifetime(snapshot) {}
                return
            }
            let quirks = QuirkEvaluation(database: database, model: model, kernel: kernel)
            // JSON assesses as it writes (InspectJSON): nothing up front.
            let report = InspectReport(
                model: model, policy: quirks.policy, additionalReasons: quirks.reasons,
                assessing: chosenFormat == .json ? [] : nil)
            let selected = addresses.isEmpty ? nil : addresses
            switch chosenFormat {
            case .json:
                InspectJSON.write(report, quirks: quirks, selected: selected)
            case .tree:
                print(
                    InspectText(report: report, quirks: quirks, style: .standardOutput).renderTree(selected: selected),
                    terminator: "")
            case .text:
                print(
                    InspectText(report: report, quirks: quirks, style: .standardOutput).render(selected: selected),
                    terminator: "")
            case .dot:
                print(DotGraph(report: report, quirks: quirks).render(), terminator: "")
            case .svg:
                do {
                    print(try GraphvizSVG.render(DotGraph(report: report, quirks: quirks).render()), terminator: "")
                } catch {
                    throw CLIError(error.description)
                }
            case .prom:
                let families = HostMetrics.families(report: report, quirks: quirks, version: VFIOCtl.version)
                try emit(ExpositionText.render(families))
            case .nfd:
                let text = NodeFeatures.file(report: report, version: VFIOCtl.version)
                if !NodeFeatures.fitsNFD(text) {
                    StandardError.write(
                        "vfioctl: warning: the feature file is \(text.utf8.count) bytes, more than the "
                            + "\(NodeFeatures.maximumFileSize) nfd-worker reads: it will ignore every label in it\n")
                }
                try emit(text)
            case .html:
                let svg = try? GraphvizSVG.render(DotGraph(report: report, quirks: quirks).render())
                print(
                    InspectHTML(report: report, quirks: quirks, svg: svg.map(GraphvizSVG.inlineElement)).render(),
                    terminator: "")
            }
            // The report is written; tearing down thousands of devices object by object costs
            // more than the kernel reclaiming the process at once (a third of the run on a
            // 4,096-function host). Temporary snapshot copies are removed first.
            withExtendedLifetime(snapshot) {}
            snapshot?.removeNow()
            fflush(nil)
            Glibc.exit(0)
        }
    }
}

extension VFIOCtl.Inspect {
    /// Prints `text`, or replaces `--output` with it atomically (`OutputFile`).
    func emit(_ text: String) throws {
        guard let outputFile else {
            print(text, terminator: "")
            return
        }
        do {
            try OutputFile.replace(outputFile, with: Array(text.utf8))
        } catch {
            throw CLIError(error.description)
        }
    }
}

/// The output formats of `vfioctl inspect --format`.
enum InspectFormat: String, ExpressibleByArgument, CaseIterable {
    case text, tree, json, dot, svg, html, prom, nfd
}

/// A user-facing error: printed as `Error: message`, exit status 1.
struct CLIError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
