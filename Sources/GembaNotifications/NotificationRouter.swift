internal import Foundation
public import GembaCore
public import GembaRules
public import GembaStorage
internal import Synchronization

/// The tenants' channels, policies, people and rosters in memory, routing alarm notices and their
/// follow-ups (reminders, escalation steps) into outbox rows: one per channel, or per channel and
/// person, each once per notice. Changed through ``Notifier``.
public final class NotificationRouter: NotificationRouting, Sendable {
    struct Tenant: Sendable {
        var channels: [String: NotificationChannel] = [:]
        var policies: [String: NotificationPolicy] = [:]
        var people: [String: NotificationPerson] = [:]
        var rosters: [String: OnCallRoster] = [:]
    }

    private let tenants = Mutex<[TenantID: Tenant]>([:])
    /// Open group windows: when each group's next message goes (by tenant, policy and group value).
    private let windows = Mutex<[String: Int64]>([:])
    private let revisions = Atomic<UInt64>(1)
    /// Where people open the dashboard (links in messages).
    public let baseURL: String
    private let clock: @Sendable () -> Int64

    /// `baseURL` is where people open the dashboard (links in messages).
    public init(baseURL: String, clock: @escaping @Sendable () -> Int64 = { Timestamp.now().millisecondsSinceEpoch }) {
        self.baseURL = baseURL
        self.clock = clock
    }

    public var revision: UInt64 { revisions.load(ordering: .acquiring) }

    public func route(_ notice: AlarmNotice) -> [OutboxEntry] {
        let tenant = tenants.withLock { $0[notice.tenant] } ?? Tenant()
        let message = NotificationMessage(notice, baseURL: baseURL)
        let now = clock()
        var delivery = Delivery(tenant: notice.tenant, config: tenant, message: message, type: "alarm." + notice.transition.kind.rawValue,
                                severity: notice.transition.severity, now: now)
        for policy in tenant.policies.values.sorted(by: { $0.id < $1.id }) where policy.matches(notice) {
            let group = policy.group.map { grouping in
                let key = [notice.tenant.rawValue, policy.id, grouping.value(rule: notice.rule.id, machine: notice.machine)].joined(separator: "|")
                return Delivery.Group(key: key, due: window(key, grouping, now: now))
            }
            delivery.send(to: policy.audience, template: policy.template, group: group)
        }
        return delivery.entries
    }

    /// Outbox rows sending `message` to `audience` (channels, people, rosters as for alarms), for
    /// notices that come from outside the alarm engine (an unanswered maintenance proposal).
    public func route(_ message: NotificationMessage, tenant: TenantID, to audience: Audience, type: String, severity: Severity,
                      template: String? = nil) -> [OutboxEntry] {
        let config = tenants.withLock { $0[tenant] } ?? Tenant()
        var delivery = Delivery(tenant: tenant, config: config, message: message, type: type, severity: severity, now: clock())
        delivery.send(to: audience, template: template)
        return delivery.entries
    }

    /// When a group's next message goes: an open window's time, else a new window `wait` from now,
    /// but not sooner than `interval` after the group's last message.
    private func window(_ key: String, _ grouping: NotificationGrouping, now: Int64) -> Int64 {
        windows.withLock { windows in
            if let due = windows[key], due > now { return due }
            let due = max(now + grouping.wait.milliseconds, (windows[key] ?? .min / 2) + grouping.interval.milliseconds)
            if windows.count >= 10_000 { windows = windows.filter { $0.value + 86_400_000 > now } }
            windows[key] = due
            return due
        }
    }

    public func followUps(_ standing: StandingAlarm, progress: inout FollowUpProgress, now: Int64) -> [OutboxEntry] {
        let tenant = tenants.withLock { $0[standing.tenant] } ?? Tenant()
        var entries: [OutboxEntry] = []
        var next: Int64?
        func consider(_ time: Int64) { next = min(next ?? .max, time) }
        let elapsed = now - progress.activation
        for policy in tenant.policies.values.sorted(by: { $0.id < $1.id }) where policy.followsUp(standing) {
            if let every = policy.repeatEvery?.milliseconds, every > 0 {
                let periods = Int(elapsed / every)
                if periods > progress.reminders[policy.id, default: 0] {
                    progress.reminders[policy.id] = periods
                    let event = "reminder: unacknowledged for " + RuleText.duration(Int64(periods) * every)
                    entries += deliver(standing, tenant, event: event, type: "alarm.reminder", to: policy.audience, template: policy.template, now: now)
                }
                consider(progress.activation + Int64(periods + 1) * every)
            }
            var sent = progress.steps[policy.id, default: 0]
            while sent < policy.escalation.count, policy.escalation[sent].after.milliseconds <= elapsed {
                let step = policy.escalation[sent]
                let event = "escalation: unacknowledged for " + RuleText.duration(step.after.milliseconds)
                entries += deliver(standing, tenant, event: event, type: "alarm.escalation", to: step.audience, template: policy.template, now: now)
                sent += 1
            }
            if sent > 0 { progress.steps[policy.id] = sent }
            if sent < policy.escalation.count { consider(progress.activation + policy.escalation[sent].after.milliseconds) }
        }
        progress.due = next
        progress.revision = revision
        return entries
    }

    private func deliver(_ standing: StandingAlarm, _ tenant: Tenant, event: String, type: String, to audience: Audience, template: String?,
                         now: Int64) -> [OutboxEntry] {
        let message = NotificationMessage(standing, event: event, time: now, baseURL: baseURL)
        var delivery = Delivery(tenant: standing.tenant, config: tenant, message: message, type: type, severity: standing.alarm.severity, now: now)
        delivery.send(to: audience, template: template)
        return delivery.entries
    }

    /// Who is on call in a roster at `time`; nil when there is no such roster (or nobody is).
    public func onCall(roster id: String, tenant: TenantID, at time: Int64) -> String? {
        tenants.withLock { $0[tenant]?.rosters[id] }?.onCall(at: time)
    }

    /// A new message id, `msg_` and 24 hex digits.
    static func messageID() -> String {
        "msg_" + (0..<12).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
    }

    // MARK: Configuration

    func channel(_ id: String, tenant: TenantID) -> NotificationChannel? { tenants.withLock { $0[tenant]?.channels[id] } }
    func channels(tenant: TenantID) -> [NotificationChannel] { list(tenant, \.channels).sorted { $0.id < $1.id } }
    func policies(tenant: TenantID) -> [NotificationPolicy] { list(tenant, \.policies).sorted { $0.id < $1.id } }
    func people(tenant: TenantID) -> [NotificationPerson] { list(tenant, \.people).sorted { $0.id < $1.id } }
    func rosters(tenant: TenantID) -> [OnCallRoster] { list(tenant, \.rosters).sorted { $0.id < $1.id } }
    func person(_ id: String, tenant: TenantID) -> NotificationPerson? { tenants.withLock { $0[tenant]?.people[id] } }
    func roster(_ id: String, tenant: TenantID) -> OnCallRoster? { tenants.withLock { $0[tenant]?.rosters[id] } }

    func set(_ channel: NotificationChannel?, id: String, tenant: TenantID) { change(tenant) { $0.channels[id] = channel } }
    func set(_ policy: NotificationPolicy?, id: String, tenant: TenantID) { change(tenant) { $0.policies[id] = policy } }
    func set(_ person: NotificationPerson?, id: String, tenant: TenantID) { change(tenant) { $0.people[id] = person } }
    func set(_ roster: OnCallRoster?, id: String, tenant: TenantID) { change(tenant) { $0.rosters[id] = roster } }

    private func list<Item>(_ tenant: TenantID, _ items: KeyPath<Tenant, [String: Item]>) -> [Item] {
        let config = tenants.withLock { $0[tenant] } ?? Tenant()
        return Array(config[keyPath: items].values)
    }

    private func change(_ tenant: TenantID, _ body: (inout Tenant) -> Void) {
        tenants.withLock { body(&$0[tenant, default: Tenant()]) }
        revisions.add(1, ordering: .releasing)
    }
}

/// The outbox rows one notice (or follow-up) makes: each channel once, each person once per
/// channel, people reached through their preferences and quiet hours. A recipient that cannot be
/// reached (nobody on call, no preferences) becomes a dead letter naming why, so admins see it.
struct Delivery {
    let tenant: TenantID
    let config: NotificationRouter.Tenant
    let message: NotificationMessage
    let type: String
    let severity: Severity
    let now: Int64
    private(set) var entries: [OutboxEntry] = []
    private var seen: Set<String> = []

    init(tenant: TenantID, config: NotificationRouter.Tenant, message: NotificationMessage, type: String, severity: Severity, now: Int64) {
        self.tenant = tenant
        self.config = config
        self.message = message
        self.type = type
        self.severity = severity
        self.now = now
    }

    /// A policy's group: rows with its key (per channel and person) go together at `due`.
    struct Group {
        var key: String
        var due: Int64
    }

    mutating func send(to audience: Audience, template: String?, group: Group? = nil) {
        for id in audience.channels { add(channel: id, person: nil, due: now, template: template, group: group) }
        for text in audience.recipients {
            var person: String
            var due = now
            switch Audience.Recipient(text) {
            case .person(let id)?: person = id
            case .roster(let id)?:
                guard let roster = config.rosters[id] else { unreachable(text, "there is no roster \(id)"); continue }
                guard let onCall = roster.onCall(at: now) else { unreachable(text, "nobody is on call in roster \(id)"); continue }
                person = onCall
                due = NotificationPerson.afterQuiet(roster.quietHours, severity: severity, breaks: true, now: now)
            case nil: continue
            }
            guard let preferences = config.people[person] else { unreachable("user:" + person, "\(person) has no notification preferences"); continue }
            guard let personal = preferences.due(severity, now: now) else { continue }
            due = max(due, personal)
            for id in preferences.channels { add(channel: id, person: preferences, due: due, template: template, group: group) }
        }
    }

    private mutating func add(channel id: String, person: NotificationPerson?, due: Int64, template: String?, group: Group?) {
        let target = id + "\u{0}" + (person?.id ?? "")
        guard seen.insert(target).inserted, let channel = config.channels[id], channel.enabled else { return }
        let to = channel.kind == .email ? person?.address : nil
        // MQTT is never grouped: an andon light or a PLC wants every state as it comes.
        let group = channel.kind == .mqtt ? nil : group
        entries.append(OutboxEntry(tenant: tenant, channel: id, recipient: person?.id, groupKey: group.map { $0.key + "|" + id + "|" + (person?.id ?? "") },
                                   messageID: NotificationRouter.messageID(), eventType: type,
                                   payload: message.body(for: channel.kind, template: template, type: type, to: to), createdAt: now,
                                   nextAttemptAt: max(due, group?.due ?? due)))
    }

    private mutating func unreachable(_ recipient: String, _ reason: String) {
        guard seen.insert("\u{0}" + recipient).inserted else { return }
        entries.append(OutboxEntry(tenant: tenant, channel: recipient, recipient: recipient, messageID: NotificationRouter.messageID(),
                                   eventType: type, payload: message.body(for: .log, template: nil, type: type), createdAt: now,
                                   status: .dead, nextAttemptAt: now, lastError: reason))
    }
}
