/// A failure to read or write OPC UA's binary encoding (Part 6, §5.2): what was wrong, and where.
public struct UADecodingError: Error, Sendable, Hashable, CustomStringConvertible {
    public var reason: String
    /// Byte offset in the message body where reading failed.
    public var offset: Int

    public init(_ reason: String, at offset: Int) {
        self.reason = reason
        self.offset = offset
    }

    public var description: String { "malformed OPC UA message at byte \(offset): \(reason)" }
}

/// Reads OPC UA Binary (little-endian, Part 6 §5.2) from a byte array. Every length is checked
/// against what is left, so a hostile length costs nothing; nesting is bounded.
public struct UAReader: Sendable {
    public let bytes: [UInt8]
    public private(set) var offset: Int
    /// How deep variants, data values and diagnostics may nest.
    static let maximumDepth = 32
    var depth = 0

    public init(_ bytes: [UInt8], offset: Int = 0) {
        self.bytes = bytes
        self.offset = offset
    }

    public var remaining: Int { bytes.count - offset }

    public func error(_ reason: String) -> UADecodingError { UADecodingError(reason, at: offset) }

    public mutating func readBytes(_ count: Int) throws(UADecodingError) -> ArraySlice<UInt8> {
        guard count >= 0, count <= remaining else { throw error("needs \(count) bytes, \(remaining) left") }
        defer { offset += count }
        return bytes[offset..<offset + count]
    }

    mutating func readInteger<T: FixedWidthInteger>(_: T.Type) throws(UADecodingError) -> T {
        let size = MemoryLayout<T>.size
        guard size <= remaining else { throw error("needs \(size) bytes, \(remaining) left") }
        var value: T = 0
        for index in 0..<size { value |= T(truncatingIfNeeded: bytes[offset + index]) << (8 * index) }
        offset += size
        return value
    }

    public mutating func boolean() throws(UADecodingError) -> Bool { try readInteger(UInt8.self) != 0 }
    public mutating func byte() throws(UADecodingError) -> UInt8 { try readInteger(UInt8.self) }
    public mutating func sbyte() throws(UADecodingError) -> Int8 { try readInteger(Int8.self) }
    public mutating func uint16() throws(UADecodingError) -> UInt16 { try readInteger(UInt16.self) }
    public mutating func int16() throws(UADecodingError) -> Int16 { try readInteger(Int16.self) }
    public mutating func uint32() throws(UADecodingError) -> UInt32 { try readInteger(UInt32.self) }
    public mutating func int32() throws(UADecodingError) -> Int32 { try readInteger(Int32.self) }
    public mutating func uint64() throws(UADecodingError) -> UInt64 { try readInteger(UInt64.self) }
    public mutating func int64() throws(UADecodingError) -> Int64 { try readInteger(Int64.self) }
    public mutating func float() throws(UADecodingError) -> Float { Float(bitPattern: try uint32()) }
    public mutating func double() throws(UADecodingError) -> Double { Double(bitPattern: try uint64()) }

    /// A length-prefixed byte string; nil for the null string (length -1).
    public mutating func byteString() throws(UADecodingError) -> [UInt8]? {
        let length = try int32()
        if length < 0 { return nil }
        return Array(try readBytes(Int(length)))
    }

    /// A length-prefixed UTF-8 string; nil for the null string.
    public mutating func string() throws(UADecodingError) -> String? {
        guard let bytes = try byteString() else { return nil }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// An array: its Int32 length (-1 for null, read as empty), then each element.
    public mutating func array<T>(_ element: (inout UAReader) throws(UADecodingError) -> T) throws(UADecodingError) -> [T] {
        let count = try int32()
        if count <= 0 { return [] }
        // Every element takes at least one byte: a count past what is left is a lie.
        guard Int(count) <= remaining else { throw error("an array of \(count) elements with \(remaining) bytes left") }
        var elements: [T] = []
        elements.reserveCapacity(Int(count))
        for _ in 0..<count { elements.append(try element(&self)) }
        return elements
    }

    public mutating func decode<T: UADecodable>(_: T.Type = T.self) throws(UADecodingError) -> T { try T(from: &self) }

    public mutating func array<T: UADecodable>(of _: T.Type) throws(UADecodingError) -> [T] {
        try array { (reader: inout UAReader) throws(UADecodingError) in try T(from: &reader) }
    }

    /// Runs `body` one level deeper, refusing nesting past ``maximumDepth``.
    mutating func nested<T>(_ body: (inout UAReader) throws(UADecodingError) -> T) throws(UADecodingError) -> T {
        guard depth < Self.maximumDepth else { throw error("nested more than \(Self.maximumDepth) levels deep") }
        depth += 1
        defer { depth -= 1 }
        return try body(&self)
    }
}

/// Writes OPC UA Binary (little-endian, Part 6 §5.2).
public struct UAWriter: Sendable {
    public private(set) var bytes: [UInt8] = []

    public init(capacity: Int = 256) { bytes.reserveCapacity(capacity) }

    mutating func writeInteger<T: FixedWidthInteger>(_ value: T) {
        for index in 0..<MemoryLayout<T>.size { bytes.append(UInt8(truncatingIfNeeded: value >> (8 * index))) }
    }

    public mutating func boolean(_ value: Bool) { bytes.append(value ? 1 : 0) }
    public mutating func byte(_ value: UInt8) { bytes.append(value) }
    public mutating func sbyte(_ value: Int8) { writeInteger(value) }
    public mutating func uint16(_ value: UInt16) { writeInteger(value) }
    public mutating func int16(_ value: Int16) { writeInteger(value) }
    public mutating func uint32(_ value: UInt32) { writeInteger(value) }
    public mutating func int32(_ value: Int32) { writeInteger(value) }
    public mutating func uint64(_ value: UInt64) { writeInteger(value) }
    public mutating func int64(_ value: Int64) { writeInteger(value) }
    public mutating func float(_ value: Float) { writeInteger(value.bitPattern) }
    public mutating func double(_ value: Double) { writeInteger(value.bitPattern) }
    public mutating func raw(_ value: some Sequence<UInt8>) { bytes.append(contentsOf: value) }

    public mutating func byteString(_ value: [UInt8]?) {
        guard let value else { return int32(-1) }
        int32(Int32(value.count))
        bytes.append(contentsOf: value)
    }

    public mutating func string(_ value: String?) { byteString(value.map { Array($0.utf8) }) }

    public mutating func array<T>(_ elements: [T], _ element: (inout UAWriter, T) -> Void) {
        int32(Int32(elements.count))
        for value in elements { element(&self, value) }
    }

    public mutating func encode(_ value: some UAEncodable) { value.encode(to: &self) }

    public mutating func array(_ elements: [some UAEncodable]) {
        int32(Int32(elements.count))
        for value in elements { value.encode(to: &self) }
    }

    /// Overwrites a UInt32 already written at `offset` (a size known only at the end).
    mutating func patchUInt32(_ value: UInt32, at offset: Int) {
        for index in 0..<4 { bytes[offset + index] = UInt8(truncatingIfNeeded: value >> (8 * index)) }
    }
}

/// A type OPC UA Binary can read.
public protocol UADecodable: Sendable {
    init(from reader: inout UAReader) throws(UADecodingError)
}

/// A type OPC UA Binary can write.
public protocol UAEncodable: Sendable {
    func encode(to writer: inout UAWriter)
}

public typealias UACodable = UADecodable & UAEncodable

extension UAEncodable {
    /// The value alone, encoded.
    public var encoded: [UInt8] {
        var writer = UAWriter()
        encode(to: &writer)
        return writer.bytes
    }
}
