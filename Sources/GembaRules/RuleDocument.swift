public import Foundation
public import GembaCore

/// A rule as JSON, the shape the API takes and answers and the store keeps:
///
/// ```json
/// {"id": "spindle-overheat", "name": "Spindle overheating", "condition": "spindle_temp > 85 for 2m clear < 80",
///  "severity": "high", "escalation": [{"after": "10m", "severity": "critical"}], "scope": "plant1/machining",
///  "required_tag": "spindle_temp", "latching": false, "longest_shelve": "8h",
///  "chattering": {"enabled": true, "activations": 3, "window": "60s"}, "suppress_when": ["planned_stop"],
///  "schedule": {"weekdays": [1, 2, 3, 4, 5], "start": "06:00", "end": "22:00", "time_zone": "Europe/Berlin"},
///  "labels": {"team": "maintenance"}, "enabled": true}
/// ```
///
/// The condition is given as text (`condition`) or as the same expression in JSON (`expression`, see ``ExpressionJSON``).
public enum RuleDocument {
    /// Reads a rule; a mistake is answered with the field and, for rule text, the line and column.
    /// `id`, when given (the API's path), names the rule; the document may then omit its own or must repeat it.
    /// `fallbackID` names a rule whose document has none (drafts being validated or backtested).
    public static func decode(_ data: Data, id: String? = nil, fallbackID: String? = nil) throws(ModelError) -> AlarmRule {
        let document: Document
        do {
            document = try JSONDecoder().decode(Document.self, from: data)
        } catch let error as RuleDocumentError {
            throw ModelError(.invalid, error.message)
        } catch let DecodingError.keyNotFound(key, context) {
            throw ModelError(.invalid, "\(Self.path(context.codingPath + [key])) is required")
        } catch let DecodingError.typeMismatch(_, context), let DecodingError.valueNotFound(_, context),
                let DecodingError.dataCorrupted(context) {
            let field = context.codingPath.isEmpty ? "the body" : Self.path(context.codingPath)
            throw ModelError(.invalid, "\(field): \(context.debugDescription)")
        } catch {
            throw ModelError(.invalid, "the rule is not valid JSON")
        }
        switch (id, document.id) {
        case (let given?, let written?) where given != written: throw ModelError(.invalid, "id \"\(written)\" differs from the rule's path \"\(given)\"")
        case (nil, nil) where fallbackID == nil: throw ModelError(.invalid, "id is required")
        default: break
        }
        let rule = try document.rule(id: id ?? document.id ?? fallbackID ?? "")
        try rule.validate()
        return rule
    }

    /// Writes a rule (with its canonical text and its expression as JSON).
    public static func encode(_ rule: AlarmRule) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? encoder.encode(Document(rule))) ?? Data("{}".utf8)
    }

    private static func path(_ keys: [any CodingKey]) -> String {
        keys.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".").replacingOccurrences(of: ".[", with: "[")
    }

    struct Document: Codable {
        var id: String?
        var name: String
        var description: String?
        var condition: String?
        var expression: ExpressionJSON?
        var severity: Severity
        var escalation: [Stage]?
        var scope: String?
        var requiredTag: String?
        var latching: Bool?
        var longestShelve: DurationText?
        var chattering: Chattering?
        var suppressWhen: [String]?
        var schedule: RuleSchedule?
        var duringShifts: Bool?
        var labels: [String: String]?
        var enabled: Bool?

        enum CodingKeys: String, CodingKey {
            case id, name, description, condition, expression, severity, escalation, scope, latching, chattering, schedule, labels, enabled
            case requiredTag = "required_tag", longestShelve = "longest_shelve", suppressWhen = "suppress_when", duringShifts = "during_shifts"
        }

        struct Stage: Codable {
            var after: DurationText
            var severity: Severity
            var when: String?
        }

        struct Chattering: Codable {
            var enabled: Bool
            var activations: Int
            var window: DurationText
        }

        init(_ rule: AlarmRule) {
            id = rule.id
            name = rule.name
            description = rule.description
            condition = rule.text
            expression = ExpressionJSON(rule.expression)
            severity = rule.severity
            escalation = rule.escalation.map { Stage(after: DurationText($0.after), severity: $0.severity, when: $0.when.map { RuleText.condition($0, top: true) }) }
            scope = rule.scope
            requiredTag = rule.requiredTag
            latching = rule.latching
            longestShelve = DurationText(rule.longestShelve)
            chattering = Chattering(enabled: rule.chattering.enabled, activations: rule.chattering.activations,
                                    window: DurationText(rule.chattering.window))
            suppressWhen = rule.suppressWhen
            schedule = rule.schedule
            duringShifts = rule.duringShifts
            labels = rule.labels
            enabled = rule.enabled
        }

        func rule(id: String) throws(ModelError) -> AlarmRule {
            let expression: RuleExpression
            let text: String
            switch (condition, self.expression) {
            case (let source?, nil):
                do { expression = try RuleParser.parse(source) } catch { throw ModelError(.invalid, "condition: \(error)") }
                text = source
            case (let source, let json?):
                expression = try json.expression()
                text = source ?? RuleText.text(expression)
                if let source, (try? RuleParser.parse(source)) != expression {
                    throw ModelError(.invalid, "condition and expression disagree: give one of them")
                }
            case (nil, nil):
                throw ModelError(.invalid, "condition (rule text) or expression (its JSON form) is required")
            }
            var rule = AlarmRule(id: id, name: name, text: text, expression: expression, severity: severity)
            rule.description = description
            rule.escalation = try (escalation ?? []).enumerated().map { (index, stage) throws(ModelError) in
                var condition: Condition?
                if let when = stage.when {
                    do { condition = try RuleParser.parseCondition(when) } catch {
                        throw ModelError(.invalid, "escalation[\(index)].when: \(error)")
                    }
                }
                return EscalationStage(after: stage.after.milliseconds, severity: stage.severity, when: condition)
            }
            rule.scope = scope
            rule.requiredTag = requiredTag
            rule.latching = latching ?? false
            if let longestShelve { rule.longestShelve = longestShelve.milliseconds }
            if let chattering {
                rule.chattering = ChatteringPolicy(enabled: chattering.enabled, activations: chattering.activations,
                                                   window: chattering.window.milliseconds)
            }
            if let suppressWhen { rule.suppressWhen = suppressWhen }
            rule.schedule = schedule
            rule.duringShifts = duringShifts ?? false
            rule.labels = labels ?? [:]
            rule.enabled = enabled ?? true
            return rule
        }
    }
}

/// A mistake in a rule's JSON found while decoding it.
struct RuleDocumentError: Error {
    var message: String
}

/// A duration in JSON: text in the rule syntax's units (`"90s"`, `"2m"`) or a number of milliseconds.
public struct DurationText: Codable, Hashable, Sendable {
    public var milliseconds: Int64

    public init(_ milliseconds: Int64) { self.milliseconds = milliseconds }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let number = try? container.decode(Int64.self) {
            guard (0...RuleLexer.longestDuration).contains(number) else { throw RuleDocumentError(message: "a duration is 0 to 31 days") }
            milliseconds = number
            return
        }
        let text = try container.decode(String.self)
        guard let value = RuleText.parseDuration(text) else {
            throw RuleDocumentError(message: "\"\(text)\" is not a duration: write 30s, 2m, 1h or a number of milliseconds")
        }
        milliseconds = value
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(RuleText.duration(milliseconds))
    }
}
