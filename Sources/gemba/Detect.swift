import ArgumentParser
import Foundation
import GembaCore
import GembaDetect
import GembaPostgres
import GembaStorage
import Logging

/// `gemba detect`: anomaly detectors, scored on labelled data.
struct Detect: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Anomaly detectors and remaining useful life: score them on labelled series, train and check the fleet model.", subcommands: [DetectScore.self, DetectTrainRUL.self, DetectForecastCheck.self])
}

/// `gemba detect score <dir>`: runs every detector over each series of a corpus in NAB's layout
/// (only the past: each sample is scored before it is learnt) and scores it as NAB does, for the
/// three profiles. `--data-dir` scores a stored history instead, with the plant's labels as windows.
struct DetectScore: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "score", abstract: "Score the detectors on a corpus in NAB's layout (data/<category>/<name>.csv, windows.json), or on a stored history with its labels.")

    @Argument(help: "The corpus directory (or --data-dir or --storage).") var directory: String?
    @Option(help: ArgumentHelp("Score a stored history instead: gemba serve's data directory. Each machine's --tag is a series; the detector "
                               + "events people labelled true positive on it are its anomalies (windows of NAB's width centred on them)."))
    var dataDir: String?
    @Option(help: "The stored history's storage: sqlite (the data directory's, the default) or the postgres:// URL `gemba serve --storage` uses. Env: GEMBA_STORAGE.")
    var storage: String?
    @Option(help: "With --data-dir: the tag to score.") var tag: String?
    @Option(help: "With --data-dir: the tenant (default: default).") var tenant = "default"
    @Option(help: "With --data-dir: only machines within this site, area or line.") var scope: String?
    @Option(help: "With --data-dir: the last N days (default 30).") var days = 30
    @Option(help: "Detectors to score (\(DetectorKind.allCases.map(\.rawValue).joined(separator: ", "))); all by default.")
    var detector: [String] = []
    @Flag(help: "Print one JSON object per detector and profile instead of a table.") var json = false
    @Option(help: "Also write each series' scores in NAB's results layout (<dir>/<detector>/<category>/<detector>_<name>.csv).")
    var results: String?

    func run() async throws {
        let kinds = try detector.isEmpty ? DetectorKind.allCases : detector.map { name in
            guard let kind = DetectorKind(rawValue: name) else {
                throw ValidationError("no detector '\(name)'; there are \(DetectorKind.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            return kind
        }
        let started = ContinuousClock.now
        let corpus: NABCorpus
        let postgres = try TelemetryCapability.storage(try Settings(configFile: nil).string("storage", flag: storage))
        if let directory, dataDir == nil, storage == nil {
            corpus = try NABCorpus.load(directory: URL(fileURLWithPath: directory))
        } else if directory == nil, dataDir != nil || postgres != nil {
            let store = try await StoredCorpus.open(dataDir: dataDir ?? "gemba-data", postgres: postgres)
            corpus = try await StoredCorpus(store: store, tag: tag, tenant: tenant, scope: scope, days: days).load()
        } else {
            throw ValidationError("give a corpus directory or a stored history (--data-dir, --storage), not both")
        }
        let files = corpus.series.map(\.file)
        let samples = corpus.series.reduce(0) { $0 + $1.values.count }
        if !json {
            print("\(files.count) series, \(samples) samples, \(files.reduce(0) { $0 + $1.windows.count }) windows\n")
            print("| detector | standard | reward low FP | reward low FN | seconds | µs per sample |")
            print("|---|---:|---:|---:|---:|---:|")
        }
        for kind in kinds {
            let detectorStarted = ContinuousClock.now
            let scores = corpus.series.map { series in
                var detector = kind.make()
                return zip(series.times, series.values).map { detector.score($1, at: $0) }
            }
            let perSample = (ContinuousClock.now - detectorStarted).inSeconds * 1e6 / Double(max(samples, 1))
            if let directory = self.results { try Self.write(scores, of: corpus, detector: kind.rawValue, under: directory) }
            let results = NABProfile.all.map { NABScorer.score(files, scores: scores, profile: $0) }
            let seconds = (ContinuousClock.now - detectorStarted).inSeconds
            if json {
                for result in results {
                    print(#"{"detector":"\#(kind.rawValue)","profile":"\#(result.profile)","score":\#(Self.rounded(result.normalized)),"threshold":\#(result.threshold),"true_positives":\#(result.truePositives),"false_positives":\#(result.falsePositives),"false_negatives":\#(result.falseNegatives),"seconds":\#(Self.rounded(seconds, places: 2)),"microseconds_per_sample":\#(Self.rounded(perSample, places: 2))}"#)
                }
            } else {
                let cells = results.map { "\(Self.rounded($0.normalized)) (θ \(Self.rounded($0.threshold, places: 4)), \($0.truePositives) TP, \($0.falsePositives) FP)" }
                print("| \(kind.rawValue) | \(cells.joined(separator: " | ")) | \(Self.rounded(seconds, places: 2)) | \(Self.rounded(perSample, places: 2)) |")
            }
        }
        if !json { print("\nin \(Self.rounded((ContinuousClock.now - started).inSeconds)) s") }
    }

    /// Writes `timestamp,value,anomaly_score` per series, as NAB's own scripts read results.
    static func write(_ scores: [[Double]], of corpus: NABCorpus, detector: String, under directory: String) throws {
        for (series, rowScores) in zip(corpus.series, scores) {
            let parts = series.file.name.split(separator: "/").map(String.init)
            let folder = parts.dropLast().reduce(URL(fileURLWithPath: directory).appendingPathComponent(detector)) { $0.appendingPathComponent($1) }
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            var text = "timestamp,value,anomaly_score\n"
            for row in rowScores.indices {
                text += "\(NABCorpus.format(series.times[row])),\(series.values[row]),\(rowScores[row])\n"
            }
            try text.write(to: folder.appendingPathComponent("\(detector)_\(parts.last ?? "")"), atomically: true, encoding: .utf8)
        }
    }

    static func rounded(_ value: Double, places: Int = 1) -> Double {
        let scale = pow(10, Double(places))
        return (value * scale).rounded() / scale
    }
}

/// A stored history as a corpus in NAB's terms: each machine's samples of one tag are a series,
/// and the detector events people labelled true positive on that tag are its anomalies.
struct StoredCorpus {
    let store: any TelemetryStore & DetectorEventStore
    let tag: String?
    let tenant: String
    let scope: String?
    let days: Int

    /// The data directory's SQLite database, or the PostgreSQL database at `postgres`.
    static func open(dataDir: String, postgres: PostgresURL?) async throws -> any TelemetryStore & DetectorEventStore {
        var logger = Logger(label: "gemba.detect")
        logger.logLevel = .error
        if let postgres {
            do {
                return try await PostgresStore.open(postgres, logger: logger, startupTimeout: .seconds(10))
            } catch {
                throw ConfigurationError("cannot open the PostgreSQL database \(postgres): \(error)")
            }
        }
        guard FileManager.default.fileExists(atPath: (dataDir as NSString).appendingPathComponent("gemba.sqlite")) else {
            throw ValidationError("\(dataDir) holds no Gemba data (gemba.sqlite)")
        }
        return try SQLiteStore(directory: dataDir, logger: logger)
    }

    func load() async throws -> NABCorpus {
        guard let tag else { throw ValidationError("a stored history needs --tag: the tag to score") }
        guard let tenant = TenantID(tenant) else { throw ValidationError("\(tenant) is not a tenant id") }
        guard (1...3_650).contains(days) else { throw ValidationError("--days is 1 to 3650") }
        let subtree = try scope.map { scope in
            do { return try AssetSubtree(scope) } catch { throw ValidationError("--scope \(scope) is not an asset path") }
        }
        let to = Timestamp.now().millisecondsSinceEpoch
        let from = to - Int64(days) * 86_400_000
        let labelled = try await store.detectorEvents(DetectorEventQuery(tenant: tenant, scope: scope, range: from..<to, limit: 100_000))
            .filter { $0.tag == tag && $0.label == "true_positive" }
        var series: [NABCorpus.Series] = []
        for stored in try await store.series(tenant: tenant, machine: nil)
        where stored.key.tag == tag && subtree?.contains(stored.key.machine) != false {
            let samples = try await store.samples(series: stored.id, from: Timestamp(millisecondsSinceEpoch: from),
                                                  to: Timestamp(millisecondsSinceEpoch: to), limit: 5_000_000)
            let numeric = samples.compactMap { sample in sample.value.numeric.map { (sample.time.millisecondsSinceEpoch, $0) } }
            guard numeric.count >= 2 else { continue }
            let times = numeric.map(\.0)
            let anomalies = labelled.filter { $0.machine == stored.key.machine.description }.map(\.start)
            // NAB's windows: a tenth of the series' span shared among its anomalies, centred on each.
            let half = anomalies.isEmpty ? 0 : (times.last! - times.first!) / 10 / Int64(anomalies.count) / 2
            let windows = NABFile.windows(timestamps: times, limits: anomalies.map { (start: $0 - half, end: $0 + half) })
            series.append(.init(file: NABFile(name: "\(stored.key.machine)/\(tag).csv", rows: times.count, windows: windows),
                                times: times, values: numeric.map(\.1)))
        }
        guard !series.isEmpty else {
            throw ValidationError("no numeric samples of \(tag) in the last \(days) days\(scope.map { " within \($0)" } ?? "")")
        }
        return NABCorpus(series: series)
    }
}
