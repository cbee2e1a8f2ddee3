import GembaIngest
import GembaMaintenance
import GembaServer
import GembaStorage
import Logging
import ServiceLifecycle

/// Maintenance work decided by people: work orders (proposed, decided, scheduled, done), their
/// decision log, the planned windows they give the machines' OEE (a change to a window makes the
/// OEE engine rebuild the summaries over it), preventive plans and the escalation of proposals
/// waiting for a decision, both checked every minute, and work proposed by alarms of rules labelled
/// `propose_work` (checked every 5 s).
struct MaintenanceCapability: Capability {
    /// Nil when the store keeps no maintenance data (the routes then answer 503).
    let service: MaintenanceService?
    let plans: PlanScheduler?
    let escalator: ProposalEscalator?
    /// Proposals from alarms of rules labelled `propose_work`; nil without alarms.
    let alarmProposer: AlarmProposer?
    let logger: Logger
    /// Plans and escalation run on one node at a time (the same work order must not be made twice).
    let singleton: SingletonGate

    init(telemetry: TelemetryCapability, oee: OEECapability, alarms: AlarmCapability, logger: Logger) {
        singleton = telemetry.singleton
        self.logger = logger
        let store = telemetry.store
        let service = MaintenanceService(store: store, windowChanged: { [engine = oee.engine] tenant, machine, range in
            try await engine?.invalidate(tenant: tenant, machine: machine, range: range)
        }, predictionJudged: { tenant, order, actor in
            try await DetectorEventRecorder.label(from: order, by: actor, tenant: tenant, in: store)
        })
        self.service = service
        plans = PlanScheduler(store: store, service: service, usage: MachineUsageReader(store: telemetry.store, oee: oee.engine))
        if let notifier = alarms.notifier {
            escalator = ProposalEscalator(service: service, store: telemetry.store, notifier: notifier)
        } else {
            escalator = nil
        }
        alarmProposer = alarms.engine.map { AlarmProposer(alarms: $0, service: service, store: telemetry.store) }
    }

    var services: [any Service] {
        guard let plans else { return [] }
        let proposing = alarmProposer.map { proposer in
            [PeriodicService("work proposed by alarms", every: .seconds(5), logger: logger) { try await proposer.pass() }]
        } ?? []
        return [PeriodicService("maintenance plans and escalation", every: .seconds(60), logger: logger) { [escalator, singleton] in
            guard singleton.mayRun else { return }
            try await plans.pass()
            try await escalator?.pass()
        }] + proposing
    }

    var endpoints: [EndpointGroup] { [EndpointGroups.maintenance] }

    func configure(_ server: inout ServerContext) {
        server.maintenance = service
        server.plans = plans
        server.escalator = escalator
    }
}
