internal import Foundation
public import GembaCore
public import GembaRules

/// What a notification says: the variables of one alarm event, the text a template makes of
/// them, and the body each channel kind posts.
public struct NotificationMessage: Sendable {
    /// The variables a template may name.
    public static let variables = ["severity", "rule", "rule_name", "machine", "tag", "value", "threshold", "state", "event", "time", "link",
                                   "tenant"]
    public static let standardTemplate = "[{{severity}}] {{rule_name}} on {{machine}}: {{event}} ({{tag}} = {{value}}, threshold {{threshold}})"

    public var values: [String: String]

    /// A message from its variables (those of ``variables`` a template may name; missing ones read `–`).
    public init(values: [String: String]) {
        self.values = Dictionary(uniqueKeysWithValues: Self.variables.map { ($0, "–") }).merging(values) { $1 }
    }

    /// The variables of a notice; `link` points at the machine's page of the dashboard under `baseURL`.
    public init(_ notice: AlarmNotice, baseURL: String) {
        let transition = notice.transition
        self.init(tenant: notice.tenant, rule: notice.rule, machine: notice.machine, event: transition.kind.rawValue, state: transition.to,
                  severity: transition.severity, value: transition.value, time: transition.time, baseURL: baseURL)
    }

    /// The variables of a follow-up on an alarm still unacknowledged (`event` says which: a reminder, an escalation step).
    public init(_ standing: StandingAlarm, event: String, time: Int64, baseURL: String) {
        self.init(tenant: standing.tenant, rule: standing.rule, machine: standing.machine, event: event, state: standing.alarm.state,
                  severity: standing.alarm.severity, value: standing.alarm.value, time: time, baseURL: baseURL)
    }

    private init(tenant: TenantID, rule: AlarmRule, machine: AssetPath, event: String, state: AlarmState, severity: Severity, value: Double?,
                 time: Int64, baseURL: String) {
        var values: [String: String] = [
            "severity": severity.rawValue.uppercased(), "rule": rule.id, "rule_name": rule.name,
            "machine": machine.description, "state": state.rawValue, "event": event,
            "time": Timestamp(millisecondsSinceEpoch: time).rfc3339, "tenant": tenant.rawValue,
            "link": baseURL + "/#/machine/" + machine.description,
        ]
        values["value"] = value.map(Self.format) ?? "–"
        let comparison = Self.firstComparison(rule.expression.condition)
        values["tag"] = comparison?.tag ?? "–"
        values["threshold"] = comparison?.threshold ?? "–"
        self.values = values
    }

    /// The text of `template` with its `{{variables}}` filled in.
    public func text(_ template: String?) -> String {
        var text = template ?? Self.standardTemplate
        for (name, value) in values { text = text.replacingOccurrences(of: "{{\(name)}}", with: value) }
        return text
    }

    /// The subject of an alarm e-mail.
    public static let subjectTemplate = "[{{severity}}] {{rule_name}} on {{machine}}: {{event}}"

    /// What is queued for a channel of `kind`, as JSON text: the body posted (webhooks, Slack, Teams),
    /// published (MQTT) or logged; for e-mail the subject and text the message is made of, and `to`
    /// when it goes to a person rather than the channel's own recipients.
    public func body(for kind: NotificationChannel.Kind, template: String?, type: String, to person: String? = nil) -> String {
        let text = text(template)
        let object: [String: Any]
        switch kind {
        case .slack, .teams: object = ["text": text]
        case .email:
            let details = ["Machine: " + (values["machine"] ?? ""), "Value: " + (values["value"] ?? "–"),
                           "Threshold: " + (values["threshold"] ?? "–"), "State: " + (values["state"] ?? ""),
                           "Time: " + (values["time"] ?? ""), "", "Open in Gemba: " + (values["link"] ?? "")]
            var mail: [String: Any] = ["subject": self.text(Self.subjectTemplate), "text": ([text, ""] + details).joined(separator: "\n")]
            if let person { mail["to"] = [person] }
            object = mail
        case .webhook, .mqtt, .log:
            var data: [String: Any] = values.filter { $0.key != "severity" }
            data["severity"] = values["severity"]?.lowercased()
            data["text"] = text
            object = ["type": type, "timestamp": values["time"] ?? "", "data": data]
        }
        return Self.json(object)
    }

    /// One message of several queued bodies of a channel of `kind` (a policy's group): Slack and
    /// Teams get their texts one per line, e-mail one text after the other under a counting subject,
    /// webhooks and the log `{"type": "alarm.group", "data": {"count": N, "items": [the bodies]}}`.
    public static func combined(_ payloads: [String], for kind: NotificationChannel.Kind) -> String {
        let bodies = payloads.map { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] ?? [:] }
        let count = bodies.count
        switch kind {
        case .slack, .teams:
            return json(["text": (["\(count) alarm notifications:"] + bodies.map { $0["text"] as? String ?? "" }).joined(separator: "\n")])
        case .email:
            let first = bodies.first?["subject"] as? String ?? ""
            var mail: [String: Any] = ["subject": "\(count) alarm notifications: \(first)…",
                                       "text": bodies.map { $0["text"] as? String ?? "" }.joined(separator: "\n\n――――\n\n")]
            if let to = bodies.first?["to"] { mail["to"] = to }
            return json(mail)
        case .webhook, .mqtt, .log:
            return json(["type": "alarm.group", "timestamp": bodies.first?["timestamp"] ?? "", "data": ["count": count, "items": bodies]])
        }
    }

    /// A test message for a channel of `kind`, as ``body(for:template:type:)`` would queue it.
    static func testBody(for kind: NotificationChannel.Kind, text: String, time: Int64) -> String {
        switch kind {
        case .slack, .teams: json(["text": text])
        case .email: json(["subject": "Gemba test notification", "text": text])
        case .webhook, .mqtt, .log:
            json(["type": "notification.test", "timestamp": Timestamp(millisecondsSinceEpoch: time).rfc3339, "data": ["text": text]])
        }
    }

    private static func json(_ object: [String: Any]) -> String {
        let json = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data("{}".utf8)
        return String(decoding: json, as: UTF8.self)
    }

    /// Refuses a template naming a variable that does not exist (or a spaced `{{ name }}`, which would stay unfilled).
    public static func checkTemplate(_ template: String, variables: [String] = variables, what: String = "template") throws(ModelError) {
        guard template.count <= 2000 else { throw ModelError(.invalid, "a \(what) is at most 2000 characters") }
        var rest = Substring(template)
        while let open = rest.range(of: "{{") {
            guard let close = rest[open.upperBound...].range(of: "}}") else { throw ModelError(.invalid, "\(what): \"{{\" is not closed") }
            let name = String(rest[open.upperBound..<close.lowerBound])
            guard variables.contains(name) else {
                throw ModelError(.invalid, "\(what): unknown variable {{\(name)}}; known are \(variables.joined(separator: ", "))")
            }
            rest = rest[close.upperBound...]
        }
    }

    private static func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(format: "%.4g", value)
    }

    /// The tag and constant of the condition's first comparison (`spindle_temp`, `85`), for the message.
    private static func firstComparison(_ condition: Condition) -> (tag: String, threshold: String)? {
        switch condition {
        case .compare(.tag(let tag), _, let right), .compare(.rate(let tag, _), _, let right), .compare(.deviation(let tag, _), _, let right):
            return (tag, RuleText.operand(right))
        case .member(.state, let values, _): return ("state", values.map(\.description).joined(separator: ", "))
        case .noData(let tag, let duration): return (tag, "no data for " + RuleText.duration(duration))
        case .all(let parts), .any(let parts): return parts.lazy.compactMap(firstComparison).first
        case .not(let inner): return firstComparison(inner)
        default: return nil
        }
    }
}
