/// A robust baseline: the sample's distance from an exponentially weighted level, in units of the
/// exponentially weighted absolute deviation, through ``AnomalyLikelihood``. Cheap (a few numbers
/// of state); it sees steps, spikes and changes of noise.
public struct RobustBaselineDetector: AnomalyDetector, Codable {
    public var name: String { "robust" }
    private var level: Double?
    private var deviation = 0.0
    private var range = RunningRange()
    private var likelihood = AnomalyLikelihood()
    private var onset = OnsetFilter(span: OnsetFilter.defaultSpan)
    private static let rate = 0.05

    public init() {}

    public var stateBytes: Int { MemoryLayout<Self>.size }

    public mutating func score(_ value: Double, at time: Int64) -> Double {
        guard value.isFinite else { return 0 }
        range.include(value)
        guard let current = level else {
            level = value
            return likelihood.update(0)
        }
        let error = abs(value - current)
        // The deviation of a quiet stretch is floored at a hundredth of the range seen, so that the
        // first wiggle after a flat start is not a thousandfold surprise.
        let scale = max(deviation, 0.01 * range.width)
        let raw = scale > 0 ? error / scale : 0
        level = current + Self.rate * (value - current)
        deviation += Self.rate * (error - deviation)
        return onset.pass(likelihood.update(min(raw, 1e3)))
    }
}
