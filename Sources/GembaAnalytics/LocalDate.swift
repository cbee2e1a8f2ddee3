internal import GembaCore

/// A calendar date (`2026-11-20`) as a day number, for grouping days into ISO weeks and months
/// without a time zone (the date is already the site's local date).
public struct LocalDate: Sendable, Hashable, Comparable {
    /// Days since 1970-01-01.
    public let dayNumber: Int64

    /// Parses `YYYY-MM-DD`; nil when malformed.
    public init?(_ text: String) {
        let parts = text.split(separator: "-")
        guard parts.count == 3, let year = Int(parts[0]), let month = Int(parts[1]), let day = Int(parts[2]),
              (1...12).contains(month), (1...31).contains(day) else { return nil }
        dayNumber = Timestamp.daysFromCivil(year: year, month: month, day: day)
    }

    public init(dayNumber: Int64) { self.dayNumber = dayNumber }

    /// ISO weekday: 1 = Monday … 7 = Sunday.
    public var weekday: Int { Int(((dayNumber % 7) + 7 + 3) % 7) + 1 }

    /// Year, month and day.
    public var civil: (year: Int64, month: Int64, day: Int64) { Timestamp.civilFromDays(dayNumber) }

    /// The ISO 8601 week (`2026-W47`): weeks start on Monday, week 1 holds the year's first Thursday.
    public var isoWeek: String {
        let thursday = LocalDate(dayNumber: dayNumber - Int64(weekday) + 4)
        let year = thursday.civil.year
        let week = (thursday.dayNumber - LocalDate("\(year)-01-01")!.dayNumber) / 7 + 1
        return "\(year)-W\(week < 10 ? "0" : "")\(week)"
    }

    /// The month (`2026-11`).
    public var month: String {
        let (year, month, _) = civil
        return "\(year)-\(month < 10 ? "0" : "")\(month)"
    }

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.dayNumber < rhs.dayNumber }
}
