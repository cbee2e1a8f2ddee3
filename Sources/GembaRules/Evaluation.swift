internal import GembaCore

/// Three-valued truth: a condition over a tag that has not reported yet is unknown, neither raising nor clearing.
public enum Truth: Sendable, Hashable {
    case yes, no, unknown

    init(_ value: Bool) { self = value ? .yes : .no }

    var negated: Truth {
        switch self {
        case .yes: .no
        case .no: .yes
        case .unknown: .unknown
        }
    }
}

/// Everything a condition reads at one moment for one machine.
public struct EvaluationContext {
    public var signals: MachineSignals
    /// The machine's asset metadata (per-machine thresholds).
    public var metadata: [String: String]
    /// The current shift's KPIs, as fractions; absent: unknown.
    public var kpis: [Operand.KPI: Double]
    /// The category of a state value (`breakdown` → `unplanned_stop`), from the reason catalogue.
    public var stateCategory: (String) -> String?
    /// Since when the machine has been watched (its first sample, the rule's creation, the server's
    /// start): `no_data` of a tag not seen since counts from here, so a restart raises no false silence.
    public var watchingSince: Int64
    public var now: Int64
    /// The shifts of the machine's site calendar around now; nil: not known yet (rules on shifts wait).
    public var shifts: [Range<Int64>]?

    public init(signals: MachineSignals, metadata: [String: String] = [:], kpis: [Operand.KPI: Double] = [:],
                stateCategory: @escaping (String) -> String? = { _ in nil }, watchingSince: Int64, now: Int64, shifts: [Range<Int64>]? = nil) {
        self.shifts = shifts
        self.signals = signals
        self.metadata = metadata
        self.kpis = kpis
        self.stateCategory = stateCategory
        self.watchingSince = watchingSince
        self.now = now
    }
}

extension EvaluationContext {
    /// When `tag` last reported while watched; nil: not since watching began.
    func lastSample(of tag: String) -> Int64? {
        guard let time = signals.latest[tag]?.time.millisecondsSinceEpoch, time >= watchingSince else { return nil }
        return time
    }
}

/// An operand's value at one moment.
enum Reading: Equatable {
    case number(Double)
    case text(String)
    case missing

    init(_ value: SampleValue) {
        switch value {
        case .string(let text): self = .text(text)
        default: self = value.numeric.map(Reading.number) ?? .missing
        }
    }

    init(_ value: RuleValue) {
        switch value {
        case .number(let number): self = .number(number)
        case .bool(let flag): self = .number(flag ? 1 : 0)
        case .string(let text): self = .text(text)
        }
    }

    var number: Double? { if case .number(let value) = self { value } else { nil } }
}

extension Condition {
    /// Whether the condition holds in `context`.
    public func evaluate(_ context: EvaluationContext) -> Truth {
        switch self {
        case .compare(let left, let op, let right):
            return Self.compare(left.read(context), op, right.read(context))
        case .member(let left, let values, let negated):
            let reading = left.read(context)
            guard reading != .missing else { return .unknown }
            var found = values.contains { Self.compare(reading, .equal, Reading($0)) == .yes }
            if !found, left.isState, case .text(let state) = reading, let category = context.stateCategory(state) {
                found = values.contains(.string(category))
            }
            return Truth(found != negated)
        case .noData(let tag, let duration):
            if let last = context.lastSample(of: tag) { return Truth(context.now - last >= duration) }
            // Nothing seen since watching began (a new rule, a restart): silent only once watched for the whole duration.
            return context.now - context.watchingSince >= duration ? .yes : .unknown
        case .all(let parts):
            var result = Truth.yes
            for part in parts {
                switch part.evaluate(context) {
                case .no: return .no
                case .unknown: result = .unknown
                case .yes: break
                }
            }
            return result
        case .any(let parts):
            var result = Truth.no
            for part in parts {
                switch part.evaluate(context) {
                case .yes: return .yes
                case .unknown: result = .unknown
                case .no: break
                }
            }
            return result
        case .not(let inner):
            return inner.evaluate(context).negated
        }
    }

    /// The first time after `now` at which a `no_data` part turns true without a new sample; nil: none will.
    public func nextTimeChange(_ context: EvaluationContext) -> Int64? {
        switch self {
        case .compare, .member: return nil
        case .noData(let tag, let duration):
            let due = (context.lastSample(of: tag) ?? context.watchingSince) + duration
            return due > context.now ? due : nil
        case .all(let parts), .any(let parts): return parts.compactMap { $0.nextTimeChange(context) }.min()
        case .not(let inner): return inner.nextTimeChange(context)
        }
    }

    private static func compare(_ left: Reading, _ op: ComparisonOperator, _ right: Reading) -> Truth {
        switch (left, right) {
        case (.number(let a), .number(let b)): return Truth(op.holds(a, b))
        case (.text(let a), .text(let b)):
            switch op {
            case .equal: return Truth(a == b)
            case .notEqual: return Truth(a != b)
            default: return Truth(op.holds(a < b ? -1 : a == b ? 0 : 1, 0))
            }
        case (.text(let text), .number(let number)), (.number(let number), .text(let text)):
            // Metadata are text: a threshold written as "85" compares as a number.
            guard let parsed = Double(text) else { return .unknown }
            return left.number == nil ? Truth(op.holds(parsed, number)) : Truth(op.holds(number, parsed))
        default: return .unknown
        }
    }
}

extension Operand {
    func read(_ context: EvaluationContext) -> Reading {
        switch self {
        case .literal(let value): return Reading(value)
        case .tag(let tag): return context.signals.latest[tag].map { Reading($0.value) } ?? .missing
        case .state: return context.signals.latest[Condition.stateTag].map { Reading($0.value) } ?? .missing
        case .metadata(let key): return context.metadata[key].map(Reading.text) ?? .missing
        case .kpi(let kpi, _): return context.kpis[kpi].map(Reading.number) ?? .missing
        case .rate(let tag, let window):
            let samples = context.signals.window(of: tag, span: window, now: context.now)
            guard let first = samples.first, let last = samples.last, last.time > first.time else { return .missing }
            return .number((last.value - first.value) / Double(last.time - first.time) * 60_000)
        case .deviation(let tag, let window):
            let samples = context.signals.window(of: tag, span: window, now: context.now)
            guard samples.count >= 6, let latest = samples.last else { return .missing }
            let history = samples.dropLast()
            let mean = history.reduce(0) { $0 + $1.value } / Double(history.count)
            let variance = history.reduce(0) { $0 + ($1.value - mean) * ($1.value - mean) } / Double(history.count - 1)
            guard variance > 0 else { return .number(latest.value == mean ? 0 : .infinity * (latest.value > mean ? 1 : -1)) }
            return .number((latest.value - mean) / variance.squareRoot())
        }
    }
}
