import Analysis
import ArgumentParser
import PCIModel
import WhatIf

/// `ACSAssumption.init?(argument:)` parses `PORT[=FLAGS]`.
extension ACSAssumption: ExpressibleByArgument {}

/// `inspect --assume-acs/--assume-quirk/--assume-no-quirk`: predict instead of report.
struct WhatIfOptions: ParsableArguments {
    @Option(
        name: .customLong("assume-acs"),
        help: ArgumentHelp(
            "Predict as if this port's ACS Control had these bits set (default: the isolation bits it advertises).",
            valueName: "port[=SV,RR,CR,UF]"))
    var acs: [ACSAssumption] = []

    @Option(
        name: .customLong("assume-quirk"),
        help: ArgumentHelp("Predict as if this quirk applied, whatever its host conditions.", valueName: "id"))
    var quirks: [String] = []

    @Option(
        name: .customLong("assume-no-quirk"),
        help: ArgumentHelp("Predict as if this quirk did not exist (a kernel without it).", valueName: "id"))
    var noQuirks: [String] = []

    var assumptions: WhatIfAssumptions { WhatIfAssumptions(acs: acs, quirks: quirks, noQuirks: noQuirks) }
}
