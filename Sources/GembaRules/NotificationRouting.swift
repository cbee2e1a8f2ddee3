public import GembaCore
public import GembaStorage

/// An alarm transition people should be told about, as the notification side sees it.
public struct AlarmNotice: Sendable {
    public var tenant: TenantID
    public var rule: AlarmRule
    public var machine: AssetPath
    public var transition: AlarmTransition

    public init(tenant: TenantID, rule: AlarmRule, machine: AssetPath, transition: AlarmTransition) {
        self.tenant = tenant
        self.rule = rule
        self.machine = machine
        self.transition = transition
    }
}

/// An alarm that is active and waits for someone to acknowledge it: what reminders and
/// escalation chains follow up on.
public struct StandingAlarm: Sendable {
    public var tenant: TenantID
    public var rule: AlarmRule
    public var machine: AssetPath
    public var alarm: Alarm

    public init(tenant: TenantID, rule: AlarmRule, machine: AssetPath, alarm: Alarm) {
        self.tenant = tenant
        self.rule = rule
        self.machine = machine
        self.alarm = alarm
    }
}

/// What an alarm's follow-ups (reminders, escalation steps) have sent during its current
/// activation, per notification policy. Kept with the alarm and written in the same transaction as
/// the notifications, so after a restart nothing is sent twice and nothing due is skipped.
public struct FollowUpProgress: Hashable, Sendable, Codable {
    /// The activation followed up (the alarm's `activeSince`).
    public var activation: Int64
    /// Per policy id, how many of its escalation steps were sent.
    public var steps: [String: Int] = [:]
    /// Per policy id, how many reminder periods have passed (one reminder per period at most).
    public var reminders: [String: Int] = [:]
    /// When the next follow-up falls due; nil: none will under the current policies.
    public var due: Int64?
    /// The router's ``NotificationRouting/revision`` `due` was computed under (not stored: after a
    /// restart every alarm asks again).
    public var revision: UInt64 = .max

    enum CodingKeys: String, CodingKey { case activation, steps, reminders, due }

    public init(activation: Int64) { self.activation = activation }
}

/// Turns notices into outbox rows (one per channel the tenant's policies name). Called under the
/// engine's lock: pure work, no I/O; the rows are written with the alarm change that caused them.
public protocol NotificationRouting: Sendable {
    func route(_ notice: AlarmNotice) -> [OutboxEntry]
    /// The reminders and escalation steps due by `now` for an alarm still unacknowledged; `progress`
    /// records them and gets the next due time and the current ``revision``.
    func followUps(_ alarm: StandingAlarm, progress: inout FollowUpProgress, now: Int64) -> [OutboxEntry]
    /// Grows whenever policies, rosters or people change (due times computed before are stale).
    var revision: UInt64 { get }
}
