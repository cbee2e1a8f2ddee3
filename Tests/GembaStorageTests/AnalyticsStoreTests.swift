import Foundation
import GembaCore
import GembaStorage
import Logging
import Testing

/// What the OEE engine keeps in SQLite: summaries sum by group and per tenant, deletions take
/// only what overlaps, assignments and orders are found by range, settings round-trip.
@Suite struct AnalyticsStoreTests {
    static let machine = try! AssetPath("p1/line1/m1")
    static let other = try! AssetPath("p1/line1/m2")
    static let acme = TenantID("acme")!

    static func summary(_ machine: AssetPath, _ level: PeriodSummary.Level, _ start: Int64, _ end: Int64, day: String, shift: String,
                        downtime: Int64, reason: String) -> PeriodSummary {
        var components = KPIComponents()
        components.calendarTime = end - start
        components.scheduledTime = end - start
        components.downtime = downtime
        components.totalCount = 10
        components.timeByReason = [reason: downtime, "producing/running": end - start - downtime]
        components.downtimeByReason = [reason: downtime]
        return PeriodSummary(machine: machine, level: level, start: start, end: end, day: day, shift: shift, components: components)
    }

    @Test func summariesSumByGroupAndStayInTheirTenant() async throws {
        let store = try SQLiteStore(directory: SQLiteStoreTests.temporaryDirectory(), logger: Logger(label: "test"))
        try await store.saveSummaries([
            Self.summary(Self.machine, .piece, 0, 100, day: "d1", shift: "d1 A", downtime: 10, reason: "unplanned_stop/jam"),
            Self.summary(Self.machine, .piece, 100, 200, day: "d1", shift: "d1 B", downtime: 20, reason: "unplanned_stop/jam"),
            Self.summary(Self.machine, .piece, 200, 300, day: "d2", shift: "d2 A", downtime: 5, reason: "idle/unspecified"),
            Self.summary(Self.other, .piece, 0, 100, day: "d1", shift: "d1 A", downtime: 1, reason: "idle/unspecified"),
        ], tenant: .default)
        try await store.saveSummaries([Self.summary(Self.machine, .piece, 0, 100, day: "d1", shift: "d1 A", downtime: 99, reason: "x/y")],
                                      tenant: Self.acme)
        let selection = [SummarySelection(machine: Self.machine, level: .piece, range: 0..<300),
                         SummarySelection(machine: Self.other, level: .piece, range: 0..<300)]
        let total = try await store.sumSummaries(tenant: .default, selection, grouping: .total)
        #expect(total[""]?.downtime == 36 && total[""]?.totalCount == 40 && total[""]?.calendarTime == 400)
        #expect(total[""]?.downtimeByReason == ["unplanned_stop/jam": 30, "idle/unspecified": 6])
        let byDay = try await store.sumSummaries(tenant: .default, selection, grouping: .day)
        #expect(byDay["d1"]?.downtime == 31 && byDay["d2"]?.downtime == 5)
        let byShift = try await store.sumSummaries(tenant: .default, [selection[0]], grouping: .shift)
        #expect(Set(byShift.keys) == ["d1 A", "d1 B", "d2 A"])
        // Only rows lying wholly inside the range are taken.
        let inside = try await store.sumSummaries(tenant: .default, [SummarySelection(machine: Self.machine, level: .piece, range: 50..<300)],
                                                  grouping: .total)
        #expect(inside[""]?.downtime == 25)
        #expect(try await store.summaryStarts(tenant: .default, machines: [Self.machine, Self.other], level: .piece, within: 0..<250) == [Self.machine: [0, 100], Self.other: [0]])
        #expect(try await store.summarizedUntil().count == 3)

        try await store.deleteSummaries(tenant: .default, machine: Self.machine, overlapping: 150..<160)
        #expect(try await store.summaryStarts(tenant: .default, machines: [Self.machine], level: .piece, within: 0..<300) == [Self.machine: [0, 200]])
        let afterDelete = try await store.sumSummaries(tenant: .default, [selection[0]], grouping: .total)
        #expect(afterDelete[""]?.downtimeByReason == ["unplanned_stop/jam": 10, "idle/unspecified": 5])
        #expect(try await store.sumSummaries(tenant: Self.acme, selection, grouping: .total)[""]?.downtime == 99)
    }

    @Test func assignmentsOrdersAndSettings() async throws {
        let store = try SQLiteStore(directory: SQLiteStoreTests.temporaryDirectory(), logger: Logger(label: "test"))
        let open = StopAssignment(machine: Self.machine, start: 500, end: nil, reason: "unplanned_stop/jam", assignedBy: "op", assignedAt: 1)
        let closed = StopAssignment(machine: Self.machine, start: 100, end: 200, reason: "idle/unspecified", faultCode: "E1",
                                    assignedBy: "op", assignedAt: 2)
        try await store.replaceStopAssignments(tenant: .default, machine: Self.machine, startingIn: 0..<1000, with: [open, closed])
        #expect(try await store.stopAssignments(tenant: .default, machine: Self.machine, overlapping: 150..<600) == [closed, open])
        #expect(try await store.stopAssignments(tenant: .default, machine: Self.machine, overlapping: 250..<400).isEmpty)
        #expect(try await store.stopAssignments(tenant: Self.acme, machine: Self.machine, overlapping: 0..<1000).isEmpty)
        try await store.replaceStopAssignments(tenant: .default, machine: Self.machine, startingIn: 400..<1000, with: [])
        #expect(try await store.stopAssignments(tenant: .default, machine: Self.machine, overlapping: 0..<10_000) == [closed])

        let order = ProductionOrder(id: "PO-1", machine: Self.machine, product: "bracket", targetQuantity: 500, start: 1000, end: 2000,
                                    idealCycleTime: 1500)
        try await store.saveOrder(order, tenant: .default)
        try await store.saveOrder(ProductionOrder(id: "PO-2", machine: Self.other, product: "lid", targetQuantity: 5, start: 1500),
                                  tenant: .default)
        #expect(try await store.orders(tenant: .default, machine: Self.machine, overlapping: 1999..<5000) == [order])
        #expect(try await store.orders(tenant: .default, machine: nil, overlapping: 2000..<5000).map(\.id) == ["PO-2"])
        #expect(try await store.order(tenant: Self.acme, id: "PO-1") == nil)

        try await store.setSetting(tenant: .default, kind: "calendar", key: "p1", json: #"{"a":1}"#)
        #expect(try await store.settings(tenant: .default, kind: "calendar") == ["p1": #"{"a":1}"#])
        try await store.setSetting(tenant: .default, kind: "calendar", key: "p1", json: nil)
        #expect(try await store.setting(tenant: .default, kind: "calendar", key: "p1") == nil)
    }
}
