internal import Foundation
public import GembaCore
public import GembaStorage
internal import Synchronization

/// Work orders through their store: proposals numbered per tenant (`WO-17`), each person's step
/// checked by ``WorkOrder/apply(_:by:at:)`` and stored with its decision line and the window it
/// claims in one transaction, refused when someone else changed the order in between.
public struct MaintenanceService: Sendable {
    /// What a new proposal says.
    public struct Proposal: Sendable, Hashable {
        public var machine: AssetPath
        public var title: String
        public var details: String?
        public var kind: WorkOrder.Kind
        public var priority: WorkOrder.Priority
        public var origin: WorkOrder.Origin
        public var evidence: Evidence?

        public init(machine: AssetPath, title: String, details: String? = nil, kind: WorkOrder.Kind, priority: WorkOrder.Priority = .medium,
                    origin: WorkOrder.Origin = .init(.person), evidence: Evidence? = nil) {
            self.machine = machine
            self.title = title
            self.details = details
            self.kind = kind
            self.priority = priority
            self.origin = origin
            self.evidence = evidence
        }
    }

    /// Called after a change moved or removed the time a work order claims on a machine (old and
    /// new windows together), so the OEE summaries over it are rebuilt.
    public typealias WindowChanged = @Sendable (TenantID, AssetPath, Range<Int64>) async throws -> Void

    /// Called after work was completed saying whether its prediction held (the order, who said it),
    /// so the detector event it came from is labelled.
    public typealias PredictionJudged = @Sendable (TenantID, WorkOrder, String) async throws -> Void

    /// Called after each person's step on a work order, with the order as it now is.
    public typealias Observer = @Sendable (TenantID, WorkOrder) async -> Void

    /// Who is told of each step (`onChange`), shared by the service's copies.
    final class Observers: Sendable {
        let list = Mutex<[Observer]>([])
    }

    let store: any MaintenanceStore
    let observers = Observers()
    let clock: @Sendable () -> Int64
    let windowChanged: WindowChanged
    let predictionJudged: PredictionJudged

    public init(store: any MaintenanceStore, clock: @escaping @Sendable () -> Int64 = { Timestamp.now().millisecondsSinceEpoch },
                windowChanged: @escaping WindowChanged = { _, _, _ in }, predictionJudged: @escaping PredictionJudged = { _, _, _ in }) {
        self.store = store
        self.clock = clock
        self.windowChanged = windowChanged
        self.predictionJudged = predictionJudged
    }

    /// Tells `observer` of every step taken from now on (the demo's simulated machines stop for the work).
    public func onChange(_ observer: @escaping Observer) { observers.list.withLock { $0.append(observer) } }

    /// Stores a proposal as `WO-<n>` with its first line in the decision log.
    public func propose(_ proposal: Proposal, tenant: TenantID, by actor: String) async throws -> WorkOrder {
        try WorkOrder.check(proposal.title, "a title", required: true, limit: 200)
        if let details = proposal.details { try WorkOrder.check(details, "the details", required: false) }
        if let reference = proposal.origin.reference { try WorkOrder.check(reference, "the origin's reference", required: true, limit: 200) }
        try proposal.evidence?.validate()
        let now = clock()
        let stored = try await store.createWorkOrder(tenant: tenant) { number in
            let order = WorkOrder(id: "WO-\(number)", machine: proposal.machine, title: proposal.title, details: proposal.details,
                                  kind: proposal.kind, priority: proposal.priority, origin: proposal.origin, evidence: proposal.evidence,
                                  proposedBy: actor, proposedAt: now)
            let decision = Decision(workOrder: order.id, machine: order.machine, action: "propose", from: .proposed, to: .proposed,
                                    actor: actor, time: now, rationale: nil,
                                    detail: "\(proposal.kind.rawValue) from \(proposal.origin.source.rawValue)"
                                        + (proposal.origin.reference.map { " \($0)" } ?? ""))
            return (try Self.stored(order, tenant: tenant, revision: 1), Self.stored(decision, tenant: tenant))
        }
        return try Self.decode(stored)
    }

    /// Takes a person's step on a work order; nil when the tenant has no such order. Throws
    /// ``ModelError`` for a step that does not apply (`.conflict`) or is not valid (`.invalid`),
    /// and `.conflict` when someone else changed the order since it was read.
    public func act(_ action: WorkOrderAction, on id: String, tenant: TenantID, by actor: String) async throws -> WorkOrder? {
        guard let stored = try await store.workOrder(tenant: tenant, id: id) else { return nil }
        var order = try Self.decode(stored)
        let before = order.plannedWindow
        let decision = try order.apply(action, by: actor, at: clock())
        let after = order.plannedWindow
        let window = after.map { MaintenanceWindow(workOrder: order.id, machine: order.machine, start: $0.start, end: $0.end, setAt: order.updatedAt) }
        guard try await store.updateWorkOrder(try Self.stored(order, tenant: tenant, revision: stored.revision + 1),
                                              decision: Self.stored(decision, tenant: tenant), window: window, deliveries: []) else {
            throw ModelError(.conflict, "work order \(id) was changed by someone else meanwhile; read it again")
        }
        if let changed = Self.union(before, after, now: order.updatedAt) {
            try await windowChanged(tenant, order.machine, changed)
        }
        if case .complete(let outcome) = action, outcome.predictionConfirmed != nil {
            try await predictionJudged(tenant, order, actor)
        }
        for observer in observers.list.withLock({ $0 }) { await observer(tenant, order) }
        return order
    }

    /// Marks each order that has waited `after` (ms) for a decision as escalated and stores, with
    /// the mark and its line in the decision log, the notifications `notify` makes of it (one
    /// transaction per order, so nobody is told twice). Answers the orders escalated.
    public func escalate(tenant: TenantID, after: Int64,
                         notify: (WorkOrder) -> (deliveries: [OutboxEntry], detail: String)) async throws -> [WorkOrder] {
        let now = clock()
        var escalated: [WorkOrder] = []
        let waiting = try await store.workOrders(WorkOrderQuery(tenant: tenant, statuses: [WorkOrder.Status.proposed.rawValue,
                                                                                           WorkOrder.Status.deferred.rawValue], limit: 10_000))
        for stored in waiting {
            var order = try Self.decode(stored)
            guard order.needsEscalation(after: after, now: now) else { continue }
            let (deliveries, detail) = notify(order)
            let decision = order.markEscalated(at: now, detail: detail)
            if try await store.updateWorkOrder(try Self.stored(order, tenant: tenant, revision: stored.revision + 1),
                                               decision: Self.stored(decision, tenant: tenant), window: nil, deliveries: deliveries) {
                escalated.append(order)
            }
        }
        return escalated
    }

    public func workOrder(tenant: TenantID, id: String) async throws -> WorkOrder? {
        try await store.workOrder(tenant: tenant, id: id).map(Self.decode)
    }

    /// Newest change first.
    public func workOrders(_ query: WorkOrderQuery) async throws -> [WorkOrder] {
        try await store.workOrders(query).map(Self.decode)
    }

    /// The decision log, newest first.
    public func decisions(tenant: TenantID, workOrder: String? = nil, scope: String? = nil, range: Range<Int64>,
                          limit: Int = 1000) async throws -> [Decision] {
        try await store.decisions(tenant: tenant, workOrder: workOrder, scope: scope, range: range, limit: limit).compactMap { line in
            guard let machine = try? AssetPath(line.machine), let from = WorkOrder.Status(rawValue: line.fromStatus),
                  let to = WorkOrder.Status(rawValue: line.toStatus) else { return nil }
            return Decision(workOrder: line.workOrder, machine: machine, action: line.action, from: from, to: to, actor: line.actor,
                            time: line.time, rationale: line.rationale, detail: line.detail)
        }
    }

    /// The time two windows cover together (an open end reaching a day past `now`); nil when neither exists.
    static func union(_ first: (start: Int64, end: Int64?)?, _ second: (start: Int64, end: Int64?)?, now: Int64) -> Range<Int64>? {
        let windows = [first, second].compactMap { $0 }
        guard let start = windows.map(\.start).min() else { return nil }
        let end = windows.map { $0.end ?? max(now, $0.start) + 86_400_000 }.max()!
        return start..<max(end, start + 1)
    }

    // MARK: Stored form

    static func stored(_ order: WorkOrder, tenant: TenantID, revision: Int) throws -> StoredWorkOrder {
        StoredWorkOrder(tenant: tenant, id: order.id, machine: order.machine.description, status: order.status.rawValue,
                        updatedAt: order.updatedAt, revision: revision, document: String(decoding: try JSONEncoder().encode(order), as: UTF8.self))
    }

    static func stored(_ decision: Decision, tenant: TenantID) -> StoredDecision {
        StoredDecision(tenant: tenant, workOrder: decision.workOrder, machine: decision.machine.description, time: decision.time,
                       action: decision.action, fromStatus: decision.from.rawValue, toStatus: decision.to.rawValue, actor: decision.actor,
                       rationale: decision.rationale, detail: decision.detail)
    }

    /// The order from its document, at the machine the store names (a moved machine's orders follow it).
    static func decode(_ stored: StoredWorkOrder) throws -> WorkOrder {
        var order = try JSONDecoder().decode(WorkOrder.self, from: Data(stored.document.utf8))
        if let machine = try? AssetPath(stored.machine) { order.machine = machine }
        return order
    }
}
