import Foundation
@testable import GembaDetect
import Testing

/// The seasonal detector, the conformal calibration the seasonal and knn detectors share, and the
/// ensemble's peak filter.
@Suite struct SeasonalDetectorTests {
    static let fiveMinutes: Int64 = 300_000

    /// A day shape with a plateau from 08:00 to 16:00 (80) and nights at 20, a little noise, sampled
    /// every five minutes.
    static func shift(_ index: Int) -> Double {
        let minuteOfDay = index * 5 % 1_440
        let noise = Double((index &* 7_919) % 13) / 13 - 0.5
        return (480..<960).contains(minuteOfDay) ? 80 + noise : 20 + noise
    }

    /// A value the series takes every day, at the wrong time of day, is what the seasonal detector
    /// is for: 80 at 03:00 scores far above anything before, though the series reaches 80 daily.
    @Test func aUsualValueAtAnUnusualTimeOfDayIsAnAnomaly() {
        var detector = SeasonalDetector()
        var scores: [Double] = []
        let night = 10 * 288 + 36 // day 10, 03:00
        for index in 0..<(11 * 288) {
            let value = (night..<(night + 6)).contains(index) ? 80 + Self.shift(index) - 20 : Self.shift(index)
            scores.append(detector.score(value, at: Int64(index) * Self.fiveMinutes))
        }
        let before = scores[(3 * 288)..<night].max() ?? 0
        let atNight = scores[night..<(night + 6)].max() ?? 0
        #expect(atNight > 0.25 && atNight > 2 * before, "\(atNight) at night, \(before) before")
    }

    /// A series without a daily shape is judged against its recent level instead: a step stands out.
    @Test func withoutADailyShapeTheLevelIsTheBaseline() {
        var detector = SeasonalDetector()
        var scores: [Double] = []
        for index in 0..<3_000 {
            let noise = Double((index &* 7_919) % 101) / 101 - 0.5
            scores.append(detector.score((index >= 2_500 ? 60 : 50) + noise, at: Int64(index) * 60_000))
        }
        let before = scores[1_000..<2_500].max() ?? 0
        #expect((scores[2_500..<2_505].max() ?? 0) > before)
    }

    @Test func theCalibrationsCodesKeepTheOrderOfNonconformities() {
        let values = [0, 1e-9, 0.001, 0.0010008, 0.5, 1, 1.0008, 7, 1e6, 1e9]
        let codes = values.map(ConformalCalibration.code)
        #expect(codes == codes.sorted() && Set(codes).count == codes.count, "\(codes)")
        for value in values.dropFirst() {
            let decoded = ConformalCalibration.value(of: ConformalCalibration.code(value))
            #expect(decoded <= value && value / decoded < 1.001)
        }
    }

    /// Within the recorded range a p-value is the share at least as large (plus one, of n + 1);
    /// beyond the largest it falls with the square of how far beyond.
    @Test func aPValueIsTheShareOfRecentNonconformitiesAtLeastAsLarge() {
        var calibration = ConformalCalibration()
        for value in 1...ConformalCalibration.capacity + 100 { calibration.record(Double(value)) }
        // The first 100 were overwritten: 101…600 are kept.
        #expect(calibration.count == 500)
        #expect(abs(calibration.pValue(of: 350.5) - 251.0 / 501) < 1e-12)
        #expect(calibration.pValue(of: 50) == 1)
        let beyond = calibration.pValue(of: 1_200)
        #expect(abs(beyond - 1.0 / 501 / 4) < 1e-5, "\(beyond)")
        #expect(abs(calibration.surprise(of: 1_200) - (-log10(beyond) / 10)) < 1e-12)
    }

    @Test func thePeakFilterPassesEachRiseOnceAtItsPeak() {
        var filter = PeakFilter()
        let passed = [0.1, 0.3, 0.2, 0.25, 0.1, 0, 0, 0.4, 0.4].map { filter.pass($0) }
        #expect(passed == [0, 0, 0.3, 0, 0.25, 0, 0, 0, 0.4])
    }

    /// A state saved by a release whose knn detector kept other fields decodes as a fresh knn
    /// detector (it learns again) instead of failing every detector's restore.
    @Test func aFamilysStateFromAnotherReleaseDecodesAsAFreshDetector() throws {
        let old = Data(#"{"knn": {"stored": [1, 2], "storedNext": 0, "nonconformities": []}}"#.utf8)
        var decoded = try JSONDecoder().decode(AnyDetector.self, from: old)
        #expect(decoded.kind == .knn)
        #expect(decoded.score(1, at: 0) == 0)
        #expect(try JSONDecoder().decode(AnyDetector.self, from: Data("{}".utf8)).kind == nil)
    }

    /// Saved and restored mid-series, every family scores the rest exactly as without the restart.
    @Test(arguments: DetectorKind.allCases)
    func aRestoredDetectorScoresAsIfNeverStopped(_ kind: DetectorKind) throws {
        let values = DetectorTests.wave()
        var uninterrupted = AnyDetector(kind)
        let expected = values.enumerated().map { uninterrupted.score($1, at: Int64($0) * Self.fiveMinutes) }
        var first = AnyDetector(kind)
        var scores = values[..<700].enumerated().map { first.score($1, at: Int64($0) * Self.fiveMinutes) }
        var restored = try JSONDecoder().decode(AnyDetector.self, from: JSONEncoder().encode(first))
        scores += values[700...].enumerated().map { restored.score($1, at: Int64($0 + 700) * Self.fiveMinutes) }
        #expect(scores == expected)
    }
}
