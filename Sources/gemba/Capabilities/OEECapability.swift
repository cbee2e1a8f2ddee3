import GembaAnalytics
import GembaIngest
import GembaPostgres
import GembaServer
import Logging
import ServiceLifecycle

/// Machine states, stops, shift calendars, production orders and ISO 22400 KPIs from the stored
/// samples; late samples mark the summaries they touch, rebuilt every two seconds.
struct OEECapability: Capability {
    /// Nil when the store keeps no analytics (the OEE routes then answer 503).
    let engine: OEEEngine?
    /// On PostgreSQL, how this node's engine and the other nodes' tell each other what they changed.
    let feed: PostgresChangeFeed?
    let logger: Logger

    init(telemetry: TelemetryCapability, logger: Logger) async throws {
        engine = OEEEngine.attached(to: telemetry.pipeline, store: telemetry.store, logger: logger)
        try await engine?.start()
        if let engine, let store = telemetry.store as? PostgresStore {
            let feed = PostgresChangeFeed(store: store, logger: logger)
            engine.announceChanges { change in await feed.announce(ChangeFeedService.oeePrefix + change.encoded) }
            self.feed = feed
        } else {
            feed = nil
        }
        self.logger = logger
    }

    var services: [any Service] {
        guard let engine else { return [] }
        var services: [any Service] = [PeriodicService("oee late data", every: .seconds(2), logger: logger, work: engine.applyLateData)]
        if let feed { services.append(ChangeFeedService(feed: feed, oee: engine, logger: logger)) }
        return services
    }

    var endpoints: [EndpointGroup] { [EndpointGroups.oee] }

    func configure(_ server: inout ServerContext) { server.oee = engine }
}

/// Hands the other nodes' changes to this node's engines that cache what they change, until
/// graceful shutdown.
struct ChangeFeedService: Service {
    /// The first word of the OEE engine's payloads.
    static let oeePrefix = "oee "

    let feed: PostgresChangeFeed
    let oee: OEEEngine
    let logger: Logger

    func run() async throws {
        let (oee, logger) = (self.oee, self.logger)
        await cancelWhenGracefulShutdown {
            await feed.run(deliver: { payload in
                guard payload.hasPrefix(Self.oeePrefix), let change = OEEEngine.Change(encoded: String(payload.dropFirst(Self.oeePrefix.count))) else {
                    logger.warning("ignored a change another node announced in a form this node does not know")
                    return
                }
                oee.follow(change)
            }, resync: {
                do {
                    try await oee.resynchronise()
                } catch {
                    logger.warning("could not read where OEE summaries end after the change feed reconnected", metadata: ["error": "\(error)"])
                }
            })
        }
    }
}
