import ArgumentParser
import Foundation
import GembaIngest
import GembaServer
import GembaStorage
import Logging
import ServiceLifecycle

/// `--detectors`: anomaly detectors on the live ingest stream, each scoring one tag on every machine
/// that sends it and writing the score as a tag of its own (`vibration.anomaly`), which charts and
/// alarm rules read. Scores over a detector's threshold make events (stored, labelled by people,
/// and proposing work orders when the detector says so). What they learnt is saved in the data
/// directory every minute and at shutdown, and restored at start.
struct DetectionCapability: Capability {
    struct Options: ParsableArguments {
        @Option(help: ArgumentHelp(
            "Run the anomaly detectors of this JSON file: {\"detectors\": [{\"id\", \"kind\": robust|knn|context, \"tag\", \"output\"?, \"tenant\"?, \"scope\"?, \"threshold\"? (0.5), \"suppress\"? (30m), \"propose\"? (false)}]}. Env: GEMBA_DETECTORS."))
        var detectors: String?
    }

    let engine: DetectionEngine?
    let stateFile: URL
    /// Stores events and proposes work orders from them; nil without detectors or a store for events.
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

    init(_ detectors: [DetectionEngine.Detector], telemetry: TelemetryCapability, maintenance: MaintenanceCapability, logger: Logger) throws {
        stateFile = URL(fileURLWithPath: telemetry.dataDirectory).appendingPathComponent("detectors").appendingPathComponent("state.json")
        self.logger = logger
        guard !detectors.isEmpty else {
            engine = nil
            recorder = nil
            return
        }
        do {
            engine = try DetectionEngine(detectors: detectors, pipeline: telemetry.pipeline, logger: logger)
        } catch {
            throw ConfigurationError("detectors: \(error)")
        }
        engine?.restore(from: stateFile)
        if let engine, let events = telemetry.store as? any DetectorEventStore {
            recorder = DetectorEventRecorder(engine: engine, store: events, maintenance: maintenance.service, logger: logger)
        } else {
            recorder = nil
        }
        logger.info("anomaly detectors running", metadata: ["detectors": "\(detectors.map { "\($0.id) (\($0.kind.rawValue) on \($0.tag))" })"])
    }

    var services: [any Service] {
        guard let engine else { return [] }
        let saving = PeriodicService("detector state", every: .seconds(60), lastPass: true, logger: logger) { [stateFile] in
            try engine.save(to: stateFile)
        }
        return [saving] + (recorder.map { [$0] } ?? [])
    }

    func configure(_ server: inout ServerContext) { server.detection = engine }
}
