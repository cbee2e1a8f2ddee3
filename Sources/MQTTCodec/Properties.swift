import NIOCore

/// A name/value pair a v5 packet carries for the application (property 0x26).
public struct UserProperty: Hashable, Sendable {
    public var name: String
    public var value: String
    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}

/// The MQTT 5.0 properties of a packet (MQTT 5.0 §2.2.2). Empty for MQTT 3.1.1.
///
/// ```
/// property length (variable byte integer) | { identifier (variable byte integer) | value }*
/// ```
/// Each property may appear once, except user properties and (in PUBLISH) subscription identifiers.
/// Stored copy-on-write behind one reference that is `nil` when empty, so packets stay small and cheap
/// to move through the pipeline; fields are read and written as if they were stored properties.
@dynamicMemberLookup
public struct Properties: Hashable, Sendable {
    /// The property values themselves.
    public struct Values: Hashable, Sendable {
        public var payloadFormatIndicator: UInt8?
        public var messageExpiryInterval: UInt32?
        public var contentType: String?
        public var responseTopic: String?
        public var correlationData: [UInt8]?
        public var subscriptionIdentifiers: [Int] = []
        public var sessionExpiryInterval: UInt32?
        public var assignedClientIdentifier: String?
        public var serverKeepAlive: UInt16?
        public var authenticationMethod: String?
        public var authenticationData: [UInt8]?
        public var requestProblemInformation: UInt8?
        public var willDelayInterval: UInt32?
        public var requestResponseInformation: UInt8?
        public var responseInformation: String?
        public var serverReference: String?
        public var reasonString: String?
        public var receiveMaximum: UInt16?
        public var topicAliasMaximum: UInt16?
        public var topicAlias: UInt16?
        public var maximumQoS: UInt8?
        public var retainAvailable: UInt8?
        public var userProperties: [UserProperty] = []
        public var maximumPacketSize: UInt32?
        public var wildcardSubscriptionAvailable: UInt8?
        public var subscriptionIdentifierAvailable: UInt8?
        public var sharedSubscriptionAvailable: UInt8?

        static let empty = Values()
    }

    private final class Box: Sendable {
        let values: Values
        init(_ values: Values) { self.values = values }
    }

    private var box: Box?

    public init() {}

    public subscript<T>(dynamicMember keyPath: WritableKeyPath<Values, T>) -> T {
        get { (box?.values ?? Values.empty)[keyPath: keyPath] }
        set {
            var values = box?.values ?? Values()
            values[keyPath: keyPath] = newValue
            box = values == Values.empty ? nil : Box(values)
        }
    }

    /// Whether no property is set.
    public var isEmpty: Bool { box == nil }

    public static func == (lhs: Properties, rhs: Properties) -> Bool {
        lhs.box === rhs.box || lhs.box?.values == rhs.box?.values
    }

    public func hash(into hasher: inout Hasher) { hasher.combine(box?.values) }
}

/// Where a property block sits; decides which identifiers it may hold (MQTT 5.0 §2.2.2.2).
enum PropertyContext: Sendable {
    case connect, connack, publish, will, ack, subscribe, suback, unsubscribe, unsuback, disconnect, auth
}

extension Properties {
    private static func allowed(_ id: UInt8, in context: PropertyContext) -> Bool {
        switch id {
        case 0x01, 0x02, 0x03, 0x08, 0x09: return context == .publish || context == .will
        case 0x0B: return context == .publish || context == .subscribe
        case 0x11: return context == .connect || context == .connack || context == .disconnect
        case 0x12, 0x13, 0x1A, 0x24, 0x25, 0x28, 0x29, 0x2A: return context == .connack
        case 0x15, 0x16: return context == .connect || context == .connack || context == .auth
        case 0x17, 0x19: return context == .connect
        case 0x18: return context == .will
        case 0x1C: return context == .connack || context == .disconnect
        case 0x1F: return ![.connect, .publish, .will, .subscribe, .unsubscribe].contains(context)
        case 0x21, 0x22, 0x27: return context == .connect || context == .connack
        case 0x23: return context == .publish
        case 0x26: return true
        default: return false
        }
    }

    /// Reads a property block (length prefix included) for `context`.
    static func decode(from buffer: inout ByteBuffer, context: PropertyContext) throws(MQTTCodecError) -> Properties {
        let length = try buffer.readMQTTVariableByteInteger("property length")
        guard var block = buffer.readSlice(length: length) else { throw .malformed("properties are truncated") }
        var values = Values()
        while block.readableBytes > 0 {
            let id = try block.readMQTTVariableByteInteger("property identifier")
            guard id <= 0xFF, allowed(UInt8(id), in: context) else {
                throw .protocolViolation("property 0x\(String(id, radix: 16)) is not allowed in \(context)")
            }
            try values.decodeValue(id: UInt8(id), from: &block)
        }
        var properties = Properties()
        if values != Values.empty { properties.box = Box(values) }
        return properties
    }

}

extension Properties.Values {
    fileprivate mutating func set<T>(
        _ keyPath: WritableKeyPath<Properties.Values, T?>, _ value: T, _ name: String
    ) throws(MQTTCodecError) {
        guard self[keyPath: keyPath] == nil else { throw .protocolViolation("\(name) appears more than once") }
        self[keyPath: keyPath] = value
    }

    fileprivate mutating func setFlag(
        _ keyPath: WritableKeyPath<Properties.Values, UInt8?>, _ buffer: inout ByteBuffer, _ name: String
    ) throws(MQTTCodecError) {
        let value = try buffer.readMQTTByte(name)
        guard value <= 1 else { throw .protocolViolation("\(name) must be 0 or 1, got \(value)") }
        try set(keyPath, value, name)
    }

    fileprivate mutating func decodeValue(id: UInt8, from b: inout ByteBuffer) throws(MQTTCodecError) {
        switch id {
        case 0x01: try setFlag(\.payloadFormatIndicator, &b, "payload format indicator")
        case 0x02: try set(\.messageExpiryInterval, b.readMQTTUInt32("message expiry"), "message expiry interval")
        case 0x03: try set(\.contentType, b.readMQTTString("content type"), "content type")
        case 0x08:
            let topic = try b.readMQTTString("response topic")
            try Topic.validateName(topic)
            try set(\.responseTopic, topic, "response topic")
        case 0x09: try set(\.correlationData, b.readMQTTBinary("correlation data"), "correlation data")
        case 0x0B:
            let id = try b.readMQTTVariableByteInteger("subscription identifier")
            guard id > 0 else { throw .protocolViolation("subscription identifier 0 is not allowed") }
            subscriptionIdentifiers.append(id)
        case 0x11: try set(\.sessionExpiryInterval, b.readMQTTUInt32("session expiry"), "session expiry interval")
        case 0x12: try set(\.assignedClientIdentifier, b.readMQTTString("assigned id"), "assigned client identifier")
        case 0x13: try set(\.serverKeepAlive, b.readMQTTUInt16("server keep alive"), "server keep alive")
        case 0x15: try set(\.authenticationMethod, b.readMQTTString("auth method"), "authentication method")
        case 0x16: try set(\.authenticationData, b.readMQTTBinary("auth data"), "authentication data")
        case 0x17: try setFlag(\.requestProblemInformation, &b, "request problem information")
        case 0x18: try set(\.willDelayInterval, b.readMQTTUInt32("will delay"), "will delay interval")
        case 0x19: try setFlag(\.requestResponseInformation, &b, "request response information")
        case 0x1A: try set(\.responseInformation, b.readMQTTString("response info"), "response information")
        case 0x1C: try set(\.serverReference, b.readMQTTString("server reference"), "server reference")
        case 0x1F: try set(\.reasonString, b.readMQTTString("reason string"), "reason string")
        case 0x21:
            let value = try b.readMQTTUInt16("receive maximum")
            guard value > 0 else { throw .protocolViolation("receive maximum 0 is not allowed") }
            try set(\.receiveMaximum, value, "receive maximum")
        case 0x22: try set(\.topicAliasMaximum, b.readMQTTUInt16("topic alias max"), "topic alias maximum")
        case 0x23:
            let value = try b.readMQTTUInt16("topic alias")
            guard value > 0 else { throw .protocolViolation("topic alias 0 is not allowed") }
            try set(\.topicAlias, value, "topic alias")
        case 0x24: try setFlag(\.maximumQoS, &b, "maximum QoS")
        case 0x25: try setFlag(\.retainAvailable, &b, "retain available")
        case 0x26:
            let name = try b.readMQTTString("user property name")
            userProperties.append(UserProperty(name, try b.readMQTTString("user property value")))
        case 0x27:
            let value = try b.readMQTTUInt32("maximum packet size")
            guard value > 0 else { throw .protocolViolation("maximum packet size 0 is not allowed") }
            try set(\.maximumPacketSize, value, "maximum packet size")
        case 0x28: try setFlag(\.wildcardSubscriptionAvailable, &b, "wildcard subscription available")
        case 0x29: try setFlag(\.subscriptionIdentifierAvailable, &b, "subscription identifiers available")
        case 0x2A: try setFlag(\.sharedSubscriptionAvailable, &b, "shared subscription available")
        default: throw .protocolViolation("unknown property 0x\(String(id, radix: 16))")
        }
    }

}

extension Properties {
    /// Writes the property block, length prefix included.
    func encode(into buffer: inout ByteBuffer) throws(MQTTCodecError) {
        if isEmpty {
            buffer.writeInteger(UInt8(0))
            return
        }
        var body = ByteBufferAllocator().buffer(capacity: 64)
        try encodeBody(into: &body)
        buffer.writeVariableByteInteger(body.readableBytes)
        buffer.writeImmutableBuffer(body)
    }

    /// Bytes `encode(into:)` writes.
    func encodedSize() throws(MQTTCodecError) -> Int {
        if isEmpty { return 1 }
        var body = ByteBufferAllocator().buffer(capacity: 64)
        try encodeBody(into: &body)
        return variableByteIntegerSize(body.readableBytes) + body.readableBytes
    }

    private func encodeBody(into b: inout ByteBuffer) throws(MQTTCodecError) {
        guard let values = box?.values else { return }
        try values.encodeBody(into: &b)
    }
}

extension Properties.Values {
    fileprivate func encodeBody(into b: inout ByteBuffer) throws(MQTTCodecError) {
        func byte(_ id: UInt8, _ value: UInt8?) { if let value { b.writeInteger(id); b.writeInteger(value) } }
        func u16(_ id: UInt8, _ value: UInt16?) { if let value { b.writeInteger(id); b.writeInteger(value) } }
        func u32(_ id: UInt8, _ value: UInt32?) { if let value { b.writeInteger(id); b.writeInteger(value) } }
        func string(_ id: UInt8, _ value: String?) throws(MQTTCodecError) {
            guard let value else { return }
            try checkEncodable(value, "property 0x\(String(id, radix: 16))")
            b.writeInteger(id)
            b.writeMQTTString(value)
        }
        func binary(_ id: UInt8, _ value: [UInt8]?) {
            if let value { b.writeInteger(id); b.writeMQTTBinary(value) }
        }
        byte(0x01, payloadFormatIndicator)
        u32(0x02, messageExpiryInterval)
        try string(0x03, contentType)
        try string(0x08, responseTopic)
        binary(0x09, correlationData)
        for id in subscriptionIdentifiers {
            b.writeInteger(UInt8(0x0B))
            b.writeVariableByteInteger(id)
        }
        u32(0x11, sessionExpiryInterval)
        try string(0x12, assignedClientIdentifier)
        u16(0x13, serverKeepAlive)
        try string(0x15, authenticationMethod)
        binary(0x16, authenticationData)
        byte(0x17, requestProblemInformation)
        u32(0x18, willDelayInterval)
        byte(0x19, requestResponseInformation)
        try string(0x1A, responseInformation)
        try string(0x1C, serverReference)
        try string(0x1F, reasonString)
        u16(0x21, receiveMaximum)
        u16(0x22, topicAliasMaximum)
        u16(0x23, topicAlias)
        byte(0x24, maximumQoS)
        byte(0x25, retainAvailable)
        for property in userProperties {
            try checkEncodable(property.name, "user property name")
            try checkEncodable(property.value, "user property value")
            b.writeInteger(UInt8(0x26))
            b.writeMQTTString(property.name)
            b.writeMQTTString(property.value)
        }
        u32(0x27, maximumPacketSize)
        byte(0x28, wildcardSubscriptionAvailable)
        byte(0x29, subscriptionIdentifierAvailable)
        byte(0x2A, sharedSubscriptionAvailable)
    }
}
