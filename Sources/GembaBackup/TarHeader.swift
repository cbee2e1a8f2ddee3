/// One header block of a POSIX ustar archive, the container of a Gemba backup.
///
/// Only what a backup needs: regular files with names of at most 100 bytes. Sizes of 8 GiB and
/// more are written in the base-256 form GNU tar and Python's `tarfile` read.
public struct TarHeader: Equatable, Sendable {
    /// Bytes in a block; headers and file contents are padded to whole blocks.
    public static let blockSize = 512

    public var name: String
    public var size: UInt64
    /// Permission bits (e.g. 0o600).
    public var mode: UInt32
    /// Seconds since 1970.
    public var modificationTime: Int64

    public init(name: String, size: UInt64, mode: UInt32 = 0o644, modificationTime: Int64) {
        self.name = name
        self.size = size
        self.mode = mode
        self.modificationTime = modificationTime
    }

    /// The padded length of this entry's contents.
    public var paddedSize: UInt64 { (size + 511) / 512 * 512 }

    /// The 512-byte block. Throws for a name that a ustar header cannot hold as is.
    public func encoded() throws -> [UInt8] {
        let nameBytes = Array(name.utf8)
        guard !nameBytes.isEmpty, nameBytes.count <= 100, ArchivePath.isSafe(name) else { throw ArchiveError.unsafeName(name) }
        var block = [UInt8](repeating: 0, count: Self.blockSize)
        block.replaceSubrange(0..<nameBytes.count, with: nameBytes)
        Self.putOctal(UInt64(mode), into: &block, at: 100, width: 8)
        Self.putOctal(0, into: &block, at: 108, width: 8)
        Self.putOctal(0, into: &block, at: 116, width: 8)
        if size < 0o777_7777_7777 {
            Self.putOctal(size, into: &block, at: 124, width: 12)
        } else {
            block[124] = 0x80
            for index in 0..<8 { block[135 - index] = UInt8(truncatingIfNeeded: size >> (8 * UInt64(index))) }
        }
        Self.putOctal(UInt64(max(0, modificationTime)), into: &block, at: 136, width: 12)
        block[156] = UInt8(ascii: "0")
        block.replaceSubrange(257..<263, with: Array("ustar\0".utf8))
        block.replaceSubrange(263..<265, with: Array("00".utf8))
        // The checksum is the byte sum with its own field read as spaces: six digits, NUL, space.
        block.replaceSubrange(148..<156, with: [UInt8](repeating: 0x20, count: 8))
        let sum = block.reduce(0) { $0 + UInt64($1) }
        Self.putOctal(sum, into: &block, at: 148, width: 7)
        block[155] = 0x20
        return block
    }

    /// Reads a header block; `nil` for an all-zero block (the end of the archive).
    public static func decode(_ block: [UInt8]) throws -> TarHeader? {
        guard block.count == blockSize else { throw ArchiveError.truncated(inside: nil) }
        if block.allSatisfy({ $0 == 0 }) { return nil }
        var unsigned = block
        unsigned.replaceSubrange(148..<156, with: [UInt8](repeating: 0x20, count: 8))
        let sum = unsigned.reduce(0) { $0 + UInt64($1) }
        guard let stored = octal(block[148..<156]), stored == sum else { throw ArchiveError.damagedHeader }
        let name = String(decoding: block[0..<100].prefix { $0 != 0 }, as: UTF8.self)
        let prefix = String(decoding: block[345..<500].prefix { $0 != 0 }, as: UTF8.self)
        let fullName = prefix.isEmpty ? name : prefix + "/" + name
        let type = block[156]
        guard type == UInt8(ascii: "0") || type == 0 else { throw ArchiveError.unsupportedEntry(fullName) }
        guard ArchivePath.isSafe(fullName) else { throw ArchiveError.unsafeName(fullName) }
        let size: UInt64
        if block[124] & 0x80 != 0 {
            guard block[124] == 0x80, block[125..<128].allSatisfy({ $0 == 0 }) else { throw ArchiveError.damagedHeader }
            size = block[128..<136].reduce(0) { $0 << 8 | UInt64($1) }
        } else {
            guard let parsed = octal(block[124..<136]) else { throw ArchiveError.damagedHeader }
            size = parsed
        }
        guard let mode = octal(block[100..<108]), let time = octal(block[136..<148]) else { throw ArchiveError.damagedHeader }
        return TarHeader(name: fullName, size: size, mode: UInt32(truncatingIfNeeded: mode & 0o7777), modificationTime: Int64(time))
    }

    private static func putOctal(_ value: UInt64, into block: inout [UInt8], at offset: Int, width: Int) {
        // width - 1 digits, zero-padded, then NUL.
        var digits = [UInt8](repeating: UInt8(ascii: "0"), count: width - 1)
        var rest = value
        var index = digits.count - 1
        while rest > 0 && index >= 0 {
            digits[index] = UInt8(ascii: "0") + UInt8(rest & 7)
            rest >>= 3
            index -= 1
        }
        block.replaceSubrange(offset..<offset + width - 1, with: digits)
        block[offset + width - 1] = 0
    }

    /// An octal field: optional leading spaces, digits, then NUL or space padding.
    private static func octal(_ field: ArraySlice<UInt8>) -> UInt64? {
        var value: UInt64 = 0
        var seenDigit = false
        var ended = false
        for byte in field {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "7"):
                guard !ended, value >> 61 == 0 else { return nil }
                value = value << 3 | UInt64(byte - UInt8(ascii: "0"))
                seenDigit = true
            case 0x20 where !seenDigit: continue
            case 0, 0x20: ended = true
            default: return nil
            }
        }
        return seenDigit ? value : nil
    }
}

/// Names inside an archive: relative, `/`-separated, with no empty, `.` or `..` component, so an
/// entry can never land outside the directory it is extracted into.
public enum ArchivePath {
    public static func isSafe(_ name: String) -> Bool {
        guard !name.hasPrefix("/"), !name.contains("\\"), !name.utf8.contains(0) else { return false }
        let parts = name.split(separator: "/", omittingEmptySubsequences: false)
        return !parts.isEmpty && parts.allSatisfy { !$0.isEmpty && $0 != "." && $0 != ".." }
    }
}

/// Why an archive cannot be read or written.
public enum ArchiveError: Error, Equatable, CustomStringConvertible {
    case truncated(inside: String?)
    case damagedHeader
    case unsupportedEntry(String)
    case unsafeName(String)

    public var description: String {
        switch self {
        case .truncated(let name?): "the archive ends inside \(name): it is incomplete"
        case .truncated(nil): "the archive ends before its end marker: it is incomplete"
        case .damagedHeader: "an entry's header is damaged (its checksum does not match): this is not a Gemba backup or it was altered"
        case .unsupportedEntry(let name): "the archive holds \(name), which is not a regular file"
        case .unsafeName(let name): "the archive holds an entry named '\(name)', which could be written outside the target directory"
        }
    }
}
