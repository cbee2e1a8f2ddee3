public import GembaCore

/// Runs a rule over a machine's stored samples as the live engine would have (at every sample and
/// every deadline between them), and answers the alarms it would have raised. Notifies nobody.
public struct Backtest {
    /// One alarm the rule would have raised.
    public struct Raised: Hashable, Sendable {
        public var start: Int64
        /// When its condition cleared; nil: still active at the end of the range.
        public var end: Int64?
        /// The highest severity it reached.
        public var severity: Severity
        /// The value at activation.
        public var value: Double?

        public init(start: Int64, end: Int64?, severity: Severity, value: Double?) {
            self.start = start
            self.end = end
            self.severity = severity
            self.value = value
        }
    }

    /// An asset's shift KPIs (fractions) as they stood at a time, as the live engine is given them.
    public struct KPIPoint: Sendable {
        public var time: Int64
        public var values: [Operand.KPI: Double]

        public init(time: Int64, values: [Operand.KPI: Double]) {
            self.time = time
            self.values = values
        }
    }

    /// Replays `samples` (tag and sample, in time order) and `kpis` (in time order) over `range`;
    /// `context` gives metadata and categories.
    public static func run(_ rule: AlarmRule, samples: [(tag: String, sample: Sample)], kpis: [KPIPoint] = [], range: Range<Int64>,
                           context template: EvaluationContext) -> [Raised] {
        var context = template
        for tag in rule.expression.tags { context.signals.keepWindow(of: tag, span: rule.expression.longestWindow) }
        context.watchingSince = range.lowerBound
        var instance = RuleInstance(rule: rule)
        var raised: [Raised] = []

        func apply(_ entries: [AlarmTransition]) {
            for entry in entries {
                switch entry.kind {
                case .activated: raised.append(Raised(start: entry.time, end: nil, severity: entry.severity, value: entry.value))
                case .cleared: if raised.last?.end == nil { raised[raised.count - 1].end = entry.time }
                case .escalated: if raised.last?.end == nil { raised[raised.count - 1].severity = max(raised[raised.count - 1].severity, entry.severity) }
                default: break
                }
            }
        }
        /// Evaluates at every deadline up to `time`, as the live engine's clock would.
        var deadline: Int64?
        func advance(to time: Int64) {
            while let due = deadline, due <= time, due >= context.now {
                context.now = due
                apply(instance.evaluate(rule, context, sampled: false))
                let next = instance.nextDeadline(rule, context)
                deadline = next == due ? nil : next
            }
        }
        let tags = rule.expression.tags

        context.now = range.lowerBound
        deadline = instance.nextDeadline(rule, context)
        var nextKPI = kpis.startIndex
        /// Gives the rule each KPI point before `time`, as the live engine's refresh would.
        func replayKPIs(before time: Int64) {
            while nextKPI < kpis.endIndex, kpis[nextKPI].time < time {
                let point = kpis[nextKPI]
                nextKPI += 1
                guard range.contains(point.time) else { continue }
                advance(to: point.time)
                context.now = max(context.now, point.time)
                context.kpis = point.values
                apply(instance.evaluate(rule, context, sampled: false))
                deadline = instance.nextDeadline(rule, context)
            }
        }
        for (tag, sample) in samples {
            let time = sample.time.millisecondsSinceEpoch
            guard range.contains(time) else { continue }
            replayKPIs(before: time)
            advance(to: time)
            context.now = time
            context.signals.record(tag: tag, sample)
            apply(instance.evaluate(rule, context, sampled: tags.contains(tag)))
            deadline = instance.nextDeadline(rule, context)
        }
        replayKPIs(before: range.upperBound)
        advance(to: range.upperBound - 1)
        return raised
    }
}
