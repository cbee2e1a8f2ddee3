/// What a rule's text says: when the alarm raises and when it clears.
///
/// `spindle_temp > 85 for 2m clear < 80 after 30s` raises once the temperature has stayed above 85
/// for two minutes and clears once it has stayed below 80 for thirty seconds.
public struct RuleExpression: Hashable, Sendable {
    /// Raises the alarm (after ``onDelay`` or ``samples``).
    public var condition: Condition
    /// How long the condition must hold before the alarm raises, in milliseconds.
    public var onDelay: Int64 = 0
    /// "N of M samples": the condition held on at least `count` of the last `window` evaluations.
    public var samples: SampleCount?
    /// Clears the alarm once active; nil: the condition no longer holding clears it.
    public var clear: Condition?
    /// How long the clear must hold before the alarm clears, in milliseconds.
    public var offDelay: Int64 = 0

    public init(condition: Condition, onDelay: Int64 = 0, samples: SampleCount? = nil, clear: Condition? = nil, offDelay: Int64 = 0) {
        self.condition = condition
        self.onDelay = onDelay
        self.samples = samples
        self.clear = clear
        self.offDelay = offDelay
    }

    /// At least `count` of the last `window` evaluations.
    public struct SampleCount: Hashable, Sendable {
        public var count: Int
        public var window: Int
        public init(count: Int, window: Int) {
            self.count = count
            self.window = window
        }
    }

    /// The tags whose samples the rule reads.
    public var tags: Set<String> { condition.tags.union(clear?.tags ?? []) }

    /// Whether evaluation must also run on a clock (delays, missing data) and not only on samples.
    public var dependsOnTime: Bool {
        onDelay > 0 || offDelay > 0 || condition.dependsOnTime || clear?.dependsOnTime == true
    }

    /// Whether any part reads the current shift's KPIs.
    public var readsKPIs: Bool { condition.reads(\.isKPI) || clear?.reads(\.isKPI) == true }

    /// Every operand of the condition and the clear condition.
    var operands: [Operand] { condition.operands + (clear?.operands ?? []) }

    /// What the rule's alarms stand for: a line or a site when it reads their KPIs, else each machine.
    public var level: Operand.KPILevel {
        operands.compactMap(\.kpiLevel).max { $0.rank < $1.rank } ?? .machine
    }

    /// The longest trailing window (rate, deviation) the rule reads, in milliseconds.
    public var longestWindow: Int64 { max(condition.longestWindow, clear?.longestWindow ?? 0) }
}
