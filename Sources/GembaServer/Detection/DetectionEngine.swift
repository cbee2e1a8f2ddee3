public import Foundation
public import GembaCore
public import GembaDetect
public import GembaIngest
public import Logging
internal import GembaRules
internal import Synchronization

/// Anomaly detectors on the live ingest stream: each detector of the configuration watches one tag
/// on every machine (of its tenant, within its scope) that sends it, scores each sample from the
/// samples before it, and writes the score (0–1) as a sample of its output tag with the same time
/// (a run of zeros as its first):
/// charts, history, exports and alarm rules (`vibration.anomaly > 0.6 for 2m`) then read it like
/// any tag. Detectors learn per machine; their state is saved to a file and restored at start.
/// The detectors running change while it runs (``configure(_:models:)``): the registry's active
/// and shadow versions.
public final class DetectionEngine: SampleObserver, Sendable {
    /// A configuration that cannot be used: the message names the detector and the field.
    public struct ConfigurationError: Error, CustomStringConvertible {
        public var description: String
    }

    /// One detector on one machine, with the time of the last sample it learnt, the last score
    /// written and its events.
    struct Running: Codable {
        var detector: AnyDetector
        var lastTime: Int64
        /// Nil before the first score.
        var lastScore: Double?
        /// Nil in a state saved before events existed (they start afresh).
        var events: AnomalyEvents?
        /// Samples learnt, counted during the warm-up; nil in a state saved before it was counted (warm).
        var learnt: Int?
        /// The watched tag's recent course, for detectors with a failure threshold.
        var trend: TrendWindow?
        /// When the last remaining-life event was raised (ms).
        var lastLifeEvent: Int64?
        /// A `pca` detector's model of the machine's normal operation (trained; it does not learn live).
        var pca: PCADetector?
        /// The signals' shares at the open event's peak (`pca`).
        var explanation: [Double]?
        /// A `drift` detector's minute means and test.
        var drift: DriftDetector?
        /// The open event's peak as last told to the recorder.
        var toldPeak: Double?
        /// A `fleet_rul` detector's latest cycles on the machine (its model is the fleet's, in the plan).
        var course: FleetRULModel.Course?
        /// A `fleet_rul` detector's open cycles on the machine as saved (live, they are kept in the state's `cycles`).
        var openCycles: CycleMeans?

        /// A fresh state for `detector`: nil for `pca`, which runs only from a trained model.
        init?(_ detector: Detector) {
            switch detector.kind {
            case .drift:
                self.init(detector: .none, lastTime: .min, learnt: nil)
                drift = DriftDetector(residuals: detector.residuals)
                return
            case .fleet:
                self.init(detector: .none, lastTime: .min, learnt: nil)
                course = FleetRULModel.Course()
                return
            case .robust, .seasonal, .knn, .context, .ensemble, .pca: break
            }
            guard let family = detector.kind.univariate else { return nil }
            self.init(detector: AnyDetector(family), lastTime: .min, learnt: 0)
        }

        init(detector: AnyDetector, lastTime: Int64, learnt: Int?) {
            self.detector = detector
            self.lastTime = lastTime
            self.learnt = learnt
        }

        /// The family the state belongs to; nil for a state that holds none.
        var kind: Detector.Kind? { pca != nil ? .pca : drift != nil ? .drift : course != nil ? .fleet : detector.kind.map(Detector.Kind.init) }
    }

    /// An event opened or closed by a detector on a machine.
    public struct EventChange: Sendable {
        public var detector: Detector
        public var machine: AssetPath
        public var event: AnomalyEvents.Event
        /// False: the event opened; true: it closed.
        public var closed: Bool
        /// For a remaining-life event (the estimate fell below the horizon), the estimate in hours.
        public var life: TrendRUL.Estimate?
        /// For a `pca` detector, each signal's share of the score at the event's peak (the explanation), in the detector's order.
        public var contributions: [Double]? = nil
        /// The open event's peak rose (by ``DetectionEngine/peakStep`` or more) since it was last told: stored, not proposed again.
        public var updated = false
    }

    /// How far an open event's peak rises before the change is stored (the store keeps the peak while the event is open).
    static let peakStep = 0.05

    /// What the hot path reads of a detector, without its strings and lists (copying those per
    /// sample retained and released each).
    struct Watcher: Sendable {
        let index: Int
        let tenant: TenantID
        let scope: AssetSubtree?
        let gated: Bool
        let trended: Bool
        let threshold: Double
        let suppression: Int64
        let warmUp: Int
        /// For `pca`: which of its signals this watcher reads (0 scores), and how many it has.
        let signal: Int?
        let signalCount: Int
        /// A `drift` detector (told once a minute).
        let drift: Bool
        /// A `fleet_rul` detector's cycle and horizon.
        let life: Detector.Life?

        init(index: Int, _ instance: Instance, signal: Int? = nil) {
            self.signal = signal
            drift = instance.detector.kind == .drift
            life = instance.detector.life
            signalCount = instance.detector.signals.count
            let detector = instance.detector
            self.index = index
            tenant = detector.tenant
            scope = detector.scope.flatMap { try? AssetSubtree($0) }
            gated = detector.gate != nil
            trended = detector.failure != nil
            // A shadow records its scores and raises no event.
            threshold = instance.shadow ? .infinity : detector.threshold
            suppression = detector.suppression
            warmUp = detector.warmUp
        }
    }

    /// A detector on a machine: whether its gate is open there now, and a `pca` detector's latest signal values there.
    struct GateKey: Hashable {
        var tenant: TenantID
        var machine: AssetPath
        var detector: Int
    }

    /// A running detector by name, as the state file keeps it (series ids belong to one store).
    struct Key: Hashable, Codable {
        var tenant: String
        var machine: String
        var detector: String
        /// The registry's version; nil in a state saved before versions (taken up by any version of the same kind).
        var version: Int?
    }

    /// A running detector by the watched series and the detector's place in the configuration.
    struct Slot: Hashable {
        var series: Int64
        var detector: Int
    }

    /// The detectors running and what the hot path reads of them.
    struct Plan {
        var instances: [Instance] = []
        /// The detectors watching each tag (their place in `instances`), with their scope parsed.
        var byTag: [String: [Watcher]] = [:]
        /// The detectors whose gate reads each tag.
        var gatedBy: [String: [Int]] = [:]
        /// Each `fleet_rul` detector's trained model, by its place in `instances` (one for the whole fleet).
        var fleetModels: [Int: FleetRULModel] = [:]

        init() {}

        init(_ instances: [Instance]) {
            self.instances = instances
            let watchers = instances.indices.flatMap { index in
                let detector = instances[index].detector
                return detector.signals.isEmpty ? [(detector.tag, Watcher(index: index, instances[index]))]
                    : detector.signals.indices.map { (detector.signals[$0], Watcher(index: index, instances[index], signal: $0)) }
            }
            byTag = Dictionary(grouping: watchers, by: \.0).mapValues { $0.map(\.1) }
            gatedBy = Dictionary(grouping: instances.indices.filter { instances[$0].detector.gate != nil }, by: { instances[$0].detector.gate!.tag })
        }

        /// Where each running version sits.
        var indices: [InstanceID: Int] {
            Dictionary(instances.indices.map { (instances[$0].id, $0) }, uniquingKeysWith: { first, _ in first })
        }
    }

    struct State {
        var plan = Plan()
        var running: [Slot: Running] = [:]
        /// The name of each slot's machine, for the state file.
        var names: [Slot: Key] = [:]
        /// Restored detectors whose series has not been seen yet since the start.
        var waiting: [Key: Running] = [:]
        /// Gates open now (a gated detector learns nothing on a machine whose gate is not known open).
        var gates: [GateKey: Bool] = [:]
        /// Each `pca` detector's latest value (and time) of each signal on each machine.
        var readings: [GateKey: SignalReadings] = [:]
        /// Each `fleet_rul` detector's open cycles on each machine.
        var cycles: [GateKey: CycleMeans] = [:]
    }

    private let pipeline: IngestPipeline
    private let logger: Logger
    private let state = Mutex(State())
    /// Events as they opened and closed since the recorder last took them (the newest 10,000 kept
    /// while it falls behind), and the signal that some wait.
    private let pendingEvents = Mutex<(changes: [EventChange], dropped: Int)>(([], 0))
    public let eventsWaiting = Wakeup()
    static let pendingLimit = 10_000

    /// Attaches to `pipeline` with `detectors` running (each as an unversioned active detector); see ``configure(_:models:)``.
    public init(detectors: [Detector] = [], pipeline: IngestPipeline, logger: Logger) throws {
        self.pipeline = pipeline
        self.logger = logger
        try configure(detectors.map { Instance($0, version: 0) })
        pipeline.addObserver(self)
    }

    /// Runs `instances` from now on. Checks them first (one instance per detector version, tags
    /// valid, no output a detector watches or another writes): a configuration that cannot run
    /// changes nothing. A version already running keeps what it learnt; one that ran since the
    /// start takes up what it had learnt; a new one starts from its model's state on each machine
    /// (`models`), or afresh.
    public func configure(_ instances: [Instance], models: [InstanceID: Model] = [:]) throws {
        var ids = Set<InstanceID>()
        for instance in instances {
            guard ids.insert(instance.id).inserted else {
                throw ConfigurationError(description: "detector \"\(instance.detector.id)\": ids must be unique")
            }
            try instance.detector.validate()
        }
        let detectors = instances.map(\.detector)
        let watched = Set(detectors.flatMap { detector in
            ([detector.tag] + (detector.gate.map { [$0.tag] } ?? [])).map { "\(detector.tenant)/\($0)" }
        })
        var written = Set<String>()
        for detector in detectors {
            for output in [detector.output] + (detector.failure.map { [$0.output] } ?? []) {
                if watched.contains("\(detector.tenant)/\(output)") {
                    throw ConfigurationError(description: "detector \"\(detector.id)\": its output \"\(output)\" is a tag a detector watches")
                }
                guard written.insert("\(detector.tenant)/\(output)").inserted else {
                    throw ConfigurationError(description: "detector \"\(detector.id)\": another detector running writes its output \"\(output)\"")
                }
            }
        }
        let plan = Plan(instances)
        state.withLock { state in Self.move(&state, to: plan, models: models) }
    }

    /// The detectors running now.
    public var instances: [Instance] { state.withLock { $0.plan.instances } }

    /// The active detectors running now (shadows left out).
    public var detectors: [Detector] { instances.filter { !$0.shadow }.map(\.detector) }

    /// Carries what the versions still running learnt over to `plan`'s places, and lays out the
    /// models of the new ones to be taken up at their series' first sample.
    private static func move(_ state: inout State, to plan: Plan, models: [InstanceID: Model]) {
        var plan = plan
        let places = plan.indices
        let old = state.plan.instances
        let oldModels = Dictionary(state.plan.fleetModels.map { (old[$0.key].id, $0.value) }, uniquingKeysWith: { first, _ in first })
        for (index, instance) in plan.instances.enumerated() where instance.detector.kind == .fleet {
            plan.fleetModels[index] = models[instance.id]?.fleet ?? oldModels[instance.id]
        }
        var running: [Slot: Running] = [:]
        var names: [Slot: Key] = [:]
        for (slot, entry) in state.running {
            guard let key = state.names[slot] else { continue }
            guard let place = places[old[slot.detector].id] else {
                // Kept for the version's return (a rollback), until the next restart.
                state.waiting[key] = entry
                continue
            }
            var entry = entry
            if plan.instances[place].shadow != old[slot.detector].shadow {
                // Promoted from shadow (or back): its first score goes to the new output, and its events start under the new threshold.
                entry.lastScore = nil
                entry.events = nil
            }
            running[Slot(series: slot.series, detector: place)] = entry
            names[Slot(series: slot.series, detector: place)] = key
        }
        var gates: [GateKey: Bool] = [:]
        for (key, open) in state.gates {
            guard let place = places[old[key.detector].id] else { continue }
            gates[GateKey(tenant: key.tenant, machine: key.machine, detector: place)] = open
        }
        var readings: [GateKey: SignalReadings] = [:]
        for (key, values) in state.readings {
            guard let place = places[old[key.detector].id] else { continue }
            readings[GateKey(tenant: key.tenant, machine: key.machine, detector: place)] = values
        }
        var cycles: [GateKey: CycleMeans] = [:]
        for (key, values) in state.cycles {
            guard let place = places[old[key.detector].id] else { continue }
            cycles[GateKey(tenant: key.tenant, machine: key.machine, detector: place)] = values
        }
        for (id, model) in models where places[id] != nil && !old.contains(where: { $0.id == id }) {
            for (machine, entry) in model.machines {
                let key = Key(tenant: id.tenant.rawValue, machine: machine, detector: id.detector, version: id.version)
                if state.waiting[key] == nil { state.waiting[key] = entry }
            }
        }
        state.plan = plan
        state.running = running
        state.names = names
        state.gates = gates
        state.readings = readings
        state.cycles = cycles
    }

    /// Reads `{"detectors": [{"id", "kind", "tag", "output"?, "tenant"?, "scope"?}]}`.
    public static func detectors(fromJSON data: Data) throws -> [Detector] {
        struct File: Decodable { var detectors: [Detector] }
        do {
            return try JSONDecoder().decode(File.self, from: data).detectors
        } catch let DecodingError.dataCorrupted(context) {
            throw ConfigurationError(description: context.codingPath.isEmpty ? "not JSON: \(context.debugDescription)"
                                                                             : "\(Self.path(context.codingPath)): \(context.debugDescription)")
        } catch let DecodingError.keyNotFound(key, context) {
            throw ConfigurationError(description: "\(Self.path(context.codingPath)): \"\(key.stringValue)\" is missing")
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context) {
            throw ConfigurationError(description: "\(Self.path(context.codingPath)): \(context.debugDescription)")
        }
    }

    private static func path(_ codingPath: [any CodingKey]) -> String {
        codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined().trimmingCharacters(in: CharacterSet(charactersIn: "."))
    }

    public var isInterested: Bool { state.withLock { !$0.plan.instances.isEmpty } }

    /// The events waiting for the recorder, oldest first, and how many were dropped since the last
    /// take because it fell behind.
    public func takeEvents() -> (changes: [EventChange], dropped: Int) {
        pendingEvents.withLock { pending in
            defer { pending = ([], 0) }
            return pending
        }
    }

    /// The machines a detector has learnt on (since the start, or restored), by path.
    public func machines(watchedBy detector: String, tenant: TenantID) -> [String] {
        state.withLock { state in
            let running = Set(state.plan.instances.filter { $0.id.detector == detector && $0.id.tenant == tenant }.map(\.id.version))
            let belongs = { (key: Key) in key.detector == detector && key.tenant == tenant.rawValue && key.version.map(running.contains) != false }
            return Set(state.names.values.filter(belongs).map(\.machine) + state.waiting.keys.filter(belongs).map(\.machine)).sorted()
        }
    }

    /// Scores the samples of watched tags and submits the scores (after this machine's earlier samples only).
    public func accepted(_ samples: [AcceptedSample]) {
        var scores: [Point] = []
        var changes: [EventChange] = []
        var lives: [PendingLife] = []
        state.withLock { state in
            let plan = state.plan
            for accepted in samples {
                if !plan.gatedBy.isEmpty, let gated = plan.gatedBy[accepted.key.tag] { Self.openGates(gated, plan, accepted, in: &state) }
                guard let watching = plan.byTag[accepted.key.tag], let value = accepted.sample.value.numeric, accepted.sample.quality != .bad else { continue }
                let time = accepted.sample.time.millisecondsSinceEpoch
                for watcher in watching where watcher.tenant == accepted.key.tenant && watcher.scope?.contains(accepted.key.machine) != false {
                    if watcher.gated,
                       state.gates[GateKey(tenant: watcher.tenant, machine: accepted.key.machine, detector: watcher.index)] != true { continue }
                    if let life = watcher.life {
                        Self.fleet(value, at: time, watcher, life, accepted, plan, in: &state, pending: &lives)
                        continue
                    }
                    var row: [Double]? = nil
                    if let signal = watcher.signal {
                        // pca: every signal's sample is noted; the first signal's scores them all.
                        let key = GateKey(tenant: watcher.tenant, machine: accepted.key.machine, detector: watcher.index)
                        state.readings[key, default: SignalReadings(count: watcher.signalCount)].note(value, at: time, signal: signal)
                        guard signal == 0, let values = state.readings[key]?.row(at: time) else { continue }
                        row = values
                    }
                    let slot = Slot(series: accepted.seriesID, detector: watcher.index)
                    guard let entry = state.running.index(forKey: slot) ?? Self.start(slot, plan.instances[watcher.index], accepted.key.machine, in: &state)
                    else { continue }
                    // One in-place access per sample: reading a field through the dictionary's
                    // getter would copy the whole state (the detector's buffers retained and released).
                    Self.step(value, row: row, accepted, watcher, plan, into: &state.running.values[entry], scores: &scores, changes: &changes)
                }
            }
        }
        if !lives.isEmpty { estimate(lives, scores: &scores, changes: &changes) }
        if !changes.isEmpty {
            pendingEvents.withLock { pending in
                pending.changes += changes
                if pending.changes.count > Self.pendingLimit {
                    pending.dropped += pending.changes.count - Self.pendingLimit
                    pending.changes.removeFirst(pending.changes.count - Self.pendingLimit)
                }
            }
            eventsWaiting.signal()
        }
        guard !scores.isEmpty else { return }
        pipeline.submit(scores, source: .detector, force: true) { [logger] result in
            if case .failure(let error) = result { logger.warning("anomaly scores not stored", metadata: ["error": "\(error)"]) }
        }
    }

    /// Scores one sample (or, for `pca`, its reading of every signal) on one machine's detector in
    /// place, and collects the scores to write and the event changes it makes.
    private static func step(_ value: Double, row: [Double]?, _ accepted: AcceptedSample, _ watcher: Watcher, _ plan: Plan,
                             into running: inout Running, scores: inout [Point], changes: inout [EventChange]) {
        let time = accepted.sample.time.millisecondsSinceEpoch
        let learnt = if let row { Self.score(row, at: time, watcher, into: &running) }
            else if watcher.drift { Self.drift(value, at: time, watcher, into: &running) }
            else { Self.learn(value, at: time, watcher, into: &running) }
        guard let (score, written) = learnt else { return }
        let machine = accepted.key.machine
        // The detector's configuration (strings, lists) is read only on these rarer paths.
        if written {
            scores.append(Point(series: SeriesKey(tenant: watcher.tenant, machine: machine, tag: plan.instances[watcher.index].detector.output),
                                sample: Sample(time: accepted.sample.time, value: .double(score))))
        }
        if score >= watcher.threshold || running.events?.open != nil {
            let told = running.toldPeak
            if let change = running.events?.take(score, at: time) {
                changes += Self.changes(change, plan.instances[watcher.index].detector, machine, explanation: running.explanation)
                running.toldPeak = running.events?.open?.peak
            } else if let open = running.events?.open, open.peak >= (told ?? open.peak) + Self.peakStep {
                changes.append(EventChange(detector: plan.instances[watcher.index].detector, machine: machine, event: open, closed: false,
                                           contributions: running.explanation, updated: true))
                running.toldPeak = open.peak
            }
        }
        if watcher.trended, let failure = plan.instances[watcher.index].detector.failure,
           let (life, event) = Self.trend(value, at: time, watcher, failure, into: &running) {
            scores.append(Point(series: SeriesKey(tenant: watcher.tenant, machine: machine, tag: failure.output),
                                sample: Sample(time: accepted.sample.time, value: .double(life.remaining))))
            if event, watcher.threshold.isFinite {
                changes.append(Self.lifeEvent(life, plan.instances[watcher.index].detector, horizon: failure.horizon, machine, at: time))
            }
        }
    }

    /// Learns a sample and answers its score, and whether to write it: nil for a late or repeated
    /// sample (a detector sees its series in time order); 0 during the warm-up; not written for a 0 after a 0 (most
    /// scores are 0, a surprise scoring at its onset only: a 0 is written when the score returns to
    /// it, and the first time, so the output reads right at every time while costing a fraction of
    /// the watched samples).
    static func learn(_ value: Double, at time: Int64, _ watcher: Watcher, into running: inout Running) -> (Double, Bool)? {
        guard time > running.lastTime else { return nil }
        running.lastTime = time
        if running.events == nil { running.events = AnomalyEvents(threshold: watcher.threshold, suppression: watcher.suppression) }
        var score = running.detector.score(value, at: time)
        if let learnt = running.learnt, learnt < watcher.warmUp {
            running.learnt = learnt + 1
            score = 0
        }
        guard score > 0 || running.lastScore != 0 else { return (score, false) }
        running.lastScore = score
        return (score, true)
    }

    /// Notes a gate tag's sample: each detector gated by it learns on the machine while the value is one of its gate's.
    private static func openGates(_ gated: [Int], _ plan: Plan, _ accepted: AcceptedSample, in state: inout State) {
        let text = accepted.sample.value.text
        for index in gated where plan.instances[index].detector.tenant == accepted.key.tenant {
            let open = accepted.sample.quality != .bad && plan.instances[index].detector.gate!.values.contains(text)
            state.gates[GateKey(tenant: accepted.key.tenant, machine: accepted.key.machine, detector: index)] = open
        }
    }

    /// Adds a sample to the course of a detector with a failure threshold; at each new minute mean,
    /// answers the remaining-life estimate (hours) and whether it makes an event (below the
    /// horizon, not within the suppression time of the last one).
    static func trend(_ value: Double, at time: Int64, _ watcher: Watcher, _ failure: Detector.Failure,
                              into running: inout Running) -> (TrendRUL.Estimate, Bool)? {
        if running.trend == nil {
            running.trend = TrendWindow(step: Detector.Failure.step, capacity: Int(failure.window / Detector.Failure.step))
        }
        guard running.trend!.add(value, at: time),
              let life = running.trend!.estimate(threshold: failure.threshold, failsAbove: failure.above) else { return nil }
        let due = life.remaining * 3_600_000 < Double(failure.horizon)
            && time - (running.lastLifeEvent ?? .min / 2) > watcher.suppression
        if due { running.lastLifeEvent = time }
        return (life, due)
    }

    /// A closed cycle of a `fleet_rul` detector on a machine, to estimate once the engine's lock
    /// is released: an estimate searches the whole fleet's training cycles, and every machine's
    /// cycle may close in the same batch.
    struct PendingLife {
        let slot: Slot
        let instance: InstanceID
        let detector: Detector
        let model: FleetRULModel
        let course: FleetRULModel.Course
        let end: Int64
        let machine: AssetPath
        let shadow: Bool
    }

    /// Notes a sample of a `fleet_rul` detector's signal on its machine; each cycle it closes goes
    /// to the machine's course and, once the model has enough of it, to `pending` for an estimate.
    private static func fleet(_ value: Double, at time: Int64, _ watcher: Watcher, _ life: Detector.Life, _ accepted: AcceptedSample, _ plan: Plan,
                              in state: inout State, pending: inout [PendingLife]) {
        guard let signal = watcher.signal, let model = plan.fleetModels[watcher.index] else { return }
        let key = GateKey(tenant: watcher.tenant, machine: accepted.key.machine, detector: watcher.index)
        if state.cycles[key] == nil {
            // The machine's first sample since the start: the cycles open when the state was saved go on.
            let instance = plan.instances[watcher.index]
            let saved = Key(tenant: watcher.tenant.rawValue, machine: accepted.key.machine.description, detector: instance.id.detector,
                            version: instance.id.version)
            state.cycles[key] = state.waiting[saved]?.openCycles.flatMap { $0.length == life.cycle ? $0 : nil }
        }
        let rows = state.cycles[key, default: CycleMeans(signals: watcher.signalCount, length: life.cycle)].add(value, at: time, signal: signal)
        // Rows close only at the first signal's samples: its series holds the machine's state.
        guard !rows.isEmpty else { return }
        let slot = Slot(series: accepted.seriesID, detector: watcher.index)
        guard let entry = state.running.index(forKey: slot) ?? Self.start(slot, plan.instances[watcher.index], accepted.key.machine, in: &state)
        else { return }
        let instance = plan.instances[watcher.index]
        for row in rows {
            guard let course = Self.advance(row, window: model.features.window, into: &state.running.values[entry]),
                  course.cycles >= model.features.firstCycle else { continue }
            pending.append(PendingLife(slot: slot, instance: instance.id, detector: instance.detector, model: model, course: course, end: row.end,
                                       machine: accepted.key.machine, shadow: instance.shadow))
        }
    }

    /// Estimates the closed cycles outside the engine's lock and writes each estimate (hours, at
    /// the cycle's end); then, under the lock again, makes an event of each below its horizon
    /// unless the machine had one within the suppression time (or its version stopped meanwhile).
    private func estimate(_ pending: [PendingLife], scores: inout [Point], changes: inout [EventChange]) {
        var below: [(PendingLife, TrendRUL.Estimate)] = []
        for item in pending {
            guard let life = item.detector.life, let estimate = Self.estimate(item.model, item.course, life) else { continue }
            scores.append(Point(series: SeriesKey(tenant: item.detector.tenant, machine: item.machine, tag: item.detector.output),
                                sample: Sample(time: Timestamp(millisecondsSinceEpoch: item.end), value: .double(estimate.remaining))))
            if !item.shadow, estimate.remaining * 3_600_000 < Double(life.horizon) { below.append((item, estimate)) }
        }
        guard !below.isEmpty else { return }
        state.withLock { state in
            for (item, estimate) in below {
                guard let life = item.detector.life, let entry = state.running.index(forKey: item.slot),
                      state.plan.instances.indices.contains(item.slot.detector), state.plan.instances[item.slot.detector].id == item.instance,
                      Self.due(estimate, at: item.end, life, suppression: item.detector.suppression,
                               last: &state.running.values[entry].lastLifeEvent) else { continue }
                changes.append(Self.lifeEvent(estimate, item.detector, horizon: life.horizon, item.machine, at: item.end))
            }
        }
    }

    /// Adds a closed cycle to a `fleet_rul` detector's course on a machine and answers the course;
    /// nil for a cycle not after the last (or a state that holds no course).
    static func advance(_ row: CycleMeans.Row, window: Int, into running: inout Running) -> FleetRULModel.Course? {
        guard row.end > running.lastTime, running.course != nil else { return nil }
        running.lastTime = row.end
        running.course!.add(row.values, window: window)
        return running.course
    }

    /// The fleet model's estimate at the end of a course, in hours; nil before it has the cycles the model needs.
    static func estimate(_ model: FleetRULModel, _ course: FleetRULModel.Course, _ life: Detector.Life) -> TrendRUL.Estimate? {
        model.estimate(course).map { TrendRUL.Estimate(remaining: life.hours($0.cycles), low: life.hours($0.low), high: life.hours($0.high)) }
    }

    /// Whether an estimate below the horizon makes an event: not within the suppression time of
    /// the machine's last one (`last`, set when it does).
    static func due(_ estimate: TrendRUL.Estimate, at time: Int64, _ life: Detector.Life, suppression: Int64, last: inout Int64?) -> Bool {
        guard estimate.remaining * 3_600_000 < Double(life.horizon), time - (last ?? .min / 2) > suppression else { return false }
        last = time
        return true
    }

    /// A remaining-life event: scored by how far inside the horizon the estimate lies.
    static func lifeEvent(_ life: TrendRUL.Estimate, _ detector: Detector, horizon: Int64, _ machine: AssetPath,
                                  at time: Int64) -> EventChange {
        let score = min(1, max(0, 1 - life.remaining * 3_600_000 / Double(horizon)))
        return EventChange(detector: detector, machine: machine, event: .init(start: time, last: time, peak: score, peakTime: time),
                           closed: false, life: life)
    }

    static func changes(_ change: AnomalyEvents.Change, _ detector: Detector, _ machine: AssetPath, explanation: [Double]? = nil) -> [EventChange] {
        switch change {
        case .opened(let event): [EventChange(detector: detector, machine: machine, event: event, closed: false, contributions: explanation)]
        case .closed(let event): [EventChange(detector: detector, machine: machine, event: event, closed: true, contributions: explanation)]
        case .closedAndOpened(let closed, let opened):
            [EventChange(detector: detector, machine: machine, event: closed, closed: true, contributions: explanation),
             EventChange(detector: detector, machine: machine, event: opened, closed: false, contributions: explanation)]
        }
    }

    /// Adds a sample to a `drift` detector and answers its score (1 at the minute a lasting change
    /// is told, else 0), and whether to write it, as ``learn(_:at:_:into:)`` does.
    static func drift(_ value: Double, at time: Int64, _ watcher: Watcher, into running: inout Running) -> (Double, Bool)? {
        guard time > running.lastTime, running.drift != nil else { return nil }
        running.lastTime = time
        if running.events == nil { running.events = AnomalyEvents(threshold: watcher.threshold, suppression: watcher.suppression) }
        let score: Double = running.drift!.add(value, at: time) == nil ? 0 : 1
        guard score > 0 || running.lastScore != 0 else { return (score, false) }
        running.lastScore = score
        return (score, true)
    }

    /// Scores a `pca` reading (the signals' latest values) and answers its score, and whether to
    /// write it, as ``learn(_:at:_:into:)`` does; keeps the shares at the open event's peak.
    static func score(_ row: [Double], at time: Int64, _ watcher: Watcher, into running: inout Running) -> (Double, Bool)? {
        guard time > running.lastTime, let reading = running.pca?.score(row) else { return nil }
        running.lastTime = time
        if running.events == nil { running.events = AnomalyEvents(threshold: watcher.threshold, suppression: watcher.suppression) }
        // 0 within the model's 99th-percentile limits, 0.5 at twice them, towards 1 far beyond.
        let score = reading.ratio <= 1 ? 0 : (reading.ratio - 1) / reading.ratio
        let open = running.events?.open
        if score >= watcher.threshold, open == nil || score > open!.peak { running.explanation = reading.contributions }
        guard score > 0 || running.lastScore != 0 else { return (score, false) }
        running.lastScore = score
        return (score, true)
    }

    /// A detector's first sample of a series since the start: what it learnt before (saved, or
    /// its model's), or a fresh one.
    private static func start(_ slot: Slot, _ instance: Instance, _ machine: AssetPath, in state: inout State) -> Dictionary<Slot, Running>.Index? {
        let key = Key(tenant: instance.detector.tenant.rawValue, machine: machine.description, detector: instance.id.detector,
                      version: instance.id.version)
        var unversioned = key
        unversioned.version = nil
        let saved = state.waiting.removeValue(forKey: key)
            ?? state.waiting[unversioned].flatMap { $0.kind == instance.detector.kind ? state.waiting.removeValue(forKey: unversioned) : nil }
        // A pca detector scores only the machines its model learnt.
        guard let running = saved ?? Running(instance.detector) else { return nil }
        // A fleet_rul detector runs only with its fleet's model.
        if instance.detector.kind == .fleet, state.plan.fleetModels[slot.detector] == nil { return nil }
        state.names[slot] = key
        state.running[slot] = running
        return state.running.index(forKey: slot)!
    }

    // MARK: State

    /// Writes every detector's learnt state to `url` (JSON, replaced atomically).
    public func save(to url: URL) throws {
        let snapshot = state.withLock { state in
            state.running.compactMap { slot, running in
                state.names[slot].map { key in
                    var running = running
                    if running.course != nil, let machine = try? AssetPath(key.machine), let tenant = TenantID(key.tenant) {
                        running.openCycles = state.cycles[GateKey(tenant: tenant, machine: machine, detector: slot.detector)]
                    }
                    return StoredState(key: key, running: running)
                }
            } + state.waiting.map { StoredState(key: $0.key, running: $0.value) }
        }
        let encoder = JSONEncoder()
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try encoder.encode(snapshot).write(to: url, options: .atomic)
    }

    /// Restores the state `save(to:)` wrote, for the detectors still configured with the same kind
    /// (each takes it up at its series' first sample); a file that cannot be read is logged and the
    /// detectors start afresh.
    public func restore(from url: URL) {
        guard let data = try? Data(contentsOf: url) else { return }
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        guard let stored = try? decoder.decode([StoredState].self, from: data) else {
            logger.error("the detectors' saved state cannot be read; they start learning afresh", metadata: ["file": "\(url.path)"])
            return
        }
        // What versions no longer running learnt is left behind (a version taken up again starts from its model).
        let running = instances
        let kept = stored.filter { entry in
            running.contains { instance in
                instance.id.tenant.rawValue == entry.key.tenant && instance.id.detector == entry.key.detector
                    && (entry.key.version == nil || entry.key.version == instance.id.version) && instance.detector.kind == entry.running.kind
            }
        }
        state.withLock { state in
            for entry in kept { state.waiting[entry.key] = entry.running }
        }
        logger.info("detectors restored", metadata: ["detector.states": "\(kept.count)"])
    }

    struct StoredState: Codable {
        var key: Key
        var running: Running
    }
}

/// A `pca` detector's latest value of each signal on one machine, with its time: a reading is
/// scored when every signal has a value from the last ``DetectionEngine/Detector/signalStaleness``.
struct SignalReadings: Sendable {
    var values: [Double]
    var times: [Int64]

    init(count: Int) {
        values = Array(repeating: .nan, count: count)
        times = Array(repeating: .min, count: count)
    }

    mutating func note(_ value: Double, at time: Int64, signal: Int) {
        guard time >= times[signal] else { return }
        values[signal] = value
        times[signal] = time
    }

    /// The signals' values at `time`; nil while one has none recent enough.
    func row(at time: Int64) -> [Double]? {
        times.allSatisfy { $0 != .min && abs(time - $0) <= DetectionEngine.Detector.signalStaleness } ? values : nil
    }
}
