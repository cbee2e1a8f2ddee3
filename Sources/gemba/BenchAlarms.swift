import ArgumentParser
import Foundation
import GembaCore
import GembaRules
import GembaStorage
import Logging

/// `gemba bench alarms`: the alarm engine in process (release build), on a real SQLite store:
/// - evaluation: `--machines` × `--rules` rule instances fed `--rounds` messages per machine of ten
///   tags each (one `accepted` call per message, as the pipeline hands them over), with the alarm
///   clock writing changes as `serve` does; samples per second and memory per instance;
/// - sample → alarm state change: the time of the call that raises or clears an alarm, p50 and p99;
/// - backtest: one rule over 30 days of a 1 Hz tag, replayed in memory (median of 3).
struct BenchAlarms: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "alarms", abstract: "Measure rule evaluation (1,000 machines × 10 rules), state-change latency and a 30-day backtest.")

    @Option(help: "Machines.") var machines = 1000
    @Option(help: "Rules, each reading one tag of every machine.") var rules = 10
    @Option(help: "Messages (ten tags each) per machine.") var rounds = 200

    func run() async throws {
        let directory = NSTemporaryDirectory() + "gemba-bench-alarms-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let logger = Logger(label: "bench") { _ in SwiftLogNoOpLogHandler() }
        let store = try SQLiteStore(directory: directory, durability: .normal, logger: logger)
        let engine = AlarmEngine(store: store, stateCategory: { _ in nil }, logger: logger)
        let start = Timestamp.now().millisecondsSinceEpoch
        try await engine.load(machines: [], now: start)
        for index in 0..<rules {
            let document = #"{"id": "r\#(index)", "name": "t\#(index) high", "severity": "medium", "condition": "t\#(index % 10) > 99.5 for 2s clear < 95"}"#
            _ = try await engine.save(try RuleDocument.decode(Data(document.utf8)), tenant: .default, by: "bench")
        }
        let paths = try (0..<machines).map { try AssetPath("bench/line\($0 / 50)/m\($0)") }
        func message(_ machine: Int, _ round: Int, time: Int64) -> [AcceptedSample] {
            let index = round * machines + machine
            return (0..<10).map { tag -> AcceptedSample in
                let value = Double((index &* 31 &+ tag * 7) % 1000) / 10
                return AcceptedSample(seriesID: Int64(machine * 10 + tag), key: SeriesKey(tenant: .default, machine: paths[machine], tag: "t\(tag)"),
                                      sample: Sample(time: Timestamp(millisecondsSinceEpoch: time), value: .double(value)))
            }
        }

        // The alarm clock, as `serve` runs it.
        let clock = Task {
            while !Task.isCancelled { try await engine.clockPass() }
        }
        let before = ProcessUsage.read(pid: Int(getpid()))?.residentBytes ?? 0
        for machine in 0..<machines { engine.accepted(message(machine, 0, time: start)) }
        try await engine.flush()
        let instances = engine.alarms(tenant: .default).count
        let attached = ProcessUsage.read(pid: Int(getpid()))?.residentBytes ?? 0

        let started = ContinuousClock.now
        for round in 1...rounds {
            let time = start + Int64(round) * 1000
            for machine in 0..<machines { engine.accepted(message(machine, round, time: time)) }
        }
        let evaluated = ContinuousClock.now - started
        try await engine.flush()
        clock.cancel()
        let samples = rounds * machines * 10
        let seconds = evaluated.inSeconds

        let latency = try await stateChangeLatency(store: store, logger: logger)
        let backtest = try backtestSeconds()
        let result: [String: Any] = [
            "machines": machines, "rule_instances": instances, "samples": samples,
            "samples_per_second": Int(Double(samples) / seconds),
            "bytes_per_instance": instances > 0 ? (attached - before) / instances : 0,
            "state_change_p50_us": latency.p50, "state_change_p99_us": latency.p99,
            "backtest_30_days_1hz_seconds": (backtest * 1000).rounded() / 1000,
        ]
        print(String(decoding: try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys]), as: UTF8.self))
        print("\n| rule instances | samples evaluated | samples/s | memory per instance | sample → state change p50 / p99 | backtest, 30 days of 1 Hz |")
        print("|---:|---:|---:|---:|---:|---:|")
        print("| \(instances) | \(samples) | \(result["samples_per_second"]!) | \(result["bytes_per_instance"]!) B | \(latency.p50) / \(latency.p99) µs | \(result["backtest_30_days_1hz_seconds"]!) s |")
    }

    /// 10,000 alternating hot and cold samples on 100 machines of an undelayed rule: each call raises or clears one alarm.
    private func stateChangeLatency(store: SQLiteStore, logger: Logger) async throws -> (p50: Int, p99: Int) {
        let engine = AlarmEngine(store: store, stateCategory: { _ in nil }, logger: logger)
        try await engine.load(machines: [], now: 0)
        var rule = try RuleDocument.decode(Data(#"{"id": "hot", "name": "hot", "severity": "high", "condition": "h > 50"}"#.utf8))
        rule.chattering = ChatteringPolicy(enabled: false)
        _ = try await engine.save(rule, tenant: .default, by: "bench")
        let paths = try (0..<100).map { try AssetPath("latency/line1/m\($0)") }
        var micros: [Int] = []
        for index in 0..<10_000 {
            let key = SeriesKey(tenant: .default, machine: paths[index % 100], tag: "h")
            let sample = Sample(time: Timestamp(millisecondsSinceEpoch: Int64(index) * 10), value: .double((index / 100) % 2 == 0 ? 90 : 10))
            let started = ContinuousClock.now
            engine.accepted([AcceptedSample(seriesID: Int64(index % 100), key: key, sample: sample)])
            micros.append(Int((ContinuousClock.now - started).inSeconds * 1_000_000))
            if index % 1000 == 999 { try await engine.flush() }
        }
        micros.sort()
        return (micros[micros.count / 2], micros[micros.count * 99 / 100])
    }

    /// One rule with a delay and a deadband over 30 days of a 1 Hz tag (a daily warm spell), median of three replays.
    private func backtestSeconds() throws -> Double {
        let rule = AlarmRule(id: "warm", name: "warm", text: "", expression: try RuleParser.parse("t > 80 for 2m clear < 75"), severity: .medium)
        let start: Int64 = 1_790_000_000_000
        let samples: [(tag: String, sample: Sample)] = (0..<(30 * 86_400)).map { second in
            let value = 60 + 25 * sin(Double(second) / 86_400 * 2 * .pi) + Double(second % 7)
            return ("t", Sample(time: Timestamp(millisecondsSinceEpoch: start + Int64(second) * 1000), value: .double(value)))
        }
        let context = EvaluationContext(signals: MachineSignals(), watchingSince: start, now: start)
        var times: [Double] = []
        for _ in 0..<3 {
            let started = ContinuousClock.now
            let raised = Backtest.run(rule, samples: samples, range: start..<(start + 30 * 86_400_000), context: context)
            times.append((ContinuousClock.now - started).inSeconds)
            precondition(raised.count >= 29, "the backtest must find the daily warm spells")
        }
        return times.sorted()[1]
    }
}
