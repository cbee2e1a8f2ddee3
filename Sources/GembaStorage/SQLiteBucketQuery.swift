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
        // One primary-key seek per rollup period: the table is keyed (bucket, series).
        let statement = try db.cachedStatement(sql: """
            SELECT n, sum, min, max, first_t, first, last_t, last FROM \(SQLiteSchema.rollupTable(resolution))
            WHERE bucket = ? AND series = ?
            """).sqliteStatement
        for bucket in stride(from: innerStart, to: innerEnd, by: Int(period)) {
            sqlite3_reset(statement)
            sqlite3_bind_int64(statement, 1, bucket)
            sqlite3_bind_int64(statement, 2, series)
            let code = sqlite3_step(statement)
            if code == SQLITE_DONE { continue }
            guard code == SQLITE_ROW else { throw SQLiteRows.error(db, code) }
            let row = SQLiteRow(statement: statement)
            fold.add(Bucket(start: Timestamp(millisecondsSinceEpoch: bucket), count: row.int64(0), min: row.double(2),
                            max: row.double(3), sum: row.double(1), first: row.double(5),
                            firstTime: Timestamp(millisecondsSinceEpoch: row.int64(4)), last: row.double(7),
                            lastTime: Timestamp(millisecondsSinceEpoch: row.int64(6))))
        }
        sqlite3_reset(statement)
        try raw(innerEnd, end, into: &fold)
        return fold.buckets
    }

    private func raw(_ start: Int64, _ end: Int64, into fold: inout BucketFold) throws {
        guard start < end else { return }
        try SQLiteRows.each(db, sql: "SELECT t, v FROM sample WHERE series = ? AND t >= ? AND t < ? ORDER BY t",
                            bind: [series, start, end]) { row in
            guard let value = row.value(1).numeric else { return }
            let time = Timestamp(millisecondsSinceEpoch: row.int64(0))
            fold.add(Bucket(start: time, value: value, time: time))
        }
    }
}

/// Folds time-ordered partial buckets into output buckets of a fixed width.
struct BucketFold {
    let width: Int64
    private(set) var buckets: [Bucket] = []

    init(width: Int64) { self.width = width }

    mutating func add(_ part: Bucket) {
        var part = part
        part.start = Timestamp(millisecondsSinceEpoch: part.start.millisecondsSinceEpoch.flooredTo(width))
        if let last = buckets.indices.last, buckets[last].start == part.start {
            buckets[last].merge(part)
        } else {
            buckets.append(part)
        }
    }
}
