#if canImport(FoundationEssentials)
internal import FoundationEssentials
#else
internal import Foundation
#endif
internal import GembaCore
internal import GembaMaintenance
internal import GembaRules
internal import GembaStorage
internal import Hummingbird

/// Maintenance work orders: proposed by anyone who operates (from scratch or from an alarm) or by a
/// detector or a plan, decided by
/// maintenance leads (approve, reject, defer, schedule, cancel, each with a rationale), carried
/// out by operators (start, complete with findings), every step in the decision log and audited.
struct WorkOrderRoutes {
    let server: ServerContext

    var endpoints: [Endpoint] {
        let group = "Maintenance"
        return [
            Endpoint(.get, "/api/v1/work-orders", .requires(.readData), group: group, summary: "Work orders, newest change first",
                     parameters: [Parameter("machine", .string(minLength: 1, maxLength: 200), "A machine, or a site/area/line prefix; all when absent"),
                                  Parameter("status", .oneOf(WorkOrder.Status.allCases.map(\.rawValue)), repeatable: true,
                                            "Only these statuses; every status when absent"),
                                  Parameter("limit", .integer(minimum: 1, maximum: 1000), "At most this many (default 200)")],
                     responses: [.json(200, "Work orders", AdminRoutes.items(Self.workOrder)), Self.unavailable]) { request, context in
                let parameters = request.uri.queryParameters
                let statuses = parameters.getAll("status").map { String($0) }
                guard statuses.allSatisfy({ WorkOrder.Status(rawValue: $0) != nil }) else {
                    throw Problem.badRequest("status is one of \(WorkOrder.Status.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                let query = WorkOrderQuery(tenant: context.tenant, scope: parameters.get("machine"), statuses: statuses,
                                           limit: try QueryRoutes.limit(parameters.get("limit"), default: 200, maximum: 1000))
                return try OEERoutes.encoded(["items": try await service().workOrders(query)])
            },
            Endpoint(.post, "/api/v1/work-orders", .requires(.operate), group: group,
                     summary: "Propose maintenance work on a machine, with its evidence; a maintenance lead decides",
                     body: .json(Self.proposalInput),
                     responses: [.json(201, "Proposed", Self.workOrder), .problem(404, "No such machine"),
                                 .problem(422, "A field is not valid (the detail names it)"), Self.unavailable]) { request, context in
                let input = try await OEERoutes.decode(ProposalInput.self, from: request)
                let machine = try QueryRoutes.machinePath(input.machine)
                guard try await server.store.machines(tenant: context.tenant).contains(where: { $0.path == machine }) else {
                    throw Problem.notFound("no machine \(machine)")
                }
                let proposal = MaintenanceService.Proposal(machine: machine, title: input.title, details: input.details, kind: input.kind,
                                                           priority: input.priority ?? .medium, origin: input.origin ?? .init(.person),
                                                           evidence: input.evidence)
                let order = try await refusingModelErrors {
                    try await service().propose(proposal, tenant: context.tenant, by: try context.requireCaller().name)
                }
                await server.audit(context, "work_order.propose", target: order.id, detail: "machine=\(machine) kind=\(order.kind.rawValue)")
                var response = try OEERoutes.encoded(order)
                response.status = .created
                return response
            },
            Endpoint(.post, "/api/v1/work-orders/from-alarm", .requires(.operate), group: group,
                     summary: "Propose work from an alarm: its rule, state, value and the signals it reads become the evidence (audited)",
                     description: "The alarm's journal notes the work order. Kind corrective unless given; the title is the rule's name unless given.",
                     body: .json(Self.fromAlarmInput),
                     responses: [.json(201, "Proposed", Self.workOrder), .problem(404, "No such alarm"),
                                 .problem(422, "A field is not valid (the detail names it)"), Self.unavailable]) { request, context in
                try await proposeFromAlarm(request, context)
            },
            Endpoint(.get, "/api/v1/work-orders/{id}", .requires(.readData), group: group, summary: "One work order with its evidence and outcome",
                     parameters: [Self.orderID],
                     responses: [.json(200, "The work order", Self.workOrder), .problem(404, "No such work order"), Self.unavailable]) { _, context in
                let id = try context.parameters.require("id")
                guard let order = try await service().workOrder(tenant: context.tenant, id: id) else { throw Problem.notFound("no work order \(id)") }
                return try OEERoutes.encoded(order)
            },
            Endpoint(.get, "/api/v1/work-orders/{id}/decisions", .requires(.readData), group: group,
                     summary: "Every step taken on a work order: who, when, why", parameters: [Self.orderID],
                     responses: [.json(200, "Decisions, newest first", AdminRoutes.items(Self.decision)), .problem(404, "No such work order"),
                                 Self.unavailable]) { _, context in
                let id = try context.parameters.require("id")
                guard try await service().workOrder(tenant: context.tenant, id: id) != nil else { throw Problem.notFound("no work order \(id)") }
                let decisions = try await service().decisions(tenant: context.tenant, workOrder: id, range: 0..<Int64.max)
                return try OEERoutes.encoded(["items": decisions])
            },
            Endpoint(.get, "/api/v1/maintenance/decisions", .requires(.readData), group: group,
                     summary: "The maintenance decision log: every step on every work order in a range, newest first",
                     parameters: [Parameter("machine", .string(minLength: 1, maxLength: 200), "A machine, or a site/area/line prefix"), .from, .to,
                                  Parameter("limit", .integer(minimum: 1, maximum: 5000), "At most this many (default 1000)")],
                     responses: [.json(200, "Decisions", AdminRoutes.items(Self.decision)), Self.unavailable]) { request, context in
                let (from, to) = try QueryRoutes.range(request, defaultSpan: 30 * 86_400_000)
                let parameters = request.uri.queryParameters
                let decisions = try await service().decisions(
                    tenant: context.tenant, scope: parameters.get("machine"), range: from.millisecondsSinceEpoch..<to.millisecondsSinceEpoch,
                    limit: try QueryRoutes.limit(parameters.get("limit"), default: 1000, maximum: 5000))
                return try OEERoutes.encoded(["items": decisions])
            },
            step("approve", .decideMaintenance, "Approve a proposal, with a rationale", Self.rationaleInput) { input in
                .approve(rationale: try input.required(\.rationale, "rationale"))
            },
            step("reject", .decideMaintenance, "Reject a proposal, with a rationale", Self.rationaleInput) { input in
                .reject(rationale: try input.required(\.rationale, "rationale"))
            },
            step("defer", .decideMaintenance, "Put a proposal off until a time, with a rationale", Self.deferInput) { input in
                .defer(until: try input.required(\.until, "until"), rationale: try input.required(\.rationale, "rationale"))
            },
            step("schedule", .decideMaintenance,
                 "Plan approved work (or re-plan it): start, planned duration, assignee; the machine's stopped time in it counts as planned maintenance",
                 Self.scheduleInput) { input in
                .schedule(.init(start: try input.required(\.start, "start"), plannedMinutes: try input.required(\.plannedMinutes, "plannedMinutes"),
                                assignee: input.assignee))
            },
            step("start", .operate, "Start scheduled work", Self.emptyInput) { _ in .start },
            step("complete", .operate, "Finish work in progress: findings, failure mode, parts, time spent, whether the prediction held",
                 Self.completionInput) { input in
                .complete(.init(findings: try input.required(\.findings, "findings"), failureMode: input.failureMode, parts: input.parts ?? [],
                                minutesSpent: try input.required(\.minutesSpent, "minutesSpent"), predictionConfirmed: input.predictionConfirmed))
            },
            step("cancel", .decideMaintenance, "Cancel open work, with a rationale", Self.rationaleInput) { input in
                .cancel(rationale: try input.required(\.rationale, "rationale"))
            },
        ]
    }

    /// One person's step: `POST /api/v1/work-orders/{id}/<name>`.
    private func step(_ name: String, _ permission: Permission, _ summary: String, _ input: Schema,
                      _ make: @escaping @Sendable (StepInput) throws -> WorkOrderAction) -> Endpoint {
        Endpoint(.post, "/api/v1/work-orders/{id}/\(name)", .requires(permission), group: "Maintenance", summary: summary + " (audited)",
                 parameters: [Self.orderID], body: .json(input),
                 responses: [.json(200, "The work order now", Self.workOrder), .problem(404, "No such work order"),
                             .problem(409, "The work order's status does not allow it, or someone changed it meanwhile"),
                             .problem(422, "A field is not valid (the detail names it)"), Self.unavailable]) { request, context in
            let id = try context.parameters.require("id")
            let action = try make(try await OEERoutes.decode(StepInput.self, from: request))
            let caller = try context.requireCaller()
            guard let order = try await refusingModelErrors({ try await service().act(action, on: id, tenant: context.tenant, by: caller.name) }) else {
                throw Problem.notFound("no work order \(id)")
            }
            await server.audit(context, "work_order.\(name)", target: id,
                               detail: "status=\(order.status.rawValue)" + (action.rationale.map { " rationale=\($0)" } ?? ""))
            return try OEERoutes.encoded(order)
        }
    }

    private func proposeFromAlarm(_ request: Request, _ context: GembaRequestContext) async throws -> Response {
        let input = try await OEERoutes.decode(AlarmProposalInput.self, from: request)
        let machine = try QueryRoutes.machinePath(input.machine)
        guard let engine = server.alarms else { throw Problem(.serviceUnavailable, "this store keeps no alarms") }
        guard let view = engine.alarms(tenant: context.tenant).first(where: { $0.rule.id == input.rule && $0.machine == machine }) else {
            throw Problem.notFound("no alarm of rule \(input.rule) on \(machine)")
        }
        let caller = try context.requireCaller()
        let order = try await refusingModelErrors {
            try await service().propose(Self.proposal(from: view, input), tenant: context.tenant, by: caller.name)
        }
        _ = try? await engine.act(.comment("work order \(order.id) proposed"), tenant: context.tenant, rule: input.rule, machine: machine,
                                  by: caller.name)
        await server.audit(context, "work_order.propose", target: order.id, detail: "machine=\(machine) from alarm \(input.rule)")
        var response = try OEERoutes.encoded(order)
        response.status = .created
        return response
    }

    /// A proposal from an alarm: the rule's name and severity, the alarm's state and value, the tags it reads, the hour before it.
    static func proposal(from view: AlarmView, _ input: AlarmProposalInput) -> MaintenanceService.Proposal {
        let alarm = view.alarm
        let since = alarm.activeSince ?? alarm.lastChange
        let priority: WorkOrder.Priority = switch alarm.severity {
        case .critical: .urgent
        case .high: .high
        case .medium: .medium
        case .low, .diagnostic: .low
        }
        let tags = view.rule.expression.tags.sorted()
        return MaintenanceService.Proposal(
            machine: view.machine, title: input.title ?? view.rule.name, details: input.details, kind: input.kind ?? .corrective,
            priority: priority, origin: .init(.alarm, reference: view.rule.id),
            evidence: Evidence(summary: "alarm \(view.rule.name): \(alarm.state.rawValue) since \(Timestamp(millisecondsSinceEpoch: since).rfc3339)"
                                   + (alarm.value.map { ", value \($0)" } ?? ""),
                               signals: tags, window: .init(from: since - 3_600_000, to: max(since + 600_000, alarm.lastChange), tags: tags)))
    }

    private func service() throws -> MaintenanceService {
        guard let maintenance = server.maintenance else { throw Problem(.serviceUnavailable, "this store keeps no maintenance data") }
        return maintenance
    }

    static let unavailable = Reply.problem(503, "This store keeps no maintenance data")
    /// A work order's id in a path; the demo's first work order as the example.
    static let orderID = Parameter("id", in: .path, .string(minLength: 1, maxLength: 200), example: "WO-1", "The work order's id (WO-17)")
}

// MARK: Inputs

/// `POST /api/v1/work-orders`.
struct ProposalInput: Decodable {
    var machine: String
    var title: String
    var details: String?
    var kind: WorkOrder.Kind
    var priority: WorkOrder.Priority?
    var origin: WorkOrder.Origin?
    var evidence: Evidence?
}

/// `POST /api/v1/work-orders/from-alarm`.
struct AlarmProposalInput: Decodable {
    var rule: String
    var machine: String
    var kind: WorkOrder.Kind?
    var title: String?
    var details: String?

    init(rule: String, machine: String, kind: WorkOrder.Kind? = nil, title: String? = nil, details: String? = nil) {
        self.rule = rule
        self.machine = machine
        self.kind = kind
        self.title = title
        self.details = details
    }
}

/// The body of every step; each reads the fields it needs.
struct StepInput: Decodable {
    var rationale: String?
    var until: Int64?
    var start: Int64?
    var plannedMinutes: Int?
    var assignee: String?
    var findings: String?
    var failureMode: String?
    var parts: [WorkOrder.Part]?
    var minutesSpent: Int?
    var predictionConfirmed: Bool?

    func required<Value>(_ field: KeyPath<StepInput, Value?>, _ name: String) throws(Problem) -> Value {
        guard let value = self[keyPath: field] else { throw Problem.badRequest("\"\(name)\" is required") }
        return value
    }
}

// MARK: Schemas

extension WorkOrderRoutes {
    static let time = Schema.integer(minimum: 0, maximum: 253_402_300_799_999).described("Epoch milliseconds (UTC)")
    static let text = Schema.string(minLength: 1, maxLength: 4000)
    static let origin = Schema.object(["source": .oneOf(WorkOrder.Origin.Source.allCases.map(\.rawValue)), "reference": .string(maxLength: 200)],
                                      optional: ["reference"]).named("WorkOrderOrigin")
    static let score = Schema.object(["tag": .string, "time": time, "score": Schema.number.described("0–1"), "detector": .string],
                                     optional: ["detector"])
    static let contribution = Schema.object(["signal": .string, "share": Schema.number.described("0–1; shares add up to 1")])
    static let estimate = Schema.object(["quantity": .string, "value": .number, "low": .number,
                                         "high": Schema.number.described("Absent when the interval has no upper bound"), "unit": .string,
                                         "coverage": Schema.number.described("The interval's coverage, 0–1")], optional: ["high"])
    static let chartWindow = Schema.object(["from": time, "to": time, "tags": .array(.string)])
    static let evidenceMembers: [(String, Schema)] = [
        ("summary", .string(maxLength: 1000)), ("signals", .array(.string, maxItems: 200)), ("scores", .array(score, maxItems: 200)),
        ("contributions", .array(contribution, maxItems: 200)), ("estimate", estimate), ("window", chartWindow),
    ]
    static let evidence = Schema.object(evidenceMembers, optional: ["summary", "estimate", "window"]).named("WorkOrderEvidence")
    static let evidenceInput = Schema.object(evidenceMembers, optional: Set(evidenceMembers.map(\.0))).named("WorkOrderEvidenceInput")
    static let schedule = Schema.object(["start": time, "plannedMinutes": .integer, "assignee": .string], optional: ["assignee"])
    static let part = Schema.object(["name": .string(minLength: 1, maxLength: 200), "quantity": .number]).named("WorkOrderPart")
    static let completion = Schema.object([
        "findings": .string, "failureMode": .string, "parts": .array(part), "minutesSpent": .integer, "predictionConfirmed": .boolean,
    ], optional: ["failureMode", "predictionConfirmed"])
    static let kind = Schema.oneOf(WorkOrder.Kind.allCases.map(\.rawValue))
    static let priority = Schema.oneOf(WorkOrder.Priority.allCases.map(\.rawValue))
    static let status = Schema.oneOf(WorkOrder.Status.allCases.map(\.rawValue)).named("WorkOrderStatus")

    static let workOrder = Schema.object([
        "id": .string, "machine": TelemetrySchemas.machinePath, "title": .string, "details": .string, "kind": kind, "priority": priority,
        "origin": origin, "evidence": evidence, "status": status, "proposedBy": .string, "proposedAt": time, "deferredUntil": time,
        "schedule": schedule, "startedAt": time, "finishedAt": time, "completion": completion, "updatedAt": time,
    ], optional: ["details", "evidence", "deferredUntil", "schedule", "startedAt", "finishedAt", "completion"]).named("WorkOrder")
    static let decision = Schema.object([
        "workOrder": .string, "machine": TelemetrySchemas.machinePath, "action": .string, "from": status, "to": status, "actor": .string,
        "time": time, "rationale": .string, "detail": .string,
    ], optional: ["rationale", "detail"]).named("WorkOrderDecision")

    static let proposalInput = Schema.object([
        "machine": TelemetrySchemas.machinePath, "title": .string(minLength: 1, maxLength: 200), "details": .string(maxLength: 4000),
        "kind": kind, "priority": priority, "origin": origin, "evidence": evidenceInput,
    ], optional: ["details", "priority", "origin", "evidence"]).named("WorkOrderProposalInput")
    static let fromAlarmInput = Schema.object([
        "rule": Schema.string(minLength: 1, maxLength: 64), "machine": TelemetrySchemas.machinePath, "kind": kind,
        "title": .string(minLength: 1, maxLength: 200), "details": .string(maxLength: 4000),
    ], optional: ["kind", "title", "details"]).named("WorkOrderFromAlarmInput")
    static let rationaleInput = Schema.object(["rationale": text]).named("WorkOrderRationaleInput")
    static let deferInput = Schema.object(["until": time, "rationale": text]).named("WorkOrderDeferInput")
    static let scheduleInput = Schema.object(["start": time, "plannedMinutes": .integer(minimum: 1, maximum: 43_200),
                                              "assignee": .string(minLength: 1, maxLength: 200)],
                                             optional: ["assignee"]).named("WorkOrderScheduleInput")
    static let emptyInput = Schema.object([(String, Schema)]()).named("WorkOrderStartInput")
    static let completionInput = Schema.object([
        "findings": text, "failureMode": .string(minLength: 1, maxLength: 200), "parts": .array(part, maxItems: 100),
        "minutesSpent": .integer(minimum: 0, maximum: 1_000_000), "predictionConfirmed": .boolean,
    ], optional: ["failureMode", "parts", "predictionConfirmed"]).named("WorkOrderCompletionInput")
}
