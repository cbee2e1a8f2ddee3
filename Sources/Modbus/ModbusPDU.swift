/// The four Modbus data tables.
public enum ModbusTable: String, Sendable, Hashable, CaseIterable, Codable {
    /// Read-write bits (function codes 1, 5, 15).
    case coil
    /// Read-only bits (function code 2).
    case discreteInput
    /// Read-write 16-bit registers (function codes 3, 6, 16).
    case holdingRegister
    /// Read-only 16-bit registers (function code 4).
    case inputRegister

    /// Whether the table holds bits rather than registers.
    public var holdsBits: Bool { self == .coil || self == .discreteInput }

    /// The most items one read may ask for (Modbus Application Protocol 1.1b3, §6.1–6.4).
    public var readLimit: Int { holdsBits ? 2000 : 125 }
}

/// A request of the Modbus Application Protocol, as the client sends it.
public enum ModbusRequest: Sendable, Hashable {
    case read(ModbusTable, address: UInt16, count: Int)
    case writeSingleCoil(address: UInt16, value: Bool)
    case writeSingleRegister(address: UInt16, value: UInt16)
    case writeMultipleCoils(address: UInt16, values: [Bool])
    case writeMultipleRegisters(address: UInt16, values: [UInt16])

    /// Whether the request writes (function codes 5, 6, 15, 16) rather than reads.
    public var isWrite: Bool {
        if case .read = self { return false }
        return true
    }

    /// The function code (1, 2, 3, 4, 5, 6, 15 or 16).
    public var functionCode: UInt8 {
        switch self {
        case .read(.coil, _, _): 1
        case .read(.discreteInput, _, _): 2
        case .read(.holdingRegister, _, _): 3
        case .read(.inputRegister, _, _): 4
        case .writeSingleCoil: 5
        case .writeSingleRegister: 6
        case .writeMultipleCoils: 15
        case .writeMultipleRegisters: 16
        }
    }

    /// Checks the protocol's limits: counts per function code, and no address past 65535.
    public func validate() throws(ModbusError) {
        func check(_ address: UInt16, _ count: Int, _ limit: Int, _ what: String) throws(ModbusError) {
            guard (1...limit).contains(count) else { throw .invalidRequest("\(what): 1 to \(limit) per request, got \(count)") }
            guard Int(address) + count <= 65_536 else { throw .invalidRequest("\(what): \(count) from address \(address) runs past 65535") }
        }
        switch self {
        case .read(let table, let address, let count): try check(address, count, table.readLimit, "reading \(table.rawValue)s")
        case .writeSingleCoil, .writeSingleRegister: return
        case .writeMultipleCoils(let address, let values): try check(address, values.count, 1968, "writing coils")
        case .writeMultipleRegisters(let address, let values): try check(address, values.count, 123, "writing registers")
        }
    }

    /// The request's PDU: function code and data, big-endian (§4.2).
    public func encoded() throws(ModbusError) -> [UInt8] {
        try validate()
        var bytes: [UInt8] = [functionCode]
        switch self {
        case .read(_, let address, let count):
            bytes.appendBigEndian(address)
            bytes.appendBigEndian(UInt16(count))
        case .writeSingleCoil(let address, let value):
            bytes.appendBigEndian(address)
            bytes.appendBigEndian(value ? 0xFF00 : 0x0000)
        case .writeSingleRegister(let address, let value):
            bytes.appendBigEndian(address)
            bytes.appendBigEndian(value)
        case .writeMultipleCoils(let address, let values):
            bytes.appendBigEndian(address)
            bytes.appendBigEndian(UInt16(values.count))
            let packed = ModbusBits.pack(values)
            bytes.append(UInt8(packed.count))
            bytes += packed
        case .writeMultipleRegisters(let address, let values):
            bytes.appendBigEndian(address)
            bytes.appendBigEndian(UInt16(values.count))
            bytes.append(UInt8(values.count * 2))
            for value in values { bytes.appendBigEndian(value) }
        }
        return bytes
    }

    /// Decodes the server's PDU answering this request: the values read, `.written` for a write
    /// the server echoed back, or the exception it raised. Anything else is `.malformed`.
    public func decodeResponse(_ pdu: some Collection<UInt8>) throws(ModbusError) -> ModbusResponse {
        let pdu = Array(pdu)
        guard let code = pdu.first else { throw .malformed("an empty response") }
        if code == functionCode | 0x80 {
            guard pdu.count == 2 else { throw .malformed("an exception response of \(pdu.count) bytes (2 expected)") }
            throw .exception(ModbusException(code: pdu[1]))
        }
        guard code == functionCode else { throw .malformed("function code \(code) answers a request of function code \(functionCode)") }
        switch self {
        case .read(let table, _, let count):
            let expected = table.holdsBits ? (count + 7) / 8 : count * 2
            guard pdu.count >= 2, Int(pdu[1]) == expected, pdu.count == 2 + expected else {
                throw .malformed("a read of \(count) \(table.rawValue)s answered with \(pdu.count) bytes (byte count \(pdu.count > 1 ? Int(pdu[1]) : -1), \(expected) expected)")
            }
            let data = pdu[2...]
            return table.holdsBits ? .bits(ModbusBits.unpack(data, count: count)) : .registers(ModbusRegisters.from(bytes: data))
        case .writeSingleCoil, .writeSingleRegister, .writeMultipleCoils, .writeMultipleRegisters:
            // Single writes echo the request; multiple writes echo its address and count (§6.5, 6.6, 6.11, 6.12).
            let echo = Array(try encoded().prefix(5))
            guard pdu == echo else { throw .malformed("the server's echo of a write differs from the request") }
            return .written
        }
    }
}

/// What a request got back.
public enum ModbusResponse: Sendable, Hashable {
    case bits([Bool])
    case registers([UInt16])
    case written
}

/// An exception a server answered with (§7), by its code.
public struct ModbusException: Sendable, Hashable, CustomStringConvertible {
    public let code: UInt8

    public init(code: UInt8) { self.code = code }

    public static let illegalFunction = ModbusException(code: 1)
    public static let illegalDataAddress = ModbusException(code: 2)
    public static let illegalDataValue = ModbusException(code: 3)
    public static let serverDeviceFailure = ModbusException(code: 4)
    public static let acknowledge = ModbusException(code: 5)
    public static let serverDeviceBusy = ModbusException(code: 6)
    public static let memoryParityError = ModbusException(code: 8)
    public static let gatewayPathUnavailable = ModbusException(code: 10)
    public static let gatewayTargetFailedToRespond = ModbusException(code: 11)

    /// Whether asking again later may succeed: the device was busy or acknowledged a long job.
    public var isTransient: Bool { self == .serverDeviceBusy || self == .acknowledge }

    public var description: String {
        let names: [UInt8: String] = [1: "illegal function", 2: "illegal data address", 3: "illegal data value",
                                      4: "server device failure", 5: "acknowledge", 6: "server device busy",
                                      8: "memory parity error", 10: "gateway path unavailable",
                                      11: "gateway target device failed to respond"]
        return "exception \(code) (\(names[code] ?? "unknown"))"
    }
}

/// Why a Modbus exchange failed.
public enum ModbusError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The server answered with an exception.
    case exception(ModbusException)
    /// The bytes broke the protocol (the connection cannot be trusted after it).
    case malformed(String)
    /// The request broke the protocol's limits; nothing was sent.
    case invalidRequest(String)
    /// No answer within the timeout.
    case timeout
    /// The connection closed (or could not be made) before the answer.
    case disconnected(String)

    public var description: String {
        switch self {
        case .exception(let exception): "the device answered \(exception)"
        case .malformed(let reason): "malformed Modbus data: \(reason)"
        case .invalidRequest(let reason): "invalid request: \(reason)"
        case .timeout: "no answer within the timeout"
        case .disconnected(let reason): "not connected: \(reason)"
        }
    }
}

/// Bits as Modbus packs them: the first in the lowest bit of the first byte.
enum ModbusBits {
    static func pack(_ bits: [Bool]) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: (bits.count + 7) / 8)
        for (index, bit) in bits.enumerated() where bit { bytes[index / 8] |= 1 << UInt8(index % 8) }
        return bytes
    }

    static func unpack(_ bytes: some Collection<UInt8>, count: Int) -> [Bool] {
        let bytes = Array(bytes)
        return (0..<count).map { bytes[$0 / 8] & (1 << UInt8($0 % 8)) != 0 }
    }
}

enum ModbusRegisters {
    static func from(bytes: some Collection<UInt8>) -> [UInt16] {
        let bytes = Array(bytes)
        return stride(from: 0, to: bytes.count - 1, by: 2).map { UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]) }
    }
}

extension [UInt8] {
    mutating func appendBigEndian(_ value: UInt16) {
        append(UInt8(value >> 8))
        append(UInt8(value & 0xFF))
    }
}

extension ModbusTable {
    /// Parses a Modicon reference, 1-based with the table as its first digit: `40001` or `400001` is
    /// holding register 0, `30010` input register 9, `10001` discrete input 0, `00001` coil 0.
    public static func reference(_ text: String) throws(ModbusError) -> (table: ModbusTable, address: UInt16) {
        guard [5, 6].contains(text.count), text.allSatisfy(\.isASCII), let number = Int(text.dropFirst()), number >= 1 else {
            throw .invalidRequest("\"\(text)\" is not a Modicon reference (5 or 6 digits: 0xxxx coils, 1xxxx discrete inputs, 3xxxx input registers, 4xxxx holding registers)")
        }
        let tables: [Character: ModbusTable] = ["0": .coil, "1": .discreteInput, "3": .inputRegister, "4": .holdingRegister]
        guard let table = tables[text.first!] else { throw .invalidRequest("\"\(text)\" names no table (first digit 0, 1, 3 or 4)") }
        guard number <= 65_536 else { throw .invalidRequest("\"\(text)\": the reference runs past address 65535") }
        return (table, UInt16(number - 1))
    }
}
