import Actions
import ArgumentParser
import HostAccess

// Values of command-line options that take one of a few words. Each is `CaseIterable`, so
// `--help`, shell completions and the parser's "Please provide one of …" error list them;
// raw values are the spellings the options have always taken.

/// `vfioctl sriov set --autoprobe`: the PF's `sriov_drivers_autoprobe` (whether the kernel
/// probes drivers for new VFs).
enum AutoprobeSetting: String, ExpressibleByArgument, CaseIterable {
    case on
    case off

    /// What `sriov_drivers_autoprobe` is set to.
    var enabled: Bool { self == .on }
}

/// `vfioctl hugepages reserve|release --size`: a pool under
/// `/sys/kernel/mm/hugepages/hugepages-<KiB>kB` that vfioctl sizes.
enum HugepageSizeChoice: String, ExpressibleByArgument, CaseIterable {
    case twoMiB = "2M"
    case oneGiB = "1G"

    /// Also the spellings `Hugepages.sizeKiB(named:)` takes: 2m, 2MB, 2048K, 1g, 1GB, 1048576K.
    init?(argument: String) {
        switch Hugepages.sizeKiB(named: argument) {
        case 2048: self = .twoMiB
        case 1_048_576: self = .oneGiB
        default: return nil
        }
    }

    var kib: Int {
        switch self {
        case .twoMiB: 2048
        case .oneGiB: 1_048_576
        }
    }
}

/// `vfioctl hugepages reserve|release --node`: a NUMA node number
/// (`/sys/devices/system/node/node<N>`), or `auto`, the node of `--device` (its `numa_node`).
enum NUMANodeChoice: ExpressibleByArgument, Equatable {
    case number(Int)
    case auto

    init?(argument: String) {
        if argument == "auto" {
            self = .auto
        } else if let number = Int(argument) {
            self = .number(number)
        } else {
            return nil
        }
    }

    static var allValueStrings: [String] { ["<number>", "auto"] }
    static var defaultCompletionKind: CompletionKind { .list(["auto"]) }
}

/// `vfioctl dma-check --backing`: the page size of the buffer mapped through VFIO (4k
/// anonymous memory, or MAP_HUGETLB with MAP_HUGE_2MB / MAP_HUGE_1GB).
enum DMABackingChoice: String, ExpressibleByArgument, CaseIterable {
    case fourKiB = "4k"
    case twoMiB = "2M"
    case oneGiB = "1G"

    /// Any case: 4K, 2m and 1g are taken too.
    init?(argument: String) {
        guard let found = Self.allCases.first(where: { $0.rawValue.lowercased() == argument.lowercased() }) else {
            return nil
        }
        self = found
    }

    /// log2 of the page size, for `MAP_HUGE_SHIFT`.
    var pageShift: Int {
        switch self {
        case .fourKiB: 12
        case .twoMiB: 21
        case .oneGiB: 30
        }
    }
}

/// `vfioctl sriov igb-reload --sequence`: one of the igb reload sequences, or `auto` (the one
/// a matching `sriov-sequence` quirk names, else plain).
enum IGBSequenceChoice: String, ExpressibleByArgument, CaseIterable {
    case plain
    case idtWorkaround = "idt-workaround"
    case auto

    /// The sequence asked for; nil for `auto`.
    var explicit: Actions.IGBReload.Sequence? {
        switch self {
        case .plain: .plain
        case .idtWorkaround: .idtWorkaround
        case .auto: nil
        }
    }
}
