internal import GembaCore
public import GembaStorage
internal import PostgresNIO
internal import Logging
internal import Synchronization

/// Commits: registrations, then one statement that inserts the samples and maintains rollups and
/// first sample times from what it inserted.
extension PostgresStore {
    public func commit(_ batch: WriteBatch) async throws -> WriteResult {
        let days = Set(batch.samples.map { $0.sample.time.millisecondsSinceEpoch.flooredTo(TenantLimits.day) })
        try await ensurePartitions(days: days)
        do {
            return try await write(batch)
        } catch let error as PSQLError where error.serverInfo?[.sqlState] == "23514" {
            // No partition for a row: another node dropped a day this one still knew. Learn again, retry once.
            try await loadPartitions()
            try await ensurePartitions(days: days)
            return try await write(batch)
        }
    }

    private func write(_ batch: WriteBatch) async throws -> WriteResult {
        let registers = !batch.newMachines.isEmpty || !batch.newSeries.isEmpty
        let (series, inserted, plan) = try await leases.withConnection(client, deadline: leaseDeadline) { connection in
            if registers { try await connection.query("BEGIN", logger: self.logger) }
            do {
                let series = try await self.register(batch, on: connection)
                let plan = SampleInsertPlan(batch.samples, newSeries: series.map(\.id), firstTimes: self.firstTimes)
                let inserted = try await plan.run(on: connection, logger: self.logger)
                if registers { try await connection.query("COMMIT", logger: self.logger) }
                return (series, inserted, plan)
            } catch {
                if registers { _ = try? await connection.query("ROLLBACK", logger: self.logger) }
                throw PostgresStoreError.wrapping(error, doing: "committing \(batch.samples.count) samples")
            }
        }
        firstTimes.withLock { known in
            for (series, time) in zip(plan.firstSeries, plan.firstTimes) where known[series].map({ time < $0 }) ?? true {
                known[series] = time
            }
        }
        return WriteResult(series: series, stored: plan.stored(inserted: inserted))
    }

    /// Registers the batch's machines and series (idempotently); answers the series in order.
    private func register(_ batch: WriteBatch, on connection: PostgresConnection) async throws -> [Series] {
        let now = Timestamp.now().millisecondsSinceEpoch
        for entry in batch.newMachines {
            try await connection.query("""
                INSERT INTO machine (tenant, path, registered_ms) VALUES (\(entry.tenant.rawValue), \(entry.machine.description), \(now))
                ON CONFLICT DO NOTHING
                """, logger: logger)
        }
        var result: [Series] = []
        for new in batch.newSeries {
            try await connection.query("""
                INSERT INTO series (tenant, machine, tag, unit, value_type, kind, description)
                VALUES (\(new.key.tenant.rawValue), \(new.key.machine.description), \(new.key.tag), \(new.tag.unit),
                        \(new.tag.valueType.rawValue), \(new.tag.kind.rawValue), \(new.tag.description))
                ON CONFLICT (tenant, machine, tag) DO NOTHING
                """, logger: logger)
            var query = PostgresQuery(unsafeSQL: "SELECT \(Self.seriesColumns) FROM series WHERE tenant = $1 AND machine = $2 AND tag = $3")
            query.binds.append(new.key.tenant.rawValue)
            query.binds.append(new.key.machine.description)
            query.binds.append(new.key.tag)
            guard let series = try await fetchSeries(query, on: connection).first else {
                throw PostgresStoreError("series \(new.key) vanished after insert")
            }
            result.append(series)
        }
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

    /// Creates the partitions of `days` (UTC day starts, ms) not known to exist.
    func ensurePartitions(days: Set<Int64>) async throws {
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

/// One batch's samples as the typed arrays of the insert statement, duplicates of a (series,
/// time) in the batch left out (the first one is kept), in (series, time) order.
struct SampleInsertPlan {
    private(set) var series: [Int64] = []
    private(set) var times: [Int64] = []
    private(set) var kinds: [Int16] = []
    private(set) var doubles: [Double] = []
    private(set) var integers: [Int64] = []
    private(set) var strings: [String] = []
    private(set) var qualities: [Int16] = []
    /// For each sample of the batch, the index of its row in the arrays (nil: a duplicate in the batch).
    private(set) var rows: [Int?]
    /// Series whose first sample time this batch may move back, with the batch's earliest time of each.
    private(set) var firstSeries: [Int64] = []
    private(set) var firstTimes: [Int64] = []

    init(_ samples: [SeriesSample], newSeries: [Int64], firstTimes known: borrowing Mutex<[Int64: Int64]>) {
        let resolved = samples.map { entry in entry.series < 0 ? newSeries[Int(-entry.series - 1)] : entry.series }
        let order = samples.indices.sorted { a, b in
            resolved[a] != resolved[b] ? resolved[a] < resolved[b]
                : samples[a].sample.time != samples[b].sample.time ? samples[a].sample.time < samples[b].sample.time : a < b
        }
        rows = Array(repeating: nil, count: samples.count)
        series.reserveCapacity(samples.count)
        times.reserveCapacity(samples.count)
        for index in order {
            let time = samples[index].sample.time.millisecondsSinceEpoch
            if series.last == resolved[index], times.last == time { continue }
            if series.last != resolved[index] {
                firstSeries.append(resolved[index])
                firstTimes.append(time)
            }
            rows[index] = series.count
            append(series: resolved[index], time: time, samples[index].sample)
        }
        let registered = Set(newSeries)
        known.withLock { known in
            let keep = firstSeries.indices.filter { index in
                registered.contains(firstSeries[index]) || known[firstSeries[index]].map { firstTimes[index] < $0 } ?? true
            }
            firstSeries = keep.map { firstSeries[$0] }
            firstTimes = keep.map { firstTimes[$0] }
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

    /// Runs the insert; answers the (series, time) rows it inserted.
    func run(on connection: PostgresConnection, logger: Logger) async throws -> Set<SampleKey> {
        guard !series.isEmpty else { return [] }
        var query = PostgresQuery(unsafeSQL: Self.statement)
        query.binds.append(series)
        query.binds.append(times)
        query.binds.append(kinds)
        query.binds.append(doubles)
        query.binds.append(integers)
        query.binds.append(strings)
        query.binds.append(qualities)
        query.binds.append(firstSeries)
        query.binds.append(firstTimes)
        var inserted: Set<SampleKey> = []
        inserted.reserveCapacity(series.count)
        for try await (series, time) in try await connection.query(query, logger: logger).decode((Int64, Int64).self) {
            inserted.insert(SampleKey(series: series, time: time))
        }
        return inserted
    }

    /// For each sample of the batch, whether it was stored.
    func stored(inserted: Set<SampleKey>) -> [Bool] {
        rows.map { row in row.map { inserted.contains(SampleKey(series: series[$0], time: times[$0])) } ?? false }
    }

    /// A bucket start of width `$w` for time column `t`, floored also below the epoch.
    private static func floor(_ column: String, _ width: Int64) -> String { "\(column) - ((\(column) % \(width)) + \(width)) % \(width)" }

    /// Upserts pre-aggregated buckets (columns series, bucket, n, sum, min, max, first_t, first,
    /// last_t, last of `source`) into a rollup table.
    private static func upsert(_ table: String, from source: String) -> String {
        """
        INSERT INTO \(table) AS r (series, bucket, n, sum, min, max, first_t, first, last_t, last)
            SELECT series, bucket, n, sum, min, max, first_t, first, last_t, last FROM \(source)
            ON CONFLICT (series, bucket) DO UPDATE SET
                n = r.n + excluded.n, sum = r.sum + excluded.sum,
                min = least(r.min, excluded.min), max = greatest(r.max, excluded.max),
                first = CASE WHEN excluded.first_t < r.first_t THEN excluded.first ELSE r.first END,
                first_t = least(r.first_t, excluded.first_t),
                last = CASE WHEN excluded.last_t >= r.last_t THEN excluded.last ELSE r.last END,
                last_t = greatest(r.last_t, excluded.last_t)
        """
    }

    /// The insert: rows from the arrays (an existing (series, t) is kept), the minute and hour
    /// rollups of the inserted numeric rows, first sample times moved back; answers the inserted keys.
    static let statement = """
        WITH input AS (
            SELECT * FROM unnest($1::int8[], $2::int8[], $3::int2[], $4::float8[], $5::int8[], $6::text[], $7::int2[])
                AS u(series, t, k, f, i, s, q)
        ), inserted AS (
            INSERT INTO sample (series, t, f, i, s, q)
            SELECT series, t, CASE WHEN k = 0 THEN f END, CASE WHEN k = 1 THEN i END, CASE WHEN k = 2 THEN s END, q FROM input
            ON CONFLICT DO NOTHING
            RETURNING series, t, coalesce(f, i::float8) AS x
        ), minutes AS MATERIALIZED (
            SELECT series, \(floor("t", 60_000)) AS bucket, count(*) AS n, sum(x) AS sum, min(x) AS min, max(x) AS max,
                   min(t) AS first_t, (array_agg(x ORDER BY t))[1] AS first, max(t) AS last_t, (array_agg(x ORDER BY t DESC))[1] AS last
            FROM inserted WHERE x IS NOT NULL GROUP BY 1, 2
        ), hours AS (
            SELECT series, \(floor("bucket", 3_600_000)) AS bucket, sum(n)::int8 AS n, sum(sum) AS sum, min(min) AS min, max(max) AS max,
                   min(first_t) AS first_t, (array_agg(first ORDER BY first_t))[1] AS first,
                   max(last_t) AS last_t, (array_agg(last ORDER BY last_t DESC))[1] AS last
            FROM minutes GROUP BY 1, 2
        ), minute_upsert AS (
            \(upsert("rollup_minute", from: "minutes"))
        ), hour_upsert AS (
            \(upsert("rollup_hour", from: "hours"))
        ), first_moved AS (
            UPDATE series SET first_ms = c.t FROM unnest($8::int8[], $9::int8[]) AS c(id, t)
            WHERE series.id = c.id AND (series.first_ms IS NULL OR series.first_ms > c.t)
        )
        SELECT series, t FROM inserted
        """
}

/// A stored sample's key.
struct SampleKey: Hashable {
    var series: Int64
    var time: Int64
}
