import Testing
@testable import GembaDetect

@Suite struct AnomalyEventsTests {
    @Test func aBurstIsOneEventWithItsPeakAndQuietTimeClosesIt() {
        var events = AnomalyEvents(threshold: 0.5, suppression: 1_000)
        #expect(events.take(0.2, at: 0) == nil)
        #expect(events.take(0.6, at: 100) == .opened(.init(start: 100, last: 100, peak: 0.6, peakTime: 100)))
        #expect(events.take(0.9, at: 600) == nil)
        #expect(events.take(0.0, at: 1_000) == nil)
        #expect(events.take(0.7, at: 1_500) == nil, "within the suppression of the last score over the threshold")
        #expect(events.open == .init(start: 100, last: 1_500, peak: 0.9, peakTime: 600))
        #expect(events.take(0.1, at: 2_501) == .closed(.init(start: 100, last: 1_500, peak: 0.9, peakTime: 600)))
        #expect(events.open == nil)
        #expect(events.take(0.5, at: 2_600) == .opened(.init(start: 2_600, last: 2_600, peak: 0.5, peakTime: 2_600)))
        #expect(events.take(0.8, at: 9_000) == .closedAndOpened(.init(start: 2_600, last: 2_600, peak: 0.5, peakTime: 2_600),
                                                               .init(start: 9_000, last: 9_000, peak: 0.8, peakTime: 9_000)))
    }
}
