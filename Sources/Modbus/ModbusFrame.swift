/// A Modbus TCP application data unit: the MBAP header (transaction id, protocol id 0, length,
/// unit id) and the PDU (Modbus Messaging on TCP/IP Implementation Guide 1.0b, §3.1.3).
public struct ModbusFrame: Sendable, Hashable {
    public var transaction: UInt16
    public var unit: UInt8
    public var pdu: [UInt8]

    /// The MBAP length field counts the unit id and the PDU; an ADU is at most 260 bytes.
    static let maximumLength = 254

    public init(transaction: UInt16, unit: UInt8, pdu: [UInt8]) {
        self.transaction = transaction
        self.unit = unit
        self.pdu = pdu
    }

    public var encoded: [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(7 + pdu.count)
        bytes.appendBigEndian(transaction)
        bytes.appendBigEndian(0)
        bytes.appendBigEndian(UInt16(pdu.count + 1))
        bytes.append(unit)
        return bytes + pdu
    }
}

/// Cuts a TCP byte stream into frames. A header that cannot be one (protocol id not 0, length
/// out of range) is an error: TCP gives no way to find the next frame, so the connection ends.
public struct ModbusFrameDecoder: Sendable {
    private var buffer: [UInt8] = []
    private var start = 0

    public init() {}

    public mutating func append(_ bytes: some Sequence<UInt8>) {
        if start > 0, start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// The next whole frame, or nil until more bytes arrive.
    public mutating func next() throws(ModbusError) -> ModbusFrame? {
        guard buffer.count - start >= 7 else { return nil }
        func byte(_ offset: Int) -> UInt8 { buffer[start + offset] }
        let protocolID = UInt16(byte(2)) << 8 | UInt16(byte(3))
        let length = Int(byte(4)) << 8 | Int(byte(5))
        guard protocolID == 0 else { throw .malformed("protocol id \(protocolID) in an MBAP header (0 is Modbus)") }
        guard (2...ModbusFrame.maximumLength).contains(length) else {
            throw .malformed("MBAP length \(length) (2 to \(ModbusFrame.maximumLength))")
        }
        guard buffer.count - start >= 6 + length else { return nil }
        let frame = ModbusFrame(transaction: UInt16(byte(0)) << 8 | UInt16(byte(1)), unit: byte(6),
                                pdu: Array(buffer[(start + 7)..<(start + 6 + length)]))
        start += 6 + length
        if start > 4096 {
            buffer.removeFirst(start)
            start = 0
        }
        return frame
    }
}

/// A client's requests in flight: transaction ids handed out, answers matched to their requests.
/// Pure: the shell sends the frames, arms the timeouts and completes the callers.
public struct ModbusTransactions: Sendable {
    private var nextID: UInt16 = 1
    private var pending: [UInt16: (request: ModbusRequest, unit: UInt8)] = [:]

    public init() {}

    /// How many requests await an answer.
    public var inFlight: Int { pending.count }

    /// Starts a request: its transaction id and the frame to send.
    public mutating func start(_ request: ModbusRequest, unit: UInt8) throws(ModbusError) -> ModbusFrame {
        let pdu = try request.encoded()
        var id = nextID
        while pending[id] != nil { id &+= 1 }
        nextID = id &+ 1
        pending[id] = (request, unit)
        return ModbusFrame(transaction: id, unit: unit, pdu: pdu)
    }

    /// Matches an answer to its request. Nil for a transaction nobody awaits (an answer after its
    /// timeout): the caller drops it. An answer from another unit than asked is malformed.
    public mutating func receive(_ frame: ModbusFrame) -> (transaction: UInt16, result: Result<ModbusResponse, ModbusError>)? {
        guard let (request, unit) = pending.removeValue(forKey: frame.transaction) else { return nil }
        guard frame.unit == unit else {
            return (frame.transaction, .failure(.malformed("unit \(frame.unit) answered a request to unit \(unit)")))
        }
        do { return (frame.transaction, .success(try request.decodeResponse(frame.pdu))) } catch { return (frame.transaction, .failure(error)) }
    }

    /// Gives up on a request (its timeout ran out); false when it was answered meanwhile.
    public mutating func abandon(_ transaction: UInt16) -> Bool {
        pending.removeValue(forKey: transaction) != nil
    }

    /// Every request in flight, forgotten (the connection closed).
    public mutating func abandonAll() {
        pending.removeAll()
    }
}
