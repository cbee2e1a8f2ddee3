internal import Foundation
public import GembaCore
public import NIOCore
internal import GembaIngest

/// Writes JSON into a byte array, handed over as a `ByteBuffer`: the fast path for large
/// responses (history, live frames). Numbers are formatted without intermediate strings where possible.
public struct JSONWriter {
    private var bytes: [UInt8]
    private var needsComma = false

    public init(capacity: Int = 256) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    /// The JSON written so far.
    public var buffer: ByteBuffer { ByteBuffer(bytes: bytes) }

    public mutating func object(_ body: (inout JSONWriter) -> Void) {
        separator()
        bytes.append(UInt8(ascii: "{"))
        needsComma = false
        body(&self)
        bytes.append(UInt8(ascii: "}"))
        needsComma = true
    }

    public mutating func array(_ body: (inout JSONWriter) -> Void) {
        separator()
        bytes.append(UInt8(ascii: "["))
        needsComma = false
        body(&self)
        bytes.append(UInt8(ascii: "]"))
        needsComma = true
    }

    public mutating func field(_ name: String, _ value: (inout JSONWriter) -> Void) {
        separator()
        writeString(name)
        bytes.append(UInt8(ascii: ":"))
        needsComma = false
        value(&self)
        needsComma = true
    }

    public mutating func string(_ text: String) {
        separator()
        writeString(text)
        needsComma = true
    }

    public mutating func int(_ number: Int64) {
        separator()
        if number < 0 { bytes.append(UInt8(ascii: "-")) }
        var magnitude = number.magnitude
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var count = 0
        withUnsafeMutableBytes(of: &digits) { digits in
            repeat {
                digits[count] = UInt8(ascii: "0") + UInt8(magnitude % 10)
                magnitude /= 10
                count += 1
            } while magnitude > 0
            for index in stride(from: count - 1, through: 0, by: -1) { bytes.append(digits[index]) }
        }
        needsComma = true
    }

    public mutating func double(_ number: Double) {
        separator()
        if number.isFinite { bytes.append(contentsOf: number.description.utf8) } else { bytes.append(contentsOf: "null".utf8) }
        needsComma = true
    }

    public mutating func bool(_ flag: Bool) {
        separator()
        bytes.append(contentsOf: (flag ? "true" : "false").utf8)
        needsComma = true
    }

    public mutating func null() {
        separator()
        bytes.append(contentsOf: "null".utf8)
        needsComma = true
    }

    /// Writes a parsed JSON value back as JSON.
    mutating func value(json value: JSONValue) {
        switch value {
        case .null: null()
        case .bool(let flag): bool(flag)
        case .integer(let number): int(number)
        case .number(let number): double(number)
        case .string(let text): string(text)
        case .array(let items): array { json in for item in items { json.value(json: item) } }
        case .object(let members): object { json in for (name, member) in members { json.field(name) { $0.value(json: member) } } }
        }
    }

    /// Writes a value as `JSONEncoder` encodes it, keys sorted (`{}` if it cannot be).
    mutating func encoded(_ value: some Encodable) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        raw(String(decoding: (try? encoder.encode(value)) ?? Data("{}".utf8), as: UTF8.self))
    }

    /// Writes already-encoded JSON.
    public mutating func raw(_ json: String) {
        separator()
        bytes.append(contentsOf: json.utf8)
        needsComma = true
    }

    public mutating func value(_ value: SampleValue) {
        switch value {
        case .double(let number): double(number)
        case .int(let number): int(number)
        case .bool(let flag): bool(flag)
        case .string(let text): string(text)
        }
    }

    private mutating func separator() {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
    }

    private mutating func writeString(_ text: String) {
        bytes.append(UInt8(ascii: "\""))
        let utf8 = text.utf8
        // Fast path: nothing to escape.
        if !utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
            bytes.append(contentsOf: text.utf8)
        } else {
            for byte in utf8 {
                switch byte {
                case UInt8(ascii: "\""): bytes.append(contentsOf: "\\\"".utf8)
                case UInt8(ascii: "\\"): bytes.append(contentsOf: "\\\\".utf8)
                case 0x0A: bytes.append(contentsOf: "\\n".utf8)
                case 0x0D: bytes.append(contentsOf: "\\r".utf8)
                case 0x09: bytes.append(contentsOf: "\\t".utf8)
                case ..<0x20:
                    let hex = String(byte, radix: 16)
                    bytes.append(contentsOf: ("\\u00" + (hex.count == 1 ? "0" + hex : hex)).utf8)
                default: bytes.append(byte)
                }
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    /// Encodes one string as a JSON string literal.
    public static func quoted(_ text: String) -> String {
        var writer = JSONWriter(capacity: text.utf8.count + 2)
        writer.string(text)
        return String(buffer: writer.buffer)
    }
}
