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
    }

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

        init(index: Int, _ detector: Detector) {
            self.index = index
            tenant = detector.tenant
            scope = detector.scope.flatMap { try? AssetSubtree($0) }
            gated = detector.gate != nil
            trended = detector.failure != nil
            threshold = detector.threshold
            suppression = detector.suppression
            warmUp = detector.warmUp
        }
    }

    /// Whether a gated detector may learn on a machine now, from the gate tag's last value there.
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
    }

    /// A running detector by the watched series and the detector's place in the configuration.
    struct Slot: Hashable {
        var series: Int64
        var detector: Int
    }

    struct State {
        var running: [Slot: Running] = [:]
        /// The name of each slot's machine, for the state file.
        var names: [Slot: Key] = [:]
        /// Restored detectors whose series has not been seen yet since the start.
        var waiting: [Key: Running] = [:]
        /// Gates open now (a gated detector learns nothing on a machine whose gate is not known open).
        var gates: [GateKey: Bool] = [:]
    }

    public let detectors: [Detector]
    /// The detectors watching each tag (their place in `detectors`), with their scope parsed.
    private let byTag: [String: [Watcher]]
    /// The detectors whose gate reads each tag.
    private let gatedBy: [String: [Int]]
    private let pipeline: IngestPipeline
    private let logger: Logger
    private let state = Mutex(State())
    /// Events as they opened and closed since the recorder last took them (the newest 10,000 kept
    /// while it falls behind), and the signal that some wait.
    private let pendingEvents = Mutex<(changes: [EventChange], dropped: Int)>(([], 0))
    public let eventsWaiting = Wakeup()
    static let pendingLimit = 10_000

    /// Checks `detectors` (ids unique, tags valid, an output unlike every watched tag) and attaches to `pipeline`.
    public init(detectors: [Detector], pipeline: IngestPipeline, logger: Logger) throws {
        var ids = Set<String>()
        for detector in detectors {
            guard ids.insert(detector.id).inserted else { throw ConfigurationError(description: "detector \"\(detector.id)\": ids must be unique") }
            try detector.validate()
        }
        let watched = Set(detectors.map(\.tag) + detectors.compactMap(\.gate?.tag))
        for detector in detectors {
            for output in [detector.output] + (detector.failure.map { [$0.output] } ?? []) where watched.contains(output) {
                throw ConfigurationError(description: "detector \"\(detector.id)\": its output \"\(output)\" is a tag a detector watches")
            }
        }
        self.detectors = detectors
        byTag = Dictionary(grouping: detectors.indices.map { Watcher(index: $0, detectors[$0]) }, by: { detectors[$0.index].tag })
        gatedBy = Dictionary(grouping: detectors.indices.filter { detectors[$0].gate != nil }, by: { detectors[$0].gate!.tag })
        self.pipeline = pipeline
        self.logger = logger
        pipeline.addObserver(self)
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

    public var isInterested: Bool { !detectors.isEmpty }

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
            Set(state.names.values.filter { $0.detector == detector && $0.tenant == tenant.rawValue }.map(\.machine)
                + state.waiting.keys.filter { $0.detector == detector && $0.tenant == tenant.rawValue }.map(\.machine)).sorted()
        }
    }

    /// Scores the samples of watched tags and submits the scores (after this machine's earlier samples only).
    public func accepted(_ samples: [AcceptedSample]) {
        var scores: [Point] = []
        var changes: [EventChange] = []
        state.withLock { state in
            for accepted in samples {
                if !gatedBy.isEmpty, let gated = gatedBy[accepted.key.tag] { openGates(gated, accepted, in: &state) }
                guard let watching = byTag[accepted.key.tag], let value = accepted.sample.value.numeric, accepted.sample.quality != .bad else { continue }
                let time = accepted.sample.time.millisecondsSinceEpoch
                for watcher in watching where watcher.tenant == accepted.key.tenant && watcher.scope?.contains(accepted.key.machine) != false {
                    if watcher.gated,
                       state.gates[GateKey(tenant: watcher.tenant, machine: accepted.key.machine, detector: watcher.index)] != true { continue }
                    let slot = Slot(series: accepted.seriesID, detector: watcher.index)
                    let entry = state.running.index(forKey: slot) ?? start(slot, detectors[watcher.index], accepted.key.machine, in: &state)
                    // Scored in place: the detector's buffers are not copied.
                    guard let (score, written) = Self.learn(value, at: time, watcher, into: &state.running.values[entry]) else { continue }
                    let machine = accepted.key.machine
                    // The detector's configuration (strings, lists) is read only on these rarer paths.
                    if written {
                        scores.append(Point(series: SeriesKey(tenant: watcher.tenant, machine: machine, tag: detectors[watcher.index].output),
                                            sample: Sample(time: accepted.sample.time, value: .double(score))))
                    }
                    if score >= watcher.threshold || state.running.values[entry].events?.open != nil,
                       let change = state.running.values[entry].events?.take(score, at: time) {
                        changes += Self.changes(change, detectors[watcher.index], machine)
                    }
                    if watcher.trended, let failure = detectors[watcher.index].failure,
                       let (life, event) = Self.trend(value, at: time, watcher, failure, into: &state.running.values[entry]) {
                        scores.append(Point(series: SeriesKey(tenant: watcher.tenant, machine: machine, tag: failure.output),
                                            sample: Sample(time: accepted.sample.time, value: .double(life.remaining))))
                        if event { changes.append(Self.lifeEvent(life, detectors[watcher.index], failure, machine, at: time)) }
                    }
                }
            }
        }
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

    /// Learns a sample and answers its score, and whether to write it: nil for a late or repeated
    /// sample (a detector sees its series in time order); 0 during the warm-up; not written for a 0 after a 0 (most
    /// scores are 0, a surprise scoring at its onset only: a 0 is written when the score returns to
    /// it, and the first time, so the output reads right at every time while costing a fraction of
    /// the watched samples).
    private static func learn(_ value: Double, at time: Int64, _ watcher: Watcher, into running: inout Running) -> (Double, Bool)? {
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
    private func openGates(_ gated: [Int], _ accepted: AcceptedSample, in state: inout State) {
        let text = accepted.sample.value.text
        for index in gated where detectors[index].tenant == accepted.key.tenant {
            let open = accepted.sample.quality != .bad && detectors[index].gate!.values.contains(text)
            state.gates[GateKey(tenant: accepted.key.tenant, machine: accepted.key.machine, detector: index)] = open
        }
    }

    /// Adds a sample to the course of a detector with a failure threshold; at each new minute mean,
    /// answers the remaining-life estimate (hours) and whether it makes an event (below the
    /// horizon, not within the suppression time of the last one).
    private static func trend(_ value: Double, at time: Int64, _ watcher: Watcher, _ failure: Detector.Failure,
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

    /// A remaining-life event: scored by how far inside the horizon the estimate lies.
    private static func lifeEvent(_ life: TrendRUL.Estimate, _ detector: Detector, _ failure: Detector.Failure, _ machine: AssetPath,
                                  at time: Int64) -> EventChange {
        let score = min(1, max(0, 1 - life.remaining * 3_600_000 / Double(failure.horizon)))
        return EventChange(detector: detector, machine: machine, event: .init(start: time, last: time, peak: score, peakTime: time),
                           closed: false, life: life)
    }

    private static func changes(_ change: AnomalyEvents.Change, _ detector: Detector, _ machine: AssetPath) -> [EventChange] {
        switch change {
        case .opened(let event): [EventChange(detector: detector, machine: machine, event: event, closed: false, life: nil)]
        case .closed(let event): [EventChange(detector: detector, machine: machine, event: event, closed: true, life: nil)]
        case .closedAndOpened(let closed, let opened):
            [EventChange(detector: detector, machine: machine, event: closed, closed: true, life: nil),
             EventChange(detector: detector, machine: machine, event: opened, closed: false, life: nil)]
        }
    }

    /// A detector's first sample of a series since the start: what it learnt before, when restored, or a fresh one.
    private func start(_ slot: Slot, _ detector: Detector, _ machine: AssetPath, in state: inout State) -> Dictionary<Slot, Running>.Index {
        let key = Key(tenant: detector.tenant.rawValue, machine: machine.description, detector: detector.id)
        state.names[slot] = key
        state.running[slot] = state.waiting.removeValue(forKey: key) ?? Running(detector: AnyDetector(detector.kind), lastTime: .min, learnt: 0)
        return state.running.index(forKey: slot)!
    }

    // MARK: State

    /// Writes every detector's learnt state to `url` (JSON, replaced atomically).
    public func save(to url: URL) throws {
        let snapshot = state.withLock { state in
            state.running.compactMap { slot, running in state.names[slot].map { StoredState(key: $0, running: running) } }
                + state.waiting.map { StoredState(key: $0.key, running: $0.value) }
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
        let kinds = Dictionary(uniqueKeysWithValues: detectors.map { ($0.id, $0.kind) })
        let kept = stored.filter { kinds[$0.key.detector] == $0.running.detector.kind }
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
