/// How urgent an alarm is, after ISA-18.2's priorities (plus diagnostic, which never pages anyone by default).
public enum Severity: String, CaseIterable, Comparable, Sendable, Codable {
    case diagnostic, low, medium, high, critical

    private var rank: Int { Self.allCases.firstIndex(of: self)! }
    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rank < rhs.rank }
}

/// Where an alarm stands in the ISA-18.2 / IEC 62682 life cycle, as operators see it.
public enum AlarmState: String, CaseIterable, Sendable, Codable {
    /// Condition clear, nothing to acknowledge (ISA-18.2 state A).
    case normal
    /// Condition active, not yet acknowledged (B).
    case activeUnacknowledged = "active_unacknowledged"
    /// Condition active, acknowledged (C).
    case activeAcknowledged = "active_acknowledged"
    /// Condition cleared before anyone acknowledged it (D).
    case returnedUnacknowledged = "returned_unacknowledged"
    /// A latching alarm whose condition cleared: it stays until acknowledged (E).
    case latched
    /// Taken off the operator's display by an operator, for a limited time (F).
    case shelved
    /// Suppressed by design while the machine cannot run (planned stop, not scheduled) (G).
    case suppressed
    /// Removed from service by an engineer, with a reason (H).
    case outOfService = "out_of_service"

    /// Whether the alarm asks for an operator's attention (shown in the alarm list and banner).
    public var isStanding: Bool { self == .activeUnacknowledged || self == .activeAcknowledged || self == .returnedUnacknowledged || self == .latched }
}

/// Something that happened to an alarm: one journal entry.
public struct AlarmTransition: Hashable, Sendable {
    public enum Kind: String, Sendable, CaseIterable {
        case activated, cleared, acknowledged, shelved, unshelved, suppressed, unsuppressed
        case removedFromService = "out_of_service", returnedToService = "in_service"
        case escalated, deescalated, chattering, chatteringEnded = "chattering_ended", commented, assigned
    }

    public var kind: Kind
    public var time: Int64
    public var from: AlarmState
    public var to: AlarmState
    public var severity: Severity
    /// The value that caused it (the rule's first tag), when there is one.
    public var value: Double?
    /// Who did it; nil for the rule itself.
    public var actor: String?
    public var comment: String?
    /// Whether people should be told (not while shelved, suppressed, out of service or chattering).
    public var notify: Bool

    public init(kind: Kind, time: Int64, from: AlarmState, to: AlarmState, severity: Severity, value: Double?, actor: String?,
                comment: String?, notify: Bool) {
        self.kind = kind
        self.time = time
        self.from = from
        self.to = to
        self.severity = severity
        self.value = value
        self.actor = actor
        self.comment = comment
        self.notify = notify
    }
}

/// Why an operator action was refused.
public struct AlarmActionError: Error, Hashable, Sendable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// One alarm instance's life cycle: a pure state machine. The rule's tracker reports the condition
/// raising and clearing; people acknowledge, shelve, comment and take it out of service; the clock
/// ends shelving and chattering. Each event returns the journal entries it caused.
public struct Alarm: Hashable, Sendable, Codable {
    /// A timed shelve.
    public struct Shelf: Hashable, Sendable, Codable {
        public var until: Int64
        public var reason: String
        public var by: String
    }

    /// Whether the condition is active (after its delays), whatever the operator sees.
    public internal(set) var conditionActive = false
    public internal(set) var acknowledged = true
    /// Latching alarms stay until acknowledged after their condition clears.
    public internal(set) var latched = false
    public internal(set) var shelf: Shelf?
    public internal(set) var suppressed = false
    /// Why it is out of service; nil in service.
    public internal(set) var outOfServiceReason: String?
    /// Who took it out of service.
    public internal(set) var outOfServiceBy: String?
    public internal(set) var severity: Severity
    public internal(set) var activeSince: Int64?
    public internal(set) var lastChange: Int64 = 0
    /// Recent activation times, for chattering (only those within the chattering window).
    public internal(set) var recentActivations: [Int64] = []
    public internal(set) var chattering = false
    /// Notifications held back while chattering.
    public internal(set) var heldNotifications = 0
    public internal(set) var activations = 0
    public internal(set) var assignee: String?
    /// The value at the last activation or clear.
    public internal(set) var value: Double?

    public init(severity: Severity) { self.severity = severity }

    /// Normal, acknowledged and in service, with no shelve, latch or chattering window running.
    var isAtRest: Bool {
        !conditionActive && acknowledged && !latched && shelf == nil && outOfServiceReason == nil && recentActivations.isEmpty && !chattering
    }

    /// Whether the alarm is active and nobody has acknowledged it (and it is not chattering): what
    /// reminders and escalation chains follow up on.
    public var awaitsAcknowledgement: Bool { state == .activeUnacknowledged && !chattering }

    /// What operators see.
    public var state: AlarmState {
        if outOfServiceReason != nil { return .outOfService }
        if shelf != nil { return .shelved }
        if suppressed { return .suppressed }
        if latched { return .latched }
        switch (conditionActive, acknowledged) {
        case (true, false): return .activeUnacknowledged
        case (true, true): return .activeAcknowledged
        case (false, false): return .returnedUnacknowledged
        case (false, true): return .normal
        }
    }

    /// Whether operators are shown and told about changes now.
    private var annunciated: Bool { outOfServiceReason == nil && shelf == nil && !suppressed }

    // MARK: Condition

    mutating func raise(at time: Int64, value: Double?, policy: ChatteringPolicy) -> [AlarmTransition] {
        guard !conditionActive else { return [] }
        var entries: [AlarmTransition] = []
        let before = state
        conditionActive = true
        activeSince = time
        activations += 1
        self.value = value
        if annunciated { acknowledged = false }
        recentActivations = recentActivations.filter { $0 > time - policy.window } + [time]
        let startsChattering = policy.enabled && !chattering && recentActivations.count >= policy.activations
        if startsChattering { chattering = true }
        let notify = annunciated && !chattering
        if annunciated && chattering { heldNotifications += 1 }
        entries.append(entry(.activated, at: time, from: before, value: value, notify: notify))
        if startsChattering { entries.append(entry(.chattering, at: time, from: state, value: value, notify: false)) }
        return entries
    }

    mutating func clear(at time: Int64, value: Double?, latching: Bool, baseSeverity: Severity) -> [AlarmTransition] {
        guard conditionActive else { return [] }
        let before = state
        conditionActive = false
        activeSince = nil
        self.value = value
        if latching && annunciated && !acknowledged { latched = true }
        severity = baseSeverity
        return [entry(.cleared, at: time, from: before, value: value, notify: annunciated && !chattering)]
    }

    mutating func setSeverity(_ severity: Severity, at time: Int64) -> [AlarmTransition] {
        guard severity != self.severity else { return [] }
        let kind: AlarmTransition.Kind = severity > self.severity ? .escalated : .deescalated
        self.severity = severity
        return [entry(kind, at: time, from: state, value: value, notify: kind == .escalated && annunciated && !chattering)]
    }

    // MARK: People

    public mutating func acknowledge(by actor: String, comment: String?, at time: Int64) throws(AlarmActionError) -> [AlarmTransition] {
        guard !acknowledged else { throw AlarmActionError("the alarm is \(state.rawValue): there is nothing to acknowledge") }
        let before = state
        acknowledged = true
        latched = false
        return [entry(.acknowledged, at: time, from: before, actor: actor, comment: comment)]
    }

    public mutating func shelve(until: Int64, reason: String, by actor: String, at time: Int64,
                                longest: Int64) throws(AlarmActionError) -> [AlarmTransition] {
        guard outOfServiceReason == nil else { throw AlarmActionError("the alarm is out of service: return it to service first") }
        guard until > time else { throw AlarmActionError("a shelve must end in the future") }
        guard until - time <= longest else {
            throw AlarmActionError("this rule allows shelving for at most \(RuleText.duration(longest))")
        }
        guard !reason.isEmpty else { throw AlarmActionError("shelving needs a reason") }
        let before = state
        shelf = Shelf(until: until, reason: reason, by: actor)
        return [entry(.shelved, at: time, from: before, actor: actor, comment: reason)]
    }

    public mutating func unshelve(by actor: String?, at time: Int64) throws(AlarmActionError) -> [AlarmTransition] {
        guard shelf != nil else { throw AlarmActionError("the alarm is not shelved") }
        let before = state
        shelf = nil
        return [reannunciate(.unshelved, from: before, at: time, actor: actor)]
    }

    public mutating func removeFromService(reason: String, by actor: String, at time: Int64) throws(AlarmActionError) -> [AlarmTransition] {
        guard outOfServiceReason == nil else { throw AlarmActionError("the alarm is already out of service") }
        guard !reason.isEmpty else { throw AlarmActionError("taking an alarm out of service needs a reason") }
        let before = state
        (outOfServiceReason, outOfServiceBy) = (reason, actor)
        shelf = nil
        return [entry(.removedFromService, at: time, from: before, actor: actor, comment: reason)]
    }

    public mutating func returnToService(by actor: String, at time: Int64) throws(AlarmActionError) -> [AlarmTransition] {
        guard outOfServiceReason != nil else { throw AlarmActionError("the alarm is in service") }
        let before = state
        (outOfServiceReason, outOfServiceBy) = (nil, nil)
        return [reannunciate(.returnedToService, from: before, at: time, actor: actor)]
    }

    public mutating func comment(_ text: String, by actor: String, at time: Int64) -> [AlarmTransition] {
        [entry(.commented, at: time, from: state, actor: actor, comment: text)]
    }

    public mutating func assign(to person: String?, by actor: String, at time: Int64) -> [AlarmTransition] {
        assignee = person
        return [entry(.assigned, at: time, from: state, actor: actor, comment: person)]
    }

    // MARK: Design and clock

    mutating func setSuppressed(_ suppressed: Bool, at time: Int64) -> [AlarmTransition] {
        guard suppressed != self.suppressed else { return [] }
        let before = state
        self.suppressed = suppressed
        if suppressed { return [entry(.suppressed, at: time, from: before, notify: false)] }
        return [reannunciate(.unsuppressed, from: before, at: time, actor: nil)]
    }

    /// Ends an expired shelve and a chattering spell that has calmed down.
    mutating func tick(at time: Int64, policy: ChatteringPolicy) -> [AlarmTransition] {
        var entries: [AlarmTransition] = []
        if let shelf, time >= shelf.until { entries += (try? unshelve(by: nil, at: shelf.until)) ?? [] }
        recentActivations.removeAll { $0 <= time - policy.window }
        if chattering, recentActivations.count < policy.activations {
            chattering = false
            entries.append(entry(.chatteringEnded, at: time, from: state, comment: heldNotifications > 0 ? "\(heldNotifications) held" : nil))
            heldNotifications = 0
        }
        return entries
    }

    /// The next time the clock changes something (a shelve ending, a chattering window passing).
    func nextDeadline(policy: ChatteringPolicy) -> Int64? {
        let chatterEnd = chattering ? recentActivations.first.map { $0 + policy.window } : nil
        switch (shelf?.until, chatterEnd) {
        case (let a?, let b?): return min(a, b)
        case (let a, let b): return a ?? b
        }
    }

    /// Back on display after a shelve, suppression or maintenance: an active condition asks for acknowledgement again.
    private mutating func reannunciate(_ kind: AlarmTransition.Kind, from before: AlarmState, at time: Int64,
                                       actor: String?) -> AlarmTransition {
        guard annunciated else { return entry(kind, at: time, from: before, actor: actor) }
        acknowledged = !conditionActive
        latched = false
        return entry(kind, at: time, from: before, value: value, actor: actor, notify: conditionActive && !chattering)
    }

    private mutating func entry(_ kind: AlarmTransition.Kind, at time: Int64, from before: AlarmState, value: Double? = nil,
                                actor: String? = nil, comment: String? = nil, notify: Bool = false) -> AlarmTransition {
        lastChange = max(lastChange, time)
        return AlarmTransition(kind: kind, time: time, from: before, to: state, severity: severity, value: value, actor: actor,
                               comment: comment, notify: notify)
    }
}

/// When an alarm counts as chattering: `activations` or more within `window` milliseconds (ISA-18.2's rule of thumb: 3 in 60 s).
public struct ChatteringPolicy: Hashable, Sendable {
    public var enabled = true
    public var activations = 3
    public var window: Int64 = 60_000
    public init(enabled: Bool = true, activations: Int = 3, window: Int64 = 60_000) {
        self.enabled = enabled
        self.activations = activations
        self.window = window
    }
}
