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

    @Test func withoutAgeTheModelReadsOnlyTheSignalsAndWaitsForAFullWindow() throws {
        var random = SplitMix64(seed: 7)
        let fleet = (0..<30).map { _ in Self.machine(life: Int.random(in: 150...250, using: &random), random: &random) }
        let model = try FleetRULModel(histories: fleet, features: RULFeatures(age: false))
        #expect(model.features.firstCycle == 30)
        let machine = Self.machine(life: 200, random: &random)
        // Watched from cycle 150 on, numbered from 1 there: the cycle count is not read.
        let recent = machine[120..<160]
        let watched = model.estimate(recent: recent.suffix(30), cycle: 30)
        #expect(watched == model.estimate(recent: recent.suffix(30), cycle: 160))
        #expect(abs(watched.cycles - 40) < 20, "40 left, estimated \(watched.cycles)")
        // A window's features read only its rows: the same as from the whole history.
        #expect(model.estimate(history: Array(machine[..<160])) == watched)
    }

    @Test func cyclesAverageEverySignalAndCloseAtTheFirstSignalsNextCycle() {
        var cycles = CycleMeans(signals: 2, length: 1_000)
        #expect(cycles.add(1, at: 100, signal: 0).isEmpty)
        #expect(cycles.add(10, at: 200, signal: 1).isEmpty)
        #expect(cycles.add(3, at: 900, signal: 0).isEmpty)
        // Signal 1 runs ahead into the next cycle: nothing closes until signal 0 does.
        #expect(cycles.add(20, at: 1_100, signal: 1).isEmpty)
        #expect(cycles.add(5, at: 1_200, signal: 0) == [CycleMeans.Row(end: 1_000, values: [2, 10])])
        // Late for a closed cycle: dropped.
        #expect(cycles.add(99, at: 999, signal: 1).isEmpty)
        // Cycle 1 closes with both; cycle 2 has no signal 1: a gap, no row.
        #expect(cycles.add(7, at: 2_500, signal: 0) == [CycleMeans.Row(end: 2_000, values: [5, 20])])
        #expect(cycles.add(9, at: 3_000, signal: 0).isEmpty)
        #expect(cycles.add(.nan, at: 3_100, signal: 1).isEmpty)
        #expect(cycles.add(4, at: 3_200, signal: 1).isEmpty)
        #expect(cycles.finish() == [CycleMeans.Row(end: 4_000, values: [9, 4])])
        // Times before the epoch fall in their own cycles.
        var early = CycleMeans(signals: 1, length: 1_000)
        _ = early.add(1, at: -1, signal: 0)
        #expect(early.add(2, at: 0, signal: 0) == [CycleMeans.Row(end: 0, values: [1])])
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
