internal import GembaCore
internal import Synchronization

/// Samples committed to the append-only `inbox` table but not yet moved into the clustered
/// `sample` table, indexed in memory by series so that reads see them and duplicates are found.
///
/// Why: the `sample` table is keyed (series, time), so every commit that touches N series
/// rewrites N B-tree leaves. Committing into the inbox writes a few sequential pages instead;
/// ``SQLiteStore/maintain()`` moves the inbox into `sample` in large sorted runs, so each leaf is
/// rewritten once per run rather than once per commit.
struct Memtable {
    struct Run {
        /// Samples in commit order; mostly ascending in time.
        var samples: [Sample] = []
        var maxTime = Int64.min

        mutating func add(_ sample: Sample) {
            samples.append(sample)
            maxTime = Swift.max(maxTime, sample.time.millisecondsSinceEpoch)
        }
    }

    private(set) var runs: [Int64: Run] = [:]
    private(set) var count = 0
    /// The inbox rowid of the newest sample held here.
    private(set) var lastInboxID: Int64 = 0
    /// When the oldest sample held here was committed (for the flush age), in ms.
    private(set) var oldestCommit: Int64?
    /// Per series, the newest time already moved into `sample` (a sample at or before it may be a duplicate there).
    private var flushedMax: [Int64: Int64] = [:]

    func contains(series: Int64, time: Int64) -> Bool {
        guard let run = runs[series], time <= run.maxTime else { return false }
        return run.samples.contains { $0.time.millisecondsSinceEpoch == time }
    }

    /// Whether `sample` may hold this (series, time): only when it is not newer than its newest sample there.
    func mayBeInTable(series: Int64, time: Int64) -> Bool {
        guard let max = flushedMax[series] else { return true }
        return time <= max
    }

    /// Whether the newest time of this series in `sample` is known (looked up once, then kept current).
    func knowsFlushedMax(_ series: Int64) -> Bool { flushedMax[series] != nil }

    mutating func setFlushedMax(_ time: Int64, series: Int64) {
        flushedMax[series] = Swift.max(flushedMax[series] ?? .min, time)
    }

    mutating func append(_ added: [SeriesSample], lastInboxID: Int64, now: Int64) {
        guard !added.isEmpty else { return }
        for entry in added { runs[entry.series, default: Run()].add(entry.sample) }
        count += added.count
        self.lastInboxID = lastInboxID
        if oldestCommit == nil { oldestCommit = now }
    }

    /// The newest sample of one series held here.
    func newest(of series: Int64) -> Sample? {
        runs[series]?.samples.max { $0.time < $1.time }
    }

    /// The samples of one series in `[from, to)`, sorted by time.
    func samples(series: Int64, from: Int64, to: Int64) -> [Sample] {
        guard let run = runs[series] else { return [] }
        return run.samples.filter { (from..<to).contains($0.time.millisecondsSinceEpoch) }
            .sorted { $0.time < $1.time }
    }

    /// What a flush step moves: the samples so far of the given series (in their order).
    func snapshot(of series: some Sequence<Int64>) -> [(series: Int64, samples: [Sample])] {
        series.compactMap { id in runs[id].map { (id, $0.samples) } }
    }

    /// Drops what a flush moved: the first `moved` samples of each series (later commits only appended).
    mutating func removeFlushed(_ moved: [(series: Int64, samples: [Sample])], now: Int64) {
        for (series, samples) in moved {
            guard var run = runs[series] else { continue }
            if let newest = samples.map(\.time.millisecondsSinceEpoch).max() { setFlushedMax(newest, series: series) }
            run.samples.removeFirst(min(samples.count, run.samples.count))
            count -= samples.count
            if run.samples.isEmpty { runs[series] = nil } else {
                run.maxTime = run.samples.map(\.time.millisecondsSinceEpoch).max() ?? .min
                runs[series] = run
            }
        }
        oldestCommit = count > 0 ? now : nil
    }
}

/// The memtable shared by the writer (which changes it) and readers.
final class MemtableBox: Sendable {
    let state = Mutex(Memtable())
    /// Odd while samples are being moved into the table and its hour rollups; bumped twice per move.
    let generation = Atomic<Int>(0)
}
