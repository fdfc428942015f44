import PCIModel

/// What `managed=` each `<hostdev>` gets (`vfioctl xml --managed`).
///
/// `managed='yes'` makes libvirt detach the function from its host driver and bind it to
/// vfio-pci at guest start, and give it back to the host driver at shutdown. `managed='no'`
/// makes libvirt take the function as it is: it must already be VFIO-owned, which the
/// vfioctl hook checks (GuestAssessment refuses an unmanaged hostdev that is not, unless
/// hook.toml's `bind-unmanaged = true` binds its group first).
public enum ManagedPolicy: String, Sendable, CaseIterable, CustomStringConvertible {
    /// `managed='yes'` for every function.
    case yes
    /// `managed='no'` for every function: the group is bound by `vfioctl bind` / `apply`
    /// (or by the hook with `bind-unmanaged = true`).
    case no
    /// Per function: `no` when it is VFIO-owned now (vfio-pci or a variant driver, e.g. bound
    /// at boot by `vfioctl apply`), so libvirt leaves it bound at shutdown as the host's
    /// desired state has it; `yes` otherwise (a host driver, no driver, an SR-IOV VF), so
    /// libvirt moves it to vfio-pci itself. Under this policy the hook never refuses a
    /// hostdev for being unmanaged and not VFIO-owned.
    case auto

    /// The `managed` attribute for `device` under this policy.
    public func isManaged(_ device: PCIDevice) -> Bool {
        switch self {
        case .yes: true
        case .no: false
        case .auto: !device.isVFIOOwned
        }
    }

    public var description: String { rawValue }
}
