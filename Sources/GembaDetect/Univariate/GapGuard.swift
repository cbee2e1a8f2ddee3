/// Tells a gap in a series from its usual spacing: a sample that comes more than `factor` times the
/// usual interval after the one before (the interval exponentially averaged, so irregular sampling
/// is followed). A detector reading patterns of consecutive samples starts its pattern afresh after
/// a gap, so that a pattern never spans the time nothing was reported.
struct GapGuard: Sendable, Codable {
    static let factor: Int64 = 10
    private var lastTime: Int64?
    private var usual: Double?

    /// Notes the sample's time and answers whether a gap came before it.
    mutating func isGap(before time: Int64) -> Bool {
        defer { lastTime = time }
        guard let lastTime, time > lastTime else { return false }
        let interval = Double(time - lastTime)
        guard let usual else {
            self.usual = interval
            return false
        }
        if interval > Double(Self.factor) * usual { return true }
        self.usual = usual + 0.05 * (interval - usual)
        return false
    }
}
