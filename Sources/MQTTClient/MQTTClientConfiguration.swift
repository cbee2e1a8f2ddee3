#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
public import MQTTCodec
public import NIOCore
public import NIOSSL

/// Where and how an ``MQTTClient`` connects.
public struct MQTTClientConfiguration: Sendable {
    public var host = "127.0.0.1"
    public var port = 1883
    /// TLS settings; `nil` connects over plain TCP.
    public var tls: TLSConfiguration?
    /// Name checked against the server certificate; defaults to `host`.
    public var serverHostname: String?
    public var version: ProtocolVersion = .v5
    /// Empty asks the server to assign one (v5) — the assigned id is reused on reconnect.
    public var clientID = ""
    /// Clean Start / Clean Session on the first connect. Reconnects resume the session when it persists.
    public var cleanStart = true
    /// Seconds; 0 disables keepalive pings.
    public var keepAlive: UInt16 = 60
    public var username: String?
    public var password: [UInt8]?
    public var will: Will?
    /// CONNECT properties (v5): session expiry interval, receive maximum, maximum packet size, user properties…
    public var connectProperties = Properties()
    /// Reconnect automatically after losing an established connection; `nil` turns it off.
    public var reconnect: ReconnectPolicy? = ReconnectPolicy()
    public var connectTimeout: TimeAmount = .seconds(10)
    /// Messages buffered for ``MQTTClient/messages`` before the newest are dropped (and counted).
    /// With manual acknowledgement none is dropped: past this many unacknowledged messages the
    /// client stops reading from the server until the application catches up.
    public var messageBufferLimit = 10_000
    /// Acknowledge inbound QoS 1/2 messages only when ``InboundMessage/acknowledge()`` is called
    /// (after the application committed them), instead of on arrival. Read ``MQTTClient/messages``
    /// from before `connect()`: a resumed session's messages can come ahead of a SUBACK, and past
    /// `messageBufferLimit` unacknowledged ones the client stops reading.
    public var manualAcknowledgement = false

    public init(host: String = "127.0.0.1", port: Int = 1883, version: ProtocolVersion = .v5, clientID: String = "") {
        self.host = host
        self.port = port
        self.version = version
        self.clientID = clientID
    }

    /// Whether the server keeps the session after a disconnect, so reconnects should resume it.
    var sessionPersists: Bool {
        version == .v5 ? (connectProperties.sessionExpiryInterval ?? 0) > 0 : !cleanStart
    }
}

/// Exponential backoff with jitter between reconnect attempts.
public struct ReconnectPolicy: Sendable {
    public var initialDelay: TimeAmount = .milliseconds(200)
    public var maximumDelay: TimeAmount = .seconds(30)

    public init(initialDelay: TimeAmount = .milliseconds(200), maximumDelay: TimeAmount = .seconds(30)) {
        self.initialDelay = initialDelay
        self.maximumDelay = maximumDelay
    }

    /// The delay before attempt `attempt` (0-based): doubling from `initialDelay`, capped, times a random 50–100 %.
    public func delay(attempt: Int) -> TimeAmount {
        let base = initialDelay.nanoseconds << Int64(min(attempt, 30))
        let capped = min(base, maximumDelay.nanoseconds)
        return .nanoseconds(Int64(Double(capped) * Double.random(in: 0.5...1.0)))
    }
}

/// Why a client operation failed.
public struct MQTTClientError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate let name: String
        public static let connectionRefused = Code(name: "connectionRefused")
        public static let notConnected = Code(name: "notConnected")
        public static let connectionClosed = Code(name: "connectionClosed")
        public static let timeout = Code(name: "timeout")
        public static let rejected = Code(name: "rejected")
        public var description: String { name }
    }

    public var code: Code
    /// The server's reason code, when it sent one.
    public var reasonCode: ReasonCode?
    public var context: String

    public init(_ code: Code, reasonCode: ReasonCode? = nil, _ context: String) {
        self.code = code
        self.reasonCode = reasonCode
        self.context = context
    }

    public var description: String {
        "\(code)\(reasonCode.map { " (\($0))" } ?? ""): \(context)"
    }
}

extension MQTTClientConfiguration {
    /// A broker address: `mqtt://[user:pass@]host[:port]` (`tcp://` alike), or `mqtts://` (`ssl://`)
    /// for TLS with port 8883 by default. nil when the text is not one.
    public init?(brokerURL text: String) {
        guard let url = URLComponents(string: text), let scheme = url.scheme, ["mqtt", "mqtts", "tcp", "ssl"].contains(scheme),
              let host = url.host, !host.isEmpty
        else { return nil }
        let secure = scheme == "mqtts" || scheme == "ssl"
        self.init(host: host, port: url.port ?? (secure ? 8883 : 1883))
        if secure { tls = TLSConfiguration.makeClientConfiguration() }
        username = url.user
        password = url.password.map { Array($0.utf8) }
    }
}
