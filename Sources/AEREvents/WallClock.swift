#if canImport(Glibc)
    import Glibc
#endif

/// Seconds since the epoch.
public func wallClock() -> Double {
    var time = timespec()
    clock_gettime(CLOCK_REALTIME, &time)
    return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
}
