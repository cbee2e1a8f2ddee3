#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A context detector: each sample becomes one of a few levels (bands of deviation from the
/// series' usual level); the
/// detector counts which level follows each context of the last three, and a sample's surprise is
/// how rarely its level followed its context (−log2 of the smoothed frequency). Counts live in a
/// small hashed table that halves as it fills, so old habits fade. The surprise goes through
/// ``AnomalyLikelihood``. State about 2 KB.
public struct ContextDetector: AnomalyDetector, Codable {
    public var name: String { "context" }
    static let levels = 12
    static let depth = 3
    static let buckets = 512

    private var scale = RunningScale()
    private var context: [Int] = []
    /// Hashed counts of (context, level) and of contexts.
    private var pairs = [UInt16](repeating: 0, count: buckets)
    private var contexts = [UInt16](repeating: 0, count: buckets)
    private var likelihood = AnomalyLikelihood()
    private var gaps = GapGuard()
    private var onset = OnsetFilter(span: OnsetFilter.defaultSpan)

    public init() {}

    public var stateBytes: Int { MemoryLayout<Self>.size + heapBytes(context) + heapBytes(pairs) + heapBytes(contexts) }

    public mutating func score(_ value: Double, at time: Int64) -> Double {
        guard value.isFinite else { return 0 }
        // After a gap the context starts afresh: no context spans the time nothing was reported.
        if gaps.isGap(before: time) { context.removeAll(keepingCapacity: true) }
        // Levels split ±3 deviations from the usual level (known before this sample); beyond, the outermost.
        let position = (scale.standardised(value) + 3) / 6
        scale.include(value)
        let level = min(Self.levels - 1, max(0, Int(position * Double(Self.levels))))
        defer {
            context.append(level)
            if context.count > Self.depth { context.removeFirst() }
        }
        guard context.count == Self.depth else { return likelihood.update(0) }
        let key = context.reduce(0) { $0 * Self.levels + $1 }
        let contextSlot = Self.slot(key)
        let pairSlot = Self.slot(key * Self.levels + level + 7_919)
        // A context never seen is as surprising as a rare follower of a common one (a new regime).
        let seen = Double(contexts[contextSlot])
        let frequency = seen == 0 ? 1 / Double(Self.levels * Self.levels) : (Double(pairs[pairSlot]) + 0.5) / (seen + 0.5 * Double(Self.levels))
        let surprise = -log2(min(1, frequency))
        count(pair: pairSlot, context: contextSlot)
        return onset.pass(likelihood.update(surprise))
    }

    private static func slot(_ key: Int) -> Int {
        var hash = UInt64(truncatingIfNeeded: key) &* 0x9E37_79B9_7F4A_7C15
        hash ^= hash >> 29
        return Int(hash % UInt64(buckets))
    }

    /// Counts a (context, level) pair and its context; a full counter halves both tables (old counts fade).
    private mutating func count(pair: Int, context: Int) {
        if pairs[pair] == .max || contexts[context] == .max {
            for index in pairs.indices { pairs[index] /= 2 }
            for index in contexts.indices { contexts[index] /= 2 }
        }
        pairs[pair] += 1
        contexts[context] += 1
    }
}
