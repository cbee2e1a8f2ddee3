import GembaCore
import GembaRules
import GembaStorage
import Testing

@Suite struct AlarmPerformanceTests {
    private let tenant = TenantID("t")!
    private let hour: Int64 = 3_600_000

    private func line(_ kind: AlarmTransition.Kind, _ time: Int64, rule: String = "hot", machine: String = "s/a/l/m1",
                      severity: Severity = .high, from: AlarmState = .normal) -> AlarmJournalEntry {
        AlarmJournalEntry(tenant: tenant, time: time, rule: rule, machine: machine, kind: kind.rawValue, fromState: from.rawValue,
                          toState: "x", severity: severity.rawValue, value: nil, actor: nil, comment: nil)
    }

    @Test func ratesFloodsAndPeakFollowTenMinutePeriods() {
        // Two hours: period 0 holds 12 activations (a flood), period 3 holds 2, the rest none.
        var journal: [AlarmJournalEntry] = []
        for index in 0..<12 {
            journal.append(line(.activated, Int64(index) * 40_000, machine: "s/a/l/m\(index)", severity: index < 9 ? .low : .critical))
        }
        journal.append(line(.activated, 31 * 60_000, rule: "slow", machine: "s/b/l/m1", severity: .medium))
        journal.append(line(.activated, 32 * 60_000, rule: "slow", machine: "s/b/l/m2", severity: .medium))
        let figures = AlarmPerformance(journal: journal, range: 0..<(2 * hour))
        #expect(figures.activations == 14 && figures.periods == 12)
        #expect(figures.floodPeriods == 1 && abs(figures.floodPercent - 100.0 / 12) < 1e-9)
        #expect(figures.peak10Minutes == 12 && figures.peakStart == 0)
        #expect(abs(figures.averagePer10Minutes - 14.0 / 12) < 1e-9 && abs(figures.averagePerDay - 14.0 / 12 * 144) < 1e-9)
        #expect(figures.bySeverity == [.low: 9, .critical: 3, .medium: 2])
        #expect(figures.areas.map(\.scope) == ["s/a", "s/b"] && figures.areas[0].peak10Minutes == 12 && figures.areas[1].floodPercent == 0)
    }

    @Test func chatteringFleetingStaleAndAcknowledgement() {
        let journal = [
            // m1 chatters: three activations within 60 s, each cleared after 2 s (fleeting).
            line(.activated, 100_000), line(.cleared, 102_000), line(.activated, 120_000), line(.cleared, 122_000),
            line(.activated, 150_000), line(.cleared, 152_000),
            // m2 activates before the range and is still active 30 h later: stale.
            line(.activated, -5 * hour, machine: "s/a/l/m2"),
            // m3: active, acknowledged after 90 s, cleared after 20 min (not fleeting).
            line(.activated, 200_000, machine: "s/a/l/m3"), line(.acknowledged, 290_000, machine: "s/a/l/m3", from: .activeUnacknowledged),
            line(.cleared, 1_400_000, machine: "s/a/l/m3"),
            line(.shelved, 300_000, machine: "s/a/l/m4"), line(.removedFromService, 310_000, machine: "s/a/l/m5"),
        ]
        let figures = AlarmPerformance(journal: journal, range: 0..<(25 * hour))
        #expect(figures.activations == 4, "the activation before the range only marks m2 active")
        #expect(figures.chatteringAlarms == 1 && figures.chatteringActivations == 3)
        #expect(figures.fleetingActivations == 3)
        #expect(figures.staleAlarms == 1)
        #expect(figures.acknowledgements == 1 && figures.medianTimeToAcknowledge == 90_000 && figures.p90TimeToAcknowledge == 90_000)
        #expect(figures.shelveActions == 1 && figures.outOfServiceActions == 1)
        #expect(figures.topContributors.first?.machine == "s/a/l/m1" && figures.topContributors.first?.activations == 3)
        #expect(figures.topContributors.first?.share == 0.75 && figures.topTenShare == 1)
    }

    @Test func anEmptyRangeMeasuresNothing() {
        let figures = AlarmPerformance(journal: [], range: 0..<hour)
        #expect(figures.activations == 0 && figures.periods == 6 && figures.peakStart == nil && figures.topTenShare == 0)
        #expect(figures.medianTimeToAcknowledge == nil)
    }
}
