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

@Suite struct TrendWindowTests {
    @Test func bucketsMeansAndARisingCourseGiveTheTimeToTheThreshold() {
        var window = TrendWindow(step: 60_000, capacity: 20)
        var closed = 0
        // One reading a second, rising 0.1 an hour... per minute: 0.1 per minute from 2.0.
        for second in 0..<(10 * 60) {
            let value = 2.0 + 0.1 * Double(second) / 60
            if window.add(value, at: Int64(second) * 1000) { closed += 1 }
        }
        #expect(closed == 9 && window.means.count == 9)
        #expect(abs(window.means[0] - (2.0 + 0.1 * 29.5 / 60)) < 1e-9)
        let estimate = window.estimate(threshold: 4.0)
        // At the last bucket's middle (8.5 min) the level is 2.85; 1.15 to go at 6 per hour: 0.19 h.
        #expect(abs((estimate?.remaining ?? 0) - 1.15 / 6) < 0.01)
        #expect(window.estimate(threshold: 1.0)?.remaining == 0)
        // A gap longer than the window starts the course afresh.
        _ = window.add(3, at: 10 * 3_600_000)
        _ = window.add(3, at: 10 * 3_600_000 + 60_000)
        #expect(window.means.count == 1)
    }
}
