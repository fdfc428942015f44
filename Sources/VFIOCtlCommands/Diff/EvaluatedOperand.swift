import Analysis
import HostAccess
import PCIModel
import QuirkDB

/// An operand read and evaluated with its own quirk database (`etc/vfioctl/quirks.d` of
/// a snapshot or root; this host's for live and lspci dumps): what `vfioctl diff` compares
/// and `vfioctl report` collects.
struct EvaluatedOperand {
    let report: InspectReport
    let quirks: QuirkEvaluation
    /// Keeps an unpacked archive alive; `removeNow()` it before a fast exit.
    let snapshot: OpenedSnapshot?

    init(_ operand: DiffOperand) throws {
        let (model, quirkBase, snapshot) = try operand.load()
        try self.init(model: model, quirkBase: quirkBase, snapshot: snapshot)
    }

    /// A snapshot the caller opened itself (`Snapshot.open(descriptor:name:)`), read as a
    /// `snapshot:` operand is.
    init(snapshot: OpenedSnapshot, name: String) throws {
        let model = try SysfsHostReader(roots: snapshot.roots).read(source: "snapshot \(name)")
        try self.init(model: model, quirkBase: snapshot.roots, snapshot: snapshot)
    }

    private init(model: HostModel, quirkBase: HostRoots, snapshot: OpenedSnapshot?) throws {
        self.snapshot = snapshot
        let database = try loadQuirkDatabase(base: quirkBase)
        quirks = QuirkEvaluation(database: database, model: model)
        report = InspectReport(model: model, policy: quirks.policy, additionalReasons: quirks.reasons)
    }
}
