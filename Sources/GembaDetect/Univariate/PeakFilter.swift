/// Reports a rising run of scores once, at its peak: while scores rise it passes 0; the first
/// score that does not rise further passes the peak of the run instead (one sample late). A
/// surprise that grows over a few samples, as a pattern detector's does while an odd value moves
/// through its window, is then one detection, not one per step.
struct PeakFilter: Sendable, Codable {
    private var top = 0.0

    mutating func pass(_ score: Double) -> Double {
        if score > top {
            top = score
            return 0
        }
        defer { top = 0 }
        return top
    }
}
