import NIOCore

/// How a subscription delivers (MQTT 5.0 §3.8.3.1).
///
/// ```
/// bits 7-6 reserved | 5-4 retain handling | 3 retain as published | 2 no local | 1-0 maximum QoS
/// ```
public struct SubscriptionOptions: Hashable, Sendable {
    /// When the server sends retained messages at subscribe time.
    public enum RetainHandling: UInt8, Hashable, Sendable {
        case sendOnSubscribe = 0, sendIfNew = 1, doNotSend = 2
    }

    public var qos: QoS
    public var noLocal: Bool
    public var retainAsPublished: Bool
    public var retainHandling: RetainHandling

    public init(qos: QoS = .atMostOnce, noLocal: Bool = false, retainAsPublished: Bool = false,
                retainHandling: RetainHandling = .sendOnSubscribe) {
        self.qos = qos
        self.noLocal = noLocal
        self.retainAsPublished = retainAsPublished
        self.retainHandling = retainHandling
    }

    init(byte: UInt8, version: ProtocolVersion) throws(MQTTCodecError) {
        guard let qos = QoS(rawValue: byte & 0x03) else { throw .malformed("subscription QoS 3 is invalid") }
        if version == .v311 {
            guard byte & 0xFC == 0 else { throw .malformed("subscription options reserved bits are set") }
            self.init(qos: qos)
            return
        }
        guard byte & 0xC0 == 0 else { throw .malformed("subscription options reserved bits are set") }
        guard let handling = RetainHandling(rawValue: (byte >> 4) & 0x03) else {
            throw .protocolViolation("retain handling 3 is invalid")
        }
        self.init(qos: qos, noLocal: byte & 0x04 != 0, retainAsPublished: byte & 0x08 != 0, retainHandling: handling)
    }

    func byte(version: ProtocolVersion) -> UInt8 {
        guard version == .v5 else { return qos.rawValue }
        return qos.rawValue | (noLocal ? 0x04 : 0) | (retainAsPublished ? 0x08 : 0) | retainHandling.rawValue << 4
    }
}

/// One topic filter in a SUBSCRIBE.
public struct Subscription: Hashable, Sendable {
    public var filter: String
    public var options: SubscriptionOptions

    public init(filter: String, options: SubscriptionOptions = SubscriptionOptions()) {
        self.filter = filter
        self.options = options
    }
}

/// SUBSCRIBE (MQTT 5.0 §3.8): `packet id | [properties] | { filter | options }+`.
public struct Subscribe: Hashable, Sendable {
    public var packetID: UInt16
    public var subscriptions: [Subscription]
    public var properties: Properties

    public init(packetID: UInt16, subscriptions: [Subscription], properties: Properties = Properties()) {
        self.packetID = packetID
        self.subscriptions = subscriptions
        self.properties = properties
    }

    static func decode(from body: inout ByteBuffer, version: ProtocolVersion) throws(MQTTCodecError) -> Subscribe {
        let id = try body.readMQTTUInt16("packet identifier")
        guard id != 0 else { throw .malformed("packet identifier 0") }
        let properties = version == .v5 ? try Properties.decode(from: &body, context: .subscribe) : Properties()
        guard properties.subscriptionIdentifiers.count <= 1 else {
            throw .protocolViolation("SUBSCRIBE carries more than one subscription identifier")
        }
        var subscriptions: [Subscription] = []
        while body.readableBytes > 0 {
            let filter = try body.readMQTTString("topic filter")
            let options = try SubscriptionOptions(byte: try body.readMQTTByte("subscription options"), version: version)
            subscriptions.append(Subscription(filter: filter, options: options))
        }
        guard !subscriptions.isEmpty else { throw .protocolViolation("SUBSCRIBE has no topic filter") }
        return Subscribe(packetID: id, subscriptions: subscriptions, properties: properties)
    }

    func encodeBody(into body: inout ByteBuffer, version: ProtocolVersion) throws(MQTTCodecError) {
        body.writeInteger(packetID)
        if version == .v5 { try properties.encode(into: &body) }
        for subscription in subscriptions {
            try checkEncodable(subscription.filter, "topic filter")
            body.writeMQTTString(subscription.filter)
            body.writeInteger(subscription.options.byte(version: version))
        }
    }
}

/// SUBACK (MQTT 5.0 §3.9): `packet id | [properties] | reason code per filter`.
public struct SubAck: Hashable, Sendable {
    public var packetID: UInt16
    public var reasonCodes: [ReasonCode]
    public var properties: Properties

    public init(packetID: UInt16, reasonCodes: [ReasonCode], properties: Properties = Properties()) {
        self.packetID = packetID
        self.reasonCodes = reasonCodes
        self.properties = properties
    }

    static func decode(from body: inout ByteBuffer, version: ProtocolVersion) throws(MQTTCodecError) -> SubAck {
        let id = try body.readMQTTUInt16("packet identifier")
        let properties = version == .v5 ? try Properties.decode(from: &body, context: .suback) : Properties()
        var codes: [ReasonCode] = []
        while body.readableBytes > 0 {
            let code = try body.readMQTTByte("return code")
            let valid = version == .v5 ? ReasonCode.suback.contains(code) : [0, 1, 2, 0x80].contains(code)
            guard valid else { throw .malformed("SUBACK code 0x\(String(code, radix: 16)) is invalid") }
            codes.append(ReasonCode(rawValue: code))
        }
        return SubAck(packetID: id, reasonCodes: codes, properties: properties)
    }

    func encodeBody(into body: inout ByteBuffer, version: ProtocolVersion) throws(MQTTCodecError) {
        body.writeInteger(packetID)
        if version == .v5 { try properties.encode(into: &body) }
        for code in reasonCodes {
            body.writeInteger(version == .v5 || !code.isFailure ? code.rawValue : 0x80)
        }
    }
}

/// UNSUBSCRIBE (MQTT 5.0 §3.10): `packet id | [properties] | filter+`.
public struct Unsubscribe: Hashable, Sendable {
    public var packetID: UInt16
    public var filters: [String]
    public var properties: Properties

    public init(packetID: UInt16, filters: [String], properties: Properties = Properties()) {
        self.packetID = packetID
        self.filters = filters
        self.properties = properties
    }

    static func decode(from body: inout ByteBuffer, version: ProtocolVersion) throws(MQTTCodecError) -> Unsubscribe {
        let id = try body.readMQTTUInt16("packet identifier")
        guard id != 0 else { throw .malformed("packet identifier 0") }
        let properties = version == .v5 ? try Properties.decode(from: &body, context: .unsubscribe) : Properties()
        var filters: [String] = []
        while body.readableBytes > 0 { filters.append(try body.readMQTTString("topic filter")) }
        guard !filters.isEmpty else { throw .protocolViolation("UNSUBSCRIBE has no topic filter") }
        return Unsubscribe(packetID: id, filters: filters, properties: properties)
    }

    func encodeBody(into body: inout ByteBuffer, version: ProtocolVersion) throws(MQTTCodecError) {
        body.writeInteger(packetID)
        if version == .v5 { try properties.encode(into: &body) }
        for filter in filters {
            try checkEncodable(filter, "topic filter")
            body.writeMQTTString(filter)
        }
    }
}

/// UNSUBACK (MQTT 5.0 §3.11): `packet id | [properties | reason code per filter]` (v5 only after the id).
public struct UnsubAck: Hashable, Sendable {
    public var packetID: UInt16
    /// Empty in MQTT 3.1.1, which has no per-filter result.
    public var reasonCodes: [ReasonCode]
    public var properties: Properties

    public init(packetID: UInt16, reasonCodes: [ReasonCode] = [], properties: Properties = Properties()) {
        self.packetID = packetID
        self.reasonCodes = reasonCodes
        self.properties = properties
    }

    static func decode(from body: inout ByteBuffer, version: ProtocolVersion) throws(MQTTCodecError) -> UnsubAck {
        let id = try body.readMQTTUInt16("packet identifier")
        guard version == .v5 else { return UnsubAck(packetID: id) }
        let properties = try Properties.decode(from: &body, context: .unsuback)
        var codes: [ReasonCode] = []
        while body.readableBytes > 0 {
            let code = try body.readMQTTByte("reason code")
            guard ReasonCode.unsuback.contains(code) else { throw .malformed("UNSUBACK code \(code) is invalid") }
            codes.append(ReasonCode(rawValue: code))
        }
        return UnsubAck(packetID: id, reasonCodes: codes, properties: properties)
    }

    func encodeBody(into body: inout ByteBuffer, version: ProtocolVersion) throws(MQTTCodecError) {
        body.writeInteger(packetID)
        guard version == .v5 else { return }
        try properties.encode(into: &body)
        for code in reasonCodes { body.writeInteger(code.rawValue) }
    }
}
