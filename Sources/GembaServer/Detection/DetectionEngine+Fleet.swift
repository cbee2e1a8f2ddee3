internal import GembaCore
internal import GembaDetect
public import GembaMaintenance
internal import GembaRules

extension DetectionEngine {
    /// A fleet remaining-life model trained on a history range, with what it learnt from.
    public struct FleetTraining: Sendable {
        public var model: Model
        /// Runs to failure learnt (a machine's cycles from its first in the range, or its last failure, up to a failure).
        public var runs: Int
        public var machines: Int
        /// Cycle rows read, runs or not.
        public var cycles: Int
        /// Nil with fewer than 4 runs.
        public var crossValidation: DetectorVersion.CrossValidation?
    }

    /// The fewest runs to failure cross-validated (a fold of one run each at least).
    static let crossValidatedRuns = 4

    /// Trains a `fleet_rul` detector's model on `histories`: each machine's signals are averaged
    /// over the detector's cycles (within its gate), its cycles split at its `failures` into runs
    /// to failure, and the fleet model learns from the runs (the cycles after a machine's last
    /// failure are not a run: how long they would have lasted is unknown). Cross-validated over
    /// the runs when there are at least 4. Pure. The error says what is missing.
    public static func trainFleet(_ detector: Detector, over histories: [History],
                                  failures: [DetectorPerformance.Failure]) throws(ConfigurationError) -> FleetTraining {
        guard detector.kind == .fleet, let life = detector.life else {
            throw ConfigurationError(description: "detector \"\(detector.id)\" is not a fleet_rul detector")
        }
        let rows = histories.map { (machine: $0.machine.description, rows: cycleRows(detector, $0)) }
        let runs = runsToFailure(rows, failures: failures)
        let features = RULFeatures(age: false)
        let cap = Double(life.cap / life.cycle)
        let train = { (runs: [[[Double]]]) throws -> FleetRULModel in try FleetRULModel(histories: runs, features: features, cap: cap) }
        let model: FleetRULModel
        do {
            model = try train(runs)
        } catch {
            let usable = runs.filter { $0.count > features.firstCycle }.count
            throw ConfigurationError(description: "too little history to train: \(detector.id) needs at least 2 runs to a failure of more than "
                                     + "\(features.firstCycle) cycles of \(RuleText.duration(life.cycle)) with all of "
                                     + "\(detector.signals.joined(separator: ", ")); the range holds \(runs.count) runs (\(usable) long enough) "
                                     + "ending at \(failures.count) failures on \(histories.count) machines")
        }
        var crossValidation: DetectorVersion.CrossValidation?
        let longEnough = runs.filter { $0.count > features.window + 1 }
        if longEnough.count >= crossValidatedRuns, let evaluation = try? RULEvaluation.crossValidate(longEnough, folds: min(5, longEnough.count), train: train) {
            crossValidation = .init(folds: min(5, longEnough.count), estimates: evaluation.estimates, rmseHours: life.hours(evaluation.rmse),
                                    rmseCycles: evaluation.rmse, nasaScorePerEstimate: evaluation.nasaScorePerEstimate,
                                    intervalCoverage: evaluation.intervalCoverage)
        }
        return FleetTraining(model: Model(fleet: model), runs: runs.count, machines: Set(rows.filter { !$0.rows.isEmpty }.map(\.machine)).count,
                             cycles: rows.reduce(0) { $0 + $1.rows.count }, crossValidation: crossValidation)
    }

    /// A machine's cycle rows in a history, oldest first: each signal's mean over each cycle in
    /// which every signal had a numeric sample (within the gate), as the live engine makes them.
    static func cycleRows(_ detector: Detector, _ history: History) -> [CycleMeans.Row] {
        guard let life = detector.life else { return [] }
        var gate = GateReplay(gate: detector.gate, samples: history.gate)
        let series = [history.samples] + history.others
        var merged: [(time: Timestamp, signal: Int, value: Double)] = []
        for (signal, samples) in series.enumerated() {
            for sample in samples where sample.quality != .bad {
                if let value = sample.value.numeric { merged.append((sample.time, signal, value)) }
            }
        }
        // In time order; at one time, the other signals before the first (whose sample may close the cycle before).
        merged.sort { ($0.time, -$0.signal) < ($1.time, -$1.signal) }
        var cycles = CycleMeans(signals: series.count, length: life.cycle)
        var rows: [CycleMeans.Row] = []
        for sample in merged where gate.isOpen(at: sample.time) {
            rows += cycles.add(sample.value, at: sample.time.millisecondsSinceEpoch, signal: sample.signal)
        }
        return rows + cycles.finish()
    }

    /// Each machine's rows cut at its failures: the rows ending by a failure since the one before
    /// (or the first row) make a run to failure; the rows after a machine's last failure make none.
    static func runsToFailure(_ machines: [(machine: String, rows: [CycleMeans.Row])], failures: [DetectorPerformance.Failure]) -> [[[Double]]] {
        let byMachine = Dictionary(grouping: failures, by: \.machine).mapValues { $0.map(\.time).sorted() }
        var runs: [[[Double]]] = []
        for (machine, rows) in machines {
            var start = 0
            for failure in byMachine[machine] ?? [] {
                let end = rows[start...].firstIndex { $0.end > failure } ?? rows.count
                if end > start { runs.append(rows[start..<end].map(\.values)) }
                start = end
            }
        }
        return runs
    }

    /// Runs a trained `fleet_rul` detector over `histories` as it would have run live: its
    /// estimate at each cycle, and an event each time it fell below the horizon (suppression
    /// apart). Pure.
    static func replayFleet(_ detector: Detector, over histories: [History], model: FleetRULModel) -> Replay {
        var result = Replay(model: Model(fleet: model), scored: 0, mostOnOneMachine: 0, notNumeric: 0, events: [])
        guard let life = detector.life else { return result }
        for history in histories {
            var running = Running(detector: .none, lastTime: .min, learnt: nil)
            running.course = FleetRULModel.Course()
            let rows = cycleRows(detector, history)
            for row in rows {
                guard let course = advance(row, window: model.features.window, into: &running),
                      let estimate = estimate(model, course, life),
                      due(estimate, at: row.end, life, suppression: detector.suppression, last: &running.lastLifeEvent) else { continue }
                let event = lifeEvent(estimate, detector, horizon: life.horizon, history.machine, at: row.end).event
                result.events.append((history.machine.description, event, nil))
            }
            result.scored += rows.count
            result.mostOnOneMachine = max(result.mostOnOneMachine, rows.count)
        }
        return result
    }
}
