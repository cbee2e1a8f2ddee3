@testable import MQTTBroker
import Testing

/// The loop's wait after an iteration: only under many sources sending now and then, as long as a
/// batch needs at the measured rate, never for a busy client.
@Suite struct ReadCoalescerTests {
    static let millisecond: UInt64 = 1_000_000

    /// Runs `iterations` loop iterations 1 ms apart from `start`; iteration `i` reads from the
    /// connections `readers(i)` (each publishing); returns the last iteration's wait and the time after it.
    static func run(_ coalescer: inout ReadCoalescer, from start: UInt64 = 1, iterations: Int,
                    readers: (Int) -> [Int]) -> (wait: UInt64, end: UInt64) {
        var now = start
        var wait: UInt64 = 0
        for i in 0..<iterations {
            for reader in readers(i) {
                coalescer.published(by: ConnectionID(reader))
                coalescer.read(from: ConnectionID(reader))
            }
            wait = coalescer.iterationEnded(at: now)
            now += millisecond
        }
        return (wait, now)
    }

    @Test func aFleetSendingNowAndThenWaitsForABatchAtMostTheLongestWait() {
        // One read per ms from ever new devices: 1,000 reads/s, 16 take 16 ms, so the longest wait.
        var slow = ReadCoalescer(longestWait: 4 * Self.millisecond)
        #expect(Self.run(&slow, iterations: 150) { [1000 + $0] }.wait == 4 * Self.millisecond)
        // Ten devices per ms: 10,000 reads/s, 16 arrive in 1.6 ms.
        var fast = ReadCoalescer(longestWait: 4 * Self.millisecond)
        let wait = Self.run(&fast, iterations: 150) { i in (0..<10).map { 1000 + i * 10 + $0 } }.wait
        #expect(wait > 1_500_000 && wait < 1_700_000)
    }

    @Test func noWaitBeforeTheFirstWindowIsMeasured() {
        var coalescer = ReadCoalescer(longestWait: 4 * Self.millisecond)
        #expect(Self.run(&coalescer, iterations: 50) { [1000 + $0] }.wait == 0)
    }

    @Test func noWaitWhenOff() {
        var coalescer = ReadCoalescer(longestWait: 0)
        #expect(Self.run(&coalescer, iterations: 150) { [1000 + $0] }.wait == 0)
    }

    @Test func fewSourcesNeverWait() {
        // Three clients sending in turns (two publishers, one subscriber acknowledging): no fleet.
        var coalescer = ReadCoalescer(longestWait: 4 * Self.millisecond)
        #expect(Self.run(&coalescer, iterations: 300) { [$0 % 3] }.wait == 0)
    }

    @Test func aBusyPublisherAmongTheFleetIsNotMadeToWait() {
        // Every iteration: one fleet device and a client that publishes in every other iteration.
        var coalescer = ReadCoalescer(longestWait: 4 * Self.millisecond)
        let fleetOnly = Self.run(&coalescer, iterations: 150) { [1000 + $0] }
        #expect(fleetOnly.wait > 0)
        let withBusy = Self.run(&coalescer, from: fleetOnly.end, iterations: 10) { i in
            i % 2 == 0 ? [2000 + i, 7] : [2000 + i]
        }
        // The last iteration (odd) had no busy publisher of its own…
        #expect(withBusy.wait > 0)
        // …but one that published two iterations ago and now again makes the loop poll at once.
        let again = Self.run(&coalescer, from: withBusy.end, iterations: 1) { _ in [7] }
        #expect(again.wait == 0)
    }

    @Test func aFullIterationDoesNotWait() {
        var coalescer = ReadCoalescer(longestWait: 4 * Self.millisecond)
        let warm = Self.run(&coalescer, iterations: 150) { [1000 + $0] }
        let full = Self.run(&coalescer, from: warm.end, iterations: 1) { _ in Array(5000..<(5000 + ReadCoalescer.batch)) }
        #expect(full.wait == 0)
    }

    @Test func aRateTooLowForTwoReadsWithinTheLongestWaitDoesNotWait() {
        // One read every 4 ms from new devices (250 reads/s): a 4 ms wait would gather one.
        var coalescer = ReadCoalescer(longestWait: 4 * Self.millisecond)
        #expect(Self.run(&coalescer, iterations: 600) { $0 % 4 == 0 ? [1000 + $0] : [] }.wait == 0)
        // With 10 ms allowed, two and a half arrive: it waits.
        var longer = ReadCoalescer(longestWait: 10 * Self.millisecond)
        #expect(Self.run(&longer, iterations: 600) { $0 % 4 == 0 ? [1000 + $0] : [] }.wait == 10 * Self.millisecond)
    }
}
