import ArgumentParser
import Foundation
import GembaCore
import GembaDetect
import GembaSimulator

/// `gemba detect forecast-check <dir>`: forecasts every series of a corpus in NAB's layout
/// `--horizon` samples ahead, sample after sample, each forecast made before its truth is seen, and
/// reports how often the interval held the truth.
struct DetectForecastCheck: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "forecast-check",
        abstract: "Measure the coverage of the forecaster's intervals on held-out data (each forecast made before its truth is seen).")

    @Argument(help: "A corpus in NAB's layout (data/<category>/<name>.csv, windows.json).") var directory: String?
    @Flag(help: "Instead, the demo factory's signals (spindle_temp, vibration, power of 5 simulated machines, a sample a minute for 3 days).")
    var demo = false
    @Option(help: "Samples ahead.") var horizon = 12
    @Option(help: "The interval's intended coverage.") var coverage = 0.9
    @Option(help: "Only series whose name starts with this (a category, say realKnownCause/).") var prefix = ""
    @Flag(help: "Print one JSON object per series and one for all.") var json = false

    func run() async throws {
        let chosen: [NABCorpus.Series]
        if demo {
            chosen = try Self.demoSignals()
        } else {
            guard let directory else { throw ValidationError("name a corpus directory, or --demo") }
            chosen = try NABCorpus.load(directory: URL(fileURLWithPath: directory)).series.filter { $0.file.name.hasPrefix(prefix) }
            guard !chosen.isEmpty else { throw ValidationError("no series named \(prefix)… in \(directory)") }
        }
        if !json {
            print("| series | samples per season | intervals | coverage | mean absolute error / mean |")
            print("|---|---:|---:|---:|---:|")
        }
        var held = 0, drawn = 0
        for series in chosen {
            let period = Self.period(of: series.times)
            var forecast = ConformalForecast(forecaster: SeasonalForecaster(period: period), horizon: horizon, coverage: coverage)
            var seriesHeld = 0, seriesDrawn = 0, absoluteError = 0.0, errors = 0
            var pending: [Double] = []
            for value in series.values {
                if pending.count == horizon {
                    absoluteError += abs(value - pending.removeFirst())
                    errors += 1
                }
                if let hit = forecast.learn(value) {
                    seriesDrawn += 1
                    if hit { seriesHeld += 1 }
                }
                if let next = forecast.next() { pending.append(next.value) } else { pending.removeAll() }
            }
            held += seriesHeld
            drawn += seriesDrawn
            let share = Double(seriesHeld) / Double(max(seriesDrawn, 1))
            let mean = series.values.reduce(0, +) / Double(series.values.count)
            let relative = mean != 0 ? absoluteError / Double(max(errors, 1)) / abs(mean) : 0
            if json {
                print(#"{"series":"\#(series.file.name)","period":\#(period),"intervals":\#(seriesDrawn),"coverage":\#(DetectScore.rounded(share, places: 4)),"relative_mae":\#(DetectScore.rounded(relative, places: 4))}"#)
            } else {
                print("| \(series.file.name) | \(period) | \(seriesDrawn) | \(DetectScore.rounded(share * 100)) % | \(DetectScore.rounded(relative * 100)) % |")
            }
        }
        let total = Double(held) / Double(max(drawn, 1))
        if json {
            print(#"{"series":"all","intervals":\#(drawn),"coverage":\#(DetectScore.rounded(total, places: 4)),"horizon":\#(horizon),"intended":\#(coverage)}"#)
        } else {
            print("\n\(drawn) intervals \(horizon) samples ahead: \(DetectScore.rounded(total * 100)) % held the truth (intended \(DetectScore.rounded(coverage * 100)) %)")
        }
    }

    /// The simulated factory's process signals: 5 machines, a sample a minute for 3 days (seeded, so the same each run).
    static func demoSignals() throws -> [NABCorpus.Series] {
        var series: [NABCorpus.Series] = []
        for index in 0..<5 {
            var machine = MachineSimulator(path: try AssetPath("demo/line1/m\(index)"), seed: 42)
            var signals: [String: [Double]] = [:]
            var times: [Int64] = []
            for minute in 0..<(3 * 1_440) {
                machine.step(dt: 60)
                times.append(Int64(minute) * 60_000)
                for (tag, value) in machine.readings() where ["spindle_temp", "vibration", "power"].contains(tag) {
                    if case .double(let number) = value { signals[tag, default: []].append(number) }
                }
            }
            for (tag, values) in signals.sorted(by: { $0.key < $1.key }) where values.count == times.count {
                series.append(NABCorpus.Series(file: NABFile(name: "demo/m\(index)/\(tag)", rows: values.count, windows: []),
                                               times: times, values: values))
            }
        }
        return series
    }

    /// A day of samples at the series' usual spacing (a week of daily samples; none for slower ones), at most 1,440.
    static func period(of times: [Int64]) -> Int {
        guard times.count > 2 else { return 1 }
        let gaps = zip(times.dropFirst(), times).map { $0 - $1 }.filter { $0 > 0 }.sorted()
        guard !gaps.isEmpty else { return 1 }
        let spacing = gaps[gaps.count / 2]
        if spacing >= 86_400_000 { return spacing == 86_400_000 ? 7 : 1 }
        return min(1_440, max(1, Int(86_400_000 / spacing)))
    }
}
