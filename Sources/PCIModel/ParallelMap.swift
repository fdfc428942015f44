import Dispatch

extension Array where Element: Sendable {
    /// `map` spread over up to `workers` threads, each on one contiguous slice; order is kept.
    /// Used where a host has thousands of functions and each needs independent work
    /// (sysfs attribute reads, assessments). Small inputs run inline.
    public func parallelMap<Result>(
        workers: Int = 2, minimumPerWorker: Int = 128, _ transform: @Sendable (Element) -> Result
    )
        -> [Result]
    {
        parallelMap(workers: workers, minimumPerWorker: minimumPerWorker) { element, _ in transform(element) }
    }

    /// As `parallelMap`, also passing the worker number (0..<workers), for per-thread
    /// resources such as one libpci handle per worker.
    public func parallelMap<Result>(
        workers: Int = 2, minimumPerWorker: Int = 128, _ transform: @Sendable (Element, Int) -> Result
    ) -> [Result] {
        let count = self.count
        let threads = Swift.min(workers, Swift.max(1, count / minimumPerWorker))
        if threads <= 1 { return map { transform($0, 0) } }
        return [Result](unsafeUninitializedCapacity: count) { buffer, initialized in
            // Each index is written by exactly one worker, so the slots never overlap.
            nonisolated(unsafe) let output = buffer
            withUnsafeBufferPointer { input in
                nonisolated(unsafe) let source = input
                // Contiguous slices, not interleaved indices: two threads writing neighbouring
                // results share cache lines, and each would touch every input.
                DispatchQueue.concurrentPerform(iterations: threads) { worker in
                    let slice = (count * worker / threads)..<(count * (worker + 1) / threads)
                    for index in slice {
                        (output.baseAddress! + index).initialize(to: transform(source[index], worker))
                    }
                }
            }
            initialized = count
        }
    }
}
