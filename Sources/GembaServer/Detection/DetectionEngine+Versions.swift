public import Foundation
public import GembaCore
public import GembaDetect

extension DetectionEngine {
    /// A detector version, by tenant, detector id and the registry's number (0: not from the registry).
    public struct InstanceID: Hashable, Sendable {
        public var tenant: TenantID
        public var detector: String
        public var version: Int

        public init(tenant: TenantID, detector: String, version: Int) {
            self.tenant = tenant
            self.detector = detector
            self.version = version
        }
    }

    /// A detector version as it runs: active, or in shadow (its outputs end in `.shadow`, it
    /// raises no events and proposes nothing).
    public struct Instance: Sendable, Hashable {
        public let id: InstanceID
        public let detector: Detector
        public let shadow: Bool

        public init(_ detector: Detector, version: Int, shadow: Bool = false) {
            var running = detector
            if shadow {
                running.output += ".shadow"
                running.failure?.output += ".shadow"
                running.propose = false
            }
            id = InstanceID(tenant: detector.tenant, detector: detector.id, version: version)
            self.detector = running
            self.shadow = shadow
        }
    }

    /// What a detector version learnt on each machine of a history range: the state it starts from
    /// there when it runs.
    /// A `fleet_rul` detector's model is one for the whole fleet, not a state per machine.
    public struct Model: Sendable {
        var machines: [String: Running]
        /// A `fleet_rul` detector's model.
        var fleet: FleetRULModel?

        /// The machines it learnt on.
        public var machineNames: [String] { machines.keys.sorted() }

        /// JSON: `{"<machine>": {detector state}}`, or a `fleet_rul` detector's model.
        public func encoded() throws -> Data {
            let encoder = JSONEncoder()
            encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
            if let fleet { return try encoder.encode(fleet) }
            return try encoder.encode(machines)
        }

        /// Reads what ``encoded()`` wrote, for a detector of `kind`; the error says why it cannot be used.
        public init(decoding data: Data, for kind: Detector.Kind) throws(ConfigurationError) {
            let decoder = JSONDecoder()
            decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
            do {
                if kind == .fleet {
                    machines = [:]
                    let fleet = try decoder.decode(FleetRULModel.self, from: data)
                    try fleet.check()
                    self.fleet = fleet
                    return
                }
                machines = try decoder.decode([String: Running].self, from: data)
            } catch {
                throw ConfigurationError(description: "the model cannot be read (\(data.count) bytes): \(error)")
            }
            if let wrong = machines.first(where: { $0.value.kind != kind }) {
                throw ConfigurationError(description: "the model of \(wrong.key) is not of a \(kind.rawValue) detector")
            }
        }

        init(machines: [String: Running]) { self.machines = machines }

        init(fleet: FleetRULModel) {
            machines = [:]
            self.fleet = fleet
        }
    }

    /// One machine's history for a replay, oldest first: the watched tag's samples, its gate tag's,
    /// and (for `pca`) those of its other signals in the detector's order.
    public struct History: Sendable {
        public var machine: AssetPath
        public var samples: [Sample]
        public var gate: [Sample]
        public var others: [[Sample]]

        public init(machine: AssetPath, samples: [Sample], gate: [Sample] = [], others: [[Sample]] = []) {
            self.machine = machine
            self.samples = samples
            self.gate = gate
            self.others = others
        }
    }

    /// What a replay learnt and raised.
    public struct Replay: Sendable {
        /// The state on each machine after the replay (events, trend and last score left behind).
        public var model: Model
        /// Samples scored (numeric, good or uncertain, in time order, inside the gate); for `pca`, readings.
        public var scored: Int
        /// The most scored on one machine.
        public var mostOnOneMachine: Int
        /// Samples of the tag that were not numbers.
        public var notNumeric: Int
        /// The anomaly events it raised, per machine (remaining-life events are not replayed), with
        /// a `pca` detector's shares at each event's peak.
        public var events: [(machine: String, event: AnomalyEvents.Event, contributions: [Double]?)]
        /// Why a `pca` model could not be trained on a machine, by machine.
        public var untrained: [String: String] = [:]
    }

    /// Runs `detector` over `histories` as it would have run live (warm-up, gate, threshold and
    /// suppression), from `model`'s state on each machine or afresh (a `fleet_rul` detector only
    /// from its model: its remaining-life events). A `pca` detector without a
    /// model is trained on each machine's readings (nothing is scored then). Pure: nothing is written.
    public static func replay(_ detector: Detector, over histories: [History], from model: Model? = nil) -> Replay {
        if detector.kind == .fleet {
            guard let fleet = model?.fleet else { return Replay(model: Model(machines: [:]), scored: 0, mostOnOneMachine: 0, notNumeric: 0, events: []) }
            return replayFleet(detector, over: histories, model: fleet)
        }
        let watcher = Watcher(index: 0, Instance(detector, version: 0))
        var result = Replay(model: Model(machines: model?.machines ?? [:]), scored: 0, mostOnOneMachine: 0, notNumeric: 0, events: [])
        for history in histories {
            let machine = history.machine.description
            if detector.kind == .pca, result.model.machines[machine] == nil {
                train(detector, history, into: &result)
                continue
            }
            guard var running = result.model.machines[machine] ?? Running(detector) else { continue }
            // A model's state scores any range, before or after the one it learnt.
            running.lastTime = .min
            running.events = nil
            running.explanation = nil
            var scored = 0
            for (time, value) in inputs(detector, history, notNumeric: &result.notNumeric) {
                let learnt = switch value {
                case .row(let row): score(row, at: time, watcher, into: &running)
                case .value(let value): watcher.drift ? drift(value, at: time, watcher, into: &running) : learn(value, at: time, watcher, into: &running)
                }
                guard let (score, _) = learnt else { continue }
                scored += 1
                if score >= watcher.threshold || running.events?.open != nil, let change = running.events?.take(score, at: time) {
                    result.events += changes(change, detector, history.machine, explanation: running.explanation).filter(\.closed)
                        .map { (machine, $0.event, $0.contributions) }
                }
            }
            if let open = running.events?.open { result.events.append((machine, open, running.explanation)) }
            running.events = nil
            running.lastScore = nil
            running.trend = nil
            running.lastLifeEvent = nil
            running.explanation = nil
            result.model.machines[machine] = running
            result.scored += scored
            result.mostOnOneMachine = max(result.mostOnOneMachine, scored)
        }
        return result
    }

    /// The fewest readings a `pca` model is trained on.
    static let minimumReadings = 100

    /// Trains a `pca` model on one machine's readings (within the gate).
    private static func train(_ detector: Detector, _ history: History, into result: inout Replay) {
        var rows: [[Double]] = []
        var lastTime = Int64.min
        for (time, input) in inputs(detector, history, notNumeric: &result.notNumeric) {
            if case .row(let row) = input { rows.append(row) }
            lastTime = time
        }
        result.scored += rows.count
        result.mostOnOneMachine = max(result.mostOnOneMachine, rows.count)
        do {
            guard rows.count >= minimumReadings else { throw ConfigurationError(description: "\(rows.count) readings, \(minimumReadings) needed") }
            var running = Running(detector: .none, lastTime: lastTime, learnt: nil)
            running.pca = try PCADetector(training: rows)
            result.model.machines[history.machine.description] = running
        } catch {
            result.untrained[history.machine.description] = "\(error)"
        }
    }

    /// What a detector is fed from a history, in time order within its gate: each numeric sample
    /// (univariate), or each reading of the signals' latest values at the first signal's samples (`pca`).
    private enum Input { case value(Double), row([Double]) }

    private static func inputs(_ detector: Detector, _ history: History, notNumeric: inout Int) -> [(Int64, Input)] {
        var gate = GateReplay(gate: detector.gate, samples: history.gate)
        var inputs: [(Int64, Input)] = []
        var readings = SignalReadings(count: max(1, detector.signals.count))
        var next = Array(repeating: 0, count: history.others.count)
        for sample in history.samples {
            guard gate.isOpen(at: sample.time) else { continue }
            guard let value = sample.value.numeric else {
                notNumeric += 1
                continue
            }
            guard sample.quality != .bad else { continue }
            let time = sample.time.millisecondsSinceEpoch
            guard detector.kind == .pca else {
                inputs.append((time, .value(value)))
                continue
            }
            // The other signals' samples up to this one's time.
            for (index, others) in history.others.enumerated() {
                while next[index] < others.count, others[next[index]].time <= sample.time {
                    let other = others[next[index]]
                    if let number = other.value.numeric, other.quality != .bad {
                        readings.note(number, at: other.time.millisecondsSinceEpoch, signal: index + 1)
                    }
                    next[index] += 1
                }
            }
            readings.note(value, at: time, signal: 0)
            if let row = readings.row(at: time) { inputs.append((time, .row(row))) }
        }
        return inputs
    }

    /// A gate's course through a replay: open while the gate tag's last value is one of the gate's.
    struct GateReplay {
        let gate: Detector.Gate?
        let samples: [Sample]
        var next = 0
        var open = false

        init(gate: Detector.Gate?, samples: [Sample]) {
            self.gate = gate
            self.samples = samples
        }

        mutating func isOpen(at time: Timestamp) -> Bool {
            guard let gate else { return true }
            while next < samples.count, samples[next].time <= time {
                open = samples[next].quality != .bad && gate.values.contains(samples[next].value.text)
                next += 1
            }
            return open
        }
    }
}
