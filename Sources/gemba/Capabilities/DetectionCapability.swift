import ArgumentParser
import Foundation
import GembaIngest
import GembaServer
import GembaStorage
import Logging
import ServiceLifecycle

/// `--detectors`: anomaly detectors on the live ingest stream, each scoring one tag (or, `pca`, a
/// machine's signals together) on every machine that sends it and writing the score as a tag of its
/// own (`vibration.anomaly`), which charts and alarm rules read. Scores over a detector's threshold
/// make events (stored, labelled by people, and proposing work orders when the detector says so).
/// The detectors running are the registry's active and shadow versions, seeded from the file. What
/// they learnt is saved in the data directory every minute and at shutdown, and restored at start.
struct DetectionCapability: Capability {
    struct Options: ParsableArguments {
        @Option(help: ArgumentHelp(
            "Seed the detector registry with the detectors of this JSON file: {\"detectors\": [{\"id\", \"kind\": robust|seasonal|knn|context|ensemble|drift|pca|fleet_rul, \"tag\" (pca: \"signals\"), \"output\"?, \"tenant\"?, \"scope\"?, \"threshold\"? (0.5), \"suppress\"? (30m), \"propose\"? (false)}]}; a detector new to the registry, or changed in the file, becomes its active version. Env: GEMBA_DETECTORS."))
        var detectors: String?
    }

    /// Where the learnt state is kept, relative to the data directory.
    static let stateFilePath = "detectors/state.json"

    let engine: DetectionEngine?
    /// The detectors' versions; nil for a store that keeps none (the configured detectors then run as they are).
    let registry: DetectorRegistry?
    let stateFile: URL
    /// Stores events and proposes work orders from them; nil without a store for events.
    let recorder: DetectorEventRecorder?
    let logger: Logger

    /// The detectors of the file named; without one, the demo's (with `--demo`) or none.
    static func resolve(_ options: Options, _ settings: Settings, demo: Bool) throws -> [DetectionEngine.Detector] {
        guard let path = settings.string("detectors", flag: options.detectors) else { return demo ? DemoSetup.detectors : [] }
        guard let data = FileManager.default.contents(atPath: path.value) else { throw ConfigurationError("\(path.source): cannot read \(path.value)") }
        do {
            return try DetectionEngine.detectors(fromJSON: data)
        } catch {
            throw ConfigurationError("\(path.value): \(error)")
        }
    }

    /// Seeds the registry with the configured detectors (a new version where the file changed
    /// one) and runs every active and shadow version.
    init(_ detectors: [DetectionEngine.Detector], telemetry: TelemetryCapability, maintenance: MaintenanceCapability, logger: Logger) async throws {
        stateFile = URL(fileURLWithPath: telemetry.dataDirectory).appendingPathComponent(Self.stateFilePath)
        self.logger = logger
        // The registry holds the versions (seeded from `detectors`); the engine runs what it activates.
        let engine: DetectionEngine
        do {
            engine = try DetectionEngine(detectors: [], pipeline: telemetry.pipeline, logger: logger)
            let registry = DetectorRegistry(engine: engine, versions: telemetry.store, telemetry: telemetry.store, logger: logger)
            try await registry.start(seeding: detectors)
            self.registry = registry
        } catch let error as DetectionEngine.ConfigurationError {
            throw ConfigurationError("detectors: \(error)")
        }
        engine.restore(from: stateFile)
        self.engine = engine
        recorder = DetectorEventRecorder(engine: engine, store: telemetry.store, maintenance: maintenance.service, logger: logger)
        let running = engine.instances.map { "\($0.id.detector) v\($0.id.version)\($0.shadow ? " (shadow)" : "") (\($0.detector.kind.rawValue) on \($0.detector.tag))" }
        if !running.isEmpty { logger.info("anomaly detectors running", metadata: ["detectors": "\(running)"]) }
    }

    var services: [any Service] {
        guard let engine else { return [] }
        let saving = PeriodicService("detector state", every: .seconds(60), lastPass: true, logger: logger) { [stateFile] in
            try engine.save(to: stateFile)
        }
        return [saving] + (recorder.map { [$0] } ?? [])
    }

    func configure(_ server: inout ServerContext) {
        server.detection = engine
        server.detectorRegistry = registry
    }
}
