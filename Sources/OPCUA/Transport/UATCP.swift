/// The OPC UA Connection Protocol's messages (UA-TCP, Part 6 §7.1).
///
/// ```
/// every message: | type (3 ASCII) | chunk ('F', 'C', 'A') | size (UInt32, whole message) | body … |
/// HEL body:  protocol version, receive buffer, send buffer, max message size, max chunk count (UInt32 each), endpoint URL (String)
/// ACK body:  protocol version, receive buffer, send buffer, max message size, max chunk count
/// ERR body:  error (StatusCode), reason (String)
/// ```
public enum UATCPMessageType: String, Sendable, Hashable {
    case hello = "HEL", acknowledge = "ACK", error = "ERR", reverseHello = "RHE"
    case open = "OPN", message = "MSG", close = "CLO"
}

/// The sizes one side of a connection announces (Hello) or grants (Acknowledge).
public struct UATCPLimits: Sendable, Hashable {
    public var protocolVersion: UInt32 = 0
    public var receiveBufferSize: UInt32
    public var sendBufferSize: UInt32
    /// 0: no limit.
    public var maxMessageSize: UInt32
    /// 0: no limit.
    public var maxChunkCount: UInt32

    public init(receiveBufferSize: UInt32 = 65_535, sendBufferSize: UInt32 = 65_535, maxMessageSize: UInt32 = 16 << 20, maxChunkCount: UInt32 = 0) {
        self.receiveBufferSize = receiveBufferSize
        self.sendBufferSize = sendBufferSize
        self.maxMessageSize = maxMessageSize
        self.maxChunkCount = maxChunkCount
    }

    /// The smallest buffer the specification allows (§7.1.2.3).
    static let minimumBuffer: UInt32 = 8_192

    func encode(to writer: inout UAWriter) {
        writer.uint32(protocolVersion)
        writer.uint32(receiveBufferSize)
        writer.uint32(sendBufferSize)
        writer.uint32(maxMessageSize)
        writer.uint32(maxChunkCount)
    }

    static func decode(from reader: inout UAReader) throws(UADecodingError) -> UATCPLimits {
        var limits = UATCPLimits(receiveBufferSize: 0, sendBufferSize: 0, maxMessageSize: 0, maxChunkCount: 0)
        limits.protocolVersion = try reader.uint32()
        limits.receiveBufferSize = try reader.uint32()
        limits.sendBufferSize = try reader.uint32()
        limits.maxMessageSize = try reader.uint32()
        limits.maxChunkCount = try reader.uint32()
        return limits
    }
}

/// One message cut from the stream: its type, chunk kind and body (after the 8-byte header).
public struct UATCPFrame: Sendable, Hashable {
    public var type: UATCPMessageType
    /// 'F' final, 'C' intermediate, 'A' abort.
    public var chunk: UInt8
    public var body: [UInt8]

    public init(type: UATCPMessageType, chunk: UInt8 = UInt8(ascii: "F"), body: [UInt8]) {
        self.type = type
        self.chunk = chunk
        self.body = body
    }

    /// The whole message, header included.
    public var encoded: [UInt8] {
        var writer = UAWriter(capacity: body.count + 8)
        writer.raw(type.rawValue.utf8)
        writer.byte(chunk)
        writer.uint32(UInt32(body.count + 8))
        writer.raw(body)
        return writer.bytes
    }

    public static func hello(_ limits: UATCPLimits, endpoint: String) -> UATCPFrame {
        var writer = UAWriter()
        limits.encode(to: &writer)
        writer.string(endpoint)
        return UATCPFrame(type: .hello, body: writer.bytes)
    }

    public static func acknowledge(_ limits: UATCPLimits) -> UATCPFrame {
        var writer = UAWriter()
        limits.encode(to: &writer)
        return UATCPFrame(type: .acknowledge, body: writer.bytes)
    }

    public static func error(_ status: StatusCode, reason: String) -> UATCPFrame {
        var writer = UAWriter()
        status.encode(to: &writer)
        writer.string(reason)
        return UATCPFrame(type: .error, body: writer.bytes)
    }
}

/// Cuts UA-TCP messages from a byte stream. A header that is not UA-TCP, or a message larger
/// than `maximumSize`, is an error: after it the stream cannot be trusted.
public struct UATCPFrameDecoder: Sendable {
    private var buffer: [UInt8] = []
    private var start = 0
    public var maximumSize: Int

    public init(maximumSize: Int = 65_535) { self.maximumSize = maximumSize }

    public mutating func append(_ bytes: some Sequence<UInt8>) { buffer.append(contentsOf: bytes) }

    public mutating func next() throws(UADecodingError) -> UATCPFrame? {
        guard buffer.count - start >= 8 else { return compact() }
        let typeBytes = buffer[start..<start + 3]
        guard let type = UATCPMessageType(rawValue: String(decoding: typeBytes, as: UTF8.self)) else {
            throw UADecodingError("not an OPC UA message type: \(Array(typeBytes))", at: start)
        }
        let chunk = buffer[start + 3]
        guard chunk == UInt8(ascii: "F") || chunk == UInt8(ascii: "C") || chunk == UInt8(ascii: "A") else {
            throw UADecodingError("unknown chunk type \(chunk)", at: start + 3)
        }
        let size = (0..<4).reduce(0) { $0 | Int(buffer[start + 4 + $1]) << (8 * $1) }
        guard size >= 8 else { throw UADecodingError("a message of \(size) bytes", at: start + 4) }
        guard size <= maximumSize else { throw UADecodingError("a message of \(size) bytes, more than the \(maximumSize) agreed", at: start + 4) }
        guard buffer.count - start >= size else { return compact() }
        let frame = UATCPFrame(type: type, chunk: chunk, body: Array(buffer[start + 8..<start + size]))
        start += size
        return frame
    }

    private mutating func compact() -> UATCPFrame? {
        if start > 0 {
            buffer.removeFirst(start)
            start = 0
        }
        return nil
    }
}
