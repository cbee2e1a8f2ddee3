internal import Foundation
public import GembaCore
public import GembaMaintenance
public import GembaStorage
public import Logging
internal import GembaDetect
internal import GembaRules

/// The detector registry: every version of every tenant's detectors in the store (configuration,
/// training range, trained model, evaluations), and the engine running the active and shadow
/// versions. Steps are taken one at a time; a version whose model cannot be loaded is marked
/// failed and what ran before keeps running.
public actor DetectorRegistry {
    public let engine: DetectionEngine
    let versions: any DetectorVersionStore
    let telemetry: any TelemetryStore
    let logger: Logger

    /// Who made the versions seeded from `--detectors` (or the demo): a later change of the file makes a new version.
    public static let configurationAuthor = "configuration"
    /// The most samples of one series a training or evaluation replays.
    public static let maximumSamples = 2_000_000
    /// Samples a model needs on one machine beyond the warm-up.
    public static let minimumTrainingSamples = 100

    public init(engine: DetectionEngine, versions: any DetectorVersionStore, telemetry: any TelemetryStore, logger: Logger) {
        self.engine = engine
        self.versions = versions
        self.telemetry = telemetry
        self.logger = logger
    }

    // MARK: Start

    /// Makes each configured detector a version (the first of a new id, or a new active version
    /// when the file changed it since), then runs every active and shadow version. A kind that
    /// runs only once trained (`pca`, `fleet_rul`) becomes a draft to train and promote in the registry.
    public func start(seeding configured: [DetectionEngine.Detector], at time: Int64 = Timestamp.now().millisecondsSinceEpoch) async throws {
        let stored = try await all(tenant: nil, detector: nil)
        for detector in configured {
            let existing = stored.filter { $0.tenant == detector.tenant && $0.detector == detector.id }
            let seeded = existing.last { $0.createdBy == Self.configurationAuthor }
            if !existing.isEmpty, seeded.flatMap({ try? Self.detector($0) }) == detector { continue }
            let version = try await create(detector, note: "from the configuration", by: Self.configurationAuthor, at: time)
            guard !detector.kind.runsOnlyOnceTrained else {
                logger.warning("a detector from the configuration runs only once trained: train and promote its version in the registry",
                               metadata: ["detector": "\(detector.id)", "detector.version": "\(version.version)"])
                continue
            }
            let changed = try DetectorVersions.apply(.promote, to: version.version, in: existing + [version], at: time)
            try await save(changed, model: nil)
            logger.info("detector version from the configuration", metadata: ["detector": "\(detector.id)", "detector.version": "\(version.version)"])
        }
        try await runStored(at: time)
    }

    /// Configures the engine with the stored active and shadow versions; a model that cannot be
    /// loaded fails its version, and the version active before it runs instead.
    private func runStored(at time: Int64) async throws {
        var stored = try await all(tenant: nil, detector: nil)
        var models: [DetectionEngine.InstanceID: DetectionEngine.Model] = [:]
        for version in stored where version.isRunning {
            do {
                if let model = try await model(of: version) { models[Self.id(version)] = model }
            } catch {
                logger.error("a detector version's model cannot be loaded; the version before it runs",
                             metadata: ["detector": "\(version.detector)", "detector.version": "\(version.version)", "error": "\(error)"])
                let detectorVersions = stored.filter { $0.tenant == version.tenant && $0.detector == version.detector }
                var changed = try DetectorVersions.apply(.fail("\(error)"), to: version.version, in: detectorVersions, at: time)
                if version.status == .active, let rolled = try? DetectorVersions.rollback(Self.merged(changed, into: detectorVersions), at: time) {
                    changed = Self.merged(rolled, into: changed)
                }
                try await save(changed, model: nil)
                stored = Self.merged(changed, into: stored)
            }
        }
        try engine.configure(try stored.filter(\.isRunning).map(Self.instance), models: models)
    }

    // MARK: Steps

    /// The versions of a tenant's detector (all its detectors when nil), by detector and version.
    public func list(tenant: TenantID, detector: String?) async throws -> [DetectorVersion] {
        try await all(tenant: tenant, detector: detector)
    }

    /// A new draft version of `detector` (its tenant's), numbered after the last.
    @discardableResult
    public func create(_ detector: DetectionEngine.Detector, note: String?, by actor: String,
                       at time: Int64 = Timestamp.now().millisecondsSinceEpoch) async throws -> DetectorVersion {
        try detector.validate()
        let configuration = try Self.configuration(detector)
        let stored = try await versions.createDetectorVersion(tenant: detector.tenant, detector: detector.id) { number in
            try Self.stored(DetectorVersion(tenant: detector.tenant, detector: detector.id, version: number, configuration: configuration,
                                            note: note, createdBy: actor, createdAt: time))
        }
        return try Self.version(stored)
    }

    /// Trains a version on the history of `range`: replays it over every machine in the detector's
    /// scope that has the tag, and keeps what it learnt as the version's model. A `fleet_rul`
    /// version learns the runs to `failures` (on the machines it reads) instead.
    public func train(tenant: TenantID, detector: String, version number: Int, range: Range<Int64>, failures: [DetectorPerformance.Failure] = [],
                      by actor: String, at time: Int64 = Timestamp.now().millisecondsSinceEpoch) async throws -> DetectorVersion {
        let existing = try await all(tenant: tenant, detector: detector)
        let version = try Self.find(number, in: existing)
        let configured = try Self.detector(version)
        _ = try DetectorVersions.apply(.train(.init(from: range.lowerBound, to: range.upperBound, samples: 0, machines: 0, at: time, by: actor)),
                                       to: number, in: existing, at: time)
        if configured.kind == .fleet {
            let trained = try DetectionEngine.trainFleet(configured, over: try await histories(configured, range), failures: failures)
            let training = DetectorVersion.Training(from: range.lowerBound, to: range.upperBound, samples: trained.cycles, machines: trained.machines,
                                                    at: time, by: actor, runs: trained.runs, crossValidation: trained.crossValidation)
            let changed = try DetectorVersions.apply(.train(training), to: number, in: existing, at: time)
            try await save(changed, model: try trained.model.encoded())
            return changed[0]
        }
        let replay = DetectionEngine.replay(configured, over: try await histories(configured, range))
        try Self.check(replay, configured)
        let training = DetectorVersion.Training(from: range.lowerBound, to: range.upperBound, samples: replay.scored,
                                                machines: replay.model.machineNames.count, at: time, by: actor)
        let changed = try DetectorVersions.apply(.train(training), to: number, in: existing, at: time)
        try await save(changed, model: try replay.model.encoded())
        return changed[0]
    }

    /// Makes `model`, a fleet model trained elsewhere (`gemba detect train-rul --no-age --model`),
    /// a `fleet_rul` version's model, as training it would: the version's signals are the file's
    /// columns in order, and each of the model's cycles is one of the version's `life.cycle`.
    func load(_ model: FleetRULModel, tenant: TenantID, detector: String, version number: Int, by actor: String,
              at time: Int64 = Timestamp.now().millisecondsSinceEpoch) async throws -> DetectorVersion {
        let existing = try await all(tenant: tenant, detector: detector)
        let version = try Self.find(number, in: existing)
        let configured = try Self.detector(version)
        guard configured.kind == .fleet else {
            throw ModelError(.invalid, "only a fleet_rul version takes a fleet model; version \(number) is \(configured.kind.rawValue)")
        }
        do { try model.check() } catch { throw ModelError(.invalid, error.description) }
        guard !model.features.age else {
            throw ModelError(.invalid, "the model reads how many cycles each machine has run, which a machine watched live does not know: "
                             + "train it with gemba detect train-rul --no-age")
        }
        // `check` found the model's signals: column numbers from 0, at least one.
        let highest = model.signals.max() ?? 0
        guard highest < configured.signals.count else {
            throw ModelError(.invalid, "the model reads column \(highest + 1) of its training file; "
                             + "the version names \(configured.signals.count) signals (the file's columns, in order)")
        }
        let training = DetectorVersion.Training(from: time, to: time, samples: model.trainingCycles, machines: 0, at: time, by: actor,
                                                imported: true)
        let changed = try DetectorVersions.apply(.train(training), to: number, in: existing, at: time)
        try await save(changed, model: try DetectionEngine.Model(fleet: model).encoded())
        return changed[0]
    }

    /// Replays a version (from its model, or afresh) over `range` and judges its events by the
    /// labelled ranges and failures given; the evaluation is kept with the version.
    public func evaluate(tenant: TenantID, detector: String, version number: Int, range: Range<Int64>, horizon: Int64,
                         labels: [LabelledRange], failures: [DetectorPerformance.Failure], by actor: String,
                         at time: Int64 = Timestamp.now().millisecondsSinceEpoch) async throws -> DetectorVersion {
        let existing = try await all(tenant: tenant, detector: detector)
        let version = try Self.find(number, in: existing)
        let configured = try Self.detector(version)
        let replay = DetectionEngine.replay(configured, over: try await histories(configured, range), from: try await model(of: version))
        guard replay.scored > 0 else {
            throw ModelError(.invalid, "no numeric samples of \(configured.tag) in the range on the machines the detector watches")
        }
        let events = replay.events.map { found in
            DetectorPerformance.Event(machine: found.machine, start: found.event.start,
                                      label: LabelledRange.label(machine: found.machine, start: found.event.start, end: found.event.last, in: labels))
        }
        let figures = DetectorPerformance.compute(detector: detector, events: events, failures: failures, range: range, horizon: horizon,
                                                  period: range.upperBound - range.lowerBound).total
        let evaluation = DetectorVersion.Evaluation(from: range.lowerBound, to: range.upperBound, samples: replay.scored,
                                                    machines: replay.model.machineNames.count, horizon: horizon, figures: figures,
                                                    labelledRanges: labels.count,
                                                    inSample: version.training.map { $0.from < range.upperBound && range.lowerBound < $0.to } ?? false,
                                                    at: time, by: actor)
        let changed = try DetectorVersions.apply(.evaluate(evaluation), to: number, in: existing, at: time)
        try await save(changed, model: nil)
        return changed[0]
    }

    /// Shadows, promotes or retires a version; the engine runs the result at once. A model that
    /// cannot be loaded fails the version (stored) and changes nothing else.
    public func act(_ action: DetectorVersionAction, tenant: TenantID, detector: String, version number: Int,
                    at time: Int64 = Timestamp.now().millisecondsSinceEpoch) async throws -> DetectorVersion {
        let existing = try await all(tenant: tenant, detector: detector)
        return try await run(try DetectorVersions.apply(action, to: number, in: existing, at: time), existing, at: time)
    }

    /// Makes the version active before the current one active again.
    public func rollback(tenant: TenantID, detector: String, at time: Int64 = Timestamp.now().millisecondsSinceEpoch) async throws -> DetectorVersion {
        let existing = try await all(tenant: tenant, detector: detector)
        guard !existing.isEmpty else { throw ModelError(.notFound, "no detector \(detector)") }
        return try await run(try DetectorVersions.rollback(existing, at: time), existing, at: time)
    }

    /// Runs `changed` (the first the one acted on) in the engine, then stores it.
    private func run(_ changed: [DetectorVersion], _ existing: [DetectorVersion], at time: Int64) async throws -> DetectorVersion {
        let target = changed[0]
        var models: [DetectionEngine.InstanceID: DetectionEngine.Model] = [:]
        if target.isRunning {
            let kind = try Self.detector(target).kind
            if target.training == nil, kind.runsOnlyOnceTrained {
                let range = kind == .fleet ? "a range holding runs to failure" : "a range of normal operation"
                throw ModelError(.invalid, "a \(kind.rawValue) detector runs only once trained: train version \(target.version) on \(range) first")
            }
            do {
                if let model = try await model(of: target) { models[Self.id(target)] = model }
            } catch {
                let failed = try DetectorVersions.apply(.fail("\(error)"), to: target.version, in: existing, at: time)
                try await save(failed, model: nil)
                let running = existing.first { $0.status == target.status }.map { "; version \($0.version) keeps running" } ?? ""
                throw ModelError(.invalid, "version \(target.version)'s model cannot be loaded (\(error))\(running)")
            }
        }
        let before = engine.instances
        let others = before.filter { $0.id.tenant != target.tenant || $0.id.detector != target.detector }
        let mine = Self.merged(changed, into: existing).filter(\.isRunning)
        try engine.configure(others + (try mine.map(Self.instance)), models: models)
        do {
            try await save(changed, model: nil)
        } catch {
            try? engine.configure(before)
            throw error
        }
        return target
    }

    // MARK: Reading

    /// The series of the tenant's machines in the detector's scope.
    private func series(in detector: DetectionEngine.Detector) async throws -> [Series] {
        let scope = detector.scope.flatMap { try? AssetSubtree($0) }
        return try await telemetry.series(tenant: detector.tenant, machine: nil).filter { scope?.contains($0.key.machine) != false }
    }

    /// The machines in the detector's scope that have its tag.
    public func machines(watchedBy detector: DetectionEngine.Detector) async throws -> Set<String> {
        Set(try await series(in: detector).filter { $0.key.tag == detector.tag }.map(\.key.machine.description))
    }

    /// Every machine in the detector's scope with its tag, and the tag's (and the gate's) samples in `range`.
    private func histories(_ detector: DetectionEngine.Detector, _ range: Range<Int64>) async throws -> [DetectionEngine.History] {
        let series = try await series(in: detector)
        let gates = Dictionary(series.filter { $0.key.tag == detector.gate?.tag }.map { ($0.key.machine, $0.id) }, uniquingKeysWith: { a, _ in a })
        var histories: [DetectionEngine.History] = []
        let byMachineAndTag = Dictionary(series.map { ("\($0.key.machine)/\($0.key.tag)", $0.id) }, uniquingKeysWith: { a, _ in a })
        for watched in series where watched.key.tag == detector.tag {
            let samples = try await read(watched.id, range, tag: detector.tag, on: watched.key.machine)
            var gate: [Sample] = []
            if let gateSeries = gates[watched.key.machine] { gate = try await read(gateSeries, range, previous: true) }
            var others: [[Sample]] = []
            for signal in detector.signals.dropFirst() {
                guard let id = byMachineAndTag["\(watched.key.machine)/\(signal)"] else { break }
                others.append(try await read(id, range, tag: signal, on: watched.key.machine))
            }
            // A pca detector learns the machines that have all its signals.
            guard others.count == max(0, detector.signals.count - 1) else { continue }
            histories.append(.init(machine: watched.key.machine, samples: samples, gate: gate, others: others))
        }
        return histories
    }

    private func read(_ series: Int64, _ range: Range<Int64>, previous: Bool = false) async throws -> [Sample] {
        try await telemetry.samples([SampleRequest(series: series, from: Timestamp(millisecondsSinceEpoch: range.lowerBound),
                                                   to: Timestamp(millisecondsSinceEpoch: range.upperBound), limit: Self.maximumSamples,
                                                   withPrevious: previous)])[0]
    }

    /// A watched signal's samples, refusing a range too long to replay.
    private func read(_ series: Int64, _ range: Range<Int64>, tag: String, on machine: AssetPath) async throws -> [Sample] {
        let samples = try await read(series, range)
        guard samples.count < Self.maximumSamples else {
            throw ModelError(.invalid, "the range holds more than \(Self.maximumSamples) samples of \(tag) on \(machine): choose a shorter one")
        }
        return samples
    }

    /// Refuses a training that learnt too little: a clear error saying how much is needed.
    private static func check(_ replay: DetectionEngine.Replay, _ detector: DetectionEngine.Detector) throws {
        if replay.scored == 0, replay.notNumeric > 0 {
            throw ModelError(.invalid, "\(detector.tag) is not numeric: \(replay.notNumeric) samples in the range are not numbers")
        }
        if detector.kind == .pca {
            guard replay.model.machines.isEmpty else { return }
            let needed = max(minimumTrainingSamples, 10 * detector.signals.count)
            let why = replay.untrained.sorted { $0.key < $1.key }.first.map { " (\($0.key): \($0.value))" } ?? ""
            throw ModelError(.invalid, "too little history to train: \(detector.id) needs at least \(needed) readings of all of "
                             + "\(detector.signals.joined(separator: ", ")) on one machine, each within "
                             + "\(RuleText.duration(DetectionEngine.Detector.signalStaleness)) of \(detector.tag)'s samples"
                             + (detector.gate.map { " while \($0.tag) is \($0.values.joined(separator: " or "))" } ?? "")
                             + "; the range holds \(replay.mostOnOneMachine) at most\(why)")
        }
        let needed = detector.warmUp + minimumTrainingSamples
        guard replay.mostOnOneMachine >= needed else {
            throw ModelError(.invalid, "too little history to train: \(detector.id) needs at least \(needed) samples of \(detector.tag) on one "
                             + "machine (its warm-up of \(detector.warmUp) and \(minimumTrainingSamples) more)"
                             + (detector.gate.map { " while \($0.tag) is \($0.values.joined(separator: " or "))" } ?? "")
                             + "; the range holds \(replay.mostOnOneMachine) at most")
        }
    }

    private func model(of version: DetectorVersion) async throws -> DetectionEngine.Model? {
        guard version.training != nil,
              let data = try await versions.detectorModel(tenant: version.tenant, detector: version.detector, version: version.version) else { return nil }
        return try DetectionEngine.Model(decoding: data, for: try Self.detector(version).kind)
    }

    private func all(tenant: TenantID?, detector: String?) async throws -> [DetectorVersion] {
        try await versions.detectorVersions(tenant: tenant, detector: detector).map(Self.version)
    }

    private func save(_ changed: [DetectorVersion], model: Data?) async throws {
        try await versions.saveDetectorVersions(try changed.map(Self.stored), model: model)
    }

    // MARK: Conversions

    static func find(_ number: Int, in versions: [DetectorVersion]) throws -> DetectorVersion {
        guard let version = versions.first(where: { $0.version == number }) else { throw ModelError(.notFound, "no version \(number) of this detector") }
        return version
    }

    static func merged(_ changed: [DetectorVersion], into versions: [DetectorVersion]) -> [DetectorVersion] {
        versions.map { version in changed.first { $0.tenant == version.tenant && $0.detector == version.detector && $0.version == version.version } ?? version }
    }

    static func id(_ version: DetectorVersion) -> DetectionEngine.InstanceID {
        .init(tenant: version.tenant, detector: version.detector, version: version.version)
    }

    static func instance(_ version: DetectorVersion) throws -> DetectionEngine.Instance {
        DetectionEngine.Instance(try detector(version), version: version.version, shadow: version.status == .shadow)
    }

    /// The version's configuration as the engine takes it.
    static func detector(_ version: DetectorVersion) throws -> DetectionEngine.Detector {
        try JSONDecoder().decode(DetectionEngine.Detector.self, from: Data(version.configuration.utf8))
    }

    static func configuration(_ detector: DetectionEngine.Detector) throws -> String { try json(detector) }

    static func stored(_ version: DetectorVersion) throws -> StoredDetectorVersion {
        StoredDetectorVersion(tenant: version.tenant, detector: version.detector, version: version.version, status: version.status.rawValue,
                              document: try json(version))
    }

    /// JSON text with sorted keys (a document read back, or compared with the configuration file's).
    private static func json(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    static func version(_ stored: StoredDetectorVersion) throws -> DetectorVersion {
        try JSONDecoder().decode(DetectorVersion.self, from: Data(stored.document.utf8))
    }
}
