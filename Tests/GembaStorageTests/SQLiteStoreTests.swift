import Foundation
import GembaCore
@testable import GembaStorage
import GRDB
import Logging
import Testing

/// SQLite-specific checks (the conformance suite runs in `StoreConformanceTests`).
@Suite struct SQLiteStoreTests {
    static func temporaryDirectory() -> String {
        NSTemporaryDirectory() + "gemba-store-\(UUID().uuidString)"
    }

    let suite = StoreConformance {
        try SQLiteStore(directory: SQLiteStoreTests.temporaryDirectory(), logger: Logger(label: "test"))
    }


    /// Upgrading a store made before machines had a first sample time: it is taken from the raw
    /// samples or, past raw retention, the hour rollups; the KPI summaries reaching back before it
    /// (which counted that time as downtime) go, to be rebuilt; later ones stay.
    @Test func theMonitoringMigrationFindsFirstSamplesAndDropsSummariesFromBefore() async throws {
        let directory = Self.temporaryDirectory()
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let queue = try DatabaseQueue(path: (directory as NSString).appendingPathComponent("gemba.sqlite"))
        try SQLiteSchema.migrator.migrate(queue, upTo: "v5-notification-people")
        let components = SQLiteAnalytics.componentColumnsOfV2
        try await queue.write { db in
            try db.execute(sql: """
                INSERT INTO series (id, tenant, machine, tag, value_type, kind) VALUES
                    (1, 'default', 'p/l/raw', 't', 'double', 'gauge'), (2, 'default', 'p/l/old', 't', 'double', 'gauge'),
                    (3, 'default', 'p/l/raw', 'state', 'string', 'state');
                INSERT INTO sample (series, t, v, q) VALUES (1, 7000, 1.0, 0), (1, 5000, 2.0, 0), (3, 6000, 'idle', 0);
                INSERT INTO rollup_hour (series, bucket, n, sum, min, max, first_t, first, last_t, last) VALUES
                    (2, 0, 1, 1, 1, 1, 1200, 1, 1200, 1);
                """)
            for (machine, start) in [("p/l/raw", 0), ("p/l/raw", 10_000), ("p/l/old", 0), ("p/l/old", 2000), ("p/l/none", 0)] as [(String, Int64)] {
                try db.execute(sql: """
                    INSERT INTO kpi_summary (tenant, machine, level, start, "end", day, shift, \(components.joined(separator: ", ")), reasons)
                    VALUES ('default', ?, 0, ?, ?, 'd', 's', \(components.map { _ in "0" }.joined(separator: ", ")), x'')
                    """, arguments: [machine, start, start + 1000])
            }
        }
        try queue.close()
        let store = try SQLiteStore(directory: directory, logger: Logger(label: "test"))
        let machine = { (path: String) in try AssetPath(path) }
        #expect(try await store.firstSampleTime(tenant: .default, machine: machine("p/l/raw")) == 5000)
        #expect(try await store.firstSampleTime(tenant: .default, machine: machine("p/l/old")) == 1200)
        let starts = try await store.summaryStarts(tenant: .default, machines: [machine("p/l/raw"), machine("p/l/old"), machine("p/l/none")],
                                                   level: .piece, within: 0..<100_000)
        #expect(starts[try machine("p/l/raw")] == [10_000])
        #expect(starts[try machine("p/l/old")] == [2000])
        #expect(starts[try machine("p/l/none")] ?? [] == [])
    }

    /// Batched reads (what the OEE engine uses) give each range with the sample in effect at its start,
    /// whether those samples sit in the table or still in the memtable.
    @Test func batchedReadsWithTheSampleInEffect() async throws {
        let store = try SQLiteStore(directory: Self.temporaryDirectory(), logger: Logger(label: "test"))
        let series = try await suite.seed(store, (0..<50).map { StoreConformance.at(Int64($0) * 1000, Double($0)) })
        try await store.flushMemtable(force: true)
        _ = try await store.commit(WriteBatch(samples: [SeriesSample(series: series.id, sample: StoreConformance.at(60_000, 60)),
                                                        SeriesSample(series: series.id, sample: StoreConformance.at(70_000, 70))]))
        func at(_ offset: Int64) -> Timestamp { Timestamp(millisecondsSinceEpoch: StoreConformance.base + offset) }
        let answers = try await store.samples([
            SampleRequest(series: series.id, from: at(10_500), to: at(13_000), limit: 100, withPrevious: true),
            SampleRequest(series: series.id, from: at(65_000), to: at(80_000), limit: 100, withPrevious: true),
            SampleRequest(series: series.id, from: at(0), to: at(100_000), limit: 3, withPrevious: false),
            SampleRequest(series: 999_999, from: at(0), to: at(100_000), limit: 3, withPrevious: true),
        ])
        #expect(answers[0].map(\.time) == [at(10_000), at(11_000), at(12_000)])   // 10 s is in effect at 10.5 s
        #expect(answers[1].map(\.time) == [at(60_000), at(70_000)])               // both from the memtable
        #expect(answers[2].count == 3 && answers[3].isEmpty)
        #expect(try await store.last(series: series.id, before: at(60_000))?.time == at(49_000))
    }

    /// Samples move from the inbox/memtable into the clustered table; reads, duplicates and
    /// rollups are the same before and after, and across batches on either side of a flush.
    @Test func memtableFlushKeepsEverythingExact() async throws {
        let store = try SQLiteStore(directory: Self.temporaryDirectory(), logger: Logger(label: "test"))
        let series = try await suite.seed(store, (0..<50).map { StoreConformance.at(Int64($0) * 1000, Double($0)) })
        let range = (Timestamp(millisecondsSinceEpoch: StoreConformance.base), Timestamp(millisecondsSinceEpoch: StoreConformance.base + 3_600_000))
        let before = try await store.samples(series: series.id, from: range.0, to: range.1, limit: 1000)
        let hoursBefore = try await store.buckets(series: series.id, from: range.0, to: range.1, width: 3_600_000, resolution: .hour)
        #expect(hoursBefore.map(\.count) == [50])
        try await store.flushMemtable(force: true)
        #expect(try await store.samples(series: series.id, from: range.0, to: range.1, limit: 1000) == before)
        // The hour rollups now hold what the memtable held: the same answer.
        #expect(try await store.buckets(series: series.id, from: range.0, to: range.1, width: 3_600_000, resolution: .hour)
            == hoursBefore)
        // Duplicates of flushed samples are found; new ones land in the memtable.
        let again = try await store.commit(WriteBatch(samples: [
            SeriesSample(series: series.id, sample: StoreConformance.at(10_000, 99)),
            SeriesSample(series: series.id, sample: StoreConformance.at(60_000, 60)),
            SeriesSample(series: series.id, sample: StoreConformance.at(60_000, 61)),
        ]))
        #expect(again.stored == [false, true, false])
        let after = try await store.samples(series: series.id, from: range.0, to: range.1, limit: 1000)
        #expect(after.count == 51)
        #expect(after[10].value == .double(10))
        #expect(try await store.count(series: series.id, from: range.0, to: range.1, cap: 1000) == 51)
        let buckets = try await store.buckets(series: series.id, from: range.0.adding(milliseconds: 500), to: range.1,
                                              width: 60_000, resolution: .minute)
        #expect(buckets.map(\.count) == [49, 1])
        try await store.flushMemtable(force: true)
        #expect(try await store.samples(series: series.id, from: range.0, to: range.1, limit: 1000) == after)
    }

    /// Samples committed but not yet moved out of the inbox are there after a restart.
    @Test func inboxIsRecoveredOnOpen() async throws {
        let directory = Self.temporaryDirectory()
        let id: Int64
        do {
            let store = try SQLiteStore(directory: directory, logger: Logger(label: "test"))
            id = try await suite.seed(store, (0..<5).map { StoreConformance.at(Int64($0), 1) }).id
        }
        let reopened = try SQLiteStore(directory: directory, logger: Logger(label: "test"))
        let all = try await reopened.samples(series: id, from: Timestamp(millisecondsSinceEpoch: 0),
                                             to: Timestamp(millisecondsSinceEpoch: Int64.max), limit: 100)
        #expect(all.count == 5)
        let hours = try await reopened.buckets(series: id, from: Timestamp(millisecondsSinceEpoch: StoreConformance.base),
                                               to: Timestamp(millisecondsSinceEpoch: StoreConformance.base + 3_600_000),
                                               width: 3_600_000, resolution: .hour)
        #expect(hours.map(\.count) == [5])  // recovery moved them into the hour rollups, once
        let duplicate = try await reopened.commit(WriteBatch(samples: [SeriesSample(series: id, sample: StoreConformance.at(0, 1))]))
        #expect(duplicate.stored == [false])
    }

    /// A backup's copy taken while samples wait in the inbox holds them in `sample`, with their
    /// rollups, once readied: its counts are whole and the restored store starts as the original would.
    @Test func aBackupCopyIsReadiedWithTheInboxMoved() async throws {
        let directory = Self.temporaryDirectory()
        let store = try SQLiteStore(directory: directory, logger: Logger(label: "test"))
        let series = try await suite.seed(store, (0..<5).map { StoreConformance.at(Int64($0) * 1000, 1) })
        let copy = Self.temporaryDirectory()
        try FileManager.default.createDirectory(atPath: copy, withIntermediateDirectories: true)
        let copyPath = copy + "/" + SQLiteStore.fileName
        try DatabaseQueue(path: directory + "/" + SQLiteStore.fileName).backup(to: DatabaseQueue(path: copyPath))
        try SQLiteStore.prepareBackupCopy(path: copyPath)
        let (samples, inbox) = try await DatabaseQueue(path: copyPath).read { db in
            (try Int.fetchOne(db, sql: SQLiteStore.backupCounts["samples"]!)!, try Int.fetchOne(db, sql: "SELECT count(*) FROM inbox")!)
        }
        #expect(samples == 5 && inbox == 0)
        let restored = try SQLiteStore(directory: copy, logger: Logger(label: "test"))
        let hours = try await restored.buckets(series: series.id, from: Timestamp(millisecondsSinceEpoch: StoreConformance.base),
                                               to: Timestamp(millisecondsSinceEpoch: StoreConformance.base + 3_600_000),
                                               width: 3_600_000, resolution: .hour)
        #expect(hours.map(\.count) == [5])
        #expect(SQLiteStore.migrationIdentifiers.first == "v1-telemetry")
    }

    @Test func committedDataSurvivesReopening() async throws {
        let directory = Self.temporaryDirectory()
        let id: Int64
        do {
            let store = try SQLiteStore(directory: directory, logger: Logger(label: "test"))
            id = try await suite.seed(store, [StoreConformance.at(0, 42)]).id
        }
        let reopened = try SQLiteStore(directory: directory, logger: Logger(label: "test"))
        #expect(try await reopened.latest(series: [id])[id]?.value == .double(42))
        #expect(try await reopened.allSeries().map(\.id) == [id])
        #expect(try reopened.diskUsage() > 0)
        try await reopened.checkWritable()
    }
}
