/// Multivariate anomaly detection on a machine's signals together, by principal components:
/// trained on a stretch of normal operation, it scores each new set of readings by Hotelling's T²
/// (how unusual it is within the correlations learnt) and Q, the squared prediction error (how far
/// it breaks them), each against its 99th percentile in training, with every signal's share of the
/// two together: the explanation an operator reads ("vibration 71 %, current 20 %"). The shares are
/// reconstruction-based contributions to the combined index (Alcala and Qin, 2009), which single out
/// the signal that broke the correlations better than squared residuals do, also when few
/// dimensions are left to the residual.
public struct PCADetector: Sendable, Codable {
    public struct Reading: Sendable, Equatable {
        public var t2: Double
        public var q: Double
        /// max(T² / its limit, Q / its limit): 1 at the limit.
        public var ratio: Double
        /// In [0, 1]: 0.5 at the limit, towards 1 far beyond.
        public var score: Double
        /// Each signal's share of the combined index T²/limit + Q/limit (sums to 1).
        public var contributions: [Double]
    }

    public struct TrainingError: Error, CustomStringConvertible {
        public var description: String
    }

    public let signals: Int
    /// Principal components kept (enough for `explained` of the variance).
    public let components: Int
    var mean: [Double]
    var deviation: [Double]
    var eigenvalues: [Double]
    /// The kept components' loadings, `components` vectors of `signals` values.
    var loadings: [[Double]]
    var t2Limit = 1.0
    var qLimit = 1.0

    /// Trains on `rows` (each the signals' readings at one time, all the same width) of normal operation.
    public init(training rows: [[Double]], explained: Double = 0.9) throws {
        guard let width = rows.first?.count, width >= 2 else { throw TrainingError(description: "training needs readings of at least 2 signals") }
        guard rows.count >= 10 * width else {
            throw TrainingError(description: "training needs at least \(10 * width) readings of \(width) signals (10 per signal), got \(rows.count)")
        }
        guard rows.allSatisfy({ $0.count == width && $0.allSatisfy(\.isFinite) }) else {
            throw TrainingError(description: "every training reading must have \(width) finite values")
        }
        signals = width
        let count = Double(rows.count)
        let means = (0..<width).map { signal in rows.reduce(0) { $0 + $1[signal] } / count }
        let deviations = (0..<width).map { signal in
            max((rows.reduce(0) { $0 + ($1[signal] - means[signal]) * ($1[signal] - means[signal]) } / (count - 1)).squareRoot(), 1e-9)
        }
        let standardised = rows.map { row in (0..<width).map { (row[$0] - means[$0]) / deviations[$0] } }
        var covariance = [Double](repeating: 0, count: width * width)
        for row in standardised {
            for i in 0..<width { for j in i..<width { covariance[i * width + j] += row[i] * row[j] / (count - 1) } }
        }
        for i in 0..<width { for j in 0..<i { covariance[i * width + j] = covariance[j * width + i] } }
        let (values, vectors) = SymmetricEigen.decompose(covariance, size: width)
        let total = values.reduce(0) { $0 + max($1, 0) }
        var kept = 0, cumulative = 0.0
        while kept < width - 1, cumulative < explained * total {
            cumulative += max(values[kept], 0)
            kept += 1
        }
        components = max(1, kept)
        mean = means
        deviation = deviations
        eigenvalues = values.prefix(components).map { max($0, 1e-9) }
        loadings = Array(vectors.prefix(components))
        // Limits: the 99th percentile of each statistic over the training readings.
        var t2s: [Double] = [], qs: [Double] = []
        for row in standardised {
            let statistics = statistics(of: row)
            t2s.append(statistics.t2)
            qs.append(statistics.q)
        }
        t2Limit = max(Self.percentile(t2s, 0.99), 1e-9)
        qLimit = max(Self.percentile(qs, 0.99), 1e-9)
    }

    /// Scores one set of readings (the signals in training order).
    public func score(_ row: [Double]) -> Reading? {
        guard row.count == signals, row.allSatisfy(\.isFinite) else { return nil }
        let standardised = (0..<signals).map { (row[$0] - mean[$0]) / deviation[$0] }
        let (t2, q, scores, residual) = statistics(of: standardised)
        let t2Ratio = t2 / t2Limit, qRatio = q / qLimit
        // Reconstruction-based contributions to the combined index φ = T²/τ² + Q/δ² (Alcala and
        // Qin): each signal's (Φx)ᵢ² / Φᵢᵢ, with Φ = P Λ⁻¹ Pᵀ/τ² + (I − P Pᵀ)/δ². Both statistics
        // count, and a signal the components tie to others is not blamed for the error it spreads to them.
        var shares = (0..<signals).map { signal in
            var along = 0.0, diagonal = 0.0, explained = 0.0
            for component in 0..<components {
                let loading = loadings[component][signal]
                along += loading * scores[component] / eigenvalues[component]
                diagonal += loading * loading / eigenvalues[component]
                explained += loading * loading
            }
            let projected = along / t2Limit + residual[signal] / qLimit
            let weight = diagonal / t2Limit + max(0, 1 - explained) / qLimit
            return weight > 0 ? projected * projected / weight : 0
        }
        let sum = shares.reduce(0, +)
        shares = sum > 0 && sum.isFinite ? shares.map { $0 / sum } : Array(repeating: 1 / Double(signals), count: signals)
        let ratio = max(t2Ratio, qRatio)
        return Reading(t2: t2, q: q, ratio: ratio, score: ratio / (1 + ratio), contributions: shares)
    }

    private func statistics(of standardised: [Double]) -> (t2: Double, q: Double, scores: [Double], residual: [Double]) {
        let scores = loadings.map { loading in zip(loading, standardised).reduce(0) { $0 + $1.0 * $1.1 } }
        var residual = standardised
        for (component, loading) in loadings.enumerated() {
            for signal in 0..<signals { residual[signal] -= scores[component] * loading[signal] }
        }
        let t2 = zip(scores, eigenvalues).reduce(0) { $0 + $1.0 * $1.0 / $1.1 }
        return (t2, residual.reduce(0) { $0 + $1 * $1 }, scores, residual)
    }

    static func percentile(_ values: [Double], _ fraction: Double) -> Double {
        let sorted = values.sorted()
        return sorted[min(sorted.count - 1, Int(fraction * Double(sorted.count - 1)))]
    }
}
