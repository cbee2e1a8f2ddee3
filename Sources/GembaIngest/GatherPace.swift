/// When the pipeline takes a small batch while a stream flows: once the batch is expected to hold
/// `targetSamples`, judged by the rate of the batches before, but never sooner than `shortestDelay`
/// and never later than `longestDelay` after the previous commit ended.
///
/// A commit costs about the same whatever its size (a transaction, a round trip, a few thread
/// hand-offs: about 1.4 ms of a node's CPU on PostgreSQL). A fixed delay makes a node that receives
/// a third of a stream (one of three sharing it) commit as often as one that receives all of it, so
/// its cost per sample grows; gathering up to a target keeps the batches, and so the cost per
/// sample, alike at any share of the stream, within a bounded wait.
///
/// A source with an in-flight window (an MQTT broker sends so many unacknowledged messages, then
/// waits for their acknowledgements, which follow the commit) cannot bring more than its window,
/// however long the pipeline waits. Such a gather *stalls*: its submissions stop early and the rest
/// of the wait is idle. After a stalled gather the pace falls back to `shortestDelay`, so a window
/// smaller than the target costs no throughput beyond what the shortest delay costs. The samples a
/// stalled gather brought are taken as the window: later gathers aim at it rather than at the
/// target, and it grows by half with each gather that does not stall, back to the target when the
/// source was not limited after all.
///
/// Pure: the pipeline tells it when batches are taken and when the last submission came.
public struct GatherPace: Sendable {
    public typealias Instant = ContinuousClock.Instant

    public let shortestDelay: Duration
    public let longestDelay: Duration
    public let targetSamples: Int
    /// Samples per second, smoothed over the batches taken (nil before the first).
    public private(set) var rate: Double?
    /// Whether the last gather stalled (its submissions stopped in its first half).
    public private(set) var stalled = false
    /// The source's in-flight window in samples, as the last stalled gather showed it (nil: none seen,
    /// or grown past the target since).
    public private(set) var window: Int?
    private var lastTaken: Instant?

    /// A gather quieter than this at its end is not called stalled, whatever its length: arrivals
    /// a few milliseconds apart are a stream's own gaps.
    static let stallFloor = Duration.milliseconds(3)
    /// Weight of the latest batch in the smoothed rate.
    static let smoothing = 0.25

    /// With `targetSamples` 0 (or `longestDelay` not past `shortestDelay`) every gather waits
    /// `shortestDelay`.
    public init(shortestDelay: Duration, longestDelay: Duration, targetSamples: Int) {
        self.shortestDelay = shortestDelay
        self.longestDelay = max(shortestDelay, longestDelay)
        self.targetSamples = targetSamples
    }

    /// When a small batch is taken, given that the previous commit ended at `previousEnd`.
    public func due(previousEnd: Instant) -> Instant {
        let earliest = previousEnd + shortestDelay
        guard targetSamples > 0, longestDelay > shortestDelay, !stalled, let rate, rate > 0, let lastTaken else {
            return earliest
        }
        let expected = lastTaken + .seconds(Double(min(targetSamples, window ?? targetSamples)) / rate)
        return min(max(expected, earliest), previousEnd + longestDelay)
    }

    /// Records a batch of `samples` taken at `now`, the last of its submissions having arrived at
    /// `lastArrival`; `waited` tells whether the batch was gathered (taken at its due time) rather
    /// than taken at once (full, or after a quiet spell).
    ///
    /// A batch taken at once more than twice `longestDelay` after the one before came after a quiet
    /// spell: the stream's rate is then unknown again, not the spell's average.
    public mutating func taken(samples: Int, at now: Instant, lastArrival: Instant, waited: Bool) {
        if let lastTaken, now > lastTaken {
            if !waited, now - lastTaken > longestDelay * 2 {
                rate = nil
            } else {
                let latest = Double(samples) / (now - lastTaken).inSeconds
                rate = rate.map { $0 + Self.smoothing * (latest - $0) } ?? latest
            }
        }
        if waited, let lastTaken {
            let quiet = now - lastArrival
            stalled = quiet > Self.stallFloor && quiet * 2 > now - lastTaken
            if stalled {
                window = samples
            } else if let current = window {
                let grown = current + max(1, current / 2)
                window = grown < targetSamples ? grown : nil
            }
        } else {
            stalled = false
        }
        lastTaken = now
    }
}
