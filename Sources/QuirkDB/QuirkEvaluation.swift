import Analysis
import PCIModel

/// Everything inspect and the hook need from the quirk database for one model: the ACS policy
/// with isolation quirks, each function's matches, and the reasons those lower verdicts by.
public struct QuirkEvaluation: Sendable {
    public let policy: ACSPolicy
    public let matches: [PCIAddress: [QuirkMatch]]
    /// Whose kernel's rules decided which kernel-scoped quirks apply.
    public let kernel: PredictionKernel

    /// `kernel` (`inspect --kernel`) replaces the model's own kernel for kernel-scoped quirks;
    /// nil uses the model's `osrelease`. `matching` limits `matches` to those functions.
    public init(
        database: QuirkDatabase, model: HostModel, kernel override: KernelVersion? = nil,
        matching: Set<PCIAddress>? = nil
    ) {
        let kernel = override.map { PredictionKernel(version: $0, source: .option) } ?? PredictionKernel(model: model)
        self.kernel = kernel
        let database = override.map { database.scoped(toKernel: $0) } ?? database
        policy = ACSPolicy(quirk: database.acsQuirk(for: model)).memoized(for: model)
        let policy = self.policy
        let onHost = QuirkDatabase.HostApplicability(database, model: model)
        let found = model.devices(in: matching).parallelMap { device in
            (device.address, database.matches(for: device, in: model, policy: policy, onHost: onHost))
        }
        self.matches = Dictionary(found.filter { !$0.1.isEmpty }, uniquingKeysWith: { first, _ in first })
    }

    /// Quirks that lower the verdict, as reasons: unconditional `block` and `warn`. Every
    /// match, these included, is also listed with its advice (`quirks` in JSON, `* quirk`
    /// lines in text); advice, isolation, sequences and guest-dependent entries only there.
    public func reasons(for device: PCIDevice) -> [Reason] {
        (matches[device.address] ?? []).compactMap { match in
            guard !match.dependsOnGuest else { return nil }
            let quirk = match.quirk
            let severity: Verdict
            switch quirk.effect {
            case .block: severity = .blocked
            case .warn: severity = .caveats
            case .resetMethod(let method):
                guard !Self.resetMethodSet(method, on: device) else { return nil }
                return Reason(
                    .quirk, .caveats,
                    "[\(quirk.id)] \(quirk.title) (reset_method: \(Self.describe(device.resetMethods)))",
                    related: [quirk.id])
            default: return nil
            }
            return Reason(.quirk, severity, "[\(quirk.id)] \(quirk.title)", related: [quirk.id])
        }
    }

    /// Whether the function's `reset_method` already tries `method` first.
    public static func resetMethodSet(_ method: ResetMethod, on device: PCIDevice) -> Bool {
        device.resetMethods?.first == method
    }

    static func describe(_ methods: [ResetMethod]?) -> String {
        guard let methods else { return "absent" }
        return methods.isEmpty ? "none" : methods.map(\.rawValue).joined(separator: " ")
    }
}
