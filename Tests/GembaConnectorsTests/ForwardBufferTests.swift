import Foundation
@testable import GembaConnectors
import Testing

@Suite struct ForwardBufferTests {
    static func directory() -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("gemba-buffer-\(UUID().uuidString)").path
        return path
    }

    static func payload(_ value: Int) -> [UInt8] { Array("value \(value)".utf8) }

    static func replayAll(_ buffer: ForwardBuffer, now: Int64) -> [String] {
        var out: [String] = []
        while let records = buffer.nextReplay(limit: 64, now: now) {
            out += records.map { "\($0.device ?? "node"): " + String(decoding: $0.payload, as: UTF8.self) }
        }
        return out
    }

    @Test func aRecordRoundTripsAndATornOneIsRefused() {
        let record = BufferRecord(device: "press3", payload: [1, 2, 3], writtenAt: 1_234)
        let bytes = record.encoded()
        #expect(BufferRecord.decode(bytes[...])?.record == record)
        #expect(BufferRecord.decode(bytes.dropLast()[...]) == nil)
        var flipped = bytes
        flipped[bytes.count - 1] ^= 1
        #expect(BufferRecord.decode(flipped[...]) == nil)
        #expect(BufferRecord.decode(BufferRecord(device: nil, payload: [], writtenAt: 0).encoded()[...])?.record.device == nil)
        #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)  // the standard check value
    }

    @Test func whatWasBufferedOfflineIsReplayedInOrderAndLiveDataCountsAfterTheWindow() throws {
        let path = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let buffer = try ForwardBuffer(directory: path, limits: .init(window: 1_000))
        for value in 1...3 { buffer.append(device: "d", payload: Self.payload(value), live: false, now: Int64(value)) }
        #expect(buffer.nextReplay(now: 10) == nil)  // offline: nothing to replay yet
        buffer.wentOnline(now: 100)
        buffer.append(device: "d", payload: Self.payload(4), live: true, now: 101)  // live, after the births
        #expect(Self.replayAll(buffer, now: 102) == ["d: value 1", "d: value 2", "d: value 3"])
        try buffer.tick(now: 500)
        #expect(buffer.status.pendingBytes > 0)  // sent, but not a window ago
        try buffer.tick(now: 1_200)
        #expect(buffer.status.pendingBytes == 0)

        // Lost silently: what went out live within the window is replayed at the next connection.
        buffer.append(device: "d", payload: Self.payload(5), live: true, now: 1_300)
        buffer.wentOffline()
        buffer.append(device: nil, payload: Self.payload(6), live: false, now: 1_400)
        try buffer.tick(now: 5_000)
        buffer.wentOnline(now: 5_001)
        #expect(Self.replayAll(buffer, now: 5_002) == ["d: value 5", "node: value 6"])
    }

    @Test func aRestartReplaysWhatWasNotDeliveredEvenAfterATornWrite() throws {
        let path = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        do {
            let buffer = try ForwardBuffer(directory: path, limits: .init(window: 1_000))
            buffer.wentOnline(now: 0)
            buffer.append(device: "d", payload: Self.payload(1), live: true, now: 1)
            try buffer.tick(now: 2_000)  // delivered
            buffer.wentOffline()
            buffer.append(device: "d", payload: Self.payload(2), live: false, now: 2_001)
            buffer.append(device: "d", payload: Self.payload(3), live: false, now: 2_002)
            try buffer.tick(now: 2_003)
        }
        // A crash in the middle of a write leaves part of a record at the end.
        let segment = try #require(try FileManager.default.contentsOfDirectory(atPath: path).first { $0.hasSuffix(".log") })
        let handle = try #require(FileHandle(forWritingAtPath: path + "/" + segment))
        try handle.seekToEnd()
        try handle.write(contentsOf: Array(BufferRecord(device: "d", payload: Self.payload(4), writtenAt: 3).encoded().prefix(10)))
        try handle.close()

        let again = try ForwardBuffer(directory: path, limits: .init(window: 1_000))
        again.append(device: "d", payload: Self.payload(5), live: false, now: 3_000)
        again.wentOnline(now: 3_001)
        #expect(Self.replayAll(again, now: 3_002) == ["d: value 2", "d: value 3", "d: value 5"])
    }

    @Test func theSizeBoundDropsTheOldestAndCountsWhatWasNeverDelivered() throws {
        let path = Self.directory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let big = [UInt8](repeating: 7, count: 16 << 10)
        let buffer = try ForwardBuffer(directory: path, limits: .init(maximumBytes: 320 << 10, window: 1_000), segmentBytes: 64 << 10)
        for index in 0..<40 {
            buffer.append(device: "d", payload: big + Self.payload(index), live: false, now: Int64(index))
            try buffer.tick(now: Int64(index))
        }
        let status = buffer.status
        #expect(status.bytes <= (320 + 64) << 10)  // within the bound and one segment
        #expect(status.dropped >= 16)
        buffer.wentOnline(now: 100)
        var replayed: [Int] = []
        while let records = buffer.nextReplay(now: 100) {
            replayed += records.map { Int(String(decoding: $0.payload.suffix(8).drop { $0 != 32 }.dropFirst(), as: UTF8.self))! }
        }
        #expect(replayed == Array((40 - replayed.count)..<40))  // the newest, in order
        #expect(UInt64(replayed.count) + status.dropped == 40)
    }
}
