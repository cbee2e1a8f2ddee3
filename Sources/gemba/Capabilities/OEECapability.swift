import GembaAnalytics
import GembaIngest
import GembaServer
import Logging
import ServiceLifecycle

/// Machine states, stops, shift calendars, production orders and ISO 22400 KPIs from the stored
/// samples; late samples mark the summaries they touch, rebuilt every two seconds.
struct OEECapability: Capability {
    /// Nil when the store keeps no analytics (the OEE routes then answer 503).
    let engine: OEEEngine?
    let logger: Logger

    init(telemetry: TelemetryCapability, logger: Logger) async throws {
        engine = OEEEngine.attached(to: telemetry.pipeline, store: telemetry.store, logger: logger)
        try await engine?.start()
        self.logger = logger
    }

    var services: [any Service] {
        guard let engine else { return [] }
        return [PeriodicService("oee late data", every: .seconds(2), logger: logger, work: engine.applyLateData)]
    }

    var endpoints: [EndpointGroup] { [EndpointGroups.oee] }

    func configure(_ server: inout ServerContext) { server.oee = engine }
}

