/// The broker's bounds. Each one is configurable and each breach is counted.
public struct BrokerLimits: Sendable {
    /// Concurrent client connections; further CONNECTs get "quota exceeded" / "server unavailable".
    public var maxConnections = 100_000
    /// Inbound QoS 1/2 messages a client may have unacknowledged (our v5 Receive Maximum).
    public var receiveMaximum: UInt16 = 1024
    /// Outbound QoS 1/2 messages in flight per session, further capped by the client's Receive Maximum.
    public var maxInflightPerSession = 256
    /// QoS 1/2 messages queued per session while it is offline or its in-flight window is full.
    /// When full, new messages for that session are dropped and counted.
    public var maxQueuedMessagesPerSession = 10_000
    /// Subscriptions one session may hold; further filters get "quota exceeded" (0x97) in their SUBACK.
    public var maxSubscriptionsPerSession = 1000
    /// Retained messages kept broker-wide; past it, retained copies of new topics are not stored (counted).
    /// Replacing or clearing an existing retained topic always works.
    public var maxRetainedMessages = 100_000
    /// Largest packet accepted from a client, fixed header included.
    public var maxPacketSize = 1 << 20
    /// Longest keepalive a client may ask for, in seconds (v5 Server Keep Alive); `nil` accepts any.
    public var maxKeepAlive: UInt16? = nil
    /// Topic aliases a client may define (client → server).
    public var topicAliasMaximum: UInt16 = 256
    /// Longest session expiry granted, in seconds (also applied to 3.1.1 persistent sessions).
    public var maxSessionExpiry: UInt32 = 7 * 24 * 3600

    public init() {}
}
