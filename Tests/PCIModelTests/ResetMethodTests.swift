import PCIModel
import Testing

@Suite("reset_method: the kernel's names, and what a setting may say")
struct ResetMethodTests {
    let address = PCIAddress("0000:0b:00.0")!

    @Test("the kernel's spellings, in pci_reset_fn_methods[] order; unknown words kept apart")
    func names() {
        #expect(
            ResetMethod.allCases.map(\.rawValue) == [
                "device_specific", "acpi", "flr", "af_flr", "pm", "bus", "cxl_bus",
            ])
        #expect(ResetMethod.flr < ResetMethod.bus && !(ResetMethod.bus < ResetMethod.pm))
        let parsed = ResetMethod.parseList("flr pm bus newfangled\n")
        #expect(parsed.methods == [.flr, .pm, .bus])
        #expect(parsed.unknown == ["newfangled"])
        #expect(ResetMethod.parseList("\n").methods.isEmpty)
        #expect(ResetMethod.bus.resetsTheBus && ResetMethod.cxlBus.resetsTheBus && !ResetMethod.pm.resetsTheBus)
    }

    @Test("a setting is written exactly as the kernel reads it: the user's order, one space; or default")
    func kernelText() throws {
        #expect(try ResetMethodSetting(address: address, words: ["pm", "flr"]).kernelText == "pm flr")
        #expect(try ResetMethodSetting(address: address, words: ["device_specific"]).kernelText == "device_specific")
        let restore = try ResetMethodSetting(address: address, words: ["default"])
        #expect(restore.value == .kernelDefault && restore.kernelText == "default")
    }

    @Test("unknown, repeated, empty, default among methods: refused with the reason and the known names")
    func badWords() {
        func error(_ words: [String]) -> ResetMethodError? {
            do {
                _ = try ResetMethodSetting(address: address, words: words)
                return nil
            } catch {
                return error
            }
        }
        #expect(error(["flr", "FLR"])?.code == .unknownMethod("FLR"))
        #expect(error(["flr", "FLR"])?.description.contains("known: device_specific acpi flr") == true)
        #expect(error(["flr", "flr"])?.code == .repeated(.flr))
        #expect(error([])?.code == .empty)
        #expect(error(["default", "flr"])?.code == .defaultWithMethods)
        #expect(error([""])?.code == .unknownMethod(""))
        // A control character is not echoed to the terminal.
        #expect(error(["fl\u{1b}[2Jr"])?.description.contains("\u{1b}") == false)
    }

    @Test("any method the kernel knows may be named (the kernel probes each on write); no file: refused")
    func validation() throws {
        let current: [ResetMethod] = [.pm]
        try ResetMethodSetting(address: address, words: ["bus", "flr"]).validate(current: current)
        try ResetMethodSetting(address: address, words: ["device_specific", "flr"]).validate(current: current)
        try ResetMethodSetting(address: address, words: ["default"]).validate(current: [])
        #expect(throws: ResetMethodError(.noResetMethodFile, address: address)) {
            try ResetMethodSetting(address: address, words: ["flr"]).validate(current: nil)
        }
    }
}
