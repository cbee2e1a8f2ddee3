/// A calendar date (`2026-11-20`) as a day number, for grouping days into ISO weeks and months
/// without a time zone (the date is already the site's local date).
public struct LocalDate: Sendable, Hashable, Comparable {
    /// Days since 1970-01-01.
    public let dayNumber: Int64

    /// Parses `YYYY-MM-DD`; nil when malformed.
    public init?(_ text: String) {
        let parts = text.split(separator: "-")
        guard parts.count == 3, let year = Int64(parts[0]), let month = Int64(parts[1]), let day = Int64(parts[2]),
              (1...12).contains(month), (1...31).contains(day) else { return nil }
        // Howard Hinnant's days_from_civil.
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let dayOfYear = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        dayNumber = era * 146_097 + dayOfEra - 719_468
    }

    public init(dayNumber: Int64) { self.dayNumber = dayNumber }

    /// ISO weekday: 1 = Monday … 7 = Sunday.
    public var weekday: Int { Int(((dayNumber % 7) + 7 + 3) % 7) + 1 }

    /// Year, month and day.
    public var civil: (year: Int64, month: Int64, day: Int64) {
        let z = dayNumber + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

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
