public import Foundation
internal import GembaCore

/// A corpus in NAB's layout: `data/<category>/<name>.csv` (`timestamp,value`, timestamps
/// `YYYY-MM-DD HH:MM:SS`) and `windows.json` (each file's anomaly windows as `[start, end]`).
public struct NABCorpus: Sendable {
    public struct Series: Sendable {
        public var file: NABFile
        /// Milliseconds since the epoch, the timestamps read as UTC.
        public var times: [Int64]
        public var values: [Double]

        public init(file: NABFile, times: [Int64], values: [Double]) {
            self.file = file
            self.times = times
            self.values = values
        }
    }

    public var series: [Series]

    public init(series: [Series]) { self.series = series }

    public struct LoadError: Error, CustomStringConvertible {
        public var description: String
    }

    /// Reads every file `windows.json` names, in name order.
    public static func load(directory: URL) throws -> NABCorpus {
        let windowsURL = directory.appendingPathComponent("windows.json")
        guard let data = try? Data(contentsOf: windowsURL),
              let windows = try? JSONSerialization.jsonObject(with: data) as? [String: [[String]]] else {
            throw LoadError(description: "\(windowsURL.path): not found or not NAB's windows.json ({\"<category>/<name>.csv\": [[start, end], …]})")
        }
        var series: [Series] = []
        for (name, limits) in windows.sorted(by: { $0.key < $1.key }) {
            let url = directory.appendingPathComponent("data").appendingPathComponent(name)
            guard let text = try? String(contentsOf: url, encoding: .utf8) else {
                throw LoadError(description: "\(url.path): cannot be read (windows.json names it)")
            }
            let (times, values) = try rows(of: text, file: name)
            let spans = try limits.map { pair -> (start: Int64, end: Int64) in
                guard pair.count == 2, let start = time(pair[0]), let end = time(pair[1]) else {
                    throw LoadError(description: "windows.json: \(name): a window is not [start, end] timestamps")
                }
                return (start, end)
            }
            let file = NABFile(name: name, rows: times.count, windows: NABFile.windows(timestamps: times, limits: spans))
            series.append(Series(file: file, times: times, values: values))
        }
        return NABCorpus(series: series)
    }

    static func rows(of text: String, file: String) throws -> (times: [Int64], values: [Double]) {
        var times: [Int64] = [], values: [Double] = []
        for (number, line) in text.split(whereSeparator: \.isNewline).enumerated() where number > 0 {
            let fields = line.split(separator: ",", maxSplits: 1)
            guard fields.count == 2, let time = time(String(fields[0])),
                  let value = Double(fields[1].trimmingCharacters(in: .whitespaces)) else {
                throw LoadError(description: "\(file):\(number + 1): not `timestamp,value`")
            }
            times.append(time)
            values.append(value)
        }
        return (times, values)
    }

    /// `YYYY-MM-DD HH:MM:SS[.ffffff]` as milliseconds since the epoch (UTC).
    static func time(_ text: String) -> Int64? {
        let parts = text.split(whereSeparator: { $0 == " " || $0 == "T" })
        guard parts.count == 2 else { return nil }
        let date = parts[0].split(separator: "-").compactMap { Int64($0) }
        let clock = parts[1].split(separator: ":")
        guard date.count == 3, clock.count == 3, let hour = Int64(clock[0]), let minute = Int64(clock[1]),
              let seconds = Double(clock[2]) else { return nil }
        let days = Timestamp.daysFromCivil(year: Int(date[0]), month: Int(date[1]), day: Int(date[2]))
        return ((days * 24 + hour) * 60 + minute) * 60_000 + Int64((seconds * 1000).rounded())
    }

    /// Milliseconds since the epoch as `YYYY-MM-DD HH:MM:SS` (UTC), the inverse of ``time(_:)`` to the second.
    public static func format(_ milliseconds: Int64) -> String {
        let seconds = milliseconds / 1000
        let days = seconds / 86_400, rest = seconds % 86_400
        let (year, month, day) = Timestamp.civilFromDays(days)
        func two(_ value: Int64) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(year)-\(two(month))-\(two(day)) \(two(rest / 3600)):\(two(rest % 3600 / 60)):\(two(rest % 60))"
    }
}
