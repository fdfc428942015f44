import AEREvents
import AERSources

/// uevent properties (`KEY=VALUE` lines) as vfio-aerd's injection socket and the udev
/// monitor pass them on: `InjectedEvents.parse`, which runs `UeventParser`.
enum UeventFuzz {
    static func run(_ bytes: [UInt8]) {
        let text = String(decoding: bytes, as: UTF8.self)
        do {
            if let event = try InjectedEvents.parse(text, time: 0) {
                fuzzCheck(event.count > 0, "event with count \(event.count)")
            }
        } catch {
            fuzzCheck(!error.description.isEmpty, "empty complaint")
        }
        _ = try? UeventParser.parse(UeventParser.properties(text), time: 0, source: .uevent)
    }
}
