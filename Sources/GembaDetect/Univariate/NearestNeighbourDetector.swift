#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A k-nearest-neighbour detector with conformal p-values: the last few samples (in deviations
/// from the series' usual level) form a pattern; its nonconformity is the mean distance to its nearest
/// stored patterns; its conformal p-value is the share of recent nonconformities at least as
/// large; the score is the surprise −log10(p) / 10 (p = 1e-10 scores 1). State: a ring of patterns and
/// one of nonconformities, in `Float` (under 4 KB).
public struct NearestNeighbourDetector: AnomalyDetector, Codable {
    public var name: String { "knn" }
    static let dimension = 6
    static let patterns = 50
    /// The nearest patterns a nonconformity averages (three: `distance(of:)` keeps them in registers).
    static let neighbours = 3
    /// Recent nonconformities a p-value is drawn from: many, so that p-values are fine enough to
    /// tell a 1-in-500 pattern from a 1-in-100 one (on NAB's series this mattered most).
    static let calibrations = 500

    private var scale = RunningScale(span: 2_000)
    private var recent: [Double] = []
    /// A ring of the latest `patterns + dimension` patterns, `dimension` values each, oldest
    /// overwritten first. The newest `dimension` overlap the current pattern and are not compared with it.
    private var stored: [Float] = []
    private var storedNext = 0
    private var nonconformities: [Float] = []
    private var nonconformityNext = 0
    private var onset = OnsetFilter(span: OnsetFilter.defaultSpan)
    private var gaps = GapGuard()

    private static var ringCapacity: Int { (patterns + dimension) * dimension }

    public init() {
        stored.reserveCapacity(Self.ringCapacity)
        nonconformities.reserveCapacity(Self.calibrations)
    }

    public var stateBytes: Int {
        MemoryLayout<Self>.size + heapBytes(recent) + heapBytes(stored) + heapBytes(nonconformities)
    }

    public mutating func score(_ value: Double, at time: Int64) -> Double {
        guard value.isFinite else { return 0 }
        // The pattern is in deviations from the series' usual level, as known before this sample;
        // after a gap it starts afresh.
        if gaps.isGap(before: time) { recent.removeAll(keepingCapacity: true) }
        recent.append(value)
        if recent.count > Self.dimension { recent.removeFirst() }
        defer { scale.include(value) }
        guard recent.count == Self.dimension else { return 0 }
        var pattern = SIMD8<Float>()
        for index in 0..<Self.dimension { pattern[index] = Float(max(-10, min(10, scale.standardised(recent[index])))) }
        var surprise = 0.0
        if stored.count >= (Self.neighbours + Self.dimension) * Self.dimension {
            let nonconformity = distance(of: pattern)
            if nonconformities.count >= 10 {
                surprise = min(10, -log10(pValue(of: nonconformity)))
            }
            remember(nonconformity)
        }
        store(pattern)
        // A conformal p-value is calibrated already: the score is its surprise, 1 at p = 1e-10.
        return onset.pass(surprise / 10)
    }

    /// The conformal p-value of a nonconformity: the share of recent ones at least as large. Beyond
    /// the largest, where that share cannot fall below 1/(n+1), it falls further with the square of
    /// how far beyond it lies, so a pattern far from all it knows is told from a merely rare one.
    private func pValue(of nonconformity: Float) -> Double {
        var atLeast = 0
        var largest: Float = 0
        for recorded in nonconformities {
            if recorded >= nonconformity { atLeast += 1 }
            largest = max(largest, recorded)
        }
        let floor = 1 / Double(nonconformities.count + 1)
        guard atLeast == 0, largest > 0 else { return Double(atLeast + 1) / Double(nonconformities.count + 1) }
        let beyond = Double(nonconformity / largest)
        return floor / (beyond * beyond)
    }

    /// The mean distance from `pattern` to its three nearest stored patterns that do not overlap it
    /// (one pass, no allocation).
    private func distance(of pattern: SIMD8<Float>) -> Float {
        var first = Float.infinity, second = Float.infinity, third = Float.infinity
        let count = stored.count
        // The newest `dimension` patterns, ending where the next one goes, overlap the current one:
        // the stretch of `overlapping` values from `overlapStart` (wrapping round the ring).
        let overlapping = Self.dimension * Self.dimension
        let overlapStart = (storedNext - overlapping + count) % count
        stored.withUnsafeBufferPointer { stored in
            var start = 0
            while start + Self.dimension <= count {
                var sinceOverlap = start - overlapStart
                if sinceOverlap < 0 { sinceOverlap += count }
                if sinceOverlap >= overlapping {
                    var sum: Float = 0
                    for offset in 0..<Self.dimension {
                        let difference = stored[start + offset] - pattern[offset]
                        sum += difference * difference
                    }
                    if sum < third {
                        if sum < first {
                            (first, second, third) = (sum, first, second)
                        } else if sum < second {
                            (second, third) = (sum, second)
                        } else {
                            third = sum
                        }
                    }
                }
                start += Self.dimension
            }
        }
        return (first.squareRoot() + second.squareRoot() + third.squareRoot()) / Float(Self.neighbours)
    }

    private mutating func store(_ pattern: SIMD8<Float>) {
        if stored.count < Self.ringCapacity {
            for index in 0..<Self.dimension { stored.append(pattern[index]) }
            storedNext = stored.count % Self.ringCapacity
        } else {
            for index in 0..<Self.dimension { stored[storedNext + index] = pattern[index] }
            storedNext = (storedNext + Self.dimension) % Self.ringCapacity
        }
    }

    private mutating func remember(_ nonconformity: Float) {
        if nonconformities.count < Self.calibrations {
            nonconformities.append(nonconformity)
        } else {
            nonconformities[nonconformityNext] = nonconformity
            nonconformityNext = (nonconformityNext + 1) % Self.calibrations
        }
    }
}
