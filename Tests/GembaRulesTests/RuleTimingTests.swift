import GembaCore
import GembaRules
import Testing

/// Delays, deadbands, N of M, missing data and schedules, driven by samples and by the clock.
@Suite struct RuleTimingTests {
    @Test func anOnDelayRaisesAtItsEndWithoutANewSample() {
        var instance = Harness(rule: "t > 85 for 2m")
        #expect(instance.feed(t: 90, at: 10_000).isEmpty)
        #expect(instance.deadline() == 130_000)
        #expect(instance.tick(at: 129_999).isEmpty)
        let raised = instance.tick(at: 131_000)
        #expect(raised.map(\.kind) == [.activated] && raised[0].time == 130_000)
    }

    @Test func aDipRestartsTheOnDelay() {
        var instance = Harness(rule: "t > 85 for 2m")
        _ = instance.feed(t: 90, at: 0)
        _ = instance.feed(t: 84, at: 60_000)
        _ = instance.feed(t: 90, at: 90_000)
        #expect(instance.tick(at: 150_000).isEmpty)
        #expect(instance.deadline() == 210_000)
    }

    @Test func aDeadbandClearsOnlyBelowItsLimit() {
        var instance = Harness(rule: "t > 85 clear < 80")
        _ = instance.feed(t: 86, at: 0)
        #expect(instance.feed(t: 82, at: 1000).isEmpty)
        #expect(instance.state == .activeUnacknowledged)
        #expect(instance.feed(t: 79, at: 2000).map(\.kind) == [.cleared])
    }

    @Test func anOffDelayClearsOnlyAfterTheClearHeld() {
        var instance = Harness(rule: "t > 85 clear after 30s")
        _ = instance.feed(t: 86, at: 0)
        _ = instance.feed(t: 70, at: 10_000)
        #expect(instance.feed(t: 90, at: 20_000).isEmpty)
        _ = instance.feed(t: 70, at: 25_000)
        let cleared = instance.tick(at: 60_000)
        #expect(cleared.map(\.kind) == [.cleared] && cleared[0].time == 55_000)
    }

    @Test func nOfMCountsSamplesNotTicks() {
        var instance = Harness(rule: "t > 85 for 3 of 5 samples")
        for (index, value) in [90.0, 70, 90, 70].enumerated() { #expect(instance.feed(t: value, at: Int64(index) * 1000).isEmpty) }
        #expect(instance.tick(at: 10_000).isEmpty)
        #expect(instance.feed(t: 95, at: 11_000).map(\.kind) == [.activated])
    }

    @Test func noDataRaisesWhenATagFallsSilentAndClearsWhenItSpeaks() {
        var instance = Harness(rule: "no_data(t, 5m)")
        _ = instance.feed(t: 1, at: 0)
        #expect(instance.deadline() == 300_000)
        #expect(instance.tick(at: 300_000).map(\.kind) == [.activated])
        #expect(instance.feed(t: 2, at: 310_000).map(\.kind) == [.cleared])
    }

    @Test func stateCategoriesMatchAndLateSamplesAreIgnored() {
        var instance = Harness(rule: "state in unplanned_stop for 10m") { $0.suppressWhen = [] }
        _ = instance.feed(state: "breakdown", at: 0)
        _ = instance.feed(state: "producing", at: -1000)
        #expect(instance.tick(at: 600_000).map(\.kind) == [.activated])
    }

    @Test func metadataThresholdsAreReadPerMachine() {
        var instance = Harness(rule: "t > meta.max_temp")
        instance.context.metadata = ["max_temp": "70"]
        #expect(instance.feed(t: 75, at: 0).map(\.kind) == [.activated])
    }

    @Test func rateAndDeviationReadTheTrailingWindow() {
        var rising = Harness(rule: "rate(t, 5m) > 2")
        _ = rising.feed(t: 20, at: 0)
        #expect(rising.feed(t: 25, at: 60_000).map(\.kind) == [.activated])  // 5 per minute

        var outlier = Harness(rule: "deviation(t, 1h) > 4")
        for minute in 0..<20 { #expect(outlier.feed(t: 50 + Double(minute % 2), at: Int64(minute) * 60_000).isEmpty) }
        #expect(outlier.feed(t: 60, at: 21 * 60_000).map(\.kind) == [.activated])
    }

    @Test func aScheduleLimitsTheRuleToItsHours() {
        // Weekdays 06:00–14:00 UTC; 2026-12-02 is a Wednesday.
        let wednesday6am: Int64 = 1_796_191_200_000
        var instance = Harness(rule: "t > 85") { $0.schedule = RuleSchedule(weekdays: [1, 2, 3, 4, 5], start: 360, end: 840, timeZone: "UTC") }
        #expect(instance.feed(t: 90, at: wednesday6am - 60_000).isEmpty)
        #expect(instance.deadline() == wednesday6am)
        #expect(instance.tick(at: wednesday6am).map(\.kind) == [.activated])
        #expect(instance.tick(at: wednesday6am + 8 * 3_600_000).map(\.kind) == [.cleared])
    }

    @Test func aBacktestAnswersEveryAlarmWithItsTimes() throws {
        let rule = AlarmRule(id: "hot", name: "hot", text: "", expression: try RuleParser.parse("t > 85 for 1m clear < 80"), severity: .high)
        var samples: [(tag: String, sample: Sample)] = []
        // An hour at 1 Hz: hot from 600 s to 900 s and from 2000 s to 2030 s (too short to raise).
        for second in 0..<3600 {
            let hot = (600..<900).contains(second) || (2000..<2030).contains(second)
            samples.append(("t", Sample(time: Timestamp(millisecondsSinceEpoch: Int64(second) * 1000), value: .double(hot ? 90 : 70))))
        }
        let context = EvaluationContext(signals: MachineSignals(), watchingSince: 0, now: 0)
        let raised = Backtest.run(rule, samples: samples, range: 0..<3_600_000, context: context)
        #expect(raised == [Backtest.Raised(start: 660_000, end: 900_000, severity: .high, value: 90)])
    }

    /// A rule on shift KPIs is given them at each point, as the live engine's refresh gives them,
    /// and its delay runs between points.
    @Test func aBacktestReplaysShiftKPIsAtTheirTimes() throws {
        let rule = AlarmRule(id: "oee", name: "oee", text: "", expression: try RuleParser.parse("shift.oee < 0.6 for 5m"), severity: .medium)
        // Every 30 s for an hour: 0.8, then 0.5 from 20 min to 40 min, then 0.7.
        let points = stride(from: Int64(30_000), to: 3_600_000, by: 30_000).map { time in
            Backtest.KPIPoint(time: time, values: [.oee: (1_200_000..<2_400_000).contains(time) ? 0.5 : time < 1_200_000 ? 0.8 : 0.7])
        }
        let context = EvaluationContext(signals: MachineSignals(), watchingSince: 0, now: 0)
        let raised = Backtest.run(rule, samples: [], kpis: points, range: 0..<3_600_000, context: context)
        #expect(raised.map(\.start) == [1_500_000] && raised.map(\.end) == [2_400_000])
        // Without KPIs the rule reads none and raises nothing.
        #expect(Backtest.run(rule, samples: [], range: 0..<3_600_000, context: context).isEmpty)
    }
}

extension RuleTimingTests {
    @Test func afterARestartSilenceCountsFromTheRestart() {
        var instance = Harness(rule: "no_data(t, 5m)")
        _ = instance.feed(t: 1, at: 0)
        // The server was down from 10 s to 400 s: the tag's silence before the restart is not the device's.
        instance.context.watchingSince = 400_000
        #expect(instance.tick(at: 600_000).isEmpty)
        #expect(instance.deadline() == 700_000)
        #expect(instance.tick(at: 700_000).map(\.kind) == [.activated])
    }
}
