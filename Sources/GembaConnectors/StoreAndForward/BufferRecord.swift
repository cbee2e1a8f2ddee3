/// One entry of the store-and-forward log: a device's recorded changes (a Sparkplug payload whose
/// metrics carry names, datatypes, times and quality), when it was written, and whether it went
/// out live. On disk: length (UInt32 LE, of what follows the checksum), CRC-32 of that, then
/// written-at (Int64 LE ms), flags (bit 0: the node itself, no device), the device id's length
/// (UInt16 LE) and bytes, and the payload.
struct BufferRecord: Sendable, Hashable {
    var device: String?
    var payload: [UInt8]
    var writtenAt: Int64

    static let headerSize = 8

    func encoded() -> [UInt8] {
        var body: [UInt8] = []
        let id = Array((device ?? "").utf8.prefix(Int(UInt16.max)))
        body.reserveCapacity(11 + id.count + payload.count)
        body.appendLittleEndian(UInt64(bitPattern: writtenAt), bytes: 8)
        body.append(device == nil ? 1 : 0)
        body.appendLittleEndian(UInt64(id.count), bytes: 2)
        body += id
        body += payload
        var out: [UInt8] = []
        out.reserveCapacity(Self.headerSize + body.count)
        out.appendLittleEndian(UInt64(body.count), bytes: 4)
        out.appendLittleEndian(UInt64(CRC32.checksum(body)), bytes: 4)
        return out + body
    }

    /// The record at the start of `bytes` and its size on disk; nil when the bytes end before it
    /// does or its checksum is wrong (a write torn by a crash: the log ends there).
    static func decode(_ bytes: ArraySlice<UInt8>) -> (record: BufferRecord, size: Int)? {
        guard bytes.count >= headerSize else { return nil }
        let start = bytes.startIndex
        let length = Int(bytes.littleEndian(at: start, bytes: 4))
        let sum = UInt32(bytes.littleEndian(at: start + 4, bytes: 4))
        guard length >= 11, bytes.count >= headerSize + length else { return nil }
        let body = bytes[(start + headerSize)..<(start + headerSize + length)]
        guard CRC32.checksum(body) == sum else { return nil }
        let b = body.startIndex
        let writtenAt = Int64(bitPattern: body.littleEndian(at: b, bytes: 8))
        let isNode = body[b + 8] & 1 == 1
        let idLength = Int(body.littleEndian(at: b + 9, bytes: 2))
        guard 11 + idLength <= length else { return nil }
        let id = String(decoding: body[(b + 11)..<(b + 11 + idLength)], as: UTF8.self)
        let payload = Array(body[(b + 11 + idLength)...])
        return (BufferRecord(device: isNode ? nil : id, payload: payload, writtenAt: writtenAt), headerSize + length)
    }
}

/// CRC-32 (IEEE 802.3, reflected, as zlib computes it).
enum CRC32 {
    private static let table: [UInt32] = (0..<256).map { index in
        var value = UInt32(index)
        for _ in 0..<8 { value = value & 1 == 1 ? 0xEDB8_8320 ^ (value >> 1) : value >> 1 }
        return value
    }

    static func checksum(_ bytes: some Collection<UInt8>) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes { crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
        return crc ^ 0xFFFF_FFFF
    }
}

extension [UInt8] {
    mutating func appendLittleEndian(_ value: UInt64, bytes: Int) {
        for index in 0..<bytes { append(UInt8(truncatingIfNeeded: value >> UInt64(index * 8))) }
    }
}

extension ArraySlice<UInt8> {
    func littleEndian(at index: Int, bytes: Int) -> UInt64 {
        (0..<bytes).reduce(UInt64(0)) { $0 | UInt64(self[index + $1]) << UInt64($1 * 8) }
    }
}
