import ArgumentParser
import Foundation
import GembaIngest
import GembaServer
import GembaStorage
import GembaCore
import GembaPostgres
import Logging
import Metrics
import ServiceLifecycle

/// Storage, the ingest pipeline and the live hub: what every other capability writes into or
/// reads from. Serves ingest (JSON batches, line protocol), the catalogue, latest values,
/// history, CSV export and the live stream.
struct TelemetryCapability: Capability {
    struct Options: ParsableArguments {
        @Option(help: "Directory for Gemba's data (created if missing; default ./gemba-data). Env: GEMBA_DATA_DIR.")
        var dataDir: String?

        @Option(help: "Where data is stored: sqlite (default, in the data directory) or postgres://user@host:port/db (PostgreSQL 15 or later; the password from PGPASSWORD or the URL). Env: GEMBA_STORAGE.")
        var storage: String?

        @Option(help: "Seconds to wait for the PostgreSQL database at start (default 60; meanwhile the HTTP port answers /health 200 and /ready 503). Env: GEMBA_STORAGE_TIMEOUT.")
        var storageTimeout: Int?

        @Option(help: "Commit durability: full (fsync every commit, survives power loss) or normal (survives a crash). Env: GEMBA_DURABILITY.")
        var durability: String?

        @Option(help: "Oldest sample accepted, in days before now (default 30). Env: GEMBA_INGEST_MAX_AGE_DAYS.")
        var ingestMaxAgeDays: Int?
    }

    let dataDirectory: String
    /// Every store a capability needs: SQLite's or PostgreSQL's.
    let store: any GembaStore
    /// The identity store beside it (SQLite: its own file; PostgreSQL: the same database).
    let identity: any IdentityStore
    /// The PostgreSQL store, when that is the backend (for what only it has: pool statistics).
    let postgres: PostgresStore?
    /// Whether this node runs the singleton jobs (always, with SQLite; with PostgreSQL, the node
    /// holding the leadership lock).
    let singleton: SingletonGate
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
        /// The PostgreSQL database, when `--storage` names one.
        var postgres: PostgresURL?
        /// How long to wait for it at start.
        var storageTimeout: Duration
        var validation: SampleValidation
    }

    static func resolve(_ options: Options, _ settings: Settings) throws -> Resolved {
        let maxAgeDays = try settings.int("ingest-max-age-days", flag: options.ingestMaxAgeDays, default: 30, range: 1...36_500)
        return Resolved(dataDirectory: settings.string("data-dir", flag: options.dataDir)?.value ?? "gemba-data",
                        durability: try durability(settings.string("durability", flag: options.durability)),
                        postgres: try storage(settings.string("storage", flag: options.storage)),
                        storageTimeout: .seconds(try settings.int("storage-timeout", flag: options.storageTimeout, default: 60, range: 1...3600)),
                        validation: SampleValidation(maxAge: Int64(maxAgeDays) * TenantLimits.day))
    }

    /// `sqlite` (nil) or a PostgreSQL URL.
    static func storage(_ raw: (value: String, source: String)?) throws -> PostgresURL? {
        guard let raw, raw.value != "sqlite" else { return nil }
        do {
            return try PostgresURL(raw.value)
        } catch {
            throw ConfigurationError("\(raw.source) must be sqlite or a postgres:// URL: \(error)")
        }
    }

    init(_ resolved: Resolved, logger: Logger) async throws {
        dataDirectory = resolved.dataDirectory
        validation = resolved.validation
        do {
            try FileManager.default.createDirectory(atPath: dataDirectory, withIntermediateDirectories: true)
        } catch {
            throw ConfigurationError("cannot create data directory \(dataDirectory): \(error.localizedDescription)")
        }
        (store, identity, postgres) = try await Self.openStores(resolved, logger: logger)
        singleton = SingletonGate(leadership: resolved.postgres.map { PostgresLeadership(url: $0, logger: logger) })
        pipeline = IngestPipeline(store: store, configuration: Self.pipelineConfiguration(postgres: postgres != nil), logger: logger)
        try await pipeline.loadCatalog()
        hub = LiveHub()
        pipeline.addObserver(hub)
        mqttIngest = MQTTIngest(pipeline: pipeline, decoder: JSONRecordDecoder(validation: validation), logger: logger)
        self.logger = logger
    }

    /// The pipeline's batching. A PostgreSQL commit costs a round trip and a transaction in the
    /// server, and a node about 1.4 ms of CPU, whatever its size. So while a stream flows a small
    /// batch is committed once it holds about 1,000 samples, at least 20 ms and at most 150 ms
    /// after the previous commit (``GatherPace``; ingest acknowledges that much later, live views
    /// and rules see samples at once): messages that arrive one by one from many devices, or split
    /// among nodes, share commits, and a node taking a third of a stream commits batches as large
    /// as one taking all of it.
    static func pipelineConfiguration(postgres: Bool) -> IngestPipeline.Configuration {
        var configuration = IngestPipeline.Configuration()
        if postgres {
            configuration.gatherSamples = 5_000
            configuration.gatherDelay = .milliseconds(20)
            configuration.gatherTarget = 1_000
            configuration.longestGatherDelay = .milliseconds(150)
        }
        return configuration
    }

    /// Opens the configured backend: SQLite in the data directory, or PostgreSQL (waiting for it
    /// up to a minute at start, migrated under an advisory lock).
    static func openStores(_ resolved: Resolved, logger: Logger) async throws
        -> (store: any GembaStore, identity: any IdentityStore, postgres: PostgresStore?) {
        if let url = resolved.postgres {
            do {
                let store = try await PostgresStore.open(url, logger: logger, startupTimeout: resolved.storageTimeout)
                return (store, PostgresIdentityStore(store), store)
            } catch {
                throw ConfigurationError("cannot open the PostgreSQL database \(url): \(error)")
            }
        }
        do {
            return (try SQLiteStore(directory: resolved.dataDirectory, durability: resolved.durability, logger: logger),
                    try SQLiteIdentityStore(directory: resolved.dataDirectory), nil)
        } catch {
            throw ConfigurationError("cannot open the database in \(resolved.dataDirectory): \(error)")
        }
    }

    /// Where the data is, for logs.
    var storageDescription: String { postgres.map { "\($0.url)" } ?? dataDirectory }

    var services: [any Service] {
        [
            pipeline,
            PeriodicService("retention", every: .seconds(600), logger: logger) { [singleton, store, logger] in
                guard singleton.mayRun else { return }
                try await Retention(store: store, logger: logger).enforce()
            },
            PeriodicService("storage maintenance", every: store.maintenanceInterval, logger: logger, work: store.maintain),
        ] + (postgres.map { [PeriodicService("PostgreSQL pool metrics", every: .seconds(5), logger: logger, work: PoolMetrics(store: $0).update)] } ?? [])
            + singleton.services
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

/// The PostgreSQL pool as metrics: its size, callers waiting for a connection, time spent
/// waiting, and callers that gave up at their deadline (ingest's back-pressure).
struct PoolMetrics: Sendable {
    let store: PostgresStore
    private let size = Gauge(label: "gemba_postgres_pool_size")
    private let waiting = Gauge(label: "gemba_postgres_pool_waiting")
    private let leases = Gauge(label: "gemba_postgres_pool_leases_total")
    private let waitSeconds = Gauge(label: "gemba_postgres_pool_wait_seconds_total")
    private let timeouts = Gauge(label: "gemba_postgres_pool_timeouts_total")

    init(store: PostgresStore) { self.store = store }

    @Sendable func update() async throws {
        let statistics = store.poolStatistics
        size.record(statistics.size)
        waiting.record(statistics.waiting)
        leases.record(statistics.leases)
        waitSeconds.record(statistics.waitSeconds)
        timeouts.record(statistics.timeouts)
    }
}

/// Whether this node runs the jobs only one node may run at a time (retention, maintenance plans
/// and escalation, scheduled backups). With SQLite there is one node; with PostgreSQL, the node
/// holding ``PostgresLeadership``'s lock, taken over by another within seconds of its death.
struct SingletonGate: Sendable {
    let leadership: PostgresLeadership?
    private let gauge = Gauge(label: "gemba_singleton_jobs_leader")

    init(leadership: PostgresLeadership?) { self.leadership = leadership }

    var mayRun: Bool { leadership?.isLeader ?? true }

    /// Calls `handler` each time this node takes or loses the lead (never with one node: it always leads).
    func whenLeadershipChanges(_ handler: @escaping @Sendable () -> Void) {
        leadership?.whenChanged(handler)
    }

    /// The leadership's loop, and the gauge saying whether this node leads.
    var services: [any Service] {
        guard let leadership else { return [] }
        return [LeadershipService(leadership: leadership),
                PeriodicService("singleton jobs gauge", every: .seconds(5), logger: Logger(label: "gemba")) { [gauge] in
                    gauge.record(leadership.isLeader ? 1 : 0)
                }]
    }
}

/// Runs the leadership loop until graceful shutdown.
struct LeadershipService: Service {
    let leadership: PostgresLeadership

    func run() async throws {
        await cancelWhenGracefulShutdown { await leadership.run() }
    }
}
