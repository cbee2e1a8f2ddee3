public import Foundation
public import GembaCore
public import GembaRules
public import GembaStorage
internal import Synchronization

/// The tenants' channels and policies in memory, routing alarm notices into outbox rows (one per
/// channel the matching policies name, each channel once). Changed through ``Notifier``.
public final class NotificationRouter: NotificationRouting, Sendable {
    struct Tenant: Sendable {
        var channels: [String: NotificationChannel] = [:]
        var policies: [String: NotificationPolicy] = [:]
    }

    private let tenants = Mutex<[TenantID: Tenant]>([:])
    private let baseURL: String
    private let clock: @Sendable () -> Int64

    /// `baseURL` is where people open the dashboard (links in messages).
    public init(baseURL: String, clock: @escaping @Sendable () -> Int64 = { Timestamp.now().millisecondsSinceEpoch }) {
        self.baseURL = baseURL
        self.clock = clock
    }

    public func route(_ notice: AlarmNotice) -> [OutboxEntry] {
        let tenant = tenants.withLock { $0[notice.tenant] } ?? Tenant()
        var seen = Set<String>()
        var entries: [OutboxEntry] = []
        let message = NotificationMessage(notice, baseURL: baseURL)
        let now = clock()
        for policy in tenant.policies.values.sorted(by: { $0.id < $1.id }) where policy.matches(notice) {
            for id in policy.channels where seen.insert(id).inserted {
                guard let channel = tenant.channels[id], channel.enabled else { continue }
                let type = "alarm." + notice.transition.kind.rawValue
                entries.append(OutboxEntry(tenant: notice.tenant, channel: id, messageID: Self.messageID(), eventType: type,
                                           payload: message.body(for: channel.kind, template: policy.template, type: type),
                                           createdAt: now, nextAttemptAt: now))
            }
        }
        return entries
    }

    /// A new message id, `msg_` and 24 hex digits.
    static func messageID() -> String {
        "msg_" + (0..<12).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
    }

    // MARK: Configuration

    func channel(_ id: String, tenant: TenantID) -> NotificationChannel? { tenants.withLock { $0[tenant]?.channels[id] } }
    func channels(tenant: TenantID) -> [NotificationChannel] {
        tenants.withLock { $0[tenant].map { Array($0.channels.values) } ?? [] }.sorted { $0.id < $1.id }
    }
    func policies(tenant: TenantID) -> [NotificationPolicy] {
        tenants.withLock { $0[tenant].map { Array($0.policies.values) } ?? [] }.sorted { $0.id < $1.id }
    }
    func set(_ channel: NotificationChannel?, id: String, tenant: TenantID) { tenants.withLock { $0[tenant, default: Tenant()].channels[id] = channel } }
    func set(_ policy: NotificationPolicy?, id: String, tenant: TenantID) { tenants.withLock { $0[tenant, default: Tenant()].policies[id] = policy } }
}
