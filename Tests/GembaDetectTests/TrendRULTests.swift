import GembaCore
@testable import GembaDetect
import Testing

/// Remaining life from one machine's health indicator.
@Suite struct TrendRULTests {
    @Test func aSteadyRiseReachesTheThresholdWhenItsLineSays() throws {
        // Vibration 2.0 rising 0.01 an hour, failing at 4.0: 100 hours after the last reading (hour 100).
        let times = (0...100).map(Double.init)
        let estimate = try #require(TrendRUL.estimate(times: times, values: times.map { 2 + 0.01 * $0 }, threshold: 4))
        #expect(abs(estimate.remaining - 100) < 1e-6 && abs(estimate.low - 100) < 1e-6 && abs((estimate.high ?? 0) - 100) < 1e-6)
        // Falling towards a lower threshold (a pressure that leaks away): the same, the other way.
        let falling = try #require(TrendRUL.estimate(times: times, values: times.map { 10 - 0.05 * $0 }, threshold: 2, failsAbove: false))
        #expect(abs(falling.remaining - 60) < 1e-6)
        // Already beyond the threshold: nothing remains.
        #expect(TrendRUL.estimate(times: times, values: times.map { 2 + 0.01 * $0 }, threshold: 2.5)?.remaining == 0)
    }

    @Test func noiseWidensTheIntervalAroundTheTruth() throws {
        var random = SplitMix64(seed: 2)
        let times = (0...200).map(Double.init)
        let values = times.map { 2 + 0.01 * $0 + Double.random(in: -0.2...0.2, using: &random) }
        let estimate = try #require(TrendRUL.estimate(times: times, values: values, threshold: 5))
        // The line reaches 5 at hour 300: 100 hours after the last reading.
        #expect(estimate.low < 100 && 100 < (estimate.high ?? .infinity), "\(estimate)")
        #expect(estimate.low < estimate.remaining && estimate.remaining < (estimate.high ?? .infinity))
    }

    @Test func aSteadyOrImprovingIndicatorGivesNoEstimate() {
        let times = (0...50).map(Double.init)
        #expect(TrendRUL.estimate(times: times, values: times.map { _ in 3 }, threshold: 4) == nil)
        #expect(TrendRUL.estimate(times: times, values: times.map { 3 - 0.01 * $0 }, threshold: 4) == nil)
        #expect(TrendRUL.estimate(times: [0, 1], values: [1, 2], threshold: 4) == nil)
        #expect(abs(TrendRUL.normalQuantile(0.95) - 1.6448536) < 1e-6 && abs(TrendRUL.normalQuantile(0.01) + 2.3263479) < 1e-6)
    }
}
