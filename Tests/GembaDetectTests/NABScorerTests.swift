import Foundation
@testable import GembaDetect
import Testing

/// NAB's scoring, by cases worked out by hand from its definition.
@Suite struct NABScorerTests {
    /// 1,000 rows (probation 150), windows on rows 400–499 and 700–799.
    static let file = NABFile(name: "f", rows: 1_000, windows: [400...499, 700...799])

    static func scores(firingAt rows: [Int]) -> [[Double]] {
        var scores = [Double](repeating: 0, count: 1_000)
        for row in rows { scores[row] = 1 }
        return [scores]
    }

    @Test func thePerfectDetectorScores100AndTheNullOne0() {
        for profile in NABProfile.all {
            let perfect = NABScorer.score([Self.file], scores: Self.scores(firingAt: [400, 700]), profile: profile)
            #expect(abs(perfect.normalized - 100) < 1e-9 && perfect.truePositives == 2 && perfect.falsePositives == 0)
            let null = NABScorer.score([Self.file], scores: Self.scores(firingAt: []), profile: profile)
            #expect(null.normalized == 0 && null.falseNegatives == 2)
        }
    }

    @Test func aLateDetectionIsWorthLessAndOnlyTheFirstInAWindowCounts() {
        // Halfway into the first window: 2·sigmoid(2.5·…) − 1 scaled, about 0.86; the second window missed.
        let result = NABScorer.score([Self.file], scores: Self.scores(firingAt: [450, 460, 470]), profile: .standard)
        let halfway = NABFile.scaledSigmoid(-50.0 / 100) / NABFile.scaledSigmoid(-1)
        #expect(abs(result.raw - (halfway - 1)) < 1e-9)
        #expect(result.truePositives == 1 && result.falsePositives == 0 && result.falseNegatives == 1)
    }

    @Test func falsePositivesCostTheirWeightLessJustAfterAWindowAndNothingInProbation() {
        // Row 300: before any window, −0.11. Row 100: in probation, not scored. Row 500: one row after
        // the first window, almost free. Both windows detected at their start.
        let result = NABScorer.score([Self.file], scores: Self.scores(firingAt: [100, 300, 400, 500, 700]), profile: .standard)
        let justAfter = NABFile.scaledSigmoid(1.0 / 99) * 0.11
        #expect(abs(result.raw - (2 - 0.11 + justAfter)) < 1e-9)
        #expect(result.falsePositives == 2)
    }

    @Test func theThresholdIsTheOneThatMaximisesTheScoreOverTheCorpus() {
        // Window starts score 0.8, a false positive scores 0.9, other rows 0.1: the best threshold
        // takes the windows and the false positive (2 − 0.11 beats −2).
        var scores = [Double](repeating: 0.1, count: 1_000)
        scores[400] = 0.8
        scores[700] = 0.8
        scores[300] = 0.9
        let result = NABScorer.score([Self.file], scores: [scores], profile: .standard)
        #expect(result.threshold == 0.8 && abs(result.raw - 1.89) < 1e-9)
    }

    @Test func windowsAreFoundByTimeAndTheProbationIsAtMost750Rows() throws {
        #expect(NABFile.windows(timestamps: [10, 20, 30, 40, 50], limits: [(start: 20, end: 40), (start: 60, end: 70)]) == [1...3])
        #expect(NABFile(name: "big", rows: 20_000, windows: []).probation == 750)
        #expect(NABCorpus.time("2014-04-10 07:15:00.000000") == 1_397_114_100_000)
        #expect(NABCorpus.time("1970-01-01 00:00:01") == 1_000)
    }
}
