import AEREvents
import AERJournal
import ArgumentParser
import PCIModel

extension VFIOCtl {
    /// `vfioctl aer …`: what vfio-aerd journaled.
    struct AERCommand: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "aer", abstract: "Read vfio-aerd's journal of AER events and decisions.",
            subcommands: [AERLog.self, AERStats.self])
    }

    struct JournalOptions: ParsableArguments {
        @Option(help: "The SQLite journal vfio-aerd writes.") var journal: String = "/var/lib/vfioctl/aer.db"
        @Option(help: ArgumentHelp("Only the last SECONDS.", valueName: "seconds")) var since: Double?
    }

    struct AERLog: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "log", abstract: "Events and the decisions taken for them, oldest first.",
            discussion: reflow(
                """
                Examples:
                  vfioctl aer log --since 3600
                  vfioctl aer log --device 0000:03:00.0 --json
                """))
        @OptionGroup var options: JournalOptions
        @Option(help: "Only this function.") var device: PCIAddress?
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let store = try AERJournal(path: options.journal, readOnly: true)
            let since = options.since.map { wallClock() - $0 }
            let events = try store.events(since: since, device: device)
            let decisions = Dictionary(grouping: try store.decisions(since: since), by: \.eventID)
            if output.json {
                print(
                    JSON.array(
                        events.map { entry in
                            .object([
                                ("id", .int(Int(entry.id))), ("time", .string(String(entry.event.time))),
                                ("device", .string(entry.event.device.description)),
                                ("kind", .string(entry.event.kind.rawValue)),
                                ("deviceOnline", entry.event.deviceOnline.map(JSON.bool) ?? .null),
                                ("count", .int(entry.event.count)),
                                ("source", .string(entry.event.source.rawValue)), ("handled", .bool(entry.handled)),
                                (
                                    "decisions",
                                    .array(
                                        (decisions[entry.id] ?? []).map { d in
                                            .object([
                                                ("domain", .string(d.domain)), ("action", .string(d.action.rawValue)),
                                                ("reason", .string(d.reason)),
                                                ("latencyMs", .string(String(format3(d.latencyMilliseconds)))),
                                            ])
                                        })
                                ),
                            ])
                        }
                    ).rendered(), terminator: "")
                return
            }
            for entry in events {
                let online = entry.event.deviceOnline.map { $0 ? " online" : " offline" } ?? ""
                let pending = entry.handled ? "" : " — not handled yet"
                print(
                    "#\(entry.id) \(entry.event.device) \(entry.event.kind.rawValue)\(online) ×\(entry.event.count) (\(entry.event.source.rawValue))\(pending)"
                )
                for d in decisions[entry.id] ?? [] { print("    \(d.action.rawValue) \(d.domain): \(d.reason)") }
            }
        }
    }

    struct AERStats: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "stats", abstract: "Events per device and kind, and decisions per action.")
        @OptionGroup var options: JournalOptions
        @OptionGroup var output: OutputOptions

        func run() async throws {
            let store = try AERJournal(path: options.journal, readOnly: true)
            let since = options.since.map { wallClock() - $0 }
            let (counts, actions) = try store.totals(since: since)
            if output.json {
                print(
                    JSON.object([
                        ("errors", .object(counts.sorted { $0.key < $1.key }.map { ($0.key, JSON.int($0.value)) })),
                        ("decisions", .object(actions.sorted { $0.key < $1.key }.map { ($0.key, JSON.int($0.value)) })),
                    ]).rendered(), terminator: "")
                return
            }
            for (key, value) in counts.sorted(by: { $0.key < $1.key }) { print("\(key): \(value)") }
            for (key, value) in actions.sorted(by: { $0.key < $1.key }) { print("decisions \(key): \(value)") }
        }
    }
}

private func format3(_ value: Double) -> Double { (value * 1000).rounded() / 1000 }
