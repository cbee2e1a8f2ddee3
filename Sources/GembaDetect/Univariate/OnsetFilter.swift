/// Keeps the onset of a surprise and drops its echo: a score passes when it rises above the
/// highest score passed within the last `span` samples (that mark fading linearly over the span),
/// otherwise it becomes 0. A sustained anomaly then scores once, when it starts (and again if it
/// grows), which is what an operator wants to be told and what NAB rewards.
struct OnsetFilter: Sendable, Codable {
    let span: Int
    private var mark = 0.0
    private var age = 0

    /// The span the detectors use: about a day of five-minute samples.
    static let defaultSpan = 300

    init(span: Int) { self.span = span }

    mutating func pass(_ score: Double) -> Double {
        age += 1
        let fading = age >= span ? 0 : mark * Double(span - age) / Double(span)
        guard score > fading else { return 0 }
        mark = score
        age = 0
        return score
    }
}
