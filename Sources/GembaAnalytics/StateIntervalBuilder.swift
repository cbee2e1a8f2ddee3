/// Turns state samples (a state tag as a machine reports it) into state intervals.
///
/// State tags report changes, so each sample's reason lasts until the next sample. A sample
/// without a reason means no data from then on (a stale mark, a gap the caller found in the
/// machine's data): that time is `unknown/no_data`, so missing data never counts as running. A
/// stop (any stopped state except not-scheduled) shorter than ``microstopThreshold`` between two
/// producing stretches becomes a microstop, a performance loss. A code the catalogue does not know
/// counts as `idle/unspecified`.
public struct StateIntervalBuilder: Sendable {
    public var catalogue: ReasonCatalogue
    /// Stops shorter than this are microstops, ms (default 2 min).
    public var microstopThreshold: Int64 = 120_000

    public init(catalogue: ReasonCatalogue = .standard) { self.catalogue = catalogue }

    /// The intervals from the first sample to `end`; samples are (time, `category/code` or nil for no data), any order.
    public func intervals(from samples: [(time: Int64, reason: String?)], until end: Int64) -> [StateInterval] {
        let samples = samples.sorted { $0.time < $1.time }
        var intervals: [StateInterval] = []
        for (index, sample) in samples.enumerated() where sample.time < end {
            let next = index + 1 < samples.count ? min(samples[index + 1].time, end) : end
            let reason = sample.reason.map { catalogue[$0] ?? catalogue["idle/unspecified"]! } ?? catalogue["unknown/no_data"]!
            append(StateInterval(start: sample.time, end: next, category: reason.category, reason: reason.path,
                                 lossClass: reason.lossClass, isFailure: reason.isFailure, isSetup: reason.isSetup),
                   to: &intervals)
        }
        return markMicrostops(intervals)
    }

    /// Joins a state to the previous interval when it continues it.
    private func append(_ interval: StateInterval, to intervals: inout [StateInterval]) {
        guard interval.end > interval.start else { return }
        if let last = intervals.last, last.end == interval.start, last.reason == interval.reason {
            intervals[intervals.count - 1].end = interval.end
        } else {
            intervals.append(interval)
        }
    }

    private func markMicrostops(_ intervals: [StateInterval]) -> [StateInterval] {
        var result = intervals
        for index in result.indices.dropFirst().dropLast() {
            let stop = result[index]
            let isStop = ![.producing, .reducedSpeed, .notScheduled, .unknown, .microstop].contains(stop.category)
            guard isStop, stop.end - stop.start < microstopThreshold,
                  result[index - 1].category == .producing, result[index + 1].category == .producing
            else { continue }
            result[index] = StateInterval(start: stop.start, end: stop.end, category: .microstop, reason: "microstop/short_stop")
        }
        return result
    }
}
