/// The features a fleet model reads from one machine's history at a cycle: per signal, the mean of
/// the last few cycles, the mean and the least-squares slope over a longer trailing window; and
/// (with `age`) how many cycles the machine has run. Only cycles up to the one predicted at are read.
public struct RULFeatures: Sendable, Hashable, Codable {
    /// Cycles the short mean covers.
    public var short = 5
    /// Cycles the window mean and the slope cover.
    public var window = 30
    /// Whether the cycles run since the machine was new (or last repaired) are a feature. Histories
    /// that start at a repair know it; a machine watched from some day in its life does not.
    public var age = true

    public init(short: Int = 5, window: Int = 30, age: Bool = true) {
        self.short = short
        self.window = window
        self.age = age
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.init(short: try container.decode(Int.self, forKey: .short), window: try container.decode(Int.self, forKey: .window),
                  age: try container.decodeIfPresent(Bool.self, forKey: .age) ?? true)
    }

    /// The first cycle a model learns from and estimates at: with `age`, once the short mean is
    /// full; without, once the window is (a partial window would pass for a young machine).
    public var firstCycle: Int { age ? short : window }

    /// Features of `rows` (one per cycle, the same signals each) up to and including row `cycle − 1`.
    public func features(of rows: [[Double]], through cycle: Int) -> [Double] {
        precondition(cycle >= 1 && cycle <= rows.count, "a cycle within the history")
        return features(recent: rows[max(0, cycle - window)..<cycle], cycle: cycle)
    }

    /// Features of the latest `window` (or fewer) rows of a history, the last being cycle number `cycle` (1 for the first).
    public func features(recent rows: ArraySlice<[Double]>, cycle: Int) -> [Double] {
        precondition(!rows.isEmpty, "at least one cycle")
        let signals = rows.first!.count
        let recent = rows.suffix(short)
        let trailing = rows.suffix(window)
        var result: [Double] = []
        result.reserveCapacity(3 * signals + 1)
        for signal in 0..<signals { result.append(recent.reduce(0) { $0 + $1[signal] } / Double(recent.count)) }
        for signal in 0..<signals { result.append(trailing.reduce(0) { $0 + $1[signal] } / Double(trailing.count)) }
        for signal in 0..<signals { result.append(Self.slope(trailing.map { $0[signal] })) }
        if age { result.append(Double(cycle)) }
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
