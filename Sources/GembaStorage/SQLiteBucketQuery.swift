internal import GembaCore
internal import GRDB
internal import GRDBSQLite

/// Downsamples one series over `[from, to)` into buckets of `width` ms aligned to the epoch.
///
/// Rollup rows that lie wholly inside the range are read from the rollup table of `resolution`;
/// the partial rollup periods at either edge are read from raw samples, so the answer is exact.
struct SQLiteBucketQuery {
    let db: Database
    let series: Int64
    let width: Int64
    let resolution: Resolution
    /// Samples of the series still in the memtable: not yet counted in any rollup.
    let pending: [Sample]

    func run(from: Timestamp, to: Timestamp) throws -> [Bucket] {
        var fold = BucketFold(width: width)
        let start = from.millisecondsSinceEpoch, end = to.millisecondsSinceEpoch
        guard start < end else { return [] }
        let period = resolution.milliseconds
        let innerStart = (start + period - 1).flooredTo(period)
        let innerEnd = end.flooredTo(period)
        guard resolution != .raw, innerStart < innerEnd else {
            try raw(start, end, into: &fold)
            return fold.buckets
        }
        try raw(start, innerStart, into: &fold)
        if (innerEnd - innerStart) / period <= Self.maxSeeks {
            try seekRollups(from: innerStart, to: innerEnd, period: period, into: &fold)
        } else {
            try scanRollups(from: innerStart, to: innerEnd, into: &fold)
        }
        for sample in pending where (innerStart..<innerEnd).contains(sample.time.millisecondsSinceEpoch) {
            guard let value = sample.value.numeric else { continue }
            fold.add(Bucket(start: sample.time, value: value, time: sample.time))
        }
        try raw(innerEnd, end, into: &fold)
        return fold.buckets
    }

    /// Past this many rollup periods, a range is scanned instead of sought bucket by bucket: such
    /// ranges (years of hours) reach beyond retention and hold few rows.
    static let maxSeeks: Int64 = 50_000

    /// One primary-key seek per rollup period: the table is keyed (bucket, series).
    private func seekRollups(from start: Int64, to end: Int64, period: Int64, into fold: inout BucketFold) throws {
        let statement = try db.cachedStatement(sql: """
            SELECT n, sum, min, max, first_t, first, last_t, last FROM \(SQLiteSchema.rollupTable(resolution))
            WHERE bucket = ? AND series = ?
            """).sqliteStatement
        for bucket in stride(from: start, to: end, by: Int(period)) {
            sqlite3_reset(statement)
            sqlite3_bind_int64(statement, 1, bucket)
            sqlite3_bind_int64(statement, 2, series)
            let code = sqlite3_step(statement)
            if code == SQLITE_DONE { continue }
            guard code == SQLITE_ROW else { throw SQLiteRows.error(db, code) }
            fold.add(Self.bucket(SQLiteRow(statement: statement), at: bucket, offset: 0))
        }
        sqlite3_reset(statement)
    }

    private func scanRollups(from start: Int64, to end: Int64, into fold: inout BucketFold) throws {
        try SQLiteRows.each(db, sql: """
            SELECT bucket, n, sum, min, max, first_t, first, last_t, last FROM \(SQLiteSchema.rollupTable(resolution))
            WHERE bucket >= ? AND bucket < ? AND series = ? ORDER BY bucket
            """, bind: [start, end, series]) { row in
            fold.add(Self.bucket(row, at: row.int64(0), offset: 1))
        }
    }

    /// A rollup row's columns n, sum, min, max, first_t, first, last_t, last, starting at `offset`.
    private static func bucket(_ row: SQLiteRow, at start: Int64, offset: Int32) -> Bucket {
        Bucket(start: Timestamp(millisecondsSinceEpoch: start), count: row.int64(offset), min: row.double(offset + 2),
               max: row.double(offset + 3), sum: row.double(offset + 1), first: row.double(offset + 5),
               firstTime: Timestamp(millisecondsSinceEpoch: row.int64(offset + 4)), last: row.double(offset + 7),
               lastTime: Timestamp(millisecondsSinceEpoch: row.int64(offset + 6)))
    }

    private func raw(_ start: Int64, _ end: Int64, into fold: inout BucketFold) throws {
        guard start < end else { return }
        var stored: [Sample] = []
        try SQLiteRows.each(db, sql: "SELECT t, v FROM sample WHERE series = ? AND t >= ? AND t < ? ORDER BY t",
                            bind: [series, start, end]) { row in
            stored.append(Sample(time: Timestamp(millisecondsSinceEpoch: row.int64(0)), value: row.value(1)))
        }
        let waiting = pending.filter { (start..<end).contains($0.time.millisecondsSinceEpoch) }
        for sample in SQLiteStore.merge(stored, waiting) {
            guard let value = sample.value.numeric else { continue }
            fold.add(Bucket(start: sample.time, value: value, time: sample.time))
        }
    }
}

/// Folds partial buckets (mostly in time order) into sorted output buckets of a fixed width.
package struct BucketFold {
    package let width: Int64
    package private(set) var buckets: [Bucket] = []

    package init(width: Int64) { self.width = width }

    package mutating func add(_ part: Bucket) {
        var part = part
        part.start = Timestamp(millisecondsSinceEpoch: part.start.millisecondsSinceEpoch.flooredTo(width))
        if let last = buckets.last, last.start < part.start {
            buckets.append(part)
            return
        }
        // Not after the last bucket (rare: memtable samples folded after rollups): find its place.
        let index = buckets.partitioningIndex { $0.start >= part.start }
        if index < buckets.count, buckets[index].start == part.start {
            buckets[index].merge(part)
        } else {
            buckets.insert(part, at: index)
        }
    }
}

extension Array {
    /// The first index whose element satisfies `predicate`, which must be false then true along the array.
    package func partitioningIndex(where predicate: (Element) -> Bool) -> Int {
        var low = 0, high = count
        while low < high {
            let middle = (low + high) / 2
            if predicate(self[middle]) { high = middle } else { low = middle + 1 }
        }
        return low
    }
}
