internal import Foundation
public import GembaCore
public import GembaRules

/// Who is on call, and when: people taking turns of a fixed length from a start time, overrides
/// for swaps and sick days, holidays with their own cover, and quiet hours in the roster's time
/// zone (the site's), during which only critical alarms wake the person on call.
public struct OnCallRoster: Sendable, Hashable, Codable {
    /// Someone on call instead of the rotation, from `from` until `to` (epoch milliseconds).
    public struct Override: Sendable, Hashable, Codable {
        public var from: Int64
        public var to: Int64
        public var person: String
        public init(from: Int64, to: Int64, person: String) {
            self.from = from
            self.to = to
            self.person = person
        }
    }

    public var id: String
    public var name: String
    /// The IANA zone of holidays and quiet hours (the site's).
    public var timeZone: String
    /// The rotation, in order: people by sign-in e-mail.
    public var people: [String]
    /// When the first person's first turn began (epoch milliseconds).
    public var rotationStart: Int64
    /// How long one turn lasts (a day, a week).
    public var turn: DurationText
    public var overrides: [Override] = []
    /// Local dates (`2026-12-25`) on which the holiday cover is on call instead of the rotation.
    public var holidays: [String] = []
    public var holidayCover: String?
    /// Hours in which alarms below critical wait until the hours end.
    public var quietHours: RuleSchedule?

    enum CodingKeys: String, CodingKey {
        case id, name, people, turn, overrides, holidays
        case timeZone = "time_zone", rotationStart = "rotation_start", holidayCover = "holiday_cover", quietHours = "quiet_hours"
    }

    public init(id: String, name: String, timeZone: String, people: [String], rotationStart: Int64, turn: Int64) {
        self.id = id
        self.name = name
        self.timeZone = timeZone
        self.people = people
        self.rotationStart = rotationStart
        self.turn = DurationText(turn)
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        id = try container.decodeIfPresent(String.self, forKey: .id) ?? ""
        name = try container.decode(String.self, forKey: .name)
        timeZone = try container.decode(String.self, forKey: .timeZone)
        people = try container.decode([String].self, forKey: .people)
        rotationStart = try container.decode(Int64.self, forKey: .rotationStart)
        turn = try container.decode(DurationText.self, forKey: .turn)
        overrides = try container.decodeIfPresent([Override].self, forKey: .overrides) ?? []
        holidays = try container.decodeIfPresent([String].self, forKey: .holidays) ?? []
        holidayCover = try container.decodeIfPresent(String.self, forKey: .holidayCover)
        quietHours = try container.decodeIfPresent(RuleSchedule.self, forKey: .quietHours)
    }

    /// Everyone the roster names (rotation, cover, overrides).
    public var everyone: Set<String> { Set(people + [holidayCover].compactMap { $0 } + overrides.map(\.person)) }

    public func validate() throws(ModelError) {
        try ConfigurationID.check(id, what: "roster")
        guard !name.isEmpty, name.count <= 200 else { throw ModelError(.invalid, "a roster's name is 1–200 characters") }
        guard TimeZone(identifier: timeZone) != nil else { throw ModelError(.invalid, "time_zone \"\(timeZone)\" is not a time zone (Europe/Berlin, UTC, …)") }
        guard !people.isEmpty, people.count <= 100 else { throw ModelError(.invalid, "a roster has 1–100 people") }
        guard turn.milliseconds >= 3_600_000 else { throw ModelError(.invalid, "turn is at least 1h") }
        guard (0...253_402_300_799_000).contains(rotationStart) else { throw ModelError(.invalid, "rotation_start is a time in epoch milliseconds") }
        for person in everyone { try NotificationPerson.checkAddress(person, what: "a roster's person") }
        guard overrides.count <= 500, overrides.allSatisfy({ $0.from < $0.to }) else {
            throw ModelError(.invalid, "overrides: at most 500, each from before to")
        }
        guard holidays.count <= 500, holidays.allSatisfy({ Self.date($0) != nil }) else {
            throw ModelError(.invalid, "holidays are at most 500 dates as YYYY-MM-DD")
        }
    }

    /// Who is on call at `time`: an override, else on a holiday the cover, else the rotation's turn.
    public func onCall(at time: Int64) -> String? {
        if let override = overrides.last(where: { $0.from <= time && time < $0.to }) { return override.person }
        if let holidayCover, isHoliday(time) { return holidayCover }
        guard !people.isEmpty, turn.milliseconds > 0 else { return nil }
        let turns = (time - rotationStart).floorDivided(by: turn.milliseconds)
        let index = Int(turns % Int64(people.count) + Int64(people.count)) % people.count
        return people[index]
    }

    /// Whether `time` falls on one of the holidays, in the roster's zone.
    func isHoliday(_ time: Int64) -> Bool {
        guard !holidays.isEmpty else { return false }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: timeZone) ?? TimeZone(identifier: "UTC")!
        let parts = calendar.dateComponents([.year, .month, .day], from: Date(timeIntervalSince1970: Double(time) / 1000))
        let day = String(format: "%04d-%02d-%02d", parts.year ?? 0, parts.month ?? 0, parts.day ?? 0)
        return holidays.contains(day)
    }

    private static func date(_ text: String) -> (Int, Int, Int)? {
        let parts = text.split(separator: "-")
        guard text.count == 10, parts.count == 3, let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2]),
              (1...12).contains(month), (1...31).contains(day) else { return nil }
        return (year, month, day)
    }
}

extension Int64 {
    /// Division rounding towards minus infinity (turns before the rotation's start count backwards).
    func floorDivided(by divisor: Int64) -> Int64 {
        let quotient = self / divisor
        return (self % divisor != 0 && (self < 0) != (divisor < 0)) ? quotient - 1 : quotient
    }
}
