import NIOCore

/// Readers and writers for the MQTT data representations (MQTT 5.0 §1.5).
extension ByteBuffer {
    /// Largest value a Variable Byte Integer can hold (four bytes).
    static let maxVariableByteInteger = 268_435_455

    mutating func readMQTTByte(_ what: @autoclosure () -> String) throws(MQTTCodecError) -> UInt8 {
        guard let value = readInteger(as: UInt8.self) else { throw .malformed("\(what()) is missing") }
        return value
    }

    mutating func readMQTTUInt16(_ what: @autoclosure () -> String) throws(MQTTCodecError) -> UInt16 {
        guard let value = readInteger(as: UInt16.self) else { throw .malformed("\(what()) is truncated") }
        return value
    }

    mutating func readMQTTUInt32(_ what: @autoclosure () -> String) throws(MQTTCodecError) -> UInt32 {
        guard let value = readInteger(as: UInt32.self) else { throw .malformed("\(what()) is truncated") }
        return value
    }

    /// Reads a Variable Byte Integer; `nil` when the buffer ends before its last byte.
    ///
    /// ```
    /// 7 data bits per byte, least significant group first; bit 7 set = more bytes follow; at most 4 bytes.
    /// ```
    mutating func readVariableByteInteger() throws(MQTTCodecError) -> Int? {
        var value = 0
        var multiplier = 1
        var index = readerIndex
        for position in 0..<4 {
            guard let byte = getInteger(at: index, as: UInt8.self) else { return nil }
            index += 1
            value += Int(byte & 0x7F) * multiplier
            if byte & 0x80 == 0 {
                if position > 0 && byte == 0 {
                    throw .malformed("variable byte integer is not minimally encoded")
                }
                moveReaderIndex(to: index)
                return value
            }
            multiplier *= 128
        }
        throw .malformed("variable byte integer is longer than 4 bytes")
    }

    mutating func readMQTTVariableByteInteger(_ what: @autoclosure () -> String) throws(MQTTCodecError) -> Int {
        guard let value = try readVariableByteInteger() else { throw .malformed("\(what()) is truncated") }
        return value
    }

    /// Reads a UTF-8 Encoded String: a two-byte length and well-formed UTF-8 without U+0000.
    mutating func readMQTTString(_ what: @autoclosure () -> String) throws(MQTTCodecError) -> String {
        let length = Int(try readMQTTUInt16("length of \(what())"))
        guard let view = readSlice(length: length) else { throw .malformed("\(what()) is truncated") }
        let bytes = view.readableBytesView
        guard let string = String(validating: bytes, as: UTF8.self) else {
            throw .malformed("\(what()) is not valid UTF-8")
        }
        if bytes.contains(0) { throw .malformed("\(what()) contains U+0000") }
        return string
    }

    /// Reads Binary Data: a two-byte length and that many bytes.
    mutating func readMQTTBinary(_ what: @autoclosure () -> String) throws(MQTTCodecError) -> [UInt8] {
        let length = Int(try readMQTTUInt16("length of \(what())"))
        guard let bytes = readBytes(length: length) else { throw .malformed("\(what()) is truncated") }
        return bytes
    }

    @discardableResult
    mutating func writeVariableByteInteger(_ value: Int) -> Int {
        precondition(value >= 0 && value <= Self.maxVariableByteInteger, "variable byte integer out of range")
        var remaining = value
        var written = 0
        repeat {
            var byte = UInt8(remaining & 0x7F)
            remaining >>= 7
            if remaining > 0 { byte |= 0x80 }
            writeInteger(byte)
            written += 1
        } while remaining > 0
        return written
    }

    mutating func writeMQTTString(_ string: String) {
        writeInteger(UInt16(string.utf8.count))
        writeString(string)
    }

    mutating func writeMQTTBinary(_ bytes: [UInt8]) {
        writeInteger(UInt16(bytes.count))
        writeBytes(bytes)
    }
}

/// Bytes needed to encode `value` as a Variable Byte Integer.
func variableByteIntegerSize(_ value: Int) -> Int {
    switch value {
    case ..<128: 1
    case ..<16_384: 2
    case ..<2_097_152: 3
    default: 4
    }
}

/// Checks a string we are about to encode fits the two-byte length prefix.
func checkEncodable(_ string: String, _ what: String) throws(MQTTCodecError) {
    guard string.utf8.count <= Int(UInt16.max) else {
        throw MQTTCodecError(.unsupportedOperation, "\(what) is longer than 65,535 bytes")
    }
}
