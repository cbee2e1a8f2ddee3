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
    public struct Model: Sendable {
        var machines: [String: Running]

        /// The machines it learnt on.
        public var machineNames: [String] { machines.keys.sorted() }

        /// JSON: `{"<machine>": {detector state}}`.
        public func encoded() throws -> Data {
            let encoder = JSONEncoder()
            encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
            return try encoder.encode(machines)
        }

        /// Reads what ``encoded()`` wrote, for a detector of `kind`; the error says why it cannot be used.
        public init(decoding data: Data, for kind: DetectorKind) throws(ConfigurationError) {
            let decoder = JSONDecoder()
            decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
            do {
                machines = try decoder.decode([String: Running].self, from: data)
            } catch {
                throw ConfigurationError(description: "the model cannot be read (\(data.count) bytes): \(error)")
            }
            if let wrong = machines.first(where: { $0.value.detector.kind != kind }) {
                throw ConfigurationError(description: "the model of \(wrong.key) is not of a \(kind.rawValue) detector")
            }
        }

        init(machines: [String: Running]) { self.machines = machines }
    }

    /// One machine's history for a replay, oldest first: the watched tag's samples and its gate tag's.
    public struct History: Sendable {
        public var machine: AssetPath
        public var samples: [Sample]
        public var gate: [Sample]

        public init(machine: AssetPath, samples: [Sample], gate: [Sample] = []) {
            self.machine = machine
            self.samples = samples
            self.gate = gate
        }
    }

    /// What a replay learnt and raised.
    public struct Replay: Sendable {
        /// The state on each machine after the replay (events, trend and last score left behind).
        public var model: Model
        /// Samples scored (numeric, good or uncertain, in time order, inside the gate).
        public var scored: Int
        /// The most scored on one machine.
        public var mostOnOneMachine: Int
        /// Samples of the tag that were not numbers.
        public var notNumeric: Int
        /// The anomaly events it raised, per machine (remaining-life events are not replayed).
        public var events: [(machine: String, event: AnomalyEvents.Event)]
    }

    /// Runs `detector` over `histories` as it would have run live (warm-up, gate, threshold and
    /// suppression), from `model`'s state on each machine or afresh. Pure: nothing is written.
    public static func replay(_ detector: Detector, over histories: [History], from model: Model? = nil) -> Replay {
        let watcher = Watcher(index: 0, Instance(detector, version: 0))
        var result = Replay(model: Model(machines: model?.machines ?? [:]), scored: 0, mostOnOneMachine: 0, notNumeric: 0, events: [])
        for history in histories {
            let machine = history.machine.description
            var running = result.model.machines[machine] ?? Running(detector: AnyDetector(detector.kind), lastTime: .min, learnt: 0)
            // A model's state scores any range, before or after the one it learnt.
            running.lastTime = .min
            running.events = nil
            var scored = 0
            var gate = GateReplay(gate: detector.gate, samples: history.gate)
            for sample in history.samples {
                guard gate.isOpen(at: sample.time) else { continue }
                guard let value = sample.value.numeric else {
                    result.notNumeric += 1
                    continue
                }
                let time = sample.time.millisecondsSinceEpoch
                guard sample.quality != .bad, let (score, _) = learn(value, at: time, watcher, into: &running) else { continue }
                scored += 1
                if score >= watcher.threshold || running.events?.open != nil, let change = running.events?.take(score, at: time) {
                    result.events += changes(change, detector, history.machine).filter(\.closed).map { (machine, $0.event) }
                }
            }
            if let open = running.events?.open { result.events.append((machine, open)) }
            running.events = nil
            running.lastScore = nil
            running.trend = nil
            running.lastLifeEvent = nil
            result.model.machines[machine] = running
            result.scored += scored
            result.mostOnOneMachine = max(result.mostOnOneMachine, scored)
        }
        return result
    }

    /// A gate's course through a replay: open while the gate tag's last value is one of the gate's.
    private struct GateReplay {
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
