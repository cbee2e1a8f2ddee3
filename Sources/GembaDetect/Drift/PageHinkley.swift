/// The Page-Hinkley test for a lasting change in a stream's mean (drift in a signal, or in a
/// model's residuals): it sums each sample's deviation from the running mean, less a tolerance
/// `delta`, and signals a change, up or down, once the sum has moved more than `threshold` from its
/// extreme. After a change it starts again from the new level. Constant memory.
public struct PageHinkley: Sendable, Codable {
    public enum Change: String, Sendable, Codable {
        case up, down
    }

    /// Deviations smaller than this (in the stream's units) are not counted.
    public let delta: Double
    /// How far the cumulative deviation must move from its extreme to signal a change.
    public let threshold: Double
    /// Samples seen before a change may be signalled.
    public let warmUp: Int
    private var count = 0
    private var mean = 0.0
    private var upward = 0.0
    private var lowestUpward = 0.0
    private var downward = 0.0
    private var highestDownward = 0.0

    public init(delta: Double, threshold: Double, warmUp: Int = 30) {
        self.delta = delta
        self.threshold = threshold
        self.warmUp = warmUp
    }

    /// Learns a sample and answers the change it completes, if any.
    public mutating func update(_ value: Double) -> Change? {
        guard value.isFinite else { return nil }
        count += 1
        mean += (value - mean) / Double(count)
        upward += value - mean - delta
        lowestUpward = min(lowestUpward, upward)
        downward += value - mean + delta
        highestDownward = max(highestDownward, downward)
        guard count >= warmUp else { return nil }
        let change: Change? = upward - lowestUpward > threshold ? .up : highestDownward - downward > threshold ? .down : nil
        if change != nil { self = PageHinkley(delta: delta, threshold: threshold, warmUp: warmUp) }
        return change
    }
}
