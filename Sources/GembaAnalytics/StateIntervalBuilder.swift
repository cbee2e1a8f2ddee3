public import GembaCore

/// Turns state samples (a state tag as a machine reports it) into state intervals.
///
/// State tags report changes, so each sample's reason lasts until the next sample, but no longer
/// than ``noDataTimeout``: past it, and before the first sample, the time is `unknown/no_data`, so
/// missing data never counts as running. A sample without a reason (bad quality, a stale mark)
/// also means no data from then on. A stop (any stopped state except not-scheduled) shorter than
/// ``microstopThreshold`` between two producing stretches becomes a microstop, a performance loss.
/// A code the catalogue does not know counts as `idle/unspecified`.
public struct StateIntervalBuilder: Sendable {
    public var catalogue: ReasonCatalogue
    /// Stops shorter than this are microstops, ms (default 2 min).
    public var microstopThreshold: Int64 = 120_000
    /// A state lasts at most this long without a new sample, ms; 0: until the next sample (report by exception).
    public var noDataTimeout: Int64 = 0

    public init(catalogue: ReasonCatalogue = .standard, microstopThreshold: Int64 = 120_000, noDataTimeout: Int64 = 0) {
        self.catalogue = catalogue
        self.microstopThreshold = microstopThreshold
        self.noDataTimeout = noDataTimeout
    }

    /// The intervals covering `[from, end)` (from the first sample when `from` is nil); samples are
    /// (time, `category/code` or nil for no data), any order, the one in effect at `from` included.
    public func intervals(from samples: [(time: Int64, reason: String?)], since from: Int64? = nil, until end: Int64) -> [StateInterval] {
        let samples = samples.sorted { $0.time < $1.time }
        var intervals: [StateInterval] = []
        if let from, samples.first.map({ $0.time > from }) ?? true {
            append(unknown(from, min(samples.first?.time ?? end, end)), to: &intervals)
        }
        for (index, sample) in samples.enumerated() where sample.time < end {
            let start = max(sample.time, from ?? sample.time)
            let next = index + 1 < samples.count ? min(samples[index + 1].time, end) : end
            guard next > start else { continue }
            let reason = sample.reason.map { catalogue[$0] ?? catalogue["idle/unspecified"]! } ?? catalogue["unknown/no_data"]!
            let expiry = noDataTimeout > 0 ? min(next, sample.time + noDataTimeout) : next
            if expiry > start { append(interval(reason, start, expiry), to: &intervals) }
            if max(expiry, start) < next { append(unknown(max(expiry, start), next), to: &intervals) }
        }
        return markMicrostops(intervals)
    }

    private func interval(_ reason: ReasonCode, _ start: Int64, _ end: Int64) -> StateInterval {
        StateInterval(start: start, end: end, category: reason.category, reason: reason.path, lossClass: reason.lossClass,
                      isFailure: reason.isFailure, isSetup: reason.isSetup)
    }

    private func unknown(_ start: Int64, _ end: Int64) -> StateInterval { interval(catalogue["unknown/no_data"]!, start, end) }

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
        let microstop = catalogue["microstop/short_stop"]!
        for index in result.indices.dropFirst().dropLast() {
            let stop = result[index]
            guard stop.category.isStop, stop.category != .microstop, stop.category != .unknown, stop.end - stop.start < microstopThreshold,
                  result[index - 1].category == .producing, result[index + 1].category == .producing
            else { continue }
            result[index] = interval(microstop, stop.start, stop.end)
        }
        return result
    }
}

extension MachineStateCategory {
    /// Whether the machine stands still in this state and people may give it a reason: idle,
    /// microstops, planned and unplanned stops and unknown (not producing, reduced speed or not scheduled).
    public var isStop: Bool { ![.producing, .reducedSpeed, .notScheduled].contains(self) }
}
