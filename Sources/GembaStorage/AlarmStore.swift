public import GembaCore

/// A rule as stored: its definition is the rules module's JSON, opaque here.
public struct StoredRule: Hashable, Sendable {
    public var tenant: TenantID
    public var id: String
    public var definition: String
    public var version: Int
    public var updatedBy: String
    public var updatedAt: Int64

    public init(tenant: TenantID, id: String, definition: String, version: Int, updatedBy: String, updatedAt: Int64) {
        self.tenant = tenant
        self.id = id
        self.definition = definition
        self.version = version
        self.updatedBy = updatedBy
        self.updatedAt = updatedAt
    }
}

/// One alarm instance (a rule on a machine) with its state and running timers, as the rules module's JSON.
public struct StoredAlarm: Hashable, Sendable {
    public var tenant: TenantID
    public var rule: String
    public var machine: String
    public var state: String
    public var updatedAt: Int64

    public init(tenant: TenantID, rule: String, machine: String, state: String, updatedAt: Int64) {
        self.tenant = tenant
        self.rule = rule
        self.machine = machine
        self.state = state
        self.updatedAt = updatedAt
    }
}

/// One line of the alarm journal: a transition with its time, value, who and why.
public struct AlarmJournalEntry: Hashable, Sendable {
    /// Assigned by the store; 0 before it is stored.
    public var id: Int64
    public var tenant: TenantID
    public var time: Int64
    public var rule: String
    public var machine: String
    public var kind: String
    public var fromState: String
    public var toState: String
    public var severity: String
    public var value: Double?
    public var actor: String?
    public var comment: String?

    public init(id: Int64 = 0, tenant: TenantID, time: Int64, rule: String, machine: String, kind: String, fromState: String,
                toState: String, severity: String, value: Double?, actor: String?, comment: String?) {
        self.id = id
        self.tenant = tenant
        self.time = time
        self.rule = rule
        self.machine = machine
        self.kind = kind
        self.fromState = fromState
        self.toState = toState
        self.severity = severity
        self.value = value
        self.actor = actor
        self.comment = comment
    }
}

/// Which journal entries a query wants.
public struct JournalQuery: Hashable, Sendable {
    public var tenant: TenantID
    public var range: Range<Int64>
    public var rule: String?
    /// A machine path, or a site/area/line prefix.
    public var scope: String?
    public var limit: Int

    public init(tenant: TenantID, range: Range<Int64>, rule: String? = nil, scope: String? = nil, limit: Int = 1000) {
        self.tenant = tenant
        self.range = range
        self.rule = rule
        self.scope = scope
        self.limit = limit
    }
}

/// Rules, alarm instances and the journal. Changes of instances and their journal lines are
/// written together in one transaction, so a restart never sees one without the other.
public protocol AlarmStore: Sendable {
    /// Every rule of every tenant (loaded at start).
    func allRules() async throws -> [StoredRule]
    /// Stores a rule, replacing the one with the same id.
    func saveRule(_ rule: StoredRule) async throws
    /// Deletes a rule with its instances (the journal stays); false when there was none.
    func deleteRule(tenant: TenantID, id: String) async throws -> Bool
    /// Every alarm instance of every tenant (loaded at start).
    func allAlarms() async throws -> [StoredAlarm]
    /// Writes changed instances, the journal lines and the notifications they caused in one transaction.
    func recordAlarms(_ alarms: [StoredAlarm], journal: [AlarmJournalEntry], deliveries: [OutboxEntry]) async throws
    /// Journal lines in time order (then id), at most `limit`.
    func journal(_ query: JournalQuery) async throws -> [AlarmJournalEntry]
}
