#if canImport(FoundationEssentials)
internal import FoundationEssentials
#else
internal import Foundation
#endif
internal import GembaCore
internal import GembaMaintenance
internal import GembaNotifications
internal import GembaStorage
internal import Hummingbird

/// Preventive plans (maintenance leads keep them; due plans propose work orders), the escalation
/// of work orders waiting for a decision, and a machine's reliability from its work orders beside
/// the state engine's.
struct PlanRoutes {
    let server: ServerContext

    var endpoints: [Endpoint] {
        let group = "Maintenance"
        return [
            Endpoint(.get, "/api/v1/maintenance/plans", .requires(.readData), group: group,
                     summary: "Preventive plans with how far each has come and its open work order",
                     responses: [.json(200, "Plans", AdminRoutes.items(Self.planStatus)), Self.unavailable]) { _, context in
                let statuses = try await scheduler().statuses(tenant: context.tenant)
                return try OEERoutes.encoded(["items": statuses.map(PlanView.init)])
            },
            Endpoint(.put, "/api/v1/maintenance/plans/{plan}", .requires(.decideMaintenance), group: group,
                     summary: "Create or change a preventive plan: every N days, N run hours or N counts of a counter tag (audited)",
                     description: "The count starts when the plan is made (or its interval changes) and again when each of its work orders closes.",
                     parameters: [.path("plan", "The plan's id (1–64 of A-Z a-z 0-9 - _)")], body: .json(Self.planInput),
                     responses: [.json(200, "The plan as stored", Self.plan), .problem(404, "No such machine"),
                                 .problem(422, "A field is not valid (the detail names it)"), Self.unavailable]) { request, context in
                let id = try context.parameters.require("plan")
                let input = try await OEERoutes.decode(PlanInput.self, from: request)
                let machine = try QueryRoutes.machinePath(input.machine)
                guard try await server.store.machines(tenant: context.tenant).contains(where: { $0.path == machine }) else {
                    throw Problem.notFound("no machine \(machine)")
                }
                let caller = try context.requireCaller()
                let now = Timestamp.now().millisecondsSinceEpoch
                let plan = MaintenancePlan(id: id, machine: machine, title: input.title, details: input.details, every: input.every,
                                           plannedMinutes: input.plannedMinutes ?? 60, priority: input.priority ?? .medium,
                                           enabled: input.enabled ?? true, anchor: now, updatedBy: caller.name, updatedAt: now)
                let saved = try await refusingModelErrors { try await scheduler().save(plan, tenant: context.tenant) }
                await server.audit(context, "maintenance_plan.save", target: id, detail: "machine=\(machine) \(saved.every.text)")
                return try OEERoutes.encoded(saved)
            },
            Endpoint(.delete, "/api/v1/maintenance/plans/{plan}", .requires(.decideMaintenance), group: group,
                     summary: "Delete a preventive plan (its work orders stay) (audited)", parameters: [.path("plan", "The plan's id")],
                     responses: [.empty(204, "Deleted"), .problem(404, "No such plan"), Self.unavailable]) { _, context in
                let id = try context.parameters.require("plan")
                guard try await scheduler().delete(tenant: context.tenant, id: id) else { throw Problem.notFound("no plan \(id)") }
                await server.audit(context, "maintenance_plan.delete", target: id, detail: "")
                return Response(status: .noContent)
            },
            Endpoint(.get, "/api/v1/maintenance/escalation", .requires(.decideMaintenance), group: group,
                     summary: "Whom Gemba tells when a work order has waited too long for a decision, and after how long (it names people: maintenance leads and above)",
                     responses: [.json(200, "The settings", Self.escalation), .empty(204, "Escalation is off"), Self.unavailable]) { _, context in
                guard let settings = try await escalator().settings(tenant: context.tenant) else { return Response(status: .noContent) }
                return try OEERoutes.encoded(settings)
            },
            Endpoint(.put, "/api/v1/maintenance/escalation", .requires(.decideMaintenance), group: group,
                     summary: "Set whom Gemba tells when a work order has waited too long for a decision (audited)",
                     description: "Each waiting period (from the proposal, or from the end of a deferral) is told once, through the "
                        + "notification channels, people and rosters named, with the alarm templates' variables.",
                     body: .json(Self.escalation),
                     responses: [.json(200, "The settings as stored", Self.escalation),
                                 .problem(422, "A field is not valid (the detail names it)"), Self.unavailable]) { request, context in
                let settings = try await OEERoutes.decode(ProposalEscalator.Settings.self, from: request)
                try await refusingModelErrors { try await escalator().save(settings, tenant: context.tenant) }
                await server.audit(context, "maintenance_escalation.save", target: "escalation", detail: "after=\(settings.after)")
                return try OEERoutes.encoded(settings)
            },
            Endpoint(.delete, "/api/v1/maintenance/escalation", .requires(.decideMaintenance), group: group,
                     summary: "Turn escalation of waiting work orders off (audited)",
                     responses: [.empty(204, "Off"), Self.unavailable]) { _, context in
                try await escalator().save(nil, tenant: context.tenant)
                await server.audit(context, "maintenance_escalation.delete", target: "escalation", detail: "")
                return Response(status: .noContent)
            },
            Endpoint(.get, "/api/v1/maintenance/reliability", .requires(.readData), group: group,
                     summary: "A machine's MTBF and MTTR from its repair work orders, beside the state engine's from its failure stops",
                     parameters: [Parameter("machine", TelemetrySchemas.machinePath, required: true, "The machine"), .from, .to],
                     responses: [.json(200, "Both figures", Self.reliability), Self.unavailable]) { request, context in
                guard let text = request.uri.queryParameters.get("machine") else { throw Problem.badRequest("machine is required") }
                let machine = try QueryRoutes.machinePath(text)
                let (from, to) = try QueryRoutes.range(request, defaultSpan: 30 * 86_400_000)
                try QueryRoutes.check(from, to, atMostDays: 366)
                let range = from.millisecondsSinceEpoch..<to.millisecondsSinceEpoch
                let orders = try await workOrders().workOrders(WorkOrderQuery(tenant: context.tenant, scope: machine.description, limit: 10_000))
                let kpis = try await server.oee?.report(tenant: context.tenant, machines: [machine], range: range, grouping: .none).total
                let fromOrders = Reliability(orders: orders, range: range, runTime: kpis?.components.runTime)
                return try OEERoutes.encoded(ReliabilityView(
                    machine: machine.description, from: range.lowerBound, to: range.upperBound, workOrders: fromOrders,
                    stateEngine: kpis.map { .init(failures: $0.components.failures, mtbf: $0.kpis.mtbf.value, mttr: $0.kpis.mttr.value) }))
            },
        ]
    }

    private func scheduler() throws -> PlanScheduler {
        guard let plans = server.plans else { throw Problem(.serviceUnavailable, "this store keeps no maintenance data") }
        return plans
    }

    private func escalator() throws -> ProposalEscalator {
        guard let escalator = server.escalator else { throw Problem(.serviceUnavailable, "this server sends no notifications") }
        return escalator
    }

    private func workOrders() throws -> MaintenanceService {
        guard let maintenance = server.maintenance else { throw Problem(.serviceUnavailable, "this store keeps no maintenance data") }
        return maintenance
    }

    static let unavailable = WorkOrderRoutes.unavailable
}

struct PlanInput: Decodable {
    var machine: String
    var title: String
    var details: String?
    var every: MaintenancePlan.Interval
    var plannedMinutes: Int?
    var priority: WorkOrder.Priority?
    var enabled: Bool?
}

struct PlanView: Encodable {
    var plan: MaintenancePlan
    var progress: Double
    var progressText: String
    var openWorkOrder: String?

    init(_ status: PlanScheduler.PlanStatus) {
        plan = status.plan
        progress = status.progress
        progressText = status.progressText
        openWorkOrder = status.openWorkOrder
    }
}

struct ReliabilityView: Encodable {
    struct StateEngine: Encodable {
        var failures: Int64
        var mtbf: Double?
        var mttr: Double?
    }
    var machine: String
    var from: Int64
    var to: Int64
    var workOrders: Reliability
    var stateEngine: StateEngine?
}

extension PlanRoutes {
    static let time = WorkOrderRoutes.time
    static let interval = Schema.object([
        "days": .integer(minimum: 1, maximum: 3650), "runHours": Schema.number.described("1–100000"),
        "count": Schema.number.described("1–10^12, with counter"), "counter": .string(minLength: 1, maxLength: 64),
    ], optional: ["days", "runHours", "count", "counter"]).described("Exactly one of days, runHours, count (with counter)")
        .named("MaintenanceInterval")
    static let plan = Schema.object([
        "id": .string, "machine": TelemetrySchemas.machinePath, "title": .string, "details": .string, "every": interval,
        "plannedMinutes": .integer, "priority": WorkOrderRoutes.priority, "enabled": .boolean,
        "anchor": time.described("Where the count starts: when the plan was made, then when its last work order closed"),
        "anchorCount": Schema.number.described("The counter's reading at the anchor"), "updatedBy": .string, "updatedAt": time,
    ], optional: ["details", "anchorCount"]).named("MaintenancePlan")
    static let planStatus = Schema.object([
        "plan": plan, "progress": Schema.number.described("1 or more: due"), "progressText": .string, "openWorkOrder": .string,
    ], optional: ["openWorkOrder"]).named("MaintenancePlanStatus")
    static let planInput = Schema.object([
        "machine": TelemetrySchemas.machinePath, "title": .string(minLength: 1, maxLength: 200), "details": .string(maxLength: 4000),
        "every": interval, "plannedMinutes": .integer(minimum: 1, maximum: 43_200), "priority": WorkOrderRoutes.priority, "enabled": .boolean,
    ], optional: ["details", "plannedMinutes", "priority", "enabled"]).named("MaintenancePlanInput")
    static let escalation = Schema.object([
        "after": Schema.string(minLength: 2, maxLength: 10).described("A duration from 1m to 30d: 30m, 4h, 2d"),
        "audience": Schema.object(["channels": .array(.string, maxItems: 20),
                                   "recipients": Schema.array(.string, maxItems: 20).described("user:<email> or roster:<id>")]),
        "template": .string(maxLength: 2000),
    ], optional: ["template"]).named("MaintenanceEscalation")
    static let reliability = Schema.object([
        "machine": TelemetrySchemas.machinePath, "from": time, "to": time,
        "workOrders": Schema.object([
            "failures": .integer, "repairTime": Schema.integer.described("ms"), "mtbf": Schema.number.described("ms"),
            "mttr": Schema.number.described("ms"), "preventiveDone": .integer, "predictiveDone": .integer,
            "predictionsConfirmed": .integer, "predictionsNotConfirmed": .integer,
        ], optional: ["mtbf", "mttr"]),
        "stateEngine": Schema.object(["failures": .integer, "mtbf": Schema.number.described("ms"), "mttr": Schema.number.described("ms")],
                                     optional: ["mtbf", "mttr"]),
    ], optional: ["stateEngine"]).named("MachineReliability")
}
