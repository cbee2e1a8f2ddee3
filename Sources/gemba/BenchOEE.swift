import ArgumentParser
import Foundation
import GembaAnalytics
import GembaCore
import GembaSimulator
import GembaStorage
import Logging

/// `gemba bench oee`: the OEE engine's answer times on a seeded store, in process (release build).
///
/// Two scenarios with simulated machines (states, counters, a three-shift Berlin calendar):
/// - a fleet of `--machines` machines over one local day, reporting every 10 s;
/// - a line of `--line-machines` machines over `--days` days, reporting states on change and
///   counters every 5 minutes (report by exception, no data timeout).
/// For each it times the first answer (summaries built from raw samples), then the median of
/// `--runs` answers from summaries, and finally the answer after one late sample.
struct BenchOEE: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "oee", abstract: "Time OEE answers: 100 machines over a day and a line over a year, from summaries and after late data.")

    @Option(help: "Machines in the fleet scenario.") var machines = 100
    @Option(help: "Machines on the line of the long-range scenario.") var lineMachines = 4
    @Option(help: "Days of the long-range scenario.") var days = 365
    @Option(help: "Timed answers per measurement (the median is reported).") var runs = 21

    func run() async throws {
        let directory = NSTemporaryDirectory() + "gemba-bench-oee-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let logger = Logger(label: "bench") { _ in SwiftLogNoOpLogHandler() }
        let store = try SQLiteStore(directory: directory, durability: .normal, logger: logger)
        let engine = OEEEngine(telemetry: store, store: store, logger: logger)
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "Europe/Berlin")!
        let today = calendar.startOfDay(for: Date())
        func millis(_ date: Date) -> Int64 { Int64(date.timeIntervalSince1970 * 1000) }

        // Fleet: the day before yesterday.
        let dayStart = millis(calendar.date(byAdding: .day, value: -2, to: today)!)
        let dayEnd = millis(calendar.date(byAdding: .day, value: -1, to: today)!)
        let fleet = try (1...machines).map { try AssetPath("fleet/line\(($0 - 1) / 10 + 1)/m\($0)") }
        let fleetSamples = try await seed(store, engine, fleet, from: dayStart, to: dayEnd, step: 10, stateOnChange: false, counterEvery: 10)
        try await engine.setCalendar(try DemoSetup.calendar(), tenant: .default, site: "fleet")
        var results: [[String: Any]] = []
        results.append(try await measure("\(machines) machines, one local day", samples: fleetSamples, engine, fleet, dayStart..<dayEnd))
        results.append(try await measure("\(machines) machines, rolling 24 h", samples: fleetSamples, engine, fleet,
                                         (dayStart + 6 * 3_600_000)..<(dayEnd + 6 * 3_600_000)))

        // Line: `days` local days ending yesterday.
        let lineStart = millis(calendar.date(byAdding: .day, value: -days - 1, to: today)!)
        let line = try (1...lineMachines).map { try AssetPath("plant/press-shop/line1/press-\($0)") }
        let lineSamples = try await seed(store, engine, line, from: lineStart, to: dayEnd, step: 60, stateOnChange: true, counterEvery: 300)
        try await engine.setCalendar(try DemoSetup.calendar(), tenant: .default, site: "plant")
        results.append(try await measure("a line of \(lineMachines) machines, \(days) days", samples: lineSamples, engine, line,
                                         lineStart..<dayEnd, late: (line[0], lineStart + Int64(days / 2) * 86_400_000 + 40_000_000, store)))
        for result in results {
            print(String(decoding: try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys]), as: UTF8.self))
        }
        print("\n| scenario | raw samples | first answer (builds summaries) | from summaries, median | by month, median | after one late sample |")
        print("|---|---:|---:|---:|---:|---:|")
        for result in results {
            func ms(_ key: String) -> String { (result[key] as? Double).map { String(format: "%.2f ms", $0) } ?? "–" }
            let late = result["late_ms"] == nil ? "–"
                : "\(ms("late_ms")) (\(result["late_days_rebuilt"]!) machine-day, \(result["late_pieces_recomputed"]!) pieces)"
            print("| \(result["scenario"]!) | \(result["raw_samples"]!) | \(ms("cold_ms")) | \(ms("warm_ms")) | \(ms("warm_month_ms")) | \(late) |")
        }
    }

    /// Simulated states and counters for `paths` over `[from, to)`; returns the samples stored.
    private func seed(_ store: SQLiteStore, _ engine: OEEEngine, _ paths: [AssetPath], from: Int64, to: Int64, step: Int64,
                      stateOnChange: Bool, counterEvery: Int64) async throws -> Int {
        let tags = [Tag(name: "state", valueType: .string, kind: .state), Tag(name: "total_count", valueType: .int, kind: .counter),
                    Tag(name: "good_count", valueType: .int, kind: .counter)]
        let registered = try await store.commit(WriteBatch(
            newMachines: paths.map { (.default, $0) },
            newSeries: paths.flatMap { path in tags.map { NewSeries(key: SeriesKey(tenant: .default, machine: path, tag: $0.name), tag: $0) } }))
        var batch: [SeriesSample] = []
        var stored = 0
        for (index, path) in paths.enumerated() {
            var machine = MachineSimulator(path: path, seed: 7)
            var settings = MachineProductionSettings()
            settings.idealCycleTime = Int64(machine.idealCycleTime * 1000)
            if stateOnChange { settings.noDataTimeout = 0 }
            try await engine.setSettings(settings, tenant: .default, machine: path)
            let ids = registered.series[(index * 3)..<(index * 3 + 3)].map(\.id)
            var lastState = ""
            var time = from
            while time < to {
                machine.step(dt: Double(step))
                let readings = Dictionary(uniqueKeysWithValues: machine.readings())
                let stamp = Timestamp(millisecondsSinceEpoch: time)
                if case .string(let state)? = readings["state"], !stateOnChange || state != lastState {
                    batch.append(SeriesSample(series: ids[0], sample: Sample(time: stamp, value: .string(state))))
                    lastState = state
                }
                if (time - from) / 1000 % counterEvery == 0 {
                    batch.append(SeriesSample(series: ids[1], sample: Sample(time: stamp, value: readings["total_count"]!)))
                    batch.append(SeriesSample(series: ids[2], sample: Sample(time: stamp, value: readings["good_count"]!)))
                }
                if batch.count >= 100_000 {
                    stored += try await store.commit(WriteBatch(samples: batch)).inserted
                    batch.removeAll(keepingCapacity: true)
                }
                time += step * 1000
            }
        }
        stored += try await store.commit(WriteBatch(samples: batch)).inserted
        try await store.flushMemtable(force: true)
        return stored
    }

    /// Times one report range: the first answer, the median from summaries (total and by month), and after a late sample.
    private func measure(_ scenario: String, samples: Int, _ engine: OEEEngine, _ machines: [AssetPath], _ range: Range<Int64>,
                         late: (machine: AssetPath, time: Int64, store: SQLiteStore)? = nil) async throws -> [String: Any] {
        func timed(_ grouping: ReportGrouping = .none) async throws -> (Double, OEEReport) {
            let started = ContinuousClock.now
            let report = try await engine.report(tenant: .default, machines: machines, range: range, grouping: grouping)
            let elapsed = ContinuousClock.now - started
            return (elapsed.inMilliseconds, report)
        }
        func median(_ grouping: ReportGrouping) async throws -> Double {
            var times: [Double] = []
            for _ in 0..<runs { times.append(try await timed(grouping).0) }
            return times.sorted()[times.count / 2]
        }
        let (cold, report) = try await timed()
        let built = engine.statistics
        var result: [String: Any] = [
            "scenario": scenario, "raw_samples": samples, "machines": machines.count, "cold_ms": cold,
            "warm_ms": try await median(.none), "warm_month_ms": try await median(.month),
            "warm_pieces_recomputed": engine.statistics.piecesComputed - built.piecesComputed,
            "oee": report.total.kpis.oee.value ?? -1, "availability": report.total.kpis.availability.value ?? -1,
        ]
        if let late {
            let series = try await late.store.series(tenant: .default, machine: late.machine).first { $0.tag.name == "state" }!
            _ = try await late.store.commit(WriteBatch(samples: [
                SeriesSample(series: series.id, sample: Sample(time: Timestamp(millisecondsSinceEpoch: late.time), value: .string("jam"))),
            ]))
            engine.noteSample(tenant: .default, machine: late.machine, tag: "state", time: late.time)
            let before = engine.statistics
            result["late_ms"] = try await timed().0
            result["late_days_rebuilt"] = engine.statistics.daysBuilt - before.daysBuilt
            result["late_pieces_recomputed"] = engine.statistics.piecesComputed - before.piecesComputed
        }
        return result
    }
}
