import Foundation
import GembaCore
import GembaStorage
import Logging
import Testing
@testable import GembaMaintenance

@Suite struct WorkOrderTests {
    let press = try! AssetPath("plant1/line1/press-1")

    func proposal(_ kind: WorkOrder.Kind = .predictive) -> WorkOrder {
        WorkOrder(id: "WO-1", machine: press, title: "Bearing wear", kind: kind, origin: .init(.detector, reference: "vib-knn"),
                  proposedBy: "detector vib-knn", proposedAt: 1_000)
    }

    @Test func theWholeWayFromProposalToDoneLeavesADecisionPerStep() throws {
        var order = proposal()
        let steps: [(WorkOrderAction, WorkOrder.Status)] = [
            (.defer(until: 5_000, rationale: "wait for the weekend"), .deferred),
            (.approve(rationale: "vibration doubled in a week"), .approved),
            (.schedule(.init(start: 10_000, plannedMinutes: 90, assignee: "anna")), .scheduled),
            (.schedule(.init(start: 20_000, plannedMinutes: 60, assignee: "anna")), .scheduled),
            (.start, .inProgress),
            (.complete(.init(findings: "outer race pitted", failureMode: "bearing_wear", parts: [.init(name: "6205-2RS", quantity: 2)],
                             minutesSpent: 75, predictionConfirmed: true)), .done),
        ]
        var time: Int64 = 2_000
        var log: [Decision] = []
        for (action, status) in steps {
            log.append(try order.apply(action, by: "lead", at: time))
            #expect(order.status == status)
            time += 10_000
        }
        #expect(log.map(\.action) == ["defer", "approve", "schedule", "schedule", "start", "complete"])
        #expect(log.map(\.from) == [.proposed, .deferred, .approved, .scheduled, .scheduled, .inProgress])
        #expect(log[1].rationale == "vibration doubled in a week" && log[0].detail?.hasPrefix("until ") == true)
        #expect(log.last?.detail == "prediction confirmed")
        #expect(order.deferredUntil == nil && order.startedAt == 42_000 && order.finishedAt == 52_000 && order.updatedAt == 52_000)
        #expect(order.completion?.failureMode == "bearing_wear")
    }

    @Test func aStepThatDoesNotApplyIsRefusedAndChangesNothing() {
        var order = proposal()
        let before = order
        #expect(throws: ModelError.self) { try order.apply(.start, by: "x", at: 2_000) }
        #expect(throws: ModelError.self) { try order.apply(.schedule(.init(start: 1, plannedMinutes: 5)), by: "x", at: 2_000) }
        #expect(order == before)
        _ = try? order.apply(.reject(rationale: "false alarm, sensor loose"), by: "lead", at: 2_000)
        #expect(order.status == .rejected && order.status.isClosed)
        for action: WorkOrderAction in [.approve(rationale: "x"), .cancel(rationale: "x"), .start] {
            do {
                _ = try order.apply(action, by: "x", at: 3_000)
                Issue.record("\(action.name) applied to a rejected order")
            } catch {
                #expect(error.code == .conflict && error.message.contains("rejected"))
            }
        }
    }

    @Test func decisionsNeedARationaleAndSensibleValues() {
        var order = proposal()
        for action: WorkOrderAction in [.approve(rationale: "  "), .reject(rationale: ""), .defer(until: 9_000, rationale: ""),
                                        .defer(until: 500, rationale: "in the past"), .approve(rationale: String(repeating: "x", count: 4_001))] {
            #expect(throws: ModelError.self) { try order.apply(action, by: "lead", at: 1_000) }
        }
        #expect(order.status == .proposed)
        _ = try? order.apply(.approve(rationale: "ok"), by: "lead", at: 1_000)
        for minutes in [0, 43_201, -5] {
            #expect(throws: ModelError.self) { try order.apply(.schedule(.init(start: 5_000, plannedMinutes: minutes)), by: "lead", at: 2_000) }
        }
        _ = try? order.apply(.schedule(.init(start: 5_000, plannedMinutes: 30)), by: "lead", at: 2_000)
        _ = try? order.apply(.start, by: "tech", at: 5_000)
        for outcome in [WorkOrder.Completion(findings: " ", minutesSpent: 10), .init(findings: "ok", minutesSpent: -1),
                        .init(findings: "ok", parts: [.init(name: "", quantity: 1)], minutesSpent: 10),
                        .init(findings: "ok", parts: [.init(name: "belt", quantity: 0)], minutesSpent: 10)] {
            #expect(throws: ModelError.self) { try order.apply(.complete(outcome), by: "tech", at: 6_000) }
        }
        #expect(order.status == .inProgress)
    }

    @Test func thePlannedWindowFollowsTheWork() throws {
        var order = proposal()
        #expect(order.plannedWindow == nil)
        _ = try order.apply(.approve(rationale: "ok"), by: "lead", at: 2_000)
        #expect(order.plannedWindow == nil)
        _ = try order.apply(.schedule(.init(start: 600_000, plannedMinutes: 90)), by: "lead", at: 3_000)
        #expect(order.plannedWindow?.start == 600_000 && order.plannedWindow?.end == 600_000 + 90 * 60_000)
        _ = try order.apply(.start, by: "tech", at: 700_000)
        #expect(order.plannedWindow?.start == 700_000 && order.plannedWindow?.end == nil)
        _ = try order.apply(.complete(.init(findings: "done", minutesSpent: 50)), by: "tech", at: 3_700_000)
        #expect(order.plannedWindow?.start == 700_000 && order.plannedWindow?.end == 3_700_000)

        var repair = proposal(.corrective)
        _ = try repair.apply(.approve(rationale: "broken"), by: "lead", at: 2_000)
        _ = try repair.apply(.schedule(.init(start: 5_000, plannedMinutes: 30)), by: "lead", at: 3_000)
        #expect(repair.plannedWindow == nil, "a repair's time stays the unplanned stop it was")
        var cancelled = proposal()
        _ = try cancelled.apply(.approve(rationale: "ok"), by: "lead", at: 2_000)
        _ = try cancelled.apply(.schedule(.init(start: 5_000, plannedMinutes: 30)), by: "lead", at: 3_000)
        _ = try cancelled.apply(.cancel(rationale: "machine sold"), by: "lead", at: 4_000)
        #expect(cancelled.plannedWindow == nil)
    }

    @Test func theDocumentRoundTrips() throws {
        var order = proposal()
        order.evidence = Evidence(summary: "vibration up 80 %", signals: ["vibration", "temperature"],
                                  scores: [.init(tag: "vibration", time: 900, score: 0.93, detector: "vib-knn")],
                                  contributions: [.init(signal: "vibration", share: 0.8), .init(signal: "temperature", share: 0.2)],
                                  estimate: .init(quantity: "remaining_life", value: 120, low: 80, high: 170, unit: "h", coverage: 0.8),
                                  window: .init(from: 0, to: 1_000, tags: ["vibration"]))
        let stored = try MaintenanceService.stored(order, tenant: .default, revision: 3)
        #expect(try MaintenanceService.decode(stored) == order)
        #expect(stored.status == "proposed" && stored.revision == 3)
    }
}

@Suite struct MaintenanceServiceTests {
    let press = try! AssetPath("plant1/line1/press-1")
    let acme = TenantID("acme")!

    func service(clock: @escaping @Sendable () -> Int64 = { 1_000_000 },
                 windowChanged: @escaping MaintenanceService.WindowChanged = { _, _, _ in }) throws -> (MaintenanceService, SQLiteStore) {
        let store = try SQLiteStore(directory: NSTemporaryDirectory() + "gemba-maintenance-\(UUID().uuidString)", logger: Logger(label: "test"))
        return (MaintenanceService(store: store, clock: clock, windowChanged: windowChanged), store)
    }

    @Test func proposalsAreNumberedPerTenantAndStepsAreStoredWithTheirLog() async throws {
        let changed = Changes()
        let (service, store) = try service(windowChanged: { tenant, machine, range in await changed.add(tenant, machine, range) })
        let first = try await service.propose(.init(machine: press, title: "Bearing wear", kind: .predictive), tenant: .default, by: "ann")
        let second = try await service.propose(.init(machine: press, title: "Belt", kind: .inspection), tenant: .default, by: "ann")
        let other = try await service.propose(.init(machine: press, title: "Other tenant's", kind: .corrective), tenant: acme, by: "bob")
        #expect([first.id, second.id, other.id] == ["WO-1", "WO-2", "WO-1"])
        #expect(try await service.workOrder(tenant: acme, id: "WO-2") == nil)

        _ = try await service.act(.approve(rationale: "vibration doubled"), on: "WO-1", tenant: .default, by: "lead")
        let scheduled = try await service.act(.schedule(.init(start: 2_000_000, plannedMinutes: 60, assignee: "tech")), on: "WO-1",
                                              tenant: .default, by: "lead")
        #expect(scheduled?.status == .scheduled)
        #expect(try await service.act(.start, on: "WO-9", tenant: .default, by: "lead") == nil)
        let windows = try await store.maintenanceWindows(tenant: .default, machine: press, overlapping: 0..<10_000_000)
        #expect(windows.map { [$0.start, $0.end] } == [[2_000_000, 2_000_000 + 3_600_000]])
        #expect(try await store.maintenanceWindows(tenant: acme, machine: press, overlapping: 0..<10_000_000).isEmpty)
        #expect(await changed.all == ["default \(press) 2000000..<5600000"])
        _ = try await service.act(.cancel(rationale: "sold"), on: "WO-1", tenant: .default, by: "lead")
        #expect(try await store.maintenanceWindows(tenant: .default, machine: press, overlapping: 0..<10_000_000).isEmpty)

        let log = try await service.decisions(tenant: .default, workOrder: "WO-1", range: 0..<Int64.max)
        #expect(log.map(\.action) == ["cancel", "schedule", "approve", "propose"])
        #expect(log[2].rationale == "vibration doubled" && log[2].actor == "lead")
        #expect(try await service.decisions(tenant: .default, scope: "plant1/line1", range: 0..<Int64.max).count == 5)
        #expect(try await service.decisions(tenant: .default, scope: "plant1/line2", range: 0..<Int64.max).isEmpty)
        #expect(try await service.workOrders(WorkOrderQuery(tenant: .default, statuses: ["proposed"])).map(\.id) == ["WO-2"])
    }

    @Test func aStepOnAStaleReadIsRefused() async throws {
        let (service, store) = try service()
        _ = try await service.propose(.init(machine: press, title: "Bearing wear", kind: .predictive), tenant: .default, by: "ann")
        let read = try #require(try await store.workOrder(tenant: .default, id: "WO-1"))
        _ = try await service.act(.approve(rationale: "go"), on: "WO-1", tenant: .default, by: "lead")
        // A second decision computed from the first read: the store refuses it and keeps the first.
        var stale = try MaintenanceService.decode(read)
        let decision = try stale.apply(.reject(rationale: "no"), by: "other", at: 2_000_000)
        let taken = try await store.updateWorkOrder(try MaintenanceService.stored(stale, tenant: .default, revision: read.revision + 1),
                                                    decision: MaintenanceService.stored(decision, tenant: .default), window: nil,
                                                    deliveries: [])
        #expect(!taken)
        #expect(try await service.workOrder(tenant: .default, id: "WO-1")?.status == .approved)
        #expect(try await service.decisions(tenant: .default, workOrder: "WO-1", range: 0..<Int64.max).count == 2)
    }
}

actor Changes {
    var all: [String] = []
    func add(_ tenant: TenantID, _ machine: AssetPath, _ range: Range<Int64>) { all.append("\(tenant.rawValue) \(machine) \(range)") }
}
