internal import GembaCore
public import GembaStorage
internal import PostgresNIO
internal import Logging
internal import Synchronization

/// Commits: registrations, then one statement that inserts the samples and maintains the late
/// rollups and first sample times from what it inserted.
extension PostgresStore {
    /// Batches of at least this many samples (and no registrations) are split among the writers.
    static let splitThreshold = 4000

    /// Commits `batch`, its ``WriteBatch/feed`` appended to the sample feed in the same
    /// transaction. A large one is split by series into ``PostgresURL/writers`` transactions
    /// run at once on separate connections (each with its series' part of the feed): the call
    /// returns when all have committed (acknowledged samples are committed samples); when one
    /// fails, the call fails, and a resent batch finds the others' samples stored (duplicates, kept
    /// once).
    public func commit(_ batch: WriteBatch) async throws -> WriteResult {
        let parts = url.writers
        guard parts > 1, batch.newMachines.isEmpty, batch.newSeries.isEmpty, batch.samples.count >= Self.splitThreshold else {
            return try await commitWhole(batch)
        }
        var members = [[Int]](repeating: [], count: parts)
        for (index, entry) in batch.samples.enumerated() {
            members[Int(UInt64(bitPattern: entry.series) % UInt64(parts))].append(index)
        }
        var fed = [[AcceptedSample]](repeating: [], count: parts)
        for entry in batch.feed { fed[Int(UInt64(bitPattern: entry.seriesID) % UInt64(parts))].append(entry) }
        let results = try await withThrowingTaskGroup(of: (Int, WriteResult).self) { group in
            for (part, indices) in members.enumerated() where !indices.isEmpty {
                let sub = WriteBatch(samples: indices.map { batch.samples[$0] }, feed: fed[part])
                group.addTask { (part, try await self.commitWhole(sub)) }
            }
            return try await group.reduce(into: [Int: WriteResult]()) { $0[$1.0] = $1.1 }
        }
        var stored = [Bool](repeating: false, count: batch.samples.count)
        for (part, result) in results {
            for (position, index) in members[part].enumerated() { stored[index] = result.stored[position] }
        }
        return WriteResult(series: [], stored: stored)
    }

    /// Commits `batch` in one transaction, retrying once on what another node may have changed.
    private func commitWhole(_ batch: WriteBatch) async throws -> WriteResult {
        let days = Set(batch.samples.map { $0.sample.time.millisecondsSinceEpoch.flooredTo(TenantLimits.day) })
        try await ensurePartitions(days: days)
        do {
            return try await write(batch, trustNewest: true)
        } catch let error as PostgresStoreError where error.sqlState == "23505" {
            // A sample this node took for new was stored already (by another node): check every row this time.
            seriesTimes.withLock { $0.removeAll() }
            return try await write(batch, trustNewest: false)
        } catch let error as PostgresStoreError where error.sqlState == "40P01" {
            // A deadlock with another node's commit (the server rolled this one back): once more.
            logger.info("a commit met another's locks in a deadlock; committing again", metadata: ["samples": "\(batch.samples.count)"])
            return try await write(batch, trustNewest: true)
        } catch let error as PostgresStoreError where error.sqlState == "23514" {
            // No partition for a row: another node dropped a day this one still knew. Learn again, retry once.
            try await loadPartitions()
            try await ensurePartitions(days: days)
            return try await write(batch, trustNewest: false)
        }
    }

    /// Longest a commit may take before its connection is closed (a commit takes milliseconds;
    /// waiting for the rollup fold's lock, seconds).
    static let commitLimit: Duration = .seconds(30)

    /// Samples of known series only take one statement, a transaction of its own (one round trip:
    /// the statement takes the rollup lock and reads the watermark itself). Registrations make it a
    /// transaction: `BEGIN`, the registrations, the insert, `COMMIT`. With `trustNewest`, samples
    /// newer than what this node last stored of their series go in without a conflict check.
    private func write(_ batch: WriteBatch, trustNewest: Bool) async throws -> WriteResult {
        let (series, plan, outcome) = try await client.lease(deadline: leaseDeadline, workLimit: Self.commitLimit) { connection in
            do {
                guard !batch.newMachines.isEmpty || !batch.newSeries.isEmpty else {
                    let plan = self.plan(batch, newSeries: [], trustNewest: trustNewest)
                    return ([Series](), plan, try await plan.run(on: connection, logger: self.logger))
                }
                try await connection.query("BEGIN", logger: self.logger)
                do {
                    let series = try await self.register(batch, on: connection)
                    let plan = self.plan(batch, newSeries: series.map(\.id), trustNewest: trustNewest)
                    let outcome = try await plan.run(on: connection, logger: self.logger)
                    try await connection.query("COMMIT", logger: self.logger)
                    return (series, plan, outcome)
                } catch {
                    _ = try? await connection.query("ROLLBACK", logger: self.logger)
                    throw error
                }
            } catch {
                throw PostgresStoreError.wrapping(error, doing: "committing \(batch.samples.count) samples")
            }
        }
        seriesTimes.withLock { known in plan.note(into: &known) }
        return WriteResult(series: series, stored: plan.stored(outcome))
    }

    private func plan(_ batch: WriteBatch, newSeries: [Int64], trustNewest: Bool) -> SampleInsertPlan {
        seriesTimes.withLock { known in
            SampleInsertPlan(batch.samples, newSeries: newSeries, known: trustNewest ? known : [:],
                             feed: batch.feed.isEmpty ? [] : LiveBatch.encode(batch.feed))
        }
    }

    /// Registers the batch's machines and series (idempotently), each kind in one statement;
    /// answers the series in the batch's order.
    ///
    /// Rows go in sorted by key: nodes registering the same machines at once (each sees every
    /// machine of a shared stream) then wait for each other's insert in the same order instead of
    /// deadlocking.
    private func register(_ batch: WriteBatch, on connection: PostgresConnection) async throws -> [Series] {
        if !batch.newMachines.isEmpty {
            try await connection.query("""
                INSERT INTO machine (tenant, path, registered_ms)
                SELECT t, p, \(Timestamp.now().millisecondsSinceEpoch)
                FROM unnest(\(batch.newMachines.map(\.tenant.rawValue))::text[], \(batch.newMachines.map(\.machine.description))::text[]) AS u(t, p)
                ORDER BY t, p
                ON CONFLICT DO NOTHING
                """, logger: logger)
        }
        let new = batch.newSeries
        guard !new.isEmpty else { return [] }
        let tenants = new.map(\.key.tenant.rawValue), machines = new.map(\.key.machine.description), tags = new.map(\.key.tag)
        // Optional texts as a text array and a "has it" array (postgres-nio sends no NULL elements).
        let units = new.map { $0.tag.unit ?? "" }, hasUnit = new.map { $0.tag.unit != nil }
        let descriptions = new.map { $0.tag.description ?? "" }, hasDescription = new.map { $0.tag.description != nil }
        try await connection.query("""
            INSERT INTO series (tenant, machine, tag, unit, value_type, kind, description)
            SELECT t, m, g, CASE WHEN hu THEN u END, vt, k, CASE WHEN hd THEN d END
            FROM unnest(\(tenants)::text[], \(machines)::text[], \(tags)::text[], \(units)::text[], \(hasUnit)::bool[],
                        \(new.map(\.tag.valueType.rawValue))::text[], \(new.map(\.tag.kind.rawValue))::text[], \(descriptions)::text[],
                        \(hasDescription)::bool[]) AS u(t, m, g, u, hu, vt, k, d, hd)
            ORDER BY t, m, g
            ON CONFLICT (tenant, machine, tag) DO NOTHING
            """, logger: logger)
        let query: PostgresQuery = """
            SELECT \(unescaped: Self.seriesColumns) FROM series
            JOIN unnest(\(tenants)::text[], \(machines)::text[], \(tags)::text[]) WITH ORDINALITY AS k(kt, km, kg, n) ON tenant = kt AND machine = km AND tag = kg
            ORDER BY n
            """
        let result = try await fetchSeries(query, on: connection)
        guard result.count == new.count else { throw PostgresStoreError("\(new.count - result.count) series vanished after insert") }
        return result
    }

    // MARK: Partitions

    /// Learns which day partitions exist.
    func loadPartitions() async throws {
        var days: Set<Int64> = []
        for try await day in try await client.query("SELECT day_ms FROM sample_partition", logger: logger).decode(Int64.self) {
            days.insert(day)
        }
        partitions.withLock { $0 = days }
    }

    /// Creates the partitions of `days` (UTC day starts, ms) not known to exist (commits, and
    /// `gemba storage migrate` before it copies samples).
    public func ensurePartitions(days: Set<Int64>) async throws {
        let missing = partitions.withLock { known in days.subtracting(known) }
        for day in missing.sorted() {
            do {
                try await client.query("SELECT gemba_sample_partition(\(day))", logger: logger)
            } catch {
                throw PostgresStoreError.wrapping(error, doing: "creating the sample partition of day \(day)")
            }
            _ = partitions.withLock { $0.insert(day) }
        }
    }
}

/// What a node knows of a series from its own commits: its first sample time as stored, and the
/// newest time it stored (a sample after that one cannot be a duplicate, unless another node
/// stored it: the insert then fails and is retried with every row checked).
struct SeriesTimes: Sendable {
    var first: Int64?
    var newest: Int64?
}

/// One batch's samples as the typed arrays of the insert statement, duplicates of a (series,
/// time) in the batch left out (the first one is kept), in (series, time) order.
struct SampleInsertPlan: Sendable {
    private(set) var series: [Int64] = []
    private(set) var times: [Int64] = []
    private(set) var kinds: [Int16] = []
    private(set) var doubles: [Double] = []
    private(set) var integers: [Int64] = []
    private(set) var strings: [String] = []
    private(set) var qualities: [Int16] = []
    /// Rows newer than their series' newest stored sample (as this node last knew it): those not
    /// older than the rollup watermark are inserted without a conflict check and without answering
    /// anything back (fresh rows).
    private(set) var newer: [Bool] = []
    /// For each sample of the batch, the index of its row in the arrays (nil: a duplicate in the batch).
    private(set) var rows: [Int?]
    /// Each series of the batch with its earliest and newest time in it.
    private var spans: [(series: Int64, first: Int64, last: Int64)] = []
    /// Series whose first sample time this batch may move back, with the batch's earliest time of each.
    private(set) var firstSeries: [Int64] = []
    private(set) var firstTimes: [Int64] = []

    /// What the insert did: the rollup watermark it ran under, how many of the checked rows (those
    /// not fresh) it inserted and, when that is not all of them, which. Fresh rows are all inserted
    /// (or the insert fails).
    struct Outcome: Sendable {
        var watermark: Int64
        var checked: Int
        var inserted: Set<SampleKey>?
    }

    /// The commit's part of the sample feed (LiveBatch bytes; empty: nothing to feed).
    private let feed: [UInt8]

    init(_ samples: [SeriesSample], newSeries: [Int64], known: [Int64: SeriesTimes], feed: [UInt8] = []) {
        self.feed = feed
        let resolved = samples.map { entry in entry.series < 0 ? newSeries[Int(-entry.series - 1)] : entry.series }
        let order = samples.indices.sorted { a, b in
            resolved[a] != resolved[b] ? resolved[a] < resolved[b]
                : samples[a].sample.time != samples[b].sample.time ? samples[a].sample.time < samples[b].sample.time : a < b
        }
        rows = Array(repeating: nil, count: samples.count)
        for array in [\Self.series, \Self.times, \Self.integers] as [WritableKeyPath<Self, [Int64]>] {
            self[keyPath: array].reserveCapacity(samples.count)
        }
        let registered = Set(newSeries)
        for index in order {
            let id = resolved[index], time = samples[index].sample.time.millisecondsSinceEpoch
            if series.last == id, times.last == time { continue }
            if series.last != id {
                spans.append((id, time, time))
                if registered.contains(id) || known[id]?.first.map({ time < $0 }) ?? true {
                    firstSeries.append(id)
                    firstTimes.append(time)
                }
            }
            spans[spans.count - 1].last = time
            rows[index] = series.count
            newer.append(!registered.contains(id) && known[id]?.newest.map { time > $0 } ?? false)
            append(series: id, time: time, samples[index].sample)
        }
    }

    private mutating func append(series id: Int64, time: Int64, _ sample: Sample) {
        series.append(id)
        times.append(time)
        qualities.append(Int16(sample.quality.rawValue))
        var kind: Int16 = 1, double = 0.0, integer: Int64 = 0, string = ""
        switch sample.value {
        case .double(let value): kind = 0; double = value
        case .int(let value): integer = value
        case .bool(let value): integer = value ? 1 : 0
        case .string(let value): kind = 2; string = value
        }
        kinds.append(kind)
        doubles.append(double)
        integers.append(integer)
        strings.append(string)
    }

    /// Runs the insert.
    func run(on connection: PostgresConnection, logger: Logger) async throws -> Outcome {
        guard !series.isEmpty else { return Outcome(watermark: .max, checked: 0, inserted: []) }
        var query = PostgresQuery(unsafeSQL: Self.statement)
        query.binds.append(series)
        query.binds.append(times)
        query.binds.append(kinds)
        query.binds.append(doubles)
        query.binds.append(integers)
        query.binds.append(strings)
        query.binds.append(qualities)
        query.binds.append(newer)
        query.binds.append(firstSeries)
        query.binds.append(firstTimes)
        query.binds.append(ByteBuffer(bytes: feed))
        for try await (count, insertedSeries, insertedTimes, watermark) in try await connection.query(query, logger: logger)
            .decode((Int64, [Int64]?, [Int64]?, Int64).self) {
            guard let insertedSeries, let insertedTimes else { return Outcome(watermark: watermark, checked: Int(count), inserted: nil) }
            let inserted = Set(zip(insertedSeries, insertedTimes).map { SampleKey(series: $0, time: $1) })
            return Outcome(watermark: watermark, checked: Int(count), inserted: inserted)
        }
        throw PostgresStoreError("the insert answered no row")
    }

    /// For each sample of the batch, whether it was stored.
    func stored(_ outcome: Outcome) -> [Bool] {
        guard let inserted = outcome.inserted else { return rows.map { $0 != nil } }
        return rows.map { row in
            row.map { (newer[$0] && times[$0] >= outcome.watermark) || inserted.contains(SampleKey(series: series[$0], time: times[$0])) } ?? false
        }
    }

    /// Notes what a committed insert means for each series: its first time (moved back where this
    /// batch went earlier) and its newest stored time (stored or found stored, both count).
    func note(into known: inout [Int64: SeriesTimes]) {
        for span in spans {
            var times = known[span.series] ?? SeriesTimes()
            times.newest = max(times.newest ?? span.last, span.last)
            known[span.series] = times
        }
        for (series, time) in zip(firstSeries, firstTimes) where known[series]?.first.map({ time < $0 }) ?? true {
            known[series]?.first = time
        }
    }

    /// The insert, one statement: `gemba_commit_watermark()` takes the rollup lock shared and
    /// reads the watermark `w`. Rows newer than their series' newest (`$8`) and not older than `w`
    /// go straight in, answering nothing; the others only where their (series, t) is not stored
    /// yet. The rollups take the inserted rows older than `w` (late data; newer ones are the rollup
    /// job's), first sample times move back, and the feed's bytes (`$11`, when not empty) become a
    /// row of the sample feed. Answers how many checked rows went in, only when
    /// some did not the keys of those that did, and `w`.
    static let statement = """
        WITH mark AS MATERIALIZED (
            SELECT gemba_commit_watermark() AS w
        ), input AS (
            SELECT u.*, u.newer AND u.t >= mark.w AS fresh
            FROM unnest($1::int8[], $2::int8[], $3::int2[], $4::float8[], $5::int8[], $6::text[], $7::int2[], $8::bool[])
                AS u(series, t, k, f, i, s, q, newer), mark
        ), fresh_rows AS (
            INSERT INTO sample (series, t, f, i, s, q)
            SELECT series, t, CASE WHEN k = 0 THEN f END, CASE WHEN k = 1 THEN i END, CASE WHEN k = 2 THEN s END, q FROM input WHERE fresh
        ), checked_rows AS (
            INSERT INTO sample (series, t, f, i, s, q)
            SELECT series, t, CASE WHEN k = 0 THEN f END, CASE WHEN k = 1 THEN i END, CASE WHEN k = 2 THEN s END, q FROM input WHERE NOT fresh
            ON CONFLICT DO NOTHING
            RETURNING series, t, coalesce(f, i::float8) AS x
        ), late AS (
            SELECT series, t, x FROM checked_rows WHERE t < (SELECT w FROM mark)
        ), \(PostgresRollups.upserts(from: "late")), first_moved AS (
            UPDATE series SET first_ms = c.t FROM unnest($9::int8[], $10::int8[]) AS c(id, t)
            WHERE series.id = c.id AND (series.first_ms IS NULL OR series.first_ms > c.t)
        ), checked AS (
            SELECT count(*) AS n FROM input WHERE NOT fresh
        ), fed AS (
            INSERT INTO sample_feed (samples) SELECT $11::bytea WHERE length($11::bytea) > 0
        )
        SELECT count(*), CASE WHEN count(*) < (SELECT n FROM checked) THEN array_agg(series) END,
               CASE WHEN count(*) < (SELECT n FROM checked) THEN array_agg(t) END, (SELECT w FROM mark)
        FROM checked_rows
        """
}

/// A stored sample's key.
struct SampleKey: Hashable {
    var series: Int64
    var time: Int64
}
