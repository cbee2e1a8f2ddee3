internal import GembaCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// How well remaining-life estimates match the truth: RMSE (against the truth capped as the model
/// was trained, and uncapped), NASA's asymmetric score (late estimates cost more than early ones),
/// and how often the truth fell within the estimate's interval.
public struct RULEvaluation: Sendable, Equatable {
    public var estimates: Int
    public var rmse: Double
    public var rmseUncapped: Double
    /// Σ (e^(−d/13) − 1) for early estimates and (e^(d/10) − 1) for late ones, d = estimate − truth (capped), per estimate.
    public var nasaScorePerEstimate: Double
    public var intervalCoverage: Double

    /// One estimate against the true remaining cycles.
    public struct Case: Sendable {
        public var estimate: FleetRULModel.Estimate
        public var truth: Double
    }

    public init(_ cases: [Case], cap: Double) {
        estimates = cases.count
        let capped = cases.map { $0.estimate.cycles - min($0.truth, cap) }
        let uncapped = cases.map { $0.estimate.cycles - $0.truth }
        rmse = (capped.reduce(0) { $0 + $1 * $1 } / Double(max(cases.count, 1))).squareRoot()
        rmseUncapped = (uncapped.reduce(0) { $0 + $1 * $1 } / Double(max(cases.count, 1))).squareRoot()
        nasaScorePerEstimate = capped.reduce(0) { $0 + ($1 < 0 ? exp(-$1 / 13) - 1 : exp($1 / 10) - 1) } / Double(max(cases.count, 1))
        let covered = cases.filter { (min($0.truth, cap) >= $0.estimate.low) && (min($0.truth, cap) <= $0.estimate.high) }.count
        intervalCoverage = Double(covered) / Double(max(cases.count, 1))
    }

    /// K-fold cross-validation over machines: each fold's machines are cut at `cutsPerMachine`
    /// random points (the true remaining life drawn from 1 to 150 cycles, leaving at least the
    /// feature window before the cut) and estimated by a model trained on the other folds.
    public static func crossValidate(_ histories: [[[Double]]], folds: Int = 5, cutsPerMachine: Int = 5, seed: UInt64 = 1,
                                     train: ([[[Double]]]) throws -> FleetRULModel) throws -> RULEvaluation {
        var random = SplitMix64(seed: seed)
        let order = histories.indices.shuffled(using: &random)
        var cases: [Case] = []
        var cap = 0.0
        for fold in 0..<folds {
            let testing = Set(order.enumerated().filter { $0.offset % folds == fold }.map(\.element))
            let model = try train(histories.indices.filter { !testing.contains($0) }.map { histories[$0] })
            cap = model.cap
            for machine in testing.sorted() {
                let history = histories[machine]
                let longest = min(150, history.count - model.features.window - 1)
                guard longest >= 1 else { continue }
                for _ in 0..<cutsPerMachine {
                    let remaining = Int.random(in: 1...longest, using: &random)
                    let estimate = model.estimate(history: Array(history[..<(history.count - remaining)]))
                    cases.append(Case(estimate: estimate, truth: Double(remaining)))
                }
            }
        }
        return RULEvaluation(cases, cap: cap)
    }
}
