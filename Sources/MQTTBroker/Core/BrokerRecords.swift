public import MQTTCodec

/// A persistent session as it is saved: everything but its live connection and its messages.
/// Times are broker time (ms); the store turns them into wall-clock time and back.
public struct SessionRecord: Sendable, Equatable {
    public var clientID: String
    public var principal: Principal
    public var expiryInterval: UInt32
    /// When the client went away; `nil` while it was connected (a restart then counts as its disconnect).
    public var disconnectedAt: Int64?
    public var subscriptions: [String: SubscriptionRecord]
    /// The will of the connected client, or the delayed will of the one that went away.
    public var will: WillRecord?
    public var inboundQoS2: [UInt16]
}

/// One subscription of a session.
public struct SubscriptionRecord: Sendable, Equatable {
    public var options: SubscriptionOptions
    public var identifier: Int?
    public var excluded: [String]
}

/// A will waiting for its client's disconnect (`fireAt` nil) or for its delay to pass.
public struct WillRecord: Sendable, Equatable {
    public var will: Will
    public var fireAt: Int64?
}

/// A QoS 1/2 message of a session: queued, or in flight under a packet id.
public struct SessionMessageRecord: Sendable {
    public enum Stage: UInt8, Sendable {
        case queued = 0, awaitingPuback = 1, awaitingPubrec = 2, awaitingPubcomp = 3
    }

    public var clientID: String
    /// Broker-wide order of the message: a session's queue is in this order.
    public var sequence: Int64
    public var message: Message
    public var qos: QoS
    public var retain: Bool
    public var subscriptionIDs: [Int]
    public var stage: Stage
    /// The packet id while in flight.
    public var packetID: UInt16?
}

/// Which message of which session.
public struct SessionMessageKey: Hashable, Sendable {
    public var clientID: String
    public var sequence: Int64
}

/// What changed since the last save: the new form of each changed object, or its removal.
public struct BrokerDelta: Sendable {
    /// Retained messages by topic; `nil` removes the topic's.
    public var retained: [(topic: String, message: Message?)] = []
    /// Sessions that ended since: their saved messages go with them (before the upserts below).
    public var endedSessions: [String] = []
    /// Persistent sessions by client id; `nil` removes one.
    public var sessions: [(clientID: String, record: SessionRecord?)] = []
    /// Session messages; `nil` removes one.
    public var messages: [(key: SessionMessageKey, record: SessionMessageRecord?)] = []

    public var isEmpty: Bool { retained.isEmpty && endedSessions.isEmpty && sessions.isEmpty && messages.isEmpty }
    public var count: Int { retained.count + endedSessions.count + sessions.count + messages.count }
}

/// Everything saved, as loaded at start.
public struct BrokerImage: Sendable {
    public var retained: [Message] = []
    public var sessions: [SessionRecord] = []
    /// Session messages in sequence order.
    public var messages: [SessionMessageRecord] = []

    public init() {}
}

/// The keys of what changed, gathered by the core as it works; turned into a ``BrokerDelta`` on save.
struct PersistenceChanges: Sendable {
    var retained: Set<String> = []
    var endedSessions: Set<String> = []
    var sessions: Set<String> = []
    var messages: Set<SessionMessageKey> = []

    var isEmpty: Bool { retained.isEmpty && endedSessions.isEmpty && sessions.isEmpty && messages.isEmpty }
}
