import GembaCore
import GembaRules

/// One rule instance on one machine, fed samples of `t` and `state` at given times.
struct Harness {
    var rule: AlarmRule
    var instance: RuleInstance
    var context: EvaluationContext

    init(rule text: String, configure: (inout AlarmRule) -> Void = { _ in }) {
        var rule = AlarmRule(id: "r", name: "r", text: text, expression: try! RuleParser.parse(text), severity: .medium)
        rule.chattering = ChatteringPolicy(activations: 3, window: 60_000)
        configure(&rule)
        self.rule = rule
        instance = RuleInstance(rule: rule)
        context = EvaluationContext(signals: MachineSignals(), stateCategory: { $0 == "breakdown" ? "unplanned_stop" : nil },
                                    watchingSince: 0, now: 0)
        for tag in rule.expression.tags { context.signals.keepWindow(of: tag, span: max(1, rule.expression.longestWindow)) }
    }

    var state: AlarmState { instance.alarm.state }
    var alarmState: Alarm { instance.alarm }

    mutating func feed(_ tag: String, _ value: SampleValue, at time: Int64) -> [AlarmTransition] {
        context.now = time
        context.signals.record(tag: tag, Sample(time: Timestamp(millisecondsSinceEpoch: time), value: value))
        return instance.evaluate(rule, context, sampled: true)
    }

    mutating func feed(t: Double, at time: Int64) -> [AlarmTransition] { feed("t", .double(t), at: time) }
    mutating func feed(state: String, at time: Int64) -> [AlarmTransition] { feed("state", .string(state), at: time) }

    mutating func tick(at time: Int64) -> [AlarmTransition] {
        context.now = time
        return instance.evaluate(rule, context, sampled: false)
    }

    func deadline() -> Int64? { instance.nextDeadline(rule, context) }

    mutating func alarm(_ action: (inout Alarm) throws -> [AlarmTransition]) rethrows -> [AlarmTransition] {
        var alarm = instance.alarm
        let entries = try action(&alarm)
        instance = RuleInstance(tracker: instance.tracker, alarm: alarm)
        return entries
    }
}
