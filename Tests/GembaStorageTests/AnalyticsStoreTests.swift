import Foundation
import GembaCore
import GembaStorage
import Logging
import Testing
import GembaTestSupport

/// What the OEE engine keeps, on both backends: summaries sum by group and per tenant, deletions
/// take only what overlaps, assignments and orders are found by range, settings round-trip.
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

    @Test(arguments: Backend.available) func summariesSumByGroupAndStayInTheirTenant(_ backend: Backend) async throws {
        let store = try await backend.makeStore()
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

    @Test(arguments: Backend.available) func assignmentsOrdersAndSettings(_ backend: Backend) async throws {
        let store = try await backend.makeStore()
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

    /// Summaries whose reasons, defects, products and orders come back by name, across saves
    /// that add new names (the small ids stay consistent).
    @Test(arguments: Backend.available) func packedPartsComeBackByName(_ backend: Backend) async throws {
        let store = try await backend.makeStore()
        var first = Self.summary(Self.machine, .piece, 0, 100, day: "d1", shift: "d1 A", downtime: 10, reason: "unplanned_stop/jam")
        first.components.scrapByReason = ["burr": 3]
        first.components.byProduct = ["bracket": ProductComponents(runTime: 90, idealTime: 80, totalCount: 10, goodCount: 7)]
        first.components.byOrder = ["PO-1": OrderComponents(product: "bracket", made: ProductComponents(runTime: 90, idealTime: 80,
                                                                                                          totalCount: 10, goodCount: 7))]
        try await store.saveSummaries([first], tenant: .default)
        var second = Self.summary(Self.machine, .piece, 100, 200, day: "d1", shift: "d1 A", downtime: 4, reason: "setup/changeover")
        second.components.scrapByReason = ["burr": 1, "crack": 2]
        try await store.saveSummaries([second], tenant: .default)
        let sum = try await store.sumSummaries(tenant: .default, [SummarySelection(machine: Self.machine, level: .piece, range: 0..<200)],
                                               grouping: .total)[""]
        #expect(sum?.scrapByReason == ["burr": 4, "crack": 2])
        #expect(sum?.downtimeByReason == ["unplanned_stop/jam": 10, "setup/changeover": 4])
        #expect(sum?.byProduct["bracket"]?.goodCount == 7)
        #expect(sum?.byOrder["PO-1"]?.product == "bracket")
    }

    /// Quality entries by range and machine, replaced by id, deleted once.
    @Test(arguments: Backend.available) func qualityEntriesRoundTrip(_ backend: Backend) async throws {
        let store = try await backend.makeStore()
        let entry = QualityEntry(id: "q1", machine: Self.machine, time: 500, kind: .scrap, quantity: 3, reason: "burr", note: "edge",
                                 enteredBy: "op", enteredAt: 501)
        try await store.saveQualityEntry(entry, tenant: .default)
        try await store.saveQualityEntry(QualityEntry(id: "q2", machine: Self.other, time: 700, kind: .rework, quantity: 1, reason: "dent",
                                                      enteredBy: "op", enteredAt: 701), tenant: .default)
        #expect(try await store.qualityEntries(tenant: .default, machine: Self.machine, in: 0..<1000) == [entry])
        #expect(try await store.qualityEntries(tenant: .default, machine: nil, in: 600..<1000).map(\.id) == ["q2"])
        #expect(try await store.qualityEntry(tenant: Self.acme, id: "q1") == nil)
        var changed = entry
        changed.quantity = 5
        try await store.saveQualityEntry(changed, tenant: .default)
        #expect(try await store.qualityEntry(tenant: .default, id: "q1")?.quantity == 5)
        #expect(try await store.deleteQualityEntry(tenant: .default, id: "q1"))
        #expect(try await !store.deleteQualityEntry(tenant: .default, id: "q1"))
    }

    /// A machine moved takes its orders, reasons, summaries and settings along; deleted, it leaves none.
    @Test(arguments: Backend.available) func movesAndDeletesTakeTheAnalyticsAlong(_ backend: Backend) async throws {
        let store = try await backend.makeStore()
        try await store.registerMachine(Self.machine, tenant: .default, at: Timestamp(millisecondsSinceEpoch: 0))
        try await store.saveSummaries([Self.summary(Self.machine, .piece, 0, 100, day: "d1", shift: "d1 A", downtime: 10, reason: "x/y")],
                                      tenant: .default)
        try await store.saveOrder(ProductionOrder(id: "PO-1", machine: Self.machine, product: "p", targetQuantity: 1, start: 0), tenant: .default)
        try await store.setSetting(tenant: .default, kind: "machine", key: Self.machine.description, json: "{}")
        let target = try AssetPath("p1/line2/m9")
        try await store.moveMachine(Self.machine, to: target, tenant: .default)
        #expect(try await store.order(tenant: .default, id: "PO-1")?.machine == target)
        #expect(try await store.setting(tenant: .default, kind: "machine", key: target.description) == "{}")
        #expect(try await store.summaryStarts(tenant: .default, machines: [target], level: .piece, within: 0..<200) == [target: [0]])
        _ = try await store.deleteMachine(target, tenant: .default)
        #expect(try await store.order(tenant: .default, id: "PO-1") == nil)
        #expect(try await store.summarizedUntil().isEmpty)
        #expect(try await store.settings(tenant: .default, kind: "machine").isEmpty)
    }
}
