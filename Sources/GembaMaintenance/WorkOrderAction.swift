public import GembaCore

/// A person's step on a work order. Decisions (approve, reject, defer, cancel) need a rationale.
public enum WorkOrderAction: Sendable, Hashable {
    case approve(rationale: String)
    case reject(rationale: String)
    /// Put off until `until` (ms since the epoch), when the proposal awaits a decision again.
    case `defer`(until: Int64, rationale: String)
    /// Plan (or re-plan) the work.
    case schedule(WorkOrder.Schedule)
    case start
    case complete(WorkOrder.Completion)
    case cancel(rationale: String)

    /// The name the decision log and the API use.
    public var name: String {
        switch self {
        case .approve: "approve"
        case .reject: "reject"
        case .defer: "defer"
        case .schedule: "schedule"
        case .start: "start"
        case .complete: "complete"
        case .cancel: "cancel"
        }
    }

    /// The statuses the action applies in.
    var applies: Set<WorkOrder.Status> {
        switch self {
        case .approve, .reject, .defer: [.proposed, .deferred]
        case .schedule: [.approved, .scheduled]
        case .start: [.scheduled]
        case .complete: [.inProgress]
        case .cancel: [.proposed, .deferred, .approved, .scheduled, .inProgress]
        }
    }

    /// Why, for the decisions that need it.
    public var rationale: String? {
        switch self {
        case .approve(let text), .reject(let text), .defer(_, let text), .cancel(let text): text
        case .schedule, .start, .complete: nil
        }
    }
}

/// One line of the decision log: who took which step on which work order, when and why.
public struct Decision: Sendable, Hashable, Codable {
    public var workOrder: String
    public var machine: AssetPath
    public var action: String
    public var from: WorkOrder.Status
    public var to: WorkOrder.Status
    public var actor: String
    /// ms since the epoch.
    public var time: Int64
    public var rationale: String?
    /// What the step set, in words (`2026-12-07 06:00 UTC, 90 min, anna`).
    public var detail: String?

    public init(workOrder: String, machine: AssetPath, action: String, from: WorkOrder.Status, to: WorkOrder.Status, actor: String,
                time: Int64, rationale: String?, detail: String?) {
        self.workOrder = workOrder
        self.machine = machine
        self.action = action
        self.from = from
        self.to = to
        self.actor = actor
        self.time = time
        self.rationale = rationale
        self.detail = detail
    }
}

extension WorkOrder {
    /// The longest rationale, findings or title kept (characters).
    public static let maximumText = 4_000

    /// Takes `action` as `actor` at `time` and answers its line of the decision log. Throws
    /// ``ModelError`` `.conflict` when the action does not apply in the current status and
    /// `.invalid` for a missing rationale or an impossible value; the order is unchanged then.
    public mutating func apply(_ action: WorkOrderAction, by actor: String, at time: Int64) throws(ModelError) -> Decision {
        guard action.applies.contains(status) else {
            let allowed = WorkOrder.Status.allCases.filter(action.applies.contains).map(\.rawValue).joined(separator: ", ")
            throw ModelError(.conflict, "work order \(id) is \(status.rawValue); \(action.name) applies only to \(allowed)")
        }
        if let rationale = action.rationale {
            try Self.check(rationale, "a rationale", required: true)
        }
        let from = status
        let detail = try take(action, at: time)
        updatedAt = time
        return Decision(workOrder: id, machine: machine, action: action.name, from: from, to: status, actor: actor, time: time,
                        rationale: action.rationale, detail: detail)
    }

    /// Changes the order for `action` (already known to apply) and answers the log's detail.
    private mutating func take(_ action: WorkOrderAction, at time: Int64) throws(ModelError) -> String? {
        switch action {
        case .approve:
            status = .approved
            deferredUntil = nil
        case .reject:
            status = .rejected
            deferredUntil = nil
        case .defer(let until, _):
            try Self.check(time: until, "the deferral's end")
            guard until > time else { throw ModelError(.invalid, "a proposal is deferred to a later time than now") }
            status = .deferred
            deferredUntil = until
            return "until \(Timestamp(millisecondsSinceEpoch: until).rfc3339)"
        case .schedule(let plan):
            try Self.check(time: plan.start, "the scheduled start")
            guard (1...43_200).contains(plan.plannedMinutes) else {
                throw ModelError(.invalid, "planned duration must be 1 to 43200 minutes (30 days), not \(plan.plannedMinutes)")
            }
            if let assignee = plan.assignee { try Self.check(assignee, "the assignee", required: true, limit: 200) }
            status = .scheduled
            schedule = plan
            return "\(Timestamp(millisecondsSinceEpoch: plan.start).rfc3339), \(plan.plannedMinutes) min"
                + (plan.assignee.map { ", \($0)" } ?? "")
        case .start:
            status = .inProgress
            startedAt = time
        case .complete(let outcome):
            try Self.check(outcome.findings, "the findings", required: true)
            guard (0...1_000_000).contains(outcome.minutesSpent) else {
                throw ModelError(.invalid, "minutes spent must be 0 to 1000000, not \(outcome.minutesSpent)")
            }
            guard outcome.parts.allSatisfy({ !$0.name.isEmpty && $0.quantity > 0 && $0.quantity.isFinite }) else {
                throw ModelError(.invalid, "every part needs a name and a positive quantity")
            }
            status = .done
            finishedAt = time
            completion = outcome
            return outcome.predictionConfirmed.map { $0 ? "prediction confirmed" : "prediction not confirmed" }
        case .cancel:
            status = .cancelled
        }
        return nil
    }

    /// Times people may give: the years 1970 to 9999.
    public static let validTimes: ClosedRange<Int64> = 0...253_402_300_799_999

    static func check(time: Int64, _ what: String) throws(ModelError) {
        guard validTimes.contains(time) else { throw ModelError(.invalid, "\(what) must lie between 1970 and 9999") }
    }

    /// Checks a text a person wrote: not blank when required, within `limit` characters.
    static func check(_ text: String, _ what: String, required: Bool, limit: Int = maximumText) throws(ModelError) {
        if required && text.allSatisfy(\.isWhitespace) { throw ModelError(.invalid, "\(what) is required") }
        guard text.count <= limit else { throw ModelError(.invalid, "\(what) is longer than \(limit) characters") }
    }
}
