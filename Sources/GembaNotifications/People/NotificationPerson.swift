internal import Foundation
public import GembaCore
public import GembaRules

/// How one person wants to be told: by which channels (an e-mail channel sends to their own
/// address), from which severity, and their quiet hours, during which only critical alarms reach
/// them at once and the rest wait until the hours end. People edit their own; admins everyone's.
public struct NotificationPerson: Sendable, Hashable, Codable {
    /// The person's sign-in e-mail (lower case): how policies and rosters name them (`user:anna@plant.example`).
    public var id: String
    /// The address e-mail channels send to; nil: the sign-in e-mail.
    public var email: String?
    /// The channels that reach this person, by id.
    public var channels: [String]
    /// Alarms below this severity are not sent to this person.
    public var minimumSeverity: Severity = .low
    public var quietHours: RuleSchedule?
    /// Whether critical alarms break through quiet hours (default yes).
    public var criticalBreaksQuiet = true
    public var enabled = true

    enum CodingKeys: String, CodingKey {
        case id, email, channels, enabled
        case minimumSeverity = "minimum_severity", quietHours = "quiet_hours", criticalBreaksQuiet = "critical_breaks_quiet"
    }

    public init(id: String, channels: [String]) {
        self.id = id
        self.channels = channels
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decodeIfPresent(String.self, forKey: .id) ?? ""
        email = try container.decodeIfPresent(String.self, forKey: .email)
        channels = try container.decode([String].self, forKey: .channels)
        minimumSeverity = try container.decodeIfPresent(Severity.self, forKey: .minimumSeverity) ?? .low
        quietHours = try container.decodeIfPresent(RuleSchedule.self, forKey: .quietHours)
        criticalBreaksQuiet = try container.decodeIfPresent(Bool.self, forKey: .criticalBreaksQuiet) ?? true
        enabled = try container.decodeIfPresent(Bool.self, forKey: .enabled) ?? true
    }

    /// The address e-mail goes to.
    public var address: String { email ?? id }

    public func validate() throws(ModelError) {
        try NotificationPerson.checkAddress(id, what: "a person's id (their sign-in e-mail)")
        if let email { try NotificationPerson.checkAddress(email, what: "email") }
        guard channels.count <= 10 else { throw ModelError(.invalid, "a person is reached by at most 10 channels") }
        for id in channels { try ConfigurationID.check(id, what: "channel") }
    }

    /// When a message of `severity` at `now` may go to this person: at once, later (quiet hours), or nil: not at all.
    func due(_ severity: Severity, now: Int64) -> Int64? {
        guard enabled, severity >= minimumSeverity else { return nil }
        return Self.afterQuiet(quietHours, severity: severity, breaks: criticalBreaksQuiet, now: now)
    }

    /// `now`, or the end of the quiet hours `now` falls in (critical alarms break through when `breaks`).
    static func afterQuiet(_ quiet: RuleSchedule?, severity: Severity, breaks: Bool, now: Int64) -> Int64 {
        guard let quiet, quiet.includes(now), !(breaks && severity == .critical) else { return now }
        return quiet.nextBoundary(after: now) ?? now
    }

    static func checkAddress(_ address: String, what: String) throws(ModelError) {
        let parts = address.split(separator: "@", omittingEmptySubsequences: false)
        guard address.utf8.count <= 254, parts.count == 2, !parts[0].isEmpty, parts[1].contains("."),
              !address.contains(where: { $0.isWhitespace || $0.isNewline || $0 == "," || $0 == "<" || $0 == ">" }) else {
            throw ModelError(.invalid, "\(what) must be an e-mail address such as anna@plant.example")
        }
    }
}
