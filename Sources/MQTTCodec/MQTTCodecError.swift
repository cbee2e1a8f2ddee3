/// Why a sequence of bytes is not a valid MQTT packet, with enough context to log it.
///
/// Every decoding failure is one of these; a decoder never traps on bad input.
public struct MQTTCodecError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The class of failure; each maps to the MQTT 5.0 reason code a broker sends back.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        fileprivate enum Base: String, Hashable, Sendable {
            case malformedPacket, protocolError, packetTooLarge, topicNameInvalid, topicFilterInvalid
            case unsupportedProtocolVersion, unsupportedOperation
        }
        fileprivate let base: Base

        /// The bytes do not follow the packet grammar (lengths, flags, UTF-8, property encoding).
        public static let malformedPacket = Code(base: .malformedPacket)
        /// The packet is well formed but not allowed here (duplicate property, forbidden value).
        public static let protocolError = Code(base: .protocolError)
        /// The packet is larger than the configured maximum packet size.
        public static let packetTooLarge = Code(base: .packetTooLarge)
        /// A PUBLISH topic name breaks the topic rules (wildcards, empty, NUL).
        public static let topicNameInvalid = Code(base: .topicNameInvalid)
        /// A SUBSCRIBE/UNSUBSCRIBE topic filter breaks the filter rules.
        public static let topicFilterInvalid = Code(base: .topicFilterInvalid)
        /// A CONNECT names a protocol level other than 3.1.1 (4) or 5.0 (5).
        public static let unsupportedProtocolVersion = Code(base: .unsupportedProtocolVersion)
        /// The encoder was asked for something the negotiated version cannot carry.
        public static let unsupportedOperation = Code(base: .unsupportedOperation)

        public var description: String { base.rawValue }
    }

    /// What went wrong.
    public var code: Code
    /// Where and why, in words, for logs and reason strings.
    public var context: String

    public init(_ code: Code, _ context: String) {
        self.code = code
        self.context = context
    }

    /// The MQTT 5.0 reason code that tells a peer about this failure.
    public var reasonCode: ReasonCode {
        switch code.base {
        case .malformedPacket: .malformedPacket
        case .protocolError, .unsupportedOperation: .protocolError
        case .packetTooLarge: .packetTooLarge
        case .topicNameInvalid: .topicNameInvalid
        case .topicFilterInvalid: .topicFilterInvalid
        case .unsupportedProtocolVersion: .unsupportedProtocolVersion
        }
    }

    public var description: String { "\(code): \(context)" }

    static func malformed(_ context: String) -> Self { .init(.malformedPacket, context) }
    static func protocolViolation(_ context: String) -> Self { .init(.protocolError, context) }
}
