import ArgumentParser
import Foundation
import GembaIngest
import GembaServer
import GembaStorage
import GembaCore
import Logging
import ServiceLifecycle

/// Storage, the ingest pipeline and the live hub: what every other capability writes into or
/// reads from. Serves ingest (JSON batches, line protocol), the catalogue, latest values,
/// history, CSV export and the live stream.
struct TelemetryCapability: Capability {
    struct Options: ParsableArguments {
        @Option(help: "Directory for Gemba's data (created if missing; default ./gemba-data). Env: GEMBA_DATA_DIR.")
        var dataDir: String?

        @Option(help: "Commit durability: full (fsync every commit, survives power loss) or normal (survives a crash). Env: GEMBA_DURABILITY.")
        var durability: String?

        @Option(help: "Oldest sample accepted, in days before now (default 30). Env: GEMBA_INGEST_MAX_AGE_DAYS.")
        var ingestMaxAgeDays: Int?
    }

    let dataDirectory: String
    let store: SQLiteStore
    let pipeline: IngestPipeline
    let hub: LiveHub
    /// The checks every sample passes, whatever its source.
    let validation: SampleValidation
    /// MQTT JSON topics into the pipeline (the embedded broker's and an upstream broker's).
    let mqttIngest: MQTTIngest
    let logger: Logger

    /// The validated settings.
    struct Resolved {
        var dataDirectory: String
        var durability: SQLiteStore.Durability
        var validation: SampleValidation
    }

    static func resolve(_ options: Options, _ settings: Settings) throws -> Resolved {
        let maxAgeDays = try settings.int("ingest-max-age-days", flag: options.ingestMaxAgeDays, default: 30, range: 1...36_500)
        return Resolved(dataDirectory: settings.string("data-dir", flag: options.dataDir)?.value ?? "gemba-data",
                        durability: try durability(settings.string("durability", flag: options.durability)),
                        validation: SampleValidation(maxAge: Int64(maxAgeDays) * TenantLimits.day))
    }

    init(_ resolved: Resolved, logger: Logger) async throws {
        dataDirectory = resolved.dataDirectory
        let durability = resolved.durability
        validation = resolved.validation
        do {
            try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
        } catch {
            throw ConfigurationError("cannot create data directory \(dataDirectory): \(error.localizedDescription)")
        }
        do {
            store = try SQLiteStore(directory: dataDirectory, durability: durability, logger: logger)
        } catch {
            throw ConfigurationError("cannot open the database in \(dataDirectory): \(error)")
        }
        pipeline = IngestPipeline(store: store, logger: logger)
        try await pipeline.loadCatalog()
        hub = LiveHub()
        pipeline.addObserver(hub)
        mqttIngest = MQTTIngest(pipeline: pipeline, decoder: JSONRecordDecoder(validation: validation), logger: logger)
        self.logger = logger
    }

    var services: [any Service] {
        [
            pipeline,
            PeriodicService("retention", every: .seconds(600), logger: logger, work: Retention(store: store, logger: logger).enforce),
            PeriodicService("storage maintenance", every: .milliseconds(500), logger: logger, work: store.maintain),
        ]
    }

    var endpoints: [EndpointGroup] { [EndpointGroups.telemetry, EndpointGroups.assets] }

    static func durability(_ raw: (value: String, source: String)?) throws -> SQLiteStore.Durability {
        guard let raw else { return .full }
        guard let value = SQLiteStore.Durability(rawValue: raw.value) else {
            throw ConfigurationError("\(raw.source) must be full or normal, got '\(raw.value)'")
        }
        return value
    }
}
