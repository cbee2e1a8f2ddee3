import Foundation
import GembaCore
@testable import GembaPostgres
import GembaStorage
import Logging
import PostgresNIO
import Synchronization
import Testing
import GembaTestSupport

/// PostgreSQL-specific checks (the conformance suite runs in `StoreConformanceTests`).
@Suite(.enabled(if: PostgresTestServer.enabled, "GEMBA_TEST_POSTGRES is not set"))
struct PostgresStoreTests {
    let suite = StoreConformance { try await PostgresTestServer.makeStore() }


    /// Duplicates inside one batch and against stored rows: the first of the batch is kept, the
    /// stored one wins over both, and the rollups count each stored sample once.
    @Test func duplicatesInOneBatchKeepTheFirst() async throws {
        let store = try await PostgresTestServer.makeStore()
        defer { store.close() }
        let series = try await suite.seed(store, [StoreConformance.at(0, 1)])
        let result = try await store.commit(WriteBatch(samples: [
            SeriesSample(series: series.id, sample: StoreConformance.at(0, 99)),
            SeriesSample(series: series.id, sample: StoreConformance.at(60_000, 60)),
            SeriesSample(series: series.id, sample: StoreConformance.at(60_000, 61)),
        ]))
        #expect(result.stored == [false, true, false])
        let range = (Timestamp(millisecondsSinceEpoch: StoreConformance.base), Timestamp(millisecondsSinceEpoch: StoreConformance.base + 3_600_000))
        #expect(try await store.samples(series: series.id, from: range.0, to: range.1, limit: 10).map(\.value) == [.double(1), .double(60)])
        let hours = try await store.buckets(series: series.id, from: range.0, to: range.1, width: 3_600_000, resolution: .hour)
        #expect(hours.map(\.count) == [2])
        #expect(hours.first?.sum == 61)
    }

    /// The rollup job folds samples older than its target in; samples committed later below the
    /// watermark (late data) are folded in by their commit, and every answer stays exact.
    @Test func rollupsFoldedByTheJobAndByLateCommitsStayExact() async throws {
        let store = try await PostgresTestServer.makeStore()
        defer { store.close() }
        let hour: Int64 = 3_600_000
        let samples = stride(from: Int64(0), to: 3 * hour, by: 7_001).map { StoreConformance.at($0, Double($0 % 1000) / 3) }
        // Data of the future (as far as the watermark set at opening is concerned): not late.
        let future = Timestamp.now().millisecondsSinceEpoch.flooredTo(hour) + 10 * hour - StoreConformance.base
        let shifted = samples.map { Sample(time: Timestamp(millisecondsSinceEpoch: $0.time.millisecondsSinceEpoch + future), value: $0.value) }
        let series = try await suite.seed(store, Array(shifted[..<(shifted.count / 2)]))
        let origin = StoreConformance.base + future
        func check() async throws {
            let ranges: [(Int64, Int64, Int64, Resolution)] = [(0, 3 * hour, hour, .hour), (12_345, 3 * hour - 777, 120_000, .minute)]
            for (start, end, width, resolution) in ranges {
                let from = Timestamp(millisecondsSinceEpoch: origin + start), to = Timestamp(millisecondsSinceEpoch: origin + end)
                let stored = try await store.buckets(series: series.id, from: from, to: to, width: width, resolution: resolution)
                let all = try await store.samples(series: series.id, from: from, to: to, limit: 100_000)
                let expected = StoreConformance.reference(all, width: width)
                #expect(stored.map { $0.count } == expected.map { $0.count })
                #expect(zip(stored, expected).allSatisfy { abs($0.sum - $1.sum) < 1e-6 && $0.first == $1.first && $0.last == $1.last })
            }
        }
        try await check()
        // The job folds the first 100 minutes; then the rest arrives, partly below the watermark.
        #expect(try await store.advanceRollups(to: origin + 100 * 60_000) == origin + 100 * 60_000)
        try await check()
        _ = try await store.commit(WriteBatch(samples: shifted[(shifted.count / 2)...].map { SeriesSample(series: series.id, sample: $0) }))
        try await check()
        let counted = try await store.buckets(series: series.id, from: Timestamp(millisecondsSinceEpoch: origin),
                                              to: Timestamp(millisecondsSinceEpoch: origin + 3 * hour), width: hour, resolution: .hour)
        #expect(counted.reduce(0) { $0 + $1.count } == Int64(shifted.count))
        try await store.advanceRollups(to: origin + 4 * hour)
        try await check()
    }

    /// The job folds whole minutes only, each at least the grace old: a minute is folded once,
    /// not a few seconds of it at every step.
    @Test func theRollupJobsTargetIsAWholeMinuteAGraceBehind() {
        let minute: Int64 = 60_000
        #expect(PostgresRollups.target(now: 10 * minute + PostgresRollups.grace) == 10 * minute)
        #expect(PostgresRollups.target(now: 10 * minute + PostgresRollups.grace + 59_999) == 10 * minute)
        #expect(PostgresRollups.target(now: 10 * minute + PostgresRollups.grace - 1) == 9 * minute)
        #expect(PostgresRollups.target(now: PostgresRollups.grace - 1) == -minute)  // floored below the epoch too
    }

    /// Two nodes write one series: a sample one node takes for new (newer than anything it stored)
    /// that the other stored already is found a duplicate, not an error, and nothing is lost.
    @Test func aDuplicateStoredByAnotherNodeIsKeptOnce() async throws {
        let url = try await PostgresTestServer.makeDatabase()
        let first = try await PostgresStore.open(url, logger: Logger(label: "test"))
        let second = try await PostgresStore.open(url, logger: Logger(label: "test"))
        defer { first.close(); second.close() }
        let series = try await suite.seed(first, [StoreConformance.at(0, 1), StoreConformance.at(1000, 2)])
        _ = try await second.commit(WriteBatch(samples: [SeriesSample(series: series.id, sample: StoreConformance.at(3000, 30))]))
        let result = try await first.commit(WriteBatch(samples: [
            SeriesSample(series: series.id, sample: StoreConformance.at(2000, 20)),
            SeriesSample(series: series.id, sample: StoreConformance.at(3000, 31)),
            SeriesSample(series: series.id, sample: StoreConformance.at(4000, 40)),
        ]))
        #expect(result.stored == [true, false, true])
        let all = try await second.samples(series: series.id, from: Timestamp(millisecondsSinceEpoch: 0),
                                           to: Timestamp(millisecondsSinceEpoch: Int64.max), limit: 10)
        #expect(all.map(\.value) == [.double(1), .double(2), .double(20), .double(30), .double(40)])
    }

    /// Nodes taking one shared stream each see every machine, so they register the same ones at
    /// once, each in its own order: both commits go through (no deadlock failing one), and each
    /// series is registered once.
    @Test func nodesRegisteringTheSameSeriesAtOnceBothCommit() async throws {
        let url = try await PostgresTestServer.makeDatabase()
        let first = try await PostgresStore.open(url, logger: Logger(label: "test"))
        let second = try await PostgresStore.open(url, logger: Logger(label: "test"))
        defer { first.close(); second.close() }
        let machines = try (0..<400).map { try AssetPath("plant1/line1/m\($0)") }
        func batch(_ order: [AssetPath], time: Int64) -> WriteBatch {
            WriteBatch(newMachines: order.map { (StoreConformance.tenant, $0) }, newSeries: order.map { StoreConformance.temperature($0) },
                       samples: order.indices.map { .forNewSeries($0, StoreConformance.at(time, Double($0))) })
        }
        for round in 0..<3 {
            async let a = first.commit(batch(machines, time: Int64(round) * 2000))
            async let b = second.commit(batch(machines.reversed(), time: Int64(round) * 2000 + 1000))
            let (one, other) = try await (a, b)
            #expect(one.inserted == machines.count && other.inserted == machines.count, "round \(round)")
            #expect(Set(one.series.map(\.id)) == Set(other.series.map(\.id)))
        }
        #expect(try await first.allSeries().count == machines.count)
    }

    /// A large batch is split by series among the writers: each sample's stored flag comes back
    /// in the batch's order, duplicates (in the batch and stored) kept once.
    @Test func aLargeBatchSplitAmongWritersAnswersInOrder() async throws {
        let store = try await PostgresTestServer.makeStore()
        defer { store.close() }
        let machines = try (0..<50).map { try AssetPath("plant1/line1/m\($0)") }
        let registered = try await store.commit(WriteBatch(
            newMachines: machines.map { (StoreConformance.tenant, $0) },
            newSeries: machines.map { StoreConformance.temperature($0) },
            samples: machines.indices.map { .forNewSeries($0, StoreConformance.at(0, 0)) }))
        #expect(registered.series.count == 50 && registered.inserted == 50)
        var samples: [SeriesSample] = []
        for step in 1...100 {
            for series in registered.series { samples.append(SeriesSample(series: series.id, sample: StoreConformance.at(Int64(step) * 1000, Double(step)))) }
        }
        samples.append(SeriesSample(series: registered.series[7].id, sample: StoreConformance.at(0, 99)))     // stored already
        samples.append(SeriesSample(series: registered.series[8].id, sample: StoreConformance.at(5000, 99)))  // twice in the batch
        #expect(samples.count >= PostgresStore.splitThreshold)
        let result = try await store.commit(WriteBatch(samples: samples))
        #expect(result.stored.count == samples.count)
        #expect(result.stored.filter { !$0 }.count == 2)
        #expect(result.stored.last == false && result.stored[result.stored.count - 2] == false)
        let all = try await store.samples(series: registered.series[8].id, from: Timestamp(millisecondsSinceEpoch: 0),
                                          to: Timestamp(millisecondsSinceEpoch: Int64.max), limit: 1000)
        #expect(all.count == 101 && all[5].value == .double(5))
    }

    /// The sample feed answers what commits fed, in order, but never past a transaction still
    /// running: a row it commits later would otherwise be skipped for good. Consumed rows go; a
    /// batch without samples to feed adds none; a split batch feeds each writer's part.
    @Test func theSampleFeedNeverPassesATransactionStillRunning() async throws {
        let store = try await PostgresTestServer.makeStore()
        defer { store.close() }
        let series = try await suite.seed(store, [StoreConformance.at(0, 1)])
        func fed(_ offset: Int64) -> AcceptedSample {
            AcceptedSample(seriesID: series.id, key: series.key, sample: StoreConformance.at(offset, Double(offset)))
        }
        func commit(_ offset: Int64, feed: Bool = true) async throws {
            _ = try await store.commit(WriteBatch(samples: [SeriesSample(series: series.id, sample: fed(offset).sample)],
                                                  feed: feed ? [fed(offset)] : []))
        }
        #expect(try await store.pendingFeed(limit: 10).isEmpty)
        try await commit(1000)
        // Another writer's transaction starts, writes its row and stays open; a later commit follows.
        let other = try await store.url.connect("feed-test", id: 1, within: .seconds(10), logger: Logger(label: "test"))
        defer { other.closeUnanswered() }
        try await other.query("BEGIN", logger: Logger(label: "test"))
        try await other.query("INSERT INTO sample_feed (samples) VALUES (\(ByteBuffer(bytes: LiveBatch.encode([fed(2000)]))))",
                              logger: Logger(label: "test"))
        try await commit(3000)
        try await commit(4000, feed: false)
        // (Write transactions of other tests, on any database of the server, may hold the feed back a moment too.)
        #expect(try await TestSupport.eventually { try await store.pendingFeed(limit: 10).map(\.samples) == [[fed(1000)]] })
        try await other.query("COMMIT", logger: Logger(label: "test"))
        #expect(try await TestSupport.eventually { try await store.pendingFeed(limit: 10).count == 3 })
        let pending = try await store.pendingFeed(limit: 10)
        #expect(pending.map(\.samples) == [[fed(1000)], [fed(2000)], [fed(3000)]])
        try await store.consumeFeed(pending.prefix(2).map(\.id))
        #expect(try await store.pendingFeed(limit: 10).map(\.samples) == [[fed(3000)]])
        try await store.consumeFeed(pending.map(\.id))
        // A batch large enough to be split among the writers: every fed sample is in its part's row.
        let second = try await suite.seed(store, [StoreConformance.at(0, 1)], series: StoreConformance.temperature(try AssetPath("plant1/line1/m2")))
        let large = (1...PostgresStore.splitThreshold).map { n in
            let target = n % 2 == 0 ? series : second
            return AcceptedSample(seriesID: target.id, key: target.key, sample: StoreConformance.at(10_000 + Int64(n), Double(n)))
        }
        _ = try await store.commit(WriteBatch(samples: large.map { SeriesSample(series: $0.seriesID, sample: $0.sample) }, feed: large))
        #expect(try await TestSupport.eventually { try await store.pendingFeed(limit: 10).count == 2 })
        let parts = try await store.pendingFeed(limit: 10)
        #expect(parts.count == 2 && Set(parts.flatMap(\.samples)) == Set(large))
    }

    /// Several raw reads in one statement, each with what was in effect at its start.
    @Test func batchedReadsCarryThePreviousSample() async throws {
        let store = try await PostgresTestServer.makeStore()
        defer { store.close() }
        let series = try await suite.seed(store, (0..<50).map { StoreConformance.at(Int64($0) * 1000, Double($0)) })
        func at(_ offset: Int64) -> Timestamp { Timestamp(millisecondsSinceEpoch: StoreConformance.base + offset) }
        let answers = try await store.samples([
            SampleRequest(series: series.id, from: at(10_500), to: at(13_000), limit: 100, withPrevious: true),
            SampleRequest(series: series.id, from: at(40_000), to: at(80_000), limit: 3, withPrevious: false),
            SampleRequest(series: series.id, from: at(0), to: at(5_000), limit: 100, withPrevious: true),
        ])
        #expect(answers[0].map(\.value) == [.double(10), .double(11), .double(12)])
        #expect(answers[1].map(\.value) == [.double(40), .double(41), .double(42)])
        #expect(answers[2].count == 5)  // nothing before the first sample
        #expect(try await store.last(series: series.id, before: at(100_000))?.value == .double(49))
        #expect(try await store.count(series: series.id, from: at(0), to: at(100_000), cap: 20) == 20)
    }

    /// Samples of days with no partition yet (a backfill) get theirs; retention drops whole days
    /// only once every tenant's raw retention has passed them.
    @Test func dayPartitionsAreMadeOnDemandAndDroppedWhenExpiredForAll() async throws {
        var limits = TenantLimits()
        limits.rawRetention = 3 * TenantLimits.day
        let store = try await PostgresTestServer.makeStore(defaultLimits: limits)
        defer { store.close() }
        let day = TenantLimits.day
        let series = try await suite.seed(store, (0..<10).map { StoreConformance.at(Int64($0) * day, Double($0)) })
        let days = store.partitions.withLock { $0 }
        let base = StoreConformance.base.flooredTo(day)
        #expect(Set((0..<10).map { base + Int64($0) * day }).isSubset(of: days))
        var longer = TenantLimits()
        longer.rawRetention = 5 * day
        try await store.setLimits(longer, tenant: StoreConformance.other)
        try await store.housekeeping(now: Timestamp(millisecondsSinceEpoch: StoreConformance.base + 9 * day))
        let all = (Timestamp(millisecondsSinceEpoch: 0), Timestamp(millisecondsSinceEpoch: Int64.max))
        // The longest retention (5 days, another tenant's) decides: days 0-3 are gone, day 4 stays.
        #expect(try await store.samples(series: series.id, from: all.0, to: all.1, limit: 100).map(\.value).first == .double(4))
        #expect(!store.partitions.withLock { $0 }.contains(base + 3 * day))
        // A sample for a dropped day makes its partition again.
        _ = try await store.commit(WriteBatch(samples: [SeriesSample(series: series.id, sample: StoreConformance.at(day, 1))]))
        #expect(try await store.samples(series: series.id, from: all.0, to: all.1, limit: 100).count == 7)
    }

    /// Two stores opened on one new database at once: the migrations run once, both work.
    @Test func nodesStartingTogetherMigrateOnce() async throws {
        let url = try await PostgresTestServer.makeDatabase()
        let stores = try await withThrowingTaskGroup(of: PostgresStore.self) { group in
            for _ in 0..<3 { group.addTask { try await PostgresStore.open(url, logger: Logger(label: "test")) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        defer { stores.forEach { $0.close() } }
        for store in stores { try await store.checkWritable() }
        _ = try await suite.seed(stores[0], [StoreConformance.at(0, 1)])
        #expect(try await stores[2].allSeries().count == 1)
    }

    /// Every pool connection busy: a commit waits up to its deadline, then gives up with
    /// `PostgresPoolBusy` (ingest's back-pressure), and goes through once one is free.
    @Test func aBusyPoolMakesCommitsGiveUpAtTheirDeadline() async throws {
        var url = try await PostgresTestServer.makeDatabase()
        url.poolSize = 1
        let store = try await PostgresStore.open(url, logger: Logger(label: "test"), leaseDeadline: .milliseconds(200))
        defer { store.close() }
        let series = try await suite.seed(store, [StoreConformance.at(0, 1)])
        let (held, release) = AsyncStream<Void>.makeStream()
        let (leased, leasedNow) = AsyncStream<Void>.makeStream()
        let holder = Task {
            try await store.client.lease(deadline: .seconds(5)) { _ in
                leasedNow.yield()
                for await _ in held { break }
            }
        }
        for await _ in leased { break }
        await #expect(throws: PostgresPoolBusy.self) {
            try await store.commit(WriteBatch(samples: [SeriesSample(series: series.id, sample: StoreConformance.at(1000, 2))]))
        }
        #expect(store.poolStatistics.timeouts == 1)
        // Reads wait with the same deadline (every statement leases), and say the storage is unavailable: HTTP 503.
        do {
            _ = try await store.allSeries()
            Issue.record("a read went through while the only connection was held")
        } catch {
            #expect((error as? any StorageAvailabilityError)?.storageUnavailable == true)
        }
        release.yield()
        try await holder.value
        let result = try await store.commit(WriteBatch(samples: [SeriesSample(series: series.id, sample: StoreConformance.at(1000, 2))]))
        #expect(result.inserted == 1)
        #expect(store.poolStatistics.waiting == 0)
    }

    /// A database a newer Gemba migrated is refused with a message naming what is unknown.
    @Test func aDatabaseFromANewerGembaIsRefused() async throws {
        let url = try await PostgresTestServer.makeDatabase()
        try await PostgresStore.open(url, logger: Logger(label: "test")).close()
        let client = PostgresClient(configuration: try url.clientConfiguration(), backgroundLogger: Logger(label: "test"))
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            try await client.query("INSERT INTO gemba_migration (id) VALUES ('v99-future')")
            group.cancelAll()
        }
        do {
            _ = try await PostgresStore.open(url, logger: Logger(label: "test"))
            Issue.record("a database with an unknown migration was opened")
        } catch {
            #expect("\(error)".contains("v99-future"))
        }
    }

    /// Two nodes compete for the singleton jobs: one leads, never both; when the leader goes (its
    /// session ends), the other takes over at its next try. (A check that gets no answer within
    /// twice the interval counts as a lost lock: the interval leaves room for a machine busy with
    /// the whole suite.)
    @Test func oneNodeLeadsAndAnotherTakesOverWhenItGoes() async throws {
        let url = try await PostgresTestServer.makeDatabase()
        let nodes = (0..<2).map { _ in PostgresLeadership(url: url, interval: .milliseconds(500), logger: Logger(label: "test")) }
        // Each change of the lead is told (waiting loops wake on it), and only a change.
        let changes = Mutex([0, 0])
        for (index, node) in nodes.enumerated() { node.whenChanged { changes.withLock { $0[index] += 1 } } }
        let runs = nodes.map { node in Task { await node.run() } }
        #expect(try await TestSupport.eventually { nodes[0].isLeader || nodes[1].isLeader })
        let leader = nodes[0].isLeader ? 0 : 1
        // The other keeps trying while the leader holds the lock, and never leads meanwhile.
        let tried = nodes[1 - leader].tries.load(ordering: .acquiring)
        #expect(try await TestSupport.eventually { nodes[1 - leader].tries.load(ordering: .acquiring) >= tried + 3 })
        #expect(!nodes[1 - leader].isLeader && nodes[leader].isLeader)
        #expect(changes.withLock { $0[leader] == 1 && $0[1 - leader] == 0 })
        runs[leader].cancel()
        await runs[leader].value
        #expect(!nodes[leader].isLeader)
        #expect(try await TestSupport.eventually { nodes[1 - leader].isLeader })
        #expect(changes.withLock { $0[leader] == 2 && $0[1 - leader] == 1 })
        runs[1 - leader].cancel()
        await runs[1 - leader].value
    }

    @Test func urlsParseAndBadOnesSayWhy() throws {
        let url = try PostgresURL("postgres://gemba:s%40cret@db.example:6543/plant?sslmode=require&pool=20", environment: [:])
        #expect(url.user == "gemba" && url.password == "s@cret" && url.host == "db.example" && url.port == 6543)
        #expect(url.database == "plant" && url.tls == .require && url.poolSize == 20)
        #expect(url.description == "postgres://gemba@db.example:6543/plant?sslmode=require")
        #expect(try PostgresURL("postgresql://u@h/d", environment: ["PGPASSWORD": "x"]).password == "x")
        #expect(try PostgresURL("postgres://u@localhost/d?host=/run/postgresql", environment: [:]).socketDirectory == "/run/postgresql")
        for bad in ["mysql://u@h/d", "postgres://h/d", "postgres://u@h/", "postgres://u@h/d?pool=0", "postgres://u@h/d?sslmode=maybe",
                    "postgres://u@h/d?color=red"] {
            #expect(throws: PostgresURLError.self, "\(bad)") { try PostgresURL(bad, environment: [:]) }
        }
        // A URL that does not parse is quoted without its password.
        #expect(throws: PostgresURLError.self) { try PostgresURL("mysql://u:hunter2@h/d", environment: [:]) }
        #expect(!PostgresURL.redacted("mysql://u:hunter2@h/d").contains("hunter2"))
    }

    /// A database that is not there (yet) is waited for, up to the start-up timeout, and then
    /// reported with the server's words.
    @Test func anUnreachableDatabaseIsReportedAfterTheTimeout() async throws {
        var url = try await PostgresTestServer.makeDatabase()
        url.database = "no_such_database"
        await #expect(throws: PostgresStoreError.self) {
            try await PostgresStore.open(url, logger: Logger(label: "test"), startupTimeout: .seconds(1))
        }
    }
}
