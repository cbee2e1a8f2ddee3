internal import GembaCore
internal import GRDB
internal import GRDBSQLite

/// Writes one ``WriteBatch`` inside the writer's open transaction: registrations, samples
/// (duplicates of a stored (series, time) ignored), then the rollups and latest values of what was stored.
struct SQLiteBatchWriter {
    let db: Database

    func write(_ batch: WriteBatch) throws -> WriteResult {
        let now = Timestamp.now().millisecondsSinceEpoch
        let machine = try db.cachedStatement(sql: "INSERT OR IGNORE INTO machine (tenant, path, registered_ms) VALUES (?, ?, ?)")
        for entry in batch.newMachines {
            try machine.execute(arguments: [entry.tenant.rawValue, entry.machine.description, now])
        }
        let series = try batch.newSeries.map(register)
        var rollups = RollupAccumulator()
        var stored = [Bool](repeating: false, count: batch.samples.count)
        let insert = try db.cachedStatement(sql: "INSERT OR IGNORE INTO sample (series, t, v, q) VALUES (?, ?, ?, ?)").sqliteStatement
        // Inserting in key order walks the B-tree once instead of seeking a random leaf per sample.
        let resolved = batch.samples.map { entry -> SeriesSample in
            var entry = entry
            if entry.series < 0 { entry.series = series[Int(-entry.series - 1)].id }
            return entry
        }
        let order = resolved.indices.sorted { a, b in
            let x = resolved[a], y = resolved[b]
            return x.series != y.series ? x.series < y.series
                : x.sample.time != y.sample.time ? x.sample.time < y.sample.time : a < b
        }
        for index in order {
            let entry = resolved[index]
            sqlite3_reset(insert)
            sqlite3_bind_int64(insert, 1, entry.series)
            sqlite3_bind_int64(insert, 2, entry.sample.time.millisecondsSinceEpoch)
            bindValue(entry.sample.value, to: insert, at: 3)
            sqlite3_bind_int64(insert, 4, Int64(entry.sample.quality.rawValue))
            let code = sqlite3_step(insert)
            guard code == SQLITE_DONE else { throw SQLiteRows.error(db, code) }
            guard sqlite3_changes(db.sqliteConnection) == 1 else { continue }
            rollups.add(entry)
            stored[index] = true
        }
        sqlite3_reset(insert)
        try rollups.flush(db)
        return WriteResult(series: series, stored: stored)
    }

    private func register(_ new: NewSeries) throws -> Series {
        try db.execute(sql: """
            INSERT INTO series (tenant, machine, tag, unit, value_type, kind, description) VALUES (?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (tenant, machine, tag) DO NOTHING
            """, arguments: [new.key.tenant.rawValue, new.key.machine.description, new.key.tag, new.tag.unit,
                             new.tag.valueType.rawValue, new.tag.kind.rawValue, new.tag.description])
        guard let row = try Row.fetchOne(db, sql: "SELECT * FROM series WHERE tenant = ? AND machine = ? AND tag = ?",
                                         arguments: [new.key.tenant.rawValue, new.key.machine.description, new.key.tag]),
              let series = SQLiteStore.series(from: row)
        else { throw DatabaseError(resultCode: .SQLITE_CORRUPT, message: "series \(new.key) vanished after insert") }
        return series
    }
}

/// Per-batch rollup and latest-value state, folded in memory and merged into the tables once per batch.
private struct RollupAccumulator {
    private struct Key: Hashable {
        var series: Int64
        var bucket: Int64
    }

    private var minutes: [Key: Bucket] = [:]
    private var latest: [Int64: Sample] = [:]

    mutating func add(_ entry: SeriesSample) {
        let time = entry.sample.time
        if let current = latest[entry.series] {
            if time >= current.time { latest[entry.series] = entry.sample }
        } else {
            latest[entry.series] = entry.sample
        }
        guard let value = entry.sample.value.numeric else { return }
        let start = time.millisecondsSinceEpoch.flooredTo(Resolution.minute.milliseconds)
        let key = Key(series: entry.series, bucket: start)
        let single = Bucket(start: Timestamp(millisecondsSinceEpoch: start), value: value, time: time)
        if minutes[key] != nil { minutes[key]!.merge(single) } else { minutes[key] = single }
    }

    func flush(_ db: Database) throws {
        var hours: [Key: Bucket] = [:]
        for (key, bucket) in minutes {
            let hourKey = Key(series: key.series, bucket: key.bucket.flooredTo(Resolution.hour.milliseconds))
            if hours[hourKey] != nil { hours[hourKey]!.merge(bucket) } else { hours[hourKey] = bucket }
        }
        try upsert(minutes, into: .minute, db)
        try upsert(hours, into: .hour, db)
        let statement = try db.cachedStatement(sql: """
            INSERT INTO latest (series, t, v, q) VALUES (?, ?, ?, ?)
            ON CONFLICT (series) DO UPDATE SET t = excluded.t, v = excluded.v, q = excluded.q WHERE excluded.t >= t
            """).sqliteStatement
        for (series, sample) in latest {
            sqlite3_reset(statement)
            sqlite3_bind_int64(statement, 1, series)
            sqlite3_bind_int64(statement, 2, sample.time.millisecondsSinceEpoch)
            bindValue(sample.value, to: statement, at: 3)
            sqlite3_bind_int64(statement, 4, Int64(sample.quality.rawValue))
            let code = sqlite3_step(statement)
            guard code == SQLITE_DONE else { throw SQLiteRows.error(db, code) }
        }
        sqlite3_reset(statement)
    }

    private func upsert(_ buckets: [Key: Bucket], into resolution: Resolution, _ db: Database) throws {
        let statement = try db.cachedStatement(sql: SQLiteSchema.upsertRollup(SQLiteSchema.rollupTable(resolution))).sqliteStatement
        for (key, bucket) in buckets {
            sqlite3_reset(statement)
            sqlite3_bind_int64(statement, 1, key.series)
            sqlite3_bind_int64(statement, 2, key.bucket)
            sqlite3_bind_int64(statement, 3, bucket.count)
            sqlite3_bind_double(statement, 4, bucket.sum)
            sqlite3_bind_double(statement, 5, bucket.min)
            sqlite3_bind_double(statement, 6, bucket.max)
            sqlite3_bind_int64(statement, 7, bucket.firstTime.millisecondsSinceEpoch)
            sqlite3_bind_double(statement, 8, bucket.first)
            sqlite3_bind_int64(statement, 9, bucket.lastTime.millisecondsSinceEpoch)
            sqlite3_bind_double(statement, 10, bucket.last)
            let code = sqlite3_step(statement)
            guard code == SQLITE_DONE else { throw SQLiteRows.error(db, code) }
        }
        sqlite3_reset(statement)
    }
}

extension Int64 {
    /// The largest multiple of `width` not above this value (correct for negative values too).
    func flooredTo(_ width: Int64) -> Int64 {
        let remainder = self % width
        return remainder < 0 ? self - remainder - width : self - remainder
    }
}
