import AsyncHTTPClient
import Foundation
public import GembaCore
public import GembaStorage
public import Logging
internal import NIOCore
internal import NIOHTTP1
public import ServiceLifecycle

/// Notification administration and delivery: channels (their secrets sealed at rest, shown once),
/// policies, and the service that works through the durable outbox, with retries on the Standard
/// Webhooks schedule, `Retry-After` honoured, `410` disabling the channel and dead letters kept
/// for replay. Delivery never blocks alarm evaluation: the engine only writes outbox rows.
public final class Notifier: Service, Sendable {
    public struct Configuration: Sendable {
        public var schedule = RetrySchedule.standard
        /// How long one attempt may take.
        public var timeout: Duration = .seconds(10)
        /// Attempts in flight at once.
        public var concurrency = 8
        public var network = NetworkGuard(allowPrivateNetworks: false)
        public init() {}
    }

    public let router: NotificationRouter
    /// Signalled when notifications were queued: the outbox is read at once, not at the next poll.
    public let queued = Wakeup()
    private let store: any NotificationStore
    private let box: SecretBox
    private let configuration: Configuration
    private let logger: Logger
    private let embeddedBroker: (any MQTTPublishing)?
    private let externalBrokers: ExternalBrokers

    /// `embeddedBroker` publishes for MQTT channels without a URL (the server's own broker).
    public init(store: any NotificationStore, box: SecretBox, router: NotificationRouter, configuration: Configuration = Configuration(),
                embeddedBroker: (any MQTTPublishing)? = nil, logger: Logger) {
        self.store = store
        self.box = box
        self.router = router
        self.configuration = configuration
        self.embeddedBroker = embeddedBroker
        externalBrokers = ExternalBrokers(timeout: configuration.timeout, logger: logger)
        self.logger = logger
    }

    /// Loads channels (opening their secrets), policies, rosters and people into the router.
    public func load() async throws {
        for row in try await store.allChannels() {
            guard let stored = try? JSONDecoder().decode(NotificationChannel.Stored.self, from: Data(row.definition.utf8)) else { continue }
            let secrets = try row.sealedSecrets.map(box.open) ?? []
            router.set(NotificationChannel(stored, secrets: secrets), id: row.id, tenant: row.tenant)
        }
        try await load(.policy, as: NotificationPolicy.self) { router.set($0, id: $1, tenant: $2) }
        try await load(.roster, as: OnCallRoster.self) { router.set($0, id: $1, tenant: $2) }
        try await load(.person, as: NotificationPerson.self) { router.set($0, id: $1, tenant: $2) }
    }

    private func load<Config: Decodable>(_ kind: NotificationConfigKind, as type: Config.Type, into set: (Config, String, TenantID) -> Void)
        async throws {
        for row in try await store.allConfigs(kind) {
            guard let config = try? JSONDecoder().decode(Config.self, from: Data(row.definition.utf8)) else {
                logger.error("a stored notification \(kind.rawValue) cannot be read; it is skipped", metadata: ["id": "\(row.id)"])
                continue
            }
            set(config, row.id, row.tenant)
        }
    }

    private func persist<Config: Encodable>(_ config: Config, id: String, kind: NotificationConfigKind, tenant: TenantID) async throws {
        let json = String(decoding: try JSONEncoder().encode(config), as: UTF8.self)
        try await store.saveConfig(StoredNotificationConfig(tenant: tenant, id: id, definition: json), kind: kind)
    }

    // MARK: Administration

    public func channels(tenant: TenantID) -> [NotificationChannel] { router.channels(tenant: tenant) }
    public func policies(tenant: TenantID) -> [NotificationPolicy] { router.policies(tenant: tenant) }

    /// Creates or changes a channel; a new webhook channel gets a signing secret, answered here only.
    /// `password` (e-mail and MQTT channels) replaces the stored one; nil keeps it.
    public func save(_ input: NotificationChannel, password: String? = nil, tenant: TenantID) async throws
        -> (channel: NotificationChannel, secret: String?) {
        var channel = input
        let existing = router.channel(channel.id, tenant: tenant)
        if let existing, existing.kind != channel.kind {
            throw ModelError(.conflict, "channel \(channel.id) is a \(existing.kind.rawValue) channel: delete it to make another kind")
        }
        if let password {
            guard channel.kind.takesPassword else { throw ModelError(.invalid, "a \(channel.kind.rawValue) channel takes no password") }
            guard !password.isEmpty, password.utf8.count <= 1000 else { throw ModelError(.invalid, "password is 1–1000 characters") }
            channel.secrets = [password]
        } else {
            channel.secrets = existing?.secrets ?? []
        }
        try channel.validate()
        if let host = channel.targetHost, let refusal = await configuration.network.refusal(host: host) {
            throw ModelError(.invalid, "\(channel.kind == .email ? "email.host" : "url"): \(refusal)")
        }
        var secret: String?
        if channel.kind == .webhook, channel.secrets.isEmpty {
            secret = StandardWebhook.newSecret()
            channel.secrets = [secret!]
        }
        try await persist(channel, tenant: tenant)
        return (channel, secret)
    }

    /// A new signing secret, answered here only; the previous one keeps signing beside it until the next rotation.
    public func rotateSecret(channel id: String, tenant: TenantID) async throws -> String? {
        guard var channel = router.channel(id, tenant: tenant), channel.kind == .webhook else { return nil }
        let secret = StandardWebhook.newSecret()
        channel.secrets = [secret] + channel.secrets.prefix(1)
        try await persist(channel, tenant: tenant)
        return secret
    }

    public func deleteChannel(_ id: String, tenant: TenantID) async throws -> Bool {
        guard try await store.deleteChannel(tenant: tenant, id: id) else { return false }
        router.set(nil as NotificationChannel?, id: id, tenant: tenant)
        return true
    }

    public func save(_ policy: NotificationPolicy, tenant: TenantID) async throws -> NotificationPolicy {
        try policy.validate()
        try checkTargets(channels: policy.allChannels, recipients: policy.recipients + policy.escalation.flatMap(\.recipients), tenant: tenant)
        try await persist(policy, id: policy.id, kind: .policy, tenant: tenant)
        router.set(policy, id: policy.id, tenant: tenant)
        return policy
    }

    public func deletePolicy(_ id: String, tenant: TenantID) async throws -> Bool {
        guard try await store.deleteConfig(.policy, tenant: tenant, id: id) else { return false }
        router.set(nil as NotificationPolicy?, id: id, tenant: tenant)
        return true
    }

    public func rosters(tenant: TenantID) -> [OnCallRoster] { router.rosters(tenant: tenant) }
    public func roster(_ id: String, tenant: TenantID) -> OnCallRoster? { router.roster(id, tenant: tenant) }

    /// Creates or changes a roster (its people are checked to be the tenant's members by the caller).
    public func save(_ roster: OnCallRoster, tenant: TenantID) async throws -> OnCallRoster {
        try roster.validate()
        try await persist(roster, id: roster.id, kind: .roster, tenant: tenant)
        router.set(roster, id: roster.id, tenant: tenant)
        return roster
    }

    /// Deletes a roster no policy names; false when there was none.
    public func deleteRoster(_ id: String, tenant: TenantID) async throws -> Bool {
        if let policy = router.policies(tenant: tenant).first(where: { policy in
            (policy.recipients + policy.escalation.flatMap(\.recipients)).contains("roster:" + id)
        }) {
            throw ModelError(.conflict, "policy \(policy.id) names roster \(id): change it first")
        }
        guard try await store.deleteConfig(.roster, tenant: tenant, id: id) else { return false }
        router.set(nil as OnCallRoster?, id: id, tenant: tenant)
        return true
    }

    public func people(tenant: TenantID) -> [NotificationPerson] { router.people(tenant: tenant) }
    public func person(_ id: String, tenant: TenantID) -> NotificationPerson? { router.person(id, tenant: tenant) }

    /// Stores a person's preferences.
    public func save(_ person: NotificationPerson, tenant: TenantID) async throws -> NotificationPerson {
        try person.validate()
        try checkChannels(person.channels, tenant: tenant)
        try await persist(person, id: person.id, kind: .person, tenant: tenant)
        router.set(person, id: person.id, tenant: tenant)
        return person
    }

    public func deletePerson(_ id: String, tenant: TenantID) async throws -> Bool {
        guard try await store.deleteConfig(.person, tenant: tenant, id: id) else { return false }
        router.set(nil as NotificationPerson?, id: id, tenant: tenant)
        return true
    }

    /// Refuses channels and rosters the tenant does not have.
    public func checkTargets(channels: [String], recipients: [String], tenant: TenantID) throws(ModelError) {
        try checkChannels(channels, tenant: tenant)
        for text in recipients {
            if case .roster(let id)? = Audience.Recipient(text), router.roster(id, tenant: tenant) == nil {
                throw ModelError(.invalid, "recipients: there is no roster \(id)")
            }
        }
    }

    private func checkChannels(_ ids: [String], tenant: TenantID) throws(ModelError) {
        for id in ids where router.channel(id, tenant: tenant) == nil { throw ModelError(.invalid, "channels: there is no channel \(id)") }
    }

    /// Queues a test message on a channel; nil when there is no such channel.
    public func sendTest(channel id: String, tenant: TenantID, by actor: String) async throws -> OutboxEntry? {
        guard let channel = router.channel(id, tenant: tenant) else { return nil }
        let now = Timestamp.now().millisecondsSinceEpoch
        let payload = NotificationMessage.testBody(for: channel.kind, text: "Test notification from Gemba, sent by \(actor)", time: now)
        let entry = OutboxEntry(tenant: tenant, channel: id, messageID: NotificationRouter.messageID(), eventType: "notification.test",
                                payload: payload, createdAt: now, nextAttemptAt: now)
        let stored = try await store.enqueue([entry]).first ?? entry
        queued.signal()
        return stored
    }

    public func deliveries(tenant: TenantID, status: OutboxEntry.Status?, limit: Int) async throws -> [OutboxEntry] {
        try await store.deliveries(tenant: tenant, status: status, limit: limit)
    }

    public func attempts(tenant: TenantID, id: Int64) async throws -> [DeliveryAttempt]? {
        guard try await store.delivery(tenant: tenant, id: id) != nil else { return nil }
        return try await store.attempts(tenant: tenant, outbox: id)
    }

    /// Puts a dead letter (or any row) back in the queue; false when there is none.
    public func replay(_ id: Int64, tenant: TenantID) async throws -> Bool {
        let requeued = try await store.requeue(tenant: tenant, id: id, now: Timestamp.now().millisecondsSinceEpoch)
        if requeued { queued.signal() }
        return requeued
    }

    private func persist(_ channel: NotificationChannel, tenant: TenantID) async throws {
        let json = String(decoding: try JSONEncoder().encode(channel.stored), as: UTF8.self)
        let sealed = channel.secrets.isEmpty ? nil : try box.seal(channel.secrets)
        try await store.saveChannel(StoredNotificationConfig(tenant: tenant, id: channel.id, definition: json, sealedSecrets: sealed))
        router.set(channel, id: channel.id, tenant: tenant)
    }

    // MARK: Delivery

    /// How long the outbox is left unread when nobody signals (rows written here signal): rows
    /// written by another node, and retries, wait at most this long (a retry comes 5 s after a
    /// failure at the soonest).
    static let pollInterval = Duration.seconds(1)

    /// Works through the outbox until graceful shutdown, with its own HTTP client (redirects refused: a
    /// redirect could lead a webhook into a private network).
    public func run() async throws {
        var http = HTTPClient.Configuration()
        http.redirectConfiguration = .disallow
        http.timeout = .init(connect: .seconds(5), read: .seconds(configuration.timeout.components.seconds))
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: http)
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    let due = try await self.store.dueDeliveries(now: Timestamp.now().millisecondsSinceEpoch, limit: 64)
                    await self.deliver(due, client: client)
                    if due.count == 64 { continue }
                } catch where !Task.isCancelled {
                    self.logger.warning("notification outbox could not be read; will retry", metadata: ["error": "\(error)"])
                } catch {
                    break  // cancelled: the service is stopping
                }
                await self.queued.wait(upTo: Self.pollInterval)
                try Task.checkCancellation()
            }
        }
        try await client.shutdown()
        await externalBrokers.closeAll()
    }

    /// Delivers due rows, a few at a time; each outcome is written before the next batch is read.
    /// Rows of one group (a policy's grouping) go as one message.
    func deliver(_ entries: [OutboxEntry], client: HTTPClient) async {
        await withTaskGroup(of: Void.self) { group in
            var running = 0
            for batch in Self.batches(entries) {
                if running == configuration.concurrency {
                    await group.next()
                    running -= 1
                }
                group.addTask { await self.attempt(batch, client: client) }
                running += 1
            }
        }
    }

    /// The rows in sending order: each ungrouped row alone, grouped rows together under their first.
    static func batches(_ entries: [OutboxEntry]) -> [[OutboxEntry]] {
        var batches: [[OutboxEntry]] = []
        var index: [String: Int] = [:]
        for entry in entries {
            if let key = entry.groupKey, let at = index[key] {
                batches[at].append(entry)
            } else {
                if let key = entry.groupKey { index[key] = batches.count }
                batches.append([entry])
            }
        }
        return batches
    }

    /// One attempt for a row, or for a group's rows as one message; the outcome is recorded on each row.
    private func attempt(_ batch: [OutboxEntry], client: HTTPClient) async {
        guard var entry = batch.first else { return }
        if batch.count > 1, let kind = router.channel(entry.channel, tenant: entry.tenant)?.kind {
            entry.payload = NotificationMessage.combined(batch.map(\.payload), for: kind)
            entry.eventType = "alarm.group"
            // The same rows retried make the same id (receivers deduplicate by it); another set makes another.
            entry.messageID = batch[0].messageID + "_\(batch.count)"
        }
        let started = ContinuousClock.now
        let outcome = await send(entry, client: client)
        let now = Timestamp.now().millisecondsSinceEpoch
        let elapsed = started.duration(to: .now)
        let jitter = Double.random(in: -1...1)   // one for the group: its rows stay together on retries
        if case .gone = outcome.verdict { await disable(entry.channel, tenant: entry.tenant, reason: "the endpoint answered 410 Gone") }
        for row in batch {
            let next = outcome.applied(to: row, now: now, schedule: configuration.schedule, jitter: jitter)
            if next.status == .dead, case .retry = outcome.verdict {
                logger.warning("notification is a dead letter after its last attempt", metadata: [
                    "notification.id": "\(row.id)", "notification.channel": "\(row.channel)", "error": "\(outcome.error ?? "")"])
            }
            let attempt = DeliveryAttempt(outbox: row.id, time: now, statusCode: outcome.statusCode, error: outcome.error,
                                          durationMilliseconds: elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)
            do {
                try await store.recordAttempt(attempt, entry: next)
            } catch {
                logger.error("a delivery's outcome could not be stored; it will be tried again", metadata: ["error": "\(error)"])
            }
        }
    }

    struct Outcome {
        enum Verdict { case delivered, gone, retry(Int64?), dead }
        var verdict: Verdict
        var statusCode: Int?
        var error: String?

        /// The row after this attempt: delivered, dead, or due again on the schedule.
        func applied(to row: OutboxEntry, now: Int64, schedule: RetrySchedule, jitter: Double) -> OutboxEntry {
            var next = row
            next.attempts += 1
            next.lastError = error
            switch verdict {
            case .delivered:
                next.status = .delivered
                next.deliveredAt = now
            case .gone, .dead:
                next.status = .dead
            case .retry(let retryAfter):
                if let due = schedule.next(after: next.attempts, now: now, retryAfter: retryAfter, jitter: jitter) {
                    next.nextAttemptAt = due
                } else {
                    next.status = .dead
                }
            }
            return next
        }
    }

    private func send(_ entry: OutboxEntry, client: HTTPClient) async -> Outcome {
        guard let channel = router.channel(entry.channel, tenant: entry.tenant) else {
            return Outcome(verdict: .dead, error: "the channel no longer exists")
        }
        guard channel.enabled else { return Outcome(verdict: .dead, error: "the channel is disabled: \(channel.disabledReason ?? "by an admin")") }
        if let host = channel.targetHost, let refusal = await configuration.network.refusal(host: host) {
            return Outcome(verdict: .retry(nil), error: refusal)
        }
        switch channel.kind {
        case .log:
            logger.notice("notification", metadata: ["notification.channel": "\(channel.id)", "notification.type": "\(entry.eventType)",
                                                     "notification.body": "\(entry.payload)"])
            return Outcome(verdict: .delivered)
        case .webhook, .slack, .teams: return await post(entry, to: channel, client: client)
        case .email: return await mail(entry, to: channel)
        case .mqtt: return await publish(entry, to: channel)
        }
    }

    private func post(_ entry: OutboxEntry, to channel: NotificationChannel, client: HTTPClient) async -> Outcome {
        var request = HTTPClientRequest(url: channel.url ?? "")
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "User-Agent", value: "Gemba-Webhooks/1")
        if channel.kind == .webhook {
            for (name, value) in StandardWebhook.headers(id: entry.messageID, timestamp: Timestamp.now().millisecondsSinceEpoch / 1000,
                                                         body: entry.payload, secrets: channel.secrets) {
                request.headers.add(name: name, value: value)
            }
        }
        request.body = .bytes(ByteBuffer(string: entry.payload))
        do {
            let response = try await client.execute(request, timeout: .seconds(configuration.timeout.components.seconds))
            _ = try? await response.body.collect(upTo: 64 << 10)
            let code = Int(response.status.code)
            switch code {
            case 200..<300: return Outcome(verdict: .delivered, statusCode: code)
            case 410: return Outcome(verdict: .gone, statusCode: code, error: "410 Gone")
            default:
                let retryAfter = response.headers.first(name: "Retry-After").flatMap(Int64.init).map { $0 * 1000 }
                return Outcome(verdict: .retry(retryAfter), statusCode: code, error: "HTTP \(code)")
            }
        } catch {
            return Outcome(verdict: .retry(nil), error: "\(error)")
        }
    }

    /// One message over SMTP; a 5xx answer (or a server without what the channel needs) is final.
    private func mail(_ entry: OutboxEntry, to channel: NotificationChannel) async -> Outcome {
        guard let settings = channel.email, let body = try? JSONDecoder().decode(QueuedMail.self, from: Data(entry.payload.utf8)) else {
            return Outcome(verdict: .dead, error: "the queued message is not an e-mail (was the channel changed?)")
        }
        let domain = settings.from.split(separator: "@").last.map(String.init) ?? "gemba"
        let message = EmailMessage(from: settings.from, to: body.to ?? settings.to, subject: body.subject, text: body.text,
                                   date: Timestamp.now().millisecondsSinceEpoch / 1000, messageID: "\(entry.messageID)@\(domain)")
        let client = SMTPClient(settings: settings, password: channel.secrets.first,
                                timeout: .nanoseconds(Int64(configuration.timeout.components.seconds) * 1_000_000_000))
        do {
            try await client.send(message)
            return Outcome(verdict: .delivered)
        } catch {
            return Outcome(verdict: error.permanent ? .dead : .retry(nil), error: error.message)
        }
    }

    /// An e-mail as queued: subject and text, and the person's address when it goes to one.
    private struct QueuedMail: Decodable {
        var subject: String
        var text: String
        var to: [String]?
    }

    /// One publish to the embedded broker or the channel's external one.
    private func publish(_ entry: OutboxEntry, to channel: NotificationChannel) async -> Outcome {
        guard let target = channel.mqtt else { return Outcome(verdict: .dead, error: "the channel has no mqtt settings") }
        let data = (try? JSONSerialization.jsonObject(with: Data(entry.payload.utf8)) as? [String: Any])?["data"] as? [String: Any]
        let topic = target.topic(data?.compactMapValues { $0 as? String } ?? [:])
        do {
            if channel.url == nil {
                guard let embeddedBroker else { return Outcome(verdict: .retry(nil), error: "this server runs no MQTT broker") }
                try await embeddedBroker.publish(topic: topic, payload: entry.payload, qos: target.qos, retain: target.retain)
            } else {
                try await externalBrokers.publish(entry.payload, topic: topic, channel: channel, tenant: entry.tenant)
            }
            return Outcome(verdict: .delivered)
        } catch {
            return Outcome(verdict: .retry(nil), error: "\(error)")
        }
    }

    private func disable(_ id: String, tenant: TenantID, reason: String) async {
        guard var channel = router.channel(id, tenant: tenant), channel.enabled else { return }
        channel.enabled = false
        channel.disabledReason = reason
        do { try await persist(channel, tenant: tenant) } catch { logger.error("a channel could not be disabled", metadata: ["error": "\(error)"]) }
        logger.warning("notification channel disabled", metadata: ["notification.channel": "\(id)", "reason": "\(reason)"])
    }
}
