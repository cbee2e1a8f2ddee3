public import GembaCore
internal import Foundation

/// A rule as people configure it: its condition and timing (``RuleExpression``, from the rule
/// syntax), how urgent it is and how it escalates, which machines it watches and how its alarms behave.
public struct AlarmRule: Hashable, Sendable {
    /// Stable, URL-safe name within the tenant (`spindle-overheat`).
    public var id: String
    public var name: String
    public var description: String?
    /// The rule's text, as written (the expression's source).
    public var text: String
    public var expression: RuleExpression
    public var severity: Severity
    /// Severity raised by how long the alarm has stood (and, optionally, a condition): the highest stage that holds wins.
    public var escalation: [EscalationStage]
    /// The machines it watches: a site, area, line or machine path; nil: every machine of the tenant.
    public var scope: String?
    /// Only machines that have this tag (a template over the fleet); nil: every machine in scope.
    public var requiredTag: String?
    /// A latching alarm stays until acknowledged, even after its condition clears.
    public var latching = false
    /// The longest an operator may shelve one of its alarms, in milliseconds.
    public var longestShelve: Int64 = 8 * 3_600_000
    public var chattering = ChatteringPolicy()
    /// States or state categories during which its alarms are suppressed by design.
    public var suppressWhen: [String] = ["planned_stop", "not_scheduled"]
    /// When the rule applies; nil: always.
    public var schedule: RuleSchedule?
    /// Whether the rule applies only while a shift of the machine's site calendar runs.
    public var duringShifts = false
    public var labels: [String: String] = [:]
    public var enabled = true

    public init(id: String, name: String, text: String, expression: RuleExpression, severity: Severity) {
        self.id = id
        self.name = name
        self.text = text
        self.expression = expression
        self.severity = severity
        self.escalation = []
    }

    /// Whether the rule watches `machine`, given the tags it has.
    public func watches(_ machine: AssetPath, hasTag: (String) -> Bool) -> Bool {
        if let scope, (try? AssetSubtree(scope))?.contains(machine) != true { return false }
        if let requiredTag, !hasTag(requiredTag) { return false }
        return true
    }

    /// Checks what the syntax cannot: a usable id, delays, escalation in order.
    public func validate() throws(ModelError) {
        try ConfigurationID.check(id, what: "rule")
        guard !name.isEmpty, name.count <= 200 else { throw ModelError(.invalid, "a rule's name is 1–200 characters") }
        guard longestShelve > 0, longestShelve <= 7 * 86_400_000 else {
            throw ModelError(.invalid, "the longest shelve is between 1 second and 7 days")
        }
        guard chattering.activations >= 2, chattering.window > 0 else {
            throw ModelError(.invalid, "chattering needs at least 2 activations in a positive window")
        }
        if let scope { _ = try AssetSubtree(scope) }
        try checkLevel()
        for stage in escalation where stage.after <= 0 && stage.when == nil {
            throw ModelError(.invalid, "an escalation stage needs \"after\" longer than 0 or a \"when\" condition")
        }
    }
}

extension AlarmRule {
    /// A rule on a line's or site's KPIs has one alarm per line or site: it reads nothing of a single
    /// machine (tags, state, metadata, its own shift KPIs), and only one level's KPIs.
    func checkLevel() throws(ModelError) {
        let level = expression.level
        guard level != .machine else { return }
        let stages = escalation.compactMap(\.when).flatMap(\.operands)
        for operand in expression.operands + stages {
            switch operand {
            case .literal: continue
            case .kpi(_, let other) where other == level: continue
            default:
                throw ModelError(.invalid, "a rule on \(level.rawValue) KPIs (\(level.prefix)oee, …) reads only \(level.rawValue) KPIs and constants, not \(RuleText.operand(operand))")
            }
        }
        guard requiredTag == nil else { throw ModelError(.invalid, "a rule on \(level.rawValue) KPIs has no required_tag: it watches \(level.rawValue)s, not machines") }
    }
}

/// A severity an alarm takes once it has stood for `after` milliseconds (and while `when` holds, if given).
public struct EscalationStage: Hashable, Sendable {
    public var after: Int64
    public var severity: Severity
    public var when: Condition?
    public init(after: Int64, severity: Severity, when: Condition? = nil) {
        self.after = after
        self.severity = severity
        self.when = when
    }
}

/// The ids people give rules, channels, policies and rosters: 1–64 of A-Z a-z 0-9 - _ (safe in a path).
public enum ConfigurationID {
    public static func check(_ id: String, what: String) throws(ModelError) {
        guard !id.isEmpty, id.utf8.count <= 64, id.utf8.allSatisfy({ AssetPath.isAllowed($0) && $0 != UInt8(ascii: ".") }) else {
            throw ModelError(.invalid, "a \(what) id is 1–64 of A-Z a-z 0-9 - _")
        }
    }
}

/// Given hours on given weekdays in a time zone: when a rule applies (a shift pattern, weekends
/// off), or a person's or roster's quiet hours. In JSON:
/// `{"weekdays": [1, 2, 3, 4, 5], "start": "06:00", "end": "22:00", "time_zone": "Europe/Berlin"}`.
public struct RuleSchedule: Hashable, Sendable {
    /// Weekdays, 1 = Monday … 7 = Sunday.
    public var weekdays: Set<Int>
    /// Minutes after local midnight; a window whose end is before its start runs past midnight.
    public var start: Int
    public var end: Int
    public var timeZone: String

    public init(weekdays: Set<Int>, start: Int, end: Int, timeZone: String) {
        self.weekdays = weekdays
        self.start = start
        self.end = end
        self.timeZone = timeZone
    }
}

extension RuleSchedule: Codable {
    enum CodingKeys: String, CodingKey { case weekdays, start, end, timeZone = "time_zone" }

    /// Reads and checks the JSON form; weekdays default to every day.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let weekdays = try container.decodeIfPresent([Int].self, forKey: .weekdays) ?? Array(1...7)
        let timeZone = try container.decode(String.self, forKey: .timeZone)
        func fail(_ key: CodingKeys, _ message: String) -> DecodingError {
            .dataCorruptedError(forKey: key, in: container, debugDescription: message)
        }
        guard !weekdays.isEmpty, weekdays.allSatisfy((1...7).contains) else { throw fail(.weekdays, "weekdays are 1 (Monday) to 7 (Sunday)") }
        guard TimeZone(identifier: timeZone) != nil else {
            throw fail(.timeZone, "\"\(timeZone)\" is not a time zone (Europe/Berlin, UTC, …)")
        }
        guard let start = Self.minutes(try container.decode(String.self, forKey: .start)),
              let end = Self.minutes(try container.decode(String.self, forKey: .end)), start != end else {
            throw fail(.end, "start and end are different times of day as HH:MM")
        }
        self.init(weekdays: Set(weekdays), start: start, end: end, timeZone: timeZone)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(weekdays.sorted(), forKey: .weekdays)
        try container.encode(Self.clock(start), forKey: .start)
        try container.encode(Self.clock(end), forKey: .end)
        try container.encode(timeZone, forKey: .timeZone)
    }

    private static func minutes(_ text: String) -> Int? {
        let parts = text.split(separator: ":")
        guard parts.count == 2, parts[0].count == 2, parts[1].count == 2, let hours = Int(parts[0]), let minutes = Int(parts[1]),
              (0...24).contains(hours), (0...59).contains(minutes), hours * 60 + minutes <= 1440 else { return nil }
        return hours * 60 + minutes
    }

    private static func clock(_ minutes: Int) -> String { String(format: "%02d:%02d", minutes / 60, minutes % 60) }
}
