import GembaCore
@testable import GembaDetect
import Testing

/// The multivariate detector on signals whose correlations are known.
@Suite struct PCADetectorTests {
    /// Speed drives power and temperature; vibration is noise around a level.
    static func reading(_ random: inout SplitMix64, speed: Double? = nil) -> [Double] {
        let speed = speed ?? Double.random(in: 800...1_200, using: &random)
        func noise(_ size: Double) -> Double { Double.random(in: -size...size, using: &random) }
        return [speed, 0.02 * speed + noise(0.5), 40 + 0.01 * speed + noise(0.3), 2 + noise(0.2)]
    }

    @Test func theEigenDecompositionOfAKnownMatrix() {
        let (values, vectors) = SymmetricEigen.decompose([2, 1, 1, 2], size: 2)
        #expect(abs(values[0] - 3) < 1e-12 && abs(values[1] - 1) < 1e-12)
        #expect(abs(abs(vectors[0][0]) - 0.5.squareRoot()) < 1e-12 && abs(vectors[0][0] - vectors[0][1]) < 1e-12)
    }

    @Test func normalReadingsStayWithinTheLimitsAndABrokenCorrelationIsExplained() throws {
        var random = SplitMix64(seed: 4)
        let training = (0..<2_000).map { _ in Self.reading(&random) }
        let detector = try PCADetector(training: training)
        #expect(detector.components >= 1 && detector.components < 4)
        let normal = (0..<1_000).compactMap { _ in detector.score(Self.reading(&random)) }
        #expect(normal.filter { $0.ratio > 1 }.count < 30)
        // Power drops while speed stays: the correlation breaks, and power carries the blame.
        var faulty = Self.reading(&random, speed: 1_000)
        faulty[1] = 5
        let reading = try #require(detector.score(faulty))
        #expect(reading.ratio > 5 && reading.score > 0.8)
        #expect(reading.contributions.firstIndex(of: reading.contributions.max()!) == 1, "\(reading.contributions)")
        #expect(abs(reading.contributions.reduce(0, +) - 1) < 1e-9)
    }

    /// Vibration follows speed too (as a machine's does) and then rises alone (a failing bearing):
    /// the explanation puts it first, with most of the blame, though the components tie it to the others.
    @Test func aSignalThatRisesAloneCarriesTheBlame() throws {
        var random = SplitMix64(seed: 9)
        func reading(speed: Double? = nil) -> [Double] {
            let speed = speed ?? Double.random(in: 800...1_200, using: &random)
            func noise(_ size: Double) -> Double { Double.random(in: -size...size, using: &random) }
            return [speed, 0.02 * speed + noise(0.3), 40 + 0.01 * speed + noise(0.3), 1 + 0.001 * speed + noise(0.05)]
        }
        let detector = try PCADetector(training: (0..<2_000).map { _ in reading() })
        var faulty = reading(speed: 1_000)
        faulty[3] += 0.4
        let explained = try #require(detector.score(faulty))
        #expect(explained.ratio > 1 && explained.contributions[3] > 0.6, "\(explained.contributions)")
    }

    @Test func tooLittleTrainingAndBadReadingsGetClearAnswers() {
        #expect(throws: PCADetector.TrainingError.self) { try PCADetector(training: [[1, 2], [2, 3]]) }
        #expect(throws: PCADetector.TrainingError.self) { try PCADetector(training: Array(repeating: [1], count: 100)) }
        var random = SplitMix64(seed: 1)
        let detector = try? PCADetector(training: (0..<200).map { _ in Self.reading(&random) })
        #expect(detector?.score([1, 2, 3]) == nil && detector?.score([1, 2, .nan, 4]) == nil)
    }
}
