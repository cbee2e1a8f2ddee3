public import NIOCore

/// One MQTT control packet of either protocol version.
public enum Packet: Hashable, Sendable {
    indirect case connect(Connect)
    case connack(ConnAck)
    case publish(Publish)
    case puback(PublishAck)
    case pubrec(PublishAck)
    case pubrel(PublishAck)
    case pubcomp(PublishAck)
    case subscribe(Subscribe)
    case suback(SubAck)
    case unsubscribe(Unsubscribe)
    case unsuback(UnsubAck)
    case pingreq
    case pingresp
    case disconnect(Disconnect)
    /// MQTT 5.0 only.
    case auth(Auth)

    /// The control packet type, the high nibble of the first byte.
    public var type: PacketType {
        switch self {
        case .connect: .connect
        case .connack: .connack
        case .publish: .publish
        case .puback: .puback
        case .pubrec: .pubrec
        case .pubrel: .pubrel
        case .pubcomp: .pubcomp
        case .subscribe: .subscribe
        case .suback: .suback
        case .unsubscribe: .unsubscribe
        case .unsuback: .unsuback
        case .pingreq: .pingreq
        case .pingresp: .pingresp
        case .disconnect: .disconnect
        case .auth: .auth
        }
    }
}

/// MQTT control packet types (MQTT 5.0 §2.1.2).
public enum PacketType: UInt8, Hashable, Sendable {
    case connect = 1, connack, publish, puback, pubrec, pubrel, pubcomp
    case subscribe, suback, unsubscribe, unsuback, pingreq, pingresp, disconnect, auth

    /// The low-nibble flags every packet but PUBLISH must carry.
    var requiredFlags: UInt8 {
        switch self {
        case .pubrel, .subscribe, .unsubscribe: 0b0010
        default: 0
        }
    }
}

extension Packet {
    /// Largest packet MQTT can frame: a remaining length of 268,435,455 plus a 5-byte fixed header.
    public static let maximumSize = 268_435_460

    /// Decodes one packet from its first byte and its body (the remaining-length bytes).
    ///
    /// - Parameter version: the connection's version; `nil` before CONNECT, when only CONNECT can be decoded.
    public static func decode(
        firstByte: UInt8, body: inout ByteBuffer, version: ProtocolVersion?
    ) throws(MQTTCodecError) -> Packet {
        guard let type = PacketType(rawValue: firstByte >> 4) else {
            throw .malformed("packet type 0 is reserved")
        }
        let flags = firstByte & 0x0F
        if type != .publish, flags != type.requiredFlags {
            throw .malformed("\(type) has reserved flags 0b\(String(flags, radix: 2))")
        }
        if type == .connect {
            let connect = try Connect.decode(from: &body)
            try ensureConsumed(body, type)
            return .connect(connect)
        }
        guard let version else { throw .protocolViolation("the first packet must be CONNECT, got \(type)") }
        let packet: Packet
        switch type {
        case .connect: preconditionFailure("handled above")
        case .connack: packet = .connack(try ConnAck.decode(from: &body, version: version))
        case .publish: packet = .publish(try Publish.decode(flags: flags, from: &body, version: version))
        case .puback: packet = .puback(try PublishAck.decode(from: &body, version: version, allowed: ReasonCode.pubackPubrec))
        case .pubrec: packet = .pubrec(try PublishAck.decode(from: &body, version: version, allowed: ReasonCode.pubackPubrec))
        case .pubrel: packet = .pubrel(try PublishAck.decode(from: &body, version: version, allowed: ReasonCode.pubrelPubcomp))
        case .pubcomp: packet = .pubcomp(try PublishAck.decode(from: &body, version: version, allowed: ReasonCode.pubrelPubcomp))
        case .subscribe: packet = .subscribe(try Subscribe.decode(from: &body, version: version))
        case .suback: packet = .suback(try SubAck.decode(from: &body, version: version))
        case .unsubscribe: packet = .unsubscribe(try Unsubscribe.decode(from: &body, version: version))
        case .unsuback: packet = .unsuback(try UnsubAck.decode(from: &body, version: version))
        case .pingreq: packet = .pingreq
        case .pingresp: packet = .pingresp
        case .disconnect: packet = .disconnect(try Disconnect.decode(from: &body, version: version))
        case .auth:
            guard version == .v5 else { throw .malformed("AUTH does not exist in MQTT 3.1.1") }
            packet = .auth(try Auth.decode(from: &body))
        }
        try ensureConsumed(body, type)
        return packet
    }

    private static func ensureConsumed(_ body: ByteBuffer, _ type: PacketType) throws(MQTTCodecError) {
        guard body.readableBytes == 0 else {
            throw .malformed("\(type) has \(body.readableBytes) bytes after its last field")
        }
    }

    /// Appends the encoded packet (fixed header included) to `buffer`; on an error, `buffer` is as it was.
    ///
    /// The body is written in place behind a one-byte remaining length, which is set once the body's
    /// size is known. Most packets (acknowledgements above all, one per QoS 1/2 message) are shorter
    /// than 128 bytes and so need no buffer of their own; a longer body moves behind its longer length.
    public func encode(into buffer: inout ByteBuffer, version: ProtocolVersion) throws(MQTTCodecError) {
        // A switch: `if case` here copies the PUBLISH out of the enum (three retains per message).
        switch self {
        case .publish(let publish): return try publish.encode(into: &buffer, version: version)
        default: break
        }
        let start = buffer.writerIndex
        buffer.writeInteger(type.rawValue << 4 | type.requiredFlags)
        buffer.writeInteger(UInt8(0))
        let bodyStart = buffer.writerIndex
        do throws(MQTTCodecError) {
            try encodeBody(into: &buffer, version: version)
        } catch {
            buffer.moveWriterIndex(to: start)
            throw error
        }
        let length = buffer.writerIndex - bodyStart
        if length < 128 {
            buffer.setInteger(UInt8(length), at: bodyStart - 1)
        } else {
            let body = buffer.getSlice(at: bodyStart, length: length)!
            buffer.moveWriterIndex(to: bodyStart - 1)
            buffer.writeVariableByteInteger(length)
            buffer.writeImmutableBuffer(body)
        }
    }

    private func encodeBody(into body: inout ByteBuffer, version: ProtocolVersion) throws(MQTTCodecError) {
        switch self {
        case .connect(let connect): try connect.encodeBody(into: &body)
        case .connack(let connack): try connack.encodeBody(into: &body, version: version)
        case .publish: preconditionFailure("a PUBLISH encodes itself")
        case .puback(let ack), .pubrec(let ack), .pubrel(let ack), .pubcomp(let ack):
            try ack.encodeBody(into: &body, version: version)
        case .subscribe(let subscribe): try subscribe.encodeBody(into: &body, version: version)
        case .suback(let suback): try suback.encodeBody(into: &body, version: version)
        case .unsubscribe(let unsubscribe): try unsubscribe.encodeBody(into: &body, version: version)
        case .unsuback(let unsuback): try unsuback.encodeBody(into: &body, version: version)
        case .pingreq, .pingresp: break
        case .disconnect(let disconnect): try disconnect.encodeBody(into: &body, version: version)
        case .auth(let auth):
            guard version == .v5 else { throw .init(.unsupportedOperation, "AUTH needs MQTT 5.0") }
            try auth.encodeBody(into: &body)
        }
    }

    /// The encoded packet in a new buffer.
    public func encoded(version: ProtocolVersion) throws(MQTTCodecError) -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: 64)
        try encode(into: &buffer, version: version)
        return buffer
    }
}
