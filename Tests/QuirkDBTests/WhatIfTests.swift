import Analysis
import PCIModel
import QuirkDB
import TestSupport
import Testing
import WhatIf

/// `inspect --assume-…` and `advise` on real dumps: tree-asus-p6t6 (X58 root ports with ACS
/// SV TB RR CR UF advertised and Control 0, ICH10 root ports without ACS) and the seed host.
@Suite("What-if predictions and advice")
struct WhatIfTests {
    let database: QuirkDatabase
    let asus: HostModel

    init() throws {
        database = try QuirkDatabase.bundled()
        asus = try Fixtures.model(dump: "tree-asus-p6t6")
    }

    private func predict(_ acs: [String], quirks: [String] = [], noQuirks: [String] = []) throws(WhatIfError)
        -> WhatIfPrediction
    {
        try WhatIfPrediction(
            model: asus, database: database,
            assumptions: WhatIfAssumptions(
                acs: acs.map { ACSAssumption(argument: $0)! }, quirks: quirks, noQuirks: noQuirks))
    }

    private func strings(_ members: [PCIAddress]?) -> [String] { (members ?? []).map(\.description) }

    @Test("X58 root ports: --assume-acs splits each port's group and names exactly those ports in config_acs")
    func splitsPerPort() throws {
        let prediction = try predict(["00:03.0", "00:07.0"])
        #expect(
            strings(prediction.groupBefore(PCIAddress("06:00.0")!))
                == ["0000:00:07.0", "0000:06:00.0", "0000:06:00.1"])
        // The GPU and its audio function keep each other (multifunction without ACS); the port leaves.
        #expect(strings(prediction.groupAfter(PCIAddress("06:00.0")!)) == ["0000:06:00.0", "0000:06:00.1"])
        #expect(strings(prediction.groupAfter(PCIAddress("00:07.0")!)) == ["0000:00:07.0"])
        // Below 00:03.0 the nForce switch's downstream ports have no ACS: the SAS controller
        // stays with its own downstream port, as pci_device_group() walks.
        #expect(strings(prediction.groupAfter(PCIAddress("04:00.0")!)) == ["0000:03:00.0", "0000:04:00.0"])
        #expect(strings(prediction.groupAfter(PCIAddress("03:02.0")!)) == ["0000:03:02.0"])
        // 00:01.0 was not assumed: untouched.
        #expect(prediction.groupAfter(PCIAddress("00:01.0")!) == prediction.groupBefore(PCIAddress("00:01.0")!))
        #expect(prediction.parameter?.text == "pci=config_acs=xx111x1@0000:00:03.0;xx111x1@0000:00:07.0")
        #expect(prediction.acs.map(\.enabling) == [ACSFlags.requiredForIsolation, ACSFlags.requiredForIsolation])
        // An lspci dump does not say which kernel it ran.
        #expect(prediction.parameter?.kernelNote(running: asus.facts.kernelVersion)?.contains("6.11") == true)
        #expect(prediction.after.verdict(of: PCIAddress("06:00.0")!) != nil)
        #expect(Set(prediction.changedFunctions.map(\.description)).isSuperset(of: ["0000:06:00.0", "0000:04:00.0"]))
        #expect(!prediction.changedFunctions.contains(PCIAddress("08:00.0")!))
    }

    @Test("ports the hardware cannot isolate are refused, each for its own reason")
    func refusals() throws {
        func refusal(_ argument: String) -> WhatIfError? {
            do {
                _ = try predict([argument])
                return nil
            } catch {
                return error
            }
        }
        guard case .acs(.noCapability(let port, _)) = refusal("03:00.0") else {
            Issue.record("a switch port without ACS was not refused")
            return
        }
        #expect(port == PCIAddress("03:00.0"))
        #expect(refusal("03:00.0")?.description.contains("pcie_acs_override") == true)
        guard case .acs(.noCapability) = refusal("00:1c.1") else {
            Issue.record("ICH10 port")
            return
        }
        guard case .acs(.alreadyIsolated) = refusal("04:00.0") else {
            Issue.record("single function")
            return
        }
        guard case .acs(.notApplicable) = refusal("00:1e.0") else {
            Issue.record("conventional bridge")
            return
        }
        guard case .acs(.notAdvertised(_, let missing, _)) = refusal("00:03.0=EC") else {
            Issue.record("EC is not advertised by 00:03.0")
            return
        }
        #expect(missing == .egressControl)
        guard case .acs(.noSuchFunction) = refusal("0000:09:00.0") else {
            Issue.record("absent")
            return
        }
        #expect(throws: WhatIfError.self) { try predict(["00:03.0", "0000:00:03.0"]) }
        #expect(throws: WhatIfError.self) { try predict([], quirks: ["no-such-quirk"]) }
        #expect(throws: WhatIfError.self) {
            try predict([], quirks: ["kernel-acs-intel-rciep", "kernel-acs-intel-rciep"])
        }
        #expect(throws: WhatIfError.self) {
            try predict([], quirks: ["kernel-acs-intel-rciep"], noQuirks: ["kernel-acs-intel-rciep"])
        }
    }

    @Test("--assume-no-quirk: without the kernel's RCiEP quirk the IOH's 00:14.x functions share a group again")
    func withoutQuirk() throws {
        let prediction = try predict([], noQuirks: ["kernel-acs-intel-rciep"])
        #expect(strings(prediction.groupBefore(PCIAddress("00:14.0")!)) == ["0000:00:14.0"])
        #expect(
            strings(prediction.groupAfter(PCIAddress("00:14.0")!))
                == ["0000:00:14.0", "0000:00:14.1", "0000:00:14.2", "0000:00:14.3"])
        #expect(prediction.quirkAssumptions.map(\.matchedBefore) == [true])
        #expect(prediction.quirkAssumptions.map(\.matchedAfter) == [false])
        #expect(prediction.parameter == nil)
    }

    @Test(
        "a kernel whose groups are not its rules' (pcie_acs_override=): changes compare predictions, advise is not fooled"
    )
    func overrideKernel() throws {
        let seed = try SeedHost.model()
        var split = seed.replacing("0000:04:00.0") { $0.iommuGroup = 99 }.replacing("0000:04:00.1") {
            $0.iommuGroup = 99
        }
        // The seed snapshot holds no iommu_groups: the kernel's groups are its predicted ones,
        // then 04:00.x split off as pcie_acs_override= would.
        let predicted = GroupPrediction(model: seed, policy: QuirkEvaluation(database: database, model: seed).policy)
        var groups = Dictionary(uniqueKeysWithValues: predicted.groups.enumerated().map { ($0.offset, $0.element) })
        let moved = [PCIAddress("04:00.0")!, PCIAddress("04:00.1")!]
        for (id, members) in groups { groups[id] = members.filter { !moved.contains($0) } }
        groups[99] = moved
        split.kernelGroups = groups
        let advice = try Advice(for: moved[0], model: split, database: database)
        #expect(!advice.aloneNow)
        #expect(advice.kernelGroupNow == moved)
        // TB does not take part in isolation: nothing changes, whatever the kernel's groups say.
        let noChange = try WhatIfPrediction(
            model: split, database: database,
            assumptions: WhatIfAssumptions(acs: [ACSAssumption(argument: "00:03.0=TB")!]))
        #expect(noChange.kernelDisagrees)
        #expect(noChange.changedFunctions.isEmpty)
    }

    @Test("flag arguments: names, hex, and what is refused")
    func arguments() {
        #expect(ACSAssumption(argument: "00:03.0=SV,RR")?.flags == [.sourceValidation, .requestRedirect])
        #expect(ACSAssumption(argument: "00:03.0=sv+uf")?.flags == [.sourceValidation, .upstreamForwarding])
        #expect(ACSAssumption(argument: "0000:00:03.0=0x1d")?.flags == .requiredForIsolation)
        #expect(ACSAssumption(argument: "00:03.0")?.flags == nil)
        for bad in [
            "00:03.0=", "00:03.0=0x80", "00:03.0=0x0", "00:03.0=XX", "00:03.0=SV,,", "zz", "00:03.0=0x1ffffffffff",
        ] {
            #expect(ACSAssumption(argument: bad) == nil, "\(bad)")
        }
    }

    @Test("config_acs text: one character per Control bit, DT first; existing entries for other ports kept")
    func parameterText() {
        let port = PCIAddress("00:03.0")!
        let assumption = ResolvedACSAssumption(
            port: port, capability: ACSFlags(rawValue: 0x1f), controlBefore: .translationBlocking,
            controlAfter: ACSFlags(rawValue: 0x1f))
        // TB was on (the kernel enables it on external-facing ports): kept on with a 1, since an
        // x would take firmware's value.
        #expect(ConfigACSParameter(assumptions: [assumption]).text == "pci=config_acs=xx11111@0000:00:03.0")
        let existing = ["quiet", "pci=noaer,config_acs=1111111@0000:00:1c.0;xx111x1@0000:00:03.0"]
        let merged = ConfigACSParameter(assumptions: [assumption], commandLineWords: existing)
        #expect(merged.kept == ["1111111@0000:00:1c.0"])
        // vfioctl's entry first: the kernel configures a function by the first entry matching it.
        #expect(merged.text == "pci=config_acs=xx11111@0000:00:03.0;1111111@0000:00:1c.0")
        #expect(merged.grubWord == "'pci=config_acs=xx11111@0000:00:03.0;1111111@0000:00:1c.0'")
        // The same port's explicit 0 (DT off) survives; quoted words count, words after -- do not.
        let samePort = ConfigACSParameter(
            assumptions: [assumption],
            commandLineWords: ["\"pci=config_acs=0x111x1@0000:00:03.0\"", "--", "pci=config_acs=1@0000:00:1d.0"])
        #expect(samePort.text == "pci=config_acs=0x11111@0000:00:03.0")
        #expect(samePort.kept.isEmpty && samePort.grubWord == samePort.text)
        #expect(merged.kernelNote(running: KernelVersion(6, 1))?.contains("needs Linux 6.11") == true)
        #expect(merged.kernelNote(running: KernelVersion(6, 11, 5))?.contains("only the first") == true)
        #expect(merged.kernelNote(running: KernelVersion(6, 12, 117))?.contains("dmesg") == true)
        #expect(merged.kernelNote(running: KernelVersion(6, 15)) == nil)
        #expect(ConfigACSParameter(assumptions: [assumption]).kernelNote(running: KernelVersion(6, 11)) == nil)
    }

    @Test("withACSControl changes only functions with an ACS capability")
    func controlOverride() {
        let changed = asus.withACSControl([
            PCIAddress("00:03.0")!: .requiredForIsolation, PCIAddress("03:00.0")!: .requiredForIsolation,
        ])
        #expect(changed[PCIAddress("00:03.0")!]?.config.acs?.control == .requiredForIsolation)
        #expect(changed[PCIAddress("03:00.0")!]?.config.acs == nil)
        #expect(asus[PCIAddress("00:03.0")!]?.config.acs?.control == [])
    }

    @Test("advise: the seed host's 82576 gets config_acs on root port 3; what stays unfixable is named")
    func adviseSeed() throws {
        let seed = try SeedHost.model()
        let advice = try Advice(for: PCIAddress("04:00.0")!, model: seed, database: database)
        #expect(!advice.aloneNow)
        let first = try #require(advice.options.first)
        guard case .configACS(let parameter, _) = first.change else {
            Issue.record("first option is \(first.change.kind)")
            return
        }
        #expect(parameter.text == "pci=config_acs=xx111x1@0000:00:03.0")
        #expect(first.alone && first.safety == .hardware)
        #expect(strings(first.groupAfter) == ["0000:03:02.0", "0000:04:00.0", "0000:04:00.1"])
        // The IDT's downstream port has no ACS: named, and the option says peer-to-peer stays open.
        #expect(advice.unfixable.map(\.address.description) == ["0000:03:02.0"])
        #expect(first.explanation.contains("0000:03:02.0"))
        #expect(advice.options.last?.change.kind == "acs-override" && advice.options.last?.safety == Advice.Safety.none)
    }

    @Test(
        "advise on tree-asus-p6t6: a NIC behind ICH10 ports without ACS can only move; a GPU alone on its port needs nothing"
    )
    func adviseAsus() throws {
        let nic = try Advice(for: PCIAddress("08:00.0")!, model: asus, database: database)
        #expect(nic.unfixable.map(\.address.description) == ["0000:00:1c.1"])
        guard case .moveCard(let slot) = nic.options.first?.change else {
            Issue.record("first option is \(nic.options.first?.change.kind ?? "none")")
            return
        }
        #expect(slot.port == PCIAddress("00:01.0") && slot.isFree)
        #expect(!nic.options.contains { $0.change.kind == "config-acs" })
        let gpu = try Advice(for: PCIAddress("06:00.0")!, model: asus, database: database)
        #expect(gpu.aloneNow && gpu.options.isEmpty)
        // Root-bus functions of one slot are the chipset's (USB controllers here), not one card.
        let usb = try Advice(for: PCIAddress("00:1a.0")!, model: asus, database: database)
        #expect(!usb.aloneNow)
        #expect(throws: AdviceError.self) { try Advice(for: PCIAddress("00:03.0")!, model: asus, database: database) }
        #expect(throws: AdviceError.self) { try Advice(for: PCIAddress("0a:00.0")!, model: asus, database: database) }
    }
}
