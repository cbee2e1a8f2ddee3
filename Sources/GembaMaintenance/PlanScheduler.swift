internal import Foundation
public import GembaCore
public import GembaStorage

/// What a plan needs to know of its machine: run time from the state engine, a counter's reading.
public protocol MachineUsage: Sendable {
    /// The machine's run time in `range` (ms).
    func runTime(tenant: TenantID, machine: AssetPath, range: Range<Int64>) async throws -> Int64
    /// The newest numeric reading of one of the machine's tags; nil when it has none.
    func latest(tenant: TenantID, machine: AssetPath, tag: String) async throws -> Double?
}

/// Keeps the preventive plans and proposes their work orders when they fall due: one open order
/// per plan at a time; each order closed since the plan's anchor moves the anchor to that time.
public struct PlanScheduler: Sendable {
    let store: any MaintenanceStore
    let service: MaintenanceService
    let usage: any MachineUsage
    let clock: @Sendable () -> Int64

    public init(store: any MaintenanceStore, service: MaintenanceService, usage: any MachineUsage,
                clock: @escaping @Sendable () -> Int64 = { Timestamp.now().millisecondsSinceEpoch }) {
        self.store = store
        self.service = service
        self.usage = usage
        self.clock = clock
    }

    /// A plan with how far it has come, and the open work order it proposed, if any.
    public struct PlanStatus: Sendable {
        public var plan: MaintenancePlan
        public var progress: Double
        public var progressText: String
        public var openWorkOrder: String?
    }

    /// Checks and stores a plan (its anchor set to now, and a counter's reading, when new or its interval changed).
    public func save(_ plan: MaintenancePlan, tenant: TenantID) async throws -> MaintenancePlan {
        try plan.validate()
        var plan = plan
        let previous = try await self.plan(tenant: tenant, id: plan.id)
        if let previous, previous.every == plan.every, previous.machine == plan.machine {
            (plan.anchor, plan.anchorCount) = (previous.anchor, previous.anchorCount)
        } else {
            plan.anchor = plan.updatedAt
            plan.anchorCount = try await counter(of: plan, tenant: tenant)
        }
        try await store.savePlan(try Self.stored(plan, tenant: tenant))
        return plan
    }

    public func plan(tenant: TenantID, id: String) async throws -> MaintenancePlan? {
        try await store.maintenancePlans(tenant: tenant).first { $0.id == id }.map(Self.decode)
    }

    public func delete(tenant: TenantID, id: String) async throws -> Bool { try await store.deletePlan(tenant: tenant, id: id) }

    /// Every plan of the tenant with its progress now.
    public func statuses(tenant: TenantID) async throws -> [PlanStatus] {
        var result: [PlanStatus] = []
        for stored in try await store.maintenancePlans(tenant: tenant) {
            let plan = try Self.decode(stored)
            let orders = try await orders(of: plan, tenant: tenant)
            let (fraction, text) = try await progress(of: plan, tenant: tenant)
            result.append(PlanStatus(plan: plan, progress: fraction, progressText: text, openWorkOrder: orders.first { !$0.status.isClosed }?.id))
        }
        return result
    }

    /// One pass over every tenant's enabled plans: anchors moved past closed orders, due plans
    /// without an open order proposed. Answers the orders proposed.
    @discardableResult
    public func pass() async throws -> [WorkOrder] {
        var proposed: [WorkOrder] = []
        for stored in try await store.maintenancePlans(tenant: nil) {
            var plan = try Self.decode(stored)
            guard plan.enabled else { continue }
            let orders = try await orders(of: plan, tenant: stored.tenant)
            guard !orders.contains(where: { !$0.status.isClosed }) else { continue }
            if let closed = orders.map({ $0.finishedAt ?? $0.updatedAt }).max(), closed > plan.anchor {
                plan.anchor = closed
                plan.anchorCount = try await counter(of: plan, tenant: stored.tenant)
                try await store.savePlan(try Self.stored(plan, tenant: stored.tenant))
            }
            let (fraction, text) = try await progress(of: plan, tenant: stored.tenant)
            guard fraction >= 1 else { continue }
            proposed.append(try await service.propose(.init(
                machine: plan.machine, title: plan.title, details: plan.details, kind: .preventive, priority: plan.priority,
                origin: .init(.plan, reference: plan.id),
                evidence: Evidence(summary: "Plan \(plan.id), \(plan.every.text): \(text) since \(Timestamp(millisecondsSinceEpoch: plan.anchor).rfc3339)")),
                tenant: stored.tenant, by: "plan \(plan.id)"))
        }
        return proposed
    }

    private func progress(of plan: MaintenancePlan, tenant: TenantID) async throws -> (Double, String) {
        let now = clock()
        let runTime = plan.every.runHours == nil ? nil
            : try await usage.runTime(tenant: tenant, machine: plan.machine, range: plan.anchor..<max(plan.anchor + 1, now))
        return plan.progress(at: now, runTime: runTime, counterNow: try await counter(of: plan, tenant: tenant))
    }

    private func counter(of plan: MaintenancePlan, tenant: TenantID) async throws -> Double? {
        guard plan.every.count != nil, let tag = plan.every.counter else { return nil }
        return try await usage.latest(tenant: tenant, machine: plan.machine, tag: tag)
    }

    /// The plan's work orders, newest change first.
    private func orders(of plan: MaintenancePlan, tenant: TenantID) async throws -> [WorkOrder] {
        try await service.workOrders(WorkOrderQuery(tenant: tenant, scope: plan.machine.description, limit: 1000))
            .filter { $0.origin.source == .plan && $0.origin.reference == plan.id }
    }

    static func stored(_ plan: MaintenancePlan, tenant: TenantID) throws -> StoredPlan {
        StoredPlan(tenant: tenant, id: plan.id, machine: plan.machine.description,
                   document: String(decoding: try JSONEncoder().encode(plan), as: UTF8.self))
    }

    static func decode(_ stored: StoredPlan) throws -> MaintenancePlan {
        var plan = try JSONDecoder().decode(MaintenancePlan.self, from: Data(stored.document.utf8))
        if let machine = try? AssetPath(stored.machine) { plan.machine = machine }
        return plan
    }
}
