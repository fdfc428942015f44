/// Every bound the libvirt hook puts on what libvirt hands it (the domain XML on stdin and the
/// domain name in argv). Input beyond a bound is refused with a message naming the bound; none
/// of them is near what a real libvirt domain needs.
public enum DomainXMLLimits {
    /// Largest domain XML document read, in bytes (4 MiB). libvirt's own domains are a few
    /// KiB; the hook reads at most one byte more than this from stdin before refusing.
    public static let maximumDocumentBytes = 4 * 1024 * 1024

    /// Deepest element nesting accepted (`<domain>` is level 1). libvirt domains nest about 6
    /// deep; the reader is iterative, so this bounds memory and the release of the tree, not
    /// the stack.
    public static let maximumDepth = 256

    /// Longest entity or character reference between `&` and `;` (`&#x10FFFF;` needs 8).
    public static let maximumEntityLength = 32

    /// Highest NUMA node number in a `nodeset` (guest cells in `<page nodeset>`, host nodes in
    /// `<numatune>`): Linux's MAX_NUMNODES is 1024 (CONFIG_NODES_SHIFT 10).
    public static let maximumNUMANode = 1023

    /// Longest domain name, in bytes: the name is a file name in the hook's state directory
    /// (`domains/NAME`, written through `.NAME.PID.tmp`), and Linux's NAME_MAX is 255. The
    /// temporary name adds 13 bytes (`.`, `.`, a PID of up to 7 digits, `.tmp`): 255 − 13.
    public static let maximumNameBytes = 242

    /// Largest memory size, in bytes, that `<memory>`, `<cell memory>` and `<page size>` may
    /// scale to: Int.max (8 EiB), so that arithmetic on them cannot overflow.
    public static let maximumMemoryBytes = Int.max
}
