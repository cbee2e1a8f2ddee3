import Foundation
import GembaCore
import GembaIngest
import GembaStorage
import GembaTestSupport
import Logging
import Synchronization
import Testing

/// The pipeline against the real SQLite store.
@Suite struct PipelineTests {
    static func makeStore() throws -> SQLiteStore {
        try SQLiteStore(directory: NSTemporaryDirectory() + "gemba-ingest-\(UUID().uuidString)", logger: Logger(label: "test"))
    }

    static func point(_ machine: String, _ tag: String, _ offset: Int64, _ value: SampleValue) -> Point {
        Point(series: SeriesKey(tenant: tenant, machine: try! AssetPath(machine), tag: tag),
              sample: Sample(time: now.adding(milliseconds: offset), value: value))
    }

    /// Runs `body` with a running pipeline, then shuts it down and waits for it to drain.
    static func withPipeline<T>(_ store: SQLiteStore, configuration: IngestPipeline.Configuration = .init(),
                                _ body: (IngestPipeline) async throws -> T) async throws -> T {
        let pipeline = IngestPipeline(store: store, configuration: configuration, logger: Logger(label: "test"))
        try await pipeline.loadCatalog()
        let task = Task { try await pipeline.run() }
        defer { task.cancel() }
        return try await body(pipeline)
    }

    @Test func storesAndReportsDuplicates() async throws {
        let store = try Self.makeStore()
        try await Self.withPipeline(store) { pipeline in
            let points = (0..<100).map { Self.point("plant1/line3/press-7", "temp", Int64($0) * 1000, .double(Double($0))) }
            let first = try await pipeline.submit(points, source: .http)
            #expect(first == IngestReceipt(stored: 100))
            let again = try await pipeline.submit(Array(points[90...]) + [Self.point("plant1/line3/press-7", "temp", 100_000, .double(1))],
                                                  source: .mqtt)
            #expect(again.stored == 1 && again.duplicates == 10)
        }
        let series = try await store.series(tenant: tenant, machine: nil)
        #expect(series.map(\.key.tag) == ["temp"])
        #expect(try await store.count(series: series[0].id, from: now, to: now.adding(milliseconds: 1_000_000), cap: 1000) == 101)
    }

    @Test func typeMismatchAndLimitsRejectOnlyTheOffendingPoints() async throws {
        let store = try Self.makeStore()
        try await store.setLimits(TenantLimits(maxMachines: 2, maxTagsPerMachine: 2), tenant: tenant)
        try await Self.withPipeline(store) { pipeline in
            _ = try await pipeline.submit([Self.point("p/l/m1", "temp", 0, .double(1))], source: .http)
            let receipt = try await pipeline.submit([
                Self.point("p/l/m1", "temp", 1, .string("hot")),      // wrong type for a known tag
                Self.point("p/l/m1", "temp", 2, .int(3)),             // an int is fine for a double tag
                Self.point("p/l/m1", "speed", 2, .double(3)),
                Self.point("p/l/m1", "third_tag", 2, .double(3)),     // past 2 tags per machine
                Self.point("p/l/m2", "temp", 2, .double(3)),
                Self.point("p/l/m3", "temp", 2, .double(3)),          // past 2 machines
                Self.point("p/l/m2", "temp", 3, .bool(true)),         // m2's temp was registered as double in this batch
            ], source: .http)
            #expect(receipt.stored == 3)
            #expect(receipt.rejected.map(\.index) == [0, 3, 5, 6])
            #expect(receipt.rejected.map(\.error.code) == [.typeMismatch, .limitExceeded, .limitExceeded, .typeMismatch])
        }
        #expect(try await store.machines(tenant: tenant).count == 2)
    }

    @Test func acknowledgesOnlyAfterTheCommit() async throws {
        let store = try Self.makeStore()
        let pipeline = IngestPipeline(store: store, logger: Logger(label: "test"))
        let done = Mutex<IngestReceipt?>(nil)
        pipeline.submit([Self.point("p/l/m", "t", 0, .double(1))], source: .mqtt) { result in
            done.withLock { $0 = try? result.get() }
        }
        #expect(done.withLock { $0 } == nil)  // not running yet: nothing committed, nothing acknowledged
        let task = Task { try await pipeline.run() }
        defer { task.cancel() }
        #expect(try await TestSupport.eventually { done.withLock { $0 } != nil })
        #expect(done.withLock { $0 }?.stored == 1)
        #expect(try await store.allSeries().count == 1)
    }

    /// A stream of small messages, each submitted alone: after a quiet spell the first is committed
    /// at once; the next ones, submitted one by one, wait for `gatherDelay` after its commit (an
    /// hour here, cut short by the pipeline's shutdown, which commits what waits) and share one commit.
    @Test func messagesArrivingOneByOneShareCommits() async throws {
        var configuration = IngestPipeline.Configuration()
        configuration.gatherDelay = .seconds(3600)
        let store = HeldCommitStore(try Self.makeStore())
        let pipeline = IngestPipeline(store: store, configuration: configuration, logger: Logger(label: "test"))
        let task = Task { try await pipeline.run() }
        _ = try await pipeline.submit([Self.point("p/l/m", "t", 0, .double(1))], source: .mqtt)
        let committed = Mutex(0)
        pipeline.submit([Self.point("p/l/m", "t", 1, .double(2))], source: .mqtt) { _ in committed.withLock { $0 += 1 } }
        pipeline.submit([Self.point("p/l/m", "t", 2, .double(3))], source: .mqtt) { _ in committed.withLock { $0 += 1 } }
        #expect(committed.withLock { $0 } == 0)
        task.cancel()
        try await task.value
        #expect(committed.withLock { $0 } == 2)
        #expect(store.commits.withLock { $0 } == [1, 2])
    }

    @Test func fullQueuePushesBack() async throws {
        var configuration = IngestPipeline.Configuration()
        configuration.maxQueuedSamples = 10
        configuration.pauseThreshold = 4
        let pipeline = IngestPipeline(store: try Self.makeStore(), configuration: configuration, logger: Logger(label: "test"))
        let points = (0..<6).map { Self.point("p/l/m", "t", Int64($0), .double(1)) }
        #expect(pipeline.submit(points, source: .http) { _ in })
        #expect(pipeline.isSaturated)
        #expect(!pipeline.submit(points, source: .http) { _ in })
        #expect(pipeline.submit(points, source: .mqtt, force: true) { _ in })
        await #expect(throws: IngestOverloaded.self) { try await pipeline.submit(points, source: .http) }
        let drained = Mutex(false)
        pipeline.whenDrained { drained.withLock { $0 = true } }
        #expect(!drained.withLock { $0 })
        let task = Task { try await pipeline.run() }
        defer { task.cancel() }
        #expect(try await TestSupport.eventually { drained.withLock { $0 } })
    }

    @Test func liveSubscribersGetAcceptedSamplesAndSlowOnesAreCoalesced() async throws {
        let store = try Self.makeStore()
        let hub = LiveHub(maxPending: 5)
        try await Self.withPipeline(store) { pipeline in
            pipeline.addObserver(hub)
            let press = hub.subscribe(LiveHub.Filter(tenant: tenant, machines: [try AssetPath("p/l/press")]))
            let other = hub.subscribe(LiveHub.Filter(tenant: TenantID("other")!))
            _ = try await pipeline.submit([Self.point("p/l/press", "t", 0, .double(1)), Self.point("p/l/mill", "t", 0, .double(2))],
                                          source: .http)
            let update = await press.next()
            #expect(update?.samples.map(\.key.machine.machine) == ["press"])
            #expect(update?.skipped == 0)
            // Nobody reads `press` while 20 samples of 2 series arrive: only the newest of each is kept.
            for step in 1...10 {
                _ = try await pipeline.submit([Self.point("p/l/press", "t", Int64(step), .double(Double(step))),
                                               Self.point("p/l/press", "u", Int64(step), .double(Double(step)))], source: .http)
            }
            let coalesced = await press.next()
            #expect(coalesced?.samples.count ?? 0 <= 5)
            #expect(coalesced?.samples.contains { $0.key.tag == "t" && $0.sample.value == .double(10) } == true)
            #expect((coalesced?.skipped ?? 0) + (coalesced?.samples.count ?? 0) == 20)
            hub.remove(press)
            #expect(await press.next() == nil)
            #expect(hub.subscriberCount == 1)
            hub.remove(other)
        }
    }

    @Test func aSlowSubscriberOfMoreSeriesThanItsLimitGetsTheNewestOfEach() async throws {
        let store = try Self.makeStore()
        let hub = LiveHub(maxPending: 5)
        try await Self.withPipeline(store) { pipeline in
            pipeline.addObserver(hub)
            let floor = hub.subscribe(LiveHub.Filter(tenant: tenant))
            defer { hub.remove(floor) }
            let tags = (1...8).map { "tag\($0)" }
            func round(_ step: Int64) async throws {
                _ = try await pipeline.submit(tags.map { Self.point("p/l/press", $0, step, .double(Double(step))) }, source: .http)
            }
            // Eight series, five slots: three unread rounds keep every series, each at its newest value.
            for step in Int64(1)...3 { try await round(step) }
            let update = await floor.next()
            #expect(update?.samples.map(\.key.tag) == tags)
            #expect(update?.samples.allSatisfy { $0.sample.value == .double(3) } == true)
            #expect(update?.skipped == 16)
            // The next backlog starts afresh: nothing dropped when nothing repeated.
            try await round(4)
            let next = await floor.next()
            #expect(next?.samples.count == 8)
            #expect(next?.skipped == 0)
        }
    }

    /// A point resolved at submission is planned with that series only while the registry has not
    /// changed since: a machine retired in between refuses it.
    @Test func aSeriesResolvedAtSubmissionIsReusedOnlyWhileTheRegistryIsUnchanged() async throws {
        let store = try Self.makeStore()
        let machine = "p/l/m"
        try await Self.withPipeline(store) { pipeline in
            _ = try await pipeline.submit([Self.point(machine, "temp", 0, .double(1))], source: .http)
        }
        for retire in [false, true] {
            let pipeline = IngestPipeline(store: store, logger: Logger(label: "test"))
            try await pipeline.loadCatalog()
            let hub = LiveHub()
            pipeline.addObserver(hub)
            let live = hub.subscribe(LiveHub.Filter(tenant: tenant))
            defer { hub.remove(live) }
            let receipt = Mutex<IngestReceipt?>(nil)
            // Queued before the pipeline runs: resolved (and shown live) now, planned once it runs.
            pipeline.submit([Self.point(machine, "temp", retire ? 2 : 1, .int(7))], source: .http) { result in
                receipt.withLock { $0 = try? result.get() }
            }
            if retire { try pipeline.updateRegistry { $0.setRetired(try! AssetPath(machine), tenant: tenant, true) } }
            let task = Task { try await pipeline.run() }
            defer { task.cancel() }
            #expect(try await TestSupport.eventually { receipt.withLock { $0 } != nil })
            let stored = receipt.withLock { $0 }
            #expect(retire ? stored?.rejected.map(\.error.code) == [.retired] : stored == IngestReceipt(stored: 1), "retired: \(retire)")
        }
    }

    @Test func knownSeriesGoLiveOnArrivalAndNewSeriesAfterTheirCommit() async throws {
        let store = HeldCommitStore(try Self.makeStore())
        let hub = LiveHub()
        let pipeline = IngestPipeline(store: store, logger: Logger(label: "test"))
        pipeline.addObserver(hub)
        let task = Task { try await pipeline.run() }
        defer { task.cancel() }
        // Updates are collected as they come, so every wait below is a poll with a deadline, never a hang.
        let live = hub.subscribe(LiveHub.Filter(tenant: tenant))
        let updates = Mutex<[[String]]>([])
        let reader = Task { while let update = await live.next() { updates.withLock { $0.append(update.samples.map(\.key.tag)) } } }
        defer { hub.remove(live); reader.cancel() }
        _ = try await pipeline.submit([Self.point("p/l/m", "known", 0, .double(1))], source: .http)
        #expect(try await TestSupport.eventually { updates.withLock { $0 } == [["known"]] })

        store.hold()
        let receipt = Mutex<IngestReceipt?>(nil)
        pipeline.submit([Self.point("p/l/m", "known", 1, .double(2)), Self.point("p/l/m", "new", 1, .double(3))],
                        source: .mqtt) { result in receipt.withLock { $0 = try? result.get() } }
        let shownEarly = try await TestSupport.eventually { updates.withLock { $0.count } == 2 }
        let acknowledgedWhileHeld = receipt.withLock { $0 } != nil
        store.release()
        #expect(shownEarly)                                             // shown on arrival, while the commit is held
        #expect(updates.withLock { $0.dropFirst().first } == ["known"])
        #expect(!acknowledgedWhileHeld)                                 // but not acknowledged before the commit
        #expect(try await TestSupport.eventually { updates.withLock { $0.count } == 3 })
        #expect(updates.withLock { $0.last } == ["new"])                // a new series needs the commit that registers it
        #expect(try await TestSupport.eventually { receipt.withLock { $0 }?.stored == 2 })
    }
}

extension PipelineTests {
    /// Each commit feeds the samples of the tags asked for, of known and new series alike, with
    /// their keys, in order; other tags and tenants feed nothing.
    @Test func commitsFeedTheSamplesOfTheTagsAskedFor() async throws {
        let store = HeldCommitStore(try Self.makeStore())
        let pipeline = IngestPipeline(store: store, logger: Logger(label: "test"))
        pipeline.feedCommits { [tenant: ["temp", "state"]] }
        let task = Task { try await pipeline.run() }
        defer { task.cancel() }
        _ = try await pipeline.submit([Self.point("p/l/m1", "temp", 0, .double(1)), Self.point("p/l/m1", "speed", 0, .double(5))], source: .http)
        _ = try await pipeline.submit([Self.point("p/l/m1", "speed", 1, .double(6)), Self.point("p/l/m1", "temp", 1, .double(2)),
                                       Self.point("p/l/m2", "state", 1, .string("producing"))], source: .http)
        let feeds = store.feeds.withLock { $0 }
        #expect(feeds.map { $0.map(\.key.tag) } == [["temp"], ["temp", "state"]])
        #expect(feeds[1].map(\.sample.value) == [.double(2), .string("producing")])
        #expect(feeds[1][1].key.machine.description == "p/l/m2" && feeds[1][1].seriesID < 0)   // registered by that commit
        let temp = try await store.series(tenant: tenant, machine: try AssetPath("p/l/m1")).first { $0.key.tag == "temp" }
        #expect(feeds[0][0].seriesID < 0 && feeds[1][0].seriesID == temp?.id)      // new, then known
    }

    /// The question asked of each commit stays one call deep however many commits ask it. (Kept
    /// as a bare function in a `Mutex`, each read wrapped it in two more reabstraction thunks:
    /// after an hour of commits a call ran through hundreds of thousands of them.)
    @Test func askingWhichTagsToFeedCostsTheSameAtEveryCommit() async throws {
        let pipeline = IngestPipeline(store: try Self.makeStore(), logger: Logger(label: "test"))
        let depths = Mutex<[Int]>([])
        pipeline.feedCommits {
            depths.withLock { $0.append(Thread.callStackSymbols.count) }
            return [:]
        }
        let task = Task { try await pipeline.run() }
        defer { task.cancel() }
        for second in 0..<200 {
            _ = try await pipeline.submit([Self.point("p/l/m1", "temp", Int64(second), .double(1))], source: .http)
        }
        let seen = depths.withLock { $0 }
        #expect(seen.count == 200 && seen.max()! - seen.min()! < 20, "call depths from \(seen.min()!) to \(seen.max()!)")
    }
}

/// The real SQLite store with commits that can be held back, to observe what happens while one runs,
/// and counted.
final class HeldCommitStore: TelemetryStore {
    private let store: SQLiteStore
    private let gate = Mutex<(held: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))
    /// The samples of each commit so far, in order.
    let commits = Mutex<[Int]>([])
    /// What each commit asked to feed, in order.
    let feeds = Mutex<[[AcceptedSample]]>([])

    init(_ store: SQLiteStore) { self.store = store }

    func hold() { gate.withLock { $0.held = true } }

    func release() {
        let waiters = gate.withLock { gate in
            gate.held = false
            defer { gate.waiters = [] }
            return gate.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    func commit(_ batch: WriteBatch) async throws -> WriteResult {
        await withCheckedContinuation { continuation in
            let open = gate.withLock { gate -> Bool in
                if gate.held { gate.waiters.append(continuation) }
                return !gate.held
            }
            if open { continuation.resume() }
        }
        commits.withLock { $0.append(batch.samples.count) }
        feeds.withLock { $0.append(batch.feed) }
        return try await store.commit(batch)
    }

    func latest(series: [Int64]) async throws -> [Int64: Sample] { try await store.latest(series: series) }
    func samples(series: Int64, from: Timestamp, to: Timestamp, limit: Int) async throws -> [Sample] {
        try await store.samples(series: series, from: from, to: to, limit: limit)
    }
    func last(series: Int64, before time: Timestamp) async throws -> Sample? { try await store.last(series: series, before: time) }
    func samples(_ requests: [SampleRequest]) async throws -> [[Sample]] { try await store.samples(requests) }
    func buckets(series: Int64, from: Timestamp, to: Timestamp, width: Int64, resolution: Resolution) async throws -> [Bucket] {
        try await store.buckets(series: series, from: from, to: to, width: width, resolution: resolution)
    }
    func count(series: Int64, from: Timestamp, to: Timestamp, cap: Int) async throws -> Int {
        try await store.count(series: series, from: from, to: to, cap: cap)
    }
    func allSeries() async throws -> [Series] { try await store.allSeries() }
    func allMachines() async throws -> [(tenant: TenantID, machine: Machine)] { try await store.allMachines() }
    func machines(tenant: TenantID) async throws -> [Machine] { try await store.machines(tenant: tenant) }
    func series(tenant: TenantID, machine: AssetPath?) async throws -> [Series] { try await store.series(tenant: tenant, machine: machine) }
    func limits(tenant: TenantID) async throws -> TenantLimits { try await store.limits(tenant: tenant) }
    func setLimits(_ limits: TenantLimits, tenant: TenantID) async throws { try await store.setLimits(limits, tenant: tenant) }
    func tenants() async throws -> [TenantID] { try await store.tenants() }
    func enforceRetention(tenant: TenantID, limits: TenantLimits, now: Timestamp) async throws -> Int {
        try await store.enforceRetention(tenant: tenant, limits: limits, now: now)
    }
    func checkWritable() async throws { try await store.checkWritable() }
    func diskUsage() throws -> Int64 { try store.diskUsage() }
    func maintain() async throws { try await store.maintain() }
    var maintenanceInterval: Duration { store.maintenanceInterval }
}
