internal import GembaCore
internal import Foundation
internal import GRDB
internal import GRDBSQLite
internal import Synchronization

/// Writes one ``WriteBatch`` inside the writer's open transaction: registrations, then the new
/// samples into the append-only inbox (duplicates of a stored (series, time) ignored, whether
/// the stored one is in the memtable or the `sample` table). Rollups are maintained when the
/// memtable moves into `sample`; until then queries fold the memtable's samples in.
struct SQLiteBatchWriter {
    /// What a write did: its result, the samples added to the inbox (to append to the memtable once
    /// committed) and the series whose first sample time moved back (to note once committed).
    struct Output {
        var result: WriteResult
        var added: [SeriesSample]
        var lastInboxID: Int64
        var firstTimes: [(series: Int64, time: Int64)] = []
    }

    let db: Database
    let memtable: MemtableBox
    let firstTimes: FirstSampleTimes

    func write(_ batch: WriteBatch) throws -> Output {
        let now = Timestamp.now().millisecondsSinceEpoch
        let machine = try db.cachedStatement(sql: "INSERT OR IGNORE INTO machine (tenant, path, registered_ms) VALUES (?, ?, ?)")
        for entry in batch.newMachines {
            try machine.execute(arguments: [entry.tenant.rawValue, entry.machine.description, now])
        }
        let series = try batch.newSeries.map(register)
        let resolved = batch.samples.map { entry -> SeriesSample in
            var entry = entry
            if entry.series < 0 { entry.series = series[Int(-entry.series - 1)].id }
            return entry
        }
        // Key order puts equal (series, time) pairs next to each other: the first one is kept.
        let order = resolved.indices.sorted { a, b in
            let x = resolved[a], y = resolved[b]
            return x.series != y.series ? x.series < y.series
                : x.sample.time != y.sample.time ? x.sample.time < y.sample.time : a < b
        }
        var stored = [Bool](repeating: false, count: batch.samples.count)
        var added: [SeriesSample] = []
        added.reserveCapacity(batch.samples.count)
        let present = try alreadyStored(resolved, order: order)
        for index in order where !present[index] {
            let entry = resolved[index]
            stored[index] = true
            added.append(entry)
        }
        guard !added.isEmpty else {
            return Output(result: WriteResult(series: series, stored: stored), added: [], lastInboxID: memtable.state.withLock(\.lastInboxID))
        }
        try db.execute(sql: "INSERT INTO inbox (samples) VALUES (?)", arguments: [Data(InboxBlob.encode(added))])
        let inboxID = db.lastInsertedRowID
        return Output(result: WriteResult(series: series, stored: stored), added: added, lastInboxID: inboxID,
                      firstTimes: try moveFirstTimes(for: added, registered: Set(series.map(\.id))))
    }

    /// Moves back the first sample time of each series whose earliest added sample precedes it
    /// (`added` is in series and time order, so each series' first entry is its earliest). Only a
    /// series not known to the cache, or backfilled, costs a statement. A series registered in this
    /// write counts as unknown (its id may be a deleted series' one).
    private func moveFirstTimes(for added: [SeriesSample], registered: Set<Int64>) throws -> [(series: Int64, time: Int64)] {
        var earliest: [(series: Int64, time: Int64)] = []
        for entry in added where earliest.last?.series != entry.series {
            earliest.append((entry.series, entry.sample.time.millisecondsSinceEpoch))
        }
        let candidates = firstTimes.known.withLock { known in
            earliest.filter { entry in registered.contains(entry.series) || known[entry.series].map { entry.time < $0 } ?? true }
        }
        var moved: [(series: Int64, time: Int64)] = []
        for (series, time) in candidates {
            let stored = try Int64?.fetchOne(db, sql: "SELECT first_ms FROM series WHERE id = ?", arguments: [series]) ?? nil
            if let stored, stored <= time {
                moved.append((series, stored))
                continue
            }
            try db.execute(sql: "UPDATE series SET first_ms = ? WHERE id = ?", arguments: [time, series])
            moved.append((series, time))
        }
        return moved
    }

    /// For each sample, whether its (series, time) is already stored: earlier in this batch, in the
    /// memtable, or in `sample` (sought only when not newer than that series' newest sample there).
    private func alreadyStored(_ entries: [SeriesSample], order: [Int]) throws -> [Bool] {
        var present = [Bool](repeating: false, count: entries.count)
        let seriesIDs = Set(entries.map(\.series))
        let unknown = memtable.state.withLock { table in seriesIDs.filter { !table.knowsFlushedMax($0) } }
        var newest: [(series: Int64, time: Int64)] = []
        for series in unknown {
            var time = Int64.min
            try SQLiteRows.each(db, sql: "SELECT max(t) FROM sample WHERE series = ?", bind: [series]) { row in
                if sqlite3_column_type(row.statement, 0) != SQLITE_NULL { time = row.int64(0) }
            }
            newest.append((series, time))
        }
        var toSeek: [Int] = []
        memtable.state.withLock { table in
            for entry in newest { table.setFlushedMax(entry.time, series: entry.series) }
            var previous: (series: Int64, time: Int64)?
            for index in order {
                let entry = entries[index]
                let time = entry.sample.time.millisecondsSinceEpoch
                if let previous, previous.series == entry.series, previous.time == time {
                    present[index] = true
                    continue
                }
                previous = (entry.series, time)
                if table.contains(series: entry.series, time: time) {
                    present[index] = true
                } else if table.mayBeInTable(series: entry.series, time: time) {
                    toSeek.append(index)
                }
            }
        }
        for index in toSeek {
            try SQLiteRows.each(db, sql: "SELECT 1 FROM sample WHERE series = ? AND t = ?",
                                bind: [entries[index].series, entries[index].sample.time.millisecondsSinceEpoch]) { _ in
                present[index] = true
            }
        }
        return present
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

/// Each series' first sample time as last written, so the writer reads `series` only for a series
/// it has not seen since the start, or for a backfill.
final class FirstSampleTimes: Sendable {
    let known = Mutex<[Int64: Int64]>([:])

    /// Notes what a committed write stored (each time is the series' first, as now stored).
    func note(_ times: [(series: Int64, time: Int64)]) {
        guard !times.isEmpty else { return }
        known.withLock { known in for (series, time) in times { known[series] = time } }
    }
}

/// Rollups of a set of samples, merged into the rollup tables in one pass. Samples must be added
/// in (series, time) order: each (series, bucket) is then one contiguous run, folded without
/// hashing. Moving the memtable maintains the minute and hour rollups: one upsert per series and
/// bucket per move instead of per commit.
struct RollupAccumulator {
    private struct Key: Hashable {
        var series: Int64
        var bucket: Int64
    }

    private var minutes: [(key: Key, bucket: Bucket)] = []

    mutating func add(_ entry: SeriesSample) {
        let time = entry.sample.time
        guard let value = entry.sample.value.numeric else { return }
        let start = time.millisecondsSinceEpoch.flooredTo(Resolution.minute.milliseconds)
        let key = Key(series: entry.series, bucket: start)
        let single = Bucket(start: Timestamp(millisecondsSinceEpoch: start), value: value, time: time)
        if let last = minutes.indices.last, minutes[last].key == key {
            minutes[last].bucket.merge(single)
        } else {
            minutes.append((key, single))
        }
    }

    /// Merges the accumulated samples into the tables of `levels` (minute, hour).
    func flush(_ db: Database, levels: Set<Resolution>) throws {
        if levels.contains(.minute) { try upsert(minutes, into: .minute, db) }
        guard levels.contains(.hour) else { return }
        var hours: [(key: Key, bucket: Bucket)] = []
        for (key, bucket) in minutes {
            let hourKey = Key(series: key.series, bucket: key.bucket.flooredTo(Resolution.hour.milliseconds))
            if let last = hours.indices.last, hours[last].key == hourKey {
                hours[last].bucket.merge(bucket)
            } else {
                hours.append((hourKey, bucket))
            }
        }
        try upsert(hours, into: .hour, db)
    }

    private func upsert(_ buckets: [(key: Key, bucket: Bucket)], into resolution: Resolution, _ db: Database) throws {
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
    package func flooredTo(_ width: Int64) -> Int64 {
        let remainder = self % width
        return remainder < 0 ? self - remainder - width : self - remainder
    }
}
