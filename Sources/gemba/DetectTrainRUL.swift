import ArgumentParser
import Foundation
import GembaDetect

/// `gemba detect train-rul <file>`: trains the fleet remaining-useful-life model on run-to-failure
/// histories (NASA's C-MAPSS layout), reports its cross-validated error, and saves it.
struct DetectTrainRUL: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train-rul",
        abstract: "Train the fleet remaining-useful-life model on run-to-failure histories and cross-validate it.",
        discussion: "The file has one row per machine and cycle: machine number, cycle, readings (NASA's C-MAPSS layout).")

    @Argument(help: "The run-to-failure histories.") var file: String
    @Option(help: "Remaining life is learnt up to this many cycles (early in life wear does not show).") var cap = 125.0
    @Option(help: "Nearest training cycles an estimate averages.") var neighbours = 20
    @Option(help: "Folds of machines for cross-validation.") var folds = 5
    @Option(help: "Random cut points per machine in each fold.") var cuts = 5
    @Option(help: "Seed of the cut points (the same seed repeats the figures).") var seed: UInt64 = 1
    @Flag(inversion: .prefixedNo, help: "Learn from the cycles each machine has run since new (histories that start at a repair).")
    var age = true
    @Option(help: "Write the model trained on every history here (JSON).") var model: String?
    @Flag(help: "Print one JSON object.") var json = false

    func run() async throws {
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { throw ValidationError("\(file): cannot be read") }
        let histories: [[[Double]]]
        do { histories = try RunToFailureFile.histories(text) } catch { throw ValidationError("\(file): \(error)") }
        guard folds >= 2, histories.count >= folds else {
            throw ValidationError("cross-validation needs at least 2 folds and a machine per fold (\(histories.count) machines, \(folds) folds)")
        }
        let started = ContinuousClock.now
        let train = { (histories: [[[Double]]]) throws -> FleetRULModel in
            try FleetRULModel(histories: histories, features: RULFeatures(age: age), cap: cap, neighbours: neighbours)
        }
        let evaluation = try RULEvaluation.crossValidate(histories, folds: folds, cutsPerMachine: cuts, seed: seed, train: train)
        let seconds = (ContinuousClock.now - started).inSeconds
        let trained = try train(histories)
        if let model { try JSONEncoder().encode(trained).write(to: URL(fileURLWithPath: model)) }
        let estimate = Self.estimateCost(trained, histories)
        let r = { (value: Double) in DetectScore.rounded(value, places: 2) }
        if json {
            print(#"{"machines":\#(histories.count),"estimates":\#(evaluation.estimates),"rmse":\#(r(evaluation.rmse)),"rmse_uncapped":\#(r(evaluation.rmseUncapped)),"nasa_score_per_estimate":\#(r(evaluation.nasaScorePerEstimate)),"interval_coverage":\#(r(evaluation.intervalCoverage)),"seconds":\#(r(seconds)),"estimate_microseconds":\#(r(estimate))}"#)
        } else {
            print("""
                \(histories.count) machines, \(folds)-fold cross-validation, \(evaluation.estimates) estimates at random cuts
                RMSE \(r(evaluation.rmse)) cycles (truth capped at \(Int(cap))), \(r(evaluation.rmseUncapped)) uncapped
                NASA score \(r(evaluation.nasaScorePerEstimate)) per estimate; the 10–90 % interval held the truth in \(Int((evaluation.intervalCoverage * 100).rounded())) %
                in \(r(seconds)) s\(model.map { "; model written to \($0)" } ?? "")
                one estimate by the model trained on every history takes \(r(estimate)) µs (\(trained.trainingCycles) training cycles)
                """)
        }
    }

    /// The mean time of one estimate (µs) by `model`, at every 10th cycle of the histories (at most 2,000 estimates).
    static func estimateCost(_ model: FleetRULModel, _ histories: [[[Double]]]) -> Double {
        let cuts = histories.flatMap { history in
            Swift.stride(from: model.features.firstCycle, through: history.count, by: 10).map { history[..<$0] }
        }.prefix(2_000)
        var sink = 0.0
        let started = ContinuousClock.now
        for cut in cuts { sink += model.estimate(recent: cut.suffix(model.features.window), cycle: cut.count).cycles }
        let elapsed = (ContinuousClock.now - started).inSeconds
        precondition(sink.isFinite, "estimates are finite")
        return cuts.isEmpty ? 0 : elapsed * 1e6 / Double(cuts.count)
    }
}
