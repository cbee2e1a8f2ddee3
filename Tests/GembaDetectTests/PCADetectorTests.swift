import Foundation
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

    /// The demo's model of a machine (vibration, spindle temperature, power, speed; three components
    /// of four, so one dimension is left to Q) and its bearing drifting 1.5 mm/s: Q's reconstruction-based
    /// shares alone would be equal (one residual direction), the combined index's put vibration first.
    @Test func withOneResidualDimensionTheDriftingSignalStillCarriesTheBlame() throws {
        let model = #"{"loadings": [[0.6718534995518796, 0.348483635897381, 0.6535382102020902, 0.007735532139599479], [0.01687030109756302, -0.12558995066721, 0.03789234919388587, 0.9912147734496564], [-0.18303439063225854, 0.9247363660494438, -0.3064920656632731, 0.1319987834679033]], "mean": [2.108425464431355, 59.43416402356149, 12.377707294970541, 1199.9631173538742], "t2Limit": 14.425569335395345, "deviation": [0.20177146067546128, 7.650231108112713, 0.36068334391131157, 5.932244271774576], "eigenvalues": [1.577754527917538, 1.0013457254961922, 0.9224122672733375], "qLimit": 3.3888585227621135, "signals": 4, "components": 3}"#
        let detector = try JSONDecoder().decode(PCADetector.self, from: Data(model.utf8))
        let reading = try #require(detector.score([3.6, 59.4, 12.38, 1200]))
        #expect(reading.ratio > 5)
        #expect(reading.contributions[0] > 0.55 && reading.contributions[0] == reading.contributions.max(), "\(reading.contributions)")
    }

    @Test func tooLittleTrainingAndBadReadingsGetClearAnswers() {
        #expect(throws: PCADetector.TrainingError.self) { try PCADetector(training: [[1, 2], [2, 3]]) }
        #expect(throws: PCADetector.TrainingError.self) { try PCADetector(training: Array(repeating: [1], count: 100)) }
        var random = SplitMix64(seed: 1)
        let detector = try? PCADetector(training: (0..<200).map { _ in Self.reading(&random) })
        #expect(detector?.score([1, 2, 3]) == nil && detector?.score([1, 2, .nan, 4]) == nil)
    }
}
