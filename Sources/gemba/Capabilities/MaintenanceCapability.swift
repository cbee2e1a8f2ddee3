import GembaMaintenance
import GembaServer
import GembaStorage
import Logging

/// Maintenance work decided by people: work orders (proposed, decided, scheduled, done), their
/// decision log, and the planned windows they give the machines' OEE (a change to a window makes
/// the OEE engine rebuild the summaries over it).
struct MaintenanceCapability: Capability {
    /// Nil when the store keeps no maintenance data (the routes then answer 503).
    let service: MaintenanceService?

    init(telemetry: TelemetryCapability, oee: OEECapability) {
        guard let store = telemetry.store as? any MaintenanceStore else {
            service = nil
            return
        }
        service = MaintenanceService(store: store, windowChanged: { [engine = oee.engine] tenant, machine, range in
            try await engine?.invalidate(tenant: tenant, machine: machine, range: range)
        }, predictionJudged: { [events = store as? any DetectorEventStore] tenant, order, actor in
            guard let events else { return }
            try await DetectorEventRecorder.label(from: order, by: actor, tenant: tenant, in: events)
        })
    }

    var endpoints: [EndpointGroup] { [EndpointGroups.maintenance] }

    func configure(_ server: inout ServerContext) { server.maintenance = service }
}
