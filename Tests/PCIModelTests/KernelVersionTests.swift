import PCIModel
import Testing

@Suite("KernelVersion from kernel/osrelease and quirk files")
struct KernelVersionTests {
    @Test("Debian, Ubuntu, rc and bare releases; what follows the numbers is ignored")
    func parses() {
        #expect(KernelVersion(release: "6.12.117+deb12-amd64") == KernelVersion(6, 12, 117))
        #expect(KernelVersion(release: "6.1.0-57-amd64") == KernelVersion(6, 1, 0))
        #expect(KernelVersion(release: "5.15.0-91-generic") == KernelVersion(5, 15))
        #expect(KernelVersion(release: "6.7-rc1") == KernelVersion(6, 7))
        #expect(KernelVersion(release: "5.10") == KernelVersion(5, 10))
        #expect(KernelVersion(release: "6.12.117.4") == KernelVersion(6, 12, 117))
    }

    @Test("no major.minor, overflowing numbers and junk are refused")
    func refuses() {
        for text in ["", "6", "6.", ".12", "abc", "6.x", "9223372036854775807.1", "99999999999999999999.1", "6\u{0}.1"]
        {
            #expect(KernelVersion(release: text) == nil, "\(text)")
        }
    }

    @Test("ordered by major, minor, patch: 6.9 < 6.11 (not as text)")
    func orders() {
        #expect(KernelVersion(6, 9) < KernelVersion(6, 11))
        #expect(KernelVersion(6, 11) < KernelVersion(6, 11, 1))
        #expect(KernelVersion(5, 19, 200) < KernelVersion(6, 0))
        #expect(KernelVersion(6, 12, 117).description == "6.12.117" && KernelVersion(5, 10).description == "5.10")
    }
}
