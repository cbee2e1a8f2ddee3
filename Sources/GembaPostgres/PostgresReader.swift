public import GembaCore
public import GembaStorage
internal import PostgresNIO

/// Reads: each answer is one statement, several series or ranges at once through `unnest` and
/// `LATERAL`, so a dashboard's query costs one round trip.
extension PostgresStore {
    /// A sample from its columns: the value is in whichever of f, i and s is set.
    static func sample(_ time: Int64, _ double: Double?, _ integer: Int64?, _ string: String?, _ quality: Int16) -> Sample {
        let value: SampleValue = if let double { .double(double) } else if let integer { .int(integer) } else { .string(string ?? "") }
        return Sample(time: Timestamp(millisecondsSinceEpoch: time), value: value,
                      quality: Quality(rawValue: UInt8(clamping: quality)) ?? .bad)
    }

    public func latest(series: [Int64]) async throws -> [Int64: Sample] {
        let ids = Array(Set(series))
        guard !ids.isEmpty else { return [:] }
        let rows = try await client.query("""
            SELECT id.series, x.t, x.f, x.i, x.s, x.q FROM unnest(\(ids)::int8[]) AS id(series)
            CROSS JOIN LATERAL (SELECT t, f, i, s, q FROM sample WHERE sample.series = id.series ORDER BY t DESC LIMIT 1) x
            """, logger: logger)
        var result: [Int64: Sample] = [:]
        for try await (series, time, double, integer, string, quality) in rows.decode((Int64, Int64, Double?, Int64?, String?, Int16).self) {
            result[series] = Self.sample(time, double, integer, string, quality)
        }
        return result
    }

    public func samples(series: Int64, from: Timestamp, to: Timestamp, limit: Int) async throws -> [Sample] {
        try await samples([SampleRequest(series: series, from: from, to: to, limit: limit, withPrevious: false)])[0]
    }

    public func last(series: Int64, before time: Timestamp) async throws -> Sample? {
        try await samples([SampleRequest(series: series, from: time, to: time, limit: 0, withPrevious: true)])[0].first
    }

    public func samples(_ requests: [SampleRequest]) async throws -> [[Sample]] {
        guard !requests.isEmpty else { return [] }
        let series = requests.map(\.series), from = requests.map(\.from.millisecondsSinceEpoch)
        let to = requests.map(\.to.millisecondsSinceEpoch), limits = requests.map { Int64(max(0, $0.limit)) }
        let previous = requests.map(\.withPrevious)
        let rows = try await client.query("""
            SELECT r.n, false, x.t, x.f, x.i, x.s, x.q
            FROM unnest(\(series)::int8[], \(from)::int8[], \(to)::int8[], \(limits)::int8[]) WITH ORDINALITY AS r(series, lo, hi, lim, n)
            CROSS JOIN LATERAL (SELECT t, f, i, s, q FROM sample WHERE sample.series = r.series AND t >= r.lo AND t < r.hi
                                ORDER BY t LIMIT r.lim) x
            UNION ALL
            SELECT r.n, true, x.t, x.f, x.i, x.s, x.q
            FROM unnest(\(series)::int8[], \(from)::int8[], \(previous)::bool[]) WITH ORDINALITY AS r(series, lo, wanted, n)
            CROSS JOIN LATERAL (SELECT t, f, i, s, q FROM sample WHERE r.wanted AND sample.series = r.series AND t < r.lo
                                ORDER BY t DESC LIMIT 1) x
            """, logger: logger)
        var answers = [[Sample]](repeating: [], count: requests.count)
        var previousSamples = [Sample?](repeating: nil, count: requests.count)
        for try await (ordinal, isPrevious, time, double, integer, string, quality)
            in rows.decode((Int64, Bool, Int64, Double?, Int64?, String?, Int16).self) {
            let sample = Self.sample(time, double, integer, string, quality)
            if isPrevious { previousSamples[Int(ordinal) - 1] = sample } else { answers[Int(ordinal) - 1].append(sample) }
        }
        return answers.indices.map { index in
            let sorted = answers[index].sorted { $0.time < $1.time }
            return previousSamples[index].map { [$0] + sorted } ?? sorted
        }
    }

    public func count(series: Int64, from: Timestamp, to: Timestamp, cap: Int) async throws -> Int {
        let rows = try await client.query("""
            SELECT count(*) FROM (SELECT 1 FROM sample WHERE series = \(series) AND t >= \(from.millisecondsSinceEpoch)
                                  AND t < \(to.millisecondsSinceEpoch) LIMIT \(Int64(max(0, cap)))) x
            """, logger: logger)
        for try await count in rows.decode(Int64.self) { return Int(count) }
        return 0
    }

    /// Whole rollup periods inside the range come from the rollup table of `resolution` (which
    /// holds the samples older than the rollup watermark), the rest of them from raw samples, as do
    /// the partial periods at either edge: the answer is exact. One statement, one snapshot.
    public func buckets(series: Int64, from: Timestamp, to: Timestamp, width: Int64, resolution: Resolution) async throws -> [Bucket] {
        let start = from.millisecondsSinceEpoch, end = to.millisecondsSinceEpoch
        guard start < end else { return [] }
        let period = resolution.milliseconds
        var innerStart = (start + period - 1).flooredTo(period), innerEnd = end.flooredTo(period)
        if resolution == .raw || innerStart >= innerEnd { (innerStart, innerEnd) = (end, end) }
        let table = resolution == .hour ? "rollup_hour" : "rollup_minute"
        var query = PostgresQuery(unsafeSQL: """
            SELECT t, 1::int8, v, v, v, t, v, t, v FROM (
                SELECT t, coalesce(f, i::float8) AS v FROM sample WHERE series = $1 AND t >= $2 AND t < $3
                UNION ALL
                SELECT t, coalesce(f, i::float8) AS v FROM sample
                WHERE series = $1 AND t >= (SELECT greatest(w, $3) FROM rollup_watermark) AND t < $4
                UNION ALL
                SELECT t, coalesce(f, i::float8) AS v FROM sample WHERE series = $1 AND t >= $4 AND t < $5
            ) raw WHERE v IS NOT NULL
            UNION ALL
            SELECT bucket, n, sum, min, max, first_t, first, last_t, last FROM \(table)
            WHERE series = $1 AND bucket >= $3 AND bucket < $4
            """)
        for bind in [series, start, innerStart, innerEnd, end] { query.binds.append(bind) }
        var parts: [Bucket] = []
        let rows = try await client.query(query, logger: logger)
        for try await (bucket, count, sum, min, max, firstTime, first, lastTime, last)
            in rows.decode((Int64, Int64, Double, Double, Double, Int64, Double, Int64, Double).self) {
            parts.append(Bucket(start: Timestamp(millisecondsSinceEpoch: bucket), count: count, min: min, max: max, sum: sum,
                                first: first, firstTime: Timestamp(millisecondsSinceEpoch: firstTime),
                                last: last, lastTime: Timestamp(millisecondsSinceEpoch: lastTime)))
        }
        var fold = BucketFold(width: width)
        for part in parts.sorted(by: { $0.start < $1.start }) { fold.add(part) }
        return fold.buckets
    }
}
