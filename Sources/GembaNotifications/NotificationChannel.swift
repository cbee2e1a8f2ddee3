internal import Foundation
public import GembaCore
public import GembaRules

/// Where notifications go: a webhook signed per Standard Webhooks, a Slack- or Teams-compatible
/// incoming webhook, e-mail over SMTP, an MQTT publish (andon lights, PLCs), or the log (the
/// dashboard's notification list and a log line).
public struct NotificationChannel: Sendable, Hashable {
    public enum Kind: String, Sendable, CaseIterable, Codable {
        case webhook, slack, teams, email, mqtt, log
        /// Whether the channel posts to an http(s) URL.
        public var postsToURL: Bool { self == .webhook || self == .slack || self == .teams }
        /// Whether the channel's secret is a password the admin gives (rather than one Gemba makes).
        public var takesPassword: Bool { self == .email || self == .mqtt }
    }

    public var id: String
    public var name: String
    public var kind: Kind
    /// The http(s) URL a webhook posts to; an MQTT channel's external broker (`mqtt://host:port`,
    /// `mqtts://…`; none: the embedded broker).
    public var url: String?
    /// Where an e-mail channel sends.
    public var email: SMTPSettings?
    /// What an MQTT channel publishes.
    public var mqtt: MQTTTarget?
    public var enabled = true
    /// Why the server disabled it (the endpoint answered 410 Gone).
    public var disabledReason: String?
    /// Signing secrets, current first, the previous one beside it after a rotation; an e-mail or
    /// MQTT channel's password. Never written out.
    public var secrets: [String] = []

    public init(id: String, name: String, kind: Kind, url: String?) {
        self.id = id
        self.name = name
        self.kind = kind
        self.url = url
    }

    /// The URL as it may be shown: Slack's and Teams' URLs carry their secret in the path, so only their host is.
    public var shownURL: String? {
        guard let url, kind == .slack || kind == .teams, let host = URL(string: url)?.host else { return url }
        return "https://\(host)/…"
    }

    /// The host deliveries connect to (checked against private ranges); nil for the log and the embedded broker.
    public var targetHost: String? {
        switch kind {
        case .email: email?.host
        default: url.flatMap { URL(string: $0)?.host }
        }
    }

    /// Checks the id, name and each kind's settings.
    public func validate() throws(ModelError) {
        try ConfigurationID.check(id, what: "channel")
        guard !name.isEmpty, name.count <= 200 else { throw ModelError(.invalid, "a channel's name is 1–200 characters") }
        guard kind == .email || email == nil else { throw ModelError(.invalid, "only an email channel has email settings") }
        guard kind == .mqtt || mqtt == nil else { throw ModelError(.invalid, "only an mqtt channel has mqtt settings") }
        switch kind {
        case .webhook, .slack, .teams:
            guard let url, url.utf8.count <= 2000, let parsed = URL(string: url), let scheme = parsed.scheme?.lowercased(),
                  scheme == "http" || scheme == "https", let host = parsed.host, !host.isEmpty else {
                throw ModelError(.invalid, "url must be an http or https URL")
            }
        case .email:
            guard url == nil else { throw ModelError(.invalid, "an email channel has no url: its server is in email.host") }
            guard let email else { throw ModelError(.invalid, "an email channel needs email: host, from and to") }
            try email.validate(hasPassword: !secrets.isEmpty)
        case .mqtt:
            guard let mqtt else { throw ModelError(.invalid, "an mqtt channel needs mqtt: topic") }
            try mqtt.validate()
            if let url {
                guard url.utf8.count <= 2000, let parsed = URL(string: url), let scheme = parsed.scheme?.lowercased(),
                      scheme == "mqtt" || scheme == "mqtts", let host = parsed.host, !host.isEmpty, parsed.user == nil, parsed.password == nil else {
                    throw ModelError(.invalid, "url must be mqtt://host[:port] or mqtts://host[:port] (user name in mqtt.username), or absent for the embedded broker")
                }
            }
        case .log:
            guard url == nil else { throw ModelError(.invalid, "a log channel has no url") }
        }
    }

    /// The stored definition (secrets are sealed apart).
    struct Stored: Codable {
        var id: String
        var name: String
        var kind: Kind
        var url: String?
        var email: SMTPSettings?
        var mqtt: MQTTTarget?
        var enabled: Bool
        var disabledReason: String?
        enum CodingKeys: String, CodingKey { case id, name, kind, url, email, mqtt, enabled, disabledReason = "disabled_reason" }
    }

    var stored: Stored {
        Stored(id: id, name: name, kind: kind, url: url, email: email, mqtt: mqtt, enabled: enabled, disabledReason: disabledReason)
    }

    init(_ stored: Stored, secrets: [String]) {
        self.init(id: stored.id, name: stored.name, kind: stored.kind, url: stored.url)
        email = stored.email
        mqtt = stored.mqtt
        enabled = stored.enabled
        disabledReason = stored.disabledReason
        self.secrets = secrets
    }
}

/// Who a notification goes to: channels as they are, and people (`user:<sign-in e-mail>`) or
/// whoever is on call in a roster (`roster:<id>`), each reached through their own preferences.
public struct Audience: Sendable, Hashable, Codable {
    public var channels: [String]
    public var recipients: [String]

    public init(channels: [String] = [], recipients: [String] = []) {
        self.channels = channels
        self.recipients = recipients
    }

    public var isEmpty: Bool { channels.isEmpty && recipients.isEmpty }

    /// A recipient reference, read.
    enum Recipient: Hashable {
        case person(String)
        case roster(String)

        init?(_ text: String) {
            if text.hasPrefix("user:") { self = .person(String(text.dropFirst(5)).lowercased()) }
            else if text.hasPrefix("roster:") { self = .roster(String(text.dropFirst(7))) }
            else { return nil }
        }
    }

    /// Refuses more than 20 channels or recipients, and ids or recipient references that are not valid.
    public func validate(_ what: String) throws(ModelError) {
        guard channels.count <= 20, recipients.count <= 20 else { throw ModelError(.invalid, "\(what) names at most 20 channels and 20 recipients") }
        for id in channels { try ConfigurationID.check(id, what: "channel") }
        for text in recipients {
            switch Recipient(text) {
            case .person(let id)?: try NotificationPerson.checkAddress(id, what: "\(what): \(text)")
            case .roster(let id)?: try ConfigurationID.check(id, what: "roster")
            case nil: throw ModelError(.invalid, "\(what): a recipient is user:<sign-in e-mail> or roster:<id>, not \"\(text)\"")
            }
        }
    }
}

/// A step of an escalation chain: when an alarm is still active and unacknowledged this long after
/// it was raised, these channels and people are told.
public struct EscalationStep: Sendable, Hashable, Codable {
    public var after: DurationText
    public var channels: [String]
    public var recipients: [String]

    public init(after: Int64, channels: [String] = [], recipients: [String] = []) {
        self.after = DurationText(after)
        self.channels = channels
        self.recipients = recipients
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        after = try container.decode(DurationText.self, forKey: .after)
        channels = try container.decodeIfPresent([String].self, forKey: .channels) ?? []
        recipients = try container.decodeIfPresent([String].self, forKey: .recipients) ?? []
    }

    var audience: Audience { Audience(channels: channels, recipients: recipients) }
}

/// How a policy gathers the notices that come close together into one message per channel and
/// person: the first waits `wait` for others of its group; later ones go at most every `interval`.
public struct NotificationGrouping: Sendable, Hashable, Codable {
    /// What notices are grouped by.
    public enum Key: String, Sendable, Hashable, Codable, CaseIterable {
        /// The alarm's rule; its machine; the line (or area) the machine is in; its site; or everything the policy sends.
        case rule, machine, line, site, everything
    }

    public var by: Key
    public var wait: DurationText
    public var interval: DurationText

    public init(by: Key, wait: Int64, interval: Int64) {
        self.by = by
        self.wait = DurationText(wait)
        self.interval = DurationText(interval)
    }

    /// The group a notice falls in.
    func value(rule: String, machine: AssetPath) -> String {
        let parts = machine.description.split(separator: "/")
        switch by {
        case .rule: return rule
        case .machine: return machine.description
        case .line: return parts.dropLast().joined(separator: "/")
        case .site: return parts.first.map(String.init) ?? ""
        case .everything: return ""
        }
    }

    func validate() throws(ModelError) {
        guard wait.milliseconds >= 1000, wait.milliseconds <= 3_600_000 else { throw ModelError(.invalid, "group.wait is 1s to 1h") }
        guard interval.milliseconds >= wait.milliseconds, interval.milliseconds <= 86_400_000 else {
            throw ModelError(.invalid, "group.interval is at least group.wait and at most 1d")
        }
    }
}

/// A routing rule: which alarm events, of which severity, where, go to which channels and people,
/// worded how; reminders while nobody acknowledges, and an escalation chain.
public struct NotificationPolicy: Sendable, Hashable, Codable {
    public var id: String
    public var name: String
    /// Events at least this severe.
    public var minimumSeverity: Severity = .low
    /// Machines in this site, area, line or machine; nil: every machine.
    public var scope: String?
    /// Rules carrying all these labels; empty: every rule.
    public var labels: [String: String] = [:]
    /// Journal kinds that notify: by default raised, escalated and back on display; `cleared` on request.
    public var events: [String] = NotificationPolicy.defaultEvents
    public var channels: [String]
    /// People and rosters (`user:…`, `roster:…`) told beside the channels.
    public var recipients: [String] = []
    /// While an alarm stays active and unacknowledged, the same audience is reminded this often.
    public var repeatEvery: DurationText?
    /// Who is told next when nobody acknowledges, by time since the alarm was raised.
    public var escalation: [EscalationStep] = []
    /// Notices close together go as one message (not follow-ups, not MQTT: an andon light wants each state).
    public var group: NotificationGrouping?
    /// The message text, with `{{variables}}` (see ``NotificationMessage/variables``); nil: the standard wording.
    public var template: String?
    public var enabled = true

    public static let defaultEvents = ["activated", "escalated", "unshelved", "unsuppressed", "in_service"]

    enum CodingKeys: String, CodingKey {
        case id, name, scope, labels, events, channels, recipients, escalation, group, template, enabled
        case minimumSeverity = "minimum_severity", repeatEvery = "repeat_every"
    }

    public init(id: String, name: String, channels: [String]) {
        self.id = id
        self.name = name
        self.channels = channels
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decodeIfPresent(String.self, forKey: .id) ?? ""
        name = try container.decode(String.self, forKey: .name)
        minimumSeverity = try container.decodeIfPresent(Severity.self, forKey: .minimumSeverity) ?? .low
        scope = try container.decodeIfPresent(String.self, forKey: .scope)
        labels = try container.decodeIfPresent([String: String].self, forKey: .labels) ?? [:]
        events = try container.decodeIfPresent([String].self, forKey: .events) ?? Self.defaultEvents
        channels = try container.decodeIfPresent([String].self, forKey: .channels) ?? []
        recipients = try container.decodeIfPresent([String].self, forKey: .recipients) ?? []
        repeatEvery = try container.decodeIfPresent(DurationText.self, forKey: .repeatEvery)
        escalation = try container.decodeIfPresent([EscalationStep].self, forKey: .escalation) ?? []
        group = try container.decodeIfPresent(NotificationGrouping.self, forKey: .group)
        template = try container.decodeIfPresent(String.self, forKey: .template)
        enabled = try container.decodeIfPresent(Bool.self, forKey: .enabled) ?? true
    }

    /// The channels and people told first (and reminded).
    var audience: Audience { Audience(channels: channels, recipients: recipients) }

    /// Every channel the policy names, in its own audience and its escalation steps.
    var allChannels: [String] { channels + escalation.flatMap(\.channels) }

    public func validate() throws(ModelError) {
        try ConfigurationID.check(id, what: "policy")
        guard !name.isEmpty, name.count <= 200 else { throw ModelError(.invalid, "a policy's name is 1–200 characters") }
        guard !audience.isEmpty else { throw ModelError(.invalid, "a policy names at least one channel or recipient") }
        try audience.validate("the policy")
        let kinds = Set(AlarmTransition.Kind.allCases.map(\.rawValue))
        for event in events where !kinds.contains(event) {
            throw ModelError(.invalid, "events: \"\(event)\" is not a journal kind (\(kinds.sorted().joined(separator: ", ")))")
        }
        if let scope { _ = try AssetSubtree(scope) }
        if let template { try NotificationMessage.checkTemplate(template) }
        if let repeatEvery, repeatEvery.milliseconds < 1000 { throw ModelError(.invalid, "repeat_every is at least 1s") }
        try group?.validate()
        guard escalation.count <= 10 else { throw ModelError(.invalid, "an escalation chain has at most 10 steps") }
        var previous: Int64 = 0
        for (index, step) in escalation.enumerated() {
            guard step.after.milliseconds > previous else {
                throw ModelError(.invalid, "escalation[\(index)].after must be later than the step before it (and above 0)")
            }
            guard !step.audience.isEmpty else { throw ModelError(.invalid, "escalation[\(index)] names no channel or recipient") }
            try step.audience.validate("escalation[\(index)]")
            previous = step.after.milliseconds
        }
    }

    /// Whether the policy takes this notice.
    func matches(_ notice: AlarmNotice) -> Bool {
        enabled && events.contains(notice.transition.kind.rawValue) && covers(notice.rule, notice.machine, notice.transition.severity)
    }

    /// Whether the policy follows up on this alarm (it notifies of activations there).
    func followsUp(_ standing: StandingAlarm) -> Bool {
        enabled && (repeatEvery != nil || !escalation.isEmpty) && events.contains(AlarmTransition.Kind.activated.rawValue)
            && covers(standing.rule, standing.machine, standing.alarm.severity)
    }

    private func covers(_ rule: AlarmRule, _ machine: AssetPath, _ severity: Severity) -> Bool {
        severity >= minimumSeverity && scope.map { (try? AssetSubtree($0))?.contains(machine) == true } ?? true
            && labels.allSatisfy { rule.labels[$0.key] == $0.value }
    }
}

