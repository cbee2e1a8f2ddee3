internal import Crypto
public import Foundation

/// A file's length and SHA-256, as the manifest records it.
public struct FileDigest: Equatable, Sendable, Codable {
    public var bytes: UInt64
    /// Lowercase hex.
    public var sha256: String

    public init(bytes: UInt64, sha256: String) {
        self.bytes = bytes
        self.sha256 = sha256
    }

    /// Reads `path` once, in chunks.
    public static func of(file path: String) throws -> FileDigest {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw BackupError.unreadable(path) }
        defer { try? handle.close() }
        var hasher = SHA256()
        var bytes: UInt64 = 0
        while let chunk = try handle.read(upToCount: TarWriter.chunkSize), !chunk.isEmpty {
            hasher.update(data: chunk)
            bytes += UInt64(chunk.count)
        }
        return FileDigest(bytes: bytes, sha256: hex(hasher.finalize()))
    }

    static func hex(_ digest: SHA256.Digest) -> String {
        digest.map { String(format: "%02x", $0) }.joined()
    }
}

/// Writes a ustar archive to a file, one entry after another.
public final class TarWriter {
    static let chunkSize = 1 << 20
    private let handle: FileHandle

    /// Writes into `handle` from its current offset.
    public init(handle: FileHandle) {
        self.handle = handle
    }

    /// Adds an entry holding `data`.
    public func add(name: String, mode: UInt32 = 0o644, modificationTime: Int64, data: Data) throws {
        try handle.write(contentsOf: TarHeader(name: name, size: UInt64(data.count), mode: mode, modificationTime: modificationTime).encoded())
        try handle.write(contentsOf: data)
        try pad(UInt64(data.count))
    }

    /// Adds an entry holding the file at `path`, streamed; answers its digest as read.
    @discardableResult
    public func add(name: String, mode: UInt32 = 0o644, modificationTime: Int64, file path: String, size: UInt64) throws -> FileDigest {
        guard let source = FileHandle(forReadingAtPath: path) else { throw BackupError.unreadable(path) }
        defer { try? source.close() }
        try handle.write(contentsOf: TarHeader(name: name, size: size, mode: mode, modificationTime: modificationTime).encoded())
        var hasher = SHA256()
        var written: UInt64 = 0
        while written < size, let chunk = try source.read(upToCount: Int(min(UInt64(Self.chunkSize), size - written))), !chunk.isEmpty {
            hasher.update(data: chunk)
            try handle.write(contentsOf: chunk)
            written += UInt64(chunk.count)
        }
        guard written == size else { throw BackupError.changedWhileWriting(path) }
        try pad(size)
        return FileDigest(bytes: size, sha256: FileDigest.hex(hasher.finalize()))
    }

    /// Writes the end marker (two zero blocks) and syncs the file to disk.
    public func finish() throws {
        try handle.write(contentsOf: Data(count: 2 * TarHeader.blockSize))
        try handle.synchronize()
    }

    private func pad(_ size: UInt64) throws {
        let padding = Int((size + 511) / 512 * 512 - size)
        if padding > 0 { try handle.write(contentsOf: Data(count: padding)) }
    }
}

/// Reads a ustar archive from a file, one entry after another.
public final class TarReader {
    private let handle: FileHandle
    private var pending: TarHeader?

    public init(handle: FileHandle) {
        self.handle = handle
    }

    /// The next entry's header, or `nil` at the end marker. The previous entry's contents must
    /// have been read or skipped.
    public func next() throws -> TarHeader? {
        precondition(pending == nil, "read or skip the previous entry first")
        let block = try readExactly(TarHeader.blockSize, inside: nil)
        guard let header = try TarHeader.decode([UInt8](block)) else { return nil }
        pending = header
        return header
    }

    /// The current entry's contents in memory, refused beyond `limit` bytes.
    public func readData(limit: Int) throws -> Data {
        guard let header = pending else { preconditionFailure("no current entry") }
        guard header.size <= UInt64(limit) else { throw BackupError.entryTooLarge(header.name, limit: limit) }
        let data = try readExactly(Int(header.size), inside: header.name)
        try skipPadding(header)
        return data
    }

    /// Streams the current entry's contents into `sink` (nil: only hashed), answering the digest.
    public func readContents(into sink: FileHandle?) throws -> FileDigest {
        guard let header = pending else { preconditionFailure("no current entry") }
        var hasher = SHA256()
        var remaining = header.size
        while remaining > 0 {
            let chunk = try readExactly(Int(min(UInt64(TarWriter.chunkSize), remaining)), inside: header.name)
            hasher.update(data: chunk)
            try sink?.write(contentsOf: chunk)
            remaining -= UInt64(chunk.count)
        }
        try skipPadding(header)
        return FileDigest(bytes: header.size, sha256: FileDigest.hex(hasher.finalize()))
    }

    private func skipPadding(_ header: TarHeader) throws {
        let padding = Int(header.paddedSize - header.size)
        if padding > 0 { _ = try readExactly(padding, inside: header.name) }
        pending = nil
    }

    private func readExactly(_ count: Int, inside name: String?) throws -> Data {
        var data = Data()
        while data.count < count {
            guard let chunk = try handle.read(upToCount: count - data.count), !chunk.isEmpty else {
                throw ArchiveError.truncated(inside: name)
            }
            data.append(chunk)
        }
        return data
    }
}
