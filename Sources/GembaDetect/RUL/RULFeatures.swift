/// The features a fleet model reads from one machine's history at a cycle: per signal, the mean of
/// the last few cycles, the mean and the least-squares slope over a longer trailing window; and
/// how many cycles the machine has run. Only cycles up to the one predicted at are read.
public struct RULFeatures: Sendable, Hashable, Codable {
    /// Cycles the short mean covers.
    public var short = 5
    /// Cycles the window mean and the slope cover.
    public var window = 30

    public init(short: Int = 5, window: Int = 30) {
        self.short = short
        self.window = window
    }

    /// Features of `rows` (one per cycle, the same signals each) up to and including row `cycle − 1`.
    public func features(of rows: [[Double]], through cycle: Int) -> [Double] {
        precondition(cycle >= 1 && cycle <= rows.count, "a cycle within the history")
        let signals = rows[0].count
        let recent = rows[max(0, cycle - short)..<cycle]
        let trailing = rows[max(0, cycle - window)..<cycle]
        var result: [Double] = []
        result.reserveCapacity(3 * signals + 1)
        for signal in 0..<signals { result.append(recent.reduce(0) { $0 + $1[signal] } / Double(recent.count)) }
        for signal in 0..<signals { result.append(trailing.reduce(0) { $0 + $1[signal] } / Double(trailing.count)) }
        for signal in 0..<signals { result.append(Self.slope(trailing.map { $0[signal] })) }
        result.append(Double(cycle))
        return result
    }

    /// The least-squares slope of `values` against their position (0 for fewer than two).
    static func slope(_ values: [Double]) -> Double {
        guard values.count > 1 else { return 0 }
        let meanPosition = Double(values.count - 1) / 2
        let meanValue = values.reduce(0, +) / Double(values.count)
        var covariance = 0.0, variance = 0.0
        for (position, value) in values.enumerated() {
            let offset = Double(position) - meanPosition
            covariance += offset * (value - meanValue)
            variance += offset * offset
        }
        return covariance / variance
    }
}
