public import GembaCore

/// A value a condition reads or compares with.
public indirect enum Operand: Hashable, Sendable {
    /// A number, string or boolean written in the rule.
    case literal(RuleValue)
    /// The latest value of one of the machine's tags.
    case tag(String)
    /// A value from the machine's asset metadata (`meta.max_temp`): per-machine thresholds.
    case metadata(String)
    /// The machine's state (its state tag's value); `in` also matches the state's category.
    case state
    /// A tag's change per minute over a trailing window.
    case rate(tag: String, window: Int64)
    /// How many standard deviations a tag's latest value lies from its mean over a trailing window.
    case deviation(tag: String, window: Int64)
    /// A KPI of the current shift, as a fraction (0.85 is 85 %): the machine's (`shift.oee`), its
    /// line's (`line.oee`) or its site's (`site.oee`).
    case kpi(KPI, of: KPILevel = .machine)

    /// The KPIs a rule can read from the OEE engine.
    public enum KPI: String, Hashable, Sendable, CaseIterable {
        case oee, availability, performance, quality
    }

    /// Whose KPIs: a rule reading a line's or site's has one alarm per line or site, not per machine.
    public enum KPILevel: String, Hashable, Sendable, CaseIterable, Codable {
        case machine, line, site

        var rank: Int { Self.allCases.firstIndex(of: self)! }

        /// How the rule syntax names it.
        public var prefix: String { self == .machine ? "shift." : rawValue + "." }

        /// The path a line's or site's alarms are kept under: the line's path with the machine
        /// `_line` (`plant1/machining/line1/_line`), the site with the line and machine `_site`
        /// (`plant1/_site/_site`); the machine itself for `machine`.
        public func asset(of machine: AssetPath) -> AssetPath? {
            switch self {
            case .machine: return machine
            case .line: return try? AssetPath(site: machine.site, area: machine.area, line: machine.line, machine: "_line")
            case .site: return try? AssetPath(site: machine.site, area: nil, line: "_site", machine: "_site")
            }
        }
    }

    /// The tags this operand reads.
    var tags: Set<String> {
        switch self {
        case .tag(let name), .rate(let name, _), .deviation(let name, _): [name]
        case .literal, .metadata, .state, .kpi: []
        }
    }
}

/// How two operands compare.
public enum ComparisonOperator: String, Hashable, Sendable, CaseIterable {
    case greater = ">", greaterOrEqual = ">=", less = "<", lessOrEqual = "<=", equal = "==", notEqual = "!="

    /// The operator with its operands swapped: `a op b` ⇔ `b op.mirrored a`.
    var mirrored: ComparisonOperator {
        switch self {
        case .greater: .less
        case .greaterOrEqual: .lessOrEqual
        case .less: .greater
        case .lessOrEqual: .greaterOrEqual
        case .equal, .notEqual: self
        }
    }

    /// Whether `left op right` holds for numbers.
    func holds(_ left: Double, _ right: Double) -> Bool {
        switch self {
        case .greater: left > right
        case .greaterOrEqual: left >= right
        case .less: left < right
        case .lessOrEqual: left <= right
        case .equal: left == right
        case .notEqual: left != right
        }
    }
}

/// A constant in a rule.
public enum RuleValue: Hashable, Sendable, CustomStringConvertible {
    case number(Double)
    case string(String)
    case bool(Bool)

    public var description: String {
        switch self {
        case .number(let value):
            value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
        case .string(let text): RuleValue.quoted(text)
        case .bool(let value): String(value)
        }
    }

    /// A string literal as the rule syntax writes it.
    static func quoted(_ text: String) -> String {
        "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
    }
}

/// A boolean condition over a machine's signals: comparisons, membership, missing data, combined freely.
public indirect enum Condition: Hashable, Sendable {
    case compare(Operand, ComparisonOperator, Operand)
    /// `left in [a, b]`; for `state`, a member may also name a state category.
    case member(Operand, [RuleValue], negated: Bool)
    /// No sample of the tag for the duration (milliseconds).
    case noData(tag: String, duration: Int64)
    case all([Condition])
    case any([Condition])
    case not(Condition)

    /// Every operand the condition reads, for indexing and validation.
    var operands: [Operand] {
        switch self {
        case .compare(let left, _, let right): [left, right]
        case .member(let left, _, _): [left]
        case .noData(let tag, _): [.tag(tag)]
        case .all(let parts), .any(let parts): parts.flatMap(\.operands)
        case .not(let inner): inner.operands
        }
    }

    /// The tags whose samples can change the condition's truth.
    public var tags: Set<String> {
        var result = Set<String>()
        for operand in operands { result.formUnion(operand.tags) }
        if reads(\.isState) { result.insert(Condition.stateTag) }
        return result
    }

    /// The longest trailing window any part reads (rate, deviation), in milliseconds.
    var longestWindow: Int64 {
        operands.reduce(0) { longest, operand in
            switch operand {
            case .rate(_, let window), .deviation(_, let window): max(longest, window)
            default: longest
            }
        }
    }

    /// Whether any part reads time as well as samples (no data), so the engine must re-evaluate it on a clock.
    var dependsOnTime: Bool {
        switch self {
        case .noData: true
        case .compare, .member: false
        case .all(let parts), .any(let parts): parts.contains(where: \.dependsOnTime)
        case .not(let inner): inner.dependsOnTime
        }
    }

    func reads(_ predicate: (Operand) -> Bool) -> Bool { operands.contains(where: predicate) }

    /// The tag that carries a machine's state.
    public static let stateTag = "state"
}

extension Operand {
    var isState: Bool { if case .state = self { true } else { false } }
    var isKPI: Bool { if case .kpi = self { true } else { false } }
    /// The level of a KPI operand; nil for every other operand.
    var kpiLevel: KPILevel? { if case .kpi(_, let level) = self { level } else { nil } }
}
