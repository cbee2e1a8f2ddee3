internal import Foundation

/// Turns a condition's truth over time into raise and clear moments: the on-delay (`for 2m`), N of M
/// samples, the clear condition and its off-delay. The running timers are plain values, so they are
/// persisted with the alarm and resume after a restart.
public struct ConditionTracker: Hashable, Sendable, Codable {
    public internal(set) var active = false
    /// Since when the condition has held while not yet raised (the on-delay running).
    public internal(set) var raiseSince: Int64?
    /// Since when the clear has held while active (the off-delay running).
    public internal(set) var clearSince: Int64?
    /// The last evaluations on samples, newest in bit 0, for N of M.
    public internal(set) var history: UInt64 = 0

    public init() {}

    enum Change: Equatable {
        case raised(at: Int64)
        case cleared(at: Int64)
    }

    mutating func update(raise: Truth, clear: Truth, sampled: Bool, now: Int64, _ expression: RuleExpression) -> Change? {
        if active {
            switch clear {
            case .yes:
                let since = clearSince ?? now
                guard now - since >= expression.offDelay else {
                    clearSince = since
                    return nil
                }
                active = false
                clearSince = nil
                raiseSince = nil
                history = 0
                return .cleared(at: since + expression.offDelay)
            case .no: clearSince = nil
            case .unknown: break
            }
            return nil
        }
        if let samples = expression.samples {
            guard sampled, raise != .unknown else { return nil }
            history = history << 1 | (raise == .yes ? 1 : 0)
            let window = samples.window >= 64 ? UInt64.max : (UInt64(1) << samples.window) - 1
            guard (history & window).nonzeroBitCount >= samples.count else { return nil }
            active = true
            return .raised(at: now)
        }
        switch raise {
        case .yes:
            let since = raiseSince ?? now
            guard now - since >= expression.onDelay else {
                raiseSince = since
                return nil
            }
            active = true
            raiseSince = nil
            return .raised(at: since + expression.onDelay)
        case .no: raiseSince = nil
        case .unknown: break
        }
        return nil
    }

    /// When a running delay completes if nothing changes.
    func nextDeadline(_ expression: RuleExpression) -> Int64? {
        if active { return clearSince.map { $0 + expression.offDelay } }
        return expression.samples == nil ? raiseSince.map { $0 + expression.onDelay } : nil
    }
}

/// One rule watching one machine: its condition tracker and its alarm. Pure: the engine and the
/// backtest feed it the machine's signals at sample times and at deadlines, and journal what it answers.
public struct RuleInstance: Hashable, Sendable, Codable {
    public internal(set) var tracker = ConditionTracker()
    public internal(set) var alarm: Alarm
    /// The reminders and escalation steps sent for the current activation (kept by the engine).
    public internal(set) var followUps: FollowUpProgress?

    public init(rule: AlarmRule) { alarm = Alarm(severity: rule.severity) }

    /// No timer runs and the alarm is normal with nothing pending: while the condition stays false,
    /// an evaluation changes nothing.
    var isAtRest: Bool { tracker == ConditionTracker() && alarm.isAtRest }

    public init(tracker: ConditionTracker, alarm: Alarm) {
        self.tracker = tracker
        self.alarm = alarm
    }

    /// Evaluates the rule at `context.now`; `sampled` when a sample of one of its tags caused it (N of M counts only those).
    public mutating func evaluate(_ rule: AlarmRule, _ context: EvaluationContext, sampled: Bool) -> [AlarmTransition] {
        var entries = alarm.tick(at: context.now, policy: rule.chattering)
        entries += alarm.setSuppressed(Self.suppressed(rule, context), at: context.now)
        let expression = rule.expression
        var raise = expression.condition.evaluate(context)
        var clear = expression.clear?.evaluate(context) ?? raise.negated
        if let schedule = rule.schedule, !schedule.includes(context.now) { (raise, clear) = (.no, .yes) }
        // A rule on shifts waits for the calendar: until the shifts are known it does not apply.
        if rule.duringShifts, !(context.shifts ?? []).contains(where: { $0.contains(context.now) }) { (raise, clear) = (.no, .yes) }
        switch tracker.update(raise: raise, clear: clear, sampled: sampled, now: context.now, expression) {
        case .raised(let time)?: entries += alarm.raise(at: time, value: Self.value(rule, context), policy: rule.chattering)
        case .cleared(let time)?:
            entries += alarm.clear(at: time, value: Self.value(rule, context), latching: rule.latching, baseSeverity: rule.severity)
        case nil: break
        }
        if alarm.conditionActive, let since = alarm.activeSince {
            entries += alarm.setSeverity(Self.severity(rule, context, activeFor: context.now - since), at: context.now)
        }
        return entries
    }

    /// The next time the clock alone changes something (a delay completing, data going missing, a
    /// shelve ending, an escalation stage starting); nil: only a sample can.
    public func nextDeadline(_ rule: AlarmRule, _ context: EvaluationContext) -> Int64? {
        var next: Int64?
        func consider(_ due: Int64?) { if let due, due < next ?? .max { next = due } }
        consider(tracker.nextDeadline(rule.expression))
        consider(alarm.nextDeadline(policy: rule.chattering))
        if rule.expression.dependsOnTime {
            consider(rule.expression.condition.nextTimeChange(context))
            if tracker.active { consider(rule.expression.clear?.nextTimeChange(context)) }
        }
        if alarm.conditionActive, let since = alarm.activeSince {
            for stage in rule.escalation where since + stage.after > context.now { consider(since + stage.after) }
        }
        if let schedule = rule.schedule { consider(schedule.nextBoundary(after: context.now)) }
        if rule.duringShifts, let shifts = context.shifts {
            consider(shifts.flatMap { [$0.lowerBound, $0.upperBound] }.filter { $0 > context.now }.min())
        }
        return next
    }

    static func suppressed(_ rule: AlarmRule, _ context: EvaluationContext) -> Bool {
        guard !rule.suppressWhen.isEmpty, case .string(let state)? = context.signals.latest[Condition.stateTag]?.value else { return false }
        return rule.suppressWhen.contains(state) || context.stateCategory(state).map(rule.suppressWhen.contains) == true
    }

    /// The highest severity whose stage holds: the rule's own, or an escalation stage's.
    static func severity(_ rule: AlarmRule, _ context: EvaluationContext, activeFor duration: Int64) -> Severity {
        rule.escalation.reduce(rule.severity) { highest, stage in
            guard duration >= stage.after, stage.when.map({ $0.evaluate(context) == .yes }) ?? true else { return highest }
            return max(highest, stage.severity)
        }
    }

    /// The value of the first tag the condition reads, for the journal and notifications.
    static func value(_ rule: AlarmRule, _ context: EvaluationContext) -> Double? {
        for operand in rule.expression.condition.operands {
            switch operand {
            case .tag, .rate, .deviation, .kpi: if let number = operand.read(context).number { return number }
            default: continue
            }
        }
        return nil
    }
}

extension RuleSchedule {
    private var zone: TimeZone { TimeZone(identifier: timeZone) ?? TimeZone(identifier: "UTC")! }

    /// Local weekday (1 = Monday) and minute of the day at `time`.
    private func local(_ time: Int64) -> (weekday: Int, minute: Int) {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = zone
        let date = Date(timeIntervalSince1970: Double(time) / 1000)
        let parts = calendar.dateComponents([.weekday, .hour, .minute], from: date)
        let weekday = ((parts.weekday ?? 1) + 5) % 7 + 1
        return (weekday, (parts.hour ?? 0) * 60 + (parts.minute ?? 0))
    }

    /// Whether the rule applies at `time`. A window past midnight belongs to the weekday it starts on.
    public func includes(_ time: Int64) -> Bool {
        let (weekday, minute) = local(time)
        if start <= end { return weekdays.contains(weekday) && minute >= start && minute < end }
        let yesterday = (weekday + 5) % 7 + 1
        return (weekdays.contains(weekday) && minute >= start) || (weekdays.contains(yesterday) && minute < end)
    }

    /// The next whole minute after `time` at which ``includes(_:)`` changes; searched a week ahead.
    public func nextBoundary(after time: Int64) -> Int64? {
        let now = includes(time)
        var minute = (time / 60_000 + 1) * 60_000
        for _ in 0..<(7 * 24 * 60) {
            if includes(minute) != now { return minute }
            minute += 60_000
        }
        return nil
    }
}
