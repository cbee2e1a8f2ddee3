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

/// Turns notices into outbox rows (one per channel the tenant's policies name). Called under the
/// engine's lock: pure work, no I/O; the rows are written with the alarm change that caused them.
public protocol NotificationRouting: Sendable {
    func route(_ notice: AlarmNotice) -> [OutboxEntry]
}
