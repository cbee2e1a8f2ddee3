/// A watched machine's rule instances by rule id, counting those not at rest: while every instance
/// rests, a sample that a threshold rule passes by needs no look-up of its instance (on a plant's
/// ingest stream that look-up is a cache miss per sample).
struct InstanceTable: Sendable {
    typealias Index = Dictionary<String, RuleInstance>.Index

    /// The instances by rule id.
    private(set) var byRule: [String: RuleInstance] = [:]
    /// How many instances are not at rest (a timer running, or an alarm that is not normal).
    private(set) var restless = 0

    /// Whether every instance rests: an evaluation of a condition that stays false changes none.
    var allAtRest: Bool { restless == 0 }

    var ids: Dictionary<String, RuleInstance>.Keys { byRule.keys }

    subscript(id: String) -> RuleInstance? {
        get { byRule[id] }
        set {
            if let old = byRule[id], !old.isAtRest { restless -= 1 }
            if let newValue, !newValue.isAtRest { restless += 1 }
            byRule[id] = newValue
        }
    }

    /// The instance at a slot ``update(_:_:)`` answered (valid until an instance is added or removed).
    subscript(slot slot: Index) -> RuleInstance { byRule.values[slot] }

    /// Runs `body` on one instance in place (one look-up); nil when the machine has none for the rule.
    /// Answers what `body` answered, the instance's slot and, when the instance changed, its state before.
    mutating func update<Result>(_ id: String, _ body: (inout RuleInstance) -> Result)
        -> (result: Result, slot: Index, changedFrom: RuleInstance?)? {
        guard let slot = byRule.index(forKey: id) else { return nil }
        let before = byRule.values[slot]
        let result = body(&byRule.values[slot])
        let after = byRule.values[slot]
        guard after != before else { return (result, slot, nil) }
        if before.isAtRest != after.isAtRest { restless += after.isAtRest ? -1 : 1 }
        return (result, slot, before)
    }
}
