import DequeModule
import MQTTCodec

/// A message sent to a client with QoS > 0 and not yet fully acknowledged.
struct InflightMessage: Sendable {
    enum Stage: Sendable { case awaitingPuback, awaitingPubrec, awaitingPubcomp }
    /// The message's broker-wide sequence number, its key when saved.
    var sequence: Int64
    var message: Message
    var qos: QoS
    var retain: Bool
    var subscriptionIDs: [Int]
    var stage: Stage
}

/// A message waiting for a free in-flight slot or for its client to come back.
struct QueuedMessage: Sendable {
    var sequence: Int64
    var message: Message
    var qos: QoS
    var retain: Bool
    var subscriptionIDs: [Int]
}

/// Everything the broker keeps for a client id: outlives connections unless the session expiry says otherwise.
///
/// A broker holds one per client, most of them idle devices: the two optional fields are stored with
/// sentinels (no padding for their flags), which keeps a session at 104 bytes rather than 128.
struct Session: Sendable {
    let clientID: String
    /// Who created the session: only the same principal may resume it.
    var principal: Principal
    var subscriptions: [String: SubscriptionEntry] = [:]
    /// Outbound QoS 1/2 messages by packet id, in send order.
    var inflight: [UInt16: InflightMessage] = [:]
    var inflightOrder: [UInt16] = []
    var queue: Deque<QueuedMessage> = []
    /// Inbound QoS 2 packet ids received and not yet released (PUBREL).
    var inboundQoS2: Set<UInt16> = []
    /// The connection's raw id; 0 while offline (ids start at 1).
    private var connectionRaw = 0
    /// `Int64.min` while online.
    private var disconnectedAtRaw = Int64.min
    /// Seconds the session survives a disconnect; `UInt32.max` means forever.
    var expiryInterval: UInt32
    private var lastPacketID: UInt16 = 0

    var connection: ConnectionID? {
        get { connectionRaw == 0 ? nil : ConnectionID(connectionRaw) }
        set {
            precondition(newValue?.rawValue != 0, "connection ids start at 1")
            connectionRaw = newValue?.rawValue ?? 0
        }
    }

    /// Broker time (ms) of the disconnect, while offline.
    var disconnectedAt: Int64? {
        get { disconnectedAtRaw == .min ? nil : disconnectedAtRaw }
        set { disconnectedAtRaw = newValue ?? .min }
    }

    init(clientID: String, principal: Principal, expiryInterval: UInt32) {
        self.clientID = clientID
        self.principal = principal
        self.expiryInterval = expiryInterval
    }

    /// A packet id not used by any in-flight message.
    mutating func nextPacketID() -> UInt16 {
        repeat {
            lastPacketID = lastPacketID == UInt16.max ? 1 : lastPacketID + 1
        } while inflight[lastPacketID] != nil
        return lastPacketID
    }

    mutating func addInflight(_ id: UInt16, _ message: InflightMessage) {
        inflight[id] = message
        inflightOrder.append(id)
    }

    mutating func removeInflight(_ id: UInt16) -> InflightMessage? {
        guard let removed = inflight.removeValue(forKey: id) else { return nil }
        if inflightOrder.first == id {
            inflightOrder.removeFirst()
        } else {
            inflightOrder.removeAll { $0 == id }
        }
        return removed
    }

    /// Whether the session has expired by `now` (ms) while offline.
    func isExpired(at now: Int64) -> Bool {
        guard connection == nil, let disconnectedAt, expiryInterval != UInt32.max else { return false }
        return now >= disconnectedAt + Int64(expiryInterval) * 1000
    }
}

/// Opaque handle the shell assigns to each network connection.
public struct ConnectionID: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int
    public init(_ rawValue: Int) { self.rawValue = rawValue }
    public var description: String { "#\(rawValue)" }
}
