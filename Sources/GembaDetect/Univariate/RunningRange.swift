/// The smallest and largest value seen so far (without knowing the series in advance): how wide the
/// series has been, to floor a deviation with.
struct RunningRange: Sendable, Codable {
    private(set) var low = Double.infinity
    private(set) var high = -Double.infinity

    mutating func include(_ value: Double) {
        low = min(low, value)
        high = max(high, value)
    }

    /// How far apart the smallest and largest are (0 before two different values).
    var width: Double { high > low ? high - low : 0 }
}

/// A slowly moving mean and deviation of the values so far (exponentially weighted, the first
/// values averaged plainly), to express a sample in deviations from what the series usually does.
struct RunningScale: Sendable, Codable {
    private let rate: Double
    private var count = 0
    private(set) var mean = 0.0
    private(set) var variance = 0.0

    init(span: Double = 1_000) { rate = 2 / (span + 1) }

    /// The running standard deviation.
    var deviation: Double { variance.squareRoot() }

    /// `value` in deviations from the mean (0 while there is no spread yet).
    func standardised(_ value: Double) -> Double {
        let deviation = variance.squareRoot()
        return deviation > 0 ? (value - mean) / deviation : 0
    }

    mutating func include(_ value: Double) {
        count += 1
        let weight = max(rate, 1 / Double(count))
        let delta = value - mean
        mean += weight * delta
        variance = (1 - weight) * (variance + weight * delta * delta)
    }
}
