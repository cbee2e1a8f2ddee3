/// An MQTT 5.0 reason code (also used, translated, for MQTT 3.1.1 return codes).
///
/// Values below 0x80 report success; 0x80 and above report failure.
public struct ReasonCode: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }

    /// Whether this code reports a failure (0x80 and above).
    public var isFailure: Bool { rawValue >= 0x80 }

    public static let success = ReasonCode(rawValue: 0x00)
    public static let normalDisconnection = ReasonCode(rawValue: 0x00)
    public static let grantedQoS0 = ReasonCode(rawValue: 0x00)
    public static let grantedQoS1 = ReasonCode(rawValue: 0x01)
    public static let grantedQoS2 = ReasonCode(rawValue: 0x02)
    public static let disconnectWithWillMessage = ReasonCode(rawValue: 0x04)
    public static let noMatchingSubscribers = ReasonCode(rawValue: 0x10)
    public static let noSubscriptionExisted = ReasonCode(rawValue: 0x11)
    public static let continueAuthentication = ReasonCode(rawValue: 0x18)
    public static let reAuthenticate = ReasonCode(rawValue: 0x19)
    public static let unspecifiedError = ReasonCode(rawValue: 0x80)
    public static let malformedPacket = ReasonCode(rawValue: 0x81)
    public static let protocolError = ReasonCode(rawValue: 0x82)
    public static let implementationSpecificError = ReasonCode(rawValue: 0x83)
    public static let unsupportedProtocolVersion = ReasonCode(rawValue: 0x84)
    public static let clientIdentifierNotValid = ReasonCode(rawValue: 0x85)
    public static let badUsernameOrPassword = ReasonCode(rawValue: 0x86)
    public static let notAuthorized = ReasonCode(rawValue: 0x87)
    public static let serverUnavailable = ReasonCode(rawValue: 0x88)
    public static let serverBusy = ReasonCode(rawValue: 0x89)
    public static let banned = ReasonCode(rawValue: 0x8A)
    public static let serverShuttingDown = ReasonCode(rawValue: 0x8B)
    public static let badAuthenticationMethod = ReasonCode(rawValue: 0x8C)
    public static let keepAliveTimeout = ReasonCode(rawValue: 0x8D)
    public static let sessionTakenOver = ReasonCode(rawValue: 0x8E)
    public static let topicFilterInvalid = ReasonCode(rawValue: 0x8F)
    public static let topicNameInvalid = ReasonCode(rawValue: 0x90)
    public static let packetIdentifierInUse = ReasonCode(rawValue: 0x91)
    public static let packetIdentifierNotFound = ReasonCode(rawValue: 0x92)
    public static let receiveMaximumExceeded = ReasonCode(rawValue: 0x93)
    public static let topicAliasInvalid = ReasonCode(rawValue: 0x94)
    public static let packetTooLarge = ReasonCode(rawValue: 0x95)
    public static let messageRateTooHigh = ReasonCode(rawValue: 0x96)
    public static let quotaExceeded = ReasonCode(rawValue: 0x97)
    public static let administrativeAction = ReasonCode(rawValue: 0x98)
    public static let payloadFormatInvalid = ReasonCode(rawValue: 0x99)
    public static let retainNotSupported = ReasonCode(rawValue: 0x9A)
    public static let qosNotSupported = ReasonCode(rawValue: 0x9B)
    public static let useAnotherServer = ReasonCode(rawValue: 0x9C)
    public static let serverMoved = ReasonCode(rawValue: 0x9D)
    public static let sharedSubscriptionsNotSupported = ReasonCode(rawValue: 0x9E)
    public static let connectionRateExceeded = ReasonCode(rawValue: 0x9F)
    public static let maximumConnectTime = ReasonCode(rawValue: 0xA0)
    public static let subscriptionIdentifiersNotSupported = ReasonCode(rawValue: 0xA1)
    public static let wildcardSubscriptionsNotSupported = ReasonCode(rawValue: 0xA2)

    /// The granted-QoS code for a subscription.
    public static func granted(_ qos: QoS) -> ReasonCode { ReasonCode(rawValue: qos.rawValue) }

    public var description: String { "0x" + String(rawValue, radix: 16, uppercase: true) }

    // Codes each packet may carry (MQTT 5.0 §3.2.2.2, §3.4.2.1, §3.7.2.1, §3.9.3, §3.11.3, §3.14.2.1, §3.15.2.1).
    static let connack: Set<UInt8> = [0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8C,
                                      0x90, 0x95, 0x97, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F]
    static let pubackPubrec: Set<UInt8> = [0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99]
    static let pubrelPubcomp: Set<UInt8> = [0x00, 0x92]
    static let suback: Set<UInt8> = [0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2]
    static let unsuback: Set<UInt8> = [0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91]
    static let disconnect: Set<UInt8> = [0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D, 0x8E, 0x8F, 0x90,
                                         0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E,
                                         0x9F, 0xA0, 0xA1, 0xA2]
    static let auth: Set<UInt8> = [0x00, 0x18, 0x19]

    /// The MQTT 3.1.1 CONNACK return code closest to this reason code.
    var connectReturnCodeV311: UInt8 {
        switch rawValue {
        case 0x00: 0
        case 0x84: 1
        case 0x85: 2
        case 0x86: 4
        case 0x87, 0x8A: 5
        default: 3
        }
    }

    /// Reads an MQTT 3.1.1 CONNACK return code as a 5.0 reason code.
    static func fromConnectReturnCodeV311(_ code: UInt8) throws(MQTTCodecError) -> ReasonCode {
        switch code {
        case 0: .success
        case 1: .unsupportedProtocolVersion
        case 2: .clientIdentifierNotValid
        case 3: .serverUnavailable
        case 4: .badUsernameOrPassword
        case 5: .notAuthorized
        default: throw .malformed("CONNACK return code \(code) is not defined in MQTT 3.1.1")
        }
    }
}

/// The protocol level a connection speaks.
public enum ProtocolVersion: UInt8, Hashable, Sendable, CustomStringConvertible {
    /// MQTT 3.1.1 (protocol level 4).
    case v311 = 4
    /// MQTT 5.0 (protocol level 5).
    case v5 = 5

    public var description: String { self == .v5 ? "5.0" : "3.1.1" }
}

/// Quality of service of a message or subscription.
public enum QoS: UInt8, Hashable, Sendable, Comparable, CustomStringConvertible {
    case atMostOnce = 0
    case atLeastOnce = 1
    case exactlyOnce = 2

    public static func < (lhs: QoS, rhs: QoS) -> Bool { lhs.rawValue < rhs.rawValue }
    public var description: String { "QoS\(rawValue)" }
}
