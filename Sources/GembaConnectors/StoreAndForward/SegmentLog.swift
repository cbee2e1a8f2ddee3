import Foundation

/// An append-only log of ``BufferRecord``s in segment files (`<first position>.log`, 20 digits),
/// addressed by position: the byte offset in the whole log since it was created. Whole segments
/// are deleted from the front. Opening it finds where the last segment's valid records end and
/// cuts off a record torn by a crash.
struct SegmentLog {
    let directory: URL
    let segmentBytes: Int
    /// First position of each segment, oldest first.
    private(set) var segments: [UInt64] = []
    /// Where the next record goes.
    private(set) var end: UInt64 = 0
    private var pending: [UInt8] = []
    private var file: FileHandle?

    init(directory: URL, segmentBytes: Int = 8 << 20) throws {
        self.directory = directory
        self.segmentBytes = segmentBytes
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        segments = try FileManager.default.contentsOfDirectory(atPath: directory.path)
            .compactMap { $0.hasSuffix(".log") ? UInt64($0.dropLast(4)) : nil }.sorted()
        if let last = segments.last {
            let data = try Array(Data(contentsOf: url(last)))
            var offset = 0
            while let (_, size) = BufferRecord.decode(data[offset...]) { offset += size }
            if offset < data.count {  // a torn tail: drop it
                let handle = try FileHandle(forWritingTo: url(last))
                try handle.truncate(atOffset: UInt64(offset))
                try handle.close()
            }
            end = last + UInt64(offset)
        }
    }

    /// The first position still on disk.
    var start: UInt64 { segments.first ?? end }

    /// Bytes on disk (and waiting to be written).
    var size: UInt64 { end - start }

    func url(_ segment: UInt64) -> URL {
        directory.appendingPathComponent(String(repeating: "0", count: max(0, 20 - String(segment).count)) + "\(segment).log")
    }

    /// Appends a record (written by the next ``flush()``); answers where it ends.
    mutating func append(_ record: BufferRecord) -> UInt64 {
        let bytes = record.encoded()
        if segments.isEmpty || Int(end - segments.last!) + bytes.count > segmentBytes && end > segments.last! {
            flushQuietly()
            try? file?.close()
            file = nil
            segments.append(end)
        }
        pending += bytes
        end += UInt64(bytes.count)
        return end
    }

    /// Writes what was appended to the current segment (the OS holds it from then on: it survives
    /// the process being killed; `sync` also asks the disk to keep it).
    mutating func flush(sync: Bool = false) throws {
        guard !pending.isEmpty, let segment = segments.last else { return }
        if file == nil {
            let path = url(segment).path
            // A file that cannot be made is reported by the open below.
            if !FileManager.default.fileExists(atPath: path) { _ = FileManager.default.createFile(atPath: path, contents: nil) }
            file = try FileHandle(forWritingTo: url(segment))
            try file!.seekToEnd()
        }
        try file!.write(contentsOf: pending)
        pending = []
        if sync { try file!.synchronize() }
    }

    private mutating func flushQuietly() { try? flush() }

    /// Records from `position` (a record's start) up to `limit` bytes or `until`, and where the next begins.
    func read(from position: UInt64, until: UInt64, limit: Int) throws -> (records: [BufferRecord], next: UInt64) {
        guard position < until, let index = segments.lastIndex(where: { $0 <= position }) else { return ([], position) }
        let segment = segments[index]
        let segmentEnd = index + 1 < segments.count ? segments[index + 1] : end
        let handle = try FileHandle(forReadingFrom: url(segment))
        defer { try? handle.close() }
        try handle.seek(toOffset: position - segment)
        let want = Int(min(UInt64(limit), min(until, segmentEnd) - position))
        let data = Array(try handle.read(upToCount: max(want, 1)) ?? Data())
        var records: [BufferRecord] = []
        var offset = 0
        while offset < data.count, let (record, size) = BufferRecord.decode(data[offset...]) {
            records.append(record)
            offset += size
        }
        if records.isEmpty, want < segmentBytes {  // one record longer than `limit`: read it whole
            return try read(from: position, until: until, limit: segmentBytes)
        }
        let next = position + UInt64(offset)
        // At a segment's end, the next position is the next segment's start.
        return (records, next >= segmentEnd && index + 1 < segments.count ? segments[index + 1] : next)
    }

    /// Records from `position` to the end of its segment, counted (for those dropped unread).
    func count(from position: UInt64, inSegmentAt index: Int) -> Int {
        guard let data = try? Array(Data(contentsOf: url(segments[index]))) else { return 0 }
        var offset = Int(max(position, segments[index]) - segments[index])
        var count = 0
        while offset < data.count, let (_, size) = BufferRecord.decode(data[offset...]) {
            count += 1
            offset += size
        }
        return count
    }

    /// The end of segment `index` (the next one's start, or the log's end).
    func segmentEnd(_ index: Int) -> UInt64 { index + 1 < segments.count ? segments[index + 1] : end }

    /// When segment `index` was last written.
    func modified(_ index: Int) -> Date? {
        (try? FileManager.default.attributesOfItem(atPath: url(segments[index]).path))?[.modificationDate] as? Date
    }

    /// Deletes the oldest segment (not the one being written).
    mutating func dropOldest() {
        guard segments.count > 1 else { return }
        try? FileManager.default.removeItem(at: url(segments.removeFirst()))
    }
}
