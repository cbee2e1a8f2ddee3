
public import NIOCore
public import NIOSSL

/// How the embedded broker listens and whom it lets in.
public struct BrokerConfiguration: Sendable {
    /// Address to bind; `127.0.0.1` unless the operator asks for more.
    public var host = "127.0.0.1"
    /// Plain MQTT port; 0 picks a free port (tests).
    public var port = 1883
    /// TLS port, used when `tls` is set; 0 picks a free port.
    public var tlsPort = 8883
    /// Server TLS settings (certificate chain and key); `nil` serves plain TCP only.
    public var tls: TLSConfiguration?
    public var limits = BrokerLimits()
    public var authenticator: any Authenticator = AllowAnonymous()
    public var authorizer: any Authorizer = AllowAll()
    /// Receives every accepted PUBLISH; QoS 1/2 acknowledgements wait for it.
    public var receiver: (any PublishReceiver)?
    /// Seconds a new connection has to send CONNECT before it is closed.
    public var connectTimeout: Int64 = 10
    /// Where retained messages and persistent sessions are saved to outlive a restart; `nil` keeps them in memory only.
    public var persistence: (any BrokerPersistence)?
    /// How long changes gather before they are saved, in ms, counted from the first change since the
    /// last save: what a `kill -9` can lose at most (plus the write in progress). An idle broker saves nothing and sets no timer.
    public var saveInterval: Int64 = 100
    /// With persistence: a publisher's acknowledgement of a QoS 1/2 message that a restart must
    /// find (retained, or queued or in flight for a persistent session) waits for the save that
    /// holds it, and such saves run back to back (group commit). Nothing acknowledged is lost to a
    /// `kill -9`; messages to online persistent subscribers are then written and deleted instead of
    /// passing within the save interval, which costs CPU.
    public var durableAcknowledgements = false
    /// The longest the broker's loop waits after a light iteration while many connections each send
    /// now and then, so that their messages are handled in batches: less CPU per message, up to this
    /// much more latency (see ``ReadCoalescer``; zero turns it off). Meanwhile the loop only stops
    /// polling its sockets: timers and hand-offs from other threads (the receiver's commits) still run.
    public var readCoalescing: TimeAmount = .zero

    public init() {}
}

/// The rest of Gemba's entry point for messages published to the broker.
public protocol PublishReceiver: Sendable {
    /// Called on the broker's event loop for every accepted PUBLISH (and every published will).
    /// Call `done` (from any thread) once the message is durably handled: the publisher's
    /// PUBACK/PUBREC is held until then, and a failure disconnects the publisher so it resends.
    func receive(_ message: ReceivedMessage, done: @escaping @Sendable (Result<Void, any Error>) -> Void)

    /// Whether the receiver takes messages on `topic`; the others are only routed (and acknowledged
    /// at once). Called on the broker's loop for every PUBLISH: it must be fast.
    func wants(topic: String) -> Bool

    /// Whether the receiver is behind: the broker then stops reading from the publishers that
    /// sent to it (TCP pushes back on them) until ``whenReady(_:)`` calls back.
    var isSaturated: Bool { get }

    /// Calls `resume` (from any thread) once the receiver can take more messages.
    func whenReady(_ resume: @escaping @Sendable () -> Void)
}

extension PublishReceiver {
    public func wants(topic: String) -> Bool { true }
    public var isSaturated: Bool { false }
    public func whenReady(_ resume: @escaping @Sendable () -> Void) { resume() }
}
