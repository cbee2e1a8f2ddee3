/// Writes expressions back in the rule syntax; what it writes parses to the same expression.
public enum RuleText {
    public static func text(_ expression: RuleExpression) -> String {
        var text = condition(expression.condition, top: true)
        if expression.onDelay > 0 { text += " for " + duration(expression.onDelay) }
        if let samples = expression.samples { text += " for \(samples.count) of \(samples.window) samples" }
        if let clear = expression.clear {
            if case .compare(let left, _, _) = expression.condition, case .compare(left, let op, let right) = clear {
                text += " clear \(op.rawValue) \(operand(right))"
            } else {
                text += " clear when " + condition(clear, top: true)
            }
        }
        if expression.offDelay > 0 { text += (expression.clear == nil ? " clear" : "") + " after " + duration(expression.offDelay) }
        return text
    }

    public static func condition(_ condition: Condition, top: Bool = false) -> String {
        switch condition {
        case .compare(let left, let op, let right): return "\(operand(left)) \(op.rawValue) \(operand(right))"
        case .member(let left, let values, let negated):
            return "\(operand(left)) \(negated ? "not in" : "in") [\(values.map(member).joined(separator: ", "))]"
        case .noData(let tag, let span): return "no_data(\(name(tag)), \(duration(span)))"
        case .all(let parts): return wrap(parts.map { self.condition($0) }.joined(separator: " and "), top)
        case .any(let parts): return wrap(parts.map { self.condition($0) }.joined(separator: " or "), top)
        case .not(let inner): return "not " + self.condition(inner, top: false)
        }
    }

    public static func operand(_ operand: Operand) -> String {
        switch operand {
        case .literal(let value): value.description
        case .tag(let tag): name(tag)
        case .metadata(let key): "meta." + key
        case .state: "state"
        case .rate(let tag, let window): "rate(\(name(tag)), \(duration(window)))"
        case .deviation(let tag, let window): "deviation(\(name(tag)), \(duration(window)))"
        case .kpi(let kpi, let level): level.prefix + kpi.rawValue
        }
    }

    /// Reads a duration in the rule syntax's units (`500ms`, `30s`, `2m`, `1h`, `1d`); nil when it is not one.
    public static func parseDuration(_ text: String) -> Int64? {
        guard let tokens = try? RuleLexer.tokens(text), tokens.count == 2, case .duration(let value) = tokens[0].kind else { return nil }
        return value
    }

    /// A duration in the largest unit that writes it exactly: `90s`, `2m`, `1h`.
    public static func duration(_ milliseconds: Int64) -> String {
        for (unit, size) in [("d", Int64(86_400_000)), ("h", 3_600_000), ("m", 60_000), ("s", 1000)]
        where milliseconds >= size && milliseconds % size == 0 {
            return "\(milliseconds / size)\(unit)"
        }
        return "\(milliseconds)ms"
    }

    private static func wrap(_ text: String, _ top: Bool) -> String { top ? text : "(" + text + ")" }

    private static func member(_ value: RuleValue) -> String {
        if case .string(let text) = value, isPlainWord(text) { return text }
        return value.description
    }

    /// A tag as written: bare when the lexer reads it back as the same identifier, else in backticks.
    private static func name(_ tag: String) -> String { isPlainWord(tag) && !tag.lowercased().hasPrefix("meta.") && !tag.lowercased().hasPrefix("shift.") ? tag : "`\(tag)`" }

    private static let keywords: Set<String> = ["and", "or", "not", "in", "for", "clear", "when", "after", "true", "false", "state", "of",
                                                "samples", "no_data", "rate", "deviation"]

    private static func isPlainWord(_ text: String) -> Bool {
        guard let first = text.utf8.first, RuleLexer.startsIdentifier(first), text.utf8.allSatisfy(RuleLexer.continuesIdentifier) else {
            return false
        }
        return !keywords.contains(text.lowercased())
    }
}
