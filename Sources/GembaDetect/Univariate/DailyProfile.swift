/// What a series usually does at each time of day: the mean and the mean absolute deviation of
/// each quarter of an hour (UTC), learnt once per visit (when the series leaves the quarter, its
/// mean there moves the profile by a tenth), so a day's profile weighs the same however often the
/// series is sampled. A quarter not yet visited has no expectation. State: 96 × 2 floats.
struct DailyProfile: Sendable, Codable {
    static let slots = 96
    static let day: Int64 = 86_400_000
    /// How far one day's visit moves a quarter's mean and deviation.
    static let rate: Float = 0.1

    /// Per quarter: the mean (NaN before the first visit) and the deviation (NaN before the second).
    private var means = [Float](repeating: .nan, count: slots)
    private var deviations = [Float](repeating: .nan, count: slots)
    /// The quarter being visited, with its values' sum, their absolute residuals' sum and their count.
    private var current: Int?
    private var sum = 0.0
    private var residuals = 0.0
    private var visited = 0

    var stateBytes: Int { heapBytes(means) + heapBytes(deviations) }

    /// The quarter of the day `time` (ms since the epoch) falls in.
    static func slot(of time: Int64) -> Int {
        let intoDay = time % day
        return Int((intoDay < 0 ? intoDay + day : intoDay) * Int64(slots) / day)
    }

    /// The expectation at `time` (the quarter's mean and deviation, the deviation nil until its
    /// second visit); nil for a quarter not yet visited. Moving into a new quarter ends the
    /// visit of the previous one, which then updates the profile.
    mutating func expectation(at time: Int64) -> (mean: Double, deviation: Double?)? {
        let slot = Self.slot(of: time)
        if let current, current != slot { closeVisit(of: current) }
        current = slot
        let mean = means[slot], deviation = deviations[slot]
        guard !mean.isNaN else { return nil }
        return (Double(mean), deviation.isNaN ? nil : Double(deviation))
    }

    /// Counts `value` in the current visit, with its residual from the expectation (nil if none).
    mutating func include(_ value: Double, residual: Double?) {
        sum += value
        residuals += abs(residual ?? 0)
        visited += 1
    }

    private mutating func closeVisit(of slot: Int) {
        defer { (sum, residuals, visited) = (0, 0, 0) }
        guard visited > 0 else { return }
        let mean = Float(sum / Double(visited))
        guard !means[slot].isNaN else {
            means[slot] = mean
            return
        }
        let deviation = Float(residuals / Double(visited))
        deviations[slot] = deviations[slot].isNaN ? deviation : deviations[slot] + Self.rate * (deviation - deviations[slot])
        means[slot] += Self.rate * (mean - means[slot])
    }
}
