public import NIOCore

/// The last will: published by the server when the connection ends without a normal DISCONNECT.
public struct Will: Hashable, Sendable {
    public var topic: String
    public var payload: ByteBuffer
    public var qos: QoS
    public var retain: Bool
    /// v5 will properties (will delay, message expiry, content type, …).
    public var properties: Properties

    public init(topic: String, payload: ByteBuffer, qos: QoS = .atMostOnce, retain: Bool = false,
                properties: Properties = Properties()) {
        self.topic = topic
        self.payload = payload
        self.qos = qos
        self.retain = retain
        self.properties = properties
    }
}

/// CONNECT: a client opens a session (MQTT 5.0 §3.1).
///
/// ```
/// "MQTT" | level | flags (user, pass, will retain, will QoS×2, will, clean start, reserved) | keep alive
/// [properties] | client id | [will properties, will topic, will payload] | [username] | [password]
/// ```
public struct Connect: Hashable, Sendable {
    public var protocolVersion: ProtocolVersion
    public var clientID: String
    /// Clean Session (3.1.1) / Clean Start (5.0).
    public var cleanStart: Bool
    /// Seconds; 0 turns keepalive off.
    public var keepAlive: UInt16
    public var username: String?
    public var password: [UInt8]?
    public var will: Will?
    public var properties: Properties

    public init(protocolVersion: ProtocolVersion, clientID: String, cleanStart: Bool = true, keepAlive: UInt16 = 60,
                username: String? = nil, password: [UInt8]? = nil, will: Will? = nil,
                properties: Properties = Properties()) {
        self.protocolVersion = protocolVersion
        self.clientID = clientID
        self.cleanStart = cleanStart
        self.keepAlive = keepAlive
        self.username = username
        self.password = password
        self.will = will
        self.properties = properties
    }

    static func decode(from body: inout ByteBuffer) throws(MQTTCodecError) -> Connect {
        let name = try body.readMQTTString("protocol name")
        let level = try body.readMQTTByte("protocol level")
        guard name == "MQTT" || name == "MQIsdp" else { throw .malformed("protocol name '\(name)' is not MQTT") }
        guard name == "MQTT", let version = ProtocolVersion(rawValue: level) else {
            throw .init(.unsupportedProtocolVersion, "protocol \(name) level \(level) is not supported")
        }
        let flags = try body.readMQTTByte("connect flags")
        guard flags & 0x01 == 0 else { throw .malformed("CONNECT reserved flag is set") }
        let hasUsername = flags & 0x80 != 0
        let hasPassword = flags & 0x40 != 0
        let willRetain = flags & 0x20 != 0
        let willQoSBits = (flags >> 3) & 0x03
        let hasWill = flags & 0x04 != 0
        guard let willQoS = QoS(rawValue: willQoSBits) else { throw .malformed("will QoS 3 is invalid") }
        if !hasWill, willQoSBits != 0 || willRetain {
            throw .malformed("will QoS/retain set without the will flag")
        }
        if version == .v311, hasPassword, !hasUsername {
            throw .malformed("password flag set without username flag")
        }
        let keepAlive = try body.readMQTTUInt16("keep alive")
        let properties = version == .v5 ? try Properties.decode(from: &body, context: .connect) : Properties()
        let clientID = try body.readMQTTString("client identifier")
        var will: Will?
        if hasWill {
            let willProperties = version == .v5 ? try Properties.decode(from: &body, context: .will) : Properties()
            let topic = try body.readMQTTString("will topic")
            try Topic.validateName(topic)
            let length = Int(try body.readMQTTUInt16("will payload length"))
            guard let payload = body.readSlice(length: length) else { throw .malformed("will payload is truncated") }
            will = Will(topic: topic, payload: payload, qos: willQoS, retain: willRetain, properties: willProperties)
        }
        let username = hasUsername ? try body.readMQTTString("username") : nil
        let password = hasPassword ? try body.readMQTTBinary("password") : nil
        return Connect(protocolVersion: version, clientID: clientID, cleanStart: flags & 0x02 != 0,
                       keepAlive: keepAlive, username: username, password: password, will: will,
                       properties: properties)
    }

    func encodeBody(into body: inout ByteBuffer) throws(MQTTCodecError) {
        body.writeMQTTString("MQTT")
        body.writeInteger(protocolVersion.rawValue)
        var flags: UInt8 = cleanStart ? 0x02 : 0
        if username != nil { flags |= 0x80 }
        if password != nil { flags |= 0x40 }
        if let will {
            flags |= 0x04 | will.qos.rawValue << 3 | (will.retain ? 0x20 : 0)
        }
        if protocolVersion == .v311, password != nil, username == nil {
            throw .init(.unsupportedOperation, "MQTT 3.1.1 cannot send a password without a username")
        }
        body.writeInteger(flags)
        body.writeInteger(keepAlive)
        if protocolVersion == .v5 { try properties.encode(into: &body) }
        try checkEncodable(clientID, "client identifier")
        body.writeMQTTString(clientID)
        if let will {
            if protocolVersion == .v5 { try will.properties.encode(into: &body) }
            try checkEncodable(will.topic, "will topic")
            body.writeMQTTString(will.topic)
            guard will.payload.readableBytes <= Int(UInt16.max) else {
                throw .init(.unsupportedOperation, "will payload is longer than 65,535 bytes")
            }
            body.writeInteger(UInt16(will.payload.readableBytes))
            body.writeImmutableBuffer(will.payload)
        }
        if let username {
            try checkEncodable(username, "username")
            body.writeMQTTString(username)
        }
        if let password { body.writeMQTTBinary(password) }
    }
}

/// CONNACK: the server's answer to CONNECT (MQTT 5.0 §3.2).
public struct ConnAck: Hashable, Sendable {
    public var sessionPresent: Bool
    /// The v5 reason code; MQTT 3.1.1 return codes are translated to and from it.
    public var reasonCode: ReasonCode
    public var properties: Properties

    public init(sessionPresent: Bool = false, reasonCode: ReasonCode = .success, properties: Properties = Properties()) {
        self.sessionPresent = sessionPresent
        self.reasonCode = reasonCode
        self.properties = properties
    }

    static func decode(from body: inout ByteBuffer, version: ProtocolVersion) throws(MQTTCodecError) -> ConnAck {
        let flags = try body.readMQTTByte("connack flags")
        guard flags & 0xFE == 0 else { throw .malformed("CONNACK reserved flags are set") }
        let code = try body.readMQTTByte("connack reason code")
        if version == .v311 {
            return ConnAck(sessionPresent: flags == 1, reasonCode: try ReasonCode.fromConnectReturnCodeV311(code))
        }
        guard ReasonCode.connack.contains(code) else { throw .malformed("CONNACK reason code \(code) is invalid") }
        let properties = try Properties.decode(from: &body, context: .connack)
        return ConnAck(sessionPresent: flags == 1, reasonCode: ReasonCode(rawValue: code), properties: properties)
    }

    func encodeBody(into body: inout ByteBuffer, version: ProtocolVersion) throws(MQTTCodecError) {
        body.writeInteger(UInt8(sessionPresent ? 1 : 0))
        if version == .v311 {
            body.writeInteger(reasonCode.connectReturnCodeV311)
        } else {
            body.writeInteger(reasonCode.rawValue)
            try properties.encode(into: &body)
        }
    }
}
