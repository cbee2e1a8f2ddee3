#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// One local day of a site: its date and the instants it spans (23 or 25 hours on DST days).
public struct LocalDay: Sendable, Hashable {
    public var date: String
    public var range: Range<Int64>
}

/// The smallest stretch KPI summaries are kept for: inside one local day, one shift (or one gap
/// between shifts) and one UTC hour. Any shift, day, week or month is a union of whole pieces, so
/// its components are the sum of theirs.
public struct PeriodPiece: Sendable, Hashable {
    public var range: Range<Int64>
    /// The local date the piece lies in.
    public var day: String
    /// `2026-11-20 A`: the date the shift started and its name; empty outside shifts.
    public var shift: String
    /// The whole shift the piece lies in, and its breaks (what the timeline needs).
    public var shiftInterval: Range<Int64>?
    public var breaks: [Range<Int64>]
}

extension ShiftCalendar {
    /// What a site without a calendar uses: one shift round the clock, every day, in UTC.
    public static let roundTheClock = try! ShiftCalendar(
        timeZone: "UTC", patterns: [Pattern(name: "24h", weekdays: Set(1...7), start: 0, end: 0)])

    /// The local days overlapping `range`, in order.
    public func days(overlapping range: Range<Int64>) -> [LocalDay] {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: timeZone)!
        var day = calendar.startOfDay(for: Date(timeIntervalSince1970: Double(range.lowerBound) / 1000))
        var days: [LocalDay] = []
        while Self.millis(day) < range.upperBound {
            let next = calendar.date(byAdding: .day, value: 1, to: day)!
            let parts = calendar.dateComponents([.year, .month, .day], from: day)
            days.append(LocalDay(date: Self.isoDate(parts.year!, parts.month!, parts.day!), range: Self.millis(day)..<Self.millis(next)))
            day = next
        }
        return days
    }

    /// The pieces of one local day, in order.
    public func pieces(of day: LocalDay) -> [PeriodPiece] {
        let shifts = shifts(overlapping: day.range)
        var cuts = Set([day.range.lowerBound, day.range.upperBound])
        for shift in shifts {
            for bound in [shift.interval.lowerBound, shift.interval.upperBound] where day.range.contains(bound) { cuts.insert(bound) }
        }
        let hour: Int64 = 3_600_000
        var tick = (day.range.lowerBound / hour + 1) * hour
        while tick < day.range.upperBound {
            cuts.insert(tick)
            tick += hour
        }
        let points = cuts.sorted()
        return zip(points, points.dropFirst()).map { start, end in
            let shift = shifts.first { $0.interval.contains(start) }
            return PeriodPiece(range: start..<end, day: day.date, shift: shift.map { "\($0.date) \($0.name)" } ?? "",
                               shiftInterval: shift?.interval, breaks: shift?.breaks ?? [])
        }
    }

    private static func millis(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1000).rounded()) }

    static func isoDate(_ year: Int, _ month: Int, _ day: Int) -> String {
        func two(_ number: Int) -> String { number < 10 ? "0\(number)" : "\(number)" }
        return "\(year)-\(two(month))-\(two(day))"
    }
}
