internal import GembaCore
internal import GembaStorage
internal import PostgresNIO

/// The minute and hour rollups: the SQL that folds samples into them, and the job that moves the
/// rollup watermark (see ``PostgresSchema``).
enum PostgresRollups {
    /// How far behind the present the watermark stays at least: samples arriving later than this
    /// are late and each commit folds its own in (slower, still exact).
    static let grace: Int64 = 60_000

    /// Where the job moves the watermark at `now` (ms): a grace behind, down to a whole minute, so
    /// that each minute is folded once, whole. Folding every few seconds instead updated every
    /// series' minute and hour rows at each step, which cost a plant's paced stream more than the
    /// samples' own scan (about 290 ms of PostgreSQL CPU per 5 s step at 10,000 series, measured).
    static func target(now: Int64) -> Int64 { (now - grace).flooredTo(60_000) }

    /// Most time one step of the job folds, so that commits never wait long for its lock.
    static let step: Int64 = 600_000

    /// A bucket start of `width` for a time column, floored also below the epoch.
    private static func floor(_ column: String, _ width: Int64) -> String { "\(column) - ((\(column) % \(width)) + \(width)) % \(width)" }

    /// CTEs `minutes`, `hours`, `minute_upsert` and `hour_upsert` folding the rows of `source`
    /// (columns series, t, x; x null for strings) into the rollup tables. Each minute's first and
    /// last value come from sorting its rows: for rows the statement itself wrote (late data),
    /// which a look-up in `sample` would not see yet.
    static func upserts(from source: String) -> String {
        """
        minutes AS MATERIALIZED (
            SELECT \(minuteAggregates), (array_agg(x ORDER BY t))[1] AS first, (array_agg(x ORDER BY t DESC))[1] AS last
            FROM \(source) WHERE x IS NOT NULL GROUP BY 1, 2
        ), \(hoursAndUpserts)
        """
    }

    /// The same for rows already stored in `sample`: each minute's count, sum, extremes and first
    /// and last time in one hashed pass, then its first and last value looked up by key. The rows
    /// of a fold (millions) are neither sorted nor copied into arrays.
    static func upserts(fromStored source: String) -> String {
        """
        spans AS (
            SELECT \(minuteAggregates) FROM \(source) WHERE x IS NOT NULL GROUP BY 1, 2
        ), minutes AS MATERIALIZED (
            SELECT m.series, m.bucket, m.n, m.sum, m.min, m.max,
                   m.first_t, (SELECT coalesce(s.f, s.i::float8) FROM sample s WHERE s.series = m.series AND s.t = m.first_t) AS first,
                   m.last_t, (SELECT coalesce(s.f, s.i::float8) FROM sample s WHERE s.series = m.series AND s.t = m.last_t) AS last
            FROM spans m
        ), \(hoursAndUpserts)
        """
    }

    /// Per (series, minute) of rows with columns series, t and x: count, sum, extremes, first and last time.
    private static let minuteAggregates = """
        series, \(floor("t", 60_000)) AS bucket, count(*) AS n, sum(x) AS sum, min(x) AS min, max(x) AS max, \
        min(t) AS first_t, max(t) AS last_t
        """

    /// CTEs `hours`, `minute_upsert` and `hour_upsert` from a `minutes` CTE.
    private static let hoursAndUpserts = """
        hours AS (
            SELECT series, \(floor("bucket", 3_600_000)) AS bucket, sum(n)::int8 AS n, sum(sum) AS sum, min(min) AS min, max(max) AS max,
                   min(first_t) AS first_t, (array_agg(first ORDER BY first_t))[1] AS first,
                   max(last_t) AS last_t, (array_agg(last ORDER BY last_t DESC))[1] AS last
            FROM minutes GROUP BY 1, 2
        ), minute_upsert AS (
            \(upsert("rollup_minute", from: "minutes"))
        ), hour_upsert AS (
            \(upsert("rollup_hour", from: "hours"))
        )
        """

    /// Upserts pre-aggregated buckets into a rollup table, merging with what it holds. New rows
    /// go in by series and bucket, so that a series' buckets of one step (up to ten minutes when
    /// the job catches up) share a page, whatever order a hashed aggregate hands them over in.
    private static func upsert(_ table: String, from source: String) -> String {
        """
        INSERT INTO \(table) AS r (series, bucket, n, sum, min, max, first_t, first, last_t, last)
            SELECT series, bucket, n, sum, min, max, first_t, first, last_t, last FROM \(source) ORDER BY series, bucket
            ON CONFLICT (series, bucket) DO UPDATE SET
                n = r.n + excluded.n, sum = r.sum + excluded.sum,
                min = least(r.min, excluded.min), max = greatest(r.max, excluded.max),
                first = CASE WHEN excluded.first_t < r.first_t THEN excluded.first ELSE r.first END,
                first_t = least(r.first_t, excluded.first_t),
                last = CASE WHEN excluded.last_t >= r.last_t THEN excluded.last ELSE r.last END,
                last_t = greatest(r.last_t, excluded.last_t)
        """
    }

    /// Folds the samples of [$1, $2) into the rollups and moves the watermark to $2.
    static let fold = """
        WITH source AS (
            SELECT series, t, coalesce(f, i::float8) AS x FROM sample WHERE t >= $1 AND t < $2
        ), \(upserts(fromStored: "source"))
        UPDATE rollup_watermark SET w = $2
        """
}

extension PostgresStore {
    /// Summarizes the time index's new page ranges in the partitions the fold reads next (the
    /// days from a step before the watermark's target to now). Left to autovacuum, the pages
    /// written since its last pass stay unsummarized, and each fold reads every one of them:
    /// millions of rows every 5 s under a steady stream. It waits at most 100 ms for a vacuum's
    /// lock on a partition and otherwise leaves the work to the next call (the fold is as exact
    /// either way, only slower).
    func summarizeNewRanges(now: Int64) async {
        let days = ((now - PostgresRollups.grace - PostgresRollups.step).flooredTo(TenantLimits.day), now)
        do {
            try await client.withTransaction(logger: logger) { connection in
                try await connection.query("SET LOCAL lock_timeout = '100ms'", logger: self.logger)
                try await connection.query("""
                    SELECT brin_summarize_new_values(x.indexrelid::regclass)
                    FROM sample_partition p
                    JOIN pg_index x ON x.indrelid = p.name::regclass
                    JOIN pg_class c ON c.oid = x.indexrelid
                    JOIN pg_am a ON a.oid = c.relam AND a.amname = 'brin'
                    WHERE p.day_ms BETWEEN \(days.0) AND \(days.1)
                    """, logger: self.logger)
            }
        } catch {
            logger.debug("the time index's new ranges were not summarized", metadata: ["error": "\(error)"])
        }
    }

    /// Moves the rollup watermark up to `target`, folding the samples it passes into the rollups,
    /// in steps of at most ``PostgresRollups/step`` (each its own short transaction). Answers the
    /// watermark reached. Several nodes may run it: they take turns, and the later ones find the
    /// work done. `maintain()` runs it; benchmarks call it to fold what they wrote at once.
    @discardableResult
    public func advanceRollups(to target: Int64) async throws -> Int64 {
        while true {
            let reached: Int64? = try await client.withTransaction(logger: logger) { connection in
                // JIT compiling the fold costs more than it saves (100-400 ms a step, measured).
                try await connection.query("SELECT pg_advisory_xact_lock(\(PostgresSchema.rollupLock)), set_config('jit', 'off', true)",
                                           logger: self.logger)
                var watermark: Int64 = 0, oldestDay: Int64?
                let rows = try await connection.query("SELECT w, (SELECT min(day_ms) FROM sample_partition) FROM rollup_watermark",
                                                      logger: self.logger)
                for try await (w, day) in rows.decode((Int64, Int64?).self) { (watermark, oldestDay) = (w, day) }
                guard watermark < target else { return nil }
                // Nothing is stored before the oldest day partition: start there.
                let from = max(watermark, oldestDay ?? target)
                let to = min(target, from + PostgresRollups.step)
                var query = PostgresQuery(unsafeSQL: PostgresRollups.fold)
                query.binds.append(from)
                query.binds.append(to)
                try await connection.query(query, logger: self.logger)
                return to
            }
            guard let reached else { return target }
            if reached >= target { return reached }
        }
    }
}
