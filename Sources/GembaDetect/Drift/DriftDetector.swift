/// A lasting change in a signal's level (drift: a sensor losing its calibration, a process creeping
/// away), or in its residuals against its own daily pattern: Page-Hinkley on the signal's
/// one-minute means (or on what a Holt-Winters forecast with a day's season missed of each), in
/// units of their spread. Once a minute, not per sample, so noise averages out and it costs little.
/// Only the past: each minute is judged before it is learnt. Pure, a few hundred bytes of state
/// (residuals: a day of seasonal terms, 11.5 KB).
public struct DriftDetector: Sendable, Codable {
    /// Against the signal's daily pattern (a forecast's residuals) rather than its level.
    public let residuals: Bool
    private var minute: Int64 = .min
    private var sum = 0.0
    private var count = 0
    private var scale = RunningScale(span: 1_440)
    private var test = PageHinkley(delta: Self.delta, threshold: Self.threshold, warmUp: Self.warmUp)
    /// Minutes the scale has learnt (the test starts once it knows the spread).
    private var learnt = 0
    private var forecaster: SeasonalForecaster?

    /// Tolerance and threshold in deviations of the minute means; the minutes the scale learns
    /// before the test starts, and the test's own warm-up.
    static let delta = 0.5, threshold = 30.0
    static let scaleWarmUp = 60, warmUp = 30

    public init(residuals: Bool = false) {
        self.residuals = residuals
        // A slow level (it must not absorb a shift before the test has seen it) and a day's season.
        forecaster = residuals ? SeasonalForecaster(period: 1_440, alpha: 0.02, beta: 0, gamma: 0.1) : nil
    }

    /// Adds a sample at `time` (ms); answers the change a completed minute completes, if any.
    public mutating func add(_ value: Double, at time: Int64) -> PageHinkley.Change? {
        guard value.isFinite else { return nil }
        let slot = time >= 0 ? time / 60_000 : (time - 59_999) / 60_000
        var change: PageHinkley.Change?
        if slot != minute {
            if count > 0 { change = close(sum / Double(count)) }
            minute = slot
            sum = 0
            count = 0
        }
        sum += value
        count += 1
        return change
    }

    /// Judges a minute's mean, then learns it.
    private mutating func close(_ mean: Double) -> PageHinkley.Change? {
        var observed = mean
        if residuals, var model = forecaster {
            let expected = model.isWarm ? model.forecast(steps: 1) : nil
            model.learn(mean)
            forecaster = model
            guard let expected else { return nil }
            observed = mean - expected
        }
        // In deviations from what came before (about a day of it: a drift is told long before the
        // scale has followed it).
        let standardised = scale.standardised(observed)
        scale.include(observed)
        learnt += 1
        guard learnt > Self.scaleWarmUp else { return nil }
        let change = test.update(standardised)
        if change != nil {
            // The new level is the baseline from now on: learnt afresh before anything more is told.
            scale = RunningScale(span: 1_440)
            learnt = 0
        }
        return change
    }
}
