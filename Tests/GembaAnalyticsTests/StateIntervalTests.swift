import GembaAnalytics
import GembaCore
import Testing

/// From a state tag to intervals: reasons, microstops, and missing data as unknown.
@Suite struct StateIntervalTests {
    static let minute: Int64 = 60_000

    @Test func shortStopsBetweenProductionAreMicrostopsLongOnesKeepTheirReason() {
        let builder = StateIntervalBuilder()
        let intervals = builder.intervals(from: [
            (0, "producing/running"), (10 * Self.minute, "unplanned_stop/jam"), (11 * Self.minute, "producing/running"),
            (20 * Self.minute, "unplanned_stop/equipment_failure"), (50 * Self.minute, "producing/running"),
        ], until: 55 * Self.minute)
        #expect(intervals.map(\.category) == [.producing, .microstop, .producing, .unplannedStop, .producing])
        #expect(intervals[1].lossClass == .performance)
        #expect(intervals[3].isFailure && intervals[3].end - intervals[3].start == 30 * Self.minute)
    }

    @Test func missingDataIsUnknownNeverRunning() {
        let intervals = StateIntervalBuilder().intervals(
            from: [(0, "producing/running"), (5 * Self.minute, nil), (60 * Self.minute, "producing/running"),
                   (62 * Self.minute, "bogus/code")],
            until: 70 * Self.minute)
        #expect(intervals.map(\.category) == [.producing, .unknown, .producing, .idle])
        #expect(intervals[1].end == 60 * Self.minute && intervals[1].lossClass == .availability)
    }

    @Test func engineersCanChangeALossClass() {
        var catalogue = ReasonCatalogue.standard
        catalogue.set(ReasonCode(.plannedStop, "cleaning", "Cleaning", lossClass: .excluded))
        let intervals = StateIntervalBuilder(catalogue: catalogue).intervals(
            from: [(0, "planned_stop/cleaning"), (30 * Self.minute, "producing/running")], until: 40 * Self.minute)
        let components = ProductionTimeline.components(window: 0..<40 * Self.minute, shifts: [0..<40 * Self.minute], breaks: [],
                                                       states: intervals, counts: [])
        #expect(components.excludedTime == 30 * Self.minute && components.downtime == 0)
        #expect(ReasonCatalogue.standard["not_scheduled/break"]?.lossClass == .excluded)
        #expect(ReasonCatalogue.standard["planned_stop/changeover"]?.lossClass == .availability)
        #expect(ReasonCatalogue.standard["microstop/short_stop"]?.lossClass == .performance)
    }
}
