import NIOCore

/// DISCONNECT (MQTT 5.0 §3.14): empty in 3.1.1; `[reason code | [properties]]` in 5.0.
public struct Disconnect: Hashable, Sendable {
    public var reasonCode: ReasonCode
    public var properties: Properties

    public init(reasonCode: ReasonCode = .normalDisconnection, properties: Properties = Properties()) {
        self.reasonCode = reasonCode
        self.properties = properties
    }

    static func decode(from body: inout ByteBuffer, version: ProtocolVersion) throws(MQTTCodecError) -> Disconnect {
        guard version == .v5, body.readableBytes > 0 else { return Disconnect() }
        let code = try body.readMQTTByte("reason code")
        guard ReasonCode.disconnect.contains(code) else { throw .malformed("DISCONNECT code \(code) is invalid") }
        let properties = body.readableBytes > 0 ? try Properties.decode(from: &body, context: .disconnect) : Properties()
        return Disconnect(reasonCode: ReasonCode(rawValue: code), properties: properties)
    }

    func encodeBody(into body: inout ByteBuffer, version: ProtocolVersion) throws(MQTTCodecError) {
        guard version == .v5, reasonCode != .normalDisconnection || !properties.isEmpty else { return }
        body.writeInteger(reasonCode.rawValue)
        if !properties.isEmpty { try properties.encode(into: &body) }
    }
}

/// AUTH (MQTT 5.0 §3.15): extended authentication exchange, `[reason code | properties]`.
public struct Auth: Hashable, Sendable {
    public var reasonCode: ReasonCode
    public var properties: Properties

    public init(reasonCode: ReasonCode = .success, properties: Properties = Properties()) {
        self.reasonCode = reasonCode
        self.properties = properties
    }

    static func decode(from body: inout ByteBuffer) throws(MQTTCodecError) -> Auth {
        guard body.readableBytes > 0 else { return Auth() }
        let code = try body.readMQTTByte("reason code")
        guard ReasonCode.auth.contains(code) else { throw .malformed("AUTH code \(code) is invalid") }
        let properties = body.readableBytes > 0 ? try Properties.decode(from: &body, context: .auth) : Properties()
        return Auth(reasonCode: ReasonCode(rawValue: code), properties: properties)
    }

    func encodeBody(into body: inout ByteBuffer) throws(MQTTCodecError) {
        guard reasonCode != .success || !properties.isEmpty else { return }
        body.writeInteger(reasonCode.rawValue)
        try properties.encode(into: &body)
    }
}
