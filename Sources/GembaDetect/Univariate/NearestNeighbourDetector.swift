/// A k-nearest-neighbour detector with conformal p-values. Each sample, in deviations from the
/// series' usual level, joins a memory of the latest ``memory`` samples; the last
/// ``dimension`` of them form the current pattern. Its nonconformity is the mean distance to its
/// three nearest patterns in the memory (those that do not overlap it), and its score is the
/// surprise of its conformal p-value among the recent nonconformities (``ConformalCalibration``).
/// State: the memory in two bytes a sample and the calibration, about 1.6 KB.
public struct NearestNeighbourDetector: AnomalyDetector, Codable {
    public var name: String { "knn" }
    static let dimension = 6
    /// Samples remembered beyond the current pattern and those overlapping it: about 17 hours of
    /// five-minute samples.
    static let memory = 200
    /// The nearest patterns a nonconformity averages (three: ``distance(to:in:)`` keeps them in registers).
    static let neighbours = 3
    /// Standardised values are kept to ±10 deviations, in steps of 1/3,276.7.
    static let resolution: Float = 3_276.7

    private var scale = RunningScale(span: 2_000)
    /// A ring of the latest standardised values, oldest overwritten first.
    private var values: [Int16] = []
    private var next = 0
    private var calibration = ConformalCalibration()
    private var onset = OnsetFilter(span: OnsetFilter.defaultSpan)
    private var gaps = GapGuard()

    private static var capacity: Int { memory + 2 * dimension }

    public init() { values.reserveCapacity(Self.capacity) }

    public var stateBytes: Int { MemoryLayout<Self>.size + heapBytes(values) + calibration.stateBytes }

    public mutating func score(_ value: Double, at time: Int64) -> Double {
        onset.pass(surprise(value, at: time))
    }

    /// The score before the onset filter: every sample's surprise (0 until the memory holds a
    /// pattern to compare with, and while the calibration has fewer than ten).
    mutating func surprise(_ value: Double, at time: Int64) -> Double {
        guard value.isFinite else { return 0 }
        // After a gap the memory starts afresh: no pattern spans the time nothing was reported.
        if gaps.isGap(before: time) {
            values.removeAll(keepingCapacity: true)
            next = 0
        }
        // In deviations from the series' usual level, as known before this sample.
        let standardised = max(-10, min(10, scale.standardised(value)))
        scale.include(value)
        remember(Int16((Float(standardised) * Self.resolution).rounded()))
        guard values.count >= 2 * Self.dimension + Self.neighbours else { return 0 }
        let nonconformity = Double(nearestDistance())
        let surprise = calibration.count >= 10 ? calibration.surprise(of: nonconformity) : 0
        calibration.record(nonconformity)
        return surprise
    }

    private mutating func remember(_ code: Int16) {
        if values.count < Self.capacity {
            values.append(code)
        } else {
            values[next] = code
            next = next + 1 == Self.capacity ? 0 : next + 1
        }
    }

    /// The mean distance from the current pattern (the newest `dimension` values) to its three
    /// nearest patterns that end before it starts, over the memory in order (no allocation beyond the stack).
    private func nearestDistance() -> Float {
        let count = values.count
        let oldest = count < Self.capacity ? 0 : next
        return withUnsafeTemporaryAllocation(of: Float.self, capacity: count) { ordered in
            // The ring from its oldest value to its end, then from its start: two runs the compiler vectorises.
            values.withUnsafeBufferPointer { values in
                let step = 1 / Self.resolution
                for index in oldest..<count { ordered[index - oldest] = Float(values[index]) * step }
                for index in 0..<oldest { ordered[count - oldest + index] = Float(values[index]) * step }
            }
            return Self.distance(from: count - Self.dimension, in: UnsafeBufferPointer(ordered), candidates: count - 2 * Self.dimension + 1)
        }
    }

    /// The mean of the three smallest distances from the pattern of `dimension` values at
    /// `current` to the windows starting at 0..<candidates in `series`. Eight windows are summed
    /// at once, one lane each (a window's n-th values are consecutive in the series).
    private static func distance(from current: Int, in series: UnsafeBufferPointer<Float>, candidates: Int) -> Float {
        var nearest = Nearest()
        let raw = UnsafeRawPointer(series.baseAddress!)
        let stride = MemoryLayout<Float>.stride
        var start = 0
        while start + 8 <= candidates {
            var sums = SIMD8<Float>()
            for offset in 0..<dimension {
                let difference = raw.loadUnaligned(fromByteOffset: (start + offset) * stride, as: SIMD8<Float>.self)
                    - SIMD8(repeating: series[current + offset])
                sums += difference * difference
            }
            let halves = pointwiseMin(sums.lowHalf, sums.highHalf)
            if min(min(halves[0], halves[1]), min(halves[2], halves[3])) < nearest.third {
                for lane in 0..<8 { nearest.include(sums[lane]) }
            }
            start += 8
        }
        while start < candidates {
            var sum: Float = 0
            for offset in 0..<dimension {
                let difference = series[start + offset] - series[current + offset]
                sum += difference * difference
            }
            nearest.include(sum)
            start += 1
        }
        return (nearest.first.squareRoot() + nearest.second.squareRoot() + nearest.third.squareRoot()) / Float(neighbours)
    }

    /// The three smallest squared distances so far.
    private struct Nearest {
        var first = Float.infinity, second = Float.infinity, third = Float.infinity

        mutating func include(_ sum: Float) {
            guard sum < third else { return }
            if sum < first {
                (first, second, third) = (sum, first, second)
            } else if sum < second {
                (second, third) = (sum, second)
            } else {
                third = sum
            }
        }
    }
}
