import GembaCore
@testable import GembaDetect
import Testing

/// Page-Hinkley on streams whose changes are known.
@Suite struct DriftTests {
    static func noisy(_ count: Int, level: Double, seed: UInt64) -> [Double] {
        var random = SplitMix64(seed: seed)
        return (0..<count).map { _ in level + Double.random(in: -1...1, using: &random) }
    }

    @Test func aShiftUpAndOneDownAreSignalledSoonAfterTheyStart() {
        var detector = PageHinkley(delta: 0.5, threshold: 20)
        let values = Self.noisy(1_000, level: 10, seed: 1) + Self.noisy(500, level: 13, seed: 2) + Self.noisy(500, level: 9, seed: 3)
        let changes = values.enumerated().compactMap { index, value in detector.update(value).map { (index, $0) } }
        #expect(changes.count == 2, "\(changes)")
        #expect(changes.first?.1 == .up && (1_000..<1_030).contains(changes.first?.0 ?? 0))
        #expect(changes.last?.1 == .down && (1_500..<1_530).contains(changes.last?.0 ?? 0))
    }

    @Test func stationaryNoiseAndInvalidValuesSignalNothing() {
        var detector = PageHinkley(delta: 0.5, threshold: 20)
        #expect(Self.noisy(20_000, level: 5, seed: 9).allSatisfy { detector.update($0) == nil })
        #expect(detector.update(.nan) == nil)
    }
}
