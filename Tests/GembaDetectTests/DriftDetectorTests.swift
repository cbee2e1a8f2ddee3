import Foundation
import GembaCore
@testable import GembaDetect
import Testing

/// Drift: lasting changes of a level, or of the residuals against a daily pattern, told once a minute.
@Suite struct DriftDetectorTests {
    static let minute: Int64 = 60_000

    /// Feeds `minutes` of 6 samples a minute from `value(minute)` plus noise; answers the minutes at which changes were told.
    static func changes(_ detector: inout DriftDetector, minutes: Range<Int>, _ value: (Int) -> Double,
                        random: inout SplitMix64) -> [(Int, PageHinkley.Change)] {
        var told: [(Int, PageHinkley.Change)] = []
        for minute in minutes {
            for second in stride(from: 0, to: 60, by: 10) {
                let noise = Double.random(in: -1.5...1.5, using: &random)
                if let change = detector.add(value(minute) + noise, at: Int64(minute) * Self.minute + Int64(second) * 1000) {
                    told.append((minute, change))
                }
            }
        }
        return told
    }

    @Test func aStepInTheLevelIsToldWithinMinutesAndSteadyNoiseNever() {
        var random = SplitMix64(seed: 11)
        var detector = DriftDetector()
        let quiet = Self.changes(&detector, minutes: 0..<4_320, { _ in 50 }, random: &random)
        #expect(quiet.isEmpty, "\(quiet.prefix(3))")
        let step = Self.changes(&detector, minutes: 4_320..<4_400, { _ in 51 }, random: &random)
        #expect(step.first.map { $0.1 == .up && $0.0 < 4_350 } == true, "\(step.prefix(3))")
    }

    @Test func aSlowCreepIsTold() {
        var random = SplitMix64(seed: 12)
        var detector = DriftDetector()
        _ = Self.changes(&detector, minutes: 0..<1_440, { _ in 20 }, random: &random)
        let creep = Self.changes(&detector, minutes: 1_440..<2_000, { 20 - 0.005 * Double($0 - 1_440) }, random: &random)
        #expect(creep.first?.1 == .down, "\(creep.prefix(3))")
    }

    @Test func againstItsDailyPatternOnlyAShiftIsTold() {
        var random = SplitMix64(seed: 13)
        var detector = DriftDetector(residuals: true)
        let daily = { (minute: Int) in 60 + 10 * sin(Double(minute % 1_440) / 1_440 * 2 * .pi) }
        let plain = Self.changes(&detector, minutes: 0..<(4 * 1_440), daily, random: &random)
        #expect(plain.isEmpty, "the daily swing is no drift: \(plain.prefix(3))")
        let shifted = Self.changes(&detector, minutes: (4 * 1_440)..<(4 * 1_440 + 120), { daily($0) + 2 }, random: &random)
        #expect(shifted.first?.1 == .up, "\(shifted.prefix(3))")
        // Against its level instead, the same swing is told again and again.
        var level = DriftDetector()
        #expect(!Self.changes(&level, minutes: 0..<(4 * 1_440), daily, random: &random).isEmpty)
    }
}
