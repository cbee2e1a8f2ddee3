internal import Foundation
public import GembaCore
public import GembaMaintenance
public import GembaNotifications
public import GembaStorage
internal import GembaRules

/// Tells people when a work order has waited too long for a decision: per tenant, after how long
/// and whom (channels, people, rosters, as alarm policies name them). Each waiting period is told
/// once, the notifications stored with the order's mark and its line in the decision log.
public struct ProposalEscalator: Sendable {
    /// A tenant's escalation of waiting proposals.
    public struct Settings: Sendable, Hashable, Codable {
        /// `4h`, `30m`, `2d`.
        public var after: String
        public var audience: Audience
        /// A message template (the alarm templates' variables); the standard one when nil.
        public var template: String?

        public init(after: String, audience: Audience, template: String? = nil) {
            self.after = after
            self.audience = audience
            self.template = template
        }

        /// `after` in ms, checked to lie between a minute and 30 days.
        public func delay() throws(ModelError) -> Int64 {
            guard let delay = RuleText.parseDuration(after), (60_000...(30 * 86_400_000)).contains(delay) else {
                throw ModelError(.invalid, "after is a duration from 1m to 30d, such as 4h, not \"\(after)\"")
            }
            return delay
        }
    }

    /// The message when the settings name no template.
    static let template = "[{{severity}}] {{rule_name}} on {{machine}}: {{event}}"
    static let settingsKind = "maintenance"
    static let settingsKey = "escalation"

    let service: MaintenanceService
    let store: any AnalyticsStore & TelemetryStore
    let notifier: Notifier

    public init(service: MaintenanceService, store: any AnalyticsStore & TelemetryStore, notifier: Notifier) {
        self.service = service
        self.store = store
        self.notifier = notifier
    }

    public func settings(tenant: TenantID) async throws -> Settings? {
        guard let json = try await store.setting(tenant: tenant, kind: Self.settingsKind, key: Self.settingsKey) else { return nil }
        return try? JSONDecoder().decode(Settings.self, from: Data(json.utf8))
    }

    /// Checks and stores a tenant's settings; nil turns escalation off.
    public func save(_ settings: Settings?, tenant: TenantID) async throws {
        if let settings {
            _ = try settings.delay()
            guard !settings.audience.isEmpty else { throw ModelError(.invalid, "audience names at least one channel or recipient") }
            try settings.audience.validate("audience")
            try notifier.checkTargets(channels: settings.audience.channels, recipients: settings.audience.recipients, tenant: tenant)
            if let template = settings.template { try NotificationMessage.checkTemplate(template) }
        }
        let json = try settings.map { String(decoding: try JSONEncoder().encode($0), as: UTF8.self) }
        try await store.setSetting(tenant: tenant, kind: Self.settingsKind, key: Self.settingsKey, json: json)
    }

    /// One pass over every tenant with escalation settings; answers the orders escalated.
    @discardableResult
    public func pass() async throws -> [WorkOrder] {
        var escalated: [WorkOrder] = []
        for tenant in try await store.tenants() {
            guard let settings = try await settings(tenant: tenant), let delay = try? settings.delay() else { continue }
            escalated += try await service.escalate(tenant: tenant, after: delay) { order in
                let message = NotificationMessage(values: Self.values(order, tenant: tenant, after: settings.after, baseURL: notifier.router.baseURL))
                let deliveries = notifier.router.route(message, tenant: tenant, to: settings.audience, type: "maintenance.waiting",
                                                       severity: Self.severity(order.priority), template: settings.template ?? Self.template)
                return (deliveries, "waited \(settings.after) for a decision: \(deliveries.filter { $0.status != .dead }.count) notifications")
            }
        }
        if !escalated.isEmpty { notifier.queued.signal() }
        return escalated
    }

    /// The message's variables: the order's title as the rule name, its status as the state.
    static func values(_ order: WorkOrder, tenant: TenantID, after: String, baseURL: String) -> [String: String] {
        ["severity": severity(order.priority).rawValue.uppercased(), "rule": order.id, "rule_name": order.title,
         "machine": order.machine.description, "state": order.status.rawValue, "tenant": tenant.rawValue,
         "event": "work order \(order.id) has waited \(after) for a decision",
         "time": Timestamp.now().rfc3339, "link": baseURL + "/#/maintenance/" + order.id]
    }

    static func severity(_ priority: WorkOrder.Priority) -> Severity {
        switch priority {
        case .low: .low
        case .medium: .medium
        case .high: .high
        case .urgent: .critical
        }
    }
}
