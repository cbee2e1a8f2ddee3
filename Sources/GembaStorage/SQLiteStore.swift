public import GembaCore
internal import Foundation
internal import GRDB
internal import GRDBSQLite
internal import Synchronization
public import Logging

/// The embedded storage backend: one SQLite database in WAL mode, through GRDB.
///
/// Writes go through GRDB's single writer connection, one transaction per ``commit(_:)``;
/// reads run concurrently on the pool's reader connections.
public final class SQLiteStore: TelemetryStore {
    /// How SQLite syncs commits to disk.
    public enum Durability: String, Sendable {
        /// Every commit is fsynced (`synchronous = FULL`): survives power loss.
        case full
        /// WAL commits survive a process crash; the last ones may be lost on power loss (`synchronous = NORMAL`).
        case normal
    }

    let pool: DatabasePool
    private let path: String
    private let checkpointer: SQLiteCheckpointer
    private let memtable = MemtableBox()
    private let firstTimes = FirstSampleTimes()
    /// Each tenant's reason paths and the small ids KPI summaries store them as (both ways).
    let reasonIDs = Mutex<[TenantID: ReasonIDs]>([:])
    /// The memtable is moved into `sample` once it holds this many samples…
    private let flushCount = 300_000
    /// …or its oldest sample has waited this long (ms).
    private let flushAge: Int64 = 2000
    private let defaultLimits: TenantLimits
    private let logger: Logger

    /// Opens (creating if needed) `gemba.sqlite` in `directory` and runs the migrations.
    public init(directory: String, durability: Durability = .full, defaultLimits: TenantLimits = TenantLimits(),
                logger: Logger) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        path = (directory as NSString).appendingPathComponent(Self.fileName)
        var configuration = Configuration()
        configuration.busyMode = .timeout(10)
        configuration.maximumReaderCount = 4
        configuration.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = \(durability == .full ? "FULL" : "NORMAL")")
            try db.execute(sql: "PRAGMA cache_size = -65536")
            try db.execute(sql: "PRAGMA temp_store = MEMORY")
            // Checkpoints run on their own connection (see `maintain()`), off the writer's path;
            // the writer only steps in if the WAL grows past ~256 MB.
            try db.execute(sql: "PRAGMA wal_autocheckpoint = 65536")
            // When the WAL restarts after a complete checkpoint, it is cut back to 64 MB.
            try db.execute(sql: "PRAGMA journal_size_limit = 67108864")
        }
        pool = try DatabasePool(path: path, configuration: configuration)
        try SQLiteSchema.migrator.migrate(pool)
        checkpointer = try SQLiteCheckpointer(path: path)
        // Samples committed to the inbox before a stop are moved now, with their rollups.
        try pool.write { db in try Self.recoverInbox(db, logger: logger) }
        self.defaultLimits = defaultLimits
        self.logger = logger
    }

    // MARK: Writer

    public func commit(_ batch: WriteBatch) async throws -> WriteResult {
        let memtable = self.memtable, firstTimes = self.firstTimes
        return try await pool.writeWithoutTransaction { db in
            var output: SQLiteBatchWriter.Output?
            try db.inTransaction(.immediate) {
                output = try SQLiteBatchWriter(db: db, memtable: memtable, firstTimes: firstTimes).write(batch)
                return .commit
            }
            // Committed: readers may now see the samples (still on the writer, so no flush interleaves).
            memtable.state.withLock { $0.append(output!.added, lastInboxID: output!.lastInboxID, now: Timestamp.now().millisecondsSinceEpoch) }
            firstTimes.note(output!.firstTimes)
            return output!.result
        }
    }

    /// Moves every sample left in the inbox into `sample`, in key order.
    static func recoverInbox(_ db: Database, logger: Logger) throws {
        var recovered: [SeriesSample] = []
        for row in try Row.fetchAll(db, sql: "SELECT id, samples FROM inbox ORDER BY id") {
            guard let samples = InboxBlob.decode([UInt8](row["samples"] as Data)) else {
                logger.error("skipping a damaged inbox entry", metadata: ["storage.inbox_id": "\(row["id"] as Int64)"])
                continue
            }
            recovered += samples
        }
        guard !recovered.isEmpty else { return }
        recovered.sort { $0.series != $1.series ? $0.series < $1.series : $0.sample.time < $1.sample.time }
        try insertIntoSample(db, recovered.map { ($0.series, $0.sample) })
        try db.execute(sql: "DELETE FROM inbox")
        logger.info("moved samples left in the inbox", metadata: ["storage.samples": "\(recovered.count)"])
    }

    /// Inserts key-ordered samples into the clustered table (an existing (series, time) is kept)
    /// and adds the inserted ones to the hour rollups.
    private static func insertIntoSample(_ db: Database, _ samples: some Sequence<(Int64, Sample)>) throws {
        let insert = try db.cachedStatement(sql: "INSERT OR IGNORE INTO sample (series, t, v, q) VALUES (?, ?, ?, ?)").sqliteStatement
        var rollups = RollupAccumulator()
        defer { sqlite3_reset(insert) }
        for (series, sample) in samples {
            sqlite3_reset(insert)
            sqlite3_bind_int64(insert, 1, series)
            sqlite3_bind_int64(insert, 2, sample.time.millisecondsSinceEpoch)
            bindValue(sample.value, to: insert, at: 3)
            sqlite3_bind_int64(insert, 4, Int64(sample.quality.rawValue))
            let code = sqlite3_step(insert)
            guard code == SQLITE_DONE else { throw SQLiteRows.error(db, code) }
            if sqlite3_changes(db.sqliteConnection) == 1 { rollups.add(SeriesSample(series: series, sample: sample)) }
        }
        try rollups.flush(db, levels: [.minute, .hour])
    }

    /// Moves the memtable's samples into the `sample` table in key order. With `force`, whatever it
    /// holds; otherwise only once it is large or old enough. The move runs in steps of at most
    /// `seriesPerStep` series, each its own short transaction, so ingest commits go in between
    /// (a single big move would hold the writer, and every acknowledgement, for a long time).
    /// Inbox entries are deleted once every sample they hold has been moved.
    public func flushMemtable(force: Bool = false) async throws {
        let now = Timestamp.now().millisecondsSinceEpoch
        let due = memtable.state.withLock { table in
            table.count > 0 && (force || table.count >= flushCount || now - (table.oldestCommit ?? now) >= flushAge)
        }
        guard due else { return }
        let memtable = self.memtable
        let (series, inboxID) = memtable.state.withLock { table in (table.runs.keys.sorted(), table.lastInboxID) }
        for start in stride(from: 0, to: series.count, by: Self.seriesPerStep) {
            let step = series[start..<min(start + Self.seriesPerStep, series.count)]
            let last = start + Self.seriesPerStep >= series.count
            try await pool.writeWithoutTransaction { db in
                let runs = memtable.state.withLock { $0.snapshot(of: step) }
                memtable.generation.add(1, ordering: .sequentiallyConsistent)  // odd: a move is under way
                defer { memtable.generation.add(1, ordering: .sequentiallyConsistent) }
                try db.inTransaction(.immediate) {
                    try Self.insertIntoSample(db, runs.lazy.flatMap { run in
                        run.samples.sorted { $0.time < $1.time }.lazy.map { (run.series, $0) }
                    })
                    // Every sample committed up to `inboxID` belonged to one of `series`: all moved now.
                    if last { try db.execute(sql: "DELETE FROM inbox WHERE id <= ?", arguments: [inboxID]) }
                    return .commit
                }
                memtable.state.withLock { $0.removeFlushed(runs, now: Timestamp.now().millisecondsSinceEpoch) }
            }
        }
    }

    static let seriesPerStep = 32

    // MARK: Catalog

    public func allSeries() async throws -> [Series] {
        try await pool.read { db in try Self.fetchSeries(db, sql: "SELECT * FROM series ORDER BY id", arguments: []) }
    }

    public func allMachines() async throws -> [(tenant: TenantID, machine: Machine)] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT tenant, path, registered_ms FROM machine ORDER BY tenant, path").compactMap { row in
                guard let tenant = TenantID(row["tenant"]), let path = try? AssetPath(row["path"] as String) else { return nil }
                return (tenant, Machine(path: path, registeredAt: Timestamp(millisecondsSinceEpoch: row["registered_ms"])))
            }
        }
    }

    public func machines(tenant: TenantID) async throws -> [Machine] {
        try await pool.read { db in
            try Row.fetchAll(db, sql: "SELECT path, registered_ms FROM machine WHERE tenant = ? ORDER BY path",
                             arguments: [tenant.rawValue]).compactMap { row in
                guard let path = try? AssetPath(row["path"] as String) else { return nil }
                return Machine(path: path, registeredAt: Timestamp(millisecondsSinceEpoch: row["registered_ms"]))
            }
        }
    }

    public func series(tenant: TenantID, machine: AssetPath?) async throws -> [Series] {
        try await pool.read { db in
            if let machine {
                return try Self.fetchSeries(db, sql: "SELECT * FROM series WHERE tenant = ? AND machine = ? ORDER BY tag",
                                            arguments: [tenant.rawValue, machine.description])
            }
            return try Self.fetchSeries(db, sql: "SELECT * FROM series WHERE tenant = ? ORDER BY machine, tag",
                                        arguments: [tenant.rawValue])
        }
    }

    public func limits(tenant: TenantID) async throws -> TenantLimits {
        let defaults = defaultLimits
        return try await pool.read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM tenant WHERE id = ?", arguments: [tenant.rawValue]) else {
                return defaults
            }
            return TenantLimits(maxMachines: row["max_machines"], maxTagsPerMachine: row["max_tags_per_machine"],
                                rawRetention: row["raw_retention_ms"], minuteRetention: row["minute_retention_ms"],
                                hourRetention: row["hour_retention_ms"])
        }
    }

    public func setLimits(_ limits: TenantLimits, tenant: TenantID) async throws {
        try await pool.write { db in
            try db.execute(sql: """
                INSERT OR REPLACE INTO tenant (id, max_machines, max_tags_per_machine, raw_retention_ms,
                    minute_retention_ms, hour_retention_ms) VALUES (?, ?, ?, ?, ?, ?)
                """, arguments: [tenant.rawValue, limits.maxMachines, limits.maxTagsPerMachine, limits.rawRetention,
                                 limits.minuteRetention, limits.hourRetention])
        }
    }

    public func tenants() async throws -> [TenantID] {
        try await pool.read { db in
            try String.fetchAll(db, sql: "SELECT id FROM tenant UNION SELECT DISTINCT tenant FROM machine ORDER BY 1")
                .compactMap(TenantID.init)
        }
    }

    private static func fetchSeries(_ db: Database, sql: String, arguments: StatementArguments) throws -> [Series] {
        try Row.fetchAll(db, sql: sql, arguments: arguments).compactMap(series(from:))
    }

    static func series(from row: Row) -> Series? {
        guard let tenant = TenantID(row["tenant"]), let machine = try? AssetPath(row["machine"] as String),
              let valueType = ValueType(rawValue: row["value_type"]), let kind = TagKind(rawValue: row["kind"])
        else { return nil }
        return Series(id: row["id"], key: SeriesKey(tenant: tenant, machine: machine, tag: row["tag"]),
                      tag: Tag(name: row["tag"], unit: row["unit"], valueType: valueType, kind: kind,
                               description: row["description"], displayName: row["display_name"], minimum: row["minimum"],
                               maximum: row["maximum"], decimals: row["decimals"]),
                      firstSampleTime: row["first_ms"])
    }

    // MARK: Reader

    /// The newest sample of each series: from the memtable, else the last row of the series in
    /// `sample` (one primary-key seek each; no table is updated per commit for this).
    public func latest(series: [Int64]) async throws -> [Int64: Sample] {
        guard !series.isEmpty else { return [:] }
        let pending = memtable.state.withLock { table in series.compactMap { id in table.newest(of: id).map { (id, $0) } } }
        var result = Dictionary(pending, uniquingKeysWith: { first, _ in first })  // a series asked for twice is answered once
        let stored = try await pool.read { db in
            var found: [Int64: Sample] = [:]
            for id in series {
                try SQLiteRows.each(db, sql: "SELECT t, v, q FROM sample WHERE series = ? ORDER BY t DESC LIMIT 1", bind: [id]) { row in
                    found[id] = row.sample(time: 0, value: 1, quality: 2)
                }
            }
            return found
        }
        for (id, sample) in stored where result[id].map({ $0.time < sample.time }) ?? true { result[id] = sample }
        return result
    }

    /// Not yet moved samples of one series in a range. Read before the table, so that a flush in
    /// between shows a sample twice (merged away) rather than not at all.
    private func pending(_ series: Int64, _ from: Timestamp, _ to: Timestamp) -> [Sample] {
        memtable.state.withLock { $0.samples(series: series, from: from.millisecondsSinceEpoch, to: to.millisecondsSinceEpoch) }
    }

    public func samples(series: Int64, from: Timestamp, to: Timestamp, limit: Int) async throws -> [Sample] {
        let pending = pending(series, from, to)
        let stored = try await pool.read { db in
            var result: [Sample] = []
            try SQLiteRows.each(db, sql: "SELECT t, v, q FROM sample WHERE series = ? AND t >= ? AND t < ? ORDER BY t LIMIT ?",
                                bind: [series, from.millisecondsSinceEpoch, to.millisecondsSinceEpoch, Int64(limit)]) { row in
                result.append(row.sample(time: 0, value: 1, quality: 2))
            }
            return result
        }
        return Array(Self.merge(stored, pending).prefix(limit))
    }

    public func last(series: Int64, before time: Timestamp) async throws -> Sample? {
        try await samples([SampleRequest(series: series, from: time, to: time, limit: 0, withPrevious: true)])[0].first
    }

    public func samples(_ requests: [SampleRequest]) async throws -> [[Sample]] {
        // The memtable is read first, so that a flush in between shows a sample twice (merged away) rather than not at all.
        let pending = memtable.state.withLock { table in
            requests.map { request in
                (table.samples(series: request.series, from: request.from.millisecondsSinceEpoch, to: request.to.millisecondsSinceEpoch),
                 request.withPrevious
                    ? table.samples(series: request.series, from: .min, to: request.from.millisecondsSinceEpoch).last : nil)
            }
        }
        let stored = try await pool.read { db in
            try requests.map { request -> (samples: [Sample], previous: Sample?) in
                var samples: [Sample] = []
                if request.limit > 0 {
                    try SQLiteRows.each(db, sql: "SELECT t, v, q FROM sample WHERE series = ? AND t >= ? AND t < ? ORDER BY t LIMIT ?",
                                        bind: [request.series, request.from.millisecondsSinceEpoch, request.to.millisecondsSinceEpoch,
                                               Int64(request.limit)]) { row in
                        samples.append(row.sample(time: 0, value: 1, quality: 2))
                    }
                }
                var previous: Sample?
                if request.withPrevious {
                    try SQLiteRows.each(db, sql: "SELECT t, v, q FROM sample WHERE series = ? AND t < ? ORDER BY t DESC LIMIT 1",
                                        bind: [request.series, request.from.millisecondsSinceEpoch]) { row in
                        previous = row.sample(time: 0, value: 1, quality: 2)
                    }
                }
                return (samples, previous)
            }
        }
        return zip(requests, zip(stored, pending)).map { request, answers in
            let (stored, pending) = answers
            var result = Array(Self.merge(stored.samples, pending.0).prefix(request.limit))
            let previous = [stored.previous, pending.1].compactMap { $0 }.max { $0.time < $1.time }
            if let previous { result.insert(previous, at: 0) }
            return result
        }
    }

    /// Two time-sorted sample lists as one, a time present in both taken once (from `first`).
    static func merge(_ first: [Sample], _ second: [Sample]) -> [Sample] {
        guard !second.isEmpty else { return first }
        guard !first.isEmpty else { return second }
        var result: [Sample] = []
        result.reserveCapacity(first.count + second.count)
        var i = 0, j = 0
        while i < first.count || j < second.count {
            if j == second.count || (i < first.count && first[i].time <= second[j].time) {
                if j < second.count, first[i].time == second[j].time { j += 1 }
                result.append(first[i])
                i += 1
            } else {
                result.append(second[j])
                j += 1
            }
        }
        return result
    }

    public func count(series: Int64, from: Timestamp, to: Timestamp, cap: Int) async throws -> Int {
        let pending = pending(series, from, to)
        let stored = try await pool.read { db in
            var times: [Int64] = []
            try SQLiteRows.each(db, sql: "SELECT t FROM sample WHERE series = ? AND t >= ? AND t < ? LIMIT ?",
                                bind: [series, from.millisecondsSinceEpoch, to.millisecondsSinceEpoch, Int64(cap)]) { row in
                times.append(row.int64(0))
            }
            return times
        }
        let storedSet = pending.isEmpty ? [] : Set(stored)
        return min(cap, stored.count + pending.filter { !storedSet.contains($0.time.millisecondsSinceEpoch) }.count)
    }

    public func buckets(series: Int64, from: Timestamp, to: Timestamp, width: Int64,
                        resolution: Resolution) async throws -> [Bucket] {
        // Hour rollups hold what was moved out of the memtable, so the memtable and the tables must
        // be read on the same side of a move: retry if one happened meanwhile (a seqlock).
        while true {
            let before = memtable.generation.load(ordering: .sequentiallyConsistent)
            if before % 2 == 1 {
                try await Task.sleep(for: .milliseconds(1))
                continue
            }
            let pending = pending(series, from, to)
            let buckets = try await pool.read { db in
                try SQLiteBucketQuery(db: db, series: series, width: width, resolution: resolution, pending: pending)
                    .run(from: from, to: to)
            }
            if memtable.generation.load(ordering: .sequentiallyConsistent) == before { return buckets }
        }
    }

    // MARK: Retention

    public func enforceRetention(tenant: TenantID, limits: TenantLimits, now: Timestamp) async throws -> Int {
        try await flushMemtable(force: true)  // expired samples may still wait in the inbox
        let ids = try await pool.read { db in
            try Int64.fetchAll(db, sql: "SELECT id FROM series WHERE tenant = ?", arguments: [tenant.rawValue])
        }
        let cutoffs: [(String, Int64)] = [
            ("sample", now.millisecondsSinceEpoch - limits.rawRetention),
            ("rollup_minute", now.millisecondsSinceEpoch - limits.minuteRetention),
            ("rollup_hour", now.millisecondsSinceEpoch - limits.hourRetention),
        ]
        var deleted = 0
        // Small transactions, so a commit from ingest never waits behind a long delete.
        for chunk in stride(from: 0, to: ids.count, by: 200) {
            let slice = Array(ids[chunk..<min(chunk + 200, ids.count)])
            deleted += try await pool.write { db in
                var rows = 0
                let statement = try db.cachedStatement(sql: "DELETE FROM sample WHERE series = ? AND t < ?")
                for id in slice {
                    try statement.execute(arguments: [id, cutoffs[0].1])
                    rows += db.changesCount
                }
                return rows
            }
        }
        // Rollups are keyed (bucket, series): their expired rows are one range at the start of the table.
        for (table, cutoff) in cutoffs.dropFirst() {
            deleted += try await pool.write { db in
                try db.execute(sql: """
                    DELETE FROM \(table) WHERE bucket < ? AND series IN (SELECT id FROM series WHERE tenant = ?)
                    """, arguments: [cutoff, tenant.rawValue])
                return db.changesCount
            }
        }
        return deleted
    }

    // MARK: Health

    public func checkWritable() async throws {
        try await pool.write { db in try db.execute(sql: "CREATE TEMP TABLE IF NOT EXISTS ready_probe (x); DELETE FROM ready_probe") }
    }

    /// Twice a second: the WAL stays short, and the memtable moves soon after it is due.
    public var maintenanceInterval: Duration { .milliseconds(500) }

    /// Moves the memtable when due, then copies committed WAL pages into the database file (a
    /// passive checkpoint, which never blocks the writer or readers).
    public func maintain() async throws {
        try await flushMemtable()
        try await checkpointer.checkpoint()
    }

    /// Bytes the database's pages take, wherever they are (database file or WAL): what the data
    /// needs, apart from how far checkpoints have got.
    public func databaseBytes() async throws -> Int64 {
        try await pool.read { db in
            (try Int64.fetchOne(db, sql: "PRAGMA page_count") ?? 0) * (try Int64.fetchOne(db, sql: "PRAGMA page_size") ?? 0)
        }
    }

    public func diskUsage() throws -> Int64 {
        var total: Int64 = 0
        for suffix in ["", "-wal", "-shm"] {
            let attributes = try? FileManager.default.attributesOfItem(atPath: path + suffix)
            total += (attributes?[.size] as? NSNumber)?.int64Value ?? 0
        }
        return total
    }
}
