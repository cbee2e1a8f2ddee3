public import GembaCore

/// A machine's state derived from its signals (a door switch, spindle load, a PLC bit, power draw)
/// by rules written in the rule language, in priority order: at every sample, the first rule that
/// holds names the state, and when none does, `otherwise` does. A rule reading a tag that has not
/// reported yet is not met. States exist only from the first sample on (before it: no data).
public struct StateDerivation: Sendable {
    public struct Rule: Sendable {
        /// A state word or reason path (`setup`, `unplanned_stop/jam`).
        public var state: String
        public var condition: Condition
    }

    public let rules: [Rule]
    public let otherwise: String

    /// Parses the rules; a syntax error names the rule (from 1), line and column. Only conditions on
    /// the latest values qualify: no windows, no `no_data`, no KPIs, no state.
    public init(_ rules: [(state: String, when: String)], otherwise: String) throws(ModelError) {
        guard (1...32).contains(rules.count) else { throw ModelError(.invalid, "stateRules: 1 to 32 rules") }
        var parsed: [Rule] = []
        for (index, rule) in rules.enumerated() {
            let condition: Condition
            do { condition = try RuleParser.parseCondition(rule.when) } catch {
                throw ModelError(.invalid, "stateRules[\(index + 1)].when: \(error.description)")
            }
            guard condition.longestWindow == 0, !condition.dependsOnTime,
                  !condition.reads({ if case .kpi = $0 { true } else { $0.isState } }), !condition.tags.isEmpty
            else {
                throw ModelError(.invalid, "stateRules[\(index + 1)].when: compare the machine's tags as they are now (no rate, deviation, no_data, KPI or state)")
            }
            parsed.append(Rule(state: rule.state, condition: condition))
        }
        self.rules = parsed
        self.otherwise = otherwise
    }

    /// The tags the rules read.
    public var tags: Set<String> { rules.reduce(into: []) { $0.formUnion($1.condition.tags) } }

    /// One state per sample time (samples of several tags at one time make one state), oldest first.
    /// Samples of bad quality are left out.
    public func states(from samples: [(tag: String, sample: Sample)]) -> [(time: Int64, state: String)] {
        let ordered = samples.filter { $0.sample.quality != .bad }.sorted { $0.sample.time < $1.sample.time }
        var signals = MachineSignals()
        var states: [(time: Int64, state: String)] = []
        var index = ordered.startIndex
        while index < ordered.endIndex {
            let time = ordered[index].sample.time
            while index < ordered.endIndex, ordered[index].sample.time == time {
                signals.record(tag: ordered[index].tag, ordered[index].sample)
                index += 1
            }
            let context = EvaluationContext(signals: signals, watchingSince: .min, now: time.millisecondsSinceEpoch)
            let state = rules.first { $0.condition.evaluate(context) == .yes }?.state ?? otherwise
            states.append((time.millisecondsSinceEpoch, state))
        }
        return states
    }
}
