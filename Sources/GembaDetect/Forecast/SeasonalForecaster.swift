/// Exponential smoothing with a damped trend and additive seasonality (Holt-Winters), updated one
/// sample at a time: forecasts a series `h` samples ahead from its past only.
public struct SeasonalForecaster: Sendable, Codable {
    /// Samples per season (a day of samples, say); 1 for none.
    public let period: Int
    private let alpha: Double
    private let beta: Double
    private let gamma: Double
    private let damping: Double
    private var level: Double?
    private var trend = 0.0
    private var seasonal: [Double]
    private var count = 0

    public init(period: Int, alpha: Double = 0.2, beta: Double = 0.01, gamma: Double = 0.1, damping: Double = 0.98) {
        self.period = max(1, period)
        self.alpha = alpha
        self.beta = beta
        self.gamma = period > 1 ? gamma : 0
        self.damping = damping
        seasonal = Array(repeating: 0, count: max(1, period))
    }

    /// Whether a season has been seen (before that, forecasts carry no seasonal pattern yet).
    public var isWarm: Bool { count >= period }

    /// The forecast `steps` (≥ 1) samples after the last one learnt (during the first season, the mean so far).
    public func forecast(steps: Int) -> Double? {
        guard let level else { return nil }
        guard isWarm else { return level }
        var dampedTrend = 0.0, factor = 1.0
        for _ in 0..<steps {
            factor *= damping
            dampedTrend += factor * trend
        }
        return level + dampedTrend + seasonal[(count + steps - 1) % period]
    }

    public mutating func learn(_ value: Double) {
        guard value.isFinite else { return }
        let slot = count % period
        count += 1
        guard count > period else {
            // The first season is kept as it comes; at its end the level is its mean and each slot
            // its difference from the mean (the trend starts flat). Meanwhile the level is the mean so far.
            level = (level ?? 0) + (value - (level ?? 0)) / Double(count)
            guard period > 1 else { return }
            seasonal[slot] = value
            if count == period { for index in seasonal.indices { seasonal[index] -= level! } }
            return
        }
        let previous = level!
        let season = seasonal[slot]
        let newLevel = alpha * (value - season) + (1 - alpha) * (previous + damping * trend)
        trend = beta * (newLevel - previous) + (1 - beta) * damping * trend
        seasonal[slot] = gamma * (value - newLevel) + (1 - gamma) * season
        level = newLevel
    }
}
