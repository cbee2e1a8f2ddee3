import Foundation
import GembaAnalytics
import GembaCore
import Testing

/// The pure pieces under the OEE engine: reasons laid over states, signal rules, settings
/// documents, local dates, and the pieces a day is cut into.
@Suite struct EngineCoreTests {
    static let minute: Int64 = 60_000
    static let machine = try! AssetPath("p/l/m")

    @Test func givenReasonsReplaceStoppedTimeOnly() {
        let states = StateIntervalBuilder().intervals(from: [
            (0, "producing/running"), (10 * Self.minute, "idle/unspecified"), (40 * Self.minute, "producing/running"),
            (50 * Self.minute, "unplanned_stop/jam"),
        ], until: 60 * Self.minute)
        let assignments = [
            StopAssignment(machine: Self.machine, start: 10 * Self.minute, end: 25 * Self.minute, reason: "unplanned_stop/material_shortage",
                           assignedBy: "op", assignedAt: 0),
            StopAssignment(machine: Self.machine, start: 25 * Self.minute, end: nil, reason: "planned_stop/cleaning", assignedBy: "op", assignedAt: 0),
        ]
        let result = StopOverlay.apply(assignments, to: states, catalogue: .standard)
        #expect(result.map(\.reason) == ["producing/running", "unplanned_stop/material_shortage", "planned_stop/cleaning",
                                         "producing/running", "unplanned_stop/jam"])
        // The open assignment ends where the machine produced again: the later jam keeps its own reason.
        #expect(result[2].end == 40 * Self.minute && result[4].start == 50 * Self.minute)
    }

    @Test func aStateLastsUntilTheNoDataTimeoutThenIsUnknown() {
        let builder = StateIntervalBuilder(noDataTimeout: 5 * Self.minute)
        let intervals = builder.intervals(from: [(10 * Self.minute, "producing/running"), (30 * Self.minute, "producing/running")],
                                          since: 0, until: 40 * Self.minute)
        #expect(intervals.map(\.category) == [.unknown, .producing, .unknown, .producing, .unknown])
        #expect(intervals.map(\.start) == [0, 10 * Self.minute, 15 * Self.minute, 30 * Self.minute, 35 * Self.minute])
        #expect(intervals.last?.end == 40 * Self.minute)
    }

    @Test func statesFromASpeedRule() {
        let rule = StateRule(speedTag: "speed", speedAbove: 100, counterMustMove: true)
        let states = rule.states(speed: [(0, 500), (60, 500), (120, 500), (180, 20), (240, nil)],
                                 counter: [(0, 10), (60, 12), (120, 12), (180, 12)])
        #expect(states.map(\.reason) == ["producing/running", "producing/running", "idle/unspecified", "idle/unspecified", nil])
    }

    @Test func settingsDocumentsMayLeaveFieldsOut() throws {
        let settings = try JSONDecoder().decode(MachineProductionSettings.self, from: Data(#"{"idealCycleTime": 1500, "stateCodes": {"3": "unplanned_stop/jam"}}"#.utf8))
        #expect(settings.stateTag == "state" && settings.goodCounter == "good_count" && settings.noDataTimeout == 300_000)
        #expect(settings.reason(forStateValue: "3") == "unplanned_stop/jam")
        #expect(settings.reason(forStateValue: "breakdown") == "unplanned_stop/equipment_failure")
        let order = ProductionOrder(id: "PO-1", machine: Self.machine, product: "bracket", targetQuantity: 100, start: 0)
        var withProduct = settings
        withProduct.productIdealCycleTimes = ["bracket": 1200]
        #expect(withProduct.idealCycleTime(for: order) == 1200)
        var override = order
        override.idealCycleTime = 1000
        #expect(withProduct.idealCycleTime(for: override) == 1000 && withProduct.idealCycleTime(for: nil) == 1500)
        #expect(throws: ModelError.self) { var bad = settings; bad.idealCycleTime = 0; try bad.validate() }
    }

    @Test func isoWeeksAndMonthsOfLocalDates() {
        #expect(LocalDate("2026-11-22")?.weekday == 7)
        #expect(LocalDate("2026-11-22")?.isoWeek == "2026-W47")
        #expect(LocalDate("2027-01-01")?.isoWeek == "2026-W53")  // a Friday: still the last week of 2026
        #expect(LocalDate("2024-12-30")?.isoWeek == "2025-W01")
        #expect(LocalDate("2026-02-28")?.month == "2026-02")
        #expect(LocalDate("2026-13-01") == nil && LocalDate("yesterday") == nil)
    }

    @Test func aDayIsCutAtShiftsAndHoursAndTheCutsAddUp() throws {
        let calendar = try ShiftCalendar(timeZone: "Europe/Berlin", patterns: [
            .init(name: "Early", weekdays: Set(1...7), start: 6 * 60, end: 14 * 60 + 30, breaks: [600...630]),
            .init(name: "Night", weekdays: Set(1...7), start: 22 * 60, end: 6 * 60),
        ])
        // 2026-10-25: the clocks go back, the day has 25 hours.
        let start: Int64 = 1_792_879_200_000  // 2026-10-24 22:00 UTC = 00:00 local
        let days = calendar.days(overlapping: start..<(start + 1))
        #expect(days.map(\.date) == ["2026-10-25"] && days[0].range.upperBound - days[0].range.lowerBound == 25 * 3_600_000)
        let pieces = calendar.pieces(of: days[0])
        #expect(pieces.first?.range.lowerBound == days[0].range.lowerBound && pieces.last?.range.upperBound == days[0].range.upperBound)
        #expect(zip(pieces, pieces.dropFirst()).allSatisfy { $0.range.upperBound == $1.range.lowerBound })
        #expect(pieces.allSatisfy { $0.range.upperBound - $0.range.lowerBound <= 3_600_000 })
        #expect(pieces.first?.shift == "2026-10-24 Night")  // the night shift that began the evening before
        #expect(pieces.contains { $0.shift == "2026-10-25 Early" && $0.range.upperBound - $0.range.lowerBound == 30 * Self.minute })  // 14:00–14:30
        #expect(pieces.contains { $0.shift == "" })  // 14:30–22:00: no shift
    }
}
