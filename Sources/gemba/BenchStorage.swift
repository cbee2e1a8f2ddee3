import ArgumentParser
import Foundation
import GembaCore
import GembaPostgres
import GembaStorage
import Logging

/// `gemba bench storage`: a storage backend on its own, in process (release build), with the
/// batches the ingest pipeline commits: `--machines` machines × `--tags` tags, each machine
/// reporting all its tags once a second, `--batch` samples per commit, commits one after the
/// other as the pipeline makes them. Then the history of one 1 Hz tag over 24 h downsampled to
/// 1,000 points, and the bytes on disk per sample. Prints one JSON line. `samples_per_s` counts
/// the commits alone; `samples_per_s_settled` also the work each backend defers past the commit
/// (SQLite's memtable move, PostgreSQL's rollup fold).
struct BenchStorage: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "storage", abstract: "Commit rate, history answer time and bytes per sample of a storage backend.")

    @Option(help: "sqlite (a new database in a temporary directory) or a postgres:// URL of an empty database.")
    var storage = "sqlite"
    @Option(help: "Machines reporting.") var machines = 1000
    @Option(help: "Tags per machine.") var tags = 10
    @Option(help: "Samples per commit.") var batch = 10_000
    @Option(help: "Samples committed in all.") var samples = 3_000_000
    @Option(help: "Timed history answers (the median and p99 are reported).") var runs = 50

    func run() async throws {
        let logger = Logger(label: "bench") { _ in SwiftLogNoOpLogHandler() }
        let directory = NSTemporaryDirectory() + "gemba-bench-storage-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let store: any TelemetryStore
        var postgres: PostgresStore?
        if storage == "sqlite" {
            store = try SQLiteStore(directory: directory, logger: logger)
        } else {
            postgres = try await PostgresStore.open(PostgresURL(storage), logger: logger)
            store = postgres!
        }
        defer { postgres?.close() }
        // Samples as a plant sends them: from now on, not late (late ones cost their commit the rollups).
        let start = Timestamp.now().millisecondsSinceEpoch.flooredTo(1000)
        let series = try await register(store, start: start)
        let before = try await settledSize(store, directory: directory)
        var commits: [Double] = []
        var second: Int64 = 1, committed = 0
        let clock = ContinuousClock()
        let began = clock.now
        while committed < samples {
            var batch = WriteBatch()
            batch.samples.reserveCapacity(self.batch)
            while batch.samples.count < self.batch {
                let time = Timestamp(millisecondsSinceEpoch: start + second * 1000)
                for (index, id) in series.enumerated() {
                    batch.samples.append(SeriesSample(series: id, sample: Sample(time: time, value: .double(Double(index) + Double(second % 97) / 7))))
                }
                second += 1
            }
            let started = clock.now
            committed += try await store.commit(batch).inserted
            commits.append((clock.now - started).inMilliseconds)
        }
        let elapsed = (clock.now - began).inSeconds
        // What the backend defers past the commit: SQLite moves its memtable into the sample table,
        // PostgreSQL folds the samples into the rollups (its job, here run to the last sample).
        let settleStarted = clock.now
        if let postgres { try await postgres.advanceRollups(to: start + second * 1000) }
        let bytes = try await settledSize(store, directory: directory) - before
        let settled = (clock.now - settleStarted).inSeconds
        let history = try await historyTimes(store, directory: directory)
        commits.sort()
        let result: [String: Any] = [
            "backend": postgres == nil ? "sqlite" : "postgres", "samples": committed, "batch": batch,
            "samples_per_s": Int(Double(committed) / elapsed), "settle_s": (settled * 100).rounded() / 100,
            "samples_per_s_settled": Int(Double(committed) / (elapsed + settled)), "commit_p50_ms": commits[commits.count / 2],
            "commit_p99_ms": commits[min(commits.count - 1, commits.count * 99 / 100)],
            "bytes_per_sample": (Double(bytes) / Double(committed) * 10).rounded() / 10,
            "history_24h_p50_ms": history[history.count / 2], "history_24h_p99_ms": history[min(history.count - 1, history.count * 99 / 100)],
        ]
        print(String(decoding: try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys]), as: UTF8.self))
    }

    /// Registers every machine's tags with one sample each; answers the series ids.
    private func register(_ store: any TelemetryStore, start: Int64) async throws -> [Int64] {
        var batch = WriteBatch()
        for machine in 0..<machines {
            let path = try AssetPath("bench/line\(machine / 20 + 1)/machine-\(machine + 1)")
            batch.newMachines.append((.default, path))
            for tag in 0..<tags {
                batch.samples.append(.forNewSeries(batch.newSeries.count, Sample(time: Timestamp(millisecondsSinceEpoch: start), value: .double(0))))
                batch.newSeries.append(NewSeries(key: SeriesKey(tenant: .default, machine: path, tag: "tag_\(tag)"),
                                                 tag: Tag(name: "tag_\(tag)", valueType: .double, kind: .gauge)))
            }
        }
        return try await store.commit(batch).series.map(\.id)
    }

    /// Bytes of the database once the backend has settled, the write-ahead log left out on both
    /// sides (SQLite: memtable moved, pages counted; PostgreSQL: `pg_database_size`).
    private func settledSize(_ store: any TelemetryStore, directory: String) async throws -> Int64 {
        if let sqlite = store as? SQLiteStore {
            try await sqlite.flushMemtable(force: true)
            return try await sqlite.databaseBytes()
        }
        guard let postgres = store as? PostgresStore else { return try store.diskUsage() }
        return try await postgres.measureDiskUsage()
    }

    /// One tag at 1 Hz over the last 24 h, read back as 720 two-minute buckets, `runs` times (ms each).
    private func historyTimes(_ store: any TelemetryStore, directory: String) async throws -> [Double] {
        let end = Timestamp.now().millisecondsSinceEpoch.flooredTo(120_000), start = end - 86_400_000
        let path = try AssetPath("bench/history/machine-1")
        var id: Int64 = 0
        for chunk in stride(from: start, to: end, by: 10_000_000) {
            let times = stride(from: chunk, to: min(chunk + 10_000_000, end), by: 1000)
            let samples = times.map { Sample(time: Timestamp(millisecondsSinceEpoch: $0), value: .double(Double($0 % 3600) / 10)) }
            if id == 0 {
                let result = try await store.commit(WriteBatch(
                    newMachines: [(.default, path)],
                    newSeries: [NewSeries(key: SeriesKey(tenant: .default, machine: path, tag: "temp"), tag: Tag(name: "temp", valueType: .double, kind: .gauge))],
                    samples: samples.map { .forNewSeries(0, $0) }))
                id = result.series[0].id
            } else {
                _ = try await store.commit(WriteBatch(samples: samples.map { SeriesSample(series: id, sample: $0) }))
            }
        }
        _ = try await settledSize(store, directory: directory)
        let clock = ContinuousClock()
        var times: [Double] = []
        for _ in 0..<runs {
            let started = clock.now
            let buckets = try await store.buckets(series: id, from: Timestamp(millisecondsSinceEpoch: start),
                                                  to: Timestamp(millisecondsSinceEpoch: end), width: 120_000, resolution: .minute)
            times.append((clock.now - started).inMilliseconds)
            guard buckets.count == 720 else { throw ValidationError("history answered \(buckets.count) buckets, not 720") }
        }
        return times.sorted()
    }
}
