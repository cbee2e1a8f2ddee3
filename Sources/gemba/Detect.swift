import ArgumentParser
import Foundation
import GembaDetect

/// `gemba detect`: anomaly detectors, scored on labelled data.
struct Detect: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Anomaly detectors and remaining useful life: score them on labelled series, train and check the fleet model.", subcommands: [DetectScore.self, DetectTrainRUL.self, DetectForecastCheck.self])
}

/// `gemba detect score <dir>`: runs every detector over each series of a corpus in NAB's layout
/// (only the past: each sample is scored before it is learnt) and scores it as NAB does, for the
/// three profiles.
struct DetectScore: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "score", abstract: "Score the detectors on a corpus in NAB's layout (data/<category>/<name>.csv, windows.json).")

    @Argument(help: "The corpus directory.") var directory: String
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
        let corpus = try NABCorpus.load(directory: URL(fileURLWithPath: directory))
        let files = corpus.series.map(\.file)
        let samples = corpus.series.reduce(0) { $0 + $1.values.count }
        if !json {
            print("\(files.count) series, \(samples) samples, \(files.reduce(0) { $0 + $1.windows.count }) windows\n")
            print("| detector | standard | reward low FP | reward low FN | seconds |")
            print("|---|---:|---:|---:|---:|")
        }
        for kind in kinds {
            let detectorStarted = ContinuousClock.now
            let scores = corpus.series.map { series in
                var detector = kind.make()
                return zip(series.times, series.values).map { detector.score($1, at: $0) }
            }
            if let directory = self.results { try Self.write(scores, of: corpus, detector: kind.rawValue, under: directory) }
            let results = NABProfile.all.map { NABScorer.score(files, scores: scores, profile: $0) }
            let seconds = Self.seconds(ContinuousClock.now - detectorStarted)
            if json {
                for result in results {
                    print(#"{"detector":"\#(kind.rawValue)","profile":"\#(result.profile)","score":\#(Self.rounded(result.normalized)),"threshold":\#(result.threshold),"true_positives":\#(result.truePositives),"false_positives":\#(result.falsePositives),"false_negatives":\#(result.falseNegatives),"seconds":\#(Self.rounded(seconds))}"#)
                }
            } else {
                let cells = results.map { "\(Self.rounded($0.normalized)) (θ \(Self.rounded($0.threshold, places: 4)), \($0.truePositives) TP, \($0.falsePositives) FP)" }
                print("| \(kind.rawValue) | \(cells.joined(separator: " | ")) | \(Self.rounded(seconds)) |")
            }
        }
        if !json { print("\nin \(Self.rounded(Self.seconds(ContinuousClock.now - started))) s") }
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

    static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }

    static func rounded(_ value: Double, places: Int = 1) -> Double {
        let scale = pow(10, Double(places))
        return (value * scale).rounded() / scale
    }
}
