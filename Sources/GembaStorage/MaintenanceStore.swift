public import GembaCore

/// A work order as stored: the maintenance module's JSON document, with the columns queries need.
public struct StoredWorkOrder: Hashable, Sendable {
    public var tenant: TenantID
    public var id: String
    public var machine: String
    public var status: String
    /// ms since the epoch.
    public var updatedAt: Int64
    /// 1 when created, one more with every change (two people deciding at once: the second is refused).
    public var revision: Int
    public var document: String

    public init(tenant: TenantID, id: String, machine: String, status: String, updatedAt: Int64, revision: Int = 1, document: String) {
        self.tenant = tenant
        self.id = id
        self.machine = machine
        self.status = status
        self.updatedAt = updatedAt
        self.revision = revision
        self.document = document
    }
}

/// One line of the maintenance decision log.
public struct StoredDecision: Hashable, Sendable {
    /// Assigned by the store; 0 before it is stored.
    public var id: Int64
    public var tenant: TenantID
    public var workOrder: String
    public var machine: String
    /// ms since the epoch.
    public var time: Int64
    public var action: String
    public var fromStatus: String
    public var toStatus: String
    public var actor: String
    public var rationale: String?
    public var detail: String?

    public init(id: Int64 = 0, tenant: TenantID, workOrder: String, machine: String, time: Int64, action: String, fromStatus: String,
                toStatus: String, actor: String, rationale: String?, detail: String?) {
        self.id = id
        self.tenant = tenant
        self.workOrder = workOrder
        self.machine = machine
        self.time = time
        self.action = action
        self.fromStatus = fromStatus
        self.toStatus = toStatus
        self.actor = actor
        self.rationale = rationale
        self.detail = detail
    }
}

/// The time a work order claims on its machine: stopped time in it counts as planned
/// maintenance in OEE (``MachineAnnotations/maintenanceWindows``). `end` nil: until the machine
/// produces again.
public struct MaintenanceWindow: Hashable, Sendable {
    public var workOrder: String
    public var machine: AssetPath
    public var start: Int64
    public var end: Int64?
    /// When the window was set (ms since the epoch).
    public var setAt: Int64

    public init(workOrder: String, machine: AssetPath, start: Int64, end: Int64?, setAt: Int64) {
        self.workOrder = workOrder
        self.machine = machine
        self.start = start
        self.end = end
        self.setAt = setAt
    }

    /// The reason the window gives stopped time.
    public static let reason = "planned_stop/planned_maintenance"

    /// The window as a reason given to stopped time, for the OEE overlay.
    public var assignment: StopAssignment {
        StopAssignment(machine: machine, start: start, end: end, reason: Self.reason, assignedBy: "work order \(workOrder)", assignedAt: setAt)
    }
}

/// A preventive maintenance plan as stored: the maintenance module's JSON document.
public struct StoredPlan: Hashable, Sendable {
    public var tenant: TenantID
    public var id: String
    public var machine: String
    public var document: String

    public init(tenant: TenantID, id: String, machine: String, document: String) {
        self.tenant = tenant
        self.id = id
        self.machine = machine
        self.document = document
    }
}

/// Which work orders a list wants.
public struct WorkOrderQuery: Hashable, Sendable {
    public var tenant: TenantID
    /// A machine path, or a site/area/line prefix.
    public var scope: String?
    /// Empty: every status.
    public var statuses: [String]
    public var limit: Int

    public init(tenant: TenantID, scope: String? = nil, statuses: [String] = [], limit: Int = 500) {
        self.tenant = tenant
        self.scope = scope
        self.statuses = statuses
        self.limit = limit
    }
}

/// Work orders, their decision log and the windows they claim in the machines' plans.
public protocol MaintenanceStore: Sendable {
    /// Stores a new work order numbered after the tenant's last (`make` is given the number) with
    /// its first decision line and answers it, in one transaction.
    func createWorkOrder(tenant: TenantID, make: @escaping @Sendable (Int) throws -> (StoredWorkOrder, StoredDecision)) async throws
        -> StoredWorkOrder
    func workOrder(tenant: TenantID, id: String) async throws -> StoredWorkOrder?
    /// Newest change first.
    func workOrders(_ query: WorkOrderQuery) async throws -> [StoredWorkOrder]
    /// In one transaction: replaces the order if its stored revision is still one less than
    /// `order.revision` (else answers false and changes nothing), appends its decision line, sets
    /// or removes its window and queues `deliveries` in the notification outbox.
    func updateWorkOrder(_ order: StoredWorkOrder, decision: StoredDecision, window: MaintenanceWindow?,
                         deliveries: [OutboxEntry]) async throws -> Bool
    /// Decision lines in `range`, newest first; of one work order, or of the machines in `scope`.
    func decisions(tenant: TenantID, workOrder: String?, scope: String?, range: Range<Int64>, limit: Int) async throws -> [StoredDecision]
    /// Preventive plans of one tenant, or of every tenant (nil), by id.
    func maintenancePlans(tenant: TenantID?) async throws -> [StoredPlan]
    /// Adds or replaces the plan with the same id.
    func savePlan(_ plan: StoredPlan) async throws
    /// False when there is no such plan.
    func deletePlan(tenant: TenantID, id: String) async throws -> Bool
    /// The windows of one machine overlapping `range`.
    func maintenanceWindows(tenant: TenantID, machine: AssetPath, overlapping range: Range<Int64>) async throws -> [MaintenanceWindow]
}
