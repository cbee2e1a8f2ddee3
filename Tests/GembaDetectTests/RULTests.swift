import GembaCore
@testable import GembaDetect
import Testing

/// The fleet remaining-life model on machines whose wear is known.
@Suite struct RULTests {
    /// A machine that lives `life` cycles: one signal wears linearly from 0 to 1 (with noise), one
    /// stays constant (left out in training), one is noise alone.
    static func machine(life: Int, random: inout SplitMix64) -> [[Double]] {
        (0..<life).map { cycle in
            let noise = Double.random(in: -0.02...0.02, using: &random)
            return [Double(cycle) / Double(life) + noise, 7, Double.random(in: -1...1, using: &random)]
        }
    }

    @Test func featuresReadOnlyTheCyclesUpToTheOneEstimated() {
        var random = SplitMix64(seed: 3)
        var history = Self.machine(life: 200, random: &random)
        let features = RULFeatures()
        let before = features.features(of: history, through: 120)
        for cycle in 120..<200 { history[cycle][0] = 1_000 }
        #expect(features.features(of: history, through: 120) == before)
        #expect(RULFeatures.slope([1, 3, 5, 7]) == 2 && RULFeatures.slope([4]) == 0)
    }

    @Test func aModelTrainedOnAFleetEstimatesANewMachinesRemainingLife() throws {
        var random = SplitMix64(seed: 7)
        let fleet = (0..<30).map { _ in Self.machine(life: Int.random(in: 150...250, using: &random), random: &random) }
        let model = try FleetRULModel(histories: fleet)
        #expect(model.signals == [0, 2])
        let machine = Self.machine(life: 200, random: &random)
        for remaining in [20, 60, 100] {
            let estimate = model.estimate(history: Array(machine[..<(200 - remaining)]))
            #expect(abs(estimate.cycles - Double(remaining)) < 20, "\(remaining) left, estimated \(estimate.cycles)")
            #expect(estimate.low <= estimate.cycles && estimate.cycles <= estimate.high)
        }
        // Early in life the estimate is the cap: the model knows only that much is left.
        #expect(model.estimate(history: Array(machine[..<10])).cycles > 100)
    }

    @Test func crossValidationRepeatsWithItsSeedAndScoresEstimates() throws {
        var random = SplitMix64(seed: 11)
        let fleet = (0..<20).map { _ in Self.machine(life: Int.random(in: 150...250, using: &random), random: &random) }
        let first = try RULEvaluation.crossValidate(fleet, folds: 4, seed: 5) { try FleetRULModel(histories: $0) }
        let second = try RULEvaluation.crossValidate(fleet, folds: 4, seed: 5) { try FleetRULModel(histories: $0) }
        #expect(first == second && first.estimates == 100 && first.rmse < 20)
        // NASA's score: 10 cycles late costs e − 1, 13 early costs e − 1.
        let late = RULEvaluation([.init(estimate: .init(cycles: 60, low: 50, high: 70), truth: 50)], cap: 125)
        let early = RULEvaluation([.init(estimate: .init(cycles: 37, low: 30, high: 40), truth: 50)], cap: 125)
        #expect(abs(late.nasaScorePerEstimate - (2.718281828459045 - 1)) < 1e-9 && abs(early.nasaScorePerEstimate - late.nasaScorePerEstimate) < 1e-9)
        #expect(late.intervalCoverage == 1 && early.intervalCoverage == 0)
    }

    @Test func badHistoriesGetClearErrors() throws {
        #expect(throws: FleetRULModel.TrainingError.self) { try FleetRULModel(histories: [[[1, 2]]]) }
        #expect(throws: FleetRULModel.TrainingError.self) {
            try FleetRULModel(histories: [Array(repeating: [1, 2], count: 10), Array(repeating: [1], count: 10)])
        }
        #expect(throws: RunToFailureFile.FormatError.self) { try RunToFailureFile.histories("1 1 0.5\n1 2 x\n") }
        #expect(throws: RunToFailureFile.FormatError.self) { try RunToFailureFile.histories("1 1 0.5 0.6\n1 2 0.5\n") }
        #expect(throws: RunToFailureFile.FormatError.self) { try RunToFailureFile.histories("") }
        #expect(try RunToFailureFile.histories("2 2 5\n1 1 3\n2 1 4\n") == [[[3]], [[4], [5]]])
    }
}
