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
    /// One configured detector.
    public struct Detector: Sendable, Hashable, Codable {
        public var id: String
        public var kind: DetectorKind
        /// The tag it watches.
        public var tag: String
        /// The tag its scores are written to (`<tag>.anomaly` unless named).
        public var output: String
        public var tenant: TenantID
        /// Only machines within this subtree (a site, area or line path); every machine when nil.
        public var scope: String?
        /// A score at or above it opens an event (0–1, default 0.5).
        public var threshold: Double
        /// How long an event stays open after its last score over the threshold, taking in later
        /// ones (ms, default 30 minutes): one burst, one event.
        public var suppression: Int64
        /// Whether each event proposes a predictive work order (a maintenance lead decides).
        public var propose: Bool
        /// Samples a detector learns on each machine before it scores (0 until then; default 100).
        public var warmUp: Int

        enum CodingKeys: String, CodingKey { case id, kind, tag, output, tenant, scope, threshold, suppress, propose, warmUp = "warmup" }

        public init(id: String, kind: DetectorKind, tag: String, output: String? = nil, tenant: TenantID = .default, scope: String? = nil,
                    threshold: Double = 0.5, suppression: Int64 = 1_800_000, propose: Bool = false, warmUp: Int = 100) {
            self.id = id
            self.kind = kind
            self.tag = tag
            self.output = output ?? tag + ".anomaly"
            self.tenant = tenant
            self.scope = scope
            self.threshold = threshold
            self.suppression = suppression
            self.propose = propose
            self.warmUp = warmUp
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            let tag = try container.decode(String.self, forKey: .tag)
            let tenant = try container.decodeIfPresent(String.self, forKey: .tenant)
            guard let tenantID = tenant.map({ TenantID($0) }) ?? .default else {
                throw DecodingError.dataCorruptedError(forKey: .tenant, in: container, debugDescription: "not a tenant id")
            }
            let suppress = try container.decodeIfPresent(String.self, forKey: .suppress)
            guard let suppression = suppress.map(RuleText.parseDuration) ?? 1_800_000, suppression >= 0 else {
                throw DecodingError.dataCorruptedError(forKey: .suppress, in: container, debugDescription: "not a duration such as 30m or 2h")
            }
            self.init(id: try container.decode(String.self, forKey: .id), kind: try container.decode(DetectorKind.self, forKey: .kind), tag: tag,
                      output: try container.decodeIfPresent(String.self, forKey: .output), tenant: tenantID,
                      scope: try container.decodeIfPresent(String.self, forKey: .scope),
                      threshold: try container.decodeIfPresent(Double.self, forKey: .threshold) ?? 0.5, suppression: suppression,
                      propose: try container.decodeIfPresent(Bool.self, forKey: .propose) ?? false,
                      warmUp: try container.decodeIfPresent(Int.self, forKey: .warmUp) ?? 100)
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(id, forKey: .id)
            try container.encode(kind, forKey: .kind)
            try container.encode(tag, forKey: .tag)
            try container.encode(output, forKey: .output)
            try container.encode(tenant.rawValue, forKey: .tenant)
            try container.encodeIfPresent(scope, forKey: .scope)
            try container.encode(threshold, forKey: .threshold)
            try container.encode(RuleText.duration(suppression), forKey: .suppress)
            try container.encode(propose, forKey: .propose)
            try container.encode(warmUp, forKey: .warmUp)
        }
    }

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
    }

    /// An event opened or closed by a detector on a machine.
    public struct EventChange: Sendable {
        public var detector: Detector
        public var machine: AssetPath
        public var event: AnomalyEvents.Event
        /// False: the event opened; true: it closed.
        public var closed: Bool
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
    }

    public let detectors: [Detector]
    /// The detectors watching each tag (their place in `detectors`), with their scope parsed.
    private let byTag: [String: [(index: Int, detector: Detector, scope: AssetSubtree?)]]
    private let pipeline: IngestPipeline
    private let logger: Logger
    private let state = Mutex(State())
    /// Events as they open and close, for the recorder (the newest 10,000 kept while it falls behind).
    public let events: AsyncStream<EventChange>
    private let eventSink: AsyncStream<EventChange>.Continuation

    /// Checks `detectors` (ids unique, tags valid, an output unlike every watched tag) and attaches to `pipeline`.
    public init(detectors: [Detector], pipeline: IngestPipeline, logger: Logger) throws {
        var ids = Set<String>()
        for detector in detectors {
            guard !detector.id.isEmpty, ids.insert(detector.id).inserted else {
                throw ConfigurationError(description: "detector \"\(detector.id)\": ids must be unique and not empty")
            }
            for (field, tag) in [("tag", detector.tag), ("output", detector.output)] where (try? Tag.validate(name: tag)) == nil {
                throw ConfigurationError(description: "detector \"\(detector.id)\": \(field) \"\(tag)\" is not a tag name (1-64 of A-Z a-z 0-9 - _ .)")
            }
            if let scope = detector.scope, (try? AssetSubtree(scope)) == nil {
                throw ConfigurationError(description: "detector \"\(detector.id)\": scope \"\(scope)\" is not an asset path")
            }
            guard (0...100_000).contains(detector.warmUp) else {
                throw ConfigurationError(description: "detector \"\(detector.id)\": warmup must be 0 to 100000 samples, not \(detector.warmUp)")
            }
            guard detector.threshold > 0, detector.threshold <= 1 else {
                throw ConfigurationError(description: "detector \"\(detector.id)\": threshold must lie above 0 and at most 1, not \(detector.threshold)")
            }
        }
        let watched = Set(detectors.map(\.tag))
        if let looping = detectors.first(where: { watched.contains($0.output) }) {
            throw ConfigurationError(description: "detector \"\(looping.id)\": its output \"\(looping.output)\" is a tag a detector watches")
        }
        self.detectors = detectors
        byTag = Dictionary(grouping: detectors.enumerated().map { ($0.offset, $0.element, $0.element.scope.flatMap { try? AssetSubtree($0) }) },
                           by: \.1.tag)
        self.pipeline = pipeline
        self.logger = logger
        (events, eventSink) = AsyncStream.makeStream(of: EventChange.self, bufferingPolicy: .bufferingNewest(10_000))
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
                guard let watching = byTag[accepted.key.tag], let value = accepted.sample.value.numeric, accepted.sample.quality != .bad else { continue }
                let time = accepted.sample.time.millisecondsSinceEpoch
                for (index, detector, scope) in watching where detector.tenant == accepted.key.tenant && scope?.contains(accepted.key.machine) != false {
                    let slot = Slot(series: accepted.seriesID, detector: index)
                    let entry = state.running.index(forKey: slot) ?? start(slot, detector, accepted.key.machine, in: &state)
                    // Scored in place: the detector's buffers are not copied.
                    guard let (score, written) = Self.learn(value, at: time, detector, into: &state.running.values[entry]) else { continue }
                    if written {
                        scores.append(Point(series: SeriesKey(tenant: detector.tenant, machine: accepted.key.machine, tag: detector.output),
                                            sample: Sample(time: accepted.sample.time, value: .double(score))))
                    }
                    if score >= detector.threshold || state.running.values[entry].events?.open != nil,
                       let change = state.running.values[entry].events?.take(score, at: time) {
                        changes += Self.changes(change, detector, accepted.key.machine)
                    }
                }
            }
        }
        for change in changes { eventSink.yield(change) }
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
    private static func learn(_ value: Double, at time: Int64, _ detector: Detector, into running: inout Running) -> (Double, Bool)? {
        guard time > running.lastTime else { return nil }
        running.lastTime = time
        if running.events == nil { running.events = AnomalyEvents(threshold: detector.threshold, suppression: detector.suppression) }
        var score = running.detector.score(value, at: time)
        if let learnt = running.learnt, learnt < detector.warmUp {
            running.learnt = learnt + 1
            score = 0
        }
        guard score > 0 || running.lastScore != 0 else { return (score, false) }
        running.lastScore = score
        return (score, true)
    }

    private static func changes(_ change: AnomalyEvents.Change, _ detector: Detector, _ machine: AssetPath) -> [EventChange] {
        switch change {
        case .opened(let event): [EventChange(detector: detector, machine: machine, event: event, closed: false)]
        case .closed(let event): [EventChange(detector: detector, machine: machine, event: event, closed: true)]
        case .closedAndOpened(let closed, let opened):
            [EventChange(detector: detector, machine: machine, event: closed, closed: true),
             EventChange(detector: detector, machine: machine, event: opened, closed: false)]
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
