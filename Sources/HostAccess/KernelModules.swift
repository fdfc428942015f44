import CKmod
import SystemPackage

#if canImport(Glibc)
    import Glibc
#endif

/// The one owner of a libkmod context (`kmod_new`, the running kernel's /lib/modules):
/// loads modules with options as modprobe does and unloads them as rmmod does.
public final class KernelModules {
    private let context: OpaquePointer

    public init() throws(HostAccessError) {
        guard let context = kmod_new(nil, nil) else { throw HostAccessError(.ioError, "libkmod: kmod_new failed") }
        self.context = context
        let loaded = kmod_load_resources(context)
        if loaded < 0 {
            kmod_unref(context)
            throw HostAccessError(
                .notFound,
                "libkmod cannot load the module index of the running kernel: \(Errno(rawValue: -loaded)) (is /lib/modules/$(uname -r) there?)",
                syscall: "kmod_load_resources", errno: Errno(rawValue: -loaded)
            )
        }
    }

    deinit { kmod_unref(context) }

    private func module(_ name: String) throws(HostAccessError) -> OpaquePointer {
        var module: OpaquePointer?
        let result = kmod_module_new_from_name(context, name, &module)
        guard result >= 0, let module else {
            throw HostAccessError(
                .notFound, "libkmod: no module \(name): \(Errno(rawValue: -result))",
                syscall: "kmod_module_new_from_name",
                errno: Errno(rawValue: -result))
        }
        return module
    }

    /// Loaded now (live or coming), or built in.
    public func isLoaded(_ name: String) -> Bool {
        guard let module = try? module(name) else { return false }
        defer { kmod_module_unref(module) }
        let state = kmod_module_get_initstate(module)
        return state == Int32(KMOD_MODULE_LIVE.rawValue) || state == Int32(KMOD_MODULE_COMING.rawValue)
            || state == Int32(KMOD_MODULE_BUILTIN.rawValue)
    }

    /// `modprobe NAME OPTIONS` (dependencies first).
    public func load(_ name: String, options: String?) throws(HostAccessError) {
        let module = try module(name)
        defer { kmod_module_unref(module) }
        let result = kmod_module_probe_insert_module(module, 0, options, nil, nil, nil)
        guard result >= 0 else {
            throw HostAccessError(.ioError, "modprobe \(name) \(options ?? ""): \(String(cString: strerror(-result)))")
        }
    }

    /// `rmmod NAME`.
    public func unload(_ name: String) throws(HostAccessError) {
        let module = try module(name)
        defer { kmod_module_unref(module) }
        let result = kmod_module_remove_module(module, 0)
        guard result >= 0 else {
            throw HostAccessError(.ioError, "rmmod \(name): \(String(cString: strerror(-result)))")
        }
    }
}
