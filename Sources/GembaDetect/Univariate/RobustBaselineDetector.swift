/// A robust baseline: the sample's distance from a slowly moving, exponentially weighted level, in
/// units of the exponentially weighted absolute deviation (d deviations score d / (d + 10): 0.5 at
/// ten). Cheap (a few numbers of state); it sees steps, spikes and changes of noise.
public struct RobustBaselineDetector: AnomalyDetector, Codable {
    public var name: String { "robust" }
    private var level: Double?
    private var deviation = 0.0
    private var range = RunningRange()
    private var onset = OnsetFilter(span: OnsetFilter.defaultSpan)
    /// How fast the level and the deviation follow the series (about 200 samples).
    private static let rate = 0.01

    public init() {}

    public var stateBytes: Int { MemoryLayout<Self>.size }

    public mutating func score(_ value: Double, at time: Int64) -> Double {
        guard value.isFinite else { return 0 }
        range.include(value)
        guard let current = level else {
            level = value
            return 0
        }
        let error = abs(value - current)
        // The deviation of a quiet stretch is floored at a hundredth of the range seen, so that the
        // first wiggle after a flat start is not a thousandfold surprise.
        let scale = max(deviation, 0.01 * range.width)
        let raw = scale > 0 ? error / scale : 0
        level = current + Self.rate * (value - current)
        deviation += Self.rate * (error - deviation)
        return onset.pass(raw / (raw + 10))
    }
}
