/// A machine's signals averaged over fixed cycles (cycle k covers `[k × length, (k + 1) × length)`
/// ms), the rows a fleet model of remaining life reads. Every signal's samples are summed into
/// their cycle; the first signal's first sample in a later cycle closes the cycles before it. A
/// closed cycle in which every signal had a sample becomes a row; one in which some had none is
/// left out (a gap). A sample of a cycle already closed is dropped. Pure.
public struct CycleMeans: Sendable, Codable {
    /// One closed cycle: the time it ended (ms) and each signal's mean over it.
    public struct Row: Sendable, Equatable {
        public var end: Int64
        public var values: [Double]
    }

    struct Partial: Sendable, Codable {
        var cycle: Int64
        var sums: [Double]
        var counts: [Int]
    }

    public let length: Int64
    public let signals: Int
    /// The cycles still open, oldest first (a few at most).
    var open: [Partial] = []
    /// The last cycle closed.
    var closed = Int64.min

    /// The most cycles kept open while the first signal is missing: the oldest are dropped.
    static let openLimit = 4

    public init(signals: Int, length: Int64) {
        precondition(signals > 0 && length > 0, "at least one signal and a positive cycle")
        self.signals = signals
        self.length = length
    }

    /// Adds a sample of signal `signal` (0 is the first) and answers the rows of the cycles it closed, oldest first.
    public mutating func add(_ value: Double, at time: Int64, signal: Int) -> [Row] {
        let cycle = time >= 0 ? time / length : (time + 1) / length - 1
        guard cycle > closed, value.isFinite else { return [] }
        var rows: [Row] = []
        if signal == 0 { rows = close(before: cycle) }
        let place: Int
        if let found = open.firstIndex(where: { $0.cycle == cycle }) {
            place = found
        } else {
            place = open.firstIndex { $0.cycle > cycle } ?? open.count
            open.insert(Partial(cycle: cycle, sums: Array(repeating: 0, count: signals), counts: Array(repeating: 0, count: signals)), at: place)
            if open.count > Self.openLimit {
                open.removeFirst()
                return rows + add(value, at: time, signal: signal)
            }
        }
        open[place].sums[signal] += value
        open[place].counts[signal] += 1
        return rows
    }

    /// Closes every open cycle (the end of a history): the rows of those complete.
    public mutating func finish() -> [Row] { close(before: .max) }

    private mutating func close(before cycle: Int64) -> [Row] {
        var rows: [Row] = []
        while let first = open.first, first.cycle < cycle {
            open.removeFirst()
            closed = first.cycle
            guard first.counts.allSatisfy({ $0 > 0 }) else { continue }
            rows.append(Row(end: (first.cycle + 1) * length, values: zip(first.sums, first.counts).map { $0 / Double($1) }))
        }
        return rows
    }
}
