/// How a tag's value sits in a device's registers or bits.
public enum ModbusValueType: Sendable, Hashable {
    /// A coil or discrete input.
    case bool
    case int16, uint16, int32, uint32, int64, uint64, float32, float64
    /// One bit (0 = least significant … 15) of a register.
    case bit(Int)
    /// Text in `registers` registers, two characters each (the first in the high byte), trailing NULs and spaces dropped.
    case string(registers: Int)

    /// Registers (or bits, for `.bool`) the value takes.
    public var width: Int {
        switch self {
        case .bool, .int16, .uint16, .bit: 1
        case .int32, .uint32, .float32: 2
        case .int64, .uint64, .float64: 4
        case .string(let registers): registers
        }
    }

    /// Parses `int16`, `uint32`, `float32`, `bit3`, `string10`, `bool`…; nil for anything else.
    public init?(_ text: String) {
        let simple: [String: ModbusValueType] = ["bool": .bool, "int16": .int16, "uint16": .uint16, "int32": .int32, "uint32": .uint32,
                                                 "int64": .int64, "uint64": .uint64, "float32": .float32, "float64": .float64]
        if let type = simple[text.lowercased()] {
            self = type
        } else if text.lowercased().hasPrefix("bit"), let bit = Int(text.dropFirst(3)), (0...15).contains(bit) {
            self = .bit(bit)
        } else if text.lowercased().hasPrefix("string"), let count = Int(text.dropFirst(6)), (1...125).contains(count) {
            self = .string(registers: count)
        } else {
            return nil
        }
    }
}

/// The order of a multi-register value's bytes, named by where the bytes of the big-endian value
/// A B C D land: `ABCD` as sent (big-endian words, most significant first), `CDAB` with the words
/// swapped, `BADC` with the bytes of each word swapped, `DCBA` both. For 64-bit values the same
/// two swaps apply to all four words (`CDAB`: the last word first).
public enum ModbusWordOrder: String, Sendable, Hashable, CaseIterable, Codable {
    case abcd = "ABCD", cdab = "CDAB", badc = "BADC", dcba = "DCBA"

    var swapsWords: Bool { self == .cdab || self == .dcba }
    var swapsBytes: Bool { self == .badc || self == .dcba }

    /// The value's bytes, most significant first, from its registers.
    func bytes(of registers: some Collection<UInt16>) -> [UInt8] {
        let words = swapsWords ? Array(registers.reversed()) : Array(registers)
        return words.flatMap { word in swapsBytes ? [UInt8(word & 0xFF), UInt8(word >> 8)] : [UInt8(word >> 8), UInt8(word & 0xFF)] }
    }

    /// The registers holding a value whose bytes, most significant first, are `bytes`.
    func registers(of bytes: [UInt8]) -> [UInt16] {
        let words = stride(from: 0, to: bytes.count, by: 2).map { index -> UInt16 in
            let (high, low) = swapsBytes ? (bytes[index + 1], bytes[index]) : (bytes[index], bytes[index + 1])
            return UInt16(high) << 8 | UInt16(low)
        }
        return swapsWords ? words.reversed() : words
    }
}

/// A value read from a device.
public enum ModbusValue: Sendable, Hashable {
    case bool(Bool)
    case int(Int64)
    /// A UInt64 above Int64's range stays unsigned.
    case uint(UInt64)
    case double(Double)
    case string(String)
}

extension ModbusValueType {
    /// Decodes the value from its registers (`width` of them), in `order`, then scaled:
    /// `raw × scale + offset` (numbers only; a scaled integer becomes a Double).
    public func decode(registers: some Collection<UInt16>, order: ModbusWordOrder = .abcd, scale: Double = 1,
                       offset: Double = 0) -> ModbusValue {
        precondition(registers.count == width, "\(width) registers expected")
        let bytes = order.bytes(of: registers)
        let unsigned = bytes.reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        let raw: ModbusValue = switch self {
        case .bool: .bool(unsigned != 0)
        case .bit(let bit): .bool(unsigned >> UInt64(bit) & 1 == 1)
        case .int16: .int(Int64(Int16(bitPattern: UInt16(unsigned))))
        case .uint16: .int(Int64(unsigned))
        case .int32: .int(Int64(Int32(bitPattern: UInt32(unsigned))))
        case .uint32: .int(Int64(unsigned))
        case .int64: .int(Int64(bitPattern: unsigned))
        case .uint64: unsigned <= UInt64(Int64.max) ? .int(Int64(unsigned)) : .uint(unsigned)
        case .float32: .double(Double(Float(bitPattern: UInt32(unsigned))))
        case .float64: .double(Double(bitPattern: unsigned))
        case .string:
            .string(String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self).trimmingSuffix(" "))
        }
        guard scale != 1 || offset != 0 else { return raw }
        switch raw {
        case .int(let number): return .double(Double(number) * scale + offset)
        case .uint(let number): return .double(Double(number) * scale + offset)
        case .double(let number): return .double(number * scale + offset)
        case .bool, .string: return raw
        }
    }

    /// The registers that write `value` (before scaling: the raw number) in `order`; nil when the
    /// value does not fit the type (out of range, not a whole number for an integer type, a text too long).
    public func encode(_ value: ModbusValue, order: ModbusWordOrder = .abcd) -> [UInt16]? {
        func integer(_ bits: Int, signed: Bool) -> [UInt16]? {
            let pattern: UInt64
            switch value {
            case .int(let number):
                let range = signed ? -(Int64(1) << (bits - 1))...(bits == 64 ? .max : (Int64(1) << (bits - 1)) - 1)
                    : 0...(bits == 64 ? .max : (Int64(1) << bits) - 1)
                guard range.contains(number) else { return nil }
                pattern = UInt64(bitPattern: number)
            case .uint(let number) where !signed && bits == 64: pattern = number
            case .double(let number) where number == number.rounded() && abs(number) < 9e18:
                return encode(.int(Int64(number)), order: order)
            default: return nil
            }
            let bytes = (0..<(bits / 8)).reversed().map { UInt8(truncatingIfNeeded: pattern >> UInt64($0 * 8)) }
            return order.registers(of: bytes)
        }
        switch self {
        case .bool, .bit: return nil
        case .int16: return integer(16, signed: true)
        case .uint16: return integer(16, signed: false)
        case .int32: return integer(32, signed: true)
        case .uint32: return integer(32, signed: false)
        case .int64: return integer(64, signed: true)
        case .uint64: return integer(64, signed: false)
        case .float32, .float64:
            let number: Double
            switch value {
            case .double(let double): number = double
            case .int(let int): number = Double(int)
            default: return nil
            }
            let pattern = self == .float32 ? UInt64(Float(number).bitPattern) : number.bitPattern
            let bytes = (0..<width * 2).reversed().map { UInt8(truncatingIfNeeded: pattern >> UInt64($0 * 8)) }
            return order.registers(of: bytes)
        case .string(let registers):
            guard case .string(let text) = value, text.utf8.count <= registers * 2 else { return nil }
            return order.registers(of: Array(text.utf8) + [UInt8](repeating: 0, count: registers * 2 - text.utf8.count))
        }
    }
}

extension String {
    func trimmingSuffix(_ character: Character) -> String {
        var text = self
        while text.last == character { text.removeLast() }
        return text
    }
}
