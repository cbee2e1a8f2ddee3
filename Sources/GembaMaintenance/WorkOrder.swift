public import GembaCore

/// A piece of maintenance work on one machine, from its proposal to its outcome. Every step is
/// taken by a person (``WorkOrderAction``) and leaves a ``Decision`` in the log; nothing a detector
/// or a plan proposes is scheduled until someone approves it.
///
/// ```
/// proposed ─┬─► approved ─► scheduled ─► in_progress ─► done
///           ├─► deferred ─► (approved | rejected | deferred | cancelled)
///           ├─► rejected
///           └─► cancelled  (also from approved, scheduled and in_progress)
/// ```
public struct WorkOrder: Sendable, Hashable, Codable {
    public enum Status: String, Sendable, Hashable, Codable, CaseIterable {
        case proposed, approved, rejected, deferred, scheduled
        case inProgress = "in_progress"
        case done, cancelled

        /// Done, rejected or cancelled: no action applies any more.
        public var isClosed: Bool { self == .done || self == .rejected || self == .cancelled }
        /// Waiting for a person's decision (proposed, or deferred).
        public var awaitsDecision: Bool { self == .proposed || self == .deferred }
    }

    /// What the work is.
    public enum Kind: String, Sendable, Hashable, Codable, CaseIterable {
        /// Before a predicted failure (a detector, a remaining-life estimate).
        case predictive
        /// From a maintenance plan (calendar, run time, counter).
        case preventive
        /// Repairing a failure that happened.
        case corrective
        /// Looking, measuring, no repair planned.
        case inspection

        /// Whether the machine's stopped time during the work counts as planned maintenance in OEE
        /// (a repair after a failure stays the unplanned stop it was).
        public var isPlanned: Bool { self != .corrective }
    }

    public enum Priority: String, Sendable, Hashable, Codable, CaseIterable {
        case low, medium, high, urgent
    }

    /// Who or what proposed the work.
    public struct Origin: Sendable, Hashable, Codable {
        public enum Source: String, Sendable, Hashable, Codable, CaseIterable {
            case person, detector, rul, alarm, plan
        }
        public var source: Source
        /// The detector event, alarm rule, plan… it came from; nil for a person.
        public var reference: String?

        public init(_ source: Source, reference: String? = nil) {
            self.source = source
            self.reference = reference
        }
    }

    /// When and by whom the work is planned.
    public struct Schedule: Sendable, Hashable, Codable {
        /// ms since the epoch.
        public var start: Int64
        public var plannedMinutes: Int
        public var assignee: String?

        public init(start: Int64, plannedMinutes: Int, assignee: String? = nil) {
            self.start = start
            self.plannedMinutes = plannedMinutes
            self.assignee = assignee
        }

        public var end: Int64 { start + Int64(plannedMinutes) * 60_000 }
    }

    /// A part used.
    public struct Part: Sendable, Hashable, Codable {
        public var name: String
        public var quantity: Double

        public init(name: String, quantity: Double) {
            self.name = name
            self.quantity = quantity
        }
    }

    /// What the work found and took.
    public struct Completion: Sendable, Hashable, Codable {
        public var findings: String
        /// The failure mode found (`bearing_wear`); nil when nothing had failed or was failing.
        public var failureMode: String?
        public var parts: [Part]
        public var minutesSpent: Int
        /// Whether what the proposal predicted was found: true or false labels the detector event
        /// that proposed it; nil when the work had no prediction or nobody could tell.
        public var predictionConfirmed: Bool?

        public init(findings: String, failureMode: String? = nil, parts: [Part] = [], minutesSpent: Int, predictionConfirmed: Bool? = nil) {
            self.findings = findings
            self.failureMode = failureMode
            self.parts = parts
            self.minutesSpent = minutesSpent
            self.predictionConfirmed = predictionConfirmed
        }
    }

    public var id: String
    public var machine: AssetPath
    public var title: String
    public var details: String?
    public var kind: Kind
    public var priority: Priority
    public var origin: Origin
    public var evidence: Evidence?
    public var status: Status
    public var proposedBy: String
    /// ms since the epoch.
    public var proposedAt: Int64
    /// Until when a deferred proposal waits (ms since the epoch).
    public var deferredUntil: Int64?
    public var schedule: Schedule?
    public var startedAt: Int64?
    public var finishedAt: Int64?
    public var completion: Completion?
    /// When people were last told the proposal waits for a decision (ms since the epoch).
    public var escalatedAt: Int64?
    /// The last decision's time (ms since the epoch).
    public var updatedAt: Int64

    public init(id: String, machine: AssetPath, title: String, details: String? = nil, kind: Kind, priority: Priority = .medium,
                origin: Origin, evidence: Evidence? = nil, proposedBy: String, proposedAt: Int64) {
        self.id = id
        self.machine = machine
        self.title = title
        self.details = details
        self.kind = kind
        self.priority = priority
        self.origin = origin
        self.evidence = evidence
        status = .proposed
        self.proposedBy = proposedBy
        self.proposedAt = proposedAt
        updatedAt = proposedAt
    }

    /// Since when the order waits for a decision: its proposal, or the end of its deferral; nil
    /// when it waits for none.
    public var awaitingSince: Int64? {
        switch status {
        case .proposed: proposedAt
        case .deferred: deferredUntil
        default: nil
        }
    }

    /// Whether a proposal has waited `after` (ms) for a decision at `now` without people having been told since it began waiting.
    public func needsEscalation(after: Int64, now: Int64) -> Bool {
        guard let since = awaitingSince, now - since >= after else { return false }
        return (escalatedAt ?? .min) < since
    }

    /// Notes that people were told the order waits, and answers the decision log's line for it.
    public mutating func markEscalated(at time: Int64, detail: String) -> Decision {
        escalatedAt = time
        return Decision(workOrder: id, machine: machine, action: "escalate", from: status, to: status, actor: "gemba", time: time,
                        rationale: nil, detail: detail)
    }

    /// The machine's time this work claims in OEE, stopped time in it counting as planned
    /// maintenance: the scheduled window until the work starts, then from its start until the
    /// machine produces again (end nil) and, once done, the time it took. Nil for a repair, before
    /// scheduling, and once rejected or cancelled.
    public var plannedWindow: (start: Int64, end: Int64?)? {
        guard kind.isPlanned else { return nil }
        switch status {
        case .scheduled: return schedule.map { ($0.start, $0.end) }
        case .inProgress: return startedAt.map { ($0, nil) }
        case .done: return startedAt.flatMap { start in finishedAt.map { (start, max($0, start)) } }
        case .proposed, .approved, .rejected, .deferred, .cancelled: return nil
        }
    }
}
