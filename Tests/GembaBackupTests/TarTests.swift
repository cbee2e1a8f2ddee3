import Foundation
import Testing
@testable import GembaBackup

@Suite struct TarHeaderTests {
    @Test func headerRoundTrips() throws {
        let header = TarHeader(name: "mqtt/mqtt.sqlite", size: 123_456, mode: 0o600, modificationTime: 1_764_900_000)
        let block = try header.encoded()
        #expect(block.count == 512)
        #expect(try TarHeader.decode(block) == header)
    }

    @Test func sizesOf8GiBAndMoreUseBase256() throws {
        let header = TarHeader(name: "gemba.sqlite", size: 9 << 30, modificationTime: 0)
        let block = try header.encoded()
        #expect(block[124] == 0x80)
        #expect(try TarHeader.decode(block)?.size == 9 << 30)
    }

    @Test func anAllZeroBlockIsTheEnd() throws {
        #expect(try TarHeader.decode([UInt8](repeating: 0, count: 512)) == nil)
    }

    @Test func aChangedByteFailsTheChecksum() throws {
        var block = try TarHeader(name: "jwt.key", size: 32, modificationTime: 0).encoded()
        block[130] ^= 1
        #expect(throws: ArchiveError.damagedHeader) { try TarHeader.decode(block) }
    }

    @Test func namesThatEscapeTheDirectoryAreRefused() throws {
        for name in ["../etc/passwd", "/etc/passwd", "a/../../b", "a//b", "./a", ""] {
            #expect(!ArchivePath.isSafe(name), "\(name)")
            #expect(throws: ArchiveError.self) { try TarHeader(name: name, size: 0, modificationTime: 0).encoded() }
        }
        // A header written by another tool with such a name is refused on reading.
        var block = try TarHeader(name: "aa/passwd", size: 0, modificationTime: 0).encoded()
        block.replaceSubrange(0..<2, with: Array("..".utf8))
        block.replaceSubrange(148..<156, with: [UInt8](repeating: 0x20, count: 8))
        let sum = block.reduce(0) { $0 + Int($1) }
        let digits = Array(String(sum, radix: 8).utf8)
        block.replaceSubrange(148..<156, with: [UInt8](repeating: UInt8(ascii: "0"), count: 6 - digits.count) + digits + [0, 0x20])
        #expect(throws: ArchiveError.unsafeName("../passwd")) { try TarHeader.decode(block) }
    }

    @Test func linksAndDirectoriesAreRefused() throws {
        var block = try TarHeader(name: "link", size: 0, modificationTime: 0).encoded()
        block[156] = UInt8(ascii: "2")
        block.replaceSubrange(148..<156, with: [UInt8](repeating: 0x20, count: 8))
        let sum = block.reduce(0) { $0 + Int($1) }
        let digits = Array(String(sum, radix: 8).utf8)
        block.replaceSubrange(148..<156, with: [UInt8](repeating: UInt8(ascii: "0"), count: 6 - digits.count) + digits + [0, 0x20])
        #expect(throws: ArchiveError.unsupportedEntry("link")) { try TarHeader.decode(block) }
    }

    @Test func systemTarReadsWhatWeWrite() throws {
        let directory = try TemporaryDirectory()
        let archive = directory.path("a.tar")
        let source = directory.path("source.bin")
        let payload = Data((0..<1500).map { UInt8($0 % 251) })
        _ = FileManager.default.createFile(atPath: source, contents: payload)
        _ = FileManager.default.createFile(atPath: archive, contents: nil)
        let handle = try #require(FileHandle(forWritingAtPath: archive))
        let writer = TarWriter(handle: handle)
        try writer.add(name: "manifest.json", modificationTime: 0, data: Data("{}".utf8))
        let digest = try writer.add(name: "dir/source.bin", mode: 0o600, modificationTime: 0, file: source, size: UInt64(payload.count))
        try writer.finish()
        try handle.close()
        #expect(digest == (try FileDigest.of(file: source)))

        let listing = try directory.run("/usr/bin/tar", ["-tvf", archive])
        #expect(listing.contains("manifest.json") && listing.contains("dir/source.bin") && listing.contains("1500"))
        _ = try directory.run("/usr/bin/tar", ["-xf", archive, "-C", directory.path(".")])
        #expect(FileManager.default.contents(atPath: directory.path("dir/source.bin")) == payload)
    }
}

/// A directory removed when the test ends, and a way to run a tool in it.
final class TemporaryDirectory {
    let url: URL

    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("gemba-backup-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(at: url) }

    func path(_ name: String) -> String { url.appendingPathComponent(name).path }

    /// Runs `tool` and answers its standard output; a non-zero exit throws.
    func run(_ tool: String, _ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: tool)
        process.arguments = arguments
        let output = Pipe()
        process.standardOutput = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw CocoaError(.fileReadUnknown) }
        return String(decoding: data, as: UTF8.self)
    }
}
