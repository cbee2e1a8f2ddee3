public import NIOCore

/// PUBLISH: an application message (MQTT 5.0 §3.3).
///
/// ```
/// fixed header: 0011 | DUP | QoS×2 | RETAIN
/// topic name | [packet id, QoS > 0] | [properties, v5] | payload (rest of the packet)
/// ```
public struct Publish: Hashable, Sendable {
    /// The topic; may be empty in v5 when ``Properties/topicAlias`` names it.
    public var topic: String
    public var payload: ByteBuffer
    public var qos: QoS
    public var retain: Bool
    public var dup: Bool
    /// Present exactly when `qos` is above 0.
    public var packetID: UInt16?
    public var properties: Properties

    public init(topic: String, payload: ByteBuffer, qos: QoS = .atMostOnce, retain: Bool = false, dup: Bool = false,
                packetID: UInt16? = nil, properties: Properties = Properties()) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.dup = dup
        self.packetID = packetID
        self.properties = properties
    }

    static func decode(flags: UInt8, from body: inout ByteBuffer, version: ProtocolVersion) throws(MQTTCodecError) -> Publish {
        guard let qos = QoS(rawValue: (flags >> 1) & 0x03) else { throw .malformed("PUBLISH QoS 3 is invalid") }
        let dup = flags & 0x08 != 0
        if qos == .atMostOnce, dup { throw .malformed("PUBLISH QoS 0 with DUP set") }
        let topic = try body.readMQTTString("topic name")
        var packetID: UInt16?
        if qos != .atMostOnce {
            let id = try body.readMQTTUInt16("packet identifier")
            guard id != 0 else { throw .malformed("PUBLISH packet identifier 0") }
            packetID = id
        }
        let properties = version == .v5 ? try Properties.decode(from: &body, context: .publish) : Properties()
        if topic.isEmpty {
            guard !properties.isEmpty, properties.topicAlias != nil else {
                throw .init(.topicNameInvalid, "topic name is empty")
            }
        } else {
            try Topic.validateName(topic)
        }
        if !properties.isEmpty, properties.payloadFormatIndicator == 1,
           String(validating: body.readableBytesView, as: UTF8.self) == nil {
            throw .init(.protocolError, "payload is marked UTF-8 but is not valid UTF-8")
        }
        let payload = body.readSlice(length: body.readableBytes)!
        return Publish(topic: topic, payload: payload, qos: qos, retain: flags & 0x01 != 0, dup: dup,
                       packetID: packetID, properties: properties)
    }

    /// Bytes of the packet after the fixed header.
    func remainingLength(version: ProtocolVersion) throws(MQTTCodecError) -> Int {
        let propertiesSize = version == .v5 ? try properties.encodedSize() : 0
        return 2 + topic.utf8.count + (qos == .atMostOnce ? 0 : 2) + propertiesSize + payload.readableBytes
    }

    /// Bytes of the whole encoded packet, to check against a peer's maximum packet size.
    public func encodedSize(version: ProtocolVersion) throws(MQTTCodecError) -> Int {
        let remaining = try remainingLength(version: version)
        return 1 + variableByteIntegerSize(remaining) + remaining
    }

    func encode(into buffer: inout ByteBuffer, version: ProtocolVersion) throws(MQTTCodecError) {
        try checkEncodable(topic, "topic name")
        guard (qos == .atMostOnce) == (packetID == nil) else {
            throw .init(.unsupportedOperation, "PUBLISH needs a packet identifier exactly when QoS > 0")
        }
        let remaining = try remainingLength(version: version)
        guard remaining <= ByteBuffer.maxVariableByteInteger else {
            throw .init(.packetTooLarge, "PUBLISH of \(remaining) bytes exceeds the MQTT maximum")
        }
        let flags: UInt8 = (dup ? 0x08 : 0) | qos.rawValue << 1 | (retain ? 0x01 : 0)
        buffer.reserveCapacity(minimumWritableBytes: remaining + 5)
        buffer.writeInteger(PacketType.publish.rawValue << 4 | flags)
        buffer.writeVariableByteInteger(remaining)
        buffer.writeMQTTString(topic)
        if let packetID { buffer.writeInteger(packetID) }
        if version == .v5 { try properties.encode(into: &buffer) }
        buffer.writeImmutableBuffer(payload)
    }
}

/// PUBACK, PUBREC, PUBREL and PUBCOMP share this shape (MQTT 5.0 §3.4–3.7).
///
/// ```
/// packet id | [reason code | [properties]]   (v5; omitted when success and no properties)
/// ```
public struct PublishAck: Hashable, Sendable {
    public var packetID: UInt16
    public var reasonCode: ReasonCode
    public var properties: Properties

    public init(packetID: UInt16, reasonCode: ReasonCode = .success, properties: Properties = Properties()) {
        self.packetID = packetID
        self.reasonCode = reasonCode
        self.properties = properties
    }

    static func decode(from body: inout ByteBuffer, version: ProtocolVersion, allowed: Set<UInt8>) throws(MQTTCodecError) -> PublishAck {
        let id = try body.readMQTTUInt16("packet identifier")
        guard id != 0 else { throw .malformed("packet identifier 0") }
        guard version == .v5, body.readableBytes > 0 else { return PublishAck(packetID: id) }
        let code = try body.readMQTTByte("reason code")
        guard allowed.contains(code) else { throw .malformed("reason code 0x\(String(code, radix: 16)) is invalid here") }
        let properties = body.readableBytes > 0 ? try Properties.decode(from: &body, context: .ack) : Properties()
        return PublishAck(packetID: id, reasonCode: ReasonCode(rawValue: code), properties: properties)
    }

    func encodeBody(into body: inout ByteBuffer, version: ProtocolVersion) throws(MQTTCodecError) {
        body.writeInteger(packetID)
        guard version == .v5, reasonCode != .success || !properties.isEmpty else { return }
        body.writeInteger(reasonCode.rawValue)
        if !properties.isEmpty { try properties.encode(into: &body) }
    }
}
