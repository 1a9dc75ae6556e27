//===----------------------------------------------------------------------===//
//
// hwkeys: Benchmarking
//
//===----------------------------------------------------------------------===//

import HWKeysBase

/// One slice of a measurement: the bytes a workload processed and the host time it took. A workload that
/// fails throws instead (its errno): a failure is never a slice of zero bytes.
public typealias MeasuredSlice = (bytes: Int, elapsed: Duration)

/// Measurements taken in alternating slices of host time, so that ours and the reference see the same
/// machine load (`hwkeys benchmark` compares each hot path with OpenSSL or the raw line engine this way).
public enum Alternation {
    /// Runs two measurements in alternating slices of about 50 ms, after a 20 ms warm-up of each, until each
    /// has run `seconds`; returns GB/s of each (the second nil when there is none).
    ///
    /// - Throws: the first error either workload throws; nothing measured so far is reported.
    public static func measure(
        seconds: Double,
        _ first: (Duration) throws(HWKeysError) -> MeasuredSlice,
        _ second: ((Duration) throws(HWKeysError) -> MeasuredSlice)?
    ) throws(HWKeysError) -> (Double, Double?) {
        let slice = Duration.milliseconds(50)
        let total = Duration.seconds(seconds)
        _ = try first(.milliseconds(20))
        _ = try second?(.milliseconds(20))
        var firstBytes = 0
        var secondBytes = 0
        var firstTime = Duration.zero
        var secondTime = Duration.zero
        while firstTime < total || (second != nil && secondTime < total) {
            let a = try first(slice)
            firstBytes += a.bytes
            firstTime += a.elapsed
            if let second {
                let b = try second(slice)
                secondBytes += b.bytes
                secondTime += b.elapsed
            }
        }
        let theirs = second == nil ? nil : throughput(bytes: secondBytes, elapsed: secondTime)
        return (throughput(bytes: firstBytes, elapsed: firstTime), theirs)
    }

    /// GB/s of one slice.
    public static func throughput(_ slice: MeasuredSlice) -> Double {
        throughput(bytes: slice.bytes, elapsed: slice.elapsed)
    }

    /// GB/s (10⁹ bytes per second) for `bytes` processed in `elapsed`.
    public static func throughput(bytes: Int, elapsed: Duration) -> Double {
        let seconds = elapsed.seconds
        return seconds > 0 ? Double(bytes) / seconds / 1e9 : 0
    }
}

extension Duration {
    /// The duration in seconds.
    var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) * 1e-18
    }
}
