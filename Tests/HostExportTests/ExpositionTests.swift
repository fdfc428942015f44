import Exposition
import Testing

/// The text exposition format's rules as the format's documentation states them, checked on
/// vfioctl's writer: escaping, names, values, one series per label set.
@Suite("Prometheus text exposition")
struct ExpositionTests {
    @Test("label values escape backslash, double quote and line feed; HELP escapes backslash and line feed only")
    func escaping() {
        var family = MetricFamily(
            "vfioctl_test_info", .gauge, help: "a \"quoted\" back\\slash\nsecond line", labels: ["driver"])
        family.add(["e1000e\"}\nvfioctl_fake 1\\"], 1)
        let text = ExpositionText.render([family])
        #expect(
            text == """
                # HELP vfioctl_test_info a "quoted" back\\\\slash\\nsecond line
                # TYPE vfioctl_test_info gauge
                vfioctl_test_info{driver="e1000e\\"}\\nvfioctl_fake 1\\\\"} 1

                """)
        // The injected text stays inside one sample line.
        #expect(text.split(separator: "\n").count == 3)
        #expect(!text.contains("\nvfioctl_fake"))
    }

    @Test("metric and label names follow the format's character rules")
    func names() {
        for good in ["vfioctl_info", "a", "_x", "ns:sub_total", "A9_"] { #expect(ExpositionNames.isMetricName(good)) }
        for bad in ["", "9abc", "a-b", "a.b", "é", "a b"] { #expect(!ExpositionNames.isMetricName(bad), "\(bad)") }
        for good in ["address", "_x", "iommu_group"] { #expect(ExpositionNames.isLabelName(good)) }
        for bad in ["__name__", "__x", "a:b", "1a", "", "a-b"] { #expect(!ExpositionNames.isLabelName(bad), "\(bad)") }
    }

    @Test("values: integers plainly, reals in Go-parsable form, NaN and infinities by name")
    func values() {
        #expect(ExpositionText.rendered(.integer(Int.max)) == "9223372036854775807")
        #expect(ExpositionText.rendered(.integer(-3)) == "-3")
        #expect(ExpositionText.rendered(.real(0.25)) == "0.25")
        #expect(ExpositionText.rendered(.real(.nan)) == "NaN")
        #expect(ExpositionText.rendered(.real(.infinity)) == "+Inf")
        #expect(ExpositionText.rendered(.real(-.infinity)) == "-Inf")
        #expect(Double(ExpositionText.rendered(.real(1e-7))) == 1e-7)
    }

    @Test("a second sample with the same label values replaces the first; families without samples keep HELP and TYPE")
    func oneSeriesPerLabelSet() {
        var family = MetricFamily("vfioctl_things_total", .counter, help: "Things.", labels: ["kind"])
        family.add(["a"], 1)
        family.add(["b"], 2)
        family.add(["a"], 5)
        #expect(family.samples.map(\.labels) == [["a"], ["b"]])
        #expect(family.samples.map(\.value) == [.integer(5), .integer(2)])
        let empty = MetricFamily("vfioctl_empty", .gauge, help: "Nothing yet.")
        #expect(ExpositionText.render([empty]) == "# HELP vfioctl_empty Nothing yet.\n# TYPE vfioctl_empty gauge\n")
    }
}
