import GembaCore
import GembaRules
import Testing

@Suite struct StateDerivationTests {
    static let second: Int64 = 1_000

    /// A door switch reported every minute: true from 00:01 to 00:05.
    static func door(open: ClosedRange<Int>, minutes: Range<Int> = 0..<8) -> [(tag: String, sample: Sample)] {
        minutes.map { minute in
            ("door_open", Sample(time: Timestamp(millisecondsSinceEpoch: Int64(minute) * 60 * second), value: .bool(open.contains(minute))))
        }
    }

    static func text(_ states: [(time: Int64, state: String?)]) -> [String] {
        states.map { "\($0.time / second)s=\($0.state ?? "nil")" }
    }

    @Test func aDurationTakesEffectTheMomentItRunsOutNotAtTheNextSample() throws {
        let derivation = try StateDerivation([("setup", "door_open == true for 90s")], otherwise: "idle")
        #expect(derivation.longestDuration == 90 * Self.second)
        let states = derivation.states(from: Self.door(open: 1...5))
        // Open from 60 s: setup from 150 s (between the samples at 120 and 180 s), idle again when it closes at 360 s.
        #expect(Self.text(states) == ["0s=idle", "60s=idle", "120s=idle", "150s=setup", "180s=setup", "240s=setup", "300s=setup",
                                      "360s=idle", "420s=idle"])
        // Open for less than the duration: never setup.
        #expect(!derivation.states(from: Self.door(open: 1...1)).contains { $0.state == "setup" })
    }

    @Test func priorityHoldsWithDurations() throws {
        // A fault bit wins at once; the door only after a minute.
        let derivation = try StateDerivation([("breakdown", "fault == 1"), ("setup", "door_open == true for 1m")], otherwise: "idle")
        let fault = [3, 4].map { minute in
            (tag: "fault", sample: Sample(time: Timestamp(millisecondsSinceEpoch: Int64(minute) * 60 * Self.second), value: .int(minute == 3 ? 1 : 0)))
        }
        let states = derivation.states(from: Self.door(open: 1...5) + fault)
        #expect(Self.text(states) == ["0s=idle", "60s=idle", "120s=setup", "180s=breakdown", "240s=setup", "300s=setup", "360s=idle", "420s=idle"])
    }

    @Test func aDurationRunningOutAfterTheLastSampleLastsOnlyUntilTheDataIsStale() throws {
        let derivation = try StateDerivation([("setup", "door_open == true for 2m")], otherwise: "idle")
        let once = Self.door(open: 0...0, minutes: 0..<1)
        // Report by exception (never stale): setup from 2 min on.
        #expect(Self.text(derivation.states(from: once)) == ["0s=idle", "120s=setup"])
        // Stale 5 min after a sample: setup from 2 min, no data from 5 min.
        #expect(Self.text(derivation.states(from: once, staleAfter: 300 * Self.second)) == ["0s=idle", "120s=setup", "300s=nil"])
        // Stale before the duration runs out: no setup at all.
        #expect(Self.text(derivation.states(from: once, staleAfter: 60 * Self.second)) == ["0s=idle"])
    }

    @Test func aStateRuleTakesAConditionAndADurationOnly() {
        for (when, words) in [("door_open == true for 2m clear when door_open == false", "no samples or clear"),
                              ("rate(load, 1m) > 5", "as they are now"), ("door_open ==", "line 1, column")] {
            do {
                _ = try StateDerivation([("setup", when)], otherwise: "idle")
                Issue.record("accepted \(when)")
            } catch {
                #expect(error.message.contains("stateRules[1].when") && error.message.contains(words), "\(error.message)")
            }
        }
    }
}
