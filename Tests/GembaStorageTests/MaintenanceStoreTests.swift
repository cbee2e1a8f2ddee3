import Foundation
import GembaCore
import GembaStorage
import Testing
import GembaTestSupport

/// What maintenance and the detectors keep, on both backends: numbered work orders changed only
/// from the revision they were read at, their decisions and windows, plans, detector events
/// with labels, detector versions with their models.
@Suite struct MaintenanceStoreTests {
    static let machine = try! AssetPath("p1/line1/m1")

    static func create(_ store: any GembaStore, _ id: String, machine: String = "p1/line1/m1") async throws -> StoredWorkOrder {
        try await store.createWorkOrder(tenant: .default) { number in
            (StoredWorkOrder(tenant: .default, id: id, machine: machine, status: "proposed", updatedAt: Int64(number), document: "{\"n\":\(number)}"),
             StoredDecision(tenant: .default, workOrder: id, machine: machine, time: Int64(number), action: "propose", fromStatus: "",
                            toStatus: "proposed", actor: "detector", rationale: nil, detail: nil))
        }
    }

    @Test(arguments: Backend.available) func workOrdersDecisionsAndWindows(_ backend: Backend) async throws {
        let store = try await backend.makeStore()
        let first = try await Self.create(store, "wo-a")
        _ = try await Self.create(store, "wo-b", machine: "p2/line1/m9")
        #expect(first.document == "{\"n\":1}")
        #expect(try await store.workOrder(tenant: .default, id: "wo-b")?.document == "{\"n\":2}")
        var approved = first
        approved.status = "scheduled"
        approved.revision = 2
        approved.updatedAt = 10
        let decision = StoredDecision(tenant: .default, workOrder: "wo-a", machine: first.machine, time: 10, action: "approve",
                                      fromStatus: "proposed", toStatus: "scheduled", actor: "lead", rationale: "vibration", detail: nil)
        let window = MaintenanceWindow(workOrder: "wo-a", machine: Self.machine, start: 1000, end: 2000, setAt: 10)
        #expect(try await store.updateWorkOrder(approved, decision: decision, window: window, deliveries: []))
        // A change from a stale revision is refused.
        #expect(try await !store.updateWorkOrder(approved, decision: decision, window: nil, deliveries: []))
        #expect(try await store.maintenanceWindows(tenant: .default, machine: Self.machine, overlapping: 1500..<1600).map(\.workOrder) == ["wo-a"])
        #expect(try await store.workOrders(WorkOrderQuery(tenant: .default, scope: "p1", statuses: ["scheduled"])).map(\.id) == ["wo-a"])
        #expect(try await store.workOrders(WorkOrderQuery(tenant: .default)).map(\.id) == ["wo-a", "wo-b"])
        let log = try await store.decisions(tenant: .default, workOrder: "wo-a", scope: nil, range: 0..<100, limit: 10)
        #expect(log.map(\.action) == ["approve", "propose"])
        #expect(try await store.decisions(tenant: .default, workOrder: nil, scope: "p2", range: 0..<100, limit: 10).map(\.workOrder) == ["wo-b"])
        #expect(try await store.workOrder(tenant: TenantID("acme")!, id: "wo-a") == nil)

        try await store.savePlan(StoredPlan(tenant: .default, id: "monthly", machine: "p1/line1/m1", document: "{}"))
        #expect(try await store.maintenancePlans(tenant: nil).map(\.id) == ["monthly"])
        #expect(try await store.deletePlan(tenant: .default, id: "monthly"))
        #expect(try await store.maintenancePlans(tenant: .default).isEmpty)
    }

    @Test(arguments: Backend.available) func detectorEventsAndVersions(_ backend: Backend) async throws {
        let store = try await backend.makeStore()
        let event = StoredDetectorEvent(tenant: .default, detector: "vib", machine: "p1/line1/m1", tag: "vibration", start: 100, last: 100,
                                        peak: 0.9, peakTime: 100, closed: false, contributions: "{\"vibration\":1}")
        let ids = try await store.recordEvents([event])
        var later = event
        later.last = 200
        later.peak = 0.95
        later.closed = true
        later.contributions = nil
        #expect(try await store.recordEvents([later]) == ids)  // the same event, updated
        let stored = try #require(try await store.detectorEvent(tenant: .default, id: ids[0]))
        #expect(stored.last == 200 && stored.closed && stored.contributions == "{\"vibration\":1}")
        #expect(try await store.labelEvent(tenant: .default, id: ids[0], label: "true_positive", by: "op", at: 300, note: "bearing"))
        try await store.linkEvent(tenant: .default, id: ids[0], workOrder: "wo-a")
        let labelled = try await store.detectorEvents(DetectorEventQuery(tenant: .default, scope: "p1/line1", range: 0..<1000))
        #expect(labelled.map(\.label) == ["true_positive"] && labelled.first?.workOrder == "wo-a")
        #expect(try await !store.labelEvent(tenant: TenantID("acme")!, id: ids[0], label: nil, by: "x", at: 1, note: nil))

        let version = try await store.createDetectorVersion(tenant: .default, detector: "vib") { number in
            StoredDetectorVersion(tenant: .default, detector: "vib", version: number, status: "shadow", document: "{}")
        }
        #expect(version.version == 1)
        var promoted = version
        promoted.status = "active"
        try await store.saveDetectorVersions([promoted], model: Data([1, 2, 3]))
        #expect(try await store.detectorVersions(tenant: .default, detector: nil).map(\.status) == ["active"])
        #expect(try await store.detectorModel(tenant: .default, detector: "vib", version: 1) == Data([1, 2, 3]))
        let second = try await store.createDetectorVersion(tenant: .default, detector: "vib") { number in
            StoredDetectorVersion(tenant: .default, detector: "vib", version: number, status: "shadow", document: "{}")
        }
        #expect(second.version == 2)
        #expect(try await store.detectorModel(tenant: .default, detector: "vib", version: 2) == nil)
    }
}
