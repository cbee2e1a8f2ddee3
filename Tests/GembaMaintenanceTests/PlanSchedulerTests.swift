import Foundation
import GembaCore
import GembaStorage
import Logging
import Synchronization
import Testing
@testable import GembaMaintenance

/// Run time and counter readings a test sets.
final class Usage: MachineUsage {
    let readings = Mutex<(runTime: Int64, counter: Double?)>((0, nil))
    func runTime(tenant: TenantID, machine: AssetPath, range: Range<Int64>) async throws -> Int64 { readings.withLock { $0.runTime } }
    func latest(tenant: TenantID, machine: AssetPath, tag: String) async throws -> Double? { readings.withLock { $0.counter } }
}

final class TestClock: Sendable {
    let now = Mutex<Int64>(1_000_000_000)
    func advance(days: Double) { now.withLock { $0 += Int64(days * 86_400_000) } }
}

@Suite struct PlanSchedulerTests {
    let press = try! AssetPath("plant1/line1/press-1")
    let day: Int64 = 86_400_000

    func scheduler() throws -> (PlanScheduler, MaintenanceService, Usage, TestClock) {
        let store = try SQLiteStore(directory: NSTemporaryDirectory() + "gemba-plans-\(UUID().uuidString)", logger: Logger(label: "test"))
        let clock = TestClock()
        let service = MaintenanceService(store: store, clock: { clock.now.withLock { $0 } })
        let usage = Usage()
        return (PlanScheduler(store: store, service: service, usage: usage, clock: { clock.now.withLock { $0 } }), service, usage, clock)
    }

    func plan(_ id: String, every: MaintenancePlan.Interval, at time: Int64) -> MaintenancePlan {
        MaintenancePlan(id: id, machine: press, title: "Lubricate \(id)", every: every, anchor: 0, updatedBy: "lead", updatedAt: time)
    }

    @Test func aCalendarPlanProposesOnceWhenDueAndCountsAgainFromTheWorkDone() async throws {
        let (scheduler, service, _, clock) = try scheduler()
        _ = try await scheduler.save(plan("monthly", every: .init(days: 30), at: clock.now.withLock { $0 }), tenant: .default)
        clock.advance(days: 29)
        #expect(try await scheduler.pass().isEmpty)
        #expect(try await scheduler.statuses(tenant: .default).first?.progressText == "29 of 30 days")
        clock.advance(days: 1.5)
        let proposed = try await scheduler.pass()
        #expect(proposed.map(\.kind) == [.preventive] && proposed.first?.origin == .init(.plan, reference: "monthly"))
        #expect(try await scheduler.pass().isEmpty, "one open order per plan")
        #expect(try await scheduler.statuses(tenant: .default).first?.openWorkOrder == "WO-1")

        let id = proposed[0].id
        _ = try await service.act(.approve(rationale: "routine"), on: id, tenant: .default, by: "lead")
        _ = try await service.act(.schedule(.init(start: clock.now.withLock { $0 }, plannedMinutes: 60)), on: id, tenant: .default, by: "lead")
        _ = try await service.act(.start, on: id, tenant: .default, by: "tech")
        clock.advance(days: 0.5)
        _ = try await service.act(.complete(.init(findings: "greased", minutesSpent: 40)), on: id, tenant: .default, by: "tech")
        #expect(try await scheduler.pass().isEmpty)
        #expect(try await scheduler.plan(tenant: .default, id: "monthly")?.anchor == clock.now.withLock { $0 })
        clock.advance(days: 30)
        #expect(try await scheduler.pass().map(\.id) == ["WO-2"])
        // A rejected occurrence is skipped: the count starts again from the decision.
        _ = try await service.act(.reject(rationale: "done last week by the vendor"), on: "WO-2", tenant: .default, by: "lead")
        #expect(try await scheduler.pass().isEmpty)
    }

    @Test func runTimeAndCounterPlansFollowTheMachine() async throws {
        let (scheduler, _, usage, clock) = try scheduler()
        usage.readings.withLock { $0.counter = 1_000 }
        _ = try await scheduler.save(plan("strokes", every: .init(count: 100_000, counter: "strokes"), at: clock.now.withLock { $0 }), tenant: .default)
        _ = try await scheduler.save(plan("hours", every: .init(runHours: 500), at: clock.now.withLock { $0 }), tenant: .default)
        #expect(try await scheduler.plan(tenant: .default, id: "strokes")?.anchorCount == 1_000)
        usage.readings.withLock { $0 = (499 * 3_600_000, 100_999) }
        #expect(try await scheduler.pass().isEmpty)
        usage.readings.withLock { $0 = (500 * 3_600_000, 101_000) }
        #expect(Set(try await scheduler.pass().map(\.origin.reference)) == ["strokes", "hours"])
        // A counter that went back (reset) counts from zero.
        var plan = plan("reset", every: .init(count: 50, counter: "strokes"), at: clock.now.withLock { $0 })
        #expect(plan.progress(at: 0, runTime: nil, counterNow: 60).fraction == 0, "no reading at the anchor: counting starts now")
        plan.anchorCount = 0
        #expect(plan.progress(at: 0, runTime: nil, counterNow: 60).fraction == 1.2)
        var reset = plan
        reset.anchorCount = 1_000
        #expect(reset.progress(at: 0, runTime: nil, counterNow: 10).fraction == 0.2)
    }

    @Test func plansThatCannotBeFollowedAreRefused() async throws {
        let (scheduler, _, _, clock) = try scheduler()
        let now = clock.now.withLock { $0 }
        for every in [MaintenancePlan.Interval(), .init(days: 30, runHours: 5), .init(days: 0), .init(count: 10), .init(count: 10, counter: "bad tag"),
                      .init(runHours: 0.5)] {
            await #expect(throws: ModelError.self) { try await scheduler.save(plan("p", every: every, at: now), tenant: .default) }
        }
        await #expect(throws: ModelError.self) { try await scheduler.save(plan("no spaces", every: .init(days: 1), at: now), tenant: .default) }
        #expect(try await scheduler.statuses(tenant: .default).isEmpty)
    }
}
