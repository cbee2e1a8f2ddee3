import GembaAnalytics
import GembaCore
import GembaIngest
import GembaRules
import GembaServer
import Logging
import ServiceLifecycle

/// Rules and alarms: every rule instance is evaluated on the live samples and on a clock (four
/// times a second: delays, missing data, shelves), its changes written with their journal lines;
/// rules reading shift KPIs get them from the OEE engine every 30 seconds.
struct AlarmCapability: Capability {
    /// Nil when the store keeps no alarms (the alarm routes then answer 503).
    let engine: AlarmEngine?
    let oee: OEEEngine?
    let logger: Logger

    init(telemetry: TelemetryCapability, oee: OEECapability, logger: Logger) async throws {
        engine = AlarmEngine.attached(to: telemetry.pipeline, store: telemetry.store, logger: logger)
        try await engine?.start(store: telemetry.store)
        self.oee = oee.engine
        self.logger = logger
    }

    var services: [any Service] {
        guard let engine else { return [] }
        var services: [any Service] = [
            PeriodicService("alarm clock", every: .milliseconds(250), lastPass: true, logger: logger) {
                engine.tick(now: Timestamp.now().millisecondsSinceEpoch)
                try await engine.flush()
            },
        ]
        if let oee {
            services.append(PeriodicService("alarm KPIs", every: .seconds(30), logger: logger) {
                try await Self.refreshKPIs(engine, oee)
            })
        }
        return services
    }

    var endpoints: [EndpointGroup] { [EndpointGroups.alarms] }

    func configure(_ server: inout ServerContext) { server.alarms = engine }

    /// Gives the rules that read shift KPIs each machine's current-shift figures.
    static func refreshKPIs(_ engine: AlarmEngine, _ oee: OEEEngine) async throws {
        for (tenant, machines) in Dictionary(grouping: engine.machinesReadingKPIs(), by: \.tenant) {
            for (_, machine) in machines {
                let kpis = try await oee.currentShift(tenant: tenant, machines: [machine]).report.total.kpis
                var values: [Operand.KPI: Double] = [:]
                values[.oee] = kpis.oee.value
                values[.availability] = kpis.availability.value
                values[.performance] = kpis.performance.value
                values[.quality] = kpis.quality.value
                engine.setKPIs(values, tenant: tenant, machine: machine)
            }
        }
    }
}
