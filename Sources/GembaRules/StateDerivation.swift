public import GembaCore

/// A machine's state derived from its signals (a door switch, spindle load, a PLC bit, power draw)
/// by rules written in the rule language, in priority order: at every moment, the first rule that
/// holds names the state, and when none does, `otherwise` does. A rule reading a tag that has not
/// reported yet is not met. A rule with a duration (`door_open == true for 2m`) holds once its
/// condition has held that long, from the very moment it has (not only at the next sample).
/// States exist only from the first sample on (before it: no data).
public struct StateDerivation: Sendable {
    public struct Rule: Sendable {
        /// A state word or reason path (`setup`, `unplanned_stop/jam`).
        public var state: String
        public var condition: Condition
        /// How long the condition must have held before the rule does, ms (0: at once).
        public var duration: Int64 = 0
    }

    public let rules: [Rule]
    public let otherwise: String

    /// Parses the rules; a syntax error names the rule (from 1), line and column. Only conditions on
    /// the latest values qualify (no windows, no `no_data`, no KPIs, no state), with an optional
    /// `for` duration.
    public init(_ rules: [(state: String, when: String)], otherwise: String) throws(ModelError) {
        guard (1...32).contains(rules.count) else { throw ModelError(.invalid, "stateRules: 1 to 32 rules") }
        var parsed: [Rule] = []
        for (index, rule) in rules.enumerated() {
            let field = "stateRules[\(index + 1)].when"
            let expression: RuleExpression
            do { expression = try RuleParser.parse(rule.when) } catch { throw ModelError(.invalid, "\(field): \(error.description)") }
            let condition = expression.condition
            guard condition.longestWindow == 0, !condition.dependsOnTime,
                  !condition.reads({ if case .kpi = $0 { true } else { $0.isState } }), !condition.tags.isEmpty
            else {
                throw ModelError(.invalid, "\(field): compare the machine's tags as they are now (no rate, deviation, no_data, KPI or state)")
            }
            guard expression.samples == nil, expression.clear == nil, expression.offDelay == 0 else {
                throw ModelError(.invalid, "\(field): a state rule takes a condition and at most a duration (`for 2m`), no samples or clear")
            }
            parsed.append(Rule(state: rule.state, condition: condition, duration: expression.onDelay))
        }
        self.rules = parsed
        self.otherwise = otherwise
    }

    /// The tags the rules read.
    public var tags: Set<String> { rules.reduce(into: []) { $0.formUnion($1.condition.tags) } }

    /// The longest duration of a rule: how far before a span its samples must be read from, so that
    /// a condition holding since before the span holds at its start.
    public var longestDuration: Int64 { rules.map(\.duration).max() ?? 0 }

    /// One state per sample time (samples of several tags at one time make one state), oldest first,
    /// plus one where a rule's duration runs out between samples and so changes the state. Samples
    /// of bad quality are left out. With `staleAfter` (ms, 0: never), a state that changes
    /// between samples no later than that after the last sample, and where the next sample is later
    /// than that, is followed by no data (nil) then, as the sample's own state would be.
    public func states(from samples: [(tag: String, sample: Sample)], staleAfter: Int64 = 0) -> [(time: Int64, state: String?)] {
        let ordered = samples.filter { $0.sample.quality != .bad }.sorted { $0.sample.time < $1.sample.time }
        var signals = MachineSignals()
        var states: [(time: Int64, state: String?)] = []
        // Since when each rule's condition has held without a break (nil: it does not hold now).
        var since = [Int64?](repeating: nil, count: rules.count)
        func state(at time: Int64) -> String {
            let holding = rules.indices.first { index in since[index].map { time - $0 >= rules[index].duration } ?? false }
            return holding.map { rules[$0].state } ?? otherwise
        }
        // The state changes between the sample at `last` and the next one (at `next`), as durations run out.
        func durationsRunOut(after last: Int64, before next: Int64?) {
            let fresh = staleAfter > 0 ? last + staleAfter : Int64.max
            let ends = Set(rules.indices.compactMap { index -> Int64? in
                guard rules[index].duration > 0, let start = since[index] else { return nil }
                let end = start + rules[index].duration
                return end > last && end < min(next ?? .max, fresh) ? end : nil
            }).sorted()
            var changed = false
            for end in ends {
                let now = state(at: end)
                if states.last?.state != now {
                    states.append((end, now))
                    changed = true
                }
            }
            if changed, fresh < (next ?? .max) { states.append((fresh, nil)) }
        }
        var index = ordered.startIndex
        var last: Int64?
        while index < ordered.endIndex {
            let time = ordered[index].sample.time.millisecondsSinceEpoch
            if let last { durationsRunOut(after: last, before: time) }
            while index < ordered.endIndex, ordered[index].sample.time.millisecondsSinceEpoch == time {
                signals.record(tag: ordered[index].tag, ordered[index].sample)
                index += 1
            }
            let context = EvaluationContext(signals: signals, watchingSince: .min, now: time)
            for rule in rules.indices {
                since[rule] = rules[rule].condition.evaluate(context) == .yes ? since[rule] ?? time : nil
            }
            states.append((time, state(at: time)))
            last = time
        }
        if let last { durationsRunOut(after: last, before: nil) }
        return states
    }
}
