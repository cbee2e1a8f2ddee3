#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// When a site works: weekly shift patterns in the site's IANA time zone, with breaks, plus
/// exceptions (holidays without production, extra shifts). Local times are turned into instants
/// with the zone's rules, so a night shift across a daylight-saving change lasts 7 or 9 hours.
public struct ShiftCalendar: Sendable, Hashable, Codable {
    /// A local time of day, minutes after midnight.
    public typealias LocalTime = Int

    /// A shift that repeats on some weekdays; `end` before `start` means it ends the next day.
    /// In JSON, times are local `"HH:MM"` (`"22:00"`, `"24:00"` for midnight at the end).
    public struct Pattern: Sendable, Hashable, Codable {
        public var name: String
        /// ISO weekdays the shift starts on: 1 = Monday … 7 = Sunday.
        public var weekdays: Set<Int>
        public var start: LocalTime
        public var end: LocalTime
        /// Breaks as local times inside the shift.
        public var breaks: [ClosedRange<LocalTime>]

        public init(name: String, weekdays: Set<Int>, start: LocalTime, end: LocalTime, breaks: [ClosedRange<LocalTime>] = []) {
            self.name = name
            self.weekdays = weekdays
            self.start = start
            self.end = end
            self.breaks = breaks
        }

        private enum CodingKeys: String, CodingKey { case name, weekdays, start, end, breaks }

        private struct Break: Codable {
            var start: String
            var end: String
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            func time(_ text: String, _ key: CodingKeys) throws -> LocalTime {
                let parts = text.split(separator: ":")
                guard parts.count == 2, let hour = Int(parts[0]), let minute = Int(parts[1]), (0...24).contains(hour),
                      (0...59).contains(minute), hour * 60 + minute <= 1440 else {
                    throw DecodingError.dataCorruptedError(forKey: key, in: container, debugDescription: "\"\(text)\" is not a time HH:MM")
                }
                return hour * 60 + minute
            }
            name = try container.decode(String.self, forKey: .name)
            weekdays = try container.decode(Set<Int>.self, forKey: .weekdays)
            start = try time(try container.decode(String.self, forKey: .start), .start)
            end = try time(try container.decode(String.self, forKey: .end), .end)
            breaks = try (container.decodeIfPresent([Break].self, forKey: .breaks) ?? []).map { item in
                let (from, to) = (try time(item.start, .breaks), try time(item.end, .breaks))
                guard from <= to else {
                    throw DecodingError.dataCorruptedError(forKey: .breaks, in: container, debugDescription: "a break must end after it starts")
                }
                return from...to
            }
        }

        public func encode(to encoder: any Encoder) throws {
            func text(_ time: LocalTime) -> String {
                "\(time / 60 < 10 ? "0" : "")\(time / 60):\(time % 60 < 10 ? "0" : "")\(time % 60)"
            }
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(name, forKey: .name)
            try container.encode(weekdays.sorted(), forKey: .weekdays)
            try container.encode(text(start), forKey: .start)
            try container.encode(text(end), forKey: .end)
            try container.encode(breaks.map { Break(start: text($0.lowerBound), end: text($0.upperBound)) }, forKey: .breaks)
        }
    }

    /// A day that differs from the pattern.
    public enum Exception: Sendable, Hashable, Codable {
        /// No shift starts on this local date (`2026-12-25`).
        case noProduction(date: String)
        /// An extra shift on this local date.
        case extraShift(date: String, shift: Pattern)
    }

    /// One concrete shift: instants in ms since the epoch.
    public struct Shift: Sendable, Hashable {
        public var name: String
        /// The local date the shift starts on.
        public var date: String
        public var interval: Range<Int64>
        public var breaks: [Range<Int64>]
    }

    public var timeZone: String
    public var patterns: [Pattern]
    public var exceptions: [Exception]

    /// Checks the zone id; throws a message naming it when the zone is unknown.
    public init(timeZone: String, patterns: [Pattern], exceptions: [Exception] = []) throws(CalendarError) {
        guard TimeZone(identifier: timeZone) != nil else { throw CalendarError("unknown time zone \"\(timeZone)\"") }
        self.timeZone = timeZone
        self.patterns = patterns
        self.exceptions = exceptions
    }

    /// Every shift that overlaps `window`, in start order.
    public func shifts(overlapping window: Range<Int64>) -> [Shift] {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: timeZone)!
        let first = calendar.startOfDay(for: Date(timeIntervalSince1970: Double(window.lowerBound) / 1000))
        var day = calendar.date(byAdding: .day, value: -1, to: first)!  // night shifts from the day before
        var shifts: [Shift] = []
        while day.timeIntervalSince1970 * 1000 < Double(window.upperBound) {
            let parts = calendar.dateComponents([.year, .month, .day, .weekday], from: day)
            let date = Self.isoDate(parts.year!, parts.month!, parts.day!)
            let isoWeekday = (parts.weekday! + 5) % 7 + 1
            var todays = patterns.filter { $0.weekdays.contains(isoWeekday) }
            if exceptions.contains(.noProduction(date: date)) { todays = [] }
            for case .extraShift(date, let pattern) in exceptions { todays.append(pattern) }
            for pattern in todays {
                let shift = instance(of: pattern, on: parts, date: date, calendar: calendar)
                if shift.interval.overlaps(window) { shifts.append(shift) }
            }
            day = calendar.date(byAdding: .day, value: 1, to: day)!
        }
        return shifts.sorted { $0.interval.lowerBound < $1.interval.lowerBound }
    }

    private func instance(of pattern: Pattern, on day: DateComponents, date: String, calendar: Calendar) -> Shift {
        func instant(_ minutes: LocalTime, dayOffset: Int) -> Int64 {
            var components = DateComponents(year: day.year, month: day.month, day: day.day! + dayOffset,
                                             hour: minutes / 60, minute: minutes % 60)
            components.timeZone = calendar.timeZone
            return Int64((calendar.date(from: components)!.timeIntervalSince1970 * 1000).rounded())
        }
        let crossesMidnight = pattern.end <= pattern.start
        let start = instant(pattern.start, dayOffset: 0)
        let end = instant(pattern.end, dayOffset: crossesMidnight ? 1 : 0)
        let breaks = pattern.breaks.map { range -> Range<Int64> in
            let offset = crossesMidnight && range.lowerBound < pattern.start ? 1 : 0
            return instant(range.lowerBound, dayOffset: offset)..<instant(range.upperBound, dayOffset: offset)
        }
        return Shift(name: pattern.name, date: date, interval: start..<end, breaks: breaks)
    }
}

/// A calendar that cannot be used, with the reason.
public struct CalendarError: Error, Sendable, Hashable, CustomStringConvertible {
    public let description: String

    init(_ description: String) { self.description = description }
}
