public import NIOCore

/// Splits a byte stream into MQTT packets, enforcing a maximum packet size before buffering a body.
///
/// ```
/// byte 0: type << 4 | flags   bytes 1…4: remaining length (variable byte integer)   body
/// ```
/// A server-side decoder starts with `version == nil` and learns the version from CONNECT.
public struct PacketDecoder: ByteToMessageDecoder, Sendable {
    public typealias InboundOut = Packet

    /// The version used to decode packets after CONNECT.
    public private(set) var version: ProtocolVersion?
    /// Largest whole packet accepted, fixed header included.
    public let maximumPacketSize: Int

    public init(version: ProtocolVersion? = nil, maximumPacketSize: Int = Packet.maximumSize) {
        self.version = version
        self.maximumPacketSize = maximumPacketSize
    }

    /// Decodes the next packet if the buffer holds all of it; `nil` when more bytes are needed.
    public mutating func next(from buffer: inout ByteBuffer) throws(MQTTCodecError) -> Packet? {
        var peek = buffer
        guard let firstByte = peek.readInteger(as: UInt8.self) else { return nil }
        guard let remaining = try peek.readVariableByteInteger() else { return nil }
        let headerSize = peek.readerIndex - buffer.readerIndex
        guard headerSize + remaining <= maximumPacketSize else {
            throw MQTTCodecError(.packetTooLarge, "packet of \(headerSize + remaining) bytes exceeds \(maximumPacketSize)")
        }
        guard var body = peek.readSlice(length: remaining) else { return nil }
        let packet = try Packet.decode(firstByte: firstByte, body: &body, version: version)
        buffer.moveReaderIndex(forwardBy: headerSize + remaining)
        if case .connect(let connect) = packet, version == nil { version = connect.protocolVersion }
        return packet
    }

    public mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
        guard let packet = try next(from: &buffer) else { return .needMoreData }
        context.fireChannelRead(Self.wrapInboundOut(packet))
        return .continue
    }

    public mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
        while try decode(context: context, buffer: &buffer) == .continue {}
        return .needMoreData
    }
}

/// Encodes packets for a connection of a fixed version.
public struct PacketEncoder: MessageToByteEncoder, Sendable {
    public typealias OutboundIn = Packet
    public let version: ProtocolVersion

    public init(version: ProtocolVersion) { self.version = version }

    public func encode(data: Packet, out: inout ByteBuffer) throws {
        try data.encode(into: &out, version: version)
    }
}
