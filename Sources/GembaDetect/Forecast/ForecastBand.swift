/// The next `horizon` values of a regular series (one per step: a minute's mean, say), each with
/// an interval meant to hold the truth `coverage` of the time: one Holt-Winters pass over the
/// history forecasts every step 1…`horizon` ahead from each point, and each step's interval is the
/// split-conformal quantile of the errors its forecasts made there. The same pass measures how
/// often the intervals it would have drawn held the truth (each drawn from earlier errors only,
/// refreshed every 50 values). Pure.
public struct ForecastBand: Sendable, Equatable {
    public struct Point: Sendable, Equatable {
        /// Steps after the last value (1 = the next one).
        public var step: Int
        public var value: Double
        public var low: Double
        public var high: Double
    }

    public var points: [Point]
    /// The share of intervals drawn during the pass that held the truth; nil when none was checked.
    public var measuredCoverage: Double?
    /// Intervals checked for that figure.
    public var checked: Int

    /// The least errors of one step ahead an interval is drawn from.
    public static let minimumErrors = 30

    /// Forecasts `values` (oldest first; non-finite ones are gaps, held at the last value) `horizon`
    /// steps ahead with a season of `period` steps. Nil when the history is too short to calibrate
    /// an interval (``minimumErrors`` forecasts of the farthest step must have met their truth).
    public static func forecast(_ values: [Double], period: Int, horizon: Int, coverage: Double = 0.9,
                                window: Int = 250) -> ForecastBand? {
        let horizon = max(1, horizon)
        var forecaster = SeasonalForecaster(period: period)
        // made[k - 1]: forecasts of k steps ahead waiting for their truth, oldest first, with the
        // half-width drawn for each when it was made (nil before enough errors).
        var made = Array(repeating: [(value: Double, halfWidth: Double?, warm: Bool)](), count: horizon)
        var errors = Array(repeating: [Double](), count: horizon)
        // Each step's half-width, recomputed every `refresh` values (sorting its errors at every value would cost too much).
        var halfWidths = Array(repeating: Double?.none, count: horizon)
        let refresh = 50
        var held = 0, checked = 0
        var last: Double?
        for (index, raw) in values.enumerated() {
            guard let value = raw.isFinite ? raw : last else { continue }
            last = value
            if index % refresh == 0 { halfWidths = errors.map { quantile($0, coverage) } }
            for step in 0..<horizon where made[step].count == step + 1 {
                let forecast = made[step].removeFirst()
                let error = abs(value - forecast.value)
                if let halfWidth = forecast.halfWidth {
                    checked += 1
                    if error <= halfWidth { held += 1 }
                }
                // Forecasts made before a season was seen (no seasonal pattern yet) do not calibrate the later ones.
                guard forecast.warm else { continue }
                errors[step].append(error)
                if errors[step].count > window { errors[step].removeFirst() }
            }
            forecaster.learn(value)
            for step in 0..<horizon {
                guard let forecast = forecaster.forecast(steps: step + 1) else { continue }
                made[step].append((forecast, halfWidths[step], forecaster.isWarm))
            }
        }
        guard errors[horizon - 1].count >= minimumErrors else { return nil }
        let points = (0..<horizon).compactMap { step -> Point? in
            guard let value = forecaster.forecast(steps: step + 1), let halfWidth = quantile(errors[step], coverage) else { return nil }
            return Point(step: step + 1, value: value, low: value - halfWidth, high: value + halfWidth)
        }
        return ForecastBand(points: points, measuredCoverage: checked > 0 ? Double(held) / Double(checked) : nil, checked: checked)
    }

    /// The split-conformal quantile: the ⌈(n + 1)·coverage⌉-th smallest of n errors.
    static func quantile(_ errors: [Double], _ coverage: Double) -> Double? {
        guard errors.count >= minimumErrors else { return nil }
        let sorted = errors.sorted()
        let rank = min(sorted.count, Int((Double(sorted.count + 1) * coverage).rounded(.up)))
        return sorted[max(0, rank - 1)]
    }
}
