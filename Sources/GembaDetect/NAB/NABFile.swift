/// One labelled series as NAB scores it: its row count and its anomaly windows as row ranges.
public struct NABFile: Sendable {
    public var name: String
    public var rows: Int
    /// Each window's first and last row (inclusive), in order, not overlapping.
    public var windows: [ClosedRange<Int>]

    public init(name: String, rows: Int, windows: [ClosedRange<Int>]) {
        self.name = name
        self.rows = rows
        self.windows = windows
    }

    /// The rows at the start that are not scored: 15 % of the file, at most 750.
    public var probation: Int { min(rows * 15 / 100, 750) }

    /// The windows with a scored row (a window wholly within the probation counts for nothing).
    var scoredWindows: [ClosedRange<Int>] { windows.filter { $0.upperBound >= probation } }

    /// The rows of each window given the file's timestamps (ascending) and the windows' limits.
    public static func windows(timestamps: [Int64], limits: [(start: Int64, end: Int64)]) -> [ClosedRange<Int>] {
        limits.compactMap { limit in
            guard let first = timestamps.firstIndex(where: { $0 >= limit.start }),
                  let last = timestamps.lastIndex(where: { $0 <= limit.end }), first <= last else { return nil }
            return first...last
        }
    }

    /// What a detection at each row is worth under `profile` (nil for rows in the probation), and
    /// which scored window it falls in: inside a window, the tp weight scaled by a sigmoid of its
    /// position (1 at the window's first row, near 0 at its last); outside, minus the fp weight,
    /// less just after a window.
    func rowValues(_ profile: NABProfile) -> [(value: Double, window: Int?)?] {
        let earliest = Self.scaledSigmoid(-1)
        var values: [(value: Double, window: Int?)?] = []
        values.reserveCapacity(rows)
        var next = 0
        var previous: ClosedRange<Int>?
        let scored = Set(scoredWindows.map(\.lowerBound))
        for row in 0..<rows {
            while next < windows.count, windows[next].upperBound < row {
                previous = windows[next]
                next += 1
            }
            let value: Double
            var window: Int?
            if next < windows.count, windows[next].contains(row) {
                let span = windows[next]
                let width = Double(span.count)
                value = Self.scaledSigmoid(-Double(span.upperBound - row + 1) / width) * profile.truePositive / earliest
                window = scored.contains(span.lowerBound) ? next : nil
            } else if let previous {
                let width = Double(previous.count)
                let position = width > 1 ? Double(row - previous.upperBound) / (width - 1) : 3
                value = Self.scaledSigmoid(position) * profile.falsePositive
            } else {
                value = -profile.falsePositive
            }
            values.append(row < probation ? nil : (value, window))
        }
        return values
    }

    /// NAB's weighting: 2·sigmoid(−5x) − 1, and −1 from x = 3 on (a detection long after a window).
    static func scaledSigmoid(_ position: Double) -> Double {
        position >= 3 ? -1 : 2 / (1 + exp(5 * position)) - 1
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
