import Foundation
import GembaAnalytics
import GembaCore
import Testing

/// Shift calendars in a site's time zone, and units from cumulative counters.
@Suite struct CalendarAndCounterTests {
    static let hour: Int64 = 3_600_000

    static func instant(_ text: String) -> Int64 {
        Int64(ISO8601DateFormatter().date(from: text)!.timeIntervalSince1970 * 1000)
    }

    static let threeShifts = try! ShiftCalendar(timeZone: "Europe/Berlin", patterns: [
        .init(name: "early", weekdays: [1, 2, 3, 4, 5], start: 6 * 60, end: 14 * 60, breaks: [10 * 60...10 * 60 + 30]),
        .init(name: "late", weekdays: [1, 2, 3, 4, 5], start: 14 * 60, end: 22 * 60),
        .init(name: "night", weekdays: [1, 2, 3, 4, 5, 6, 7], start: 22 * 60, end: 6 * 60, breaks: [2 * 60...2 * 60 + 30]),
    ], exceptions: [.noProduction(date: "2026-12-25"), .extraShift(date: "2026-12-26", shift: .init(name: "extra", weekdays: [],
                                                                                               start: 8 * 60, end: 12 * 60))])

    @Test func shiftsAndBreaksInTheSitesTimeZone() {
        // Monday 2026-11-23 in Berlin (UTC+1).
        let shifts = Self.threeShifts.shifts(overlapping: Self.instant("2026-11-23T00:00:00Z")..<Self.instant("2026-11-24T00:00:00Z"))
        #expect(shifts.map(\.name) == ["night", "early", "late", "night"])
        let early = shifts[1]
        #expect(early.interval == Self.instant("2026-11-23T05:00:00Z")..<Self.instant("2026-11-23T13:00:00Z"))
        #expect(early.breaks == [Self.instant("2026-11-23T09:00:00Z")..<Self.instant("2026-11-23T09:30:00Z")])
        let night = shifts[3]
        #expect(night.date == "2026-11-23")
        #expect(night.breaks == [Self.instant("2026-11-24T01:00:00Z")..<Self.instant("2026-11-24T01:30:00Z")])
    }

    @Test func nightShiftsAcrossDaylightSavingChangesLast7Or9Hours() {
        let spring = Self.threeShifts.shifts(overlapping: Self.instant("2026-03-28T22:00:00Z")..<Self.instant("2026-03-29T04:00:00Z"))
        let springNight = spring.first { $0.date == "2026-03-28" && $0.name == "night" }!
        #expect(springNight.interval.upperBound - springNight.interval.lowerBound == 7 * Self.hour)
        let autumn = Self.threeShifts.shifts(overlapping: Self.instant("2026-10-24T22:00:00Z")..<Self.instant("2026-10-25T04:00:00Z"))
        let autumnNight = autumn.first { $0.date == "2026-10-24" && $0.name == "night" }!
        #expect(autumnNight.interval.upperBound - autumnNight.interval.lowerBound == 9 * Self.hour)
    }

    @Test func holidaysAndExtraShifts() {
        let christmas = Self.threeShifts.shifts(overlapping: Self.instant("2026-12-25T06:00:00Z")..<Self.instant("2026-12-26T20:00:00Z"))
        #expect(!christmas.contains { $0.date == "2026-12-25" })
        #expect(christmas.contains { $0.date == "2026-12-26" && $0.name == "extra" })
        #expect(throws: CalendarError.self) { try ShiftCalendar(timeZone: "Mars/Olympus", patterns: []) }
    }

    @Test func countersWithResetsAndWraparound() {
        let readings: [(time: Int64, value: Int64)] = [(0, 100), (1, 130), (2, 130), (3, 5), (4, 65_530), (5, 4)]
        #expect(CounterDeltas.deltas(readings, wrapAt: 65_536).map(\.units) == [30, 0, 5, 65_525, 10])
        #expect(CounterDeltas.deltas(readings).map(\.units) == [30, 0, 5, 65_525, 4])
        #expect(CounterDeltas.deltas([(0, 7)]).isEmpty, "the first reading of a window is only the baseline")
        // A device's counter at Int64's bounds (found by schemathesis-style fuzzing) gives held values, never a trap.
        #expect(CounterDeltas.deltas([(0, .min), (1, .max)]).map(\.units) == [.max])
        #expect(CounterDeltas.deltas([(0, .max - 1), (1, 3)], wrapAt: .max).map(\.units) == [4])
        var components = KPIComponents()
        components.totalCount = .max
        components += components
        #expect(components.totalCount == .max)
    }
}

extension CalendarAndCounterTests {
    /// The reference shift, from a calendar and from counters as a PLC reports them.
    @Test func theReferenceShiftFromACalendarAndCounters() {
        let day = Self.instant("2026-11-23T00:00:00Z")..<Self.instant("2026-11-24T00:00:00Z")
        let early = Self.threeShifts.shifts(overlapping: day)[1]
        let start = early.interval.lowerBound, minute: Int64 = 60_000
        let states = StateIntervalBuilder().intervals(from: [
            (start, "producing/running"), (start + 120 * minute, "unplanned_stop/equipment_failure"),
            (start + 180 * minute, "producing/running"),
        ], until: early.interval.upperBound)
        let total = CounterDeltas.deltas([(start, 1_000), (start + 200 * minute, 1_100), (start + 479 * minute, 1_242)])
        let good = CounterDeltas.deltas([(start, 900), (start + 200 * minute, 990), (start + 479 * minute, 1_121)])
        let counts = zip(total, good).map { ProductionCount(time: $0.time, total: $0.units, good: $1.units, idealCycleTime: 90_000) }
        let kpis = KPIs(ProductionTimeline.components(window: early.interval, shifts: [early.interval], breaks: early.breaks,
                                                      states: states, counts: counts))
        #expect(KPITests.percent(kpis.availability) == 86.67)
        #expect(KPITests.percent(kpis.performance) == 93.08)
        #expect(KPITests.percent(kpis.quality) == 91.32)
        #expect(KPITests.percent(kpis.oee) == 73.67)
    }
}
