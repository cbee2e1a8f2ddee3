import Foundation
import GembaDetect
import Testing

/// Properties every univariate detector has, whatever its family.
@Suite struct DetectorTests {
    /// A daily wave of 288 samples a day, with a little deterministic noise, for five days.
    static func wave(days: Int = 5) -> [Double] {
        (0..<(288 * days)).map { index in
            let phase: Double = Double(index % 288) / 288 * 2 * Double.pi
            let noise: Double = Double((index &* 7_919) % 13) / 13 - 0.5
            return 50 + 10 * sin(phase) + noise
        }
    }

    static func scores(_ kind: DetectorKind, _ values: [Double]) -> [Double] {
        var detector = kind.make()
        return values.enumerated().map { detector.score($1, at: Int64($0) * 300_000) }
    }

    @Test(arguments: DetectorKind.allCases)
    func aScoreDependsOnlyOnThePast(_ kind: DetectorKind) {
        var values = Self.wave()
        let before = Self.scores(kind, values)
        // Change everything after sample 1,000: the scores up to it stay as they were.
        for index in 1_001..<values.count { values[index] = -values[index] * 3 }
        let after = Self.scores(kind, values)
        #expect(before[...1_000] == after[...1_000])
    }

    @Test(arguments: DetectorKind.allCases)
    func scoresLieInZeroToOneAndAConstantSignalRaisesNothing(_ kind: DetectorKind) {
        let constant = Self.scores(kind, Array(repeating: 42, count: 2_000))
        #expect(constant.allSatisfy { $0 == 0 })
        let wave = Self.scores(kind, Self.wave())
        #expect(wave.allSatisfy { (0...1).contains($0) })
    }

    @Test(arguments: DetectorKind.allCases)
    func aStepScoresHigherThanAnythingBeforeIt(_ kind: DetectorKind) {
        var values = Self.wave()
        for index in 1_200..<values.count { values[index] += 40 }
        let scores = Self.scores(kind, values)
        let before = scores[600..<1_200].max() ?? 0
        let atStep = scores[1_200..<1_212].max() ?? 0
        #expect(atStep > before, "\(kind): \(atStep) at the step, \(before) before")
    }

    @Test(arguments: DetectorKind.allCases)
    func invalidValuesAreSkippedAndStateStaysWithin4KB(_ kind: DetectorKind) {
        var detector = kind.make()
        for (index, value) in Self.wave().enumerated() {
            #expect(detector.score(index % 97 == 0 ? .nan : value, at: Int64(index) * 300_000).isFinite)
        }
        #expect(detector.stateBytes <= 4_096, "\(kind): \(detector.stateBytes) bytes")
    }
}

extension DetectorTests {
    static func scoresAroundAGap(_ kind: DetectorKind, missing: Range<Int>) -> (before: ArraySlice<Double>, after: ArraySlice<Double>) {
        var detector = kind.make()
        var scores: [Double] = []
        for (index, value) in Self.wave().enumerated() where !missing.contains(index) {
            scores.append(detector.score(value, at: Int64(index) * 300_000))
        }
        return (scores[600..<missing.lowerBound], scores[missing.lowerBound..<(missing.lowerBound + 10)])
    }

    /// A day with nothing reported, then the series goes on where it would have been: the context
    /// detector sees no anomaly (its context starts afresh after the gap).
    @Test func aGapInTheSeriesIsNotAnAnomalyForTheContextDetector() {
        let (before, after) = Self.scoresAroundAGap(.context, missing: 1_000..<1_288)
        #expect((after.max() ?? 0) <= max(before.max() ?? 0, 0.05), "\(after) after the gap")
    }

    /// No pattern of the knn detector spans a gap: it builds a new one from the samples after it
    /// (scoring nothing until it has six). Its small memory may still find the new pattern unusual.
    @Test func theKnnDetectorsPatternsDoNotSpanAGap() {
        let (_, after) = Self.scoresAroundAGap(.knn, missing: 1_000..<1_036)
        #expect(after.prefix(5).allSatisfy { $0 == 0 })
    }
}
