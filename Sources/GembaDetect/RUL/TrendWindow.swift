/// A health indicator's recent course for ``TrendRUL``, kept small: samples averaged into buckets
/// of `step` ms, the newest `capacity` bucket means kept. Pure; the caller gives samples in time
/// order. A gap longer than `capacity` buckets starts the course afresh (an old trend says nothing
/// about the machine now).
public struct TrendWindow: Sendable, Hashable, Codable {
    public let step: Int64
    public let capacity: Int
    /// Bucket mid-times (ms) and means, oldest first.
    public private(set) var times: [Int64] = []
    public private(set) var means: [Double] = []
    private var bucketStart: Int64?
    private var sum = 0.0
    private var count = 0

    public init(step: Int64, capacity: Int) {
        self.step = max(1, step)
        self.capacity = max(3, capacity)
    }

    /// Adds a sample; true when it closed a bucket (the course has a new point).
    public mutating func add(_ value: Double, at time: Int64) -> Bool {
        guard value.isFinite else { return false }
        var closed = false
        if let start = bucketStart, time >= start + step {
            if count > 0 { push(start + step / 2, sum / Double(count)) }
            closed = count > 0
            if time - start > step * Int64(capacity) {
                times.removeAll()
                means.removeAll()
            }
            bucketStart = nil
        }
        if bucketStart == nil {
            bucketStart = time - time % step
            (sum, count) = (0, 0)
        }
        sum += value
        count += 1
        return closed
    }

    private mutating func push(_ time: Int64, _ mean: Double) {
        times.append(time)
        means.append(mean)
        if times.count > capacity {
            times.removeFirst(times.count - capacity)
            means.removeFirst(means.count - capacity)
        }
    }

    /// The remaining life to `threshold` in hours from the course so far (at least `minimumPoints` buckets).
    public func estimate(threshold: Double, failsAbove: Bool = true, minimumPoints: Int = 5) -> TrendRUL.Estimate? {
        guard times.count >= max(3, minimumPoints), let first = times.first else { return nil }
        return TrendRUL.estimate(times: times.map { Double($0 - first) / 3_600_000 }, values: means, threshold: threshold, failsAbove: failsAbove)
    }
}
