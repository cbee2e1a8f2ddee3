public import GembaCore
public import NIOCore

/// Writes JSON straight into a `ByteBuffer`: the fast path for large responses (history, live frames).
public struct JSONWriter {
    public private(set) var buffer: ByteBuffer
    private var needsComma = false

    public init(capacity: Int = 256) {
        buffer = ByteBufferAllocator().buffer(capacity: capacity)
    }

    public mutating func object(_ body: (inout JSONWriter) -> Void) {
        separator()
        buffer.writeInteger(UInt8(ascii: "{"))
        needsComma = false
        body(&self)
        buffer.writeInteger(UInt8(ascii: "}"))
        needsComma = true
    }

    public mutating func array(_ body: (inout JSONWriter) -> Void) {
        separator()
        buffer.writeInteger(UInt8(ascii: "["))
        needsComma = false
        body(&self)
        buffer.writeInteger(UInt8(ascii: "]"))
        needsComma = true
    }

    public mutating func field(_ name: String, _ value: (inout JSONWriter) -> Void) {
        separator()
        writeString(name)
        buffer.writeInteger(UInt8(ascii: ":"))
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
        buffer.writeString(String(number))
        needsComma = true
    }

    public mutating func double(_ number: Double) {
        separator()
        if number.isFinite { buffer.writeString(number.description) } else { buffer.writeString("null") }
        needsComma = true
    }

    public mutating func bool(_ flag: Bool) {
        separator()
        buffer.writeString(flag ? "true" : "false")
        needsComma = true
    }

    public mutating func null() {
        separator()
        buffer.writeString("null")
        needsComma = true
    }

    /// Writes already-encoded JSON.
    public mutating func raw(_ json: String) {
        separator()
        buffer.writeString(json)
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
        if needsComma { buffer.writeInteger(UInt8(ascii: ",")) }
    }

    private mutating func writeString(_ text: String) {
        buffer.writeInteger(UInt8(ascii: "\""))
        let utf8 = text.utf8
        // Fast path: nothing to escape.
        if !utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
            buffer.writeString(text)
        } else {
            for byte in utf8 {
                switch byte {
                case UInt8(ascii: "\""): buffer.writeString("\\\"")
                case UInt8(ascii: "\\"): buffer.writeString("\\\\")
                case 0x0A: buffer.writeString("\\n")
                case 0x0D: buffer.writeString("\\r")
                case 0x09: buffer.writeString("\\t")
                case ..<0x20:
                    let hex = String(byte, radix: 16)
                    buffer.writeString("\\u00" + (hex.count == 1 ? "0" + hex : hex))
                default: buffer.writeInteger(byte)
                }
            }
        }
        buffer.writeInteger(UInt8(ascii: "\""))
    }

    /// Encodes one string as a JSON string literal.
    public static func quoted(_ text: String) -> String {
        var writer = JSONWriter(capacity: text.utf8.count + 2)
        writer.string(text)
        return String(buffer: writer.buffer)
    }
}
