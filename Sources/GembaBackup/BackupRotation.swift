public import Foundation

/// Scheduled backups in one directory: their names, when the next one is due, which to delete.
///
/// Names carry the UTC time (`gemba-backup-20261205T101500Z.tar`), so they sort by age and the
/// schedule survives restarts: the next backup is due one interval after the newest one present,
/// not after the process started.
public struct BackupRotation: Sendable, Equatable {
    public static let prefix = "gemba-backup-"
    public static let suffix = ".tar"

    /// Seconds between backups.
    public var interval: TimeInterval
    /// How many backups to keep; older ones are deleted after a successful backup.
    public var keep: Int

    public init(interval: TimeInterval, keep: Int) {
        self.interval = interval
        self.keep = keep
    }

    /// The file name of a backup started at `date`.
    public static func name(at date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        func two(_ value: Int?) -> String { value.map { $0 < 10 ? "0\($0)" : "\($0)" } ?? "00" }
        return prefix + "\(parts.year ?? 0)\(two(parts.month))\(two(parts.day))T\(two(parts.hour))\(two(parts.minute))\(two(parts.second))Z" + suffix
    }

    /// The time a backup's name carries; `nil` for any other file.
    public static func date(ofName name: String) -> Date? {
        guard name.hasPrefix(prefix), name.hasSuffix(suffix) else { return nil }
        let stamp = name.dropFirst(prefix.count).dropLast(suffix.count)
        guard stamp.count == 16, stamp.dropFirst(8).first == "T", stamp.last == "Z" else { return nil }
        let digits = stamp.filter { $0 != "T" && $0 != "Z" }
        guard digits.count == 14, digits.allSatisfy(\.isNumber) else { return nil }
        func number(_ from: Int, _ length: Int) -> Int { Int(digits.dropFirst(from).prefix(length))! }
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        return calendar.date(from: DateComponents(year: number(0, 4), month: number(4, 2), day: number(6, 2),
                                                  hour: number(8, 2), minute: number(10, 2), second: number(12, 2)))
    }

    /// Whether a backup is due at `now`, given the names in the directory.
    public func isDue(now: Date, existing names: [String]) -> Bool {
        guard let newest = names.compactMap(Self.date(ofName:)).max() else { return true }
        return now.timeIntervalSince(newest) >= interval || newest > now.addingTimeInterval(interval)
    }

    /// The backups to delete so that the newest `keep` remain; other files are never touched.
    public func expired(among names: [String]) -> [String] {
        let backups = names.filter { Self.date(ofName: $0) != nil }.sorted()
        return Array(backups.dropLast(keep))
    }
}
