import HostAccess
import Logging

/// Makes sure the VFIO driver a bind asks for is there before the first write, as libvirt
/// probes its stub driver first: when `bus/pci/drivers/NAME` is missing on the live host,
/// the module (and `vfio_iommu_type1`, the type1 IOMMU backend of the VFIO container) is
/// loaded through libkmod. On a tree nothing is loaded: a tree has no kernel, and this
/// machine's own modules are never touched for it.
struct VFIODriverLoader {
    let session: HostSession

    func ensureLoaded(_ driver: String) throws {
        guard !session.roots.sys.exists("bus/pci/drivers/\(driver)") else { return }
        let module = driver.replacing("-", with: "_")
        let wanted = [module, "vfio_iommu_type1"]
        guard session.roots.isLive else {
            session.logger.debug("no bus/pci/drivers/\(driver) in the tree; a tree's modules are not loaded")
            return
        }
        if session.dryRun {
            session.notes.append(contentsOf: wanted.map { "modprobe \($0)" })
            return
        }
        let modules = try session.modules()
        for name in wanted where !modules.isLoaded(name) {
            session.logger.debug("loading module", metadata: ["module": "\(name)"])
            do {
                try modules.load(name, options: nil)
            } catch {
                throw ActionError(
                    .invalidRequest,
                    "\(driver) is not loaded and loading \(name) failed: \(error); is the VFIO driver built for this kernel?",
                    cause: error)
            }
            session.notes.append("modprobe \(name)")
        }
    }
}
