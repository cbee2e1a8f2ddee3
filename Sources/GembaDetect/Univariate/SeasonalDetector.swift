/// A robust baseline with seasonality: a sample's residual from what the series usually does at
/// that time of day (``DailyProfile``), in units of that quarter's usual deviation, or, while the
/// daily profile explains less than half of the series' variance, its residual from the series'
/// recent level (exponentially weighted over about 66 samples) in units of its recent deviation.
/// The score is the surprise of that residual's conformal p-value among the recent ones
/// (``ConformalCalibration``). State about 2 KB.
public struct SeasonalDetector: AnomalyDetector, Codable {
    public var name: String { "seasonal" }
    /// How fast the level and its deviation follow the series.
    static let levelRate = 0.03
    /// How slowly the share of variance the profile leaves unexplained is learnt.
    static let shareRate = 0.002
    /// The daily profile is used once its residuals' variance is under this share of the series'.
    static let seasonalShare = 0.5
    /// How many residuals are recorded before the first p-value is given.
    static let calibrated = 50

    private var profile = DailyProfile()
    private var scale = RunningScale(span: 2_000)
    private var level: Double?
    private var levelDeviation = 0.0
    /// The mean squared residual from the daily profile.
    private var profileError: Double?
    private var calibration = ConformalCalibration()
    private var onset = OnsetFilter(span: OnsetFilter.defaultSpan)

    public init() {}

    public var stateBytes: Int { MemoryLayout<Self>.size + profile.stateBytes + calibration.stateBytes }

    public mutating func score(_ value: Double, at time: Int64) -> Double {
        onset.pass(surprise(value, at: time))
    }

    /// The score before the onset filter (0 while the time of day has no expectation yet).
    mutating func surprise(_ value: Double, at time: Int64) -> Double {
        guard value.isFinite else { return 0 }
        let expectation = profile.expectation(at: time)
        scale.include(value)
        // A floor of a twentieth of the series' deviation keeps a quiet stretch's first wiggle from being a thousandfold surprise.
        let floor = 0.05 * scale.deviation + 1e-9
        let levelNonconformity = followLevel(value, floor: floor)
        guard let expectation else {
            profile.include(value, residual: nil)
            return 0
        }
        // The profile keeps single precision: a residual within its rounding is none.
        let residual = abs(value - expectation.mean) <= expectation.mean.magnitude * 0x1p-22 ? 0 : value - expectation.mean
        profile.include(value, residual: residual)
        let squared = residual * residual
        let error = profileError.map { $0 + Self.shareRate * (squared - $0) } ?? squared
        profileError = error
        let seasonal = error < Self.seasonalShare * max(scale.variance, 1e-12)
        let nonconformity = seasonal ? abs(residual) / ((expectation.deviation ?? abs(residual)) + floor) : levelNonconformity
        let surprise = calibration.count >= Self.calibrated ? calibration.surprise(of: nonconformity) : 0
        calibration.record(nonconformity)
        return surprise
    }

    /// The residual of `value` from the level, in units of the level's deviation (plus `floor`);
    /// then moves both towards it.
    private mutating func followLevel(_ value: Double, floor: Double) -> Double {
        guard let current = level else {
            level = value
            return 0
        }
        let residual = abs(value - current)
        defer {
            level = current + Self.levelRate * (value - current)
            levelDeviation += Self.levelRate * (residual - levelDeviation)
        }
        return residual / (levelDeviation + floor)
    }
}
