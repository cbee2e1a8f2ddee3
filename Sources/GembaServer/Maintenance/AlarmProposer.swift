public import GembaMaintenance
public import GembaRules
public import GembaStorage
internal import GembaCore

/// Proposes work on its own when an alarm becomes active whose rule carries the label
/// `propose_work` (its value the work order's kind: corrective, inspection, preventive or
/// predictive): once per activation, with the alarm as its evidence and a note in the alarm's
/// journal, as a person's "Propose work" does. A maintenance lead still decides.
public struct AlarmProposer: Sendable {
    /// The rule label that asks for proposals.
    public static let label = "propose_work"

    let alarms: AlarmEngine
    let service: MaintenanceService
    let store: any TelemetryStore

    public init(alarms: AlarmEngine, service: MaintenanceService, store: any TelemetryStore) {
        self.alarms = alarms
        self.service = service
        self.store = store
    }

    /// Proposes work for each active alarm of a labelled rule that has none since it became active;
    /// answers what it proposed. Only the node evaluating alarms proposes (one proposal per
    /// activation however many nodes there are).
    @discardableResult
    public func pass() async throws -> [WorkOrder] {
        guard alarms.hasRules, alarms.isEvaluating else { return [] }
        var proposed: [WorkOrder] = []
        for tenant in try await store.tenants() {
            // Only the labelled rules' alarms are looked at (a plant has thousands of instances).
            let labelled = Set(alarms.rules(tenant: tenant).filter { Self.kind(of: $0) != nil }.map(\.id))
            guard !labelled.isEmpty else { continue }
            let due = alarms.alarms(tenant: tenant, rules: labelled).filter { $0.alarm.activeSince != nil }
            for view in due where try await !proposedSince(view, tenant: tenant) {
                let kind = Self.kind(of: view.rule)
                let input = AlarmProposalInput(rule: view.rule.id, machine: view.machine.description, kind: kind)
                let order = try await service.propose(WorkOrderRoutes.proposal(from: view, input), tenant: tenant, by: "alarm \(view.rule.id)")
                _ = try? await alarms.act(.comment("work order \(order.id) proposed"), tenant: tenant, rule: view.rule.id, machine: view.machine,
                                          by: "gemba")
                proposed.append(order)
            }
        }
        return proposed
    }

    /// The kind of work a rule's label asks for; nil when it asks for none.
    private static func kind(of rule: AlarmRule) -> WorkOrder.Kind? {
        rule.labels[label].flatMap(WorkOrder.Kind.init(rawValue:))
    }

    /// Whether work was proposed from this alarm since it last became active (by anyone).
    private func proposedSince(_ view: AlarmView, tenant: TenantID) async throws -> Bool {
        let since = view.alarm.activeSince ?? .min
        return try await service.workOrders(WorkOrderQuery(tenant: tenant, scope: view.machine.description, limit: 500)).contains { order in
            order.origin.source == .alarm && order.origin.reference == view.rule.id && order.machine == view.machine && order.proposedAt >= since
        }
    }
}
