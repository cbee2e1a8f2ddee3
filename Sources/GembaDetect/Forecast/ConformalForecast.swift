/// A forecast `horizon` samples ahead with an interval that holds the truth about `coverage` of the
/// time: the interval's half-width is a quantile of the recent absolute errors of forecasts made
/// that far ahead (split conformal over a sliding window), its level adapted to the coverage
/// actually achieved (adaptive conformal inference: every miss widens it, every hit narrows it a little).
public struct ConformalForecast: Sendable {
    public struct Interval: Sendable, Equatable {
        public var value: Double
        public var low: Double
        public var high: Double
    }

    public let horizon: Int
    public let coverage: Double
    private var forecaster: SeasonalForecaster
    private let learningRate: Double
    private let window: Int
    /// The level the interval is currently drawn at (adapted).
    private var level: Double
    /// The recent errors in arrival order (a ring) and the same errors sorted.
    private var errors: [Double] = []
    private var sortedErrors: [Double] = []
    private var nextError = 0
    /// Forecasts made, waiting for the sample they forecast: the oldest is due next.
    private var pending: [Double] = []

    public init(forecaster: SeasonalForecaster, horizon: Int, coverage: Double = 0.9, window: Int = 500, learningRate: Double = 0.005) {
        self.forecaster = forecaster
        self.horizon = max(1, horizon)
        self.coverage = coverage
        self.window = window
        self.learningRate = learningRate
        level = coverage
    }

    /// Learns `value` and answers whether the interval forecast for it (made `horizon` samples ago)
    /// held it; nil while no interval was made for it.
    @discardableResult
    public mutating func learn(_ value: Double) -> Bool? {
        guard value.isFinite else { return nil }
        var held: Bool?
        if pending.count == horizon {
            let forecast = pending.removeFirst()
            let error = abs(value - forecast)
            if let halfWidth = halfWidth() {
                held = error <= halfWidth
                // Adaptive conformal: a miss raises the level, a hit lowers it by a little.
                level = min(0.999, max(0.5, level + learningRate * ((held! ? 0 : 1) - (1 - coverage))))
            }
            remember(error)
        }
        forecaster.learn(value)
        if let next = forecaster.forecast(steps: horizon) { pending.append(next) }
        return held
    }

    /// The forecast for `horizon` samples after the last one learnt, with its interval; nil until
    /// enough errors were seen to draw one.
    public func next() -> Interval? {
        guard let value = forecaster.forecast(steps: horizon), let halfWidth = halfWidth() else { return nil }
        return Interval(value: value, low: value - halfWidth, high: value + halfWidth)
    }

    /// The conformal quantile of the recent errors at the current level.
    private func halfWidth() -> Double? {
        guard sortedErrors.count >= 50 else { return nil }
        let rank = min(sortedErrors.count - 1, Int((level * Double(sortedErrors.count + 1)).rounded(.up)) - 1)
        return sortedErrors[max(0, rank)]
    }

    private mutating func remember(_ error: Double) {
        if errors.count < window {
            errors.append(error)
        } else {
            sortedErrors.remove(at: Self.position(of: errors[nextError], in: sortedErrors))
            errors[nextError] = error
            nextError = (nextError + 1) % window
        }
        sortedErrors.insert(error, at: Self.position(of: error, in: sortedErrors))
    }

    /// The first index of `sorted` whose value is not below `value`.
    private static func position(of value: Double, in sorted: [Double]) -> Int {
        var low = 0, high = sorted.count
        while low < high {
            let middle = (low + high) / 2
            if sorted[middle] < value { low = middle + 1 } else { high = middle }
        }
        return low
    }
}
