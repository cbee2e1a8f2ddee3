#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Turns a detector's raw surprise (any scale, higher is more surprising) into a score in [0, 1]:
/// how unlikely the recent raw values are under their own long-run distribution. A short average
/// of the raw values is compared with the long-run mean and deviation (both exponentially
/// weighted, so only the past counts); the upper-tail probability p becomes log(p) / log(1e-10).
/// A series that is always surprising in the same way is then not anomalous; a change in how
/// surprising it is, is. At or below the usual surprise the score is 0.
struct AnomalyLikelihood: Sendable, Codable {
    /// Samples the long-run distribution needs before any score is given (0 until then).
    let warmUp: Int
    private let longRate: Double
    private let shortRate: Double
    private var count = 0
    private var mean = 0.0
    private var variance = 0.0
    private var recent = 0.0

    init(warmUp: Int = 300, longSpan: Double = 2_000, shortSpan: Double = 5) {
        self.warmUp = warmUp
        longRate = 2 / (longSpan + 1)
        shortRate = 2 / (shortSpan + 1)
    }

    mutating func update(_ raw: Double) -> Double {
        count += 1
        recent = count == 1 ? raw : recent + shortRate * (raw - recent)
        defer {
            // The first half of the warm-up, while the detector itself is still learning, is not
            // counted; past the warm-up an extreme value counts as 4 deviations, so one outlier does
            // not blind the long-run distribution to the next.
            let counted = count > warmUp ? min(raw, mean + 4 * variance.squareRoot()) : raw
            let learnt = count - warmUp / 2
            if learnt == 1 {
                mean = counted
            } else if learnt > 1 {
                let rate = max(longRate, 1 / Double(learnt))
                let delta = counted - mean
                mean += rate * delta
                variance = (1 - rate) * (variance + rate * delta * delta)
            }
        }
        guard count > warmUp else { return 0 }
        let deviation = max(variance.squareRoot(), 1e-6 * max(abs(mean), 1e-3))
        let z = (recent - mean) / deviation
        // The upper tail beyond the median: 0 at or below the usual surprise, 1 at a tail of 1e-10.
        let tail = erfc(max(z, 0) / 2.0.squareRoot())
        return min(1, log(max(tail, 1e-10)) / log(1e-10))
    }
}
