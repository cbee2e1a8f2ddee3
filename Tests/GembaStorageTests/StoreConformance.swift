import GembaCore
import GembaStorage
import Testing
import GembaTestSupport

/// The behaviour every ``TelemetryStore`` backend must show. Each check takes a fresh, empty store;
/// ``StoreConformanceTests`` runs them all against every backend of the run.
struct StoreConformance {
    let makeStore: @Sendable () async throws -> any TelemetryStore

    static let tenant = TenantID("acme")!
    static let other = TenantID("globex")!
    static let press = try! AssetPath("plant1/press-shop/line3/press-7")
    static let mill = try! AssetPath("plant1/line1/mill-2")
    static let base: Int64 = 1_732_200_000_000 / 3_600_000 * 3_600_000  // an hour boundary

    static func key(_ tag: String, _ machine: AssetPath = press, tenant: TenantID = tenant) -> SeriesKey {
        SeriesKey(tenant: tenant, machine: machine, tag: tag)
    }

    static func temperature(_ machine: AssetPath = press, tenant: TenantID = tenant) -> NewSeries {
        NewSeries(key: key("spindle_temp", machine, tenant: tenant),
                  tag: Tag(name: "spindle_temp", unit: "°C", valueType: .double, kind: .gauge))
    }

    static func at(_ offset: Int64, _ value: Double) -> Sample {
        Sample(time: Timestamp(millisecondsSinceEpoch: base + offset), value: .double(value))
    }

    /// Registers one double series and stores `samples` in it; returns the series.
    func seed(_ store: any TelemetryStore, _ samples: [Sample], series: NewSeries = temperature()) async throws -> Series {
        let result = try await store.commit(WriteBatch(
            newMachines: [(series.key.tenant, series.key.machine)], newSeries: [series],
            samples: samples.map { SeriesSample.forNewSeries(0, $0) }))
        return result.series[0]
    }

    func registrationIsIdempotent() async throws {
        let store = try await makeStore()
        let first = try await seed(store, [Self.at(0, 1)])
        let again = try await seed(store, [Self.at(1000, 2)])
        #expect(first.id == again.id)
        #expect(first.tag.unit == "°C")
        #expect(try await store.machines(tenant: Self.tenant).map(\.path) == [Self.press])
        #expect(try await store.series(tenant: Self.tenant, machine: nil).map(\.id) == [first.id])
        #expect(try await store.samples(series: first.id, from: Timestamp(millisecondsSinceEpoch: Self.base),
                                        to: Timestamp(millisecondsSinceEpoch: Self.base + 10_000), limit: 10).count == 2)
    }

    func duplicatesKeepOneRow() async throws {
        let store = try await makeStore()
        let series = try await seed(store, [Self.at(0, 1), Self.at(1000, 2)])
        let result = try await store.commit(WriteBatch(samples: [
            SeriesSample(series: series.id, sample: Self.at(0, 99)),
            SeriesSample(series: series.id, sample: Self.at(2000, 3)),
        ]))
        #expect(result.inserted == 1)
        #expect(result.duplicates == 1)
        let rows = try await store.samples(series: series.id, from: Timestamp(millisecondsSinceEpoch: Self.base),
                                           to: Timestamp(millisecondsSinceEpoch: Self.base + 10_000), limit: 10)
        #expect(rows.map(\.value) == [.double(1), .double(2), .double(3)])
        // The rollup counted the duplicate once only.
        let buckets = try await store.buckets(series: series.id, from: Timestamp(millisecondsSinceEpoch: Self.base),
                                              to: Timestamp(millisecondsSinceEpoch: Self.base + 3_600_000),
                                              width: 3_600_000, resolution: .minute)
        #expect(buckets.map(\.count) == [3])
        #expect(buckets.first?.sum == 6)
    }

    func valuesRoundTrip() async throws {
        let store = try await makeStore()
        let tags: [(String, ValueType, SampleValue)] = [
            ("temp", .double, .double(-12.625)), ("parts", .int, .int(Int64.max - 7)),
            ("door_open", .bool, .bool(true)), ("state", .string, .string("running — ümlaut")),
        ]
        let batch = WriteBatch(
            newMachines: [(Self.tenant, Self.press)],
            newSeries: tags.map { NewSeries(key: Self.key($0.0), tag: Tag(name: $0.0, valueType: $0.1, kind: .gauge)) },
            samples: tags.indices.map { .forNewSeries($0, Sample(time: Timestamp(millisecondsSinceEpoch: Self.base),
                                                                 value: tags[$0].2, quality: .uncertain)) })
        let result = try await store.commit(batch)
        let latest = try await store.latest(series: result.series.map(\.id))
        for (index, series) in result.series.enumerated() {
            #expect(series.tag.valueType == tags[index].1)
            #expect(latest[series.id]?.value.restored(as: series.tag.valueType) == tags[index].2)
            #expect(latest[series.id]?.quality == .uncertain)
        }
    }

    func latestIsNewestWhateverTheArrivalOrder() async throws {
        let store = try await makeStore()
        let series = try await seed(store, [Self.at(5000, 5)])
        _ = try await store.commit(WriteBatch(samples: [SeriesSample(series: series.id, sample: Self.at(1000, 1))]))
        #expect(try await store.latest(series: [series.id])[series.id] == Self.at(5000, 5))
        _ = try await store.commit(WriteBatch(samples: [SeriesSample(series: series.id, sample: Self.at(9000, 9))]))
        #expect(try await store.latest(series: [series.id])[series.id] == Self.at(9000, 9))
        // A series asked for twice (a query naming it by series and by machine) is answered once, not a trap.
        #expect(try await store.latest(series: [series.id, series.id]) == [series.id: Self.at(9000, 9)])
    }

    /// Rollup-backed buckets equal buckets computed straight from the raw samples, for ranges
    /// that start and end inside rollup periods, with out-of-order and multi-batch arrival.
    func bucketsMatchRawAggregation() async throws {
        let store = try await makeStore()
        var generator = SplitMix(seed: 7)
        var samples: [Sample] = []
        var offset: Int64 = 0
        while offset < 3 * 3_600_000 {
            samples.append(Self.at(offset, Double(generator.next() % 10_000) / 7))
            offset += Int64(500 + generator.next() % 20_000)
        }
        let shuffled = samples.shuffled(using: &generator)
        let series = try await seed(store, Array(shuffled.prefix(1)))
        for chunk in stride(from: 1, to: shuffled.count, by: 97) {
            let part = shuffled[chunk..<min(chunk + 97, shuffled.count)]
            _ = try await store.commit(WriteBatch(samples: part.map { SeriesSample(series: series.id, sample: $0) }))
        }
        let ranges: [(Int64, Int64, Int64, Resolution)] = [
            (12_345, 3 * 3_600_000 - 7_777, 120_000, .minute),
            (0, 3 * 3_600_000, 3_600_000, .hour),
            (1_799_999, 9_000_001, 3_600_000, .hour),
            (59_999, 60_001, 60_000, .minute),
            (100, 200_000, 1_000, .raw),
        ]
        for (start, end, width, resolution) in ranges {
            let from = Timestamp(millisecondsSinceEpoch: Self.base + start)
            let to = Timestamp(millisecondsSinceEpoch: Self.base + end)
            let stored = try await store.buckets(series: series.id, from: from, to: to, width: width, resolution: resolution)
            let expected = Self.reference(samples.filter { $0.time >= from && $0.time < to }, width: width)
            #expect(stored.count == expected.count, "\(resolution) \(start)..<\(end)")
            for (got, want) in zip(stored, expected) {
                #expect(got.start == want.start && got.count == want.count && got.min == want.min && got.max == want.max)
                #expect(got.first == want.first && got.last == want.last && got.firstTime == want.firstTime)
                #expect(abs(got.sum - want.sum) < 1e-6)
            }
        }
    }

    static func reference(_ samples: [Sample], width: Int64) -> [Bucket] {
        var buckets: [Int64: Bucket] = [:]
        for sample in samples {
            let start = sample.time.millisecondsSinceEpoch / width * width
            let single = Bucket(start: Timestamp(millisecondsSinceEpoch: start), value: sample.value.numeric!, time: sample.time)
            if buckets[start] != nil { buckets[start]!.merge(single) } else { buckets[start] = single }
        }
        return buckets.keys.sorted().map { buckets[$0]! }
    }

    func retentionRemovesOnlyExpiredRowsOfItsTenant() async throws {
        let store = try await makeStore()
        let day = TenantLimits.day
        let samples = (0..<10).map { Self.at(Int64($0) * day, Double($0)) }
        let mine = try await seed(store, samples)
        let theirs = try await seed(store, samples, series: Self.temperature(tenant: Self.other))
        var limits = TenantLimits()
        limits.rawRetention = 3 * day
        limits.minuteRetention = 5 * day
        let now = Timestamp(millisecondsSinceEpoch: Self.base + 9 * day)
        let deleted = try await store.enforceRetention(tenant: Self.tenant, limits: limits, now: now)
        let all = (Timestamp(millisecondsSinceEpoch: 0), Timestamp(millisecondsSinceEpoch: Int64.max))
        let kept = try await store.samples(series: mine.id, from: all.0, to: all.1, limit: 100)
        #expect(kept.map(\.value) == [.double(6), .double(7), .double(8), .double(9)])
        #expect(try await store.samples(series: theirs.id, from: all.0, to: all.1, limit: 100).count == 10)
        let minutes = try await store.buckets(series: mine.id, from: all.0, to: Timestamp(millisecondsSinceEpoch: Self.base + 20 * day),
                                              width: 60_000, resolution: .minute)
        #expect(minutes.count == 6)  // the minute rollup keeps days 4-9
        #expect(deleted == 6 + 4)
    }

    /// A machine's first sample time: its earliest sample of any tag, moved back by backfills, kept
    /// when retention trims raw samples, and a new machine's own after one was deleted.
    func firstSampleTimeFollowsBackfillsNotRetention() async throws {
        let store = try await makeStore()
        let day = TenantLimits.day
        #expect(try await store.firstSampleTime(tenant: Self.tenant, machine: Self.press) == nil)
        let temperature = try await seed(store, [Self.at(5 * day, 1), Self.at(6 * day, 2)])
        #expect(try await store.firstSampleTime(tenant: Self.tenant, machine: Self.press) == Self.base + 5 * day)
        _ = try await store.commit(WriteBatch(samples: [SeriesSample(series: temperature.id, sample: Self.at(7 * day, 3))]))
        #expect(try await store.firstSampleTime(tenant: Self.tenant, machine: Self.press) == Self.base + 5 * day)
        // Another tag of the machine, backfilled before the first: the machine's boundary moves back.
        let state = NewSeries(key: Self.key("state"), tag: Tag(name: "state", valueType: .string, kind: .state))
        _ = try await seed(store, [Sample(time: Timestamp(millisecondsSinceEpoch: Self.base + 3 * day), value: .string("idle"))], series: state)
        _ = try await store.commit(WriteBatch(samples: [SeriesSample(series: temperature.id, sample: Self.at(2 * day, 0))]))
        #expect(try await store.firstSampleTime(tenant: Self.tenant, machine: Self.press) == Self.base + 2 * day)
        #expect(try await store.firstSampleTime(tenant: Self.other, machine: Self.press) == nil)
        // Retention trims the raw samples; the machine was still monitored from then on.
        var limits = TenantLimits()
        limits.rawRetention = day
        _ = try await store.enforceRetention(tenant: Self.tenant, limits: limits, now: Timestamp(millisecondsSinceEpoch: Self.base + 7 * day))
        #expect(try await store.firstSampleTime(tenant: Self.tenant, machine: Self.press) == Self.base + 2 * day)
        // Deleted and connected again later: the new machine begins with its own first sample.
        _ = try await (store as? any AssetStore)?.deleteMachine(Self.press, tenant: Self.tenant)
        _ = try await seed(store, [Self.at(9 * day, 9)])
        #expect(try await store.firstSampleTime(tenant: Self.tenant, machine: Self.press) == Self.base + 9 * day)
    }

    func catalogIsScopedByTenant() async throws {
        let store = try await makeStore()
        _ = try await seed(store, [Self.at(0, 1)])
        _ = try await seed(store, [Self.at(0, 1)], series: Self.temperature(Self.mill, tenant: Self.other))
        #expect(try await store.machines(tenant: Self.tenant).map(\.path) == [Self.press])
        #expect(try await store.machines(tenant: Self.other).map(\.path) == [Self.mill])
        #expect(try await store.series(tenant: Self.other, machine: Self.press).isEmpty)
        #expect(Set(try await store.tenants()) == [Self.tenant, Self.other])
        var limits = TenantLimits()
        limits.maxMachines = 3
        try await store.setLimits(limits, tenant: Self.other)
        #expect(try await store.limits(tenant: Self.other).maxMachines == 3)
        #expect(try await store.limits(tenant: Self.tenant).maxMachines == TenantLimits().maxMachines)
    }
}

/// The conformance checks against SQLite and, when the run has its server, PostgreSQL.
@Suite struct StoreConformanceTests {
    @Test(arguments: Backend.available) func registrationIsIdempotent(_ backend: Backend) async throws { try await StoreConformance(backend).registrationIsIdempotent() }
    @Test(arguments: Backend.available) func duplicatesKeepOneRow(_ backend: Backend) async throws { try await StoreConformance(backend).duplicatesKeepOneRow() }
    @Test(arguments: Backend.available) func valuesRoundTrip(_ backend: Backend) async throws { try await StoreConformance(backend).valuesRoundTrip() }
    @Test(arguments: Backend.available) func latestIsNewest(_ backend: Backend) async throws { try await StoreConformance(backend).latestIsNewestWhateverTheArrivalOrder() }
    @Test(arguments: Backend.available) func bucketsMatchRawAggregation(_ backend: Backend) async throws { try await StoreConformance(backend).bucketsMatchRawAggregation() }
    @Test(arguments: Backend.available) func retention(_ backend: Backend) async throws { try await StoreConformance(backend).retentionRemovesOnlyExpiredRowsOfItsTenant() }
    @Test(arguments: Backend.available) func catalogIsScopedByTenant(_ backend: Backend) async throws { try await StoreConformance(backend).catalogIsScopedByTenant() }
    @Test(arguments: Backend.available) func firstSampleTime(_ backend: Backend) async throws { try await StoreConformance(backend).firstSampleTimeFollowsBackfillsNotRetention() }
}

extension StoreConformance {
    /// The checks on new stores of `backend`.
    init(_ backend: Backend) {
        self.init { try await backend.makeStore() }
    }
}

/// A small seeded generator so the randomised checks repeat exactly.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
