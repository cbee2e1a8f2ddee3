public import GembaCore

/// The kinds of notification configuration stored as the notifications module's JSON.
public enum NotificationConfigKind: String, Sendable, CaseIterable {
    case policy, roster, person
}

/// A notification channel, policy, roster or person as stored: the notifications module's JSON (opaque here) and,
/// for channels, the sealed secrets (encrypted by the notifications module; never stored in the clear).
public struct StoredNotificationConfig: Hashable, Sendable {
    public var tenant: TenantID
    public var id: String
    public var definition: String
    public var sealedSecrets: String?

    public init(tenant: TenantID, id: String, definition: String, sealedSecrets: String? = nil) {
        self.tenant = tenant
        self.id = id
        self.definition = definition
        self.sealedSecrets = sealedSecrets
    }
}

/// One notification on its way to one channel: the durable outbox's row.
public struct OutboxEntry: Hashable, Sendable {
    public enum Status: String, Sendable, CaseIterable {
        /// Waiting for its next attempt.
        case pending
        case delivered
        /// Every attempt failed, or the endpoint answered 410: kept for replay.
        case dead
    }

    /// Assigned by the store; 0 before it is stored.
    public var id: Int64
    public var tenant: TenantID
    /// The channel's id (for a recipient that could not be reached, the recipient: `user:…`, `roster:…`).
    public var channel: String
    /// The person it goes to (their sign-in e-mail); nil: the channel's own audience.
    public var recipient: String?
    /// Rows with the same group key that fall due together are sent as one message (a policy's grouping).
    public var groupKey: String?
    /// The message id receivers deduplicate by (`webhook-id`): `msg_…`, the same on every attempt.
    public var messageID: String
    public var eventType: String
    /// The rendered message (JSON), signed as is.
    public var payload: String
    public var createdAt: Int64
    public var status: Status
    public var attempts: Int
    public var nextAttemptAt: Int64
    public var lastError: String?
    public var deliveredAt: Int64?

    public init(id: Int64 = 0, tenant: TenantID, channel: String, recipient: String? = nil, groupKey: String? = nil, messageID: String, eventType: String, payload: String, createdAt: Int64,
                status: Status = .pending, attempts: Int = 0, nextAttemptAt: Int64, lastError: String? = nil, deliveredAt: Int64? = nil) {
        self.id = id
        self.tenant = tenant
        self.channel = channel
        self.recipient = recipient
        self.groupKey = groupKey
        self.messageID = messageID
        self.eventType = eventType
        self.payload = payload
        self.createdAt = createdAt
        self.status = status
        self.attempts = attempts
        self.nextAttemptAt = nextAttemptAt
        self.lastError = lastError
        self.deliveredAt = deliveredAt
    }
}

/// One attempt to deliver a notification: the delivery log.
public struct DeliveryAttempt: Hashable, Sendable {
    public var outbox: Int64
    public var time: Int64
    /// The HTTP status the endpoint answered; nil when there was no answer (refused, timed out).
    public var statusCode: Int?
    public var error: String?
    public var durationMilliseconds: Int64

    public init(outbox: Int64, time: Int64, statusCode: Int?, error: String?, durationMilliseconds: Int64) {
        self.outbox = outbox
        self.time = time
        self.statusCode = statusCode
        self.error = error
        self.durationMilliseconds = durationMilliseconds
    }
}

/// Channels, policies, the outbox and its delivery log. Outbox rows are written in the same
/// transaction as the alarm changes that caused them (``AlarmStore/recordAlarms(_:journal:deliveries:)``),
/// so nothing queued is lost and nothing is queued twice across a restart.
public protocol NotificationStore: Sendable {
    func allChannels() async throws -> [StoredNotificationConfig]
    func saveChannel(_ channel: StoredNotificationConfig) async throws
    /// False when there was none.
    func deleteChannel(tenant: TenantID, id: String) async throws -> Bool
    /// Policies, rosters or people.
    func allConfigs(_ kind: NotificationConfigKind) async throws -> [StoredNotificationConfig]
    func saveConfig(_ config: StoredNotificationConfig, kind: NotificationConfigKind) async throws
    /// False when there was none.
    func deleteConfig(_ kind: NotificationConfigKind, tenant: TenantID, id: String) async throws -> Bool
    /// Queues notifications (a channel test, a replay copy); answers them with the ids the store gave them.
    @discardableResult
    func enqueue(_ entries: [OutboxEntry]) async throws -> [OutboxEntry]
    /// Pending rows whose next attempt is due, oldest first. A backend several nodes share claims
    /// the rows it answers for a while (each row goes to one node; when that node dies before
    /// recording the attempt, the row falls due again for the others).
    func dueDeliveries(now: Int64, limit: Int) async throws -> [OutboxEntry]
    /// Records an attempt and the row's new status, attempts and next attempt time.
    func recordAttempt(_ attempt: DeliveryAttempt, entry: OutboxEntry) async throws
    /// The tenant's rows, newest first, optionally of one status.
    func deliveries(tenant: TenantID, status: OutboxEntry.Status?, limit: Int) async throws -> [OutboxEntry]
    func delivery(tenant: TenantID, id: Int64) async throws -> OutboxEntry?
    /// Puts a row back in the queue for an attempt at `now` (a dead letter replayed); false when there is none.
    func requeue(tenant: TenantID, id: Int64, now: Int64) async throws -> Bool
    func attempts(tenant: TenantID, outbox: Int64) async throws -> [DeliveryAttempt]
}
