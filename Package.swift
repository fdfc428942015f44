// swift-tools-version: 6.2
import PackageDescription

/// Settings every first-party Swift target shares (HOUSE-STYLE.md: Swift 6 mode,
/// ExistentialAny, MemberImportVisibility, warnings as errors).
let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .treatAllWarnings(as: .error),
]

let package = Package(
    name: "vfioctl",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "vfioctl", targets: ["vfioctl"]),
        .executable(name: "vfioctl-hostgen", targets: ["vfioctl-hostgen"]),
        .executable(name: "vfio-aerd", targets: ["vfio-aerd"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
    ],
    targets: [
        // MARK: - System libraries (Debian -dev packages)
        .systemLibrary(name: "CPCI", pkgConfig: "libpci", providers: [.apt(["libpci-dev"])]),
        .systemLibrary(name: "CUdev", pkgConfig: "libudev", providers: [.apt(["libudev-dev"])]),
        .systemLibrary(name: "CVirt", pkgConfig: "libvirt", providers: [.apt(["libvirt-dev"])]),
        .systemLibrary(name: "CKmod", pkgConfig: "libkmod", providers: [.apt(["libkmod-dev"])]),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        /// libpci reports errors through a callback that must not return; this C target turns
        /// them into return codes with setjmp/longjmp that never cross a Swift frame.
        .target(name: "CPCIGuard", dependencies: ["CPCI"]),
        /// The VFIO type1 ioctls of <linux/vfio.h> as functions (their request numbers are macros).
        .target(name: "CVFIO"),
        /// openat2(2) (no glibc wrapper on Debian 12) for the root resolver.
        .target(name: "CSystemCalls"),

        // MARK: - Libraries
        .target(name: "PCIModel", swiftSettings: strictSettings),
        .target(
            name: "HostAccess",
            dependencies: [
                "PCIModel", "CPCI", "CPCIGuard", "CVFIO", "CKmod", "CSystemCalls",
                .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .target(name: "Analysis", dependencies: ["PCIModel"], swiftSettings: strictSettings),
        /// vfioctl's TOML reader and the typed, line-aware accessors every configuration file is
        /// decoded through (quirk files, aerd.toml, hook.toml, desired-state files).
        .target(name: "ConfigFile", swiftSettings: strictSettings),
        /// The quirk database: Quirks/*.toml embedded at build time, its decoder and matcher.
        .target(
            name: "QuirkDB", dependencies: ["PCIModel", "Analysis", "ConfigFile"], swiftSettings: strictSettings,
            plugins: ["EmbedQuirks"]),
        /// What-if predictions and advice: assumed ACS bits and quirks, slot moves, and the kernel
        /// parameters that make them real.
        .target(name: "WhatIf", dependencies: ["PCIModel", "Analysis", "QuirkDB"], swiftSettings: strictSettings),
        /// The Prometheus text exposition format: metric families, names checked, values escaped.
        .target(name: "Exposition", swiftSettings: strictSettings),
        /// The host as other engines read it: Prometheus metrics, node-feature-discovery labels.
        .target(
            name: "HostExport", dependencies: ["PCIModel", "Analysis", "QuirkDB", "Exposition"],
            swiftSettings: strictSettings),
        /// `vfioctl report`: many hosts' snapshots compared per board and device model (pure).
        .target(name: "Fleet", dependencies: ["PCIModel", "Analysis", "QuirkDB"], swiftSettings: strictSettings),
        .executableTarget(name: "quirk-embedder", path: "Sources/quirk-embedder"),
        .plugin(name: "EmbedQuirks", capability: .buildTool(), dependencies: ["quirk-embedder"]),
        /// libvirt domain XML: a small XML reader and the domain model the hook checks.
        .target(name: "DomainXML", dependencies: ["PCIModel"], swiftSettings: strictSettings),
        /// Definitions written for the user: libvirt <hostdev> elements for a group, KubeVirt
        /// permittedHostDevices entries for the host's assignable models (pure).
        .target(name: "Definitions", dependencies: ["PCIModel", "Analysis", "QuirkDB"], swiftSettings: strictSettings),
        /// Host changes: group binding, SR-IOV, with locking, journal and rollback.
        .target(
            name: "Actions",
            dependencies: [
                "PCIModel", "HostAccess", .product(name: "SystemPackage", package: "swift-system"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings),
        /// What the libvirt hook checks before a guest starts (pure).
        .target(
            name: "GuestCheck",
            dependencies: ["PCIModel", "Analysis", "QuirkDB", "DomainXML", "HostAccess", "Actions"],
            swiftSettings: strictSettings),
        /// libvirt connections for the daemon (never linked into the CLI or the hook, which
        /// must not call libvirt and should stay small).
        .target(name: "LibvirtBridge", dependencies: ["CVirt"], swiftSettings: strictSettings),
        .executableTarget(
            name: "vfio-aerd",
            dependencies: [
                "AERWatch", "AEREvents", "AERJournal", "AERSources", "LibvirtBridge", "DomainXML", "Exposition",
                "HostAccess", "PCIModel", .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strictSettings),
        /// The AER watchdog in four: events (AEREvents), the SQLite journal (AERJournal, all
        /// `vfioctl aer log` needs), the decisions (AERWatch) and the daemon's sources (AERSources).
        .target(name: "AEREvents", dependencies: ["PCIModel"], swiftSettings: strictSettings),
        .target(name: "AERJournal", dependencies: ["AEREvents", "PCIModel", "CSQLite"], swiftSettings: strictSettings),
        .target(
            name: "AERWatch",
            dependencies: ["AEREvents", "AERJournal", "Exposition", "PCIModel", "HostAccess", "ConfigFile"],
            swiftSettings: strictSettings),
        .target(
            name: "AERSources", dependencies: ["AEREvents", "PCIModel", "HostAccess", "DeviceEvents"],
            swiftSettings: strictSettings),
        /// libudev: device enumeration now, uevent monitoring for the AER daemon later.
        .target(name: "DeviceEvents", dependencies: ["CUdev", "PCIModel"], swiftSettings: strictSettings),
        .target(
            name: "VFIOCtlCommands",
            dependencies: [
                "PCIModel", "HostAccess", "Analysis", "ConfigFile", "QuirkDB", "WhatIf", "DomainXML", "GuestCheck",
                "Actions", "AEREvents", "AERJournal", "Definitions", "Exposition", "Fleet", "HostExport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: strictSettings
        ),

        // MARK: - Executables
        .executableTarget(name: "vfioctl", dependencies: ["VFIOCtlCommands"], swiftSettings: strictSettings),
        .executableTarget(
            name: "vfioctl-hostgen",
            dependencies: [
                "PCIModel", "HostAccess", "Analysis",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: strictSettings
        ),

        // MARK: - Tests
        /// The real CLI with TestSupport's kernel model, for the kill-after-every-write harness.
        .executableTarget(
            name: "vfioctl-faultrun", dependencies: ["VFIOCtlCommands", "Actions", "TestSupport"],
            path: "Tests/FaultRunner", swiftSettings: strictSettings),
        .target(
            name: "TestSupport",
            dependencies: [
                "PCIModel", "HostAccess", "Analysis", "QuirkDB",
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            path: "Tests/TestSupport",
            swiftSettings: strictSettings),
        .testTarget(
            name: "PCIModelTests", dependencies: ["PCIModel", "HostAccess", "TestSupport"],
            swiftSettings: strictSettings),
        .testTarget(
            name: "AnalysisTests", dependencies: ["PCIModel", "HostAccess", "Analysis", "TestSupport"],
            swiftSettings: strictSettings),
        .testTarget(
            name: "CLITests", dependencies: ["PCIModel", "HostAccess", "Analysis", "TestSupport"],
            swiftSettings: strictSettings),
        .testTarget(
            name: "QuirkDBTests",
            dependencies: ["PCIModel", "HostAccess", "Analysis", "ConfigFile", "QuirkDB", "WhatIf", "TestSupport"],
            swiftSettings: strictSettings),
        .testTarget(name: "ConfigFileTests", dependencies: ["ConfigFile"], swiftSettings: strictSettings),
        .testTarget(
            name: "HostExportTests",
            dependencies: ["Exposition", "HostExport", "Analysis", "QuirkDB", "PCIModel", "HostAccess", "TestSupport"],
            swiftSettings: strictSettings),
        .testTarget(
            name: "HookTests",
            dependencies: ["DomainXML", "GuestCheck", "Analysis", "QuirkDB", "PCIModel", "TestSupport"],
            swiftSettings: strictSettings),
        .testTarget(
            name: "AERWatchTests",
            dependencies: [
                "AERWatch", "AEREvents", "AERJournal", "AERSources", "ConfigFile", "HostAccess", "PCIModel",
                "TestSupport",
            ],
            swiftSettings: strictSettings),
        .testTarget(
            name: "HostActionTests",
            dependencies: [
                "HostAccess", "PCIModel", "Actions", "TestSupport",
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            swiftSettings: strictSettings),
        .testTarget(
            name: "FleetTests",
            dependencies: ["Fleet", "PCIModel", "HostAccess", "Analysis", "QuirkDB", "TestSupport"],
            swiftSettings: strictSettings),
        .testTarget(
            name: "DefinitionsTests",
            dependencies: [
                "Definitions", "DomainXML", "GuestCheck", "Analysis", "QuirkDB", "PCIModel", "HostAccess",
                "TestSupport",
            ],
            swiftSettings: strictSettings),
        .testTarget(
            name: "SystemLibraryTests", dependencies: ["LibvirtBridge", "DeviceEvents", "HostAccess", "PCIModel"],
            swiftSettings: strictSettings),
    ]
)

// MARK: - Fuzzing

/// libFuzzer targets over the parsers of untrusted input (Tests/Fuzz), in the package only
/// when VFIOCTL_FUZZ is set: `make fuzz` builds them in its own scratch path, and the
/// ordinary build never compiles them (libFuzzer supplies `main`). The library targets are
/// then instrumented for coverage and AddressSanitizer; executables such as the
/// quirk-embedder build tool are not (each has a `main` of its own).
if Context.environment["VFIOCTL_FUZZ"] != nil {
    let sanitize = ["-sanitize=fuzzer,address"]
    for target in package.targets where target.type == .regular {
        target.swiftSettings = (target.swiftSettings ?? []) + [.unsafeFlags(sanitize)]
    }
    package.products.append(.executable(name: "vfioctl-fuzz", targets: ["vfioctl-fuzz"]))
    package.targets.append(.target(name: "CFuzzDriver", path: "Tests/Fuzz/Driver"))
    package.targets.append(
        .executableTarget(
            name: "vfioctl-fuzz",
            dependencies: [
                "CFuzzDriver", "PCIModel", "HostAccess", "Analysis", "ConfigFile", "QuirkDB", "DomainXML", "AEREvents",
                "AERSources",
            ],
            path: "Tests/Fuzz/Targets",
            swiftSettings: strictSettings + [.unsafeFlags(["-parse-as-library"] + sanitize)],
            linkerSettings: [.unsafeFlags(sanitize)]))
}
