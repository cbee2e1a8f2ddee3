import GembaIngest
import Testing

/// The pure pacing of gathered batches: a target reached within bounds, and a stalled source.
@Suite struct GatherPaceTests {
    typealias Instant = ContinuousClock.Instant
    let start = ContinuousClock.now

    func pace() -> GatherPace {
        GatherPace(shortestDelay: .milliseconds(20), longestDelay: .milliseconds(100), targetSamples: 500)
    }

    func at(_ milliseconds: Int) -> Instant { start + .milliseconds(milliseconds) }

    /// Feeds a steady stream of `perSecond` samples in batches taken every `every` ms (each
    /// commit `commit` ms long), arrivals continuing to the end of each gather.
    func steady(_ pace: inout GatherPace, perSecond: Int, every: Int, batches: Int = 8) {
        for k in 1...batches {
            let now = at(k * every)
            pace.taken(samples: perSecond * every / 1000, at: now, lastArrival: now - .milliseconds(1), waited: true)
        }
    }

    @Test func beforeAnyBatchTheShortestDelayHolds() {
        #expect(pace().due(previousEnd: at(0)) == at(20))
    }

    @Test func aFastStreamIsTakenAtTheShortestDelay() {
        var pace = pace()
        steady(&pace, perSecond: 50_000, every: 25)
        #expect(pace.due(previousEnd: at(200)) == at(220))
    }

    @Test func aThirdOfTheStreamWaitsUntilItBringsTheTarget() throws {
        var pace = pace()
        steady(&pace, perSecond: 6_000, every: 25)
        let rate = try #require(pace.rate)
        #expect(abs(rate - 6_000) < 1)
        // 500 samples at 6,000 a second: 83 ms after the last batch was taken (at 200 ms).
        let due = pace.due(previousEnd: at(205))
        #expect(due > at(280) && due < at(285))
    }

    @Test func aTrickleWaitsNoLongerThanTheLongestDelay() {
        var pace = pace()
        steady(&pace, perSecond: 500, every: 100)
        #expect(pace.due(previousEnd: at(805)) == at(905))
    }

    /// A broker with a small in-flight window: its messages come right after the acknowledgements,
    /// then nothing until the next commit. The pace falls back to the shortest delay.
    @Test func aStalledGatherFallsBackToTheShortestDelay() {
        var pace = pace()
        steady(&pace, perSecond: 6_000, every: 25)
        #expect(pace.due(previousEnd: at(205)) > at(225))
        pace.taken(samples: 200, at: at(290), lastArrival: at(210), waited: true)
        #expect(pace.stalled)
        #expect(pace.due(previousEnd: at(295)) == at(315))
        // Still stalled at the shortest delay: it stays there.
        pace.taken(samples: 200, at: at(315), lastArrival: at(297), waited: true)
        #expect(pace.due(previousEnd: at(320)) == at(340))
        // Arrivals to the end of the gather again: it aims at the window seen, grown by half.
        pace.taken(samples: 200, at: at(340), lastArrival: at(339), waited: true)
        #expect(!pace.stalled && pace.window == 300)
        pace.taken(samples: 300, at: at(380), lastArrival: at(379), waited: true)
        pace.taken(samples: 450, at: at(440), lastArrival: at(439), waited: true)
        #expect(pace.window == nil)  // 675 would pass the target: no window any more
        #expect(pace.due(previousEnd: at(445)) > at(465))
    }

    /// Once a stall has shown the window, a gather that does not stall aims at that window, not at
    /// the target: it does not wait for samples the source cannot send.
    @Test func aGatherAimsAtTheWindowAStallShowed() throws {
        var pace = pace()
        steady(&pace, perSecond: 6_000, every: 25)
        pace.taken(samples: 150, at: at(290), lastArrival: at(210), waited: true)
        #expect(pace.window == 150)
        pace.taken(samples: 150, at: at(315), lastArrival: at(314), waited: true)
        #expect(pace.window == 225)
        let rate = try #require(pace.rate)
        let expected = at(315) + .seconds(225 / rate)
        #expect(pace.due(previousEnd: at(320)) == max(expected, at(340)))
    }

    /// A stream's own gaps of a few milliseconds do not make a short gather stalled.
    @Test func gapsOfAFewMillisecondsAreNotAStall() {
        var pace = pace()
        pace.taken(samples: 100, at: at(20), lastArrival: at(18), waited: true)
        pace.taken(samples: 100, at: at(25), lastArrival: at(22), waited: true)
        #expect(!pace.stalled)
    }

    /// After a quiet spell the first gathers do not take the spell's average for the stream's rate
    /// (which would make them wait the longest delay until the average caught up).
    @Test func aQuietSpellForgetsTheRate() throws {
        var pace = pace()
        steady(&pace, perSecond: 50_000, every: 25)
        pace.taken(samples: 10, at: at(60_000), lastArrival: at(60_000), waited: false)
        #expect(pace.rate == nil)
        #expect(pace.due(previousEnd: at(60_005)) == at(60_025))
        pace.taken(samples: 1_000, at: at(60_025), lastArrival: at(60_024), waited: true)
        #expect(abs(try #require(pace.rate) - 40_000) < 1)
    }

    @Test func withoutATargetEveryGatherWaitsTheShortestDelay() {
        var pace = GatherPace(shortestDelay: .milliseconds(20), longestDelay: .milliseconds(100), targetSamples: 0)
        steady(&pace, perSecond: 500, every: 100)
        #expect(pace.due(previousEnd: at(805)) == at(825))
    }
}
