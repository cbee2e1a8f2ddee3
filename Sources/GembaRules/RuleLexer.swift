/// One word of a rule's text, with where it starts.
struct RuleToken: Hashable, Sendable {
    enum Kind: Hashable, Sendable {
        case identifier(String)
        /// A tag named in backticks: any name, never a keyword.
        case quotedIdentifier(String)
        case number(Double)
        /// A number with a unit (`2m`), in milliseconds.
        case duration(Int64)
        case string(String)
        case symbol(String)
        case end
    }

    var kind: Kind
    var line: Int
    var column: Int
}

/// Splits a rule's text into tokens, naming the line and column of anything it cannot read.
struct RuleLexer {
    /// The longest duration a rule may name: 31 days.
    static let longestDuration: Int64 = 31 * 86_400_000

    private let bytes: [UInt8]
    private var index = 0
    private var line = 1
    private var lineStart = 0

    init(_ text: String) { bytes = Array(text.utf8) }

    static func tokens(_ text: String) throws(RuleSyntaxError) -> [RuleToken] {
        var lexer = RuleLexer(text)
        var tokens: [RuleToken] = []
        while true {
            let token = try lexer.next()
            tokens.append(token)
            if token.kind == .end { return tokens }
        }
    }

    private var column: Int { index - lineStart + 1 }

    private mutating func next() throws(RuleSyntaxError) -> RuleToken {
        skipSpaceAndComments()
        let (startLine, startColumn) = (line, column)
        func token(_ kind: RuleToken.Kind) -> RuleToken { RuleToken(kind: kind, line: startLine, column: startColumn) }
        guard index < bytes.count else { return token(.end) }
        let byte = bytes[index]
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"):
            return token(try number())
        case UInt8(ascii: "\""), UInt8(ascii: "'"):
            return token(.string(try quoted(by: byte, what: "string")))
        case UInt8(ascii: "`"):
            return token(.quotedIdentifier(try quoted(by: byte, what: "tag name")))
        case _ where Self.startsIdentifier(byte):
            let start = index
            while index < bytes.count, Self.continuesIdentifier(bytes[index]) { index += 1 }
            return token(.identifier(String(decoding: bytes[start..<index], as: UTF8.self)))
        default:
            for symbol in [">=", "<=", "==", "!=", "&&", "||", ">", "<", "=", "!", "(", ")", "[", "]", ",", "-"]
            where bytes[index...].starts(with: symbol.utf8) {
                index += symbol.utf8.count
                return token(.symbol(symbol == "=" ? "==" : symbol))
            }
            throw RuleSyntaxError(line: startLine, column: startColumn, "unexpected character \(Self.show(byte))")
        }
    }

    private mutating func skipSpaceAndComments() {
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: "\n"):
                index += 1
                line += 1
                lineStart = index
            case UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\r"):
                index += 1
            case UInt8(ascii: "#"):
                while index < bytes.count, bytes[index] != UInt8(ascii: "\n") { index += 1 }
            default:
                return
            }
        }
    }

    /// A number, or a duration when a unit follows it at once (`500ms`, `30s`, `2m`, `1.5h`, `1d`).
    private mutating func number() throws(RuleSyntaxError) -> RuleToken.Kind {
        let startColumn = column
        let start = index
        while index < bytes.count, bytes[index] >= UInt8(ascii: "0") && bytes[index] <= UInt8(ascii: "9") || bytes[index] == UInt8(ascii: ".") {
            index += 1
        }
        let digits = String(decoding: bytes[start..<index], as: UTF8.self)
        guard let value = Double(digits), value.isFinite else {
            throw RuleSyntaxError(line: line, column: startColumn, "\(digits) is not a number")
        }
        let unitStart = index
        while index < bytes.count, Self.startsIdentifier(bytes[index]) { index += 1 }
        guard unitStart < index else { return .number(value) }
        let unit = String(decoding: bytes[unitStart..<index], as: UTF8.self)
        let scale: Double? = switch unit {
        case "ms": 1
        case "s": 1000
        case "m", "min": 60_000
        case "h": 3_600_000
        case "d": 86_400_000
        default: nil
        }
        guard let scale else {
            throw RuleSyntaxError(line: line, column: startColumn + digits.count, "unknown unit \"\(unit)\": use ms, s, m, h or d")
        }
        let milliseconds = (value * scale).rounded()
        guard milliseconds <= Double(Self.longestDuration) else {
            throw RuleSyntaxError(line: line, column: startColumn, "\(digits)\(unit) is longer than 31 days")
        }
        return .duration(Int64(milliseconds))
    }

    private mutating func quoted(by quote: UInt8, what: String) throws(RuleSyntaxError) -> String {
        let (startLine, startColumn) = (line, column)
        index += 1
        var text: [UInt8] = []
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            if byte == quote { return String(decoding: text, as: UTF8.self) }
            if byte == UInt8(ascii: "\n") { break }
            if byte == UInt8(ascii: "\\"), index < bytes.count {
                text.append(bytes[index])
                index += 1
            } else {
                text.append(byte)
            }
        }
        throw RuleSyntaxError(line: startLine, column: startColumn, "\(what) not closed before the end of the line")
    }

    static func startsIdentifier(_ byte: UInt8) -> Bool {
        (byte >= UInt8(ascii: "a") && byte <= UInt8(ascii: "z")) || (byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z"))
            || byte == UInt8(ascii: "_")
    }

    static func continuesIdentifier(_ byte: UInt8) -> Bool {
        startsIdentifier(byte) || (byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9")) || byte == UInt8(ascii: ".")
            || byte == UInt8(ascii: "-")
    }

    private static func show(_ byte: UInt8) -> String {
        byte >= 0x20 && byte < 0x7F ? "\"\(Character(UnicodeScalar(byte)))\"" : "0x" + String(byte, radix: 16)
    }
}
