/// Reads the rule syntax into a ``RuleExpression``:
///
/// ```
/// rule      = condition [ "for" ( duration | INT "of" INT [ "samples" ] ) ]
///             [ "clear" [ op operand | "when" condition ] [ "after" duration ] ]
/// condition = and { ( "or" | "||" ) and }
/// and       = unary { ( "and" | "&&" ) unary }
/// unary     = ( "not" | "!" ) unary | "(" condition ")" | "no_data" "(" tag "," duration ")" | comparison
/// comparison = operand ( op operand | [ "not" ] "in" ( "[" value { "," value } "]" | value ) )
///            | tag                                  (a boolean tag: `door_open`)
/// operand   = number | string | true | false | state | shift.oee | shift.availability | shift.performance
///           | shift.quality | meta.<key> | rate "(" tag "," duration ")" | deviation "(" tag "," duration ")" | tag
/// ```
///
/// Keywords are case-insensitive; a tag whose name is a keyword is written in backticks. `#` starts a comment.
public struct RuleParser {
    private var tokens: [RuleToken]
    private var position = 0
    /// How deep parentheses and `not` nest here; bounded, so no input can exhaust the stack.
    private var depth = 0
    static let maximumDepth = 64

    private init(_ tokens: [RuleToken]) { self.tokens = tokens }

    /// Parses a whole rule; the error names the line and column.
    public static func parse(_ text: String) throws(RuleSyntaxError) -> RuleExpression {
        var parser = RuleParser(try RuleLexer.tokens(text))
        return try parser.rule()
    }

    /// Parses a condition alone (an escalation stage's `when`).
    public static func parseCondition(_ text: String) throws(RuleSyntaxError) -> Condition {
        var parser = RuleParser(try RuleLexer.tokens(text))
        let condition = try parser.condition()
        try parser.expectEnd()
        return condition
    }

    private var current: RuleToken { tokens[position] }

    private mutating func advance() -> RuleToken {
        defer { if position < tokens.count - 1 { position += 1 } }
        return tokens[position]
    }

    private func error(_ message: String, at token: RuleToken? = nil) -> RuleSyntaxError {
        let token = token ?? current
        return RuleSyntaxError(line: token.line, column: token.column, message)
    }

    private func isKeyword(_ word: String) -> Bool {
        if case .identifier(let name) = current.kind { return name.lowercased() == word }
        return false
    }

    private func isSymbol(_ symbol: String) -> Bool { current.kind == .symbol(symbol) }

    private mutating func accept(keyword: String) -> Bool {
        guard isKeyword(keyword) else { return false }
        position += 1
        return true
    }

    private mutating func accept(symbol: String) -> Bool {
        guard isSymbol(symbol) else { return false }
        position += 1
        return true
    }

    private mutating func expect(symbol: String, _ context: String) throws(RuleSyntaxError) {
        guard accept(symbol: symbol) else { throw error("expected \"\(symbol)\" \(context), found \(Self.describe(current))") }
    }

    private func expectEnd() throws(RuleSyntaxError) {
        guard current.kind == .end else { throw error("unexpected \(Self.describe(current))") }
    }

    // MARK: Rule

    private mutating func rule() throws(RuleSyntaxError) -> RuleExpression {
        guard current.kind != .end else { throw error("the rule is empty: write a condition such as spindle_temp > 85") }
        var expression = RuleExpression(condition: try condition())
        if accept(keyword: "for") { try timing(into: &expression) }
        if isKeyword("clear") { try clearing(into: &expression) }
        guard current.kind == .end else {
            throw error("unexpected \(Self.describe(current)): after the condition come only \"for …\" and \"clear …\"")
        }
        return expression
    }

    private mutating func timing(into expression: inout RuleExpression) throws(RuleSyntaxError) {
        let token = advance()
        switch token.kind {
        case .duration(let milliseconds):
            expression.onDelay = milliseconds
        case .number(let count) where count == count.rounded() && count >= 1:
            guard accept(keyword: "of") else { throw error("expected \"of\" in \"for N of M samples\"") }
            let windowToken = advance()
            guard case .number(let window) = windowToken.kind, window == window.rounded(), window >= count, window <= 1000 else {
                throw error("M in \"for N of M samples\" must be a whole number from N to 1000", at: windowToken)
            }
            _ = accept(keyword: "samples")
            expression.samples = .init(count: Int(count), window: Int(window))
        default:
            throw error("expected a duration (30s, 2m, 1h) or \"N of M samples\" after \"for\"", at: token)
        }
    }

    private mutating func clearing(into expression: inout RuleExpression) throws(RuleSyntaxError) {
        let clearToken = advance()
        if accept(keyword: "when") {
            expression.clear = try condition()
        } else if case .symbol(let symbol) = current.kind, let op = ComparisonOperator(rawValue: symbol) {
            guard case .compare(let left, _, _) = expression.condition else {
                throw error("\"clear \(symbol) …\" (a deadband) needs the condition to be one comparison; write \"clear when …\"",
                            at: clearToken)
            }
            position += 1
            expression.clear = .compare(left, op, try operand())
        } else if !isKeyword("after") {
            throw error("expected a comparison (clear < 80), \"when\" or \"after\" after \"clear\"")
        }
        if accept(keyword: "after") {
            let token = advance()
            guard case .duration(let milliseconds) = token.kind else { throw error("expected a duration after \"clear after\"", at: token) }
            expression.offDelay = milliseconds
        }
    }

    // MARK: Conditions

    private mutating func condition() throws(RuleSyntaxError) -> Condition {
        var parts = [try conjunction()]
        while accept(keyword: "or") || accept(symbol: "||") { parts.append(try conjunction()) }
        return parts.count == 1 ? parts[0] : .any(parts)
    }

    private mutating func conjunction() throws(RuleSyntaxError) -> Condition {
        var parts = [try unary()]
        while accept(keyword: "and") || accept(symbol: "&&") { parts.append(try unary()) }
        return parts.count == 1 ? parts[0] : .all(parts)
    }

    private mutating func unary() throws(RuleSyntaxError) -> Condition {
        depth += 1
        defer { depth -= 1 }
        guard depth <= Self.maximumDepth else { throw error("conditions nest at most \(Self.maximumDepth) deep") }
        if accept(keyword: "not") || accept(symbol: "!") { return .not(try unary()) }
        if accept(symbol: "(") {
            let inner = try condition()
            try expect(symbol: ")", "to close the parenthesis")
            return inner
        }
        if isKeyword("no_data") {
            position += 1
            try expect(symbol: "(", "after no_data")
            let tag = try tagName()
            try expect(symbol: ",", "between the tag and the duration in no_data(tag, duration)")
            let duration = try durationArgument()
            try expect(symbol: ")", "to close no_data(")
            return .noData(tag: tag, duration: duration)
        }
        return try comparison()
    }

    private mutating func comparison() throws(RuleSyntaxError) -> Condition {
        let leftToken = current
        let left = try operand()
        if case .symbol(let symbol) = current.kind, let op = ComparisonOperator(rawValue: symbol) {
            position += 1
            return .compare(left, op, try operand())
        }
        let negated = isKeyword("not") && tokens[position + 1].kind == .identifier("in")
        if negated { position += 1 }
        if accept(keyword: "in") { return .member(left, try memberList(), negated: negated) }
        if case .tag = left { return .compare(left, .equal, .literal(.bool(true))) }
        throw error("\(Self.describe(leftToken)) is not a condition: compare it (> 85, == \"jam\", in [a, b])", at: leftToken)
    }

    private mutating func memberList() throws(RuleSyntaxError) -> [RuleValue] {
        guard accept(symbol: "[") else { return [try memberValue()] }
        var values = [try memberValue()]
        while accept(symbol: ",") { values.append(try memberValue()) }
        try expect(symbol: "]", "to close the list")
        return values
    }

    private mutating func memberValue() throws(RuleSyntaxError) -> RuleValue {
        let token = advance()
        switch token.kind {
        case .identifier(let word), .quotedIdentifier(let word), .string(let word):
            switch word.lowercased() {
            case "true" where token.kind == .identifier(word): return .bool(true)
            case "false" where token.kind == .identifier(word): return .bool(false)
            default: return .string(word)
            }
        case .number(let value): return .number(value)
        default: throw error("expected a value in the list, found \(Self.describe(token))", at: token)
        }
    }

    // MARK: Operands

    private mutating func operand() throws(RuleSyntaxError) -> Operand {
        let token = advance()
        switch token.kind {
        case .number(let value): return .literal(.number(value))
        case .string(let text): return .literal(.string(text))
        case .quotedIdentifier(let name): return .tag(name)
        case .symbol("-"):
            let next = advance()
            guard case .number(let value) = next.kind else { throw error("expected a number after \"-\"", at: next) }
            return .literal(.number(-value))
        case .identifier(let word):
            return try named(word, at: token)
        case .duration:
            throw error("a duration belongs after \"for\", \"clear after\" or in a function", at: token)
        default:
            throw error("expected a tag, number or string, found \(Self.describe(token))", at: token)
        }
    }

    private mutating func named(_ word: String, at token: RuleToken) throws(RuleSyntaxError) -> Operand {
        let lower = word.lowercased()
        switch lower {
        case "true": return .literal(.bool(true))
        case "false": return .literal(.bool(false))
        case "state": return .state
        case "and", "or", "not", "in", "for", "clear", "when", "after":
            throw error("expected a tag, number or string, found the keyword \"\(word)\" (write a tag of that name in backticks)", at: token)
        default: break
        }
        if lower.hasPrefix("meta.") {
            let key = String(word.dropFirst(5))
            guard !key.isEmpty else { throw error("meta. needs a metadata key: meta.max_temp", at: token) }
            return .metadata(key)
        }
        if let level = Operand.KPILevel.allCases.first(where: { lower.hasPrefix($0.prefix) }) {
            guard let kpi = Operand.KPI(rawValue: String(lower.dropFirst(level.prefix.count))) else {
                throw error("unknown KPI \"\(word)\": use \(level.prefix)oee, \(level.prefix)availability, \(level.prefix)performance or \(level.prefix)quality",
                            at: token)
            }
            return .kpi(kpi, of: level)
        }
        guard isSymbol("(") else { return .tag(word) }
        position += 1
        let function: (String, Int64) -> Operand
        switch lower {
        case "rate": function = Operand.rate
        case "deviation": function = Operand.deviation
        case "no_data": throw error("no_data(…) is a condition of its own: it cannot be compared", at: token)
        default: throw error("unknown function \"\(word)\": known are rate, deviation and no_data", at: token)
        }
        let tag = try tagName()
        try expect(symbol: ",", "between the tag and the window in \(lower)(tag, window)")
        let window = try durationArgument()
        try expect(symbol: ")", "to close \(lower)(")
        return function(tag, window)
    }

    private mutating func tagName() throws(RuleSyntaxError) -> String {
        let token = advance()
        switch token.kind {
        case .identifier(let name), .quotedIdentifier(let name): return name
        default: throw error("expected a tag name, found \(Self.describe(token))", at: token)
        }
    }

    private mutating func durationArgument() throws(RuleSyntaxError) -> Int64 {
        let token = advance()
        guard case .duration(let milliseconds) = token.kind, milliseconds > 0 else {
            throw error("expected a duration such as 30s or 5m, found \(Self.describe(token))", at: token)
        }
        return milliseconds
    }

    static func describe(_ token: RuleToken) -> String {
        switch token.kind {
        case .identifier(let name): "\"\(name)\""
        case .quotedIdentifier(let name): "`\(name)`"
        case .number(let value): "the number \(RuleValue.number(value))"
        case .duration(let milliseconds): "the duration \(RuleText.duration(milliseconds))"
        case .string(let text): "the string \(RuleValue.quoted(text))"
        case .symbol(let symbol): "\"\(symbol)\""
        case .end: "the end of the rule"
        }
    }
}
