import GembaAnalytics
import GembaIngest
import GembaPostgres
import GembaRules
import GembaServer
import Logging
import ServiceLifecycle

/// Several nodes on one PostgreSQL database: what one node changes that the others keep in
/// memory (the OEE engine's caches; machines retired, moved or deleted, which the ingest registry
/// and the alarm engine hold; rules and alarms, and operator actions for the node evaluating
/// alarms, through ``AlarmCluster``) reaches the others through PostgreSQL `LISTEN`/`NOTIFY`
/// (`PostgresChangeFeed`). On SQLite there is one node, and nothing to do.
struct ClusterCapability: Capability {
    /// The first word of each kind of payload on the feed.
    static let oeePrefix = "oee ", assetPrefix = "asset "

    let feed: PostgresChangeFeed?
    let pipeline: IngestPipeline
    let oee: OEEEngine?
    let alarms: AlarmEngine?
    let alarmCluster: AlarmCluster?
    let logger: Logger

    init(telemetry: TelemetryCapability, oee: OEECapability, alarms: AlarmCapability, logger: Logger) {
        pipeline = telemetry.pipeline
        self.oee = oee.engine
        self.alarms = alarms.engine
        self.logger = logger
        guard let store = telemetry.store as? PostgresStore else {
            feed = nil
            alarmCluster = nil
            return
        }
        let feed = PostgresChangeFeed(store: store, logger: logger)
        oee.engine?.announceChanges { change in await feed.announce(Self.oeePrefix + change.encoded) }
        alarmCluster = alarms.engine.map { AlarmCluster(engine: $0, announce: { await feed.announce($0) }, logger: logger) }
        self.feed = feed
    }

    var services: [any Service] {
        guard let feed else { return [] }
        return [ChangeFeedService(feed: feed, deliver: deliver, resync: { [oee, alarmCluster, logger] in
            alarmCluster?.resynchronise()
            do {
                try await oee?.resynchronise()
            } catch {
                logger.warning("could not read where OEE summaries end after the change feed reconnected", metadata: ["error": "\(error)"])
            }
        })]
    }

    func configure(_ server: inout ServerContext) {
        guard let feed else { return }
        server.announceAssetChange = { change in await feed.announce(Self.assetPrefix + change.encoded) }
    }

    /// Hands one payload another node announced to what it concerns.
    private var deliver: @Sendable (String) -> Void {
        { [pipeline, oee, alarms, alarmCluster, logger] payload in
            if alarmCluster?.deliver(payload) == true {
                return
            } else if payload.hasPrefix(Self.oeePrefix), let change = OEEEngine.Change(encoded: String(payload.dropFirst(Self.oeePrefix.count))) {
                oee?.follow(change)
            } else if payload.hasPrefix(Self.assetPrefix), let change = AssetChange(encoded: String(payload.dropFirst(Self.assetPrefix.count))) {
                change.apply(to: pipeline, alarms: alarms, oee: oee)
            } else {
                logger.warning("ignored a change another node announced in a form this node does not know")
            }
        }
    }
}

/// Listens to the other nodes' changes until graceful shutdown.
struct ChangeFeedService: Service {
    let feed: PostgresChangeFeed
    let deliver: @Sendable (String) -> Void
    let resync: @Sendable () async -> Void

    func run() async throws {
        await cancelWhenGracefulShutdown { [feed, deliver, resync] in await feed.run(deliver: deliver, resync: resync) }
    }
}
