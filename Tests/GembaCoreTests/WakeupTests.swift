import GembaCore
import Testing

@Suite struct WakeupTests {
    @Test func aSignalWakesTheWaiterBeforeItsInterval() async {
        let wakeup = Wakeup()
        let started = ContinuousClock.now
        async let waited: Void = wakeup.wait(upTo: .seconds(60))
        try? await Task.sleep(for: .milliseconds(20))
        wakeup.signal()
        await waited
        #expect(ContinuousClock.now - started < .seconds(30))
    }

    @Test func aSignalWithNobodyWaitingIsKeptForTheNextWait() async {
        let wakeup = Wakeup()
        wakeup.signal()
        let started = ContinuousClock.now
        await wakeup.wait(upTo: .seconds(60))
        #expect(ContinuousClock.now - started < .seconds(30))
    }

    @Test func theIntervalEndsAnUnsignalledWait() async {
        let wakeup = Wakeup()
        for _ in 0..<3 { await wakeup.wait(upTo: .milliseconds(5)) }
        // A signal after those timeouts is still kept for the next wait (the timers took none).
        wakeup.signal()
        let started = ContinuousClock.now
        await wakeup.wait(upTo: .seconds(60))
        #expect(ContinuousClock.now - started < .seconds(30))
    }

    @Test func cancellationEndsTheWait() async {
        let wakeup = Wakeup()
        let task = Task { await wakeup.wait(upTo: .seconds(60)) }
        task.cancel()
        await task.value
    }
}
